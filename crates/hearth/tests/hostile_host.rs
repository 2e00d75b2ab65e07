//! A hostile host controls every value it sends. The client must survive what no real
//! host sends (here: seqs of 0 and `u64::MAX`), keep nothing impossible, and go on
//! working with the sane rest.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hearth::client::ClientEvent;
use hearth::protocol::{
    self, ChatMessage, HostFrame, Joined, Member, PublicLimits, RoomSummary, Welcome,
};
use hearth::{Client, ClientConfig, Invite, Store};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

fn msg(room_id: Uuid, seq: u64, text: &str) -> ChatMessage {
    ChatMessage {
        room_id,
        seq,
        ts: 1_700_000_000_000,
        user_id: Uuid::nil(),
        author: "Mallory".into(),
        client_msg_id: format!("m{seq}"),
        text: text.into(),
        kind: None,
        verified: false,
        ..Default::default()
    }
}

#[tokio::test]
async fn impossible_seqs_from_a_host_are_dropped_without_a_panic() {
    let room_id = Uuid::new_v4();
    let live = vec![
        protocol::encode(&HostFrame::Message(msg(room_id, u64::MAX, "live max"))),
        protocol::encode(&HostFrame::Message(msg(room_id, 0, "live zero"))),
        protocol::encode(&HostFrame::Message(msg(room_id, 3, "three"))),
    ];
    let initial = vec![
        msg(room_id, 0, "seq zero"),
        msg(room_id, 1, "one"),
        msg(room_id, 2, "two"),
        msg(room_id, u64::MAX, "seq max"),
    ];
    let (store, seen, _dir) = visit_fake_host(room_id, u64::MAX, initial, live, 3).await;
    assert_eq!(seen, vec![1, 2, 3], "only the possible seqs, in order");
    let cached: Vec<u64> = store
        .all_cached_messages(room_id)
        .unwrap()
        .iter()
        .map(|m| m.seq)
        .collect();
    assert_eq!(cached, vec![1, 2, 3]);
}

/// A newer host (protocol 1 plus features this build does not know): a frame type it
/// has never heard of is skipped, and a message of an unknown kind is kept with its
/// fallback text and its kind, for the UI to show as unsupported.
#[tokio::test]
async fn a_newer_hosts_unknown_frames_and_kinds_do_not_break_the_client() {
    let room_id = Uuid::new_v4();
    let mut poll = msg(room_id, 2, "Lunch? (a poll: open Hearth 2 to vote)");
    poll.kind = Some("poll".into());
    let live = vec![
        r#"{"type":"reaction","payload":{"room_id":"x","emoji":"🎉"}}"#.to_string(),
        protocol::encode(&HostFrame::Message(poll)),
        protocol::encode(&HostFrame::Message(msg(room_id, 3, "after the poll"))),
    ];
    let (store, seen, _dir) =
        visit_fake_host(room_id, 1, vec![msg(room_id, 1, "one")], live, 3).await;
    assert_eq!(seen, vec![1, 2, 3]);
    let cached = store.all_cached_messages(room_id).unwrap();
    assert_eq!(cached[1].kind.as_deref(), Some("poll"));
    assert_eq!(cached[1].text, "Lunch? (a poll: open Hearth 2 to vote)");
    assert_eq!(cached[2].kind, None);
}

/// Reads the client until a frame of type `kind`.
async fn until_client(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    kind: &str,
) {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                if protocol::decode_client(&t).unwrap().kind() == kind {
                    return;
                }
            }
            Some(Ok(_)) => {}
            other => panic!("client went away: {other:?}"),
        }
    }
}

/// Runs a fake host that greets, answers the join with `initial` (head `head`), then
/// sends the raw `live` frames; a client joins it and collects message seqs until it
/// has seen `until`. Returns the client's store, the seqs it announced, and the store's
/// directory (the store is read after this returns: the directory must outlive it).
async fn visit_fake_host(
    room_id: Uuid,
    head: u64,
    initial: Vec<ChatMessage>,
    live: Vec<String>,
    until: u64,
) -> (Arc<Store>, Vec<u64>, tempfile::TempDir) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let summary = RoomSummary {
        room_id,
        name: "Trap".into(),
        has_passcode: false,
        online: 1,
        head_seq: head,
        visibility: Default::default(),
        members_only: false,
        owner_id: None,
    };
    let host = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        until_client(&mut ws, "hello").await;
        let welcome = HostFrame::Welcome(Welcome {
            protocol: 1,
            host_id: Uuid::new_v4(),
            host_name: "Mallory".into(),
            rooms: vec![summary.clone()],
            limits: PublicLimits {
                max_frame_bytes: 65_536,
                max_text_chars: 4000,
                messages_per_sec: 20,
                message_burst: 40,
                max_history_page: 200,
                heartbeat_interval_ms: 15_000,
            },
            capabilities: Vec::new(),
            verified: false,
        });
        ws.send(Message::Text(protocol::encode(&welcome).into()))
            .await
            .unwrap();
        until_client(&mut ws, "join").await;
        let joined = HostFrame::Joined(Joined {
            room: summary.clone(),
            members: vec![Member {
                user_id: Uuid::nil(),
                name: "Mallory".into(),
                verified: false,
            }],
            messages: initial,
            head_seq: head,
            has_more: false,
            resume_token: None,
            files: None,
        });
        ws.send(Message::Text(protocol::encode(&joined).into()))
            .await
            .unwrap();
        for f in live {
            ws.send(Message::Text(f.into())).await.unwrap();
        }
        // Keep the connection open until the test is done.
        while ws.next().await.is_some() {}
    });

    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let invite = Invite {
        host: addr.ip().to_string(),
        port: addr.port(),
        room_id: Some(room_id),
        fingerprint: None,
    };
    let mut config = ClientConfig::new(invite, "Bob", Arc::clone(&store));
    config.plaintext = true;
    let (client, mut events) = Client::start(config).unwrap();
    client.join(room_id, None).unwrap();
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while !seen.contains(&until) {
            match events.recv().await.expect("the client stopped") {
                ClientEvent::Message(m) => seen.push(m.seq),
                ClientEvent::State(s) => assert!(
                    !matches!(s, hearth::client::ConnectionState::Closed { .. }),
                    "{s:?}"
                ),
                _ => {}
            }
        }
    })
    .await
    .expect("the sane messages arrive");
    client.shutdown();
    host.abort();
    (store, seen, dir)
}
