//! `hearth send-file` and `hearth get-file` as real processes: a round trip with the
//! hash checked, transfers killed mid-file (the sender, the receiver, the host) that
//! resume from where they stopped when run again, and hostile file names that never
//! escape the download folder.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn random_file(dir: &Path, name: &str, len: usize) -> PathBuf {
    let mut x: u64 = name.bytes().fold(0x9e3779b97f4a7c15 ^ len as u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    });
    let mut data = Vec::with_capacity(len + 8);
    while data.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.truncate(len);
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

fn sha256(p: &Path) -> String {
    hearth::files::hash_file(p).unwrap().0
}

fn cmd(sub: &str, url: &str, data: &Path) -> Command {
    let mut c = hearth();
    c.arg(sub)
        .arg(url)
        .args(["--name", "Tester", "--json", "--data-dir"])
        .arg(data)
        .stdin(Stdio::null());
    c
}

/// Runs to completion; its one JSON line.
fn run_json(mut c: Command) -> Value {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

fn spawn(mut c: Command) -> Child {
    c.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until `path` holds more than `bytes`, then SIGKILLs `child`.
fn kill_when_bigger(child: &mut Child, path: impl Fn() -> Option<PathBuf>, bytes: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(len) = path()
            .and_then(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
        {
            if len > bytes {
                child.kill().unwrap();
                let _ = child.wait();
                return len;
            }
        }
        if let Some(st) = child.try_wait().unwrap() {
            panic!("finished ({st}) before it could be cut: make the file bigger");
        }
        assert!(Instant::now() < deadline, "the transfer never started");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The one partial upload on the host, if any.
fn host_partial(host_dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(host_dir.join("files/partial"))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .next()
}

#[test]
fn a_file_sent_and_fetched_by_the_cli_arrives_intact() {
    let dirs = tempfile::tempdir().unwrap();
    let host = HostProc::start(&dirs.path().join("host"), "127.0.0.1:0", "Files", &[]);
    let src = tempfile::tempdir().unwrap();
    let a = random_file(src.path(), "ملف التصميم 🎨.bin", 3_000_000);
    let b = random_file(src.path(), "notes.txt", 1234);
    let mut c = cmd("send-file", &host.url(), &dirs.path().join("alice"));
    c.arg(&a).arg(&b).args(["--caption", "two files"]);
    let sent = run_json(c);
    let atts = sent["attachments"].as_array().unwrap();
    assert_eq!(atts.len(), 2);
    assert_eq!(atts[0]["file_id"], sha256(&a));
    assert_eq!(atts[0]["name"], "ملف التصميم 🎨.bin");
    assert_eq!(atts[1]["mime"], "text/plain");

    // Bob sees it in the room, and fetches it by id.
    let out = join(
        &[&host.url(), "--name", "Bob", "--tail", "5"],
        &dirs.path().join("bob"),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("two files"), "{text}");
    assert!(
        text.contains(&format!(
            "[file] notes.txt (1.2 KB, text/plain) id {}",
            sha256(&b)
        )),
        "{text}"
    );
    let dest = tempfile::tempdir().unwrap();
    let mut c = cmd("get-file", &host.url(), &dirs.path().join("bob"));
    c.arg(sha256(&a)).arg("-o").arg(dest.path());
    let got = run_json(c);
    let path = PathBuf::from(got["path"].as_str().unwrap());
    assert_eq!(path, dest.path().join("ملف التصميم 🎨.bin"));
    assert_eq!(sha256(&path), sha256(&a));
    // Again: from the cache, saved beside the first, never over it.
    let mut c = cmd("get-file", &host.url(), &dirs.path().join("bob"));
    c.arg(sha256(&a)).arg("-o").arg(dest.path());
    let again = run_json(c);
    assert_eq!(
        again["path"],
        dest.path()
            .join("ملف التصميم 🎨 (1).bin")
            .display()
            .to_string()
    );

    // A file of no message of the room: a clear error.
    let mut c = cmd("get-file", &host.url(), &dirs.path().join("bob"));
    c.arg("ab".repeat(32));
    let out = c.output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no message of this room carries that file")
    );
}

#[test]
fn a_killed_upload_resumes_from_where_it_stopped() {
    let dirs = tempfile::tempdir().unwrap();
    let host_dir = dirs.path().join("host");
    let host = HostProc::start(&host_dir, "127.0.0.1:0", "Files", &[]);
    let src = tempfile::tempdir().unwrap();
    let big = random_file(src.path(), "disk-image.iso", 400 * 1024 * 1024);
    let alice = dirs.path().join("alice");
    let mut c = cmd("send-file", &host.url(), &alice);
    c.arg(&big);
    let mut child = spawn(c);
    let hd = host_dir.clone();
    let cut = kill_when_bigger(&mut child, || host_partial(&hd), 40 * 1024 * 1024);
    assert!(cut < 400 * 1024 * 1024);
    let mut c = cmd("send-file", &host.url(), &alice);
    c.arg(&big);
    let sent = run_json(c);
    let from = sent["resumed_from"][0].as_u64().unwrap();
    assert!(
        from >= 40 * 1024 * 1024,
        "started again at {from}, not from the cut at {cut}"
    );
    assert_eq!(sent["attachments"][0]["file_id"], sha256(&big));
    let blob = host_dir.join("files/blobs").join(sha256(&big));
    assert_eq!(sha256(&blob), sha256(&big));
}

#[test]
fn an_upload_survives_a_restart_of_the_host() {
    let dirs = tempfile::tempdir().unwrap();
    let host_dir = dirs.path().join("host");
    let host = HostProc::start(&host_dir, "127.0.0.1:0", "Files", &[]);
    let addr = format!("127.0.0.1:{}", host.invite.port);
    let url = host.url();
    let src = tempfile::tempdir().unwrap();
    let big = random_file(src.path(), "backup.tar", 400 * 1024 * 1024);
    let alice = dirs.path().join("alice");
    let mut c = cmd("send-file", &url, &alice);
    c.arg(&big);
    let mut sender = spawn(c);
    let hd = host_dir.clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    while host_partial(&hd)
        .and_then(|p| std::fs::metadata(p).ok())
        .is_none_or(|m| m.len() < 40 * 1024 * 1024)
    {
        assert!(
            Instant::now() < deadline && sender.try_wait().unwrap().is_none(),
            "too fast to cut"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    host.sigkill();
    let _ = sender.kill();
    let _ = sender.wait();
    let _host = HostProc::start(&host_dir, &addr, "Files", &[]);
    let mut c = cmd("send-file", &url, &alice);
    c.arg(&big);
    let sent = run_json(c);
    let from = sent["resumed_from"][0].as_u64().unwrap();
    assert!(from >= 40 * 1024 * 1024, "started again at {from}");
    assert_eq!(
        sha256(&host_dir.join("files/blobs").join(sha256(&big))),
        sha256(&big)
    );
}

#[test]
fn a_killed_download_resumes_and_is_checked() {
    let dirs = tempfile::tempdir().unwrap();
    let host = HostProc::start(&dirs.path().join("host"), "127.0.0.1:0", "Files", &[]);
    let src = tempfile::tempdir().unwrap();
    let big = random_file(src.path(), "dataset.csv", 400 * 1024 * 1024);
    let mut c = cmd("send-file", &host.url(), &dirs.path().join("alice"));
    c.arg(&big);
    run_json(c);
    let id = sha256(&big);
    let bob = dirs.path().join("bob");
    let dest = tempfile::tempdir().unwrap();
    let mut c = cmd("get-file", &host.url(), &bob);
    c.arg(&id).arg("-o").arg(dest.path());
    let mut child = spawn(c);
    let partial = bob.join("files/cache/partial").join(&id);
    kill_when_bigger(&mut child, || Some(partial.clone()), 40 * 1024 * 1024);
    let mut c = cmd("get-file", &host.url(), &bob);
    c.arg(&id).arg("-o").arg(dest.path());
    let got = run_json(c);
    assert!(
        got["resumed_from"].as_u64().unwrap() >= 40 * 1024 * 1024,
        "{got}"
    );
    assert_eq!(sha256(Path::new(got["path"].as_str().unwrap())), id);
}

/// A sender names its file anything it likes (`../../etc/passwd`, an absolute path, a
/// Windows device, 300 characters): the saved file stays in the folder asked for.
#[test]
fn hostile_file_names_never_escape_the_download_folder() {
    let dirs = tempfile::tempdir().unwrap();
    let host = HostProc::start(&dirs.path().join("host"), "127.0.0.1:0", "Files", &[]);
    let src = tempfile::tempdir().unwrap();
    let f = random_file(src.path(), "innocent.txt", 5000);
    let id = sha256(&f);
    let mut c = cmd("send-file", &host.url(), &dirs.path().join("mallory"));
    c.arg(&f);
    let sent = run_json(c);
    let att = sent["attachments"][0].clone();
    let long = format!("{}.txt", "ü".repeat(240));
    let rt = tokio::runtime::Runtime::new().unwrap();
    for (i, name) in [
        "../../etc/passwd",
        "/etc/shadow",
        "..\\..\\Windows\\win.ini",
        "CON",
        long.as_str(),
    ]
    .into_iter()
    .enumerate()
    {
        // Mallory sends the same file under a hostile name, with the library (the CLI
        // names files after themselves).
        let mut a: hearth::protocol::files::Attachment =
            serde_json::from_value(att.clone()).unwrap();
        a.name = name.into();
        rt.block_on(send_raw(&host, &dirs.path().join("mallory"), a));
        let dest = tempfile::tempdir().unwrap();
        let mut c = cmd("get-file", &host.url(), &dirs.path().join("bob"));
        c.arg(&id).arg("-o").arg(dest.path());
        let got = run_json(c);
        let path = PathBuf::from(got["path"].as_str().unwrap());
        assert_eq!(got["name"], name, "case {i}");
        assert_eq!(
            path.parent(),
            Some(dest.path()),
            "{name:?} saved as {path:?}"
        );
        assert_eq!(sha256(&path), id);
        assert_eq!(std::fs::read_dir(dest.path()).unwrap().count(), 1);
    }
}

async fn send_raw(host: &HostProc, data: &Path, a: hearth::protocol::files::Attachment) {
    use std::sync::Arc;
    let store = Arc::new(hearth::Store::open(data).unwrap());
    let config = hearth::ClientConfig::new(host.invite.clone(), "Mallory", store);
    let (client, mut events) = hearth::Client::start(config).unwrap();
    let room = host.invite.room_id.unwrap();
    client.join(room, None).unwrap();
    let rel = hearth::protocol::relations::Relation {
        attachments: vec![a],
        ..Default::default()
    };
    let entry = client.send_with(room, "", &rel).unwrap();
    tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(e) = events.recv().await {
            match e {
                hearth::ClientEvent::Ack { client_msg_id, .. }
                    if client_msg_id == entry.client_msg_id =>
                {
                    return
                }
                hearth::ClientEvent::SendFailed { error, .. } => panic!("refused: {error:?}"),
                _ => {}
            }
        }
    })
    .await
    .expect("acked");
    client.shutdown();
}

/// An independent client written from docs/protocol.md §15 alone uploads in two parts
/// and downloads with a Range; `hearth get-file` then fetches the same bytes.
#[test]
fn an_independent_client_uploads_and_downloads_from_the_protocol_doc() {
    let dirs = tempfile::tempdir().unwrap();
    let host = HostProc::start(&dirs.path().join("host"), "127.0.0.1:0", "Files", &[]);
    let src = tempfile::tempdir().unwrap();
    let f = random_file(src.path(), "conformance.bin", 2_500_001);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/conformance/files_client.py"
    );
    // Debian's own Python, where scripts/setup.sh installs websockets.
    let out = Command::new("/usr/bin/python3")
        .arg(script)
        .arg(host.url())
        .arg(&f)
        .output()
        .unwrap();
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        out.status.success(),
        "{lines:?} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(lines[1]["resumed_at"], 1_250_000, "{lines:?}");
    assert_eq!(lines[3]["missing_status"], 404);
    assert_eq!(lines[3]["missing_code"], "not_found");
    let dest = tempfile::tempdir().unwrap();
    let mut c = cmd("get-file", &host.url(), &dirs.path().join("bob"));
    c.arg(sha256(&f)).arg("-o").arg(dest.path());
    let got = run_json(c);
    assert_eq!(got["name"], "conformance.bin");
    assert_eq!(sha256(Path::new(got["path"].as_str().unwrap())), sha256(&f));
}
