//! The host's console: commands typed on `hearth host`'s standard input while it runs,
//! for what the desktop app's owner does with clicks (see who was admitted, remove one).

use std::io::BufRead;

use hearth::protocol::identity::identity_code;
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
            "members" => match people(hosting, room_id).await {
                Ok(p) if p.is_empty() => say(format_args!("nobody has joined yet")),
                Ok(p) => p.iter().for_each(|p| say(format_args!("{p}"))),
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

/// Someone the owner can see and remove: admitted before (the roster), connected now,
/// or both.
struct Person {
    user_id: Uuid,
    name: String,
    /// On the roster: a verified identity that joined before.
    admitted: bool,
    /// Connected with a key the host checked (false for v1 clients and plaintext hosts).
    verified: bool,
    online: bool,
}

impl std::fmt::Display for Person {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // An unverified id is only a claim: a code made from it would vouch for nothing.
        let code = match self.verified || self.admitted {
            true => identity_code(self.user_id),
            false => "unverified".to_string(),
        };
        write!(f, "{code:<19}  {}  {}", self.user_id, self.name)?;
        if self.online {
            write!(f, "  (online)")?;
        }
        Ok(())
    }
}

/// The roster and whoever is connected, the roster first, by name.
async fn people(hosting: &Hosting, room_id: Uuid) -> Result<Vec<Person>, hearth::HostError> {
    let roster = hosting.roster(room_id).await?;
    let online = hosting.host().online(room_id)?;
    let mut people: Vec<Person> = roster
        .into_iter()
        .map(|r| Person {
            online: online.iter().any(|m| m.user_id == r.user_id),
            user_id: r.user_id,
            name: r.name,
            admitted: true,
            verified: true,
        })
        .collect();
    for m in online {
        if let Some(p) = people.iter_mut().find(|p| p.user_id == m.user_id) {
            p.name = m.name;
        } else {
            people.push(Person {
                user_id: m.user_id,
                name: m.name,
                admitted: false,
                verified: m.verified,
                online: true,
            });
        }
    }
    Ok(people)
}

async fn remove(hosting: &Hosting, room_id: Uuid, who: &str) {
    let people = match people(hosting, room_id).await {
        Ok(p) => p,
        Err(e) => return eprintln!("error: {e}"),
    };
    let hits = matching(&people, who);
    let [p] = hits.as_slice() else {
        return eprintln!(
            "{} people match {who:?}; `members` lists them (remove by code or id)",
            hits.len()
        );
    };
    let room = hosting.host().room(room_id);
    match hosting.remove_member(room_id, p.user_id).await {
        Ok(_) => say(format_args!(
            "removed {} [{}]: {}",
            p.name,
            identity_code(p.user_id),
            match room {
                Some(r) if r.members_only => "this members-only room refuses them from now on",
                Some(r) if r.has_passcode => {
                    "their link no longer resumes: they need the passcode to come back"
                }
                // An open room takes anyone who joins: removal is only a kick there.
                _ => "taken out of the room; it is open to all, so they can join again (host it --members-only to keep them out)",
            }
        )),
        Err(e) => eprintln!("error: {e}"),
    }
}

/// People matching a code (dashes and case optional) or a user id; failing those, a
/// name (case-insensitive), where a name two people share matches both and is refused.
/// An exact code or id wins: it names one key, whatever anyone calls themselves.
fn matching<'a>(people: &'a [Person], who: &str) -> Vec<&'a Person> {
    let squash = |s: &str| s.replace('-', "").to_lowercase();
    let key = squash(who);
    if key.is_empty() {
        return Vec::new();
    }
    let by_key: Vec<&Person> = people
        .iter()
        .filter(|p| {
            squash(&identity_code(p.user_id)) == key || squash(&p.user_id.to_string()) == key
        })
        .collect();
    if !by_key.is_empty() {
        return by_key;
    }
    let name = who.to_lowercase();
    people
        .iter()
        .filter(|p| p.name.to_lowercase() == name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_are_found_by_code_id_or_a_name_nobody_shares() {
        let entry = |n: u128, name: &str| Person {
            user_id: Uuid::from_u128(n << 90),
            name: name.into(),
            admitted: true,
            verified: true,
            online: false,
        };
        let mut r = vec![entry(1, "Alice"), entry(2, "Alice"), entry(3, "Bob")];
        let code = identity_code(r[1].user_id);
        assert_eq!(matching(&r, &code)[0].user_id, r[1].user_id);
        assert_eq!(matching(&r, &code.replace('-', "").to_lowercase()).len(), 1);
        assert_eq!(matching(&r, &r[2].user_id.to_string())[0].name, "Bob");
        assert_eq!(matching(&r, "bob").len(), 1);
        assert_eq!(matching(&r, "ALICE").len(), 2, "a shared name is ambiguous");
        assert!(matching(&r, "").is_empty());
        assert!(matching(&r, "carol").is_empty());
        // Someone who names themselves after another's code does not make it ambiguous.
        r.push(entry(4, &code));
        let hits = matching(&r, &code);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].user_id, r[1].user_id);
    }
}
