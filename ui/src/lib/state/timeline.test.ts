import { describe, expect, it } from "vitest";
import { history, PEOPLE, ROOM, T0 } from "./fixtures";
import { lastSaid, pendingRows, showsBeginning, timeLabel, toRows, type Row } from "./messages";
import type { OutboxItem } from "./outbox";
import { plain } from "./parts";
import { addPresence, presenceParts, PRESENCE_CAP, type PresenceLine, type PresenceMap } from "./presence";

const kinds = (rows: Row[]) => rows.map((r) => (r.kind === "message" ? (r.first ? "first" : "cont") : r.kind));

describe("runs of messages", () => {
  it("groups hundreds of messages into runs of the same author", () => {
    const rows = toRows(history(600), T0);
    const messages = rows.filter((r) => r.kind === "message");
    expect(messages).toHaveLength(600);
    // Authors take turns in runs of 3: every third message starts a run.
    expect(messages.filter((r) => r.first)).toHaveLength(200);
    expect(new Set(rows.map((r) => r.key)).size).toBe(rows.length);
  });

  it("starts a new run after a rename, under the new name", () => {
    const [a, b, c] = history(3);
    const renamed = { ...c!, author: "Alice (away)" };
    expect(kinds(toRows([a!, b!, renamed], T0))).toEqual(["day", "first", "cont", "first"]);
  });

  it("breaks a run after a pause of more than five minutes", () => {
    const [a, b] = history(2);
    expect(kinds(toRows([a!, { ...b!, ts: a!.ts + 6 * 60_000 }], T0))).toEqual(["day", "first", "first"]);
  });
});

describe("presence lines in the timeline", () => {
  const line = (key: string, ts: number, name = "Bob", event: PresenceLine["event"] = "join"): PresenceLine => ({
    key,
    ts,
    event,
    name,
  });

  it("places lines by time among messages and ends the run around them", () => {
    const msgs = history(3); // one author, 7 s apart
    const rows = toRows(msgs, T0, [line("p1", msgs[1]!.ts - 1)]);
    expect(kinds(rows)).toEqual(["day", "first", "presence", "first", "cont"]);
  });

  it("leaves out lines older than the first message shown unless the list starts at seq 1", () => {
    const msgs = history(50, 951, T0 + 3_600_000);
    const early = line("p-early", T0);
    expect(toRows(msgs, T0, [early]).some((r) => r.kind === "presence")).toBe(false);
    expect(toRows(msgs, T0, [early], true)[1]).toMatchObject({ kind: "presence", key: "p-early" });
    // Newer than every message: at the end.
    expect(toRows(msgs, T0, [line("p-late", T0 + 9e6)]).at(-1)).toMatchObject({ kind: "presence" });
  });

  it("says who joined, left, timed out or renamed, names kept apart", () => {
    const rtl = PEOPLE[2]!.name;
    expect(plain(presenceParts(line("a", 0, rtl, "join")))).toBe(`${rtl} joined`);
    expect(plain(presenceParts(line("b", 0, "Bob", "leave")))).toBe("Bob left");
    expect(plain(presenceParts(line("c", 0, "Bob", "timeout")))).toBe("Bob timed out");
    expect(presenceParts({ ...line("d", 0, "Robert", "rename"), oldName: "Bob" })).toEqual([
      { name: "Bob" },
      " is now ",
      { name: "Robert" },
    ]);
  });

  it("keeps at most the newest 200 lines per room", () => {
    let map: PresenceMap = {};
    for (let i = 0; i < 450; i++) map = addPresence(map, ROOM, line(`p${i}`, T0 + i));
    map = addPresence(map, "other", line("x", T0));
    expect(map[ROOM]).toHaveLength(PRESENCE_CAP);
    expect(map[ROOM]?.[0]?.key).toBe("p250");
    expect(map.other).toHaveLength(1);
  });
});

describe("pending messages", () => {
  const me = { user_id: PEOPLE[0]!.user_id, name: PEOPLE[0]!.name };
  const item = (id: string, created_at: number): OutboxItem => ({ room_id: ROOM, client_msg_id: id, text: "🚀".repeat(3), created_at, state: "sending" });

  it("continue our own run: one avatar and name for several", () => {
    const msgs = history(3); // Alice's run
    const last = msgs.at(-1)!;
    const rows = pendingRows([item("a", last.ts + 1000), item("b", last.ts + 2000), item("c", last.ts + 3000)], lastSaid(toRows(msgs, T0)), me);
    expect(rows.map((r) => r.first)).toEqual([false, false, false]);
  });

  it("start a run after someone else's message, then continue it", () => {
    const msgs = history(6); // ends with the long-named author's run
    const last = msgs.at(-1)!;
    const rows = pendingRows([item("a", last.ts + 1000), item("b", last.ts + 2000)], lastSaid(toRows(msgs, T0)), me);
    expect(rows.map((r) => r.first)).toEqual([true, false]);
  });
});

describe("the beginning of the room", () => {
  it("shows only above seq 1 or in an empty room", () => {
    expect(showsBeginning(history(300), false)).toBe(true);
    expect(showsBeginning(history(300, 701), false)).toBe(false);
    // The cache is at its start but the window shows a later part of it.
    expect(showsBeginning(history(300, 701), true)).toBe(false);
    expect(showsBeginning([], true)).toBe(true);
    expect(showsBeginning([], undefined)).toBe(false);
  });
});

describe("times", () => {
  it("follow the system locale's short time style", () => {
    const expected = new Intl.DateTimeFormat(undefined, { timeStyle: "short" }).format(T0);
    expect(timeLabel(T0)).toBe(expected);
  });
});

describe("row keys", () => {
  it("stay unique when a presence line's clock puts it on another day", () => {
    const msgs = history(4, 1, T0);
    const skewed: PresenceLine = { key: "p-skew", ts: msgs[1]!.ts + 1, event: "join", name: "Bob" };
    const tomorrow = { ...msgs[3]!, ts: T0 + 86_400_000 };
    const rows = toRows([msgs[0]!, msgs[1]!, msgs[2]!, tomorrow], T0, [skewed]);
    expect(new Set(rows.map((r) => r.key)).size).toBe(rows.length);
  });
});
