//! A host that cannot read its own log answers `storage_error`. That is the host's
//! trouble, and usually passing: a member keeps the room and joins again by itself.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use hearth::client::ClientEvent;
use hearth::protocol::ErrorCode;
use hearth::{Client, ClientConfig, Invite, Store};

/// Renames the host's log table behind its back (as a damaged page would make it
/// unreadable), or back.
fn hide_log(h: &TestHost, hidden: bool) {
    let db = rusqlite::Connection::open(h.dir.path().join("hearth.db")).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    let sql = if hidden {
        "ALTER TABLE host_messages RENAME TO host_messages_hidden"
    } else {
        "ALTER TABLE host_messages_hidden RENAME TO host_messages"
    };
    db.execute_batch(sql).unwrap();
}

/// The next event of kind `what`; a join given up fails the test.
async fn wait(events: &mut tokio::sync::mpsc::Receiver<ClientEvent>, what: &str) -> ClientEvent {
    tokio::time::timeout(WAIT, async {
        loop {
            let e = events.recv().await.expect("the client stopped");
            match (&e, what) {
                (ClientEvent::Synced { .. }, "synced") => return e,
                (ClientEvent::Joined { .. }, "joined") => return e,
                (ClientEvent::Error(_), "error") => return e,
                (ClientEvent::JoinFailed { error, .. }, _) => {
                    panic!("the room was given up: {error:?}")
                }
                _ => {}
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

#[tokio::test]
async fn a_join_refused_by_a_storage_error_is_retried_and_the_room_kept() {
    let h = start_host(fast_limits()).await;
    let room = h.host.open_room("Log", None).unwrap().room_id;
    let mut alice = member(h.addr, room, "Alice").await;
    for i in 0..20 {
        alice
            .send_acked(room, &format!("a{i}"), &format!("مرحبا {i} 🙂"))
            .await;
    }

    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let config = || {
        let mut c = ClientConfig::new(
            Invite {
                host: h.addr.ip().to_string(),
                port: h.addr.port(),
                room_id: Some(room),
                fingerprint: None,
            },
            "Bob",
            Arc::clone(&store),
        );
        c.plaintext = true;
        c
    };
    let (client, mut events) = Client::start(config()).unwrap();
    client.join(room, None).unwrap();
    wait(&mut events, "synced").await;
    client.shutdown();

    // The host's log becomes unreadable; the next visit's join gets a storage error.
    hide_log(&h, true);
    let (client, mut events) = Client::start(config()).unwrap();
    client.join(room, None).unwrap();
    match wait(&mut events, "error").await {
        ClientEvent::Error(e) => {
            assert_eq!(e.code, ErrorCode::StorageError);
            assert_eq!(
                (e.request.as_deref(), e.room_id),
                (Some("join"), Some(room))
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        store.joined_room(room).unwrap().is_some(),
        "the room is kept"
    );

    // Repaired: the same client joins again by itself and is in sync.
    hide_log(&h, false);
    wait(&mut events, "joined").await;
    wait(&mut events, "synced").await;
    alice.send_acked(room, "a-after", "after the repair").await;
    tokio::time::timeout(WAIT, async {
        loop {
            if let Some(ClientEvent::Message(m)) = events.recv().await {
                if m.text == "after the repair" {
                    break;
                }
            }
        }
    })
    .await
    .expect("live messages flow again");
    let seqs: Vec<u64> = store
        .all_cached_messages(room)
        .unwrap()
        .iter()
        .map(|m| m.seq)
        .collect();
    assert_eq!(seqs, (1..=21).collect::<Vec<_>>());
    client.shutdown();
}
