//! Passcodes never appear in logs (host or client, at the most verbose level), and are
//! never stored in clear: the host keeps an Argon2id hash, the client a resume token.

mod common;

use std::process::Stdio;

use common::*;

const SECRET: &str = "correct-horse-battery-staple-42";

#[test]
fn passcodes_stay_out_of_logs_and_files() {
    let host_dir = tempfile::tempdir().unwrap();
    let client_dir = tempfile::tempdir().unwrap();
    let log = host_dir.path().join("host.log");
    let log_file = std::fs::File::create(&log).unwrap();
    let mut host = hearth()
        .env("HEARTH_LOG", "trace")
        .env("HEARTH_PASSCODE", SECRET)
        .args([
            "host",
            "--name",
            "Secret",
            "--bind",
            "127.0.0.1:0",
            "--no-advertise",
            "--data-dir",
        ])
        .arg(host_dir.path())
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(host.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let url = line.trim().to_string();
    // A wrong passcode and an ack both end the run at once; the timeout only bounds a
    // hang, so it is generous (Argon2 and trace logging in a debug build, on a busy machine).
    let run = |pass: &str, text: &str| {
        hearth()
            .env("HEARTH_LOG", "trace")
            .args([
                "join",
                &url,
                "--name",
                "Bob",
                "--passcode",
                pass,
                "--send",
                text,
                "--timeout",
                "30",
                "--data-dir",
            ])
            .arg(client_dir.path())
            .output()
            .unwrap()
    };
    let wrong = run("not-the-passcode", "nope");
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("wrong passcode"));
    let right = run(SECRET, "hello");
    assert!(
        right.status.success(),
        "{}",
        String::from_utf8_lossy(&right.stderr)
    );
    // Rejoining uses the resume token: no passcode needed any more.
    let again = hearth()
        .args([
            "join",
            &url,
            "--name",
            "Bob",
            "--send",
            "again",
            "--timeout",
            "30",
            "--data-dir",
        ])
        .arg(client_dir.path())
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(host.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    // Once it has exited, everything it logged is in the file.
    let _ = host.wait();

    let host_log = std::fs::read_to_string(&log).unwrap();
    assert!(
        host_log.len() > 1000,
        "trace logging was on ({} bytes)",
        host_log.len()
    );
    for (name, text) in [
        ("host log", host_log),
        (
            "client stderr (wrong)",
            String::from_utf8_lossy(&wrong.stderr).into_owned(),
        ),
        (
            "client stderr (right)",
            String::from_utf8_lossy(&right.stderr).into_owned(),
        ),
    ] {
        assert!(
            !text.contains(SECRET),
            "the passcode leaked into the {name}"
        );
    }
    for dir in [host_dir.path(), client_dir.path()] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() && path.file_name().is_some_and(|n| n != "host.log") {
                let bytes = std::fs::read(&path).unwrap();
                assert!(
                    !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
                    "the passcode is stored in clear in {}",
                    path.display()
                );
            }
        }
    }
}
