//! Files in the real desktop app (issue 15), two apps in two network namespaces: Alice
//! hosts a busy room, Bob joins. Bob pastes a screenshot (a real PNG through a real
//! paste event): Alice sees its preview and opens it full size. Bob sends a file (the
//! command a drop on the window calls, with its path): Alice downloads it and its bytes
//! match. Bob sends a large file and the link between them is cut mid-upload: the
//! upload waits, resumes when the link is back, and arrives whole. Bob cancels another
//! large upload: nothing reaches the room or stays on the host. Screenshots in
//! docs/screenshots/files-*.
//!
//! Needs what tests/desktop.rs needs.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use hearth_e2e::desktop::Ui;
use hearth_e2e::netns::{link, Netns};
use hearth_e2e::person::*;
use hearth_e2e::seed::{busy_room, seed_room};
use hearth_e2e::step;
use serde_json::Value;

fn random_file(dir: &Path, name: &str, len: usize) -> Result<PathBuf> {
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
    std::fs::write(&p, data)?;
    Ok(p)
}

/// A 1600×1000 screenshot-like PNG.
fn screenshot_png() -> Result<Vec<u8>> {
    let img = image::RgbImage::from_fn(1600, 1000, |x, y| {
        let band = (y / 125) % 2 == 0;
        if x < 240 {
            image::Rgb([40, 44, 52])
        } else if band {
            image::Rgb([(x / 8) as u8, 120, (255 - y / 4) as u8])
        } else {
            image::Rgb([250, 248, 245])
        }
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)?;
    Ok(out.into_inner())
}

async fn room_id(ui: &Ui) -> Result<String> {
    let v = ui
        .client
        .execute(
            "return document.querySelector('[data-testid=room-view]')?.dataset.roomId ?? null",
            vec![],
        )
        .await?;
    v.as_str().map(str::to_string).context("the open room's id")
}

/// Calls a shell command as the UI does (`window.__TAURI_INTERNALS__.invoke`).
async fn invoke(ui: &Ui, cmd: &str, args: Value) -> Result<Value> {
    let v = ui
        .client
        .execute_async(
            "const [cmd, args, done] = arguments;
             window.__TAURI_INTERNALS__.invoke(cmd, args).then((r) => done({ ok: r }), (e) => done({ err: e }));",
            vec![Value::from(cmd), args],
        )
        .await?;
    ensure!(v.get("err").is_none(), "{cmd} failed: {v}");
    Ok(v["ok"].clone())
}

async fn transfers(ui: &Ui) -> Result<Vec<Value>> {
    let v = ui
        .client
        .execute(
            r#"return [...document.querySelectorAll('[data-testid=transfer]')].map(t => ({
                 state: t.dataset.state, value: Number(t.querySelector('progress')?.value ?? 0),
                 text: t.textContent }))"#,
            vec![],
        )
        .await?;
    Ok(v.as_array().cloned().unwrap_or_default())
}

async fn shots(who: &Person, name: &str) -> Result<()> {
    for (theme, (w, h)) in [("light", (1280, 800)), ("dark", (800, 600))] {
        who.x.resize_app(1280, 800)?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        set_theme(who.ui(), theme).await?;
        who.x.resize_app(w, h)?;
        tokio::time::sleep(Duration::from_millis(600)).await;
        who.shot(&format!("{name}-{w}x{h}-{theme}.png"))?;
    }
    who.x.resize_app(1280, 800)?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    set_theme(who.ui(), "light").await
}

/// Bytes the host holds of unfinished uploads.
fn partial_bytes(host_data: &Path) -> u64 {
    std::fs::read_dir(host_data.join("files/partial")).map_or(0, |d| {
        d.filter_map(|e| e.ok()?.metadata().ok())
            .map(|m| m.len())
            .sum()
    })
}

/// Bytes sent out of `dev` in `ns` so far.
fn tx_bytes(ns: &Netns, dev: &str) -> Result<u64> {
    let out = ns
        .command("cat")
        .arg(format!("/sys/class/net/{dev}/statistics/tx_bytes"))
        .output()?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
}

fn partials(host_data: &Path) -> usize {
    std::fs::read_dir(host_data.join("files/partial")).map_or(0, |d| d.count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paste_preview_send_download_resume_and_cancel() -> Result<()> {
    let Some((app, logs)) = prepare()? else {
        return Ok(());
    };
    let t0 = Instant::now();
    let outcome: Result<()> = async {
        let a_ns = Netns::new("fa")?;
        let b_ns = Netns::new("fb")?;
        link(Some(&a_ns), "10.231.65.1/24", &b_ns, "10.231.65.2/24", "fc")?;
        let veth_b = format!("fcb{}", std::process::id() % 100_000);
        let mut alice = Person::new(a_ns, 0, logs.path().join("alice.log"))?;
        let mut bob = Person::new(b_ns, 1, logs.path().join("bob.log"))?;
        seed_room(alice.data.path(), "Alice", "Crew", None, &busy_room(300)).await?;
        alice.start(&app).await?;
        bob.start(&app).await?;
        set_name(alice.ui(), "Alice").await?;
        set_name(bob.ui(), "Bob").await?;
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

        // Bob pastes a screenshot, with a caption typed first.
        let composer = bob.ui().find("composer").await?;
        composer.send_keys("the new dashboard — لوحة القيادة 📊").await?;
        let png = screenshot_png()?;
        let pasted = bob
            .ui()
            .client
            .execute(
                "const bytes = new Uint8Array(arguments[0]);
                 const file = new File([bytes], 'image.png', { type: 'image/png' });
                 const dt = new DataTransfer(); dt.items.add(file);
                 const ta = document.querySelector('[data-testid=composer]'); ta.focus();
                 const ev = new ClipboardEvent('paste', { bubbles: true, cancelable: true, clipboardData: dt });
                 if (!ev.clipboardData) Object.defineProperty(ev, 'clipboardData', { value: dt });
                 ta.dispatchEvent(ev); return ev.defaultPrevented;",
                vec![Value::from(png.clone())],
            )
            .await?;
        ensure!(pasted == true, "the paste was taken as a file");
        let preview = poll("Alice sees the preview", Duration::from_secs(30), async || {
            let v = alice
                .ui()
                .client
                .execute(
                    "const i = [...document.querySelectorAll('[data-testid=preview-img]')].at(-1);
                     return i && i.complete && i.naturalWidth > 0 ? { w: i.naturalWidth, h: i.naturalHeight,
                       caption: i.closest('[data-testid=message]').querySelector('[data-testid=message-text]')?.textContent } : null",
                    vec![],
                )
                .await?;
            Ok((!v.is_null()).then_some(v))
        })
        .await?;
        ensure!(preview["w"] == 480 && preview["h"] == 300, "a 480×300 preview: {preview}");
        ensure!(
            preview["caption"].as_str().is_some_and(|c| c.contains("لوحة القيادة")),
            "the draft became the caption: {preview}"
        );
        ensure!(testid_text(bob.ui(), "composer").await?.is_empty(), "the composer is cleared");
        shots(&alice, "files-image-preview").await?;
        step!(t0, "pasted screenshot previewed on Alice's side");

        alice
            .ui()
            .client
            .execute("[...document.querySelectorAll('[data-testid=image-preview]')].at(-1).click()", vec![])
            .await?;
        poll("the full image in the lightbox", Duration::from_secs(20), async || {
            let v = alice
                .ui()
                .client
                .execute(
                    "const i = document.querySelector('[data-testid=lightbox-img]'); return i && i.complete ? i.naturalWidth : 0",
                    vec![],
                )
                .await?;
            Ok((v == 1600).then_some(()))
        })
        .await?;
        alice.shot("files-lightbox-1280x800-light.png")?;
        alice
            .ui()
            .client
            .active_element()
            .await?
            .send_keys(&char::from(fantoccini::key::Key::Escape).to_string())
            .await?;
        step!(t0, "full image in the lightbox");

        // Bob sends a file by path (what dropping it on the window does).
        let src = tempfile::tempdir()?;
        let report = random_file(src.path(), "رسم بياني quarterly report 2026.pdf", 3_000_000)?;
        let want = hearth::files::hash_file(&report)?.0;
        let room = room_id(bob.ui()).await?;
        invoke(
            bob.ui(),
            "send_files",
            serde_json::json!({"room_id": room, "paths": [report.display().to_string()], "caption": "", "relation": null}),
        )
        .await?;
        let card = format!("[data-testid=file-card][data-file-id='{want}']");
        poll("Alice sees the file card", Duration::from_secs(30), async || {
            Ok(alice.ui().client.find(fantoccini::Locator::Css(&card)).await.ok())
        })
        .await?;
        shots(&alice, "files-card").await?;
        alice
            .ui()
            .client
            .find(fantoccini::Locator::Css(&format!("{card} [data-testid=file-download]")))
            .await?
            .click()
            .await?;
        poll("the download done", Duration::from_secs(30), async || {
            Ok(alice
                .ui()
                .client
                .find(fantoccini::Locator::Css(&format!("{card} [data-testid=file-downloaded]")))
                .await
                .ok())
        })
        .await?;
        let cached = alice.data.path().join("files/cache").join(&want);
        ensure!(hearth::files::hash_file(&cached)?.0 == want, "Alice's copy matches");
        step!(t0, "file sent, downloaded, hash matches");

        // A large upload with the link cut in the middle.
        let big = random_file(src.path(), "site-backup.tar", 700 * 1024 * 1024)?;
        let big_id = hearth::files::hash_file(&big)?.0;
        invoke(
            bob.ui(),
            "send_files",
            serde_json::json!({"room_id": room, "paths": [big.display().to_string()], "caption": "backup", "relation": null}),
        )
        .await?;
        poll("the upload under way", Duration::from_secs(60), async || {
            Ok(transfers(bob.ui()).await?.into_iter().find(|t| t["state"] == "running" && t["value"].as_f64().unwrap_or(0.0) >= 5.0))
        })
        .await?;
        bob.ns.ip(&["link", "set", &veth_b, "down"])?;
        bob.shot("files-progress-1280x800-light.png")?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        poll("the upload shown as waiting", Duration::from_secs(10), async || {
            Ok(transfers(bob.ui())
                .await?
                .into_iter()
                .find(|t| t["state"] == "running" && t["text"].as_str().is_some_and(|x| x.contains("waiting for the connection"))))
        })
        .await?;
        bob.shot("files-resuming-1280x800-light.png")?;
        bob.ns.ip(&["link", "set", &veth_b, "up"])?;
        let big_card = format!("[data-testid=file-card][data-file-id='{big_id}']");
        poll("the resumed upload arrives", Duration::from_secs(120), async || {
            Ok(alice.ui().client.find(fantoccini::Locator::Css(&big_card)).await.ok())
        })
        .await?;
        let blob = alice.data.path().join("files/blobs").join(&big_id);
        ensure!(hearth::files::hash_file(&blob)?.0 == big_id, "the host's copy is whole");
        step!(t0, "upload cut by the link, resumed, arrived whole");

        // A large upload with Bob's app quit in the middle: when it starts again, the
        // message (caption too) goes on from where the host's copy stopped.
        let photos = random_file(src.path(), "photos 2026 📷.zip", 700 * 1024 * 1024)?;
        let photos_id = hearth::files::hash_file(&photos)?.0;
        invoke(
            bob.ui(),
            "send_files",
            serde_json::json!({"room_id": room, "paths": [photos.display().to_string()], "caption": "all the photos — كل الصور", "relation": null}),
        )
        .await?;
        poll("the photos upload a quarter done", Duration::from_secs(90), async || {
            Ok(transfers(bob.ui()).await?.into_iter().find(|t| t["state"] == "running" && t["value"].as_f64().unwrap_or(0.0) >= 25.0))
        })
        .await?;
        bob.quit().await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let had = partial_bytes(alice.data.path());
        let size = std::fs::metadata(&photos)?.len();
        ensure!(had >= size / 5, "the host kept the first part: {had} of {size}");
        let sent_before = tx_bytes(&bob.ns, &veth_b)?;
        // Started with the link down, Bob's app shows the queued message at once, as a
        // transfer waiting for the room; it goes on when the link is back.
        bob.ns.ip(&["link", "set", &veth_b, "down"])?;
        bob.start(&app).await?;
        open_room(bob.ui(), "Crew").await?;
        poll("the queued upload shown after the restart", Duration::from_secs(20), async || {
            Ok(transfers(bob.ui())
                .await?
                .into_iter()
                .find(|t| t["state"] == "preparing" && t["text"].as_str().is_some_and(|x| x.contains("photos 2026") && x.contains("waiting for the host"))))
        })
        .await?;
        bob.shot("files-queued-after-restart-1280x800-light.png")?;
        bob.ns.ip(&["link", "set", &veth_b, "up"])?;
        let photos_card = format!("[data-testid=file-card][data-file-id='{photos_id}']");
        poll("the photos arrive after Bob's restart", Duration::from_secs(120), async || {
            Ok(alice.ui().client.find(fantoccini::Locator::Css(&photos_card)).await.ok())
        })
        .await?;
        let resent = tx_bytes(&bob.ns, &veth_b)? - sent_before;
        ensure!(
            resent < size - had + size / 10,
            "only the remainder went again: {resent} bytes sent after the restart, {} were missing",
            size - had
        );
        let caption = alice
            .ui()
            .client
            .execute(
                &format!("return document.querySelector(\"{photos_card}\").closest('[data-testid=message]').querySelector('[data-testid=message-text]')?.textContent"),
                vec![],
            )
            .await?;
        ensure!(caption.as_str().is_some_and(|c| c.contains("كل الصور")), "the caption came along: {caption}");
        let blob = alice.data.path().join("files/blobs").join(&photos_id);
        ensure!(hearth::files::hash_file(&blob)?.0 == photos_id, "the host's copy is whole");
        poll("Bob's transfer list empties", Duration::from_secs(20), async || {
            Ok(transfers(bob.ui()).await?.iter().all(|t| t["state"] != "running").then_some(()))
        })
        .await?;
        step!(t0, "upload cut by quitting the app, resumed on its restart, remainder only");

        // A large upload cancelled.
        let other = random_file(src.path(), "do-not-send.iso", 700 * 1024 * 1024)?;
        let other_id = hearth::files::hash_file(&other)?.0;
        invoke(
            bob.ui(),
            "send_files",
            serde_json::json!({"room_id": room, "paths": [other.display().to_string()], "caption": "oops", "relation": null}),
        )
        .await?;
        poll("the second upload under way", Duration::from_secs(60), async || {
            Ok(transfers(bob.ui()).await?.into_iter().find(|t| t["state"] == "running" && t["value"].as_f64().unwrap_or(0.0) >= 1.0))
        })
        .await?;
        bob.ui().click("transfer-cancel").await?;
        poll("the transfer gone", Duration::from_secs(20), async || {
            Ok(transfers(bob.ui()).await?.is_empty().then_some(()))
        })
        .await?;
        poll("nothing left on the host", Duration::from_secs(20), async || {
            Ok((partials(alice.data.path()) == 0).then_some(()))
        })
        .await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let leaked = alice
            .ui()
            .client
            .find(fantoccini::Locator::Css(&format!("[data-file-id='{other_id}']")))
            .await
            .is_ok();
        ensure!(!leaked, "a cancelled upload reached the room");
        ensure!(
            !alice.data.path().join("files/blobs").join(&other_id).exists(),
            "a cancelled upload stayed on the host"
        );
        step!(t0, "upload cancelled, nothing sent or kept");
        Ok(())
    }
    .await;
    if outcome.is_err() {
        report_logs(logs, &["alice.log", "bob.log"]);
    }
    outcome
}
