//! The client side of files (protocol §15): uploads and downloads over HTTP/1.1 on the
//! host's pinned TLS port, each resuming where it stopped (a dropped link, a restart of
//! either side) instead of starting over. Neither side holds a whole file in memory.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::TryStreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::Frame;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, Response, StatusCode};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::cache::FileCache;
use super::http::{UPLOAD_LENGTH, UPLOAD_OFFSET};
use super::receive::{receive, Outcome};
use crate::protocol::files::{
    Attachment, FileErrorBody, FileErrorCode, FilesGrant, FilesUsage, NewUpload, Thumbnail,
    UploadCreated,
};
use crate::store::Store;

/// Where a room's files are: its host's address and certificate, and the grant of the
/// latest `joined`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `HOST:PORT`.
    pub authority: String,
    /// The pinned certificate's fingerprint; `None` on a plaintext connection.
    pub fingerprint: Option<String>,
    pub room_id: Uuid,
    pub grant: FilesGrant,
}

/// The current endpoint of a room, asked again before every retry: a reconnect brings a
/// new grant.
pub type Source = Arc<dyn Fn() -> Option<Endpoint> + Send + Sync>;

/// Bytes done and bytes in all, as a transfer goes.
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// Bytes read from the disk at a time for an upload.
const CHUNK: usize = 256 * 1024;
/// Retries without progress before a transfer gives up (it can be resumed later).
const MAX_STALLS: u32 = 12;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The host refused: its status and `{code, message}`.
    #[error("{message}")]
    Refused {
        status: u16,
        code: FileErrorCode,
        message: String,
    },
    #[error("cannot reach the host for the room's files: {0}")]
    Unreachable(String),
    #[error("the transfer stopped and could not go on: {0} (try again: it resumes)")]
    Interrupted(String),
    #[error("the room is not joined on a host that takes files")]
    NotJoined,
    #[error("cancelled")]
    Cancelled,
    #[error("the downloaded bytes do not match the file id: discarded")]
    HashMismatch,
    #[error("the disk is full")]
    DiskFull,
    #[error("{0}")]
    Local(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl TransferError {
    /// A stable code for the UI (`{code, message}`).
    pub fn code(&self) -> &'static str {
        match self {
            TransferError::Refused { code, .. } => match code {
                FileErrorCode::FileTooLarge => "file_too_large",
                FileErrorCode::QuotaExceeded => "quota_exceeded",
                FileErrorCode::StorageFull => "host_storage_full",
                FileErrorCode::HashMismatch => "hash_mismatch",
                FileErrorCode::NotFound => "file_not_found",
                FileErrorCode::NotAMember | FileErrorCode::TokenInvalid => "not_a_member",
                _ => "file_refused",
            },
            TransferError::Unreachable(_) => "host_unreachable",
            TransferError::Interrupted(_) => "transfer_interrupted",
            TransferError::NotJoined => "not_joined",
            TransferError::Cancelled => "cancelled",
            TransferError::HashMismatch => "hash_mismatch",
            TransferError::DiskFull => "disk_full",
            TransferError::Local(_) => "local_file",
            TransferError::Store(e) if e.is_full() => "disk_full",
            TransferError::Store(_) => "storage_error",
        }
    }

    /// Worth another try as is (the link, not the request, failed).
    pub fn transient(&self) -> bool {
        matches!(
            self,
            TransferError::Unreachable(_)
                | TransferError::Interrupted(_)
                | TransferError::Refused {
                    code: FileErrorCode::UploadBusy | FileErrorCode::TokenInvalid,
                    ..
                }
        )
    }
}

fn local(what: &str, e: std::io::Error) -> TransferError {
    if super::is_disk_full(&e) {
        TransferError::DiskFull
    } else {
        TransferError::Local(format!("{what}: {e}"))
    }
}

type Body = BoxBody<Bytes, std::io::Error>;

fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// Bytes read from the socket at once.
const READ_BUFFER: usize = 256 * 1024;

/// One HTTP/1.1 connection to the host (TLS with the pinned certificate).
struct Conn {
    send: SendRequest<Body>,
    ep: Endpoint,
}

impl Conn {
    async fn open(ep: &Endpoint) -> Result<Conn, TransferError> {
        let unreachable = |e: String| TransferError::Unreachable(format!("{}: {e}", ep.authority));
        let tcp = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio::net::TcpStream::connect(&ep.authority),
        )
        .await
        .map_err(|_| unreachable("timed out".into()))?
        .map_err(|e| unreachable(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        // rustls asks the socket for one TLS record (16 KiB) at a time: a read buffer
        // turns a download's 65,000 reads per GiB into about 4,000.
        let tcp = tokio::io::BufReader::with_capacity(READ_BUFFER, tcp);
        let io: Box<dyn crate::connection::Io> = match &ep.fingerprint {
            Some(fp) => {
                let verifier = crate::tls::PinVerifier::new(Some(fp.clone()));
                let config = verifier
                    .client_config()
                    .map_err(|e| unreachable(e.to_string()))?;
                let tls = tokio_rustls::TlsConnector::from(Arc::new(config));
                let s = tokio::time::timeout(
                    CONNECT_TIMEOUT,
                    tls.connect(crate::tls::server_name(), tcp),
                )
                .await
                .map_err(|_| unreachable("TLS handshake timed out".into()))?
                .map_err(|e| unreachable(format!("TLS: {e}")))?;
                Box::new(s)
            }
            None => Box::new(tcp),
        };
        let (send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "file connection ended");
            }
        });
        Ok(Conn {
            send,
            ep: ep.clone(),
        })
    }

    fn request(&self, method: Method, path: &str) -> hyper::http::request::Builder {
        Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, &self.ep.authority)
            .header(
                hyper::header::AUTHORIZATION,
                format!("Bearer {}", self.ep.grant.token),
            )
    }

    async fn send(
        &mut self,
        req: Request<Body>,
    ) -> Result<Response<hyper::body::Incoming>, TransferError> {
        self.send
            .ready()
            .await
            .map_err(|e| TransferError::Interrupted(e.to_string()))?;
        self.send
            .send_request(req)
            .await
            .map_err(|e| TransferError::Interrupted(e.to_string()))
    }

    fn room_path(&self, rest: &str) -> String {
        format!("/files/v1/rooms/{}/{rest}", self.ep.room_id)
    }
}

/// A refused request's error, from its `{code, message}` body (read up to 64 KiB).
async fn refused(resp: Response<hyper::body::Incoming>) -> TransferError {
    let status = resp.status().as_u16();
    let body = http_body_util::Limited::new(resp.into_body(), 64 * 1024)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    match serde_json::from_slice::<FileErrorBody>(&body) {
        Ok(b) => TransferError::Refused {
            status,
            code: b.code,
            message: b.message,
        },
        Err(_) => TransferError::Refused {
            status,
            code: FileErrorCode::Unknown,
            message: format!("the host answered {status}"),
        },
    }
}

async fn json_body<T: serde::de::DeserializeOwned>(
    resp: Response<hyper::body::Incoming>,
) -> Result<T, TransferError> {
    let body = http_body_util::Limited::new(resp.into_body(), 64 * 1024)
        .collect()
        .await
        .map_err(|e| TransferError::Interrupted(e.to_string()))?
        .to_bytes();
    serde_json::from_slice(&body)
        .map_err(|e| TransferError::Interrupted(format!("an answer this build cannot read: {e}")))
}

fn header_u64(resp: &Response<hyper::body::Incoming>, name: &str) -> Option<u64> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// The room's file limits and what its files take now (protocol §15.5).
pub async fn usage(ep: &Endpoint) -> Result<FilesUsage, TransferError> {
    let mut c = Conn::open(ep).await?;
    let req = c
        .request(Method::GET, &c.room_path("usage"))
        .body(empty())
        .map_err(|e| TransferError::Local(e.to_string()))?;
    let resp = c.send(req).await?;
    if resp.status() != StatusCode::OK {
        return Err(refused(resp).await);
    }
    json_body(resp).await
}

/// A local file, hashed, ready to upload.
#[derive(Debug, Clone)]
pub struct LocalFile {
    pub path: PathBuf,
    pub file_id: String,
    pub size: u64,
    pub name: String,
    pub mime: String,
    pub preview: Option<super::thumbnail::Preview>,
}

/// Hashes a file and, for an image, makes its preview. Runs off the runtime.
pub async fn prepare(path: &Path) -> Result<LocalFile, TransferError> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let meta = std::fs::metadata(&path).map_err(|e| local(&path.display().to_string(), e))?;
        if !meta.is_file() {
            return Err(TransferError::Local(format!(
                "{} is not a file",
                path.display()
            )));
        }
        let (file_id, size) =
            super::hash_file(&path).map_err(|e| local(&path.display().to_string(), e))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".into());
        let name: String = name
            .chars()
            .filter(|c| !c.is_control())
            .take(crate::protocol::files::MAX_FILE_NAME_CHARS)
            .collect();
        let mime = mime_guess::from_path(&path)
            .first()
            .map(|m| m.essence_str().to_string())
            .filter(|m| crate::protocol::files::is_mime(m))
            .unwrap_or_else(|| "application/octet-stream".into());
        let preview = super::thumbnail::is_previewable(&mime)
            .then(|| super::thumbnail::make(&path))
            .flatten();
        Ok(LocalFile {
            path,
            file_id,
            size,
            name,
            mime,
            preview,
        })
    })
    .await
    .map_err(|e| TransferError::Local(e.to_string()))?
}

/// Uploads a prepared file (and its preview first) and returns the attachment that a
/// message may then carry.
pub async fn upload_attachment(
    source: &Source,
    store: &Arc<Store>,
    file: &LocalFile,
    progress: Progress,
    cancel: &CancellationToken,
) -> Result<Attachment, TransferError> {
    let mut thumbnail = None;
    if let Some(p) = &file.preview {
        let id = super::hex(&<sha2::Sha256 as sha2::Digest>::digest(&p.bytes));
        let bytes = Bytes::from(p.bytes.clone());
        upload_bytes(source, &id, bytes, cancel).await?;
        thumbnail = Some(Thumbnail {
            file_id: id,
            size: p.bytes.len() as u64,
            mime: p.mime.to_string(),
            width: p.width,
            height: p.height,
        });
    }
    upload(
        source,
        store,
        &file.path,
        &file.file_id,
        file.size,
        progress,
        cancel,
    )
    .await?;
    Ok(Attachment {
        file_id: file.file_id.clone(),
        name: file.name.clone(),
        size: file.size,
        mime: file.mime.clone(),
        width: file.preview.as_ref().map(|p| p.image_width),
        height: file.preview.as_ref().map(|p| p.image_height),
        thumbnail,
    })
}

/// Uploads a small in-memory file (a preview) in one request.
async fn upload_bytes(
    source: &Source,
    file_id: &str,
    bytes: Bytes,
    cancel: &CancellationToken,
) -> Result<(), TransferError> {
    let ep = source().ok_or(TransferError::NotJoined)?;
    let mut c = Conn::open(&ep).await?;
    let size = bytes.len() as u64;
    let Some(upload_id) = create(&mut c, file_id, size).await? else {
        return Ok(());
    };
    let req = c
        .request(Method::PATCH, &c.room_path(&format!("uploads/{upload_id}")))
        .header(UPLOAD_OFFSET, "0")
        .header(
            hyper::header::CONTENT_TYPE,
            "application/offset+octet-stream",
        )
        .header(hyper::header::CONTENT_LENGTH, size)
        .body(Full::new(bytes).map_err(|never| match never {}).boxed())
        .map_err(|e| TransferError::Local(e.to_string()))?;
    let resp = tokio::select! {
        r = c.send(req) => r?,
        _ = cancel.cancelled() => return Err(TransferError::Cancelled),
    };
    if resp.status() != StatusCode::NO_CONTENT {
        return Err(refused(resp).await);
    }
    Ok(())
}

/// `POST …/uploads`: the new upload's id, or `None` when the room holds the file already.
async fn create(c: &mut Conn, file_id: &str, size: u64) -> Result<Option<String>, TransferError> {
    let body = serde_json::to_vec(&NewUpload {
        file_id: file_id.to_string(),
        size,
    })
    .unwrap_or_default();
    let req = c
        .request(Method::POST, &c.room_path("uploads"))
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(
            Full::new(Bytes::from(body))
                .map_err(|never| match never {})
                .boxed(),
        )
        .map_err(|e| TransferError::Local(e.to_string()))?;
    let resp = c.send(req).await?;
    match resp.status() {
        StatusCode::OK | StatusCode::CREATED => {
            let created: UploadCreated = json_body(resp).await?;
            Ok(if created.complete {
                None
            } else {
                created.upload_id
            })
        }
        _ => Err(refused(resp).await),
    }
}

/// Uploads the file at `path` (its id and size known), resuming this client's earlier
/// upload of it if there is one, and retrying through dropped links.
pub async fn upload(
    source: &Source,
    store: &Arc<Store>,
    path: &Path,
    file_id: &str,
    size: u64,
    progress: Progress,
    cancel: &CancellationToken,
) -> Result<(), TransferError> {
    let mut stalls = 0u32;
    let mut last_offset = None;
    loop {
        let ep = source().ok_or(TransferError::NotJoined)?;
        let attempt = upload_once(&ep, store, path, file_id, size, &progress);
        let result = tokio::select! {
            r = attempt => r,
            _ = cancel.cancelled() => Err((TransferError::Cancelled, None)),
        };
        let forget = |store: &Arc<Store>| {
            let (s, room, id) = (Arc::clone(store), ep.room_id, file_id.to_string());
            tokio::task::spawn_blocking(move || s.set_my_upload(room, &id, None))
        };
        match result {
            Ok(()) => {
                let _ = forget(store).await;
                progress(size, size);
                return Ok(());
            }
            Err((TransferError::Cancelled, _)) => {
                cancel_upload(&ep, store, file_id).await;
                let _ = forget(store).await;
                return Err(TransferError::Cancelled);
            }
            Err((e, offset)) if e.transient() => {
                if offset.is_some() && offset != last_offset {
                    stalls = 0;
                    last_offset = offset;
                } else {
                    stalls += 1;
                }
                if stalls >= MAX_STALLS {
                    return Err(e);
                }
                tracing::info!(error = %e, stalls, "upload interrupted; resuming");
                backoff(stalls, cancel).await?;
                if revoked(&e, &ep, source) {
                    return Err(e);
                }
            }
            Err((e, _)) => {
                let _ = forget(store).await;
                return Err(e);
            }
        }
    }
}

/// A refused token is worth another try only with a new one (the client joined again
/// after a reconnect); the same token again means the grant is gone (a removal).
fn revoked(e: &TransferError, used: &Endpoint, source: &Source) -> bool {
    matches!(
        e,
        TransferError::Refused {
            code: FileErrorCode::TokenInvalid,
            ..
        }
    ) && source().is_none_or(|now| now.grant.token == used.grant.token)
}

/// Waits before the next try: longer after each try that made no progress.
async fn backoff(stalls: u32, cancel: &CancellationToken) -> Result<(), TransferError> {
    let wait = Duration::from_millis(250u64 << stalls.min(5)).min(Duration::from_secs(5));
    tokio::select! {
        _ = tokio::time::sleep(wait) => Ok(()),
        _ = cancel.cancelled() => Err(TransferError::Cancelled),
    }
}

/// Tells the host to drop a cancelled upload (best effort: it sweeps it in a week
/// otherwise).
async fn cancel_upload(ep: &Endpoint, store: &Arc<Store>, file_id: &str) {
    let (s, room, id) = (Arc::clone(store), ep.room_id, file_id.to_string());
    let Ok(Ok(Some(upload_id))) = tokio::task::spawn_blocking(move || s.my_upload(room, &id)).await
    else {
        return;
    };
    let fut = async {
        // The host may still be reading the request that was cut (409 busy): a moment.
        for _ in 0..50 {
            let mut c = Conn::open(ep).await.ok()?;
            let req = c
                .request(
                    Method::DELETE,
                    &c.room_path(&format!("uploads/{upload_id}")),
                )
                .body(empty())
                .ok()?;
            if c.send(req).await.ok()?.status() != StatusCode::CONFLICT {
                return Some(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), fut).await;
}

/// One try: find (or start) the upload, learn its offset, send the rest. The error
/// comes with the offset last known, so that retries can tell progress from none.
async fn upload_once(
    ep: &Endpoint,
    store: &Arc<Store>,
    path: &Path,
    file_id: &str,
    size: u64,
    progress: &Progress,
) -> Result<(), (TransferError, Option<u64>)> {
    let mut c = Conn::open(ep).await.map_err(|e| (e, None))?;
    let (s, room, id) = (Arc::clone(store), ep.room_id, file_id.to_string());
    let known = tokio::task::spawn_blocking(move || s.my_upload(room, &id))
        .await
        .map_err(|e| (TransferError::Local(e.to_string()), None))?
        .map_err(|e| (e.into(), None))?;
    // Where the upload stands: an earlier one of ours, if the host still has it.
    let mut current = None;
    if let Some(upload_id) = known {
        let req = c
            .request(Method::HEAD, &c.room_path(&format!("uploads/{upload_id}")))
            .body(empty())
            .map_err(|e| (TransferError::Local(e.to_string()), None))?;
        let resp = c.send(req).await.map_err(|e| (e, None))?;
        match resp.status() {
            StatusCode::OK => {
                let offset = header_u64(&resp, UPLOAD_OFFSET).unwrap_or(0);
                if header_u64(&resp, UPLOAD_LENGTH) == Some(size) {
                    current = Some((upload_id, offset));
                }
            }
            StatusCode::NOT_FOUND | StatusCode::FORBIDDEN => {}
            _ => return Err((refused(resp).await, None)),
        }
    }
    let (upload_id, offset) = match current {
        Some(c) => c,
        None => {
            let Some(upload_id) = create(&mut c, file_id, size).await.map_err(|e| (e, None))?
            else {
                // The room holds this file already: nothing to send.
                return Ok(());
            };
            let (s, room, id, u) = (
                Arc::clone(store),
                ep.room_id,
                file_id.to_string(),
                upload_id.clone(),
            );
            tokio::task::spawn_blocking(move || s.set_my_upload(room, &id, Some(&u)))
                .await
                .map_err(|e| (TransferError::Local(e.to_string()), None))?
                .map_err(|e| (e.into(), None))?;
            (upload_id, 0)
        }
    };
    progress(offset, size);
    let mut f = tokio::fs::File::open(path)
        .await
        .map_err(|e| (local(&path.display().to_string(), e), Some(offset)))?;
    f.seek(std::io::SeekFrom::Start(offset))
        .await
        .map_err(|e| (local(&path.display().to_string(), e), Some(offset)))?;
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(offset));
    let (p, counter) = (Arc::clone(progress), Arc::clone(&sent));
    let stream = tokio_util::io::ReaderStream::with_capacity(f.take(size - offset), CHUNK).map_ok(
        move |b: Bytes| {
            let done = counter.fetch_add(b.len() as u64, std::sync::atomic::Ordering::Relaxed)
                + b.len() as u64;
            p(done, size);
            Frame::data(b)
        },
    );
    let req = c
        .request(Method::PATCH, &c.room_path(&format!("uploads/{upload_id}")))
        .header(UPLOAD_OFFSET, offset)
        .header(
            hyper::header::CONTENT_TYPE,
            "application/offset+octet-stream",
        )
        .header(hyper::header::CONTENT_LENGTH, size - offset)
        .body(BodyExt::boxed(StreamBody::new(stream)))
        .map_err(|e| (TransferError::Local(e.to_string()), Some(offset)))?;
    let resp = c.send(req).await.map_err(|e| (e, Some(offset)))?;
    let now = header_u64(&resp, UPLOAD_OFFSET);
    match resp.status() {
        StatusCode::NO_CONTENT if now == Some(size) => Ok(()),
        // Taken only in part (the host stopped reading): go on from where it is.
        StatusCode::NO_CONTENT => Err((
            TransferError::Interrupted("the host took part of the file".into()),
            now,
        )),
        _ => Err((refused(resp).await, now)),
    }
}

/// Downloads a room's file into the cache (or finds it there), resuming a download an
/// earlier run left off, and retrying through dropped links. The bytes are checked
/// against the file id before the file is kept.
pub async fn download(
    source: &Source,
    store: &Arc<Store>,
    cache: &FileCache,
    file_id: &str,
    size: u64,
    progress: Progress,
    cancel: &CancellationToken,
) -> Result<PathBuf, TransferError> {
    if !crate::protocol::files::is_file_id(file_id) {
        return Err(TransferError::Local("not a file id".into()));
    }
    {
        let (s, c, id) = (Arc::clone(store), cache.clone(), file_id.to_string());
        let found = tokio::task::spawn_blocking(move || c.get(&s, &id))
            .await
            .map_err(|e| TransferError::Local(e.to_string()))??;
        if let Some(p) = found {
            progress(size, size);
            return Ok(p);
        }
    }
    let mut stalls = 0u32;
    let mut last = None;
    loop {
        let ep = source().ok_or(TransferError::NotJoined)?;
        let attempt = download_once(&ep, cache, file_id, size, &progress);
        let result = tokio::select! {
            r = attempt => r,
            _ = cancel.cancelled() => return Err(TransferError::Cancelled),
        };
        match result {
            Ok(()) => break,
            Err((e, at)) if e.transient() => {
                if at.is_some() && at != last {
                    stalls = 0;
                    last = at;
                } else {
                    stalls += 1;
                }
                if stalls >= MAX_STALLS {
                    return Err(e);
                }
                tracing::info!(error = %e, stalls, "download interrupted; resuming");
                backoff(stalls, cancel).await?;
                if revoked(&e, &ep, source) {
                    return Err(e);
                }
            }
            Err((e, _)) => return Err(e),
        }
    }
    let (s, id) = (Arc::clone(store), file_id.to_string());
    tokio::task::spawn_blocking(move || s.cache_put(&id, size))
        .await
        .map_err(|e| TransferError::Local(e.to_string()))??;
    progress(size, size);
    Ok(cache.path(file_id))
}

/// One try of a download: the bytes from what the partial file holds on.
async fn download_once(
    ep: &Endpoint,
    cache: &FileCache,
    file_id: &str,
    size: u64,
    progress: &Progress,
) -> Result<(), (TransferError, Option<u64>)> {
    let partial = cache.partial_path(file_id);
    let have = match tokio::fs::metadata(&partial).await {
        Ok(m) if m.len() <= size => m.len(),
        Ok(_) => {
            let _ = tokio::fs::remove_file(&partial).await;
            0
        }
        Err(_) => 0,
    };
    let mut c = Conn::open(ep).await.map_err(|e| (e, Some(have)))?;
    let mut req = c.request(Method::GET, &c.room_path(&format!("files/{file_id}")));
    if have > 0 {
        req = req.header(hyper::header::RANGE, format!("bytes={have}-"));
    }
    let req = req
        .body(empty())
        .map_err(|e| (TransferError::Local(e.to_string()), Some(have)))?;
    let resp = c.send(req).await.map_err(|e| (e, Some(have)))?;
    let start = match resp.status() {
        StatusCode::PARTIAL_CONTENT => have,
        StatusCode::OK => {
            if have > 0 {
                // The host sends it all again: start over.
                let _ = tokio::fs::remove_file(&partial).await;
            }
            0
        }
        StatusCode::RANGE_NOT_SATISFIABLE if have == size => size,
        StatusCode::RANGE_NOT_SATISFIABLE => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err((
                TransferError::Interrupted("the partial download did not fit the file".into()),
                Some(0),
            ));
        }
        _ => return Err((refused(resp).await, Some(have))),
    };
    let p = partial.clone();
    let hash = tokio::task::spawn_blocking(move || {
        if start == 0 {
            Ok(<sha2::Sha256 as sha2::Digest>::new())
        } else {
            super::hash_prefix(&p, start)
        }
    })
    .await
    .map_err(|e| (TransferError::Local(e.to_string()), Some(start)))?
    .map_err(|e| (local("the partial download", e), Some(start)))?;
    progress(start, size);
    let prog = Arc::clone(progress);
    let mut done = start;
    let body = resp.into_body().into_data_stream().inspect_ok(move |b| {
        done += b.len() as u64;
        prog(done, size);
    });
    let got = receive(partial.clone(), start, size, hash, Box::pin(body)).await;
    match got.outcome {
        Outcome::Done if got.offset == size => {}
        Outcome::Done | Outcome::Cut => {
            return Err((
                TransferError::Interrupted("the connection dropped mid-file".into()),
                Some(got.offset),
            ))
        }
        Outcome::TooLong => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err((TransferError::HashMismatch, None));
        }
        Outcome::DiskFull => {
            // The space goes back at once: the store shares the disk, and the chat must
            // go on. (Resuming would need that space again anyway.)
            let _ = tokio::fs::remove_file(&partial).await;
            return Err((TransferError::DiskFull, None));
        }
        Outcome::Io(e) => return Err((local("the download", e), Some(got.offset))),
    }
    let digest = match got.hash {
        Some(h) => super::hex(&sha2::Digest::finalize(h)),
        None => {
            let p = partial.clone();
            tokio::task::spawn_blocking(move || super::hash_file(&p).map(|(id, _)| id))
                .await
                .map_err(|e| (TransferError::Local(e.to_string()), None))?
                .map_err(|e| (local("the download", e), None))?
        }
    };
    if digest != file_id {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err((TransferError::HashMismatch, None));
    }
    tokio::fs::rename(&partial, cache.path(file_id))
        .await
        .map_err(|e| (local("the cache", e), None))?;
    Ok(())
}
