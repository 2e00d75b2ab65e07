//! Transport security: certificates are trusted by fingerprint only, pins hold across
//! visits, a man in the middle is refused before it learns anything, and plaintext is
//! never used unless both ends ask for it.

use std::sync::Arc;
use std::time::Duration;

use hearth::client::ClientEvent;
use hearth::tls::HostCert;
use hearth::{
    Client, ClientConfig, ConnectionState, Host, HostConfig, Invite, Limits, Store, Transport,
};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc::Receiver;
use uuid::Uuid;

mod common;
use common::tls::until;

async fn tls_host(dir: &std::path::Path, bind: &str) -> (Host, std::net::SocketAddr, Uuid) {
    let store = Arc::new(Store::open(dir).unwrap());
    let cert = HostCert::load_or_create(dir).unwrap();
    let host = Host::start(
        store,
        HostConfig {
            host_name: "Alice".into(),
            limits: Limits::default(),
            transport: Transport::Tls(cert),
        },
    )
    .unwrap();
    let room = host
        .open_room("Secure", Some("open sesame"))
        .unwrap()
        .room_id;
    let addr = host.bind(bind.parse().unwrap()).await.unwrap();
    (host, addr, room)
}

fn invite(addr: std::net::SocketAddr, room: Uuid, fp: Option<&str>) -> Invite {
    Invite {
        host: addr.ip().to_string(),
        port: addr.port(),
        room_id: Some(room),
        fingerprint: fp.map(str::to_string),
    }
}

fn client(store: &Arc<Store>, inv: Invite) -> (Client, Receiver<ClientEvent>) {
    let mut cfg = ClientConfig::new(inv, "Bob", Arc::clone(store));
    cfg.backoff_min = Duration::from_millis(50);
    cfg.backoff_max = Duration::from_millis(200);
    Client::start(cfg).unwrap()
}

async fn joined(ev: &mut Receiver<ClientEvent>) {
    until(ev, "joined", |e| match e {
        ClientEvent::Joined { .. } => Some(()),
        ClientEvent::JoinFailed { error, .. } => panic!("join refused: {error:?}"),
        ClientEvent::FingerprintMismatch { .. } => panic!("unexpected mismatch"),
        _ => None,
    })
    .await
}

/// A TLS endpoint with its own certificate that records every byte a client sends it
/// after the handshake: what a man in the middle would learn. It serves every
/// connection until told to stop (the sender), then answers what it recorded.
async fn impostor() -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<(usize, usize)>,
) {
    let dir = tempfile::tempdir().unwrap();
    let acceptor = HostCert::load_or_create(dir.path())
        .unwrap()
        .acceptor()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, mut stop) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _keep = dir;
        let (mut handshakes, mut leaked) = (0, 0);
        loop {
            // A connection already waiting is served before the stop is taken.
            let tcp = tokio::select! {
                biased;
                a = listener.accept() => match a {
                    Ok((tcp, _)) => tcp,
                    Err(_) => break,
                },
                _ = &mut stop => break,
            };
            // A client aborts its handshake at once; one that stalls is not waited for.
            let handshake = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp));
            if let Ok(Ok(mut tls)) = handshake.await {
                handshakes += 1;
                let mut buf = vec![0u8; 4096];
                while let Ok(Ok(n)) =
                    tokio::time::timeout(Duration::from_millis(300), tls.read(&mut buf)).await
                {
                    if n == 0 {
                        break;
                    }
                    leaked += n;
                }
            }
        }
        (handshakes, leaked)
    });
    (addr, stop_tx, task)
}

#[tokio::test]
async fn a_man_in_the_middle_is_refused_before_anything_is_sent() {
    let host_dir = tempfile::tempdir().unwrap();
    let (host, addr, room) = tls_host(host_dir.path(), "127.0.0.1:0").await;
    let fp = host.fingerprint().unwrap().to_string();
    // Kept for the whole test: the store lives in it.
    let store_dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(store_dir.path()).unwrap());

    // 1. The invite carries the fingerprint: the join works and pins it.
    let (c, mut ev) = client(&store, invite(addr, room, Some(&fp)));
    c.join(room, Some("open sesame".into())).unwrap();
    let secured = until(&mut ev, "handshake", |e| match e {
        ClientEvent::Secured { fingerprint, .. } => Some(fingerprint.clone()),
        _ => None,
    })
    .await;
    assert_eq!(secured, fp);
    joined(&mut ev).await;
    c.shutdown();

    // 2. The same invite (with the real fingerprint) pointed at an impostor.
    let (mitm, stop_impostor, recorded) = impostor().await;
    let (c, mut ev) = client(&store, invite(mitm, room, Some(&fp)));
    c.join(room, Some("open sesame".into())).unwrap();
    let (expected, presented) = until(&mut ev, "mismatch", |e| match e {
        ClientEvent::FingerprintMismatch {
            expected,
            presented,
            ..
        } => Some((expected.clone(), presented.clone())),
        ClientEvent::Joined { .. } => panic!("joined an impostor"),
        _ => None,
    })
    .await;
    assert_eq!(expected, fp);
    assert_ne!(presented, fp);
    let closed = until(&mut ev, "stop", |e| match e {
        ClientEvent::State(ConnectionState::Closed { reason }) => Some(reason.clone()),
        ClientEvent::State(ConnectionState::Reconnecting { .. }) => {
            panic!("kept retrying an impostor")
        }
        _ => None,
    })
    .await;
    assert!(closed.contains("expected"), "{closed}");

    // 3. A link without a fingerprint: the pin from the first visit still protects.
    let (c2, mut ev2) = client(&store, invite(mitm, room, None));
    c2.join(room, Some("open sesame".into())).unwrap();
    until(&mut ev2, "mismatch from the pin", |e| match e {
        ClientEvent::FingerprintMismatch { expected, .. } => {
            assert_eq!(*expected, fp);
            Some(())
        }
        ClientEvent::Joined { .. } => panic!("joined an impostor"),
        _ => None,
    })
    .await;
    // Both clients are done with it (each saw the mismatch, so its handshake ended).
    c2.shutdown();
    let _ = stop_impostor.send(());
    let (handshakes, leaked) = recorded.await.unwrap();
    println!("impostor: {handshakes} completed handshakes, {leaked} application bytes");
    // The client aborts on the certificate, before its Finished: the impostor never
    // completes a handshake, let alone reads a byte of hello, name or passcode.
    assert_eq!(handshakes, 0, "the client aborted every handshake");
    assert_eq!(
        leaked, 0,
        "not one byte (hello, name, passcode) reached the impostor"
    );
    drop(host);
}

#[tokio::test]
async fn a_changed_certificate_is_refused_until_trusted_explicitly() {
    let host_dir = tempfile::tempdir().unwrap();
    let (host, addr, room) = tls_host(host_dir.path(), "127.0.0.1:0").await;
    let old_fp = host.fingerprint().unwrap().to_string();
    // Kept for the whole test: the store lives in it.
    let store_dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(store_dir.path()).unwrap());
    // First visit by address only: trust on first use.
    let (c, mut ev) = client(&store, invite(addr, room, None));
    c.join(room, Some("open sesame".into())).unwrap();
    let first = until(&mut ev, "tofu", |e| match e {
        ClientEvent::Secured {
            first_use,
            fingerprint,
        } => Some((*first_use, fingerprint.clone())),
        _ => None,
    })
    .await;
    assert_eq!(first, (true, old_fp.clone()));
    joined(&mut ev).await;
    c.shutdown();
    host.shutdown().await;

    // The host comes back with the same rooms but a new certificate.
    for f in ["host-cert.der", "host-key.der"] {
        std::fs::remove_file(host_dir.path().join(f)).unwrap();
    }
    let (host, addr2, _) = tls_host(host_dir.path(), &addr.to_string()).await;
    let new_fp = host.fingerprint().unwrap().to_string();
    assert_ne!(new_fp, old_fp);
    let (c, mut ev) = client(&store, invite(addr2, room, None));
    c.join(room, None).unwrap();
    let presented = until(&mut ev, "mismatch", |e| match e {
        ClientEvent::FingerprintMismatch {
            expected,
            presented,
            ..
        } => {
            assert_eq!(*expected, old_fp);
            Some(presented.clone())
        }
        ClientEvent::Joined { .. } => panic!("accepted a changed certificate silently"),
        _ => None,
    })
    .await;
    assert_eq!(presented, new_fp);
    c.shutdown();
    // Explicit trust (the new fingerprint in the link) works, and re-pins.
    let (c, mut ev) = client(&store, invite(addr2, room, Some(&new_fp)));
    c.join(room, Some("open sesame".into())).unwrap();
    joined(&mut ev).await;
    c.shutdown();
    let (c, mut ev) = client(&store, invite(addr2, room, None));
    c.join(room, None).unwrap();
    joined(&mut ev).await;
    drop(host);
}

#[tokio::test]
async fn plaintext_is_refused_by_a_tls_host_and_never_a_silent_fallback() {
    let host_dir = tempfile::tempdir().unwrap();
    let (host, addr, room) = tls_host(host_dir.path(), "127.0.0.1:0").await;
    // A plaintext WebSocket client gets nowhere.
    let r = tokio::time::timeout(
        Duration::from_secs(5),
        tokio_tungstenite::connect_async(format!("ws://{addr}/")),
    )
    .await;
    assert!(
        matches!(r, Ok(Err(_))),
        "plaintext upgrade must fail: {r:?}"
    );
    // A client that allows plaintext still speaks TLS unless told to use plaintext...
    // Kept for the whole test: the store lives in it.
    let store_dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(store_dir.path()).unwrap());
    let (c, mut ev) = client(&store, invite(addr, room, None));
    c.join(room, Some("open sesame".into())).unwrap();
    joined(&mut ev).await;
    c.shutdown();
    drop(host);

    // ...and a TLS client does not fall back to a plaintext host.
    let dir = tempfile::tempdir().unwrap();
    let store_h = Arc::new(Store::open(dir.path()).unwrap());
    let plain = Host::start(
        store_h,
        HostConfig {
            host_name: "Plain".into(),
            limits: Limits::default(),
            transport: Transport::Plaintext,
        },
    )
    .unwrap();
    let proom = plain.open_room("Open", None).unwrap().room_id;
    let paddr = plain.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let (c, mut ev) = client(&store, invite(paddr, proom, None));
    c.join(proom, None).unwrap();
    let reason = until(&mut ev, "refusal", |e| match e {
        ClientEvent::State(ConnectionState::Reconnecting { reason, .. }) => Some(reason.clone()),
        ClientEvent::Joined { .. } => panic!("fell back to plaintext"),
        _ => None,
    })
    .await;
    assert!(reason.contains("TLS"), "{reason}");
    c.shutdown();
    // With explicit consent it works.
    let mut cfg = ClientConfig::new(invite(paddr, proom, None), "Bob", Arc::clone(&store));
    cfg.plaintext = true;
    let (c, mut ev) = Client::start(cfg).unwrap();
    c.join(proom, None).unwrap();
    joined(&mut ev).await;
}
