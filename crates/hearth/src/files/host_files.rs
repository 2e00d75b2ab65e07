//! The host's files on disk: `files/blobs/<file_id>` once complete and verified,
//! `files/partial/<upload_id>` while an upload is under way. Which rooms hold which blob
//! is in the store; a blob no room holds is deleted by the sweeper.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::Sha256;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::grants::Grants;
use crate::store::Store;

/// How often the sweeper runs without being nudged.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

pub(crate) struct HostFiles {
    blobs: PathBuf,
    partial: PathBuf,
    grants: Grants,
    /// Running hashes of uploads, at the offset their partial file has: a resumed upload
    /// continues its hash instead of reading back what it sent.
    hashes: Mutex<HashMap<String, (u64, Sha256)>>,
    /// Uploads with a request writing to them now: a second one waits its turn (409).
    busy: Mutex<HashSet<String>>,
    nudge: Notify,
    /// Uploads writing at once, host-wide: each holds a blocking thread while it runs,
    /// and the blocking pool also serves the chat's database reads.
    writers: tokio::sync::Semaphore,
}

/// Uploads that may write at once; more wait their turn (a task each, not a thread).
const MAX_WRITERS: usize = 16;

/// Marks an upload busy until dropped.
pub(crate) struct Busy<'a> {
    files: &'a HostFiles,
    id: String,
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.files.lock_busy().remove(&self.id);
    }
}

impl HostFiles {
    /// The host's file directories inside `data_dir`, created if missing.
    pub fn open(data_dir: &Path) -> std::io::Result<HostFiles> {
        let root = data_dir.join("files");
        let blobs = root.join("blobs");
        let partial = root.join("partial");
        std::fs::create_dir_all(&blobs)?;
        std::fs::create_dir_all(&partial)?;
        Ok(HostFiles {
            blobs,
            partial,
            grants: Grants::default(),
            hashes: Mutex::new(HashMap::new()),
            busy: Mutex::new(HashSet::new()),
            nudge: Notify::new(),
            writers: tokio::sync::Semaphore::new(MAX_WRITERS),
        })
    }

    /// A turn to write an upload's bytes (the semaphore is never closed).
    pub async fn writer_turn(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.writers.acquire().await.ok()
    }

    pub fn grants(&self) -> &Grants {
        &self.grants
    }

    /// Where a complete blob is. `file_id` must have been checked (64 hex digits).
    pub fn blob_path(&self, file_id: &str) -> PathBuf {
        self.blobs.join(file_id)
    }

    /// Where an upload's bytes so far are. `upload_id` must have been checked.
    pub fn partial_path(&self, upload_id: &str) -> PathBuf {
        self.partial.join(upload_id)
    }

    pub fn take_busy(&self, upload_id: &str) -> Option<Busy<'_>> {
        self.lock_busy()
            .insert(upload_id.to_string())
            .then(|| Busy {
                files: self,
                id: upload_id.to_string(),
            })
    }

    fn lock_busy(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.busy.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The running hash of an upload, if it is at `offset`.
    pub fn take_hash(&self, upload_id: &str, offset: u64) -> Option<Sha256> {
        let mut map = self.hashes.lock().unwrap_or_else(|p| p.into_inner());
        match map.remove(upload_id) {
            Some((at, h)) if at == offset => Some(h),
            _ => None,
        }
    }

    pub fn put_hash(&self, upload_id: &str, offset: u64, h: Sha256) {
        self.hashes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(upload_id.to_string(), (offset, h));
    }

    pub fn forget_hash(&self, upload_id: &str) {
        self.hashes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(upload_id);
    }

    /// Asks for a sweep soon (a message with files was deleted).
    pub fn nudge(&self) {
        self.nudge.notify_one();
    }

    /// Deletes what no room needs any more: blobs no room holds, uploads abandoned for a
    /// week (and partial files no upload owns), files uploaded but never sent after a
    /// day. Blocking.
    pub fn sweep(&self, store: &Store) -> crate::store::Result<()> {
        let now = crate::protocol::now_ms();
        const DAY_MS: i64 = 24 * 60 * 60 * 1000;
        let (stale, orphans) = store.sweep_files(now - DAY_MS, now - 7 * DAY_MS)?;
        for id in orphans {
            remove_quietly(&self.blob_path(&id));
        }
        for id in &stale {
            self.forget_hash(id);
            remove_quietly(&self.partial_path(id));
        }
        // Partial files of uploads the store no longer knows (a crash between the two).
        let live: HashSet<String> = store.upload_ids()?.into_iter().collect();
        if let Ok(dir) = std::fs::read_dir(&self.partial) {
            for e in dir.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !live.contains(&name) && !self.lock_busy().contains(&name) {
                    remove_quietly(&e.path());
                }
            }
        }
        Ok(())
    }

    /// Runs the sweeper until shutdown.
    pub async fn run_sweeper(self: Arc<Self>, store: Arc<Store>, stop: CancellationToken) {
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = self.nudge.notified() => {
                    // The deletion that nudged is committed within a group commit.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                _ = tokio::time::sleep(SWEEP_EVERY) => {}
            }
            let (files, store) = (Arc::clone(&self), Arc::clone(&store));
            match tokio::task::spawn_blocking(move || files.sweep(&store)).await {
                Ok(Err(e)) => tracing::warn!(error = %e, "file sweep failed"),
                Err(e) => tracing::warn!(error = %e, "file sweep task failed"),
                Ok(Ok(())) => {}
            }
        }
    }
}

fn remove_quietly(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), error = %e, "cannot delete a file");
        }
    }
}
