//! The host's console: commands typed on `hearth host`'s standard input while it runs,
//! for what the desktop app's owner does with clicks (see who was admitted, remove one).

use std::io::BufRead;

use hearth::protocol::identity::identity_code;
use hearth::store::RosterEntry;
use hearth::Hosting;
use uuid::Uuid;

const HELP: &str = "commands: members | remove CODE-OR-ID-OR-NAME | help";

/// A line to stdout; a closed stdout (`hearth host | head -1`) is not the host's problem.
fn say(line: std::fmt::Arguments) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// Reads commands until standard input ends (a closed or absent stdin just ends the
/// console; the host keeps serving).
pub async fn run(hosting: &Hosting, room_id: Uuid) {
    no_stop_on_background_read();
    // A plain thread, not tokio's stdin: a read blocked on a terminal would hold up the
    // runtime's shutdown, and this thread just ends with the process.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(8);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    while let Some(line) = rx.recv().await {
        let line = line.trim();
        let (cmd, arg) = line.split_once(' ').unwrap_or((line, ""));
        match cmd {
            "" => {}
            "members" => match hosting.roster(room_id).await {
                Ok(r) if r.is_empty() => say(format_args!("no members yet")),
                Ok(r) => {
                    for m in r {
                        say(format_args!(
                            "{}  {}  {}",
                            identity_code(m.user_id),
                            m.user_id,
                            m.name
                        ));
                    }
                }
                Err(e) => eprintln!("error: {e}"),
            },
            "remove" => remove(hosting, room_id, arg.trim()).await,
            "help" => say(format_args!("{HELP}")),
            other => eprintln!("unknown command {other:?}; {HELP}"),
        }
    }
}

/// A host started in the background of a terminal (`hearth host … &`) would be stopped
/// by the terminal the moment it read stdin (SIGTTIN), and serve nobody. Ignored, such
/// a read fails instead (EIO) and only the console ends.
#[cfg(unix)]
fn no_stop_on_background_read() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: SIG_IGN runs no handler code, and nothing else in the process uses SIGTTIN.
    if let Err(e) = unsafe { signal(Signal::SIGTTIN, SigHandler::SigIgn) } {
        tracing::warn!(error = %e, "cannot ignore SIGTTIN; do not start the host in the background of a terminal");
    }
}

#[cfg(not(unix))]
fn no_stop_on_background_read() {}

async fn remove(hosting: &Hosting, room_id: Uuid, who: &str) {
    let roster = match hosting.roster(room_id).await {
        Ok(r) => r,
        Err(e) => return eprintln!("error: {e}"),
    };
    let hits = matching(&roster, who);
    let [m] = hits.as_slice() else {
        return eprintln!(
            "{} members match {who:?}; `members` lists them (remove by code or id)",
            hits.len()
        );
    };
    match hosting.remove_member(room_id, m.user_id).await {
        Ok(_) => say(format_args!(
            "removed {} [{}]: their link no longer resumes",
            m.name,
            identity_code(m.user_id)
        )),
        Err(e) => eprintln!("error: {e}"),
    }
}

/// Roster entries matching a code (dashes and case optional), a user id, or a name
/// (case-insensitive). A name two members share matches both, so it is refused.
fn matching<'a>(roster: &'a [RosterEntry], who: &str) -> Vec<&'a RosterEntry> {
    let squash = |s: &str| s.replace('-', "").to_lowercase();
    let key = squash(who);
    if key.is_empty() {
        return Vec::new();
    }
    roster
        .iter()
        .filter(|m| {
            squash(&identity_code(m.user_id)) == key
                || squash(&m.user_id.to_string()) == key
                || m.name.to_lowercase() == who.to_lowercase()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_found_by_code_id_or_a_name_nobody_shares() {
        let entry = |n: u128, name: &str| RosterEntry {
            user_id: Uuid::from_u128(n << 90),
            name: name.into(),
            admitted_at: 0,
        };
        let r = vec![entry(1, "Alice"), entry(2, "Alice"), entry(3, "Bob")];
        let code = identity_code(r[1].user_id);
        assert_eq!(matching(&r, &code)[0].user_id, r[1].user_id);
        assert_eq!(matching(&r, &code.replace('-', "").to_lowercase()).len(), 1);
        assert_eq!(matching(&r, &r[2].user_id.to_string())[0].name, "Bob");
        assert_eq!(matching(&r, "bob").len(), 1);
        assert_eq!(matching(&r, "ALICE").len(), 2, "a shared name is ambiguous");
        assert!(matching(&r, "").is_empty());
        assert!(matching(&r, "carol").is_empty());
    }
}
