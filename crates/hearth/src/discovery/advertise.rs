//! Advertising hosted rooms: one DNS-SD instance per room.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mdns_sd::{DaemonEvent, IfKind, ServiceDaemon, ServiceInfo, UnregisterStatus};
use uuid::Uuid;

use super::txt::{truncate_bytes, RoomTxt};
use super::{stop_daemon, DiscoveryError, MdnsConfig, SERVICE_TYPE};
use crate::protocol::{RoomSummary, PROTOCOL_VERSION};

/// A DNS label is at most 63 bytes.
const MAX_LABEL: usize = 63;

/// A change of the online count alone is re-announced at most this often by
/// [`Advertiser::sync`], so a busy room does not flood the LAN.
const ONLINE_REANNOUNCE_EVERY: Duration = Duration::from_secs(10);

/// mdns-sd repeats each goodbye 120 ms after the first; give it time to go out.
const GOODBYE_REPEAT_GRACE: Duration = Duration::from_millis(250);

#[derive(Debug, Clone)]
pub struct AdvertiserConfig {
    /// The install's host id (`Store::host_id`), published so browsers can tell rooms apart
    /// by host and mark their own.
    pub host_id: Uuid,
    /// The host's display name.
    pub host_name: String,
    /// The address the host listens on. A specific IP is advertised alone; `0.0.0.0`
    /// advertises every IPv4 address; `[::]` (a dual-stack listener) every address.
    pub listen: SocketAddr,
    pub mdns: MdnsConfig,
}

/// What is published about one room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvertisedRoom {
    pub room_id: Uuid,
    pub name: String,
    pub has_passcode: bool,
    /// Members online; `None` leaves the TXT key out.
    pub online: Option<u32>,
    /// TLS certificate fingerprint (reserved until TLS exists).
    pub fingerprint: Option<String>,
}

impl From<&RoomSummary> for AdvertisedRoom {
    fn from(r: &RoomSummary) -> Self {
        AdvertisedRoom {
            room_id: r.room_id,
            name: r.name.clone(),
            has_passcode: r.has_passcode,
            online: Some(r.online),
            fingerprint: None,
        }
    }
}

struct Registration {
    fullname: String,
    room: AdvertisedRoom,
    announced: Instant,
}

/// Publishes rooms on the LAN. Dropping it without [`Advertiser::shutdown`] still
/// withdraws the records, but without waiting for the goodbyes to leave.
pub struct Advertiser {
    daemon: ServiceDaemon,
    config: AdvertiserConfig,
    rooms: Mutex<HashMap<Uuid, Registration>>,
    stopped: AtomicBool,
    /// See [`super::txt::KEY_EPOCH`]: fresh per advertiser, so per host process.
    epoch: u32,
}

/// The human-readable instance name: `Room (Host) #1a2b3c`. The suffix is the start of
/// the room id, so two hosts' rooms called "General" never collide, and no conflict
/// probing (which delays the first announcement by about a second) is needed.
pub fn instance_name(room_name: &str, host_name: &str, room_id: Uuid) -> String {
    let suffix = format!(" #{}", &room_id.simple().to_string()[..6]);
    let base = if host_name.is_empty() {
        room_name.to_string()
    } else {
        format!("{room_name} ({host_name})")
    };
    let room = MAX_LABEL - suffix.len();
    let base = if base.len() > room {
        format!("{}…", truncate_bytes(&base, room - '…'.len_utf8()))
    } else {
        base
    };
    format!("{base}{suffix}")
}

/// The mDNS host name for one instance's address records. Never the machine's own name,
/// so it cannot clash with the OS responder (Avahi, Bonjour); and one per instance,
/// because mdns-sd's goodbye for an instance also withdraws the address records of its
/// host name, which would strand every other room sharing it.
pub fn mdns_hostname(host_id: Uuid, instance: &str) -> String {
    // FNV-1a: stable, and all that is needed is a short distinct label.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in host_id
        .as_bytes()
        .iter()
        .chain(instance.to_lowercase().as_bytes())
    {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("hearth-{h:016x}.local.")
}

impl Advertiser {
    /// Starts the mDNS responder. Nothing is published until [`Advertiser::advertise`].
    pub fn new(config: AdvertiserConfig) -> Result<Advertiser, DiscoveryError> {
        let daemon = config.mdns.daemon()?;
        spawn_monitor(&daemon);
        Ok(Advertiser {
            daemon,
            config,
            rooms: Mutex::new(HashMap::new()),
            stopped: AtomicBool::new(false),
            // Randomness only to differ from the last run; a v4 UUID has it at hand.
            epoch: Uuid::new_v4().as_u128() as u32,
        })
    }

    fn service_info(
        &self,
        room: &AdvertisedRoom,
        closing: bool,
    ) -> Result<ServiceInfo, DiscoveryError> {
        let txt = RoomTxt {
            protocol_version: PROTOCOL_VERSION,
            room_id: room.room_id,
            room_name: room.name.clone(),
            host_name: Some(self.config.host_name.clone()),
            host_id: Some(self.config.host_id),
            has_passcode: room.has_passcode,
            fingerprint: room.fingerprint.clone(),
            online: room.online,
            closing,
            epoch: Some(self.epoch),
        };
        let pairs = txt.to_pairs();
        let name = instance_name(&room.name, &self.config.host_name, room.room_id);
        let listen = self.config.listen;
        let (addrs, auto, kinds): (Vec<IpAddr>, bool, Vec<IfKind>) = match listen.ip() {
            // Only where the listener accepts: an IPv4 wildcard gets no AAAA records.
            ip if ip.is_unspecified() && ip.is_ipv4() => (vec![], true, vec![IfKind::IPv4]),
            ip if ip.is_unspecified() => (vec![], true, vec![IfKind::All]),
            ip => (vec![ip], false, vec![IfKind::Addr(ip)]),
        };
        let hostname = mdns_hostname(self.config.host_id, &name);
        let mut info = ServiceInfo::new(
            SERVICE_TYPE,
            &name,
            &hostname,
            &addrs[..],
            listen.port(),
            &pairs[..],
        )?;
        if auto {
            // mdns-sd fills in the addresses and follows them as interfaces change.
            info = info.enable_addr_auto();
        }
        info.set_interfaces(kinds);
        // The name is unique by construction (see `instance_name`).
        info.set_requires_probe(false);
        Ok(info)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Registration>> {
        self.rooms.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes `room`, or re-announces it if what is published changed. Returns
    /// whether anything was sent.
    pub fn advertise(&self, room: &AdvertisedRoom) -> Result<bool, DiscoveryError> {
        if self.stopped.load(Ordering::SeqCst) {
            return Err(DiscoveryError::Stopped);
        }
        let info = self.service_info(room, false)?;
        let fullname = info.get_fullname().to_string();
        let old = {
            let rooms = self.lock();
            match rooms.get(&room.room_id) {
                Some(r) if r.room == *room => return Ok(false),
                Some(r) => Some(r.fullname.clone()),
                None => None,
            }
        };
        // Registering again with the same name re-announces with cache-flush, so
        // browsers replace the old TXT.
        self.daemon.register(info)?;
        // A renamed room has a new instance name: announce it first, then say goodbye to
        // the old one, so browsers see an update rather than a gap.
        if let Some(old) = old.filter(|o| !o.eq_ignore_ascii_case(&fullname)) {
            let _ = self.daemon.unregister(&old)?;
        }
        tracing::debug!(instance = %fullname, "announced");
        self.lock().insert(
            room.room_id,
            Registration {
                fullname,
                room: room.clone(),
                announced: Instant::now(),
            },
        );
        Ok(true)
    }

    /// Withdraws a room: goodbye packets (TTL 0) go out on every interface. Returns
    /// false if the room was not advertised.
    pub async fn withdraw(&self, room_id: Uuid) -> Result<bool, DiscoveryError> {
        let Some(reg) = self.lock().remove(&room_id) else {
            return Ok(false);
        };
        // Announce "closing" first: browsers apply a TXT change at once, whereas they
        // keep a record for 1 s after its goodbye (RFC 6762 §10.1).
        match self.service_info(&reg.room, true) {
            Ok(info) => self.daemon.register(info)?,
            Err(e) => tracing::debug!(error = %e, "no closing announcement"),
        }
        let rx = self.daemon.unregister(&reg.fullname)?;
        match tokio::time::timeout(Duration::from_secs(2), rx.recv_async()).await {
            Ok(Ok(UnregisterStatus::OK)) => {
                tracing::debug!(instance = %reg.fullname, "withdrawn");
                Ok(true)
            }
            Ok(Ok(UnregisterStatus::NotFound)) => Ok(false),
            Ok(Err(_)) | Err(_) => Err(DiscoveryError::Stopped),
        }
    }

    /// Makes the published set equal `rooms`: new rooms are announced, changed ones
    /// re-announced (a change of the online count alone at most every 10 s), and rooms
    /// no longer listed are withdrawn.
    pub async fn sync(&self, rooms: &[AdvertisedRoom]) -> Result<(), DiscoveryError> {
        let gone: Vec<Uuid> = self
            .lock()
            .keys()
            .filter(|id| !rooms.iter().any(|r| r.room_id == **id))
            .copied()
            .collect();
        for id in gone {
            self.withdraw(id).await?;
        }
        for room in rooms {
            let hold = match self.lock().get(&room.room_id) {
                Some(reg) => {
                    let same_but_online = AdvertisedRoom {
                        online: reg.room.online,
                        ..room.clone()
                    } == reg.room;
                    same_but_online && reg.announced.elapsed() < ONLINE_REANNOUNCE_EVERY
                }
                None => false,
            };
            if !hold {
                self.advertise(room)?;
            }
        }
        Ok(())
    }

    /// `(room id, DNS-SD instance full name)` of every advertised room.
    pub fn advertised(&self) -> Vec<(Uuid, String)> {
        self.lock()
            .iter()
            .map(|(id, r)| (*id, r.fullname.clone()))
            .collect()
    }

    /// Withdraws every room, waits for the goodbyes to leave, and stops the responder.
    pub async fn shutdown(&self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        let ids: Vec<Uuid> = self.lock().keys().copied().collect();
        let any = !ids.is_empty();
        for id in ids {
            if let Err(e) = self.withdraw(id).await {
                tracing::warn!(error = %e, "could not withdraw a room from mDNS");
            }
        }
        if any {
            tokio::time::sleep(GOODBYE_REPEAT_GRACE).await;
        }
        stop_daemon(&self.daemon).await;
        tracing::debug!("mDNS advertiser stopped");
    }
}

#[cfg(test)]
impl Advertiser {
    /// Stops answering without goodbyes, as a host that lost power would.
    pub(crate) fn go_silent(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        let _ = self.daemon.disable_interface(IfKind::All);
    }
}

impl Drop for Advertiser {
    fn drop(&mut self) {
        if !self.stopped.swap(true, Ordering::SeqCst) {
            // mdns-sd's shutdown sends goodbyes for whatever is still registered.
            let _ = self.daemon.shutdown();
        }
    }
}

/// Logs the daemon's notable events (interfaces coming and going, errors) until it stops.
pub(crate) fn spawn_monitor(daemon: &ServiceDaemon) {
    let Ok(rx) = daemon.monitor() else { return };
    let spawned = std::thread::Builder::new()
        .name("hearth-mdns-monitor".into())
        .spawn(move || {
            while let Ok(ev) = rx.recv() {
                match ev {
                    DaemonEvent::Error(e) => tracing::warn!(error = %e, "mDNS"),
                    DaemonEvent::IpAdd(ip) => tracing::debug!(%ip, "mDNS: address added"),
                    DaemonEvent::IpDel(ip) => tracing::debug!(%ip, "mDNS: address removed"),
                    DaemonEvent::NameChange(c) => {
                        tracing::warn!(from = %c.original, to = %c.new_name, "mDNS name conflict")
                    }
                    _ => {}
                }
            }
        });
    if let Err(e) = spawned {
        tracing::debug!(error = %e, "no mDNS monitor thread");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_names_are_readable_unique_and_fit_a_label() {
        let a = Uuid::new_v4();
        let n = instance_name("Design team", "Alice", a);
        assert!(n.starts_with("Design team (Alice) #"), "{n}");
        assert!(a.simple().to_string().starts_with(&n[n.len() - 6..]));
        assert_ne!(
            instance_name("General", "Host", Uuid::new_v4()),
            instance_name("General", "Host", Uuid::new_v4())
        );
        let long = instance_name(&"ö".repeat(64), &"x".repeat(64), a);
        assert!(long.len() <= MAX_LABEL, "{} bytes", long.len());
        assert!(long.contains('…') && long.ends_with(&n[n.len() - 8..]));
        let h = mdns_hostname(a, &n);
        assert!(h.starts_with("hearth-") && h.ends_with(".local."), "{h}");
        assert_eq!(h, mdns_hostname(a, &n.to_uppercase()));
        assert_ne!(h, mdns_hostname(a, &long));
    }
}
