//! The host embedded in the app: started on the first "Host a room", announced on the
//! LAN, and stopped (with mDNS goodbyes) when the last hosted room closes or the app quits.

use std::net::SocketAddr;
use std::sync::Arc;

use hearth::discovery::{AdvertisedRoom, Advertiser, AdvertiserConfig, MdnsConfig};
use hearth::invite::advertised_ip;
use hearth::protocol::RoomSummary;
use hearth::{Host, HostConfig, Invite, Limits, PasscodeSetting, Store, Transport};
use uuid::Uuid;

use crate::views::HostedView;
use crate::AppError;

pub(crate) struct Hosting {
    pub host: Host,
    pub bound: SocketAddr,
    advertiser: Option<Arc<Advertiser>>,
    /// Keeps the announcements in step with the rooms (online counts held back by the
    /// advertiser's rate limit go out once it allows).
    ticker: Option<tokio::task::JoinHandle<()>>,
    /// Held while hosting: a second process on this data directory must not host too.
    _lock: std::fs::File,
}

impl Hosting {
    /// Starts the host on `bind`, falling back to a free port if that one is taken.
    pub async fn start(
        store: Arc<Store>,
        data_dir: &std::path::Path,
        host_name: String,
        bind: SocketAddr,
        mdns: Option<MdnsConfig>,
    ) -> Result<Hosting, AppError> {
        let lock = hearth::store::lock_for_hosting(data_dir)?;
        let host_id = store.host_id()?;
        let cert =
            hearth::tls::HostCert::load_or_create(data_dir).map_err(hearth::HostError::from)?;
        let host = Host::start(
            store,
            HostConfig {
                host_name: host_name.clone(),
                limits: Limits::default(),
                transport: Transport::Tls(cert),
            },
        )?;
        let bound = match host.bind(bind).await {
            Ok(a) => a,
            Err(e) if bind.port() != 0 => {
                tracing::warn!(error = %e, "preferred port busy; using a free one");
                host.bind(SocketAddr::new(bind.ip(), 0)).await?
            }
            Err(e) => return Err(e.into()),
        };
        let advertiser = match mdns {
            Some(mdns) => match Advertiser::new(AdvertiserConfig {
                host_id,
                host_name,
                listen: bound,
                mdns,
            }) {
                Ok(a) => Some(a),
                Err(e) => {
                    // Hosting still works by invite link; say why discovery will not.
                    tracing::warn!(error = %e, "cannot announce rooms on the LAN");
                    None
                }
            },
            None => None,
        };
        let advertiser = advertiser.map(Arc::new);
        let ticker = advertiser.as_ref().map(|a| {
            let (a, host) = (Arc::clone(a), host.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
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

    pub fn invite(&self, room_id: Uuid) -> Invite {
        Invite {
            host: advertised_ip(self.bound).to_string(),
            port: self.bound.port(),
            room_id: Some(room_id),
            fingerprint: self.host.fingerprint().map(str::to_string),
        }
    }

    /// The loopback address the app's own client uses to reach this host.
    pub fn local_address(&self) -> String {
        let ip = if self.bound.is_ipv6() {
            "[::1]"
        } else {
            "127.0.0.1"
        };
        format!("{ip}:{}", self.bound.port())
    }

    /// Opens (or reopens) a room and announces it. `passcode: None` with `keep` keeps a
    /// reopened room's stored passcode. Argon2id hashing runs on a blocking thread.
    pub async fn open(
        &self,
        name: &str,
        passcode: Option<String>,
        keep: bool,
    ) -> Result<RoomSummary, AppError> {
        let (host, name) = (self.host.clone(), name.to_string());
        let summary = tokio::task::spawn_blocking(move || {
            let setting = match (&passcode, keep) {
                (Some(p), _) => PasscodeSetting::Set(p),
                (None, true) => PasscodeSetting::Keep,
                (None, false) => PasscodeSetting::Open,
            };
            host.open_room_with(&name, setting)
        })
        .await
        .map_err(|e| AppError::Invalid(format!("hosting stopped: {e}")))??;
        self.announce(&summary);
        Ok(summary)
    }

    fn advertised(&self, summary: &RoomSummary) -> AdvertisedRoom {
        advertised(&self.host, summary)
    }

    fn announce(&self, summary: &RoomSummary) {
        if let Some(a) = &self.advertiser {
            if let Err(e) = a.advertise(&self.advertised(summary)) {
                tracing::warn!(error = %e, room = %summary.name, "cannot announce room");
            }
        }
    }

    /// Re-announces rooms whose online count changed.
    pub async fn refresh(&self) {
        if let Some(a) = &self.advertiser {
            if let Err(e) = a.sync(&advertised_rooms(&self.host)).await {
                tracing::debug!(error = %e, "re-announce failed");
            }
        }
    }

    pub async fn close(&self, room_id: Uuid) -> bool {
        // Closed first, so the ticker cannot announce it again after the withdrawal.
        let closed = self.host.close_room(room_id);
        if let Some(a) = &self.advertiser {
            let _ = a.withdraw(room_id).await;
        }
        closed
    }

    pub fn views(&self) -> Vec<HostedView> {
        self.host
            .rooms()
            .into_iter()
            .map(|r| HostedView {
                invite: self.invite(r.room_id).to_string(),
                room_id: r.room_id,
                name: r.name,
                has_passcode: r.has_passcode,
                online: r.online,
            })
            .collect()
    }

    /// Goodbyes first, then close frames to every member and the log flushed.
    pub async fn shutdown(self) {
        if let Some(t) = &self.ticker {
            t.abort();
        }
        if let Some(a) = &self.advertiser {
            a.shutdown().await;
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
    host.rooms().iter().map(|r| advertised(host, r)).collect()
}
