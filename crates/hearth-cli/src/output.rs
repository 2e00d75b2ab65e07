//! How messages are printed: a human line, or one JSON object per line.
//!
//! Human output goes to a terminal, and everything in it that came from the network
//! (text, names, room names, error messages) is passed through [`term`]: another member
//! must not be able to send escape sequences that retitle the terminal or rewrite
//! earlier lines. `--json` stays exact (JSON escapes control characters itself).

use std::borrow::Cow;
use std::sync::OnceLock;

use hearth::protocol::{relations, ChatMessage};

use crate::authors::Authors;
use time::{OffsetDateTime, UtcOffset};

static LOCAL: OnceLock<UtcOffset> = OnceLock::new();

pub fn init_local_offset() {
    let _ = LOCAL.set(UtcOffset::current_local_offset().unwrap_or(UtcOffset::UTC));
}

fn local(ts_ms: i64) -> OffsetDateTime {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ts_ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    t.to_offset(*LOCAL.get().unwrap_or(&UtcOffset::UTC))
}

/// `s` with every control character (C0 but tab, DEL, C1: ESC, CSI, OSC, BEL, CR...)
/// shown as a visible `\u{1b}` escape instead of being sent to the terminal.
pub fn term(s: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\t';
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `2026-11-21 14:05`, local time.
pub fn when(ts_ms: i64) -> String {
    let t = local(ts_ms);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// `[2026-11-21 14:05] Alice [7KQ2-M9XD-41FZ-HC0P]: hello`, continuation lines indented;
/// the author as [`Authors::label`] gives it.
pub fn human(m: &ChatMessage, authors: &mut Authors) -> String {
    let t = local(m.ts);
    let text = m
        .text
        .split('\n')
        .map(term)
        .collect::<Vec<_>>()
        .join("\n    ");
    // Actions (protocol §3.9) are shown as what they do, by seq; a kind this build does
    // not know (§3.6) is said, with the plain fallback.
    let on = |t: Option<u64>| t.map_or("?".to_string(), |t| format!("#{t}"));
    let text = match m.kind.as_deref() {
        _ if m.deleted.is_some_and(|d| d.by_owner) => "(message removed by the host)".into(),
        _ if m.deleted.is_some() => "(message deleted)".into(),
        None | Some("text") => match m.reply_to {
            Some(r) => format!("(reply to #{r}) {text}"),
            None => text,
        },
        Some(relations::EDIT) if m.text.is_empty() => format!("(edited {})", on(m.target)),
        Some(relations::EDIT) => format!("(edited {}) {text}", on(m.target)),
        Some(relations::DELETE) => format!("(deleted {})", on(m.target)),
        Some(relations::REACT) => format!("(reacted {text} to {})", on(m.target)),
        Some(relations::UNREACT) => format!("(took back {text} on {})", on(m.target)),
        Some(k) => format!("[unsupported message: {}] {text}", term(k)),
    };
    // Files (§3.10): one line each, with the id `hearth get-file` takes.
    let mut text = text;
    for a in &m.attachments {
        text.push_str(&format!(
            "\n    [file] {} ({}, {}) id {}",
            term(&a.name),
            hearth::protocol::files::human_size(a.size),
            term(&a.mime),
            a.file_id
        ));
    }
    format!(
        "[{:04}-{:02}-{:02} {:02}:{:02}] {}: {}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        term(&authors.label(m.user_id, &m.author, m.verified)),
        text
    )
}

/// One JSON object: seq, ts (ms since the epoch), author, user_id (and whether the host
/// verified it, with its identity code), text, room_id, and the relations (§3.9).
pub fn json(m: &ChatMessage) -> String {
    serde_json::json!({
        "room_id": m.room_id,
        "seq": m.seq,
        "ts": m.ts,
        "author": m.author,
        "user_id": m.user_id,
        "verified": m.verified,
        "identity_code": hearth::protocol::identity::identity_code(m.user_id),
        "client_msg_id": m.client_msg_id,
        "text": m.text,
        "kind": m.kind,
        "target": m.target,
        "reply_to": m.reply_to,
        "mentions": m.mentions,
        "mentions_room": m.mentions_room,
        "deleted": m.deleted,
        "attachments": m.attachments,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_not_sent_to_the_terminal() {
        assert_eq!(term("plain שלום 🙂\tok"), "plain שלום 🙂\tok");
        assert!(matches!(term("plain"), Cow::Borrowed(_)));
        // OSC 0 (retitle), CSI (clear line, cursor up), BEL, CR, a C1 CSI, DEL.
        let hostile = "\u{1b}]0;pwned\u{7}\u{1b}[2K\u{1b}[1A\rx\u{9b}31m\u{7f}";
        let shown = term(hostile);
        assert!(!shown.chars().any(|c| c.is_control()), "{shown:?}");
        assert_eq!(
            shown,
            "\\u{1b}]0;pwned\\u{7}\\u{1b}[2K\\u{1b}[1A\\u{d}x\\u{9b}31m\\u{7f}"
        );
        let m = ChatMessage {
            room_id: uuid::Uuid::nil(),
            seq: 1,
            ts: 0,
            user_id: uuid::Uuid::nil(),
            author: "Mal\u{1b}[31mlory".into(),
            client_msg_id: "c".into(),
            text: "line one\u{1b}[2J\nline two".into(),
            kind: None,
            verified: false,
            ..Default::default()
        };
        let line = human(&m, &mut Authors::default());
        assert!(!line.contains('\u{1b}'), "{line:?}");
        assert!(
            line.ends_with(" unverified]: line one\\u{1b}[2J\n    line two"),
            "{line}"
        );
        assert!(line.contains("Mal\\u{1b}[31mlory ["), "{line}");
        // JSON keeps the text exact.
        let v: serde_json::Value = serde_json::from_str(&json(&m)).unwrap();
        assert_eq!(v["text"], "line one\u{1b}[2J\nline two");
    }
}
