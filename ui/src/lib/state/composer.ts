// The composer's limit, counted as the host counts: Unicode code points, not UTF-16 units
// (an emoji is one character here, two in String.length).
export const DEFAULT_MAX_CHARS = 4000;
/** The remaining count shows from this close to the limit. */
const WARN_WITHIN = 400;

const count = new Intl.NumberFormat("en-US");

export function charCount(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** What is sent: trailing blanks go, leading indentation stays. */
export function outgoing(text: string): string {
  return text.replace(/\s+$/, "");
}

export function canSend(text: string, max: number): boolean {
  const t = outgoing(text);
  return t.trim() !== "" && charCount(t) <= max;
}

/** Nothing far from the limit; the characters left near it; in words over it. */
export function counterText(text: string, max: number): string | null {
  const n = charCount(outgoing(text));
  if (n > max) {
    const over = n - max;
    return `${count.format(over)} character${over === 1 ? "" : "s"} over the ${count.format(max)} limit`;
  }
  if (n > max - Math.min(WARN_WITHIN, Math.floor(max / 10))) {
    const left = max - n;
    return `${count.format(left)} character${left === 1 ? "" : "s"} left`;
  }
  return null;
}
