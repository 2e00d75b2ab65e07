//! The fuzz corpus on stable Rust. Every file under `fuzz/corpus/<target>/` goes through
//! the same invariant checks as the libFuzzer targets (`fuzz/src/lib.rs`, included
//! below), so the seeds and everything fuzzing added to them are regression tests even
//! where no nightly toolchain is installed.
//!
//! The seeds come from real traffic. To regenerate them:
//!
//! ```text
//! cargo test -p hearth --test fuzz_corpus -- --ignored capture_seed_corpus
//! ```

#[allow(dead_code)]
#[path = "../../../fuzz/src/lib.rs"]
mod fuzz;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hearth::client::ClientEvent;
use hearth::discovery::txt::encode_txt_record;
use hearth::discovery::{AdvertisedRoom, RoomTxt};
use hearth::protocol::PROTOCOL_VERSION;
use hearth::tls::HostCert;
use hearth::{Client, ClientConfig, Host, HostConfig, Invite, Limits, Store, Transport};
use tokio::sync::mpsc::Receiver;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

/// Every file of a target's corpus, sorted by name.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let path = e.expect("directory entry").path();
            let bytes = std::fs::read(&path).expect("corpus file");
            (path.display().to_string(), bytes)
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 3,
        "{target}: the corpus has only {} files",
        files.len()
    );
    files
}

fn replay(target: &str, check: impl Fn(&[u8])) {
    for (name, bytes) in corpus(target) {
        // Shown by the test runner if the check panics.
        eprintln!("replaying {name}");
        check(&bytes);
    }
}

#[test]
fn decode_client_corpus() {
    replay("decode_client", fuzz::check_decode);
}

#[test]
fn invite_corpus() {
    replay("invite", fuzz::check_invite);
}

#[test]
fn txt_corpus() {
    replay("txt", fuzz::check_txt);
}

#[test]
fn handshake_corpus() {
    let harness = fuzz::harness();
    replay("handshake", |b| harness.run(b));
}

/// The checks are not vacuous: the oracle rejects answers that break the protocol. (A
/// check that could not fail would make the corpus tests above meaningless.)
#[test]
fn the_oracle_rejects_wrong_answers() {
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let frame = |kind: &str, payload: serde_json::Value| {
        serde_json::json!({"type": kind, "payload": payload}).to_string()
    };
    let hello = frame(
        "hello",
        serde_json::json!({"protocol":1,"user_id":Uuid::new_v4(),"name":"x"}),
    );
    let join = frame("join", serde_json::json!({"room_id":a}));
    let history = frame("history", serde_json::json!({"room_id":a,"after_seq":3}));
    let summary = |id: Uuid, head: u64| serde_json::json!({"room_id":id,"name":"R","has_passcode":false,"online":1,"head_seq":head});
    let welcome = frame(
        "welcome",
        serde_json::json!({"protocol":1,"host_id":a,"host_name":"h","rooms":[summary(a,0),summary(b,0)],
            "limits":{"max_frame_bytes":65536,"max_text_chars":4000,"messages_per_sec":20,
                "message_burst":40,"max_history_page":200,"heartbeat_interval_ms":15000}}),
    );
    let msg = |room: Uuid, seq: u64| serde_json::json!({"room_id":room,"seq":seq,"ts":1,"user_id":a,"author":"x","client_msg_id":"c","text":"t"});
    let joined = |seqs: &[u64]| {
        frame(
            "joined",
            serde_json::json!({"room":summary(a,5),"members":[{"user_id":a,"name":"x"}],
                "messages":seqs.iter().map(|s| msg(a, *s)).collect::<Vec<_>>(),"head_seq":5,"has_more":false}),
        )
    };
    let live = |room: Uuid, seq: u64| frame("message", msg(room, seq));
    let page = |seqs: &[u64]| {
        frame(
            "history_page",
            serde_json::json!({"room_id":a,"messages":seqs.iter().map(|s| msg(a, *s)).collect::<Vec<_>>(),"has_more":false}),
        )
    };
    let passes = |sent: &[&str], answers: &[String]| {
        std::panic::catch_unwind(|| {
            let mut o = fuzz::Oracle::new([a, b]);
            for s in sent {
                o.sent(s.as_bytes());
            }
            for t in answers {
                o.received(Message::Text(t.clone().into()));
            }
        })
        .is_ok()
    };
    let good = [hello.as_str(), join.as_str(), history.as_str()];
    let ok_join = joined(&[1, 2, 3, 4, 5]);
    let with = |extra: &[String]| [vec![welcome.clone(), ok_join.clone()], extra.to_vec()].concat();
    // A correct exchange passes...
    assert!(passes(
        &good,
        &with(&[live(a, 6), live(a, 7), page(&[4, 5, 6, 7])])
    ));
    // ...and each of these is caught.
    let cases: Vec<(&str, Vec<&str>, Vec<String>)> = vec![
        ("welcome without hello", vec![&join], with(&[])),
        ("joined nobody asked for", vec![&hello], with(&[])),
        (
            "joined with a page missing the start",
            good.to_vec(),
            vec![welcome.clone(), joined(&[2, 3, 4, 5])],
        ),
        (
            "a message for a room never joined",
            good.to_vec(),
            with(&[live(b, 6)]),
        ),
        (
            "seqs going backwards",
            good.to_vec(),
            with(&[live(a, 7), live(a, 6)]),
        ),
        (
            "a live message at or below the head",
            good.to_vec(),
            with(&[live(a, 5)]),
        ),
        (
            "history ignoring after_seq",
            good.to_vec(),
            with(&[page(&[1, 2, 3, 4, 5])]),
        ),
        ("history cut short", good.to_vec(), with(&[page(&[4])])),
        (
            "history with a gap",
            good.to_vec(),
            with(&[page(&[4, 5, 7])]),
        ),
        (
            "a page nobody asked for",
            vec![&hello, &join],
            with(&[page(&[4, 5])]),
        ),
        (
            "a frame that does not decode",
            good.to_vec(),
            with(&[r#"{"type":"welcome"}"#.to_string()]),
        ),
    ];
    for (what, sent, answers) in cases {
        assert!(!passes(&sent, &answers), "not caught: {what}");
    }
    assert!(std::panic::catch_unwind(|| {
        fuzz::Oracle::new([a, b]).received(Message::Binary(vec![1].into()))
    })
    .is_err());
}

// ---------------------------------------------------------------------------------
// Capturing the seeds from real traffic.

/// Relays WebSocket connections to `upstream` and records every client→host text
/// frame, one list per connection.
async fn recording_relay(upstream: SocketAddr) -> (SocketAddr, Arc<Mutex<Vec<Vec<String>>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let sessions = Arc::clone(&log);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let log = Arc::clone(&sessions);
            tokio::spawn(async move {
                let Ok(client) = tokio_tungstenite::accept_async(tcp).await else {
                    return;
                };
                let Ok((host, _)) =
                    tokio_tungstenite::connect_async(format!("ws://{upstream}/")).await
                else {
                    return;
                };
                let idx = {
                    let mut l = log.lock().unwrap();
                    l.push(Vec::new());
                    l.len() - 1
                };
                let (mut csink, mut cstream) = client.split();
                let (mut hsink, mut hstream) = host.split();
                let up = async {
                    while let Some(Ok(m)) = cstream.next().await {
                        if let Message::Text(t) = &m {
                            log.lock().unwrap()[idx].push(t.to_string());
                        }
                        if hsink.send(m).await.is_err() {
                            break;
                        }
                    }
                    let _ = hsink.close().await;
                };
                let down = async {
                    while let Some(Ok(m)) = hstream.next().await {
                        if csink.send(m).await.is_err() {
                            break;
                        }
                    }
                    let _ = csink.close().await;
                };
                tokio::join!(up, down);
            });
        }
    });
    (addr, log)
}

async fn until<T>(
    ev: &mut Receiver<ClientEvent>,
    what: &str,
    mut f: impl FnMut(&ClientEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(e) = ev.recv().await {
            if let Some(t) = f(&e) {
                return t;
            }
        }
        panic!("event stream ended waiting for {what}")
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

fn start_client(
    store: &Arc<Store>,
    relay: SocketAddr,
    room: Uuid,
    name: &str,
) -> (Client, Receiver<ClientEvent>) {
    let invite = Invite {
        host: relay.ip().to_string(),
        port: relay.port(),
        room_id: Some(room),
        fingerprint: None,
    };
    let mut cfg = ClientConfig::new(invite, name, Arc::clone(store));
    cfg.plaintext = true;
    cfg.backoff_min = Duration::from_millis(50);
    Client::start(cfg).unwrap()
}

async fn joined(ev: &mut Receiver<ClientEvent>, room: Uuid) {
    until(ev, "joined", |e| match e {
        ClientEvent::Joined { room: r, .. } if r.room_id == room => Some(()),
        ClientEvent::JoinFailed { error, .. } => panic!("join refused: {error:?}"),
        _ => None,
    })
    .await
}

async fn acked(ev: &mut Receiver<ClientEvent>, n: usize) {
    let mut got = 0;
    until(ev, "acks", |e| {
        if matches!(e, ClientEvent::Ack { .. }) {
            got += 1;
        }
        (got == n).then_some(())
    })
    .await
}

fn write_seed(target: &str, name: &str, bytes: &[u8]) {
    let dir = corpus_dir(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

/// Runs a real host and the real client through a recording relay (hello, joins with
/// and without a passcode, a wrong passcode, sends, typing, history, rename, leave, a
/// restart that resumes with `since_seq` and a resume token, a second member), and
/// writes what the clients sent, the invite links and TXT records such a host
/// publishes, as seeds under `fuzz/corpus/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "regenerates fuzz/corpus; run by hand"]
async fn capture_seed_corpus() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let host = Host::start(
        Arc::clone(&store),
        HostConfig {
            host_name: "Alice".into(),
            limits: Limits::default(),
            transport: Transport::Plaintext,
        },
    )
    .unwrap();
    let open = host.open_room("Design team", None).unwrap().room_id;
    let locked = host
        .open_room("Locked", Some(fuzz::LOCKED_PASSCODE))
        .unwrap()
        .room_id;
    let addr = host.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let (relay, log) = recording_relay(addr).await;

    // Bob: a first visit, then a restart that resumes.
    let bob_dir = tempfile::tempdir().unwrap();
    let bob_store = Arc::new(Store::open(bob_dir.path()).unwrap());
    let (bob, mut ev) = start_client(&bob_store, relay, open, "Bob");
    bob.join(open, None).unwrap();
    joined(&mut ev, open).await;
    for text in [
        "Hi all!",
        "Is the review still at three?",
        "ünïcødé ✓ \"quoted\" \\ <b>not html</b>",
    ] {
        bob.send(open, text).unwrap();
    }
    acked(&mut ev, 3).await;
    bob.typing(open, true).unwrap();
    bob.typing(open, false).unwrap();
    bob.history(open, Some(2)).unwrap();
    until(&mut ev, "history", |e| {
        matches!(e, ClientEvent::HistoryPage(_)).then_some(())
    })
    .await;
    bob.join(locked, Some("hunter3".into())).unwrap();
    until(&mut ev, "wrong passcode", |e| {
        matches!(e, ClientEvent::JoinFailed { .. }).then_some(())
    })
    .await;
    bob.join(locked, Some(fuzz::LOCKED_PASSCODE.into()))
        .unwrap();
    joined(&mut ev, locked).await;
    bob.send(locked, "in the locked room").unwrap();
    acked(&mut ev, 1).await;
    bob.rename("Bobby").unwrap();
    bob.leave(open).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    bob.shutdown();
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(ev);

    // Carol talks while Bob is away, so Bob's resume has something to fetch.
    let carol_dir = tempfile::tempdir().unwrap();
    let carol_store = Arc::new(Store::open(carol_dir.path()).unwrap());
    let (carol, mut cev) = start_client(&carol_store, relay, open, "Carol");
    carol.join(open, None).unwrap();
    carol
        .join(locked, Some(fuzz::LOCKED_PASSCODE.into()))
        .unwrap();
    joined(&mut cev, locked).await;
    for i in 0..3 {
        carol
            .send(locked, &format!("while Bob was away {i}"))
            .unwrap();
    }
    acked(&mut cev, 3).await;

    // Bob restarts: his store has the resume token and the synced seq.
    let (bob, mut ev) = start_client(&bob_store, relay, locked, "Bobby");
    bob.join(locked, None).unwrap();
    joined(&mut ev, locked).await;
    bob.join(open, None).unwrap();
    joined(&mut ev, open).await;
    bob.send(open, "back online").unwrap();
    acked(&mut ev, 1).await;
    bob.typing(open, true).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    bob.shutdown();
    carol.shutdown();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let sessions = log.lock().unwrap().clone();
    let canon = |s: &str| {
        s.replace(&open.to_string(), fuzz::CANON_OPEN_ROOM)
            .replace(&locked.to_string(), fuzz::CANON_LOCKED_ROOM)
    };
    let mut frames = Vec::new();
    for (i, s) in sessions.iter().enumerate() {
        assert!(!s.is_empty());
        let lines: Vec<String> = s.iter().map(|f| canon(f)).collect();
        write_seed(
            "handshake",
            &format!("session-{i}"),
            lines.join("\n").as_bytes(),
        );
        frames.extend(lines);
    }
    frames.sort();
    frames.dedup();
    for (i, f) in frames.iter().enumerate() {
        let kind = hearth::protocol::decode_client(f)
            .map(|c| c.kind())
            .unwrap_or("bad");
        write_seed("decode_client", &format!("{kind}-{i}"), f.as_bytes());
    }

    // Invite links as `hearth host` prints them (bound address, port, room, and the
    // fingerprint of a real host certificate), and the manual-entry forms.
    let cert = HostCert::load_or_create(dir.path()).unwrap();
    let fp = cert.fingerprint().to_string();
    let links = [
        Invite {
            host: hearth::invite::advertised_ip(addr).to_string(),
            port: addr.port(),
            room_id: Some(open),
            fingerprint: Some(fp.clone()),
        }
        .to_string(),
        Invite {
            host: "fe80::1c2:3dff:fe4e:5f6a".into(),
            port: hearth::DEFAULT_PORT,
            room_id: Some(locked),
            fingerprint: Some(fp.clone()),
        }
        .to_string(),
        Invite {
            host: "alice-pc.local".into(),
            port: 9000,
            room_id: None,
            fingerprint: None,
        }
        .to_string(),
        "alice-pc.local:7447".into(),
        "192.168.1.20".into(),
        format!("[::1]:7447/{open}"),
        format!(
            "hearth://192.168.1.20:7447/{open}#fp={}&x=1",
            fp.to_ascii_uppercase()
        ),
    ];
    for (i, l) in links.iter().enumerate() {
        write_seed("invite", &format!("link-{i}"), l.as_bytes());
    }

    // TXT records as the advertiser builds them from the host's rooms.
    for (i, summary) in host.rooms().iter().enumerate() {
        let room = AdvertisedRoom {
            fingerprint: Some(fp.clone()),
            ..AdvertisedRoom::from(summary)
        };
        for closing in [false, true] {
            let txt = RoomTxt {
                protocol_version: PROTOCOL_VERSION,
                room_id: room.room_id,
                room_name: room.name.clone(),
                host_name: Some(host.host_name().to_string()),
                host_id: Some(host.host_id()),
                has_passcode: room.has_passcode,
                fingerprint: room.fingerprint.clone(),
                online: room.online,
                closing,
                epoch: Some(0x5f3a_09c1),
            };
            write_seed(
                "txt",
                &format!("room-{i}-{closing}"),
                &encode_txt_record(&txt),
            );
        }
    }
    let minimal = RoomTxt {
        protocol_version: PROTOCOL_VERSION,
        room_id: open,
        room_name: "😀".repeat(64),
        host_name: None,
        host_id: None,
        has_passcode: false,
        fingerprint: None,
        online: None,
        closing: false,
        epoch: None,
    };
    write_seed("txt", "minimal-long-name", &encode_txt_record(&minimal));
    host.shutdown().await;
}
