import { describe, expect, it } from "vitest";
import type { ChatMessage } from "../../bindings/ChatMessage";
import { MAX_ROWS, newer, newest, older, slice, STEP_ROWS, trimmed, type RowWindow } from "./window";

const room = (n: number): ChatMessage[] =>
  Array.from({ length: n }, (_, i) => ({
    room_id: "r",
    seq: i + 1,
    ts: 1_700_000_000_000 + i * 1000,
    user_id: i % 3 ? "u2" : "u1",
    author: i % 3 ? "نور الهدى" : "Maximilian Alexander von Hohenstein-Rutherford",
    client_msg_id: `c${i}`,
    text: `message ${i + 1} 👋`,
  }));

describe("the rendered window of a long room", () => {
  it("opens at the newest rows and reaches seq 1 by steps, never rendering more than the cap", () => {
    const all = room(10_000);
    let w: RowWindow = newest(all);
    expect(slice(all, w).length).toBe(STEP_ROWS);
    expect(slice(all, w).at(-1)?.seq).toBe(10_000);
    let steps = 0;
    for (let next = older(all, w); next; next = older(all, w)) {
      w = next;
      steps++;
      const rows = slice(all, w);
      expect(rows.length).toBeLessThanOrEqual(MAX_ROWS);
      expect(rows.map((m) => m.seq)).toEqual(Array.from({ length: rows.length }, (_, i) => rows[0]!.seq + i));
    }
    expect(slice(all, w)[0]?.seq).toBe(1);
    expect(steps).toBe(Math.ceil((10_000 - STEP_ROWS) / STEP_ROWS));
    expect(w.to).not.toBeNull();
  });

  it("comes back down to the newest and follows it again", () => {
    const all = room(5_000);
    let w: RowWindow = { from: 1, to: MAX_ROWS };
    for (let next = newer(all, w); next; next = newer(all, w)) {
      w = next;
      expect(slice(all, w).length).toBeLessThanOrEqual(MAX_ROWS);
    }
    expect(w.to).toBeNull();
    expect(slice(all, w).at(-1)?.seq).toBe(5_000);
  });

  it("keeps its rows when older ones are loaded above them", () => {
    const page = room(1000).slice(700);
    const w = newest(page);
    const full = room(1000);
    expect(slice(full, w)).toEqual(slice(page, w));
  });

  it("lets rows far above go while following a busy room", () => {
    const all = room(2_000);
    const w: RowWindow = { from: 1, to: null };
    expect(slice(all, trimmed(all, w)).length).toBe(STEP_ROWS);
    const scrolledUp: RowWindow = { from: 1, to: 900 };
    expect(trimmed(all, scrolledUp)).toBe(scrolledUp);
  });
});
