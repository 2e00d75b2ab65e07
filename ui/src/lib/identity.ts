// Identity codes (docs/protocol.md §3.7): what people compare to know who someone is.
// The same computation as hearth_protocol::identity::identity_code, from the user id.

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
