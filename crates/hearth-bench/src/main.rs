//! `hearth-bench`: a load generator for Hearth hosts, with a bare fan-out server (the
//! floor) to compare against. See docs/performance.md for the scenarios and results.
//! Its own binary, so that the `hearth` users get carries neither it nor its plotting.

mod corpus;
mod floor;
mod hist;
mod history;
mod load;
mod plot;
mod report;
mod search;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use hearth::{Invite, Limits};

use load::{Endpoint, LoadResult, LoadSpec};
use report::{Report, Run};
use serve::Server;

/// Which server the clients load.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// A Hearth host (persistence on, fsync per group commit)
    Hearth,
    /// The bare tokio-tungstenite fan-out server
    Floor,
    /// Hearth, then the floor, alternately, with the ratio between them
    Both,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Whatever the other options say
    Custom,
    /// 1: 100 clients in one room, all sending as fast as acks allow
    BusyRoom,
    /// 2: 1 room, 1,000 clients, 10 senders at half of scenario 1's delivered rate
    FixedLoad,
    /// 3: 10,000 idle connections over 100 rooms: RSS per connection, connect rate
    Idle,
    /// 4: a room with 1,000,000 messages: join, history page, disk size, insert rates
    BigHistory,
    /// 5: scenario 2 with one member that stops reading, against scenario 2 itself
    SlowReader,
    /// 6: full-text search over a client cache of 1,000,000 messages: ingest with and
    /// without the index, live inserts, first-page query latency, disk size
    Search,
    /// Every scenario in turn (2 and 5 use scenario 1's result)
    All,
}

#[derive(clap::Args, Debug, Clone)]
#[command(
    after_help = "Scenarios are documented with their results in docs/performance.md.\n\
    Without --url the bench starts the server itself (a child process on 127.0.0.1 with\n\
    rate and connection limits lifted) and reports its CPU time and peak RSS.\n\
    Any lost or duplicated message, error or disconnection fails the run (exit 1)."
)]
pub struct BenchArgs {
    /// A preset scenario; it sets clients, rooms, senders and rate unless given
    #[arg(long, value_enum, default_value_t = Scenario::Custom)]
    scenario: Scenario,
    /// The server to load [default: both; hearth with --url]
    #[arg(long, value_enum)]
    target: Option<Target>,
    /// Load a host that is already running (invite link or host:port) instead of starting
    /// one. Start it with limits that fit: e.g. `hearth host --rate 1000000 --burst 1000000
    /// --max-connections 20000 --max-connections-per-ip 20000`
    #[arg(long)]
    url: Option<String>,
    /// Clients (WebSocket connections) [default: 100, or the scenario's]
    #[arg(long)]
    clients: Option<usize>,
    /// Rooms the clients spread over, round robin [default: 1, or the scenario's]
    #[arg(long)]
    rooms: Option<usize>,
    /// How many of the clients send [default: all of them, or the scenario's]
    #[arg(long)]
    senders: Option<usize>,
    /// Messages per second per sender; 0 sends as fast as acknowledgements allow
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Total messages per second over all senders (instead of --rate)
    #[arg(long)]
    total_rate: Option<f64>,
    /// Messages in flight per sender when pacing by acknowledgements
    #[arg(long, default_value_t = 1)]
    window: usize,
    /// Message text size in bytes
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// Warm-up seconds (not measured)
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Measured seconds
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Runs per target; medians are reported
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Clients that join and then stop reading
    #[arg(long, default_value_t = 0)]
    slow_readers: usize,
    /// Connections being set up at once
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// The started host's outgoing queue per connection, in frames
    #[arg(long, default_value_t = Limits::default().outgoing_queue)]
    outgoing_queue: usize,
    /// Scenario 4: messages in the big room
    #[arg(long, default_value_t = 1_000_000)]
    history_messages: u64,
    /// Scenario 4: messages committed one per transaction, for the comparison
    #[arg(long, default_value_t = 2_000)]
    single_commits: u64,
    /// Scenario 6: messages cached in history pages before the live ones and the searches
    #[arg(long, default_value_t = 1_000_000)]
    search_messages: u64,
    /// Scenario 6: messages cached one per call after the bulk load, as live ones arrive
    #[arg(long, default_value_t = 2_000)]
    search_live: u64,
    /// Scenario 6: rounds of the query mix (one query of each kind per round)
    #[arg(long, default_value_t = 200)]
    search_iterations: usize,
    /// Where started hosts (and scenario 6's caches) keep their data [default: the system temp directory]
    #[arg(long)]
    data_root: Option<PathBuf>,
    /// Print the report as JSON instead of a table
    #[arg(long)]
    json: bool,
    /// Also write the JSON report to this file (the table still goes to stdout)
    #[arg(long, value_name = "FILE.json")]
    json_out: Option<PathBuf>,
    /// Draw the latency distribution and throughput over time into this SVG file
    /// (with --scenario all: one file per scenario, named after it)
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
}

pub async fn run(a: BenchArgs) -> anyhow::Result<ExitCode> {
    serve::raise_fd_limit();
    let mut reports = Vec::new();
    match a.scenario {
        Scenario::All => {
            let r1 = busy_room(&a).await?;
            let d1 = r1.median("hearth", |r| r.delivered_per_sec);
            reports.push(r1);
            let r2 = fixed_load(&a, Some(d1), false).await?;
            reports.push(r2);
            reports.push(fixed_load(&a, Some(d1), true).await?);
            reports.push(idle(&a).await?);
            reports.push(history::run(&a).await?);
            reports.push(search::run(&a).await?);
        }
        Scenario::BusyRoom => reports.push(busy_room(&a).await?),
        Scenario::FixedLoad => reports.push(fixed_load(&a, None, false).await?),
        Scenario::SlowReader => reports.push(fixed_load(&a, None, true).await?),
        Scenario::Idle => reports.push(idle(&a).await?),
        Scenario::BigHistory => reports.push(history::run(&a).await?),
        Scenario::Search => reports.push(search::run(&a).await?),
        Scenario::Custom => {
            let spec = spec(&a, 100, 1, None, None);
            reports.push(
                load_report(&a, "custom", &spec, a.target.unwrap_or(default_target(&a))).await?,
            );
        }
    }
    for r in &mut reports {
        if let Some(p) = &a.plot {
            let path = if a.scenario == Scenario::All {
                plot::path_for(p, &r.scenario)
            } else {
                p.clone()
            };
            if r.plottable() {
                plot::draw(r, &path).with_context(|| format!("cannot draw {}", path.display()))?;
                r.plot = Some(path.display().to_string());
            }
        }
    }
    let ok = reports.iter().all(Report::ok);
    let v = if reports.len() == 1 {
        serde_json::to_value(&reports[0])?
    } else {
        serde_json::to_value(&reports)?
    };
    if let Some(path) = &a.json_out {
        std::fs::write(path, serde_json::to_string_pretty(&v)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for r in &reports {
            println!("{}", r.table());
        }
    }
    if ok {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "bench FAILED: lost or duplicate messages, errors or disconnections (see the report)"
        );
        Ok(ExitCode::from(1))
    }
}

fn default_target(a: &BenchArgs) -> Target {
    if a.url.is_some() {
        Target::Hearth
    } else {
        Target::Both
    }
}

fn secs(v: f64) -> Duration {
    Duration::from_secs_f64(v.max(0.0))
}

/// The load for this invocation: explicit options win over the scenario's values.
fn spec(
    a: &BenchArgs,
    clients: usize,
    rooms: usize,
    senders: Option<usize>,
    total_rate: Option<f64>,
) -> LoadSpec {
    let clients = a.clients.unwrap_or(clients);
    let senders = a.senders.or(senders).unwrap_or(clients).min(clients);
    let total = a.total_rate.or(total_rate);
    let rate = match total {
        Some(t) if senders > 0 => Some(t / senders as f64),
        _ if a.rate > 0.0 => Some(a.rate),
        _ => None,
    };
    LoadSpec {
        clients,
        rooms: a.rooms.unwrap_or(rooms),
        senders,
        rate,
        window: a.window,
        size: a.size.max(24),
        warmup: secs(a.warmup),
        duration: secs(a.duration),
        slow_readers: a.slow_readers,
        connect_concurrency: a.connect_concurrency,
    }
}

async fn busy_room(a: &BenchArgs) -> anyhow::Result<Report> {
    let s = spec(a, 100, 1, None, None);
    load_report(a, "busy-room", &s, a.target.unwrap_or(default_target(a))).await
}

/// Scenario 2 (and 5 with `slow`): the total send rate is half of scenario 1's delivered
/// messages per second, divided by the receivers, so that the host delivers half of
/// scenario 1's maximum. Without a scenario 1 result at hand, a short one is run first.
async fn fixed_load(a: &BenchArgs, d1: Option<f64>, slow: bool) -> anyhow::Result<Report> {
    let clients = a.clients.unwrap_or(1000);
    let total = match (a.total_rate, d1) {
        (Some(t), _) => t,
        (None, Some(d1)) => d1 / 2.0 / clients as f64,
        (None, None) => {
            tracing::info!("calibrating: a short scenario 1 run for the fixed rate");
            let mut cal = a.clone();
            cal.target = Some(Target::Hearth);
            cal.repeat = 1;
            cal.clients = None;
            cal.senders = None;
            cal.rooms = None;
            cal.warmup = 1.0;
            cal.duration = 3.0;
            let r = busy_room(&cal).await?;
            r.median("hearth", |r| r.delivered_per_sec) / 2.0 / clients as f64
        }
    };
    let s = spec(a, 1000, 1, Some(10), Some(total));
    let target = a.target.unwrap_or(Target::Hearth);
    if !slow {
        return load_report(a, "fixed-load", &s, target).await;
    }
    // Scenario 5 compares against scenario 2 measured in the same invocation.
    let mut slow_spec = s.clone();
    slow_spec.slow_readers = slow_spec.slow_readers.max(1);
    let mut base = s;
    base.slow_readers = 0;
    let mut report = Report::new(a, "slow-reader", &slow_spec);
    for i in 0..a.repeat.max(1) {
        for (label, sp) in [("baseline", &base), ("slow-reader", &slow_spec)] {
            let r = one_run(a, sp, target).await?;
            report.runs.push(Run::new(label, i + 1, sp, r));
        }
    }
    report.finish();
    Ok(report)
}

async fn idle(a: &BenchArgs) -> anyhow::Result<Report> {
    let mut s = spec(a, 10_000, 100, Some(0), None);
    // Idle: nobody sends; hold the connections for the measured time.
    s.warmup = Duration::ZERO;
    s.connect_concurrency = a.connect_concurrency;
    load_report(a, "idle", &s, a.target.unwrap_or(default_target(a))).await
}

async fn load_report(
    a: &BenchArgs,
    name: &str,
    spec: &LoadSpec,
    target: Target,
) -> anyhow::Result<Report> {
    let mut report = Report::new(a, name, spec);
    let kinds: &[Target] = match target {
        Target::Both => &[Target::Hearth, Target::Floor],
        Target::Hearth => &[Target::Hearth],
        Target::Floor => &[Target::Floor],
    };
    for i in 0..a.repeat.max(1) {
        for &k in kinds {
            let label = match k {
                Target::Floor => "floor",
                _ => "hearth",
            };
            tracing::info!(scenario = name, target = label, run = i + 1, "running");
            let r = one_run(a, spec, k).await?;
            report.runs.push(Run::new(label, i + 1, spec, r));
        }
    }
    report.finish();
    Ok(report)
}

/// One measured run against a fresh server (or the --url host).
async fn one_run(a: &BenchArgs, spec: &LoadSpec, kind: Target) -> anyhow::Result<LoadResult> {
    if let Some(url) = &a.url {
        let invite = Invite::parse(url)?;
        let addr = tokio::net::lookup_host(invite.authority())
            .await?
            .find(|a| a.ip().is_loopback())
            .context("the bench only loads hosts on loopback addresses (127.0.0.0/8, ::1)")?;
        let rooms = match invite.room_id {
            Some(r) => vec![r],
            None => anyhow::bail!("give an invite link with a room id"),
        };
        let ep = Endpoint {
            url: invite.ws_url(),
            addr,
            rooms,
            server: None,
        };
        return load::run(spec, &ep).await;
    }
    let server = Server::start(
        kind,
        spec.rooms.max(1),
        a.outgoing_queue,
        serve::DataDir::Fresh(a.data_root.as_deref()),
    )
    .await?;
    let ep = Endpoint {
        url: format!("ws://{}/", server.addr),
        addr: server.addr,
        rooms: server.rooms.clone(),
        server: Some(&server),
    };
    let r = load::run(spec, &ep).await;
    server.stop().await;
    r
}

#[derive(clap::Parser)]
#[command(
    name = "hearth-bench",
    version,
    about = "Load-test a Hearth host (or the bare fan-out floor) with WebSocket clients on loopback",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Sub>,
    #[command(flatten)]
    bench: BenchArgs,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// The bench's server process (started by the bench itself).
    #[command(hide = true)]
    Serve(serve::ServeArgs),
}

fn main() -> ExitCode {
    use clap::Parser;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(hearth::log_filter(
                std::env::var("HEARTH_LOG").ok().as_deref(),
                "warn",
            ))
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_target(false)
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Some(Sub::Serve(a)) => serve::run(a).await,
            None => run(cli.bench).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
