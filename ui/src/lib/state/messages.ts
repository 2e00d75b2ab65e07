// Message lists: merged by seq (the host's order), never duplicated, and laid out for
// display: day separators, runs by the same author, presence lines placed by time.
import type { ChatMessage } from "../../bindings/ChatMessage";
import type { OutboxItem } from "./outbox";
import type { PresenceLine } from "./presence";

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

/** A message older than the newest one loaded: a page of history, not a new message. */
export function isHistory(loaded: ChatMessage[] | undefined, m: ChatMessage): boolean {
  const newest = loaded?.at(-1)?.seq;
  return newest !== undefined && m.seq < newest;
}

/** Keeps the newest `max` messages (the list is windowed for long rooms). */
export function trimOldest(list: ChatMessage[], max: number): ChatMessage[] {
  return list.length > max ? list.slice(list.length - max) : list;
}

export type Row =
  | { kind: "day"; key: string; label: string }
  | { kind: "message"; key: string; message: ChatMessage; first: boolean }
  | { kind: "presence"; key: string; line: PresenceLine };

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

interface Said {
  user_id: string;
  author: string;
  ts: number;
}

/** Continues a run: same author (id and the name shown), same day, no long pause. */
function continues(prev: Said | null, next: Said): boolean {
  return (
    prev !== null &&
    prev.user_id === next.user_id &&
    prev.author === next.author &&
    dayKey(prev.ts) === dayKey(next.ts) &&
    next.ts - prev.ts <= GROUP_GAP_MS
  );
}

/**
 * Day separators, `first` on the message that starts a run, and presence lines among the
 * messages by time. Presence lines older than the first message shown are left out (they
 * belong to history not shown yet) unless the list starts at the room's beginning.
 */
export function toRows(
  messages: ChatMessage[],
  now: number = Date.now(),
  presence: PresenceLine[] = [],
  fromStart = false,
): Row[] {
  const rows: Row[] = [];
  const since = fromStart || messages.length === 0 ? -Infinity : (messages[0]?.ts ?? -Infinity);
  const lines = presence.filter((l) => l.ts >= since);
  let li = 0;
  let prevDay: string | null = null;
  let prevSaid: Said | null = null;
  const days = new Set<string>();
  const day = (ts: number) => {
    const k = dayKey(ts);
    if (k === prevDay) return;
    prevDay = k;
    // Keys stay unique even if clocks disagree and a day comes round twice.
    const key = days.has(k) ? `day-${k}-${rows.length}` : `day-${k}`;
    days.add(k);
    rows.push({ kind: "day", key, label: dayLabel(ts, now) });
  };
  const presenceUntil = (ts: number) => {
    for (let l = lines[li]; l && l.ts < ts; l = lines[++li]) {
      day(l.ts);
      rows.push({ kind: "presence", key: l.key, line: l });
      prevSaid = null; // a presence line ends a run
    }
  };
  for (const m of messages) {
    presenceUntil(m.ts);
    day(m.ts);
    rows.push({ kind: "message", key: `m-${m.seq}`, message: m, first: !continues(prevSaid, m) });
    prevSaid = m;
  }
  presenceUntil(Infinity);
  return rows;
}

/** The run the last row ends, for pending messages to continue. */
export function lastSaid(rows: Row[]): Said | null {
  const last = rows.at(-1);
  return last?.kind === "message" ? last.message : null;
}

/**
 * Our own messages not stored yet: they continue our run (one avatar and name), like
 * stored ones.
 */
export function pendingRows(
  pending: OutboxItem[],
  before: Said | null,
  me: { user_id: string; name: string },
): { item: OutboxItem; first: boolean }[] {
  let prev = before;
  return pending.map((item) => {
    const said = { user_id: me.user_id, author: me.name, ts: item.created_at };
    const first = !continues(prev, said);
    prev = said;
    return { item, first };
  });
}

/** "This is the beginning": only above seq 1 (or an empty room), never above a partial window. */
export function showsBeginning(shown: ChatMessage[], atStart: boolean | undefined): boolean {
  const first = shown[0];
  return first ? first.seq === 1 : atStart === true;
}

// The system's locale and its 12/24-hour setting.
const timeFormat = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });

export function timeLabel(ts: number): string {
  return timeFormat.format(ts);
}
