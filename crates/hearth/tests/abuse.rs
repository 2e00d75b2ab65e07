//! Bad input, floods, slow readers, wrong passcodes and connection limits: each gets its
//! documented error or close code, and a well-behaved member keeps receiving in order.

mod common;

use std::time::Duration;

use common::*;
use futures_util::SinkExt;
use hearth::protocol::{close, ErrorCode, HostFrame, PresenceEvent};
use hearth::Limits;
use serde_json::json;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

/// Two good members; returns them after checking the room works.
async fn good_pair(addr: std::net::SocketAddr, room: Uuid) -> (Raw, Raw) {
    let mut sender = member(addr, room, "Good").await;
    let mut watcher = member(addr, room, "Watcher").await;
    sender
        .until(|f| matches!(f, HostFrame::Presence(_)).then_some(()))
        .await;
    check_room(&mut sender, &mut watcher, room, "before").await;
    (sender, watcher)
}

/// The sender's next five messages reach the watcher, gap-free and in order.
async fn check_room(sender: &mut Raw, watcher: &mut Raw, room: Uuid, tag: &str) {
    for i in 0..5 {
        sender
            .send_acked(room, &format!("{tag}-{i}"), &format!("{tag} {i}"))
            .await;
    }
    let got = watcher.messages(5).await;
    let texts: Vec<&str> = got.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        texts,
        (0..5).map(|i| format!("{tag} {i}")).collect::<Vec<_>>()
    );
    assert!(got.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
}

/// The next `error` frame, whole.
async fn error_frame(c: &mut Raw) -> hearth::protocol::ErrorFrame {
    c.until(|f| match f {
        HostFrame::Error(e) => Some(e.clone()),
        _ => None,
    })
    .await
}

async fn error_code(c: &mut Raw) -> (ErrorCode, Option<String>) {
    let e = error_frame(c).await;
    (e.code, e.request)
}

#[tokio::test]
async fn frame_level_errors_are_answered_and_the_connection_stays() {
    let h = start_host(fast_limits()).await;
    let room = h.host.open_room("Bad", None).unwrap().room_id;
    let (mut good, mut watcher) = good_pair(h.addr, room).await;
    let mut bad = member(h.addr, room, "Mallory").await;
    watcher
        .until(|f| matches!(f, HostFrame::Presence(_)).then_some(()))
        .await;

    bad.text("{not json").await;
    assert_eq!(error_code(&mut bad).await, (ErrorCode::BadJson, None));
    bad.text(r#"{"payload":{}}"#).await;
    assert_eq!(error_code(&mut bad).await.0, ErrorCode::BadJson);
    bad.text(r#"{"type":"explode","payload":{}}"#).await;
    assert_eq!(
        error_code(&mut bad).await,
        (ErrorCode::UnknownType, Some("explode".into()))
    );
    bad.text(json!({"type":"send","payload":{"room_id":room,"text":"no id"}}).to_string())
        .await;
    assert_eq!(
        error_code(&mut bad).await,
        (ErrorCode::InvalidPayload, Some("send".into()))
    );
    bad.text(
        json!({"type":"send","payload":{"room_id":"not-a-uuid","client_msg_id":"x","text":"t"}})
            .to_string(),
    )
    .await;
    assert_eq!(error_code(&mut bad).await.0, ErrorCode::InvalidPayload);
    // An invalid send still names its room and client_msg_id when they can be read
    // (§5.10), so a client can match the error to the send; a junk id is not echoed.
    bad.text(
        json!({"type":"send","payload":{"room_id":room,"client_msg_id":"c-7","text":5}})
            .to_string(),
    )
    .await;
    let e = error_frame(&mut bad).await;
    assert_eq!(
        (
            e.code,
            e.request.as_deref(),
            e.room_id,
            e.client_msg_id.as_deref()
        ),
        (
            ErrorCode::InvalidPayload,
            Some("send"),
            Some(room),
            Some("c-7")
        )
    );
    bad.text(
        json!({"type":"send","payload":{"room_id":"nope","client_msg_id":"x".repeat(65)}})
            .to_string(),
    )
    .await;
    let e = error_frame(&mut bad).await;
    assert_eq!((e.room_id, e.client_msg_id), (None, None));
    bad.send(room, "long", &"é".repeat(4001)).await;
    assert_eq!(
        error_code(&mut bad).await,
        (ErrorCode::TextTooLong, Some("send".into()))
    );
    bad.send(room, "blank", "   \n ").await;
    assert_eq!(error_code(&mut bad).await.0, ErrorCode::EmptyText);
    bad.send(room, &"i".repeat(65), "id too long").await;
    assert_eq!(error_code(&mut bad).await.0, ErrorCode::InvalidClientMsgId);
    bad.send(Uuid::new_v4(), "elsewhere", "not joined").await;
    assert_eq!(error_code(&mut bad).await.0, ErrorCode::NotJoined);
    bad.text(
        json!({"type":"hello","payload":{"protocol":1,"user_id":Uuid::new_v4(),"name":"again"}})
            .to_string(),
    )
    .await;
    assert_eq!(error_code(&mut bad).await.0, ErrorCode::AlreadyGreeted);
    // Exactly 4000 characters is fine, and the bad connection still works.
    assert!(!bad.send_acked(room, "max", &"é".repeat(4000)).await.1);
    let m = watcher.messages(1).await;
    assert_eq!(m[0].text.chars().count(), 4000);
    check_room(&mut good, &mut watcher, room, "after").await;
    // Nothing invalid was stored.
    let log = h
        .store
        .reader()
        .unwrap()
        .after(room, 0, u64::MAX, 1000)
        .unwrap();
    assert_eq!(log.len(), 11);
}

#[tokio::test]
async fn frames_before_hello_are_refused_and_bad_versions_closed() {
    let h = start_host(fast_limits()).await;
    let room = h.host.open_room("Hello", None).unwrap().room_id;
    let mut c = Raw::connect(h.addr).await;
    c.send(room, "x", "too early").await;
    assert_eq!(
        error_code(&mut c).await,
        (ErrorCode::HelloRequired, Some("send".into()))
    );
    let mut old = Raw::connect(h.addr).await;
    old.text(
        json!({"type":"hello","payload":{"protocol":99,"user_id":Uuid::new_v4(),"name":"Future"}})
            .to_string(),
    )
    .await;
    assert_eq!(error_code(&mut old).await.0, ErrorCode::UnsupportedVersion);
    assert_eq!(old.closed().await, Some(close::UNSUPPORTED_VERSION));
}

/// Sends one bad frame from a member and checks the close code and the room.
async fn closes_with(bad_frame: Message, expected: u16) {
    let h = start_host(fast_limits()).await;
    let room = h.host.open_room("Close", None).unwrap().room_id;
    let (mut good, mut watcher) = good_pair(h.addr, room).await;
    let mut bad = member(h.addr, room, "Mallory").await;
    watcher
        .until(|f| matches!(f, HostFrame::Presence(_)).then_some(()))
        .await;
    let _ = bad.ws.send(bad_frame).await;
    assert_eq!(bad.closed().await, Some(expected));
    let p = watcher
        .until(|f| match f {
            HostFrame::Presence(p) => Some(p.clone()),
            _ => None,
        })
        .await;
    assert_eq!(
        (p.event, p.member.name.as_str()),
        (PresenceEvent::Leave, "Mallory")
    );
    check_room(&mut good, &mut watcher, room, "after").await;
}

#[tokio::test]
async fn invalid_utf8_closes_1007() {
    let frame = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
    closes_with(Message::Frame(frame), close::INVALID_PAYLOAD).await;
}

#[tokio::test]
async fn binary_frame_closes_1003() {
    closes_with(
        Message::Binary(vec![1u8, 2, 3].into()),
        close::UNSUPPORTED_DATA,
    )
    .await;
}

#[tokio::test]
async fn oversized_frame_closes_1009() {
    let big = format!(
        r#"{{"type":"send","payload":{{"text":"{}"}}}}"#,
        "a".repeat(70 * 1024)
    );
    closes_with(Message::Text(big.into()), close::TOO_BIG).await;
}

#[tokio::test]
async fn a_flood_is_rate_limited_then_closed() {
    let limits = Limits {
        messages_per_sec: 5,
        message_burst: 5,
        flood_close_after: 40,
        ..Limits::default()
    };
    let h = start_host(limits).await;
    let room = h.host.open_room("Flood", None).unwrap().room_id;
    let mut good = member(h.addr, room, "Good").await;
    let mut watcher = member(h.addr, room, "Watcher").await;
    let mut flood = member(h.addr, room, "Flood").await;
    // In one write, so that how many pass depends on the bucket, not on how fast this
    // test writes: the burst, plus 5 a second over the time the 20 took.
    let started = std::time::Instant::now();
    for i in 0..20 {
        flood.ws.feed(spam(room, i)).await.unwrap();
    }
    flood.ws.flush().await.unwrap();
    let (mut acked, mut limited) = (0, 0);
    while acked + limited < 20 {
        match flood.next().await {
            HostFrame::Ack(_) => acked += 1,
            HostFrame::Error(e) => {
                assert_eq!(e.code, ErrorCode::RateLimited);
                assert!(
                    e.retry_after_ms.is_some_and(|ms| ms > 0 && ms <= 1000),
                    "{e:?}"
                );
                assert!(e.client_msg_id.is_some());
                limited += 1;
            }
            _ => {}
        }
    }
    // The bucket holds 5 and refills 5 a second: in `took` at most 5 more tokens a
    // second came in (an idle machine takes milliseconds: exactly the burst of 5).
    let took = started.elapsed();
    let refilled = (5.0 * took.as_secs_f64()).floor() as usize;
    assert!(
        (5..=5 + refilled).contains(&acked),
        "the burst passes, then the bucket: {acked} acked in {took:?}"
    );
    assert_eq!(limited, 20 - acked);
    // The good member, on its own bucket, is unaffected while the flood continues. The
    // rest of the flood goes in one write too: 40 refusals in a row close it, however
    // slowly this test runs.
    good.send_acked(room, "g0", "still fine").await;
    for i in 20..200 {
        if flood.ws.feed(spam(room, i)).await.is_err() {
            break;
        }
    }
    let _ = flood.ws.flush().await;
    assert_eq!(flood.closed().await, Some(close::FLOOD));
    // The watcher saw exactly the accepted messages, in order, nothing dropped.
    let got = watcher.messages(acked + 1).await;
    assert!(got.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
    assert_eq!(got.last().unwrap().text, "still fine");
}

/// The flood's `i`th send.
fn spam(room: Uuid, i: usize) -> Message {
    let f = json!({"type":"send","payload":{"room_id":room,"client_msg_id":format!("f{i}"),"text":"spam"}});
    Message::Text(f.to_string().into())
}

/// Everything the client still gets, up to the close: (acks, `rate_limited` errors, the
/// close code). A read error (a TCP reset) instead of a close frame fails the test.
async fn read_to_close(c: &mut Raw) -> (usize, usize, u16) {
    use futures_util::StreamExt;
    let (mut acks, mut limited) = (0, 0);
    loop {
        let m = tokio::time::timeout(WAIT, c.ws.next())
            .await
            .expect("timed out before the close");
        match m {
            Some(Ok(Message::Text(t))) => match hearth::protocol::decode_host(&t).unwrap() {
                HostFrame::Ack(_) => acks += 1,
                HostFrame::Error(e) if e.code == ErrorCode::RateLimited => limited += 1,
                HostFrame::Presence(_) | HostFrame::Typing(_) => {}
                other => panic!("unexpected frame {other:?}"),
            },
            Some(Ok(Message::Close(Some(c)))) => return (acks, limited, u16::from(c.code)),
            Some(Ok(Message::Close(None))) => panic!("a close frame without a code"),
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("read error instead of a close frame (a reset?): {e}"),
            None => panic!("the connection ended without a close frame"),
        }
    }
}

/// A close for a reason must reach a client that still has unread bytes at the host:
/// 400 sends in one write, at 1 message/s with a burst of 1, get their ack, every
/// `rate_limited` error (the one that reaches `flood_close_after` is answered by the
/// close itself) and the 4008 close. The client has a small receive buffer and reads
/// only 0.3 s later, so most of that is still in the host's send queue when it closes:
/// a reset would destroy it.
#[tokio::test]
async fn a_flood_in_one_write_still_gets_every_error_and_its_close() {
    let limits = Limits {
        messages_per_sec: 1,
        message_burst: 1,
        ..Limits::default()
    };
    let h = start_host(limits).await;
    let room = h.host.open_room("Flood", None).unwrap().room_id;
    let mut flood = Raw::connect_slow(h.addr, 4096).await;
    flood.hello("Flood").await;
    flood.join(room, None, None).await;
    for i in 0..400 {
        let f = json!({"type":"send","payload":{"room_id":room,"client_msg_id":format!("f{i}"),"text":"spam"}});
        flood
            .ws
            .feed(Message::Text(f.to_string().into()))
            .await
            .unwrap();
    }
    flood.ws.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (acks, limited, code) = read_to_close(&mut flood).await;
    assert_eq!(code, close::FLOOD);
    // The accepted send's ack may lose the race with the close (§3.5 allows that).
    assert!(acks <= 1, "{acks} acks for one accepted send");
    assert_eq!(limited, Limits::default().flood_close_after as usize - 1);
}

/// A frame over the size limit leaves most of itself unread at the host: the 1009 close
/// must still arrive when the client, with a small receive buffer and a busy room's
/// messages still in the host's send queue, reads 0.3 s later.
#[tokio::test]
async fn an_oversized_frame_read_later_still_gets_1009() {
    let h = start_host(fast_limits()).await;
    let room = h.host.open_room("Big", None).unwrap().room_id;
    let mut big = Raw::connect_slow(h.addr, 4096).await;
    big.hello("Big").await;
    big.join(room, None, None).await;
    let mut busy = member(h.addr, room, "Busy").await;
    for i in 0..100 {
        busy.send_acked(room, &format!("b{i}"), &format!("{i} {}", "ש".repeat(1000)))
            .await;
    }
    let text = "a".repeat(Limits::default().max_frame_bytes + 1);
    big.ws.send(Message::Text(text.into())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    use futures_util::StreamExt;
    let mut messages = 0;
    let code = loop {
        match tokio::time::timeout(WAIT, big.ws.next())
            .await
            .expect("close")
        {
            Some(Ok(Message::Text(t))) => {
                if let HostFrame::Message(_) = hearth::protocol::decode_host(&t).unwrap() {
                    messages += 1;
                }
            }
            Some(Ok(Message::Close(Some(c)))) => break u16::from(c.code),
            Some(Ok(_)) => {}
            other => panic!("no close frame after {messages} messages: {other:?}"),
        }
    };
    assert_eq!((messages, code), (100, close::TOO_BIG));
}

/// Pings are frames (§8): a ping flood is closed like any other flood, without an error
/// frame per ping, and the room keeps working for everyone else.
#[tokio::test]
async fn a_ping_flood_is_closed_and_others_are_unaffected() {
    // The default frame budget: 100 frames/s, burst 200.
    let h = start_host(Limits::default()).await;
    let room = h.host.open_room("Pings", None).unwrap().room_id;
    let (mut good, mut watcher) = good_pair(h.addr, room).await;
    let mut pinger = member(h.addr, room, "Pinger").await;
    // Without reading: a host that answered every ping could stall this writer, so the
    // flood stops after 20,000 pings or 5 s, whichever comes first.
    let mut sent = 0;
    let flood = async {
        while sent < 20_000 {
            for _ in 0..100 {
                pinger.ws.feed(Message::Ping(Default::default())).await?;
            }
            pinger.ws.flush().await?;
            sent += 100;
        }
        Ok::<_, tokio_tungstenite::tungstenite::Error>(())
    };
    let closed = !matches!(
        tokio::time::timeout(Duration::from_secs(5), flood).await,
        Ok(Ok(()))
    );
    let (acks, limited, code) = read_to_close(&mut pinger).await;
    assert_eq!(
        code,
        close::FLOOD,
        "after {sent} pings (writes failed: {closed})"
    );
    assert_eq!((acks, limited), (0, 0), "no error frame answers a ping");
    check_room(&mut good, &mut watcher, room, "after the ping flood").await;
}

#[tokio::test]
async fn a_slow_reader_is_dropped_with_4001_and_others_are_unaffected() {
    let limits = Limits {
        outgoing_queue: 64,
        ..fast_limits()
    };
    let h = start_host(limits).await;
    let room = h.host.open_room("Slow", None).unwrap().room_id;
    let mut sender = member(h.addr, room, "Sender").await;
    let mut watcher = member(h.addr, room, "Watcher").await;
    let mut slow = member(h.addr, room, "Sloth").await;
    watcher
        .until(|f| matches!(f, HostFrame::Presence(p) if p.member.name == "Sloth").then_some(()))
        .await;
    // The sloth stops reading. 12 MB of traffic overflows its socket buffers and queue.
    let text = "z".repeat(4000);
    let n = 3000;
    let sending = async {
        // Windows of 10 sends (20 frames back) stay well inside the 64-frame queue of
        // a member that does read.
        for chunk in 0..(n / 10) {
            for i in chunk * 10..(chunk + 1) * 10 {
                sender.send(room, &format!("s{i}"), &text).await;
            }
            let last = format!("s{}", chunk * 10 + 9);
            sender
                .until(|f| matches!(f, HostFrame::Ack(a) if a.client_msg_id == last).then_some(()))
                .await;
        }
    };
    let watching = async {
        let mut seqs = Vec::new();
        let mut sloth_left = false;
        while seqs.len() < n || !sloth_left {
            match watcher.next().await {
                HostFrame::Message(m) => seqs.push(m.seq),
                HostFrame::Presence(p) if p.member.name == "Sloth" => {
                    assert_eq!(p.event, PresenceEvent::Leave);
                    sloth_left = true;
                }
                _ => {}
            }
        }
        seqs
    };
    let ((), seqs) = tokio::join!(sending, watching);
    assert_eq!(
        seqs,
        (1..=n as u64).collect::<Vec<_>>(),
        "the watcher got everything in order"
    );
    // Now the sloth reads: after whatever was buffered, the close frame says why.
    assert_eq!(slow.closed().await, Some(close::SLOW_READER));
}

#[tokio::test]
async fn passcodes_are_checked_and_guessing_is_throttled() {
    // Long enough that the join below is surely checked while the throttle holds, however
    // slow the machine: the test waits it out once.
    const BACKOFF: Duration = Duration::from_secs(2);
    let limits = Limits {
        passcode_free_failures: 2,
        passcode_backoff_base: BACKOFF,
        ..fast_limits()
    };
    let h = start_host(limits).await;
    let room = h.host.open_room("Locked", Some("hunter2")).unwrap();
    assert!(room.has_passcode);
    let room = room.room_id;
    let mut c = Raw::connect(h.addr).await;
    let w = c.hello("Guesser").await;
    assert!(w.rooms.iter().any(|r| r.room_id == room && r.has_passcode));
    let join = |pass: Option<&str>| {
        let mut p = json!({"room_id": room});
        if let Some(pc) = pass {
            p["passcode"] = json!(pc);
        }
        json!({"type":"join","payload":p}).to_string()
    };
    let err = |f: &HostFrame| match f {
        HostFrame::Error(e) => Some(e.clone()),
        HostFrame::Joined(_) => panic!("joined without the right passcode"),
        _ => None,
    };
    c.text(join(None)).await;
    assert_eq!(c.until(err).await.code, ErrorCode::PasscodeRequired);
    for _ in 0..2 {
        c.text(join(Some("guess"))).await;
        let e = c.until(err).await;
        assert_eq!((e.code, e.retry_after_ms), (ErrorCode::WrongPasscode, None));
    }
    c.text(join(Some("guess"))).await;
    let e = c.until(err).await;
    assert_eq!(e.code, ErrorCode::WrongPasscode);
    let backoff_ms = BACKOFF.as_millis() as u64;
    assert_eq!(e.retry_after_ms, Some(backoff_ms));
    // Even the right passcode is not checked while throttled.
    c.text(join(Some("hunter2"))).await;
    let e = c.until(err).await;
    assert_eq!(e.code, ErrorCode::Throttled);
    assert!(
        e.retry_after_ms
            .is_some_and(|ms| ms > 0 && ms <= backoff_ms + 1),
        "{e:?}"
    );
    // The throttle expires when it said; then the right passcode gets in.
    let retry_after = Duration::from_millis(e.retry_after_ms.unwrap());
    tokio::time::sleep(retry_after + Duration::from_millis(50)).await;
    let j = c.join(room, Some("hunter2"), None).await;
    assert_eq!(j.room.room_id, room);
    // A correct passcode from the start works for someone else.
    let mut d = Raw::connect(h.addr).await;
    d.hello("Friend").await;
    d.join(room, Some("hunter2"), None).await;
}

#[tokio::test]
async fn connection_limits_close_with_4005() {
    let limits = Limits {
        max_connections_per_ip: 3,
        ..fast_limits()
    };
    let h = start_host(limits).await;
    let room = h.host.open_room("Full", None).unwrap().room_id;
    let mut kept = Vec::new();
    for i in 0..3 {
        kept.push(member(h.addr, room, &format!("m{i}")).await);
    }
    let mut extra = Raw::connect(h.addr).await;
    assert_eq!(extra.closed().await, Some(close::TOO_MANY_CONNECTIONS));
    // The others keep working, and a slot frees up when one leaves.
    let mut first = kept.remove(0);
    first.send_acked(room, "a", "still here").await;
    drop(first);
    eventually(
        "a new connection welcomed after a member left",
        PATIENCE,
        async || greeted_or_refused(h.addr).await,
    )
    .await;
}

/// Connects and says hello: true on `welcome`, false if the host refused the connection
/// with 4005 (its slot is not free yet). Anything else fails the test.
async fn greeted_or_refused(addr: std::net::SocketAddr) -> bool {
    use futures_util::StreamExt;
    let mut c = Raw::connect(addr).await;
    let hello = json!({"type":"hello","payload":{"protocol":1,"user_id":c.user_id,"name":"again"}});
    // A refused connection may already be closing: its close frame says why.
    let _ = c.ws.send(Message::Text(hello.to_string().into())).await;
    loop {
        let m = tokio::time::timeout(WAIT, c.ws.next())
            .await
            .expect("neither welcome nor a close");
        match m {
            Some(Ok(Message::Text(t))) => {
                if let HostFrame::Welcome(_) = hearth::protocol::decode_host(&t).unwrap() {
                    return true;
                }
            }
            Some(Ok(Message::Close(Some(f)))) => {
                assert_eq!(u16::from(f.code), close::TOO_MANY_CONNECTIONS, "{f:?}");
                return false;
            }
            Some(Ok(_)) => {}
            other => panic!("neither welcome nor 4005: {other:?}"),
        }
    }
}

#[tokio::test]
async fn every_frame_counts_so_junk_and_join_floods_are_bounded() {
    let limits = Limits {
        frames_per_sec: 20,
        messages_per_sec: 5,
        flood_close_after: 100,
        ..Limits::default()
    };
    let h = start_host(limits).await;
    let room = h.host.open_room("Junk", Some("pw")).unwrap().room_id;
    let mut good = Raw::connect(h.addr).await;
    good.hello("Good").await;
    good.join(room, Some("pw"), None).await;
    let mut junk = Raw::connect(h.addr).await;
    junk.hello("Junk").await;
    // Joins with the right passcode cost an Argon2 check each: they are frames too.
    let join = json!({"type":"join","payload":{"room_id":room,"passcode":"pw"}}).to_string();
    let started = std::time::Instant::now();
    for _ in 0..60 {
        junk.ws
            .feed(Message::Text(join.clone().into()))
            .await
            .unwrap();
    }
    junk.ws.flush().await.unwrap();
    let (mut joined, mut limited) = (0, 0);
    while joined + limited < 60 {
        match junk.next().await {
            HostFrame::Joined(_) => joined += 1,
            HostFrame::Error(e) if e.code == ErrorCode::RateLimited => {
                assert!(e.retry_after_ms.is_some());
                // Over the join budget or over the frame budget (the last 20 of the 60,
                // refused before decoding), the error names the join it refused, so a
                // client knows to ask again.
                assert_eq!(e.request.as_deref(), Some("join"), "{e:?}");
                assert_eq!(e.room_id, Some(room), "{e:?}");
                limited += 1;
            }
            _ => {}
        }
    }
    // The joins are checked one after another (an Argon2 check each), so on a slow
    // machine they take a while: the bucket gave its burst of 10 and at most 2 a second
    // over that time (on an idle machine, well under 15 in all).
    let took = started.elapsed();
    let refilled = (2.0 * took.as_secs_f64()).floor() as usize;
    assert!(
        (10..=10 + refilled).contains(&joined),
        "a burst of 10, then 2/s: {joined} joined, {limited} limited in {took:?}"
    );
    // Keeping it up ends the connection; the good member never noticed.
    for _ in 0..300 {
        if junk.ws.send(Message::Text("junk".into())).await.is_err() {
            break;
        }
    }
    assert_eq!(junk.closed().await, Some(close::FLOOD));
    assert!(!good.send_acked(room, "g", "fine").await.1);
}
