//! Verified identity through the real binaries (protocol §3.7): `hearth whoami`, two
//! people called Alice told apart by `hearth join`, an impostor refused, and an
//! independent client written from docs/protocol.md alone that authenticates.

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

fn whoami(dir: &std::path::Path) -> Value {
    let out = hearth()
        .args(["whoami", "--json", "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs the independent client; its JSON lines and its exit status.
fn conformance(args: &[&str]) -> (Vec<Value>, std::process::ExitStatus, String) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/conformance/identity_client.py"
    );
    // Debian's own Python, where scripts/setup.sh installs websockets and cryptography.
    let out = Command::new("/usr/bin/python3")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (
        lines,
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn identity_end_to_end_whoami_two_alices_an_impostor_and_an_independent_client() {
    let dir = tempfile::tempdir().unwrap();
    let host = HostProc::start(&dir.path().join("host"), "127.0.0.1:0", "Team", &[]);
    let url = host.url();
    let (a1, a2) = (dir.path().join("alice1"), dir.path().join("alice2"));

    // whoami: stable, and the same id the host then sees.
    let me = whoami(&a1);
    assert_eq!(me, whoami(&a1));
    let code1 = me["identity_code"].as_str().unwrap().to_string();
    assert_eq!(code1.len(), 19);
    assert_eq!(me["public_key"].as_str().unwrap().len(), 64);
    let code2 = whoami(&a2)["identity_code"].as_str().unwrap().to_string();
    assert_ne!(code1, code2);

    for (d, text) in [(&a1, "first Alice here"), (&a2, "second Alice, مرحبا")] {
        let out = join(&[&url, "--name", "Alice", "--send", text], d);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Human output tells the two apart, by code, and both are verified.
    let reader = dir.path().join("reader");
    let out = join(&[&url, "--name", "Reader", "--tail", "10"], &reader);
    let shown = String::from_utf8_lossy(&out.stdout).to_string();
    println!("{shown}");
    assert!(
        shown.contains(&format!("Alice [{code1}]: first Alice here")),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("Alice [{code2}]: second Alice, مرحبا")),
        "{shown}"
    );
    assert!(!shown.contains("unverified"), "{shown}");
    // JSON rows carry the verified user id.
    let out = join(
        &[&url, "--name", "Reader", "--tail", "10", "--json"],
        &reader,
    );
    let rows: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let first = rows
        .iter()
        .find(|r| r["text"] == "first Alice here")
        .unwrap();
    assert_eq!(first["user_id"], me["user_id"]);
    assert_eq!(first["verified"], true);
    assert_eq!(first["identity_code"], code1.as_str());

    // The independent client authenticates, and is verified.
    let (lines, status, err) = conformance(&[&url]);
    assert!(status.success(), "{lines:?} {err}");
    assert_eq!(lines[0]["step"], "hello");
    assert_eq!(lines[0]["verified"], true, "{lines:?}");
    assert!(lines[0]["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "identity"));
    assert_eq!(lines[1]["verified"], true, "{lines:?}");
    assert_eq!(lines[2]["step"], "send");
    assert_eq!(lines[2]["verified"], true, "{lines:?}");

    // The same client claiming Alice's user id with its own key: refused, closed 4009.
    let alice_id = me["user_id"].as_str().unwrap();
    let (lines, status, err) = conformance(&[&url, "impostor-of", alice_id]);
    assert_eq!(status.code(), Some(3), "{lines:?} {err}");
    assert_eq!(lines[0]["ok"], false);
    assert_eq!(lines[0]["code"], "identity_invalid");
    assert_eq!(lines[1]["code"], 4009);
    // And nothing more appeared under her id.
    let after: Vec<_> = tail(&url, &reader, 50)
        .into_iter()
        .filter(|(_, author, _)| author == "Alice")
        .collect();
    assert_eq!(after.len(), 2, "{after:?}");
    host.sigkill();
}

/// `hearth host` with its console on a pipe: the invite line, then whatever the console
/// prints.
struct Console {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    out: std::sync::mpsc::Receiver<String>,
    url: String,
}

impl Console {
    fn start(dir: &std::path::Path, extra: &[&str]) -> Console {
        use std::io::BufRead;
        use std::process::Stdio;
        let mut child = hearth()
            .args([
                "host",
                "--name",
                "Crew",
                "--bind",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(dir)
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        // stdout and stderr (the console's errors) as one stream of lines.
        let (tx, out) = std::sync::mpsc::channel();
        let err_tx = tx.clone();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for l in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(l);
            }
        });
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for l in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                // The host's own log lines are not the console's answers.
                if !l.contains(" INFO ") && !l.contains(" WARN ") {
                    let _ = err_tx.send(l);
                }
            }
        });
        let url = out.recv_timeout(CONSOLE_WAIT).expect("the invite line");
        assert!(url.starts_with("hearth://"), "{url}");
        Console {
            child,
            stdin,
            out,
            url,
        }
    }

    /// Types a command and reads `n` lines of its answer (failing after 20 s without).
    fn command(&mut self, cmd: &str, n: usize) -> Vec<String> {
        use std::io::Write;
        writeln!(self.stdin, "{cmd}").unwrap();
        (0..n)
            .map(|i| {
                self.out
                    .recv_timeout(CONSOLE_WAIT)
                    .unwrap_or_else(|_| panic!("{cmd:?}: no answer line {}", i + 1))
            })
            .collect()
    }
}

const CONSOLE_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn succeeded(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A passcode room: removing a member revokes their resume token (they need the passcode
/// again), while the others keep theirs; members only then keeps the removed one out.
#[test]
fn the_host_console_removes_a_member_and_a_members_only_room_keeps_them_out() {
    let dir = tempfile::tempdir().unwrap();
    let host_dir = dir.path().join("host");
    let mut host = Console::start(&host_dir, &["--passcode", "sesame"]);
    let d = |n: &str| dir.path().join(n);
    let code = |n: &str| whoami(&d(n))["identity_code"].as_str().unwrap().to_string();
    let id = |n: &str| whoami(&d(n))["user_id"].as_str().unwrap().to_string();
    for who in ["Bob", "Carol"] {
        let with_passcode = [&host.url, "--name", who, "--passcode", "sesame"];
        succeeded(&join(
            &[&with_passcode[..], &["--send", "here"]].concat(),
            &d(who),
        ));
        // Their resume token lets them back without the passcode.
        succeeded(&join(
            &[&host.url, "--name", who, "--send", "back"],
            &d(who),
        ));
    }
    assert_eq!(
        host.command("help", 1)[0],
        "commands: members | remove CODE-OR-ID-OR-NAME | help"
    );
    let members = host.command("members", 2);
    println!("members:\n{}", members.join("\n"));
    for who in ["Bob", "Carol"] {
        assert!(
            members
                .iter()
                .any(|l| l.starts_with(&format!("{}  {}  {who}", code(who), id(who)))),
            "{who} [{}] in {members:?}",
            code(who)
        );
    }
    // By code: a name can be shared, a code cannot.
    let removed = host.command(&format!("remove {}", code("Carol")), 1);
    assert_eq!(
        removed[0],
        format!(
            "removed Carol [{}]: their link no longer resumes: they need the passcode to come back",
            code("Carol")
        )
    );
    assert_eq!(
        host.command("members", 1)[0],
        format!("{}  {}  Bob", code("Bob"), id("Bob"))
    );
    assert_eq!(
        host.command("remove nobody", 1)[0],
        "0 people match \"nobody\"; `members` lists them (remove by code or id)"
    );
    // Carol's token is revoked: without the passcode she is asked for it. Bob's is not.
    let out = join(
        &[&host.url, "--name", "Carol", "--send", "sneak"],
        &d("Carol"),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("needs a passcode"),
        "{err}"
    );
    succeeded(&join(
        &[&host.url, "--name", "Bob", "--send", "still here"],
        &d("Bob"),
    ));
    drop(host);

    // Members only, from now on: Bob was admitted before (his token still works); Carol
    // was removed and Dave never joined, so neither gets in, passcode or not.
    let host = Console::start(&host_dir, &["--passcode", "sesame", "--members-only"]);
    succeeded(&join(
        &[&host.url, "--name", "Bob", "--send", "still in"],
        &d("Bob"),
    ));
    for who in ["Carol", "Dave"] {
        let args = [
            &host.url,
            "--name",
            who,
            "--passcode",
            "sesame",
            "--send",
            "let me in",
        ];
        let out = join(&args, &d(who));
        let err = String::from_utf8_lossy(&out.stderr);
        println!("{who}: {err}");
        assert!(!out.status.success(), "{who} got into a members-only room");
        assert!(err.contains("members only"), "{who}: {err}");
    }
    let texts: Vec<String> = tail(&host.url, &d("Bob"), 10)
        .into_iter()
        .map(|(_, _, t)| t)
        .collect();
    assert_eq!(
        texts,
        ["here", "back", "here", "back", "still here", "still in"]
    );
}

/// On a plaintext host nobody is verified, so nobody is on a roster: the console still
/// lists who is connected (marked unverified, with no code to vouch for them) and
/// removes them; in an open room that is a kick, and the console says so.
#[test]
fn the_console_lists_and_removes_unverified_people_connected_to_an_open_room() {
    let dir = tempfile::tempdir().unwrap();
    let mut host = Console::start(&dir.path().join("host"), &["--insecure-plaintext"]);
    assert_eq!(host.command("members", 1)[0], "nobody has joined yet");
    let eve = dir.path().join("eve");
    let (mut child, rx) = interactive(&host.url, "Eve ⟨مرحبا⟩", &eve, &["--insecure-plaintext"]);
    lines_until(&rx, "* in \"Crew\"");
    let members = host.command("members", 1);
    assert!(
        members[0].starts_with("unverified ") && members[0].ends_with("  Eve ⟨مرحبا⟩  (online)"),
        "{members:?}"
    );
    let removed = host.command("remove eve ⟨مرحبا⟩", 1);
    assert!(
        removed[0].ends_with(": taken out of the room; it is open to all, so they can join again (host it --members-only to keep them out)"),
        "{removed:?}"
    );
    lines_until(&rx, "the host owner removed you from this room");
    let status = child.wait().unwrap();
    assert!(!status.success());
    assert_eq!(host.command("members", 1)[0], "nobody has joined yet");
}
