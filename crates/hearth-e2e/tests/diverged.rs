//! A host restored from a backup under a member of its room, in the real desktop app:
//! the member's app warns, keeps the messages the host lost apart from the room, and
//! lists them on request. The host is a real host in this process, reached over a veth
//! link into the app's network namespace. Screenshots: docs/screenshots/diverged-*.png.
//!
//! Needs what tests/desktop.rs needs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use fantoccini::key::Key;
use fantoccini::Locator;
use hearth::tls::HostCert;
use hearth::{Host, HostConfig, Invite, Limits, Store, Transport};
use hearth_e2e::desktop::{testid, Ui};
use hearth_e2e::netns::{link, Netns};
use hearth_e2e::person::*;
use hearth_e2e::seed::{busy_room, seed_room};
use hearth_e2e::step;

const HOST_IP: &str = "10.231.62.1";

fn host_on(dir: &std::path::Path) -> Result<Host> {
    let store = Arc::new(Store::open(dir)?);
    Ok(Host::start(
        store,
        HostConfig {
            host_name: "Team server".into(),
            limits: Limits::default(),
            transport: Transport::Tls(HostCert::load_or_create(dir)?),
        },
    )?)
}

async fn listed(ui: &Ui) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for el in ui
        .client
        .find_all(Locator::Css(&format!(
            "{} .text",
            testid("unhosted-message")
        )))
        .await?
    {
        out.push(el.text().await?);
    }
    Ok(out)
}

async fn ensure_closed(ui: &Ui) -> Result<()> {
    let end = Instant::now() + Duration::from_secs(5);
    while !ui
        .client
        .find_all(Locator::Css(&testid("unhosted-dialog")))
        .await?
        .is_empty()
    {
        ensure!(Instant::now() < end, "Escape did not close the list");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_host_keeps_what_it_lost_apart_and_lists_it() -> Result<()> {
    let Some((app, logs)) = prepare()? else {
        return Ok(());
    };
    let t0 = Instant::now();
    let outcome: Result<()> = async {
        let ns = Netns::new("dv")?;
        link(None, &format!("{HOST_IP}/24"), &ns, "10.231.62.2/24", "hv")?;
        let mut dana = Person::new(ns, 0, logs.path().join("dana.log"))?;

        // The host's history, and its backup as it will be restored.
        let (host_dir, backup_dir) = (tempfile::tempdir()?, tempfile::tempdir()?);
        seed_room(
            host_dir.path(),
            "Team server",
            "Release notes",
            None,
            &busy_room(200),
        )
        .await?;
        Store::open(host_dir.path())?.backup_to(&backup_dir.path().join(hearth::store::DB_FILE))?;
        for f in ["host-cert.der", "host-key.der"] {
            std::fs::copy(host_dir.path().join(f), backup_dir.path().join(f))?;
        }
        let host = host_on(host_dir.path())?;
        let room = host.open_room("Release notes", None)?.room_id;
        let addr = host.bind(format!("{HOST_IP}:0").parse()?).await?;
        let invite = Invite {
            host: HOST_IP.into(),
            port: addr.port(),
            room_id: Some(room),
            fingerprint: host.fingerprint().map(str::to_string),
        };
        step!(t0, "host up with 200 messages; backup taken");

        dana.start(&app).await?;
        set_name(dana.ui(), "Dana").await?;
        dana.ui().click("join-link-button").await?;
        dana.ui()
            .type_into("join-link", &invite.to_string())
            .await?;
        dana.ui().click("join-submit").await?;
        wait_room_shown(dana.ui(), "Release notes").await?;
        let lost = [
            "Decision: ship 2.4 on Thursday",
            // WebDriver types only the Basic Multilingual Plane: ✓, not an emoji.
            "القرار: الإصدار يوم الخميس ✓",
            "Follow-up: changelog, then tell support",
        ];
        for text in lost {
            send(dana.ui(), text).await?;
        }
        wait_no_pending(dana.ui()).await?;
        step!(
            t0,
            "Dana joined and wrote 3 messages the backup does not have"
        );

        // The host is restored from the backup, on the same address.
        host.shutdown().await;
        let restored = host_on(backup_dir.path())?;
        restored.open_room("Release notes", None)?;
        restored.bind(addr).await?;
        let banner = dana
            .ui()
            .find("diverged-banner")
            .await
            .context("no divergence notice")?;
        let notice = banner.text().await?;
        ensure!(
            notice.contains("3 messages"),
            "the notice counts them: {notice}"
        );
        // The room follows the host: the lost messages are not in its list.
        let texts = message_texts(dana.ui()).await?;
        ensure!(
            !texts.iter().any(|t| lost.contains(&t.as_str())),
            "a message the host lost is still shown in the room: {texts:?}"
        );
        dana.shot("diverged-notice.png")?;
        step!(t0, "the notice is shown and the room follows the host");

        dana.ui().click("unhosted-show").await?;
        dana.ui().find("unhosted-dialog").await?;
        // The list loads from the cache after the dialog opens: wait for all of it (not
        // just its first rows), then it must be exactly what the host lost, in order.
        let end = Instant::now() + Duration::from_secs(15);
        let mut shown = listed(dana.ui()).await?;
        while shown.len() < lost.len() && Instant::now() < end {
            tokio::time::sleep(Duration::from_millis(150)).await;
            shown = listed(dana.ui()).await?;
        }
        if shown != lost {
            let dialog = testid_text(dana.ui(), "unhosted-dialog")
                .await
                .unwrap_or_default();
            anyhow::bail!(
                "the dialog lists {shown:?}, not what the host lost, in order; it says: {dialog}"
            );
        }
        dana.ui()
            .click("unhosted-close")
            .await
            .context("close the list")?;
        for theme in ["light", "dark"] {
            // Settings is in the sidebar, docked at this size.
            dana.x.resize_app(1280, 800)?;
            tokio::time::sleep(Duration::from_millis(400)).await;
            set_theme(dana.ui(), theme)
                .await
                .with_context(|| format!("{theme} theme"))?;
            for (w, h) in [(1280, 800), (800, 600)] {
                dana.x.resize_app(w, h)?;
                tokio::time::sleep(Duration::from_millis(400)).await;
                dana.ui()
                    .click("unhosted-show")
                    .await
                    .context("reopen the list")?;
                dana.ui().find("unhosted-message").await?;
                tokio::time::sleep(Duration::from_millis(300)).await;
                dana.shot(&format!("diverged-{w}x{h}-{theme}.png"))?;
                // Escape closes it, as every dialog.
                dana.ui()
                    .client
                    .active_element()
                    .await?
                    .send_keys(&char::from(Key::Escape).to_string())
                    .await?;
                ensure_closed(dana.ui()).await?;
            }
        }
        step!(t0, "the list, at two sizes in both themes");
        dana.quit().await?;
        restored.shutdown().await;
        Ok(())
    }
    .await;
    if outcome.is_err() {
        report_logs(logs, &["dana.log"]);
    }
    outcome
}
