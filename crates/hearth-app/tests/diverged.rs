//! A host whose history went back in time (restored from a backup): the app keeps the
//! messages it had that the host lost apart, counts them in the room's view, and lists
//! them ("not on the host") for the UI, instead of mixing them into the room.

mod common;

use std::sync::Arc;

use common::*;
use hearth::tls::HostCert;
use hearth::{Host, HostConfig, Invite, Limits, Store, Transport};
use hearth_app::{App, AppEvent};

fn host_on(dir: &std::path::Path) -> Host {
    let store = Arc::new(Store::open(dir).unwrap());
    Host::start(
        store,
        HostConfig {
            host_name: "Restored host".into(),
            limits: Limits {
                messages_per_sec: 10_000,
                message_burst: 10_000,
                ..Limits::default()
            },
            transport: Transport::Tls(HostCert::load_or_create(dir).unwrap()),
        },
    )
    .unwrap()
}

#[test]
fn messages_the_restored_host_lost_are_kept_apart_and_listed() {
    let mdns = isolate();
    run(async move {
        let (host_dir, backup_dir, app_dir) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let host = host_on(host_dir.path());
        let room = host.open_room("Ops", None).unwrap().room_id;
        let addr = host.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let invite = Invite {
            host: "127.0.0.1".into(),
            port: addr.port(),
            room_id: Some(room),
            fingerprint: host.fingerprint().map(str::to_string),
        };
        let (app, mut events) = App::start(config(app_dir.path(), &mdns)).await.unwrap();
        app.join_link(&invite.to_string(), None).await.unwrap();
        wait_joined(&mut events, "join", room).await;
        let send = |text: String| {
            let app = app.clone();
            async move { app.send(room, &text).unwrap().client_msg_id }
        };
        let mut last = String::new();
        for i in 0..30 {
            last = send(format!("kept {i}")).await;
        }
        wait_for(&mut events, "the 30th ack", |e| {
            matches!(e, AppEvent::Ack { client_msg_id, .. } if *client_msg_id == last).then_some(())
        })
        .await;
        // The backup, taken here: the host's history as it will be restored.
        host.flush().await;
        let backup = backup_dir.path().join(hearth::store::DB_FILE);
        Store::open(host_dir.path())
            .unwrap()
            .backup_to(&backup)
            .unwrap();
        for f in ["host-cert.der", "host-key.der"] {
            std::fs::copy(host_dir.path().join(f), backup_dir.path().join(f)).unwrap();
        }
        for i in 0..20 {
            last = send(format!("lost {i} — فُقدت 🫥")).await;
        }
        wait_for(&mut events, "the 50th ack", |e| {
            matches!(e, AppEvent::Ack { client_msg_id, .. } if *client_msg_id == last).then_some(())
        })
        .await;
        host.shutdown().await;

        // The host comes back from the backup, on the same port.
        let restored = host_on(backup_dir.path());
        restored.open_room("Ops", None).unwrap();
        restored.bind(addr).await.unwrap();
        let set_aside = wait_for(&mut events, "the divergence", |e| match e {
            AppEvent::HistoryDiverged { room_id, set_aside } if *room_id == room => {
                Some(*set_aside)
            }
            _ => None,
        })
        .await;
        assert_eq!(set_aside, 20);
        let view = app
            .rooms()
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.room_id == room)
            .unwrap();
        assert_eq!(view.unhosted, 20, "the room's view counts them");
        let apart: Vec<String> = app
            .unhosted_messages(room)
            .unwrap()
            .into_iter()
            .map(|m| m.text)
            .collect();
        let expected: Vec<String> = (0..20).map(|i| format!("lost {i} — فُقدت 🫥")).collect();
        assert_eq!(apart, expected);
        // The room itself follows the host: only what it has.
        let page = app.messages(room, None, 500).unwrap();
        assert_eq!(page.messages.len(), 30);
        assert!(page.messages.iter().all(|m| m.text.starts_with("kept ")));
        app.shutdown().await;
        restored.shutdown().await;
    });
}
