//! `hearth host`: serve one room until SIGINT or SIGTERM.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hearth::{Host, HostConfig, Invite, Limits, Store, DEFAULT_PORT};

use crate::DataDir;

#[derive(clap::Args, Debug)]
pub struct HostArgs {
    /// The room's name; an existing room of this name in the data directory is reopened with its history
    #[arg(long)]
    name: String,
    /// Require this passcode to join (stored only as an Argon2id hash). Without it the room is open
    #[arg(long, env = "HEARTH_PASSCODE", hide_env_values = true)]
    passcode: Option<String>,
    /// Address and port to listen on; port 0 picks a free port
    #[arg(long, default_value_t = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), DEFAULT_PORT))]
    bind: SocketAddr,
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

/// The address to put in the invite: the bound one, or for a wildcard bind the first
/// non-loopback IPv4 address of an interface that is up.
fn advertised_ip(bound: SocketAddr) -> IpAddr {
    if !bound.ip().is_unspecified() {
        return bound.ip();
    }
    if_addrs::get_if_addrs()
        .ok()
        .and_then(|ifs| {
            ifs.into_iter()
                .filter(|i| !i.is_loopback())
                .map(|i| i.ip())
                .find(|ip| ip.is_ipv4())
        })
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
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
    let stop = Stop::install()?;
    let host = Host::start(Arc::clone(&store), HostConfig { host_name, limits })?;
    let room = host.open_room(&name, a.passcode.as_deref())?;
    let bound = host.bind(a.bind).await?;
    let invite = Invite {
        host: advertised_ip(bound).to_string(),
        port: bound.port(),
        room_id: Some(room.room_id),
        fingerprint: None,
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
    stop.wait().await;
    tracing::info!("shutting down");
    host.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// SIGINT or SIGTERM (Ctrl-C only, off Unix).
struct Stop {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Stop {
    #[cfg(unix)]
    fn install() -> anyhow::Result<Stop> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Stop {
            term: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?,
        })
    }

    #[cfg(not(unix))]
    fn install() -> anyhow::Result<Stop> {
        Ok(Stop {})
    }

    #[cfg(unix)]
    async fn wait(mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }

    #[cfg(not(unix))]
    async fn wait(self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
