// Our own messages before the host has stored them: "sending", then gone once the
// host's copy arrives (it carries the same client_msg_id), or "failed" with a retry.
import type { PendingView } from "../../bindings/PendingView";

export type OutboxState = "sending" | "failed";

export interface OutboxItem {
  room_id: string;
  client_msg_id: string;
  text: string;
  created_at: number;
  state: OutboxState;
  error?: string;
}

export function fromPending(p: PendingView): OutboxItem {
  return { ...p, state: "sending" };
}

/** Replaces the pending list for a room with what the store holds, keeping failures. */
export function syncPending(items: OutboxItem[], roomId: string, pending: PendingView[]): OutboxItem[] {
  const failed = items.filter((i) => i.room_id === roomId && i.state === "failed");
  const others = items.filter((i) => i.room_id !== roomId);
  const known = new Set(pending.map((p) => p.client_msg_id));
  return [...others, ...pending.map(fromPending), ...failed.filter((f) => !known.has(f.client_msg_id))];
}

export function add(items: OutboxItem[], p: PendingView): OutboxItem[] {
  if (items.some((i) => i.client_msg_id === p.client_msg_id)) return items;
  return [...items, fromPending(p)];
}

/** The host stored it: the message list now shows it, so it leaves the outbox. */
export function acked(items: OutboxItem[], clientMsgId: string): OutboxItem[] {
  return items.filter((i) => i.client_msg_id !== clientMsgId);
}

/** The host refused it for good (too long, empty...). */
export function failed(items: OutboxItem[], clientMsgId: string, error: string): OutboxItem[] {
  return items.map((i) => (i.client_msg_id === clientMsgId ? { ...i, state: "failed" as const, error } : i));
}

/** A retry sends the text again under a new id; the failed copy goes. */
export function retried(items: OutboxItem[], failedId: string, again: PendingView): OutboxItem[] {
  return add(acked(items, failedId), again);
}

export function forRoom(items: OutboxItem[], roomId: string): OutboxItem[] {
  return items.filter((i) => i.room_id === roomId).sort((a, b) => a.created_at - b.created_at);
}
