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
    /// Tells this session from a later one at the same address.
    id: u64,
    client: Client,
    rooms: HashSet<Uuid>,
    connection: Connection,
    /// The host's text limit, from its `welcome`.
    max_text_chars: usize,
}

/// Until a host says otherwise (its `welcome`), the protocol's default.
const DEFAULT_MAX_TEXT_CHARS: usize = 4000;
/// How often rooms whose host is not hosting them are asked for again.
const NOT_HOSTED_RETRY: Duration = Duration::from_secs(5);

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
    /// The rooms hosted right now, kept beside `hosting` for readers that must not wait:
    /// `hosting` stays locked while a host starts or stops, which can take seconds.
    hosted_now: Mutex<HashSet<Uuid>>,
    /// Rooms that cannot be chatted in for a reason other than the connection.
    access: Mutex<HashMap<Uuid, RoomAccess>>,
    /// Joins the user asked for and that have not been answered yet: their failure is
    /// the user's to see (wrong passcode...), not a room to keep trying.
    user_joins: Mutex<HashSet<Uuid>>,
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
/// The rooms being hosted (JSON list of ids): hosted again at start.
const HOSTING_KEY: &str = "hosting_rooms";

fn draft_key(room_id: Uuid) -> String {
    format!("draft:{room_id}")
}

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
                hosted_now: Mutex::new(HashSet::new()),
                access: Mutex::new(HashMap::new()),
                user_joins: Mutex::new(HashSet::new()),
                browser_stop: Mutex::new(None),
                runtime: tokio::runtime::Handle::current(),
            }),
        };
        for room in app.inner.store.joined_rooms()? {
            app.attach(room.room_id, &room.address, None, None);
        }
        app.start_browsing();
        app.spawn_not_hosted_retry();
        if app.settings()?.resume_hosting {
            let app = app.clone();
            tokio::spawn(async move { app.resume_hosting().await });
        }
        Ok((app, rx))
    }

    /// Hosts again the rooms that were hosted when the app last quit.
    async fn resume_hosting(&self) {
        let ids = self.hosting_list();
        let Ok(hosted) = self.inner.store.hosted_rooms() else {
            return;
        };
        for room in hosted.iter().filter(|r| ids.contains(&r.room_id)) {
            if let Err(e) = self.host_room(&room.name, None, true).await {
                tracing::warn!(room = %room.name, error = %e, "cannot host the room again");
                self.emit(AppEvent::Error {
                    room_id: Some(room.room_id),
                    code: None,
                    message: format!("Could not host {} again: {}", room.name, e.message()),
                });
            }
        }
    }

    fn hosting_list(&self) -> Vec<Uuid> {
        self.inner
            .store
            .setting(HOSTING_KEY)
            .ok()
            .flatten()
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default()
    }

    fn set_hosting_list(&self, ids: &[Uuid]) -> Result<(), AppError> {
        let json = serde_json::to_string(ids).map_err(|e| AppError::Invalid(e.to_string()))?;
        Ok(self.inner.store.set_setting(HOSTING_KEY, &json)?)
    }

    /// Asks again, every few seconds, for rooms whose host runs but does not host them
    /// (it stopped hosting): they come back by themselves when it hosts them again,
    /// even where no LAN announcement reaches us.
    fn spawn_not_hosted_retry(&self) {
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
    fn retry_not_hosted(&self, only: Option<Uuid>) {
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

    fn access(&self, room_id: Uuid) -> RoomAccess {
        lock(&self.inner.access)
            .get(&room_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Records and announces a room's access, if it changed.
    fn set_access(&self, room_id: Uuid, access: RoomAccess) {
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
        overview: hearth::store::RoomOverview,
        hosted: &HashSet<Uuid>,
        hostable: &HashSet<Uuid>,
    ) -> RoomView {
        let room = &overview.room;
        // One look at the room's session for both its connection and its host's limit.
        let (connection, max_text_chars) = lock(&self.inner.sessions)
            .values()
            .find(|s| s.rooms.contains(&room.room_id))
            .map(|s| (s.connection.clone(), s.max_text_chars))
            .unwrap_or((
                Connection::Closed {
                    reason: "not connected".into(),
                },
                DEFAULT_MAX_TEXT_CHARS,
            ));
        let online = match connection {
            Connection::Connected => lock(&self.inner.live)
                .get(&room.room_id)
                .map(|l| l.online)
                .unwrap_or(0),
            _ => 0,
        };
        RoomView {
            room_id: room.room_id,
            name: room.name.clone(),
            address: room.address.clone(),
            host_name: room.host_name.clone(),
            has_passcode: room.has_passcode,
            unread: overview.unread,
            last_message: overview.last_message,
            connection,
            online,
            hosted_by_me: hosted.contains(&room.room_id),
            hostable: hostable.contains(&room.room_id),
            read_seq: room.read_seq,
            fingerprint: overview.fingerprint,
            draft: overview.setting.unwrap_or_default(),
            access: self.access(room.room_id),
            max_text_chars,
        }
    }

    fn hostable_ids(&self) -> Result<HashSet<Uuid>, AppError> {
        Ok(self
            .inner
            .store
            .hosted_rooms()?
            .into_iter()
            .map(|h| h.room_id)
            .collect())
    }

    fn hosted_ids(&self) -> HashSet<Uuid> {
        lock(&self.inner.hosted_now).clone()
    }

    /// Records which rooms are hosted now (after a room opened or closed).
    fn set_hosted_now(&self, views: &[HostedView]) {
        *lock(&self.inner.hosted_now) = views.iter().map(|v| v.room_id).collect();
    }

    /// "Your rooms": every room joined, with unread counts and reachability.
    pub async fn rooms(&self) -> Result<Vec<RoomView>, AppError> {
        let hosted = self.hosted_ids();
        // SQLite off the runtime, in a fixed number of queries (not a few per room).
        let app = self.clone();
        tokio::task::spawn_blocking(move || {
            let hostable = app.hostable_ids()?;
            let overviews = app
                .inner
                .store
                .room_overviews(app.inner.user_id, draft_key)?;
            Ok(overviews
                .into_iter()
                .map(|o| app.room_view(o, &hosted, &hostable))
                .collect())
        })
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
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

    /// Saves the composer's draft for a room ("" clears it); it survives a restart.
    pub fn set_draft(&self, room_id: Uuid, text: &str) -> Result<(), AppError> {
        let key = draft_key(room_id);
        if text.is_empty() {
            self.inner.store.delete_setting(&key)?;
        } else {
            self.inner.store.set_setting(&key, text)?;
        }
        Ok(())
    }

    pub fn typing(&self, room_id: Uuid, active: bool) {
        if let Some(c) = self.client_for(room_id) {
            let _ = c.typing(room_id, active);
        }
    }

    pub fn mark_read(&self, room_id: Uuid, seq: u64) -> Result<(), AppError> {
        Ok(self.inner.store.set_read_seq(room_id, seq)?)
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
            if self.access(room_id) == RoomAccess::NotHosted {
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
    fn address_of(&self, room_id: Uuid) -> Option<String> {
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
    fn pin_host(&self, room_id: Uuid, address: &str, fp: &str) -> Result<(), AppError> {
        let store = &self.inner.store;
        store.replace_pin(&hearth::client::pin_key_room(room_id), fp)?;
        store.replace_pin(&hearth::client::pin_key_addr(address), fp)?;
        Ok(())
    }

    /// Stops the client of `address` (with `only_if_down`, only if it is neither
    /// connected nor trying right now: a join in flight may carry a passcode that a fresh
    /// client would not have) and returns the rooms it held, to be attached again.
    fn end_session(&self, address: &str, only_if_down: bool) -> Option<Vec<Uuid>> {
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
        lock(&self.inner.access).remove(&room_id);
        lock(&self.inner.user_joins).remove(&room_id);
        self.inner.store.delete_setting(&draft_key(room_id))?;
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
            if passcode.is_some() {
                lock(&self.inner.user_joins).insert(room_id);
            }
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

    // ----- hosting -----

    /// Hosts a room (reopening it, with its history, if one of that name was hosted
    /// here before) and joins it. Returns its invite link. `keep_passcode` reopens a
    /// room with the passcode it had (`passcode` is then ignored); otherwise `passcode`
    /// replaces it (`None`: no passcode).
    pub async fn host_room(
        &self,
        name: &str,
        passcode: Option<String>,
        keep_passcode: bool,
    ) -> Result<HostedView, AppError> {
        let name = normalize_name(name).ok_or(AppError::InvalidName)?;
        let passcode = passcode.filter(|p| !p.is_empty() && !keep_passcode);
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
        let summary = h.open(&name, passcode.clone(), keep_passcode).await?;
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
        self.set_hosted_now(&views);
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
        if keep_passcode && summary.has_passcode {
            // We kept the hash, not the passcode: our own client gets in by a token the
            // host issues to us (host and client share this store).
            let token = hearth::passcode::new_token();
            let store = &self.inner.store;
            store.put_room_token(
                summary.room_id,
                self.inner.user_id,
                &hearth::passcode::token_hash(&token),
            )?;
            store.set_resume_token(summary.room_id, Some(&token))?;
        }
        self.set_access(summary.room_id, RoomAccess::Ok);
        // Our own client joins with the passcode typed, or (kept) with its token.
        self.attach(summary.room_id, &local, Some(passcode), fingerprint);
        if let Some(c) = lock(&self.inner.sessions).get(&local) {
            // A try in progress that fails (the host only just bound) must not wait out
            // a backoff.
            let _ = c.client.reconnect_now();
        }
        let mut ids = self.hosting_list();
        if !ids.contains(&summary.room_id) {
            ids.push(summary.room_id);
            self.set_hosting_list(&ids)?;
        }
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
        self.set_hosted_now(&views);
        let mut ids = self.hosting_list();
        ids.retain(|r| *r != room_id);
        self.set_hosting_list(&ids)?;
        // Said at once: our own client learns it only after its reconnect.
        self.set_access(room_id, RoomAccess::NotHosted);
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
    fn on_discovery(&self, ev: BrowseEvent) {
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

    /// A room announced again is asked for at once if its host was not hosting it, and
    /// tried again after a certificate warning if the announcement carries the pinned
    /// certificate (the genuine host is back).
    fn follow_announcement(&self, r: &DiscoveredRoom) {
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

    /// Quits cleanly: goodbyes for hosted rooms, close frames, the log flushed.
    pub async fn shutdown(&self) {
        if let Some(stop) = lock(&self.inner.browser_stop).take() {
            let _ = stop.send(());
        }
        if let Some(h) = self.inner.hosting.lock().await.take() {
            h.shutdown().await;
        }
        self.set_hosted_now(&[]);
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
async fn pump(app: App, address: String, id: u64, mut events: mpsc::Receiver<ClientEvent>) {
    while let Some(ev) = events.recv().await {
        let inner = &app.inner;
        // A replaced session's last words ("closed", a stale member list) must not
        // overwrite the state of the session that replaced it at the same address; the
        // messages it stored are still news.
        let current = lock(&inner.sessions)
            .get(&address)
            .is_some_and(|s| s.id == id);
        if !current
            && !matches!(
                ev,
                ClientEvent::Message(_) | ClientEvent::Ack { .. } | ClientEvent::SendFailed { .. }
            )
        {
            continue;
        }
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
                        None => continue,
                    }
                };
                app.emit(AppEvent::Connection {
                    address: address.clone(),
                    rooms,
                    connection,
                });
            }
            ClientEvent::Welcome(w) => {
                if let Some(s) = lock(&inner.sessions).get_mut(&address) {
                    s.max_text_chars = w.limits.max_text_chars;
                }
            }
            ClientEvent::Secured { .. } => {}
            ClientEvent::FingerprintMismatch {
                address: addr,
                expected,
                presented,
            } => {
                let rooms: Vec<Uuid> = lock(&inner.sessions)
                    .get(&address)
                    .map(|s| s.rooms.iter().copied().collect())
                    .unwrap_or_default();
                for r in &rooms {
                    app.set_access(
                        *r,
                        RoomAccess::IdentityChanged {
                            address: addr.clone(),
                            expected: expected.clone(),
                            presented: presented.clone(),
                        },
                    );
                }
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
                lock(&inner.user_joins).remove(&room.room_id);
                app.set_access(room.room_id, RoomAccess::Ok);
                let hosted = app.hosted_ids();
                let (reader, room_id) = (app.clone(), room.room_id);
                // SQLite off the runtime: this task pumps every event of the session.
                let read = tokio::task::spawn_blocking(move || {
                    let hostable = reader.hostable_ids().unwrap_or_default();
                    let store = &reader.inner.store;
                    let overview = store.room_overview(room_id, reader.inner.user_id, draft_key);
                    (hostable, overview)
                })
                .await;
                if let Ok((hostable, Ok(Some(overview)))) = read {
                    app.emit(AppEvent::Joined {
                        room: Box::new(app.room_view(overview, &hosted, &hostable)),
                        members,
                    });
                }
            }
            ClientEvent::Synced { room_id, head_seq } => {
                app.emit(AppEvent::Synced { room_id, head_seq })
            }
            ClientEvent::HistoryDiverged { room_id, set_aside } => {
                app.emit(AppEvent::HistoryDiverged {
                    room_id,
                    set_aside: u32::try_from(set_aside).unwrap_or(u32::MAX),
                })
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
                // Never wait for a host that is starting or stopping: every room's events
                // come through here. The re-announce ticker refreshes it later anyway.
                if let Ok(hosting) = inner.hosting.try_lock() {
                    if let Some(h) = &*hosting {
                        h.refresh().await;
                    }
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
                let asked = lock(&inner.user_joins).remove(&room_id);
                let known = inner.store.joined_room(room_id).ok().flatten().is_some();
                if known {
                    // A room of "Your rooms" stays there, saying what it needs.
                    let access = match error.code {
                        ErrorCode::UnknownRoom => Some(RoomAccess::NotHosted),
                        ErrorCode::PasscodeRequired
                        | ErrorCode::WrongPasscode
                        | ErrorCode::Throttled => Some(RoomAccess::NeedsPasscode {
                            message: error.message.clone(),
                        }),
                        _ => None,
                    };
                    if let Some(a) = access {
                        app.set_access(room_id, a);
                    }
                } else if let Some(s) = lock(&inner.sessions).get_mut(&address) {
                    // A refused new room is not ours to keep trying.
                    s.rooms.remove(&room_id);
                }
                if asked || !known {
                    app.emit(AppEvent::JoinFailed {
                        room_id: Some(room_id),
                        code: error.code,
                        message: error.message,
                        retry_after_ms: error.retry_after_ms,
                    });
                }
            }
            ClientEvent::Left { .. } => {}
            // A rate-limited send is retried by the client and loses nothing: not news.
            ClientEvent::Error(e)
                if e.code == ErrorCode::RateLimited && e.request.as_deref() == Some("send") => {}
            ClientEvent::Error(e) => app.emit(AppEvent::Error {
                room_id: e.room_id,
                code: Some(e.code),
                message: e.message,
            }),
        }
    }
}
