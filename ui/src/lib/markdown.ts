// A safe subset of Markdown for message text: **bold**, *italic* / _italic_, ~~strike~~,
// `code`, ``` code blocks ```, > quotes, - and 1. lists, [links](https://…) and bare
// links. It parses into plain data that the Markdown component renders as elements and
// text nodes: no HTML string is ever made from a message, so nothing typed can become
// markup. Links are kept only for http, https and mailto; anything else (javascript:,
// data:, file:) stays text.

export type Inline =
  | { t: "text"; text: string }
  | { t: "code"; text: string }
  | { t: "strong" | "em" | "del"; children: Inline[] }
  | { t: "link"; href: string; children: Inline[] };

export type Block =
  | { t: "p"; children: Inline[] }
  | { t: "pre"; text: string }
  | { t: "quote"; children: Block[] }
  | { t: "ul" | "ol"; items: Inline[][]; start: number };

const SAFE_SCHEMES = ["http:", "https:", "mailto:"];
/** Deep nesting costs stack, not meaning: past this, the rest is plain text. */
const MAX_DEPTH = 8;

/** The link's address if it may be opened (in the system browser), else null. */
export function safeHref(raw: string): string | null {
  try {
    const u = new URL(raw.trim());
    return SAFE_SCHEMES.includes(u.protocol) ? u.href : null;
  } catch {
    return null;
  }
}

export function parse(text: string): Block[] {
  return blocks(text.replace(/\r\n?/g, "\n").split("\n"), 0);
}

function blocks(lines: string[], depth: number): Block[] {
  const out: Block[] = [];
  // Blank lines stay inside a paragraph (shown with pre-wrap), so plain text is shown
  // exactly as typed; only before a block are they dropped.
  let para: string[] = [];
  const flush = (beforeBlock = true) => {
    if (beforeBlock) while (para.length && (para.at(-1) as string).trim() === "") para.pop();
    if (para.length) out.push({ t: "p", children: inline(para.join("\n"), depth) });
    para = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const fence = /^\s*```/.exec(line);
    if (fence) {
      const body: string[] = [];
      let j = i + 1;
      while (j < lines.length && !/^\s*```\s*$/.test(lines[j] as string)) body.push(lines[j++] as string);
      if (j < lines.length) {
        flush();
        out.push({ t: "pre", text: body.join("\n") });
        i = j;
        continue;
      }
      // No closing fence: ordinary text.
    }
    if (/^\s*>/.test(line) && depth < MAX_DEPTH) {
      flush();
      const quoted: string[] = [];
      while (i < lines.length && /^\s*>/.test(lines[i] as string)) quoted.push((lines[i++] as string).replace(/^\s*> ?/, ""));
      i--;
      out.push({ t: "quote", children: blocks(quoted, depth + 1) });
      continue;
    }
    const bullet = /^\s*[-*•] +(.*)$/.exec(line);
    const numbered = /^\s*(\d{1,9})[.)] +(.*)$/.exec(line);
    if (bullet || numbered) {
      flush();
      const ordered = !!numbered;
      const items: Inline[][] = [];
      const start = numbered ? Number(numbered[1]) : 1;
      while (i < lines.length) {
        const l = lines[i] as string;
        const m = ordered ? /^\s*\d{1,9}[.)] +(.*)$/.exec(l) : /^\s*[-*•] +(.*)$/.exec(l);
        if (!m) break;
        items.push(inline(m[1] ?? "", depth));
        i++;
      }
      i--;
      out.push({ t: ordered ? "ol" : "ul", items, start });
      continue;
    }
    para.push(line);
  }
  flush(false);
  return out;
}

const URL_RE = /\b(?:https?:\/\/|mailto:)[^\s<>"']+[^\s<>"'.,;:!?)\]]/y;

/** Inline spans; unmatched markers stay as they were typed. */
export function inline(s: string, depth = 0): Inline[] {
  const out: Inline[] = [];
  let buf = "";
  const text = () => {
    if (buf) out.push({ t: "text", text: buf });
    buf = "";
  };
  let i = 0;
  while (i < s.length) {
    const rest = s.slice(i);
    if (rest.startsWith("`")) {
      const end = s.indexOf("`", i + 1);
      if (end > i + 1) {
        text();
        out.push({ t: "code", text: s.slice(i + 1, end) });
        i = end + 1;
        continue;
      }
    }
    if (depth < MAX_DEPTH) {
      const span = wrapped(s, i, "**", "strong") ?? wrapped(s, i, "~~", "del") ?? wrapped(s, i, "*", "em") ?? wrapped(s, i, "_", "em");
      if (span) {
        text();
        out.push({ t: span.t, children: inline(span.inner, depth + 1) } as Inline);
        i = span.end;
        continue;
      }
      const link = /^\[([^\]\n]+)\]\(([^)\s]+)\)/.exec(rest);
      if (link) {
        const href = safeHref(link[2] as string);
        if (href) {
          text();
          out.push({ t: "link", href, children: inline(link[1] as string, depth + 1) });
          i += link[0].length;
          continue;
        }
      }
    }
    URL_RE.lastIndex = i;
    const bare = (i === 0 || /[\s(]/.test(s[i - 1] as string)) ? URL_RE.exec(s) : null;
    if (bare && bare.index === i) {
      const href = safeHref(bare[0]);
      if (href) {
        text();
        out.push({ t: "link", href, children: [{ t: "text", text: bare[0] }] });
        i += bare[0].length;
        continue;
      }
    }
    buf += s[i];
    i++;
  }
  text();
  return out;
}

/** `marker`…`marker` starting at `i`, not empty, not padded with spaces, within a line. */
function wrapped(s: string, i: number, marker: string, t: "strong" | "em" | "del") {
  if (!s.startsWith(marker, i)) return null;
  // `_` inside a word (snake_case) is not emphasis.
  if (marker === "_" && i > 0 && /\w/.test(s[i - 1] as string)) return null;
  const from = i + marker.length;
  const end = s.indexOf(marker, from);
  if (end <= from) return null;
  const inner = s.slice(from, end);
  if (/^\s|\s$/.test(inner) || inner.includes("\n")) return null;
  if (marker === "_" && end + 1 < s.length && /\w/.test(s[end + 1] as string)) return null;
  return { t, inner, end: end + marker.length };
}

/** Plain text of a message (for notifications and "copy text"): markers kept as typed. */
export function isPlain(blocks: Block[]): boolean {
  return blocks.length === 1 && blocks[0]?.t === "p" && blocks[0].children.every((c) => c.t === "text");
}

/** Splits text at `@name` for each mentioned name (longest first), so mentions can be marked. */
export function mentionParts(text: string, names: string[]): { text: string; mention: boolean }[] {
  const wanted = [...new Set(names.filter((n) => n.length > 0))].sort((a, b) => b.length - a.length);
  if (wanted.length === 0 || !text.includes("@")) return [{ text, mention: false }];
  const out: { text: string; mention: boolean }[] = [];
  let buf = "";
  for (let i = 0; i < text.length; ) {
    const name = text[i] === "@" ? wanted.find((n) => text.startsWith(n, i + 1)) : undefined;
    if (name) {
      if (buf) out.push({ text: buf, mention: false });
      buf = "";
      out.push({ text: `@${name}`, mention: true });
      i += name.length + 1;
    } else {
      buf += text[i];
      i++;
    }
  }
  if (buf) out.push({ text: buf, mention: false });
  return out;
}
