//! `hearth join` prints what other members wrote to a terminal: escape sequences in it
//! must reach the screen as visible text, never as commands (docs/security.md).

mod common;

use common::{join, HostProc};

#[test]
fn escape_sequences_from_a_member_are_shown_not_obeyed() {
    let host_dir = tempfile::tempdir().unwrap();
    let host = HostProc::start(host_dir.path(), "127.0.0.1:0", "General", &[]);
    let url = host.url();

    // OSC 0 retitles the terminal, CSI 2J clears it, CSI 1A + CR rewrite the line above.
    let hostile = "hi\u{1b}]0;owned\u{7}\u{1b}[2J\u{1b}[1A\rfake line\u{9b}31m";
    let mallory = tempfile::tempdir().unwrap();
    let out = join(
        &[&url, "--name", "Mallory", "--send", hostile],
        mallory.path(),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let reader = tempfile::tempdir().unwrap();
    let out = join(&[&url, "--name", "Reader", "--tail", "5"], reader.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown = String::from_utf8(out.stdout).unwrap();
    assert!(
        !shown.chars().any(|c| c.is_control() && c != '\n'),
        "control characters reached the terminal: {shown:?}"
    );
    assert!(
        shown.contains(r"Mallory: hi\u{1b}]0;owned\u{7}\u{1b}[2J\u{1b}[1A\u{d}fake line\u{9b}31m"),
        "{shown:?}"
    );

    // --json is for programs: the text stays exact.
    let out = join(
        &[&url, "--name", "Reader", "--tail", "5", "--json"],
        reader.path(),
    );
    let line = String::from_utf8(out.stdout).unwrap();
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(v["text"], hostile);
}
