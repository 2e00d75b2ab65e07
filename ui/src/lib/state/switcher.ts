// The keyboard room switcher (Ctrl+K) and Alt+Arrow moves through "Your rooms".

interface Named {
  room_id: string;
  name: string;
}

/** Case- and accent-insensitive form for matching what was typed. */
function fold(s: string): string {
  return s.normalize("NFKD").replace(/\p{M}/gu, "").toLocaleLowerCase();
}

/** Rooms whose name contains the query; names starting with it come first. */
export function filterRooms<T extends Named>(rooms: T[], query: string): T[] {
  const q = fold(query.trim());
  if (!q) return rooms;
  const starts: T[] = [];
  const contains: T[] = [];
  for (const r of rooms) {
    const name = fold(r.name);
    if (name.startsWith(q)) starts.push(r);
    else if (name.includes(q)) contains.push(r);
  }
  return [...starts, ...contains];
}

/** The room before (-1) or after (+1) the active one, wrapping; the first if none is open. */
export function adjacentRoom<T extends Named>(rooms: T[], active: string | null, step: -1 | 1): T | undefined {
  if (rooms.length === 0) return undefined;
  const i = rooms.findIndex((r) => r.room_id === active);
  if (i < 0) return step === 1 ? rooms[0] : rooms.at(-1);
  return rooms[(i + step + rooms.length) % rooms.length];
}
