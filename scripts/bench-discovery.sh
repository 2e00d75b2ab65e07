#!/usr/bin/env bash
# Discovery latency benchmark (docs/performance.md, "Discovery").
#
# Builds two network namespaces joined by a veth pair (10.231.9.0/24, nothing outside
# them), runs `hearth rooms --watch --json` in one and, 10 times, `hearth host` in the
# other, then prints the median and maximum of:
#   - host start -> room listed by the watcher
#   - SIGTERM to the host -> room removed by the watcher
# Needs root and iproute2. HEARTH_BENCH_RUNS=N changes the number of runs.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
    echo "bench-discovery: needs root (it creates network namespaces)" >&2
    exit 1
fi
exec cargo nextest run -p hearth-cli --test discovery_netns \
    --run-ignored only --no-capture bench_discovery_latency
