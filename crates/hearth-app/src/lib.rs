//! The Hearth desktop app without its window: everything the UI can do, as plain async
//! methods and a stream of events, so it is tested headless. `src-tauri` only maps these
//! to Tauri commands and events.

mod app;
mod hosting;
pub mod views;

pub use app::{App, AppConfig};
pub use views::*;

/// Why a command failed; shown to the user as is.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] hearth::StoreError),
    #[error(transparent)]
    Host(#[from] hearth::HostError),
    #[error(transparent)]
    Client(#[from] hearth::client::ClientError),
    #[error(transparent)]
    Invite(#[from] hearth::invite::InviteError),
    #[error("names are 1 to 64 characters, without control characters")]
    InvalidName,
    #[error("{0}")]
    Invalid(String),
    #[error("you are not in that room")]
    NotJoined,
    #[error("no such room")]
    NotFound,
    #[error("the host did not answer on any of its addresses")]
    Unreachable,
    #[error("this room's host announces a different certificate than the one pinned on your first visit; not joining")]
    FingerprintChanged,
}

impl serde::Serialize for AppError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}
