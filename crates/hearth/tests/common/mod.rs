//! Shared helpers for the host tests: an in-process host on 127.0.0.1 with a real SQLite
//! file, and a raw WebSocket client that speaks the protocol frame by frame.
#![allow(dead_code)]

pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hearth::protocol::{self, ClientFrame, HostFrame, Joined, Welcome};
use hearth::{Host, HostConfig, Limits, Store, Transport};
use serde_json::json;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

pub const WAIT: Duration = Duration::from_secs(10);
/// How long to wait for something that should happen "soon" (a slot freed, a count
/// settled): generous, since it costs nothing when things work, and a debug build on a
/// loaded 2-core machine can be slow.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Polls `cond` every 20 ms until it holds; fails naming `what` if it never does within
/// `within`. For waiting on a condition instead of sleeping a fixed time.
pub async fn eventually(what: &str, within: Duration, mut cond: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !cond().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: did not happen within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub struct TestHost {
    pub host: Host,
    pub addr: SocketAddr,
    pub store: Arc<Store>,
    pub dir: tempfile::TempDir,
}

pub async fn start_host(limits: Limits) -> TestHost {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::open(dir.path()).expect("store"));
    let host = Host::start(
        Arc::clone(&store),
        HostConfig {
            host_name: "Alice".into(),
            limits,
            // These tests speak raw WebSocket frames; TLS has its own tests.
            transport: Transport::Plaintext,
        },
    )
    .expect("host");
    let addr = host
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .expect("bind");
    TestHost {
        host,
        addr,
        store,
        dir,
    }
}

/// Limits loose enough that tests are not rate limited unless they mean to be.
pub fn fast_limits() -> Limits {
    Limits {
        messages_per_sec: 100_000,
        message_burst: 100_000,
        ..Limits::default()
    }
}

pub struct Raw {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub user_id: Uuid,
}

impl Raw {
    pub async fn connect(addr: SocketAddr) -> Raw {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
            .await
            .expect("connect");
        Raw {
            ws,
            user_id: Uuid::new_v4(),
        }
    }

    /// Like [`Raw::connect`], with a small socket receive buffer: what the host sends
    /// then waits in the host's send queue until this client reads, as over a slow link.
    pub async fn connect_slow(addr: SocketAddr, rcvbuf: u32) -> Raw {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(rcvbuf).expect("SO_RCVBUF");
        let tcp = socket.connect(addr).await.expect("tcp connect");
        let (ws, _) =
            tokio_tungstenite::client_async(format!("ws://{addr}/"), MaybeTlsStream::Plain(tcp))
                .await
                .expect("websocket upgrade");
        Raw {
            ws,
            user_id: Uuid::new_v4(),
        }
    }

    pub async fn text(&mut self, s: impl Into<String>) {
        self.ws
            .send(Message::Text(s.into().into()))
            .await
            .expect("send");
    }

    pub async fn frame(&mut self, f: &ClientFrame) {
        self.text(protocol::encode(f)).await;
    }

    /// The next protocol frame (pings and pongs skipped). Panics on close or timeout.
    pub async fn next(&mut self) -> HostFrame {
        loop {
            let m = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("timed out waiting for a frame")
                .expect("connection ended")
                .expect("read error");
            match m {
                Message::Text(t) => return protocol::decode_host(&t).expect("host frame decodes"),
                Message::Close(c) => panic!("unexpected close: {c:?}"),
                _ => {}
            }
        }
    }

    /// Reads until a frame matches.
    pub async fn until<T>(&mut self, mut f: impl FnMut(&HostFrame) -> Option<T>) -> T {
        loop {
            let frame = self.next().await;
            if let Some(t) = f(&frame) {
                return t;
            }
        }
    }

    /// Reads until the connection closes; returns the close code, if a close frame came.
    pub async fn closed(&mut self) -> Option<u16> {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("timed out waiting for close")
            {
                Some(Ok(Message::Close(c))) => return c.map(|c| u16::from(c.code)),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
    }

    pub async fn hello(&mut self, name: &str) -> Welcome {
        let user_id = self.user_id;
        self.text(
            json!({"type":"hello","payload":{"protocol":1,"user_id":user_id,"name":name}})
                .to_string(),
        )
        .await;
        self.until(|f| match f {
            HostFrame::Welcome(w) => Some(w.clone()),
            _ => None,
        })
        .await
    }

    pub async fn join(&mut self, room: Uuid, passcode: Option<&str>, since: Option<u64>) -> Joined {
        let mut p = json!({"room_id": room});
        if let Some(pc) = passcode {
            p["passcode"] = json!(pc);
        }
        if let Some(s) = since {
            p["since_seq"] = json!(s);
        }
        self.text(json!({"type":"join","payload":p}).to_string())
            .await;
        self.until(|f| match f {
            HostFrame::Joined(j) => Some(j.clone()),
            HostFrame::Error(e) => panic!("join refused: {e:?}"),
            _ => None,
        })
        .await
    }

    pub async fn send(&mut self, room: Uuid, cmid: &str, text: &str) {
        self.text(
            json!({"type":"send","payload":{"room_id":room,"client_msg_id":cmid,"text":text}})
                .to_string(),
        )
        .await;
    }

    /// Sends and waits for the ack; returns (seq, duplicate).
    pub async fn send_acked(&mut self, room: Uuid, cmid: &str, text: &str) -> (u64, bool) {
        self.send(room, cmid, text).await;
        let cmid = cmid.to_string();
        self.until(|f| match f {
            HostFrame::Ack(a) if a.client_msg_id == cmid => Some((a.seq, a.duplicate)),
            HostFrame::Error(e) if e.client_msg_id.as_deref() == Some(cmid.as_str()) => {
                panic!("send refused: {e:?}")
            }
            _ => None,
        })
        .await
    }

    /// Collects `n` chat messages, ignoring other frames.
    pub async fn messages(&mut self, n: usize) -> Vec<protocol::ChatMessage> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            if let HostFrame::Message(m) = self.next().await {
                out.push(m);
            }
        }
        out
    }
}

/// A connected, greeted and joined raw client.
pub async fn member(addr: SocketAddr, room: Uuid, name: &str) -> Raw {
    let mut c = Raw::connect(addr).await;
    c.hello(name).await;
    c.join(room, None, None).await;
    c
}
