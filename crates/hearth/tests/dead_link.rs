//! A link that dies without a word (a cable pulled, a laptop lid closed, a Wi-Fi that
//! stops forwarding): a message sent into it makes the client probe the connection and
//! reconnect within seconds, instead of showing "Sending…" until the heartbeat timeout.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use hearth::client::{ClientEvent, ConnectionState};
use hearth::{Client, ClientConfig, Invite, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Forwards connections to `to`. While `frozen`, bytes are read and dropped in both
/// directions and nothing is closed: the peers see silence, like a dead link.
async fn freezable_proxy(to: SocketAddr, frozen: Arc<AtomicBool>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((a, _)) = l.accept().await {
            let Ok(b) = TcpStream::connect(to).await else {
                continue;
            };
            let (ar, aw) = a.into_split();
            let (br, bw) = b.into_split();
            tokio::spawn(pipe(ar, bw, Arc::clone(&frozen)));
            tokio::spawn(pipe(br, aw, Arc::clone(&frozen)));
        }
    });
    addr
}

async fn pipe(
    mut r: tokio::net::tcp::OwnedReadHalf,
    mut w: tokio::net::tcp::OwnedWriteHalf,
    frozen: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if frozen.load(Ordering::SeqCst) {
            continue;
        }
        if w.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn an_unanswered_send_finds_a_dead_link_in_seconds_and_delivers_once() {
    let h = start_host(fast_limits()).await;
    let room = h.host.open_room("Design team", None).unwrap().room_id;
    let frozen = Arc::new(AtomicBool::new(false));
    let proxy = freezable_proxy(h.addr, Arc::clone(&frozen)).await;

    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let invite = Invite::parse(&format!("hearth://{proxy}/{room}")).unwrap();
    let mut cfg = ClientConfig::new(invite, "Bob", Arc::clone(&store));
    cfg.plaintext = true;
    cfg.backoff_min = Duration::from_millis(50);
    cfg.backoff_max = Duration::from_millis(200);
    // The heartbeat alone would take this long: the probe must be far quicker.
    cfg.silence_timeout = Duration::from_secs(60);
    let (client, mut ev) = Client::start(cfg).unwrap();
    client.join(room, None).unwrap();
    wait_event(&mut ev, "joined", |e| {
        matches!(e, ClientEvent::Joined { .. })
    })
    .await;

    frozen.store(true, Ordering::SeqCst);
    let sent_at = Instant::now();
    let entry = client.send(room, "into the void").unwrap();
    wait_event(&mut ev, "the dead link noticed", |e| {
        matches!(e, ClientEvent::State(ConnectionState::Reconnecting { .. }))
    })
    .await;
    let noticed = sent_at.elapsed();
    eprintln!("dead link noticed {noticed:?} after the send");
    // 3 s to ping + 3 s for its answer; the heartbeat would need 60 s.
    assert!(noticed < Duration::from_secs(20), "took {noticed:?}");

    frozen.store(false, Ordering::SeqCst);
    let acked = wait_event(&mut ev, "the ack after the reconnect", |e| {
        matches!(e, ClientEvent::Ack { client_msg_id, .. } if *client_msg_id == entry.client_msg_id)
    })
    .await;
    assert!(acked);
    let log = h
        .store
        .reader()
        .unwrap()
        .after(room, 0, u64::MAX, 10)
        .unwrap();
    let texts: Vec<&str> = log.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, vec!["into the void"], "stored exactly once");
    client.shutdown();
}

/// A quiet room with nothing unanswered is not probed: no ping storm on idle links.
#[tokio::test]
async fn an_idle_connection_is_not_probed_away() {
    let h = start_host(fast_limits()).await;
    let room = h.host.open_room("Quiet", None).unwrap().room_id;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let invite = Invite::parse(&format!("hearth://{}/{room}", h.addr)).unwrap();
    let mut cfg = ClientConfig::new(invite, "Bob", Arc::clone(&store));
    cfg.plaintext = true;
    cfg.probe_after = Duration::from_millis(200);
    let (client, mut ev) = Client::start(cfg).unwrap();
    client.join(room, None).unwrap();
    wait_event(&mut ev, "joined", |e| {
        matches!(e, ClientEvent::Joined { .. })
    })
    .await;
    client.send(room, "acked at once").unwrap();
    wait_event(&mut ev, "ack", |e| matches!(e, ClientEvent::Ack { .. })).await;
    // Many probe periods with nothing outstanding: still connected.
    let quiet = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            if let Some(ClientEvent::State(s)) = ev.recv().await {
                return s;
            }
        }
    })
    .await;
    assert!(quiet.is_err(), "the connection changed state: {quiet:?}");
    client.shutdown();
}

async fn wait_event(
    ev: &mut tokio::sync::mpsc::Receiver<ClientEvent>,
    what: &str,
    f: impl Fn(&ClientEvent) -> bool,
) -> bool {
    let r = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(e) = ev.recv().await {
            if f(&e) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(r, Ok(true), "timed out waiting for {what}");
    true
}
