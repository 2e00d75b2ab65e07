//! Hearth's GUI-free core: the wire protocol, the room host, the client with resume
//! and a persisted outbox, the SQLite store, and LAN discovery.

pub mod client;
mod connection;
pub mod discovery;
pub mod fd_limit;
pub mod files;
mod group_commit;
mod host_state;
pub mod hosting;
pub mod identity;
pub mod invite;
pub mod limits;
mod memory_trim;
/// The wire protocol, from its own crate (`hearth-protocol`).
pub use hearth_protocol as protocol;
pub mod passcode;
mod passcode_checks;
mod peer;
pub mod people;
pub mod room;
pub mod server;
pub mod stop;
pub mod store;
pub mod tls;

pub use client::{Client, ClientConfig, ClientEvent, ConnectionState};

/// A `tracing` filter spec (`HEARTH_LOG`, or `default`) with the WebSocket and TLS
/// libraries capped at `info`: at `trace` they print every frame, and `join` frames
/// carry passcodes. These caps come last, so they win over anything more verbose.
pub fn log_filter(user_spec: Option<&str>, default: &str) -> String {
    let base = user_spec
        .filter(|s| !s.trim().is_empty())
        .unwrap_or(default);
    format!("{base},tungstenite=info,tokio_tungstenite=info,rustls=info,tokio_rustls=info")
}
pub use hosting::{Hosting, HostingConfig, HostingError};
pub use invite::Invite;
pub use limits::Limits;
pub use server::{Host, HostConfig, HostError, PasscodeSetting, Transport, DEFAULT_PORT};
pub use store::{Store, StoreError};
