//! The tray icon: with "keep running in the background" on, closing the window hides it
//! and Hearth keeps hosting; the tray brings the window back or quits, and shows the
//! unread count.

use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Wry};

pub(crate) struct Tray {
    icon: tauri::tray::TrayIcon<Wry>,
    unread: MenuItem<Wry>,
}

/// Creates the tray icon, or `None` where the system has none (on Linux the indicator
/// library is loaded at run time, and its absence panics inside the tray crate).
pub(crate) fn create(app: &AppHandle) -> Option<Tray> {
    let build = || -> tauri::Result<Tray> {
        let open = MenuItem::with_id(app, "open", "Open Hearth", true, None::<&str>)?;
        let unread = MenuItem::with_id(app, "unread", "No unread messages", false, None::<&str>)?;
        let quit = MenuItem::with_id(app, "quit", "Quit Hearth", true, None::<&str>)?;
        let sep = PredefinedMenuItem::separator(app)?;
        let menu = Menu::with_items(app, &[&open, &unread, &sep, &quit])?;
        let mut builder = TrayIconBuilder::with_id("main")
            .menu(&menu)
            .tooltip("Hearth")
            .on_menu_event(|app, e| match e.id().as_ref() {
                "open" => show_window(app),
                "quit" => app.exit(0),
                _ => {}
            });
        if let Some(icon) = app.default_window_icon() {
            builder = builder.icon(icon.clone());
        }
        let icon = builder.build(app)?;
        Ok(Tray { icon, unread })
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(build)) {
        Ok(Ok(t)) => Some(t),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "no tray icon");
            None
        }
        Err(_) => {
            tracing::warn!("no tray icon: the system has no indicator library");
            None
        }
    }
}

impl Tray {
    pub(crate) fn set_unread(&self, total: u32) {
        let text = match total {
            0 => "No unread messages".to_string(),
            1 => "1 unread message".to_string(),
            n => format!("{n} unread messages"),
        };
        let _ = self.unread.set_text(&text);
        let _ = self.icon.set_tooltip(Some(format!("Hearth: {text}")));
        // Shown next to the icon on Linux panels that support it.
        let _ = self.icon.set_title((total > 0).then(|| total.to_string()));
    }
}

pub(crate) fn show_window(app: &AppHandle) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.show();
        let _ = w.unminimize();
        let _ = w.set_focus();
    }
}
