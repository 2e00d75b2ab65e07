// Who is typing, per room. The host ends indicators itself; the UI also expires them
// so a lost "stopped" never leaves a ghost.
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

export function typingLine(names: string[]): string {
  if (names.length === 0) return "";
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  if (names.length === 3) return `${names[0]}, ${names[1]} and ${names[2]} are typing…`;
  return `${names[0]}, ${names[1]} and ${names.length - 2} others are typing…`;
}
