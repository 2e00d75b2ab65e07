//! Errors on the wire: the stable error codes and the `error` frame, and why a client
//! frame could not be decoded.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Declares `ErrorCode` from `Variant = "wire name"` lines: the serde names, `as_str` and
/// `ALL` come from that one list.
macro_rules! error_codes {
    ($($(#[$vmeta:meta])* $variant:ident = $wire:literal,)*) => {
        /// Stable error codes (docs/protocol.md §6). Codes are never renamed; new ones may
        /// be added, and a code this build does not know decodes as `Unknown`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
        pub enum ErrorCode {
            $($(#[$vmeta])* #[serde(rename = $wire)] $variant,)*
            /// Decoding only: a code this build does not know.
            #[serde(other, rename = "unknown")]
            Unknown,
        }

        impl ErrorCode {
            /// Every code a host sends.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $wire,)*
                    ErrorCode::Unknown => "unknown",
                }
            }
        }
    };
}

error_codes! {
    BadJson = "bad_json",
    UnknownType = "unknown_type",
    InvalidPayload = "invalid_payload",
    HelloRequired = "hello_required",
    AlreadyGreeted = "already_greeted",
    UnsupportedVersion = "unsupported_version",
    InvalidName = "invalid_name",
    UnknownRoom = "unknown_room",
    NotJoined = "not_joined",
    PasscodeRequired = "passcode_required",
    WrongPasscode = "wrong_passcode",
    Throttled = "throttled",
    EmptyText = "empty_text",
    TextTooLong = "text_too_long",
    InvalidClientMsgId = "invalid_client_msg_id",
    RateLimited = "rate_limited",
    InvalidRequest = "invalid_request",
    StorageFull = "storage_full",
    StorageError = "storage_error",
    IdentityInvalid = "identity_invalid",
    IdentityRequired = "identity_required",
    NotAMember = "not_a_member",
    /// An action's `target` or a `reply_to` names no message of the room, or a message
    /// it cannot apply to (an action, a deleted message).
    UnknownTarget = "unknown_target",
    /// Only a message's author may edit it, and only its author or the host owner may
    /// delete it.
    NotAuthor = "not_author",
    /// A malformed action: an unknown kind, a missing target, a reaction that is not an
    /// emoji, too many mentions.
    InvalidAction = "invalid_action",
    /// An attachment names a file the host does not hold for the room (not uploaded, not
    /// complete, or with another size).
    FileMissing = "file_missing",
    /// A malformed attachment list (§3.10).
    InvalidAttachment = "invalid_attachment",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
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
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
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
