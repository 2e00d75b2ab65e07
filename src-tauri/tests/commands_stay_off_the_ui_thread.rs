//! A guard on the commands (`src/commands.rs`, `src/files.rs`): Tauri runs a sync command on the UI thread, and an
//! async one on a runtime worker. SQLite (behind the store's mutex, which the client
//! tasks share) must run on neither, so a command that touches the store goes through
//! `blocking`, and one that awaits the network is async. A new command that does
//! otherwise fails here before it can freeze the window.

/// Sync commands that touch neither the store nor the network.
const UI_THREAD_SAFE: &[&str] = &[
    "subscribe",
    "ui_ready",
    "ui_mark",
    "set_unread",
    "cancel_transfer",
    "transfers",
];

/// `App` methods that read in-memory state only, callable from any thread.
const IN_MEMORY: &[&str] = &[
    "members",
    "typing",
    "discovered",
    "cancel_transfer",
    "transfers",
];

struct Command {
    name: String,
    attribute: String,
    is_async: bool,
    body: String,
}

fn commands() -> Vec<Command> {
    let src = [
        include_str!("../src/commands.rs"),
        include_str!("../src/files.rs"),
    ];
    let mut out = Vec::new();
    for chunk in src.iter().flat_map(|s| s.split("#[tauri::command").skip(1)) {
        let attribute = chunk.lines().next().unwrap_or_default().to_string();
        let sig = chunk
            .find("pub ")
            .map(|i| &chunk[i..])
            .expect("a command is a pub fn");
        let is_async = sig.starts_with("pub async fn");
        let name = sig
            .split("fn ")
            .nth(1)
            .and_then(|s| s.split('(').next())
            .expect("a command has a name")
            .trim()
            .to_string();
        // The body runs to the next top-level item.
        let body = sig.split("\n}\n").next().unwrap_or(sig).to_string();
        out.push(Command {
            name,
            attribute,
            is_async,
            body,
        });
    }
    out
}

#[test]
fn every_command_is_read() {
    let names: Vec<String> = commands().into_iter().map(|c| c.name).collect();
    // Those the UI cannot do without: if parsing missed them, the guard guards nothing.
    for must in [
        "messages",
        "send",
        "mark_read",
        "leave",
        "rooms",
        "host_room",
        "send_files",
        "send_pasted",
    ] {
        assert!(
            names.iter().any(|n| n == must),
            "{must} not among {names:?}"
        );
    }
    assert!(names.len() >= 25, "only {} commands read", names.len());
}

#[test]
fn no_command_runs_store_or_network_work_on_the_ui_thread() {
    for c in commands() {
        let off_ui = c.is_async || c.attribute.contains("async");
        assert!(
            off_ui || UI_THREAD_SAFE.contains(&c.name.as_str()),
            "`{}` is a sync command: it runs on the UI thread. Make it async, and put \
             store work in `blocking`",
            c.name
        );
    }
}

#[test]
fn no_command_calls_the_store_on_a_runtime_worker() {
    for c in commands() {
        // Calls made straight on the app, not inside `blocking(..)`.
        let compact: String = c.body.chars().filter(|ch| !ch.is_whitespace()).collect();
        for call in compact.split("shell.app.").skip(1) {
            let method = call.split('(').next().unwrap_or_default();
            let awaited = call
                .split(';')
                .next()
                .is_some_and(|expr| expr.contains(".await"));
            assert!(
                awaited || IN_MEMORY.contains(&method),
                "`{}` calls `app.{method}` directly: a sync App method touches the store, \
                 so call it through `blocking`",
                c.name
            );
        }
    }
}
