// Command errors. The shell rejects with `{ code, message }` (message: a full sentence);
// older paths and JS failures still give strings or Errors.
export interface CommandError {
  code: string;
  message: string;
}

function isCommandError(e: unknown): e is CommandError {
  return typeof e === "object" && e !== null && typeof (e as CommandError).message === "string";
}

export function errorText(e: unknown): string {
  if (typeof e === "string") return e;
  if (isCommandError(e)) return e.message;
  return String(e);
}

/** The stable error code, when the error has one. */
export function errorCode(e: unknown): string | null {
  if (isCommandError(e) && typeof e.code === "string") return e.code;
  return null;
}
