//! The host embedded in the app: `hearth::Hosting` (shared with `hearth host`), started
//! on the first "Host a room" and stopped when the last hosted room closes or the app
//! quits, with the app's settings and its views of the hosted rooms.

use std::net::SocketAddr;
use std::sync::Arc;

use hearth::discovery::MdnsConfig;
use hearth::{HostConfig, Hosting, HostingConfig, Limits, Store, Transport};

use crate::views::HostedView;
use crate::AppError;

/// Starts hosting on `bind`, or on a free port if that one is taken.
pub(crate) async fn start(
    store: Arc<Store>,
    data_dir: &std::path::Path,
    host_name: String,
    bind: SocketAddr,
    mdns: Option<MdnsConfig>,
) -> Result<Hosting, AppError> {
    let cert = hearth::tls::HostCert::load_or_create(data_dir).map_err(hearth::HostError::from)?;
    let config = HostingConfig {
        host: HostConfig {
            host_name,
            limits: Limits::default(),
            transport: Transport::Tls(cert),
        },
        bind,
        any_port_if_busy: true,
        mdns,
    };
    Ok(Hosting::start(store, data_dir, config).await?)
}

pub(crate) fn views(hosting: &Hosting) -> Vec<HostedView> {
    hosting
        .host()
        .rooms()
        .into_iter()
        .map(|r| HostedView {
            invite: hosting.invite(r.room_id).to_string(),
            room_id: r.room_id,
            name: r.name,
            has_passcode: r.has_passcode,
            online: r.online,
            visibility: r.visibility,
            members_only: r.members_only,
        })
        .collect()
}
