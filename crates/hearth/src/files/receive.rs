//! One request's bytes, an upload on the host (protocol §15.3) or a download on a
//! client (§15.4): streamed from the body through
//! a small bounded channel to a blocking thread that appends them to the partial file
//! and hashes them, so neither a whole file nor a hash's work ever sits on the runtime.

use std::io::Write;
use std::path::PathBuf;

use bytes::Bytes;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

/// Body chunks in flight between the connection and the disk (hyper's chunks are at
/// most a few hundred KiB: a few MiB per upload at worst).
const IN_FLIGHT: usize = 8;
/// Silence after which a request body counts as cut.
const STALL: std::time::Duration = std::time::Duration::from_secs(60);

/// How a request's body ended.
pub(crate) struct Received {
    /// The partial file's length now: every byte below it is written and hashed.
    pub offset: u64,
    /// The hash of those bytes (`None` if the writer failed unexpectedly: read it back).
    pub hash: Option<Sha256>,
    pub outcome: Outcome,
}

pub(crate) enum Outcome {
    /// The body ended normally.
    Done,
    /// The body would pass the upload's size.
    TooLong,
    /// The client went away mid-body (what was written stays, for the resume).
    Cut,
    /// Writing failed: a full disk, or another I/O error.
    DiskFull,
    Io(std::io::Error),
}

/// Appends `body` to the partial file `path` (at `offset`, its current length), up to
/// `size` bytes in all, hashing as it goes.
pub(crate) async fn receive<B, E>(
    path: PathBuf,
    offset: u64,
    size: u64,
    hash: Sha256,
    body: B,
) -> Received
where
    B: futures_util::Stream<Item = Result<Bytes, E>> + Unpin,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(IN_FLIGHT);
    let writer = tokio::task::spawn_blocking(move || {
        // Hashing runs beside writing, on a thread of its own: each takes about as long
        // as the other per byte, so in turn they halved the speed. It sees only chunks
        // written in full, so the hash always covers exactly the file's bytes.
        let (to_hash, hash_rx) = std::sync::mpsc::sync_channel::<Bytes>(IN_FLIGHT);
        let hasher = std::thread::Builder::new()
            .name("hearth-hash".into())
            .spawn(move || {
                let mut hash = hash;
                for chunk in hash_rx {
                    hash.update(&chunk);
                }
                hash
            });
        let hasher = match hasher {
            Ok(h) => h,
            Err(e) => return (offset, None, Some(e)),
        };
        let (written, err) = write_all(&path, offset, &mut rx, &to_hash);
        drop(to_hash);
        let hash = hasher.join().ok();
        (written, hash, err)
    });
    let mut body = body;
    let mut sent = offset;
    let mut outcome = Outcome::Done;
    loop {
        // A body that stops sending holds a writer thread: after a minute of silence it
        // counts as cut (what arrived stays, for the resume).
        let chunk = match tokio::time::timeout(STALL, body.next()).await {
            Ok(Some(Ok(c))) => c,
            Ok(None) => break,
            Ok(Some(Err(_))) | Err(_) => {
                outcome = Outcome::Cut;
                break;
            }
        };
        if sent + chunk.len() as u64 > size {
            outcome = Outcome::TooLong;
            break;
        }
        sent += chunk.len() as u64;
        if tx.send(chunk).await.is_err() {
            // The writer stopped on an error; it says which below.
            break;
        }
    }
    drop(tx);
    match writer.await {
        Ok((offset, hash, None)) => Received {
            offset,
            hash,
            outcome,
        },
        Ok((offset, hash, Some(e))) => Received {
            offset,
            hash,
            outcome: if super::is_disk_full(&e) {
                Outcome::DiskFull
            } else {
                Outcome::Io(e)
            },
        },
        Err(e) => Received {
            offset,
            hash: None,
            outcome: Outcome::Io(std::io::Error::other(e.to_string())),
        },
    }
}

/// Appends what arrives on `rx` to `path` (whose length is `offset`), passing each chunk
/// once written to `to_hash`; then syncs. Returns the length reached and any error.
fn write_all(
    path: &std::path::Path,
    offset: u64,
    rx: &mut tokio::sync::mpsc::Receiver<Bytes>,
    to_hash: &std::sync::mpsc::SyncSender<Bytes>,
) -> (u64, Option<std::io::Error>) {
    let mut written = offset;
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path);
    let mut file = match file {
        Ok(f) => f,
        Err(e) => return (written, Some(e)),
    };
    while let Some(chunk) = rx.blocking_recv() {
        if let Err(e) = file.write_all(&chunk) {
            // A short write leaves part of the chunk: cut back to what was hashed.
            let _ = file.set_len(written);
            return (written, Some(e));
        }
        written += chunk.len() as u64;
        if to_hash.send(chunk).is_err() {
            return (
                written,
                Some(std::io::Error::other("the hashing thread ended")),
            );
        }
    }
    // Durable before the client is told the new offset.
    (written, file.sync_data().err())
}
