#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test (unit, integration, process,
# network-namespace). Network-namespace tests need root (CI runs as root).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

echo "== UI: install, typecheck, unit tests, build"
(cd ui && npm ci --no-audit --no-fund && npm run check && npm test && npm run build)
echo "== TypeScript bindings are generated from the Rust types"
cargo test --locked -q -p hearth-app export_bindings >/dev/null
if [ -d .git ] && [ -n "$(git status --porcelain -- ui/src/bindings)" ]; then
  git status --short -- ui/src/bindings
  git --no-pager diff --stat -- ui/src/bindings
  echo "ui/src/bindings is stale: commit the regenerated files" >&2
  exit 1
fi
echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== the desktop app binary, for the end-to-end tests (crates/hearth-e2e)"
cargo build --locked -p hearth-desktop
echo "== cargo nextest"
cargo nextest run --workspace --locked --profile ci
echo "== fuzz smoke: 15 s per fuzz target if nightly is installed (docs/security.md)"
scripts/fuzz-smoke.sh
echo "== installers: build, check, install and test the .deb, uninstall (scripts/package-test.sh)"
scripts/package-test.sh
