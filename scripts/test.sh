#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test (UI, unit, integration, process,
# network-namespace, desktop end-to-end, fuzz smoke, installers). Network-namespace tests
# and the installer test need root (CI runs as root). Prints a timing table at the end.
#
# Why this order: everything Rust is built once, in the dev profile, with one feature set
# and with clippy's lints (`cargo build --workspace --all-targets` under clippy-driver,
# see below); the tests, the desktop end-to-end tests and
# the installer test all use those artifacts. The installer test bundles that same debug
# binary (HEARTH_PACKAGE_PROFILE=debug); the release profile (fat LTO) is what ships and is
# built by `scripts/package-test.sh` run on its own (see README, "Building the installers").
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# A clean build gains nothing from incremental compilation and pays for its bookkeeping.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

t_start=$(date +%s)
step_t=$t_start
declare -a timings=()
current=""
step() {
  finish
  current="$1"
  echo "== $1"
}
finish() {
  local now
  now=$(date +%s)
  if [ -n "$current" ]; then
    timings+=("$(printf '%-58s %5d s' "$current" $((now - step_t)))")
  fi
  step_t=$now
  current=""
}
table() {
  finish
  echo "== timings"
  printf '  %s\n' "${timings[@]}"
  printf '  %-58s %5d s\n' "total" $(($(date +%s) - t_start))
}
trap 'rc=$?; if [ $rc -ne 0 ]; then failed="$current"; table; echo "test.sh: FAILED in step: ${failed:-?}" >&2; fi' EXIT

step "setup: system packages and tools (scripts/setup.sh)"
scripts/setup.sh

step "cargo fmt --check"
cargo fmt --all --check

step "UI: install, typecheck, unit tests, build"
(cd ui && npm ci --no-audit --no-fund && npm run check && npm test && npm run build)

# Clippy lints while the workspace builds, instead of in a `cargo clippy` pass of its own:
# that pass type-checked every dependency a second time and was the longest step of CI
# (830-1000 s of 2200). clippy-driver as the workspace wrapper is what `cargo clippy`
# itself sets up (there with `cargo check`); here it runs inside `cargo build`, with the
# same arguments (-D warnings). Exported, so the tests below reuse these artifacts rather
# than rebuild the workspace crates without the wrapper.
export RUSTC_WORKSPACE_WRAPPER="${RUSTC_WORKSPACE_WRAPPER:-$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver)}"
[ -n "$RUSTC_WORKSPACE_WRAPPER" ] || { echo "test.sh: no clippy-driver (rustup component add clippy)" >&2; exit 1; }
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
step "build with clippy: the workspace, every target, once; lint warnings are errors"
cargo build --workspace --all-targets --locked

step "cargo nextest: unit, integration, namespace and desktop end-to-end tests"
cargo nextest run --workspace --locked --profile ci

step "TypeScript bindings are generated from the Rust types"
# The export_bindings tests (run above) rewrote ui/src/bindings from the Rust types.
if [ -d .git ] && [ -n "$(git status --porcelain -- ui/src/bindings)" ]; then
  git status --short -- ui/src/bindings
  git --no-pager diff --stat -- ui/src/bindings
  echo "ui/src/bindings is stale: commit the regenerated files" >&2
  exit 1
fi

step "fuzz smoke: 15 s per fuzz target (scripts/fuzz-smoke.sh)"
scripts/fuzz-smoke.sh

step "installers: bundle, check, install and test the .deb, uninstall (package-test.sh)"
HEARTH_PACKAGE_PROFILE=debug scripts/package-test.sh

table
echo "test.sh: all steps passed"
