//! The log's rules for message actions (protocol §3.9) and what the cache and its search
//! index make of them, on real SQLite files.

use super::*;
use crate::protocol::{relations, ChatMessage};
use uuid::Uuid;

struct Log {
    _dir: tempfile::TempDir,
    store: Store,
    log: HostLog,
    room: Uuid,
    n: u32,
}

impl Log {
    fn new() -> Log {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let room = store.open_hosted_room("General", None).unwrap().room_id;
        let log = store.host_log().unwrap();
        Log {
            _dir: dir,
            store,
            log,
            room,
            n: 0,
        }
    }

    /// Appends one message or action; what the log did with it.
    fn put(&mut self, m: NewMessage) -> Appended {
        self.n += 1;
        let m = NewMessage {
            room_id: self.room,
            client_msg_id: if m.client_msg_id.is_empty() {
                format!("c{}", self.n)
            } else {
                m.client_msg_id
            },
            author: "someone".into(),
            ..m
        };
        self.log.append_batch(&[m]).unwrap().remove(0)
    }

    fn stored(&mut self, m: NewMessage) -> ChatMessage {
        match self.put(m) {
            Appended::Stored(m) => m,
            other => panic!("not stored: {other:?}"),
        }
    }

    fn all(&self) -> Vec<ChatMessage> {
        self.store
            .reader()
            .unwrap()
            .after(self.room, 0, u64::MAX, 10_000)
            .unwrap()
    }
}

fn say(user: Uuid, text: &str) -> NewMessage {
    NewMessage {
        user_id: user,
        text: text.into(),
        verified: true,
        ..Default::default()
    }
}

fn act(user: Uuid, kind: &str, target: u64, text: &str) -> NewMessage {
    NewMessage {
        kind: Some(kind.into()),
        target: Some(target),
        ..say(user, text)
    }
}

#[test]
fn only_the_author_edits_and_an_edit_of_an_edit_targets_the_original() {
    let mut l = Log::new();
    let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
    let m = l.stored(say(alice, "helo wrld"));
    assert_eq!(
        l.put(act(bob, relations::EDIT, m.seq, "bob was here")),
        Appended::Refused(Refusal::NotAuthor)
    );
    // The same user id without the verified key is not the verified author.
    let impostor = NewMessage {
        verified: false,
        ..act(alice, relations::EDIT, m.seq, "not alice")
    };
    assert_eq!(l.put(impostor), Appended::Refused(Refusal::NotAuthor));
    let e1 = l.stored(act(alice, relations::EDIT, m.seq, "hello wrld"));
    let e2 = l.stored(act(alice, relations::EDIT, e1.seq, "hello world"));
    assert_eq!((e1.target, e2.target), (Some(m.seq), Some(m.seq)));
    // Targets that are not messages of the room.
    for t in [0, 99, e1.seq] {
        let r = l.put(act(alice, relations::REACT, t, "👍"));
        assert_eq!(r, Appended::Refused(Refusal::UnknownTarget), "target {t}");
    }
    let reply = NewMessage {
        reply_to: Some(42),
        ..say(bob, "to what?")
    };
    assert_eq!(l.put(reply), Appended::Refused(Refusal::UnknownTarget));
    // Refusals took no seq: the log stays gap-free.
    let seqs: Vec<u64> = l.all().iter().map(|m| m.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3]);
}

#[test]
fn a_delete_erases_the_text_and_its_edits_from_the_host_log() {
    let mut l = Log::new();
    let (alice, bob, owner) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let m = l.stored(say(alice, "secret-marker-1 in the original"));
    l.stored(act(
        alice,
        relations::EDIT,
        m.seq,
        "secret-marker-2 in an edit",
    ));
    let r = l.stored(act(bob, relations::REACT, m.seq, "👍"));
    assert_eq!(r.target, Some(m.seq));
    assert_eq!(
        l.put(act(bob, relations::DELETE, m.seq, "")),
        Appended::Refused(Refusal::NotAuthor)
    );
    let d = l.stored(act(alice, relations::DELETE, m.seq, ""));
    let all = l.all();
    let orig = &all[0];
    assert_eq!(orig.text, "");
    assert_eq!(
        orig.deleted,
        Some(crate::protocol::Deleted {
            seq: d.seq,
            by: alice,
            by_owner: false
        })
    );
    assert_eq!(all[1].text, "", "the edit's text goes too");
    // Nothing acts on a deleted message any more.
    for kind in [relations::EDIT, relations::DELETE, relations::REACT] {
        assert_eq!(
            l.put(act(alice, kind, m.seq, "👍")),
            Appended::Refused(Refusal::TargetDeleted)
        );
    }
    // A resend of the delete is the same delete, not a refusal.
    let again = NewMessage {
        client_msg_id: d.client_msg_id.clone(),
        ..act(alice, relations::DELETE, m.seq, "")
    };
    assert!(matches!(l.put(again), Appended::Duplicate(x) if x.seq == d.seq));

    // The host owner moderates: anyone's message, marked as such.
    let b = l.stored(say(bob, "spam spam"));
    let by_owner = NewMessage {
        by_owner: true,
        ..act(owner, relations::DELETE, b.seq, "")
    };
    let d2 = l.stored(by_owner);
    let gone = l.all().into_iter().find(|x| x.seq == b.seq).unwrap();
    assert_eq!(
        gone.deleted.map(|d| (d.seq, d.by, d.by_owner)),
        Some((d2.seq, owner, true))
    );

    // Not in the file either (secure_delete): checkpointed, the bytes are gone.
    drop(l.log);
    let conn = rusqlite::Connection::open(l.store.path()).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    drop(conn);
    let bytes = std::fs::read(l.store.path()).unwrap();
    for marker in ["secret-marker-1", "secret-marker-2"] {
        assert!(
            !bytes.windows(marker.len()).any(|w| w == marker.as_bytes()),
            "{marker} still in the database file"
        );
    }
}

#[test]
fn the_cache_forgets_deleted_text_and_search_follows_edits() {
    let mut l = Log::new();
    let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
    let first = l.stored(say(alice, "the quarterly report is late"));
    l.stored(say(bob, "تقرير الربع متأخر 📊"));
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Store::open(cache_dir.path()).unwrap();
    let room = l.room;
    cache
        .upsert_joined_room(&super::tests::joined(room, "General"))
        .unwrap();
    cache.cache_messages(room, &l.all(), Some(0)).unwrap();
    let find = |q: &str| -> Vec<u64> {
        cache
            .search(&SearchQuery {
                text: q.into(),
                limit: 50,
                ..Default::default()
            })
            .unwrap()
            .iter()
            .map(|h| h.seq)
            .collect()
    };
    assert_eq!(find("report"), vec![first.seq]);
    let in_room = |room_id: Uuid| {
        cache
            .search(&SearchQuery {
                text: "report".into(),
                room_id: Some(room_id),
                author: Some(alice),
                limit: 50,
                ..Default::default()
            })
            .unwrap()
            .len()
    };
    assert_eq!((in_room(room), in_room(Uuid::new_v4())), (1, 0));
    assert_eq!(find("الربع"), vec![2]);
    assert_eq!(find("quart*"), vec![first.seq]);
    assert_eq!(find("\"report is late\""), vec![first.seq]);
    assert_eq!(find("\"late report\""), Vec::<u64>::new());

    // An edit arrives live: found by its new text only.
    let e = l.stored(act(
        alice,
        relations::EDIT,
        first.seq,
        "the quarterly summary is ready",
    ));
    cache.cache_messages(room, &[e], None).unwrap();
    assert_eq!(find("report"), Vec::<u64>::new());
    assert_eq!(find("summary"), vec![first.seq]);
    let hit = &cache
        .search(&SearchQuery {
            text: "summary".into(),
            limit: 5,
            ..Default::default()
        })
        .unwrap()[0];
    assert!(
        hit.snippet.contains("\u{E000}summary\u{E001}"),
        "{}",
        hit.snippet
    );

    // The delete arrives (as a resume would bring it): the text leaves the cache.
    let d = l.stored(act(alice, relations::DELETE, first.seq, ""));
    cache.cache_messages(room, &[d], None).unwrap();
    assert_eq!(find("summary"), Vec::<u64>::new());
    assert_eq!(find("quarterly"), Vec::<u64>::new());
    let cached = cache.all_cached_messages(room).unwrap();
    assert!(cached
        .iter()
        .filter(|m| m.seq == first.seq || m.target == Some(first.seq))
        .all(|m| m.text.is_empty() || m.kind.as_deref() == Some(relations::DELETE)));
    assert!(cached[0].deleted.is_some());
}

/// A database made by the release before actions and search (schema version 8), with a
/// realistic room in its cache, goes through the migration with nothing lost, and its
/// old messages are searchable.
#[test]
fn a_database_from_before_actions_migrates_with_nothing_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    let room = Uuid::new_v4();
    let texts: Vec<String> = (1..=1000)
        .map(|i| match i % 4 {
            0 => format!("message {i} about the launch plan 🚀"),
            1 => format!("رسالة رقم {i} عن الخطة"),
            2 => format!("Zoë's café note {i}"),
            _ => format!("plain line {i}"),
        })
        .collect();
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        migrations::migrations()
            .to_version(&mut conn, migrations::BEFORE_RELATIONS)
            .unwrap();
        conn.execute(
            "INSERT INTO joined_rooms (room_id, name, address, has_passcode, joined_at, synced_seq)
             VALUES (?1, 'Launch', '127.0.0.1:1', 0, 0, 1000)",
            [room.to_string()],
        )
        .unwrap();
        let tx = conn.transaction().unwrap();
        for (i, t) in texts.iter().enumerate() {
            tx.execute(
                "INSERT INTO messages (room_id, seq, ts, user_id, author, client_msg_id, text, verified)
                 VALUES (?1, ?2, ?3, ?4, 'A very long display name that someone really chose', ?5, ?6, 1)",
                rusqlite::params![
                    room.to_string(),
                    i as i64 + 1,
                    1_700_000_000_000i64 + i as i64,
                    Uuid::nil().to_string(),
                    format!("c{i}"),
                    t
                ],
            )
            .unwrap();
        }
        tx.execute(
            "INSERT INTO outbox (room_id, client_msg_id, text, created_at) VALUES (?1, 'q1', 'queued before', 0)",
            [room.to_string()],
        )
        .unwrap();
        tx.commit().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let all = store.all_cached_messages(room).unwrap();
    assert_eq!(all.len(), 1000);
    assert!(all.iter().zip(&texts).all(|(m, t)| &m.text == t));
    assert_eq!(store.synced_seq(room).unwrap(), 1000);
    let outbox = store.outbox(room).unwrap();
    assert_eq!(outbox.len(), 1);
    assert!(outbox[0].relation.is_plain());
    let hits = store
        .search(&SearchQuery {
            text: "launch".into(),
            limit: 200,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(hits.len(), 200);
    // Newest first.
    assert_eq!(hits[0].seq, 1000);
    assert!(hits
        .windows(2)
        .all(|w| w[0].ts >= w[1].ts && w[0].doc > w[1].doc));
    let next = store
        .search(&SearchQuery {
            text: "launch".into(),
            limit: 200,
            before_doc: hits.last().map(|h| h.doc),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(next.len(), 50, "250 matches in all");
    assert_eq!(
        store
            .search(&SearchQuery {
                text: "cafe".into(),
                limit: 10,
                ..Default::default()
            })
            .unwrap()
            .len(),
        10,
        "diacritics folded: café is found as cafe"
    );
}

#[test]
fn set_aside_edits_and_deleted_mentions_leave_search_and_counts_right() {
    let mut l = Log::new();
    let (alice, me) = (Uuid::new_v4(), Uuid::new_v4());
    let room = l.room;
    let m = l.stored(say(alice, "plan A for the offsite"));
    let e = l.stored(act(alice, relations::EDIT, m.seq, "plan B for the offsite"));
    let ping = l.stored(NewMessage {
        mentions: vec![me],
        mentions_room: true,
        ..say(alice, "@room please read")
    });
    let dir = tempfile::tempdir().unwrap();
    let cache = Store::open(dir.path()).unwrap();
    cache
        .upsert_joined_room(&super::tests::joined(room, "General"))
        .unwrap();
    cache.cache_messages(room, &l.all(), Some(0)).unwrap();
    assert_eq!(cache.unread_mentions(room, me).unwrap(), 1);
    let hits = |q: &str| {
        cache
            .search(&SearchQuery {
                text: q.into(),
                limit: 10,
                ..Default::default()
            })
            .unwrap()
            .len()
    };
    assert_eq!((hits("\"plan B\""), hits("\"plan A\"")), (1, 0));
    // The host's log went back to before the edit: the original text is what shows, and
    // what search finds.
    cache.set_aside_beyond(room, m.seq).unwrap();
    assert_eq!((hits("\"plan B\""), hits("\"plan A\"")), (0, 1));
    // A deleted @room message is no unread mention any more, and its mentions are gone.
    cache.cache_messages(room, &l.all()[1..], None).unwrap();
    assert_eq!(e.target, Some(m.seq));
    let d = l.stored(act(alice, relations::DELETE, ping.seq, ""));
    cache.cache_messages(room, &[d], None).unwrap();
    assert_eq!(cache.unread_mentions(room, me).unwrap(), 0);
    let host_row = l.all().into_iter().find(|x| x.seq == ping.seq).unwrap();
    assert!(host_row.mentions.is_empty() && !host_row.mentions_room);
}
