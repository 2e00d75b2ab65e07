// Presence lines for the open room's timeline ("Bob joined"): live events only, kept in
// memory per room and bounded; they are never stored.
import type { PresenceEvent } from "../../bindings/PresenceEvent";
import type { Part } from "./parts";

export const PRESENCE_CAP = 200;

export interface PresenceLine {
  key: string;
  ts: number;
  event: PresenceEvent;
  name: string;
  /** For a rename: the name before it. */
  oldName?: string;
}

export type PresenceMap = Record<string, PresenceLine[]>;

export function addPresence(map: PresenceMap, roomId: string, line: PresenceLine, cap = PRESENCE_CAP): PresenceMap {
  const list = [...(map[roomId] ?? []), line];
  return { ...map, [roomId]: list.length > cap ? list.slice(list.length - cap) : list };
}

export function presenceParts(line: PresenceLine): Part[] {
  const who = { name: line.name };
  switch (line.event) {
    case "join":
      return [who, " joined"];
    case "leave":
      return [who, " left"];
    case "timeout":
      return [who, " timed out"];
    case "rename":
      return [{ name: line.oldName ?? line.name }, " is now ", who];
  }
}
