//! Which certificate the client insists on, and what it pins (docs/security.md, "What
//! is pinned, when").

use uuid::Uuid;

use super::task::Task;
use super::*;
use crate::store::{Store, StoreError};

impl Task {
    /// The fingerprint to insist on: the caller's (invite link, or a TXT record it
    /// vetted), else a pin from an earlier visit to one of our rooms or to this address.
    pub(super) fn expected_fingerprint(&self) -> Option<String> {
        if let Some(fp) = &self.config.invite.fingerprint {
            return Some(fp.clone());
        }
        let store = &self.config.store;
        self.rooms
            .keys()
            .copied()
            .chain(self.config.invite.room_id)
            .find_map(|r| store.pinned(&pin_key_room(r)).ok().flatten())
            .or_else(|| {
                store
                    .pinned(&pin_key_addr(&self.config.invite.authority()))
                    .ok()
                    .flatten()
            })
    }

    /// Records the fingerprint of a successful handshake for the address we dialled and
    /// the rooms we asked for: pinned on first use; re-pinned only when the caller gave
    /// the fingerprint (a link with `#fp=`, `--accept-fingerprint`: the user's explicit
    /// trust, now verified by the handshake). Ids the host claims are pinned elsewhere,
    /// and only where nothing is pinned yet.
    pub(super) async fn secured(&mut self, first_use: bool, fingerprint: String) {
        let store = &self.config.store;
        let explicit = self.config.invite.fingerprint.is_some();
        let pin = |key: String| {
            let _ = if explicit {
                store.replace_pin(&key, &fingerprint)
            } else {
                store.pin_first(&key, &fingerprint).map(drop)
            };
        };
        if first_use || explicit {
            pin(pin_key_addr(&self.config.invite.authority()));
            for r in self.rooms.keys() {
                pin(pin_key_room(*r));
            }
        }
        self.fingerprint = Some(fingerprint.clone());
        self.emit(ClientEvent::Secured {
            fingerprint,
            first_use,
        })
        .await;
    }
}

/// An announced fingerprint that contradicts a pin from an earlier visit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the host announces certificate {announced} but {pinned} was pinned on your first visit; not connecting (someone may be impersonating it)")]
pub struct FingerprintConflict {
    pub pinned: String,
    pub announced: String,
}

/// The fingerprint to expect for a room found by discovery. A pin from an earlier visit
/// outranks the (unauthenticated) TXT record, so a spoofed announcement carrying an
/// impostor's own fingerprint is refused rather than believed.
pub fn expected_for_announced(
    store: &Store,
    room_id: Uuid,
    host_id: Option<Uuid>,
    announced: Option<&str>,
) -> Result<Option<String>, StoreError> {
    let pinned = match store.pinned(&pin_key_room(room_id))? {
        Some(p) => Some(p),
        None => match host_id {
            Some(h) => store.pinned(&pin_key_host(h))?,
            None => None,
        },
    };
    Ok(pinned.or_else(|| announced.map(str::to_string)))
}
