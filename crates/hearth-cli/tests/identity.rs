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
    out: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
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
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let url = out.next().unwrap().unwrap();
        assert!(url.starts_with("hearth://"), "{url}");
        Console {
            child,
            stdin,
            out,
            url,
        }
    }

    /// Types a command and reads `n` lines of its answer.
    fn command(&mut self, cmd: &str, n: usize) -> Vec<String> {
        use std::io::Write;
        writeln!(self.stdin, "{cmd}").unwrap();
        (0..n).map(|_| self.out.next().unwrap().unwrap()).collect()
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_host_console_removes_a_member_and_a_members_only_room_keeps_them_out() {
    let dir = tempfile::tempdir().unwrap();
    let host_dir = dir.path().join("host");
    let mut host = Console::start(&host_dir, &[]);
    let d = |n: &str| dir.path().join(n);
    let code = |n: &str| whoami(&d(n))["identity_code"].as_str().unwrap().to_string();
    for who in ["Bob", "Carol"] {
        let out = join(&[&host.url, "--name", who, "--send", "here"], &d(who));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let members = host.command("members", 2);
    println!("members:\n{}", members.join("\n"));
    for who in ["Bob", "Carol"] {
        assert!(
            members
                .iter()
                .any(|l| l.starts_with(&code(who)) && l.ends_with(who)),
            "{who} [{}] in {members:?}",
            code(who)
        );
    }
    // By code: a name can be shared, a code cannot.
    let removed = host.command(&format!("remove {}", code("Carol")), 1);
    assert_eq!(
        removed[0],
        format!(
            "removed Carol [{}]: their link no longer resumes",
            code("Carol")
        )
    );
    assert_eq!(
        host.command("members", 1)[0],
        format!(
            "{}  {}  Bob",
            code("Bob"),
            whoami(&d("Bob"))["user_id"].as_str().unwrap()
        )
    );
    drop(host);

    // Members only, from now on: Bob was admitted before; Carol was removed and Dave
    // never joined, so neither gets in (Carol's resume token was revoked with her).
    let host = Console::start(&host_dir, &["--members-only"]);
    let ok = join(
        &[&host.url, "--name", "Bob", "--send", "still in"],
        &d("Bob"),
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    for who in ["Carol", "Dave"] {
        let out = join(&[&host.url, "--name", who, "--send", "let me in"], &d(who));
        let err = String::from_utf8_lossy(&out.stderr);
        println!("{who}: {err}");
        assert!(!out.status.success(), "{who} got into a members-only room");
        assert!(err.contains("members only"), "{who}: {err}");
    }
    let texts: Vec<String> = tail(&host.url, &d("Bob"), 10)
        .into_iter()
        .map(|(_, _, t)| t)
        .collect();
    assert_eq!(texts, ["here", "here", "still in"]);
}
