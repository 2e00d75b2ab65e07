//! Optional features beyond protocol 1 (docs/protocol.md §3.6). A client offers the names
//! it understands in `hello`; the host answers in `welcome` with those it supports too,
//! and from then on both use only those. Unknown names are ignored on both sides, so a
//! newer client meets an older host (and the reverse) on what both support.

/// Messages may carry a `kind` besides plain text. A client that offers this shows a kind
/// it does not know as an unsupported message (with `text` as the fallback); a host sends
/// other kinds only to connections that negotiated it.
pub const MESSAGE_KINDS: &str = "message_kinds";

/// Verified identity (§3.7): `hello` may carry a proof of the client's key, and members
/// and messages say whether the host verified them.
pub const IDENTITY: &str = "identity";

/// Message actions (§3.9): replies, edits, deletions, reactions and mentions. A host sends
/// actions as such only to connections that negotiated this; others get each one as a
/// plain message saying what happened, so their logs stay gap-free.
pub const RELATIONS: &str = "relations";

/// Files (§3.10, §15): messages may carry attachments, and `joined` grants the room's
/// file endpoints. Negotiated only together with `relations` (a message with files is
/// one a client without relations could not reply to or delete).
pub const FILES: &str = "files";

/// Everything this build supports, in a stable order.
pub const ALL: &[&str] = &[MESSAGE_KINDS, IDENTITY, RELATIONS, FILES];

/// Offered names looked at: a hostile hello cannot make negotiation expensive.
const MAX_OFFERED: usize = 64;

/// What both sides support: the names of [`ALL`] that `offered` lists.
pub fn negotiate(offered: &[String]) -> Vec<String> {
    let offered = &offered[..offered.len().min(MAX_OFFERED)];
    let has = |c: &str| offered.iter().any(|o| o == c);
    ALL.iter()
        .filter(|c| has(c) && (**c != FILES || has(RELATIONS)))
        .map(|c| c.to_string())
        .collect()
}

/// Everything this build supports, to offer in `hello`.
pub fn all() -> Vec<String> {
    ALL.iter().map(|c| c.to_string()).collect()
}
