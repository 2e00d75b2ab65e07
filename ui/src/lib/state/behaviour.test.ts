import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Connection } from "../../bindings/Connection";
import type { RoomAccess } from "../../bindings/RoomAccess";
import { accessBanner, accessStatus, composerPlaceholder, reach } from "./access";
import { canSend, charCount, counterText, DEFAULT_MAX_CHARS, outgoing } from "./composer";
import { DraftSaver, restoreDraft } from "./drafts";
import { errorCode, errorText } from "./errors";
import { PEOPLE, ROOM } from "./fixtures";
import { linkAddress, problemText, waitLeft, withAddress, type JoinProblem } from "./join";
import { closeDrawer, layoutFor, resized, toggleMembers, toggleSidebar, AUTO } from "./layout";
import { NotifyCoalescer, NOTIFY_WINDOW_MS, type Notice } from "./notify";
import { isolate, isolated, plain, shorten } from "./parts";
import { adjacentRoom, filterRooms } from "./switcher";

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe("notifications", () => {
  const msg = (i: number, room = "Design team", roomId = ROOM) => ({ roomId, room, author: PEOPLE[i % 4]!.name, text: `message ${i} 🎉` });

  it("shows the first message of a burst at once and one summary for the rest", () => {
    const shown: Notice[] = [];
    const n = new NotifyCoalescer((x) => shown.push(x));
    n.message(msg(0));
    expect(shown).toHaveLength(1);
    expect(shown[0]?.title).toBe(`${isolate("Alice")} in ${isolate("Design team")}`);
    for (let i = 1; i <= 5; i++) n.message(msg(i));
    expect(shown).toHaveLength(1);
    vi.advanceTimersByTime(NOTIFY_WINDOW_MS);
    expect(shown).toHaveLength(2);
    expect(shown[1]?.title).toBe(`5 new messages in ${isolate("Design team")}`);
    // Quiet for a window: the burst ends, and the next message notifies at once again.
    vi.advanceTimersByTime(NOTIFY_WINDOW_MS);
    n.message(msg(9));
    expect(shown).toHaveLength(3);
    expect(shown[2]?.body).toBe("message 9 🎉");
  });

  it("turns 3,000 messages into a handful of notifications", () => {
    const shown: Notice[] = [];
    const n = new NotifyCoalescer((x) => shown.push(x));
    // 3,000 messages over 30 s: 100 per second.
    for (let i = 0; i < 3000; i++) {
      n.message(msg(i));
      vi.advanceTimersByTime(10);
    }
    vi.advanceTimersByTime(NOTIFY_WINDOW_MS * 2);
    expect(shown.length).toBeLessThanOrEqual(10);
    const total = shown.slice(1).reduce((sum, x) => sum + Number(/^(\d+) new/.exec(x.title)?.[1] ?? 1), 1);
    expect(total).toBe(3000);
  });

  it("coalesces per room, shows a single late message as itself, and clears when read", () => {
    const shown: Notice[] = [];
    const n = new NotifyCoalescer((x) => shown.push(x));
    n.message(msg(0, "Design team", "a"));
    n.message(msg(1, "مجموعة التصميم", "b"));
    expect(shown).toHaveLength(2);
    n.message(msg(2, "Design team", "a"));
    n.message(msg(3, "مجموعة التصميم", "b"));
    n.clear("b"); // the user opened room b: its collected message is not news
    vi.advanceTimersByTime(NOTIFY_WINDOW_MS);
    expect(shown).toHaveLength(3);
    expect(shown[2]?.title).toBe(`${isolate(PEOPLE[2]!.name)} in ${isolate("Design team")}`);
    vi.advanceTimersByTime(NOTIFY_WINDOW_MS * 3);
    expect(shown).toHaveLength(3);
  });
});

describe("drafts", () => {
  it("saves after a pause in typing, once", () => {
    const saved: [string, string][] = [];
    const d = new DraftSaver((id, t) => saved.push([id, t]));
    for (const t of ["h", "he", "hel", "hell", "hello"]) {
      d.change("a", t);
      vi.advanceTimersByTime(100);
    }
    expect(saved).toEqual([]);
    vi.advanceTimersByTime(300);
    expect(saved).toEqual([["a", "hello"]]);
  });

  it("saves at once on flush (room switch, window blur) and per room", () => {
    const saved: [string, string][] = [];
    const d = new DraftSaver((id, t) => saved.push([id, t]));
    d.change("a", "שלום");
    d.change("b", "🦊".repeat(50));
    d.flush("a");
    expect(saved).toEqual([["a", "שלום"]]);
    d.flushAll();
    expect(saved).toEqual([["a", "שלום"], ["b", "🦊".repeat(50)]]);
    vi.advanceTimersByTime(1000);
    expect(saved).toHaveLength(2);
  });

  it("a sent draft's waiting save is dropped and an empty one saved", () => {
    const saved: [string, string][] = [];
    const d = new DraftSaver((id, t) => saved.push([id, t]));
    d.change("a", "about to send");
    d.cancel("a");
    d.saveNow("a", "");
    vi.advanceTimersByTime(1000);
    expect(saved).toEqual([["a", ""]]);
  });

  it("puts a failed message back, keeping anything typed since", () => {
    expect(restoreDraft("", "lost?")).toBe("lost?");
    expect(restoreDraft("  ", "lost?")).toBe("lost?");
    expect(restoreDraft("new text", "lost?")).toBe("lost?\nnew text");
  });
});

describe("the composer's limit", () => {
  it("counts code points as the host does", () => {
    expect(charCount("🦊")).toBe(1);
    expect("🦊".length).toBe(2);
    expect(charCount("مرحبا")).toBe(5);
  });

  it("accepts 2,500 emoji under the 4,000 limit", () => {
    const text = "😀".repeat(2500);
    expect(canSend(text, DEFAULT_MAX_CHARS)).toBe(true);
    expect(counterText(text, DEFAULT_MAX_CHARS)).toBeNull();
  });

  it("shows what is left near the limit, and says it in words over it", () => {
    expect(counterText("a".repeat(3700), 4000)).toBe("300 characters left");
    expect(counterText("a".repeat(3999), 4000)).toBe("1 character left");
    expect(counterText("a".repeat(4012), 4000)).toBe("12 characters over the 4,000 limit");
    expect(counterText("🔥".repeat(4001), 4000)).toBe("1 character over the 4,000 limit");
    expect(canSend("a".repeat(4001), 4000)).toBe(false);
    // The host's limit, not ours.
    expect(counterText("a".repeat(600), 500)).toBe("100 characters over the 500 limit");
  });

  it("does not count or send trailing blanks, and never sends only blanks", () => {
    expect(outgoing("hello  \n\n")).toBe("hello");
    expect(canSend(`${"a".repeat(4000)}   `, 4000)).toBe(true);
    expect(canSend(" \n ", 4000)).toBe(false);
  });
});

describe("room access in words", () => {
  const ok: RoomAccess = { state: "ok" };
  const notHosted: RoomAccess = { state: "not_hosted" };
  const passcode: RoomAccess = { state: "needs_passcode", message: "The passcode changed." };
  const identity: RoomAccess = { state: "identity_changed", address: "10.0.0.5:7447", expected: "ab".repeat(32), presented: "cd".repeat(32) };
  const connected: Connection = { state: "connected" };
  const down: Connection = { state: "reconnecting", attempt: 4, retry_in_ms: 8000, reason: "refused", host_down: true };

  it("gives short statuses without fingerprints", () => {
    expect(accessStatus(ok)).toBeNull();
    expect(accessStatus(passcode)).toBe("Passcode needed");
    expect(accessStatus(notHosted)).toBe("Not hosted right now");
    expect(accessStatus(identity)).toBe("Host identity changed");
    expect(plain(accessBanner(identity, "Alice") ?? [])).not.toMatch(/[0-9a-f]{16}/);
  });

  it("names the host in the not-hosted banner, isolated", () => {
    const host = PEOPLE[2]!.name;
    expect(accessBanner(notHosted, host)).toEqual([
      { name: host },
      " is not hosting this room right now. It reconnects by itself when they host it again.",
    ]);
    expect(plain(accessBanner(notHosted, null) ?? [])).toMatch(/^The host is not hosting/);
    expect(plain(accessBanner(passcode, host) ?? [])).toBe("This room's passcode changed. Enter it to rejoin.");
  });

  it("promises in the placeholder only what is true", () => {
    const f = { offline: false, hostName: "Alice", hostedHereBefore: false };
    expect(composerPlaceholder({ ...f, access: ok })).toBe("Write a message");
    expect(composerPlaceholder({ ...f, access: ok, offline: true })).toBe("Write a message (sent when the host is back)");
    expect(composerPlaceholder({ ...f, access: ok, offline: true, hostedHereBefore: true })).toBe(
      "Write a message (sent when you host this room again)",
    );
    expect(composerPlaceholder({ ...f, access: notHosted })).toBe(`Messages are kept and sent when ${isolate("Alice")} hosts this room again`);
    expect(composerPlaceholder({ ...f, access: passcode })).toBe("Enter the passcode to send messages");
    // A long name is shortened so the placeholder fits a small window.
    expect(composerPlaceholder({ ...f, hostName: PEOPLE[1]!.name, access: notHosted }).length).toBeLessThanOrEqual(84);
  });

  it("marks rooms that need the user in the sidebar", () => {
    expect(reach(connected, ok)).toBe("online");
    expect(reach(down, ok)).toBe("offline");
    expect(reach(connected, notHosted)).toBe("offline");
    expect(reach(down, identity)).toBe("attention");
    expect(reach(connected, passcode)).toBe("attention");
  });
});

describe("joining", () => {
  const problem = (code: string, retryAfterMs: number | null, at = 0): JoinProblem => ({ code, retryAfterMs, at, message: "Nothing answers at 10.0.0.9:7447." });

  it("counts the wait down live", () => {
    const p = problem("throttled", 30_000, 1_000);
    expect(waitLeft(p, 1_000)).toBe(30);
    expect(problemText(p, 1_000)).toBe("Too many wrong passcodes. Try again in 30 s.");
    expect(problemText(p, 21_500)).toBe("Too many wrong passcodes. Try again in 10 s.");
    expect(waitLeft(p, 31_000)).toBe(0);
    expect(problemText(p, 31_000)).toBe("Too many wrong passcodes. You can try again now.");
    expect(problemText(problem("wrong_passcode", 5_000), 0)).toBe("Wrong passcode. Try again in 5 s.");
    expect(problemText(problem("wrong_passcode", null), 0)).toBe("Wrong passcode.");
    expect(problemText(problem("unknown", null), 0)).toBe("Nothing answers at 10.0.0.9:7447.");
  });

  it("reads the address a link points at", () => {
    expect(linkAddress("hearth://alice-pc.local:9000/6f1c2a9e-3b7d-4f0e-9a51-0c8d2e4b7a10#fp=ab")).toBe("alice-pc.local:9000");
    expect(linkAddress("  10.0.0.5  ")).toBe("10.0.0.5:7447");
    expect(linkAddress("192.168.1.20:7000")).toBe("192.168.1.20:7000");
    expect(linkAddress("https://example.com")).toBeNull();
    expect(linkAddress("")).toBeNull();
  });

  it("names the address tried in an error that does not", () => {
    expect(withAddress("Nothing answered within 3 s.", "10.0.0.5:7447")).toBe("Nothing answered within 3 s. (10.0.0.5:7447)");
    expect(withAddress("Nothing answers at 10.0.0.5:7447.", "10.0.0.5:7447")).toBe("Nothing answers at 10.0.0.5:7447.");
    expect(withAddress("Not an invite link.", null)).toBe("Not an invite link.");
  });
});

describe("command errors", () => {
  it("reads the {code, message} objects, strings and Errors", () => {
    const e = { code: "not_joined", message: "You are not in that room." };
    expect(errorText(e)).toBe("You are not in that room.");
    expect(errorCode(e)).toBe("not_joined");
    expect(errorText("Old style.")).toBe("Old style.");
    expect(errorCode("Old style.")).toBeNull();
    expect(errorText(new Error("boom"))).toBe("boom");
    expect(errorText(42)).toBe("42");
  });
});

describe("panels by window size", () => {
  it("docks both panels on a wide window and hides them as it narrows", () => {
    expect(layoutFor(1280, AUTO)).toEqual({ sidebar: "docked", members: true });
    expect(layoutFor(1024, AUTO)).toEqual({ sidebar: "docked", members: false });
    expect(layoutFor(800, AUTO)).toEqual({ sidebar: "closed", members: false });
  });

  it("toggles: a narrow window's sidebar opens as a drawer and closes on a choice", () => {
    let c = toggleSidebar(AUTO, 800);
    expect(layoutFor(800, c).sidebar).toBe("drawer");
    c = closeDrawer(c, 800);
    expect(layoutFor(800, c).sidebar).toBe("closed");
    // A docked sidebar stays when a room is chosen.
    expect(closeDrawer(AUTO, 1280)).toBe(AUTO);
    expect(layoutFor(1280, toggleSidebar(AUTO, 1280)).sidebar).toBe("closed");
    expect(layoutFor(1024, toggleMembers(AUTO, 1024)).members).toBe(true);
  });

  it("returns to automatic when the window crosses a breakpoint", () => {
    const hidden = toggleMembers(AUTO, 1280);
    expect(resized(hidden, 1280, 1200)).toEqual(hidden);
    expect(resized(hidden, 1280, 900).members).toBeNull();
  });
});

describe("room switcher", () => {
  const rooms = [
    { room_id: "1", name: "Design team" },
    { room_id: "2", name: "Café Ünïcode" },
    { room_id: "3", name: "مجموعة التصميم" },
    { room_id: "4", name: "Team lunch 🍕" },
  ];

  it("filters by name, prefix matches first, ignoring case and accents", () => {
    expect(filterRooms(rooms, "team").map((r) => r.room_id)).toEqual(["4", "1"]);
    expect(filterRooms(rooms, "cafe unicode").map((r) => r.room_id)).toEqual(["2"]);
    expect(filterRooms(rooms, "التصميم").map((r) => r.room_id)).toEqual(["3"]);
    expect(filterRooms(rooms, "  ")).toEqual(rooms);
  });

  it("moves to the previous and next room, wrapping", () => {
    expect(adjacentRoom(rooms, "1", 1)?.room_id).toBe("2");
    expect(adjacentRoom(rooms, "1", -1)?.room_id).toBe("4");
    expect(adjacentRoom(rooms, "4", 1)?.room_id).toBe("1");
    expect(adjacentRoom(rooms, null, 1)?.room_id).toBe("1");
    expect(adjacentRoom([], null, 1)).toBeUndefined();
  });
});

describe("names in sentences", () => {
  it("isolates names for places without markup, and shortens by code points", () => {
    expect(isolated(["hosted by ", { name: "مريم" }])).toBe("hosted by \u2068مريم\u2069");
    expect(shorten("🦊".repeat(30), 10)).toBe(`${"🦊".repeat(9)}…`);
    expect(shorten("Alice", 10)).toBe("Alice");
  });
});
