//! Hosting as a whole, for the CLI and the app alike: the host on a dual-stack listener,
//! its rooms announced on the LAN and kept in step once a second, the data directory
//! locked against a second host, and a shutdown that says goodbye before closing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::discovery::{AdvertisedRoom, Advertiser, AdvertiserConfig, MdnsConfig};
use crate::invite::{advertised_ip, Invite};
use crate::protocol::RoomSummary;
use crate::server::{Host, HostConfig, HostError, PasscodeSetting};
use crate::store::{RoomPolicy, RosterEntry, Store, StoreError};

/// How often the announcements are brought in step with the rooms (online counts).
const REANNOUNCE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct HostingConfig {
    pub host: HostConfig,
    /// Where to listen. An IPv6 wildcard accepts IPv4 too (falling back to 0.0.0.0
    /// where IPv6 is off).
    pub bind: SocketAddr,
    /// When the port is taken, listen on a free one instead of failing (the app: its
    /// invite links say which port it got).
    pub any_port_if_busy: bool,
    /// `None`: rooms are not announced; people join by invite link.
    pub mdns: Option<MdnsConfig>,
}

#[derive(Debug, thiserror::Error)]
pub enum HostingError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Host(#[from] HostError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

pub struct Hosting {
    host: Host,
    bound: SocketAddr,
    advertiser: Option<Arc<Advertiser>>,
    ticker: Option<tokio::task::JoinHandle<()>>,
    /// Held while hosting: a second process on this data directory must not host too.
    _lock: std::fs::File,
}

impl Hosting {
    /// Locks the data directory for hosting, starts the host and listens. Rooms are
    /// added with [`Hosting::open`]. Failing to announce costs only discovery: it is a
    /// warning, and invite links still work.
    pub async fn start(
        store: Arc<Store>,
        data_dir: &Path,
        config: HostingConfig,
    ) -> Result<Hosting, HostingError> {
        let lock = crate::store::lock_for_hosting(data_dir)?;
        let host = Host::start(store, config.host)?;
        let bound = match listen(&host, config.bind) {
            Ok(a) => a,
            Err(e) if config.any_port_if_busy && config.bind.port() != 0 => {
                tracing::warn!(error = %e, "preferred port busy; using a free one");
                listen(&host, SocketAddr::new(config.bind.ip(), 0))?
            }
            Err(e) => return Err(e),
        };
        let advertiser = config.mdns.and_then(|mdns| {
            Advertiser::new(AdvertiserConfig {
                host_id: host.host_id(),
                host_name: host.host_name().to_string(),
                listen: bound,
                mdns,
            })
            .map_err(|e| tracing::warn!(error = %e, "LAN discovery is off; share the link instead"))
            .ok()
            .map(Arc::new)
        });
        let ticker = advertiser.as_ref().map(|a| {
            let (a, host) = (Arc::clone(a), host.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(REANNOUNCE);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    if let Err(e) = a.sync(&advertised_rooms(&host)).await {
                        tracing::debug!(error = %e, "re-announce failed");
                    }
                }
            })
        });
        Ok(Hosting {
            host,
            bound,
            advertiser,
            ticker,
            _lock: lock,
        })
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The address the listener got.
    pub fn bound(&self) -> SocketAddr {
        self.bound
    }

    /// Whether rooms are announced on the LAN.
    pub fn announcing(&self) -> bool {
        self.advertiser.is_some()
    }

    /// The link others join a room by: this machine's LAN address, the port, and the
    /// certificate fingerprint to pin.
    pub fn invite(&self, room_id: Uuid) -> Invite {
        Invite {
            host: advertised_ip(self.bound).to_string(),
            port: self.bound.port(),
            room_id: Some(room_id),
            fingerprint: self.host.fingerprint().map(str::to_string),
        }
    }

    /// The loopback address a client on this machine reaches the host by.
    pub fn local_address(&self) -> String {
        let ip = if self.bound.is_ipv6() {
            "[::1]"
        } else {
            "127.0.0.1"
        };
        format!("{ip}:{}", self.bound.port())
    }

    /// Opens (or reopens) a room and announces it. Hashing a passcode is Argon2id
    /// (tens of milliseconds of a core): it runs on a blocking thread.
    pub async fn open(
        &self,
        name: &str,
        passcode: PasscodeSetting<'_>,
    ) -> Result<RoomSummary, HostError> {
        self.open_with_policy(name, passcode, None).await
    }

    /// [`Hosting::open`], setting the room's policy before anything is announced (so an
    /// unlisted room is never on the LAN, not even for a moment). `None` keeps the
    /// stored policy.
    pub async fn open_with_policy(
        &self,
        name: &str,
        passcode: PasscodeSetting<'_>,
        policy: Option<RoomPolicy>,
    ) -> Result<RoomSummary, HostError> {
        let owned = match passcode {
            PasscodeSetting::Keep => None,
            PasscodeSetting::Open => Some(None),
            PasscodeSetting::Set(p) => Some(Some(p.to_string())),
        };
        let (host, name) = (self.host.clone(), name.to_string());
        let summary = tokio::task::spawn_blocking(move || {
            let setting = match &owned {
                None => PasscodeSetting::Keep,
                Some(None) => PasscodeSetting::Open,
                Some(Some(p)) => PasscodeSetting::Set(p),
            };
            host.open_room_with(&name, setting, policy)
        })
        .await
        .map_err(|e| HostError::Stopped(e.to_string()))??;
        if let Some(a) = self
            .advertiser
            .as_ref()
            .filter(|_| summary.visibility.is_public())
        {
            if let Err(e) = a.advertise(&advertised(&self.host, &summary)) {
                tracing::warn!(error = %e, room = %summary.name, "cannot announce the room on the LAN");
            }
        }
        Ok(summary)
    }

    /// Changes a room's visibility or members-only mode; an unlisted room's
    /// announcement is withdrawn at once, a public one's made.
    pub async fn set_policy(
        &self,
        room_id: Uuid,
        policy: RoomPolicy,
    ) -> Result<RoomSummary, HostError> {
        let host = self.host.clone();
        let summary = tokio::task::spawn_blocking(move || host.set_room_policy(room_id, policy))
            .await
            .map_err(|e| HostError::Stopped(e.to_string()))??;
        if let Some(a) = &self.advertiser {
            if summary.visibility.is_public() {
                if let Err(e) = a.advertise(&advertised(&self.host, &summary)) {
                    tracing::warn!(error = %e, room = %summary.name, "cannot announce the room on the LAN");
                }
            } else {
                let _ = a.withdraw(room_id).await;
            }
        }
        Ok(summary)
    }

    /// Removes a person from a room ([`Host::remove_member`]).
    pub async fn remove_member(&self, room_id: Uuid, user_id: Uuid) -> Result<bool, HostError> {
        let host = self.host.clone();
        tokio::task::spawn_blocking(move || host.remove_member(room_id, user_id))
            .await
            .map_err(|e| HostError::Stopped(e.to_string()))?
    }

    /// The identities admitted to a room.
    pub async fn roster(&self, room_id: Uuid) -> Result<Vec<RosterEntry>, HostError> {
        let host = self.host.clone();
        tokio::task::spawn_blocking(move || host.roster(room_id))
            .await
            .map_err(|e| HostError::Stopped(e.to_string()))?
    }

    /// The mDNS instance names announced, for logs.
    pub fn announced(&self) -> Vec<String> {
        match &self.advertiser {
            Some(a) => a.advertised().into_iter().map(|(_, i)| i).collect(),
            None => Vec::new(),
        }
    }

    /// Re-announces rooms whose online count changed, now rather than at the next tick.
    pub async fn refresh(&self) {
        if let Some(a) = &self.advertiser {
            if let Err(e) = a.sync(&advertised_rooms(&self.host)).await {
                tracing::debug!(error = %e, "re-announce failed");
            }
        }
    }

    /// Stops hosting one room and withdraws its announcement; false if it was not hosted.
    pub async fn close(&self, room_id: Uuid) -> bool {
        // Closed first, so the ticker cannot announce it again after the withdrawal.
        let closed = self.host.close_room(room_id);
        if let Some(a) = &self.advertiser {
            let _ = a.withdraw(room_id).await;
        }
        closed
    }

    /// Goodbyes first (browsers drop the rooms at once rather than after a timeout),
    /// then close frames to every member and the log flushed.
    pub async fn shutdown(self) {
        if let Some(t) = &self.ticker {
            t.abort();
        }
        if let Some(a) = &self.advertiser {
            a.shutdown().await;
            tracing::info!("withdrawn from the local network");
        }
        self.host.shutdown().await;
    }
}

impl Drop for Hosting {
    fn drop(&mut self) {
        if let Some(t) = &self.ticker {
            t.abort();
        }
    }
}

fn advertised(host: &Host, summary: &RoomSummary) -> AdvertisedRoom {
    AdvertisedRoom {
        fingerprint: host.fingerprint().map(str::to_string),
        ..AdvertisedRoom::from(summary)
    }
}

fn advertised_rooms(host: &Host) -> Vec<AdvertisedRoom> {
    // Unlisted rooms are never announced (§3.8).
    host.rooms()
        .iter()
        .filter(|r| r.visibility.is_public())
        .map(|r| advertised(host, r))
        .collect()
}

/// Binds and serves `addr`. An IPv6 wildcard is made dual-stack explicitly (some systems
/// default to IPv6-only), and falls back to 0.0.0.0 where IPv6 is unavailable.
fn listen(host: &Host, addr: SocketAddr) -> Result<SocketAddr, HostingError> {
    let std_listener = match bind(addr) {
        Ok(l) => l,
        Err(e) if addr.ip() == IpAddr::V6(Ipv6Addr::UNSPECIFIED) => {
            let v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), addr.port());
            tracing::info!(error = %e, "IPv6 is unavailable; listening on IPv4 only");
            bind(v4).map_err(|source| HostingError::Listen { addr: v4, source })?
        }
        Err(source) => return Err(HostingError::Listen { addr, source }),
    };
    let listen_err = |source| HostingError::Listen { addr, source };
    let listener = tokio::net::TcpListener::from_std(std_listener).map_err(listen_err)?;
    let bound = listener.local_addr().map_err(listen_err)?;
    host.serve(listener);
    Ok(bound)
}

fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    if addr.is_ipv6() {
        sock.set_only_v6(!addr.ip().is_unspecified())?;
    }
    // As std and tokio do: a restarted host can rebind while old connections linger.
    #[cfg(unix)]
    sock.set_reuse_address(true)?;
    sock.bind(&addr.into())?;
    sock.listen(1024)?;
    sock.set_nonblocking(true)?;
    Ok(sock.into())
}
