//! Protocol evolution (docs/protocol.md §3.6): a client offers optional features in
//! `hello`, the host answers with those it supports too. A client written for protocol 1
//! alone, which offers nothing and knows no `kind`, keeps working unchanged.

mod common;

use common::*;
use futures_util::{SinkExt, StreamExt};
use hearth::protocol::{self, capability, HostFrame};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

/// The next text frame, raw.
async fn raw_text(c: &mut Raw) -> String {
    loop {
        match tokio::time::timeout(WAIT, c.ws.next())
            .await
            .expect("a frame")
        {
            Some(Ok(Message::Text(t))) => return t.to_string(),
            Some(Ok(_)) => {}
            other => panic!("connection ended: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_v1_only_client_sees_exactly_protocol_1() {
    let h = start_host(fast_limits()).await;
    let room = h.host.open_room("Évolution", None).unwrap().room_id;
    // Exactly the frames of a protocol-1 client: no capabilities anywhere.
    let mut old = Raw::connect(h.addr).await;
    let hello =
        json!({"type":"hello","payload":{"protocol":1,"user_id":Uuid::new_v4(),"name":"Old"}});
    old.ws
        .send(Message::Text(hello.to_string().into()))
        .await
        .unwrap();
    let welcome = raw_text(&mut old).await;
    let v: serde_json::Value = serde_json::from_str(&welcome).unwrap();
    assert_eq!(v["type"], "welcome");
    assert!(v["payload"].get("capabilities").is_none(), "{welcome}");
    let join = json!({"type":"join","payload":{"room_id":room}});
    old.ws
        .send(Message::Text(join.to_string().into()))
        .await
        .unwrap();
    assert!(raw_text(&mut old).await.contains(r#""type":"joined""#));

    let mut new = Raw::connect(h.addr).await;
    let hello = json!({"type":"hello","payload":{"protocol":1,"user_id":Uuid::new_v4(),"name":"New","capabilities":capability::ALL}});
    new.text(hello.to_string()).await;
    new.until(|f| matches!(f, HostFrame::Welcome(_)).then_some(()))
        .await;
    new.join(room, None, None).await;
    new.send_acked(room, "n1", "bonjour 👋 مرحبا").await;

    // The old client gets the message as protocol 1 has it: no field it does not know.
    let msg = loop {
        let t = raw_text(&mut old).await;
        if t.contains(r#""type":"message""#) {
            break t;
        }
    };
    let v: serde_json::Value = serde_json::from_str(&msg).unwrap();
    let mut keys: Vec<&str> = v["payload"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "author",
            "client_msg_id",
            "room_id",
            "seq",
            "text",
            "ts",
            "user_id"
        ]
    );
    assert_eq!(v["payload"]["text"], "bonjour 👋 مرحبا");
}

#[tokio::test]
async fn capabilities_are_what_both_sides_support() {
    let h = start_host(fast_limits()).await;
    let mut c = Raw::connect(h.addr).await;
    let offered = [capability::MESSAGE_KINDS, "from_the_future", "x"];
    let hello = json!({"type":"hello","payload":{"protocol":1,"user_id":Uuid::new_v4(),"name":"Newer","capabilities":offered}});
    c.text(hello.to_string()).await;
    let w = c
        .until(|f| match f {
            HostFrame::Welcome(w) => Some(w.clone()),
            _ => None,
        })
        .await;
    assert_eq!(w.capabilities, vec![capability::MESSAGE_KINDS.to_string()]);
    // A welcome from an older host, without the field, decodes as "none".
    let old = r#"{"type":"welcome","payload":{"protocol":1,"host_id":"6f1c5a8e-3b9a-4c61-9d55-0c2f1b7e9a10","host_name":"Old","rooms":[],"limits":{"max_frame_bytes":65536,"max_text_chars":4000,"messages_per_sec":20,"message_burst":40,"max_history_page":200,"heartbeat_interval_ms":15000}}}"#;
    match protocol::decode_host(old).unwrap() {
        HostFrame::Welcome(w) => assert!(w.capabilities.is_empty()),
        other => panic!("{other:?}"),
    }
}
