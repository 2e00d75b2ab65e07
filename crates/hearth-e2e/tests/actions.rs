//! Message actions in the real desktop app (issue 14), two apps in two network
//! namespaces: Alice hosts a busy room (300 messages), Bob joins. Bob writes Markdown
//! (with a `javascript:` link that must stay text); Alice replies, edits her reply with
//! Up-arrow, and later deletes it; Bob reacts and takes it back; Bob mentions Alice
//! through the completion list while she is in another room, and she is notified; Bob
//! searches for an old message, opens it from the results, replies to it, and the reply's
//! quote jumps back to it. Screenshots in docs/screenshots/.
//!
//! Needs what tests/desktop.rs needs.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Result};
use fantoccini::key::Key;
use fantoccini::Locator;
use hearth_e2e::desktop::{testid, Ui};
use hearth_e2e::netns::{link, Netns};
use hearth_e2e::person::*;
use hearth_e2e::seed::{busy_room, seed_room};
use hearth_e2e::step;
use serde_json::Value;

/// What the open room shows of each message: seq, text, and its marks.
async fn shown(ui: &Ui) -> Result<Vec<Value>> {
    let v = ui
        .client
        .execute(
            r#"return [...document.querySelectorAll('[data-testid="message"]')].map(m => {
                 const q = (id) => m.querySelector(`[data-testid="${id}"]`);
                 return { seq: Number(m.dataset.seq), text: q('message-text')?.textContent ?? null,
                          deleted: q('message-deleted')?.textContent ?? null, edited: !!q('message-edited'),
                          quote: q('reply-quote')?.textContent ?? null,
                          reactions: [...m.querySelectorAll('[data-testid="reaction"]')].map(r => r.textContent.trim()),
                          mentioned: !!m.querySelector('.mentioned'), highlighted: m.classList.contains('highlighted') };
               })"#,
            vec![],
        )
        .await?;
    Ok(v.as_array().cloned().unwrap_or_default())
}

/// The shown message whose text contains `needle`.
async fn find_msg(ui: &Ui, what: &str, needle: &str) -> Result<Value> {
    poll(what, Duration::from_secs(20), async || {
        Ok(shown(ui).await?.into_iter().find(|m| {
            m["text"].as_str().is_some_and(|t| t.contains(needle))
                || m["deleted"].as_str().is_some_and(|t| t.contains(needle))
        }))
    })
    .await
}

/// Clicks an action of a message's toolbar, as a keyboard user reaches it: the message
/// takes the focus (which shows the toolbar), then the button is clicked.
async fn action(ui: &Ui, seq: u64, id: &str) -> Result<()> {
    ui.client
        .execute(
            "document.querySelector(`[data-testid=message][data-seq='${arguments[0]}']`).focus()",
            vec![Value::from(seq)],
        )
        .await?;
    let css = format!("[data-testid=message][data-seq='{seq}'] {}", testid(id));
    ui.client.find(Locator::Css(&css)).await?.click().await?;
    Ok(())
}

async fn key(ui: &Ui, id: &str, k: Key) -> Result<()> {
    ui.find(id)
        .await?
        .send_keys(&char::from(k).to_string())
        .await?;
    Ok(())
}

/// Clicks the newest reply's quote, which jumps to the message it quotes.
async fn click_last_quote(ui: &Ui) -> Result<()> {
    let clicked = ui
        .client
        .execute(
            "const q = [...document.querySelectorAll('[data-testid=reply-quote]')].at(-1); q?.click(); return !!q",
            vec![],
        )
        .await?;
    ensure!(clicked == true, "a reply quote to click");
    Ok(())
}

/// 1280x800 light and 800x600 dark of what `who` shows now.
async fn shots(who: &Person, name: &str) -> Result<()> {
    for (theme, (w, h)) in [("light", (1280, 800)), ("dark", (800, 600))] {
        who.x.resize_app(1280, 800)?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        set_theme(who.ui(), theme).await?;
        who.x.resize_app(w, h)?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        who.shot(&format!("{name}-{w}x{h}-{theme}.png"))?;
    }
    who.x.resize_app(1280, 800)?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    set_theme(who.ui(), "light").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_edit_delete_react_mention_markdown_and_search() -> Result<()> {
    let Some((app, logs)) = prepare()? else {
        return Ok(());
    };
    let t0 = Instant::now();
    let outcome: Result<()> = async {
        let a_ns = Netns::new("aa")?;
        let b_ns = Netns::new("ab")?;
        link(Some(&a_ns), "10.231.64.1/24", &b_ns, "10.231.64.2/24", "ac")?;
        let mut alice = Person::new(a_ns, 0, logs.path().join("alice.log"))?;
        let mut bob = Person::new(b_ns, 1, logs.path().join("bob.log"))?;
        seed_room(alice.data.path(), "Alice", "Crew", None, &busy_room(300)).await?;
        alice.start(&app).await?;
        bob.start(&app).await?;
        set_name(alice.ui(), "Alice").await?;
        set_name(bob.ui(), "Bob").await?;
        // A second room of Alice's, to be in while Bob mentions her.
        alice.ui().fill_host_dialog("Side room", None).await?;
        alice.ui().submit_host_dialog().await?;
        open_room(alice.ui(), "Crew").await?;
        alice.ui().click("host-again").await?;
        alice.ui().click("host-submit").await?;
        alice.ui().click("hosted-done").await?;
        room_button(bob.ui(), "discovered-list", "Crew", Duration::from_secs(15))
            .await?
            .click()
            .await?;
        wait_room_shown(bob.ui(), "Crew").await?;
        step!(t0, "Bob in Crew (300 messages)");

        // Markdown, and a javascript: link that must not become a link.
        send(
            bob.ui(),
            "Lunch at **noon**? Menu: `soup` ~~pizza~~ [menu](https://example.org/menu) [x](javascript:alert(1))",
        )
        .await?;
        let lunch = find_msg(alice.ui(), "Bob's Markdown message", "Lunch at").await?;
        let seq = lunch["seq"].as_u64().unwrap_or_default();
        let md = alice
            .ui()
            .client
            .execute(
                r#"const t = document.querySelector(`[data-testid=message][data-seq='${arguments[0]}'] [data-testid=message-text]`);
                   return { strong: t.querySelector('strong')?.textContent, code: t.querySelector('code')?.textContent,
                            del: t.querySelector('del')?.textContent,
                            links: [...t.querySelectorAll('a')].map(a => a.getAttribute('href')),
                            scripts: t.querySelectorAll('script, img, iframe').length, text: t.textContent }"#,
                vec![Value::from(seq)],
            )
            .await?;
        ensure!(md["strong"] == "noon" && md["code"] == "soup" && md["del"] == "pizza", "Markdown: {md}");
        ensure!(
            md["links"] == serde_json::json!(["https://example.org/menu"]),
            "only the https link is a link: {md}"
        );
        ensure!(
            md["text"].as_str().is_some_and(|t| t.contains("[x](javascript:alert(1))")),
            "the javascript: link stays text: {md}"
        );
        // A link opens outside the app: the window stays on the app's own page.
        let before = alice.ui().client.current_url().await?;
        let link = format!("[data-testid=message][data-seq='{seq}'] {}", testid("message-link"));
        alice.ui().client.find(Locator::Css(&link)).await?.click().await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        ensure!(
            alice.ui().client.current_url().await? == before,
            "clicking a link navigated the app window"
        );
        alice.ui().find("message-list").await?;
        alice.shot("actions-markdown.png")?;
        step!(t0, "Markdown rendered; the javascript: link is text");

        // Alice replies to it; Bob sees the quote.
        action(alice.ui(), seq, "action-reply").await?;
        alice.ui().find("reply-banner").await?;
        send(alice.ui(), "Yes! See you at the usual place").await?;
        let reply = find_msg(bob.ui(), "Alice's reply", "See you at the usual").await?;
        ensure!(
            reply["quote"].as_str().is_some_and(|q| q.contains("Bob") && q.contains("Lunch at")),
            "the quote names Bob's message: {reply}"
        );
        shots(&bob, "actions-reply").await?;
        step!(t0, "reply shown with its quote");

        // Up-arrow in the empty composer edits it.
        key(alice.ui(), "composer", Key::Up).await?;
        alice.ui().find("editing-banner").await?;
        let composer = alice.ui().find("composer").await?;
        composer.clear().await?;
        send(alice.ui(), "Yes! 12:30 at the usual place").await?;
        poll("the edit on Bob's side", Duration::from_secs(20), async || {
            Ok(shown(bob.ui()).await?.into_iter().find(|m| {
                m["text"].as_str() == Some("Yes! 12:30 at the usual place") && m["edited"] == true
            }))
        })
        .await?;
        shots(&bob, "actions-edit").await?;
        step!(t0, "edited with Up-arrow, shown as (edited)");

        // Bob reacts through the picker's search; Alice sees the chip; Bob takes it back.
        let rseq = reply["seq"].as_u64().unwrap_or_default();
        action(bob.ui(), rseq, "action-react").await?;
        bob.ui().type_into("emoji-search", "thumbs up").await?;
        key(bob.ui(), "emoji-search", Key::Enter).await?;
        poll("Bob's reaction on Alice's side", Duration::from_secs(20), async || {
            Ok(shown(alice.ui()).await?.into_iter().find(|m| {
                m["seq"].as_u64() == Some(rseq) && m["reactions"] == serde_json::json!(["👍 1"])
            }))
        })
        .await?;
        shots(&alice, "actions-reactions").await?;
        let chip = format!("[data-testid=message][data-seq='{rseq}'] {}", testid("reaction"));
        bob.ui().client.find(Locator::Css(&chip)).await?.click().await?;
        poll("the reaction taken back", Duration::from_secs(20), async || {
            Ok(shown(alice.ui()).await?.into_iter().find(|m| {
                m["seq"].as_u64() == Some(rseq) && m["reactions"] == serde_json::json!([])
            }))
        })
        .await?;
        step!(t0, "react and un-react");

        // Alice wants only mentions from Crew and is in her other room; Bob writes a
        // plain message, then mentions her through the completion list.
        alice.ui().find("room-notify").await?.select_by_value("mentions").await?;
        open_room(alice.ui(), "Side room").await?;
        send(bob.ui(), "a message nobody is pinged for").await?;
        find_msg(bob.ui(), "Bob's plain message stored", "nobody is pinged").await?;
        bob.ui().type_into("composer", "@Al").await?;
        bob.ui().find("mention-list").await?;
        key(bob.ui(), "composer", Key::Enter).await?;
        send(bob.ui(), "can you book the table?").await?;
        poll("Alice notified of the mention", Duration::from_secs(20), async || {
            Ok(alice
                .notifications()
                .into_iter()
                .find(|(_, title, _)| title.contains("mentioned you")))
        })
        .await?;
        // Crew's entry counts the mention apart from the other unread messages.
        let badge = poll("the mention badge on Crew", Duration::from_secs(10), async || {
            let css = format!("[data-testid=joined-room][data-room-name=Crew] {}", testid("mention-badge"));
            Ok(match alice.ui().client.find_all(Locator::Css(&css)).await?.first() {
                Some(b) => Some(b.text().await?),
                None => None,
            })
        })
        .await?;
        ensure!(badge == "@1", "one unread mention: {badge}");
        ensure!(
            !alice.notifications().iter().any(|(_, _, body)| body.contains("nobody is pinged")),
            "with mentions only, a plain message does not notify: {:?}",
            alice.notifications()
        );
        open_room(alice.ui(), "Crew").await?;
        let m = find_msg(alice.ui(), "the mention", "book the table").await?;
        ensure!(m["mentioned"] == true, "a mention of Alice is highlighted: {m}");
        ensure!(
            m["text"].as_str().is_some_and(|t| t.contains("@Alice")),
            "completed to her name: {m}"
        );
        shots(&alice, "actions-mention").await?;
        step!(t0, "mention completed, highlighted, notified");

        // Alice deletes her reply, after confirming.
        action(alice.ui(), rseq, "action-delete").await?;
        alice.ui().click("confirm-delete-yes").await?;
        find_msg(bob.ui(), "the deletion on Bob's side", "Message deleted").await?;
        ensure!(
            !message_texts(bob.ui()).await?.iter().any(|t| t.contains("12:30")),
            "the deleted text is gone"
        );
        step!(t0, "deleted");

        // Bob searches for an old message, opens it, replies to it, and jumps back. The
        // panel is a dialog: each theme and size is set before it opens.
        let search = async |bob: &Person| -> Result<Vec<fantoccini::elements::Element>> {
            bob.ui().click("open-search").await?;
            bob.ui().type_into("search-input", "printer queue").await?;
            let hit = poll("search results", Duration::from_secs(10), async || {
                let hits = bob.ui().client.find_all(Locator::Css(&testid("search-hit"))).await?;
                Ok(if hits.is_empty() { None } else { Some(hits) })
            })
            .await;
            match hit {
                Ok(h) => Ok(h),
                Err(e) => {
                    let text = testid_text(bob.ui(), "search-dialog").await.unwrap_or_default();

                    bail!("{e}; the search dialog shows: {text}");
                }
            }
        };
        for (theme, (w, h)) in [("light", (1280, 800)), ("dark", (800, 600))] {
            bob.x.resize_app(1280, 800)?;
            set_theme(bob.ui(), theme).await?;
            bob.x.resize_app(w, h)?;
            tokio::time::sleep(Duration::from_millis(400)).await;
            search(&bob).await?;
            tokio::time::sleep(Duration::from_millis(200)).await;
            bob.shot(&format!("actions-search-{w}x{h}-{theme}.png"))?;
            key(bob.ui(), "search-input", Key::Escape).await?;
        }
        bob.x.resize_app(1280, 800)?;
        set_theme(bob.ui(), "light").await?;
        let hit = search(&bob).await?;
        let first = hit.first().cloned();
        let Some(first) = first else { bail!("no hit") };
        let target: u64 = first.attr("data-seq").await?.and_then(|s| s.parse().ok()).unwrap_or(0);
        // The newest hit is the newest message about the printer (300 - a few).
        first.click().await?;
        poll("the search hit in view", Duration::from_secs(20), async || {
            Ok(shown(bob.ui()).await?.into_iter().find(|m| {
                m["seq"].as_u64() == Some(target) && m["highlighted"] == true
            }))
        })
        .await?;
        // An older one: the second page of history, beyond the rendered window.
        action(bob.ui(), target, "action-reply").await?;
        send(bob.ui(), "Was the printer ever fixed?").await?;
        find_msg(bob.ui(), "Bob's reply to the old message", "ever fixed").await?;
        click_last_quote(bob.ui()).await?;
        poll("the jump back to the original", Duration::from_secs(20), async || {
            Ok(shown(bob.ui()).await?.into_iter().find(|m| {
                m["seq"].as_u64() == Some(target) && m["highlighted"] == true
            }))
        })
        .await?;
        step!(t0, "search, open at the hit, reply, jump to the original");

        // Alice replies to one of the room's first messages, which Bob's cache does not
        // have (he joined with the latest page): his click on the quote loads older
        // history until it is there.
        let oldest = bob.ui().client
            .execute("return Math.min(...[...document.querySelectorAll('[data-testid=message]')].map(m => Number(m.dataset.seq)))", vec![])
            .await?
            .as_u64()
            .unwrap_or(0);
        ensure!(oldest > 8, "Bob's view starts at {oldest}: the test needs #8 out of it");
        // Alice goes to the room's beginning (Home, as a reader would) to find #8.
        poll("#8 in Alice's view", Duration::from_secs(30), async || {
            key(alice.ui(), "message-list", Key::Home).await?;
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok(shown(alice.ui()).await?.into_iter().find(|m| m["seq"].as_u64() == Some(8)))
        })
        .await?;
        action(alice.ui(), 8, "action-reply").await?;
        send(alice.ui(), "Replying to one of the first messages").await?;
        find_msg(bob.ui(), "Alice's reply to #8", "one of the first messages").await?;
        click_last_quote(bob.ui()).await?;
        poll("the jump to #8, loaded from the host", Duration::from_secs(30), async || {
            Ok(shown(bob.ui()).await?.into_iter().find(|m| {
                m["seq"].as_u64() == Some(8) && m["highlighted"] == true
            }))
        })
        .await?;
        step!(t0, "a reply's quote loads older history to reach its original");
        Ok(())
    }
    .await;
    if outcome.is_err() {
        report_logs(logs, &["alice.log", "bob.log"]);
    }
    outcome
}
