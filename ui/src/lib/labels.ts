// Human wording for states the core reports.
import type { Connection } from "../bindings/Connection";

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
      return `Not connected: ${c.reason}`;
  }
}

export function isOffline(c: Connection): boolean {
  return c.state === "reconnecting" || c.state === "closed";
}

/** "ab:cd:…" for reading a fingerprint aloud. */
export function fingerprintGroups(fp: string): string {
  return (fp.match(/.{1,2}/g) ?? []).join(":");
}
