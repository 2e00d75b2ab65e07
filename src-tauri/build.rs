//! Reads the repository-root tauri.conf.json and generates the permissions for exactly the
//! commands below, so the capabilities in `capabilities/` can grant them one by one.

/// Every command the shell exposes; keep in sync with `generate_handler!` in main.rs.
const COMMANDS: &[&str] = &[
    "subscribe",
    "ui_ready",
    "ui_mark",
    "profile",
    "set_name",
    "settings",
    "set_settings",
    "rooms",
    "members",
    "messages",
    "unhosted_messages",
    "send",
    "typing",
    "mark_read",
    "join_link",
    "rejoin",
    "retry_room",
    "set_draft",
    "join_discovered",
    "leave",
    "host_room",
    "hosted",
    "stop_hosting",
    "set_room_policy",
    "remove_member",
    "people",
    "set_verified",
    "discovered",
    "trust_fingerprint",
    "notify",
    "set_unread",
    "search",
    "open_link",
    "send_files",
    "pick_and_send",
    "send_pasted",
    "fetch_file",
    "save_file_as",
    "open_file",
    "cancel_transfer",
    "transfers",
    "file_limits",
    "keep_file",
    "file_cache_usage",
];

fn main() {
    let attrs = tauri_build::Attributes::new()
        .config_path("../tauri.conf.json")
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(e) = tauri_build::try_build(attrs) {
        // A build script reports by panicking; say what to fix.
        panic!("tauri-build failed: {e:#}");
    }
}
