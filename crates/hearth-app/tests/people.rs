//! The people of a room as the app shows them (hearth::people): the host owner is marked,
//! nobody is "new" to themselves, a newcomer is, a verified person is verified, and
//! another install under a verified person's name is flagged as a different key, until
//! the owner removes it. Three app instances over real sockets.

mod common;

use common::*;
use hearth::people::Trust;
use hearth_app::{App, AppEvent, PersonView, RoomAccess};
use uuid::Uuid;

fn find(people: &[PersonView], id: Uuid) -> Option<PersonView> {
    people.iter().find(|p| p.user_id == id).cloned()
}

#[test]
fn newcomers_verified_people_and_a_different_key_under_a_verified_name() {
    let mdns = isolate();
    run(async move {
        let dirs = [(); 3].map(|_| tempfile::tempdir().unwrap());
        let (alice, mut ea) = App::start(config(dirs[0].path(), &mdns)).await.unwrap();
        alice.set_name("Alice").unwrap();
        let hosted = alice.host_room("Team · فريق", None, false).await.unwrap();
        let room = hosted.room_id;
        wait_joined(&mut ea, "Alice in her own room", room).await;

        let (bob, mut eb) = App::start(config(dirs[1].path(), &mdns)).await.unwrap();
        bob.set_name("Bob").unwrap();
        bob.join_link(&hosted.invite, None).await.unwrap();
        wait_joined(&mut eb, "Bob joined", room).await;

        let bob_id = bob.user_id();
        let people = eventually("Bob among Alice's people", || {
            let p = alice.people(room).unwrap();
            find(&p, bob_id).filter(|b| b.online).map(|_| p)
        })
        .await;
        let me = find(&people, alice.user_id()).unwrap();
        assert!(me.owner, "the host owner is marked");
        assert_eq!(me.trust, Trust::Known, "nobody is new to themselves");
        let b = find(&people, bob_id).unwrap();
        assert_eq!(b.trust, Trust::New, "Bob came after Alice joined");
        assert!(!b.owner);
        assert_eq!(b.code, hearth::people::code(bob_id));

        alice.verify_person(bob_id, "Bob").unwrap();
        let b = find(&alice.people(room).unwrap(), bob_id).unwrap();
        assert_eq!(b.trust, Trust::Verified);

        // Another install, also called "Bob" (case aside): not the Bob Alice verified.
        let (other, mut eo) = App::start(config(dirs[2].path(), &mdns)).await.unwrap();
        other.set_name("bob").unwrap();
        other.join_link(&hosted.invite, None).await.unwrap();
        wait_joined(&mut eo, "the other Bob joined", room).await;
        let other_id = other.user_id();
        let flagged = eventually("the other Bob among Alice's people", || {
            find(&alice.people(room).unwrap(), other_id).filter(|p| p.online)
        })
        .await;
        assert_eq!(
            flagged.trust,
            Trust::KeyChanged {
                verified_name: "Bob".into()
            }
        );
        assert_ne!(flagged.code, b.code, "the codes tell the two apart");
        assert_eq!(
            find(&alice.people(room).unwrap(), bob_id).unwrap().trust,
            Trust::Verified,
            "the real Bob keeps his mark"
        );

        // The owner removes the other Bob: their app says so and does not walk back in.
        alice.remove_member(room, other_id).await.unwrap();
        wait_for(&mut eo, "removed", |e| match e {
            AppEvent::RoomAccess {
                room_id,
                access: RoomAccess::Refused { message },
            } if *room_id == room => Some(message.clone()),
            _ => None,
        })
        .await;
        eventually("the other Bob offline for Alice", || {
            find(&alice.people(room).unwrap(), other_id)
                .filter(|p| !p.online)
                .map(|_| ())
        })
        .await;
        assert!(alice.remove_member(room, alice.user_id()).await.is_err());
        for app in [&alice, &bob, &other] {
            app.shutdown().await;
        }
    });
}
