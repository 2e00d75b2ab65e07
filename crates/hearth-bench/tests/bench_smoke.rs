//! Smoke tests of `hearth-bench`: the real binary drives short scenarios and must report
//! zero lost and zero duplicate messages. No timing is asserted (CI machines are noisy).

use std::process::Command;

fn bench(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_hearth-bench"))
        .args(args)
        .arg("--json")
        .env("HEARTH_LOG", "warn")
        .output()
        .expect("run hearth-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "hearth-bench failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("bad JSON ({e}): {stdout}"))
}

#[test]
fn busy_room_smoke_against_hearth_and_the_floor() {
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("smoke.svg");
    let data = dir.path().to_str().unwrap();
    let report = bench(&[
        "--scenario",
        "busy-room",
        "--clients",
        "20",
        "--warmup",
        "0.5",
        "--duration",
        "2",
        "--data-root",
        data,
        "--plot",
        plot.to_str().unwrap(),
    ]);
    let runs = report["runs"].as_array().expect("runs");
    let targets: Vec<&str> = runs.iter().filter_map(|r| r["target"].as_str()).collect();
    assert_eq!(targets, ["hearth", "floor"]);
    for r in runs {
        assert_eq!(r["lost"], 0, "{r}");
        assert_eq!(r["duplicates"], 0, "{r}");
        assert_eq!(r["errors"], 0, "{r}");
        assert!(r["delivered_per_sec"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["acks_per_sec"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["latency_ms"]["samples"].as_u64().unwrap() > 0, "{r}");
    }
    // Hearth was started by the bench, so its CPU and memory are reported.
    assert!(runs[0]["server_peak_rss_mib"].as_f64().unwrap() > 0.0);
    assert!(report["ratios"].as_array().is_some_and(|r| !r.is_empty()));
    let svg = std::fs::read_to_string(&plot).expect("plot written");
    assert!(svg.contains("<svg"), "not an SVG");
}

#[test]
fn idle_and_big_history_smoke() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let idle = bench(&[
        "--scenario",
        "idle",
        "--target",
        "hearth",
        "--clients",
        "200",
        "--rooms",
        "10",
        "--duration",
        "0.5",
        "--data-root",
        data,
    ]);
    let run = &idle["runs"][0];
    assert_eq!(run["clients"], 200);
    assert!(run["connects_per_sec"].as_f64().unwrap() > 0.0);
    assert!(run["server_rss_per_connection_kib"].is_number());

    let history = bench(&[
        "--scenario",
        "big-history",
        "--history-messages",
        "5000",
        "--single-commits",
        "20",
        "--data-root",
        data,
    ]);
    let h = &history["history"];
    assert_eq!(h["ok"], true, "{h}");
    assert_eq!(h["messages"], 5020);
    assert!(h["history_random_ms"]["samples"].as_u64().unwrap() > 0);
    assert!(h["join_ms"]["samples"].as_u64().unwrap() > 0);
}

#[test]
fn search_smoke() {
    let dir = tempfile::tempdir().unwrap();
    let report = bench(&[
        "--scenario",
        "search",
        "--search-messages",
        "5000",
        "--search-live",
        "50",
        "--search-iterations",
        "3",
        "--data-root",
        dir.path().to_str().unwrap(),
    ]);
    let s = &report["search"];
    // ok: every page held the hits the generator counted, within its filters, and the
    // unindexed cache found nothing.
    assert_eq!(s["ok"], true, "{s}");
    assert_eq!(s["messages"], 5000);
    assert_eq!(s["queries"].as_array().map(Vec::len), Some(9));
    assert!(s["indexed"]["per_sec"].as_f64().unwrap() > 0.0);
    assert!(s["unindexed"]["db_bytes"].as_u64().unwrap() > 0);
    assert_eq!(s["live_indexed_ms"]["samples"], 50);
    assert_eq!(s["overall_ms"]["samples"], 27);
}
