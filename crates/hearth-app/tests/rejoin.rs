//! Members stay with their rooms through everything a host does to them: stop hosting and
//! host again, change the passcode, quit and start Hearth, or be impersonated for a while.
//! Two app instances over real sockets and real mDNS on loopback.

mod common;

use std::time::Duration;

use common::*;
use hearth::protocol::ErrorCode;
use hearth_app::{App, AppEvent, RoomAccess};
use tokio::sync::mpsc::Receiver;
use uuid::Uuid;

async fn wait_access(
    rx: &mut Receiver<AppEvent>,
    what: &str,
    room: Uuid,
    f: impl Fn(&RoomAccess) -> bool,
) -> RoomAccess {
    wait_for(rx, what, |e| match e {
        AppEvent::RoomAccess { room_id, access } if *room_id == room && f(access) => {
            Some(access.clone())
        }
        _ => None,
    })
    .await
}

async fn wait_discovered(rx: &mut Receiver<AppEvent>, room: Uuid) {
    wait_for(rx, "discovery", |e| match e {
        AppEvent::Discovery { rooms } => rooms.iter().any(|r| r.room_id == room).then_some(()),
        _ => None,
    })
    .await
}

/// Sends and waits for the message at the other side: the room really works.
async fn chat(from: &App, to: &mut Receiver<AppEvent>, room: Uuid, text: &str) {
    from.send(room, text).unwrap();
    wait_for(to, text, |e| {
        matches!(e, AppEvent::Message { message } if message.room_id == room && message.text == text)
            .then_some(())
    })
    .await
}

/// "Stop hosting" while the host keeps other rooms: the member's rejoin is refused as
/// an unknown room. It stays in "Your rooms" as not hosted, and is back by itself when
/// the room is hosted again.
#[test]
fn members_come_back_after_stop_hosting_and_host_again() {
    let mdns = isolate();
    run(async move {
        let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (a, mut ea) = App::start(config(dir_a.path(), &mdns)).await.unwrap();
        let (b, mut eb) = App::start(config(dir_b.path(), &mdns)).await.unwrap();
        a.host_room("Lobby", None, false).await.unwrap();
        let room = a.host_room("Standup", None, false).await.unwrap().room_id;
        wait_discovered(&mut eb, room).await;
        b.join_discovered(room, None).await.unwrap();
        wait_joined(&mut eb, "B joined", room).await;
        chat(&b, &mut ea, room, "before the stop").await;

        a.stop_hosting(room).await.unwrap();
        wait_access(&mut eb, "B told the room is not hosted", room, |a| {
            *a == RoomAccess::NotHosted
        })
        .await;
        let rooms = b.rooms().await.unwrap();
        let r = rooms
            .iter()
            .find(|r| r.room_id == room)
            .expect("still in Your rooms");
        assert_eq!(r.access, RoomAccess::NotHosted);
        // Typed meanwhile: kept, and delivered once the room is back.
        let queued = b.send(room, "typed while it was stopped").unwrap();

        a.host_room("Standup", None, true).await.unwrap();
        wait_joined(&mut eb, "B back in the room", room).await;
        wait_for(&mut eb, "the queued message acknowledged", |e| {
            matches!(e, AppEvent::Ack { client_msg_id, .. } if *client_msg_id == queued.client_msg_id)
                .then_some(())
        })
        .await;
        let rooms = b.rooms().await.unwrap();
        assert_eq!(
            rooms.iter().find(|r| r.room_id == room).unwrap().access,
            RoomAccess::Ok
        );
        chat(&a, &mut eb, room, "after hosting again").await;
        a.shutdown().await;
        b.shutdown().await;
    });
}

/// The same with the host's only room: stopping it stops the host, and a member that
/// reconnects in between must not lose the room either.
#[test]
fn members_come_back_when_the_only_room_is_stopped_and_hosted_again() {
    let mdns = isolate();
    run(async move {
        let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (a, mut ea) = App::start(config(dir_a.path(), &mdns)).await.unwrap();
        let (b, mut eb) = App::start(config(dir_b.path(), &mdns)).await.unwrap();
        let room = a.host_room("Only room", None, false).await.unwrap().room_id;
        wait_discovered(&mut eb, room).await;
        b.join_discovered(room, None).await.unwrap();
        wait_joined(&mut eb, "B joined", room).await;
        a.stop_hosting(room).await.unwrap();
        wait_reconnecting(&mut eb, "host gone").await;
        a.host_room("Only room", None, true).await.unwrap();
        wait_joined(&mut eb, "B back in the room", room).await;
        chat(&b, &mut ea, room, "still here").await;
        a.shutdown().await;
        b.shutdown().await;
    });
}

/// A passcode room: "Host again" keeps the passcode (members rejoin by their tokens, and
/// newcomers still need it); a new passcode asks members for it instead of dropping them.
#[test]
fn passcode_rooms_keep_their_passcode_and_ask_members_when_it_changes() {
    let mdns = isolate();
    run(async move {
        let (dir_a, dir_b, dir_c) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let (a, mut ea) = App::start(config(dir_a.path(), &mdns)).await.unwrap();
        let (b, mut eb) = App::start(config(dir_b.path(), &mdns)).await.unwrap();
        a.host_room("Lobby", None, false).await.unwrap();
        let room = a
            .host_room("Secret", Some("pw-1".into()), false)
            .await
            .unwrap()
            .room_id;
        wait_discovered(&mut eb, room).await;
        b.join_discovered(room, Some("pw-1".into())).await.unwrap();
        wait_joined(&mut eb, "B joined", room).await;
        // A's own client is in too (it joins a moment after hosting, with the passcode):
        // stopping before that would test another story, and its `joined` would still be
        // waiting below to be mistaken for the rejoin.
        wait_joined(&mut ea, "A in its own room", room).await;

        a.stop_hosting(room).await.unwrap();
        wait_access(&mut eb, "not hosted", room, |a| *a == RoomAccess::NotHosted).await;
        // Host again, keeping the passcode: B is back by its token, A by its own.
        let again = a.host_room("Secret", None, true).await.unwrap();
        assert!(again.has_passcode, "Host again kept the passcode");
        wait_joined(&mut eb, "B back by token", room).await;
        wait_joined(&mut ea, "A back in its own room", room).await;
        chat(&b, &mut ea, room, "token still good").await;

        // A newcomer without the passcode is still refused.
        let (c, mut ec) = App::start(config(dir_c.path(), &mdns)).await.unwrap();
        wait_discovered(&mut ec, room).await;
        c.join_discovered(room, None).await.unwrap();
        let code = wait_for(&mut ec, "newcomer refused", |e| match e {
            AppEvent::JoinFailed { code, .. } => Some(*code),
            AppEvent::Joined { .. } => panic!("joined a passcode room without it"),
            _ => None,
        })
        .await;
        assert_eq!(code, ErrorCode::PasscodeRequired);
        c.shutdown().await;

        // A new passcode revokes the tokens: B is asked for it, keeps the room, and gets
        // back in with it.
        a.stop_hosting(room).await.unwrap();
        a.host_room("Secret", Some("pw-2".into()), false)
            .await
            .unwrap();
        let access = wait_access(&mut eb, "asked for the new passcode", room, |a| {
            matches!(a, RoomAccess::NeedsPasscode { .. })
        })
        .await;
        assert!(matches!(access, RoomAccess::NeedsPasscode { .. }));
        assert!(b.rooms().await.unwrap().iter().any(|r| r.room_id == room));
        b.rejoin(room, "wrong".into()).unwrap();
        let code = wait_for(&mut eb, "a wrong passcode said so", |e| match e {
            AppEvent::JoinFailed { code, .. } => Some(*code),
            _ => None,
        })
        .await;
        assert_eq!(code, ErrorCode::WrongPasscode);
        b.rejoin(room, "pw-2".into()).unwrap();
        wait_joined(&mut eb, "B in with the new passcode", room).await;
        chat(&b, &mut ea, room, "in with the new one").await;
        a.shutdown().await;
        b.shutdown().await;
    });
}

/// "Host again, keeping the passcode" lets our own client in by a token the host issues
/// it, also when that client is not in the room at that moment (it had left it): the
/// token was once written only into an existing joined room, and so dropped, which
/// locked the host out of its own room with "this room needs a passcode".
#[test]
fn hosting_again_with_the_kept_passcode_lets_our_own_client_in_after_it_left() {
    let mdns = isolate();
    run(async move {
        let dir = tempfile::tempdir().unwrap();
        let (a, mut ea) = App::start(config(dir.path(), &mdns)).await.unwrap();
        let room = a
            .host_room("Secret", Some("pw-1".into()), false)
            .await
            .unwrap()
            .room_id;
        wait_joined(&mut ea, "A in its own room", room).await;
        a.leave(room).unwrap();
        a.stop_hosting(room).await.unwrap();
        let again = a.host_room("Secret", None, true).await.unwrap();
        assert!(again.has_passcode, "Host again kept the passcode");
        wait_for(&mut ea, "A back in its own room by token", |e| match e {
            AppEvent::Joined { room: r, .. } if r.room_id == room => Some(()),
            AppEvent::JoinFailed { code, message, .. } => {
                panic!("our own client was refused its own room: {code:?} {message}")
            }
            _ => None,
        })
        .await;
        assert_eq!(again.room_id, room);
        a.shutdown().await;
    });
}

/// Quitting and starting Hearth brings its hosted rooms back by themselves, passcode and
/// all, and its members with them; with the setting off they stay closed.
#[test]
fn hosted_rooms_come_back_when_the_host_starts_hearth_again() {
    let mdns = isolate();
    run(async move {
        let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (a, _ea) = App::start(config(dir_a.path(), &mdns)).await.unwrap();
        let (b, mut eb) = App::start(config(dir_b.path(), &mdns)).await.unwrap();
        let room = a
            .host_room("Design team", Some("pw".into()), false)
            .await
            .unwrap()
            .room_id;
        let stopped = a.host_room("Stopped", None, false).await.unwrap().room_id;
        a.stop_hosting(stopped).await.unwrap();
        wait_discovered(&mut eb, room).await;
        b.join_discovered(room, Some("pw".into())).await.unwrap();
        wait_joined(&mut eb, "B joined", room).await;

        a.shutdown().await;
        drop(a);
        wait_reconnecting(&mut eb, "host gone").await;
        let (a, mut ea) = App::start(config(dir_a.path(), &mdns)).await.unwrap();
        wait_joined(&mut eb, "B back without anyone hosting by hand", room).await;
        let hosted = a.hosted().await;
        let names: Vec<&str> = hosted.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(
            names,
            vec!["Design team"],
            "only what was hosted at the quit"
        );
        assert!(hosted[0].has_passcode, "with its passcode");
        chat(&b, &mut ea, room, "good morning").await;

        // The setting off: nothing is hosted at start.
        let mut s = a.settings().unwrap();
        s.resume_hosting = false;
        a.set_settings(&s).unwrap();
        a.shutdown().await;
        drop(a);
        let (a, _ea) = App::start(config(dir_a.path(), &mdns)).await.unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(a.hosted().await.is_empty());
        a.shutdown().await;
        b.shutdown().await;
    });
}

/// Drafts belong to their room and survive a restart; an empty draft is gone.
#[test]
fn drafts_are_per_room_and_survive_a_restart() {
    let mdns = isolate();
    run(async move {
        let dir = tempfile::tempdir().unwrap();
        let (a, mut ea) = App::start(config(dir.path(), &mdns)).await.unwrap();
        let one = a.host_room("One", None, false).await.unwrap().room_id;
        let two = a.host_room("Two", None, false).await.unwrap().room_id;
        // The two joins may come in either order.
        let mut joined = std::collections::HashSet::new();
        while joined.len() < 2 {
            let r = wait_for(&mut ea, "both rooms joined", |e| match e {
                AppEvent::Joined { room, .. } if room.room_id == one || room.room_id == two => {
                    Some(room.room_id)
                }
                _ => None,
            })
            .await;
            joined.insert(r);
        }
        let long = "שלום 👋 ".repeat(300);
        a.set_draft(one, &long).unwrap();
        a.set_draft(two, "only in two").unwrap();
        a.shutdown().await;
        drop(a);
        let (a, _ea) = App::start(config(dir.path(), &mdns)).await.unwrap();
        let rooms = a.rooms().await.unwrap();
        let draft = |id| {
            rooms
                .iter()
                .find(|r| r.room_id == id)
                .unwrap()
                .draft
                .clone()
        };
        assert_eq!(draft(one), long);
        assert_eq!(draft(two), "only in two");
        a.set_draft(two, "").unwrap();
        let rooms = a.rooms().await.unwrap();
        assert_eq!(rooms.iter().find(|r| r.room_id == two).unwrap().draft, "");
        a.shutdown().await;
    });
}

/// After a certificate warning the room waits, and reconnects by itself when the host
/// with the pinned certificate is announced again; nothing reached the impostor.
#[test]
fn a_room_reconnects_when_the_genuine_host_is_back_after_a_certificate_warning() {
    let mdns = isolate();
    run(async move {
        let (dir_a, dir_b, dir_x) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let at = |dir: &std::path::Path| {
            let mut c = config(dir, &mdns);
            c.bind = std::net::SocketAddr::from(([127, 0, 0, 1], port));
            c
        };
        let (a, _ea) = App::start(at(dir_a.path())).await.unwrap();
        let (b, mut eb) = App::start(config(dir_b.path(), &mdns)).await.unwrap();
        let room = a.host_room("Genuine", None, false).await.unwrap().room_id;
        wait_discovered(&mut eb, room).await;
        b.join_discovered(room, None).await.unwrap();
        wait_joined(&mut eb, "B joined", room).await;
        a.shutdown().await;
        drop(a);

        // Someone else answers on the same address with another certificate.
        let (x, mut ex) = App::start(at(dir_x.path())).await.unwrap();
        x.host_room("Genuine", None, false).await.unwrap();
        let access = wait_access(&mut eb, "the warning", room, |a| {
            matches!(a, RoomAccess::IdentityChanged { .. })
        })
        .await;
        let RoomAccess::IdentityChanged {
            expected,
            presented,
            ..
        } = access
        else {
            unreachable!()
        };
        assert_ne!(expected, presented);
        b.send(room, "not for the impostor").unwrap();
        x.shutdown().await;
        drop(x);
        while ex.try_recv().is_ok() {}

        let (a, mut ea) = App::start(at(dir_a.path())).await.unwrap();
        a.host_room("Genuine", None, true).await.unwrap();
        wait_joined(&mut eb, "B back with the genuine host", room).await;
        wait_for(&mut ea, "the message reached the genuine host", |e| {
            matches!(e, AppEvent::Message { message } if message.text == "not for the impostor")
                .then_some(())
        })
        .await;
        a.shutdown().await;
        b.shutdown().await;
    });
}

/// A bad link or an address where nothing answers fails at once with a typed error.
#[test]
fn join_link_fails_fast_on_bad_input() {
    let mdns = isolate();
    run(async move {
        let dir = tempfile::tempdir().unwrap();
        let (b, _eb) = App::start(config(dir.path(), &mdns)).await.unwrap();
        let started = std::time::Instant::now();
        let e = b.join_link("hearth://", None).await.unwrap_err();
        assert_eq!(e.code(), "invalid_link", "{e}");
        // A port nobody listens on (the listener is gone before the join).
        let free = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let e = b.join_link(&free.to_string(), None).await.unwrap_err();
        assert_eq!(e.code(), "unreachable", "{e}");
        assert!(e.message().contains(&free.to_string()), "{}", e.message());
        // Bounded by the 3 s connect budget, not the client's 10 s timeouts.
        assert!(started.elapsed() < Duration::from_secs(8));
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["code"], "unreachable");
        assert!(json["message"]
            .as_str()
            .unwrap()
            .starts_with("Nothing answered"));
        b.shutdown().await;
    });
}
