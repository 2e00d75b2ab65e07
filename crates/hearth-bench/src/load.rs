//! The load itself: real WebSocket clients that join rooms, send, and check every
//! message they receive for loss, duplication and latency.
//!
//! Each message's text starts with `<sender>.<number>.<send time in ns>.` (hex), so a
//! receiver knows who sent it, whether it is the next one from that sender (per-sender
//! order is guaranteed by Hearth and by the floor), and how long it took. Every client
//! also receives its own messages, as in Hearth; each receipt counts as one delivery.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use uuid::Uuid;

use hearth::protocol::{encode, ClientFrame, Hello, Join, PROTOCOL_VERSION};

use super::hist::Histogram;
use super::serve::{ProcStats, Server};

type Ws = WebSocketStream<TcpStream>;

/// Width of one point of the throughput-over-time series.
pub const BUCKET: Duration = Duration::from_millis(100);
/// How long stragglers get after the measurement ends to receive everything sent.
const DRAIN: Duration = Duration::from_secs(15);
/// Between publishing the clock and the first send: every client sees the start first.
const START_DELAY: Duration = Duration::from_millis(200);

#[derive(Clone, Debug)]
pub struct LoadSpec {
    pub clients: usize,
    pub rooms: usize,
    pub senders: usize,
    /// Messages per second per sender; `None` sends as fast as acks allow.
    pub rate: Option<f64>,
    /// Messages in flight per sender when pacing by acks.
    pub window: usize,
    pub size: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// Clients (not senders) that join and then never read again.
    pub slow_readers: usize,
    pub connect_concurrency: usize,
}

/// Where the clients connect.
pub struct Endpoint<'a> {
    pub url: String,
    pub addr: SocketAddr,
    pub rooms: Vec<Uuid>,
    /// Set when the bench started the server itself: its /proc stats are reported.
    pub server: Option<&'a Server>,
}

#[derive(Clone, Debug, Default)]
pub struct LoadResult {
    pub connected: usize,
    pub connect_secs: f64,
    pub measured_secs: f64,
    pub delivered: u64,
    pub acks: u64,
    pub latency: Histogram,
    pub ack_latency: Histogram,
    pub lost: u64,
    pub duplicates: u64,
    pub unacked: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub disconnected: usize,
    /// Per `BUCKET` from the start of the warm-up: (deliveries, acks).
    pub series: Vec<(u64, u64)>,
    pub warmup_secs: f64,
    pub server: Option<ServerUsage>,
    pub bench_cpu_secs: f64,
    /// Close codes the slow readers got (4001 when the host dropped them).
    pub slow_reader_closes: Vec<Option<u16>>,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct ServerUsage {
    /// CPU seconds (user + system) during the measurement window.
    pub cpu_secs: f64,
    pub rss_before_kib: u64,
    pub rss_connected_kib: u64,
    pub peak_rss_kib: u64,
}

impl LoadResult {
    pub fn delivered_per_sec(&self) -> f64 {
        self.delivered as f64 / self.measured_secs.max(1e-9)
    }
    pub fn acks_per_sec(&self) -> f64 {
        self.acks as f64 / self.measured_secs.max(1e-9)
    }
    pub fn connect_rate(&self) -> f64 {
        self.connected as f64 / self.connect_secs.max(1e-9)
    }
}

#[derive(Clone, Copy)]
struct Times {
    t0: Instant,
    warm_end: Instant,
    end: Instant,
}

struct Ctx {
    epoch: Instant,
    size: usize,
    rate: Option<f64>,
    window: usize,
    /// Per sender (dense index): messages sent so far, and whether it has finished
    /// (stopped sending with every send acknowledged, or given up at the drain deadline).
    sent: Vec<AtomicU64>,
    done: Vec<AtomicBool>,
    /// Dense sender indexes per room index.
    room_senders: Vec<Vec<usize>>,
    times: watch::Receiver<Option<Times>>,
    stop: watch::Receiver<bool>,
    ready: AtomicUsize,
    complete: AtomicUsize,
    buckets: usize,
}

struct Role {
    room_idx: usize,
    room: Uuid,
    sender: Option<usize>,
    slow: bool,
}

#[derive(Default)]
struct ClientStats {
    delivered: u64,
    acks: u64,
    latency: Histogram,
    ack_latency: Histogram,
    series: Vec<(u64, u64)>,
    lost: u64,
    duplicates: u64,
    unacked: u64,
    errors: u64,
    first_error: Option<String>,
    disconnected: bool,
    close: Option<u16>,
    slow: bool,
}

/// Runs one load against `ep` and gathers the results.
pub async fn run(spec: &LoadSpec, ep: &Endpoint<'_>) -> anyhow::Result<LoadResult> {
    anyhow::ensure!(!ep.rooms.is_empty(), "the server has no rooms");
    let rooms = spec.rooms.clamp(1, ep.rooms.len());
    let clients = spec.clients.max(1);
    let senders = spec.senders.min(clients);
    let slow = spec.slow_readers.min(clients - senders);
    let mut room_senders = vec![Vec::new(); rooms];
    for s in 0..senders {
        room_senders[s % rooms].push(s);
    }
    let span = spec.warmup + spec.duration + DRAIN + Duration::from_secs(1);
    let (times_tx, times_rx) = watch::channel(None);
    let (stop_tx, stop_rx) = watch::channel(false);
    let ctx = Arc::new(Ctx {
        epoch: Instant::now(),
        size: spec.size,
        rate: spec.rate,
        window: spec.window.max(1),
        sent: (0..senders).map(|_| AtomicU64::new(0)).collect(),
        done: (0..senders).map(|_| AtomicBool::new(false)).collect(),
        room_senders,
        times: times_rx,
        stop: stop_rx,
        ready: AtomicUsize::new(0),
        complete: AtomicUsize::new(0),
        buckets: (span.as_millis() / BUCKET.as_millis()) as usize + 1,
    });
    let stats_before = ep.server.map(Server::stats);
    let bench_cpu0 = ProcStats::own().cpu_secs;
    let permits = Arc::new(Semaphore::new(spec.connect_concurrency.max(1)));
    let (fail_tx, mut fail_rx) = tokio::sync::mpsc::channel::<String>(16);
    let connect_start = Instant::now();
    let mut handles = Vec::with_capacity(clients);
    for i in 0..clients {
        // Senders first, spread over the rooms; then the slow readers; then listeners.
        let role = Role {
            room_idx: i % rooms,
            room: ep.rooms[i % rooms],
            sender: (i < senders).then_some(i),
            slow: i >= senders && i < senders + slow,
        };
        let (ctx, permits, url, addr, fail) = (
            Arc::clone(&ctx),
            Arc::clone(&permits),
            ep.url.clone(),
            ep.addr,
            fail_tx.clone(),
        );
        handles.push(tokio::spawn(async move {
            let ws = {
                let _permit = permits.acquire().await;
                match connect(&url, addr, role.room, i, role.slow).await {
                    Ok(ws) => ws,
                    Err(e) => {
                        let _ = fail.try_send(format!("client {i}: {e:#}"));
                        return None;
                    }
                }
            };
            ctx.ready.fetch_add(1, Ordering::AcqRel);
            Some(client(ctx, role, ws).await)
        }));
    }
    drop(fail_tx);
    // Everyone connected and joined (or one failed), within a generous bound.
    let connect_deadline = connect_start + Duration::from_secs(60 + clients as u64 / 50);
    loop {
        if ctx.ready.load(Ordering::Acquire) == clients {
            break;
        }
        if let Ok(e) = fail_rx.try_recv() {
            let _ = stop_tx.send(true);
            anyhow::bail!("cannot connect: {e}");
        }
        if Instant::now() > connect_deadline {
            let _ = stop_tx.send(true);
            anyhow::bail!(
                "only {} of {clients} clients connected in time",
                ctx.ready.load(Ordering::Acquire)
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let connect_secs = connect_start.elapsed().as_secs_f64();
    // Let the join announcements settle before the clock starts.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stats_connected = ep.server.map(Server::stats);
    let t0 = Instant::now() + START_DELAY;
    let times = Times {
        t0,
        warm_end: t0 + spec.warmup,
        end: t0 + spec.warmup + spec.duration,
    };
    let _ = times_tx.send(Some(times));
    tokio::time::sleep_until(times.warm_end.into()).await;
    let cpu_warm = ep.server.map(|s| s.stats().cpu_secs);
    let bench_cpu_warm = ProcStats::own().cpu_secs;
    tokio::time::sleep_until(times.end.into()).await;
    let cpu_end = ep.server.map(|s| s.stats().cpu_secs);
    let bench_cpu_end = ProcStats::own().cpu_secs;
    let _ = bench_cpu0;
    // Drain: every listener has everything that was sent, or the deadline passed.
    let listeners = clients - slow;
    let drain_deadline = times.end + DRAIN;
    while ctx.complete.load(Ordering::Acquire) < listeners && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats_end = ep.server.map(Server::stats);
    let _ = stop_tx.send(true);
    let mut out = LoadResult {
        connected: clients,
        connect_secs,
        measured_secs: spec.duration.as_secs_f64(),
        warmup_secs: spec.warmup.as_secs_f64(),
        series: vec![(0, 0); ctx.buckets],
        bench_cpu_secs: bench_cpu_end - bench_cpu_warm,
        ..LoadResult::default()
    };
    for h in handles {
        let Ok(Some(s)) = tokio::time::timeout(Duration::from_secs(30), h)
            .await
            .context("a client did not stop")?
        else {
            continue;
        };
        if s.slow {
            out.slow_reader_closes.push(s.close);
            continue;
        }
        out.delivered += s.delivered;
        out.acks += s.acks;
        out.latency.merge(&s.latency);
        out.ack_latency.merge(&s.ack_latency);
        out.lost += s.lost;
        out.duplicates += s.duplicates;
        out.unacked += s.unacked;
        out.errors += s.errors;
        if out.first_error.is_none() {
            out.first_error = s.first_error;
        }
        out.disconnected += usize::from(s.disconnected);
        for (o, v) in out.series.iter_mut().zip(&s.series) {
            o.0 += v.0;
            o.1 += v.1;
        }
    }
    // Trim the empty tail of the series.
    while out.series.last().is_some_and(|v| *v == (0, 0)) {
        out.series.pop();
    }
    if let (Some(b), Some(c), Some(e), Some(w), Some(end)) =
        (stats_before, stats_connected, stats_end, cpu_warm, cpu_end)
    {
        out.server = Some(ServerUsage {
            cpu_secs: end - w,
            rss_before_kib: b.rss_kib,
            rss_connected_kib: c.rss_kib,
            peak_rss_kib: e.peak_rss_kib,
        });
    }
    Ok(out)
}

fn ws_config() -> WebSocketConfig {
    // 10,000 idle bench clients must fit in the bench process too.
    WebSocketConfig::default()
        .read_buffer_size(32 * 1024)
        .write_buffer_size(16 * 1024)
}

async fn connect(
    url: &str,
    addr: SocketAddr,
    room: Uuid,
    i: usize,
    slow: bool,
) -> anyhow::Result<Ws> {
    let sock = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if slow {
        // A small window makes the stalled reader's backlog reach the host's queue
        // within the run instead of hiding in megabytes of loopback socket buffers.
        sock.set_recv_buffer_size(4096)?;
    }
    let stream = tokio::time::timeout(Duration::from_secs(20), sock.connect(addr))
        .await
        .context("TCP connect timed out")??;
    stream.set_nodelay(true)?;
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(20),
        tokio_tungstenite::client_async_with_config(url, stream, Some(ws_config())),
    )
    .await
    .context("WebSocket upgrade timed out")??;
    let hello = ClientFrame::Hello(Hello {
        protocol: PROTOCOL_VERSION,
        user_id: Uuid::new_v4(),
        name: format!("bench{i}"),
        capabilities: Vec::new(),
        identity: None,
    });
    ws.send(Message::Text(encode(&hello).into())).await?;
    let welcome = expect(&mut ws, "welcome").await?;
    // Resume from the room's head: a joined frame with no backlog, as a returning client.
    let head = serde_json::from_str::<serde_json::Value>(&welcome)
        .ok()
        .and_then(|v| {
            v["payload"]["rooms"].as_array().and_then(|rs| {
                rs.iter()
                    .find(|r| r["room_id"].as_str() == Some(&room.to_string()))
                    .and_then(|r| r["head_seq"].as_u64())
            })
        });
    let join = ClientFrame::Join(Join {
        room_id: room,
        passcode: None,
        since_seq: head,
        resume_token: None,
    });
    ws.send(Message::Text(encode(&join).into())).await?;
    expect(&mut ws, "joined").await?;
    Ok(ws)
}

/// Reads until a frame of type `kind`; an error frame or the end fails.
async fn expect(ws: &mut Ws, kind: &str) -> anyhow::Result<String> {
    let want = format!(r#"{{"type":"{kind}""#);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let m = tokio::time::timeout_at(deadline.into(), ws.next())
            .await
            .with_context(|| format!("no {kind} within 30 s"))?;
        match m {
            Some(Ok(Message::Text(t))) if t.as_str().starts_with(&want) => {
                return Ok(t.as_str().to_string())
            }
            Some(Ok(Message::Text(t))) if t.as_str().starts_with(r#"{"type":"error""#) => {
                anyhow::bail!("the server refused: {}", t.as_str())
            }
            Some(Ok(Message::Close(c))) => anyhow::bail!("closed while waiting for {kind}: {c:?}"),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => anyhow::bail!("closed while waiting for {kind}"),
        }
    }
}

fn hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s, 16).ok()
}

/// Parses `<sender>.<n>.<ns>.` at the start of a message's text inside a frame.
fn parse_text(frame: &str) -> Option<(usize, u64, u64)> {
    const KEY: &str = r#""text":""#;
    let start = frame.rfind(KEY)? + KEY.len();
    let mut it = frame[start..].splitn(4, '.');
    let s = hex(it.next()?)? as usize;
    let n = hex(it.next()?)?;
    let ns = hex(it.next()?)?;
    Some((s, n, ns))
}

async fn client(ctx: Arc<Ctx>, role: Role, mut ws: Ws) -> ClientStats {
    let mut st = ClientStats {
        series: vec![(0, 0); ctx.buckets],
        slow: role.slow,
        ..ClientStats::default()
    };
    let mut stop = ctx.stop.clone();
    if role.slow {
        slow_reader(&ctx, &mut ws, &mut st, &mut stop).await;
        return st;
    }
    let mut times_rx = ctx.times.clone();
    let times = loop {
        if let Some(t) = *times_rx.borrow_and_update() {
            break Some(t);
        }
        tokio::select! {
            biased;
            r = times_rx.changed() => if r.is_err() { break None },
            _ = stop.changed() => break None,
            // Before the clock starts: presence frames and pings only.
            m = ws.next(), if !st.disconnected => handle_idle(&mut st, m),
        }
    };
    let Some(times) = times else { return st };
    let room_senders = &ctx.room_senders[role.room_idx];
    // Per sender of this room: the last message number received and how many.
    let max_sender = room_senders.iter().copied().max().map_or(0, |m| m + 1);
    let mut last = vec![0u64; max_sender];
    let mut received = vec![0u64; max_sender];
    let mut inflight: std::collections::VecDeque<(u64, Instant)> = Default::default();
    let mut next_no = 1u64;
    let mut sending = role.sender.is_some();
    let mut complete = false;
    let text_pad = ctx.size;
    let period = ctx.rate.map(|r| Duration::from_secs_f64(1.0 / r.max(1e-3)));
    // Senders in rate mode start at a random phase so they do not tick together.
    let phase = period.map_or(Duration::ZERO, |p| p.mul_f64(rand_unit()));
    let mut tick = tokio::time::interval_at(
        (times.t0 + phase).into(),
        period.unwrap_or(Duration::from_secs(3600)),
    );
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut check = tokio::time::interval_at(times.end.into(), Duration::from_millis(20));
    let bucket_of = |now: Instant| {
        (now.saturating_duration_since(times.t0).as_millis() / BUCKET.as_millis()) as usize
    };
    // Ack-paced senders open their window at t0.
    let mut kick_off = role.sender.is_some() && period.is_none();
    tokio::time::sleep_until(times.t0.into()).await;
    while !st.disconnected {
        if kick_off {
            kick_off = false;
            for _ in 0..ctx.window {
                if send(&ctx, &role, &mut ws, &mut next_no, &mut inflight, text_pad)
                    .await
                    .is_err()
                {
                    st.disconnected = true;
                    break;
                }
            }
        }
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            m = ws.next() => {
                let now = Instant::now();
                let text = match m {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(c))) => {
                        st.close = c.map(|c| u16::from(c.code));
                        st.disconnected = true;
                        break;
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => {
                        st.disconnected = true;
                        break;
                    }
                };
                let t = text.as_str();
                let measured = now >= times.warm_end && now < times.end;
                let b = bucket_of(now);
                if t.starts_with(r#"{"type":"message""#) {
                    let Some((s, n, ns)) = parse_text(t) else {
                        st.errors += 1;
                        st.first_error.get_or_insert_with(|| format!("unparsable message: {t:.200}"));
                        continue;
                    };
                    if s >= max_sender {
                        st.errors += 1;
                        st.first_error.get_or_insert_with(|| format!("message from a sender in another room: {t:.200}"));
                        continue;
                    }
                    if n <= last[s] {
                        st.duplicates += 1;
                        continue;
                    }
                    last[s] = n;
                    received[s] += 1;
                    if let Some(v) = st.series.get_mut(b) {
                        v.0 += 1;
                    }
                    if measured {
                        st.delivered += 1;
                        let sent_at = ctx.epoch + Duration::from_nanos(ns);
                        st.latency.record(now.saturating_duration_since(sent_at).as_micros() as u64);
                    }
                } else if t.starts_with(r#"{"type":"ack""#) {
                    let Some((no, at)) = inflight.pop_front() else {
                        st.errors += 1;
                        st.first_error.get_or_insert_with(|| format!("unexpected ack: {t:.200}"));
                        continue;
                    };
                    if t.contains(r#""duplicate":true"#) {
                        st.duplicates += 1;
                    }
                    if t.contains(r#""client_msg_id""#) && !t.contains(&cmid(role.sender.unwrap_or(0), no)) {
                        st.errors += 1;
                        st.first_error.get_or_insert_with(|| format!("ack out of order: {t:.200}"));
                    }
                    if let Some(v) = st.series.get_mut(b) {
                        v.1 += 1;
                    }
                    if measured {
                        st.acks += 1;
                        st.ack_latency.record(now.saturating_duration_since(at).as_micros() as u64);
                    }
                    if sending && period.is_none() && now < times.end
                        && send(&ctx, &role, &mut ws, &mut next_no, &mut inflight, text_pad).await.is_err()
                    {
                        st.disconnected = true;
                        break;
                    }
                } else if t.starts_with(r#"{"type":"error""#) {
                    st.errors += 1;
                    st.first_error.get_or_insert_with(|| t.chars().take(300).collect());
                }
            }
            _ = tick.tick(), if sending && period.is_some() => {
                if Instant::now() < times.end
                    && send(&ctx, &role, &mut ws, &mut next_no, &mut inflight, text_pad).await.is_err()
                {
                    st.disconnected = true;
                    break;
                }
            }
            _ = check.tick() => {
                if let Some(s) = role.sender {
                    if sending && inflight.is_empty() {
                        sending = false;
                        ctx.done[s].store(true, Ordering::Release);
                    }
                }
                if sending && Instant::now() > times.end + DRAIN - Duration::from_millis(500) {
                    // Out of time: whatever is still in flight is unacknowledged.
                    sending = false;
                    if let Some(s) = role.sender {
                        ctx.done[s].store(true, Ordering::Release);
                    }
                }
                if !complete && room_senders.iter().all(|&s| {
                    ctx.done[s].load(Ordering::Acquire)
                        && received[s] >= ctx.sent[s].load(Ordering::Acquire)
                }) {
                    complete = true;
                    ctx.complete.fetch_add(1, Ordering::AcqRel);
                }
            }
        }
    }
    if let Some(s) = role.sender {
        ctx.done[s].store(true, Ordering::Release);
    }
    st.unacked = inflight.len() as u64;
    for &s in room_senders {
        st.lost += ctx.sent[s]
            .load(Ordering::Acquire)
            .saturating_sub(received[s]);
    }
    if st.disconnected && !complete {
        ctx.complete.fetch_add(1, Ordering::AcqRel);
    }
    // Wait for the stop so that connections close together, after the drain.
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            break;
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
    st
}

fn cmid(sender: usize, no: u64) -> String {
    format!(r#""client_msg_id":"b{sender:x}-{no:x}""#)
}

async fn send(
    ctx: &Ctx,
    role: &Role,
    ws: &mut Ws,
    next_no: &mut u64,
    inflight: &mut std::collections::VecDeque<(u64, Instant)>,
    pad: usize,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let Some(s) = role.sender else { return Ok(()) };
    let no = *next_no;
    *next_no += 1;
    let now = Instant::now();
    let ns = now.duration_since(ctx.epoch).as_nanos() as u64;
    let mut text = format!("{s:x}.{no:x}.{ns:x}.");
    while text.len() < pad {
        text.push('x');
    }
    let frame = format!(
        r#"{{"type":"send","payload":{{"room_id":"{}","client_msg_id":"b{s:x}-{no:x}","text":"{text}"}}}}"#,
        role.room
    );
    inflight.push_back((no, now));
    ctx.sent[s].fetch_add(1, Ordering::AcqRel);
    ws.send(Message::Text(frame.into())).await
}

fn handle_idle(
    st: &mut ClientStats,
    m: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
) {
    match m {
        Some(Ok(Message::Close(c))) => {
            st.close = c.map(|c| u16::from(c.code));
            st.disconnected = true;
        }
        // Senders start `START_DELAY` after the clock is published, so a message here
        // means this client was starved that long: the run is not trustworthy.
        Some(Ok(Message::Text(t))) if t.as_str().starts_with(r#"{"type":"message""#) => {
            st.errors += 1;
            st.first_error
                .get_or_insert_with(|| "a message arrived before the client saw the start".into());
        }
        Some(Ok(_)) => {}
        _ => st.disconnected = true,
    }
}

/// A client that stops reading right after joining, until the run ends; then it reads
/// what is left to learn how the host closed it.
async fn slow_reader(
    ctx: &Ctx,
    ws: &mut Ws,
    st: &mut ClientStats,
    stop: &mut watch::Receiver<bool>,
) {
    let _ = ctx;
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            break;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline.into(), ws.next()).await {
            Ok(Some(Ok(Message::Close(c)))) => {
                st.close = c.map(|c| u16::from(c.code));
                break;
            }
            Ok(Some(Ok(_))) => {}
            _ => break,
        }
    }
}

/// A uniform number in [0, 1) without a RNG dependency (seeded by the clock).
fn rand_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(Instant::now().elapsed().as_nanos() as u64);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}
