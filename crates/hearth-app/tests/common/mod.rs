//! Helpers shared by the app-model tests.
#![allow(dead_code)]

use std::time::Duration;

use hearth::discovery::{Interfaces, MdnsConfig};
use hearth_app::{AppConfig, AppEvent, Connection};
use tokio::sync::mpsc::Receiver;

/// mDNS restricted to loopback on a private port; inside a fresh network namespace when
/// root, so nothing leaves this test.
pub fn isolate() -> MdnsConfig {
    if nix::unistd::geteuid().is_root()
        && nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).is_ok()
    {
        let ok = std::process::Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "cannot bring lo up in the test namespace");
    }
    MdnsConfig {
        port: 20_000 + rand::random::<u16>() % 20_000,
        interfaces: Interfaces::LoopbackOnly,
    }
}

pub fn config(dir: &std::path::Path, mdns: &MdnsConfig) -> AppConfig {
    let mut c = AppConfig::new(dir.to_path_buf());
    c.bind = "127.0.0.1:0".parse().unwrap();
    c.mdns = Some(mdns.clone());
    c.backoff_min = Duration::from_millis(100);
    c.backoff_max = Duration::from_millis(500);
    c
}

pub async fn wait_for<T>(
    rx: &mut Receiver<AppEvent>,
    what: &str,
    mut f: impl FnMut(&AppEvent) -> Option<T>,
) -> T {
    // Generous: mDNS, reconnects and a debug build on a loaded machine; it costs nothing
    // when the event comes.
    let r = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(e) = rx.recv().await {
            if let Some(t) = f(&e) {
                return Some(t);
            }
        }
        None
    })
    .await;
    match r {
        Ok(Some(t)) => t,
        _ => panic!("timed out waiting for {what}"),
    }
}

/// Polls `f` every 50 ms until it gives a value; fails naming `what` after 20 s. For
/// waiting on the app's state instead of sleeping a fixed time.
pub async fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for `joined` of `room`.
pub async fn wait_joined(rx: &mut Receiver<AppEvent>, what: &str, room: uuid::Uuid) {
    wait_for(rx, what, |e| {
        matches!(e, AppEvent::Joined { room: r, .. } if r.room_id == room).then_some(())
    })
    .await
}

/// Waits until some connection reports it is reconnecting (the host is unreachable).
pub async fn wait_reconnecting(rx: &mut Receiver<AppEvent>, what: &str) {
    wait_for(rx, what, |e| {
        matches!(
            e,
            AppEvent::Connection {
                connection: Connection::Reconnecting { .. },
                ..
            }
        )
        .then_some(())
    })
    .await
}

pub fn run(f: impl std::future::Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}
