//! The bench's server under test, in a child process of its own so that its CPU time
//! and memory can be read from /proc apart from the load generator's.
//!
//! `hearth-bench serve` (hidden) runs either a Hearth host (the same library, store and
//! writer as `hearth host`, with N rooms and no LAN announcement) or the floor, prints
//! `READY <port> <room id>,<room id>,...` and serves until stdin closes or SIGTERM.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use hearth::{Host, HostConfig, Limits, Store};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use uuid::Uuid;

use super::Target;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// What to serve
    #[arg(long, value_enum)]
    kind: Target,
    /// How many rooms
    #[arg(long, default_value_t = 1)]
    rooms: usize,
    /// Listen address (loopback only)
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: SocketAddr,
    /// The host's data directory (Hearth only)
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Frames each connection's outgoing queue holds before it is dropped as a slow reader
    #[arg(long, default_value_t = Limits::default().outgoing_queue)]
    outgoing_queue: usize,
}

/// Limits for a benchmark host: every client comes from 127.0.0.1 and sends far above
/// the per-person rates, so the connection and rate limits are lifted. Everything else,
/// durability (fsync per commit) and the outgoing queue bound included, stays as shipped.
pub fn bench_limits(outgoing_queue: usize) -> Limits {
    Limits {
        messages_per_sec: 10_000_000,
        message_burst: 10_000_000,
        frames_per_sec: 10_000_000,
        joins_per_sec: 1_000_000,
        max_connections: 1_000_000,
        max_connections_per_ip: 1_000_000,
        outgoing_queue,
        ..Limits::default()
    }
}

pub async fn run(a: ServeArgs) -> anyhow::Result<ExitCode> {
    if !a.bind.ip().is_loopback() {
        bail!("the bench server listens on loopback addresses only");
    }
    raise_fd_limit();
    let listener = listen(a.bind)?;
    let port = listener.local_addr()?.port();
    let host = match a.kind {
        Target::Hearth => {
            let dir = a
                .data_dir
                .context("--data-dir is required for a Hearth host")?;
            let store = Arc::new(Store::open(&dir)?);
            let lock = hearth::store::lock_for_hosting(&dir)?;
            let config = HostConfig {
                host_name: "bench".into(),
                limits: bench_limits(a.outgoing_queue),
                // Same transport as the floor, so the ratio measures Hearth itself.
                transport: hearth::Transport::Plaintext,
            };
            let host = Host::start(store, config)?;
            let mut ids = Vec::new();
            for i in 0..a.rooms.max(1) {
                ids.push(host.open_room(&format!("bench-{i}"), None)?.room_id);
            }
            host.serve(listener);
            Some((host, ids, lock))
        }
        Target::Floor => {
            tokio::spawn(super::floor::serve(listener));
            None
        }
        Target::Both => bail!("serve one kind at a time"),
    };
    let ids: Vec<Uuid> = match &host {
        Some((_, ids, _)) => ids.clone(),
        None => (0..a.rooms.max(1)).map(|_| Uuid::new_v4()).collect(),
    };
    let list: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    println!("READY {port} {}", list.join(","));
    if let Some(path) = std::env::var_os("HEARTH_BENCH_HEAP") {
        tokio::spawn(heap_log(PathBuf::from(path)));
    }
    // The parent holds our stdin; its end (or a signal) is the stop.
    let stop = hearth::stop::Stop::install()?;
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 64];
    tokio::select! {
        _ = stop.wait() => {}
        _ = async { while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {} } => {}
    }
    if let Some((host, _, _lock)) = host {
        host.shutdown().await;
    }
    Ok(ExitCode::SUCCESS)
}

/// A diagnostic (`HEARTH_BENCH_HEAP=FILE`): every 2 s, what glibc's allocator holds in
/// use and free, beside the RSS, so that memory held can be told from fragmentation.
async fn heap_log(path: PathBuf) {
    use std::io::Write;
    let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    else {
        return;
    };
    loop {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        {
            // SAFETY: mallinfo2 only reads the allocator's statistics.
            let m = unsafe { libc::mallinfo2() };
            let rss = ProcStats::own().rss_kib;
            let _ = writeln!(
                f,
                "rss_kib={rss} in_use_kib={} mmap_kib={} free_kib={} top_free_kib={}",
                m.uordblks / 1024,
                m.hblkhd / 1024,
                m.fordblks / 1024,
                m.keepcost / 1024
            );
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

fn listen(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    sock.set_reuse_address(true)?;
    sock.bind(&addr.into())?;
    // A deep backlog: the connect phase opens thousands of connections at once.
    sock.listen(4096)?;
    sock.set_nonblocking(true)?;
    Ok(TcpListener::from_std(sock.into())?)
}

/// Raises the soft file-descriptor limit to the hard one (10,000 connections need it).
pub fn raise_fd_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return 0;
        }
        if r.rlim_cur < r.rlim_max {
            let want = libc::rlimit {
                rlim_cur: r.rlim_max,
                rlim_max: r.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                return want.rlim_cur;
            }
        }
        r.rlim_cur
    }
}

/// Where a started Hearth host keeps its data.
pub enum DataDir<'a> {
    /// A fresh temporary directory under this root (or the system temp directory).
    Fresh(Option<&'a Path>),
    /// An existing data directory (scenario 4's prepared log), kept afterwards.
    Existing(&'a Path),
}

/// A child process serving Hearth or the floor.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub rooms: Vec<Uuid>,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts `hearth-bench serve` and waits for its READY line.
    pub async fn start(
        kind: Target,
        rooms: usize,
        outgoing_queue: usize,
        data: DataDir<'_>,
    ) -> anyhow::Result<Server> {
        let exe = std::env::current_exe().context("cannot find the hearth-bench binary")?;
        let mut cmd = Command::new(exe);
        cmd.arg("serve")
            .arg("--kind")
            .arg(match kind {
                Target::Floor => "floor",
                _ => "hearth",
            })
            .arg("--rooms")
            .arg(rooms.to_string())
            .arg("--outgoing-queue")
            .arg(outgoing_queue.to_string());
        let dir = match (kind, data) {
            (Target::Hearth, DataDir::Fresh(root)) => {
                let dir = match root {
                    Some(root) => tempfile::Builder::new()
                        .prefix("hearth-bench-")
                        .tempdir_in(root)?,
                    None => tempfile::Builder::new().prefix("hearth-bench-").tempdir()?,
                };
                cmd.arg("--data-dir").arg(dir.path());
                Some(dir)
            }
            (Target::Hearth, DataDir::Existing(path)) => {
                cmd.arg("--data-dir").arg(path);
                None
            }
            _ => None,
        };
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd.spawn().context("cannot start the bench server")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut line = String::new();
        let mut reader = BufReader::new(stdout);
        tokio::time::timeout(Duration::from_secs(30), reader.read_line(&mut line))
            .await
            .context("the bench server did not start within 30 s")??;
        let mut parts = line.split_whitespace();
        if parts.next() != Some("READY") {
            bail!("the bench server failed to start: {line:?}");
        }
        let port: u16 = parts.next().context("no port")?.parse()?;
        let rooms = parts
            .next()
            .context("no rooms")?
            .split(',')
            .map(Uuid::parse_str)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            rooms,
            _dir: dir,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub fn stats(&self) -> ProcStats {
        self.pid().map(ProcStats::read).unwrap_or_default()
    }

    /// Stops the server (stdin closed, then SIGKILL after 10 s).
    pub async fn stop(mut self) {
        drop(self.child.stdin.take());
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// CPU time and memory of a process, from /proc.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcStats {
    /// User plus system CPU seconds.
    pub cpu_secs: f64,
    pub rss_kib: u64,
    /// Peak RSS (VmHWM).
    pub peak_rss_kib: u64,
}

impl ProcStats {
    pub fn read(pid: u32) -> ProcStats {
        let mut s = ProcStats::default();
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // Fields after the command name (which may hold spaces) start at state (3).
            if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
                let f: Vec<&str> = rest.split_whitespace().collect();
                let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
                // utime is field 14 and stime 15, i.e. 11 and 12 after the state.
                if let (Some(u), Some(st)) = (ticks(11), ticks(12)) {
                    s.cpu_secs = (u + st) / clock_ticks();
                }
            }
        }
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            let kib = |key: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(key))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                    .unwrap_or(0)
            };
            s.rss_kib = kib("VmRSS:");
            s.peak_rss_kib = kib("VmHWM:");
        }
        s
    }

    pub fn own() -> ProcStats {
        ProcStats::read(std::process::id())
    }
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no memory effects.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}
