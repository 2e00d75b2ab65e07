//! Text frames in and out: every WebSocket text frame holds exactly one JSON object
//! `{"type": ..., "payload": {...}}`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{ClientFrame, DecodeError, HostFrame, MAX_CLIENT_MSG_ID_LEN};

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
    if !ClientFrame::TYPES.contains(&env.kind.as_str()) {
        return Err(DecodeError::UnknownType(truncate(&env.kind, 64)));
    }
    ClientFrame::deserialize(&value).map_err(|e| {
        // Read only for an error (not on the path of every good frame): what the client
        // needs to match the error to its request, where it can be read.
        let RequestRef {
            room_id,
            client_msg_id,
            ..
        } = RequestRef::of(&value);
        DecodeError::InvalidPayload {
            kind: env.kind,
            detail: e.to_string(),
            room_id,
            client_msg_id,
        }
    })
}

/// What an `error` needs to name the request it answers (§5.10), read from a frame's
/// JSON without decoding the frame: for a frame refused before it is decoded (over the
/// frame budget), or one that does not decode.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RequestRef {
    /// The frame's `type`, truncated to 64 characters.
    pub request: Option<String>,
    pub room_id: Option<Uuid>,
    /// Only a valid id (1..=64 bytes), so that an error never carries junk back.
    pub client_msg_id: Option<String>,
}

impl RequestRef {
    /// Reads it from raw text; nothing when the text is not a JSON object.
    pub fn read(text: &str) -> RequestRef {
        serde_json::from_str::<serde_json::Value>(text)
            .map(|v| RequestRef::of(&v))
            .unwrap_or_default()
    }

    fn of(value: &serde_json::Value) -> RequestRef {
        let payload = value.get("payload");
        RequestRef {
            request: value
                .get("type")
                .and_then(|v| v.as_str())
                .map(|t| truncate(t, 64)),
            room_id: payload
                .and_then(|p| p.get("room_id"))
                .and_then(|v| v.as_str())
                .and_then(|s| Uuid::parse_str(s).ok()),
            client_msg_id: payload
                .and_then(|p| p.get("client_msg_id"))
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty() && s.len() <= MAX_CLIENT_MSG_ID_LEN)
                .map(str::to_string),
        }
    }
}

/// Decodes a host frame (client side).
pub fn decode_host(text: &str) -> Result<HostFrame, serde_json::Error> {
    serde_json::from_str(text)
}

/// Encodes any frame. Serialising these types cannot fail: they hold no maps with
/// non-string keys and no floats.
pub fn encode<T: Serialize>(frame: &T) -> String {
    serde_json::to_string(frame).unwrap_or_else(|_| {
        String::from(r#"{"type":"error","payload":{"code":"storage_error","message":"internal encoding error"}}"#)
    })
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}
