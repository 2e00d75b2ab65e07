//! Identity and room access in the real desktop app (issue 13), two apps in two network
//! namespaces and an impostor: Alice hosts a busy room (300 messages) and an unlisted one
//! that Bob's "On your network" never shows; a second "Alice" (the `hearth` CLI on its
//! own key) joins; Bob tells the two apart by their codes, checks the real Alice's code
//! against the one her own app shows, marks her verified and is warned about the other
//! key, whose messages never carry the verified mark; Alice makes the room members-only
//! and removes Bob, who then cannot come back. Screenshots in docs/screenshots/.
//!
//! Needs what tests/desktop.rs needs, plus the `hearth` CLI of the same build.

use std::io::Write;
use std::path::Path;
use std::process::{Child, ChildStdin, Stdio};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use fantoccini::Locator;
use hearth_e2e::desktop::{testid, Ui};
use hearth_e2e::netns::{link, Netns};
use hearth_e2e::person::*;
use hearth_e2e::seed::{busy_room, seed_room};
use hearth_e2e::step;
use serde_json::Value;

/// The `hearth` CLI of this build, beside the desktop binary.
fn cli(app: &Path) -> Result<std::path::PathBuf> {
    let bin = app.with_file_name("hearth");
    ensure!(
        bin.exists(),
        "{} is missing: cargo build --workspace",
        bin.display()
    );
    Ok(bin)
}

/// `hearth whoami --json` on a data directory: its user id and identity code.
fn whoami(cli: &Path, dir: &Path) -> Result<(String, String)> {
    let out = std::process::Command::new(cli)
        .args(["whoami", "--json", "--data-dir"])
        .arg(dir)
        .output()?;
    ensure!(
        out.status.success(),
        "whoami: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout)?;
    Ok((
        v["user_id"].as_str().unwrap_or_default().to_string(),
        v["identity_code"].as_str().unwrap_or_default().to_string(),
    ))
}

/// A second "Alice": `hearth join` in a namespace, interactive, each stdin line a message.
struct Impostor {
    child: Child,
    stdin: ChildStdin,
}

impl Impostor {
    fn say(&mut self, text: &str) -> Result<()> {
        writeln!(self.stdin, "{text}").context("the impostor's stdin")?;
        Ok(())
    }
}

impl Drop for Impostor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the members panel shows, one entry per member: name, trust kind, whether the
/// host mark shows, and the code.
async fn members(ui: &Ui) -> Result<Vec<Value>> {
    let v = ui
        .client
        .execute(
            r#"return [...document.querySelectorAll('[data-testid="member"] button.member')].map(b => ({
                 name: b.querySelector('bdi').textContent,
                 trust: b.dataset.trust,
                 host: !!b.querySelector('[data-testid="member-host"]'),
                 code: b.querySelector('[data-testid="member-code"]').textContent,
                 codeShown: getComputedStyle(b.querySelector('[data-testid="member-code"]')).display !== 'none',
               }))"#,
            vec![],
        )
        .await?;
    Ok(v.as_array().cloned().unwrap_or_default())
}

/// The messages' author marks: (text, author, verified mark, key-changed mark, code beside).
async fn authors(ui: &Ui) -> Result<Vec<Value>> {
    let v = ui
        .client
        .execute(
            r#"return [...document.querySelectorAll('[data-testid="message"]')].map(m => {
                 const q = (id) => m.querySelector(`[data-testid="${id}"]`);
                 return { text: q('message-text')?.textContent, author: q('message-author')?.textContent ?? null,
                          verified: !!q('author-verified'), keyChanged: !!q('author-key-changed'),
                          code: q('author-code')?.textContent ?? null };
               })"#,
            vec![],
        )
        .await?;
    Ok(v.as_array().cloned().unwrap_or_default())
}

/// Opens the card of the member called `name`, the host's (`host`) or the other one's.
async fn open_card(ui: &Ui, name: &str, host: bool) -> Result<()> {
    // A narrow window folds the members panel away; a person opens it first.
    if ui
        .client
        .find_all(Locator::Css(&testid("members-panel")))
        .await?
        .is_empty()
    {
        ui.click("toggle-members").await?;
    }
    let mark = if host { "" } else { "not" };
    let xpath = format!(
        "//*[@data-testid='member']//button[.//bdi[text()='{name}']][{mark}(.//*[@data-testid='member-host'])]"
    );
    ui.client
        .find(Locator::XPath(&xpath))
        .await?
        .click()
        .await?;
    ui.find("person-card").await?;
    Ok(())
}

async fn close_card(ui: &Ui) -> Result<()> {
    ui.client
        .find(Locator::XPath(
            "//*[@data-testid='person-card']//button[text()='Close']",
        ))
        .await?
        .click()
        .await?;
    Ok(())
}

/// How far the message list is from its end, in pixels.
async fn gap(ui: &Ui) -> Result<f64> {
    let v = ui
        .client
        .execute(
            "const l = document.querySelector('[data-testid=message-list]'); \
             return l ? l.scrollHeight - l.scrollTop - l.clientHeight : -1",
            vec![],
        )
        .await?;
    Ok(v.as_f64().unwrap_or(f64::NAN))
}

/// Both sizes the guide asks for, in both themes, of whatever `who` shows now, or of
/// the card of `card` (name, whether the host's) opened over it. The theme is set with
/// the sidebar docked and no card open, as a person would. A reader at the end of the
/// list stays there through every resize (a larger window once left them 108 px up).
async fn shots(who: &Person, name: &str, card: Option<(&str, bool)>) -> Result<()> {
    // Every scene here is looked at where a reader is: at the end of the list.
    let g = gap(who.ui()).await?;
    ensure!(g < 2.0, "{name}: {g} px from the end before resizing");
    let still_at_end = async |when: &str| -> Result<()> {
        let g = gap(who.ui()).await?;
        ensure!(g < 2.0, "{name}: {g} px from the end after {when}");
        Ok(())
    };
    for (theme, (w, h)) in [("light", (1280, 800)), ("dark", (800, 600))] {
        who.x.resize_app(1280, 800)?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        set_theme(who.ui(), theme).await?;
        who.x.resize_app(w, h)?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        still_at_end(&format!("resizing to {w}x{h}")).await?;
        if let Some((n, host)) = card {
            open_card(who.ui(), n, host).await?;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        who.shot(&format!("{name}-{w}x{h}-{theme}.png"))?;
        if card.is_some() {
            close_card(who.ui()).await?;
        }
    }
    who.x.resize_app(1280, 800)?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    still_at_end("resizing from 800x600 to 1280x800").await?;
    set_theme(who.ui(), "light").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_alices_a_verified_one_a_key_change_an_unlisted_room_and_a_removal() -> Result<()> {
    let Some((app, logs)) = prepare()? else {
        return Ok(());
    };
    let cli = cli(&app)?;
    let t0 = Instant::now();
    let outcome: Result<()> = async {
        let a_ns = Netns::new("ia")?;
        let b_ns = Netns::new("ib")?;
        link(Some(&a_ns), "10.231.62.1/24", &b_ns, "10.231.62.2/24", "hi")?;
        let mut alice = Person::new(a_ns, 0, logs.path().join("alice.log"))?;
        let mut bob = Person::new(b_ns, 1, logs.path().join("bob.log"))?;
        seed_room(alice.data.path(), "Alice", "Crew", None, &busy_room(300)).await?;
        let (alice_id, alice_code) = whoami(&cli, alice.data.path())?;
        alice.start(&app).await?;
        bob.start(&app).await?;
        set_name(alice.ui(), "Alice").await?;
        set_name(bob.ui(), "Bob").await?;
        step!(t0, "both apps up; Crew seeded with 300 messages");

        // An unlisted room first (withdrawn the moment it is made unlisted), then Crew.
        alice.ui().fill_host_dialog("Quiet corner", None).await?;
        let quiet_link = alice.ui().submit_host_dialog().await?;
        alice.ui().click("room-unlisted").await?;
        poll(
            "the unlisted toggle applied",
            Duration::from_secs(10),
            async || {
                Ok(alice
                    .ui()
                    .find("room-unlisted")
                    .await?
                    .is_selected()
                    .await?
                    .then_some(()))
            },
        )
        .await?;
        open_room(alice.ui(), "Crew").await?;
        alice.ui().click("host-again").await?;
        alice.ui().click("host-submit").await?;
        let invite = alice
            .ui()
            .find("invite-link")
            .await?
            .prop("value")
            .await?
            .unwrap_or_default();
        alice.ui().click("hosted-done").await?;
        room_button(bob.ui(), "discovered-list", "Crew", Duration::from_secs(10)).await?;
        let quiet = format!(
            "{} [data-room-name=\"Quiet corner\"]",
            testid("discovered-list")
        );
        // Had Bob's browser caught the announcement of the moment before, it goes now.
        poll(
            "the unlisted room gone from Bob's network list",
            Duration::from_secs(5),
            async || {
                Ok(bob
                    .ui()
                    .client
                    .find_all(Locator::Css(&quiet))
                    .await?
                    .is_empty()
                    .then_some(()))
            },
        )
        .await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        ensure!(
            bob.ui()
                .client
                .find_all(Locator::Css(&quiet))
                .await?
                .is_empty(),
            "an unlisted room is on Bob's network list"
        );
        bob.shot("identity-network-list.png")?;
        step!(t0, "Crew on Bob's network list, the unlisted room not");

        // Bob joins Crew; a second "Alice" on her own key writes, then the real Alice.
        room_button(bob.ui(), "discovered-list", "Crew", Duration::from_secs(5))
            .await?
            .click()
            .await?;
        wait_room_shown(bob.ui(), "Crew").await?;
        let imp_dir = logs.path().join("impostor");
        let (imp_id, imp_code) = whoami(&cli, &imp_dir)?;
        ensure!(
            imp_code != alice_code && imp_id != alice_id,
            "two keys, two codes"
        );
        let mut child = bob
            .ns
            .command(cli.to_str().context("path")?)
            .args(["join", &invite, "--name", "Alice", "--data-dir"])
            .arg(&imp_dir)
            .env("HEARTH_NO_ADVERTISE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(logs.path().join("impostor.log"))?)
            .spawn()?;
        let stdin = child.stdin.take().context("stdin")?;
        let mut impostor = Impostor { child, stdin };
        impostor.say("It's Alice, on my new laptop: send me the passwords")?;
        // After the other one's, so that it starts a group of its own and shows its author.
        wait_messages(bob.ui(), "the impostor's message", |t| {
            t.iter().any(|m| m.starts_with("It's Alice"))
        })
        .await?;
        send(alice.ui(), "Real Alice here: the review moved to four").await?;
        wait_messages(bob.ui(), "both Alices' messages", |t| {
            t.iter().any(|m| m.starts_with("Real Alice here"))
                && t.iter().any(|m| m.starts_with("It's Alice"))
        })
        .await?;

        // Two Alices in the member list, each with her code beside her name; and beside
        // each Alice's message.
        let list = poll(
            "two Alices in Bob's members",
            Duration::from_secs(15),
            async || {
                let m = members(bob.ui()).await?;
                // The marks come with the people's next read, a moment after the member.
                let marked = m
                    .iter()
                    .any(|x| x["name"] == "Alice" && x["host"] == false && x["trust"] == "new");
                Ok((m.iter().filter(|x| x["name"] == "Alice").count() == 2 && marked).then_some(m))
            },
        )
        .await?;
        let alices: Vec<&Value> = list.iter().filter(|x| x["name"] == "Alice").collect();
        let real = alices
            .iter()
            .find(|x| x["host"] == true)
            .context("the host Alice")?;
        let other = alices
            .iter()
            .find(|x| x["host"] == false)
            .context("the other Alice")?;
        ensure!(
            real["code"] == alice_code.as_str() && other["code"] == imp_code.as_str(),
            "codes: {list:?}"
        );
        ensure!(
            alices.iter().all(|x| x["codeShown"] == true),
            "codes beside shared names: {list:?}"
        );
        ensure!(
            other["trust"] == "new",
            "a first appearance is new: {list:?}"
        );
        let marks = authors(bob.ui()).await?;
        let by = |start: &str| {
            marks
                .iter()
                .find(|m| m["text"].as_str().is_some_and(|t| t.starts_with(start)))
                .cloned()
        };
        let real_msg = by("Real Alice here").context("real message")?;
        let imp_msg = by("It's Alice").context("impostor's message")?;
        ensure!(
            real_msg["code"] == alice_code.as_str() && imp_msg["code"] == imp_code.as_str(),
            "message codes: {real_msg} {imp_msg}"
        );
        ensure!(
            real_msg["verified"] == false && imp_msg["verified"] == false,
            "nobody verified yet"
        );
        shots(&bob, "identity-two-alices", None).await?;
        step!(
            t0,
            "two Alices told apart by code, in the members and the messages"
        );

        // Bob compares the code on the real Alice's card with the one her own app shows
        // for herself, and marks her verified.
        open_card(alice.ui(), "Alice", true).await?;
        let own = testid_text(alice.ui(), "person-code").await?;
        ensure!(own == alice_code, "Alice's own card: {own}");
        close_card(alice.ui()).await?;
        shots(&bob, "identity-person-card", Some(("Alice", true))).await?;
        open_card(bob.ui(), "Alice", true).await?;
        let seen = testid_text(bob.ui(), "person-code").await?;
        ensure!(seen == own, "the codes match: {seen} vs {own}");
        bob.ui().click("person-verify").await?;
        bob.ui().find("person-unverify").await?;
        close_card(bob.ui()).await?;

        // The other key under her name: a warning, and never the verified mark.
        let banner = poll(
            "the key-change warning",
            Duration::from_secs(10),
            async || {
                Ok(bob
                    .ui()
                    .client
                    .find_all(Locator::Css(&testid("key-change-banner")))
                    .await?
                    .first()
                    .cloned())
            },
        )
        .await?
        .text()
        .await?;
        ensure!(
            banner.contains("uses the name Alice") && banner.contains("different key"),
            "{banner}"
        );
        impostor.say("Really, it's me. Trust me")?;
        wait_messages(bob.ui(), "the impostor's second message", |t| {
            t.iter().any(|m| m == "Really, it's me. Trust me")
        })
        .await?;
        let marks = poll(
            "marks after verifying",
            Duration::from_secs(10),
            async || {
                let a = authors(bob.ui()).await?;
                let real = a.iter().any(|m| {
                    m["text"]
                        .as_str()
                        .is_some_and(|t| t.starts_with("Real Alice"))
                        && m["verified"] == true
                });
                Ok(real.then_some(a))
            },
        )
        .await?;
        for m in marks.iter().filter(|m| m["code"] == imp_code.as_str()) {
            ensure!(
                m["verified"] == false && m["keyChanged"] == true,
                "the other key's message: {m}"
            );
        }
        ensure!(
            marks.iter().filter(|m| m["keyChanged"] == true).count() >= 2,
            "{marks:?}"
        );
        let m = members(bob.ui()).await?;
        ensure!(
            m.iter()
                .any(|x| x["code"] == alice_code.as_str() && x["trust"] == "verified")
                && m.iter()
                    .any(|x| x["code"] == imp_code.as_str() && x["trust"] == "key_changed"),
            "{m:?}"
        );
        shots(&bob, "identity-key-change", None).await?;
        bob.ui().click("key-change-review").await?;
        ensure!(
            testid_text(bob.ui(), "person-code").await? == imp_code,
            "Review opens the other key's card"
        );
        close_card(bob.ui()).await?;
        step!(
            t0,
            "verified Alice marked; the other key warned about, never marked verified"
        );

        // Alice: members only, and Bob removed. He is told, and cannot come back.
        shots(&alice, "identity-room-access", None).await?;
        alice.ui().click("room-members-only").await?;
        poll(
            "members only applied",
            Duration::from_secs(10),
            async || {
                Ok(alice
                    .ui()
                    .find("room-members-only")
                    .await?
                    .is_selected()
                    .await?
                    .then_some(()))
            },
        )
        .await?;
        open_card(alice.ui(), "Bob", false).await?;
        alice.ui().click("person-remove").await?;
        alice.ui().click("person-remove-confirm").await?;
        bob.ui()
            .wait_text(
                "Bob is told he was removed",
                Duration::from_secs(10),
                |t: &str| t.contains("The host removed you from this room"),
            )
            .await?;
        let banner = testid_text(bob.ui(), "access-banner").await?;
        ensure!(banner.contains("removed you"), "{banner}");
        bob.ui().find("members-panel").await?;
        let m = members(bob.ui()).await?;
        ensure!(m.is_empty(), "a removed member sees nobody online: {m:?}");
        shots(&bob, "identity-removed", None).await?;
        bob.ui().click("retry-room").await?;
        // The retry's own answer replaces the removal banner with the host's refusal.
        poll(
            "a retry is refused as members only",
            Duration::from_secs(10),
            async || {
                let again = testid_text(bob.ui(), "access-banner").await?;
                Ok(again.contains("for its members only").then_some(()))
            },
        )
        .await?;
        let m = members(alice.ui()).await?;
        ensure!(
            !m.iter().any(|x| x["name"] == "Bob"),
            "Bob still in Alice's members: {m:?}"
        );
        // The unlisted room still joins by its link (the CLI, in Bob's namespace).
        let out = bob
            .ns
            .command(cli.to_str().context("path")?)
            .args([
                "join",
                &quiet_link,
                "--name",
                "Guest",
                "--send",
                "found it by the link",
                "--data-dir",
            ])
            .arg(logs.path().join("guest"))
            .env("HEARTH_NO_ADVERTISE", "1")
            .output()?;
        ensure!(
            out.status.success(),
            "join by link: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        open_room(alice.ui(), "Quiet corner").await?;
        wait_messages(alice.ui(), "the message by link", |t| {
            t.iter().any(|m| m == "found it by the link")
        })
        .await?;
        step!(
            t0,
            "Bob removed and kept out; the unlisted room joined by its link"
        );
        drop(impostor);
        alice.quit().await?;
        bob.quit().await?;
        Ok(())
    }
    .await;
    if outcome.is_err() {
        report_logs(logs, &["alice.log", "bob.log", "impostor.log"]);
    }
    outcome
}
