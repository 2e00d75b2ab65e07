//! Helpers for tests that run the real `hearth` binary as child processes.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use hearth::Invite;

pub fn hearth() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hearth"));
    c.env("HEARTH_LOG", "warn,hearth=info,hearth_cli=info");
    // These tests run in the machine's own network namespace: no mDNS announcements
    // may leave it (the discovery tests use private namespaces instead).
    c.env("HEARTH_NO_ADVERTISE", "1");
    c
}

pub struct HostProc {
    pub child: Child,
    pub invite: Invite,
}

impl HostProc {
    /// Starts `hearth host` and waits for the invite URL on its first stdout line.
    pub fn start(data_dir: &Path, bind: &str, name: &str, extra: &[&str]) -> HostProc {
        Self::start_with(data_dir, bind, name, extra, |_| {})
    }

    /// [`HostProc::start`], with `configure` applied to the command before it is spawned.
    pub fn start_with(
        data_dir: &Path,
        bind: &str,
        name: &str,
        extra: &[&str],
        configure: impl Fn(&mut Command),
    ) -> HostProc {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut cmd = hearth();
            configure(&mut cmd);
            let mut child = cmd
                .args([
                    "host",
                    "--name",
                    name,
                    "--host-name",
                    "Alice",
                    "--bind",
                    bind,
                    "--data-dir",
                ])
                .arg(data_dir)
                .args(extra)
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("spawn hearth host");
            let stdout = child.stdout.take().expect("stdout");
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            if let Ok(invite) = Invite::parse(line.trim()) {
                if invite.room_id.is_some() {
                    return HostProc { child, invite };
                }
            }
            // Most likely the port is still held by a killed predecessor: retry.
            let _ = child.kill();
            let _ = child.wait();
            assert!(
                Instant::now() < deadline,
                "hearth host did not start (stdout: {line:?})"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn url(&self) -> String {
        self.invite.to_string()
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn sigkill(mut self) {
        self.child.kill().expect("kill");
        let _ = self.child.wait();
    }

    /// SIGTERM, then the exit status (within `within`).
    pub fn sigterm(mut self, within: Duration) -> std::process::ExitStatus {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid()),
            nix::sys::signal::Signal::SIGTERM,
        )
        .expect("SIGTERM");
        let deadline = Instant::now() + within;
        loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "hearth host did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }
}

impl Drop for HostProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `hearth join ...` to completion.
pub fn join(args: &[&str], data_dir: &Path) -> Output {
    hearth()
        .arg("join")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .stdin(Stdio::null())
        .output()
        .expect("run hearth join")
}

/// `hearth join URL --tail N --json` parsed into (seq, author, text).
pub fn tail(url: &str, data_dir: &Path, n: usize) -> Vec<(u64, String, String)> {
    let out = join(
        &[url, "--name", "Reader", "--tail", &n.to_string(), "--json"],
        data_dir,
    );
    assert!(
        out.status.success(),
        "tail failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json line");
            (
                v["seq"].as_u64().expect("seq"),
                v["author"].as_str().expect("author").to_string(),
                v["text"].as_str().expect("text").to_string(),
            )
        })
        .collect()
}

pub type Wss =
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// A raw WebSocket client over TLS that trusts exactly the invite's fingerprint.
pub async fn wss_connect(invite: &Invite) -> Wss {
    let tcp = tokio::net::TcpStream::connect(invite.authority())
        .await
        .expect("tcp connect");
    wss_over(invite, tcp).await
}

/// [`wss_connect`] with a small socket receive buffer (a client that reads slowly, or
/// never: what the host sends waits at the host).
pub async fn wss_connect_slow(invite: &Invite, rcvbuf: u32) -> Wss {
    let addr = tokio::net::lookup_host(invite.authority())
        .await
        .expect("resolve")
        .next()
        .expect("an address");
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(rcvbuf).expect("SO_RCVBUF");
    wss_over(invite, socket.connect(addr).await.expect("tcp connect")).await
}

async fn wss_over(invite: &Invite, tcp: tokio::net::TcpStream) -> Wss {
    let verifier = hearth::tls::PinVerifier::new(invite.fingerprint.clone());
    let config = verifier.client_config().expect("tls config");
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(hearth::tls::server_name(), tcp)
        .await
        .expect("tls handshake");
    let (ws, _) = tokio_tungstenite::client_async(format!("wss://{}/", invite.authority()), tls)
        .await
        .expect("websocket upgrade");
    ws
}

/// Connects over TLS, says hello and joins the invite's room; returns after `welcome` and
/// `joined`.
pub async fn wss_member(invite: &Invite, name: &str) -> Wss {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let room = invite.room_id.expect("invite names a room");
    let mut ws = wss_connect(invite).await;
    let hello = format!(
        r#"{{"type":"hello","payload":{{"protocol":1,"user_id":"{}","name":"{name}"}}}}"#,
        uuid::Uuid::new_v4()
    );
    ws.send(Message::Text(hello.into()))
        .await
        .expect("send hello");
    let join = format!(r#"{{"type":"join","payload":{{"room_id":"{room}"}}}}"#);
    ws.send(Message::Text(join.into()))
        .await
        .expect("send join");
    let mut frames = 0;
    while frames < 2 {
        let m = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("welcome and joined within 20 s");
        match m {
            Some(Ok(Message::Text(_))) => frames += 1,
            Some(Ok(_)) => {}
            other => panic!("connection ended before welcome and joined: {other:?}"),
        }
    }
    ws
}

/// Sends `texts` to `room` in one batch (client_msg_ids `{prefix}0`, `{prefix}1`, ...)
/// and waits until every one is acknowledged.
pub async fn send_all_acked(
    ws: &mut Wss,
    room: uuid::Uuid,
    prefix: &str,
    texts: impl IntoIterator<Item = String>,
) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let mut sent = 0;
    for (i, text) in texts.into_iter().enumerate() {
        let f = serde_json::json!({"type":"send","payload":{"room_id":room,"client_msg_id":format!("{prefix}{i}"),"text":text}});
        ws.feed(Message::Text(f.to_string().into()))
            .await
            .expect("send");
        sent += 1;
    }
    ws.flush().await.expect("flush");
    let mut acks = 0;
    while acks < sent {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => acks += usize::from(t.contains(r#""type":"ack""#)),
            Some(Ok(_)) => {}
            other => panic!("connection ended with {acks} of {sent} acks: {other:?}"),
        }
    }
}

/// Spawns interactive `hearth join URL --name NAME [EXTRA…]`, its stderr and stdout read line by
/// line into one channel (prefixed "err: " / "out: ").
pub fn interactive(
    url: &str,
    name: &str,
    data: &std::path::Path,
    extra: &[&str],
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    let mut child = hearth()
        .args(["join", url, "--name", name, "--data-dir"])
        .arg(data)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx2.send(format!("out: {l}"));
        }
    });
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(format!("err: {l}"));
        }
    });
    (child, rx)
}

/// Lines until one contains `what` (all of them, that one last), within 20 s.
pub fn lines_until(rx: &std::sync::mpsc::Receiver<String>, what: &str) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => {
                let done = l.contains(what);
                seen.push(l);
                if done {
                    return seen;
                }
            }
            Err(_) => panic!("no line with {what:?}; got {seen:#?}"),
        }
    }
}
