//! Desktop measurements (not a pass/fail test; run by scripts/measure-desktop.sh):
//! time to first paint (median of 5), memory of the app and its WebKit processes when
//! idle with one room open, and the time to render a room with 10,000 cached messages
//! and to append a new one.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use hearth::store::{JoinedRoom, NewMessage, Store};
use hearth_e2e::desktop::{testid, wait_until, Driver, Ui, Xvfb};

fn target_bin(name: &str) -> Result<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    let profile = std::env::var("HEARTH_MEASURE_PROFILE").unwrap_or_else(|_| "debug".into());
    let bin = target.join(profile).join(name);
    if !bin.exists() {
        bail!("{} is missing; build it first", bin.display());
    }
    Ok(bin.canonicalize()?)
}

fn log_values(log: &Path, marker: &str) -> Vec<f64> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(marker).nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// (RSS, PSS) in KiB summed over the processes whose command line matches.
fn memory_of(patterns: &[&str]) -> (u64, u64) {
    let mut rss = 0;
    let mut pss = 0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = entry.file_name();
        let Some(pid) = pid.to_str().filter(|p| p.chars().all(|c| c.is_ascii_digit())) else { continue };
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd);
        if !patterns.iter().any(|p| cmd.contains(p)) {
            continue;
        }
        let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
        for line in rollup.lines() {
            let kib = |l: &str| l.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            if line.starts_with("Rss:") {
                rss += kib(line);
            } else if line.starts_with("Pss:") {
                pss += kib(line);
            }
        }
    }
    (rss, pss)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, run by scripts/measure-desktop.sh"]
async fn measure_desktop() -> Result<()> {
    let app = target_bin("hearth-desktop")?;
    let cli = target_bin("hearth")?;
    let x = Xvfb::start()?;
    let work = tempfile::tempdir()?;
    let (host_dir, app_dir) = (work.path().join("host"), work.path().join("app"));

    // A hosted room with 10,000 messages, and an app whose cache already holds them.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let host_store = Store::open(&host_dir)?;
    let room = host_store.open_hosted_room("Big room", None)?;
    let mut log = host_store.host_log()?;
    let author = uuid::Uuid::new_v4();
    for chunk in 0..10 {
        let batch: Vec<NewMessage> = (0..1000)
            .map(|i| NewMessage {
                room_id: room.room_id,
                user_id: author,
                author: "Carol".into(),
                client_msg_id: format!("m{chunk}-{i}"),
                text: format!("Message {} of the big room, long enough to wrap like a real one does now and then.", chunk * 1000 + i),
            })
            .collect();
        log.append_batch(&batch)?;
    }
    let all = host_store.reader()?.after(room.room_id, 0, u64::MAX, u32::MAX)?;
    drop(log);
    let app_store = Store::open(&app_dir)?;
    app_store.set_setting("display_name", "Meter")?;
    app_store.set_setting("display_name_confirmed", "1")?;
    app_store.upsert_joined_room(&JoinedRoom {
        room_id: room.room_id,
        name: "Big room".into(),
        address: format!("127.0.0.1:{port}"),
        host_id: None,
        host_name: Some("Alice".into()),
        has_passcode: false,
        synced_seq: 0,
        read_seq: 0,
    })?;
    app_store.cache_messages(room.room_id, &all, Some(0))?;
    app_store.set_read_seq(room.room_id, 10_000)?;
    drop(app_store);

    let mut host = std::process::Command::new(&cli)
        .args(["host", "--name", "Big room", "--host-name", "Alice", "--no-advertise", "--bind"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(&host_dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(host.stdout.take().context("stdout")?), &mut line)?;
    let invite = line.trim().to_string();

    let driver_log = work.path().join("driver.log");
    let driver = Driver::start(None, 4544, &x.display, &driver_log, &["HEARTH_PERF=1", "HEARTH_NO_ADVERTISE=1"]).await?;

    // Time to first paint, five launches.
    for i in 1..=5 {
        let client = driver.launch(&app, &app_dir).await?;
        wait_until(Duration::from_secs(30), || log_values(&driver_log, "first paint after ").len() >= i)
            .context("no first-paint report")?;
        client.close().await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let paints = log_values(&driver_log, "first paint after ");

    // Open the 10,000-message room.
    let ui = Ui { client: driver.launch(&app, &app_dir).await? };
    let css = format!("{} [data-room-name=\"Big room\"]", testid("joined-list"));
    let started = Instant::now();
    ui.client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(fantoccini::Locator::Css(&css))
        .await?
        .click()
        .await?;
    wait_until(Duration::from_secs(30), || !log_values(&driver_log, "perf open-room ").is_empty())?;
    let open_ms = log_values(&driver_log, "perf open-room ")[0];
    println!("click-to-rendered (WebDriver round trips included): {:?}", started.elapsed());
    ui.wait_text("connected", Duration::from_secs(30), |t| t.contains("Connected")).await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (rss, pss) = memory_of(&["hearth-desktop", "WebKitWebProcess", "WebKitNetworkProcess"]);

    // Append: a message from someone else arrives while the room is open.
    let mut appends = Vec::new();
    for i in 0..5 {
        let out = std::process::Command::new(&cli)
            .args(["join", &invite, "--name", "Dave", "--send", &format!("new message {i}"), "--data-dir"])
            .arg(work.path().join("dave"))
            .output()?;
        if !out.status.success() {
            bail!("send failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        wait_until(Duration::from_secs(20), || log_values(&driver_log, "perf append-message ").len() > i)?;
        appends = log_values(&driver_log, "perf append-message ");
    }
    ui.client.close().await?;
    let _ = host.kill();

    println!("\n== desktop measurements ({} binaries)", std::env::var("HEARTH_MEASURE_PROFILE").unwrap_or_else(|_| "debug".into()));
    println!("first paint (process start -> UI painted with data), 5 launches: {paints:?} ms; median {:.0} ms", median(paints.clone()));
    println!("open a room with 10,000 cached messages, until rendered: {open_ms:.1} ms");
    println!("append a new message to it, event -> rendered: median {:.1} ms of {appends:?}", median(appends.clone()));
    println!("memory, idle with that room open: RSS {} MiB summed, PSS {} MiB (app + WebKit web and network processes)", rss / 1024, pss / 1024);
    Ok(())
}
