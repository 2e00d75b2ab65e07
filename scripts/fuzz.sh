#!/usr/bin/env bash
# Runs the fuzz targets (fuzz/, cargo-fuzz + libFuzzer) one after another, each for
# SECONDS, starting from the committed seeds in fuzz/corpus/<target>/.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      default: 600 s each, every target
#
# Needs a nightly toolchain and cargo-fuzz (scripts/setup.sh installs cargo-fuzz when a
# nightly toolchain is present) and a C++ compiler (build-essential).
# - inputs libFuzzer adds go to fuzz/work/<target>/ (not committed: copy the useful
#   ones to fuzz/corpus/<target>/, e.g. after `cargo +nightly fuzz cmin`);
# - crashes go to fuzz/artifacts/<target>/ (make each a regression test:
#   crates/hearth/tests/fuzz_regressions.rs);
# - each run's full output is in fuzz/logs/<target>.log; the final statistics are
#   printed at the end.
# FUZZ_WORK_DIR replaces fuzz/work as the directory new inputs go to.
# FUZZ_DEV=1 builds without optimizations (3x faster to build, slower to run: CI's smoke).
# Exits non-zero if any target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

secs="${1:-600}"
[ "$#" -gt 0 ] && shift
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  targets=(decode_client handshake invite txt)
fi

# Never let `cargo +nightly` install a toolchain by itself.
export RUSTUP_AUTO_INSTALL=0
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "fuzz: no nightly toolchain (rustup toolchain install nightly)" >&2
  exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: cargo-fuzz is missing (cargo install cargo-fuzz --locked)" >&2
  exit 2
fi

profile=()
if [ "${FUZZ_DEV:-0}" = 1 ]; then
  profile=(--dev)
fi

cd fuzz
mkdir -p logs
echo "== building the fuzz targets ${profile[*]}"
cargo +nightly fuzz build "${profile[@]}"

work="${FUZZ_WORK_DIR:-work}"
failed=()
for t in "${targets[@]}"; do
  mkdir -p "$work/$t"
  echo "== fuzzing $t for ${secs}s (log: fuzz/logs/$t.log)"
  dict=()
  case "$t" in
    decode_client|handshake) dict=(-dict=dict/protocol.dict) ;;
    invite) dict=(-dict=dict/invite.dict) ;;
    txt) dict=(-dict=dict/txt.dict) ;;
  esac
  # The first corpus directory receives new inputs; the seeds are only read.
  if cargo +nightly fuzz run "${profile[@]}" "$t" "$work/$t" "corpus/$t" -- "${dict[@]}" \
      -max_total_time="$secs" -print_final_stats=1 -timeout=60 >"logs/$t.log" 2>&1; then
    result="ok"
  else
    result="FAILED"
    failed+=("$t")
    grep -E "panicked at|ERROR: libFuzzer|SUMMARY|Test unit written" "logs/$t.log" | head -20 || true
  fi
  echo "-- $t: $result"
  grep -E "^(stat::|Done [0-9]+ runs)" "logs/$t.log" || true
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: crashes in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz: no crashes"
