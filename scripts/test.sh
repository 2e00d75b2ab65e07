#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test (unit, integration, process,
# network-namespace). Network-namespace tests need root (CI runs as root).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo nextest"
cargo nextest run --workspace --locked --profile ci
