#!/usr/bin/env bash
# CI's fuzz smoke (called by scripts/test.sh): every fuzz target for
# FUZZ_SMOKE_SECONDS (default 15) from the committed seeds, 60 s in total, when a nightly
# toolchain and cargo-fuzz are available (scripts/setup.sh installs cargo-fuzz when
# nightly is there). Without them it says so and skips: the same seeds still go
# through the same invariant checks on stable in crates/hearth/tests/fuzz_corpus.rs,
# which cargo nextest always runs.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# Never let `cargo +nightly` install a toolchain by itself.
export RUSTUP_AUTO_INSTALL=0
# test.sh lints its stable build through stable clippy-driver; the nightly fuzz build
# must not inherit it (stable rustc refuses nightly's -Z flags).
unset RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "fuzz smoke: SKIPPED, no nightly toolchain; the corpus is replayed on stable by crates/hearth/tests/fuzz_corpus.rs"
  exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz smoke: SKIPPED, cargo-fuzz is not installed; the corpus is replayed on stable by crates/hearth/tests/fuzz_corpus.rs"
  exit 0
fi
# An unoptimized build: about 3.5 min instead of 11 on a 2-core machine, which matters
# more here than executions per second (FUZZ_DEV=0 for the optimized build).
export FUZZ_DEV="${FUZZ_DEV:-1}"
# Start from the committed seeds only, whatever earlier runs left in fuzz/work.
FUZZ_WORK_DIR="$(mktemp -d)"
export FUZZ_WORK_DIR
trap 'rm -rf "$FUZZ_WORK_DIR"' EXIT
scripts/fuzz.sh "${FUZZ_SMOKE_SECONDS:-15}"
