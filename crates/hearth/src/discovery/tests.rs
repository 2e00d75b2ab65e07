//! In-process tests: advertise, browse, update, goodbye, expiry, collisions.
//!
//! Each test runs on a private network namespace when it can (root: a fresh namespace
//! holds nothing but `lo`), and always restricts mDNS to loopback on a non-standard
//! port, so no packet reaches a real network.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use uuid::Uuid;

use super::*;

/// Runs `f` on a fresh runtime whose threads (and so mdns-sd's) live in a private
/// network namespace if this process may create one.
fn isolated<F: Future>(f: impl FnOnce(MdnsConfig) -> F) -> F::Output {
    let private = enter_private_netns();
    if !private {
        eprintln!("note: not root; mDNS stays on loopback with a test port instead of a private namespace");
    }
    let port = 20_000 + (std::process::id() % 20_000) as u16 + (rand::random::<u16>() % 5000);
    let mdns = MdnsConfig {
        port,
        interfaces: Interfaces::LoopbackOnly,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(f(mdns))
}

/// Moves this thread to a new network namespace with `lo` up. Threads it spawns later
/// inherit it.
fn enter_private_netns() -> bool {
    // Fails without CAP_SYS_ADMIN, i.e. when not root.
    if nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).is_err() {
        return false;
    }
    // A child forked from this thread starts in the same namespace.
    let up = std::process::Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        up,
        "could not bring up lo in the test namespace (is iproute2 installed?)"
    );
    true
}

fn browse_config(mdns: &MdnsConfig) -> BrowseConfig {
    BrowseConfig {
        mdns: mdns.clone(),
        own_host_id: None,
        sweep_interval: BrowseConfig::default().sweep_interval,
        // Long, unless a test is about expiry: removals must then come from goodbyes.
        liveness_timeout: Duration::from_secs(60),
    }
}

async fn host(mdns: &MdnsConfig, host_name: &str) -> (Advertiser, SocketAddr, Uuid) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Keep the port busy for the test's lifetime.
    std::mem::forget(listener);
    let host_id = Uuid::new_v4();
    let adv = Advertiser::new(AdvertiserConfig {
        host_id,
        host_name: host_name.into(),
        listen: addr,
        mdns: mdns.clone(),
    })
    .unwrap();
    (adv, addr, host_id)
}

fn room(name: &str) -> AdvertisedRoom {
    AdvertisedRoom {
        room_id: Uuid::new_v4(),
        name: name.into(),
        has_passcode: false,
        online: None,
        fingerprint: None,
    }
}

/// The next event about `room_id` within `within`, skipping others.
async fn next_for(b: &mut Browser, room_id: Uuid, within: Duration) -> Option<BrowseEvent> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, b.next_event()).await {
            Ok(Some(ev)) if ev.room().is_some_and(|r| r.room_id == room_id) => return Some(ev),
            Ok(Some(_)) => continue,
            Ok(None) | Err(_) => return None,
        }
    }
}

/// Waits until every room in `ids` is listed, then drops the queued events.
async fn await_listed(b: &mut Browser, ids: &[Uuid], within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let listed = b.rooms();
        if ids.iter().all(|id| listed.iter().any(|r| r.room_id == *id)) {
            while let Ok(Some(_)) =
                tokio::time::timeout(Duration::from_millis(20), b.next_event()).await
            {}
            return;
        }
        if tokio::time::timeout_at(deadline, b.next_event())
            .await
            .is_err()
        {
            panic!("not all of {ids:?} listed within {within:?}; have {listed:?}");
        }
    }
}

async fn expect_quiet(b: &mut Browser, room_id: Uuid, for_: Duration) {
    if let Some(ev) = next_for(b, room_id, for_).await {
        panic!("expected no event, got {ev:?}");
    }
}

#[test]
fn advertise_browse_update_goodbye() {
    isolated(|mdns| async move {
        let (adv, addr, host_id) = host(&mdns, "Alice").await;
        let mut b = Browser::start(browse_config(&mdns)).unwrap();
        let mut r = room("Design team");
        r.fingerprint = Some("0f".repeat(32));
        assert!(adv.advertise(&r).unwrap());
        // Advertising the same thing again sends nothing.
        assert!(!adv.advertise(&r).unwrap());

        let Some(BrowseEvent::Added(got)) =
            next_for(&mut b, r.room_id, Duration::from_secs(3)).await
        else {
            panic!("room not discovered within 3 s");
        };
        assert_eq!(got.name, "Design team");
        assert_eq!(got.host_name.as_deref(), Some("Alice"));
        assert_eq!(got.host_id, Some(host_id));
        assert!(!got.has_passcode && got.compatible() && !got.ours);
        assert_eq!(got.port, addr.port());
        assert_eq!(got.addresses, vec![addr]);
        assert!(
            got.instance.starts_with("Design team (Alice) #")
                && got.instance.ends_with(SERVICE_TYPE),
            "{}",
            got.instance
        );
        let invite = got.invite().unwrap();
        assert_eq!(
            invite.to_string(),
            format!("hearth://{addr}/{}#fp={}", r.room_id, "0f".repeat(32))
        );
        assert_eq!(b.rooms(), vec![got.clone()]);

        // Sweeps restart queries every 500 ms: none of that may show as a change.
        expect_quiet(&mut b, r.room_id, Duration::from_millis(1500)).await;

        // A TXT change is re-announced and seen as an update.
        r.has_passcode = true;
        r.online = Some(4);
        assert!(adv.advertise(&r).unwrap());
        match next_for(&mut b, r.room_id, Duration::from_secs(3)).await {
            Some(BrowseEvent::Updated(u)) => {
                assert!(u.has_passcode);
                assert_eq!(u.online, Some(4));
            }
            other => panic!("expected an update, got {other:?}"),
        }

        // A rename changes the instance name; browsers see one update, not a gap.
        r.name = "Design crew".into();
        assert!(adv.advertise(&r).unwrap());
        match next_for(&mut b, r.room_id, Duration::from_secs(3)).await {
            Some(BrowseEvent::Updated(u)) => {
                assert_eq!(u.name, "Design crew");
                assert!(
                    u.instance.starts_with("Design crew (Alice) #"),
                    "{}",
                    u.instance
                );
            }
            other => panic!("expected an update for the rename, got {other:?}"),
        }
        expect_quiet(&mut b, r.room_id, Duration::from_millis(1500)).await;
        assert_eq!(b.rooms().len(), 1);

        // Withdraw: the goodbye removes it long before the 60 s liveness timeout.
        let t = std::time::Instant::now();
        assert!(adv.withdraw(r.room_id).await.unwrap());
        match next_for(&mut b, r.room_id, Duration::from_secs(2)).await {
            Some(BrowseEvent::Removed(gone)) => assert_eq!(gone.room_id, r.room_id),
            other => panic!("expected removal on goodbye, got {other:?}"),
        }
        // The "closing" announcement makes it immediate, without the 1 s that RFC 6762
        // §10.1 adds after a goodbye: anything under that second shows it (a loaded
        // machine may take some hundreds of milliseconds to deliver the packet).
        assert!(
            t.elapsed() < Duration::from_millis(1000),
            "{:?}",
            t.elapsed()
        );
        assert!(b.rooms().is_empty());
        assert!(!adv.withdraw(r.room_id).await.unwrap());
        adv.shutdown().await;
        b.shutdown().await;
    });
}

#[test]
fn shutdown_says_goodbye_for_every_room() {
    isolated(|mdns| async move {
        let (adv, _, _) = host(&mdns, "Bob").await;
        let mut b = Browser::start(browse_config(&mdns)).unwrap();
        let (r1, r2) = (room("One"), room("Two"));
        adv.advertise(&r1).unwrap();
        adv.advertise(&r2).unwrap();
        await_listed(&mut b, &[r1.room_id, r2.room_id], Duration::from_secs(3)).await;
        adv.shutdown().await;
        assert!(matches!(adv.advertise(&r1), Err(DiscoveryError::Stopped)));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while !b.rooms().is_empty() && tokio::time::Instant::now() < deadline {
            let _ = tokio::time::timeout_at(deadline, b.next_event()).await;
        }
        assert!(
            b.rooms().is_empty(),
            "still listed after shutdown: {:?}",
            b.rooms()
        );
        b.shutdown().await;
    });
}

#[test]
fn vanished_host_expires_after_liveness_timeout() {
    isolated(|mdns| async move {
        let (adv, _, _) = host(&mdns, "Carol").await;
        // The defaults, as the CLI uses them.
        let cfg = BrowseConfig {
            mdns: mdns.clone(),
            ..BrowseConfig::default()
        };
        let timeout = cfg.liveness_timeout;
        let mut b = Browser::start(cfg).unwrap();
        let r = room("Power cut");
        adv.advertise(&r).unwrap();
        assert!(matches!(
            next_for(&mut b, r.room_id, Duration::from_secs(3)).await,
            Some(BrowseEvent::Added(_))
        ));
        // Still there well past one timeout: sweep answers keep it alive.
        expect_quiet(&mut b, r.room_id, timeout + Duration::from_secs(3)).await;

        // The host goes silent without a goodbye, as on power loss.
        adv.go_silent();
        let t = std::time::Instant::now();
        match next_for(&mut b, r.room_id, timeout + Duration::from_secs(4)).await {
            Some(BrowseEvent::Removed(_)) => {}
            other => panic!("expected expiry, got {other:?}"),
        }
        let took = t.elapsed();
        // The last confirmation came at most one sweep (plus mdns-sd's 1 s repeat)
        // before the silence; removal is the timeout after it, checked every 250 ms. The
        // upper bound leaves a loaded machine 2 s more than that; it still shows expiry
        // by the timeout, not by some later clean-up.
        assert!(
            took <= timeout + Duration::from_millis(3000)
                && took >= timeout - Duration::from_millis(3200),
            "removed after {took:?}"
        );
        b.shutdown().await;
    });
}

#[test]
fn same_room_name_on_two_hosts_is_two_entries_and_own_rooms_are_marked() {
    isolated(|mdns| async move {
        // Same room name and same host name: only the ids tell them apart.
        let (a1, addr1, id1) = host(&mdns, "Host").await;
        let (a2, addr2, _) = host(&mdns, "Host").await;
        let mut cfg = browse_config(&mdns);
        cfg.own_host_id = Some(id1);
        let mut b = Browser::start(cfg).unwrap();
        let (g1, g2) = (room("General"), room("General"));
        a1.advertise(&g1).unwrap();
        a2.advertise(&g2).unwrap();
        await_listed(&mut b, &[g1.room_id, g2.room_id], Duration::from_secs(3)).await;
        let rooms = b.rooms();
        let find = |id: Uuid| rooms.iter().find(|r| r.room_id == id).cloned();
        let (Some(r1), Some(r2)) = (find(g1.room_id), find(g2.room_id)) else {
            panic!("both rooms must be discovered; have {rooms:?}");
        };
        assert_ne!(r1.instance, r2.instance);
        assert_eq!(
            (r1.addresses.clone(), r2.addresses.clone()),
            (vec![addr1], vec![addr2])
        );
        assert!(r1.ours && !r2.ours);
        expect_quiet(&mut b, g1.room_id, Duration::from_millis(1200)).await;
        assert_eq!(b.rooms().len(), 2);
        // One host leaving does not take the other's room along.
        a1.shutdown().await;
        assert!(matches!(
            next_for(&mut b, g1.room_id, Duration::from_secs(2)).await,
            Some(BrowseEvent::Removed(_))
        ));
        let left = b.rooms();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].room_id, g2.room_id);
        a2.shutdown().await;
        b.shutdown().await;
    });
}

#[test]
fn sync_follows_the_room_list() {
    isolated(|mdns| async move {
        let (adv, _, _) = host(&mdns, "Dan").await;
        let mut b = Browser::start(browse_config(&mdns)).unwrap();
        let (mut r1, r2) = (room("Kept"), room("Closed"));
        r1.online = Some(0);
        adv.sync(&[r1.clone(), r2.clone()]).await.unwrap();
        await_listed(&mut b, &[r1.room_id, r2.room_id], Duration::from_secs(3)).await;
        // Closing a room withdraws it; the other stays.
        adv.sync(std::slice::from_ref(&r1)).await.unwrap();
        assert!(matches!(
            next_for(&mut b, r2.room_id, Duration::from_secs(2)).await,
            Some(BrowseEvent::Removed(_))
        ));
        // A changed online count alone waits (at most one re-announce per 10 s)...
        r1.online = Some(1);
        adv.sync(std::slice::from_ref(&r1)).await.unwrap();
        expect_quiet(&mut b, r1.room_id, Duration::from_millis(1500)).await;
        // ...but any other change goes out at once.
        r1.has_passcode = true;
        adv.sync(std::slice::from_ref(&r1)).await.unwrap();
        match next_for(&mut b, r1.room_id, Duration::from_secs(3)).await {
            Some(BrowseEvent::Updated(u)) => {
                assert_eq!((u.has_passcode, u.online), (true, Some(1)))
            }
            other => panic!("expected an update, got {other:?}"),
        }
        adv.shutdown().await;
        b.shutdown().await;
    });
}

#[test]
fn bad_txt_records_are_ignored() {
    isolated(|mdns| async move {
        // A foreign responder publishing junk under our service type.
        let d = mdns.daemon().unwrap();
        let junk = mdns_sd::ServiceInfo::new(
            SERVICE_TYPE,
            "Not a room",
            "junk.local.",
            "127.0.0.1",
            9,
            &[("v", "1"), ("id", "not-a-uuid"), ("rn", "x")][..],
        )
        .unwrap();
        d.register(junk).unwrap();
        let (adv, _, _) = host(&mdns, "Eve").await;
        let mut b = Browser::start(browse_config(&mdns)).unwrap();
        let r = room("Real");
        adv.advertise(&r).unwrap();
        assert!(matches!(
            next_for(&mut b, r.room_id, Duration::from_secs(3)).await,
            Some(BrowseEvent::Added(_))
        ));
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rooms = b.rooms();
        assert_eq!(rooms.len(), 1, "{rooms:?}");
        stop_daemon(&d).await;
        adv.shutdown().await;
        b.shutdown().await;
    });
}

#[test]
fn a_host_restarted_right_after_its_goodbye_is_seen_again() {
    isolated(|mdns| async move {
        let (adv, addr, host_id) = host(&mdns, "Dana").await;
        // Sweeps far apart: only the watcher's own cache can bring the room back here.
        let mut cfg = browse_config(&mdns);
        cfg.sweep_interval = Duration::from_secs(60);
        let mut b = Browser::start(cfg).unwrap();
        let r = room("Standup");
        adv.advertise(&r).unwrap();
        await_listed(&mut b, &[r.room_id], Duration::from_secs(3)).await;
        adv.shutdown().await;
        match next_for(&mut b, r.room_id, Duration::from_secs(2)).await {
            Some(BrowseEvent::Removed(_)) => {}
            other => panic!("expected removal on goodbye, got {other:?}"),
        }
        // The same host, room and address, back within the second that browsers keep
        // the goodbye's records: identical records would read as a mere refresh.
        let again = Advertiser::new(AdvertiserConfig {
            host_id,
            host_name: "Dana".into(),
            listen: addr,
            mdns: mdns.clone(),
        })
        .unwrap();
        again.advertise(&r).unwrap();
        match next_for(&mut b, r.room_id, Duration::from_secs(3)).await {
            Some(BrowseEvent::Added(back)) => assert_eq!(back.room_id, r.room_id),
            other => panic!("the restarted host was not seen again: {other:?}"),
        }
        again.shutdown().await;
        b.shutdown().await;
    });
}
