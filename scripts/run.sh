#!/usr/bin/env bash
# Builds Hearth and hosts a room. Arguments are passed to `hearth host`
# (default: --name General). Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --locked -p hearth-cli
if [ "$#" -eq 0 ]; then set -- --name General; fi
exec target/release/hearth host "$@"
