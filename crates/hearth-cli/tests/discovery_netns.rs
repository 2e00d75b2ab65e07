//! LAN discovery between real processes in Linux network namespaces.
//!
//! Every test builds its own namespaces (named after this process's pid), links them
//! with veth pairs or a bridge that live only inside those namespaces, and deletes
//! them on drop, panics included. Addresses are 10.231.x.0/24 on those links only;
//! nothing is sent on the machine's own interfaces.
//!
//! Needs root and iproute2. Without root the tests fail, unless HEARTH_SKIP_NETNS=1.
//!
//! The `bench_discovery_latency` test is `#[ignore]`d: run it with
//! `scripts/bench-discovery.sh`.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

const HEARTH: &str = env!("CARGO_BIN_EXE_hearth");
/// What docs/protocol.md promises for a host that vanished without a goodbye:
/// `BrowseConfig::default().liveness_timeout` (5 s) plus one 250 ms check, plus slack
/// for two busy cores.
const VANISHED_BOUND: Duration = Duration::from_secs(6);

// ---------------------------------------------------------------------------------
// Environment

/// True if the tests may run; panics with the reason if they cannot and were not told
/// to skip.
fn netns_available() -> bool {
    let skip = std::env::var("HEARTH_SKIP_NETNS").as_deref() == Ok("1");
    let why = if !is_root() {
        Some("these tests create network namespaces and need root")
    } else if Command::new("ip").arg("-V").output().is_err() {
        Some("these tests need iproute2 (`ip`)")
    } else {
        None
    };
    match why {
        None => true,
        Some(why) if skip => {
            eprintln!("\n!!!!! SKIPPED: {why}; HEARTH_SKIP_NETNS=1 is set !!!!!\n");
            false
        }
        Some(why) => panic!("{why}. Run as root (CI does), or set HEARTH_SKIP_NETNS=1 to skip."),
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

fn sh(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Namespaces created by this test; deleted (with everything in them) on drop.
struct Net {
    prefix: String,
    names: Vec<String>,
}

impl Net {
    fn new(tag: &str) -> Net {
        remove_stale();
        Net {
            prefix: format!("hthd-{}-{tag}", std::process::id()),
            names: Vec::new(),
        }
    }

    /// A new namespace with `lo` up and IPv6 duplicate address detection off (so
    /// link-local addresses are usable at once).
    fn ns(&mut self, name: &str) -> String {
        let full = format!("{}-{name}", self.prefix);
        sh(&["ip", "netns", "add", &full]);
        self.names.push(full.clone());
        sh(&["ip", "-n", &full, "link", "set", "lo", "up"]);
        sh(&[
            "ip",
            "netns",
            "exec",
            &full,
            "sh",
            "-c",
            "for f in all default; do p=/proc/sys/net/ipv6/conf/$f/accept_dad; \
             [ -w $p ] && echo 0 > $p; done; true",
        ]);
        full
    }

    /// A veth pair between two namespaces, created inside them (never in the root
    /// namespace), with an address on each end and multicast on.
    fn link(&self, a: &str, a_if: &str, a_addr: &str, b: &str, b_if: &str, b_addr: &str) {
        sh(&[
            "ip", "-n", a, "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", b,
        ]);
        for (ns, dev, addr) in [(a, a_if, a_addr), (b, b_if, b_addr)] {
            up(ns, dev, addr);
        }
        wait_ready(a, a_if);
        wait_ready(b, b_if);
    }

    /// A bridge in namespace `br` with one port per `(namespace, address)`.
    fn bridge(&self, br: &str, members: &[(&str, &str)]) {
        // Snooping off: every port hears every multicast, like a plain switch.
        sh(&[
            "ip",
            "-n",
            br,
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ]);
        sh(&["ip", "-n", br, "link", "set", "br0", "up"]);
        for (i, (ns, addr)) in members.iter().enumerate() {
            let port = format!("port{i}");
            sh(&[
                "ip", "-n", ns, "link", "add", "lan0", "type", "veth", "peer", "name", &port,
                "netns", br,
            ]);
            sh(&["ip", "-n", br, "link", "set", &port, "master", "br0", "up"]);
            up(ns, "lan0", addr);
        }
        for (ns, _) in members {
            wait_ready(ns, "lan0");
        }
    }
}

fn up(ns: &str, dev: &str, addr: &str) {
    sh(&["ip", "-n", ns, "addr", "add", addr, "dev", dev]);
    sh(&["ip", "-n", ns, "link", "set", dev, "multicast", "on", "up"]);
}

/// Waits until `dev` is operationally up (both veth ends up) and, where IPv6 is on, has
/// its link-local address: mdns-sd only uses interfaces in that state (it would pick
/// them up later, but the tests measure from a ready network).
fn wait_ready(ns: &str, dev: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let v6 = ipv6_enabled(ns);
    loop {
        let out = Command::new("ip")
            .args(["-n", ns, "addr", "show", "dev", dev])
            .output()
            .expect("ip addr show");
        let text = String::from_utf8_lossy(&out.stdout);
        let oper_up = text.contains("state UP");
        let ll = !v6 || (text.contains("inet6 fe80") && !text.contains("tentative"));
        if oper_up && ll {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{dev} in {ns} not ready after 10 s:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in self.names.iter().rev() {
            delete_ns(ns);
        }
    }
}

fn delete_ns(ns: &str) {
    // Processes keep a namespace alive: end ours first.
    if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            if let Ok(p) = pid.parse::<i32>() {
                let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
            }
        }
    }
    let _ = Command::new("ip").args(["netns", "del", ns]).status();
}

/// Namespaces left by an earlier run that was killed before it could clean up.
fn remove_stale() {
    let Ok(dir) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(rest) = name.strip_prefix("hthd-") else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid {
            if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                delete_ns(&name);
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// Processes

type Lines = Arc<(Mutex<Vec<(Instant, String)>>, Condvar)>;

/// A `hearth` process in a namespace; its stdout lines are timestamped as they
/// arrive. Killed on drop.
struct Proc {
    child: Child,
    lines: Lines,
    stderr: Arc<Mutex<String>>,
    /// The threads reading stdout and stderr; they end when the process's pipes close.
    readers: Vec<std::thread::JoinHandle<()>>,
    read: usize,
    what: String,
}

impl Proc {
    fn spawn(ns: &str, args: &[&str]) -> Proc {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, HEARTH])
            .args(args)
            .env("HEARTH_LOG", "warn,hearth=debug,hearth_cli=debug")
            // These tests are about advertising, on the standard port, inside their own
            // namespaces: settings meant for other suites must not leak in.
            .env_remove("HEARTH_NO_ADVERTISE")
            .env_remove("HEARTH_MDNS_PORT")
            .env_remove("HEARTH_PASSCODE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hearth");
        let lines: Lines = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let out = child.stdout.take().expect("stdout");
        let l2 = Arc::clone(&lines);
        let out_reader = std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let (m, cv) = &*l2;
                m.lock().unwrap().push((Instant::now(), line));
                cv.notify_all();
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().expect("stderr");
        let e2 = Arc::clone(&stderr);
        let err_reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                e2.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Proc {
            child,
            lines,
            stderr,
            readers: vec![out_reader, err_reader],
            read: 0,
            what: format!("hearth {} (in {ns})", args.join(" ")),
        }
    }

    /// The next stdout line (after those already returned) that satisfies `pred`.
    fn next_line(
        &mut self,
        within: Duration,
        mut pred: impl FnMut(&str) -> bool,
    ) -> Option<(Instant, String)> {
        let deadline = Instant::now() + within;
        let (m, cv) = &*self.lines;
        let mut lines = m.lock().unwrap();
        loop {
            while self.read < lines.len() {
                let (t, l) = lines[self.read].clone();
                self.read += 1;
                if pred(&l) {
                    return Some((t, l));
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            lines = cv.wait_timeout(lines, deadline - now).unwrap().0;
        }
    }

    /// Every line seen so far, whatever `next_line` has consumed.
    fn all_lines(&self) -> Vec<String> {
        let (m, _) = &*self.lines;
        m.lock().unwrap().iter().map(|(_, l)| l.clone()).collect()
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    fn signal(&self, s: Signal) {
        kill(self.pid(), s).expect("signal");
    }

    fn wait(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                return Some(st);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until everything the process wrote has been read (for after it exited).
    fn drain(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.readers.iter().all(|r| r.is_finished()) {
            assert!(
                Instant::now() < deadline,
                "the output of {} was not read to its end within {within:?}",
                self.what
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until stderr contains `what`.
    fn wait_stderr(&self, what: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.stderr().contains(what) {
            assert!(
                Instant::now() < deadline,
                "no {what:?} on stderr within {within:?}:\n{}",
                self.diagnostics()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stdout(&self) -> String {
        let (m, _) = &*self.lines;
        m.lock()
            .unwrap()
            .iter()
            .map(|(_, l)| format!("{l}\n"))
            .collect()
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn diagnostics(&self) -> String {
        format!(
            "{}\n--- stdout\n{}--- stderr\n{}",
            self.what,
            self.stdout(),
            self.stderr()
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Done {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs `hearth ARGS` in `ns` to completion (at most `within`).
fn run(ns: &str, args: &[&str], within: Duration) -> Done {
    let mut p = Proc::spawn(ns, args);
    let status = p
        .wait(within)
        .unwrap_or_else(|| panic!("did not finish within {within:?}:\n{}", p.diagnostics()));
    p.drain(Duration::from_secs(10));
    Done {
        status,
        stdout: p.stdout(),
        stderr: p.stderr(),
    }
}

fn run_ok(ns: &str, args: &[&str], within: Duration) -> Done {
    let d = run(ns, args, within);
    assert!(
        d.status.success(),
        "hearth {args:?} in {ns} failed ({}):\n--- stdout\n{}--- stderr\n{}",
        d.status,
        d.stdout,
        d.stderr
    );
    d
}

fn json_lines(s: &str) -> Vec<Value> {
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// Starts `hearth host` and returns it with its invite link (first stdout line).
fn host(ns: &str, args: &[&str]) -> (Proc, String) {
    let mut p = Proc::spawn(ns, &[&["host"], args].concat());
    let Some((_, invite)) = p.next_line(Duration::from_secs(10), |_| true) else {
        panic!("host printed no invite:\n{}", p.diagnostics());
    };
    assert!(invite.starts_with("hearth://"), "{invite}");
    (p, invite)
}

/// `hearth rooms --watch --json ARGS` in `ns`, once it is watching (it says so on stderr
/// after its browser started).
fn watch_rooms(ns: &str, args: &[&str]) -> Proc {
    let p = Proc::spawn(ns, &[&["rooms", "--watch", "--json"], args].concat());
    p.wait_stderr("watching for rooms", Duration::from_secs(20));
    p
}

/// A `rooms --watch --json` event line about the room called `name`.
fn event_about<'a>(kind: &'a str, name: &'a str) -> impl FnMut(&str) -> bool + 'a {
    move |l: &str| {
        serde_json::from_str::<Value>(l)
            .map(|v| v["event"] == kind && v["name"] == name)
            .unwrap_or(false)
    }
}

fn texts(tail: &str) -> Vec<String> {
    json_lines(tail)
        .iter()
        .map(|m| m["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn ipv6_enabled(ns: &str) -> bool {
    Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "cat",
            "/proc/sys/net/ipv6/conf/all/disable_ipv6",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------------
// Tests

#[test]
fn two_namespaces_discover_join_and_withdraw() {
    if !netns_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n).to_string_lossy().to_string();
    let mut net = Net::new("pair");
    let a = net.ns("a");
    let b = net.ns("b");
    net.link(&a, "veth-b", "10.231.1.1/24", &b, "veth-a", "10.231.1.2/24");

    // The watcher is browsing before the host exists.
    let mut watch = watch_rooms(&b, &[]);
    let started = Instant::now();
    let host_dir = d("host");
    let host_args = [
        "--name",
        "Design team",
        "--host-name",
        "Alice",
        "--bind",
        "[::]:7447",
        "--data-dir",
        &host_dir,
    ];
    let (mut h, invite) = host(&a, &host_args);
    let Some((seen, _)) =
        watch.next_line(Duration::from_secs(3), event_about("added", "Design team"))
    else {
        panic!(
            "the watcher did not see the room within 3 s of the host starting\n{}\n{}",
            watch.diagnostics(),
            h.diagnostics()
        );
    };
    eprintln!(
        "room appeared in the peer's watch after {:?}",
        seen - started
    );

    // One-shot listing, JSON: everything needed to join, on one line.
    let listed = run_ok(
        &b,
        &["rooms", "--json", "--timeout", "3"],
        Duration::from_secs(15),
    );
    let rooms = json_lines(&listed.stdout);
    assert_eq!(rooms.len(), 1, "{}", listed.stdout);
    let r = &rooms[0];
    let room_id = r["room_id"].as_str().unwrap().to_string();
    assert_eq!(r["name"], "Design team");
    assert_eq!(r["host_name"], "Alice");
    assert_eq!(r["has_passcode"], false);
    assert_eq!(r["ours"], false);
    assert_eq!(r["compatible"], true);
    assert_eq!(r["address"], "10.231.1.1:7447", "same subnet first: {r}");
    // The link from TXT equals the one the host printed (with `#fp=` once TLS is on).
    assert_eq!(r["invite"], invite.as_str());
    assert!(
        invite.starts_with(&format!("hearth://10.231.1.1:7447/{room_id}")),
        "{invite}"
    );
    if let Some(fp) = invite.split("#fp=").nth(1) {
        assert_eq!(
            r["fingerprint"], fp,
            "TXT carries the certificate fingerprint"
        );
    }
    let addrs: Vec<&str> = r["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    if ipv6_enabled(&a) {
        // Announced over IPv6 too: the veth's link-local address, with its scope.
        assert!(
            addrs
                .iter()
                .any(|a| a.starts_with("[fe80::") && a.contains("%")),
            "no IPv6 address in {addrs:?}"
        );
    }
    assert!(
        !addrs
            .iter()
            .any(|a| a.starts_with("127.") || a.starts_with("[::1]")),
        "the host's loopback must not leak to the LAN: {addrs:?}"
    );
    // The same listing as a person sees it (kept for the record).
    let table = run_ok(&b, &["rooms", "--timeout", "2"], Duration::from_secs(15));
    eprintln!("hearth rooms (in {b}):\n{}", table.stdout);
    assert!(table.stdout.starts_with("NAME"), "{}", table.stdout);
    assert!(table.stdout.contains("Design team") && table.stdout.contains("10.231.1.1:7447"));

    // Join by name from the peer; the host side joins by its own link. Each sends
    // one message and then reads the other's: a message crossed both ways.
    run_ok(
        &b,
        &[
            "join",
            "--discover",
            "design TEAM",
            "--name",
            "Bob",
            "--send",
            "hello from b",
            "--data-dir",
            &d("bob"),
        ],
        Duration::from_secs(30),
    );
    run_ok(
        &a,
        &[
            "join",
            &invite,
            "--name",
            "Alice",
            "--send",
            "hello from a",
            "--data-dir",
            &d("alice"),
        ],
        Duration::from_secs(30),
    );
    let on_b = run_ok(
        &b,
        &[
            "join",
            "--discover",
            &room_id,
            "--name",
            "Bob",
            "--tail",
            "10",
            "--json",
            "--data-dir",
            &d("bob"),
        ],
        Duration::from_secs(30),
    );
    let on_a = run_ok(
        &a,
        &[
            "join",
            &invite,
            "--name",
            "Alice",
            "--tail",
            "10",
            "--json",
            "--data-dir",
            &d("alice"),
        ],
        Duration::from_secs(30),
    );
    for (who, out) in [("b", &on_b.stdout), ("a", &on_a.stdout)] {
        assert_eq!(
            texts(out),
            vec!["hello from b".to_string(), "hello from a".to_string()],
            "history as seen in {who}"
        );
    }
    // The watcher saw no spurious changes meanwhile (online counts aside).
    assert!(
        watch
            .next_line(
                Duration::from_millis(10),
                event_about("removed", "Design team")
            )
            .is_none(),
        "{}",
        watch.diagnostics()
    );

    // Graceful stop: goodbyes, so the room goes at once.
    let stop = Instant::now();
    h.signal(Signal::SIGTERM);
    let Some((gone, _)) = watch.next_line(
        Duration::from_secs(3),
        event_about("removed", "Design team"),
    ) else {
        panic!(
            "room still listed 3 s after SIGTERM\n{}\n{}",
            watch.diagnostics(),
            h.diagnostics()
        );
    };
    eprintln!(
        "room gone from the peer's watch {:?} after SIGTERM",
        gone - stop
    );
    let st = h
        .wait(Duration::from_secs(10))
        .expect("host exits after SIGTERM");
    assert!(st.success(), "host exit: {st}\n{}", h.diagnostics());
    h.drain(Duration::from_secs(10));
    assert!(h.stderr().contains("withdrawn from the local network"));

    // Power loss: SIGKILL sends nothing; the room must still go, within the liveness
    // bound documented in docs/protocol.md.
    let (mut h2, invite2) = host(&a, &host_args);
    assert_eq!(invite2, invite, "same data directory, same room");
    assert!(
        watch
            .next_line(Duration::from_secs(3), event_about("added", "Design team"))
            .is_some(),
        "restarted host not seen\n{}",
        watch.diagnostics()
    );
    // Several sweeps pass: a live host is not dropped.
    std::thread::sleep(Duration::from_secs(3));
    let killed = Instant::now();
    h2.signal(Signal::SIGKILL);
    let _ = h2.wait(Duration::from_secs(5));
    let Some((gone, _)) = watch.next_line(VANISHED_BOUND, event_about("removed", "Design team"))
    else {
        panic!(
            "room still listed {VANISHED_BOUND:?} after SIGKILL\n{}",
            watch.diagnostics()
        );
    };
    eprintln!("room gone {:?} after SIGKILL", gone - killed);
    // No removal can have come from a goodbye, so it cannot be (much) faster than the
    // liveness timeout minus one sweep and its repeat.
    assert!(
        gone - killed >= Duration::from_millis(1500),
        "removed {:?} after SIGKILL: too early for a liveness timeout",
        gone - killed
    );

    watch.signal(Signal::SIGTERM);
    let st = watch.wait(Duration::from_secs(5)).expect("watch exits");
    assert!(st.success(), "{}", watch.diagnostics());
}

#[test]
fn bridge_two_hosts_with_the_same_room_name_are_two_entries() {
    if !netns_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n).to_string_lossy().to_string();
    let mut net = Net::new("bridge");
    let br = net.ns("br");
    let h1 = net.ns("h1");
    let h2 = net.ns("h2");
    let p = net.ns("p");
    net.bridge(
        &br,
        &[
            (&h1, "10.231.2.1/24"),
            (&h2, "10.231.2.2/24"),
            (&p, "10.231.2.3/24"),
        ],
    );
    // Same room name and same host name on both: only the room ids differ. One host is
    // IPv4-only, the other dual-stack.
    let (_host1, inv1) = host(
        &h1,
        &[
            "--name",
            "General",
            "--host-name",
            "Host",
            "--bind",
            "0.0.0.0:7447",
            "--data-dir",
            &d("h1"),
        ],
    );
    let (_host2, inv2) = host(
        &h2,
        &[
            "--name",
            "General",
            "--host-name",
            "Host",
            "--bind",
            "[::]:7447",
            "--data-dir",
            &d("h2"),
        ],
    );
    let listed = run_ok(
        &p,
        &["rooms", "--json", "--timeout", "3"],
        Duration::from_secs(15),
    );
    let rooms = json_lines(&listed.stdout);
    assert_eq!(
        rooms.len(),
        2,
        "two distinct entries expected:\n{}",
        listed.stdout
    );
    assert!(rooms
        .iter()
        .all(|r| r["name"] == "General" && r["host_name"] == "Host"));
    assert_ne!(rooms[0]["room_id"], rooms[1]["room_id"]);
    assert_ne!(rooms[0]["instance"], rooms[1]["instance"]);
    let mut invites: Vec<String> = rooms
        .iter()
        .map(|r| r["invite"].as_str().unwrap().to_string())
        .collect();
    invites.sort();
    let mut expected = vec![inv1.clone(), inv2.clone()];
    expected.sort();
    assert_eq!(invites, expected);
    let v4_only = rooms.iter().find(|r| r["invite"] == inv1.as_str()).unwrap();
    assert!(
        v4_only["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| !a.as_str().unwrap().starts_with('[')),
        "a 0.0.0.0 listener must not be announced with IPv6 addresses: {v4_only}"
    );

    // Joining by the shared name is ambiguous: a clear error listing both.
    let amb = run(
        &p,
        &[
            "join",
            "--discover",
            "General",
            "--name",
            "Pat",
            "--send",
            "x",
            "--data-dir",
            &d("p"),
        ],
        Duration::from_secs(20),
    );
    assert!(!amb.status.success(), "an ambiguous name must not join");
    for r in &rooms {
        let id = r["room_id"].as_str().unwrap();
        assert!(
            amb.stderr.contains(id),
            "candidates must be listed:\n{}",
            amb.stderr
        );
    }
    assert!(amb.stderr.contains("2 rooms match"), "{}", amb.stderr);

    // An id prefix picks one.
    let want = rooms[1]["room_id"].as_str().unwrap();
    run_ok(
        &p,
        &[
            "join",
            "--discover",
            &want[..8],
            "--name",
            "Pat",
            "--send",
            "picked",
            "--data-dir",
            &d("p"),
        ],
        Duration::from_secs(30),
    );
}

#[test]
fn no_link_no_rooms_and_manual_entry_still_works() {
    if !netns_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n).to_string_lossy().to_string();
    let mut net = Net::new("neg");
    let a = net.ns("a");
    let r = net.ns("r");
    let far = net.ns("far");
    let lone = net.ns("lone");
    // a -- r -- far: r routes unicast between two subnets; link-local multicast (mDNS)
    // never crosses a router, as across VLANs.
    net.link(&a, "up0", "10.231.3.1/24", &r, "down0", "10.231.3.254/24");
    net.link(&r, "down1", "10.231.4.254/24", &far, "up0", "10.231.4.1/24");
    sh(&[
        "ip",
        "-n",
        &a,
        "route",
        "add",
        "default",
        "via",
        "10.231.3.254",
    ]);
    sh(&[
        "ip",
        "-n",
        &far,
        "route",
        "add",
        "default",
        "via",
        "10.231.4.254",
    ]);
    sh(&[
        "ip",
        "netns",
        "exec",
        &r,
        "sh",
        "-c",
        "echo 1 > /proc/sys/net/ipv4/ip_forward",
    ]);

    let (_h, invite) = host(
        &a,
        &[
            "--name",
            "General",
            "--host-name",
            "Alice",
            "--bind",
            "[::]:7447",
            "--data-dir",
            &d("a"),
        ],
    );
    // Positive control: on the host's link, the room is listed.
    let near = run_ok(
        &r,
        &["rooms", "--json", "--timeout", "3"],
        Duration::from_secs(15),
    );
    assert_eq!(json_lines(&near.stdout).len(), 1, "{}", near.stdout);

    // No link at all: nothing, exit 0, and a message saying what to do.
    for args in [
        &["rooms", "--timeout", "2"][..],
        &["rooms", "--json", "--timeout", "2"][..],
    ] {
        let none = run_ok(&lone, args, Duration::from_secs(15));
        assert!(none.stdout.trim().is_empty(), "{}", none.stdout);
        assert!(
            none.stderr.contains("no rooms found on the local network")
                && none.stderr.contains("hearth join HOST:PORT"),
            "{}",
            none.stderr
        );
    }
    // Behind a router: no rooms either, and --discover fails clearly...
    let none = run_ok(&far, &["rooms", "--timeout", "2"], Duration::from_secs(15));
    assert!(none.stdout.trim().is_empty(), "{}", none.stdout);
    let miss = run(
        &far,
        &[
            "join",
            "--discover",
            "General",
            "--discover-timeout",
            "2",
            "--name",
            "Fay",
            "--send",
            "x",
            "--data-dir",
            &d("far"),
        ],
        Duration::from_secs(20),
    );
    assert!(!miss.status.success());
    assert!(miss.stderr.contains("no room matching"), "{}", miss.stderr);
    // ...but a typed address and the invite link work without multicast.
    run_ok(
        &far,
        &[
            "join",
            "10.231.3.1:7447",
            "--name",
            "Fay",
            "--send",
            "typed",
            "--data-dir",
            &d("far"),
        ],
        Duration::from_secs(30),
    );
    let tail = run_ok(
        &far,
        &[
            "join",
            &invite,
            "--name",
            "Fay",
            "--tail",
            "5",
            "--json",
            "--data-dir",
            &d("far"),
        ],
        Duration::from_secs(30),
    );
    assert_eq!(texts(&tail.stdout), vec!["typed".to_string()]);
}

/// An unlisted room (issue 13) is never announced: a watcher that browses before both
/// hosts start sees the public room and not the unlisted one, `hearth rooms` lists only
/// the public one, `--discover` and a typed address cannot find it, and its link joins.
#[test]
fn an_unlisted_room_is_not_announced_but_its_link_joins() {
    if !netns_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n).to_string_lossy().to_string();
    let mut net = Net::new("unl");
    let a = net.ns("a");
    let b = net.ns("b");
    net.link(&a, "veth-b", "10.231.7.1/24", &b, "veth-a", "10.231.7.2/24");
    let mut watch = watch_rooms(&b, &[]);
    let room = |name: &str, port: &str, dir: String, extra: &[&str]| {
        let args = [
            &["--name", name, "--bind", port, "--data-dir", &dir][..],
            extra,
        ]
        .concat();
        host(&a, &args)
    };
    // The unlisted one first, so it has had every chance to be seen.
    let (_quiet, quiet_link) = room("Quiet room", "[::]:7448", d("quiet"), &["--unlisted"]);
    let (_open, _) = room("Open plan", "[::]:7447", d("open"), &[]);
    assert!(
        watch
            .next_line(Duration::from_secs(5), event_about("added", "Open plan"))
            .is_some(),
        "the public room was not seen\n{}",
        watch.diagnostics()
    );
    let listed = run_ok(
        &b,
        &["rooms", "--json", "--timeout", "3"],
        Duration::from_secs(15),
    );
    let names: Vec<Value> = json_lines(&listed.stdout)
        .into_iter()
        .map(|r| r["name"].clone())
        .collect();
    assert_eq!(names, ["Open plan"], "{}", listed.stdout);
    let bob = d("bob");
    for (target, why) in [
        (
            &["--discover", "Quiet room", "--discover-timeout", "2"][..],
            "no room matching",
        ),
        (&["10.231.7.1:7448"][..], "lists no rooms"),
    ] {
        let miss = run(
            &b,
            &[
                &["join"],
                target,
                &["--name", "Bob", "--send", "x", "--data-dir", &bob],
            ]
            .concat(),
            Duration::from_secs(20),
        );
        assert!(
            !miss.status.success(),
            "{target:?} found the unlisted room: {}",
            miss.stdout
        );
        eprintln!("join {target:?}: {}", miss.stderr.trim());
        assert!(miss.stderr.contains(why), "{target:?}: {}", miss.stderr);
    }
    // Seconds of browsing later, in every line the watcher ever printed: never announced.
    let seen = watch.all_lines();
    assert!(
        !seen.iter().any(|l| l.contains("Quiet room")),
        "the unlisted room was announced\n{}",
        seen.join("\n")
    );
    run_ok(
        &b,
        &[
            "join",
            &quiet_link,
            "--name",
            "Bob",
            "--send",
            "by the link",
            "--data-dir",
            &bob,
        ],
        Duration::from_secs(30),
    );
    let tail = run_ok(
        &b,
        &[
            "join",
            &quiet_link,
            "--name",
            "Bob",
            "--tail",
            "5",
            "--json",
            "--data-dir",
            &bob,
        ],
        Duration::from_secs(30),
    );
    assert_eq!(texts(&tail.stdout), ["by the link"]);
}

/// Interfaces are rescanned every 2 s: a link that comes up after the host and the
/// browser started is used, and a room whose link went away leaves the list.
#[test]
fn interfaces_that_come_and_go_are_followed() {
    if !netns_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("h").to_string_lossy().to_string();
    let mut net = Net::new("ifup");
    let a = net.ns("a");
    let b = net.ns("b");
    // Only loopback so far, on both sides.
    let (_h, _) = host(
        &a,
        &[
            "--name",
            "Late link",
            "--host-name",
            "Alice",
            "--bind",
            "[::]:7447",
            "--data-dir",
            &data,
        ],
    );
    // Browsing (before the link exists), and for a second nothing is seen.
    let mut watch = watch_rooms(&b, &[]);
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        watch
            .next_line(Duration::from_millis(10), event_about("added", "Late link"))
            .is_none(),
        "seen without a link?"
    );
    net.link(&a, "veth-b", "10.231.6.1/24", &b, "veth-a", "10.231.6.2/24");
    let linked = Instant::now();
    // One 2 s rescan on each side, plus the announcement or query that follows.
    let Some((seen, _)) =
        watch.next_line(Duration::from_secs(6), event_about("added", "Late link"))
    else {
        panic!(
            "not seen 6 s after the link came up\n{}",
            watch.diagnostics()
        );
    };
    eprintln!("seen {:?} after the link came up", seen - linked);
    // IPv4 and IPv6 answers arrive separately: the entry is updated as they come.
    assert!(
        watch.stdout().contains("10.231.6.1:7447")
            || watch
                .next_line(Duration::from_secs(3), |l| l.contains("10.231.6.1:7447"))
                .is_some(),
        "the IPv4 address never showed\n{}",
        watch.diagnostics()
    );

    // The link goes away (both ends): the host cannot answer, so the room expires.
    let cut = Instant::now();
    sh(&["ip", "-n", &a, "link", "del", "veth-b"]);
    let Some((gone, _)) =
        watch.next_line(Duration::from_secs(12), event_about("removed", "Late link"))
    else {
        panic!(
            "still listed 12 s after the link went away\n{}",
            watch.diagnostics()
        );
    };
    eprintln!("gone {:?} after the link went away", gone - cut);
}

/// An independent mDNS implementation (python-zeroconf, as packaged by Debian) sees the
/// instance, SRV, TXT and address records, and the removal: the records are standard
/// DNS-SD, as `avahi-browse -rt _hearth._tcp` and `dns-sd -B _hearth._tcp` expect.
const ZEROCONF_BROWSE: &str = r#"
import json, sys, time
from zeroconf import IPVersion, ServiceBrowser, ServiceStateChange, Zeroconf
zc = Zeroconf(ip_version=IPVersion.All)
def changed(zeroconf, service_type, name, state_change):
    ev = {"event": state_change.name, "name": name}
    if state_change is ServiceStateChange.Added:
        info = zeroconf.get_service_info(service_type, name, timeout=3000)
        if info is not None:
            ev.update(server=info.server, port=info.port,
                      addresses=info.parsed_scoped_addresses(),
                      txt={k.decode(): None if v is None else v.decode()
                           for k, v in info.properties.items()})
    print(json.dumps(ev), flush=True)
browser = ServiceBrowser(zc, "_hearth._tcp.local.", handlers=[changed])
print(json.dumps({"event": "Started"}), flush=True)
time.sleep(float(sys.argv[1]))
zc.close()
"#;

#[test]
fn an_independent_mdns_stack_reads_the_records() {
    if !netns_available() {
        return;
    }
    let python = "/usr/bin/python3";
    let has_zeroconf = Command::new(python)
        .args(["-c", "import zeroconf"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        has_zeroconf,
        "this interop test needs Debian's python3-zeroconf: apt-get install python3-zeroconf"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut net = Net::new("interop");
    let a = net.ns("a");
    let b = net.ns("b");
    net.link(&a, "veth-b", "10.231.5.1/24", &b, "veth-a", "10.231.5.2/24");
    // python-zeroconf sends without choosing an interface: give multicast a route.
    sh(&[
        "ip",
        "-n",
        &b,
        "route",
        "add",
        "224.0.0.0/4",
        "dev",
        "veth-a",
    ]);
    let mut py = Command::new("ip")
        .args(["netns", "exec", &b, python, "-c", ZEROCONF_BROWSE, "12"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    let lines: Lines = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
    let out = py.stdout.take().expect("stdout");
    let l2 = Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let (m, cv) = &*l2;
            m.lock().unwrap().push((Instant::now(), line));
            cv.notify_all();
        }
    });
    let next = |pred: &dyn Fn(&Value) -> bool, within: Duration| -> Option<Value> {
        let deadline = Instant::now() + within;
        let (m, cv) = &*lines;
        let mut g = m.lock().unwrap();
        loop {
            if let Some(v) = g
                .iter()
                .filter_map(|(_, l)| serde_json::from_str::<Value>(l).ok())
                .find(|v| pred(v))
            {
                return Some(v);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            g = cv.wait_timeout(g, deadline - now).unwrap().0;
        }
    };
    assert!(
        next(&|v| v["event"] == "Started", Duration::from_secs(10)).is_some(),
        "python-zeroconf did not start"
    );
    let data = dir.path().join("h");
    let (h, invite) = host(
        &a,
        &[
            "--name",
            "Interop",
            "--host-name",
            "Alice",
            "--bind",
            "[::]:7447",
            "--data-dir",
            &data.to_string_lossy(),
        ],
    );
    let Some(added) = next(
        &|v| v["event"] == "Added" && v["txt"].is_object(),
        Duration::from_secs(5),
    ) else {
        let _ = py.kill();
        let mut err = String::new();
        let _ = py.stderr.take().map(|mut e| e.read_to_string(&mut err));
        panic!(
            "python-zeroconf did not resolve the room:\n{err}\n{}",
            h.diagnostics()
        );
    };
    let room_id = invite
        .trim_start_matches("hearth://10.231.5.1:7447/")
        .split('#')
        .next()
        .unwrap()
        .to_string();
    assert!(
        added["name"]
            .as_str()
            .unwrap()
            .starts_with(&format!("Interop (Alice) #{}", &room_id[..6])),
        "{added}"
    );
    assert_eq!(added["port"], 7447);
    assert!(
        added["server"].as_str().unwrap().ends_with(".local."),
        "{added}"
    );
    let addrs: Vec<&str> = added["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert!(addrs.contains(&"10.231.5.1"), "{addrs:?}");
    let txt = &added["txt"];
    assert_eq!(txt["v"], "1");
    assert_eq!(txt["id"], room_id.as_str());
    assert_eq!(txt["rn"], "Interop");
    eprintln!("python-zeroconf saw: {added}");
    assert_eq!(txt["hn"], "Alice");
    assert_eq!(txt["pc"], "0");
    assert!(txt["hid"].as_str().is_some_and(|h| h.len() == 36), "{txt}");

    h.signal(Signal::SIGTERM);
    assert!(
        next(&|v| v["event"] == "Removed", Duration::from_secs(3)).is_some(),
        "python-zeroconf still lists the room 3 s after SIGTERM"
    );
    let _ = py.kill();
    let _ = py.wait();
}

/// Appearance and disappearance latency over 10 runs (see docs/performance.md).
#[test]
#[ignore = "benchmark: run scripts/bench-discovery.sh"]
fn bench_discovery_latency() {
    if !netns_available() {
        return;
    }
    let runs: usize = std::env::var("HEARTH_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let dir = tempfile::tempdir().unwrap();
    let mut net = Net::new("bench");
    let a = net.ns("a");
    let b = net.ns("b");
    net.link(&a, "veth-b", "10.231.9.1/24", &b, "veth-a", "10.231.9.2/24");
    let mut watch = watch_rooms(&b, &[]);
    let (mut appear, mut vanish) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let name = format!("Bench {i}");
        let data = dir.path().join(format!("h{i}"));
        let data = data.to_string_lossy();
        let start = Instant::now();
        let (mut h, _) = host(
            &a,
            &[
                "--name",
                &name,
                "--host-name",
                "Bench",
                "--bind",
                "[::]:7447",
                "--data-dir",
                &data,
            ],
        );
        let Some((seen, _)) = watch.next_line(Duration::from_secs(10), event_about("added", &name))
        else {
            panic!("run {i}: not seen\n{}", watch.diagnostics());
        };
        appear.push(seen - start);
        let stop = Instant::now();
        h.signal(Signal::SIGTERM);
        let Some((gone, _)) =
            watch.next_line(Duration::from_secs(10), event_about("removed", &name))
        else {
            panic!("run {i}: not removed\n{}", watch.diagnostics());
        };
        vanish.push(gone - stop);
        h.wait(Duration::from_secs(10)).expect("host exits");
        eprintln!(
            "run {i:2}: appeared after {:7.1} ms, gone {:7.1} ms after SIGTERM",
            appear[i].as_secs_f64() * 1e3,
            vanish[i].as_secs_f64() * 1e3
        );
    }
    let stats = |v: &mut Vec<Duration>| {
        v.sort();
        let median = if v.len() % 2 == 1 {
            v[v.len() / 2]
        } else {
            (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2
        };
        (median, *v.last().unwrap())
    };
    let (am, ax) = stats(&mut appear);
    let (vm, vx) = stats(&mut vanish);
    println!("discovery benchmark, {runs} runs, two namespaces on a veth pair:");
    println!(
        "  host start -> listed in `hearth rooms --watch`: median {:.0} ms, max {:.0} ms",
        am.as_secs_f64() * 1e3,
        ax.as_secs_f64() * 1e3
    );
    println!(
        "  SIGTERM -> removed from `hearth rooms --watch`: median {:.0} ms, max {:.0} ms",
        vm.as_secs_f64() * 1e3,
        vx.as_secs_f64() * 1e3
    );
}

/// A LAN neighbour that announces 100,000 fake rooms (raw mDNS answers, as fast as it
/// can send them). The browser tracks at most `MAX_INSTANCES` of them, so its memory
/// stays bounded and it never shows more; once the flood stops the fakes expire, and a
/// real room is found as usual.
#[test]
fn a_flood_of_100000_announced_rooms_is_bounded() {
    if !netns_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n).to_string_lossy().to_string();
    let mut net = Net::new("flood");
    let victim = net.ns("victim");
    let flooder = net.ns("flooder");
    net.link(
        &victim,
        "lan0",
        "10.231.9.1/24",
        &flooder,
        "lan0",
        "10.231.9.2/24",
    );

    let mut watch = watch_rooms(&victim, &["--data-dir", &d("victim")]);
    let rss = |p: &Proc| -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", p.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    // Browsing; its memory settles before the baseline.
    std::thread::sleep(Duration::from_secs(1));
    let rss_before = rss(&watch);

    // The flood: every packet answers for five fake rooms (PTR, SRV, TXT) plus the
    // address record, from the mDNS port, to the mDNS group.
    let script = r#"
import socket, struct, uuid, time
def name(n):
    return b"".join(bytes([len(p)]) + p.encode() for p in n.split(".")) + b"\0"
def rr(n, t, cls, rdata, ttl=120):
    return name(n) + struct.pack("!HHIH", t, cls, ttl, len(rdata)) + rdata
def txt(pairs):
    return b"".join(bytes([len(s)]) + s for s in (f"{k}={v}".encode() for k, v in pairs))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("10.231.9.2"))
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
s.bind(("10.231.9.2", 5353))
a = rr("flood.local", 1, 0x8001, socket.inet_aton("10.231.9.2"))
sent = 0
start = time.time()
for base in range(0, 100000, 5):
    answers = []
    for i in range(base, base + 5):
        inst = f"fake{i}._hearth._tcp.local"
        answers.append(rr("_hearth._tcp.local", 12, 1, name(inst)))
        answers.append(rr(inst, 33, 0x8001, struct.pack("!HHH", 0, 0, 7447) + name("flood.local")))
        answers.append(rr(inst, 16, 0x8001, txt([("v", 1), ("id", uuid.uuid4()), ("rn", f"Fake room {i}"), ("pc", 0)])))
    answers.append(a)
    packet = struct.pack("!HHHHHH", 0, 0x8400, 0, len(answers), 0, 0) + b"".join(answers)
    s.sendto(packet, ("224.0.0.251", 5353))
    sent += 5
print(f"announced {sent} fake rooms in {time.time() - start:.1f} s", flush=True)
"#;
    let out = Command::new("ip")
        .args(["netns", "exec", &flooder, "python3", "-c", script])
        .output()
        .expect("run the flooder");
    assert!(
        out.status.success(),
        "flooder: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let flood_said = String::from_utf8_lossy(&out.stdout).to_string();
    let flood_over = Instant::now();
    // What it showed: the rooms shown at once, now and at most.
    let shown_now = |watch: &Proc| {
        let mut shown = std::collections::HashSet::new();
        let mut most = 0;
        for v in json_lines(&watch.stdout()) {
            let id = v["room_id"].as_str().unwrap_or_default().to_string();
            match v["event"].as_str() {
                Some("added") | Some("present") => {
                    shown.insert(id);
                }
                Some("removed") => {
                    shown.remove(&id);
                }
                _ => {}
            }
            most = most.max(shown.len());
        }
        (shown.len(), most)
    };
    // The flood is over; the fakes expire. Nothing confirms them any more, so they go
    // once the liveness timeout (5 s) has passed; 10 s allows for a loaded machine.
    // (A daemon whose cache the flood overflowed replayed them for their records' TTL,
    // minutes, keeping the real room out.)
    let mut peak = rss(&watch);
    let forget_within = Duration::from_secs(10);
    let (mut left, mut most) = shown_now(&watch);
    while left > 0 && flood_over.elapsed() < forget_within {
        std::thread::sleep(Duration::from_millis(250));
        peak = peak.max(rss(&watch));
        assert!(
            watch.child.try_wait().unwrap().is_none(),
            "the browser died:\n{}",
            watch.diagnostics()
        );
        (left, most) = shown_now(&watch);
    }
    let forgot_in = flood_over.elapsed();
    println!(
        "{} fake rooms seen at most {most} at once, forgotten {forgot_in:?} after; browser RSS {rss_before} KiB -> peak {peak} KiB",
        flood_said.trim()
    );
    assert!(
        most > 0,
        "the flood reached the browser:\n{}",
        watch.diagnostics()
    );
    assert!(
        most <= hearth::discovery::MAX_INSTANCES,
        "{most} rooms shown at once"
    );
    assert_eq!(
        left,
        0,
        "fake rooms still shown {forget_within:?} after the flood:\n{}",
        watch.stderr()
    );
    assert!(
        peak.saturating_sub(rss_before) < 96 * 1024,
        "the browser grew from {rss_before} KiB to {peak} KiB"
    );
    assert!(
        watch
            .stderr()
            .contains("more rooms announced than a LAN has"),
        "{}",
        watch.stderr()
    );
    // The browser kept up: mdns-sd ends a browse whose event channel fills, after which
    // nothing more is heard until it is browsed again.
    assert!(
        !watch.stderr().contains("the mDNS watcher stopped"),
        "the browser fell behind the flood:\n{}",
        watch.stderr()
    );

    // A real room is found as usual once the fakes are gone.
    let (_host, _invite) = host(
        &flooder,
        &[
            "--name",
            "Real room",
            "--host-name",
            "Alice",
            "--bind",
            "10.231.9.2:7447",
            "--data-dir",
            &d("host"),
        ],
    );
    let found = watch.next_line(Duration::from_secs(20), event_about("added", "Real room"));
    assert!(
        found.is_some(),
        "the real room was not found after the flood:\n{}",
        watch.stderr()
    );
}
