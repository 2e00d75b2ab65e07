//! Durability across real process deaths: SIGKILL of the host mid-traffic, SIGTERM
//! shutdown, and a client that queues messages while the host is down, across its own
//! restarts.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use hearth::client::ClientEvent;
use hearth::{Client, ClientConfig, Store};
use tokio_tungstenite::tungstenite::Message;

fn client(
    invite: &hearth::Invite,
    name: &str,
    dir: &std::path::Path,
) -> (Client, tokio::sync::mpsc::Receiver<ClientEvent>) {
    let store = Arc::new(Store::open(dir).expect("client store"));
    let mut cfg = ClientConfig::new(invite.clone(), name, store);
    cfg.backoff_min = Duration::from_millis(50);
    cfg.backoff_max = Duration::from_millis(500);
    Client::start(cfg).expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_sigkill_mid_traffic_loses_no_acknowledged_message() {
    let host_dir = tempfile::tempdir().unwrap();
    let host = HostProc::start(
        host_dir.path(),
        "127.0.0.1:0",
        "Crash",
        &["--rate", "100000", "--burst", "100000"],
    );
    let invite = host.invite.clone();
    let room = invite.room_id.unwrap();
    let bind = format!("127.0.0.1:{}", invite.port);

    let acked: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let mut clients = Vec::new();
    let mut dirs = Vec::new();
    let mut expected_texts = HashSet::new();
    for (i, count) in [334usize, 333, 333].into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let (c, mut events) = client(&invite, &format!("client{i}"), dir.path());
        c.join(room, None).unwrap();
        let acked = Arc::clone(&acked);
        tokio::spawn(async move {
            while let Some(e) = events.recv().await {
                if let ClientEvent::Ack {
                    client_msg_id, seq, ..
                } = e
                {
                    let prev = acked.lock().unwrap().insert(client_msg_id, seq);
                    assert!(
                        prev.is_none() || prev == Some(seq),
                        "an ack changed its seq"
                    );
                }
            }
        });
        for k in 0..count {
            let text = format!("client{i} message {k}");
            c.send(room, &text).unwrap();
            expected_texts.insert(text);
        }
        clients.push(c);
        dirs.push(dir);
    }

    // Kill the host partway through.
    let t0 = Instant::now();
    while acked.lock().unwrap().len() < 300 {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no progress before the kill"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    host.sigkill();
    let acked_at_kill: HashMap<String, u64> = acked.lock().unwrap().clone();
    println!(
        "host killed with SIGKILL after {} acknowledgements",
        acked_at_kill.len()
    );

    let host = HostProc::start(
        host_dir.path(),
        &bind,
        "Crash",
        &["--rate", "100000", "--burst", "100000"],
    );
    assert_eq!(
        host.invite.room_id,
        Some(room),
        "the room reopens with its id"
    );
    let t1 = Instant::now();
    while acked.lock().unwrap().len() < 1000 {
        assert!(
            t1.elapsed() < Duration::from_secs(90),
            "only {} of 1000 acknowledged after the restart",
            acked.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("all 1000 acknowledged {:?} after the restart", t1.elapsed());

    // The host's log: gap-free, every message exactly once, every early ack honoured.
    let host_store = Store::open(host_dir.path()).unwrap();
    let log = host_store
        .reader()
        .unwrap()
        .after(room, 0, u64::MAX, u32::MAX)
        .unwrap();
    let seqs: Vec<u64> = log.iter().map(|m| m.seq).collect();
    assert_eq!(
        seqs,
        (1..=1000).collect::<Vec<_>>(),
        "gap-free seqs 1..=1000"
    );
    let texts: HashSet<String> = log.iter().map(|m| m.text.clone()).collect();
    assert_eq!(texts.len(), 1000, "no message stored twice");
    assert_eq!(texts, expected_texts, "every message stored");
    let by_cmid: HashMap<&str, u64> = log
        .iter()
        .map(|m| (m.client_msg_id.as_str(), m.seq))
        .collect();
    for (cmid, seq) in &acked_at_kill {
        assert_eq!(
            by_cmid.get(cmid.as_str()),
            Some(seq),
            "acknowledged before the kill, kept with its seq"
        );
    }
    // Each sender's own messages are in the order they were typed.
    for i in 0..3 {
        let mine: Vec<&str> = log
            .iter()
            .filter(|m| m.author == format!("client{i}"))
            .map(|m| m.text.as_str())
            .collect();
        let typed: Vec<String> = (0..mine.len())
            .map(|k| format!("client{i} message {k}"))
            .collect();
        assert_eq!(mine, typed, "client{i} order");
    }

    // After resuming, every client's cache equals the host's log.
    let host_view: Vec<(u64, String)> = log
        .iter()
        .map(|m| (m.seq, m.client_msg_id.clone()))
        .collect();
    for (i, dir) in dirs.iter().enumerate() {
        let store = clients[i].store();
        let t = Instant::now();
        loop {
            let cached: Vec<(u64, String)> = store
                .all_cached_messages(room)
                .unwrap()
                .into_iter()
                .map(|m| (m.seq, m.client_msg_id))
                .collect();
            if cached == host_view {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "client{i} ({}) cache has {} messages, host {}",
                dir.path().display(),
                cached.len(),
                host_view.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(store.outbox(room).unwrap().is_empty());
    }
    println!("host log: 1000 messages, seqs 1..=1000 gap-free, no duplicates; 3 client caches identical to it");
    for c in &clients {
        c.shutdown();
    }
    drop(host);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_sends_close_frames_and_exits_zero() {
    let host_dir = tempfile::tempdir().unwrap();
    let host = HostProc::start(host_dir.path(), "127.0.0.1:0", "Calm", &[]);
    let url = host.url();
    let bind = format!("127.0.0.1:{}", host.invite.port);
    let c_dir = tempfile::tempdir().unwrap();
    for i in 0..5 {
        let out = join(
            &[
                &url,
                "--name",
                "Bob",
                "--send",
                &format!("before shutdown {i}"),
            ],
            c_dir.path(),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A connected peer must get a close frame, code 1001 (going away).
    let mut ws = wss_member(&host.invite, "Peer").await;
    let status = tokio::task::spawn_blocking(move || host.sigterm(Duration::from_secs(10)))
        .await
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("close frame in time")
        {
            Some(Ok(Message::Close(c))) => break c.map(|c| u16::from(c.code)),
            Some(Ok(_)) => continue,
            other => panic!("connection ended without a close frame: {other:?}"),
        }
    };
    assert_eq!(close, Some(1001));

    let host = HostProc::start(host_dir.path(), &bind, "Calm", &[]);
    let msgs = tail(&host.url(), tempfile::tempdir().unwrap().path(), 100);
    let texts: Vec<&str> = msgs.iter().map(|(_, _, t)| t.as_str()).collect();
    assert_eq!(
        texts,
        (0..5)
            .map(|i| format!("before shutdown {i}"))
            .collect::<Vec<_>>()
    );
}

#[test]
fn messages_queued_offline_survive_client_restarts_and_arrive_once() {
    let host_dir = tempfile::tempdir().unwrap();
    let c_dir = tempfile::tempdir().unwrap();
    let host = HostProc::start(host_dir.path(), "127.0.0.1:0", "Offline", &[]);
    let url = host.url();
    let bind = format!("127.0.0.1:{}", host.invite.port);
    assert!(host.sigterm(Duration::from_secs(10)).success());

    // The host is down: each `--send` is a separate client process that gives up.
    for text in ["typed offline 1", "typed offline 2"] {
        let out = join(
            &[&url, "--name", "Bob", "--send", text, "--timeout", "1"],
            c_dir.path(),
        );
        assert!(!out.status.success(), "cannot succeed without the host");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("queued"), "says the message is kept: {err}");
    }

    let host = HostProc::start(host_dir.path(), &bind, "Offline", &[]);
    let out = join(&[&url, "--name", "Bob", "--send", "online 3"], c_dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Another run of the same client must not resend anything.
    let out = join(&[&url, "--name", "Bob", "--tail", "1"], c_dir.path());
    assert!(out.status.success());

    let msgs = tail(&host.url(), tempfile::tempdir().unwrap().path(), 10);
    assert_eq!(
        msgs,
        vec![
            (1, "Bob".to_string(), "typed offline 1".to_string()),
            (2, "Bob".to_string(), "typed offline 2".to_string()),
            (3, "Bob".to_string(), "online 3".to_string()),
        ]
    );
}

#[test]
fn a_full_disk_refuses_new_messages_and_loses_no_acknowledged_one() {
    let host_dir = tempfile::tempdir().unwrap();
    let c_dir = tempfile::tempdir().unwrap();
    let host = HostProc::start(
        host_dir.path(),
        "127.0.0.1:0",
        "Tiny",
        &["--max-db-size", "200000"],
    );
    let url = host.url();
    let text = "x".repeat(3900);
    let mut acked = 0;
    let err = loop {
        // Any failure ends the loop, so a send must not fail merely for being slow: the
        // host's refusal when full comes at once, the timeout only matters if it hangs.
        let out = join(
            &[&url, "--name", "Bob", "--send", &text, "--timeout", "30"],
            c_dir.path(),
        );
        if !out.status.success() {
            break String::from_utf8_lossy(&out.stderr).to_string();
        }
        acked += 1;
        assert!(acked < 500, "the size cap never hit");
    };
    assert!(acked > 5, "some messages fit first ({acked})");
    assert!(
        err.contains("storage_full") && err.contains("queued"),
        "the sender is told: {err}"
    );
    // The sender is told, and the host keeps serving reads.
    let logged = host_dir.path().join("hearth.db");
    assert!(logged.exists());
    println!("stored {acked} before the cap; client said: {err}");
    let msgs = tail(&url, tempfile::tempdir().unwrap().path(), 1000);
    assert_eq!(msgs.len(), acked);
    assert!(msgs
        .iter()
        .enumerate()
        .all(|(i, (seq, _, _))| *seq == i as u64 + 1));
    // The cap holds for what is on disk, the -wal file beside the database included.
    let on_disk: u64 = ["hearth.db", "hearth.db-wal", "hearth.db-shm"]
        .iter()
        .filter_map(|f| std::fs::metadata(host_dir.path().join(f)).ok())
        .map(|m| m.len())
        .sum();
    println!("on disk: {on_disk} bytes under a 200000-byte cap");
    assert!(on_disk < 2 * 200_000, "{on_disk} bytes on disk");
}

/// `hearth backup` copies a database that a running host is writing to: the copy holds
/// every acknowledged message, also those still only in the -wal file, and opens as a
/// Hearth database of its own.
#[test]
fn a_backup_taken_while_the_host_runs_has_every_acknowledged_message() {
    let host_dir = tempfile::tempdir().unwrap();
    let host = HostProc::start(host_dir.path(), "127.0.0.1:0", "General", &[]);
    let url = host.url();
    let c_dir = tempfile::tempdir().unwrap();
    for i in 0..20 {
        let out = join(
            &[&url, "--name", "Bob", "--send", &format!("m{i} 🙂")],
            c_dir.path(),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        host_dir.path().join("hearth.db-wal").exists(),
        "recent commits are in the -wal file while the host runs"
    );
    let backup_dir = tempfile::tempdir().unwrap();
    let dest = backup_dir.path().join("hearth.db");
    let out = hearth()
        .args(["backup"])
        .arg(&dest)
        .arg("--data-dir")
        .arg(host_dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("checked"));
    // Refused over an existing file.
    let again = hearth()
        .args(["backup"])
        .arg(&dest)
        .arg("--data-dir")
        .arg(host_dir.path())
        .output()
        .unwrap();
    assert!(!again.status.success());
    drop(host);
    // The copy, alone in a directory, is the host's log.
    let copy = Store::open(backup_dir.path()).unwrap();
    let room = hearth::store::Store::hosted_rooms(&copy).unwrap()[0].room_id;
    let log = copy
        .reader()
        .unwrap()
        .after(room, 0, u64::MAX, 100)
        .unwrap();
    let texts: Vec<String> = log.into_iter().map(|m| m.text).collect();
    assert_eq!(
        texts,
        (0..20).map(|i| format!("m{i} 🙂")).collect::<Vec<_>>()
    );
}

/// A host that cannot read its log (here its table is renamed behind its back, as a
/// damaged page would do): `hearth join --tail` says so and which side is at fault,
/// instead of "timed out waiting for the host", and `--send` keeps the message queued
/// and the room joined rather than dropping it.
#[test]
fn an_unreadable_host_log_is_reported_and_nothing_is_dropped() {
    let host_dir = tempfile::tempdir().unwrap();
    let host = HostProc::start(host_dir.path(), "127.0.0.1:0", "General", &[]);
    let url = host.url();
    let c_dir = tempfile::tempdir().unwrap();
    let out = join(&[&url, "--name", "Bob", "--send", "before"], c_dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let db = rusqlite::Connection::open(host_dir.path().join("hearth.db")).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    db.execute_batch("ALTER TABLE host_messages RENAME TO hidden")
        .unwrap();

    let reader = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    // Given a minute before it would give up, so that "answered" and "timed out" are
    // far apart: the answer comes in about a second, a wait for the page would take 60 s.
    let out = join(
        &[&url, "--name", "Reader", "--tail", "5", "--timeout", "60"],
        reader.path(),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("the host cannot read this room's log"),
        "{err}"
    );
    assert!(err.contains("storage_error"), "{err}");
    assert!(
        t0.elapsed() < Duration::from_secs(30),
        "answered, not timed out ({:?}): {err}",
        t0.elapsed()
    );

    let out = join(&[&url, "--name", "Bob", "--send", "queued"], c_dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("stays queued"), "{err}");
    let store = Store::open(c_dir.path()).unwrap();
    let room = host.invite.room_id.unwrap();
    assert!(
        store.joined_room(room).unwrap().is_some(),
        "the room is kept"
    );
    assert_eq!(
        store.outbox(room).unwrap().len(),
        1,
        "the message is queued"
    );
    drop(store);

    // Repaired: the queued message goes out with the next visit.
    db.execute_batch("ALTER TABLE hidden RENAME TO host_messages")
        .unwrap();
    let out = join(&[&url, "--name", "Bob", "--send", "after"], c_dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let texts: Vec<String> = tail(&url, reader.path(), 5)
        .into_iter()
        .map(|t| t.2)
        .collect();
    assert_eq!(texts, vec!["before", "queued", "after"]);
}

/// A host whose log goes back in time (here: the last 51 of 400 acknowledged messages
/// gone, as with a backup restored, or a hearth.db copied without its -wal file) and
/// then goes on with new messages at the same seqs. A member who had all 400 is warned,
/// shows the host's history, and keeps the 51 the host lost apart, as "not on the
/// host", instead of mixing them in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_log_that_went_back_in_time_is_detected_and_nothing_is_mixed_in() {
    let dir = tempfile::tempdir().unwrap();
    let host = HostProc::start(
        dir.path(),
        "127.0.0.1:0",
        "General",
        &["--rate", "100000", "--burst", "100000"],
    );
    let invite = host.invite.clone();
    let url = host.url();
    let room = invite.room_id.unwrap();
    let mut alice = wss_member(&invite, "Alice").await;
    send_all_acked(
        &mut alice,
        room,
        "a",
        (1..=400).map(|i| format!("before {i} — שלום")),
    )
    .await;
    drop(alice);
    let bob = tempfile::tempdir().unwrap();
    assert_eq!(tail(&url, bob.path(), 400).len(), 400);

    // The host's log loses its last 51 messages, then the host comes back.
    host.sigterm(Duration::from_secs(10));
    let db = rusqlite::Connection::open(dir.path().join("hearth.db")).unwrap();
    db.execute("DELETE FROM host_messages WHERE seq > 349", [])
        .unwrap();
    drop(db);
    let bind = format!("127.0.0.1:{}", invite.port);
    let _host = HostProc::start(dir.path(), &bind, "General", &[]);
    let carol = tempfile::tempdir().unwrap();
    for i in 1..=5 {
        let out = join(
            &[&url, "--name", "Carol", "--send", &format!("after {i}")],
            carol.path(),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let out = join(
        &[&url, "--name", "Bob", "--tail", "10", "--json"],
        bob.path(),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("went back in time"), "{err}");
    assert!(err.contains("51 message(s)"), "{err}");
    let shown: Vec<(u64, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["seq"].as_u64().unwrap(),
                v["text"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(u64, String)> = (345..=349)
        .map(|s| (s, format!("before {s} — שלום")))
        .chain((1..=5).map(|i| (349 + i, format!("after {i}"))))
        .collect();
    assert_eq!(
        shown, want,
        "the host's history, nothing of the old 350..400"
    );

    let store = Store::open(bob.path()).unwrap();
    let cached = store.all_cached_messages(room).unwrap();
    assert_eq!(cached.len(), 354);
    assert!(cached
        .iter()
        .enumerate()
        .all(|(i, m)| m.seq == i as u64 + 1));
    let lost = store.unhosted_messages(room).unwrap();
    let lost_seqs: Vec<u64> = lost.iter().map(|m| m.seq).collect();
    let mut sorted = lost_seqs.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        (350..=400).collect::<Vec<_>>(),
        "kept apart: {lost_seqs:?}"
    );
    assert!(lost.iter().all(|m| m.text.starts_with("before ")));
}
