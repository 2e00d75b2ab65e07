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
use hearth::protocol::files::{human_size, is_file_id, MAX_ATTACHMENTS};
use hearth::protocol::relations::Relation;
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
    /// Fetches of the same file share one download (a preview shown twice).
    fetching: tokio::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    pub(super) cache: FileCache,
}

impl Transfers {
    pub(super) fn open(data_dir: &Path) -> Result<Transfers, AppError> {
        Ok(Transfers {
            next: 1.into(),
            running: Default::default(),
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
        Arc::new(Report {
            app: app.clone(),
            view: std::sync::Mutex::new(view),
            last: std::sync::Mutex::new(Instant::now()),
        })
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
    /// (resuming an earlier upload of the same file), then sent. Returns at once with the
    /// transfer's id; its progress and end arrive as events.
    pub fn send_files(
        &self,
        room_id: Uuid,
        paths: Vec<PathBuf>,
        caption: String,
        relation: Relation,
    ) -> Result<u64, AppError> {
        if paths.is_empty() || paths.len() > MAX_ATTACHMENTS {
            return Err(AppError::Invalid(format!(
                "A message carries 1 to {MAX_ATTACHMENTS} files."
            )));
        }
        let src = self.files_source(room_id)?;
        let (id, cancel) = self.start_transfer();
        let name = match paths.len() {
            1 => file_name(&paths[0]),
            n => format!("{} + {} more", file_name(&paths[0]), n - 1),
        };
        let report = Report::new(
            self,
            TransferView {
                id,
                room_id,
                direction: TransferDirection::Upload,
                name,
                done: 0,
                total: 0,
                state: TransferState::Preparing,
                file_id: None,
                paths: paths.iter().map(|p| p.display().to_string()).collect(),
                caption: caption.clone(),
                error: None,
            },
        );
        let app = self.clone();
        self.inner.runtime.spawn(async move {
            let result = app
                .upload_and_send(room_id, &src, &paths, &caption, relation, &report, &cancel)
                .await;
            lock(&app.inner.transfers.running).remove(&id);
            report.end(result.as_ref().map(|_| ()));
        });
        Ok(id)
    }

    #[allow(clippy::too_many_arguments)]
    async fn upload_and_send(
        &self,
        room_id: Uuid,
        src: &Source,
        paths: &[PathBuf],
        caption: &str,
        mut relation: Relation,
        report: &Arc<Report>,
        cancel: &CancellationToken,
    ) -> Result<(), AppError> {
        let ep = src().ok_or(AppError::NotJoined)?;
        let mut files = Vec::new();
        for p in paths {
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
        let mut base = 0;
        for f in &files {
            let a = transfer::upload_attachment(
                src,
                &self.inner.store,
                f,
                report.progress(base),
                cancel,
            )
            .await?;
            relation.attachments.push(a);
            base += f.size;
        }
        self.send_with(room_id, caption, &relation)?;
        Ok(())
    }

    /// Sends pasted bytes (a screenshot) as a file named `name`: kept in the data
    /// directory first, so that the upload can resume like any other.
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
            if hearth::files::is_disk_full(&e) {
                AppError::Store(hearth::StoreError::DiskFull)
            } else {
                AppError::Invalid(format!("cannot keep the pasted file: {e}"))
            }
        })?;
        self.send_files(room_id, vec![path], caption, Relation::default())
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

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into())
}
