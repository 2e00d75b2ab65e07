//! mDNS announcements are unauthenticated: anyone on the LAN can announce a room id it
//! does not host, with its own certificate's fingerprint in TXT. A pin from an earlier
//! visit outranks any announcement (`hearth::client::expected_for_announced`), so such a
//! spoofed record cannot redirect a client that has been to the room before.

use std::sync::Arc;
use std::time::Duration;

use hearth::client::{expected_for_announced, ClientEvent};
use hearth::discovery::txt::encode_txt_record;
use hearth::discovery::{parse_txt_record, RoomTxt};
use hearth::tls::HostCert;
use hearth::{Client, ClientConfig, Host, HostConfig, Invite, Limits, Store, Transport};
use uuid::Uuid;

#[tokio::test]
async fn a_spoofed_announcement_does_not_replace_a_pin() {
    let host_dir = tempfile::tempdir().unwrap();
    let (host, real_fp) = start_tls_host(host_dir.path());
    let room = host.open_room("General", None).unwrap().room_id;
    let addr = host.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();

    // A first visit with a link that has no fingerprint: trust on first use pins it.
    let client_dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(client_dir.path()).unwrap());
    let invite = Invite {
        host: addr.ip().to_string(),
        port: addr.port(),
        room_id: Some(room),
        fingerprint: None,
    };
    let (client, mut events) =
        Client::start(ClientConfig::new(invite, "Bob", Arc::clone(&store))).unwrap();
    client.join(room, None).unwrap();
    let first_use = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.recv().await.expect("events") {
                ClientEvent::Secured {
                    fingerprint,
                    first_use,
                } => {
                    assert_eq!(fingerprint, real_fp);
                    break first_use;
                }
                ClientEvent::FingerprintMismatch { .. } => panic!("mismatch on first use"),
                _ => {}
            }
        }
    })
    .await
    .expect("handshake");
    assert!(first_use);
    tokio::time::timeout(Duration::from_secs(10), async {
        while !matches!(events.recv().await, Some(ClientEvent::Joined { .. })) {}
    })
    .await
    .expect("joined");
    client.shutdown();

    // Mallory announces the same room with her own certificate's fingerprint; the
    // browser parses her record like any other.
    let mallory_dir = tempfile::tempdir().unwrap();
    let mallory_fp = HostCert::load_or_create(mallory_dir.path())
        .unwrap()
        .fingerprint()
        .to_string();
    let spoofed = parse_txt_record(&encode_txt_record(&RoomTxt {
        protocol_version: 1,
        room_id: room,
        room_name: "General".into(),
        host_name: Some("Alice".into()),
        host_id: Some(host.host_id()),
        has_passcode: false,
        fingerprint: Some(mallory_fp.clone()),
        online: Some(1),
        closing: false,
        epoch: None,
    }))
    .unwrap();
    let expected = expected_for_announced(
        &store,
        spoofed.room_id,
        spoofed.host_id,
        spoofed.fingerprint.as_deref(),
    )
    .unwrap();
    assert_eq!(
        expected.as_deref(),
        Some(real_fp.as_str()),
        "the pin from the visit wins over the announcement"
    );
    assert_ne!(expected, spoofed.fingerprint, "so the conflict is visible");

    // A room never visited has no pin: its announced fingerprint is what the client
    // will insist on (trust on first use of the announcement).
    let unseen = Uuid::new_v4();
    assert_eq!(
        expected_for_announced(&store, unseen, None, Some(&mallory_fp)).unwrap(),
        Some(mallory_fp.clone())
    );
    host.shutdown().await;
}

/// Waits for the first event that `f` picks, for at most 10 s.
async fn wait_for<T>(
    events: &mut tokio::sync::mpsc::Receiver<ClientEvent>,
    mut f: impl FnMut(&ClientEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let e = events.recv().await.expect("the client stopped");
            if let Some(t) = f(&e) {
                return t;
            }
        }
    })
    .await
    .expect("timed out waiting for a client event")
}

fn start_tls_host(dir: &std::path::Path) -> (Host, String) {
    let cert = HostCert::load_or_create(dir).unwrap();
    let fp = cert.fingerprint().to_string();
    let host = Host::start(
        Arc::new(Store::open(dir).unwrap()),
        HostConfig {
            host_name: "Alice".into(),
            limits: Limits::default(),
            transport: Transport::Tls(cert),
        },
    )
    .unwrap();
    (host, fp)
}

/// Ids in `welcome` and `joined` are what a host says about itself. A second host with
/// a copy of the first one's database (so the same host id and room ids) but its own
/// certificate, reached by trust on first use, must not replace the pins of the first:
/// the client still expects the first host's certificate for its rooms, refuses the
/// claimed room, and keeps the room's address.
#[tokio::test]
async fn a_host_claiming_another_hosts_ids_cannot_replace_its_pins() {
    let a_dir = tempfile::tempdir().unwrap();
    let (a, a_fp) = start_tls_host(a_dir.path());
    let room = a.open_room("General", None).unwrap().room_id;
    let a_id = a.host_id();
    let a_addr = a.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();

    let client_dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(client_dir.path()).unwrap());
    let invite = Invite {
        host: a_addr.ip().to_string(),
        port: a_addr.port(),
        room_id: Some(room),
        fingerprint: None,
    };
    let (client, mut events) =
        Client::start(ClientConfig::new(invite, "Bob", Arc::clone(&store))).unwrap();
    client.join(room, None).unwrap();
    wait_for(&mut events, |e| {
        matches!(e, ClientEvent::Joined { .. }).then_some(())
    })
    .await;
    client.shutdown();
    a.shutdown().await;
    let pins = |s: &Store| {
        (
            s.pinned(&hearth::client::pin_key_host(a_id)).unwrap(),
            s.pinned(&hearth::client::pin_key_room(room)).unwrap(),
        )
    };
    assert_eq!(pins(&store), (Some(a_fp.clone()), Some(a_fp.clone())));
    let a_address = store.joined_room(room).unwrap().unwrap().address;

    // Mallory copies Alice's database (host id and room ids come with it) and hosts it
    // with her own certificate on another port.
    let m_dir = tempfile::tempdir().unwrap();
    for f in ["hearth.db", "hearth.db-wal", "hearth.db-shm"] {
        let from = a_dir.path().join(f);
        if from.exists() {
            std::fs::copy(&from, m_dir.path().join(f)).unwrap();
        }
    }
    let (m, m_fp) = start_tls_host(m_dir.path());
    assert_ne!(m_fp, a_fp);
    assert_eq!(m.host_id(), a_id, "the copy claims Alice's host id");
    let m_room = m.open_room("General", None).unwrap().room_id;
    assert_eq!(m_room, room, "and her room id");
    let m_addr = m.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();

    // Bob follows a link without a fingerprint to Mallory (trust on first use of her
    // address) that names only her address, then asks for Alice's room by its id.
    let invite = Invite {
        host: m_addr.ip().to_string(),
        port: m_addr.port(),
        room_id: None,
        fingerprint: None,
    };
    let (client, mut events) =
        Client::start(ClientConfig::new(invite, "Bob", Arc::clone(&store))).unwrap();
    let claimed = wait_for(&mut events, |e| match e {
        ClientEvent::Welcome(w) => Some(w.host_id),
        _ => None,
    })
    .await;
    assert_eq!(claimed, a_id);
    client.join(room, None).unwrap();
    let (expected, presented) = wait_for(&mut events, |e| match e {
        ClientEvent::FingerprintMismatch {
            expected,
            presented,
            ..
        } => Some((expected.clone(), presented.clone())),
        ClientEvent::Joined { .. } => panic!("the claimed room was accepted"),
        _ => None,
    })
    .await;
    assert_eq!((expected, presented), (a_fp.clone(), m_fp.clone()));
    client.shutdown();
    m.shutdown().await;

    assert_eq!(
        pins(&store),
        (Some(a_fp.clone()), Some(a_fp.clone())),
        "Alice's pins are unchanged"
    );
    assert_eq!(
        expected_for_announced(&store, Uuid::new_v4(), Some(a_id), Some(&m_fp)).unwrap(),
        Some(a_fp.clone()),
        "Alice's other rooms still expect her certificate"
    );
    assert_eq!(
        store.joined_room(room).unwrap().unwrap().address,
        a_address,
        "the room still lives at Alice's address"
    );
}
