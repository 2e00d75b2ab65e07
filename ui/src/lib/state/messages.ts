// Message lists: merged by seq (the host's order), never duplicated, and grouped for
// display by day and by author.
import type { ChatMessage } from "../../bindings/ChatMessage";

/** Merges `incoming` into `existing` (both ascending by seq); a seq appears once. */
export function mergeMessages(existing: ChatMessage[], incoming: ChatMessage[]): ChatMessage[] {
  if (incoming.length === 0) return existing;
  const bySeq = new Map<number, ChatMessage>();
  for (const m of existing) bySeq.set(m.seq, m);
  let changed = false;
  for (const m of incoming) {
    if (!bySeq.has(m.seq)) {
      bySeq.set(m.seq, m);
      changed = true;
    }
  }
  if (!changed) return existing;
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

/** Keeps the newest `max` messages (the list is windowed for long rooms). */
export function trimOldest(list: ChatMessage[], max: number): ChatMessage[] {
  return list.length > max ? list.slice(list.length - max) : list;
}

export type Row =
  | { kind: "day"; key: string; label: string }
  | { kind: "message"; key: string; message: ChatMessage; first: boolean };

const GROUP_GAP_MS = 5 * 60 * 1000;

export function dayLabel(ts: number, now: number = Date.now()): string {
  const d = new Date(ts);
  const today = new Date(now);
  const yesterday = new Date(now - 86_400_000);
  const same = (a: Date, b: Date) =>
    a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
  if (same(d, today)) return "Today";
  if (same(d, yesterday)) return "Yesterday";
  return d.toLocaleDateString(undefined, { weekday: "long", year: "numeric", month: "long", day: "numeric" });
}

function dayKey(ts: number): string {
  const d = new Date(ts);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

/** Day separators, and `first` on the message that starts an author's run. */
export function toRows(messages: ChatMessage[], now: number = Date.now()): Row[] {
  const rows: Row[] = [];
  let prev: ChatMessage | undefined;
  for (const m of messages) {
    const newDay = !prev || dayKey(prev.ts) !== dayKey(m.ts);
    if (newDay) rows.push({ kind: "day", key: `day-${dayKey(m.ts)}`, label: dayLabel(m.ts, now) });
    const first = newDay || !prev || prev.user_id !== m.user_id || m.ts - prev.ts > GROUP_GAP_MS;
    rows.push({ kind: "message", key: `m-${m.seq}`, message: m, first });
    prev = m;
  }
  return rows;
}

export function timeLabel(ts: number): string {
  return new Date(ts).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}
