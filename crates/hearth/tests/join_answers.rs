//! Each join is answered, in order, and the client reports the answer to the latest one:
//! a passcode typed wrong and then right at once must not end in "wrong passcode" (and
//! the room dropped) while the right one is on its way.

mod common;

use std::sync::Arc;

use common::*;
use hearth::protocol::ErrorCode;
use hearth::{Client, ClientConfig, ClientEvent, Invite, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refusal_of_a_superseded_join_is_not_the_answer() {
    let h = start_host(fast_limits()).await;
    let lobby = h.host.open_room("Lobby", None).unwrap().room_id;
    let vault = h.host.open_room("Vault", Some("sesame")).unwrap().room_id;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let invite = Invite::parse(&format!("hearth://{}/{lobby}", h.addr)).unwrap();
    let mut cfg = ClientConfig::new(invite, "Bob", Arc::clone(&store));
    cfg.plaintext = true;
    let (client, mut events) = Client::start(cfg).unwrap();
    client.join(lobby, None).unwrap();
    tokio::time::timeout(WAIT, async {
        while let Some(e) = events.recv().await {
            if matches!(e, ClientEvent::Joined { .. }) {
                return;
            }
        }
    })
    .await
    .expect("in the lobby");

    // Connected: both joins go out at once. The host checks the wrong passcode first
    // (an Argon2 hash, milliseconds), so its refusal comes back after the second join
    // has been sent.
    client.join(vault, Some("wrong".into())).unwrap();
    client.join(vault, Some("sesame".into())).unwrap();
    let outcome = tokio::time::timeout(WAIT, async {
        while let Some(e) = events.recv().await {
            match e {
                ClientEvent::Joined { room, .. } if room.room_id == vault => return Ok(()),
                ClientEvent::JoinFailed { room_id, error } if room_id == vault => {
                    return Err(error.code)
                }
                _ => {}
            }
        }
        panic!("the client stopped");
    })
    .await
    .expect("no answer for the vault");
    assert_eq!(outcome, Ok(()), "the stale refusal was reported");

    // The latest answer still counts when it is a refusal.
    client.join(vault, Some("wrong again".into())).unwrap();
    let code = tokio::time::timeout(WAIT, async {
        while let Some(e) = events.recv().await {
            if let ClientEvent::JoinFailed { room_id, error } = e {
                if room_id == vault {
                    return error.code;
                }
            }
        }
        panic!("the client stopped");
    })
    .await
    .expect("the refusal was reported");
    assert_eq!(code, ErrorCode::WrongPasscode);
    client.shutdown();
}
