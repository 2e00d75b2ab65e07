// Joining: why a join failed, in words, and how long the host makes us wait.

export interface JoinProblem {
  message: string;
  retryAfterMs: number | null;
  code: string;
  /** When the problem arrived (Date.now()), for the live countdown. */
  at: number;
}

/** Whole seconds until the host accepts another try; 0 when it does now. */
export function waitLeft(p: JoinProblem, now: number): number {
  if (!p.retryAfterMs) return 0;
  return Math.max(0, Math.ceil((p.at + p.retryAfterMs - now) / 1000));
}

/** A wrong passcode: the field is cleared for the next try. */
export function isPasscodeProblem(p: JoinProblem): boolean {
  return p.code === "wrong_passcode" || p.code === "throttled";
}

export function problemText(p: JoinProblem, now: number): string {
  const left = waitLeft(p, now);
  const wait = left > 0 ? ` Try again in ${left} s.` : "";
  if (p.code === "throttled") return `Too many wrong passcodes.${wait || " You can try again now."}`;
  if (p.code === "wrong_passcode") return `Wrong passcode.${wait}`;
  if (p.code === "passcode_required") return "This room needs a passcode.";
  return p.message;
}

const DEFAULT_PORT = 7447;

/**
 * The host:port a link or address points at, as the core reads it (`hearth://HOST:PORT/ROOM`,
 * `HOST:PORT` or `HOST`, default port 7447); null when it is not one.
 */
export function linkAddress(link: string): string | null {
  const input = link.trim();
  if (!input) return null;
  try {
    const url = new URL(input.includes("://") ? input : `hearth://${input}`);
    if (url.protocol !== "hearth:" || !url.hostname) return null;
    return `${url.hostname}:${url.port || DEFAULT_PORT}`;
  } catch {
    return null;
  }
}

/** An error about a join by link names the address that was tried. */
export function withAddress(message: string, address: string | null): string {
  if (!address || message.includes(address)) return message;
  return `${message} (${address})`;
}
