//! Join-stall benchmark (docs/performance.md): fan-out latency in a busy room while
//! members keep joining it with long backlogs.
//!
//! A host in this process (plaintext, on loopback, with its SQLite log in a temporary
//! directory) serves one room with 5,000 messages. A sender posts 200 messages a second
//! for the measured seconds, each stamped with its send time; a watcher records how
//! long each takes to arrive. Meanwhile 50 joiners each join with `since_seq: 1` (a
//! 5,000-message backlog, so a full 200-message page read from SQLite), leave, and join
//! again. The same run is made without joiners, and the percentiles of both printed.
//!
//!     cargo run --release -p hearth --example join_stall [-- SECONDS]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hearth::{Host, HostConfig, Limits, Store, Transport};
use serde_json::json;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn connect(addr: std::net::SocketAddr, name: &str) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
        .await
        .expect("connect");
    let hello =
        json!({"type":"hello","payload":{"protocol":1,"user_id":Uuid::new_v4(),"name":name}});
    ws.send(Message::Text(hello.to_string().into()))
        .await
        .unwrap();
    next_of(&mut ws, "welcome").await;
    ws
}

async fn next_of(ws: &mut Ws, kind: &str) -> serde_json::Value {
    let tag = format!(r#""type":"{kind}""#);
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.contains(&tag) => {
                return serde_json::from_str(&t).unwrap();
            }
            Some(Ok(_)) => {}
            other => panic!("connection ended: {other:?}"),
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// One measured run; returns the watcher's latencies (ms) and the joins completed.
async fn run(addr: std::net::SocketAddr, room: Uuid, secs: f64, joiners: usize) -> (Vec<f64>, u64) {
    let mut watcher = connect(addr, "Watcher").await;
    let join = json!({"type":"join","payload":{"room_id":room}}).to_string();
    watcher
        .send(Message::Text(join.clone().into()))
        .await
        .unwrap();
    next_of(&mut watcher, "joined").await;
    let mut sender = connect(addr, "Sender").await;
    sender.send(Message::Text(join.into())).await.unwrap();
    next_of(&mut sender, "joined").await;

    let stop = Arc::new(AtomicBool::new(false));
    let joins = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for i in 0..joiners {
        let (stop, joins) = (Arc::clone(&stop), Arc::clone(&joins));
        tasks.push(tokio::spawn(async move {
            let mut ws = connect(addr, &format!("Joiner {i}")).await;
            let join = json!({"type":"join","payload":{"room_id":room,"since_seq":1}}).to_string();
            let leave = json!({"type":"leave","payload":{"room_id":room}}).to_string();
            while !stop.load(Ordering::Relaxed) {
                ws.send(Message::Text(join.clone().into())).await.unwrap();
                next_of(&mut ws, "joined").await;
                joins.fetch_add(1, Ordering::Relaxed);
                ws.send(Message::Text(leave.clone().into())).await.unwrap();
                next_of(&mut ws, "left").await;
            }
        }));
    }
    let t0 = Instant::now();
    let send_task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(5));
        let mut i = 0u64;
        while t0.elapsed().as_secs_f64() < secs {
            tick.tick().await;
            let stamp = t0.elapsed().as_nanos();
            let f = json!({"type":"send","payload":{"room_id":room,"client_msg_id":format!("b{i}"),"text":format!("t={stamp}")}});
            sender
                .send(Message::Text(f.to_string().into()))
                .await
                .unwrap();
            i += 1;
        }
        sender
    });
    let mut latencies = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(secs + 2.0);
    while let Ok(Some(Ok(m))) = tokio::time::timeout_at(deadline, watcher.next()).await {
        if let Message::Text(t) = m {
            if let Some(i) = t.find("\"text\":\"t=") {
                let rest = &t[i + 10..];
                let stamp: u128 = rest[..rest.find('"').unwrap()].parse().unwrap();
                let now = t0.elapsed().as_nanos();
                latencies.push((now - stamp) as f64 / 1e6);
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = send_task.await;
    for t in tasks {
        t.abort();
    }
    (latencies, joins.load(Ordering::Relaxed))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10.0);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let limits = Limits {
        messages_per_sec: 1_000_000,
        message_burst: 1_000_000,
        frames_per_sec: 1_000_000,
        joins_per_sec: 100_000,
        max_connections_per_ip: 10_000,
        ..Limits::default()
    };
    let host = Host::start(
        store,
        HostConfig {
            host_name: "Bench".into(),
            limits,
            transport: Transport::Plaintext,
        },
    )
    .unwrap();
    let room = host.open_room("Busy", None).unwrap().room_id;
    let addr = host.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();

    // The backlog: 5,000 messages of ~200 characters.
    let mut seeder = connect(addr, "Seeder").await;
    let join = json!({"type":"join","payload":{"room_id":room}}).to_string();
    seeder.send(Message::Text(join.into())).await.unwrap();
    next_of(&mut seeder, "joined").await;
    // In chunks, reading the acks in between: the seeder is a member and reads its own
    // messages too, and a queue of 10,000 unread frames would close it as a slow reader.
    for chunk in 0..25 {
        for i in chunk * 200..(chunk + 1) * 200 {
            let f = json!({"type":"send","payload":{"room_id":room,"client_msg_id":format!("s{i}"),"text":format!("{i} {}", "ש".repeat(200))}});
            seeder
                .feed(Message::Text(f.to_string().into()))
                .await
                .unwrap();
        }
        seeder.flush().await.unwrap();
        for _ in 0..200 {
            next_of(&mut seeder, "ack").await;
        }
    }
    drop(seeder);

    println!("join-stall: {secs} s per run, 200 messages/s, watcher latency in ms");
    println!("| run | messages | p50 | p99 | max | joins/s |");
    println!("|---|---|---|---|---|---|");
    for (label, joiners) in [("no joiners", 0), ("50 joiners", 50)] {
        let (mut lat, joins) = run(addr, room, secs, joiners).await;
        lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "| {label} | {} | {:.2} | {:.2} | {:.2} | {:.0} |",
            lat.len(),
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            lat.last().copied().unwrap_or(f64::NAN),
            joins as f64 / secs
        );
    }
    host.shutdown().await;
}
