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
        DecodeError::InvalidPayload {
            kind: env.kind,
            detail: e.to_string(),
            room_id,
            client_msg_id,
        }
    })
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
