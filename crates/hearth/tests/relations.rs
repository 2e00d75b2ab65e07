//! Message actions on the wire (docs/protocol.md §3.9), over real sockets: the checks
//! the host makes before and inside the commit, the typed errors, and what a client
//! without the `relations` capability receives instead (plain messages, no gap).

mod common;

use common::*;
use futures_util::StreamExt;
use hearth::protocol::{capability, ErrorCode, HostFrame};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

/// A client that offers every capability of this build, joined.
async fn modern(addr: std::net::SocketAddr, room: Uuid, name: &str) -> Raw {
    let mut c = greeted(addr, name).await;
    c.join(room, None, None).await;
    c
}

async fn greeted(addr: std::net::SocketAddr, name: &str) -> Raw {
    let mut c = Raw::connect(addr).await;
    let hello = json!({"type":"hello","payload":{"protocol":1,"user_id":c.user_id,"name":name,
        "capabilities": capability::ALL}});
    c.text(hello.to_string()).await;
    let w = c
        .until(|f| match f {
            HostFrame::Welcome(w) => Some(w.clone()),
            _ => None,
        })
        .await;
    assert!(w.capabilities.iter().any(|c| c == capability::RELATIONS));
    c
}

/// Sends a raw `send` payload; the ack's seq, or the error's code.
async fn send(c: &mut Raw, room: Uuid, cmid: &str, extra: Value) -> Result<u64, ErrorCode> {
    let mut p = json!({"room_id": room, "client_msg_id": cmid, "text": ""});
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    c.text(json!({"type":"send","payload":p}).to_string()).await;
    let cmid = cmid.to_string();
    c.until(|f| match f {
        HostFrame::Ack(a) if a.client_msg_id == cmid => Some(Ok(a.seq)),
        HostFrame::Error(e) if e.client_msg_id.as_deref() == Some(cmid.as_str()) => {
            Some(Err(e.code))
        }
        _ => None,
    })
    .await
}

/// The next `message` payload, raw JSON.
async fn raw_message(c: &mut Raw) -> Value {
    loop {
        match tokio::time::timeout(WAIT, c.ws.next())
            .await
            .expect("a frame")
        {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "message" {
                    return v["payload"].clone();
                }
            }
            Some(Ok(_)) => {}
            other => panic!("connection ended: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_v1_client_gets_each_action_as_a_plain_message_with_no_gap() {
    let h = start_host(fast_limits()).await;
    let room = h.host.open_room("Relations", None).unwrap().room_id;
    let mut alice = modern(h.addr, room, "Alice").await;
    let mut old = member(h.addr, room, "Old").await;

    let m = send(&mut alice, room, "m", json!({"text": "lunch at noon? 🍜"}))
        .await
        .unwrap();
    let reply = send(
        &mut alice,
        room,
        "r",
        json!({"text": "or at one", "reply_to": m, "mentions": [old.user_id]}),
    )
    .await
    .unwrap();
    send(
        &mut alice,
        room,
        "e",
        json!({"kind": "edit", "target": m, "text": "lunch at 12:30? 🍜"}),
    )
    .await
    .unwrap();
    send(
        &mut alice,
        room,
        "+",
        json!({"kind": "react", "target": reply, "text": "👍"}),
    )
    .await
    .unwrap();
    send(
        &mut alice,
        room,
        "d",
        json!({"kind": "delete", "target": m}),
    )
    .await
    .unwrap();

    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(raw_message(&mut old).await);
    }
    let seqs: Vec<u64> = seen.iter().map(|v| v["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, vec![m, m + 1, m + 2, m + 3, m + 4], "gap-free");
    let texts: Vec<&str> = seen.iter().map(|v| v["text"].as_str().unwrap()).collect();
    assert_eq!(
        texts,
        vec![
            "lunch at noon? 🍜",
            "or at one",
            "lunch at 12:30? 🍜 (edited)",
            "(reacted 👍)",
            "(deleted a message)"
        ]
    );
    for v in &seen[2..] {
        for k in ["kind", "target", "deleted"] {
            assert!(v.get(k).is_none(), "{k} in a downgraded message: {v}");
        }
    }

    // History, for both: the deleted message has no text any more.
    let mut late_old = Raw::connect(h.addr).await;
    late_old.hello("Late").await;
    let page = late_old.join(room, None, Some(0)).await;
    let first = page.messages.iter().find(|x| x.seq == m).unwrap();
    assert_eq!(first.text, "(message deleted)");
    let edit = page.messages.iter().find(|x| x.seq == m + 2).unwrap();
    assert_eq!(edit.text, "(an edit of a deleted message)");
    let mut late_new = greeted(h.addr, "LateNew").await;
    let j = late_new.join(room, None, Some(0)).await;
    let first = j.messages.iter().find(|x| x.seq == m).unwrap();
    assert_eq!(first.text, "");
    assert_eq!(first.deleted.map(|d| d.seq), Some(m + 4));
    let r = j.messages.iter().find(|x| x.seq == reply).unwrap();
    assert_eq!(
        (r.reply_to, r.mentions.clone()),
        (Some(m), vec![old.user_id])
    );
}

#[tokio::test]
async fn malformed_and_forbidden_actions_get_typed_errors() {
    let h = start_host(fast_limits()).await;
    let room = h.host.open_room("Rules", None).unwrap().room_id;
    let mut alice = modern(h.addr, room, "Alice").await;
    let mut bob = modern(h.addr, room, "Bob").await;
    let m = send(&mut alice, room, "m", json!({"text": "mine"}))
        .await
        .unwrap();
    let cases = [
        (
            json!({"kind": "explode", "target": m}),
            ErrorCode::InvalidAction,
        ),
        (
            json!({"kind": "edit", "text": "x"}),
            ErrorCode::InvalidAction,
        ),
        (json!({"target": m, "text": "x"}), ErrorCode::InvalidAction),
        (
            json!({"kind": "react", "target": m, "text": "lol"}),
            ErrorCode::InvalidAction,
        ),
        (
            json!({"kind": "react", "target": 999, "text": "👍"}),
            ErrorCode::UnknownTarget,
        ),
        (
            json!({"text": "re", "reply_to": 999}),
            ErrorCode::UnknownTarget,
        ),
        (
            json!({"kind": "edit", "target": m, "text": "bob's now"}),
            ErrorCode::NotAuthor,
        ),
        (json!({"kind": "delete", "target": m}), ErrorCode::NotAuthor),
        (
            json!({"kind": "edit", "target": m, "text": "  "}),
            ErrorCode::EmptyText,
        ),
    ];
    for (i, (extra, code)) in cases.into_iter().enumerate() {
        let got = send(&mut bob, room, &format!("bad{i}"), extra.clone()).await;
        assert_eq!(got, Err(code), "{extra}");
    }
    // A client without the capability cannot send actions at all.
    let mut old = member(h.addr, room, "Old").await;
    let got = send(
        &mut old,
        room,
        "o",
        json!({"kind": "react", "target": m, "text": "👍"}),
    )
    .await;
    assert_eq!(got, Err(ErrorCode::InvalidAction));
    // Bob's reaction twice counts once for the folding; both are in the log, in order.
    let r1 = send(
        &mut bob,
        room,
        "r1",
        json!({"kind": "react", "target": m, "text": "👍"}),
    )
    .await
    .unwrap();
    let r2 = send(
        &mut bob,
        room,
        "r2",
        json!({"kind": "react", "target": m, "text": "👍"}),
    )
    .await
    .unwrap();
    assert_eq!((r1, r2), (m + 1, m + 2), "refusals took no seq");
    // The host still serves everyone.
    assert!(send(&mut alice, room, "ok", json!({"text": "still here"}))
        .await
        .is_ok());
}
