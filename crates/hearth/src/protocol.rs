//! Wire protocol v1: the JSON frames exchanged over a WebSocket.
//!
//! Every WebSocket text frame holds exactly one object `{"type": ..., "payload": {...}}`.
//! `docs/protocol.md` is the normative description; this module is its implementation,
//! and the tests at the bottom pin the JSON shapes the document shows.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The protocol version carried in `hello` and `welcome`.
pub const PROTOCOL_VERSION: u32 = 1;

/// A client-chosen message id is at most this many bytes.
pub const MAX_CLIENT_MSG_ID_LEN: usize = 64;
/// A display name is at most this many characters.
pub const MAX_NAME_CHARS: usize = 64;

/// Milliseconds since the Unix epoch, as assigned by the host.
pub type Timestamp = i64;

/// Frames a client sends to the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "payload", rename_all = "snake_case")]
pub enum ClientFrame {
    Hello(Hello),
    Join(Join),
    Leave(RoomRef),
    Send(Send),
    Typing(TypingState),
    History(HistoryRequest),
    Rename(Rename),
}

impl ClientFrame {
    /// The wire name of this frame's type, used in `error.request`.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientFrame::Hello(_) => "hello",
            ClientFrame::Join(_) => "join",
            ClientFrame::Leave(_) => "leave",
            ClientFrame::Send(_) => "send",
            ClientFrame::Typing(_) => "typing",
            ClientFrame::History(_) => "history",
            ClientFrame::Rename(_) => "rename",
        }
    }

    /// The room a frame refers to, if any.
    pub fn room_id(&self) -> Option<Uuid> {
        match self {
            ClientFrame::Join(j) => Some(j.room_id),
            ClientFrame::Leave(r) => Some(r.room_id),
            ClientFrame::Send(s) => Some(s.room_id),
            ClientFrame::Typing(t) => Some(t.room_id),
            ClientFrame::History(h) => Some(h.room_id),
            ClientFrame::Hello(_) | ClientFrame::Rename(_) => None,
        }
    }
}

const CLIENT_TYPES: &[&str] = &[
    "hello", "join", "leave", "send", "typing", "history", "rename",
];

/// Frames the host sends to a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "payload", rename_all = "snake_case")]
pub enum HostFrame {
    Welcome(Welcome),
    Joined(Joined),
    Left(RoomRef),
    Ack(Ack),
    Message(ChatMessage),
    Presence(Presence),
    Typing(TypingEvent),
    HistoryPage(HistoryPage),
    Error(ErrorFrame),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    pub protocol: u32,
    pub user_id: Uuid,
    pub name: String,
    /// Optional features this client understands (§3.6); absent from a v1-only client.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
}

/// Optional features beyond protocol 1 (docs/protocol.md §3.6). A client offers the names
/// it understands in `hello`; the host answers in `welcome` with those it supports too,
/// and from then on both use only those. Unknown names are ignored on both sides, so a
/// newer client meets an older host (and the reverse) on what both support.
pub mod capability {
    /// Messages may carry a `kind` besides plain text. A client that offers this shows
    /// a kind it does not know as an unsupported message (with `text` as the fallback);
    /// a host sends other kinds only to connections that negotiated it.
    pub const MESSAGE_KINDS: &str = "message_kinds";

    /// Everything this build supports, in a stable order.
    pub const ALL: &[&str] = &[MESSAGE_KINDS];

    /// Offered names looked at: a hostile hello cannot make negotiation expensive.
    const MAX_OFFERED: usize = 64;

    /// What both sides support: the names of [`ALL`] that `offered` lists.
    pub fn negotiate(offered: &[String]) -> Vec<String> {
        let offered = &offered[..offered.len().min(MAX_OFFERED)];
        ALL.iter()
            .filter(|c| offered.iter().any(|o| o == *c))
            .map(|c| c.to_string())
            .collect()
    }

    /// Everything this build supports, to offer in `hello`.
    pub fn all() -> Vec<String> {
        ALL.iter().map(|c| c.to_string()).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Join {
    pub room_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passcode: Option<String>,
    /// Resume point: the host replies with the messages whose seq is greater.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_seq: Option<u64>,
    /// Instead of the passcode: the token an earlier `joined` handed out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomRef {
    pub room_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Send {
    pub room_id: Uuid,
    /// Chosen by the client; a resend with the same id is answered with the original ack.
    pub client_msg_id: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypingState {
    pub room_id: Uuid,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryRequest {
    pub room_id: Uuid,
    /// Page backwards: messages with seq < before_seq, newest page first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_seq: Option<u64>,
    /// Page forwards: messages with seq > after_seq (used to finish a resume).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rename {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    pub protocol: u32,
    pub host_id: Uuid,
    pub host_name: String,
    pub rooms: Vec<RoomSummary>,
    pub limits: PublicLimits,
    /// The optional features in use on this connection (§3.6): what the client offered
    /// and the host supports. Absent from an older host: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
}

/// The limits a well-behaved client needs to know to stay within them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublicLimits {
    pub max_frame_bytes: usize,
    pub max_text_chars: usize,
    pub messages_per_sec: u32,
    pub message_burst: u32,
    pub max_history_page: u32,
    pub heartbeat_interval_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RoomSummary {
    pub room_id: Uuid,
    pub name: String,
    pub has_passcode: bool,
    pub online: u32,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub head_seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Member {
    pub user_id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Joined {
    pub room: RoomSummary,
    pub members: Vec<Member>,
    /// In ascending seq order.
    pub messages: Vec<ChatMessage>,
    pub head_seq: u64,
    /// True when a resume had more than one page: fetch the rest with `history.after_seq`.
    pub has_more: bool,
    /// For rooms with a passcode: present this in later joins instead of the passcode,
    /// so the client never has to keep the passcode. Valid until the passcode changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    pub room_id: Uuid,
    pub client_msg_id: String,
    pub seq: u64,
    pub ts: Timestamp,
    /// True when this acknowledges a resend of an already stored message.
    pub duplicate: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ChatMessage {
    pub room_id: Uuid,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub seq: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub ts: Timestamp,
    pub user_id: Uuid,
    pub author: String,
    pub client_msg_id: String,
    pub text: String,
    /// What kind of message this is; absent for plain text, the only kind of protocol 1.
    /// Kinds come with the `message_kinds` capability (§3.6). `text` is always a plain
    /// fallback, shown with "unsupported message" by a client that does not know the
    /// kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum PresenceEvent {
    Join,
    Leave,
    /// The member's connection stopped answering heartbeats.
    Timeout,
    Rename,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Presence {
    pub room_id: Uuid,
    pub event: PresenceEvent,
    pub member: Member,
    pub online: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypingEvent {
    pub room_id: Uuid,
    pub member: Member,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryPage {
    pub room_id: Uuid,
    /// In ascending seq order, whichever direction was asked for.
    pub messages: Vec<ChatMessage>,
    /// True when more messages exist further in the requested direction.
    pub has_more: bool,
}

/// Stable error codes. Codes are never renamed; new ones may be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum ErrorCode {
    BadJson,
    UnknownType,
    InvalidPayload,
    HelloRequired,
    AlreadyGreeted,
    UnsupportedVersion,
    InvalidName,
    UnknownRoom,
    NotJoined,
    PasscodeRequired,
    WrongPasscode,
    Throttled,
    EmptyText,
    TextTooLong,
    InvalidClientMsgId,
    RateLimited,
    InvalidRequest,
    StorageFull,
    StorageError,
    /// Decoding only: a code this build does not know.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadJson => "bad_json",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::InvalidPayload => "invalid_payload",
            ErrorCode::HelloRequired => "hello_required",
            ErrorCode::AlreadyGreeted => "already_greeted",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::InvalidName => "invalid_name",
            ErrorCode::UnknownRoom => "unknown_room",
            ErrorCode::NotJoined => "not_joined",
            ErrorCode::PasscodeRequired => "passcode_required",
            ErrorCode::WrongPasscode => "wrong_passcode",
            ErrorCode::Throttled => "throttled",
            ErrorCode::EmptyText => "empty_text",
            ErrorCode::TextTooLong => "text_too_long",
            ErrorCode::InvalidClientMsgId => "invalid_client_msg_id",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::StorageFull => "storage_full",
            ErrorCode::StorageError => "storage_error",
            ErrorCode::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorFrame {
    pub code: ErrorCode,
    pub message: String,
    /// The `type` of the client frame this answers, when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
    /// For `rate_limited` and `throttled`: when a retry can succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ErrorFrame {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorFrame {
            code,
            message: message.into(),
            request: None,
            room_id: None,
            client_msg_id: None,
            retry_after_ms: None,
        }
    }
}

/// WebSocket close codes used by the host (RFC 6455 codes plus the 4000 range).
pub mod close {
    pub const NORMAL: u16 = 1000;
    /// The host is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// A binary frame was sent; the protocol is text only.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// A text frame was not valid UTF-8.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// A frame or message exceeded `max_frame_bytes`.
    pub const TOO_BIG: u16 = 1009;
    /// The outgoing queue overflowed: the client reads too slowly. Resume to catch up.
    pub const SLOW_READER: u16 = 4001;
    /// No frame or pong arrived within the heartbeat timeout.
    pub const HEARTBEAT_TIMEOUT: u16 = 4002;
    /// `hello` carried a protocol version the host does not speak.
    pub const UNSUPPORTED_VERSION: u16 = 4003;
    /// `hello` did not arrive within the handshake timeout of the TCP accept.
    pub const HELLO_REQUIRED: u16 = 4004;
    /// Too many connections in total or from this address.
    pub const TOO_MANY_CONNECTIONS: u16 = 4005;
    /// The connection kept flooding after `rate_limited` errors.
    pub const FLOOD: u16 = 4008;
}

/// Why a text frame could not be turned into a [`ClientFrame`].
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    #[error("frame is not a JSON object with a string `type`: {0}")]
    BadJson(String),
    #[error("unknown frame type `{0}`")]
    UnknownType(String),
    /// `room_id` and `client_msg_id` are those of the payload when they could be read
    /// anyway, so that a client can match the error to its request (§5.10).
    #[error("invalid `{kind}` payload: {detail}")]
    InvalidPayload {
        kind: String,
        detail: String,
        room_id: Option<Uuid>,
        client_msg_id: Option<String>,
    },
}

impl DecodeError {
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::BadJson(_) => ErrorCode::BadJson,
            DecodeError::UnknownType(_) => ErrorCode::UnknownType,
            DecodeError::InvalidPayload { .. } => ErrorCode::InvalidPayload,
        }
    }

    /// The frame type, when the envelope could be read.
    pub fn request(&self) -> Option<String> {
        match self {
            DecodeError::BadJson(_) => None,
            DecodeError::UnknownType(t) => Some(t.clone()),
            DecodeError::InvalidPayload { kind, .. } => Some(kind.clone()),
        }
    }

    /// The request's `room_id`, when it could be read from an invalid payload.
    pub fn room_id(&self) -> Option<Uuid> {
        match self {
            DecodeError::InvalidPayload { room_id, .. } => *room_id,
            _ => None,
        }
    }

    /// The request's `client_msg_id`, when it could be read from an invalid payload.
    pub fn client_msg_id(&self) -> Option<String> {
        match self {
            DecodeError::InvalidPayload { client_msg_id, .. } => client_msg_id.clone(),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
}

/// Decodes a client frame, telling malformed JSON, unknown types and bad payloads apart.
pub fn decode_client(text: &str) -> Result<ClientFrame, DecodeError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| DecodeError::BadJson(e.to_string()))?;
    let env: Envelope =
        Envelope::deserialize(&value).map_err(|e| DecodeError::BadJson(e.to_string()))?;
    if !CLIENT_TYPES.contains(&env.kind.as_str()) {
        return Err(DecodeError::UnknownType(truncate(&env.kind, 64)));
    }
    let payload = value.get("payload");
    let room_id = payload
        .and_then(|p| p.get("room_id"))
        .and_then(|v| v.as_str())
        .and_then(|s| Uuid::parse_str(s).ok());
    // Only a valid id is echoed (1..=64 bytes), so an error never carries junk back.
    let client_msg_id = payload
        .and_then(|p| p.get("client_msg_id"))
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty() && s.len() <= MAX_CLIENT_MSG_ID_LEN)
        .map(str::to_string);
    ClientFrame::deserialize(&value).map_err(|e| DecodeError::InvalidPayload {
        kind: env.kind,
        detail: e.to_string(),
        room_id,
        client_msg_id,
    })
}

/// Decodes a host frame (client side).
pub fn decode_host(text: &str) -> Result<HostFrame, serde_json::Error> {
    serde_json::from_str(text)
}

/// Encodes any frame. Serialising these types cannot fail: they hold no maps with
/// non-string keys and no floats.
pub fn encode<T: Serialize>(frame: &T) -> String {
    serde_json::to_string(frame).unwrap_or_else(|e| {
        tracing::error!(error = %e, "frame serialisation failed");
        String::from(r#"{"type":"error","payload":{"code":"storage_error","message":"internal encoding error"}}"#)
    })
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Validates a display name: invisible format characters removed (see
/// [`is_invisible_format`]), then trimmed, 1..=64 characters, no control characters.
pub fn normalize_name(name: &str) -> Option<String> {
    let visible: String = name.chars().filter(|c| !is_invisible_format(*c)).collect();
    let n = visible.trim();
    if n.is_empty() || n.chars().count() > MAX_NAME_CHARS || n.chars().any(char::is_control) {
        None
    } else {
        Some(n.to_string())
    }
}

/// Characters that change how a name displays without being seen: bidirectional
/// controls (`\u{202E}ecilA` shows as "Alice"), zero-width spaces, invisible fillers.
/// Zero-width joiner and non-joiner stay: emoji sequences and Persian need them.
pub fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}'                 // soft hyphen
        | '\u{061C}'               // Arabic letter mark
        | '\u{115F}' | '\u{1160}' // Hangul choseong/jungseong fillers
        | '\u{180E}'               // Mongolian vowel separator
        | '\u{200B}'               // zero-width space
        | '\u{200E}' | '\u{200F}' // left-to-right / right-to-left marks
        | '\u{202A}'..='\u{202E}' // embeddings and overrides
        | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
        | '\u{2066}'..='\u{2069}' // isolates
        | '\u{3164}' | '\u{FFA0}' // Hangul fillers
        | '\u{FEFF}'               // zero-width no-break space (BOM)
    )
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Timestamp)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_distinguishes_errors() {
        assert!(matches!(
            decode_client("{nope"),
            Err(DecodeError::BadJson(_))
        ));
        assert!(matches!(
            decode_client("[1,2]"),
            Err(DecodeError::BadJson(_))
        ));
        assert!(matches!(
            decode_client(r#"{"type":"explode","payload":{}}"#),
            Err(DecodeError::UnknownType(t)) if t == "explode"
        ));
        let e = decode_client(r#"{"type":"send","payload":{"room_id":"6f1c5a8e-3b9a-4c61-9d55-0c2f1b7e9a10","text":"hi"}}"#)
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidPayload);
        assert!(e.to_string().contains("client_msg_id"), "{e}");
    }

    #[test]
    fn json_shapes_match_the_spec() {
        let f = decode_client(
            r#"{"type":"hello","payload":{"protocol":1,"user_id":"0b7e6a4c-31a4-4c3e-9a8f-2f5e8d1c7b21","name":"Bob"}}"#,
        )
        .unwrap();
        assert_eq!(f.kind(), "hello");
        let ack = HostFrame::Ack(Ack {
            room_id: Uuid::nil(),
            client_msg_id: "c1".into(),
            seq: 7,
            ts: 1,
            duplicate: false,
        });
        assert_eq!(
            encode(&ack),
            r#"{"type":"ack","payload":{"room_id":"00000000-0000-0000-0000-000000000000","client_msg_id":"c1","seq":7,"ts":1,"duplicate":false}}"#
        );
        let err = HostFrame::Error(ErrorFrame::new(ErrorCode::RateLimited, "slow down"));
        assert_eq!(
            encode(&err),
            r#"{"type":"error","payload":{"code":"rate_limited","message":"slow down"}}"#
        );
        // A join without optional fields is valid.
        let j = decode_client(
            r#"{"type":"join","payload":{"room_id":"6f1c5a8e-3b9a-4c61-9d55-0c2f1b7e9a10"}}"#,
        )
        .unwrap();
        assert!(matches!(
            j,
            ClientFrame::Join(Join {
                passcode: None,
                since_seq: None,
                ..
            })
        ));
    }

    #[test]
    fn names_are_validated() {
        assert_eq!(normalize_name("  Ann "), Some("Ann".into()));
        assert_eq!(normalize_name("   "), None);
        assert_eq!(normalize_name("a\u{7}"), None);
        assert_eq!(normalize_name(&"x".repeat(65)), None);
        // Bidi controls and invisible characters cannot make a name look like another.
        assert_eq!(normalize_name("\u{202E}ecilA"), Some("ecilA".into()));
        assert_eq!(
            normalize_name("Al\u{200B}ice\u{2066}"),
            Some("Alice".into())
        );
        assert_eq!(normalize_name("\u{202E}\u{200F} \u{3164}"), None);
        // Joiners stay: they are part of emoji and of Persian words.
        assert_eq!(
            normalize_name("👩\u{200D}💻 Ann"),
            Some("👩\u{200D}💻 Ann".into())
        );
        assert_eq!(
            normalize_name("می\u{200C}خواهم"),
            Some("می\u{200C}خواهم".into())
        );
    }
}
