//! Files (docs/protocol.md §3.10, §15): content-addressed blobs sent over HTTP on the
//! host's own TLS port, resumable both ways.
//!
//! - `host_files`: the host's blobs on disk, uploads under way, and the sweeper;
//! - `receive`: one upload request's bytes, streamed to disk and hashed off the runtime;
//! - `http`: the host's endpoints (axum), behind the same listener as the WebSocket;
//! - `grants`: the bearer tokens that `joined` hands out;
//! - `transfer`: the client side, uploads and downloads that resume where they stopped;
//! - `cache`: the client's cache of downloaded files, with its size limit;
//! - `byte_range`: reading a `Range` header;
//! - `save_name`: turning a sender's file name into one safe to save;
//! - `thumbnail`: the sender's previews of images.

pub mod byte_range;
pub mod cache;
pub mod grants;
mod host_files;
pub(crate) mod http;
mod receive;
pub mod save_name;
pub mod thumbnail;
pub mod transfer;

pub(crate) use host_files::HostFiles;

use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// Hex of a SHA-256 digest.
pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Streams a file through SHA-256: its file id and size. Blocking: run it off the
/// runtime.
pub fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex(&h.finalize()), size))
}

/// The first `len` bytes of a file through SHA-256 (an upload resumed after a restart
/// of the host, whose running hash was lost).
pub(crate) fn hash_prefix(path: &Path, len: u64) -> std::io::Result<Sha256> {
    let f = std::fs::File::open(path)?;
    let mut r = f.take(len);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h)
}

/// Is this I/O error a full disk (or quota)?
pub fn is_disk_full(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull || e.raw_os_error() == Some(28) // ENOSPC
}
