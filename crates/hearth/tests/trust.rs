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
    let cert = HostCert::load_or_create(host_dir.path()).unwrap();
    let real_fp = cert.fingerprint().to_string();
    let host = Host::start(
        Arc::new(Store::open(host_dir.path()).unwrap()),
        HostConfig {
            host_name: "Alice".into(),
            limits: Limits::default(),
            transport: Transport::Tls(cert),
        },
    )
    .unwrap();
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
