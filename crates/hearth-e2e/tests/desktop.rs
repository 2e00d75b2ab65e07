//! The real desktop app, twice: Alice and Bob in two network namespaces joined by a
//! veth pair (so discovery is real mDNS over a real link), each driven through
//! tauri-driver + WebKitWebDriver under Xvfb.
//!
//! Needs root, Xvfb, ImageMagick, tauri-driver, WebKitWebDriver, and a built
//! `target/debug/hearth-desktop` (scripts/test.sh builds it first). Without them the test
//! fails with what is missing, unless HEARTH_SKIP_E2E=1 is set (then it says so loudly).

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use fantoccini::Locator;
use hearth_e2e::desktop::testid;
use hearth_e2e::netns::{link, Netns};
use hearth_e2e::person::*;
use hearth_e2e::step;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_desktop_apps_host_discover_join_chat_and_survive_outages() -> Result<()> {
    let Some((app, logs)) = prepare()? else {
        return Ok(());
    };
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
        let invite = host(&alice, "E2E Room", "pw-e2e", Some("host-dialog.png")).await?;
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
        bob.shot("room-list.png")?;

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
        // Either list can lag the other by a presence frame (seen once each: Bob's
        // without Alice, Alice's without herself): wait for both, rather than read them
        // at once.
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let a = testid_text(alice.ui(), "members-panel").await?;
            let b = testid_text(bob.ui(), "members-panel").await?;
            let both = |t: &str| t.contains("Alice") && t.contains("Bob");
            if (both(&a) && both(&b)) || Instant::now() >= end {
                break;
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
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
        bob.shot("room.png")?;

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
        // 4c. Alice starts again: her room is hosted again by itself (with its passcode)
        // and the message arrives exactly once.
        alice.start(&app).await?;
        open_room(alice.ui(), "E2E Room").await?;
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
        bob.shot("dark.png")?;

        // 5. Alice's certificate changes (a new install, or an impostor): Bob refuses
        // it with the warning, sends nothing, and connects only when he trusts it.
        alice.quit().await?;
        for f in ["host-cert.der", "host-key.der"] {
            std::fs::remove_file(alice.data.path().join(f))
                .with_context(|| format!("remove {f}"))?;
        }
        alice.start(&app).await?;
        open_room(alice.ui(), "E2E Room").await?;
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
        bob.shot("fingerprint-mismatch.png")?;
        step!(t0, "certificate change refused with a warning");
        // "Stay disconnected" leaves a short state with a way back to the warning, not
        // the raw error with two fingerprints, and not "the host is not reachable".
        bob.ui().click("mismatch-stay").await?;
        let header = testid_text(bob.ui(), "connection-state").await?;
        assert!(
            header.contains("Host identity changed") && header.len() < 60,
            "header after staying disconnected: {header}"
        );
        let page = bob.ui().body_text().await?;
        assert!(
            !page.contains("not reachable") && !page.contains(&presented),
            "raw error or a wrong banner after staying disconnected:\n{page}"
        );
        bob.shot("identity-changed.png")?;
        bob.ui().click("review-identity").await?;
        bob.ui()
            .find("mismatch-dialog")
            .await
            .context("Review reopens the warning")?;
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
        report_logs(logs, &["alice.log", "bob.log"]);
    }
    outcome
}
