// Our own messages before the host has stored them: "sending", then gone once the
// host's copy arrives (it carries the same client_msg_id), or "failed" with a retry.
import type { PendingView } from "../../bindings/PendingView";
import type { Relation } from "../../bindings/Relation";

export type OutboxState = "sending" | "failed";

export interface OutboxItem {
  room_id: string;
  client_msg_id: string;
  text: string;
  created_at: number;
  state: OutboxState;
  error?: string;
  relation?: Relation;
}

export function fromPending(p: PendingView): OutboxItem {
  return { ...p, state: "sending" };
}

/**
 * Replaces the pending list for a room with what the store holds, keeping failures.
 * The store's list may predate an ack that has arrived since: settled ids stay out.
 */
export function syncPending(items: OutboxItem[], roomId: string, pending: PendingView[], settled?: Settled): OutboxItem[] {
  const failed = items.filter((i) => i.room_id === roomId && i.state === "failed");
  const others = items.filter((i) => i.room_id !== roomId);
  const fresh = pending.filter((p) => !settled?.has(p.client_msg_id));
  const known = new Set(fresh.map((p) => p.client_msg_id));
  return [...others, ...fresh.map(fromPending), ...failed.filter((f) => !known.has(f.client_msg_id))];
}

/**
 * Ids the host has already stored. The host's copy of a message can arrive before the
 * `send` call that queued it returns; without this, that late entry would say "sending"
 * forever. Bounded: only the newest `cap` ids matter for that race.
 */
export class Settled {
  private ids = new Set<string>();
  private order: string[] = [];
  constructor(private cap = 256) {}

  add(id: string) {
    if (this.ids.has(id)) return;
    this.ids.add(id);
    this.order.push(id);
    if (this.order.length > this.cap) this.ids.delete(this.order.shift() as string);
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }
}

export function add(items: OutboxItem[], p: PendingView, settled?: Settled): OutboxItem[] {
  if (settled?.has(p.client_msg_id)) return items;
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
export function retried(items: OutboxItem[], failedId: string, again: PendingView, settled?: Settled): OutboxItem[] {
  return add(acked(items, failedId), again, settled);
}

export function forRoom(items: OutboxItem[], roomId: string): OutboxItem[] {
  return items.filter((i) => i.room_id === roomId).sort((a, b) => a.created_at - b.created_at);
}

/** Pending messages to show as such: actions (an edit, a reaction) are not new messages. */
export function messagesOf(items: OutboxItem[]): OutboxItem[] {
  return items.filter((i) => !i.relation?.kind);
}
