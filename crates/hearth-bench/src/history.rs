//! Scenario 4: a room with a big history. The log is built through the host's own
//! group-commit path (`HostLog::append_batch`, batches as large as the writer thread
//! takes), which is the bulk insert rate reported; a few thousand messages committed one
//! per transaction give the comparison. Then a host serves it and one client times
//! `join` with `since_seq = head - 200` and `history` pages of 200.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use hearth::protocol::{
    encode, ClientFrame, Hello, HistoryRequest, Join, RoomRef, PROTOCOL_VERSION,
};
use hearth::store::{HostLog, NewMessage};
use hearth::Store;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use super::hist::Histogram;
use super::report::{HistoryOut, Pct, Report};
use super::serve::{DataDir, Server};
use super::{BenchArgs, Target};

/// The writer thread commits at most this many appends per transaction (server.rs).
const BATCH: usize = 4096;
const PAGE: u64 = 200;
const USERS: usize = 100;

/// A small xorshift: reproducible positions without a RNG dependency (scenario 6's
/// messages use it too). The seed must not be 0.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

pub async fn run(a: &BenchArgs) -> anyhow::Result<Report> {
    let root = match &a.data_root {
        Some(r) => tempfile::Builder::new()
            .prefix("hearth-bench-history-")
            .tempdir_in(r)?,
        None => tempfile::Builder::new()
            .prefix("hearth-bench-history-")
            .tempdir()?,
    };
    let dir = root.path().to_path_buf();
    let (n, singles, size) = (a.history_messages.max(PAGE + 1), a.single_commits, a.size);
    tracing::info!(messages = n, dir = %dir.display(), "building the big room");
    let built = tokio::task::spawn_blocking(move || build(&dir, n, singles, size))
        .await
        .context("the builder panicked")??;
    let server = Server::start(
        Target::Hearth,
        1,
        a.outgoing_queue,
        DataDir::Existing(root.path()),
    )
    .await?;
    let timed = time_reads(&server).await;
    server.stop().await;
    let (join, random, from_head, problem) = match timed {
        Ok(t) => (t.0, t.1, t.2, None),
        Err(e) => (
            Histogram::default(),
            Histogram::default(),
            Histogram::default(),
            Some(format!("{e:#}")),
        ),
    };
    let total = n + singles;
    let mut report = Report::bare("big-history");
    report.history = Some(HistoryOut {
        messages: total,
        text_size: size,
        batch: BATCH,
        group_commit_per_sec: n as f64 / built.group_secs.max(1e-9),
        group_commit_per_cpu_sec: n as f64 / built.group_cpu_secs.max(1e-9),
        group_commit_secs: built.group_secs,
        batch_commit_ms: Pct::of(&built.batch_hist),
        single_commits: singles,
        single_commit_per_sec: singles as f64 / built.single_secs.max(1e-9),
        single_commit_ms: Pct::of(&built.single_hist),
        db_bytes: built.db_bytes,
        wal_bytes: built.wal_bytes,
        bytes_per_message: (built.db_bytes + built.wal_bytes) as f64 / total as f64,
        join_ms: Pct::of(&join),
        history_random_ms: Pct::of(&random),
        history_from_head_ms: Pct::of(&from_head),
        ok: problem.is_none(),
        problem,
    });
    if let Some(h) = &report.history {
        let checks = [
            (
                "history page of 200, p99 (ms)",
                h.history_random_ms.p99.max(h.history_from_head_ms.p99),
                "<= 5",
                5.0,
                true,
            ),
            (
                "group commit inserts per second",
                h.group_commit_per_sec,
                ">= 100000",
                100_000.0,
                false,
            ),
        ];
        for (what, value, limit, bound, at_most) in checks {
            report.targets.push(super::report::Check {
                what: what.into(),
                value,
                limit: limit.into(),
                met: if at_most {
                    value <= bound
                } else {
                    value >= bound
                },
            });
        }
    }
    Ok(report)
}

struct Built {
    group_secs: f64,
    group_cpu_secs: f64,
    batch_hist: Histogram,
    single_secs: f64,
    single_hist: Histogram,
    db_bytes: u64,
    wal_bytes: u64,
}

fn build(dir: &Path, n: u64, singles: u64, size: usize) -> anyhow::Result<Built> {
    let store = Store::open(dir)?;
    // The name the bench host reopens.
    let room = store.open_hosted_room("bench-0", None)?;
    let mut log = store.host_log()?;
    let users: Vec<(Uuid, String)> = (0..USERS)
        .map(|i| (Uuid::new_v4(), format!("user{i}")))
        .collect();
    let pad = "lorem ipsum dolor sit amet ".repeat(size / 27 + 1);
    let msg = |i: u64| {
        let (user_id, author) = &users[(i % USERS as u64) as usize];
        let mut text = format!("{i} ");
        text.push_str(&pad[..size.saturating_sub(text.len()).min(pad.len())]);
        NewMessage {
            room_id: room.room_id,
            user_id: *user_id,
            author: author.clone(),
            // As the Hearth client makes them: time-ordered UUIDv7.
            client_msg_id: Uuid::now_v7().to_string(),
            text,
            verified: false,
            ..Default::default()
        }
    };
    let mut batch_hist = Histogram::default();
    let mut group = Duration::ZERO;
    let mut group_cpu = 0.0;
    let mut done = 0u64;
    let mut last_log = Instant::now();
    while done < n {
        let k = (n - done).min(BATCH as u64);
        let batch: Vec<NewMessage> = (done..done + k).map(msg).collect();
        let (t, c) = (Instant::now(), thread_cpu_secs());
        append(&mut log, &batch)?;
        let e = t.elapsed();
        group += e;
        group_cpu += thread_cpu_secs() - c;
        batch_hist.record(e.as_micros() as u64);
        done += k;
        if last_log.elapsed() > Duration::from_secs(5) {
            tracing::info!(done, "building");
            last_log = Instant::now();
        }
    }
    let mut single_hist = Histogram::default();
    let mut single = Duration::ZERO;
    for i in 0..singles {
        let m = msg(n + i);
        let t = Instant::now();
        append(&mut log, std::slice::from_ref(&m))?;
        let e = t.elapsed();
        single += e;
        single_hist.record(e.as_micros() as u64);
    }
    drop(log);
    drop(store);
    let size_of = |name: &str| {
        std::fs::metadata(dir.join(name))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    Ok(Built {
        group_secs: group.as_secs_f64(),
        group_cpu_secs: group_cpu,
        batch_hist,
        single_secs: single.as_secs_f64(),
        single_hist,
        db_bytes: size_of(hearth::store::DB_FILE),
        wal_bytes: size_of(&format!("{}-wal", hearth::store::DB_FILE)),
    })
}

/// CPU seconds used by the calling thread.
pub fn thread_cpu_secs() -> f64 {
    // SAFETY: getrusage only writes the struct we pass.
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_THREAD, &mut u) != 0 {
            return 0.0;
        }
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        tv(u.ru_utime) + tv(u.ru_stime)
    }
}

fn append(log: &mut HostLog, batch: &[NewMessage]) -> anyhow::Result<()> {
    let out = log.append_batch(batch)?;
    anyhow::ensure!(out.len() == batch.len(), "the log stored fewer messages");
    Ok(())
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn time_reads(server: &Server) -> anyhow::Result<(Histogram, Histogram, Histogram)> {
    let room = *server.rooms.first().context("no room")?;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", server.addr)).await?;
    let hello = ClientFrame::Hello(Hello {
        protocol: PROTOCOL_VERSION,
        user_id: Uuid::new_v4(),
        name: "reader".into(),
        capabilities: Vec::new(),
        identity: None,
    });
    send(&mut ws, &hello).await?;
    let (welcome, _) = wait(&mut ws, "welcome").await?;
    let head = welcome["payload"]["rooms"][0]["head_seq"]
        .as_u64()
        .context("no head_seq in welcome")?;
    anyhow::ensure!(head > PAGE, "the room has only {head} messages");
    let mut join = Histogram::default();
    for _ in 0..50 {
        let f = join_frame(room, head - PAGE);
        let t = Instant::now();
        send(&mut ws, &f).await?;
        let (v, e) = wait_since(&mut ws, "joined", t).await?;
        join.record(e.as_micros() as u64);
        let got = v["payload"]["messages"].as_array().map_or(0, Vec::len) as u64;
        anyhow::ensure!(got == PAGE, "join returned {got} messages, not {PAGE}");
        send(&mut ws, &ClientFrame::Leave(RoomRef { room_id: room })).await?;
        wait(&mut ws, "left").await?;
    }
    send(&mut ws, &join_frame(room, head)).await?;
    wait(&mut ws, "joined").await?;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut random = Histogram::default();
    for _ in 0..200 {
        let before = PAGE + 1 + rng.next() % (head - PAGE);
        random.record(page(&mut ws, room, before).await?);
    }
    let mut from_head = Histogram::default();
    let mut before = head + 1;
    for _ in 0..200 {
        if before <= PAGE {
            break;
        }
        from_head.record(page(&mut ws, room, before).await?);
        before -= PAGE;
    }
    let _ = ws.close(None).await;
    Ok((join, random, from_head))
}

async fn page(ws: &mut Ws, room: Uuid, before: u64) -> anyhow::Result<u64> {
    let f = ClientFrame::History(HistoryRequest {
        room_id: room,
        before_seq: Some(before),
        after_seq: None,
        limit: u32::try_from(PAGE).ok(),
    });
    let t = Instant::now();
    send(ws, &f).await?;
    let (v, e) = wait_since(ws, "history_page", t).await?;
    let got = v["payload"]["messages"].as_array().map_or(0, Vec::len) as u64;
    anyhow::ensure!(
        got == PAGE,
        "a history page held {got} messages, not {PAGE}"
    );
    Ok(e.as_micros() as u64)
}

fn join_frame(room_id: Uuid, since_seq: u64) -> ClientFrame {
    ClientFrame::Join(Join {
        room_id,
        passcode: None,
        since_seq: Some(since_seq),
        resume_token: None,
    })
}

async fn send(ws: &mut Ws, f: &ClientFrame) -> anyhow::Result<()> {
    ws.send(Message::Text(encode(f).into())).await?;
    Ok(())
}

async fn wait(ws: &mut Ws, kind: &str) -> anyhow::Result<(serde_json::Value, Duration)> {
    wait_since(ws, kind, Instant::now()).await
}

/// Waits for a frame of `kind`; returns it and the time from `t` to its arrival
/// (measured before it is parsed).
async fn wait_since(
    ws: &mut Ws,
    kind: &str,
    t: Instant,
) -> anyhow::Result<(serde_json::Value, Duration)> {
    let want = format!(r#"{{"type":"{kind}""#);
    loop {
        let m = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .with_context(|| format!("no {kind} within 30 s"))?
            .with_context(|| format!("closed while waiting for {kind}"))??;
        if let Message::Text(text) = m {
            let e = t.elapsed();
            if text.as_str().starts_with(&want) {
                return Ok((serde_json::from_str(text.as_str())?, e));
            }
            if text.as_str().starts_with(r#"{"type":"error""#) {
                anyhow::bail!("the host answered with an error: {}", text.as_str());
            }
        }
    }
}
