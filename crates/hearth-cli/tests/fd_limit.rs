//! A host under a low open-file limit (1,024 is a common desktop default; here 256, to
//! stay quick): it raises the soft limit to the hard one, and under a low hard limit it
//! turns connections it has no descriptors for away with 4005 instead of failing
//! `accept`, and keeps serving.

mod common;

use std::os::unix::process::CommandExt;
use std::process::Command;

use common::HostProc;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

fn with_nofile(soft: u64, hard: u64) -> impl Fn(&mut Command) {
    move |cmd: &mut Command| {
        // SAFETY: setrlimit is async-signal-safe; nothing else runs in the child here.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: soft,
                    rlim_max: hard,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
}

/// Opens `n` connections, each greeted; returns how many got `welcome` and how many
/// were closed with 4005.
async fn connect_many(url: &str, n: usize) -> (Vec<impl Sized>, usize, usize) {
    let mut open = Vec::new();
    let (mut welcomed, mut refused) = (0, 0);
    for _ in 0..n {
        let (mut ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        let hello = format!(
            r#"{{"type":"hello","payload":{{"protocol":1,"user_id":"{}","name":"Member"}}}}"#,
            uuid::Uuid::new_v4()
        );
        let _ = ws.send(Message::Text(hello.into())).await;
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) if t.contains(r#""type":"welcome""#) => {
                    welcomed += 1;
                    break;
                }
                Some(Ok(Message::Close(Some(c)))) => {
                    assert_eq!(u16::from(c.code), 4005, "{c:?}");
                    refused += 1;
                    break;
                }
                Some(Ok(_)) => {}
                other => panic!("neither welcome nor 4005: {other:?}"),
            }
        }
        open.push(ws);
    }
    (open, welcomed, refused)
}

fn host(soft: u64, hard: u64, dir: &std::path::Path) -> (HostProc, String) {
    let host = HostProc::start_with(
        dir,
        "127.0.0.1:0",
        "General",
        &["--insecure-plaintext", "--max-connections-per-ip", "2000"],
        with_nofile(soft, hard),
    );
    let url = format!("ws://{}/", host.invite.authority());
    (host, url)
}

#[tokio::test]
async fn the_host_raises_a_low_soft_limit_and_serves_past_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_host, url) = host(256, 4096, dir.path());
    let (_open, welcomed, refused) = connect_many(&url, 400).await;
    assert_eq!(
        (welcomed, refused),
        (400, 0),
        "400 connections under a soft limit of 256"
    );
}

#[tokio::test]
async fn under_a_low_hard_limit_the_rest_get_4005_and_the_host_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let (_host, url) = host(300, 300, dir.path());
    let allowed = hearth::fd_limit::connections_allowed(300);
    let (open, welcomed, refused) = connect_many(&url, 300).await;
    assert_eq!((welcomed, refused), (allowed, 300 - allowed));
    drop(open);
    // Descriptors come back: new members get in again.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (_open, welcomed, _) = connect_many(&url, 10).await;
        if welcomed == 10 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the host did not recover"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
