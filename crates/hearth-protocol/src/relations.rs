//! Message actions (docs/protocol.md §3.9, capability `relations`): replies, edits,
//! deletions and reactions, each a new event in the room's log with its own seq, never an
//! update in place. Modelled on Matrix's relations (`m.in_reply_to`, `m.replace`,
//! `m.annotation`, redactions) and their validity rules.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ChatMessage;

/// What a `send` says besides its text (§3.9): a reply, mentions, or an action on another
/// message. The default is a plain message.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Relation {
    /// None for a message; else one of [`ACTIONS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(type = "number", optional))]
    pub target: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(type = "number", optional))]
    pub reply_to: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "ts", ts(optional, as = "Option<Vec<Uuid>>"))]
    pub mentions: Vec<Uuid>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[cfg_attr(feature = "ts", ts(as = "Option<bool>", optional))]
    pub mentions_room: bool,
    /// Files the message carries (§3.10), uploaded before it is sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(
        feature = "ts",
        ts(optional, as = "Option<Vec<crate::files::Attachment>>")
    )]
    pub attachments: Vec<crate::files::Attachment>,
}

impl Relation {
    /// An action on the message `target`.
    pub fn action(kind: &str, target: u64) -> Relation {
        Relation {
            kind: Some(kind.to_string()),
            target: Some(target),
            ..Relation::default()
        }
    }

    pub fn is_plain(&self) -> bool {
        *self == Relation::default()
    }
}

/// Replaces the text of the message `target` (its author only). An edit of an edit is
/// stored as an edit of the original; the newest edit (highest seq) wins.
pub const EDIT: &str = "edit";
/// Deletes the message `target` (its author, or the room's host owner as moderation): the
/// host erases its text and its edits' texts from its log.
pub const DELETE: &str = "delete";
/// Adds the reaction `text` (one emoji) of the sender to the message `target`.
pub const REACT: &str = "react";
/// Takes back the sender's reaction `text` on the message `target`.
pub const UNREACT: &str = "unreact";

/// Every action kind: they need a `target`, and only they may have one.
pub const ACTIONS: &[&str] = &[EDIT, DELETE, REACT, UNREACT];

/// A reaction key is at most this many bytes (one emoji, with its modifiers and joiners).
pub const MAX_REACTION_BYTES: usize = 64;
/// A message mentions at most this many people.
pub const MAX_MENTIONS: usize = 64;

/// Is `kind` one of the actions (as opposed to a message to show)?
pub fn is_action(kind: Option<&str>) -> bool {
    kind.is_some_and(|k| ACTIONS.contains(&k))
}

/// A reaction key: non-empty, short, and no letters, digits, spaces or control characters
/// (an emoji, possibly with variation selectors, skin tones and zero-width joiners), so a
/// reaction cannot smuggle a message.
pub fn valid_reaction(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_REACTION_BYTES
        && key
            .chars()
            .all(|c| !c.is_alphanumeric() && !c.is_whitespace() && !c.is_control())
}

/// What a client without the `relations` capability receives in place of an action, so
/// that its log stays gap-free: a plain message whose text says what happened. An edit
/// shows as a new message with the new text (docs/protocol.md §3.9).
pub fn downgrade(m: &ChatMessage) -> ChatMessage {
    let text = match m.kind.as_deref() {
        Some(EDIT) if m.text.is_empty() => "(an edit of a deleted message)".to_string(),
        Some(EDIT) => format!("{} (edited)", m.text),
        Some(DELETE) => "(deleted a message)".to_string(),
        Some(REACT) => format!("(reacted {})", m.text),
        Some(UNREACT) => format!("(took back the reaction {})", m.text),
        _ if m.deleted.is_some() => "(message deleted)".to_string(),
        _ => m.text.clone(),
    };
    ChatMessage {
        text,
        kind: if is_action(m.kind.as_deref()) {
            None
        } else {
            m.kind.clone()
        },
        target: None,
        reply_to: None,
        mentions: Vec::new(),
        mentions_room: false,
        deleted: None,
        ..m.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaction_keys_are_emoji_only() {
        for ok in ["👍", "❤️", "👍🏽", "👩‍👩‍👧", "🇫🇷", "!"] {
            assert!(valid_reaction(ok), "{ok}");
        }
        for bad in ["", "a", "ok", " 👍", "👍\n", "\u{7}", &"👍".repeat(17)] {
            assert!(!valid_reaction(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_downgraded_action_is_a_plain_message() {
        let edit = ChatMessage {
            kind: Some(EDIT.into()),
            target: Some(3),
            text: "new".into(),
            seq: 9,
            ..Default::default()
        };
        let d = downgrade(&edit);
        assert_eq!((d.kind, d.target, d.seq), (None, None, 9));
        assert_eq!(d.text, "new (edited)");
        let reply = ChatMessage {
            reply_to: Some(3),
            text: "yes".into(),
            ..Default::default()
        };
        assert_eq!(downgrade(&reply).text, "yes");
    }
}
