//! A member that stops reading must not make the host's memory grow with the traffic.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

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
    // An unbounded queue would hold all 40 MB; the bound (1024 frames) is about 4 MB.
    assert!(grown < 28 * 1024, "host RSS grew by {grown} KiB");

    // The sloth, reading at last, learns why it was dropped.
    let code = loop {
        match tokio::time::timeout(Duration::from_secs(15), sloth.next())
            .await
            .expect("close in time")
        {
            Some(Ok(Message::Close(c))) => break c.map(|c| u16::from(c.code)),
            Some(Ok(_)) => continue,
            other => panic!("ended without a close frame: {other:?}"),
        }
    };
    assert_eq!(code, Some(4001));
}
