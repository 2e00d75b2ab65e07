//! A TLS host (its own certificate, a room called "Team") and a raw protocol client
//! pinned to it, for the tests of what only a TLS host does: verified identity, rooms
//! not for everyone.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hearth::client::ClientEvent;
use hearth::protocol::identity::HelloIdentity;
use hearth::protocol::{self, ClientFrame, HostFrame};
use hearth::tls::HostCert;
use hearth::{Client, ClientConfig, Host, HostConfig, Invite, Limits, Store, Transport};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use uuid::Uuid;

use super::WAIT;

pub type TlsWs = WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>;

pub struct Hosted {
    pub host: Host,
    pub store: Arc<Store>,
    pub addr: std::net::SocketAddr,
    pub room: Uuid,
    pub fingerprint: String,
    pub dir: tempfile::TempDir,
}

pub async fn tls_host() -> Hosted {
    tls_host_in(tempfile::tempdir().unwrap(), Limits::default()).await
}

/// [`tls_host`] in a given data directory, with given limits.
pub async fn tls_host_in(dir: tempfile::TempDir, limits: Limits) -> Hosted {
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let cert = HostCert::load_or_create(dir.path()).unwrap();
    let fingerprint = cert.fingerprint().to_string();
    let host = Host::start(
        Arc::clone(&store),
        HostConfig {
            host_name: "Host".into(),
            limits,
            transport: Transport::Tls(cert),
        },
    )
    .unwrap();
    let room = host.open_room("Team", None).unwrap().room_id;
    let addr = host.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    Hosted {
        host,
        store,
        addr,
        room,
        fingerprint,
        dir,
    }
}

/// A raw protocol connection over TLS, pinned to the host's certificate.
pub async fn raw(h: &Hosted) -> TlsWs {
    let verifier = hearth::tls::PinVerifier::new(Some(h.fingerprint.clone()));
    let connector = tokio_rustls::TlsConnector::from(Arc::new(verifier.client_config().unwrap()));
    let tcp = TcpStream::connect(h.addr).await.unwrap();
    let tls = connector
        .connect(hearth::tls::server_name(), tcp)
        .await
        .unwrap();
    let (ws, _) = tokio_tungstenite::client_async(format!("wss://{}/", h.addr), tls)
        .await
        .unwrap();
    ws
}

pub async fn hello(ws: &mut TlsWs, user_id: Uuid, name: &str, identity: Option<HelloIdentity>) {
    let f = ClientFrame::Hello(protocol::Hello {
        protocol: 1,
        user_id,
        name: name.into(),
        capabilities: protocol::capability::all(),
        identity,
    });
    ws.send(Message::Text(protocol::encode(&f).into()))
        .await
        .unwrap();
}

/// The next frame, or the close code as an `Err`.
pub async fn next(ws: &mut TlsWs) -> Result<HostFrame, Option<u16>> {
    loop {
        let m = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("timed out waiting for the host");
        match m {
            Some(Ok(Message::Text(t))) => return Ok(protocol::decode_host(&t).unwrap()),
            Some(Ok(Message::Close(c))) => return Err(c.map(|c| u16::from(c.code))),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return Err(None),
        }
    }
}

/// A `Client` (with its identity) for the host's room.
pub fn client(
    store: &Arc<Store>,
    h: &Hosted,
    name: &str,
) -> (Client, tokio::sync::mpsc::Receiver<ClientEvent>) {
    client_for(store, h, h.room, name)
}

/// A `Client` for one of the host's rooms, by its invite link.
pub fn client_for(
    store: &Arc<Store>,
    h: &Hosted,
    room: Uuid,
    name: &str,
) -> (Client, tokio::sync::mpsc::Receiver<ClientEvent>) {
    let invite = Invite {
        host: h.addr.ip().to_string(),
        port: h.addr.port(),
        room_id: Some(room),
        fingerprint: Some(h.fingerprint.clone()),
    };
    let mut cfg = ClientConfig::new(invite, name, Arc::clone(store));
    cfg.backoff_min = Duration::from_millis(50);
    Client::start(cfg).expect("client")
}

/// The first client event `f` picks out, within [`WAIT`].
pub async fn until<T>(
    ev: &mut tokio::sync::mpsc::Receiver<ClientEvent>,
    what: &str,
    mut f: impl FnMut(&ClientEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(WAIT, async {
        while let Some(e) = ev.recv().await {
            if let Some(t) = f(&e) {
                return t;
            }
        }
        panic!("events ended waiting for {what}")
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}
