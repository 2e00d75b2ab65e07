#!/usr/bin/env bash
# Measures the desktop app as the README reports it, without WebDriver:
#   - process start -> first paint of the UI with its data (median of 5 launches);
#   - RSS of hearth-desktop plus its WebKit processes, idle with one room open;
#   - opening a room with 10,000 cached messages, appending a new message to it, and
#     scrolling from its newest message to its first (then the RSS again).
# Everything stays on loopback (the host does not announce, the app does not browse) and
# runs under its own Xvfb; the timings come from the app's own log (HEARTH_PERF=1, see
# src-tauri/src/commands.rs).
# Usage: scripts/measure-app.sh [release|debug]   (build first: scripts/run.sh or cargo build)
# Needs: xvfb, xdotool, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-release}"
app="$PWD/target/$profile/hearth-desktop"
cli="$PWD/target/$profile/hearth"
[ -x "$app" ] && [ -x "$cli" ] || { echo "build $profile first (hearth-desktop and hearth)" >&2; exit 1; }
for t in Xvfb xdotool python3; do command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 1; }; done

work=$(mktemp -d)
display=":$((200 + $$ % 100))"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 1
  rm -rf "$work"
}
trap cleanup EXIT

Xvfb "$display" -screen 0 1280x800x24 >/dev/null 2>&1 & pids+=($!)
sleep 1
export DISPLAY="$display" WEBKIT_DISABLE_COMPOSITING_MODE=1 HEARTH_PERF=1

# A host with a 10,000-message room, and an app whose cache already holds them.
"$cli" host --name "Big room" --host-name Carol --no-advertise --bind 127.0.0.1:7460 \
  --data-dir "$work/host" > "$work/invite" 2>"$work/host.log" & hp=$!
sleep 2; kill "$hp"; wait "$hp" 2>/dev/null || true
room=$(sed -n 's|.*/\([0-9a-f-]\{36\}\).*|\1|p' "$work/invite" | head -1)
timeout 20 "$app" --data-dir "$work/app" --no-discovery >/dev/null 2>&1 & ap=$!
sleep 8; kill "$ap" 2>/dev/null || true; wait "$ap" 2>/dev/null || true
python3 - "$work" "$room" <<'PY'
import sqlite3, sys, time, uuid
work, room = sys.argv[1], sys.argv[2]
author, now = str(uuid.uuid4()), int(time.time() * 1000)
rows = [(room, s, now - (10_000 - s) * 30_000, author, "Carol", f"seed-{s}",
         f"Message {s} of the big room, long enough to wrap like a real one now and then.")
        for s in range(1, 10_001)]
h = sqlite3.connect(f"{work}/host/hearth.db")
h.executemany("INSERT INTO host_messages VALUES (?,?,?,?,?,?,?)", rows); h.commit()
a = sqlite3.connect(f"{work}/app/hearth.db")
a.executemany("INSERT INTO messages VALUES (?,?,?,?,?,?,?)", rows)
a.execute("INSERT INTO joined_rooms (room_id, name, address, host_name, has_passcode, synced_seq, read_seq, joined_at) "
          "VALUES (?, 'Big room', '127.0.0.1:7460', 'Carol', 0, 10000, 10000, ?)", (room, now))
a.execute("INSERT OR REPLACE INTO settings VALUES ('display_name', 'Meter')")
a.execute("INSERT OR REPLACE INTO settings VALUES ('display_name_confirmed', '1')")
a.commit()
PY
"$cli" host --name "Big room" --host-name Carol --no-advertise --bind 127.0.0.1:7460 \
  --data-dir "$work/host" > "$work/invite" 2>"$work/host.log" & pids+=($!)
sleep 2
invite=$(head -1 "$work/invite")

echo "== first paint, 5 launches ($profile)"
paints=()
for i in 1 2 3 4 5; do
  "$app" --data-dir "$work/app" --no-discovery 2>"$work/paint$i.log" & p=$!
  for _ in $(seq 100); do grep -q "first paint after" "$work/paint$i.log" && break; sleep 0.2; done
  paints+=("$(sed -n 's/.*first paint after \([0-9]*\) ms.*/\1/p' "$work/paint$i.log" | head -1)")
  kill "$p"; wait "$p" 2>/dev/null || true; sleep 1
done
echo "first paint (ms): ${paints[*]}; median $(printf '%s\n' "${paints[@]}" | sort -n | sed -n 3p)"

echo "== a room with 10,000 cached messages"
"$app" --data-dir "$work/app" --no-discovery 2>"$work/app.log" & p=$! ; pids+=($p)
for _ in $(seq 100); do grep -q "first paint after" "$work/app.log" && break; sleep 0.2; done
sleep 2
# The window is centred in the 1280x800 screen; the first room of "Your rooms" sits here.
xdotool mousemove 190 215 click 1
for _ in $(seq 50); do grep -q "perf open-room" "$work/app.log" && break; sleep 0.2; done
grep "perf open-room" "$work/app.log" | tail -1
for i in 1 2 3 4 5; do
  "$cli" join "$invite" --name Dave --data-dir "$work/dave" --send "new message $i" >/dev/null 2>"$work/dave.log" \
    || { echo "sending failed:"; cat "$work/dave.log" "$work/host.log"; exit 1; }
  sleep 0.5
done
echo "append a message (ms): $(sed -n 's/.*perf append-message \([0-9.]*\) ms.*/\1/p' "$work/app.log" | tr '\n' ' ')"

echo "== scroll from the newest message to the first of the 10,000"
# Home in the focused list jumps to the top; each jump loads older rows above (the cache,
# 100 at a time). The UI logs how long it took from leaving the end to seq 1 on screen.
xdotool mousemove 640 400 click 1
for _ in $(seq 600); do
  grep -q "perf scroll-to-start" "$work/app.log" && break
  xdotool key Home; sleep 0.1
done
grep "perf scroll-to-start" "$work/app.log" | tail -1 || echo "did not reach the first message"

echo "== memory, idle 10 s with that room open (scrolled to the top)"
sleep 10
python3 - "$p" <<'PY'
import os, sys
root = int(sys.argv[1])
kids = {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        ppid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(pid))
    except OSError:
        pass
todo, seen = [root], []
while todo:
    p = todo.pop(); seen.append(p); todo += kids.get(p, [])
total = 0
for p in seen:
    try:
        name = open(f"/proc/{p}/comm").read().strip()
        rss = next(int(l.split()[1]) for l in open(f"/proc/{p}/status") if l.startswith("VmRSS:"))
    except (OSError, StopIteration):
        continue
    total += rss
    print(f"  {name:<22} {rss / 1024:7.1f} MiB")
print(f"RSS total: {total / 1024:.1f} MiB")
PY
