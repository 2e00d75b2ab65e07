import { describe, expect, it } from "vitest";
import type { ChatMessage } from "../../bindings/ChatMessage";
import { isHistory, mergeMessages, toRows, trimOldest } from "./messages";
import * as outbox from "./outbox";
import * as unread from "./unread";
import { plain } from "./parts";
import { setTyping, typingLine, typists, TYPING_TTL_MS } from "./typing";

const R = "room-1";
const msg = (seq: number, user = "u1", ts = 1_700_000_000_000 + seq * 1000): ChatMessage => ({
  room_id: R,
  seq,
  ts,
  user_id: user,
  author: user === "u1" ? "Ann" : "Ben",
  client_msg_id: `c${seq}`,
  text: `text ${seq}`,
});

describe("history pages are not news", () => {
  it("tells an older page from a new message", () => {
    const loaded = Array.from({ length: 100 }, (_, i) => msg(901 + i));
    expect(isHistory(loaded, msg(850))).toBe(true);
    expect(isHistory(loaded, msg(1001))).toBe(false);
    // A room not loaded yet: its catch-up messages are news.
    expect(isHistory(undefined, msg(5))).toBe(false);
  });
});

describe("merging messages by seq", () => {
  it("keeps one copy of each seq, in seq order", () => {
    const a = [msg(1), msg(2), msg(4)];
    const merged = mergeMessages(a, [msg(3), msg(2), msg(5), msg(4)]);
    expect(merged.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
  });
  it("returns the same array when nothing is new (no needless re-render)", () => {
    const a = [msg(1), msg(2)];
    expect(mergeMessages(a, [msg(2)])).toBe(a);
  });
  it("accepts pages that arrive out of order", () => {
    let list: ChatMessage[] = [];
    list = mergeMessages(list, [msg(201), msg(202)]);
    list = mergeMessages(list, [msg(1), msg(2)]);
    list = mergeMessages(list, [msg(202), msg(203)]);
    expect(list.map((m) => m.seq)).toEqual([1, 2, 201, 202, 203]);
  });
  it("windows long rooms to the newest messages", () => {
    const list = Array.from({ length: 10 }, (_, i) => msg(i + 1));
    expect(trimOldest(list, 3).map((m) => m.seq)).toEqual([8, 9, 10]);
  });
  it("groups by author and separates days", () => {
    const day = 86_400_000;
    const rows = toRows([msg(1, "u1"), msg(2, "u1"), msg(3, "u2"), { ...msg(4, "u2"), ts: msg(3).ts + day }]);
    expect(rows.map((r) => (r.kind === "message" ? (r.first ? "first" : "cont") : r.kind))).toEqual([
      "day", "first", "cont", "first", "day", "first",
    ]);
  });
});

describe("outbox states", () => {
  const p = (id: string, created_at = 1) => ({ room_id: R, client_msg_id: id, text: `t ${id}`, created_at, relation: {} });
  it("goes sending -> gone on ack", () => {
    let items = outbox.add([], p("a"));
    expect(items[0]?.state).toBe("sending");
    items = outbox.add(items, p("a"));
    expect(items).toHaveLength(1);
    items = outbox.acked(items, "a");
    expect(items).toHaveLength(0);
  });
  it("marks refusals failed and retries under a new id", () => {
    let items = outbox.add([], p("a"));
    items = outbox.failed(items, "a", "too long");
    expect(items[0]).toMatchObject({ state: "failed", error: "too long" });
    items = outbox.retried(items, "a", p("b", 2));
    expect(items.map((i) => [i.client_msg_id, i.state])).toEqual([["b", "sending"]]);
  });
  it("does not add a message the host stored before send() returned", () => {
    const settled = new outbox.Settled();
    settled.add("a"); // the host's copy arrived first
    expect(outbox.add([], p("a"), settled)).toEqual([]);
    expect(outbox.add([], p("b"), settled)).toHaveLength(1);
  });
  it("does not bring back an acked message from a stale stored outbox", () => {
    const settled = new outbox.Settled();
    settled.add("y"); // acked while the store was being read
    const items = outbox.syncPending([], R, [p("y", 5), p("z", 6)], settled);
    expect(items.map((i) => i.client_msg_id)).toEqual(["z"]);
  });
  it("remembers only the newest settled ids", () => {
    const settled = new outbox.Settled(2);
    for (const id of ["a", "b", "c"]) settled.add(id);
    expect([settled.has("a"), settled.has("b"), settled.has("c")]).toEqual([false, true, true]);
  });
  it("syncs with the stored outbox but keeps failures", () => {
    let items = outbox.failed(outbox.add([], p("x")), "x", "nope");
    items = outbox.syncPending(items, R, [p("y", 5), p("z", 6)]);
    expect(outbox.forRoom(items, R).map((i) => i.client_msg_id)).toEqual(["x", "y", "z"]);
  });
});

describe("unread counting", () => {
  it("counts others' messages not in view, past the read mark", () => {
    let c: Record<string, number> = {};
    c = unread.onMessage(c, msg(1, "u2"), "u1", 0, false);
    c = unread.onMessage(c, msg(2, "u1"), "u1", 0, false); // mine
    c = unread.onMessage(c, msg(3, "u2"), "u1", 0, true); // in view
    c = unread.onMessage(c, msg(4, "u2"), "u1", 10, false); // already read
    expect(c[R]).toBe(1);
    expect(unread.windowTitle(c)).toBe("Hearth (1)");
    c = unread.markRead(c, R);
    expect(unread.total(c)).toBe(0);
    expect(unread.windowTitle(c)).toBe("Hearth");
  });
});

describe("typing expiry", () => {
  it("shows typists until they stop or their indicator expires", () => {
    const bob = { user_id: "b", name: "Bob" };
    const carol = { user_id: "c", name: "Carol" };
    let t = setTyping({}, R, bob, true, 0);
    t = setTyping(t, R, carol, true, 1000);
    expect(plain(typingLine(typists(t, R, 2000)))).toBe("Bob and Carol are typing…");
    expect(typists(t, R, TYPING_TTL_MS + 1)).toEqual(["Carol"]);
    t = setTyping(t, R, carol, false, 3000);
    expect(typists(t, R, 3000)).toEqual(["Bob"]);
    expect(plain(typingLine(["A", "B", "C", "D"]))).toBe("A, B and 2 others are typing…");
    expect(plain(typingLine(["A", "B", "C"]))).toBe("A, B and C are typing…");
    expect(typingLine([])).toEqual([]);
  });
  it("keeps each typist's name a separate part, so it can be isolated", () => {
    const rtl = "مريم";
    expect(typingLine([rtl, "Bob"])).toEqual([{ name: rtl }, " and ", { name: "Bob" }, " are typing…"]);
  });
});
