//! LAN discovery over mDNS / DNS-SD (RFC 6762 / RFC 6763), built on `mdns-sd`.
//!
//! - [`Advertiser`]: one DNS-SD instance of [`SERVICE_TYPE`] per hosted room, with the
//!   room's details in TXT ([`txt`]). Re-announces on change, sends goodbyes on withdraw
//!   and on shutdown.
//! - [`Browser`]: a live list of rooms keyed by room id, with added / updated / removed
//!   events. Entries leave on goodbye, or when their host stops answering for
//!   [`BrowseConfig::liveness_timeout`] (a host that lost power sends no goodbye).
//! - [`connect_order`] and [`first_reachable`]: which resolved address a join uses.
//!
//! `docs/protocol.md` ("Discovery") is the reference for the records.

mod advertise;
mod browse;
mod connect;
pub mod txt;

#[cfg(test)]
mod tests;

use std::time::Duration;

pub use advertise::{instance_name, mdns_hostname, AdvertisedRoom, Advertiser, AdvertiserConfig};
pub use browse::{BrowseConfig, BrowseEvent, Browser, DiscoveredRoom, MAX_INSTANCES};
pub use connect::{connect_order, first_reachable, LocalNet};
pub use txt::{parse_txt_record, RoomTxt, TxtError};

/// The DNS-SD service type of a Hearth room.
pub const SERVICE_TYPE: &str = "_hearth._tcp.local.";

/// The standard mDNS port. Tests may use another so they never meet a real network.
pub const MDNS_PORT: u16 = mdns_sd::MDNS_PORT;

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("mDNS: {0}")]
    Mdns(#[from] mdns_sd::Error),
    #[error("the mDNS daemon has stopped")]
    Stopped,
}

/// Which network interfaces mDNS uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Interfaces {
    /// Every interface that is up, IPv4 and IPv6, followed as they come and go.
    #[default]
    All,
    /// Loopback only: for tests that must not reach any real network.
    LoopbackOnly,
    /// Only the interfaces with these names (e.g. `eth0`).
    Named(Vec<String>),
}

/// Settings shared by the advertiser and the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdnsConfig {
    /// UDP port; [`MDNS_PORT`] (5353) unless testing.
    pub port: u16,
    pub interfaces: Interfaces,
}

impl Default for MdnsConfig {
    fn default() -> Self {
        MdnsConfig {
            port: MDNS_PORT,
            interfaces: Interfaces::All,
        }
    }
}

/// How often mdns-sd rescans the interfaces (its default is 5 s). A laptop that joins a
/// network sees rooms, and is seen, this long after its address appears; a rescan is
/// one getifaddrs call.
const IP_CHECK_INTERVAL_SECS: u32 = 2;

impl MdnsConfig {
    /// Starts an mdns-sd daemon (its own thread) restricted to the configured interfaces.
    pub(crate) fn daemon(&self) -> Result<mdns_sd::ServiceDaemon, DiscoveryError> {
        use mdns_sd::IfKind;
        let d = mdns_sd::ServiceDaemon::new_with_port(self.port)?;
        // Commands run in order, so these apply before any register or browse.
        match &self.interfaces {
            Interfaces::All => {}
            Interfaces::LoopbackOnly => {
                d.disable_interface(IfKind::All)?;
                d.enable_interface(vec![IfKind::LoopbackV4, IfKind::LoopbackV6])?;
            }
            Interfaces::Named(names) => {
                d.disable_interface(IfKind::All)?;
                d.enable_interface(names.iter().map(IfKind::from).collect::<Vec<_>>())?;
            }
        }
        d.set_ip_check_interval(IP_CHECK_INTERVAL_SECS)?;
        Ok(d)
    }
}

/// Stops a daemon and waits (bounded) until its thread has sent its last packets.
pub(crate) async fn stop_daemon(d: &mdns_sd::ServiceDaemon) {
    match d.shutdown() {
        Ok(rx) => {
            let _ = tokio::time::timeout(Duration::from_secs(2), rx.recv_async()).await;
        }
        Err(mdns_sd::Error::DaemonShutdown) => {}
        Err(e) => tracing::debug!(error = %e, "mDNS daemon shutdown"),
    }
}
