import { describe, expect, it } from "vitest";
import type { ChatMessage } from "../../bindings/ChatMessage";
import { fold, hasReacted, lastEditable, snippet } from "./relations";

const ROOM = "r";
let seq = 0;
function msg(user: string, text: string, extra: Partial<ChatMessage> = {}): ChatMessage {
  seq++;
  return { room_id: ROOM, seq, ts: 1000 + seq, user_id: user, author: user, client_msg_id: `c${seq}`, text, ...extra };
}
const act = (user: string, kind: string, target: number, text = "") => msg(user, text, { kind, target });

describe("folding a log into messages", () => {
  it("applies the newest edit by seq, whatever order the events were loaded in", () => {
    seq = 0;
    const m = msg("alice", "helo");
    const e1 = act("alice", "edit", m.seq, "hello");
    const e2 = act("alice", "edit", m.seq, "hello, world 👋");
    for (const log of [[m, e1, e2], [m, e2, e1]]) {
      const f = fold(log.sort((a, b) => a.seq - b.seq));
      expect(f.shown.map((x) => x.seq)).toEqual([m.seq]);
      const s = f.bySeq.get(m.seq);
      expect(s?.text).toBe("hello, world 👋");
      expect(s?.edited).toEqual({ seq: e2.seq, ts: e2.ts });
    }
  });

  it("ignores an edit by anyone but the author", () => {
    seq = 0;
    const m = msg("alice", "mine");
    const f = fold([m, act("mallory", "edit", m.seq, "not hers")]);
    expect(f.bySeq.get(m.seq)?.text).toBe("mine");
    expect(f.bySeq.get(m.seq)?.edited).toBeNull();
  });

  it("counts a person's reaction once, and an unreact takes it back", () => {
    seq = 0;
    const m = msg("alice", "lunch?");
    const log = [
      m,
      act("bob", "react", m.seq, "👍"),
      act("bob", "react", m.seq, "👍"),
      act("carol", "react", m.seq, "👍"),
      act("carol", "react", m.seq, "🍜"),
      act("carol", "unreact", m.seq, "🍜"),
    ];
    const s = fold(log).bySeq.get(m.seq);
    expect(s?.reactions).toEqual([{ key: "👍", users: ["bob", "carol"] }]);
    expect(s && hasReacted(s, "👍", "bob")).toBe(true);
    expect(s && hasReacted(s, "🍜", "carol")).toBe(false);
  });

  it("shows a deleted message as deleted, by its author or by the host owner", () => {
    seq = 0;
    const a = msg("alice", "oops");
    const b = msg("bob", "spam");
    const log = [a, b, act("alice", "edit", a.seq, "oops2"), act("bob", "react", a.seq, "👍"), act("alice", "delete", a.seq), act("owner", "delete", b.seq)];
    const f = fold(log);
    const sa = f.bySeq.get(a.seq);
    expect(sa?.text).toBe("");
    expect(sa?.deleted?.by_owner).toBe(false);
    expect(sa?.reactions).toEqual([]);
    expect(f.bySeq.get(b.seq)?.deleted?.by_owner).toBe(true);
    expect(snippet(sa)).toBe("message deleted");
    // A message the host already erased (history loaded later) is deleted too.
    const erased = msg("alice", "", { deleted: { seq: 99, by: "alice" } });
    expect(fold([erased]).bySeq.get(erased.seq)?.deleted?.seq).toBe(99);
  });

  it("waits for a target that is not loaded, and applies once it is", () => {
    seq = 10;
    const react = act("bob", "react", 3, "🎉");
    const edit = act("alice", "edit", 3, "edited before it was loaded");
    expect(fold([react, edit]).shown).toEqual([]);
    const older: ChatMessage = { room_id: ROOM, seq: 3, ts: 5, user_id: "alice", author: "alice", client_msg_id: "x", text: "old" };
    const s = fold([older, react, edit]).bySeq.get(3);
    expect(s?.text).toBe("edited before it was loaded");
    expect(s?.reactions).toEqual([{ key: "🎉", users: ["bob"] }]);
  });

  it("finds the last own message to edit with Up-arrow, skipping deleted ones", () => {
    seq = 0;
    const mine = msg("me", "first");
    const gone = msg("me", "second");
    const theirs = msg("you", "third");
    const f = fold([mine, gone, theirs, act("me", "delete", gone.seq)]);
    expect(lastEditable(f, "me")?.message.seq).toBe(mine.seq);
  });

  it("quotes a snippet of long, right-to-left text by characters, not UTF-16 units", () => {
    seq = 0;
    const long = msg("a", "مرحبا 👋 ".repeat(30));
    const q = snippet(fold([long]).bySeq.get(long.seq), 10);
    expect([...q].length).toBe(10);
    expect(q.endsWith("…")).toBe(true);
  });
});
