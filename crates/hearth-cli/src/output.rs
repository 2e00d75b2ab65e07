//! How messages are printed: a human line, or one JSON object per line.

use std::sync::OnceLock;

use hearth::protocol::ChatMessage;
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

/// `[2026-11-21 14:05] Alice: hello`, continuation lines indented.
pub fn human(m: &ChatMessage) -> String {
    let t = local(m.ts);
    let text = m.text.replace('\n', "\n    ");
    format!(
        "[{:04}-{:02}-{:02} {:02}:{:02}] {}: {}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        m.author,
        text
    )
}

/// One JSON object: seq, ts (ms since the epoch), author, user_id, text, room_id.
pub fn json(m: &ChatMessage) -> String {
    serde_json::json!({
        "room_id": m.room_id,
        "seq": m.seq,
        "ts": m.ts,
        "author": m.author,
        "user_id": m.user_id,
        "client_msg_id": m.client_msg_id,
        "text": m.text,
    })
    .to_string()
}
