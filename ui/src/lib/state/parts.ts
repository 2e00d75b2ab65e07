// Sentences that contain user-supplied names. Each name stays a separate part so the view
// can isolate it (<bdi>): a right-to-left name then cannot reorder the words around it.
export type Part = string | { name: string };

/** The sentence as plain text (tests, logs). */
export function plain(parts: Part[]): string {
  return parts.map((p) => (typeof p === "string" ? p : p.name)).join("");
}

/** First-strong isolate ... pop directional isolate: <bdi> for places without markup. */
export function isolate(name: string): string {
  return `\u2068${name}\u2069`;
}

/** The sentence for attributes and notifications, where no <bdi> is possible. */
export function isolated(parts: Part[]): string {
  return parts.map((p) => (typeof p === "string" ? p : isolate(p.name))).join("");
}

/** Shortens a name for tight places (a placeholder), by code points so no emoji is split. */
export function shorten(name: string, max: number): string {
  const chars = [...name];
  return chars.length > max ? `${chars.slice(0, max - 1).join("")}…` : name;
}
