//! `hearth host`: serve one room until SIGINT or SIGTERM (hosting itself is
//! `hearth::Hosting`, shared with the app).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hearth::protocol::Visibility;
use hearth::store::RoomPolicy;
use hearth::tls::HostCert;
use hearth::{
    HostConfig, Hosting, HostingConfig, Limits, PasscodeSetting, Store, Transport, DEFAULT_PORT,
};

use crate::console;
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
    /// Keep the room off the LAN: not announced, and listed only to its members; people
    /// join with the link
    #[arg(long)]
    unlisted: bool,
    /// Admit only this host's owner and identities that joined before (with the passcode
    /// or the link); needs TLS
    #[arg(long, conflicts_with = "insecure_plaintext")]
    members_only: bool,
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
    /// Largest file a member may send, in bytes
    #[arg(long, default_value_t = Limits::default().max_file_bytes, value_name = "BYTES")]
    max_file_size: u64,
    /// What one room's files may take on this host's disk in all, in bytes
    #[arg(long, default_value_t = Limits::default().room_quota_bytes, value_name = "BYTES")]
    room_quota: u64,
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
    let limits = Limits {
        max_text_chars: a.max_text,
        messages_per_sec: a.rate,
        message_burst: a.burst,
        max_connections: a.max_connections,
        max_connections_per_ip: a.max_connections_per_ip,
        heartbeat_interval: Duration::from_secs_f64(a.heartbeat_interval),
        heartbeat_timeout: Duration::from_secs_f64(a.heartbeat_timeout),
        max_file_bytes: a.max_file_size,
        room_quota_bytes: a.room_quota,
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
    let hosting = Hosting::start(
        Arc::clone(&store),
        &data_dir,
        HostingConfig {
            host: HostConfig {
                host_name,
                limits,
                transport,
            },
            bind: a.bind,
            any_port_if_busy: false,
            mdns: (!a.no_advertise).then(|| a.mdns.config()),
        },
    )
    .await?;
    let setting = match a.passcode.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => PasscodeSetting::Set(p),
        None => PasscodeSetting::Open,
    };
    // The flags say what the room is now, as --passcode does: none means public and open.
    let policy = RoomPolicy {
        visibility: if a.unlisted {
            Visibility::Unlisted
        } else {
            Visibility::Public
        },
        members_only: a.members_only,
    };
    let room = hosting
        .open_with_policy(&name, setting, Some(policy))
        .await
        .context("the room could not be opened")?;
    println!("{}", hosting.invite(room.room_id));
    tracing::info!(
        room = %room.name,
        listen = %hosting.bound(),
        messages = room.head_seq,
        passcode = room.has_passcode,
        unlisted = a.unlisted,
        members_only = a.members_only,
        data = %store.path().display(),
        "hosting; share the link above (Ctrl-C stops; type `help` for commands)"
    );
    for instance in hosting.announced() {
        tracing::info!(%instance, "announced on the local network");
    }
    // The console ends with stdin; the host runs on until a signal.
    tokio::select! {
        () = async {
            console::run(&hosting, room.room_id).await;
            std::future::pending::<()>().await
        } => {}
        () = stop.wait() => {}
    }
    tracing::info!("shutting down");
    hosting.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
