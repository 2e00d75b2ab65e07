//! The app as a user gets it: the binary that the `.deb` installed, started from its
//! installed path with a fresh data directory, driven through tauri-driver +
//! WebKitWebDriver under Xvfb. It must render its main window and host a room.
//!
//! Ignored by default: it needs the package installed. `scripts/package-test.sh` builds
//! the `.deb`, installs it, runs this test with `HEARTH_INSTALLED_APP=/usr/bin/hearth-desktop`
//! and uninstalls the package again. The app runs in a private network namespace (only
//! `lo`), so its room is never announced on the machine's real interfaces.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use hearth_e2e::desktop::{Driver, Ui, Xvfb};
use hearth_e2e::netns::{require_root, Netns};

macro_rules! step {
    ($t0:expr, $($arg:tt)*) => {
        eprintln!("[{:>7.2}s] {}", $t0.elapsed().as_secs_f64(), format!($($arg)*))
    };
}

/// The installed binary, from `HEARTH_INSTALLED_APP`.
fn installed_app() -> Result<PathBuf> {
    let app = std::env::var_os("HEARTH_INSTALLED_APP")
        .map(PathBuf::from)
        .context("set HEARTH_INSTALLED_APP to the installed hearth-desktop (scripts/package-test.sh does)")?;
    ensure!(
        app.is_absolute(),
        "HEARTH_INSTALLED_APP must be an absolute path: {}",
        app.display()
    );
    ensure!(app.is_file(), "{} is not installed", app.display());
    ensure!(
        !app.starts_with(Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")),
        "{} is inside the repository, not an installed binary",
        app.display()
    );
    Ok(app)
}

/// `ip netns exec NS ss -Hltnp`: the listening TCP sockets in the namespace, with owners.
fn listening(ns: &Netns) -> Result<String> {
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.name, "ss", "-Hltnp"])
        .output()
        .context("cannot run ss (install iproute2)")?;
    ensure!(
        out.status.success(),
        "ss failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The pid in an `ss -p` line, e.g. `users:(("hearth-desktop",pid=123,fd=40))`.
fn pid_of(line: &str) -> Option<u32> {
    let rest = &line[line.find("pid=")? + 4..];
    rest[..rest.find(|c: char| !c.is_ascii_digit())?]
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the .deb installed; scripts/package-test.sh installs it and runs this"]
async fn installed_app_renders_and_hosts_a_room() -> Result<()> {
    require_root()?;
    let app = installed_app()?;
    let t0 = Instant::now();
    let logs = tempfile::tempdir()?;
    let data = tempfile::tempdir()?;
    let log = logs.path().join("driver.log");
    step!(
        t0,
        "app {}, data {}, driver log {}",
        app.display(),
        data.path().display(),
        log.display()
    );

    let ns = Netns::new("inst")?;
    let x = Xvfb::start(0)?;
    let driver = Driver::start(Some(&ns), 4444, &x.display, &log, &[]).await?;
    let result = async {
        let ui = Ui {
            client: driver.launch(&app, data.path()).await?,
        };
        step!(t0, "WebDriver session open");

        // A fresh data directory: the first-run dialog asks for a name.
        let name = ui
            .find("first-run-name")
            .await
            .context("no first-run dialog")?;
        name.clear().await?;
        name.send_keys("Installed").await?;
        ui.click("first-run-save").await?;
        ui.find("joined-list")
            .await
            .context("the main window did not render")?;
        let title = ui.title().await?;
        ensure!(title.contains("Hearth"), "window title: {title:?}");
        step!(t0, "main window rendered, title {title:?}");

        // Host a room.
        ui.fill_host_dialog("Installed room", None).await?;
        let invite = ui.submit_host_dialog().await?;
        let parsed =
            hearth::Invite::parse(&invite).with_context(|| format!("invite link {invite:?}"))?;
        ensure!(
            parsed.fingerprint.is_some(),
            "invite without a certificate fingerprint: {invite}"
        );
        let room_title = ui.find("room-title").await?.text().await?;
        ensure!(room_title == "Installed room", "room title: {room_title:?}");
        step!(t0, "hosting {invite}");
        let shot =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots/installed.png");
        x.screenshot_window(&shot)?;
        step!(t0, "screenshot {}", shot.display());

        // The room really listens, and the process behind it is the installed binary.
        let sockets = listening(&ns)?;
        let port = format!(":{} ", parsed.port);
        let line = sockets
            .lines()
            .find(|l| l.contains(&port))
            .with_context(|| {
                format!(
                    "nothing listens on port {} in the namespace:\n{sockets}",
                    parsed.port
                )
            })?;
        let pid = pid_of(line).with_context(|| format!("no pid in {line:?}"))?;
        let exe = std::fs::read_link(format!("/proc/{pid}/exe"))?;
        ensure!(
            exe == app,
            "port {} is held by {}, not {}",
            parsed.port,
            exe.display(),
            app.display()
        );
        step!(
            t0,
            "{} (pid {pid}) listens on port {}",
            exe.display(),
            parsed.port
        );

        // Everything it stored went to the fresh data directory.
        ensure!(
            data.path().join("hearth.db").is_file(),
            "no hearth.db in the data directory"
        );

        ui.client
            .close()
            .await
            .context("close the WebDriver session")?;
        Ok::<_, anyhow::Error>(())
    }
    .await;
    if let Err(e) = &result {
        let log_text = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = log_text.lines().rev().take(60).collect();
        eprintln!("--- last lines of the driver log ---");
        for l in tail.iter().rev() {
            eprintln!("{l}");
        }
        bail!("{e:#}");
    }
    step!(t0, "done");
    Ok(())
}
