//! Files (docs/protocol.md §3.10, §15) over real sockets and real files: an upload and
//! its download with the hash checked, a file sent twice stored once, a corrupted upload
//! refused, transfers cut mid-file that resume and send only the remainder, the size
//! limit and the quota, a full disk, non-members, and a deleted message's file leaving
//! the host's disk.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::tls::*;
use common::WAIT;
use hearth::client::ClientEvent;
use hearth::files::cache::FileCache;
use hearth::files::transfer::{self, Endpoint, Progress, Source, TransferError};
use hearth::protocol::files::{Attachment, FileErrorCode};
use hearth::protocol::relations::Relation;
use hearth::protocol::ChatMessage;
use hearth::{Client, Limits, Store};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

fn quiet() -> Progress {
    Arc::new(|_, _| {})
}

fn source(c: &Client, room: Uuid) -> Source {
    let c = c.clone();
    Arc::new(move || c.files(room))
}

/// A file of `len` pseudo-random bytes (incompressible, like a real photo or archive).
fn random_file(dir: &Path, name: &str, len: usize) -> PathBuf {
    // Seeded by name and length: two files are the same only if asked to be.
    let mut x: u64 = name.bytes().fold(0x9e3779b97f4a7c15 ^ len as u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    });
    let mut data = Vec::with_capacity(len);
    while data.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.truncate(len);
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

/// A member joined through a `Client`, with its files' endpoint.
struct Member {
    client: Client,
    events: tokio::sync::mpsc::Receiver<ClientEvent>,
    store: Arc<Store>,
    dir: tempfile::TempDir,
    room: Uuid,
}

impl Member {
    async fn join(h: &Hosted, room: Uuid, name: &str) -> Member {
        Member::join_in(h, room, name, tempfile::tempdir().unwrap()).await
    }

    async fn join_in(h: &Hosted, room: Uuid, name: &str, dir: tempfile::TempDir) -> Member {
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let (client, events) = client_for(&store, h, room, name);
        client.join(room, None).unwrap();
        let mut m = Member {
            client,
            events,
            store,
            dir,
            room,
        };
        m.endpoint().await;
        m
    }

    async fn endpoint(&mut self) -> Endpoint {
        // Events are drained as they come, so the client is never held up.
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(ep) = self.client.files(self.room) {
                return ep;
            }
            assert!(tokio::time::Instant::now() < deadline, "no files grant");
            let _ = tokio::time::timeout(Duration::from_millis(50), self.events.recv()).await;
        }
    }

    fn source(&self) -> Source {
        source(&self.client, self.room)
    }

    fn cache(&self) -> FileCache {
        FileCache::open(self.dir.path()).unwrap()
    }

    async fn send_files(&self, path: &Path, caption: &str) -> Attachment {
        let f = transfer::prepare(path).await.unwrap();
        let a = transfer::upload_attachment(
            &self.source(),
            &self.store,
            &f,
            quiet(),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
        let rel = Relation {
            attachments: vec![a.clone()],
            ..Relation::default()
        };
        self.client.send_with(self.room, caption, &rel).unwrap();
        a
    }

    async fn message_with_files(&mut self) -> ChatMessage {
        until(&mut self.events, "a message with files", |e| match e {
            ClientEvent::Message(m) if !m.attachments.is_empty() => Some(m.clone()),
            _ => None,
        })
        .await
    }

    async fn download(&self, a: &Attachment) -> Result<PathBuf, TransferError> {
        transfer::download(
            &self.source(),
            &self.store,
            &self.cache(),
            &a.file_id,
            a.size,
            quiet(),
            &CancellationToken::new(),
        )
        .await
    }
}

fn blobs(h: &Hosted) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(h.dir.path().join("files/blobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn refused_code(e: &TransferError) -> Option<FileErrorCode> {
    match e {
        TransferError::Refused { code, .. } => Some(*code),
        _ => None,
    }
}

#[tokio::test]
async fn a_file_goes_up_once_comes_down_intact_and_a_second_send_stores_nothing_new() {
    let h = tls_host().await;
    let mut alice = Member::join(&h, h.room, "Alice").await;
    let mut bob = Member::join(&h, h.room, "Bob").await;
    let src = tempfile::tempdir().unwrap();
    let path = random_file(
        src.path(),
        "رسم بياني 📊 quarterly report.pdf",
        5 * 1024 * 1024 + 17,
    );
    let (want, size) = hearth::files::hash_file(&path).unwrap();

    let a = alice.send_files(&path, "the numbers").await;
    assert_eq!((a.file_id.as_str(), a.size), (want.as_str(), size));
    assert_eq!(a.mime, "application/pdf");
    let m = bob.message_with_files().await;
    assert_eq!(m.text, "the numbers");
    assert_eq!(m.attachments, vec![a.clone()]);
    let got = bob.download(&m.attachments[0]).await.unwrap();
    assert_eq!(
        hearth::files::hash_file(&got).unwrap(),
        (want.clone(), size)
    );
    assert_eq!(std::fs::read(&got).unwrap(), std::fs::read(&path).unwrap());

    // The same file again (another name): the room holds it, nothing is uploaded.
    let copy = src.path().join("copy.pdf");
    std::fs::copy(&path, &copy).unwrap();
    let b = alice.send_files(&copy, "again").await;
    assert_eq!(b.file_id, a.file_id);
    assert_eq!(blobs(&h), vec![want.clone()], "stored once");
    let m2 = bob.message_with_files().await;
    assert_eq!(m2.attachments[0].name, "copy.pdf");
    // Bob has it cached already: no second download.
    assert_eq!(bob.download(&m2.attachments[0]).await.unwrap(), got);
    // Both messages survive in Bob's cache with their files.
    let _ = alice.events.try_recv();
}

#[tokio::test]
async fn an_image_carries_a_preview_made_by_its_sender() {
    let h = tls_host().await;
    let alice = Member::join(&h, h.room, "Alice").await;
    let mut bob = Member::join(&h, h.room, "Bob").await;
    let src = tempfile::tempdir().unwrap();
    let path = src.path().join("screenshot.png");
    image::RgbImage::from_fn(2560, 1440, |x, y| {
        image::Rgb([(x / 10) as u8, (y / 6) as u8, 90])
    })
    .save(&path)
    .unwrap();
    alice.send_files(&path, "").await;
    let m = bob.message_with_files().await;
    let a = &m.attachments[0];
    assert_eq!((a.width, a.height), (Some(2560), Some(1440)));
    let t = a.thumbnail.clone().expect("a thumbnail");
    assert_eq!((t.width, t.height), (480, 270));
    let thumb = bob
        .download(&Attachment {
            file_id: t.file_id.clone(),
            name: "thumb".into(),
            size: t.size,
            mime: t.mime.clone(),
            width: None,
            height: None,
            thumbnail: None,
        })
        .await
        .unwrap();
    let img = image::ImageReader::open(thumb)
        .unwrap()
        .with_guessed_format()
        .unwrap()
        .decode()
        .unwrap();
    assert_eq!((img.width(), img.height()), (480, 270));
}

#[tokio::test]
async fn bytes_that_do_not_hash_to_the_file_id_are_refused_and_not_kept() {
    let h = tls_host().await;
    let alice = Member::join(&h, h.room, "Alice").await;
    let src = tempfile::tempdir().unwrap();
    let path = random_file(src.path(), "a.bin", 300_000);
    let lie = "ab".repeat(32);
    let e = transfer::upload(
        &alice.source(),
        &alice.store,
        &path,
        &lie,
        300_000,
        quiet(),
        &CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(refused_code(&e), Some(FileErrorCode::HashMismatch), "{e}");
    assert!(blobs(&h).is_empty());
    assert_eq!(
        std::fs::read_dir(h.dir.path().join("files/partial"))
            .unwrap()
            .count(),
        0,
        "the partial upload is discarded"
    );
    // A message naming the file it claimed is refused too.
    let rel = Relation {
        attachments: vec![Attachment {
            file_id: lie,
            name: "a.bin".into(),
            size: 300_000,
            mime: "application/octet-stream".into(),
            width: None,
            height: None,
            thumbnail: None,
        }],
        ..Relation::default()
    };
    let mut alice = alice;
    let entry = alice.client.send_with(h.room, "see file", &rel).unwrap();
    let err = until(&mut alice.events, "the refusal", |e| match e {
        ClientEvent::SendFailed {
            client_msg_id,
            error,
            ..
        } if *client_msg_id == entry.client_msg_id => Some(error.code),
        _ => None,
    })
    .await;
    assert_eq!(err, hearth::protocol::ErrorCode::FileMissing);
}

#[tokio::test]
async fn someone_outside_the_room_cannot_fetch_its_files_even_knowing_the_hash() {
    let h = tls_host().await;
    let other_room = h.host.open_room("Elsewhere", None).unwrap().room_id;
    let alice = Member::join(&h, h.room, "Alice").await;
    let mut carol = Member::join(&h, other_room, "Carol").await;
    let src = tempfile::tempdir().unwrap();
    let path = random_file(src.path(), "secret.bin", 100_000);
    let a = alice.send_files(&path, "for the team only").await;

    // Carol's token is for her room: the team's room refuses it.
    let mut ep = carol.endpoint().await;
    ep.room_id = h.room;
    let forged: Source = {
        let ep = ep.clone();
        Arc::new(move || Some(ep.clone()))
    };
    let cache = carol.cache();
    let e = transfer::download(
        &forged,
        &carol.store,
        &cache,
        &a.file_id,
        a.size,
        quiet(),
        &CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(refused_code(&e), Some(FileErrorCode::NotAMember), "{e}");
    // Her own room does not hold the file, even though the host stores it.
    let e = carol.download(&a).await.unwrap_err();
    assert_eq!(refused_code(&e), Some(FileErrorCode::NotFound), "{e}");
    // A made-up token is no token.
    let mut fake = carol.endpoint().await;
    fake.grant.token = "0".repeat(64);
    let fake: Source = Arc::new(move || Some(fake.clone()));
    let e = transfer::usage(&fake().unwrap()).await.unwrap_err();
    assert_eq!(refused_code(&e), Some(FileErrorCode::TokenInvalid), "{e}");
    assert!(!cache.path(&a.file_id).exists());
}

#[tokio::test]
async fn a_removed_member_loses_the_rooms_files_at_once() {
    let h = tls_host().await;
    let alice = Member::join(&h, h.room, "Alice").await;
    let mut bob = Member::join(&h, h.room, "Bob").await;
    let src = tempfile::tempdir().unwrap();
    let a = alice
        .send_files(&random_file(src.path(), "x.bin", 1000), "x")
        .await;
    let ep = bob.endpoint().await;
    let bob_id = bob.store.user_id().unwrap();
    let host = h.host.clone();
    let room = h.room;
    tokio::task::spawn_blocking(move || host.remove_member(room, bob_id).unwrap())
        .await
        .unwrap();
    let stale: Source = Arc::new(move || Some(ep.clone()));
    let e = transfer::download(
        &stale,
        &bob.store,
        &bob.cache(),
        &a.file_id,
        a.size,
        quiet(),
        &CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(refused_code(&e), Some(FileErrorCode::TokenInvalid)),
        "{e}"
    );
}

#[tokio::test]
async fn the_size_limit_and_the_quota_refuse_before_any_byte_and_lose_nothing() {
    let limits = Limits {
        max_file_bytes: 1_000_000,
        room_quota_bytes: 2_500_000,
        ..Limits::default()
    };
    let h = tls_host_in(tempfile::tempdir().unwrap(), limits).await;
    let mut alice = Member::join(&h, h.room, "Alice").await;
    let ep = alice.endpoint().await;
    assert_eq!(ep.grant.max_file_bytes, 1_000_000);
    assert_eq!(ep.grant.room_quota_bytes, 2_500_000);
    let src = tempfile::tempdir().unwrap();

    let big = transfer::prepare(&random_file(src.path(), "big.iso", 1_000_001))
        .await
        .unwrap();
    let e = transfer::upload_attachment(
        &alice.source(),
        &alice.store,
        &big,
        quiet(),
        &CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(refused_code(&e), Some(FileErrorCode::FileTooLarge), "{e}");
    assert!(e.to_string().contains("1.0 MB"), "{e}");

    for i in 0..2 {
        alice
            .send_files(
                &random_file(src.path(), &format!("{i}.bin"), 1_000_000),
                "fits",
            )
            .await;
    }
    let third = transfer::prepare(&random_file(src.path(), "third.bin", 600_000))
        .await
        .unwrap();
    let e = transfer::upload_attachment(
        &alice.source(),
        &alice.store,
        &third,
        quiet(),
        &CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(refused_code(&e), Some(FileErrorCode::QuotaExceeded), "{e}");
    let usage = transfer::usage(&ep).await.unwrap();
    assert_eq!(usage.room_used_bytes, 2_000_000);
    // Chat goes on.
    let sent = alice.client.send(h.room, "still talking").unwrap();
    until(&mut alice.events, "the ack", |e| match e {
        ClientEvent::Ack { client_msg_id, .. } if *client_msg_id == sent.client_msg_id => Some(()),
        _ => None,
    })
    .await;
}

/// A TCP relay between a client and the host that can cut every connection through it
/// once a number of bytes has passed in one direction, and counts what passed.
struct Cutter {
    addr: std::net::SocketAddr,
    up: Arc<AtomicU64>,
    down: Arc<AtomicU64>,
}

impl Cutter {
    /// Cuts once: when `up_at` bytes went to the host, or `down_at` came from it.
    async fn start(target: std::net::SocketAddr, up_at: u64, down_at: u64) -> Cutter {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (up, down) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let cut = Arc::new(tokio::sync::Notify::new());
        let fired = Arc::new(AtomicBool::new(false));
        let (u, d) = (Arc::clone(&up), Arc::clone(&down));
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let Ok(host) = tokio::net::TcpStream::connect(target).await else {
                    return;
                };
                let (cut, fired, u, d) = (
                    Arc::clone(&cut),
                    Arc::clone(&fired),
                    Arc::clone(&u),
                    Arc::clone(&d),
                );
                tokio::spawn(async move {
                    let (cr, cw) = client.into_split();
                    let (hr, hw) = host.into_split();
                    let cut2 = Arc::clone(&cut);
                    tokio::select! {
                        _ = pump(cr, hw, u, up_at, Arc::clone(&cut), Arc::clone(&fired)) => {}
                        _ = pump(hr, cw, d, down_at, cut, fired) => {}
                        _ = cut2.notified() => {}
                    }
                    // Dropping both halves resets the link mid-transfer.
                });
            }
        });
        Cutter { addr, up, down }
    }

    /// The endpoint of `m`'s room, through this relay.
    fn source(&self, m: &Member) -> Source {
        let (inner, addr) = (m.source(), self.addr);
        Arc::new(move || {
            inner().map(|mut ep| {
                ep.authority = addr.to_string();
                ep
            })
        })
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    count: Arc<AtomicU64>,
    at: u64,
    cut: Arc<tokio::sync::Notify>,
    fired: Arc<AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = from.read(&mut buf).await.unwrap_or(0);
        if n == 0 || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
        let total = count.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
        if total >= at && !fired.swap(true, Ordering::SeqCst) {
            cut.notify_waiters();
            return;
        }
    }
}

/// The lowest offset reported after the transfer had passed `floor`: where it resumed.
fn resumes() -> (Progress, Arc<std::sync::Mutex<Vec<u64>>>) {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    (Arc::new(move |done, _| s.lock().unwrap().push(done)), seen)
}

#[tokio::test]
async fn an_upload_cut_mid_file_resumes_and_sends_only_the_rest() {
    let h = tls_host().await;
    let alice = Member::join(&h, h.room, "Alice").await;
    let size = 12 * 1024 * 1024;
    let src = tempfile::tempdir().unwrap();
    let path = random_file(src.path(), "video.mp4", size);
    let (id, _) = hearth::files::hash_file(&path).unwrap();
    let relay = Cutter::start(h.addr, 5 * 1024 * 1024, u64::MAX).await;
    let (progress, seen) = resumes();
    transfer::upload(
        &relay.source(&alice),
        &alice.store,
        &path,
        &id,
        size as u64,
        progress,
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(blobs(&h), vec![id.clone()]);
    let sent = relay.up.load(Ordering::SeqCst);
    assert!(
        sent < size as u64 * 13 / 10,
        "{sent} bytes went up for a {size}-byte file: it started over"
    );
    // After the cut, progress went on from past 2 MiB, never from zero.
    let seen = seen.lock().unwrap().clone();
    let peak = seen.iter().position(|&d| d >= 5 * 1024 * 1024).unwrap();
    let after = seen[peak..].iter().min().copied().unwrap();
    assert!(after >= 2 * 1024 * 1024, "resumed from {after}");
    assert_eq!(*seen.last().unwrap(), size as u64);
}

#[tokio::test]
async fn a_download_cut_mid_file_resumes_with_a_range_and_checks_the_hash() {
    let h = tls_host().await;
    let alice = Member::join(&h, h.room, "Alice").await;
    let mut bob = Member::join(&h, h.room, "Bob").await;
    let size = 12 * 1024 * 1024;
    let src = tempfile::tempdir().unwrap();
    let path = random_file(src.path(), "archive.tar", size);
    alice.send_files(&path, "").await;
    let a = bob.message_with_files().await.attachments[0].clone();
    let relay = Cutter::start(h.addr, u64::MAX, 5 * 1024 * 1024).await;
    let (progress, seen) = resumes();
    let got = transfer::download(
        &relay.source(&bob),
        &bob.store,
        &bob.cache(),
        &a.file_id,
        a.size,
        progress,
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(hearth::files::hash_file(&got).unwrap().0, a.file_id);
    let came = relay.down.load(Ordering::SeqCst);
    assert!(
        came < size as u64 * 13 / 10,
        "{came} bytes came down: it started over"
    );
    let seen = seen.lock().unwrap().clone();
    let peak = seen.iter().position(|&d| d >= 4 * 1024 * 1024).unwrap();
    let after = seen[peak..].iter().min().copied().unwrap();
    assert!(after >= 2 * 1024 * 1024, "resumed from {after}");
}

#[tokio::test]
async fn a_cancelled_upload_leaves_nothing_on_the_host() {
    let h = tls_host().await;
    let alice = Member::join(&h, h.room, "Alice").await;
    let src = tempfile::tempdir().unwrap();
    let size = 64 * 1024 * 1024;
    let path = random_file(src.path(), "huge.bin", size);
    let (id, _) = hearth::files::hash_file(&path).unwrap();
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    let progress: Progress = Arc::new(move |done, _| {
        if done > 4 * 1024 * 1024 {
            c.cancel();
        }
    });
    let e = transfer::upload(
        &alice.source(),
        &alice.store,
        &path,
        &id,
        size as u64,
        progress,
        &cancel,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, TransferError::Cancelled), "{e}");
    assert!(blobs(&h).is_empty());
    common::eventually("the partial upload deleted", WAIT, async || {
        std::fs::read_dir(h.dir.path().join("files/partial"))
            .unwrap()
            .count()
            == 0
    })
    .await;
    let usage = transfer::usage(&alice.client.files(h.room).unwrap())
        .await
        .unwrap();
    assert_eq!(
        usage.room_used_bytes, 0,
        "its quota reservation is released"
    );
}

#[tokio::test]
async fn a_deleted_messages_file_leaves_the_host_once_no_message_carries_it() {
    let h = tls_host().await;
    let mut alice = Member::join(&h, h.room, "Alice").await;
    let mut bob = Member::join(&h, h.room, "Bob").await;
    let src = tempfile::tempdir().unwrap();
    let path = random_file(src.path(), "plan.pdf", 200_000);
    alice.send_files(&path, "first").await;
    let first = bob.message_with_files().await;
    alice.send_files(&path, "second").await;
    let second = bob.message_with_files().await;
    let a = first.attachments[0].clone();

    let delete = |m: &ChatMessage| Relation::action(hearth::protocol::relations::DELETE, m.seq);
    alice.client.send_with(h.room, "", &delete(&first)).unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        blobs(&h),
        vec![a.file_id.clone()],
        "the second message still carries it"
    );
    alice
        .client
        .send_with(h.room, "", &delete(&second))
        .unwrap();
    common::eventually("the blob deleted", WAIT, async || blobs(&h).is_empty()).await;
    let e = bob.download(&a).await.unwrap_err();
    assert_eq!(refused_code(&e), Some(FileErrorCode::NotFound), "{e}");
    let _ = alice.events.try_recv();
}

/// The host's data directory on a small tmpfs: an upload that does not fit fails with
/// `storage_full`, its bytes are given back, and the room goes on.
#[tokio::test]
async fn a_full_disk_on_the_host_fails_the_upload_cleanly() {
    let mnt = SmallDisk::mount();
    let dir = tempfile::tempdir_in(mnt.path()).unwrap();
    let h = tls_host_in(dir, Limits::default()).await;
    let mut alice = Member::join(&h, h.room, "Alice").await;
    let src = tempfile::tempdir().unwrap();
    let path = random_file(src.path(), "too-big.bin", 40 * 1024 * 1024);
    let f = transfer::prepare(&path).await.unwrap();
    let e = transfer::upload_attachment(
        &alice.source(),
        &alice.store,
        &f,
        quiet(),
        &CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(refused_code(&e), Some(FileErrorCode::StorageFull), "{e}");
    let partial: u64 = std::fs::read_dir(h.dir.path().join("files/partial"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert_eq!(partial, 0, "the space is given back");
    let sent = alice.client.send(h.room, "the chat still works").unwrap();
    until(&mut alice.events, "the ack", |e| match e {
        ClientEvent::Ack { client_msg_id, .. } if *client_msg_id == sent.client_msg_id => Some(()),
        _ => None,
    })
    .await;
}

/// A 24 MiB tmpfs, unmounted when dropped.
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn mount() -> SmallDisk {
        if unsafe { libc::geteuid() } != 0 {
            panic!("this test mounts a tmpfs and needs root (CI runs as root)");
        }
        let mnt = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=24m", "tmpfs"])
            .arg(mnt.path())
            .status()
            .unwrap();
        assert!(ok.success(), "mount tmpfs");
        SmallDisk(mnt)
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.0.path())
            .status();
    }
}

/// Bob's data directory on a small tmpfs: a download that does not fit fails with
/// `disk_full`, its bytes are given back, and Bob's chat (same disk) goes on.
#[tokio::test]
async fn a_full_disk_on_a_member_fails_the_download_cleanly() {
    let mnt = SmallDisk::mount();
    let h = tls_host().await;
    let alice = Member::join(&h, h.room, "Alice").await;
    let bob_dir = tempfile::tempdir_in(mnt.path()).unwrap();
    let mut bob = Member::join_in(&h, h.room, "Bob", bob_dir).await;
    let src = tempfile::tempdir().unwrap();
    let path = random_file(src.path(), "raw-footage.mov", 40 * 1024 * 1024);
    alice.send_files(&path, "the footage").await;
    let a = bob.message_with_files().await.attachments[0].clone();
    let e = bob.download(&a).await.unwrap_err();
    assert_eq!(e.code(), "disk_full", "{e}");
    let partial: u64 = std::fs::read_dir(bob.dir.path().join("files/cache/partial"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert_eq!(partial, 0, "the space is given back");
    assert!(!bob.cache().path(&a.file_id).exists());
    let sent = bob.client.send(h.room, "no room for it here").unwrap();
    until(&mut bob.events, "the ack", |e| match e {
        ClientEvent::Ack { client_msg_id, .. } if *client_msg_id == sent.client_msg_id => Some(()),
        _ => None,
    })
    .await;
    // A smaller file still comes down into the space given back.
    let small = random_file(src.path(), "still-photo.jpg", 2 * 1024 * 1024);
    alice.send_files(&small, "").await;
    let b = bob.message_with_files().await.attachments[0].clone();
    let got = bob.download(&b).await.unwrap();
    assert_eq!(hearth::files::hash_file(&got).unwrap().0, b.file_id);
}
