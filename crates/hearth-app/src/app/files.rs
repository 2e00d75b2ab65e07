//! Files in the app (protocol §3.10, §15): sending a message's files (picked, dropped or
//! pasted), fetching a file into the local cache (previews, downloads), saving and the
//! cache's size limit. Every transfer reports to the UI as [`AppEvent::Transfer`] and
//! can be cancelled.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hearth::files::cache::FileCache;
use hearth::files::transfer::{self, Progress, Source};
use hearth::protocol::files::{human_size, is_file_id, Attachment, MAX_ATTACHMENTS};
use hearth::protocol::relations::Relation;
use hearth::Store;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{lock, App};
use crate::views::*;
use crate::AppError;

/// Progress reaches the UI at most this often per transfer.
const PROGRESS_EVERY: Duration = Duration::from_millis(150);

/// Transfers under way, and the cache they fill.
pub(super) struct Transfers {
    next: std::sync::atomic::AtomicU64,
    running: std::sync::Mutex<std::collections::HashMap<u64, CancellationToken>>,
    /// The transfers under way as the UI shows them, for a UI that (re)subscribes.
    shown: std::sync::Mutex<std::collections::HashMap<u64, std::sync::Weak<Report>>>,
    /// Fetches of the same file share one download (a preview shown twice).
    fetching: tokio::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    pub(super) cache: FileCache,
}

impl Transfers {
    pub(super) fn open(data_dir: &Path) -> Result<Transfers, AppError> {
        Ok(Transfers {
            next: 1.into(),
            running: Default::default(),
            shown: Default::default(),
            fetching: Default::default(),
            cache: FileCache::open(data_dir)
                .map_err(|e| AppError::Invalid(format!("cannot create the file cache: {e}")))?,
        })
    }
}

/// One transfer's view, and its throttled reports to the UI.
struct Report {
    app: App,
    view: std::sync::Mutex<TransferView>,
    last: std::sync::Mutex<Instant>,
}

impl Report {
    fn new(app: &App, view: TransferView) -> Arc<Report> {
        app.emit(AppEvent::Transfer {
            transfer: view.clone(),
        });
        let id = view.id;
        let r = Arc::new(Report {
            app: app.clone(),
            view: std::sync::Mutex::new(view),
            last: std::sync::Mutex::new(Instant::now()),
        });
        lock(&app.inner.transfers.shown).insert(id, Arc::downgrade(&r));
        r
    }

    fn update(&self, f: impl FnOnce(&mut TransferView), force: bool) {
        let view = {
            let mut v = lock(&self.view);
            f(&mut v);
            v.clone()
        };
        let mut last = lock(&self.last);
        if force || last.elapsed() >= PROGRESS_EVERY {
            *last = Instant::now();
            self.app.emit(AppEvent::Transfer { transfer: view });
        }
    }

    /// Progress of the part that starts at `base` bytes of the whole.
    fn progress(self: &Arc<Self>, base: u64) -> Progress {
        let r = Arc::clone(self);
        Arc::new(move |done, _| {
            r.update(
                |v| {
                    v.state = TransferState::Running;
                    v.done = base + done;
                },
                false,
            )
        })
    }

    fn end(&self, result: Result<(), &AppError>) {
        let id = lock(&self.view).id;
        lock(&self.app.inner.transfers.shown).remove(&id);
        self.update(
            |v| match result {
                Ok(()) => {
                    v.state = TransferState::Done;
                    v.done = v.total;
                }
                Err(AppError::Transfer(hearth::files::transfer::TransferError::Cancelled)) => {
                    v.state = TransferState::Cancelled
                }
                Err(e) => {
                    v.state = TransferState::Failed;
                    v.error = Some(TransferFailure {
                        code: e.code().to_string(),
                        message: e.message(),
                    });
                }
            },
            true,
        );
    }
}

impl App {
    fn files_source(&self, room_id: Uuid) -> Result<Source, AppError> {
        let client = self.client_for(room_id).ok_or(AppError::NotJoined)?;
        Ok(Arc::new(move || client.files(room_id)))
    }

    fn start_transfer(&self) -> (u64, CancellationToken) {
        let t = &self.inner.transfers;
        let id = t.next.fetch_add(1, Ordering::Relaxed);
        let cancel = CancellationToken::new();
        lock(&t.running).insert(id, cancel.clone());
        (id, cancel)
    }

    /// The transfers under way, as their latest events showed them (a UI that starts
    /// after them, or resyncs, reads them here). In memory.
    pub fn transfers(&self) -> Vec<TransferView> {
        let mut views: Vec<TransferView> = lock(&self.inner.transfers.shown)
            .values()
            .filter_map(|r| r.upgrade())
            .map(|r| lock(&r.view).clone())
            .collect();
        views.sort_by_key(|v| v.id);
        views
    }

    /// Cancels a transfer (an upload is dropped on the host too). False if it is over.
    pub fn cancel_transfer(&self, id: u64) -> bool {
        match lock(&self.inner.transfers.running).remove(&id) {
            Some(c) => {
                c.cancel();
                true
            }
            None => false,
        }
    }

    /// The room's file limits and usage, from its host.
    pub async fn file_limits(&self, room_id: Uuid) -> Result<FileLimitsView, AppError> {
        let src = self.files_source(room_id)?;
        let ep = src().ok_or(AppError::NotJoined)?;
        let u = transfer::usage(&ep).await?;
        Ok(FileLimitsView {
            max_file_bytes: u.max_file_bytes,
            room_quota_bytes: u.room_quota_bytes,
            room_used_bytes: u.room_used_bytes,
        })
    }

    /// Sends `paths` as one message with `caption`: hashed, previews made, uploaded
    /// (resuming an earlier upload of the same file), then sent. The message is kept in
    /// the store until it is sent, so a restart of the app resumes it. Returns at once
    /// with the transfer's id; its progress and end arrive as events. Blocking.
    pub fn send_files(
        &self,
        room_id: Uuid,
        paths: Vec<PathBuf>,
        caption: String,
        relation: Relation,
    ) -> Result<u64, AppError> {
        self.queue_send(PendingSend {
            room_id,
            paths,
            caption,
            relation,
            pasted: false,
        })
    }

    fn queue_send(&self, pending: PendingSend) -> Result<u64, AppError> {
        if pending.paths.is_empty() || pending.paths.len() > MAX_ATTACHMENTS {
            return Err(AppError::Invalid(format!(
                "A message carries 1 to {MAX_ATTACHMENTS} files."
            )));
        }
        if self.client_for(pending.room_id).is_none() {
            return Err(AppError::NotJoined);
        }
        let key = format!("{PENDING_SEND}{}", Uuid::now_v7());
        let json =
            serde_json::to_string(&pending).map_err(|e| AppError::Internal(e.to_string()))?;
        self.inner.store.set_setting(&key, &json)?;
        Ok(self.run_send(key, pending))
    }

    /// Starts again the messages with files that an earlier run of the app did not get
    /// to send. Blocking (reads the store).
    pub(super) fn resume_sends(&self) -> Result<usize, AppError> {
        let pending = self.inner.store.settings_with_prefix(PENDING_SEND)?;
        let mut resumed = 0;
        for (key, json) in pending {
            match serde_json::from_str::<PendingSend>(&json) {
                Ok(p) if self.client_for(p.room_id).is_some() => {
                    tracing::info!(files = p.paths.len(), "resuming a message with files");
                    self.run_send(key, p);
                    resumed += 1;
                }
                // Its room was left, or it cannot be read: nothing can send it.
                Ok(p) => {
                    discard_pasted(&p);
                    self.inner.store.delete_setting(&key)?;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "dropping an unreadable queued file message");
                    self.inner.store.delete_setting(&key)?;
                }
            }
        }
        Ok(resumed)
    }

    fn run_send(&self, key: String, pending: PendingSend) -> u64 {
        let (id, cancel) = self.start_transfer();
        let name = match pending.paths.len() {
            1 => file_name(&pending.paths[0]),
            n => format!("{} + {} more", file_name(&pending.paths[0]), n - 1),
        };
        let report = Report::new(
            self,
            TransferView {
                id,
                room_id: pending.room_id,
                direction: TransferDirection::Upload,
                name,
                done: 0,
                total: 0,
                state: TransferState::Preparing,
                file_id: None,
                paths: pending
                    .paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect(),
                caption: pending.caption.clone(),
                error: None,
            },
        );
        let app = self.clone();
        self.inner.runtime.spawn(async move {
            let result = app.upload_and_send(&pending, &report, &cancel).await;
            lock(&app.inner.transfers.running).remove(&id);
            // A link that failed leaves the message queued for the next start; an answer
            // (sent, cancelled, refused) ends it.
            let keep = matches!(&result, Err(AppError::Transfer(e)) if e.transient());
            let (store, cache) = (
                Arc::clone(&app.inner.store),
                app.inner.transfers.cache.clone(),
            );
            let sent = result.as_ref().ok().cloned();
            let done = tokio::task::spawn_blocking(move || {
                if keep {
                    return Ok(());
                }
                match sent {
                    Some(attachments) if pending.pasted => {
                        keep_pasted(&store, &cache, &pending, &attachments)
                    }
                    _ => discard_pasted(&pending),
                }
                store.delete_setting(&key)
            })
            .await;
            if let Ok(Err(e)) = done {
                tracing::warn!(error = %e, "could not update the queued file message");
            }
            report.end(result.as_ref().map(|_| ()));
        });
        id
    }

    async fn upload_and_send(
        &self,
        pending: &PendingSend,
        report: &Arc<Report>,
        cancel: &CancellationToken,
    ) -> Result<Vec<Attachment>, AppError> {
        let room_id = pending.room_id;
        // Until the room is joined (an app just started, a host not back yet) it waits,
        // as a message in the outbox does.
        let client = self.client_for(room_id).ok_or(AppError::NotJoined)?;
        let ep = loop {
            tokio::select! {
                ep = client.files_when_joined(room_id, Duration::from_secs(30)) => {
                    if let Some(ep) = ep {
                        break ep;
                    }
                }
                _ = cancel.cancelled() => return Err(transfer::TransferError::Cancelled.into()),
            }
        };
        let src: Source = Arc::new(move || client.files(room_id));
        let mut files = Vec::new();
        for p in &pending.paths {
            let f = tokio::select! {
                f = transfer::prepare(p) => f?,
                _ = cancel.cancelled() => return Err(transfer::TransferError::Cancelled.into()),
            };
            // Said before a byte is sent (the host checks again).
            if f.size > ep.grant.max_file_bytes {
                return Err(AppError::Invalid(format!(
                    "{} is {}; this room's host takes files up to {}.",
                    f.name,
                    human_size(f.size),
                    human_size(ep.grant.max_file_bytes)
                )));
            }
            files.push(f);
        }
        let total: u64 = files.iter().map(|f| f.size).sum();
        report.update(
            |v| {
                v.total = total;
                v.state = TransferState::Running;
            },
            true,
        );
        let mut relation = pending.relation.clone();
        relation.attachments.clear();
        let mut base = 0;
        for f in &files {
            let a = transfer::upload_attachment(
                &src,
                &self.inner.store,
                f,
                report.progress(base),
                cancel,
            )
            .await?;
            relation.attachments.push(a);
            base += f.size;
        }
        let app = self.clone();
        let (caption, rel) = (pending.caption.clone(), relation.clone());
        tokio::task::spawn_blocking(move || app.send_with(room_id, &caption, &rel))
            .await
            .map_err(|e| AppError::Internal(e.to_string()))??;
        Ok(relation.attachments)
    }

    /// Sends pasted bytes (a screenshot) as a file named `name`: kept in the data
    /// directory first, so that the upload can resume like any other, and moved into
    /// the cache once sent (the sender sees it offline too). Blocking.
    pub fn send_bytes(
        &self,
        room_id: Uuid,
        name: &str,
        bytes: &[u8],
        caption: String,
    ) -> Result<u64, AppError> {
        let dir = self.inner.config.data_dir.join("files").join("outgoing");
        std::fs::create_dir_all(&dir)
            .map_err(|e| AppError::Invalid(format!("cannot keep the pasted file: {e}")))?;
        let safe = hearth::files::save_name::safe_name(name);
        let path = dir.join(format!("{}-{safe}", Uuid::now_v7().simple()));
        std::fs::write(&path, bytes).map_err(|e| {
            let _ = std::fs::remove_file(&path);
            if hearth::files::is_disk_full(&e) {
                AppError::Store(hearth::StoreError::DiskFull)
            } else {
                AppError::Invalid(format!("cannot keep the pasted file: {e}"))
            }
        })?;
        let queued = self.queue_send(PendingSend {
            room_id,
            paths: vec![path.clone()],
            caption,
            relation: Relation::default(),
            pasted: true,
        });
        if queued.is_err() {
            let _ = std::fs::remove_file(&path);
        }
        queued
    }

    /// A room's file in the local cache, fetched (or resumed) first if need be: its path.
    /// `report` makes it a transfer the UI shows (a download the user asked for); a
    /// preview is fetched quietly.
    pub async fn fetch_file(
        &self,
        room_id: Uuid,
        file_id: &str,
        size: u64,
        name: &str,
        report: bool,
    ) -> Result<PathBuf, AppError> {
        if !is_file_id(file_id) {
            return Err(AppError::Invalid("not a file id".into()));
        }
        let cache = self.inner.transfers.cache.clone();
        let store = Arc::clone(&self.inner.store);
        {
            let (c, s, id) = (cache.clone(), Arc::clone(&store), file_id.to_string());
            let found = tokio::task::spawn_blocking(move || c.get(&s, &id))
                .await
                .map_err(|e| AppError::Internal(e.to_string()))??;
            if let Some(p) = found {
                return Ok(p);
            }
        }
        // One download per file at a time; a second caller waits and finds it cached.
        let gate = {
            let mut map = self.inner.transfers.fetching.lock().await;
            Arc::clone(map.entry(file_id.to_string()).or_default())
        };
        let _turn = gate.lock().await;
        let src = self.files_source(room_id)?;
        let (id, cancel) = self.start_transfer();
        let rep = report.then(|| {
            Report::new(
                self,
                TransferView {
                    id,
                    room_id,
                    direction: TransferDirection::Download,
                    name: name.to_string(),
                    done: 0,
                    total: size,
                    state: TransferState::Running,
                    file_id: Some(file_id.to_string()),
                    paths: Vec::new(),
                    caption: String::new(),
                    error: None,
                },
            )
        });
        let progress: Progress = match &rep {
            Some(r) => r.progress(0),
            None => Arc::new(|_, _| {}),
        };
        let result = transfer::download(&src, &store, &cache, file_id, size, progress, &cancel)
            .await
            .map_err(AppError::from);
        lock(&self.inner.transfers.running).remove(&id);
        if let Some(r) = &rep {
            r.end(result.as_ref().map(|_| ()));
        }
        let path = result?;
        let limit = self.settings()?.file_cache_bytes;
        let (c, s) = (cache, store);
        let _ = tokio::task::spawn_blocking(move || c.trim(&s, limit)).await;
        Ok(path)
    }

    /// Saves a room's file to `dest` (chosen by the user), fetching it first if need be.
    pub async fn save_file(
        &self,
        room_id: Uuid,
        file_id: &str,
        size: u64,
        name: &str,
        dest: PathBuf,
    ) -> Result<PathBuf, AppError> {
        let from = self.fetch_file(room_id, file_id, size, name, true).await?;
        let to = dest.clone();
        tokio::task::spawn_blocking(move || std::fs::copy(&from, &to))
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?
            .map_err(|e| {
                if hearth::files::is_disk_full(&e) {
                    AppError::Store(hearth::StoreError::DiskFull)
                } else {
                    AppError::Invalid(format!("cannot write {}: {e}", dest.display()))
                }
            })?;
        Ok(dest)
    }

    /// Keeps a downloaded file out of the cache's eviction (or lets it go again).
    pub fn keep_file(&self, file_id: &str, keep: bool) -> Result<bool, AppError> {
        Ok(self.inner.store.cache_keep(file_id, keep)?)
    }

    /// What the cache holds: (bytes, files).
    pub fn file_cache_usage(&self) -> Result<(u64, usize), AppError> {
        let files = self.inner.store.cache_files()?;
        Ok((files.iter().map(|f| f.1).sum(), files.len()))
    }

    /// Where the cache keeps a file (whether or not it is there yet).
    pub fn cached_path(&self, file_id: &str) -> Option<PathBuf> {
        is_file_id(file_id).then(|| self.inner.transfers.cache.path(file_id))
    }
}

/// A message with files not sent yet, as kept in the store (setting `file-send:ID`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct PendingSend {
    room_id: Uuid,
    paths: Vec<PathBuf>,
    caption: String,
    relation: Relation,
    /// The files are the app's own copies of pasted bytes.
    #[serde(default)]
    pasted: bool,
}

const PENDING_SEND: &str = "file-send:";

/// A sent paste's copy becomes the cache's (it is the verified file by now). Blocking.
fn keep_pasted(store: &Store, cache: &FileCache, p: &PendingSend, sent: &[Attachment]) {
    for (path, a) in p.paths.iter().zip(sent) {
        let to = cache.path(&a.file_id);
        if to.exists() || std::fs::rename(path, &to).is_err() {
            let _ = std::fs::remove_file(path);
        } else if let Err(e) = store.cache_put(&a.file_id, a.size) {
            tracing::debug!(error = %e, "a sent paste stays out of the cache's list");
        }
    }
}

/// A paste that will not be sent is deleted (a picked file is the user's: left alone).
fn discard_pasted(p: &PendingSend) {
    if p.pasted {
        for path in &p.paths {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into())
}
