//! Tauri commands: each one is a direct call into `hearth_app::App`. Arguments use the
//! same snake_case names as the generated TypeScript bindings.

use hearth::protocol::relations::Relation;
use hearth::protocol::{ChatMessage, Member, Visibility};
use hearth_app::{
    AppError, AppEvent, DiscoveredView, HostedView, MessagePage, PendingView, PersonView, Profile,
    RoomView, SearchHitView, SearchRequest, Settings,
};
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, State};
#[cfg(not(all(unix, not(target_os = "macos"))))]
use tauri_plugin_notification::NotificationExt;
use uuid::Uuid;

use crate::{Shell, TrayState, STARTED};
use tauri_plugin_autostart::ManagerExt;

type Res<T> = Result<T, AppError>;

/// Runs a call that touches the store (SQLite, behind a mutex the client tasks share) on
/// the blocking pool: never on the UI thread, never on a runtime worker.
pub(crate) async fn blocking<T: Send + 'static>(
    shell: &Shell,
    call: impl FnOnce(hearth_app::App) -> Res<T> + Send + 'static,
) -> Res<T> {
    let app = shell.app.clone();
    tauri::async_runtime::spawn_blocking(move || call(app))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
}

/// The window's event stream; a reload subscribes again and replaces the old channel.
#[tauri::command(rename_all = "snake_case")]
pub fn subscribe(shell: State<'_, Shell>, on_event: Channel<AppEvent>) -> Res<()> {
    shell.subscribe.send_replace(Some(on_event));
    Ok(())
}

/// Called by the UI on its first paint. Returns whether render timings are wanted.
#[tauri::command]
pub fn ui_ready(shell: State<'_, Shell>) -> bool {
    if let Some(start) = STARTED.get() {
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(first_paint_ms = format!("{ms:.0}"), "UI painted");
        eprintln!("hearth-desktop: first paint after {ms:.0} ms");
    }
    shell.perf
}

/// A render timing from the UI (only sent with HEARTH_PERF=1).
#[tauri::command(rename_all = "snake_case")]
pub fn ui_mark(name: String, ms: f64) {
    eprintln!("hearth-desktop: perf {name} {ms:.1} ms");
}

#[tauri::command]
pub async fn profile(shell: State<'_, Shell>) -> Res<Profile> {
    blocking(&shell, |app| app.profile()).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn set_name(shell: State<'_, Shell>, name: String) -> Res<Profile> {
    blocking(&shell, move |app| app.set_name(&name)).await
}

#[tauri::command]
pub async fn settings(shell: State<'_, Shell>) -> Res<Settings> {
    blocking(&shell, |app| app.settings()).await
}

/// Saves the settings and applies those that belong to the system: the background
/// mode, and starting at login.
#[tauri::command(rename_all = "snake_case")]
pub async fn set_settings(
    app: AppHandle,
    shell: State<'_, Shell>,
    settings: Settings,
) -> Res<Settings> {
    let autostart = app.autolaunch();
    let registered = autostart.is_enabled().unwrap_or(false);
    if settings.start_at_login != registered {
        let done = if settings.start_at_login {
            autostart.enable()
        } else {
            autostart.disable()
        };
        done.map_err(|e| AppError::Invalid(format!("Cannot change starting at login: {e}")))?;
    }
    let saved = blocking(&shell, move |app| app.set_settings(&settings)).await?;
    shell
        .background
        .store(saved.background, std::sync::atomic::Ordering::Relaxed);
    Ok(saved)
}

#[tauri::command]
pub async fn rooms(shell: State<'_, Shell>) -> Res<Vec<RoomView>> {
    shell.app.rooms().await
}

#[tauri::command(rename_all = "snake_case", async)]
pub fn members(shell: State<'_, Shell>, room_id: Uuid) -> Vec<Member> {
    shell.app.members(room_id)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn messages(
    shell: State<'_, Shell>,
    room_id: Uuid,
    before_seq: Option<u64>,
    limit: u32,
) -> Res<MessagePage> {
    blocking(&shell, move |app| app.messages(room_id, before_seq, limit)).await
}

/// Messages kept here that the room's host no longer has ("not on the host").
#[tauri::command(rename_all = "snake_case")]
pub async fn unhosted_messages(shell: State<'_, Shell>, room_id: Uuid) -> Res<Vec<ChatMessage>> {
    blocking(&shell, move |app| app.unhosted_messages(room_id)).await
}

/// A message, or with `relation` a reply, mentions or an action (edit, delete, reaction).
#[tauri::command(rename_all = "snake_case")]
pub async fn send(
    shell: State<'_, Shell>,
    room_id: Uuid,
    text: String,
    relation: Option<Relation>,
) -> Res<PendingView> {
    blocking(&shell, move |app| {
        app.send_with(room_id, &text, &relation.unwrap_or_default())
    })
    .await
}

/// Opens a link from a message in the system's browser, never in the app's window. Only
/// http, https and mailto: a message cannot make the app open a file or run anything.
#[tauri::command(rename_all = "snake_case")]
pub async fn open_link(app: AppHandle, url: String) -> Res<()> {
    use tauri_plugin_opener::OpenerExt;
    let parsed = tauri::Url::parse(&url).map_err(|_| AppError::Invalid("not a link".into()))?;
    if !matches!(parsed.scheme(), "http" | "https" | "mailto") {
        return Err(AppError::Invalid(format!(
            "links with {}: are not opened",
            parsed.scheme()
        )));
    }
    app.opener()
        .open_url(parsed.as_str(), None::<&str>)
        .map_err(|e| AppError::Invalid(format!("cannot open the link: {e}")))
}

/// Full-text search over the local cache of every joined room.
#[tauri::command(rename_all = "snake_case")]
pub async fn search(shell: State<'_, Shell>, query: SearchRequest) -> Res<Vec<SearchHitView>> {
    blocking(&shell, move |app| app.search(&query)).await
}

#[tauri::command(rename_all = "snake_case", async)]
pub fn typing(shell: State<'_, Shell>, room_id: Uuid, active: bool) {
    shell.app.typing(room_id, active)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn mark_read(shell: State<'_, Shell>, room_id: Uuid, seq: u64) -> Res<()> {
    blocking(&shell, move |app| app.mark_read(room_id, seq)).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn join_link(
    shell: State<'_, Shell>,
    link: String,
    passcode: Option<String>,
) -> Res<Option<Uuid>> {
    shell.app.join_link(&link, passcode).await
}

/// Joins a room of "Your rooms" again with a passcode (its host changed it).
#[tauri::command(rename_all = "snake_case")]
pub async fn rejoin(shell: State<'_, Shell>, room_id: Uuid, passcode: String) -> Res<()> {
    blocking(&shell, move |app| app.rejoin(room_id, passcode)).await
}

/// Reconnects a room now (also after "Stay disconnected" on a certificate warning).
#[tauri::command(rename_all = "snake_case")]
pub async fn retry_room(shell: State<'_, Shell>, room_id: Uuid) -> Res<()> {
    blocking(&shell, move |app| app.retry_room(room_id)).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn set_draft(shell: State<'_, Shell>, room_id: Uuid, text: String) -> Res<()> {
    blocking(&shell, move |app| app.set_draft(room_id, &text)).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn join_discovered(
    shell: State<'_, Shell>,
    room_id: Uuid,
    passcode: Option<String>,
) -> Res<()> {
    shell.app.join_discovered(room_id, passcode).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn leave(shell: State<'_, Shell>, room_id: Uuid) -> Res<()> {
    blocking(&shell, move |app| app.leave(room_id)).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn host_room(
    shell: State<'_, Shell>,
    name: String,
    passcode: Option<String>,
    keep_passcode: Option<bool>,
) -> Res<HostedView> {
    shell
        .app
        .host_room(&name, passcode, keep_passcode.unwrap_or(false))
        .await
}

#[tauri::command]
pub async fn hosted(shell: State<'_, Shell>) -> Res<Vec<HostedView>> {
    Ok(shell.app.hosted().await)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn stop_hosting(shell: State<'_, Shell>, room_id: Uuid) -> Res<()> {
    shell.app.stop_hosting(room_id).await
}

/// The host owner changes who may see and join a room they host (protocol §3.8).
#[tauri::command(rename_all = "snake_case")]
pub async fn set_room_policy(
    shell: State<'_, Shell>,
    room_id: Uuid,
    visibility: Visibility,
    members_only: bool,
) -> Res<HostedView> {
    shell
        .app
        .set_room_policy(room_id, visibility, members_only)
        .await
}

/// The host owner removes someone from a room they host.
#[tauri::command(rename_all = "snake_case")]
pub async fn remove_member(shell: State<'_, Shell>, room_id: Uuid, user_id: Uuid) -> Res<()> {
    shell.app.remove_member(room_id, user_id).await
}

/// Everyone seen in a room, with their identity codes and trust marks.
#[tauri::command(rename_all = "snake_case")]
pub async fn people(shell: State<'_, Shell>, room_id: Uuid) -> Res<Vec<PersonView>> {
    blocking(&shell, move |app| app.people(room_id)).await
}

/// Marks someone verified (`verified`), or no longer, after comparing identity codes.
#[tauri::command(rename_all = "snake_case")]
pub async fn set_verified(
    shell: State<'_, Shell>,
    user_id: Uuid,
    name: String,
    verified: bool,
) -> Res<()> {
    blocking(&shell, move |app| match verified {
        true => app.verify_person(user_id, &name),
        false => app.unverify_person(user_id),
    })
    .await
}

#[tauri::command(async)]
pub fn discovered(shell: State<'_, Shell>) -> Vec<DiscoveredView> {
    shell.app.discovered()
}

/// Trusts a host's new certificate for a room after the user compared fingerprints.
#[tauri::command(rename_all = "snake_case")]
pub async fn trust_fingerprint(
    shell: State<'_, Shell>,
    room_id: Uuid,
    fingerprint: String,
) -> Res<()> {
    blocking(&shell, move |app| {
        app.trust_fingerprint(room_id, &fingerprint)
    })
    .await
}

/// Shows a desktop notification. The UI decides when (room not in view, window
/// unfocused, notifications on); a missing notification daemon is not an error.
#[tauri::command(rename_all = "snake_case", async)]
pub fn notify(app: AppHandle, title: String, body: String) {
    #[cfg(all(unix, not(target_os = "macos")))]
    {
        let _ = app;
        // A D-Bus round trip: off the runtime's workers.
        tauri::async_runtime::spawn_blocking(move || {
            let shown = notify_rust::Notification::new()
                .appname("Hearth")
                .icon("hearth-desktop")
                .summary(&title)
                .body(&body)
                .show();
            if let Err(e) = shown {
                tracing::debug!(error = %e, "cannot show a notification");
            }
        });
    }
    #[cfg(not(all(unix, not(target_os = "macos"))))]
    if let Err(e) = app.notification().builder().title(title).body(body).show() {
        tracing::debug!(error = %e, "cannot show a notification");
    }
}

/// Puts the unread total in the window title: "Hearth (3)".
#[tauri::command(rename_all = "snake_case")]
pub fn set_unread(app: AppHandle, total: u32) {
    let title = match total {
        0 => "Hearth".to_string(),
        n => format!("Hearth ({n})"),
    };
    if let Some(w) = app.get_webview_window("main") {
        if let Err(e) = w.set_title(&title) {
            tracing::debug!(error = %e, "cannot set the window title");
        }
    }
    if let Some(tray) = app.try_state::<TrayState>() {
        if let Some(t) = &tray.0 {
            t.set_unread(total);
        }
    }
}
