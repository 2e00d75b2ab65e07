//! WebSocket close codes used by the host (RFC 6455 codes plus the 4000 range), and the
//! short reason sent with each (docs/protocol.md §7).

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
/// `hello` claimed a key-derived user id without a valid proof of its key (§3.7).
pub const IDENTITY_REFUSED: u16 = 4009;

/// The reason the host sends with `code` in its close frame.
pub fn reason(code: u16) -> &'static str {
    match code {
        GOING_AWAY => "host shutting down",
        UNSUPPORTED_DATA => "binary frames are not supported",
        IDENTITY_REFUSED => "identity not proven",
        INVALID_PAYLOAD => "text frame is not valid UTF-8",
        TOO_BIG => "frame too large",
        SLOW_READER => "outgoing queue overflow: reading too slowly",
        HEARTBEAT_TIMEOUT => "heartbeat timeout",
        UNSUPPORTED_VERSION => "unsupported protocol version",
        HELLO_REQUIRED => "hello required",
        FLOOD => "rate limit flood",
        _ => "",
    }
}
