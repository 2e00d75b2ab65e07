//! The rooms on the LAN: browsing, following a host that moved or came back.

use std::collections::HashSet;
use std::time::Duration;

use hearth::discovery::{BrowseConfig, BrowseEvent, Browser, DiscoveredRoom};
use uuid::Uuid;

use crate::views::*;

use super::*;

impl App {
    pub fn discovered(&self) -> Vec<DiscoveredView> {
        let joined: HashSet<Uuid> = lock(&self.inner.sessions)
            .values()
            .flat_map(|s| s.rooms.iter().copied())
            .collect();
        let mut v: Vec<DiscoveredView> = lock(&self.inner.discovered)
            .values()
            .map(|r| DiscoveredView {
                room_id: r.room_id,
                name: r.name.clone(),
                host_name: r.host_name.clone(),
                has_passcode: r.has_passcode,
                online: r.online,
                address: r.invite().map(|i| i.authority()),
                ours: r.ours,
                joined: joined.contains(&r.room_id),
                compatible: r.compatible(),
            })
            .collect();
        v.sort_by(|a, b| {
            a.name
                .to_lowercase()
                .cmp(&b.name.to_lowercase())
                .then(a.room_id.cmp(&b.room_id))
        });
        v
    }

    pub(super) fn start_browsing(&self) {
        let Some(mdns) = self.inner.config.mdns.clone() else {
            return;
        };
        let config = BrowseConfig {
            mdns,
            own_host_id: Some(self.inner.host_id),
            ..BrowseConfig::default()
        };
        let mut browser = match Browser::start(config) {
            Ok(b) => b,
            Err(e) => {
                self.emit(AppEvent::Error {
                    room_id: None,
                    code: None,
                    message: format!("LAN discovery is unavailable: {e}; join by link instead"),
                });
                return;
            }
        };
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel();
        *lock(&self.inner.browser_stop) = Some(stop_tx);
        let app = self.clone();
        tokio::spawn(async move {
            loop {
                let ev = tokio::select! {
                    _ = &mut stop_rx => break,
                    ev = browser.next_event() => ev,
                };
                let Some(ev) = ev else { break };
                app.on_discovery(ev);
                // Everything already waiting goes into the same one update of the UI,
                // and the UI gets at most ten a second however fast the LAN announces:
                // a flood of announcements must not flood the window.
                while let Some(ev) = browser.try_next_event() {
                    app.on_discovery(ev);
                }
                app.emit(AppEvent::Discovery {
                    rooms: app.discovered(),
                });
                tokio::select! {
                    _ = &mut stop_rx => break,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
            browser.shutdown().await;
        });
    }

    /// Applies one change to the rooms on the LAN (the caller tells the UI).
    pub(super) fn on_discovery(&self, ev: BrowseEvent) {
        match &ev {
            BrowseEvent::Added(r) | BrowseEvent::Updated(r) => {
                lock(&self.inner.discovered).insert(r.room_id, r.clone());
                self.follow_moved_host(r);
                self.follow_announcement(r);
            }
            BrowseEvent::Removed(r) => {
                lock(&self.inner.discovered).remove(&r.room_id);
            }
            BrowseEvent::Resync(all) => {
                *lock(&self.inner.discovered) =
                    all.iter().map(|r| (r.room_id, r.clone())).collect();
                for r in all {
                    self.follow_moved_host(r);
                    self.follow_announcement(r);
                }
            }
        }
    }

    /// A joined room whose host is unreachable but announced on a new address (DHCP gave
    /// it another IP, or it restarted on another port) follows it there.
    pub(super) fn follow_moved_host(&self, r: &DiscoveredRoom) {
        if r.ours {
            return;
        }
        let current = lock(&self.inner.sessions)
            .iter()
            .find(|(_, s)| s.rooms.contains(&r.room_id))
            .map(|(a, s)| (a.clone(), s.connection.clone()));
        let Some((addr, conn)) = current else { return };
        let Some(new) = r.invite().map(|i| i.authority()) else {
            return;
        };
        let announced: Vec<String> = r
            .joinable_addresses()
            .iter()
            .map(|a| r.invite_for(*a).authority())
            .collect();
        if matches!(conn, Connection::Connected) {
            return;
        }
        if !announced.contains(&addr) {
            tracing::info!(room = %r.name, from = %addr, to = %new, "host moved");
            // The room's pin decides, not the (unauthenticated) announcement.
            self.attach(r.room_id, &new, None, None);
        } else if let Some(s) = lock(&self.inner.sessions).get(&addr) {
            // The host is back where it was: no need to wait out the backoff.
            let _ = s.client.reconnect_now();
        }
    }

    /// A room announced again is asked for at once if its host was not hosting it, and
    /// tried again after a certificate warning if the announcement carries the pinned
    /// certificate (the genuine host is back).
    pub(super) fn follow_announcement(&self, r: &DiscoveredRoom) {
        match self.access(r.room_id) {
            RoomAccess::NotHosted => self.retry_not_hosted(Some(r.room_id)),
            RoomAccess::IdentityChanged { expected, .. }
                if r.fingerprint.as_deref() == Some(expected.as_str()) =>
            {
                tracing::info!(room = %r.name, "the host with the pinned certificate is back");
                let _ = self.retry_room(r.room_id);
            }
            _ => {}
        }
    }
}
