//! The app model end to end, headless: two app instances with their own data
//! directories host, discover, join with a passcode, chat, restart, and survive the
//! host going away, all over real sockets and real mDNS on loopback.

mod common;

use std::time::Duration;

use common::*;
use hearth::protocol::ErrorCode;
use hearth_app::{App, AppEvent};

#[test]
fn host_discover_join_chat_restart_and_outage() {
    let mdns = isolate();
    run(async move {
        let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (a, mut ea) = App::start(config(dir_a.path(), &mdns)).await.unwrap();
        let (b, mut eb) = App::start(config(dir_b.path(), &mdns)).await.unwrap();
        a.set_name("Alice").unwrap();
        b.set_name("Bob").unwrap();

        let hosted = a
            .host_room("E2E Room", Some("pw".into()), false)
            .await
            .unwrap();
        assert!(hosted.invite.starts_with("hearth://127.0.0.1:"));
        let room = hosted.room_id;
        wait_for(&mut ea, "A joined its own room", |e| {
            matches!(e, AppEvent::Joined { room: r, .. } if r.room_id == room && r.hosted_by_me)
                .then_some(())
        })
        .await;

        // B sees it on the LAN, locked, not ours.
        let seen = wait_for(&mut eb, "discovery", |e| match e {
            AppEvent::Discovery { rooms } => rooms.iter().find(|r| r.room_id == room).cloned(),
            _ => None,
        })
        .await;
        assert!(seen.has_passcode && !seen.ours && seen.compatible);
        assert_eq!(seen.host_name.as_deref(), Some("Alice"));

        // A wrong passcode is refused and B is not in the room.
        b.join_discovered(room, Some("nope".into())).await.unwrap();
        let code = wait_for(&mut eb, "join refusal", |e| match e {
            AppEvent::JoinFailed { code, .. } => Some(*code),
            AppEvent::Joined { .. } => panic!("joined with a wrong passcode"),
            _ => None,
        })
        .await;
        assert_eq!(code, ErrorCode::WrongPasscode);
        assert!(b.rooms().await.unwrap().is_empty());

        b.join_discovered(room, Some("pw".into())).await.unwrap();
        let members = wait_for(&mut eb, "join", |e| match e {
            AppEvent::Joined { room: r, members } if r.room_id == room => Some(members.clone()),
            _ => None,
        })
        .await;
        let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, vec!["Alice", "Bob"]);

        // Both ways.
        b.send(room, "hello from Bob").unwrap();
        wait_for(&mut ea, "Bob's message at A", |e| {
            matches!(e, AppEvent::Message { message } if message.text == "hello from Bob")
                .then_some(())
        })
        .await;
        a.send(room, "hi Bob").unwrap();
        wait_for(&mut eb, "Alice's message at B", |e| {
            matches!(e, AppEvent::Message { message } if message.text == "hi Bob").then_some(())
        })
        .await;
        // Typing reaches the other side.
        b.typing(room, true);
        wait_for(&mut ea, "typing", |e| {
            matches!(e, AppEvent::Typing { member, active: true, .. } if member.name == "Bob")
                .then_some(())
        })
        .await;

        // Unread counting: B has one unread message from Alice until it marks it read.
        let rb = b.rooms().await.unwrap();
        // The host's name is kept with the room, for when it is away.
        assert_eq!(rb[0].host_name.as_deref(), Some("Alice"));
        assert_eq!(rb[0].unread, 1);
        b.mark_read(room, 2).unwrap();
        assert_eq!(b.rooms().await.unwrap()[0].unread, 0);

        // B quits and restarts: history from the cache at once, then it rejoins by token.
        b.shutdown().await;
        drop(b);
        let (b, mut eb) = App::start(config(dir_b.path(), &mdns)).await.unwrap();
        let page = b.messages(room, None, 50).unwrap();
        let texts: Vec<&str> = page.messages.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts, vec!["hello from Bob", "hi Bob"]);
        assert!(page.at_start);
        wait_for(&mut eb, "rejoin without the passcode", |e| match e {
            AppEvent::Joined { room: r, .. } if r.room_id == room => Some(()),
            AppEvent::JoinFailed { message, .. } => panic!("rejoin refused: {message}"),
            _ => None,
        })
        .await;

        // A quits: B sees the host offline and can still read and queue.
        a.shutdown().await;
        drop(a);
        wait_reconnecting(&mut eb, "host offline").await;
        assert_eq!(b.messages(room, None, 50).unwrap().messages.len(), 2);
        let pending = b.send(room, "sent while Alice was away").unwrap();
        assert_eq!(b.messages(room, None, 50).unwrap().pending.len(), 1);

        // A comes back (on another port): its room is hosted again by itself, with the
        // same id and passcode; B follows it there and its message arrives exactly once.
        let (a, mut ea) = App::start(config(dir_a.path(), &mdns)).await.unwrap();
        let again = wait_for(&mut ea, "the room hosted again at start", |e| match e {
            AppEvent::Hosting { rooms } => rooms.first().cloned(),
            _ => None,
        })
        .await;
        assert_eq!(again.room_id, room, "same room, same id");
        assert!(again.has_passcode);
        wait_for(&mut eb, "ack after the host returned", |e| matches!(e, AppEvent::Ack { client_msg_id, .. } if *client_msg_id == pending.client_msg_id).then_some(())).await;
        wait_for(&mut ea, "the queued message at A", |e| matches!(e, AppEvent::Message { message } if message.text == "sent while Alice was away").then_some(())).await;
        // B's cache settles: the queued message is out of the outbox and in the log.
        let page = eventually("B's cache to hold the queued message as sent", || {
            let p = b.messages(room, None, 50).unwrap();
            (p.pending.is_empty() && p.messages.len() >= 3).then_some(p)
        })
        .await;
        let texts: Vec<&str> = page.messages.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(
            texts,
            vec!["hello from Bob", "hi Bob", "sent while Alice was away"]
        );
        assert!(page.pending.is_empty());
        let host_log = a
            .store()
            .reader()
            .unwrap()
            .after(room, 0, u64::MAX, 100)
            .unwrap();
        assert_eq!(host_log.len(), 3, "exactly once on the host");
        a.shutdown().await;
        b.shutdown().await;
    });
}

/// A host that comes back on the same address is rejoined as soon as it is announced
/// (and its own app's client as soon as it hosts again), not at the end of a backoff
/// that may be many seconds long.
#[test]
fn a_returning_host_is_rejoined_without_waiting_out_the_backoff() {
    let mdns = isolate();
    run(async move {
        let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        // A fixed port, so A comes back exactly where it was.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let slow = |dir: &std::path::Path| {
            let mut c = config(dir, &mdns);
            c.bind = std::net::SocketAddr::from(([127, 0, 0, 1], port));
            // Far longer than any wait below: only an early retry can pass.
            c.backoff_min = Duration::from_secs(60);
            c.backoff_max = Duration::from_secs(60);
            c
        };
        let (a, ea) = App::start(slow(dir_a.path())).await.unwrap();
        let (b, mut eb) = App::start(slow(dir_b.path())).await.unwrap();
        let room = a.host_room("Back soon", None, false).await.unwrap().room_id;
        wait_for(&mut eb, "discovery", |e| match e {
            AppEvent::Discovery { rooms } => rooms.iter().any(|r| r.room_id == room).then_some(()),
            _ => None,
        })
        .await;
        b.join_discovered(room, None).await.unwrap();
        wait_joined(&mut eb, "join", room).await;
        // A hosts again by hand below, after its client has tried and is waiting: not
        // at start, which would race that first try.
        let mut settings = a.settings().unwrap();
        settings.resume_hosting = false;
        a.set_settings(&settings).unwrap();

        a.shutdown().await;
        drop((a, ea));
        wait_reconnecting(&mut eb, "host offline").await;

        let (a, mut ea) = App::start(slow(dir_a.path())).await.unwrap();
        // A's own client already tried its host (down until now) and is waiting.
        wait_reconnecting(&mut ea, "A's client waiting").await;
        assert_eq!(
            a.host_room("Back soon", None, false).await.unwrap().room_id,
            room
        );
        wait_joined(&mut ea, "A rejoined its own room", room).await;
        wait_joined(&mut eb, "B rejoined on the announcement", room).await;
        a.shutdown().await;
        b.shutdown().await;
    });
}

/// The desktop shell may call the sync methods outside any runtime: they must still be
/// able to start clients there (this used to abort the app).
#[test]
fn sync_methods_work_from_a_thread_outside_the_runtime() {
    let mdns = isolate();
    run(async move {
        let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (a, _ea) = App::start(config(dir_a.path(), &mdns)).await.unwrap();
        let (b, mut eb) = App::start(config(dir_b.path(), &mdns)).await.unwrap();
        let hosted = a.host_room("By link", None, false).await.unwrap();
        b.join_link(&hosted.invite, None).await.unwrap();
        wait_joined(&mut eb, "join by link", hosted.room_id).await;
        let (b2, fp) = (b.clone(), a_fingerprint(&hosted.invite));
        std::thread::spawn(move || b2.trust_fingerprint(hosted.room_id, &fp))
            .join()
            .expect("trust_fingerprint panicked outside the runtime")
            .unwrap();
        wait_joined(&mut eb, "rejoin after trusting", hosted.room_id).await;
        // The replaced client's last words ("closed") must not overwrite the state of the
        // session that replaced it at the same address (the member list went blank).
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let rooms = b.rooms().await.unwrap();
        assert_eq!(rooms[0].connection, hearth_app::Connection::Connected);
        let members: Vec<String> = b
            .members(hosted.room_id)
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert!(!members.is_empty(), "the member list went blank");
        a.shutdown().await;
        b.shutdown().await;
    });
}

fn a_fingerprint(invite: &str) -> String {
    invite
        .split("#fp=")
        .nth(1)
        .expect("the invite carries #fp=")
        .to_string()
}

/// The online count in the announcement follows the room, also when the change comes
/// right after the first announcement (inside the advertiser's re-announce limit): the
/// held-back count goes out once the limit allows, not only at the next change.
#[test]
fn the_announced_online_count_catches_up() {
    let mdns = isolate();
    run(async move {
        let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (a, _ea) = App::start(config(dir_a.path(), &mdns)).await.unwrap();
        let (_b, mut eb) = App::start(config(dir_b.path(), &mdns)).await.unwrap();
        // Announced with 0 online; A's own client joins a moment later.
        let room = a.host_room("Counted", None, false).await.unwrap().room_id;
        let seen = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(e) = eb.recv().await {
                if let AppEvent::Discovery { rooms } = e {
                    if rooms
                        .iter()
                        .any(|r| r.room_id == room && r.online == Some(1))
                    {
                        return true;
                    }
                }
            }
            false
        })
        .await;
        assert_eq!(seen, Ok(true), "B never saw the room with its host online");
        a.shutdown().await;
    });
}

/// A UI that stops taking events (hung, or not subscribed yet) does not grow the app:
/// past the event queue's bound events are dropped, one `resync` follows, and the
/// cache, which the UI reads on a resync, holds everything the dropped events carried.
#[test]
fn a_ui_that_falls_behind_gets_one_resync_and_loses_nothing() {
    const HISTORY: usize = 3_000;
    let mdns = isolate();
    run(async move {
        let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        {
            let store = hearth::Store::open(dir_a.path()).unwrap();
            let room = store.open_hosted_room("Big archive", None).unwrap();
            let user_id = uuid::Uuid::new_v4();
            let batch: Vec<hearth::store::NewMessage> = (0..HISTORY)
                .map(|i| hearth::store::NewMessage {
                    room_id: room.room_id,
                    user_id,
                    author: "Archivist".into(),
                    client_msg_id: format!("seed-{i}"),
                    text: format!("archived message {i} — مرحبا 🔥"),
                    verified: false,
                    ..Default::default()
                })
                .collect();
            store.host_log().unwrap().append_batch(&batch).unwrap();
        }
        let (a, _ea) = App::start(config(dir_a.path(), &mdns)).await.unwrap();
        let (b, mut eb) = App::start(config(dir_b.path(), &mdns)).await.unwrap();
        let hosted = a.host_room("Big archive", None, false).await.unwrap();
        b.join_link(&hosted.invite, None).await.unwrap();
        wait_joined(&mut eb, "join", hosted.room_id).await;
        // From here on nobody reads b's events. Scrolling back through the whole archive
        // makes the client fetch every page: thousands of message events.
        let room = hosted.room_id;
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        loop {
            // Walk down the cache; the first short page asks the host for the one below.
            let (mut before, mut oldest) = (None, None);
            loop {
                let p = b.messages(room, before, 500).unwrap();
                let Some(first) = p.messages.first() else {
                    break;
                };
                oldest = Some(first.seq);
                if p.at_start {
                    break;
                }
                before = oldest;
            }
            if oldest == Some(1) {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "history never loaded");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Let late answers to repeated page requests land (they only add to what is
        // held; the count below does not depend on them arriving in time).
        tokio::time::sleep(Duration::from_secs(1)).await;
        // What is held, counted before anything is taken out: draining makes room, and
        // events still coming in (late pages, the resync) would be counted too.
        let held_now = eb.len();
        assert!(
            held_now <= hearth_app::EVENT_QUEUE,
            "{held_now} events were held for a UI that read none"
        );
        let mut held = Vec::new();
        while let Ok(e) = eb.try_recv() {
            held.push(e);
        }
        // The resync goes out as soon as there is room again: it slipped in while the
        // queue was drained, or it comes now.
        let resync = if held.iter().any(|e| matches!(e, AppEvent::Resync)) {
            true
        } else {
            let came = tokio::time::timeout(Duration::from_secs(20), async {
                while let Some(e) = eb.recv().await {
                    if matches!(e, AppEvent::Resync) {
                        return true;
                    }
                }
                false
            })
            .await;
            came == Ok(true)
        };
        assert!(resync, "events were dropped without a resync");
        // What a resync reads: every message, in order, none twice.
        let mut all = Vec::new();
        let mut before = None;
        loop {
            let p = b.messages(room, before, 500).unwrap();
            let Some(first) = p.messages.first() else {
                break;
            };
            before = Some(first.seq);
            let mut page = p.messages;
            page.extend(all);
            all = page;
            if p.at_start {
                break;
            }
        }
        let seqs: Vec<u64> = all.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, (1..=HISTORY as u64).collect::<Vec<_>>());
        a.shutdown().await;
        b.shutdown().await;
    });
}
