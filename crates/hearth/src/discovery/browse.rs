//! Browsing: a live list of rooms on the LAN.
//!
//! Two mdns-sd daemons work together:
//! - the *watcher* browses continuously. It hears announcements, TXT changes and
//!   goodbyes as they happen.
//! - the *sweeper* restarts its browse every [`BrowseConfig::sweep_interval`] with an
//!   empty cache, so its query carries no known answers and every live host answers
//!   it. That answer is the proof of life: mdns-sd publishes fixed TTLs (120 s for SRV
//!   and addresses, 75 min for PTR and TXT) that cannot be shortened through its API,
//!   so a host that lost power would otherwise linger for minutes.
//!
//! mdns-sd ends a browse whose event channel fills, and a daemon's cache outlives
//! that: browsing the same daemon again replays the cache, which fills the channel
//! again. So a daemon whose browse ended is replaced by a fresh one (seen under a flood
//! of fake announcements, which otherwise kept the fakes alive for the records' TTL).
//!
//! An entry is removed on a goodbye, or once no answer confirmed it for
//! [`BrowseConfig::liveness_timeout`]. Entries are keyed by room id, so a room seen on
//! several interfaces, addresses or instance names is one entry.

use std::collections::{BTreeMap, HashMap};
use std::net::{SocketAddr, SocketAddrV6};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mdns_sd::{Receiver, ResolvedService, ScopedIp, ServiceDaemon, ServiceEvent};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::connect::{connect_order, LocalNet};
use super::txt::RoomTxt;
use super::{stop_daemon, DiscoveryError, MdnsConfig, SERVICE_TYPE};
use crate::invite::Invite;
use crate::protocol::PROTOCOL_VERSION;

/// See [`BrowseConfig::sweep_interval`].
const MIN_SWEEP: Duration = Duration::from_secs(1);

/// How long after a goodbye the sweeper's answers for that instance are ignored.
const GOODBYE_QUARANTINE: Duration = Duration::from_millis(1500);

/// Announced instances tracked at once. A LAN neighbour can announce any number of fake
/// rooms; past this many, new ones are ignored (those known keep updating, and a slot
/// frees when one expires), so memory and the work per change stay bounded.
pub const MAX_INSTANCES: usize = 512;

/// Changes waiting for the consumer. Past this many, changes are dropped and the next
/// event is a [`BrowseEvent::Resync`] with the whole list.
const EVENT_QUEUE: usize = 1024;

/// Daemon events taken in before the list is published again.
const DRAIN_BATCH: usize = 4096;

#[derive(Debug, Clone)]
pub struct BrowseConfig {
    pub mdns: MdnsConfig,
    /// This install's host id: its rooms are marked [`DiscoveredRoom::ours`].
    pub own_host_id: Option<Uuid>,
    /// How often every host is asked to confirm its rooms. At least 1 s: responders
    /// multicast a record at most once a second (RFC 6762 §6), so faster sweeps go
    /// unanswered.
    pub sweep_interval: Duration,
    /// A room that no answer confirmed for this long is removed.
    pub liveness_timeout: Duration,
}

impl Default for BrowseConfig {
    /// A 2 s sweep and a 5 s timeout: a vanished host's rooms go within about 5.3 s
    /// (the timeout plus one 250 ms check), and a lost answer is tolerated (mdns-sd
    /// also repeats each sweep's query after 1 s).
    fn default() -> Self {
        BrowseConfig {
            mdns: MdnsConfig::default(),
            own_host_id: None,
            sweep_interval: Duration::from_secs(2),
            liveness_timeout: Duration::from_secs(5),
        }
    }
}

/// A room found on the LAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredRoom {
    pub room_id: Uuid,
    pub name: String,
    pub host_name: Option<String>,
    pub host_id: Option<Uuid>,
    pub has_passcode: bool,
    pub protocol_version: u32,
    /// TLS certificate fingerprint from TXT, to pin on first use (reserved).
    pub fingerprint: Option<String>,
    /// Members online when last announced.
    pub online: Option<u32>,
    pub port: u16,
    /// Every resolved address, in the order a join should try them
    /// (see [`connect_order`]). IPv6 link-local ones carry their scope id.
    pub addresses: Vec<SocketAddr>,
    /// The DNS-SD instance full name, e.g. `General (Alice) #1a2b3c._hearth._tcp.local.`.
    pub instance: String,
    /// The SRV target host name.
    pub hostname: String,
    /// Hosted by this same install.
    pub ours: bool,
}

impl DiscoveredRoom {
    /// Whether the host speaks this build's protocol version.
    pub fn compatible(&self) -> bool {
        self.protocol_version == PROTOCOL_VERSION
    }

    /// An invite for one of the room's addresses.
    pub fn invite_for(&self, addr: SocketAddr) -> Invite {
        Invite {
            host: addr.ip().to_string(),
            port: addr.port(),
            room_id: Some(self.room_id),
            fingerprint: self.fingerprint.clone(),
        }
    }

    /// An invite for the preferred address. IPv6 link-local addresses are skipped: an
    /// invite link cannot carry their interface scope.
    pub fn invite(&self) -> Option<Invite> {
        self.joinable_addresses()
            .first()
            .map(|a| self.invite_for(*a))
    }

    /// The addresses a join may use, in order: all but IPv6 link-local.
    pub fn joinable_addresses(&self) -> Vec<SocketAddr> {
        self.addresses
            .iter()
            .filter(|a| match a {
                SocketAddr::V6(v6) => v6.ip().segments()[0] & 0xffc0 != 0xfe80,
                SocketAddr::V4(_) => true,
            })
            .copied()
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrowseEvent {
    Added(DiscoveredRoom),
    Updated(DiscoveredRoom),
    Removed(DiscoveredRoom),
    /// Changes came faster than they were taken and some were dropped: this is the whole
    /// list now, replacing what the consumer had.
    Resync(Vec<DiscoveredRoom>),
}

impl BrowseEvent {
    /// The room an event is about (`None` for a resync).
    pub fn room(&self) -> Option<&DiscoveredRoom> {
        match self {
            BrowseEvent::Added(r) | BrowseEvent::Updated(r) | BrowseEvent::Removed(r) => Some(r),
            BrowseEvent::Resync(_) => None,
        }
    }
}

/// The browser's side of the event queue: bounded, never blocking the browse task.
struct Events {
    tx: mpsc::Sender<BrowseEvent>,
    lagged: Arc<std::sync::atomic::AtomicBool>,
}

impl Events {
    fn send(&self, ev: BrowseEvent) {
        if self.tx.try_send(ev).is_err() {
            self.lagged
                .store(true, std::sync::atomic::Ordering::Release);
        }
    }
}

/// A running browse. Events arrive through [`Browser::next_event`]; [`Browser::rooms`]
/// is the current list.
pub struct Browser {
    events: mpsc::Receiver<BrowseEvent>,
    lagged: Arc<std::sync::atomic::AtomicBool>,
    rooms: Arc<Mutex<BTreeMap<Uuid, DiscoveredRoom>>>,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
    daemons: Daemons,
}

/// The current watcher and sweeper. The browse task replaces them; [`Browser`]'s drop
/// stops whichever are current.
type Daemons = Arc<Mutex<[ServiceDaemon; 2]>>;

const WATCHER: usize = 0;
const SWEEPER: usize = 1;

impl Browser {
    /// Starts browsing. Must be called within a Tokio runtime.
    pub fn start(mut config: BrowseConfig) -> Result<Browser, DiscoveryError> {
        config.sweep_interval = config.sweep_interval.max(MIN_SWEEP);
        let watcher = config.mdns.daemon()?;
        let sweeper = match config.mdns.daemon() {
            Ok(d) => d,
            Err(e) => {
                let _ = watcher.shutdown();
                return Err(e);
            }
        };
        super::advertise::spawn_monitor(&watcher);
        let watch_rx = watcher.browse(SERVICE_TYPE)?;
        let (tx, events) = mpsc::channel(EVENT_QUEUE);
        let lagged = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let rooms = Arc::new(Mutex::new(BTreeMap::new()));
        let stop = CancellationToken::new();
        let daemons: Daemons = Arc::new(Mutex::new([watcher, sweeper]));
        let state = State {
            config,
            instances: HashMap::new(),
            goodbyes: HashMap::new(),
            published: Arc::clone(&rooms),
            tx: Events {
                tx,
                lagged: Arc::clone(&lagged),
            },
            local: LocalNet::current(),
            full_logged: false,
        };
        let task = tokio::spawn(run(state, Arc::clone(&daemons), watch_rx, stop.clone()));
        Ok(Browser {
            events,
            lagged,
            rooms,
            stop,
            task: Some(task),
            daemons,
        })
    }

    /// The next change, or `None` once the browser has stopped. After changes were
    /// dropped (the queue was full), a [`BrowseEvent::Resync`] with the whole list.
    pub async fn next_event(&mut self) -> Option<BrowseEvent> {
        let ev = self.events.recv().await?;
        Some(self.resync_if_lagged().unwrap_or(ev))
    }

    /// A change already waiting, without waiting for one.
    pub fn try_next_event(&mut self) -> Option<BrowseEvent> {
        let ev = self.events.try_recv().ok()?;
        Some(self.resync_if_lagged().unwrap_or(ev))
    }

    fn resync_if_lagged(&mut self) -> Option<BrowseEvent> {
        if !self.lagged.swap(false, std::sync::atomic::Ordering::AcqRel) {
            return None;
        }
        // What is queued is older than the list: drop it and send the list.
        while self.events.try_recv().is_ok() {}
        Some(BrowseEvent::Resync(self.rooms()))
    }

    /// The rooms currently known, sorted by room id.
    pub fn rooms(&self) -> Vec<DiscoveredRoom> {
        self.rooms
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Stops browsing and both mDNS daemons.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.stop.cancel();
        if self.task.is_some() {
            // Not shut down properly: make sure the daemon threads end anyway.
            for d in self
                .daemons
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
            {
                let _ = d.shutdown();
            }
        }
    }
}

/// Which daemon reported something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Watcher,
    Sweeper,
}

struct Instance {
    /// The instance full name as received (map keys are lowercased).
    fullname: String,
    txt: RoomTxt,
    port: u16,
    hostname: String,
    /// Latest addresses from each daemon; the entry shows their union, so a partial
    /// answer right after a sweep restart does not make addresses flicker.
    addrs_watch: Vec<SocketAddr>,
    addrs_sweep: Vec<SocketAddr>,
    /// When first resolved: the newest instance of a room is the one shown.
    first_seen: Instant,
    last_seen: Instant,
}

struct State {
    config: BrowseConfig,
    /// Keyed by lowercased instance full name (DNS names are case-insensitive).
    instances: HashMap<String, Instance>,
    /// Instances that said goodbye, and when. The two daemons' events interleave, so a
    /// sweep answer sent just before a goodbye can arrive after it; it must not bring
    /// the room back.
    goodbyes: HashMap<String, Instant>,
    published: Arc<Mutex<BTreeMap<Uuid, DiscoveredRoom>>>,
    tx: Events,
    local: Vec<LocalNet>,
    /// Whether the instance cap has been reported since it was last below it.
    full_logged: bool,
}

fn socket_addr(ip: &ScopedIp, port: u16) -> SocketAddr {
    match ip {
        ScopedIp::V6(v6) if v6.addr().segments()[0] & 0xffc0 == 0xfe80 => {
            SocketAddr::V6(SocketAddrV6::new(*v6.addr(), port, 0, v6.scope_id().index))
        }
        other => SocketAddr::new(other.to_ip_addr(), port),
    }
}

impl State {
    fn resolved(&mut self, rs: &ResolvedService, from: Source) {
        let key = rs.get_fullname().to_ascii_lowercase();
        if from == Source::Sweeper && self.goodbyes.contains_key(&key) {
            return;
        }
        // A fresh announcement after a goodbye (the host came back) counts.
        self.goodbyes.remove(&key);
        let pairs = rs
            .get_properties()
            .iter()
            .map(|p| (p.key(), p.val()))
            .collect::<Vec<_>>();
        let txt = match RoomTxt::from_pairs(pairs) {
            Ok(t) if t.closing => {
                tracing::debug!(instance = %rs.get_fullname(), "closing");
                self.removed(rs.get_fullname());
                return;
            }
            Ok(t) => t,
            Err(e) => {
                tracing::debug!(instance = %rs.get_fullname(), error = %e, "ignoring an instance with a bad TXT record");
                self.instances.remove(&key);
                return;
            }
        };
        let port = rs.get_port();
        let mut addrs: Vec<SocketAddr> = rs
            .get_addresses()
            .iter()
            .map(|ip| socket_addr(ip, port))
            .collect();
        addrs.sort();
        let now = Instant::now();
        if !self.instances.contains_key(&key) && self.instances.len() >= MAX_INSTANCES {
            if !self.full_logged {
                self.full_logged = true;
                tracing::warn!(
                    max = MAX_INSTANCES,
                    "more rooms announced than a LAN has; ignoring new ones (someone may be flooding the network)"
                );
            }
            return;
        }
        let inst = self.instances.entry(key).or_insert_with(|| Instance {
            fullname: rs.get_fullname().to_string(),
            txt: txt.clone(),
            port,
            hostname: String::new(),
            addrs_watch: Vec::new(),
            addrs_sweep: Vec::new(),
            first_seen: now,
            last_seen: now,
        });
        if inst.port != port || inst.hostname != rs.get_hostname() {
            // The host moved (e.g. restarted on another port): old addresses are void.
            inst.addrs_watch.clear();
            inst.addrs_sweep.clear();
        }
        inst.txt = txt;
        inst.port = port;
        inst.hostname = rs.get_hostname().to_string();
        inst.last_seen = now;
        match from {
            Source::Watcher => inst.addrs_watch = addrs,
            Source::Sweeper => inst.addrs_sweep = addrs,
        }
    }

    /// Takes in one event from a daemon; whether it may have changed the list.
    fn apply(&mut self, ev: Option<ServiceEvent>, from: Source) -> bool {
        match ev {
            Some(ServiceEvent::ServiceResolved(rs)) => {
                tracing::trace!(instance = %rs.get_fullname(), ?from, "resolved");
                self.resolved(&rs, from);
                true
            }
            Some(ServiceEvent::ServiceRemoved(_, fullname)) => {
                tracing::debug!(instance = %fullname, "goodbye");
                self.removed(&fullname);
                true
            }
            _ => false,
        }
    }

    fn removed(&mut self, fullname: &str) {
        let key = fullname.to_ascii_lowercase();
        self.instances.remove(&key);
        // Bounded too: goodbyes for instances never seen must not pile up.
        if self.goodbyes.len() < MAX_INSTANCES * 4 {
            self.goodbyes.insert(key, Instant::now());
        }
    }

    fn expire(&mut self, now: Instant) {
        self.goodbyes
            .retain(|_, at| now.duration_since(*at) < GOODBYE_QUARANTINE);
        let timeout = self.config.liveness_timeout;
        self.instances.retain(|name, i| {
            let alive = now.duration_since(i.last_seen) <= timeout;
            if !alive {
                tracing::debug!(instance = %name, "no answer within the liveness timeout");
            }
            alive
        });
        if self.instances.len() < MAX_INSTANCES {
            self.full_logged = false;
        }
    }

    /// Recomputes the room list from the instances and reports what changed.
    fn publish(&mut self) {
        // One pass to group the instances by room: linear in the instances.
        let mut grouped: BTreeMap<Uuid, Vec<&Instance>> = BTreeMap::new();
        for inst in self.instances.values() {
            grouped.entry(inst.txt.room_id).or_default().push(inst);
        }
        let mut next = BTreeMap::new();
        for (room_id, all) in grouped {
            // The newest instance of a room is the one shown.
            let Some(inst) = all.iter().copied().max_by_key(|i| i.first_seen) else {
                continue;
            };
            let mut addrs: Vec<SocketAddr> = Vec::new();
            for other in &all {
                if other.port == inst.port {
                    addrs.extend(other.addrs_watch.iter().chain(&other.addrs_sweep));
                }
            }
            addrs.sort();
            addrs.dedup();
            let t = &inst.txt;
            let room = DiscoveredRoom {
                room_id,
                name: t.room_name.clone(),
                host_name: t.host_name.clone(),
                host_id: t.host_id,
                has_passcode: t.has_passcode,
                protocol_version: t.protocol_version,
                fingerprint: t.fingerprint.clone(),
                online: t.online,
                port: inst.port,
                addresses: connect_order(&addrs, &self.local),
                instance: inst.fullname.clone(),
                hostname: inst.hostname.clone(),
                ours: self.config.own_host_id.is_some() && t.host_id == self.config.own_host_id,
            };
            next.insert(room_id, room);
        }
        let mut published = self.published.lock().unwrap_or_else(|p| p.into_inner());
        for (id, old) in published.iter() {
            if !next.contains_key(id) {
                self.tx.send(BrowseEvent::Removed(old.clone()));
            }
        }
        for (id, room) in &next {
            match published.get(id) {
                None => {
                    self.tx.send(BrowseEvent::Added(room.clone()));
                }
                Some(old) if old != room => {
                    self.tx.send(BrowseEvent::Updated(room.clone()));
                }
                Some(_) => {}
            }
        }
        *published = next;
    }
}

fn try_recv(rx: &Option<Receiver<ServiceEvent>>) -> Option<ServiceEvent> {
    rx.as_ref()?.try_recv().ok()
}

async fn recv(rx: &Option<Receiver<ServiceEvent>>) -> Option<ServiceEvent> {
    match rx {
        Some(rx) => rx.recv_async().await.ok(),
        None => std::future::pending().await,
    }
}

/// Replaces the daemon in `slot` by a fresh one, with an empty cache.
fn replace(daemons: &Daemons, slot: usize, mdns: &MdnsConfig) -> Option<ServiceDaemon> {
    let fresh = match mdns.daemon() {
        Ok(d) => d,
        Err(e) => {
            tracing::debug!(error = %e, "no fresh mDNS daemon");
            return None;
        }
    };
    let mut current = daemons.lock().unwrap_or_else(|p| p.into_inner());
    // Its threads end on their own; nothing here waits for them.
    let _ = current[slot].shutdown();
    current[slot] = fresh.clone();
    Some(fresh)
}

async fn run(
    mut state: State,
    daemons: Daemons,
    watch_rx: Receiver<ServiceEvent>,
    stop: CancellationToken,
) {
    let [mut watcher, mut sweeper] = daemons.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut watch_rx = Some(watch_rx);
    let mut sweep_rx: Option<Receiver<ServiceEvent>> = None;
    // Whether the sweeper's browse ended without our stopping it.
    let mut sweeper_lost = false;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The watcher's own first query finds everything at start; the sweeper begins later.
    let mut next_sweep = Instant::now() + state.config.sweep_interval;
    loop {
        let (ev, from) = tokio::select! {
            _ = stop.cancelled() => break,
            ev = recv(&watch_rx) => {
                if ev.is_none() {
                    // Its channel filled up (see the module docs): a fresh watcher starts
                    // at the next tick, so the list keeps updating.
                    tracing::warn!("the mDNS watcher stopped; starting a fresh one");
                    watch_rx = None;
                }
                (ev, Source::Watcher)
            }
            ev = recv(&sweep_rx) => {
                if ev.is_none() {
                    sweep_rx = None;
                    sweeper_lost = true;
                }
                (ev, Source::Sweeper)
            }
            _ = tick.tick() => {
                if watch_rx.is_none() {
                    if let Some(fresh) = replace(&daemons, WATCHER, &state.config.mdns) {
                        watcher = fresh;
                        super::advertise::spawn_monitor(&watcher);
                    }
                    match watcher.browse(SERVICE_TYPE) {
                        Ok(rx) => watch_rx = Some(rx),
                        Err(e) => tracing::debug!(error = %e, "watch browse failed"),
                    }
                }
                let now = Instant::now();
                if now >= next_sweep {
                    next_sweep = now + state.config.sweep_interval;
                    state.local = LocalNet::current();
                    if std::mem::take(&mut sweeper_lost) {
                        tracing::debug!("the mDNS sweeper fell behind; starting a fresh one");
                        if let Some(fresh) = replace(&daemons, SWEEPER, &state.config.mdns) {
                            sweeper = fresh;
                        }
                    }
                    // stop_browse empties the sweeper's cache, so the next query has no
                    // known answers and every live host must answer it.
                    let _ = sweeper.stop_browse(SERVICE_TYPE);
                    match sweeper.browse(SERVICE_TYPE) {
                        Ok(rx) => sweep_rx = Some(rx),
                        Err(e) => tracing::debug!(error = %e, "sweep browse failed"),
                    }
                }
                state.expire(now);
                state.publish();
                continue;
            }
        };
        let mut changed = state.apply(ev, from);
        // Take what else is waiting, then publish once. Publishing after every event
        // (linear in the rooms) fell behind a flood of announcements, and mdns-sd ends
        // a browse whose event channel fills up.
        for _ in 0..DRAIN_BATCH {
            let next = try_recv(&watch_rx)
                .map(|ev| (ev, Source::Watcher))
                .or_else(|| try_recv(&sweep_rx).map(|ev| (ev, Source::Sweeper)));
            let Some((ev, from)) = next else { break };
            changed |= state.apply(Some(ev), from);
        }
        if changed {
            state.publish();
        }
    }
    stop_daemon(&watcher).await;
    stop_daemon(&sweeper).await;
}
