// Who is typing, per room. The host ends indicators itself; the UI also expires them
// so a lost "stopped" never leaves a ghost.
import type { Part } from "./parts";

export const TYPING_TTL_MS = 6000;

export interface Typist {
  user_id: string;
  name: string;
  until: number;
}

export type TypingMap = Record<string, Typist[]>;

export function setTyping(
  map: TypingMap,
  roomId: string,
  who: { user_id: string; name: string },
  active: boolean,
  now: number,
): TypingMap {
  const others = (map[roomId] ?? []).filter((t) => t.user_id !== who.user_id);
  const next = active ? [...others, { ...who, until: now + TYPING_TTL_MS }] : others;
  return { ...map, [roomId]: next };
}

export function typists(map: TypingMap, roomId: string, now: number): string[] {
  return (map[roomId] ?? []).filter((t) => t.until > now).map((t) => t.name);
}

export function typingLine(names: string[]): Part[] {
  const n = names.map((name) => ({ name }));
  const [a, b, c] = n;
  if (!a) return [];
  if (!b) return [a, " is typing…"];
  if (!c) return [a, " and ", b, " are typing…"];
  if (n.length === 3) return [a, ", ", b, " and ", c, " are typing…"];
  return [a, ", ", b, ` and ${n.length - 2} others are typing…`];
}
