#!/usr/bin/env bash
# Builds the UI and the desktop app (release) and starts it. Arguments go to the app,
# e.g. `scripts/run.sh --data-dir /tmp/hearth-b` for a second instance on one machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
(cd ui && npm ci --no-audit --no-fund && npm run build)
cargo build --release --locked -p hearth-desktop
exec target/release/hearth-desktop "$@"
