//! Rooms, ordering, history paging, resume, idempotency, presence and typing, against a
//! real host on 127.0.0.1 with a real SQLite file.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use hearth::protocol::{close, ErrorCode, HostFrame, LeftReason, PresenceEvent};
use hearth::Limits;
use serde_json::json;

#[tokio::test]
async fn members_receive_each_others_messages_in_order_and_other_rooms_nothing() {
    let h = start_host(fast_limits()).await;
    let r1 = h.host.open_room("One", None).unwrap().room_id;
    let r2 = h.host.open_room("Two", None).unwrap().room_id;
    let mut a = member(h.addr, r1, "Ann").await;
    let mut b = member(h.addr, r1, "Ben").await;
    let mut c = member(h.addr, r2, "Cat").await;
    // Ann sees Ben arrive; drain it so it does not count as a message.
    a.until(|f| {
        matches!(f, HostFrame::Presence(p) if p.event == PresenceEvent::Join).then_some(())
    })
    .await;
    for i in 0..50 {
        a.send(r1, &format!("a{i}"), &format!("from ann {i}")).await;
        b.send(r1, &format!("b{i}"), &format!("from ben {i}")).await;
    }
    let got_a = a.messages(100).await;
    let got_b = b.messages(100).await;
    let seqs: Vec<u64> = got_a.iter().map(|m| m.seq).collect();
    assert_eq!(
        seqs,
        (1..=100).collect::<Vec<_>>(),
        "gap-free, in seq order"
    );
    assert_eq!(got_a, got_b, "both members see the same sequence");
    // Per-sender order is kept too.
    let ann: Vec<&str> = got_a
        .iter()
        .filter(|m| m.author == "Ann")
        .map(|m| m.text.as_str())
        .collect();
    assert_eq!(
        ann,
        (0..50).map(|i| format!("from ann {i}")).collect::<Vec<_>>()
    );
    // Room two saw nothing of it: the next thing Cat gets is Cat's own message.
    c.send(r2, "c0", "only in two").await;
    let m = c.messages(1).await;
    assert_eq!((m[0].seq, m[0].text.as_str()), (1, "only in two"));
}

#[tokio::test]
async fn late_joiner_pages_5000_messages_each_exactly_once() {
    let h = start_host(fast_limits()).await;
    let room = h.host.open_room("Big", None).unwrap().room_id;
    let mut w = member(h.addr, room, "Writer").await;
    // In windows of 100, reading as we go: a writer that never reads is (rightly)
    // dropped as a slow reader.
    for chunk in 0..50 {
        for i in chunk * 100..(chunk + 1) * 100 {
            w.send(room, &format!("m{i}"), &format!("message {i}"))
                .await;
        }
        let last = format!("m{}", chunk * 100 + 99);
        w.until(|f| matches!(f, HostFrame::Ack(a) if a.client_msg_id == last).then_some(()))
            .await;
    }

    // A late joiner gets the latest page, then pages backwards.
    let mut late = Raw::connect(h.addr).await;
    late.hello("Late").await;
    let joined = late.join(room, None, None).await;
    assert_eq!(joined.head_seq, 5000);
    assert_eq!(joined.messages.len(), 200);
    assert_eq!(joined.messages.last().unwrap().seq, 5000);
    let mut seen: Vec<u64> = joined.messages.iter().map(|m| m.seq).collect();
    let mut before = joined.messages[0].seq;
    loop {
        late.text(
            json!({"type":"history","payload":{"room_id":room,"before_seq":before,"limit":200}})
                .to_string(),
        )
        .await;
        let page = late
            .until(|f| match f {
                HostFrame::HistoryPage(p) => Some(p.clone()),
                _ => None,
            })
            .await;
        assert!(
            page.messages.windows(2).all(|w| w[0].seq + 1 == w[1].seq),
            "ascending and contiguous"
        );
        seen.extend(page.messages.iter().map(|m| m.seq));
        if !page.has_more {
            break;
        }
        before = page.messages[0].seq;
    }
    let unique: HashSet<u64> = seen.iter().copied().collect();
    assert_eq!(seen.len(), 5000, "no duplicates");
    assert_eq!(unique, (1..=5000).collect::<HashSet<_>>(), "no gaps");

    // Resume from 100: exactly 101..=5000, paged forwards.
    let mut r = Raw::connect(h.addr).await;
    r.hello("Resumer").await;
    let j = r.join(room, None, Some(100)).await;
    assert!(j.has_more);
    let mut got: Vec<u64> = j.messages.iter().map(|m| m.seq).collect();
    let mut more = j.has_more;
    while more {
        let after = *got.last().unwrap();
        r.text(json!({"type":"history","payload":{"room_id":room,"after_seq":after}}).to_string())
            .await;
        let page = r
            .until(|f| match f {
                HostFrame::HistoryPage(p) => Some(p.clone()),
                _ => None,
            })
            .await;
        got.extend(page.messages.iter().map(|m| m.seq));
        more = page.has_more;
    }
    assert_eq!(got, (101..=5000).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_resend_returns_the_original_ack_and_stores_nothing_new() {
    let h = start_host(fast_limits()).await;
    let room = h.host.open_room("Idem", None).unwrap().room_id;
    let mut a = member(h.addr, room, "Ann").await;
    let first = a.send_acked(room, "same-id", "hello").await;
    let again = a.send_acked(room, "same-id", "hello").await;
    assert_eq!(first, (1, false));
    assert_eq!(again, (1, true));
    // Another user may use the same client id: it is a different message.
    let mut b = member(h.addr, room, "Ben").await;
    assert_eq!(b.send_acked(room, "same-id", "mine").await, (2, false));
    // And from a fresh connection of the same user, still a duplicate.
    let mut a2 = Raw::connect(h.addr).await;
    a2.user_id = a.user_id;
    a2.hello("Ann").await;
    a2.join(room, None, None).await;
    assert_eq!(a2.send_acked(room, "same-id", "hello").await, (1, true));
    let log = h
        .store
        .reader()
        .unwrap()
        .after(room, 0, u64::MAX, 100)
        .unwrap();
    assert_eq!(log.len(), 2);
}

#[tokio::test]
async fn presence_join_leave_and_rename() {
    let h = start_host(fast_limits()).await;
    let room = h.host.open_room("P", None).unwrap().room_id;
    let mut a = member(h.addr, room, "Ann").await;
    let mut b = Raw::connect(h.addr).await;
    b.hello("Ben").await;
    let j = b.join(room, None, None).await;
    let names: Vec<&str> = j.members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, vec!["Ann", "Ben"]);
    let p = a
        .until(|f| match f {
            HostFrame::Presence(p) => Some(p.clone()),
            _ => None,
        })
        .await;
    assert_eq!(
        (p.event, p.member.name.as_str(), p.online),
        (PresenceEvent::Join, "Ben", 2)
    );
    b.text(json!({"type":"rename","payload":{"name":"Benjamin"}}).to_string())
        .await;
    let p = a
        .until(|f| match f {
            HostFrame::Presence(p) => Some(p.clone()),
            _ => None,
        })
        .await;
    assert_eq!(
        (p.event, p.member.name.as_str()),
        (PresenceEvent::Rename, "Benjamin")
    );
    drop(b);
    let p = a
        .until(|f| match f {
            HostFrame::Presence(p) => Some(p.clone()),
            _ => None,
        })
        .await;
    assert_eq!(
        (p.event, p.member.name.as_str(), p.online),
        (PresenceEvent::Leave, "Benjamin", 1)
    );
}

#[tokio::test]
async fn typing_is_broadcast_expires_and_ends_with_a_message() {
    let limits = Limits {
        typing_ttl: Duration::from_millis(600),
        ..fast_limits()
    };
    let h = start_host(limits).await;
    let room = h.host.open_room("T", None).unwrap().room_id;
    let mut a = member(h.addr, room, "Ann").await;
    let mut b = member(h.addr, room, "Ben").await;
    let typing = |f: &HostFrame| match f {
        HostFrame::Typing(t) => Some((t.member.name.clone(), t.active)),
        _ => None,
    };
    b.text(json!({"type":"typing","payload":{"room_id":room,"active":true}}).to_string())
        .await;
    assert_eq!(a.until(typing).await, ("Ben".to_string(), true));
    // No refresh: it expires by itself, about the TTL (600 ms, swept every 500 ms)
    // later; with room for a loaded machine, and still short of the 6 s default TTL.
    let started = std::time::Instant::now();
    assert_eq!(a.until(typing).await, ("Ben".to_string(), false));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "expired after {took:?}");
    // Sending a message ends it at once.
    b.text(json!({"type":"typing","payload":{"room_id":room,"active":true}}).to_string())
        .await;
    assert_eq!(a.until(typing).await, ("Ben".to_string(), true));
    b.send(room, "x", "done typing").await;
    assert_eq!(a.until(typing).await, ("Ben".to_string(), false));
}

#[tokio::test]
async fn a_silent_peer_times_out_of_presence() {
    let limits = Limits {
        heartbeat_interval: Duration::from_millis(200),
        heartbeat_timeout: Duration::from_millis(1000),
        ..fast_limits()
    };
    let h = start_host(limits).await;
    let room = h.host.open_room("HB", None).unwrap().room_id;
    let mut a = member(h.addr, room, "Ann").await;
    // Before Ghost's first byte: its last frame reaches the host after this, so the
    // host cannot time it out before `heartbeat_timeout` from here.
    let before_ghost = std::time::Instant::now();
    // Ghost joins and then never reads again, so it never answers a ping.
    let ghost = member(h.addr, room, "Ghost").await;
    a.until(|f| {
        matches!(f, HostFrame::Presence(p) if p.event == PresenceEvent::Join).then_some(())
    })
    .await;
    // After Ghost's last frame.
    let ghost_quiet = std::time::Instant::now();
    // Ann keeps reading (and so answering pings); she must see the timeout.
    let p = a
        .until(|f| match f {
            HostFrame::Presence(p) => Some(p.clone()),
            _ => None,
        })
        .await;
    assert_eq!(
        (p.event, p.member.name.as_str(), p.online),
        (PresenceEvent::Timeout, "Ghost", 1)
    );
    let since_first = before_ghost.elapsed();
    assert!(
        since_first >= Duration::from_millis(1000),
        "not before the timeout: {since_first:?} after Ghost connected"
    );
    // 1 s of silence: seen well within seconds (a loaded machine adds some), not at the
    // 40 s default or never.
    let since_last = ghost_quiet.elapsed();
    assert!(
        since_last < Duration::from_secs(5),
        "within the configured time: {since_last:?} after Ghost went quiet"
    );
    // Ann keeps reading, so answers pings, and is still there well past the timeout
    // (`until` panics if the connection closes).
    let _ = tokio::time::timeout(Duration::from_millis(2500), a.until(|_| None::<()>)).await;
    assert!(!a.send_acked(room, "still", "here").await.1);
    drop(ghost);
}

#[tokio::test]
async fn resume_tokens_stand_in_for_the_passcode_until_it_changes() {
    let h = start_host(fast_limits()).await;
    let room = h.host.open_room("Vault", Some("sesame")).unwrap().room_id;
    let mut a = Raw::connect(h.addr).await;
    a.hello("Ann").await;
    let j = a.join(room, Some("sesame"), None).await;
    let token = j.resume_token.expect("a passcode room hands out a token");
    assert_eq!(token.len(), 64);

    let join_with = |token: &str| {
        json!({"type":"join","payload":{"room_id":room,"resume_token":token}}).to_string()
    };
    let outcome = |f: &HostFrame| match f {
        HostFrame::Joined(j) => Some(Ok(j.resume_token.clone())),
        HostFrame::Error(e) => Some(Err(e.code)),
        _ => None,
    };
    // The same user, on a new connection, with the token alone.
    let mut a2 = Raw::connect(h.addr).await;
    a2.user_id = a.user_id;
    a2.hello("Ann").await;
    a2.text(join_with(&token)).await;
    let next = a2
        .until(outcome)
        .await
        .expect("token accepted")
        .expect("a fresh token");
    // Someone else cannot use Ann's token.
    let mut m = Raw::connect(h.addr).await;
    m.hello("Mallory").await;
    m.text(join_with(&next)).await;
    assert_eq!(
        m.until(outcome).await,
        Err(hearth::protocol::ErrorCode::PasscodeRequired)
    );
    // Re-hosting with the same passcode keeps tokens; a new passcode revokes them.
    h.host.open_room("Vault", Some("sesame")).unwrap();
    let mut a3 = Raw::connect(h.addr).await;
    a3.user_id = a.user_id;
    a3.hello("Ann").await;
    a3.text(join_with(&next)).await;
    let latest = a3.until(outcome).await.expect("still valid").unwrap();
    h.host.open_room("Vault", Some("changed")).unwrap();
    let mut a4 = Raw::connect(h.addr).await;
    a4.user_id = a.user_id;
    a4.hello("Ann").await;
    a4.text(join_with(&latest)).await;
    assert_eq!(
        a4.until(outcome).await,
        Err(hearth::protocol::ErrorCode::PasscodeRequired)
    );
}

/// A name cannot borrow another's look with bidirectional controls or invisible
/// characters: the host strips them before anyone sees the name (protocol.md §1).
#[tokio::test]
async fn names_lose_bidi_controls_and_invisible_characters_on_the_host() {
    let h = start_host(fast_limits()).await;
    let room = h.host.open_room("Design team", None).unwrap().room_id;
    let mut alice = member(h.addr, room, "Alice").await;
    // Displays as "Alice" if the override survives.
    let mut spoof = Raw::connect(h.addr).await;
    spoof.hello("\u{202E}ecilA").await;
    let joined = spoof.join(room, None, None).await;
    let names: Vec<&str> = joined.members.iter().map(|m| m.name.as_str()).collect();
    assert!(names.contains(&"ecilA"), "{names:?}");
    assert!(!joined
        .members
        .iter()
        .any(|m| m.name.chars().any(hearth::protocol::is_invisible_format)));
    let seen = alice
        .until(|f| match f {
            HostFrame::Presence(p) if p.event == PresenceEvent::Join => Some(p.member.name.clone()),
            _ => None,
        })
        .await;
    assert_eq!(seen, "ecilA");
    // Renames are held to the same rule; a name of nothing but controls is refused.
    spoof
        .text(json!({"type":"rename","payload":{"name":"Bo\u{200B}b\u{2067}"}}).to_string())
        .await;
    let renamed = alice
        .until(|f| match f {
            HostFrame::Presence(p) if p.event == PresenceEvent::Rename => {
                Some(p.member.name.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(renamed, "Bob");
    spoof
        .text(json!({"type":"rename","payload":{"name":"\u{202E}\u{200F}"}}).to_string())
        .await;
    let code = spoof
        .until(|f| match f {
            HostFrame::Error(e) => Some(e.code),
            _ => None,
        })
        .await;
    assert_eq!(code, hearth::protocol::ErrorCode::InvalidName);
    // Messages are stored under the cleaned name.
    spoof.send(room, "s1", "hi").await;
    let m = alice.messages(1).await;
    assert_eq!(m[0].author, "Bob");
}

/// Hosting a room again as it is hosted (the same passcode, or none) leaves its members
/// connected: "Host again" pressed while the app resumes its rooms at start used to
/// replace the room and kick everyone. A changed passcode still makes them rejoin.
#[tokio::test]
async fn hosting_a_hosted_room_again_unchanged_keeps_its_members() {
    let h = start_host(fast_limits()).await;
    let room = h.host.open_room("Vault", Some("sesame")).unwrap().room_id;
    let mut ann = Raw::connect(h.addr).await;
    ann.hello("Ann").await;
    ann.join(room, Some("sesame"), None).await;
    assert_eq!(
        h.host.open_room("Vault", Some("sesame")).unwrap().room_id,
        room
    );
    assert_eq!(
        h.host
            .open_room_with("Vault", hearth::PasscodeSetting::Keep, None)
            .unwrap()
            .room_id,
        room
    );
    assert!(!ann.send_acked(room, "a1", "still here 🙂").await.1);
    h.host.open_room("Vault", Some("changed")).unwrap();
    assert_eq!(ann.closed().await, Some(close::GOING_AWAY));
}

/// Stopping one room leaves a member's other rooms on the same connection alone: the
/// member is told (`left`, reason `closed`), the connection stays, the other room keeps
/// delivering, and the room can be joined again once it is hosted again.
#[tokio::test]
async fn closing_one_room_keeps_a_members_other_rooms_connected() {
    let h = start_host(fast_limits()).await;
    let design = h.host.open_room("Design", None).unwrap().room_id;
    let ops = h.host.open_room("Ops — عمليات", None).unwrap().room_id;
    let mut both = member(h.addr, design, "Dana").await;
    both.join(ops, None, None).await;
    let mut other = member(h.addr, ops, "Omar").await;

    assert!(h.host.close_room(design));
    let left = both
        .until(|f| match f {
            HostFrame::Left(l) => Some(l.clone()),
            _ => None,
        })
        .await;
    assert_eq!(left.room_id, design);
    assert_eq!(left.reason, Some(LeftReason::Closed));

    // Still connected, still in the other room.
    other.send_acked(ops, "ops-1", "still here 🙂").await;
    let got = both.messages(1).await;
    assert_eq!(got[0].text, "still here 🙂");
    // The closed room is no longer joined, and cannot be joined while it is not hosted.
    both.send(design, "d-1", "into a closed room").await;
    let refused = both
        .until(|f| match f {
            HostFrame::Error(e) if e.client_msg_id.as_deref() == Some("d-1") => Some(e.code),
            _ => None,
        })
        .await;
    assert_eq!(refused, ErrorCode::NotJoined);
    both.text(json!({"type":"join","payload":{"room_id": design}}).to_string())
        .await;
    let refused = both
        .until(|f| match f {
            HostFrame::Error(e) => Some(e.code),
            _ => None,
        })
        .await;
    assert_eq!(refused, ErrorCode::UnknownRoom);

    // Hosted again: joined again, with its history.
    h.host.open_room("Design", None).unwrap();
    let joined = both.join(design, None, None).await;
    assert_eq!(joined.room.room_id, design);
}
