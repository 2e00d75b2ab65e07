#!/usr/bin/env bash
# Installs what building and testing Hearth needs on Debian 12 / Ubuntu 22.04+.
# Idempotent: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

APT_PACKAGES=(
  build-essential pkg-config   # C compiler for bundled SQLite
  iproute2                     # network-namespace tests (ip netns, veth, bridge)
  procps psmisc                # ps/pkill in test scripts
  python3-zeroconf             # an independent mDNS stack for the discovery interop test
  python3-websockets python3-cryptography  # an independent protocol client (identity test)
  libwebkit2gtk-4.1-dev libgtk-3-dev libsoup-3.0-dev  # the desktop app (Tauri 2 on WebKitGTK)
  libayatana-appindicator3-dev # the tray icon (loaded at run time; the bundler needs the -dev
                               # package to name it in the .deb's Depends)
  librsvg2-bin                 # renders icons/icon.svg (scripts/icons.py)
  xvfb xauth dbus dbus-x11 fonts-dejavu-core  # the app under a virtual display
  fonts-noto-color-emoji       # emoji in the test rooms' screenshots
  openbox xdotool x11-utils    # a window manager (focus), window sizes, another window to focus
  libglib2.0-bin               # gdbus: the tests click the tray icon's menu over D-Bus
  rpm desktop-file-utils       # inspecting the built .rpm and .desktop file (scripts/package-test.sh)
  webkit2gtk-driver            # WebKitWebDriver: the end-to-end tests drive the real app
  imagemagick                  # import: screenshots of the app's virtual screen
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: Rust is not installed. Install it with rustup (https://rustup.rs), then run this again." >&2
  exit 1
fi

# The UI builds with Node.js 20+ (Vite 7). Debian 12's own nodejs is 18: use the
# distribution's only if nothing newer is installed, and say so if it is too old.
if ! command -v node >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -q --no-install-recommends nodejs npm
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "setup: Node.js $(node --version) is too old for the UI build; install Node.js 20 or newer" >&2
  exit 1
fi

# test.sh lints with clippy-driver and checks formatting with rustfmt.
if command -v rustup >/dev/null 2>&1 && ! { rustup which clippy-driver && rustup which rustfmt; } >/dev/null 2>&1; then
  rustup component add clippy rustfmt
fi

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "setup: installing cargo-nextest"
  cargo install cargo-nextest --locked
fi

# tauri-driver: the WebDriver server for Tauri apps, in front of WebKitWebDriver.
if ! command -v tauri-driver >/dev/null 2>&1; then
  echo "setup: installing tauri-driver"
  cargo install tauri-driver --version "^2" --locked
fi

# Fuzzing (scripts/fuzz.sh and CI's fuzz smoke) needs cargo-fuzz, which needs nightly:
# installed only where a nightly toolchain already is.
if rustup toolchain list 2>/dev/null | grep -q '^nightly' && ! cargo fuzz --version >/dev/null 2>&1; then
  echo "setup: installing cargo-fuzz (a nightly toolchain is present)"
  cargo install cargo-fuzz --locked
fi
