//! Tests of the store as a whole: opening, integrity, concurrency, the host log and the
//! cache working together.

use super::*;
use crate::protocol::ChatMessage;
use uuid::Uuid;

/// A room joined at a made-up address, nothing synced or read yet.
pub(super) fn joined(room_id: Uuid, name: impl Into<String>) -> JoinedRoom {
    JoinedRoom {
        room_id,
        name: name.into(),
        address: "127.0.0.1:1".into(),
        host_id: None,
        host_name: None,
        has_passcode: false,
        synced_seq: 0,
        read_seq: 0,
    }
}

/// Two processes (here: threads, each with its own connection, which SQLite locks
/// the same way) opening one fresh data directory at the same moment both succeed.
#[test]
fn concurrent_first_opens_of_a_fresh_directory_both_succeed() {
    for _ in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let start = std::sync::Arc::new(std::sync::Barrier::new(2));
        let opens: Vec<_> = (0..2)
            .map(|_| {
                let (path, start) = (dir.path().to_path_buf(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    Store::open(&path).map(|s| s.user_id().is_ok())
                })
            })
            .collect();
        for o in opens {
            assert!(o.join().unwrap().unwrap(), "both opens succeed");
        }
    }
}

/// The room list's overview (a fixed number of queries) says what the per-room
/// queries say, for every room.
#[test]
fn room_overviews_agree_with_the_per_room_queries() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let me = Uuid::new_v4();
    let other = Uuid::new_v4();
    let mut rooms = Vec::new();
    for r in 0..5u64 {
        let room = Uuid::new_v4();
        rooms.push(room);
        store
            .upsert_joined_room(&joined(room, format!("غرفة {r}")))
            .unwrap();
        let msgs: Vec<ChatMessage> = (1..=r * 10)
            .map(|seq| ChatMessage {
                room_id: room,
                seq,
                ts: seq as i64,
                user_id: if seq % 3 == 0 { me } else { other },
                author: "Ann".into(),
                client_msg_id: format!("c{seq}"),
                text: format!("{seq} 🙂"),
                kind: None,
                verified: false,
                ..Default::default()
            })
            .collect();
        store.cache_messages(room, &msgs, None).unwrap();
        if r % 2 == 0 {
            store.set_read_seq(room, r * 5).unwrap();
            store.pin_first(&pin_key_room(room), "ab").unwrap();
            store
                .set_setting(&format!("draft:{room}"), "half-typed")
                .unwrap();
        }
    }
    let all = store.room_overviews(me, |r| format!("draft:{r}")).unwrap();
    assert_eq!(all.len(), 5);
    for o in all {
        let one = store
            .room_overview(o.room.room_id, me, |r| format!("draft:{r}"))
            .unwrap()
            .unwrap();
        assert_eq!(o, one);
    }
    let first = store
        .room_overview(rooms[4], me, |r| format!("draft:{r}"))
        .unwrap()
        .unwrap();
    // 40 messages, 20 read; of the other 20, those not mine (seq % 3 != 0).
    assert_eq!(
        first.unread,
        (21..=40).filter(|s| s % 3 != 0).count() as u32
    );
    assert_eq!(first.last_message.map(|m| m.seq), Some(40));
    assert_eq!(first.setting.as_deref(), Some("half-typed"));
}

/// Damage is found at open, naming the file, not later in the middle of paging.
#[test]
fn a_damaged_database_is_refused_at_open_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let room = Uuid::new_v4();
        store.upsert_joined_room(&joined(room, "Big")).unwrap();
        let msgs: Vec<ChatMessage> = (1..=2000)
            .map(|seq| ChatMessage {
                room_id: room,
                seq,
                ts: 0,
                user_id: Uuid::nil(),
                author: "مريم".into(),
                client_msg_id: format!("c{seq}"),
                text: format!("message {seq} 🙂 {}", "x".repeat(200)),
                kind: None,
                verified: false,
                ..Default::default()
            })
            .collect();
        store.cache_messages(room, &msgs, None).unwrap();
    }
    let path = dir.path().join(DB_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 40 * 4096, "a database of many pages");
    // 64 flipped bytes: the headers of a few b-tree pages in the middle.
    for page in [20usize, 21, 22, 23] {
        for b in &mut bytes[page * 4096..page * 4096 + 16] {
            *b ^= 0xff;
        }
    }
    std::fs::write(&path, &bytes).unwrap();
    let Err(err) = Store::open(dir.path()) else {
        panic!("a damaged file was accepted")
    };
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("move it aside"), "{msg}");
}

fn msg(room: Uuid, user: Uuid, cmid: &str) -> NewMessage {
    NewMessage {
        room_id: room,
        user_id: user,
        author: "a".into(),
        client_msg_id: cmid.into(),
        text: format!("text {cmid}"),
        verified: false,
        ..Default::default()
    }
}

#[test]
fn group_commit_is_gap_free_and_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let room = store.open_hosted_room("General", None).unwrap();
    let mut log = store.host_log().unwrap();
    let u = Uuid::new_v4();
    let out = log
        .append_batch(&[
            msg(room.room_id, u, "a"),
            msg(room.room_id, u, "b"),
            msg(room.room_id, u, "a"),
        ])
        .unwrap();
    let seqs: Vec<_> = out
        .iter()
        .map(|a| match a {
            Appended::Stored(m) => (m.seq, false),
            Appended::Duplicate(m) => (m.seq, true),
            Appended::Refused(r) => panic!("refused: {r:?}"),
        })
        .collect();
    assert_eq!(seqs, vec![(1, false), (2, false), (1, true)]);
    let reader = store.reader().unwrap();
    assert_eq!(reader.head_seq(room.room_id).unwrap(), 2);
    // A new writer (after a restart) continues from the stored head.
    drop(log);
    let mut log = store.host_log().unwrap();
    let out = log.append_batch(&[msg(room.room_id, u, "c")]).unwrap();
    assert!(matches!(&out[0], Appended::Stored(m) if m.seq == 3));
}

#[test]
fn a_full_database_rolls_back_without_consuming_seqs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with_limit(dir.path(), Some(256 * 1024)).unwrap();
    let room = store.open_hosted_room("Full", None).unwrap();
    let mut log = store.host_log().unwrap();
    let u = Uuid::new_v4();
    let mut stored = 0u64;
    let mut failed = false;
    for i in 0..10_000 {
        let mut m = msg(room.room_id, u, &format!("m{i}"));
        m.text = "x".repeat(2000);
        match log.append_batch(&[m]) {
            Ok(_) => stored += 1,
            Err(e) => {
                assert!(e.is_full(), "{e}");
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "the cap was never reached");
    let reader = store.reader().unwrap();
    assert_eq!(reader.head_seq(room.room_id).unwrap(), stored);
    let all = reader.after(room.room_id, 0, u64::MAX, u32::MAX).unwrap();
    assert_eq!(all.len() as u64, stored);
    assert!(all.iter().enumerate().all(|(i, m)| m.seq == i as u64 + 1));
}

#[test]
fn corrupt_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(DB_FILE),
        b"this is not sqlite, just garbage bytes....",
    )
    .unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("corrupt"), "{err}");
}

#[test]
fn client_cache_tracks_contiguous_sync_point() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let room = Uuid::new_v4();
    store.upsert_joined_room(&joined(room, "r")).unwrap();
    let m = |seq| ChatMessage {
        room_id: room,
        seq,
        ts: 0,
        user_id: Uuid::nil(),
        author: "a".into(),
        client_msg_id: format!("c{seq}"),
        text: "t".into(),
        kind: None,
        verified: false,
        ..Default::default()
    };
    assert_eq!(
        store
            .cache_messages(room, &[m(1), m(2), m(4)], None)
            .unwrap()
            .synced,
        2
    );
    assert_eq!(store.cache_messages(room, &[m(3)], None).unwrap().synced, 4);
    assert_eq!(
        store
            .cache_messages(room, &[m(3), m(4)], None)
            .unwrap()
            .synced,
        4
    );
    assert_eq!(store.all_cached_messages(room).unwrap().len(), 4);
}

/// A resume token our own host hands our own client before that client's first join
/// completed: there is no joined room yet, and the token must still be kept (it used to
/// be an UPDATE of the joined room, which dropped it and locked us out of our own room).
#[test]
fn a_resume_token_is_kept_for_a_room_not_joined_yet() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let room = Uuid::new_v4();
    store.set_resume_token(room, Some("t1")).unwrap();
    assert_eq!(store.resume_token(room).unwrap().as_deref(), Some("t1"));
    store.upsert_joined_room(&joined(room, "Kitchen")).unwrap();
    store.set_resume_token(room, Some("t2")).unwrap();
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.resume_token(room).unwrap().as_deref(), Some("t2"));
    // Leaving forgets it with the room; None forgets it too.
    store.forget_room(room).unwrap();
    assert_eq!(store.resume_token(room).unwrap(), None);
    store.set_resume_token(room, Some("t3")).unwrap();
    store.set_resume_token(room, None).unwrap();
    assert_eq!(store.resume_token(room).unwrap(), None);
}

/// Tokens kept in `joined_rooms` by the schema before `resume_tokens` survive the
/// migration.
#[test]
fn resume_tokens_survive_the_migration_out_of_joined_rooms() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hearth.db");
    let room = Uuid::new_v4();
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        migrations::migrations()
            .to_version(&mut conn, migrations::BEFORE_RESUME_TOKENS)
            .unwrap();
        conn.execute(
            "INSERT INTO joined_rooms (room_id, name, address, has_passcode, joined_at, resume_token)
             VALUES (?1, 'Kitchen', '127.0.0.1:1', 1, 0, 'old-token')",
            [room.to_string()],
        )
        .unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        store.resume_token(room).unwrap().as_deref(),
        Some("old-token")
    );
    assert!(store.joined_room(room).unwrap().is_some());
}
