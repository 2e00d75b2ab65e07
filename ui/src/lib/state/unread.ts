// Unread counts: messages from others after what the user has seen.
import type { ChatMessage } from "../../bindings/ChatMessage";

export interface UnreadState {
  /** room id -> count */
  counts: Record<string, number>;
}

/** Counts a new message unless it is ours or the room is being looked at. */
export function onMessage(
  counts: Record<string, number>,
  m: ChatMessage,
  me: string,
  readSeq: number,
  inView: boolean,
): Record<string, number> {
  if (m.user_id === me || inView || m.seq <= readSeq) return counts;
  return { ...counts, [m.room_id]: (counts[m.room_id] ?? 0) + 1 };
}

export function markRead(counts: Record<string, number>, roomId: string): Record<string, number> {
  if (!counts[roomId]) return counts;
  return { ...counts, [roomId]: 0 };
}

export function total(counts: Record<string, number>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

export function windowTitle(counts: Record<string, number>): string {
  const n = total(counts);
  return n > 0 ? `Hearth (${n})` : "Hearth";
}
