// Human wording for states the core reports.
import type { Connection } from "../bindings/Connection";
import type { Part } from "./state/parts";

export function connectionLabel(c: Connection, now: number, since?: number): string {
  switch (c.state) {
    case "connected":
      return "Connected";
    case "connecting":
      return "Connecting…";
    case "reconnecting": {
      const left = since ? Math.max(0, Math.ceil((since + c.retry_in_ms - now) / 1000)) : Math.ceil(c.retry_in_ms / 1000);
      // Several failed tries also mean offline, whatever each error said.
      return c.host_down || c.attempt > 2 ? `Host offline — next try in ${left} s` : `Reconnecting — next try in ${left} s`;
    }
    case "closed":
      return closedLabel(c.reason);
  }
}

/** "Not connected", with the reason when it adds something. */
function closedLabel(reason: string): string {
  const r = reason.trim().replace(/\.$/, "");
  if (!r || /^not connected$/i.test(r)) return "Not connected";
  if (/^not connected\b/i.test(r)) return `Not connected${r.slice("not connected".length)}`;
  return `Not connected: ${r}`;
}

export function isOffline(c: Connection): boolean {
  return c.state === "reconnecting" || c.state === "closed";
}

/** The bytes of a hex fingerprint, for reading it aloud ("ab:cd:…"). */
export function fingerprintBytes(fp: string): string[] {
  return fp.match(/.{1,2}/g) ?? [];
}

export function fingerprintGroups(fp: string): string {
  return fingerprintBytes(fp).join(":");
}

/** "hosted by …": ours, the host's name as last heard, or the LAN's announcement. */
export function hostedBy(byMe: boolean, hostName: string | null): Part[] {
  if (byMe) return ["hosted by you"];
  return hostName ? ["hosted by ", { name: hostName }] : ["hosted by someone on your network"];
}

/** "1 other person is" / "3 other people are". */
export function othersAre(n: number): string {
  return n === 1 ? "1 other person is" : `${n} other people are`;
}
