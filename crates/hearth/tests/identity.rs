//! Verified identity (protocol §3.7): a user id is derived from a key, and a `hello`
//! proves the key for this host's certificate. An impostor who copies Alice's user id
//! cannot join, send or be logged as her; a client without identity is accepted and
//! marked unverified.

use std::sync::Arc;

use futures_util::SinkExt;
use hearth::client::ClientEvent;
use hearth::identity::Identity;
use hearth::protocol::identity::{identity_code, is_key_derived, HelloIdentity};
use hearth::protocol::{close, ErrorCode, HostFrame};
use hearth::{Client, ClientConfig, Host, HostConfig, Invite, Limits, Store, Transport};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

mod common;
use common::tls::{client, hello, next, raw, tls_host, until, Hosted};

/// Sends a hello that the host must refuse: its error, and the close that follows.
async fn refused(h: &Hosted, user_id: Uuid, identity: Option<HelloIdentity>) -> ErrorCode {
    let mut ws = raw(h).await;
    hello(&mut ws, user_id, "Alice", identity).await;
    let code = match next(&mut ws).await {
        Ok(HostFrame::Error(e)) => {
            assert_eq!(e.request.as_deref(), Some("hello"));
            e.code
        }
        other => panic!("expected an error, got {other:?}"),
    };
    // Nothing more: not a welcome, and it cannot join or send.
    let room = h.room;
    let join = json!({"type":"join","payload":{"room_id":room}}).to_string();
    let send =
        json!({"type":"send","payload":{"room_id":room,"client_msg_id":"x","text":"I am Alice"}})
            .to_string();
    let _ = ws.send(Message::Text(join.into())).await;
    let _ = ws.send(Message::Text(send.into())).await;
    loop {
        match next(&mut ws).await {
            Err(close) => {
                assert_eq!(close, Some(close::IDENTITY_REFUSED));
                break;
            }
            Ok(f) => assert!(
                !matches!(
                    f,
                    HostFrame::Welcome(_) | HostFrame::Joined(_) | HostFrame::Ack(_)
                ),
                "the impostor got {f:?}"
            ),
        }
    }
    code
}

#[tokio::test]
async fn an_impostor_with_alices_user_id_cannot_join_send_or_be_logged_as_her() {
    let h = tls_host().await;
    let alice_dir = tempfile::tempdir().unwrap();
    let alice_store = Arc::new(Store::open(alice_dir.path()).unwrap());
    let alice_id = alice_store.identity().unwrap();
    assert!(is_key_derived(alice_id.user_id()));

    // Alice, with her key, joins and writes.
    let (alice, mut ev) = client(&alice_store, &h, "Alice");
    alice.join(h.room, None).unwrap();
    let members = until(&mut ev, "joined", |e| match e {
        ClientEvent::Joined { members, .. } => Some(members.clone()),
        _ => None,
    })
    .await;
    let me = members
        .iter()
        .find(|m| m.user_id == alice_id.user_id())
        .expect("Alice among the members");
    assert!(me.verified, "the host verified Alice: {members:?}");
    alice.send(h.room, "the real Alice, مرحبا 🔑").unwrap();
    let mine = until(&mut ev, "Alice's message", |e| match e {
        ClientEvent::Message(m) if m.user_id == alice_id.user_id() => Some(m.clone()),
        _ => None,
    })
    .await;
    assert!(mine.verified);

    // Her user id without a proof.
    assert_eq!(
        refused(&h, alice_id.user_id(), None).await,
        ErrorCode::IdentityRequired
    );
    // Mallory's own key, claiming Alice's id.
    let mallory = Identity::load_or_create(tempfile::tempdir().unwrap().path()).unwrap();
    assert_eq!(
        refused(
            &h,
            alice_id.user_id(),
            Some(mallory.prove(Some(&h.fingerprint)))
        )
        .await,
        ErrorCode::IdentityInvalid
    );
    // Alice's key with a signature that is not hers.
    let forged = HelloIdentity {
        public_key: alice_id.public_key_hex(),
        signature: mallory.prove(Some(&h.fingerprint)).signature,
    };
    assert_eq!(
        refused(&h, alice_id.user_id(), Some(forged)).await,
        ErrorCode::IdentityInvalid
    );
    // A real proof of Alice's, but made for another host (one Mallory runs, say):
    // replayed here, it does not verify.
    let elsewhere = alice_id.prove(Some(&"ab".repeat(32)));
    assert_eq!(
        refused(&h, alice_id.user_id(), Some(elsewhere)).await,
        ErrorCode::IdentityInvalid
    );

    // A client without identity is let in, unverified, under a random id.
    let mut old = raw(&h).await;
    let v1 = Uuid::new_v4();
    hello(&mut old, v1, "Alice", None).await;
    match next(&mut old).await {
        Ok(HostFrame::Welcome(w)) => assert!(!w.verified),
        other => panic!("expected welcome, got {other:?}"),
    }
    let (room, cmid) = (h.room, "v1-1");
    old.send(Message::Text(
        json!({"type":"join","payload":{"room_id":room}})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    old.send(Message::Text(
        json!({"type":"send","payload":{"room_id":room,"client_msg_id":cmid,"text":"also Alice?"}})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let other = until(&mut ev, "the unverified message", |e| match e {
        ClientEvent::Message(m) if m.text == "also Alice?" => Some(m.clone()),
        _ => None,
    })
    .await;
    assert_eq!(other.user_id, v1);
    assert!(!other.verified);
    assert_ne!(identity_code(v1), identity_code(alice_id.user_id()));

    // The host's log: every message under Alice's id is hers, and verified.
    let log = h
        .store
        .reader()
        .unwrap()
        .after(h.room, 0, u64::MAX, 100)
        .unwrap();
    assert_eq!(log.len(), 2, "{log:?}");
    let hers: Vec<_> = log
        .iter()
        .filter(|m| m.user_id == alice_id.user_id())
        .collect();
    assert_eq!(hers.len(), 1);
    assert_eq!(hers[0].text, "the real Alice, مرحبا 🔑");
    assert!(hers[0].verified);
    assert!(log
        .iter()
        .all(|m| m.user_id == alice_id.user_id() || !m.verified));
    alice.shutdown();
    h.host.shutdown().await;
}

#[tokio::test]
async fn over_plaintext_a_proven_key_is_still_unverified() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let host = Host::start(
        Arc::clone(&store),
        HostConfig {
            host_name: "Host".into(),
            limits: Limits::default(),
            transport: Transport::Plaintext,
        },
    )
    .unwrap();
    let room = host.open_room("Open", None).unwrap().room_id;
    let addr = host.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let me_dir = tempfile::tempdir().unwrap();
    let me_store = Arc::new(Store::open(me_dir.path()).unwrap());
    let me = me_store.identity().unwrap();
    let invite = Invite {
        host: addr.ip().to_string(),
        port: addr.port(),
        room_id: Some(room),
        fingerprint: None,
    };
    let mut cfg = ClientConfig::new(invite, "Pat", Arc::clone(&me_store));
    cfg.plaintext = true;
    let (c, mut ev) = Client::start(cfg).unwrap();
    c.join(room, None).unwrap();
    let members = until(&mut ev, "joined", |e| match e {
        ClientEvent::Joined { members, .. } => Some(members.clone()),
        _ => None,
    })
    .await;
    let m = members.iter().find(|m| m.user_id == me.user_id()).unwrap();
    assert!(
        !m.verified,
        "a man in the middle could relay a plaintext proof"
    );
    c.shutdown();
    host.shutdown().await;
}
