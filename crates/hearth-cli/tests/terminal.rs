//! `hearth join` prints what other members wrote to a terminal: escape sequences in it
//! must reach the screen as visible text, never as commands (docs/security.md).

mod common;

use common::{interactive, join, lines_until, tail, HostProc};

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
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let reader = tempfile::tempdir().unwrap();
    let out = join(&[&url, "--name", "Reader", "--tail", "5"], reader.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = String::from_utf8(out.stdout).unwrap();
    assert!(
        !shown.chars().any(|c| c.is_control() && c != '\n'),
        "control characters reached the terminal: {shown:?}"
    );
    assert!(
        // The author's identity code on first appearance (protocol §3.7), then the text.
        shown.contains("] Mallory [")
            && shown.contains(r"]: hi\u{1b}]0;owned\u{7}\u{1b}[2J\u{1b}[1A\u{d}fake line\u{9b}31m"),
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

/// 300 pasted lines meet the host's rate limit. Nothing is lost, so the user is told
/// once, not once per refused line, and every line arrives in order.
#[test]
fn a_pasted_block_is_rate_limited_quietly_and_arrives_whole() {
    use std::io::Write;
    let host_dir = tempfile::tempdir().unwrap();
    let host = HostProc::start(
        host_dir.path(),
        "127.0.0.1:0",
        "General",
        &["--rate", "100", "--burst", "10"],
    );
    let url = host.url();
    let data = tempfile::tempdir().unwrap();
    let (mut child, rx) = interactive(&url, "Paster", data.path(), &[]);
    lines_until(&rx, "* in \"General\"");
    let block: String = (0..300).map(|i| format!("line {i} שלום 🙂\n")).collect();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(block.as_bytes()).unwrap();
    drop(stdin); // end of input: it leaves once everything is delivered
    let status = child.wait().unwrap();
    assert!(status.success());
    let lines: Vec<String> = rx.try_iter().collect();
    let told = lines
        .iter()
        .filter(|l| l.contains("sending more slowly"))
        .count();
    assert_eq!(told, 1, "{lines:#?}");
    assert!(
        !lines.iter().any(|l| l.contains("rate_limited")),
        "{lines:#?}"
    );
    let reader = tempfile::tempdir().unwrap();
    let got = tail(&url, reader.path(), 300);
    let texts: Vec<String> = got.into_iter().map(|t| t.2).collect();
    let want: Vec<String> = (0..300).map(|i| format!("line {i} שלום 🙂")).collect();
    assert_eq!(texts, want);
}

/// A member whose disk is full (a 4 MB tmpfs, filled up) types a line: it is told the
/// disk is full, and it keeps running and receiving.
#[test]
fn a_full_disk_is_reported_and_the_member_keeps_receiving() {
    use std::io::Write;
    if unsafe { libc::geteuid() } != 0 {
        panic!("this test mounts a tmpfs and needs root (CI runs as root)");
    }
    let host_dir = tempfile::tempdir().unwrap();
    let host = HostProc::start(host_dir.path(), "127.0.0.1:0", "General", &[]);
    let url = host.url();
    let mnt = tempfile::tempdir().unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(mnt.path())
        .status()
        .unwrap();
    assert!(mounted.success(), "mount tmpfs");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }
    let _unmount = Unmount(mnt.path().to_path_buf());
    let data = mnt.path().join("bob");
    let out = join(&[&url, "--name", "Bob", "--send", "room space"], &data);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (mut child, rx) = interactive(&url, "Bob", &data, &[]);
    lines_until(&rx, "* in \"General\"");
    // Fill the disk to the last byte.
    let mut filler = std::fs::File::create(mnt.path().join("filler")).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while filler.write_all(&chunk).is_ok() {}
    let mut small = [0u8; 1];
    while filler.write_all(&small[..]).is_ok() {
        small[0] = 0;
    }
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "typed on a full disk").unwrap();
    lines_until(&rx, "the disk is full");
    assert!(child.try_wait().unwrap().is_none(), "it keeps running");

    let alice = tempfile::tempdir().unwrap();
    let out = join(
        &[&url, "--name", "Alice", "--send", "can you read this?"],
        alice.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lines_until(&rx, "]: can you read this?");
    writeln!(stdin, "/quit").unwrap();
    assert!(child.wait().unwrap().success());
}

/// `hearth host … &` in an interactive shell: the host's console reads stdin, which is
/// the terminal, from a background job. The terminal must not stop the host for that
/// (SIGTTIN): it keeps serving. Run under `script`, so the shell has a real terminal and
/// job control.
#[test]
fn a_host_started_in_the_background_of_a_terminal_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let hearth = env!("CARGO_BIN_EXE_hearth");
    let run = dir.path().join("run.sh");
    std::fs::write(
        &run,
        format!(
            "set -m\n\
             export HEARTH_NO_ADVERTISE=1 HEARTH_LOG=warn\n\
             '{hearth}' host --name Bg --bind 127.0.0.1:0 --data-dir host > url.txt 2> host.err &\n\
             for i in $(seq 50); do [ -s url.txt ] && break; sleep 0.1; done\n\
             sleep 0.5\n\
             jobs -l\n\
             timeout 10 '{hearth}' join \"$(head -1 url.txt)\" --name B --send hi --data-dir b\n\
             echo \"join rc=$?\"\n\
             kill -CONT %1; kill %1\n"
        ),
    )
    .unwrap();
    let out = std::process::Command::new("script")
        .args([
            "-qec",
            &format!("bash --norc -i {}", run.display()),
            "/dev/null",
        ])
        .current_dir(dir.path())
        .output()
        .expect("script (util-linux) runs");
    let shown = String::from_utf8_lossy(&out.stdout);
    println!("{shown}");
    assert!(
        !shown.contains("Stopped"),
        "the terminal stopped the host: {shown}"
    );
    assert!(
        shown.contains("join rc=0"),
        "the host did not serve: {shown}"
    );
}
