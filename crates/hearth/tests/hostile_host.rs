//! A hostile host controls every value it sends. The client must survive what no real
//! host sends (here: seqs of 0 and `u64::MAX`), keep nothing impossible, and go on
//! working with the sane rest.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hearth::client::ClientEvent;
use hearth::protocol::{
    self, ChatMessage, ClientFrame, HostFrame, Joined, Member, PublicLimits, RoomSummary, Welcome,
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
    }
}

#[tokio::test]
async fn impossible_seqs_from_a_host_are_dropped_without_a_panic() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let room_id = Uuid::new_v4();
    let summary = RoomSummary {
        room_id,
        name: "Trap".into(),
        has_passcode: false,
        online: 1,
        head_seq: u64::MAX,
    };
    let host = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        // hello -> welcome
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    if let ClientFrame::Hello(_) = protocol::decode_client(&t).unwrap() {
                        break;
                    }
                }
                Some(Ok(_)) => {}
                other => panic!("client went away: {other:?}"),
            }
        }
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
        });
        ws.send(Message::Text(protocol::encode(&welcome).into()))
            .await
            .unwrap();
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    if let ClientFrame::Join(_) = protocol::decode_client(&t).unwrap() {
                        break;
                    }
                }
                Some(Ok(_)) => {}
                other => panic!("client went away: {other:?}"),
            }
        }
        let joined = HostFrame::Joined(Joined {
            room: summary.clone(),
            members: vec![Member {
                user_id: Uuid::nil(),
                name: "Mallory".into(),
            }],
            messages: vec![
                msg(room_id, 0, "seq zero"),
                msg(room_id, 1, "one"),
                msg(room_id, 2, "two"),
                msg(room_id, u64::MAX, "seq max"),
            ],
            head_seq: u64::MAX,
            has_more: false,
            resume_token: None,
        });
        let frames = [
            joined,
            HostFrame::Message(msg(room_id, u64::MAX, "live max")),
            HostFrame::Message(msg(room_id, 0, "live zero")),
            HostFrame::Message(msg(room_id, 3, "three")),
        ];
        for f in frames {
            ws.send(Message::Text(protocol::encode(&f).into()))
                .await
                .unwrap();
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
        while !seen.contains(&3) {
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
    assert_eq!(seen, vec![1, 2, 3], "only the possible seqs, in order");
    let cached: Vec<u64> = store
        .all_cached_messages(room_id)
        .unwrap()
        .iter()
        .map(|m| m.seq)
        .collect();
    assert_eq!(cached, vec![1, 2, 3]);
    client.shutdown();
    host.abort();
}
