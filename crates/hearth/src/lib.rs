//! Hearth's GUI-free core: the wire protocol, the room host, the client with resume
//! and a persisted outbox, the SQLite store, and LAN discovery.

pub mod client;
mod connection;
pub mod discovery;
pub mod invite;
pub mod limits;
pub mod passcode;
mod peer;
pub mod protocol;
pub mod room;
pub mod server;
pub mod store;

pub use client::{Client, ClientConfig, ClientEvent, ConnectionState};
pub use invite::Invite;
pub use limits::Limits;
pub use server::{Host, HostConfig, HostError, DEFAULT_PORT};
pub use store::{Store, StoreError};
