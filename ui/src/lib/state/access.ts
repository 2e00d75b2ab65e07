// Whether a joined room can chat right now, apart from the connection (RoomAccess), in
// words: the header's status, the banner under it, the composer's placeholder and the
// sidebar's dot.
import type { Connection } from "../../bindings/Connection";
import type { RoomAccess } from "../../bindings/RoomAccess";
import { isolate, shorten, type Part } from "./parts";

/** A host's name inside a sentence; the fallback fits the sentence's start. */
function hostPart(hostName: string | null, fallback: string): Part {
  return hostName ? { name: hostName } : fallback;
}

/** The short status shown instead of the connection's; null when access is fine. */
export function accessStatus(a: RoomAccess): string | null {
  switch (a.state) {
    case "ok":
      return null;
    case "needs_passcode":
      return "Passcode needed";
    case "not_hosted":
      return "Not hosted right now";
    case "identity_changed":
      return "Host identity changed";
    case "refused":
      return "Not a member";
  }
}

export function accessBanner(a: RoomAccess, hostName: string | null): Part[] | null {
  switch (a.state) {
    case "ok":
      return null;
    case "needs_passcode":
      return ["This room's passcode changed. Enter it to rejoin."];
    case "not_hosted":
      return [
        hostPart(hostName, "The host"),
        " is not hosting this room right now. It reconnects by itself when they host it again.",
      ];
    case "identity_changed":
      return ["Host identity changed. Nothing is sent until you review it."];
    case "refused":
      return [a.message, " Your history of it stays here."];
  }
}

export interface PlaceholderFacts {
  access: RoomAccess;
  offline: boolean;
  hostName: string | null;
  /** This install hosted the room before and is not hosting it now. */
  hostedHereBefore: boolean;
}

/** Promises only what is true: the outbox keeps messages; a refused rejoin sends nothing. */
export function composerPlaceholder(f: PlaceholderFacts): string {
  switch (f.access.state) {
    case "needs_passcode":
      return "Enter the passcode to send messages";
    case "identity_changed":
      return "Nothing is sent until you review the host's identity";
    case "refused":
      return "Messages are kept and sent if the host lets you in again";
    case "not_hosted": {
      const host = f.hostName ? isolate(shorten(f.hostName, 24)) : "the host";
      return `Messages are kept and sent when ${host} hosts this room again`;
    }
    case "ok":
      if (!f.offline) return "Write a message";
      return f.hostedHereBefore ? "Write a message (sent when you host this room again)" : "Write a message (sent when the host is back)";
  }
}

export type Reach = "online" | "connecting" | "offline" | "attention";

/** The sidebar dot: a room that needs the user (passcode, identity) stands out. */
export function reach(c: Connection, a: RoomAccess): Reach {
  if (a.state === "needs_passcode" || a.state === "identity_changed" || a.state === "refused") return "attention";
  if (a.state === "not_hosted") return "offline";
  if (c.state === "connected") return "online";
  if (c.state === "connecting") return "connecting";
  return "offline";
}
