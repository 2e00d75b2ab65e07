#!/usr/bin/env bash
# Builds Hearth's Linux installers and tests them as a user would get them (issue 7):
#
#  1. the macOS Info.plist and entitlements named by tauri.conf.json carry the local
#     network keys, and the Windows firewall hooks are wired in (config checks; they work
#     on Linux too);
#  2. `tauri build --bundles deb,rpm` (release profile of the root Cargo.toml), or with
#     HEARTH_PACKAGE_PROFILE=debug (CI, scripts/test.sh) `tauri bundle --debug` of the
#     debug binary that the test build already made: the same packaging, installing and
#     installed-app checks without a second, fat-LTO build of everything;
#  3. the .deb's contents (binary, .desktop file, icons) and declared dependencies, which
#     must cover every shared library the binary links (so `apt install ./…deb` works on
#     a fresh Debian 12); the .rpm's contents and requirements;
#  4. `apt-get install ./…deb`, then the INSTALLED /usr/bin/hearth-desktop under Xvfb with
#     a fresh data directory, driven by WebDriver (crates/hearth-e2e/tests/installed.rs):
#     the main window renders and hosts a room; screenshot docs/screenshots/installed.png;
#  5. `apt-get remove`, and nothing of the package is left;
#  6. sizes: .deb (at most 15 MB for the release profile, which is what ships), .rpm,
#     the binary.
#
# Needs root (apt-get, network namespaces). The release build goes to CARGO_TARGET_DIR
# (default target/). HEARTH_PACKAGE_SKIP_INSTALL=1 stops after step 3 (no root needed).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
export PATH="$HOME/.cargo/bin:$PATH"

t_start=$(date +%s)
declare -a timings=()
step_t=$t_start
step() { echo "== package: $*"; }
took() {
  local now
  now=$(date +%s)
  timings+=("$(printf '%-34s %5d s' "$1" $((now - step_t)))")
  step_t=$now
}
fail() {
  echo "package-test: FAILED: $*" >&2
  exit 1
}

target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac
profile="${HEARTH_PACKAGE_PROFILE:-release}"
case "$profile" in release | debug) ;; *) fail "HEARTH_PACKAGE_PROFILE must be release or debug, not $profile" ;; esac
version=$(node -p 'require("./tauri.conf.json").version')
bundle_dir="$target_dir/$profile/bundle"
deb="$bundle_dir/deb/Hearth_${version}_amd64.deb"
rpm_file="$bundle_dir/rpm/Hearth-${version}-1.x86_64.rpm"
bin_path=/usr/bin/hearth-desktop
pkg=hearth

for tool in node dpkg-deb rpm desktop-file-validate python3; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (scripts/setup.sh installs it)"
done

# ---------------------------------------------------------------------------------------
step "1. configuration: macOS Info.plist and entitlements, Windows firewall hooks"
python3 - <<'EOF'
import json, plistlib, re, sys
conf = json.load(open("tauri.conf.json"))
b = conf["bundle"]
errors = []
def need(cond, msg):
    if not cond:
        errors.append(msg)

need(conf.get("productName") == "Hearth", "productName")
need(conf.get("identifier", "").count(".") >= 2, "identifier is not reverse-DNS")
for key in ("publisher", "copyright", "license", "category", "shortDescription", "longDescription"):
    need(b.get(key), f"bundle.{key} is empty")
targets = set(b.get("targets", []))
need({"deb", "rpm", "nsis", "msi", "dmg"} <= targets, f"bundle.targets {sorted(targets)}")
need("appimage" not in targets, "AppImage needs tools from outside the registries")

mac = b.get("macOS", {})
info = plistlib.load(open(mac["infoPlist"], "rb"))
why = info.get("NSLocalNetworkUsageDescription", "")
need(isinstance(why, str) and len(why) > 20, "Info.plist: NSLocalNetworkUsageDescription missing or not a sentence")
need("_hearth._tcp" in info.get("NSBonjourServices", []), "Info.plist: NSBonjourServices lacks _hearth._tcp")
ent = plistlib.load(open(mac["entitlements"], "rb"))
for key in ("com.apple.security.network.client", "com.apple.security.network.server"):
    need(ent.get(key) is True, f"entitlements: {key}")

win = b.get("windows", {})
nsh = open(win["nsis"]["installerHooks"]).read()
need(win["nsis"].get("installMode") == "perMachine", "NSIS must install per machine: netsh needs elevation")
for macro in ("NSIS_HOOK_POSTINSTALL", "NSIS_HOOK_PREUNINSTALL"):
    need(re.search(rf"^!macro {macro}\s*$", nsh, re.M), f"hooks.nsh: no !macro {macro}")
for rule in ("add rule", "delete rule", "profile=private", "localport=7447", "localport=5353", "protocol=UDP"):
    need(rule in nsh, f"hooks.nsh: no '{rule}'")
wix = win["wix"]
frag = "".join(open(p).read() for p in wix["fragmentPaths"])
for ref in wix["componentRefs"]:
    need(f'Component Id="{ref}"' in frag, f"WiX fragment: no component {ref}")
need(frag.count('Profile="private"') == 2 and 'Port="7447"' in frag and 'Port="5353"' in frag,
     "WiX fragment: the two private-profile rules")
need("http://schemas.microsoft.com/wix/FirewallExtension" in frag, "WiX fragment: FirewallExtension namespace")

# 7447 is the default host port in the core library: the rules must follow it.
src = open("crates/hearth/src/server.rs").read()
need("pub const DEFAULT_PORT: u16 = 7447;" in src, "hearth::DEFAULT_PORT changed: update the firewall rules")
if errors:
    sys.exit("config check failed:\n  " + "\n  ".join(errors))
print(f"  Info.plist: NSLocalNetworkUsageDescription = {why!r}")
print(f"  Info.plist: NSBonjourServices = {info['NSBonjourServices']}")
print("  entitlements: network.client, network.server; NSIS hooks and WiX fragment: TCP 7447 + UDP 5353, private profile")
EOF
took "config checks"

# ---------------------------------------------------------------------------------------
step "2. build the $profile binary and the .deb and .rpm"
# (Debug: the binary embeds the UI that scripts/test.sh built; rebuilding it here would
# only make the binary look stale.)
if [ "$profile" = release ] && { [ ! -f ui/dist/index.html ] || [ -n "$(find ui/src ui/index.html ui/package.json -newer ui/dist/index.html -print -quit)" ]; }; then
  (cd ui && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run build)
  took "UI build"
fi
[ -d ui/node_modules/@tauri-apps/cli ] || (cd ui && npm ci --no-audit --no-fund)
rm -f "$deb" "$rpm_file"
if [ "$profile" = release ]; then
  nice packaging/tauri.sh build --ci --bundles deb,rpm
  took "tauri build (release + bundles)"
else
  # The debug binary must exist and embed the current UI (scripts/test.sh builds both).
  built="$target_dir/debug/hearth-desktop"
  [ -x "$built" ] || fail "no $built: run \`cargo build --workspace --all-targets\` first"
  [ "$built" -nt ui/dist/index.html ] || fail "$built is older than ui/dist: build it again"
  packaging/tauri.sh bundle --debug --ci --bundles deb,rpm
  took "tauri bundle (debug binary)"
fi
[ -f "$deb" ] || fail "no $deb"
[ -f "$rpm_file" ] || fail "no $rpm_file"

# ---------------------------------------------------------------------------------------
step "3. package contents and dependencies"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb --info "$deb" | sed 's/^/  /'
dpkg-deb --contents "$deb" | awk '{print "  " $6}' | sort
dpkg-deb -x "$deb" "$work/deb"
[ "$(dpkg-deb -f "$deb" Package)" = "$pkg" ] || fail "package name is not $pkg"
[ "$(dpkg-deb -f "$deb" Version)" = "$version" ] || fail "version is not $version"
[ -x "$work/deb$bin_path" ] || fail "no executable $bin_path in the .deb"
desktop="$work/deb/usr/share/applications/Hearth.desktop"
[ -f "$desktop" ] || fail "no /usr/share/applications/Hearth.desktop in the .deb"
desktop-file-validate "$desktop" || fail "the .desktop file is not valid"
grep -qx "Exec=hearth-desktop" "$desktop" || fail ".desktop Exec is not hearth-desktop"
icon=$(sed -n 's/^Icon=//p' "$desktop")
for size in 32x32 64x64 128x128 512x512; do
  [ -f "$work/deb/usr/share/icons/hicolor/$size/apps/$icon.png" ] || fail "no $size icon named $icon"
done
[ -f "$work/deb/usr/share/icons/hicolor/scalable/apps/$icon.svg" ] || fail "no scalable icon named $icon"
depends=$(dpkg-deb -f "$deb" Depends)
echo "  Depends: $depends"
# The tray library is loaded at run time, so the linked-library check below cannot see it.
for d in libwebkit2gtk-4.1-0 libgtk-3-0 libayatana-appindicator3-1; do
  [[ ", $depends," == *", $d"[\ ,]* ]] || fail "Depends lacks $d"
done
# Every library the binary links must come from a declared dependency or one of theirs
# (what a fresh Debian 12 needs for `apt install ./…deb` to give a working app).
python3 - "$work/deb$bin_path" "$depends" <<'EOF'
import os, re, subprocess, sys
binary, depends = sys.argv[1], sys.argv[2]
def q(*args):
    return subprocess.run(args, capture_output=True, text=True).stdout
def names(field):
    out = set()
    for alt in re.split(r"[,|]", field):
        name = re.sub(r"\(.*?\)", "", alt).strip().split(":")[0]
        if name:
            out.add(name)
    return out
provided_by = {}
for line in q("dpkg-query", "-W", "-f=${Package}\t${Provides}\n").splitlines():
    pkg, _, prov = line.partition("\t")
    for v in names(prov):
        provided_by.setdefault(v, set()).add(pkg)
closure, todo = set(), list(names(depends))
while todo:
    p = todo.pop()
    if p in closure:
        continue
    closure.add(p)
    todo += provided_by.get(p, [])
    todo += names(q("dpkg-query", "-W", "-f=${Depends}, ${Pre-Depends}", p))
needed = re.findall(r"NEEDED\)\s+Shared library: \[(.+?)\]", q("readelf", "-d", binary))
resolved = dict(re.findall(r"^\s*(\S+) => (/\S+)", q("ldd", binary), re.M))
# The dynamic loader is listed by its path alone ("/lib64/ld-linux-x86-64.so.2 (0x...)").
for path in re.findall(r"^\s*(/\S+)\s+\(0x", q("ldd", binary), re.M):
    resolved.setdefault(os.path.basename(path), path)
missing = []
for soname in needed:
    path = resolved.get(soname)
    if not path:
        missing.append(f"{soname}: not found by ldd")
        continue
    # dpkg knows a file by the path its package ships: the real file or the soname link,
    # under /usr/lib or (merged /usr) /lib.
    owners = []
    for p in (path, os.path.realpath(path)):
        for c in (p, p.replace("/usr/lib/", "/lib/", 1), p.replace("/lib/", "/usr/lib/", 1)):
            out = q("dpkg", "-S", c).strip()
            if out and not owners:
                owners = [o.split(":")[0].strip() for o in out.split(": ")[0].split(", ")]
    ok = any(o in closure for o in owners)
    print(f"  {soname:28} {','.join(owners) or '?':28} {'covered' if ok else 'NOT COVERED'}")
    if not ok:
        missing.append(f"{soname} ({','.join(owners) or 'no package'})")
if missing:
    sys.exit("libraries not covered by the .deb's Depends:\n  " + "\n  ".join(missing))
print(f"  all {len(needed)} linked libraries come from the declared dependencies ({len(closure)} packages in their closure)")
EOF
rpm -qpi "$rpm_file" 2>/dev/null | sed 's/^/  /'
requires=$(rpm -qpR "$rpm_file" 2>/dev/null)
for r in 'libwebkit2gtk-4.1.so.0()(64bit)' 'libgtk-3.so.0()(64bit)'; do
  grep -qxF "$r" <<<"$requires" || fail ".rpm does not require $r"
done
rpm_files=$(rpm -qpl "$rpm_file" 2>/dev/null)
for f in "$bin_path" /usr/share/applications/Hearth.desktop "/usr/share/icons/hicolor/128x128/apps/$icon.png"; do
  grep -qxF "$f" <<<"$rpm_files" || fail ".rpm lacks $f"
done
echo "  .rpm: requires WebKitGTK 4.1 and GTK 3; has the binary, the .desktop file and the icons"
took "package checks"

# ---------------------------------------------------------------------------------------
deb_size=$(stat -c %s "$deb")
rpm_size=$(stat -c %s "$rpm_file")
bin_size=$(stat -c %s "$work/deb$bin_path")
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB (%d bytes)", b / 1e6, b }'; }

if [ "${HEARTH_PACKAGE_SKIP_INSTALL:-0}" != 1 ]; then
  [ "$(id -u)" = 0 ] || fail "installing the .deb needs root (or set HEARTH_PACKAGE_SKIP_INSTALL=1)"
  step "4. apt-get install ./$(basename "$deb"), then test the installed app"
  export DEBIAN_FRONTEND=noninteractive
  if dpkg -s "$pkg" >/dev/null 2>&1; then apt-get remove -y -q "$pkg" >/dev/null; fi
  uninstall() { dpkg -s "$pkg" >/dev/null 2>&1 && apt-get remove -y -q "$pkg" >/dev/null 2>&1 || true; rm -rf "$work"; }
  trap uninstall EXIT
  apt-get install -y -q --no-install-recommends "$deb" | sed 's/^/  /'
  dpkg -s "$pkg" | grep -qx "Status: install ok installed" || fail "$pkg is not installed"
  [ -x "$bin_path" ] || fail "$bin_path is not installed"
  took "apt-get install"
  for tool in Xvfb tauri-driver WebKitWebDriver dbus-run-session; do
    command -v "$tool" >/dev/null || fail "$tool is not installed (scripts/setup.sh installs it)"
  done
  # --workspace: the same feature set as the test build, so nothing is compiled again.
  HEARTH_INSTALLED_APP="$bin_path" cargo nextest run --workspace --locked \
    -E 'package(hearth-e2e) & binary(installed)' --run-ignored only --no-capture
  took "installed-app WebDriver test"

  step "5. apt-get remove $pkg"
  apt-get remove -y -q "$pkg" | sed 's/^/  /'
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
  case "$status" in "" | un* | rc*) ;; *) fail "$pkg is still installed ($status)" ;; esac
  for f in "$bin_path" /usr/share/applications/Hearth.desktop "/usr/share/icons/hicolor/128x128/apps/$icon.png"; do
    [ ! -e "$f" ] || fail "$f is still there after apt-get remove"
  done
  echo "  removed: no binary, .desktop file or icon left (dpkg status '${status:-none}')"
  took "apt-get remove"
fi

# ---------------------------------------------------------------------------------------
step "6. sizes"
echo "  .deb    $(basename "$deb")  $(mb "$deb_size")"
echo "  .rpm    $(basename "$rpm_file")  $(mb "$rpm_size")"
echo "  binary  $bin_path (in the .deb)  $(mb "$bin_size")"
if [ "$profile" = release ]; then
  [ "$deb_size" -le 15000000 ] || fail "the .deb is larger than 15 MB"
else
  echo "  (the 15 MB limit is for the release profile; this .deb holds the debug binary)"
fi

echo "== package: timings"
printf '  %s\n' "${timings[@]}"
echo "  total                              $(($(date +%s) - t_start)) s"
echo "package-test: all checks passed"
