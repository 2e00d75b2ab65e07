// The rendered slice of a long room, by seq: a room of 10,000 messages never puts more
// than MAX_ROWS of them in the DOM. Scrolling up moves the slice up (dropping the newest
// rows once it is full), scrolling back down moves it down again; at the newest it
// follows new messages.
import type { ChatMessage } from "../../bindings/ChatMessage";

export const STEP_ROWS = 300;
export const MAX_ROWS = 900;

/** Seqs `from` to `to` (inclusive); `to: null` follows the newest message. */
export interface RowWindow {
  from: number;
  to: number | null;
}

/** Index of the first message with seq >= `seq` (`list` ascending by seq). */
function lowerBound(list: ChatMessage[], seq: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((list[mid] as ChatMessage).seq < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The newest STEP_ROWS messages, following new ones. */
export function newest(list: ChatMessage[]): RowWindow {
  return { from: list[Math.max(0, list.length - STEP_ROWS)]?.seq ?? 0, to: null };
}

export function slice(list: ChatMessage[], w: RowWindow): ChatMessage[] {
  const start = lowerBound(list, w.from);
  const end = w.to === null ? list.length : lowerBound(list, w.to + 1);
  return list.slice(start, end);
}

/** STEP_ROWS older rows from what is loaded, or null when none are loaded above. */
export function older(list: ChatMessage[], w: RowWindow): RowWindow | null {
  const start = lowerBound(list, w.from);
  if (start === 0) return null;
  const newStart = Math.max(0, start - STEP_ROWS);
  const end = w.to === null ? list.length : lowerBound(list, w.to + 1);
  const to = end - newStart > MAX_ROWS ? ((list[newStart + MAX_ROWS - 1] as ChatMessage).seq) : w.to;
  return { from: (list[newStart] as ChatMessage).seq, to };
}

/** STEP_ROWS newer rows, following the newest once it is reached; null if already there. */
export function newer(list: ChatMessage[], w: RowWindow): RowWindow | null {
  if (w.to === null) return null;
  const end = lowerBound(list, w.to + 1);
  const newEnd = end + STEP_ROWS;
  const to = newEnd >= list.length ? null : (list[newEnd - 1] as ChatMessage).seq;
  const last = to === null ? list.length : newEnd;
  const start = lowerBound(list, w.from);
  const from = last - start > MAX_ROWS ? (list[last - MAX_ROWS] as ChatMessage).seq : w.from;
  return { from, to };
}

/** While following at the end, rows far above are let go (a busy room stays light). */
export function trimmed(list: ChatMessage[], w: RowWindow): RowWindow {
  if (w.to !== null) return w;
  const start = lowerBound(list, w.from);
  return list.length - start > MAX_ROWS ? newest(list) : w;
}

/** About STEP_ROWS rows centred on `seq` (a jump to a reply's original or a search hit). */
export function around(list: ChatMessage[], seq: number): RowWindow {
  const at = lowerBound(list, seq);
  const start = Math.max(0, at - Math.floor(STEP_ROWS / 2));
  const end = Math.min(list.length, start + STEP_ROWS);
  if (end >= list.length) return { from: list[start]?.seq ?? 0, to: null };
  return { from: (list[start] as ChatMessage).seq, to: (list[end - 1] as ChatMessage).seq };
}
