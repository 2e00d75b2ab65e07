//! The client's queues are bounded, and what matters still gets through at the bound: a
//! consumer that stops reading events stalls only its own client; requests past the
//! command queue are refused with `Busy`; a message typed is still queued in the outbox,
//! and shutdown still stops the client.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use hearth::client::ClientError;
use hearth::{Client, ClientConfig, ClientEvent, Invite, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_nobody_reads_refuses_requests_but_keeps_sends_and_stops() {
    let h = start_host(fast_limits()).await;
    let room = h.host.open_room("Flood", None).unwrap().room_id;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let invite = Invite::parse(&format!("hearth://{}/{room}", h.addr)).unwrap();
    let mut cfg = ClientConfig::new(invite, "Bob", Arc::clone(&store));
    cfg.plaintext = true;
    let (client, mut events) = Client::start(cfg).unwrap();
    client.join(room, None).unwrap();
    tokio::time::timeout(WAIT, async {
        while let Some(e) = events.recv().await {
            if matches!(e, ClientEvent::Joined { .. }) {
                return;
            }
        }
    })
    .await
    .expect("joined");

    // Nobody reads the client's events from here on. More messages than its event
    // queue holds (4,096) arrive: its task stops at the full queue.
    let mut alice = member(h.addr, room, "Alice").await;
    for i in 0..5_000 {
        alice
            .send(room, &format!("flood-{i}"), "שלום, a flood 🌊")
            .await;
    }
    h.host.flush().await;

    // Its requests queue up to the bound, then are refused, not held without limit.
    let busy = tokio::time::timeout(WAIT, async {
        loop {
            match client.history(room, Some(1)) {
                Ok(()) => tokio::task::yield_now().await,
                Err(e) => return e,
            }
        }
    })
    .await
    .expect("the command queue never filled");
    assert!(matches!(busy, ClientError::Busy), "{busy:?}");
    // A typing moment is dropped quietly; a message typed is kept on disk.
    client
        .typing(room, true)
        .expect("typing is dropped, not an error");
    let entry = client
        .send(room, "typed while the client was stuck")
        .unwrap();
    let queued: Vec<String> = store
        .outbox(room)
        .unwrap()
        .into_iter()
        .map(|e| e.client_msg_id)
        .collect();
    assert!(queued.contains(&entry.client_msg_id));

    // Shutdown is not a queued request: it stops the stuck client. Its events end
    // after what was queued.
    client.shutdown();
    let drained = tokio::time::timeout(Duration::from_secs(30), async {
        let mut n = 0usize;
        while events.recv().await.is_some() {
            n += 1;
        }
        n
    })
    .await
    .expect("the client did not stop");
    assert!(drained <= 4_096 + 16, "{drained} events were held");
}
