#!/usr/bin/env bash
# Runs the Tauri CLI on Hearth, e.g. `packaging/tauri.sh build --bundles deb,rpm`.
#
# Why a wrapper: Hearth's tauri.conf.json is at the repository root (src-tauri/build.rs
# and generate_context! read it there), but the Tauri CLI wants the configuration next to
# the app crate's Cargo.toml, and the root Cargo.toml is a virtual workspace manifest
# ("No package info in the config file"). So this writes src-tauri/tauri.conf.json, a
# copy of the root file whose relative paths (frontendDist, icons, packaging/...) are
# rebased onto src-tauri/, runs the CLI there, and deletes the copy again. The build
# itself still reads the root file: the copy only tells the CLI what to bundle.
#
# The CLI is the one in ui/node_modules (@tauri-apps/cli, installed by `npm ci` in ui/),
# else `cargo tauri` (cargo install tauri-cli); TAURI_CLI="cmd args" overrides both.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

if [ -n "${TAURI_CLI:-}" ]; then
  read -r -a cli <<<"$TAURI_CLI"
elif [ -f "$root/ui/node_modules/@tauri-apps/cli/tauri.js" ]; then
  cli=(node "$root/ui/node_modules/@tauri-apps/cli/tauri.js")
elif cargo tauri --version >/dev/null 2>&1; then
  cli=(cargo tauri)
else
  echo "tauri.sh: no Tauri CLI: run \`npm ci\` in ui/ (it installs @tauri-apps/cli)" >&2
  exit 1
fi

copy="$root/src-tauri/tauri.conf.json"
if git -C "$root" ls-files --error-unmatch src-tauri/tauri.conf.json >/dev/null 2>&1; then
  echo "tauri.sh: src-tauri/tauri.conf.json is a committed file now; this wrapper is obsolete" >&2
  exit 1
fi
cleanup() { rm -f "$copy"; }
trap cleanup EXIT

node - "$root" "$copy" <<'EOF'
const fs = require("fs");
const path = require("path");
const [root, out] = process.argv.slice(2);
const config = JSON.parse(fs.readFileSync(path.join(root, "tauri.conf.json"), "utf8"));
// Every relative path that names something in the repository gets "../" (it is now
// read from src-tauri/). Keys are left alone: in `files` maps they are install paths.
const rebase = (v) => {
  if (typeof v === "string") {
    return !path.isAbsolute(v) && fs.existsSync(path.join(root, v)) ? "../" + v : v;
  }
  if (Array.isArray(v)) return v.map(rebase);
  if (v && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, rebase(x)]));
  }
  return v;
};
config.build = rebase(config.build);
config.bundle = rebase(config.bundle);
fs.writeFileSync(out, JSON.stringify(config, null, 2) + "\n");
EOF

cd "$root/src-tauri"
"${cli[@]}" "$@"
