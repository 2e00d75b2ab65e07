//! Sessions: one client per host address, the rooms attached to it, joining by link
//! or from the LAN, rejoining and retrying, and trusting a changed certificate.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hearth::client::ClientEvent;
use hearth::discovery::first_reachable;
use hearth::protocol::ErrorCode;
use hearth::{Client, ClientConfig, Invite};
use uuid::Uuid;

use crate::views::*;
use crate::AppError;

use super::*;

impl App {
    /// Asks again, every few seconds, for rooms whose host runs but does not host them
    /// (it stopped hosting): they come back by themselves when it hosts them again,
    /// even where no LAN announcement reaches us.
    pub(super) fn spawn_not_hosted_retry(&self) {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(NOT_HOSTED_RETRY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                App { inner }.retry_not_hosted(None);
            }
        });
    }

    /// Sends a join again for rooms marked not hosted (all, or only `only`).
    pub(super) fn retry_not_hosted(&self, only: Option<Uuid>) {
        let rooms: Vec<Uuid> = lock(&self.inner.access)
            .iter()
            .filter(|(id, a)| **a == RoomAccess::NotHosted && only.is_none_or(|o| o == **id))
            .map(|(id, _)| *id)
            .collect();
        for room_id in rooms {
            if let Some(c) = self.client_for(room_id) {
                let _ = c.join(room_id, None);
            }
        }
    }

    pub(super) fn access(&self, room_id: Uuid) -> RoomAccess {
        lock(&self.inner.access)
            .get(&room_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Records and announces a room's access, if it changed.
    pub(super) fn set_access(&self, room_id: Uuid, access: RoomAccess) {
        let changed = {
            let mut map = lock(&self.inner.access);
            let old = map.get(&room_id).cloned().unwrap_or_default();
            if access == RoomAccess::Ok {
                map.remove(&room_id);
            } else {
                map.insert(room_id, access.clone());
            }
            old != access
        };
        if changed {
            self.emit(AppEvent::RoomAccess { room_id, access });
        }
    }

    /// Joins by invite link or `host:port`. A malformed link, or an address where nothing
    /// answers within a few seconds, fails at once; otherwise the outcome arrives as
    /// [`AppEvent::Joined`] or [`AppEvent::JoinFailed`].
    pub async fn join_link(
        &self,
        link: &str,
        passcode: Option<String>,
    ) -> Result<Option<Uuid>, AppError> {
        let invite = Invite::parse(link)?;
        let address = invite.authority();
        let resolved = tokio::time::timeout(
            Duration::from_secs(3),
            tokio::net::lookup_host(address.clone()),
        )
        .await;
        let addrs: Vec<SocketAddr> = match resolved {
            Ok(Ok(a)) => a.collect(),
            _ => Vec::new(),
        };
        first_reachable(&addrs, Duration::from_millis(250), Duration::from_secs(3))
            .await
            .ok_or_else(|| AppError::Unreachable(address.clone()))?;
        match invite.room_id {
            Some(room_id) => {
                self.attach(
                    room_id,
                    &address,
                    Some(passcode),
                    invite.fingerprint.clone(),
                );
                Ok(Some(room_id))
            }
            None => {
                // A bare address: join the host's only room once it says which.
                self.attach_any(&address, passcode);
                Ok(None)
            }
        }
    }

    /// Joins a room found on the LAN, trying its addresses in order.
    pub async fn join_discovered(
        &self,
        room_id: Uuid,
        passcode: Option<String>,
    ) -> Result<(), AppError> {
        let room = lock(&self.inner.discovered)
            .get(&room_id)
            .cloned()
            .ok_or(AppError::NotFound)?;
        let expected = hearth::client::expected_for_announced(
            &self.inner.store,
            room_id,
            room.host_id,
            room.fingerprint.as_deref(),
        )?;
        if let (Some(expected), Some(announced)) = (&expected, &room.fingerprint) {
            if expected != announced {
                self.emit(AppEvent::FingerprintMismatch {
                    address: room.invite().map(|i| i.authority()).unwrap_or_default(),
                    rooms: vec![room_id],
                    expected: expected.clone(),
                    presented: announced.clone(),
                });
                return Err(AppError::FingerprintChanged);
            }
        }
        let addrs = room.joinable_addresses();
        let addr = first_reachable(&addrs, Duration::from_millis(250), Duration::from_secs(3))
            .await
            .ok_or_else(|| AppError::Unreachable(room.name.clone()))?;
        self.attach(
            room_id,
            &room.invite_for(addr).authority(),
            Some(passcode),
            expected,
        );
        Ok(())
    }

    /// Tries a room again now: a fresh client after a certificate warning or a closed
    /// session (it insists on the pinned certificate), else a reconnect and a new join.
    pub fn retry_room(&self, room_id: Uuid) -> Result<(), AppError> {
        let address = self.address_of(room_id).ok_or(AppError::NotFound)?;
        let stopped = {
            let sessions = lock(&self.inner.sessions);
            sessions
                .get(&address)
                .is_none_or(|s| matches!(s.connection, Connection::Closed { .. }))
        };
        if stopped || matches!(self.access(room_id), RoomAccess::IdentityChanged { .. }) {
            let rooms = self
                .end_session(&address, false)
                .unwrap_or_else(|| vec![room_id]);
            for r in rooms {
                self.attach(r, &address, None, None);
            }
        } else if let Some(c) = self.client_for(room_id) {
            let _ = c.reconnect_now();
            if matches!(
                self.access(room_id),
                RoomAccess::NotHosted | RoomAccess::Refused { .. }
            ) {
                let _ = c.join(room_id, None);
            }
        }
        Ok(())
    }

    /// Joins a room of "Your rooms" again with a passcode (its host changed it). The
    /// outcome arrives as [`AppEvent::Joined`] or [`AppEvent::JoinFailed`].
    pub fn rejoin(&self, room_id: Uuid, passcode: String) -> Result<(), AppError> {
        let address = self.address_of(room_id).ok_or(AppError::NotFound)?;
        self.attach(room_id, &address, Some(Some(passcode)), None);
        Ok(())
    }

    /// The address a joined room is reached at: its session's, else the stored one.
    pub(super) fn address_of(&self, room_id: Uuid) -> Option<String> {
        lock(&self.inner.sessions)
            .iter()
            .find(|(_, s)| s.rooms.contains(&room_id))
            .map(|(a, _)| a.clone())
            .or_else(|| {
                let joined = self.inner.store.joined_room(room_id).ok().flatten();
                joined.map(|r| r.address)
            })
    }

    /// Trusts a host's new certificate for a room (after the user compared it), and
    /// reconnects.
    pub fn trust_fingerprint(&self, room_id: Uuid, fingerprint: &str) -> Result<(), AppError> {
        let fp = hearth::tls::normalize_fingerprint(fingerprint)
            .ok_or_else(|| AppError::Invalid("not a SHA-256 fingerprint".into()))?;
        let address = self.address_of(room_id).ok_or(AppError::NotFound)?;
        self.pin_host(room_id, &address, &fp)?;
        // The old client stopped at the mismatch; a new one picks up the new pin.
        let rooms = self
            .end_session(&address, false)
            .unwrap_or_else(|| vec![room_id]);
        for r in rooms {
            self.set_access(r, RoomAccess::Ok);
            self.attach(r, &address, None, None);
        }
        Ok(())
    }

    /// Pins `fp` for a room and for its host's address: later clients insist on it.
    pub(super) fn pin_host(&self, room_id: Uuid, address: &str, fp: &str) -> Result<(), AppError> {
        let store = &self.inner.store;
        store.replace_pin(&hearth::client::pin_key_room(room_id), fp)?;
        store.replace_pin(&hearth::client::pin_key_addr(address), fp)?;
        Ok(())
    }

    /// Stops the client of `address` (with `only_if_down`, only if it is neither
    /// connected nor trying right now: a join in flight may carry a passcode that a fresh
    /// client would not have) and returns the rooms it held, to be attached again.
    pub(super) fn end_session(&self, address: &str, only_if_down: bool) -> Option<Vec<Uuid>> {
        let old = {
            let mut sessions = lock(&self.inner.sessions);
            let up = sessions.get(address).is_some_and(|s| {
                matches!(s.connection, Connection::Connected | Connection::Connecting)
            });
            if only_if_down && up {
                return None;
            }
            sessions.remove(address)?
        };
        old.client.shutdown();
        Some(old.rooms.into_iter().collect())
    }

    /// Routes a room to the client for `address`, creating it if needed. A room that
    /// moved (the host came back on another address) leaves its old session.
    /// `passcode`: `None` = rejoin from the store (token), `Some(p)` = a user's join.
    pub(super) fn attach(
        &self,
        room_id: Uuid,
        address: &str,
        passcode: Option<Option<String>>,
        fingerprint: Option<String>,
    ) {
        let mut sessions = lock(&self.inner.sessions);
        let mut emptied = Vec::new();
        for (addr, s) in sessions.iter_mut() {
            if addr != address && s.rooms.remove(&room_id) {
                let _ = s.client.leave(room_id);
                if s.rooms.is_empty() {
                    emptied.push(addr.clone());
                }
            }
        }
        for a in emptied {
            if let Some(s) = sessions.remove(&a) {
                s.client.shutdown();
            }
        }
        if !sessions.contains_key(address) {
            match self.new_session(address, fingerprint) {
                Ok(s) => {
                    sessions.insert(address.to_string(), s);
                }
                Err(e) => {
                    drop(sessions);
                    self.emit(AppEvent::Error {
                        room_id: Some(room_id),
                        code: None,
                        message: e.to_string(),
                    });
                    return;
                }
            }
        }
        if let Some(s) = sessions.get_mut(address) {
            let fresh = s.rooms.insert(room_id);
            if passcode.is_some() {
                lock(&self.inner.user_joins).insert(room_id);
            }
            if fresh || passcode.is_some() {
                let _ = s.client.join(room_id, passcode.flatten());
            }
        }
    }

    pub(super) fn attach_any(&self, address: &str, passcode: Option<String>) {
        let _rt = self.inner.runtime.enter();
        let app = self.clone();
        let address = address.to_string();
        let name = lock(&self.inner.name).clone();
        // A throwaway client learns the host's rooms from `welcome`.
        tokio::spawn(async move {
            let Ok(invite) = Invite::parse(&address) else {
                return;
            };
            let Ok((probe, mut ev)) = Client::start(ClientConfig::new(
                invite,
                name,
                Arc::clone(&app.inner.store),
            )) else {
                return;
            };
            let outcome = tokio::time::timeout(Duration::from_secs(10), async {
                while let Some(e) = ev.recv().await {
                    if let ClientEvent::Welcome(w) = e {
                        return Some(w.rooms);
                    }
                }
                None
            })
            .await;
            probe.shutdown();
            let fail = |message: String| AppEvent::JoinFailed {
                room_id: None,
                code: ErrorCode::UnknownRoom,
                message,
                retry_after_ms: None,
            };
            match outcome {
                Ok(Some(rooms)) if rooms.len() == 1 => {
                    app.attach(rooms[0].room_id, &address, Some(passcode), None)
                }
                Ok(Some(rooms)) if rooms.is_empty() => app.emit(fail(
                    "that host lists no rooms (an unlisted room is joined with its invite link)"
                        .into(),
                )),
                Ok(Some(rooms)) => {
                    let names: Vec<String> = rooms.iter().map(|r| r.name.clone()).collect();
                    app.emit(fail(format!(
                        "that host has several rooms ({}); use its invite link",
                        names.join(", ")
                    )))
                }
                _ => app.emit(fail(format!("no Hearth host answered at {address}"))),
            }
        });
    }

    pub(super) fn new_session(
        &self,
        address: &str,
        fingerprint: Option<String>,
    ) -> Result<Session, AppError> {
        let mut invite = Invite::parse(address)?;
        invite.fingerprint = fingerprint;
        let mut cfg = ClientConfig::new(
            invite,
            lock(&self.inner.name).clone(),
            Arc::clone(&self.inner.store),
        );
        cfg.backoff_min = self.inner.config.backoff_min;
        cfg.backoff_max = self.inner.config.backoff_max;
        let _rt = self.inner.runtime.enter();
        let (client, events) = Client::start(cfg)?;
        static NEXT_SESSION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = NEXT_SESSION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tokio::spawn(pump(self.clone(), address.to_string(), id, events));
        Ok(Session {
            id,
            client,
            rooms: HashSet::new(),
            connection: Connection::Connecting,
            max_text_chars: DEFAULT_MAX_TEXT_CHARS,
        })
    }
}
