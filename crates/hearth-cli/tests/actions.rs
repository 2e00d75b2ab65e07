//! Message actions end to end with real processes (docs/protocol.md §3.9): edits,
//! reactions and deletions by `hearth join`, moderation by the host owner, the host
//! killed with SIGKILL in between, and a member who was offline throughout catching up
//! exactly once; what a deletion leaves in the host's and the member's database files;
//! and `hearth search` over the member's cache.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// `hearth join URL --name NAME ARGS…`: the seq the host stored, from "sent (seq N)".
fn act(url: &str, name: &str, dir: &Path, args: &[&str]) -> u64 {
    let mut all = vec![url, "--name", name];
    all.extend_from_slice(args);
    let out = join(&all, dir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {err}");
    err.split("sent (seq ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no seq in {err}"))
}

fn rows(out: &std::process::Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn contains(path: &Path, needle: &str) -> bool {
    ["", "-wal"].iter().any(|suffix| {
        let p = format!("{}{suffix}", path.display());
        std::fs::read(&p)
            .map(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
            .unwrap_or(false)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_survive_sigkill_and_an_offline_member_catches_up_once() {
    let host_dir = tempfile::tempdir().unwrap();
    let (alice, bob, dave) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    // Seeding goes faster than a person types.
    let fast = ["--rate", "100000", "--burst", "100000"];
    let host = HostProc::start(host_dir.path(), "127.0.0.1:0", "Planning", &fast);
    let url = host.url();
    let bind = format!("127.0.0.1:{}", host.invite.port);
    let room = host.invite.room_id.unwrap();

    // A room with history: 300 messages from Carol, in three scripts and with emoji.
    let mut carol = wss_member(&host.invite, "Carol").await;
    let texts = (1..=300).map(|i| match i % 3 {
        0 => format!("status update {i}: the build is green ✅"),
        1 => format!("تحديث {i}: كل شيء يعمل"),
        _ => format!("note {i} about the offsite agenda 🗓️"),
    });
    send_all_acked(&mut carol, room, "c", texts).await;
    drop(carol);
    // Bob has it all, then goes offline for everything below.
    assert_eq!(tail(&url, bob.path(), 5).len(), 5);

    let m = act(
        &url,
        "Alice",
        alice.path(),
        &[
            "--send",
            "the draft is in the shared folder (marker-orig-7731)",
        ],
    );
    assert_eq!(m, 301);
    let e = act(
        &url,
        "Alice",
        alice.path(),
        &[
            "--edit",
            "301",
            "--send",
            "the final version is in the shared folder",
        ],
    );
    // Dave may react, but not edit or delete Alice's message.
    for bad in [
        &["--edit", "301", "--send", "dave was here"][..],
        &["--delete", "301"][..],
    ] {
        let mut args = vec![url.as_str(), "--name", "Dave"];
        args.extend_from_slice(bad);
        let out = join(&args, dave.path());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{bad:?} must be refused");
        assert!(err.contains("not_author"), "{err}");
    }
    let r1 = act(&url, "Dave", dave.path(), &["--react", "301", "👍"]);
    let r2 = act(&url, "Dave", dave.path(), &["--react", "301", "👍"]);
    let gone = act(
        &url,
        "Alice",
        alice.path(),
        &["--send", "wrong room, sorry (marker-gone-5521)"],
    );
    let d = act(
        &url,
        "Alice",
        alice.path(),
        &["--delete", &gone.to_string()],
    );
    // Refused actions took no seq.
    assert_eq!((e, r1, r2, gone, d), (302, 303, 304, 305, 306));

    // Power loss, and back.
    host.sigkill();
    let host = HostProc::start(host_dir.path(), &bind, "Planning", &fast);
    // The host owner (the host's own identity) moderates someone else's message.
    let by_owner = act(&url, "Host", host_dir.path(), &["--delete", "10"]);
    assert_eq!(by_owner, 307);

    // Bob comes back and catches up: every event once, in order, in the final state.
    let out = join(
        &[&url, "--name", "Bob", "--tail", "400", "--json"],
        bob.path(),
    );
    let log = rows(&out);
    let seqs: Vec<u64> = log.iter().map(|v| v["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=307).collect::<Vec<_>>(),
        "each event exactly once"
    );
    let at = |s: u64| &log[s as usize - 1];
    assert_eq!(at(302)["kind"], "edit");
    assert_eq!(at(302)["target"], 301);
    assert_eq!(at(303)["kind"], "react");
    assert_eq!(at(303)["text"], "👍");
    assert_eq!(at(305)["text"], "", "deleted text is gone from the cache");
    assert_eq!(at(305)["deleted"]["seq"], 306);
    assert_eq!(at(10)["text"], "");
    assert_eq!(at(10)["deleted"]["by_owner"], true);

    // Search over Bob's cache: the current text, never the deleted one.
    let search = |q: &str| {
        let out = hearth()
            .args(["search", q, "--json", "--data-dir"])
            .arg(bob.path())
            .output()
            .unwrap();
        rows(&out)
    };
    let hits = search("final version");
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0]["seq"], 301);
    assert_eq!(hits[0]["room"], "Planning");
    assert_eq!(hits[0]["matches"], serde_json::json!(["final", "version"]));
    assert!(
        search("marker-orig").is_empty(),
        "an edited message is found by its new text"
    );
    assert!(search("marker-gone").is_empty());
    assert_eq!(search("offsite").len(), 20, "the default page");
    assert_eq!(search("كل").len(), 20);

    // The deleted text is not in the database files: the host's (after its graceful
    // stop) and Bob's.
    assert!(host.sigterm(Duration::from_secs(10)).success());
    let host_db = host_dir.path().join("hearth.db");
    assert!(
        contains(&host_db, "status update 3:"),
        "the check reads the file"
    );
    assert!(!contains(&host_db, "marker-gone-5521"));
    assert!(!contains(&bob.path().join("hearth.db"), "marker-gone-5521"));
}
