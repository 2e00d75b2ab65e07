//! Hearth's wire protocol v1: the JSON frames a client and a host exchange over a
//! WebSocket, their encoding, the error and close codes, and the limits a client needs.
//!
//! `docs/protocol.md` is the normative description; this crate is its implementation.
//! It has no networking, storage or TLS in it, so the host, the client, the load
//! generator, the fuzz targets and a web client can all share it (with the `ts` feature,
//! TypeScript bindings for every frame).

pub mod capability;
pub mod close;
mod codec;
mod error;
pub mod files;
mod frames;
pub mod identity;
mod names;
pub mod relations;

pub use codec::{decode_client, decode_host, encode, RequestRef};
pub use error::{DecodeError, ErrorCode, ErrorFrame};
pub use frames::*;
pub use names::{is_invisible_format, normalize_name};

/// The protocol version carried in `hello` and `welcome`.
pub const PROTOCOL_VERSION: u32 = 1;

/// A client-chosen message id is at most this many bytes.
pub const MAX_CLIENT_MSG_ID_LEN: usize = 64;
/// A display name is at most this many characters.
pub const MAX_NAME_CHARS: usize = 64;

/// Milliseconds since the Unix epoch, as assigned by the host.
pub type Timestamp = i64;

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
    use uuid::Uuid;

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

#[cfg(test)]
mod names_once {
    use super::*;

    /// Each wire name is written once (the `frames!` and `error_codes!` lists); serde's
    /// names, `kind()`, `TYPES` and `as_str` must agree with what goes on the wire.
    #[test]
    fn wire_names_agree_with_serde() {
        for code in ErrorCode::ALL {
            assert_eq!(
                serde_json::to_string(code).unwrap(),
                format!("\"{}\"", code.as_str())
            );
        }
        assert_eq!(ClientFrame::TYPES.len(), 7);
        let hello = ClientFrame::Hello(Hello {
            protocol: 1,
            user_id: uuid::Uuid::nil(),
            name: "a".into(),
            capabilities: vec![],
            identity: None,
        });
        let v: serde_json::Value = serde_json::from_str(&encode(&hello)).unwrap();
        assert_eq!(v["type"], hello.kind());
        assert!(ClientFrame::TYPES.contains(&hello.kind()));
        assert!(HostFrame::TYPES.contains(&"history_page"));
    }
}
