//! The app model: one object the desktop shell (or a test) drives with commands and
//! listens to through [`AppEvent`]s. It owns the store, the embedded host, one client per
//! host address, and the LAN browser.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hearth::client::ClientEvent;
use hearth::discovery::{
    first_reachable, BrowseConfig, BrowseEvent, Browser, DiscoveredRoom, MdnsConfig,
};
use hearth::protocol::{normalize_name, ErrorCode, Member, PresenceEvent};
use hearth::{Client, ClientConfig, ConnectionState, Invite, Store, DEFAULT_PORT};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::hosting::Hosting;
use crate::views::*;
use crate::AppError;

#[derive(Debug, Clone)]
pub struct AppConfig {
    pub data_dir: PathBuf,
    /// Where the embedded host listens when the user hosts a room.
    pub bind: SocketAddr,
    /// LAN discovery; `None` turns it off (hosting and joining by link still work).
    pub mdns: Option<MdnsConfig>,
    /// Reconnect backoff bounds for the clients.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl AppConfig {
    pub fn new(data_dir: PathBuf) -> Self {
        AppConfig {
            data_dir,
            bind: SocketAddr::from(([0, 0, 0, 0], DEFAULT_PORT)),
            mdns: Some(MdnsConfig::default()),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(10),
        }
    }
}

struct Session {
    client: Client,
    rooms: HashSet<Uuid>,
    connection: Connection,
}

#[derive(Default)]
struct RoomLive {
    members: Vec<Member>,
    online: u32,
}

struct Inner {
    config: AppConfig,
    store: Arc<Store>,
    user_id: Uuid,
    host_id: Uuid,
    name: Mutex<String>,
    events: mpsc::UnboundedSender<AppEvent>,
    /// host address (`host:port`) -> its client
    sessions: Mutex<HashMap<String, Session>>,
    live: Mutex<HashMap<Uuid, RoomLive>>,
    discovered: Mutex<HashMap<Uuid, DiscoveredRoom>>,
    hosting: tokio::sync::Mutex<Option<Hosting>>,
    browser_stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    /// The runtime the app was started on. Sync methods (the desktop shell calls them
    /// on its UI thread) enter it before they start clients or tasks.
    runtime: tokio::runtime::Handle,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The app. Cheap to clone; every clone drives the same state.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

const NAME_KEY: &str = "display_name";
const NAME_CONFIRMED_KEY: &str = "display_name_confirmed";
const SETTINGS_KEY: &str = "app_settings";

fn os_user_name() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .ok()
        .and_then(|n| {
            let mut c = n.chars();
            // "alice" -> "Alice": OS account names are usually lowercase.
            let first = c.next()?.to_uppercase().collect::<String>();
            normalize_name(&(first + c.as_str()))
        })
        .unwrap_or_else(|| "Me".to_string())
}

impl App {
    /// Opens the data directory, reconnects to every room joined before, and starts
    /// browsing the LAN. Events arrive on the returned receiver.
    pub async fn start(
        config: AppConfig,
    ) -> Result<(App, mpsc::UnboundedReceiver<AppEvent>), AppError> {
        let store = Arc::new(Store::open(&config.data_dir)?);
        let user_id = store.user_id()?;
        let host_id = store.host_id()?;
        let name = store.setting(NAME_KEY)?.unwrap_or_else(os_user_name);
        let (tx, rx) = mpsc::unbounded_channel();
        let app = App {
            inner: Arc::new(Inner {
                config,
                store,
                user_id,
                host_id,
                name: Mutex::new(name),
                events: tx,
                sessions: Mutex::new(HashMap::new()),
                live: Mutex::new(HashMap::new()),
                discovered: Mutex::new(HashMap::new()),
                hosting: tokio::sync::Mutex::new(None),
                browser_stop: Mutex::new(None),
                runtime: tokio::runtime::Handle::current(),
            }),
        };
        for room in app.inner.store.joined_rooms()? {
            app.attach(room.room_id, &room.address, None, None);
        }
        app.start_browsing();
        Ok((app, rx))
    }

    fn emit(&self, e: AppEvent) {
        let _ = self.inner.events.send(e);
    }

    // ----- profile and settings -----

    pub fn profile(&self) -> Result<Profile, AppError> {
        Ok(Profile {
            user_id: self.inner.user_id,
            name: lock(&self.inner.name).clone(),
            name_confirmed: self.inner.store.setting(NAME_CONFIRMED_KEY)?.is_some(),
            data_dir: self.inner.config.data_dir.display().to_string(),
        })
    }

    /// Sets the display name; rooms see it as a rename.
    pub fn set_name(&self, name: &str) -> Result<Profile, AppError> {
        let name = normalize_name(name).ok_or(AppError::InvalidName)?;
        self.inner.store.set_setting(NAME_KEY, &name)?;
        self.inner.store.set_setting(NAME_CONFIRMED_KEY, "1")?;
        *lock(&self.inner.name) = name.clone();
        for s in lock(&self.inner.sessions).values() {
            let _ = s.client.rename(&name);
        }
        self.profile()
    }

    pub fn settings(&self) -> Result<Settings, AppError> {
        Ok(self
            .inner
            .store
            .setting(SETTINGS_KEY)?
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default())
    }

    pub fn set_settings(&self, settings: &Settings) -> Result<Settings, AppError> {
        let json = serde_json::to_string(settings).map_err(|e| AppError::Invalid(e.to_string()))?;
        self.inner.store.set_setting(SETTINGS_KEY, &json)?;
        Ok(settings.clone())
    }

    // ----- rooms -----

    fn connection_of(&self, room_id: Uuid) -> Connection {
        lock(&self.inner.sessions)
            .values()
            .find(|s| s.rooms.contains(&room_id))
            .map(|s| s.connection.clone())
            .unwrap_or(Connection::Closed {
                reason: "not connected".into(),
            })
    }

    fn room_view(
        &self,
        room: &hearth::store::JoinedRoom,
        hosted: &HashSet<Uuid>,
    ) -> Result<RoomView, AppError> {
        let store = &self.inner.store;
        let connection = self.connection_of(room.room_id);
        let online = match connection {
            Connection::Connected => lock(&self.inner.live)
                .get(&room.room_id)
                .map(|l| l.online)
                .unwrap_or(0),
            _ => 0,
        };
        Ok(RoomView {
            room_id: room.room_id,
            name: room.name.clone(),
            address: room.address.clone(),
            host_name: room.host_name.clone(),
            has_passcode: room.has_passcode,
            unread: store.unread_count(room.room_id, self.inner.user_id)?,
            last_message: store.last_message(room.room_id)?,
            connection,
            online,
            hosted_by_me: hosted.contains(&room.room_id),
            hostable: store
                .hosted_rooms()?
                .iter()
                .any(|h| h.room_id == room.room_id),
            read_seq: room.read_seq,
            fingerprint: store.pinned(&hearth::client::pin_key_room(room.room_id))?,
        })
    }

    async fn hosted_ids(&self) -> HashSet<Uuid> {
        match &*self.inner.hosting.lock().await {
            Some(h) => h.host.rooms().into_iter().map(|r| r.room_id).collect(),
            None => HashSet::new(),
        }
    }

    /// "Your rooms": every room joined, with unread counts and reachability.
    pub async fn rooms(&self) -> Result<Vec<RoomView>, AppError> {
        let hosted = self.hosted_ids().await;
        self.inner
            .store
            .joined_rooms()?
            .iter()
            .map(|r| self.room_view(r, &hosted))
            .collect()
    }

    pub fn members(&self, room_id: Uuid) -> Vec<Member> {
        if !matches!(self.connection_of(room_id), Connection::Connected) {
            return Vec::new();
        }
        lock(&self.inner.live)
            .get(&room_id)
            .map(|l| l.members.clone())
            .unwrap_or_default()
    }

    /// A page of cached history (newest first page when `before_seq` is `None`). When the
    /// cache runs out before seq 1, the older page is fetched from the host and
    /// announced with [`AppEvent::HistoryLoaded`].
    pub fn messages(
        &self,
        room_id: Uuid,
        before_seq: Option<u64>,
        limit: u32,
    ) -> Result<MessagePage, AppError> {
        let store = &self.inner.store;
        let messages = store.cached_messages(room_id, before_seq, limit.clamp(1, 500))?;
        let oldest = messages.first().map(|m| m.seq).or(before_seq);
        let at_start = match oldest {
            Some(s) => s <= 1,
            None => store.last_message(room_id)?.is_none(),
        };
        if messages.len() < limit as usize && !at_start {
            if let Some(client) = self.client_for(room_id) {
                let _ = client.history(room_id, oldest);
            }
        }
        let pending = store
            .outbox(room_id)?
            .into_iter()
            .map(|e| PendingView {
                room_id,
                client_msg_id: e.client_msg_id,
                text: e.text,
                created_at: e.created_at,
            })
            .collect();
        Ok(MessagePage {
            room_id,
            at_start,
            messages,
            pending,
        })
    }

    fn client_for(&self, room_id: Uuid) -> Option<Client> {
        lock(&self.inner.sessions)
            .values()
            .find(|s| s.rooms.contains(&room_id))
            .map(|s| s.client.clone())
    }

    /// Queues a message. It is in the persisted outbox when this returns and is delivered
    /// exactly once, whenever the host is reachable.
    pub fn send(&self, room_id: Uuid, text: &str) -> Result<PendingView, AppError> {
        if text.trim().is_empty() {
            return Err(AppError::Invalid("the message is empty".into()));
        }
        let client = self.client_for(room_id).ok_or(AppError::NotJoined)?;
        let e = client.send(room_id, text)?;
        Ok(PendingView {
            room_id,
            client_msg_id: e.client_msg_id,
            text: e.text,
            created_at: e.created_at,
        })
    }

    pub fn typing(&self, room_id: Uuid, active: bool) {
        if let Some(c) = self.client_for(room_id) {
            let _ = c.typing(room_id, active);
        }
    }

    pub fn mark_read(&self, room_id: Uuid, seq: u64) -> Result<(), AppError> {
        Ok(self.inner.store.set_read_seq(room_id, seq)?)
    }

    /// Joins by invite link or `host:port`. The outcome arrives as [`AppEvent::Joined`]
    /// or [`AppEvent::JoinFailed`].
    pub fn join_link(
        &self,
        link: &str,
        passcode: Option<String>,
    ) -> Result<Option<Uuid>, AppError> {
        let invite = Invite::parse(link)?;
        let address = invite.authority();
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
            .ok_or(AppError::Unreachable)?;
        self.attach(
            room_id,
            &room.invite_for(addr).authority(),
            Some(passcode),
            expected,
        );
        Ok(())
    }

    /// Trusts a host's new certificate for a room (after the user compared it), and
    /// reconnects.
    pub fn trust_fingerprint(&self, room_id: Uuid, fingerprint: &str) -> Result<(), AppError> {
        let fp = hearth::tls::normalize_fingerprint(fingerprint)
            .ok_or_else(|| AppError::Invalid("not a SHA-256 fingerprint".into()))?;
        let address = lock(&self.inner.sessions)
            .iter()
            .find(|(_, s)| s.rooms.contains(&room_id))
            .map(|(a, _)| a.clone())
            .or_else(|| {
                let joined = self.inner.store.joined_room(room_id).ok().flatten();
                joined.map(|r| r.address)
            });
        let Some(address) = address else {
            return Err(AppError::NotFound);
        };
        self.pin_host(room_id, &address, &fp)?;
        // The old client stopped at the mismatch; a new one picks up the new pin.
        let rooms = self
            .end_session(&address, false)
            .unwrap_or_else(|| vec![room_id]);
        for r in rooms {
            self.attach(r, &address, None, None);
        }
        Ok(())
    }

    /// Pins `fp` for a room and for its host's address: later clients insist on it.
    fn pin_host(&self, room_id: Uuid, address: &str, fp: &str) -> Result<(), AppError> {
        let store = &self.inner.store;
        store.pin(&hearth::client::pin_key_room(room_id), fp)?;
        store.pin(&hearth::client::pin_key_addr(address), fp)?;
        Ok(())
    }

    /// Stops the client of `address` (only if it is not connected, with `only_if_down`)
    /// and returns the rooms it held, to be attached again to a fresh client.
    fn end_session(&self, address: &str, only_if_down: bool) -> Option<Vec<Uuid>> {
        let old = {
            let mut sessions = lock(&self.inner.sessions);
            let up = sessions
                .get(address)
                .is_some_and(|s| matches!(s.connection, Connection::Connected));
            if only_if_down && up {
                return None;
            }
            sessions.remove(address)?
        };
        old.client.shutdown();
        Some(old.rooms.into_iter().collect())
    }

    /// Leaves a room and forgets its local history.
    pub fn leave(&self, room_id: Uuid) -> Result<(), AppError> {
        let mut sessions = lock(&self.inner.sessions);
        let mut empty = None;
        for (addr, s) in sessions.iter_mut() {
            if s.rooms.remove(&room_id) {
                let _ = s.client.leave(room_id);
                if s.rooms.is_empty() {
                    empty = Some(addr.clone());
                }
            }
        }
        if let Some(addr) = empty {
            if let Some(s) = sessions.remove(&addr) {
                s.client.shutdown();
            }
        }
        drop(sessions);
        self.inner.store.forget_room(room_id)?;
        Ok(())
    }

    /// Routes a room to the client for `address`, creating it if needed. A room that
    /// moved (the host came back on another address) leaves its old session.
    /// `passcode`: `None` = rejoin from the store (token), `Some(p)` = a user's join.
    fn attach(
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
            if fresh || passcode.is_some() {
                let _ = s.client.join(room_id, passcode.flatten());
            }
        }
    }

    fn attach_any(&self, address: &str, passcode: Option<String>) {
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
                Ok(Some(rooms)) if rooms.is_empty() => {
                    app.emit(fail("that host has no rooms".into()))
                }
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

    fn new_session(&self, address: &str, fingerprint: Option<String>) -> Result<Session, AppError> {
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
        tokio::spawn(pump(self.clone(), address.to_string(), events));
        Ok(Session {
            client,
            rooms: HashSet::new(),
            connection: Connection::Connecting,
        })
    }

    // ----- hosting -----

    /// Hosts a room (reopening it, with its history, if one of that name was hosted
    /// here before) and joins it. Returns its invite link.
    pub async fn host_room(
        &self,
        name: &str,
        passcode: Option<String>,
    ) -> Result<HostedView, AppError> {
        let name = normalize_name(name).ok_or(AppError::InvalidName)?;
        let passcode = passcode.filter(|p| !p.is_empty());
        let mut hosting = self.inner.hosting.lock().await;
        if hosting.is_none() {
            let host_name = lock(&self.inner.name).clone();
            *hosting = Some(
                Hosting::start(
                    Arc::clone(&self.inner.store),
                    &self.inner.config.data_dir,
                    host_name,
                    self.inner.config.bind,
                    self.inner.config.mdns.clone(),
                )
                .await?,
            );
        }
        let h = hosting.as_ref().ok_or(AppError::NotFound)?;
        let summary = h.open(&name, passcode.as_deref())?;
        let view = HostedView {
            room_id: summary.room_id,
            name: summary.name.clone(),
            has_passcode: summary.has_passcode,
            invite: h.invite(summary.room_id).to_string(),
            online: summary.online,
        };
        let local = h.local_address();
        let fingerprint = h.host.fingerprint().map(str::to_string);
        let views = h.views();
        drop(hosting);
        // Our own host's certificate is known, not learned: pin it, so a certificate made
        // anew (a lost key file) is not mistaken for an impostor by our own client.
        if let Some(fp) = &fingerprint {
            self.pin_host(summary.room_id, &local, fp)?;
        }
        // A session to our own host from before it ran (restored at start) may have
        // stopped at the old certificate or be waiting out its backoff: start afresh.
        let stale = self.end_session(&local, true).unwrap_or_default();
        for r in stale.into_iter().filter(|r| *r != summary.room_id) {
            self.attach(r, &local, None, fingerprint.clone());
        }
        self.attach(summary.room_id, &local, Some(passcode), fingerprint);
        self.emit(AppEvent::Hosting { rooms: views });
        Ok(view)
    }

    pub async fn hosted(&self) -> Vec<HostedView> {
        match &*self.inner.hosting.lock().await {
            Some(h) => h.views(),
            None => Vec::new(),
        }
    }

    /// Stops hosting a room: members are disconnected, goodbyes go out, history stays.
    pub async fn stop_hosting(&self, room_id: Uuid) -> Result<(), AppError> {
        let mut hosting = self.inner.hosting.lock().await;
        let Some(h) = hosting.as_ref() else {
            return Err(AppError::NotFound);
        };
        if !h.close(room_id).await {
            return Err(AppError::NotFound);
        }
        let views = h.views();
        if views.is_empty() {
            if let Some(h) = hosting.take() {
                h.shutdown().await;
            }
        }
        drop(hosting);
        self.emit(AppEvent::Hosting { rooms: views });
        Ok(())
    }

    // ----- discovery -----

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

    fn start_browsing(&self) {
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
            }
            browser.shutdown().await;
        });
    }

    fn on_discovery(&self, ev: BrowseEvent) {
        match &ev {
            BrowseEvent::Added(r) | BrowseEvent::Updated(r) => {
                lock(&self.inner.discovered).insert(r.room_id, r.clone());
                self.follow_moved_host(r);
            }
            BrowseEvent::Removed(r) => {
                lock(&self.inner.discovered).remove(&r.room_id);
            }
        }
        self.emit(AppEvent::Discovery {
            rooms: self.discovered(),
        });
    }

    /// A joined room whose host is unreachable but announced on a new address (DHCP gave
    /// it another IP, or it restarted on another port) follows it there.
    fn follow_moved_host(&self, r: &DiscoveredRoom) {
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

    /// Quits cleanly: goodbyes for hosted rooms, close frames, the log flushed.
    pub async fn shutdown(&self) {
        if let Some(stop) = lock(&self.inner.browser_stop).take() {
            let _ = stop.send(());
        }
        if let Some(h) = self.inner.hosting.lock().await.take() {
            h.shutdown().await;
        }
        let sessions: Vec<Session> = lock(&self.inner.sessions).drain().map(|(_, s)| s).collect();
        for s in sessions {
            s.client.shutdown();
        }
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.inner.store
    }

    pub fn user_id(&self) -> Uuid {
        self.inner.user_id
    }
}

fn connection_view(s: &ConnectionState) -> Connection {
    match s {
        ConnectionState::Connecting => Connection::Connecting,
        ConnectionState::Connected => Connection::Connected,
        ConnectionState::Reconnecting {
            attempt,
            retry_in,
            reason,
            host_down,
        } => Connection::Reconnecting {
            attempt: *attempt,
            retry_in_ms: retry_in.as_millis() as u64,
            reason: reason.clone(),
            host_down: *host_down,
        },
        ConnectionState::Closed { reason } => Connection::Closed {
            reason: reason.clone(),
        },
    }
}

/// Turns one client's events into app events, keeping the live room state current.
async fn pump(app: App, address: String, mut events: mpsc::Receiver<ClientEvent>) {
    while let Some(ev) = events.recv().await {
        let inner = &app.inner;
        match ev {
            ClientEvent::State(s) => {
                let connection = connection_view(&s);
                let rooms: Vec<Uuid> = {
                    let mut sessions = lock(&inner.sessions);
                    match sessions.get_mut(&address) {
                        Some(sess) => {
                            sess.connection = connection.clone();
                            sess.rooms.iter().copied().collect()
                        }
                        // A replaced session's last words.
                        None => continue,
                    }
                };
                app.emit(AppEvent::Connection {
                    address: address.clone(),
                    rooms,
                    connection,
                });
            }
            ClientEvent::Welcome(_) | ClientEvent::Secured { .. } => {}
            ClientEvent::FingerprintMismatch {
                address: addr,
                expected,
                presented,
            } => {
                let rooms = lock(&inner.sessions)
                    .get(&address)
                    .map(|s| s.rooms.iter().copied().collect())
                    .unwrap_or_default();
                app.emit(AppEvent::FingerprintMismatch {
                    address: addr,
                    rooms,
                    expected,
                    presented,
                });
            }
            ClientEvent::Joined { room, members } => {
                lock(&inner.live).insert(
                    room.room_id,
                    RoomLive {
                        members: members.clone(),
                        online: room.online,
                    },
                );
                let hosted = app.hosted_ids().await;
                let joined = inner.store.joined_room(room.room_id).ok().flatten();
                if let Some(j) = joined {
                    if let Ok(view) = app.room_view(&j, &hosted) {
                        app.emit(AppEvent::Joined {
                            room: view,
                            members,
                        });
                    }
                }
            }
            ClientEvent::Synced { room_id, head_seq } => {
                app.emit(AppEvent::Synced { room_id, head_seq })
            }
            ClientEvent::Message(message) => app.emit(AppEvent::Message { message }),
            ClientEvent::Ack {
                room_id,
                client_msg_id,
                seq,
                ts,
            } => app.emit(AppEvent::Ack {
                room_id,
                client_msg_id,
                seq,
                ts,
            }),
            ClientEvent::SendFailed {
                room_id,
                client_msg_id,
                error,
            } => app.emit(AppEvent::SendFailed {
                room_id,
                client_msg_id,
                code: error.code,
                message: error.message,
            }),
            ClientEvent::Presence(p) => {
                {
                    let mut live = lock(&inner.live);
                    let l = live.entry(p.room_id).or_default();
                    l.online = p.online;
                    l.members.retain(|m| m.user_id != p.member.user_id);
                    if p.event != PresenceEvent::Leave && p.event != PresenceEvent::Timeout {
                        l.members.push(p.member.clone());
                        l.members.sort_by_key(|m| m.name.to_lowercase());
                    }
                }
                if let Some(h) = &*inner.hosting.lock().await {
                    h.refresh().await;
                }
                app.emit(AppEvent::Presence {
                    room_id: p.room_id,
                    event: p.event,
                    member: p.member,
                    online: p.online,
                });
            }
            ClientEvent::Typing(t) => app.emit(AppEvent::Typing {
                room_id: t.room_id,
                member: t.member,
                active: t.active,
            }),
            ClientEvent::HistoryPage(p) => app.emit(AppEvent::HistoryLoaded {
                room_id: p.room_id,
                has_more: p.has_more,
            }),
            ClientEvent::JoinFailed { room_id, error } => {
                // A refused room is not ours to keep trying.
                if let Some(s) = lock(&inner.sessions).get_mut(&address) {
                    s.rooms.remove(&room_id);
                }
                app.emit(AppEvent::JoinFailed {
                    room_id: Some(room_id),
                    code: error.code,
                    message: error.message,
                    retry_after_ms: error.retry_after_ms,
                });
            }
            ClientEvent::Left { .. } => {}
            ClientEvent::Error(e) => app.emit(AppEvent::Error {
                room_id: e.room_id,
                code: Some(e.code),
                message: e.message,
            }),
        }
    }
}
