//! The host's file endpoints (docs/protocol.md §15), served by axum on the same TLS
//! listener as the WebSocket: a connection whose first request is not a WebSocket
//! upgrade comes here (`connection::sniff`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use uuid::Uuid;

use super::grants::Grant;
use super::receive::{receive, Outcome};
use crate::connection::Io;
use crate::host_state::HostState;
use crate::limits::ConnectionSlot;
use crate::protocol::files::{
    is_file_id, FileErrorBody, FileErrorCode as Code, FilesUsage, NewUpload, UploadCreated,
};
use crate::protocol::now_ms;
use crate::store::UploadRow;

/// `Upload-Offset` (tus): where an upload stands, or where a request's bytes start.
pub const UPLOAD_OFFSET: &str = "upload-offset";
/// `Upload-Length` (tus): the size of the whole file.
pub const UPLOAD_LENGTH: &str = "upload-length";
/// Bytes read from the disk at a time for a download.
const READ_CHUNK: usize = 256 * 1024;
/// Largest `POST …/uploads` body.
const MAX_JSON: usize = 4 * 1024;

type Shared = Arc<HostState>;

/// A refused request: its status and `{code, message}` body.
pub(crate) struct Refused {
    status: StatusCode,
    code: Code,
    message: String,
    offset: Option<u64>,
}

impl Refused {
    fn new(status: StatusCode, code: Code, message: impl Into<String>) -> Refused {
        Refused {
            status,
            code,
            message: message.into(),
            offset: None,
        }
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let body = serde_json::to_string(&FileErrorBody {
            code: self.code,
            message: self.message,
        })
        .unwrap_or_default();
        let mut r = (self.status, body).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(o) = self.offset {
            r.headers_mut().insert(UPLOAD_OFFSET, o.into());
        }
        r
    }
}

fn storage(e: impl std::fmt::Display) -> Refused {
    tracing::warn!(error = %e, "file request failed on the host");
    Refused::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        Code::StorageError,
        format!("the host could not read or write its files: {e}"),
    )
}

/// Runs blocking store or disk work off the runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Refused> + Send + 'static,
) -> Result<T, Refused> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(storage(e)))
}

/// The grant of the request's bearer token, for the room it names.
fn authorize(state: &HostState, headers: &HeaderMap, room_id: Uuid) -> Result<Grant, Refused> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            Refused::new(
                StatusCode::UNAUTHORIZED,
                Code::TokenInvalid,
                "send Authorization: Bearer with the token of joined.files",
            )
        })?;
    let grant = state.files().grants().check(token.trim()).ok_or_else(|| {
        Refused::new(
            StatusCode::UNAUTHORIZED,
            Code::TokenInvalid,
            "this token is not (or no longer) valid: join the room again for a new one",
        )
    })?;
    if grant.room_id != room_id || state.room(room_id).is_none() {
        return Err(Refused::new(
            StatusCode::FORBIDDEN,
            Code::NotAMember,
            "this token is not for that room",
        ));
    }
    Ok(grant)
}

fn room_id(s: &str) -> Result<Uuid, Refused> {
    Uuid::parse_str(s).map_err(|_| {
        Refused::new(
            StatusCode::BAD_REQUEST,
            Code::InvalidRequest,
            "not a room id",
        )
    })
}

fn check_file_id(s: &str) -> Result<(), Refused> {
    if is_file_id(s) {
        Ok(())
    } else {
        Err(Refused::new(
            StatusCode::BAD_REQUEST,
            Code::InvalidRequest,
            "a file id is 64 lowercase hex digits (its SHA-256)",
        ))
    }
}

fn check_upload_id(s: &str) -> Result<(), Refused> {
    if s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(Refused::new(
            StatusCode::NOT_FOUND,
            Code::NotFound,
            "no such upload",
        ))
    }
}

pub(crate) fn router(state: Shared) -> Router {
    Router::new()
        .route("/files/v1/rooms/{room}/uploads", post(create_upload))
        .route("/files/v1/rooms/{room}/usage", get(usage))
        .route("/files/v1/rooms/{room}/files/{file}", get(download))
        .route(
            "/files/v1/rooms/{room}/uploads/{upload}",
            axum::routing::head(upload_status)
                .patch(append)
                .delete(cancel_upload),
        )
        .fallback(|| async {
            Refused::new(
                StatusCode::NOT_FOUND,
                Code::NotFound,
                "no such endpoint (file endpoints are under /files/v1/)",
            )
        })
        .with_state(state)
}

/// Serves HTTP/1.1 on one connection until the client is done, or the host shuts down.
pub(crate) async fn serve(
    state: Shared,
    io: Box<dyn Io>,
    addr: SocketAddr,
    slot: Result<ConnectionSlot, &'static str>,
) {
    let _slot = match slot {
        Ok(s) => s,
        Err(why) => {
            // Told why in a plain response, then closed.
            let svc = hyper::service::service_fn(move |_req| async move {
                Ok::<_, std::convert::Infallible>(
                    Refused::new(StatusCode::SERVICE_UNAVAILABLE, Code::StorageError, why)
                        .into_response(),
                )
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(false)
                .serve_connection(hyper_util::rt::TokioIo::new(io), svc)
                .await;
            return;
        }
    };
    let shutdown = state.shutdown().clone();
    let svc = hyper_util::service::TowerToHyperService::new(router(state));
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(std::time::Duration::from_secs(30))
        .serve_connection(hyper_util::rt::TokioIo::new(io), svc);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(%addr, error = %e, "file connection ended");
            }
        }
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), conn).await;
        }
    }
}

fn usage_of(state: &HostState, room: Uuid) -> Result<FilesUsage, Refused> {
    let used = state.store().room_files_used(room).map_err(storage)?;
    Ok(FilesUsage {
        max_file_bytes: state.limits().max_file_bytes,
        room_quota_bytes: state.limits().room_quota_bytes,
        room_used_bytes: used,
    })
}

fn json(status: StatusCode, v: &impl serde::Serialize) -> Response {
    let mut r = (status, serde_json::to_string(v).unwrap_or_default()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

async fn usage(
    State(state): State<Shared>,
    Path(room): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Refused> {
    let room = room_id(&room)?;
    authorize(&state, &headers, room)?;
    let s = Arc::clone(&state);
    let u = blocking(move || usage_of(&s, room)).await?;
    Ok(json(StatusCode::OK, &u))
}

/// `POST /files/v1/rooms/{room}/uploads` (§15.3): announces a file; the room's quota is
/// reserved for it. A file the room holds already needs no upload.
async fn create_upload(
    State(state): State<Shared>,
    Path(room): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, Refused> {
    let room = room_id(&room)?;
    let grant = authorize(&state, &headers, room)?;
    if body.len() > MAX_JSON {
        return Err(Refused::new(
            StatusCode::BAD_REQUEST,
            Code::InvalidRequest,
            "the body is {\"file_id\", \"size\"}",
        ));
    }
    let req: NewUpload = serde_json::from_slice(&body).map_err(|e| {
        Refused::new(
            StatusCode::BAD_REQUEST,
            Code::InvalidRequest,
            format!("the body is {{\"file_id\", \"size\"}}: {e}"),
        )
    })?;
    check_file_id(&req.file_id)?;
    let limits = state.limits();
    if req.size > limits.max_file_bytes {
        return Err(Refused::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            Code::FileTooLarge,
            format!(
                "the file is {}; this host takes files up to {}",
                crate::protocol::files::human_size(req.size),
                crate::protocol::files::human_size(limits.max_file_bytes)
            ),
        ));
    }
    let s = Arc::clone(&state);
    blocking(move || {
        let store = s.store();
        if store.room_file(room, &req.file_id).map_err(storage)? == Some(req.size) {
            return Ok(json(
                StatusCode::OK,
                &UploadCreated {
                    upload_id: None,
                    offset: req.size,
                    complete: true,
                },
            ));
        }
        let upload_id = Uuid::new_v4().simple().to_string();
        let row = UploadRow {
            upload_id: upload_id.clone(),
            room_id: room,
            user_id: grant.user_id,
            file_id: req.file_id.clone(),
            size: req.size,
            created_at: now_ms(),
        };
        let quota = s.limits().room_quota_bytes;
        match store.create_upload(&row, quota).map_err(storage)? {
            Ok(_) => {}
            Err(used) => {
                return Err(Refused::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    Code::QuotaExceeded,
                    format!(
                    "the room's files may take {} on the host; {} are taken, and this file is {}",
                    crate::protocol::files::human_size(quota),
                    crate::protocol::files::human_size(used),
                    crate::protocol::files::human_size(req.size)
                ),
                ))
            }
        }
        // An empty partial file: its length is the upload's offset from now on.
        let path = s.files().partial_path(&upload_id);
        if let Err(e) = std::fs::File::create(&path) {
            let _ = store.drop_upload(&upload_id);
            return Err(if super::is_disk_full(&e) {
                full_disk()
            } else {
                storage(e)
            });
        }
        let mut r = json(
            StatusCode::CREATED,
            &UploadCreated {
                upload_id: Some(upload_id.clone()),
                offset: 0,
                complete: false,
            },
        );
        if let Ok(v) = HeaderValue::from_str(&format!("/files/v1/rooms/{room}/uploads/{upload_id}"))
        {
            r.headers_mut().insert(header::LOCATION, v);
        }
        r.headers_mut().insert(UPLOAD_OFFSET, 0u64.into());
        Ok(r)
    })
    .await
}

fn full_disk() -> Refused {
    Refused::new(
        StatusCode::INSUFFICIENT_STORAGE,
        Code::StorageFull,
        "the host's disk is full",
    )
}

/// The upload named in the path, if it is the requester's.
async fn own_upload(
    state: &Shared,
    headers: &HeaderMap,
    room: &str,
    upload: &str,
) -> Result<UploadRow, Refused> {
    let room = room_id(room)?;
    let grant = authorize(state, headers, room)?;
    check_upload_id(upload)?;
    let (s, id) = (Arc::clone(state), upload.to_string());
    let row = blocking(move || s.store().upload(&id).map_err(storage))
        .await?
        .filter(|u| u.room_id == room)
        .ok_or_else(|| Refused::new(StatusCode::NOT_FOUND, Code::NotFound, "no such upload"))?;
    if row.user_id != grant.user_id {
        return Err(Refused::new(
            StatusCode::FORBIDDEN,
            Code::NotAMember,
            "another member's upload",
        ));
    }
    Ok(row)
}

/// The length of an upload's partial file: its offset.
async fn partial_len(state: &Shared, upload_id: &str) -> Result<u64, Refused> {
    let path = state.files().partial_path(upload_id);
    match tokio::fs::metadata(&path).await {
        Ok(m) => Ok(m.len()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(storage(e)),
    }
}

fn offset_headers(offset: u64, size: u64) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(UPLOAD_OFFSET, offset.into());
    h.insert(UPLOAD_LENGTH, size.into());
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h
}

/// `HEAD …/uploads/{id}` (§15.3): where the upload stands, to resume from.
async fn upload_status(
    State(state): State<Shared>,
    Path((room, upload)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Refused> {
    let row = own_upload(&state, &headers, &room, &upload).await?;
    let offset = partial_len(&state, &row.upload_id).await?;
    Ok((StatusCode::OK, offset_headers(offset, row.size)).into_response())
}

/// `DELETE …/uploads/{id}`: the sender cancelled; its reservation and bytes go.
async fn cancel_upload(
    State(state): State<Shared>,
    Path((room, upload)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Refused> {
    let row = own_upload(&state, &headers, &room, &upload).await?;
    let _busy = state.files().take_busy(&row.upload_id).ok_or_else(busy)?;
    let s = Arc::clone(&state);
    blocking(move || {
        s.store().drop_upload(&row.upload_id).map_err(storage)?;
        s.files().forget_hash(&row.upload_id);
        let _ = std::fs::remove_file(s.files().partial_path(&row.upload_id));
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn busy() -> Refused {
    Refused::new(
        StatusCode::CONFLICT,
        Code::UploadBusy,
        "another request is writing to this upload; retry shortly",
    )
}

/// `PATCH …/uploads/{id}` (§15.3): the bytes from `Upload-Offset` on. When the last
/// byte arrives the whole file's hash is checked, and only a match becomes a file of
/// the room.
async fn append(
    State(state): State<Shared>,
    Path((room, upload)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Refused> {
    let row = own_upload(&state, &headers, &room, &upload).await?;
    let _busy = state.files().take_busy(&row.upload_id).ok_or_else(busy)?;
    let offset = partial_len(&state, &row.upload_id).await?;
    let asked: Option<u64> = headers
        .get(UPLOAD_OFFSET)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    if asked != Some(offset) {
        let mut r = Refused::new(
            StatusCode::CONFLICT,
            Code::OffsetMismatch,
            format!("the upload stands at {offset}: send Upload-Offset: {offset} and the bytes from there"),
        );
        r.offset = Some(offset);
        return Err(r);
    }
    let path = state.files().partial_path(&row.upload_id);
    let hash = match state.files().take_hash(&row.upload_id, offset) {
        Some(h) => h,
        None => {
            // The host restarted since the last request: hash what is on disk again.
            let p = path.clone();
            blocking(move || super::hash_prefix(&p, offset).map_err(storage)).await?
        }
    };
    let turn = state.files().writer_turn().await;
    let got = receive(path, offset, row.size, hash, body.into_data_stream()).await;
    drop(turn);
    if let Some(h) = &got.hash {
        state
            .files()
            .put_hash(&row.upload_id, got.offset, h.clone());
    }
    match got.outcome {
        Outcome::Done | Outcome::Cut => {}
        Outcome::TooLong => {
            let mut r = Refused::new(
                StatusCode::BAD_REQUEST,
                Code::InvalidRequest,
                format!("more bytes than the {} announced", row.size),
            );
            r.offset = Some(got.offset);
            return Err(r);
        }
        Outcome::DiskFull => {
            // Kept, the bytes so far would keep the disk full for everyone, the chat's
            // database included: the upload is given up and its space given back.
            let s = Arc::clone(&state);
            let id = row.upload_id.clone();
            blocking(move || {
                s.files().forget_hash(&id);
                let _ = std::fs::remove_file(s.files().partial_path(&id));
                s.store().drop_upload(&id).map_err(storage)
            })
            .await?;
            return Err(full_disk());
        }
        Outcome::Io(e) => return Err(storage(e)),
    }
    if got.offset < row.size {
        return Ok((StatusCode::NO_CONTENT, offset_headers(got.offset, row.size)).into_response());
    }
    let Some(hash) = state.files().take_hash(&row.upload_id, got.offset) else {
        return Err(storage("the upload's hash was lost; send it again"));
    };
    let s = Arc::clone(&state);
    let size = row.size;
    blocking(move || finish(&s, &row, hash)).await?;
    Ok((StatusCode::NO_CONTENT, offset_headers(size, size)).into_response())
}

/// The last byte is in: a matching hash moves the partial file to its blob (unless the
/// blob is stored already) and the room holds the file; a mismatch discards it all.
fn finish(state: &HostState, row: &UploadRow, hash: sha2::Sha256) -> Result<(), Refused> {
    use sha2::Digest;
    let files = state.files();
    let partial = files.partial_path(&row.upload_id);
    let got = super::hex(&hash.finalize());
    if got != row.file_id {
        let _ = std::fs::remove_file(&partial);
        let _ = state.store().drop_upload(&row.upload_id);
        return Err(Refused::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            Code::HashMismatch,
            format!(
                "the bytes hash to {got}, not to the file id {}: the upload is discarded",
                row.file_id
            ),
        ));
    }
    let blob = files.blob_path(&row.file_id);
    if blob.exists() {
        // Sent before (to this room or another): stored once.
        let _ = std::fs::remove_file(&partial);
    } else {
        std::fs::rename(&partial, &blob).map_err(storage)?;
    }
    state.store().complete_upload(row).map_err(storage)
}

/// `GET /files/v1/rooms/{room}/files/{file_id}` (§15.4), with `Range` for a resumed
/// download. Streamed from the disk in small chunks, never whole in memory.
async fn download(
    State(state): State<Shared>,
    Path((room, file)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, Refused> {
    let room = room_id(&room)?;
    authorize(&state, &headers, room)?;
    check_file_id(&file)?;
    let (s, f) = (Arc::clone(&state), file.clone());
    let Some(size) = blocking(move || s.store().room_file(room, &f).map_err(storage)).await? else {
        return Err(Refused::new(
            StatusCode::NOT_FOUND,
            Code::NotFound,
            "this room has no such file (never sent, or deleted)",
        ));
    };
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        None => None,
        Some(v) => match super::byte_range::parse(v, size) {
            Some(r) => Some(r),
            None => {
                let mut r = Refused::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    Code::RangeNotSatisfiable,
                    format!("the file has {size} bytes; ask for bytes=N- with N below that"),
                )
                .into_response();
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    r.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                return Ok(r);
            }
        },
    };
    let (start, end) = range.unwrap_or((0, size.saturating_sub(1)));
    let len = if size == 0 { 0 } else { end - start + 1 };
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_LENGTH, len.into());
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment"),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("\"{file}\"")) {
        h.insert(header::ETAG, v);
    }
    let status = if range.is_some() {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{size}")) {
            h.insert(header::CONTENT_RANGE, v);
        }
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    if method == Method::HEAD || len == 0 {
        return Ok((status, h).into_response());
    }
    let mut f = tokio::fs::File::open(state.files().blob_path(&file))
        .await
        .map_err(storage)?;
    f.seek(std::io::SeekFrom::Start(start))
        .await
        .map_err(storage)?;
    let stream = tokio_util::io::ReaderStream::with_capacity(f.take(len), READ_CHUNK);
    Ok((status, h, Body::from_stream(stream)).into_response())
}
