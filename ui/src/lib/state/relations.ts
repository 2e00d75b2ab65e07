// Folding a room's log (protocol §3.9) into what a timeline shows: actions (edits,
// deletions, reactions) are events of their own in the log; here each one is applied to
// the message it targets. The newest edit by seq wins, a person's reaction with one
// emoji counts once, and a deletion leaves "message deleted" in place of the message.
// Actions whose target is not loaded yet wait and apply when it arrives (older history).
import type { ChatMessage } from "../../bindings/ChatMessage";
import type { Deleted } from "../../bindings/Deleted";

export const ACTIONS = new Set(["edit", "delete", "react", "unreact"]);

export function isAction(m: { kind?: string | null }): boolean {
  return !!m.kind && ACTIONS.has(m.kind);
}

export interface Reaction {
  key: string;
  /** User ids, in the order they reacted. */
  users: string[];
}

/** A message as shown: its current text and what happened to it. */
export interface Shown {
  message: ChatMessage;
  text: string;
  /** The newest edit: its seq and time. */
  edited: { seq: number; ts: number } | null;
  deleted: Deleted | null;
  reactions: Reaction[];
}

export interface Folded {
  /** Messages to show, ascending by seq (actions left out). */
  shown: ChatMessage[];
  bySeq: Map<number, Shown>;
}

/** Folds `log` (ascending by seq, as loaded) into the messages it shows. */
export function fold(log: ChatMessage[]): Folded {
  const bySeq = new Map<number, Shown>();
  const shown: ChatMessage[] = [];
  for (const m of log) {
    if (isAction(m)) continue;
    shown.push(m);
    bySeq.set(m.seq, {
      message: m,
      text: m.deleted ? "" : m.text,
      edited: null,
      deleted: m.deleted ?? null,
      reactions: [],
    });
  }
  // Reactions as sets per target, applied in seq order (react then unreact nets out).
  const reacted = new Map<number, Map<string, string[]>>();
  for (const a of log) {
    if (!isAction(a) || a.target == null) continue;
    const t = bySeq.get(a.target);
    if (!t) continue;
    switch (a.kind) {
      case "edit":
        // Only the author's edit counts (the host checks; this keeps a hostile host's
        // edit from putting words in someone's mouth).
        if (a.user_id !== t.message.user_id || t.deleted) break;
        if (!t.edited || a.seq > t.edited.seq) {
          t.edited = { seq: a.seq, ts: a.ts };
          t.text = a.text;
        }
        break;
      case "delete":
        t.deleted = t.deleted ?? { seq: a.seq, by: a.user_id, by_owner: a.user_id !== t.message.user_id };
        t.text = "";
        break;
      case "react":
      case "unreact": {
        const keys = reacted.get(a.target) ?? new Map<string, string[]>();
        reacted.set(a.target, keys);
        const users = (keys.get(a.text) ?? []).filter((u) => u !== a.user_id);
        if (a.kind === "react") users.push(a.user_id);
        keys.set(a.text, users);
        break;
      }
    }
  }
  for (const [seq, keys] of reacted) {
    const t = bySeq.get(seq);
    if (!t || t.deleted) continue;
    t.reactions = [...keys].filter(([, users]) => users.length > 0).map(([key, users]) => ({ key, users }));
  }
  return { shown, bySeq };
}

/** Does `user` have reaction `key` on this message? (A click toggles it.) */
export function hasReacted(s: Shown, key: string, user: string): boolean {
  return s.reactions.some((r) => r.key === key && r.users.includes(user));
}

/** A one-line quote of a message for a reply: its author and the start of its text. */
export function snippet(s: Shown | undefined, max = 80): string {
  if (!s) return "a message not loaded here";
  if (s.deleted) return "message deleted";
  // Markup markers are noise in a one-line quote.
  const line = s.text.replace(/\*\*|~~|`/g, "").replace(/\s+/g, " ").trim();
  const chars = [...line];
  return chars.length > max ? `${chars.slice(0, max - 1).join("")}…` : line;
}

/** The newest own message that can still be edited (Up-arrow in an empty composer). */
export function lastEditable(f: Folded, me: string): Shown | undefined {
  for (let i = f.shown.length - 1; i >= 0; i--) {
    const s = f.bySeq.get((f.shown[i] as ChatMessage).seq);
    if (s && s.message.user_id === me && !s.deleted) return s;
  }
  return undefined;
}

/** Does this message mention `me` (by id, or @room)? */
export function mentions(m: ChatMessage, me: string): boolean {
  return !!m.mentions_room || (m.mentions ?? []).includes(me);
}
