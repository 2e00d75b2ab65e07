//! One person at one computer: a network namespace, a screen, a driver and the app with
//! its own data directory, and what a person does there (name themselves, host, open a
//! room, write). Shared by the end-to-end scenarios.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use fantoccini::key::Key;
use fantoccini::Locator;

use crate::desktop::{testid, Driver, Ui, Xvfb};
use crate::netns::Netns;

/// The desktop binary of the same build as the running test: tests run from
/// `<target>/debug/deps/`, the app is `<target>/debug/hearth-desktop`.
pub fn app_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("where is this test binary?")?;
    let Some(profile_dir) = exe.parent().and_then(Path::parent) else {
        bail!("unexpected test binary location {}", exe.display());
    };
    let bin = profile_dir.join("hearth-desktop");
    if !bin.exists() {
        bail!(
            "{} is missing: run `cargo build -p hearth-desktop` first (scripts/test.sh does)",
            bin.display()
        );
    }
    Ok(bin.canonicalize()?)
}

pub fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots")
}

/// Everything a desktop scenario needs before it starts: the app binary, a folder for
/// the app logs, and the screenshots folder. `None` when HEARTH_SKIP_E2E=1 (said loudly).
pub fn prepare() -> Result<Option<(PathBuf, tempfile::TempDir)>> {
    if std::env::var("HEARTH_SKIP_E2E").as_deref() == Ok("1") {
        eprintln!("\n!!!!! SKIPPED: desktop end-to-end test (HEARTH_SKIP_E2E=1) !!!!!\n");
        return Ok(None);
    }
    crate::netns::require_root()?;
    if let Some(why) = missing_tools() {
        bail!(why);
    }
    let app = app_binary()?;
    std::fs::create_dir_all(screenshots_dir())?;
    Ok(Some((app, tempfile::tempdir()?)))
}

/// Opens a room of "Your rooms" and waits until it is the one shown.
pub async fn open_room(ui: &Ui, name: &str) -> Result<()> {
    room_button(ui, "joined-list", name, Duration::from_secs(15))
        .await?
        .click()
        .await?;
    wait_room_shown(ui, name).await
}

/// Waits until the room view shows `name` (the view is made anew for each room, so an
/// element found a moment before may already be gone).
pub async fn wait_room_shown(ui: &Ui, name: &str) -> Result<()> {
    ui.client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath(&format!(
            "//*[@data-testid='room-title'][contains(., '{name}')]"
        )))
        .await
        .with_context(|| format!("{name} did not open"))?;
    Ok(())
}

/// What the desktop tests need that is not installed, if anything.
pub fn missing_tools() -> Option<String> {
    for tool in [
        "Xvfb",
        "tauri-driver",
        "WebKitWebDriver",
        "dbus-run-session",
        "xdotool",
        "openbox",
        "xmessage",
        "dbus-monitor",
        "gdbus",
    ] {
        let found = std::process::Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Some(format!(
                "{tool} is not installed (scripts/setup.sh installs it)"
            ));
        }
    }
    None
}

/// Where the tray icon (tray-icon on libayatana-appindicator) exports its menu.
const TRAY_MENU: &str = "/org/ayatana/NotificationItem/tray_icon_tray_app_main/Menu";

pub struct Person {
    pub ns: Netns,
    pub x: Xvfb,
    pub log: PathBuf,
    driver: Option<Driver>,
    ui: Option<Ui>,
    pub data: tempfile::TempDir,
    /// The app's `$HOME` (where "start at login" registers itself).
    pub home: tempfile::TempDir,
}

impl Person {
    pub fn new(ns: Netns, slot: u32, log: PathBuf) -> Result<Person> {
        Ok(Person {
            ns,
            x: Xvfb::start(slot)?,
            log,
            driver: None,
            ui: None,
            data: tempfile::tempdir()?,
            home: tempfile::tempdir()?,
        })
    }

    pub fn ui(&self) -> &Ui {
        self.ui.as_ref().expect("app running")
    }

    pub async fn start(&mut self, app: &Path) -> Result<()> {
        if self.driver.is_none() {
            let home = format!("HOME={}", self.home.path().display());
            let env = [home.as_str()];
            let driver = Driver::start(Some(&self.ns), 4444, &self.x.display, &self.log, &env);
            self.driver = Some(driver.await?);
        }
        let client = self
            .driver
            .as_ref()
            .expect("driver")
            .launch(app, self.data.path())
            .await?;
        let ui = Ui { client };
        ui.find("joined-list")
            .await
            .context("the main window did not render")?;
        self.ui = Some(ui);
        Ok(())
    }

    /// Quits the app (the WebDriver session owns the process).
    pub async fn quit(&mut self) -> Result<()> {
        if let Some(ui) = self.ui.take() {
            ui.client.close().await.context("close session")?;
        }
        Ok(())
    }

    /// The desktop notifications the app sent so far, as (app name, title, body).
    pub fn notifications(&self) -> Vec<(String, String, String)> {
        let text = std::fs::read_to_string(crate::desktop::notifications_log(&self.log))
            .unwrap_or_default();
        // dbus-monitor prints each call's string arguments in order: app name, icon,
        // summary, body (the first string of each `member=Notify` block).
        text.split("member=Notify")
            .skip(1)
            .filter_map(|call| {
                let strings: Vec<String> = call
                    .lines()
                    .filter_map(|l| l.trim().strip_prefix("string \""))
                    .map(|s| s.strip_suffix('"').unwrap_or(s).to_string())
                    .collect();
                match strings.as_slice() {
                    [app, _icon, title, body, ..] => {
                        Some((app.clone(), title.clone(), body.clone()))
                    }
                    _ => None,
                }
            })
            .collect()
    }

    /// `gdbus ARGS` on the app's session bus, inside this person's namespace.
    fn gdbus(&self, args: &[&str]) -> Result<String> {
        let bus_file =
            crate::desktop::notifications_log(&self.log).with_extension("notifications.bus");
        let bus = std::fs::read_to_string(&bus_file)
            .with_context(|| format!("no bus address in {}", bus_file.display()))?;
        let out = self
            .ns
            .command("gdbus")
            .args(["call", "--address", bus.trim()])
            .args(args)
            .output()
            .context("cannot run gdbus (install libglib2.0-bin)")?;
        if !out.status.success() {
            bail!(
                "gdbus {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The tray icon's menu as the system's tray would read it (StatusNotifierItem and
    /// dbusmenu on the session bus): the bus name holding it and its layout.
    pub fn tray_menu(&self) -> Result<(String, String)> {
        let names = self.gdbus(&[
            "--dest",
            "org.freedesktop.DBus",
            "--object-path",
            "/org/freedesktop/DBus",
            "--method",
            "org.freedesktop.DBus.ListNames",
        ])?;
        for name in names.split('\'').filter(|n| n.starts_with(":1.")) {
            let layout = self.gdbus(&[
                "--dest",
                name,
                "--object-path",
                TRAY_MENU,
                "--method",
                "com.canonical.dbusmenu.GetLayout",
                "--",
                "0",
                "-1",
                "['label']",
            ]);
            if let Ok(l) = layout {
                return Ok((name.to_string(), l));
            }
        }
        bail!("no tray icon menu on the app's bus")
    }

    /// Clicks the tray menu item labelled `label`.
    pub fn tray_click(&self, label: &str) -> Result<()> {
        let (name, layout) = self.tray_menu()?;
        // Items read `(ID, {'label': <'LABEL'>}, ...)`.
        let needle = format!("{{'label': <'{label}'>}}");
        let at = layout
            .find(&needle)
            .with_context(|| format!("no {label:?} in {layout}"))?;
        let before = &layout[..at];
        let id = before[before.rfind('(').context("menu layout")? + 1..]
            .trim_end_matches([',', ' '])
            .to_string();
        self.gdbus(&[
            "--dest",
            &name,
            "--object-path",
            TRAY_MENU,
            "--method",
            "com.canonical.dbusmenu.Event",
            "--",
            &id,
            "clicked",
            "<0>",
            "0",
        ])?;
        Ok(())
    }

    /// A screenshot of this person's app window alone.
    pub fn shot(&self, name: &str) -> Result<()> {
        self.x.screenshot_window(&screenshots_dir().join(name))
    }
}

/// Chooses the light or dark theme in Settings (the button is in the docked sidebar).
pub async fn set_theme(ui: &Ui, theme: &str) -> Result<()> {
    ui.click("settings-button").await?;
    ui.find("settings-theme")
        .await?
        .select_by_value(theme)
        .await?;
    ui.click("settings-save").await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(())
}

pub async fn set_name(ui: &Ui, name: &str) -> Result<()> {
    let input = ui.find("first-run-name").await?;
    input.clear().await?;
    input.send_keys(name).await?;
    ui.click("first-run-save").await?;
    Ok(())
}

pub async fn room_button(
    ui: &Ui,
    list: &str,
    name: &str,
    limit: Duration,
) -> Result<fantoccini::elements::Element> {
    let css = format!("{} [data-room-name=\"{name}\"]", testid(list));
    ui.client
        .wait()
        .at_most(limit)
        .for_element(Locator::Css(&css))
        .await
        .with_context(|| format!("{name} did not appear in {list} within {limit:?}"))
}

pub async fn send(ui: &Ui, text: &str) -> Result<()> {
    let composer = ui.find("composer").await?;
    composer.send_keys(text).await?;
    composer
        .send_keys(&char::from(Key::Enter).to_string())
        .await?;
    Ok(())
}

/// Texts of the stored messages in the open room, in order.
pub async fn message_texts(ui: &Ui) -> Result<Vec<String>> {
    let v = ui
        .client
        .execute(
            "return [...document.querySelectorAll('[data-testid=\"message\"] [data-testid=\"message-text\"]')].map(e => e.textContent)",
            vec![],
        )
        .await?;
    Ok(v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}

pub async fn wait_messages(
    ui: &Ui,
    what: &str,
    f: impl Fn(&[String]) -> bool,
) -> Result<Vec<String>> {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let texts = message_texts(ui).await?;
        if f(&texts) {
            return Ok(texts);
        }
        if Instant::now() > end {
            bail!("timed out waiting for {what}; messages: {texts:?}");
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// Waits until the open room shows no message in the sending state.
pub async fn wait_no_pending(ui: &Ui) -> Result<()> {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let pending = ui
            .client
            .find_all(Locator::Css(&testid("pending-message")))
            .await?;
        if pending.is_empty() {
            return Ok(());
        }
        if Instant::now() > end {
            bail!("{} message(s) still pending after 10 s", pending.len());
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

pub async fn testid_text(ui: &Ui, id: &str) -> Result<String> {
    Ok(ui.find(id).await?.text().await?)
}

/// Hosts a room through the dialog; returns the invite link.
pub async fn host(who: &Person, name: &str, passcode: &str, shot: Option<&str>) -> Result<String> {
    who.ui().fill_host_dialog(name, Some(passcode)).await?;
    if let Some(p) = shot {
        who.shot(p)?;
    }
    who.ui().submit_host_dialog().await
}

/// Prints a checkpoint with the time since the test started, so a stalled run shows where.
#[macro_export]
macro_rules! step {
    ($t0:expr, $($arg:tt)*) => {
        eprintln!("[{:>7.2}s] {}", $t0.elapsed().as_secs_f64(), format!($($arg)*))
    };
}

/// Prints the end of each app's log after a failed run, and keeps the logs.
pub fn report_logs(logs: tempfile::TempDir, names: &[&str]) {
    for name in names {
        let log = std::fs::read_to_string(logs.path().join(name)).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(60).collect();
        eprintln!("----- last lines of {name}");
        for l in tail.iter().rev() {
            eprintln!("{l}");
        }
    }
    eprintln!("----- the whole logs are kept in {}", logs.keep().display());
}

/// Polls `f` until it gives a value, every 150 ms, for at most `limit`.
pub async fn poll<T>(
    what: &str,
    limit: Duration,
    mut f: impl AsyncFnMut() -> Result<Option<T>>,
) -> Result<T> {
    let end = std::time::Instant::now() + limit;
    loop {
        if let Some(v) = f().await? {
            return Ok(v);
        }
        if std::time::Instant::now() > end {
            anyhow::bail!("{what}: not within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}
