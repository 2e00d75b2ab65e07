//! `hearth host`: serve one room until SIGINT or SIGTERM.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hearth::discovery::{AdvertisedRoom, Advertiser, AdvertiserConfig};
use hearth::tls::HostCert;
use hearth::{Host, HostConfig, Invite, Limits, Store, Transport, DEFAULT_PORT};

use crate::rooms::MdnsArgs;
use crate::DataDir;

#[derive(clap::Args, Debug)]
pub struct HostArgs {
    /// The room's name; an existing room of this name in the data directory is reopened with its history
    #[arg(long)]
    name: String,
    /// Require this passcode to join (stored only as an Argon2id hash). Without it the room is open
    #[arg(long, env = "HEARTH_PASSCODE", hide_env_values = true)]
    passcode: Option<String>,
    /// Address and port to listen on; port 0 picks a free port. The default `[::]` accepts
    /// IPv4 and IPv6 (falling back to 0.0.0.0 where IPv6 is off); LAN discovery announces
    /// the addresses the listener accepts on
    #[arg(long, default_value_t = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), DEFAULT_PORT))]
    bind: SocketAddr,
    /// Do not announce the room on the local network (mDNS); people join with the link.
    /// Test suites that run hosts outside a private network namespace should set this
    #[arg(long, env = "HEARTH_NO_ADVERTISE", value_parser = clap::builder::BoolishValueParser::new())]
    no_advertise: bool,
    /// Serve unencrypted ws:// instead of TLS (for tests and debugging only: anyone on
    /// the network can read the traffic, passcodes included)
    #[arg(long)]
    insecure_plaintext: bool,
    #[command(flatten)]
    mdns: MdnsArgs,
    /// Your name as shown to people joining [default: your OS user name]
    #[arg(long)]
    host_name: Option<String>,
    #[command(flatten)]
    data: DataDir,
    /// Longest message text, in characters
    #[arg(long, default_value_t = Limits::default().max_text_chars)]
    max_text: usize,
    /// Messages per second each connection may send (token bucket rate)
    #[arg(long, default_value_t = Limits::default().messages_per_sec)]
    rate: u32,
    /// Burst size of the per-connection token bucket
    #[arg(long, default_value_t = Limits::default().message_burst)]
    burst: u32,
    /// Connections allowed in total
    #[arg(long, default_value_t = Limits::default().max_connections)]
    max_connections: usize,
    /// Connections allowed from one IP address
    #[arg(long, default_value_t = Limits::default().max_connections_per_ip)]
    max_connections_per_ip: usize,
    /// Seconds between the host's pings
    #[arg(long, default_value_t = Limits::default().heartbeat_interval.as_secs_f64())]
    heartbeat_interval: f64,
    /// Seconds of silence after which a member is dropped (must exceed the interval)
    #[arg(long, default_value_t = Limits::default().heartbeat_timeout.as_secs_f64())]
    heartbeat_timeout: f64,
    /// Cap on the database size in bytes; reaching it behaves like a full disk
    #[arg(long)]
    max_db_size: Option<u64>,
}

fn os_user_name() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .ok()
        .and_then(|n| hearth::protocol::normalize_name(&n))
        .unwrap_or_else(|| "Host".to_string())
}

pub async fn run(a: HostArgs) -> anyhow::Result<ExitCode> {
    let name = hearth::protocol::normalize_name(&a.name)
        .context("the room name must be 1 to 64 characters without control characters")?;
    let host_name = match a.host_name {
        Some(h) => hearth::protocol::normalize_name(&h).context("invalid --host-name")?,
        None => os_user_name(),
    };
    if a.heartbeat_timeout <= a.heartbeat_interval || a.heartbeat_interval <= 0.0 {
        anyhow::bail!(
            "--heartbeat-timeout must be greater than --heartbeat-interval, and both positive"
        );
    }
    let data_dir = a.data.resolve()?;
    let store = Arc::new(Store::open_with_limit(&data_dir, a.max_db_size)?);
    let _lock = hearth::store::lock_for_hosting(&data_dir)?;
    let limits = Limits {
        max_text_chars: a.max_text,
        messages_per_sec: a.rate,
        message_burst: a.burst,
        max_connections: a.max_connections,
        max_connections_per_ip: a.max_connections_per_ip,
        heartbeat_interval: Duration::from_secs_f64(a.heartbeat_interval),
        heartbeat_timeout: Duration::from_secs_f64(a.heartbeat_timeout),
        ..Limits::default()
    };
    // Listen for signals before announcing anything, so an early SIGTERM is graceful too.
    let stop = hearth::stop::Stop::install()?;
    let transport = if a.insecure_plaintext {
        tracing::warn!(
            "serving UNENCRYPTED ws:// (--insecure-plaintext): anyone on the network can read it"
        );
        Transport::Plaintext
    } else {
        Transport::Tls(HostCert::load_or_create(&data_dir)?)
    };
    let host = Host::start(
        Arc::clone(&store),
        HostConfig {
            host_name,
            limits,
            transport,
        },
    )?;
    // Hashing a passcode is Argon2id (~40 ms of a core): off the async runtime.
    let room = {
        let (host, name, passcode) = (host.clone(), name.clone(), a.passcode.clone());
        tokio::task::spawn_blocking(move || host.open_room(&name, passcode.as_deref()))
            .await
            .context("the room could not be opened")??
    };
    let bound = listen(&host, a.bind)?;
    let invite = Invite {
        host: hearth::invite::advertised_ip(bound).to_string(),
        port: bound.port(),
        room_id: Some(room.room_id),
        fingerprint: host.fingerprint().map(str::to_string),
    };
    println!("{invite}");
    tracing::info!(
        room = %room.name,
        listen = %bound,
        messages = room.head_seq,
        passcode = room.has_passcode,
        data = %store.path().display(),
        "hosting; share the link above (Ctrl-C stops)"
    );
    let advertiser = if a.no_advertise {
        None
    } else {
        start_advertising(&host, bound, &a.mdns)
    };
    let stopped = stop.wait();
    tokio::pin!(stopped);
    // Rooms can change while hosting (online count; an embedding app may open or close
    // rooms): keep the announcements in step.
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            _ = tick.tick() => {
                if let Some(adv) = &advertiser {
                    let rooms: Vec<AdvertisedRoom> =
                        host.rooms().iter().map(|r| AdvertisedRoom { fingerprint: host.fingerprint().map(str::to_string), ..AdvertisedRoom::from(r) }).collect();
                    if let Err(e) = adv.sync(&rooms).await {
                        tracing::warn!(error = %e, "cannot update the LAN announcement");
                    }
                }
            }
        }
    }
    tracing::info!("shutting down");
    // Goodbyes first, so browsers drop the room at once rather than after a timeout.
    if let Some(adv) = &advertiser {
        adv.shutdown().await;
        tracing::info!("withdrawn from the local network");
    }
    host.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// Binds the listener. An IPv6 wildcard is made dual-stack explicitly (some systems
/// default to IPv6-only), and falls back to 0.0.0.0 where IPv6 is unavailable.
fn listen(host: &Host, addr: SocketAddr) -> anyhow::Result<SocketAddr> {
    let bind = |addr: SocketAddr| -> std::io::Result<std::net::TcpListener> {
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
    };
    let std_listener = match bind(addr) {
        Ok(l) => l,
        Err(e) if addr.ip() == IpAddr::V6(Ipv6Addr::UNSPECIFIED) => {
            let v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), addr.port());
            tracing::info!(error = %e, "IPv6 is unavailable; listening on IPv4 only");
            bind(v4).with_context(|| format!("cannot listen on {v4}"))?
        }
        Err(e) => return Err(e).with_context(|| format!("cannot listen on {addr}")),
    };
    let listener = tokio::net::TcpListener::from_std(std_listener)
        .with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener
        .local_addr()
        .context("cannot read the bound address")?;
    host.serve(listener);
    Ok(bound)
}

/// Announces every hosted room on the LAN. Failure only costs discovery (people can
/// still join with the link), so it is a warning, not an error.
fn start_advertising(host: &Host, bound: SocketAddr, mdns: &MdnsArgs) -> Option<Advertiser> {
    let config = AdvertiserConfig {
        host_id: host.host_id(),
        host_name: host.host_name().to_string(),
        listen: bound,
        mdns: mdns.config(),
    };
    let adv = match Advertiser::new(config) {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(error = %e, "LAN discovery is off; share the link instead");
            return None;
        }
    };
    for room in host.rooms() {
        if let Err(e) = adv.advertise(&AdvertisedRoom {
            fingerprint: host.fingerprint().map(str::to_string),
            ..AdvertisedRoom::from(&room)
        }) {
            tracing::warn!(error = %e, room = %room.name, "cannot announce the room on the LAN");
        }
    }
    for (_, instance) in adv.advertised() {
        tracing::info!(%instance, "announced on the local network");
    }
    Some(adv)
}
