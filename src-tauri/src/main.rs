//! Hearth's desktop app: a thin Tauri shell. Every command calls [`hearth_app::App`];
//! one task forwards its events to the window. All behaviour lives in `hearth-app`.

// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;
mod files;
mod tray;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hearth_app::{App, AppConfig, AppEvent};
use tauri::ipc::Channel;
use tauri::{Manager, RunEvent};
use tokio::sync::{mpsc, watch};

/// When `main` started; `ui_ready` reports the time to first paint against it.
pub(crate) static STARTED: OnceLock<Instant> = OnceLock::new();

/// What the commands share.
pub(crate) struct Shell {
    pub app: App,
    /// The window's event channel, for the forwarding task: the latest subscriber wins
    /// (a reloaded window subscribes again), so it holds one channel, not a queue.
    pub subscribe: watch::Sender<Option<Channel<AppEvent>>>,
    /// `HEARTH_PERF=1`: the UI reports render timings through `ui_mark`.
    pub perf: bool,
    /// Closing the window hides it (Hearth keeps hosting) when there is a tray icon.
    pub background: AtomicBool,
}

/// The tray icon, if the system has one (set up once the app runs).
pub(crate) struct TrayState(pub Option<tray::Tray>);

struct Options {
    data_dir: Option<PathBuf>,
    bind: Option<SocketAddr>,
    discovery: bool,
}

const USAGE: &str = "usage: hearth-desktop [--data-dir DIR] [--bind ADDR:PORT] [--no-discovery]";

fn parse_args() -> anyhow::Result<Options> {
    let mut o = Options {
        data_dir: None,
        bind: None,
        discovery: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--data-dir" => o.data_dir = Some(args.next().context(USAGE)?.into()),
            "--bind" => {
                let v = args.next().context(USAGE)?;
                o.bind = Some(v.parse().with_context(|| format!("bad --bind {v}"))?);
            }
            "--no-discovery" => o.discovery = false,
            "-h" | "--help" => {
                println!("{USAGE}\n\nThe data directory can also come from HEARTH_DATA_DIR.");
                std::process::exit(0);
            }
            other => match other.strip_prefix("--data-dir=") {
                Some(v) => o.data_dir = Some(v.into()),
                None => bail!("unknown argument {other:?}\n{USAGE}"),
            },
        }
    }
    Ok(o)
}

fn data_dir(explicit: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(d) = explicit {
        return Ok(d);
    }
    if let Some(d) = std::env::var_os("HEARTH_DATA_DIR").filter(|d| !d.is_empty()) {
        return Ok(d.into());
    }
    hearth::store::default_data_dir().context("no home directory; pass --data-dir")
}

/// Forwards the app's events to whichever window channel subscribed last. Events that
/// arrive before the window subscribes wait in the app's bounded queue (past its bound
/// the app drops them and sends a resync; see `App::emit`).
async fn forward(
    mut events: mpsc::Receiver<AppEvent>,
    mut channel: watch::Receiver<Option<Channel<AppEvent>>>,
) {
    loop {
        let current = channel.borrow_and_update().clone();
        let Some(window) = current else {
            if channel.changed().await.is_err() {
                return;
            }
            continue;
        };
        tokio::select! {
            c = channel.changed() => {
                if c.is_err() {
                    return;
                }
            }
            e = events.recv() => match e {
                Some(e) => {
                    if let Err(err) = window.send(e) {
                        tracing::warn!(error = %err, "cannot deliver an event to the window");
                    }
                }
                None => return,
            },
        }
    }
}

fn main() {
    STARTED.get_or_init(Instant::now);
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(hearth::log_filter(
                std::env::var("HEARTH_LOG").ok().as_deref(),
                "warn,hearth=info,hearth_app=info,hearth_desktop=info",
            ))
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_target(false)
        .init();
    if let Err(e) = run() {
        eprintln!("hearth-desktop: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let opts = parse_args()?;
    let opts_data_dir = opts.data_dir.clone();
    let dir = data_dir(opts.data_dir)?;
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    let mut config = AppConfig::new(dir.clone());
    if let Some(b) = opts.bind {
        config.bind = b;
    }
    if !opts.discovery {
        config.mdns = None;
    }
    // The core runs on Tauri's Tokio runtime, so its tasks outlive this call.
    let (app, events) = tauri::async_runtime::block_on(App::start(config))
        .with_context(|| format!("cannot open the data directory {}", dir.display()))?;
    tracing::info!(data_dir = %dir.display(), "starting");

    let (sub_tx, sub_rx) = watch::channel(None);
    tauri::async_runtime::spawn(forward(events, sub_rx));
    let settings = app.settings()?;
    let shell = Shell {
        app: app.clone(),
        subscribe: sub_tx,
        perf: std::env::var_os("HEARTH_PERF").is_some_and(|v| v == "1"),
        background: AtomicBool::new(settings.background),
    };
    // Started at login with the same data directory as this run, if one was given.
    let login_args: Vec<String> = match &opts_data_dir {
        Some(d) => vec!["--data-dir".into(), d.display().to_string()],
        None => Vec::new(),
    };

    let tauri_app = tauri::Builder::default()
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_dialog::init())
        .register_asynchronous_uri_scheme_protocol("hearthfile", |ctx, request, responder| {
            // Read off the UI thread: a cached video can be large.
            let app = ctx.app_handle().state::<Shell>().app.clone();
            tauri::async_runtime::spawn_blocking(move || {
                responder.respond(files::serve_cached(&app, &request));
            });
        })
        .plugin(
            tauri_plugin_autostart::Builder::new()
                .app_name("Hearth")
                .args(login_args)
                .build(),
        )
        .manage(shell)
        .on_window_event(|window, event| {
            if let tauri::WindowEvent::CloseRequested { api, .. } = event {
                let tray = window
                    .try_state::<TrayState>()
                    .is_some_and(|t| t.0.is_some());
                let background = window.state::<Shell>().background.load(Ordering::Relaxed);
                if tray && background {
                    api.prevent_close();
                    if let Err(e) = window.hide() {
                        tracing::warn!(error = %e, "cannot hide the window");
                    }
                    tracing::info!("window closed; Hearth keeps running in the tray");
                }
            }
        })
        .invoke_handler(tauri::generate_handler![
            files::send_files,
            files::pick_and_send,
            files::send_pasted,
            files::fetch_file,
            files::save_file_as,
            files::open_file,
            files::cancel_transfer,
            files::transfers,
            files::file_limits,
            files::keep_file,
            files::file_cache_usage,
            commands::subscribe,
            commands::ui_ready,
            commands::ui_mark,
            commands::profile,
            commands::set_name,
            commands::settings,
            commands::set_settings,
            commands::rooms,
            commands::members,
            commands::messages,
            commands::unhosted_messages,
            commands::send,
            commands::search,
            commands::open_link,
            commands::typing,
            commands::mark_read,
            commands::join_link,
            commands::rejoin,
            commands::retry_room,
            commands::set_draft,
            commands::join_discovered,
            commands::leave,
            commands::host_room,
            commands::hosted,
            commands::stop_hosting,
            commands::set_room_policy,
            commands::remove_member,
            commands::people,
            commands::set_verified,
            commands::discovered,
            commands::trust_fingerprint,
            commands::notify,
            commands::set_unread,
        ])
        .setup(|app| {
            let tray = tray::create(app.handle());
            app.manage(TrayState(tray));
            // SIGINT/SIGTERM quit like closing the window: goodbyes and close frames first.
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                quit_signal().await;
                tracing::info!("signal received; quitting");
                handle.exit(0);
            });
            Ok(())
        })
        .build(tauri::generate_context!("../tauri.conf.json"))
        .context("cannot start the window")?;

    tauri_app.run(move |handle, event| {
        if let RunEvent::Exit = event {
            let app = handle.state::<Shell>().app.clone();
            // Goodbyes, close frames and the log flushed before the process ends; bounded
            // so a wedged network cannot keep a closed app alive.
            tauri::async_runtime::block_on(async move {
                if tokio::time::timeout(Duration::from_secs(5), app.shutdown())
                    .await
                    .is_err()
                {
                    tracing::warn!("shutdown took over 5 s; exiting anyway");
                }
            });
            tracing::info!("stopped");
        }
    });
    Ok(())
}

async fn quit_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut t), Ok(mut i)) => {
                tokio::select! {
                    _ = t.recv() => {}
                    _ = i.recv() => {}
                }
            }
            _ => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
