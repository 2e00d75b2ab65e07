//! A member that stops reading must not make the host's memory grow with the traffic.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

/// Reads, dropping everything else, until the close frame; its code.
async fn close_code(ws: &mut Wss) -> Option<u16> {
    loop {
        match tokio::time::timeout(Duration::from_secs(15), ws.next())
            .await
            .expect("close in time")
        {
            Some(Ok(Message::Close(c))) => return c.map(|c| u16::from(c.code)),
            Some(Ok(_)) => continue,
            other => panic!("ended without a close frame: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_memory_stays_bounded_with_a_stalled_member() {
    let dir = tempfile::tempdir().unwrap();
    let host = HostProc::start(
        dir.path(),
        "127.0.0.1:0",
        "Stall",
        &["--rate", "100000", "--burst", "100000"],
    );
    let url = host.invite.clone();
    let room = host.invite.room_id.unwrap().to_string();
    let mut sloth = wss_member(&url, "Sloth").await;
    let mut sender = wss_member(&url, "Sender").await;
    let rss_before = host.rss_kib();

    // 40 MB through the room while the sloth reads nothing.
    let text = "q".repeat(4000);
    let total = 10_000;
    let mut acked = 0;
    for chunk in 0..(total / 100) {
        for i in 0..100 {
            let f = format!(
                r#"{{"type":"send","payload":{{"room_id":"{room}","client_msg_id":"m{chunk}-{i}","text":"{text}"}}}}"#
            );
            sender.feed(Message::Text(f.into())).await.unwrap();
        }
        sender.flush().await.unwrap();
        // Read our own traffic back (messages and acks) to stay a good reader.
        let last = format!("\"client_msg_id\":\"m{chunk}-99\"");
        loop {
            let m = tokio::time::timeout(Duration::from_secs(20), sender.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            if let Message::Text(t) = m {
                if t.contains("\"type\":\"ack\"") {
                    acked += 1;
                    if t.contains(&last) {
                        break;
                    }
                }
            }
        }
    }
    assert_eq!(acked, total);
    let rss_after = host.rss_kib();
    let grown = rss_after.saturating_sub(rss_before);
    println!(
        "host RSS {rss_before} KiB -> {rss_after} KiB after 40 MB of traffic past a stalled member"
    );
    // An unbounded queue would hold all 40 MB. The queue's bound is 8 MiB (sized for a
    // member who stalls a few seconds in a busy room, docs/protocol.md §8), and the
    // allocator keeps some of what passed through.
    assert!(grown < 40 * 1024, "host RSS grew by {grown} KiB");

    // The sloth, reading at last, learns why it was dropped.
    assert_eq!(close_code(&mut sloth).await, Some(4001));
}

/// The attack that grew a host to 923 MB: connections with small receive buffers ask for
/// 200-message history pages of 1,000-character messages, within the frame budget, and
/// never read. Each connection's queue is bounded in bytes, so they are closed with 4001
/// and the host's memory stays under a ceiling while a member is served as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_nobody_reads_do_not_grow_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let host = HostProc::start(
        dir.path(),
        "127.0.0.1:0",
        "Pages",
        &["--rate", "100000", "--burst", "100000"],
    );
    let invite = host.invite.clone();
    let room = invite.room_id.unwrap().to_string();
    let mut alice = wss_member(&invite, "Alice").await;
    let text = "ق".repeat(1000);
    send_all_acked(
        &mut alice,
        invite.room_id.unwrap(),
        "s",
        (0..1000).map(|_| text.clone()),
    )
    .await;
    let rss_before = host.rss_kib();

    let mut attackers = Vec::new();
    for i in 0..4 {
        let mut ws = wss_connect_slow(&invite, 4096).await;
        let hello = format!(
            r#"{{"type":"hello","payload":{{"protocol":1,"user_id":"{}","name":"Pager {i}"}}}}"#,
            uuid::Uuid::new_v4()
        );
        ws.send(Message::Text(hello.into())).await.unwrap();
        let join = format!(r#"{{"type":"join","payload":{{"room_id":"{room}"}}}}"#);
        ws.send(Message::Text(join.into())).await.unwrap();
        attackers.push(ws);
    }
    // 90 page requests a second on each, under the 100 frames/s budget, for 10 s.
    let page = format!(r#"{{"type":"history","payload":{{"room_id":"{room}","limit":200}}}}"#);
    let mut peak = rss_before;
    for _ in 0..20 {
        for ws in &mut attackers {
            for _ in 0..45 {
                // A closed attacker stops sending; the host is done with it.
                let _ = ws.feed(Message::Text(page.clone().into())).await;
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), ws.flush()).await;
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
        peak = peak.max(host.rss_kib());
    }
    let grown = peak.saturating_sub(rss_before);
    println!("host RSS {rss_before} KiB -> peak {peak} KiB under the page attack");
    // Four queues of at most 8 MiB each, plus their TLS and WebSocket buffers.
    assert!(grown < 96 * 1024, "host RSS grew by {grown} KiB");

    // A member is served as usual meanwhile.
    let t0 = std::time::Instant::now();
    let f = format!(
        r#"{{"type":"send","payload":{{"room_id":"{room}","client_msg_id":"after","text":"still here"}}}}"#
    );
    alice.send(Message::Text(f.into())).await.unwrap();
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), alice.next())
            .await
            .expect("ack in time");
        match m {
            Some(Ok(Message::Text(t))) => {
                if t.contains(r#""type":"ack""#) && t.contains(r#""after""#) {
                    break;
                }
            }
            Some(Ok(_)) => {}
            other => panic!("Alice's connection ended before the ack: {other:?}"),
        }
    }
    println!("a member's ack took {:?} during the attack", t0.elapsed());

    // Each attacker, reading at last, learns it was dropped as a slow reader.
    for mut ws in attackers {
        assert_eq!(close_code(&mut ws).await, Some(4001));
    }
    // Once they are gone, the memory comes back: all but a quarter of what the attack took
    // (glibc keeps freed memory; the host trims it once the burst is over).
    let end = std::time::Instant::now() + Duration::from_secs(20);
    let mut now = host.rss_kib();
    while now > rss_before + grown / 4 && std::time::Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(250)).await;
        now = host.rss_kib();
    }
    println!("host RSS {now} KiB after the attackers left");
    assert!(
        now <= rss_before + grown / 4,
        "the host kept {} KiB of the {grown} KiB the attack took",
        now.saturating_sub(rss_before)
    );
}
