//! The app model: one object the desktop shell (or a test) drives with commands and
//! listens to through [`AppEvent`]s. It owns the store, the embedded host, one client per
//! host address, and the LAN browser.

mod discovery;
mod events;
mod files;
mod hosted;
mod people;
mod rooms;
mod sessions;

use events::pump;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hearth::discovery::{DiscoveredRoom, MdnsConfig};
use hearth::protocol::{normalize_name, Member};
use hearth::{Client, Store, DEFAULT_PORT};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::views::*;
use crate::AppError;
use hearth::Hosting;

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
/// Events queued for the UI at most (see [`App::emit`]). The largest events are
/// messages (at most a host's text limit), so this holds some megabytes at worst.
pub const EVENT_QUEUE: usize = 1024;
/// How often rooms whose host is not hosting them are asked for again.
const NOT_HOSTED_RETRY: Duration = Duration::from_secs(5);

#[derive(Default)]
struct RoomLive {
    members: Vec<Member>,
    online: u32,
    /// The host owner's user id, as the host said in `joined`.
    owner_id: Option<Uuid>,
}

struct Inner {
    config: AppConfig,
    store: Arc<Store>,
    user_id: Uuid,
    host_id: Uuid,
    name: Mutex<String>,
    events: mpsc::Sender<AppEvent>,
    /// Events were dropped at the queue's bound and an [`AppEvent::Resync`] is on its way.
    resync_pending: Arc<std::sync::atomic::AtomicBool>,
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
    transfers: files::Transfers,
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
    pub async fn start(config: AppConfig) -> Result<(App, mpsc::Receiver<AppEvent>), AppError> {
        let store = Arc::new(Store::open(&config.data_dir)?);
        let transfers = files::Transfers::open(&config.data_dir)?;
        let user_id = store.user_id()?;
        let host_id = store.host_id()?;
        let name = store.setting(NAME_KEY)?.unwrap_or_else(os_user_name);
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        let app = App {
            inner: Arc::new(Inner {
                config,
                store,
                user_id,
                host_id,
                name: Mutex::new(name),
                events: tx,
                resync_pending: Arc::default(),
                sessions: Mutex::new(HashMap::new()),
                live: Mutex::new(HashMap::new()),
                discovered: Mutex::new(HashMap::new()),
                hosting: tokio::sync::Mutex::new(None),
                hosted_now: Mutex::new(HashSet::new()),
                access: Mutex::new(HashMap::new()),
                user_joins: Mutex::new(HashSet::new()),
                browser_stop: Mutex::new(None),
                runtime: tokio::runtime::Handle::current(),
                transfers,
            }),
        };
        for room in app.inner.store.joined_rooms()? {
            app.attach(room.room_id, &room.address, None, None);
        }
        // Messages with files the last run did not finish sending.
        if let Err(e) = app.resume_sends() {
            tracing::warn!(error = %e, "could not resume the queued file messages");
        }
        app.start_browsing();
        app.spawn_not_hosted_retry();
        if app.settings()?.resume_hosting {
            let app = app.clone();
            tokio::spawn(async move { app.resume_hosting().await });
        }
        Ok((app, rx))
    }

    /// Queues an event for the UI without waiting. Past [`EVENT_QUEUE`] events the UI is
    /// not keeping up (or has not subscribed yet): further ones are dropped, and one
    /// [`AppEvent::Resync`] follows as soon as there is room, upon which the UI reads its
    /// state afresh from the app (the cache holds every message the events carried).
    pub(super) fn emit(&self, e: AppEvent) {
        use std::sync::atomic::Ordering;
        let Err(mpsc::error::TrySendError::Full(_)) = self.inner.events.try_send(e) else {
            return;
        };
        if self.inner.resync_pending.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::debug!("the UI is behind on events; it will be told to resync");
        let (tx, pending) = (
            self.inner.events.clone(),
            Arc::clone(&self.inner.resync_pending),
        );
        self.inner.runtime.spawn(async move {
            let _ = tx.send(AppEvent::Resync).await;
            // Cleared only once it is queued, so one task waits at a time. An event dropped
            // meanwhile is covered too: the UI reads the state when it takes the resync.
            pending.store(false, Ordering::Release);
        });
    }

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
