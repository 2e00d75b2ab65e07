#!/usr/bin/env bash
# Files benchmark (docs/performance.md, "Files: throughput and memory"):
#
#   1. upload and download throughput of a large file (1 GiB by default), Hearth
#      (`hearth send-file` / `hearth get-file`, TLS) against curl and a static file
#      server (nginx plain and TLS, python3 -m http.server), over loopback and across a
#      veth pair between two network namespaces;
#   2. the host's VmRSS while 10 clients download that file at once;
#   3. how long a 10 MB image takes to show as a preview for another member.
#
# Usage (root: network namespaces; nginx, curl, openssl, ImageMagick and python3):
#
#   scripts/bench-files.sh
#
# Environment:
#   BENCH_REPEAT=3        runs of each throughput measurement (order alternates)
#   BENCH_SIZE_MIB=1024   size of the throughput / memory file
#   BENCH_PREVIEW_RUNS=10 runs of the preview measurement, per image kind
#   BENCH_PARTS="loopback veth memory preview"   which parts to run
#   BENCH_DIR=/tmp/hearth-bench-files            scratch directory (deleted at the end)
#   BENCH_INSTALL=1       apt-get install what is missing (nginx-light, curl, openssl,
#                         imagemagick) when running as root; 0: only say what is missing
#
# Builds `cargo build --release -p hearth-cli` (CARGO_TARGET_DIR is honoured). Sends
# traffic only to 127.0.0.1 and to its own namespaces (10.77.0.0/24); deletes the
# namespaces, its processes and the scratch directory on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
REPEAT="${BENCH_REPEAT:-3}"
SIZE_MIB="${BENCH_SIZE_MIB:-1024}"
PREVIEW_RUNS="${BENCH_PREVIEW_RUNS:-10}"
PARTS="${BENCH_PARTS:-loopback veth memory preview}"
W="${BENCH_DIR:-/tmp/hearth-bench-files}"
INSTALL="${BENCH_INSTALL:-1}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
H="$TARGET/release/hearth"

NS_SRV=hbf-srv
NS_CLI=hbf-cli
VETH_SRV=hbf-a
VETH_CLI=hbf-b
HEARTH_PORT=47447
NGINX_PORT=48080
NGINX_TLS_PORT=48443
PY_PORT=48081

has() { command -v "$1" >/dev/null 2>&1; }
part() { [[ " $PARTS " == *" $1 "* ]]; }
log() { printf '== %s\n' "$*" >&2; }

# --- what is needed -----------------------------------------------------------------
need_root=0
if part veth; then need_root=1; fi
if [[ $need_root == 1 && $EUID -ne 0 ]]; then
    echo "the veth part needs root (ip netns); run as root or set BENCH_PARTS" >&2
    exit 1
fi
missing=()
has nginx || missing+=(nginx-light)
has curl || missing+=(curl)
has openssl || missing+=(openssl)
has convert || missing+=(imagemagick)
if ((${#missing[@]})); then
    if [[ $INSTALL == 1 && $EUID -eq 0 ]] && has apt-get; then
        log "installing ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >&2
        # The package starts the distribution's own nginx on port 80: not ours.
        if has service; then service nginx stop >/dev/null 2>&1 || true; fi
    else
        echo "missing: ${missing[*]} (Debian: apt-get install ${missing[*]})" >&2
        exit 1
    fi
fi
for t in python3 ip; do
    has "$t" || { echo "missing: $t" >&2; exit 1; }
done
PY="$(python3 -c 'import sys; print(sys.executable)')"
NGINX="$(command -v nginx)"

log "building the release binary ($TARGET)"
(cd "$ROOT" && cargo build --release -p hearth-cli >&2)

# --- scratch, processes, cleanup ----------------------------------------------------
cleanup() {
    set +e
    # Only this script's own background jobs (hosts, servers, samplers).
    local p
    for p in $(jobs -p); do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    ip netns del "$NS_SRV" 2>/dev/null
    ip netns del "$NS_CLI" 2>/dev/null
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then
        rm -f "$W/big.bin" "$W/www/big.bin"
    else
        rm -rf "$W"
    fi
}
trap cleanup EXIT
rm -rf "$W"
mkdir -p "$W"
RESULTS="$W/results.tsv"
: >"$RESULTS"

cat >"$W/helper.py" <<'EOF'
import json, os, signal, statistics, subprocess, sys, time

signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))

def poll(dirs):
    """Prints `time dir name` whenever a name is created in, or moved into, one of the
    directories (inotify: exact, and no CPU while waiting)."""
    import ctypes, struct
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    fd = libc.inotify_init1(0)
    wds = {}
    for d in dirs:
        wd = libc.inotify_add_watch(fd, d.encode(), 0x100 | 0x80)  # IN_CREATE | IN_MOVED_TO
        if wd < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {d}")
        wds[wd] = d
    print(f"{time.time():.6f} ready -", flush=True)
    while True:
        buf = os.read(fd, 65536)
        t = time.time()
        i = 0
        while i < len(buf):
            wd, mask, cookie, ln = struct.unpack_from("iIII", buf, i)
            name = buf[i + 16:i + 16 + ln].rstrip(b"\0").decode()
            i += 16 + ln
            print(f"{t:.6f} {wds.get(wd, '?')} {name}", flush=True)

def waitfor(log, needle, db, file_id):
    """Waits until a line of log holds needle; prints that line's time and the preview's
    file id of the message that carries file_id, from the member's database."""
    import sqlite3
    while True:
        for l in open(log):
            if needle in l:
                t = l.split()[0]
                break
        else:
            time.sleep(0.001)
            continue
        break
    while True:
        try:
            c = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            row = c.execute("SELECT json_extract(attachments, '$[0].thumbnail.file_id') FROM messages "
                            "WHERE instr(attachments, ?1) > 0 LIMIT 1", (file_id,)).fetchone()
            c.close()
            if row and row[0]:
                print(t, row[0])
                return
        except sqlite3.Error:
            pass
        time.sleep(0.001)

def tsrun(out, cmd):
    """Runs cmd with an open stdin; writes each line of its stdout with a timestamp."""
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        with open(out, "w") as f:
            for line in p.stdout:
                f.write(f"{time.time():.6f} {line.decode(errors='replace')}")
                f.flush()
    finally:
        p.terminate()

def rss(pid, interval):
    """Prints `time VmRSS_KiB` of pid every interval seconds until it is gone."""
    while True:
        try:
            with open(f"/proc/{pid}/status") as f:
                for l in f:
                    if l.startswith("VmRSS:"):
                        print(f"{time.time():.6f} {l.split()[1]}", flush=True)
        except FileNotFoundError:
            return
        time.sleep(interval)

def event(events, dirpart, name=None, after=0.0):
    """The first time a name (any, or this one) appeared in a directory ending in dirpart."""
    for l in open(events):
        f = l.split()
        if len(f) != 3:
            continue
        t, d, n = f
        if d.endswith(dirpart) and (name is None or n == name) and float(t) >= after:
            return float(t)
    return None

def pct(xs, p):
    xs = sorted(xs)
    k = (len(xs) - 1) * p
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)

def summary(results):
    rows = [l.rstrip("\n").split("\t") for l in open(results) if l.strip()]
    tp = [r for r in rows if r[0] == "tp"]
    if tp:
        print("\nraw throughput runs (MB = 10^6 bytes):")
        print(f"{'net':>8} {'dir':>4} {'rep':>3} {'target':<46} {'s':>7} {'MB/s':>8}")
        for _, net, d, target, rep, secs, mbps in tp:
            print(f"{net:>8} {d:>4} {rep:>3} {target:<46} {float(secs):7.3f} {float(mbps):8.1f}")
        nets = sorted({r[1] for r in tp}, key=lambda n: n != "loopback")
        for net in nets:
            print(f"\n### {net}\n")
            print("| direction | client → server | median MB/s | runs | Hearth ÷ this |")
            print("|---|---|---|---|---|")
            for d in ("down", "up"):
                med = {}
                order = []
                for r in tp:
                    if r[1] == net and r[2] == d:
                        med.setdefault(r[3], []).append(float(r[6]))
                        if r[3] not in order:
                            order.append(r[3])
                m = {k: statistics.median(v) for k, v in med.items()}
                hw = [k for k in order if k.startswith("hearth") and "whole" in k]
                hr = [k for k in order if k.startswith("hearth") and "raw" in k]
                for k in order:
                    ratio = ""
                    if not k.startswith("hearth") and hw:
                        ratio = f"{m[hw[0]] / m[k]:.2f} (whole)"
                        if hr:
                            ratio += f", {m[hr[0]] / m[k]:.2f} (raw)"
                    print(f"| {d} | {k} | {m[k]:.0f} | {len(med[k])} | {ratio} |")
    mem = [r for r in rows if r[0] == "mem"]
    if mem:
        print("\n### host memory, 10 concurrent `get-file`\n")
        print("| round | baseline VmRSS | peak VmRSS | delta | all 10 done in | aggregate MB/s |")
        print("|---|---|---|---|---|---|")
        for _, rnd, base, peak, secs, mbps in mem:
            b, p = int(base) / 1024, int(peak) / 1024
            print(f"| {rnd} | {b:.1f} MiB | {p:.1f} MiB | {p - b:+.1f} MiB | {float(secs):.1f} s | {float(mbps):.0f} |")
    pv = [r for r in rows if r[0] == "preview"]
    if pv:
        keys = ["total", "msg", "prep", "upload", "get_cmd", "get_raw", "send_cmd", "app"]
        print("\npreview runs (seconds from starting `hearth send-file`):")
        print("kind  run " + " ".join(f"{k:>8}" for k in keys))
        for r in pv:
            print(f"{r[1]:<5} {r[2]:>3} " + " ".join(f"{float(x):8.3f}" for x in r[3:]))
        print("\n| image | step | median | p95 |")
        print("|---|---|---|---|")
        for kind in sorted({r[1] for r in pv}):
            sel = [r for r in pv if r[1] == kind]
            for i, k in enumerate(keys):
                xs = [float(r[3 + i]) * 1000 for r in sel]
                print(f"| {kind} | {k} | {statistics.median(xs):.0f} ms | {pct(xs, 0.95):.0f} ms |")

if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "poll":
        poll(args)
    elif cmd == "waitfor":
        waitfor(*args)
    elif cmd == "tsrun":
        tsrun(args[0], args[1:])
    elif cmd == "rss":
        rss(int(args[0]), float(args[1]))
    elif cmd == "event":
        t = event(args[0], args[1], args[2] if len(args) > 2 and args[2] != "-" else None,
                  float(args[3]) if len(args) > 3 else 0.0)
        print(f"{t:.6f}" if t is not None else "")
    elif cmd == "json":
        v = json.load(open(args[0]))
        for k in args[1:]:
            v = v[int(k)] if k.isdigit() else v[k]
        print(v)
    elif cmd == "summary":
        summary(args[0])
EOF

# (In the background run "$PY" "$W/helper.py" itself, never this function: $! would be
# the subshell's pid, and killing it would leave python running.)
helper() { "$PY" "$W/helper.py" "$@"; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }
mbps() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.1f", n / s / 1e6 }'; }

# Starts a watcher of directories; its events go to $1.
POLLER=""
start_poller() {
    local out="$1"
    shift
    mkdir -p "$@"
    "$PY" "$W/helper.py" poll "$@" >"$out" &
    POLLER=$!
    until grep -q ready "$out" 2>/dev/null; do sleep 0.01; done
}
stop_poller() {
    kill "$POLLER" 2>/dev/null || true
    wait "$POLLER" 2>/dev/null || true
}

# --- inputs -------------------------------------------------------------------------
SIZE=$((SIZE_MIB * 1024 * 1024))
mkdir -p "$W/www" "$W/up" "$W/nginx-body"
if part loopback || part veth || part memory; then
    log "writing a ${SIZE_MIB} MiB random file"
    head -c "$SIZE" /dev/urandom >"$W/big.bin"
    ln "$W/big.bin" "$W/www/big.bin"
    BIG_ID="$(sha256sum "$W/big.bin" | cut -d' ' -f1)"
fi
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=bench -keyout "$W/key.pem" -out "$W/cert.pem" 2>/dev/null

SRV=()
CLI=()
ADDR=127.0.0.1
NET=loopback
HOST_PID=""
LINK=""
NGINX_PID=""
PY_PID=""

# Starts a fresh Hearth host (data dir $1) on $ADDR; sets HOST_PID and LINK. A host
# that prints no link within 20 s is reported (its state kept in $W/stalls.txt), killed
# and started once more.
start_host() {
    local dir="$1" try
    for try in 1 2; do
        rm -rf "$dir"
        "${SRV[@]}" env HEARTH_NO_ADVERTISE=1 "$H" host --name Bench --data-dir "$dir" \
            --bind "$ADDR:$HEARTH_PORT" >"$dir.out" 2>"$dir.err" </dev/null &
        HOST_PID=$!
        for _ in $(seq 400); do
            [[ -s "$dir.out" ]] && break
            sleep 0.05
        done
        LINK="$(head -1 "$dir.out")"
        [[ $LINK == hearth://* ]] && return
        {
            echo "host start stalled ($NET, try $try): no link after 20 s"
            cat "$dir.err"
            ps -o pid,stat,wchan:32,etime,args -p "$HOST_PID" || true
            cat "/proc/$HOST_PID/stack" 2>/dev/null || true
            ls "/proc/$HOST_PID/task" 2>/dev/null | while read -r t; do
                echo "task $t: $(cat "/proc/$HOST_PID/task/$t/wchan" 2>/dev/null)"
            done
        } >>"$W/stalls.txt" 2>&1
        cp "$W/stalls.txt" /tmp/hearth-bench-files-stalls.txt
        kill -9 "$HOST_PID" 2>/dev/null || true
        wait "$HOST_PID" 2>/dev/null || true
    done
    echo "host did not start (see /tmp/hearth-bench-files-stalls.txt)" >&2
    exit 1
}
stop_host() {
    if [[ -n $HOST_PID ]]; then
        kill "$HOST_PID" 2>/dev/null || true
        wait "$HOST_PID" 2>/dev/null || true
        HOST_PID=""
    fi
}

start_baselines() {
    cat >"$W/nginx-$NET.conf" <<EOF
worker_processes auto;
user root;
daemon off;
pid $W/nginx-$NET.pid;
error_log $W/nginx-$NET.err warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    default_type application/octet-stream;
    client_max_body_size 0;
    client_body_temp_path $W/nginx-body;
    server {
        listen $ADDR:$NGINX_PORT;
        listen $ADDR:$NGINX_TLS_PORT ssl;
        ssl_certificate $W/cert.pem;
        ssl_certificate_key $W/key.pem;
        ssl_protocols TLSv1.3;
        root $W/www;
        location /up/ {
            root $W;
            dav_methods PUT;
            create_full_put_path on;
        }
    }
}
EOF
    "${SRV[@]}" env "$NGINX" -c "$W/nginx-$NET.conf" 2>>"$W/nginx-$NET.err" &
    NGINX_PID=$!
    "${SRV[@]}" env "$PY" -m http.server "$PY_PORT" --bind "$ADDR" --directory "$W/www" \
        >"$W/py-$NET.log" 2>&1 &
    PY_PID=$!
    for url in "http://$ADDR:$NGINX_PORT/" "https://$ADDR:$NGINX_TLS_PORT/" "http://$ADDR:$PY_PORT/"; do
        local ok=0
        for _ in $(seq 100); do
            if "${CLI[@]}" env curl -ksS -o /dev/null -r 0-0 "${url}big.bin" 2>/dev/null; then
                ok=1
                break
            fi
            sleep 0.1
        done
        [[ $ok == 1 ]] || { echo "$url did not come up" >&2; exit 1; }
    done
}
stop_baselines() {
    for p in "$NGINX_PID" "$PY_PID"; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
}

record() { printf 'tp\t%s\t%s\t%s\t%s\t%s\t%s\n' "$NET" "$1" "$2" "$3" "$4" "$(mbps "$SIZE" "$4")" >>"$RESULTS"; }

# One curl transfer; checks the byte count.
curl_run() {
    local d="$1" name="$2" rep="$3" url="$4" t0 t1 n
    shift 4
    t0=$EPOCHREALTIME
    if [[ $d == down && $name == *fdatasync* ]]; then
        # What Hearth's client does besides hashing: the bytes to a file, made durable.
        n="$("${CLI[@]}" env curl -ksSf -o "$W/dl.out" -w '%{size_download}' "$url")"
        sync -d "$W/dl.out"
    elif [[ $d == down ]]; then
        n="$("${CLI[@]}" env curl -ksSf -o /dev/null -w '%{size_download}' "$url")"
    else
        n="$("${CLI[@]}" env curl -ksSf -o /dev/null -w '%{size_upload}' -T "$W/big.bin" "$url")"
        rm -f "$W/up/"*
    fi
    t1=$EPOCHREALTIME
    rm -f "$W/dl.out"
    [[ $n == "$SIZE" ]] || { echo "$name moved $n bytes, not $SIZE" >&2; exit 1; }
    record "$d" "$name" "$rep" "$(secs "$t0" "$t1")"
}

hearth_upload() {
    local rep="$1" t0 t1 tp tb
    stop_host
    start_host "$W/host-$NET"
    start_poller "$W/ev.txt" "$W/host-$NET/files/partial" "$W/host-$NET/files/blobs"
    t0=$EPOCHREALTIME
    "${CLI[@]}" env "$H" send-file "$LINK" "$W/big.bin" --name Alice --data-dir "$W/alice" \
        --json >"$W/send.json" 2>>"$W/alice.err"
    t1=$EPOCHREALTIME
    stop_poller
    [[ "$(helper json "$W/send.json" attachments 0 file_id)" == "$BIG_ID" ]]
    tp="$(helper event "$W/ev.txt" /partial)"
    tb="$(helper event "$W/ev.txt" /blobs "$BIG_ID")"
    record up "hearth send-file (whole command)" "$rep" "$(secs "$t0" "$t1")"
    record up "hearth send-file (raw transfer)" "$rep" "$(secs "$tp" "$tb")"
}

hearth_download() {
    local rep="$1" t0 t1 tp tc
    local bob="$W/bob"
    rm -f "$bob/files/cache/$BIG_ID" "$bob/files/cache/partial/$BIG_ID"
    mkdir -p "$bob/files/cache/partial"
    start_poller "$W/ev.txt" "$bob/files/cache/partial" "$bob/files/cache"
    t0=$EPOCHREALTIME
    "${CLI[@]}" env "$H" get-file "$LINK" "$BIG_ID" -o /dev/null --name Bob --data-dir "$bob" \
        --json >"$W/get.json" 2>>"$W/bob.err"
    t1=$EPOCHREALTIME
    stop_poller
    [[ "$(helper json "$W/get.json" size)" == "$SIZE" ]]
    tp="$(helper event "$W/ev.txt" /cache/partial "$BIG_ID")"
    tc="$(helper event "$W/ev.txt" /cache "$BIG_ID")"
    record down "hearth get-file (whole command)" "$rep" "$(secs "$t0" "$t1")"
    record down "hearth get-file (raw transfer)" "$rep" "$(secs "$tp" "$tc")"
    rm -f "$bob/files/cache/$BIG_ID"
}

throughput() {
    log "throughput over $NET ($ADDR), $REPEAT runs each"
    start_baselines
    local ups=(hearth nginx nginx-tls) downs=(hearth nginx nginx-tls nginx-tls-file python) rep t
    for rep in $(seq "$REPEAT"); do
        local u=("${ups[@]}") d=("${downs[@]}")
        if ((rep % 2 == 0)); then
            u=(nginx-tls nginx hearth)
            d=(python nginx-tls-file nginx-tls nginx hearth)
        fi
        for t in "${u[@]}"; do
            log "$NET up $t run $rep"
            case $t in
            hearth) hearth_upload "$rep" ;;
            nginx) curl_run up "curl -T → nginx PUT (plain)" "$rep" "http://$ADDR:$NGINX_PORT/up/big.bin" ;;
            nginx-tls) curl_run up "curl -T → nginx PUT (TLS 1.3)" "$rep" "https://$ADDR:$NGINX_TLS_PORT/up/big.bin" ;;
            esac
        done
        for t in "${d[@]}"; do
            log "$NET down $t run $rep"
            case $t in
            hearth) hearth_download "$rep" ;;
            nginx) curl_run down "curl → nginx (plain)" "$rep" "http://$ADDR:$NGINX_PORT/big.bin" ;;
            nginx-tls) curl_run down "curl → nginx (TLS 1.3)" "$rep" "https://$ADDR:$NGINX_TLS_PORT/big.bin" ;;
            nginx-tls-file) curl_run down "curl → nginx (TLS 1.3) to a file + fdatasync" "$rep" "https://$ADDR:$NGINX_TLS_PORT/big.bin" ;;
            python) curl_run down "curl → python3 -m http.server" "$rep" "http://$ADDR:$PY_PORT/big.bin" ;;
            esac
        done
    done
    stop_baselines
    stop_host
    rm -rf "$W/host-$NET" "$W/alice" "$W/bob"
}

# --- 1. throughput ------------------------------------------------------------------
if part loopback; then
    throughput
fi
if part veth; then
    ip netns del "$NS_SRV" 2>/dev/null || true
    ip netns del "$NS_CLI" 2>/dev/null || true
    ip netns add "$NS_SRV"
    ip netns add "$NS_CLI"
    ip link add "$VETH_SRV" netns "$NS_SRV" type veth peer name "$VETH_CLI" netns "$NS_CLI"
    ip -n "$NS_SRV" addr add 10.77.0.1/24 dev "$VETH_SRV"
    ip -n "$NS_CLI" addr add 10.77.0.2/24 dev "$VETH_CLI"
    for ns in "$NS_SRV" "$NS_CLI"; do
        ip -n "$ns" link set lo up
    done
    ip -n "$NS_SRV" link set "$VETH_SRV" up
    ip -n "$NS_CLI" link set "$VETH_CLI" up
    SRV=(ip netns exec "$NS_SRV")
    CLI=(ip netns exec "$NS_CLI")
    ADDR=10.77.0.1
    NET=veth
    throughput
    SRV=()
    CLI=()
    ADDR=127.0.0.1
    ip netns del "$NS_SRV"
    ip netns del "$NS_CLI"
fi

# --- 2. host memory while 10 clients download at once --------------------------------
if part memory; then
    NET=loopback
    log "memory: 10 concurrent get-file of ${SIZE_MIB} MiB"
    start_host "$W/host-mem"
    "$H" send-file "$LINK" "$W/big.bin" --name Alice --data-dir "$W/alice" --json \
        >"$W/send.json" 2>>"$W/alice.err"
    for i in $(seq 10); do
        # Joined once before, so that each client only downloads in the measured part.
        "$H" join "$LINK" --name "C$i" --data-dir "$W/c$i" --tail 1 >/dev/null 2>>"$W/c.err"
    done
    for round in 1 2; do
        "$PY" "$W/helper.py" rss "$HOST_PID" 0.1 >"$W/rss.txt" &
        sampler=$!
        sleep 2
        t_start=$EPOCHREALTIME
        getters=()
        for i in $(seq 10); do
            rm -f "$W/c$i/files/cache/$BIG_ID"
            "$H" get-file "$LINK" "$BIG_ID" -o /dev/null --name "C$i" --data-dir "$W/c$i" --json \
                >"$W/c$i.json" 2>>"$W/c.err" &
            getters+=($!)
        done
        for p in "${getters[@]}"; do wait "$p"; done
        t_end=$EPOCHREALTIME
        sleep 1
        kill "$sampler"
        wait "$sampler" 2>/dev/null || true
        for i in $(seq 10); do
            [[ "$(helper json "$W/c$i.json" size)" == "$SIZE" ]]
            rm -f "$W/c$i/files/cache/$BIG_ID"
        done
        base="$(awk -v t="$t_start" '$1 < t { print $2 }' "$W/rss.txt" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')"
        peak="$(awk -v t="$t_start" '$1 >= t { print $2 }' "$W/rss.txt" | sort -n | tail -1)"
        d="$(secs "$t_start" "$t_end")"
        printf 'mem\t%s\t%s\t%s\t%s\t%s\n' "$round" "$base" "$peak" "$d" \
            "$(mbps $((SIZE * 10)) "$d")" >>"$RESULTS"
        cp "$W/rss.txt" "$W/rss-$round.txt"
    done
    stop_host
    rm -rf "$W/host-mem" "$W/alice" "$W"/c[0-9]*
fi
rm -f "$W/big.bin" "$W/www/big.bin"

# --- 3. a 10 MB image shows as a preview for another member ----------------------------
if part preview; then
    NET=loopback
    log "preview: generating $((PREVIEW_RUNS + 1)) JPEG and PNG images of about 10 MB"
    mkdir -p "$W/img"
    for i in $(seq 0 "$PREVIEW_RUNS"); do
        # Noise: incompressible, so that 10 MB is the file's size at photo resolutions.
        convert -size 4000x3000 -seed "$i" xc: +noise Random -sampling-factor 2x2 -quality 90 \
            "$W/img/photo$i.jpg"
        convert -size 1870x1870 -seed "$i" xc: +noise Random -depth 8 "$W/img/noise$i.png"
    done
    start_host "$W/host-pv"
    # Bob: a member connected all along (the interactive chat), and a second data dir of
    # Bob's that fetches the preview with `get-file` (a data dir is one process's).
    "$PY" "$W/helper.py" tsrun "$W/bob-live.log" "$H" join "$LINK" --name Bob --data-dir "$W/bob-live" &
    "$H" join "$LINK" --name Bob --data-dir "$W/bob-get" --tail 1 >/dev/null 2>>"$W/bob.err"
    "$H" join "$LINK" --name Alice --data-dir "$W/alice" --send hello >/dev/null 2>>"$W/alice.err"
    until grep -q hello "$W/bob-live.log" 2>/dev/null; do sleep 0.05; done
    preview_run() {
        local kind="$1" i="$2" img="$3" id t0 tmsg thumb tg0 t1 tpost tblob tdl0 tdl1 tsend
        id="$(sha256sum "$img" | cut -d' ' -f1)"
        start_poller "$W/ev.txt" "$W/host-pv/files/partial" "$W/host-pv/files/blobs" \
            "$W/bob-get/files/cache/partial" "$W/bob-get/files/cache"
        rm -f "$W/send.end"
        t0=$EPOCHREALTIME
        {
            "$H" send-file "$LINK" "$img" --name Alice --data-dir "$W/alice" --json \
                >"$W/send.json" 2>>"$W/alice.err"
            echo "$EPOCHREALTIME" >"$W/send.end"
        } &
        local sender=$!
        read -r tmsg thumb < <("$PY" "$W/helper.py" waitfor "$W/bob-live.log" "id $id" \
            "$W/bob-live/hearth.db" "$id")
        tg0=$EPOCHREALTIME
        "$H" get-file "$LINK" "$thumb" -o "$W/thumb.out" --name Bob --data-dir "$W/bob-get" \
            --json >/dev/null 2>>"$W/bob.err"
        t1=$EPOCHREALTIME
        wait "$sender"
        tsend="$(cat "$W/send.end")"
        stop_poller
        tpost="$(helper event "$W/ev.txt" /host-pv/files/partial - "$t0")"
        tblob="$(helper event "$W/ev.txt" /blobs "$id")"
        tdl0="$(helper event "$W/ev.txt" /cache/partial "$thumb")"
        tdl1="$(helper event "$W/ev.txt" /cache "$thumb")"
        rm -f "$W/thumb.out"
        if [[ $i == 0 ]]; then return; fi # warm-up
        # total: send-file started -> Bob's get-file of the preview done
        # msg: -> the message printed by Bob's live chat; prep: -> first upload created on
        # the host (CLI start, join, hash, decode + thumbnail, usage); upload: -> the
        # 10 MB blob stored; get_cmd: Bob's get-file of the preview (start, join, sync,
        # fetch); get_raw: the preview's bytes (first byte to verified file); send_cmd:
        # the whole send-file; app: msg + get_raw (a connected client fetching the preview)
        printf 'preview\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$i" \
            "$(secs "$t0" "$t1")" "$(secs "$t0" "$tmsg")" "$(secs "$t0" "$tpost")" \
            "$(secs "$tpost" "$tblob")" "$(secs "$tg0" "$t1")" "$(secs "$tdl0" "$tdl1")" \
            "$(secs "$t0" "$tsend")" \
            "$(awk -v a="$(secs "$t0" "$tmsg")" -v b="$(secs "$tdl0" "$tdl1")" 'BEGIN { printf "%.6f", a + b }')" \
            >>"$RESULTS"
    }
    for i in $(seq 0 "$PREVIEW_RUNS"); do
        log "preview run $i"
        preview_run jpeg "$i" "$W/img/photo$i.jpg"
        preview_run png "$i" "$W/img/noise$i.png"
    done
    stop_host
fi

if [[ -s $W/stalls.txt ]]; then
    echo "NOTE: a host start stalled; see /tmp/hearth-bench-files-stalls.txt"
fi
echo "files benchmark, $(nproc) cores, $(uname -r), $(date -u +%F), file ${SIZE_MIB} MiB"
helper summary "$RESULTS"
