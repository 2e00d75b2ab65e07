//! The real desktop app, twice: Alice and Bob in two network namespaces joined by a
//! veth pair (so discovery is real mDNS over a real link), each driven through
//! tauri-driver + WebKitWebDriver under Xvfb.
//!
//! Needs root, Xvfb, ImageMagick, tauri-driver, WebKitWebDriver, and a built
//! `target/debug/hearth-desktop` (scripts/test.sh builds it first). Without them the test
//! fails with what is missing, unless HEARTH_SKIP_E2E=1 is set (then it says so loudly).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use fantoccini::key::Key;
use fantoccini::Locator;
use hearth_e2e::desktop::{testid, Driver, Ui, Xvfb};
use hearth_e2e::netns::{link, require_root, Netns};

/// Prints a checkpoint with the time since the test started, so a stalled run shows where.
macro_rules! step {
    ($t0:expr, $($arg:tt)*) => {
        eprintln!("[{:>7.2}s] {}", $t0.elapsed().as_secs_f64(), format!($($arg)*))
    };
}

/// The desktop binary of the same build as this test: the test runs from
/// `<target>/debug/deps/`, the app is `<target>/debug/hearth-desktop`, wherever the
/// target directory is.
fn app_binary() -> Result<PathBuf> {
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

fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots")
}

fn missing_tools() -> Option<String> {
    for tool in [
        "Xvfb",
        "tauri-driver",
        "WebKitWebDriver",
        "dbus-run-session",
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

struct Person {
    ns: Netns,
    x: Xvfb,
    log: PathBuf,
    driver: Option<Driver>,
    ui: Option<Ui>,
    data: tempfile::TempDir,
}

impl Person {
    fn ui(&self) -> &Ui {
        self.ui.as_ref().expect("app running")
    }

    fn new(ns: Netns, slot: u32, log: PathBuf) -> Result<Person> {
        Ok(Person {
            ns,
            x: Xvfb::start(slot)?,
            log,
            driver: None,
            ui: None,
            data: tempfile::tempdir()?,
        })
    }

    async fn start(&mut self, app: &Path) -> Result<()> {
        if self.driver.is_none() {
            let driver = Driver::start(Some(&self.ns), 4444, &self.x.display, &self.log, &[]);
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
    async fn quit(&mut self) -> Result<()> {
        if let Some(ui) = self.ui.take() {
            ui.client.close().await.context("close session")?;
        }
        Ok(())
    }
}

async fn set_name(ui: &Ui, name: &str) -> Result<()> {
    let input = ui.find("first-run-name").await?;
    input.clear().await?;
    input.send_keys(name).await?;
    ui.click("first-run-save").await?;
    Ok(())
}

async fn room_button(
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

async fn send(ui: &Ui, text: &str) -> Result<()> {
    let composer = ui.find("composer").await?;
    composer.send_keys(text).await?;
    composer
        .send_keys(&char::from(Key::Enter).to_string())
        .await?;
    Ok(())
}

/// Texts of the stored messages in the open room, in order.
async fn message_texts(ui: &Ui) -> Result<Vec<String>> {
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

async fn wait_messages(ui: &Ui, what: &str, f: impl Fn(&[String]) -> bool) -> Result<Vec<String>> {
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
async fn wait_no_pending(ui: &Ui) -> Result<()> {
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

async fn testid_text(ui: &Ui, id: &str) -> Result<String> {
    Ok(ui.find(id).await?.text().await?)
}

async fn host(who: &Person, name: &str, passcode: &str, shot: Option<&Path>) -> Result<String> {
    who.ui().fill_host_dialog(name, Some(passcode)).await?;
    if let Some(p) = shot {
        who.x.screenshot(p)?;
    }
    who.ui().submit_host_dialog().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_desktop_apps_host_discover_join_chat_and_survive_outages() -> Result<()> {
    if std::env::var("HEARTH_SKIP_E2E").as_deref() == Ok("1") {
        eprintln!("\n!!!!! SKIPPED: desktop end-to-end test (HEARTH_SKIP_E2E=1) !!!!!\n");
        return Ok(());
    }
    require_root()?;
    if let Some(why) = missing_tools() {
        bail!(why);
    }
    let app = app_binary()?;
    let shots = screenshots_dir();
    std::fs::create_dir_all(&shots)?;
    let logs = tempfile::tempdir()?;
    let t0 = Instant::now();
    step!(t0, "driver logs in {}", logs.path().display());
    let outcome: Result<()> = async {
        // Topology: A and B share one LAN link; the test reaches each driver inside its
        // namespace (see NetnsConnector).
        let a_ns = Netns::new("a")?;
        let b_ns = Netns::new("b")?;
        link(Some(&a_ns), "10.231.60.1/24", &b_ns, "10.231.60.2/24", "hl")?;
        let mut alice = Person::new(a_ns, 0, logs.path().join("alice.log"))?;
        let mut bob = Person::new(b_ns, 1, logs.path().join("bob.log"))?;
        step!(t0, "namespaces and screens up");
        alice.start(&app).await?;
        step!(t0, "Alice's app is up");
        bob.start(&app).await?;
        set_name(alice.ui(), "Alice").await?;
        set_name(bob.ui(), "Bob").await?;
        step!(t0, "both apps up and named");

        // 1. Alice hosts "E2E Room" with a passcode; Bob sees it on the network within 5 s.
        let hosted_at = Instant::now();
        let invite = host(
            &alice,
            "E2E Room",
            "pw-e2e",
            Some(&shots.join("host-dialog.png")),
        )
        .await?;
        assert!(
            invite.starts_with("hearth://") && invite.contains("#fp="),
            "invite link: {invite}"
        );
        let found = room_button(
            bob.ui(),
            "discovered-list",
            "E2E Room",
            Duration::from_secs(5),
        )
        .await?;
        step!(
            t0,
            "E2E Room appeared on Bob's network list {:?} after hosting",
            hosted_at.elapsed()
        );
        bob.x.screenshot(&shots.join("room-list.png"))?;

        // 2. A wrong passcode: an inline error, and Bob is not in the room.
        found.click().await?;
        bob.ui().type_into("passcode-input", "wrong-one").await?;
        bob.ui().click("passcode-submit").await?;
        let err = testid_text(bob.ui(), "passcode-error").await?;
        assert!(err.contains("Wrong passcode"), "inline error: {err}");
        let joined = bob
            .ui()
            .client
            .find_all(Locator::Css(&format!(
                "{} [data-room-name=\"E2E Room\"]",
                testid("joined-list")
            )))
            .await?;
        assert!(joined.is_empty(), "a wrong passcode must not join");

        step!(t0, "wrong passcode refused inline");
        // The right one.
        let input = bob.ui().find("passcode-input").await?;
        input.clear().await?;
        input.send_keys("pw-e2e").await?;
        bob.ui().click("passcode-submit").await?;
        bob.ui().find("room-view").await?;
        assert_eq!(testid_text(bob.ui(), "room-title").await?, "E2E Room");

        step!(t0, "Bob joined");
        // Messages both ways.
        send(bob.ui(), "hello from Bob").await?;
        wait_messages(alice.ui(), "Bob's message at Alice", |t| {
            t.iter().any(|m| m == "hello from Bob")
        })
        .await?;
        send(alice.ui(), "hi Bob, welcome").await?;
        wait_messages(bob.ui(), "Alice's message at Bob", |t| {
            t.iter().any(|m| m == "hi Bob, welcome")
        })
        .await?;

        // Both sent messages turned "sent": none stays pending (the host's copy can
        // arrive before the send call returns).
        for (who, ui) in [("Alice", alice.ui()), ("Bob", bob.ui())] {
            wait_no_pending(ui)
                .await
                .with_context(|| format!("{who}'s view"))?;
        }
        step!(t0, "messages both ways");
        // Each sees the other in the members panel.
        alice
            .ui()
            .wait_text("Bob in Alice's members", Duration::from_secs(10), |t| {
                t.contains("Bob")
            })
            .await?;
        let members_a = testid_text(alice.ui(), "members-panel").await?;
        let members_b = testid_text(bob.ui(), "members-panel").await?;
        assert!(
            members_a.contains("Bob") && members_a.contains("Alice"),
            "{members_a}"
        );
        assert!(
            members_b.contains("Bob") && members_b.contains("Alice"),
            "{members_b}"
        );

        // The typing line while the other types.
        alice
            .ui()
            .find("composer")
            .await?
            .send_keys("typing something")
            .await?;
        bob.ui()
            .wait_text("typing line", Duration::from_secs(10), |t| {
                t.contains("Alice is typing")
            })
            .await?;
        alice.ui().find("composer").await?.clear().await?;

        step!(t0, "members and typing seen");
        // 3. Injection attempts are shown literally on both sides; the title is untouched.
        let img = r#"<img src=x onerror="document.title='pwned'">"#;
        let script = "<script>document.title='pwned'</script>";
        send(alice.ui(), img).await?;
        send(bob.ui(), script).await?;
        for (who, ui) in [("Alice", alice.ui()), ("Bob", bob.ui())] {
            wait_messages(ui, "the injection attempts", |t| {
                t.iter().any(|m| m == img) && t.iter().any(|m| m == script)
            })
            .await
            .with_context(|| format!("{who}'s view"))?;
            let title = ui.title().await?;
            assert!(
                title.starts_with("Hearth"),
                "{who}'s document title changed to {title:?}"
            );
            let imgs = ui.client.find_all(Locator::Css(".messages img")).await?;
            assert!(imgs.is_empty(), "{who}: message text became an <img>");
        }
        bob.x.screenshot(&shots.join("room.png"))?;

        step!(t0, "injection shown literally");
        // 4a. Bob quits and restarts: the history shows from his cache at once.
        bob.quit().await?;
        bob.start(&app).await?;
        room_button(bob.ui(), "joined-list", "E2E Room", Duration::from_secs(5))
            .await?
            .click()
            .await?;
        let texts = wait_messages(bob.ui(), "Bob's cached history", |t| {
            t.iter().any(|m| m == "hi Bob, welcome")
        })
        .await?;
        assert!(texts.iter().any(|m| m == "hello from Bob"));

        step!(t0, "Bob restarted with his cached history");
        // 4b. Alice quits: Bob sees the host offline, can still read, and queues a message.
        alice.quit().await?;
        bob.ui()
            .wait_text("host offline", Duration::from_secs(15), |t| {
                t.contains("Host offline")
            })
            .await?;
        assert!(
            message_texts(bob.ui())
                .await?
                .iter()
                .any(|m| m == "hi Bob, welcome"),
            "history readable offline"
        );
        send(bob.ui(), "sent while Alice was away").await?;
        let state = testid_text(bob.ui(), "message-state").await?;
        assert!(
            state.contains("Waiting") || state.contains("Sending"),
            "pending state: {state}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(
            bob.ui().find("pending-message").await.is_ok(),
            "still pending while the host is away"
        );

        step!(t0, "Bob offline with a pending message");
        // 4c. Alice starts again and hosts the same room: the message arrives exactly once.
        alice.start(&app).await?;
        host(&alice, "E2E Room", "pw-e2e", None).await?;
        let a_texts = wait_messages(alice.ui(), "the queued message at Alice", |t| {
            t.iter().any(|m| m == "sent while Alice was away")
        })
        .await?;
        let b_texts = wait_messages(bob.ui(), "the queued message as sent at Bob", |t| {
            t.iter().any(|m| m == "sent while Alice was away")
        })
        .await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let a_texts_later = message_texts(alice.ui()).await?;
        let b_texts_later = message_texts(bob.ui()).await?;
        for (who, texts) in [("Alice", &a_texts_later), ("Bob", &b_texts_later)] {
            let n = texts
                .iter()
                .filter(|m| *m == "sent while Alice was away")
                .count();
            assert_eq!(n, 1, "{who} sees it exactly once: {texts:?}");
        }
        assert!(a_texts.len() <= a_texts_later.len() && b_texts.len() <= b_texts_later.len());
        let pending = bob
            .ui()
            .client
            .find_all(Locator::Css(&testid("pending-message")))
            .await?;
        assert!(pending.is_empty(), "Bob's message turned sent");

        step!(t0, "queued message delivered exactly once");
        // Dark theme screenshot.
        bob.ui().click("settings-button").await?;
        let theme = bob.ui().find("settings-theme").await?;
        theme.select_by_value("dark").await?;
        bob.ui().click("settings-save").await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        bob.x.screenshot(&shots.join("dark.png"))?;

        // 5. Alice's certificate changes (a new install, or an impostor): Bob refuses
        // it with the warning, sends nothing, and connects only when he trusts it.
        alice.quit().await?;
        for f in ["host-cert.der", "host-key.der"] {
            std::fs::remove_file(alice.data.path().join(f))
                .with_context(|| format!("remove {f}"))?;
        }
        alice.start(&app).await?;
        host(&alice, "E2E Room", "pw-e2e", None).await?;
        bob.ui()
            .find("mismatch-dialog")
            .await
            .context("the mismatch warning")?;
        let expected = testid_text(bob.ui(), "fp-expected").await?;
        let presented = testid_text(bob.ui(), "fp-presented").await?;
        assert_ne!(expected, presented, "the warning shows both fingerprints");
        let state = testid_text(bob.ui(), "connection-state").await?;
        assert!(
            !state.contains("Connected"),
            "not connected before trusting: {state}"
        );
        bob.x.screenshot(&shots.join("fingerprint-mismatch.png"))?;
        step!(t0, "certificate change refused with a warning");
        bob.ui().click("mismatch-trust").await?;
        bob.ui()
            .wait_text("connected after trusting", Duration::from_secs(20), |t| {
                t.contains("Connected")
            })
            .await?;
        send(bob.ui(), "after trusting the new certificate").await?;
        wait_messages(alice.ui(), "Bob's message after the trust", |t| {
            t.iter().any(|m| m == "after trusting the new certificate")
        })
        .await?;
        step!(t0, "connected after an explicit trust");

        alice.quit().await?;
        bob.quit().await?;
        Ok(())
    }
    .await;
    if outcome.is_err() {
        // What the apps logged (they run with HEARTH_LOG=info,hearth=debug).
        for name in ["alice.log", "bob.log"] {
            let log = std::fs::read_to_string(logs.path().join(name)).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!("----- last lines of {name}");
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
        eprintln!("----- the whole logs are kept in {}", logs.keep().display());
    }
    outcome
}
