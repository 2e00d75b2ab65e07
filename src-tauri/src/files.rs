//! File commands (protocol §15): pick and send, paste, fetch into the cache, save as,
//! open with the system's app, cancel. Plus the `hearthfile:` scheme, through which the
//! webview shows cached images and plays cached media, and nothing else.

use std::path::PathBuf;

use hearth::protocol::relations::Relation;
use hearth_app::{AppError, FileLimitsView};
use tauri::http::{header, Response, StatusCode};
use tauri::{AppHandle, State};
use tauri_plugin_dialog::DialogExt;
use uuid::Uuid;

use crate::commands::blocking;
use crate::Shell;

type Res<T> = Result<T, AppError>;

/// Sends files as one message.
#[tauri::command(rename_all = "snake_case")]
pub async fn send_files(
    shell: State<'_, Shell>,
    room_id: Uuid,
    paths: Vec<String>,
    caption: String,
    relation: Option<Relation>,
) -> Res<u64> {
    let paths = paths.into_iter().map(PathBuf::from).collect();
    blocking(&shell, move |app| {
        app.send_files(room_id, paths, caption, relation.unwrap_or_default())
    })
    .await
}

/// The system's file picker, then [`send_files`]; `None` if the user picked nothing.
#[tauri::command(rename_all = "snake_case")]
pub async fn pick_and_send(
    app: AppHandle,
    shell: State<'_, Shell>,
    room_id: Uuid,
    caption: String,
) -> Res<Option<u64>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.dialog()
        .file()
        .set_title("Send files")
        .pick_files(move |picked| {
            let _ = tx.send(picked);
        });
    let Some(picked) = rx.await.ok().flatten() else {
        return Ok(None);
    };
    let paths: Vec<PathBuf> = picked
        .into_iter()
        .filter_map(|p| p.into_path().ok())
        .collect();
    if paths.is_empty() {
        return Ok(None);
    }
    blocking(&shell, move |app| {
        app.send_files(room_id, paths, caption, Relation::default())
    })
    .await
    .map(Some)
}

/// Pasted bytes (a screenshot): the raw request body, with the room, the file's name
/// and the caption in headers (names percent-encoded).
#[tauri::command]
pub async fn send_pasted(shell: State<'_, Shell>, request: tauri::ipc::Request<'_>) -> Res<u64> {
    let header = |name: &str| -> Option<String> {
        let v = request.headers().get(name)?.to_str().ok()?;
        Some(percent_decode(v))
    };
    let room_id = header("x-room-id")
        .and_then(|s| Uuid::parse_str(&s).ok())
        .ok_or_else(|| AppError::Invalid("no room".into()))?;
    let name = header("x-name").unwrap_or_else(|| "pasted.png".into());
    let caption = header("x-caption").unwrap_or_default();
    let tauri::ipc::InvokeBody::Raw(bytes) = request.body() else {
        return Err(AppError::Invalid("no file in the paste".into()));
    };
    let bytes = bytes.clone();
    blocking(&shell, move |app| {
        app.send_bytes(room_id, &name, &bytes, caption)
    })
    .await
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A room's file in the cache, fetched first if need be (`report`: shown as a download).
#[tauri::command(rename_all = "snake_case")]
pub async fn fetch_file(
    shell: State<'_, Shell>,
    room_id: Uuid,
    file_id: String,
    size: u64,
    name: String,
    report: bool,
) -> Res<()> {
    shell
        .app
        .fetch_file(room_id, &file_id, size, &name, report)
        .await
        .map(|_| ())
}

/// "Save as…": the system's save dialog, then the file copied there. `None`: cancelled.
#[tauri::command(rename_all = "snake_case")]
pub async fn save_file_as(
    app: AppHandle,
    shell: State<'_, Shell>,
    room_id: Uuid,
    file_id: String,
    size: u64,
    name: String,
) -> Res<Option<String>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.dialog()
        .file()
        .set_title("Save as")
        .set_file_name(hearth::files::save_name::safe_name(&name))
        .save_file(move |picked| {
            let _ = tx.send(picked);
        });
    let Some(dest) = rx.await.ok().flatten().and_then(|p| p.into_path().ok()) else {
        return Ok(None);
    };
    let saved = shell
        .app
        .save_file(room_id, &file_id, size, &name, dest)
        .await?;
    Ok(Some(saved.display().to_string()))
}

/// "Open": fetched, then opened with the system's default app for it.
#[tauri::command(rename_all = "snake_case")]
pub async fn open_file(
    app: AppHandle,
    shell: State<'_, Shell>,
    room_id: Uuid,
    file_id: String,
    size: u64,
    name: String,
) -> Res<()> {
    use tauri_plugin_opener::OpenerExt;
    let cached = shell
        .app
        .fetch_file(room_id, &file_id, size, &name, true)
        .await?;
    // Opened under its own (safe) name, so the system picks the app by its extension.
    let dir = std::env::temp_dir()
        .join("hearth-open")
        .join(&file_id[..16]);
    let path = dir.join(hearth::files::save_name::safe_name(&name));
    let p = path.clone();
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir)?;
        if !p.exists() {
            std::fs::copy(&cached, &p)?;
        }
        Ok::<_, std::io::Error>(())
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))?
    .map_err(|e| AppError::Invalid(format!("cannot open the file: {e}")))?;
    app.opener()
        .open_path(path.display().to_string(), None::<&str>)
        .map_err(|e| AppError::Invalid(format!("cannot open the file: {e}")))
}

/// The transfers under way (for a window that starts after them).
#[tauri::command]
pub fn transfers(shell: State<'_, Shell>) -> Vec<hearth_app::TransferView> {
    shell.app.transfers()
}

#[tauri::command]
pub fn cancel_transfer(shell: State<'_, Shell>, id: u64) -> bool {
    shell.app.cancel_transfer(id)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn file_limits(shell: State<'_, Shell>, room_id: Uuid) -> Res<FileLimitsView> {
    shell.app.file_limits(room_id).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn keep_file(shell: State<'_, Shell>, file_id: String, keep: bool) -> Res<bool> {
    blocking(&shell, move |app| app.keep_file(&file_id, keep)).await
}

/// What the file cache holds: [bytes, files].
#[tauri::command]
pub async fn file_cache_usage(shell: State<'_, Shell>) -> Res<(u64, usize)> {
    blocking(&shell, |app| app.file_cache_usage()).await
}

/// Media types the webview may render from the cache; anything else is served as bytes
/// it will not run.
const RENDERABLE: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "video/mp4",
    "video/webm",
    "audio/mpeg",
    "audio/ogg",
    "audio/wav",
    "audio/webm",
];

/// Bytes of one answer: a `<video>` asks in ranges, so memory stays at this per request.
const RANGE_CHUNK: u64 = 4 * 1024 * 1024;
/// The largest file sent whole to a request without a range (an `<img>`).
const WHOLE_MAX: u64 = 64 * 1024 * 1024;

/// `hearthfile://localhost/FILE_ID?type=MIME`: a cached file, for `<img>`, `<video>` and
/// `<audio>`, whole or by `Range`. Only verified files of the cache are served; nothing
/// is fetched here.
pub fn serve_cached(
    app: &hearth_app::App,
    request: &tauri::http::Request<Vec<u8>>,
) -> Response<Vec<u8>> {
    let uri = request.uri();
    let id = uri.path().trim_start_matches('/');
    let mime = uri
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("type=")))
        .map(percent_decode)
        .filter(|m| RENDERABLE.contains(&m.as_str()))
        .unwrap_or_else(|| "application/octet-stream".into());
    let status = |code: StatusCode| {
        Response::builder()
            .status(code)
            .body(Vec::new())
            .unwrap_or_default()
    };
    let Some(path) = app.cached_path(id) else {
        return status(StatusCode::NOT_FOUND);
    };
    let Ok(mut file) = std::fs::File::open(&path) else {
        return status(StatusCode::NOT_FOUND);
    };
    let Ok(len) = file.metadata().map(|m| m.len()) else {
        return status(StatusCode::NOT_FOUND);
    };
    let range = request
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok());
    let (code, start, end) = match range.map(|r| hearth::files::byte_range::parse(r, len)) {
        Some(Some((a, b))) => (StatusCode::PARTIAL_CONTENT, a, b.min(a + RANGE_CHUNK - 1)),
        Some(None) => {
            return Response::builder()
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{len}"))
                .body(Vec::new())
                .unwrap_or_default()
        }
        None if len > WHOLE_MAX => return status(StatusCode::PAYLOAD_TOO_LARGE),
        None if len == 0 => (StatusCode::OK, 0, 0),
        None => (StatusCode::OK, 0, len - 1),
    };
    let want = if len == 0 { 0 } else { end - start + 1 };
    let mut bytes = vec![0; want as usize];
    use std::io::{Read, Seek};
    if file.seek(std::io::SeekFrom::Start(start)).is_err() || file.read_exact(&mut bytes).is_err() {
        return status(StatusCode::NOT_FOUND);
    }
    let mut resp = Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, mime)
        .header(header::ACCEPT_RANGES, "bytes")
        .header("x-content-type-options", "nosniff")
        .header(
            header::CACHE_CONTROL,
            "private, max-age=31536000, immutable",
        );
    if code == StatusCode::PARTIAL_CONTENT {
        resp = resp.header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}"));
    }
    resp.body(bytes).unwrap_or_default()
}
