#!/usr/bin/env bash
# Join storm, side by side: a Hearth host, a plain Node `ws` room server and a Socket.IO
# server, each a fresh process per run, run alternately. See
# crates/hearth-bench/join-storm/README.md.
#
#   scripts/bench-join-storm.sh [--repeat 3] [--clients 10000] [--rooms 100]
#       [--targets hearth,ws,socketio] [--concurrency 1000] [--client raw|lib]
#       [--source-ips 0] [--wait-quiet 0] [--timeout 600] [--hearth-pipeline] [--no-presence]
#       [--json] [--no-install]
#
# Hearth's binary: $HEARTH_BENCH_BIN, else target/release/hearth-bench, else
# target/debug/hearth-bench. Exits 1 if any run failed.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
dir="$repo/crates/hearth-bench/join-storm"

repeat=3
clients=10000
rooms=100
targets=hearth,ws,socketio
json=0
install=1
storm_args=()

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }
die() {
  echo "bench-join-storm: $*" >&2
  exit 2
}

while [[ $# -gt 0 ]]; do
  case $1 in
    --repeat) repeat=${2:?}; shift 2 ;;
    --clients) clients=${2:?}; shift 2 ;;
    --rooms) rooms=${2:?}; shift 2 ;;
    --targets) targets=${2:?}; shift 2 ;;
    --concurrency | --client | --source-ips | --wait-quiet | --timeout | --idle-ms)
      storm_args+=("$1" "${2:?}")
      shift 2
      ;;
    --hearth-pipeline | --no-presence) storm_args+=("$1"); shift ;;
    --json) json=1; shift ;;
    --no-install) install=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done

IFS=, read -r -a target_list <<<"$targets"
for t in "${target_list[@]}"; do
  case $t in hearth | ws | socketio) ;; *) die "unknown target $t (hearth, ws, socketio)" ;; esac
done
[[ $repeat =~ ^[1-9][0-9]*$ ]] || die "--repeat wants a positive integer"

# One process holds every client socket: raise the soft fd limit to the hard one.
ulimit -n "$(ulimit -Hn)"
if (($(ulimit -n) < clients + 256)); then
  die "open-file hard limit $(ulimit -Hn) is too low for $clients clients"
fi

if [[ " ${target_list[*]} " == *" hearth "* ]]; then
  bin=${HEARTH_BENCH_BIN:-$repo/target/release/hearth-bench}
  if [[ -z ${HEARTH_BENCH_BIN:-} && ! -x $bin ]]; then
    bin=$repo/target/debug/hearth-bench
  fi
  [[ -x $bin ]] || die "no hearth-bench binary at $bin (build it, or set HEARTH_BENCH_BIN)"
  export HEARTH_BENCH_BIN=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
fi

if ((install)); then
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi

out=$(mktemp "${TMPDIR:-/tmp}/join-storm-XXXXXX.jsonl")
echo "join storm: $clients clients, $rooms rooms, $repeat rounds of ${targets}," \
  "$(nproc) cores, node $(node --version)${HEARTH_BENCH_BIN:+, hearth: $HEARTH_BENCH_BIN}," \
  "results: $out" >&2

failed=0
for ((run = 1; run <= repeat; run++)); do
  for t in "${target_list[@]}"; do
    rc=0
    line=$(node "$dir/storm.mjs" --target "$t" --clients "$clients" --rooms "$rooms" \
      "${storm_args[@]}") || rc=$?
    if [[ $line == \{* ]]; then
      echo "$line" >>"$out"
    else
      # storm.mjs died before its result: still a row in the table, marked failed.
      printf '{"target":"%s","ok":false,"error":"storm.mjs exited %s without a result"}\n' \
        "$t" "$rc" >>"$out"
    fi
    ((rc == 0)) || failed=1
    sleep 2 # let the previous server's sockets drain before the next one starts
  done
done

if ((json)); then
  node "$dir/report.mjs" "$out" --json
else
  node "$dir/report.mjs" "$out"
fi
exit "$failed"
