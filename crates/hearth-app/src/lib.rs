//! The Hearth desktop app without its window: everything the UI can do, as plain async
//! methods and a stream of events, so it is tested headless. `src-tauri` only maps these
//! to Tauri commands and events.

mod app;
mod hosting;
pub mod views;

pub use app::{App, AppConfig, EVENT_QUEUE};
pub use views::*;

/// Why a command failed. It reaches the UI as `{code, message}`: the code to branch on,
/// the message to show as is.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] hearth::StoreError),
    #[error(transparent)]
    Host(#[from] hearth::HostError),
    #[error(transparent)]
    Hosting(#[from] hearth::HostingError),
    #[error(transparent)]
    Client(#[from] hearth::client::ClientError),
    #[error(transparent)]
    Invite(#[from] hearth::invite::InviteError),
    #[error("Names are 1 to 64 characters, without control characters.")]
    InvalidName,
    #[error("{0}")]
    Invalid(String),
    #[error("You are not in that room.")]
    NotJoined,
    #[error("There is no such room.")]
    NotFound,
    #[error("Nothing answered at {0}. Check the address, and that the host is running.")]
    Unreachable(String),
    #[error("This room's host announces a different certificate than the one pinned on your first visit; not joining.")]
    FingerprintChanged,
    #[error(transparent)]
    Transfer(#[from] hearth::files::transfer::TransferError),
    /// A background task failed (it panicked or was cancelled): a bug, not user input.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    /// A stable code for the UI to branch on.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Store(e) => match e {
                hearth::StoreError::DiskFull => "disk_full",
                _ => "storage",
            },
            AppError::Host(_) => "host",
            AppError::Hosting(hearth::HostingError::Store(hearth::StoreError::DiskFull)) => {
                "disk_full"
            }
            AppError::Hosting(hearth::HostingError::Store(_)) => "storage",
            AppError::Hosting(_) => "host",
            AppError::Client(_) => "client",
            AppError::Invite(_) => "invalid_link",
            AppError::InvalidName => "invalid_name",
            AppError::Invalid(_) => "invalid",
            AppError::NotJoined => "not_joined",
            AppError::NotFound => "not_found",
            AppError::Unreachable(_) => "unreachable",
            AppError::FingerprintChanged => "fingerprint_changed",
            AppError::Transfer(e) => e.code(),
            AppError::Internal(_) => "internal",
        }
    }

    /// The message as a sentence: errors from the core start in lower case.
    pub fn message(&self) -> String {
        let text = self.to_string();
        let mut c = text.chars();
        let mut out = match c.next() {
            Some(f) => f.to_uppercase().chain(c).collect::<String>(),
            None => return text,
        };
        if !out.ends_with(['.', '!', '?']) {
            out.push('.');
        }
        out
    }
}

impl serde::Serialize for AppError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("AppError", 2)?;
        st.serialize_field("code", self.code())?;
        st.serialize_field("message", &self.message())?;
        st.end()
    }
}
