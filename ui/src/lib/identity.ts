// Identity codes (docs/protocol.md §3.7): what people compare to know who someone is.
// The same computation as hearth_protocol::identity::identity_code, from the user id.
import type { Trust } from "../bindings/Trust";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** `F5RJ-Q1V2-G570-3ST3`: 80 bits of the user id (version and variant bits left out). */
export function identityCode(userId: string): string {
  const hex = userId.replace(/-/g, "");
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) return "";
  const v = BigInt("0x" + hex);
  const mask = (bits: number) => (BigInt(1) << BigInt(bits)) - BigInt(1);
  const packed =
    ((v >> BigInt(80)) << BigInt(74)) |
    (((v >> BigInt(64)) & mask(12)) << BigInt(62)) |
    (v & mask(62));
  const bits = packed >> BigInt(42);
  let code = "";
  for (let i = 0; i < 16; i++) {
    if (i > 0 && i % 4 === 0) code += "-";
    code += CROCKFORD[Number((bits >> BigInt(75 - 5 * i)) & BigInt(31))];
  }
  return code;
}

/** Lowercased names that more than one of `members` goes by: those need their codes. */
export function sharedNames(members: { user_id: string; name: string }[]): Set<string> {
  const seen = new Map<string, Set<string>>();
  for (const m of members) {
    const key = m.name.toLowerCase();
    const ids = seen.get(key) ?? new Set<string>();
    ids.add(m.user_id);
    seen.set(key, ids);
  }
  return new Set([...seen].filter(([, ids]) => ids.size > 1).map(([k]) => k));
}

/** The trust marks a person carries (hearth::people decides them; this only words them). */
export interface TrustLabel {
  /** Short mark beside the name, or "" for none. */
  mark: string;
  /** A class for the mark's look. */
  tone: "verified" | "warning" | "new" | "muted" | "none";
  /** The full sentence, for the card, the title and screen readers. */
  sentence: string;
}

export function trustLabel(t: Trust, name: string): TrustLabel {
  switch (t.kind) {
    case "verified":
      return { mark: "✓ verified", tone: "verified", sentence: `You verified ${name}'s identity code.` };
    case "key_changed":
      return {
        mark: "⚠ different key",
        tone: "warning",
        sentence: `This is not the ${t.verified_name} you verified: another key uses that name. It may be them on a new install, or someone else. Compare codes before trusting it.`,
      };
    case "new":
      return { mark: "new", tone: "new", sentence: `First seen in this room today.` };
    case "unverified":
      return {
        mark: "unverified",
        tone: "muted",
        sentence: "The host could not check this person's key (an older app, or a connection without encryption): anyone could use this name and id.",
      };
    case "known":
      return { mark: "", tone: "none", sentence: "Not verified by you. Compare identity codes in person to verify." };
  }
}
