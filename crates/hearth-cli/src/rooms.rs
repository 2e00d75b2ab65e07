//! `hearth rooms`: list the rooms announced on the local network, once or live, and
//! the discovery half of `hearth join --discover`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use hearth::discovery::{
    first_reachable, BrowseConfig, BrowseEvent, Browser, DiscoveredRoom, MdnsConfig,
};
use hearth::Store;
use tokio::time::Instant;
use uuid::Uuid;

use crate::DataDir;

/// Options shared by the commands that use mDNS.
#[derive(clap::Args, Clone, Debug)]
pub struct MdnsArgs {
    /// UDP port for mDNS discovery; change it only to keep test setups apart
    #[arg(long, env = "HEARTH_MDNS_PORT", default_value_t = hearth::discovery::MDNS_PORT, value_name = "PORT")]
    pub mdns_port: u16,
}

impl MdnsArgs {
    pub fn config(&self) -> MdnsConfig {
        MdnsConfig {
            port: self.mdns_port,
            ..MdnsConfig::default()
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct RoomsArgs {
    /// Keep running and print each room as it is added, updated or removed, until Ctrl-C
    #[arg(long)]
    watch: bool,
    /// One JSON object per line (room_id, name, host_name, has_passcode, address, invite, ...);
    /// with --watch each also has "event": "added", "updated" or "removed"
    #[arg(long)]
    json: bool,
    /// Seconds to listen before printing the list [default: 2]; with --watch, stop after
    /// this long [default: run until interrupted]
    #[arg(long, value_name = "SECS")]
    timeout: Option<f64>,
    #[command(flatten)]
    mdns: MdnsArgs,
    #[command(flatten)]
    data: DataDir,
}

/// This install's host id, to mark our own rooms; only if a database already exists.
fn own_host_id(data: &DataDir) -> Option<Uuid> {
    let dir = data.resolve().ok()?;
    if !dir.is_dir() {
        return None;
    }
    Store::open(&dir).ok()?.host_id().ok()
}

pub fn browse_config(mdns: &MdnsArgs, data: &DataDir) -> BrowseConfig {
    BrowseConfig {
        mdns: mdns.config(),
        own_host_id: own_host_id(data),
        ..BrowseConfig::default()
    }
}

fn passcode(r: &DiscoveredRoom) -> &'static str {
    if r.has_passcode {
        "yes"
    } else {
        "no"
    }
}

fn address(r: &DiscoveredRoom) -> String {
    r.joinable_addresses()
        .first()
        .or(r.addresses.first())
        .map(|a| a.to_string())
        .unwrap_or_else(|| "-".into())
}

pub fn room_json(r: &DiscoveredRoom, event: Option<&str>) -> serde_json::Value {
    let mut v = serde_json::json!({
        "room_id": r.room_id,
        "name": r.name,
        "host_name": r.host_name,
        "host_id": r.host_id,
        "has_passcode": r.has_passcode,
        "online": r.online,
        "address": r.joinable_addresses().first().map(|a| a.to_string()),
        "addresses": r.addresses.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        "port": r.port,
        "invite": r.invite().map(|i| i.to_string()),
        "ours": r.ours,
        "protocol_version": r.protocol_version,
        "compatible": r.compatible(),
        "fingerprint": r.fingerprint,
        "instance": r.instance,
    });
    if let (Some(e), Some(obj)) = (event, v.as_object_mut()) {
        obj.insert("event".into(), e.into());
    }
    v
}

fn host_label(r: &DiscoveredRoom) -> String {
    let mut h = r.host_name.clone().unwrap_or_else(|| "?".into());
    if r.ours {
        h.push_str(" (you)");
    }
    h
}

fn print_table(rooms: &[DiscoveredRoom]) {
    let rows: Vec<[String; 5]> = rooms
        .iter()
        .map(|r| {
            let mut name = r.name.clone();
            if !r.compatible() {
                name.push_str(&format!(" [protocol v{}]", r.protocol_version));
            }
            [
                name,
                host_label(r),
                passcode(r).to_string(),
                address(r),
                r.room_id.to_string(),
            ]
        })
        .collect();
    let header = ["NAME", "HOST", "PASSCODE", "ADDRESS", "ROOM ID"];
    let mut width = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 5]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&" ".repeat(width[i] - c.chars().count() + 2));
            }
        }
        println!("{}", s.trim_end());
    };
    line(header);
    for row in &rows {
        line([&row[0], &row[1], &row[2], &row[3], &row[4]]);
    }
}

fn human_event(ev: &BrowseEvent) -> String {
    let line = |mark: &str, r: &DiscoveredRoom| {
        format!(
            "{mark} {}  host: {}  passcode: {}  address: {}  id: {}",
            r.name,
            host_label(r),
            passcode(r),
            address(r),
            r.room_id
        )
    };
    match ev {
        BrowseEvent::Added(r) => line("+", r),
        BrowseEvent::Updated(r) => line("~", r),
        BrowseEvent::Removed(r) => line("-", r),
        BrowseEvent::Resync(all) => {
            let mut out = format!(
                "* changes came too fast and some were skipped (a flood of announcements?); the {} rooms now:",
                all.len()
            );
            for r in all {
                out.push('\n');
                out.push_str(&line("=", r));
            }
            out
        }
    }
}

const NOTHING_FOUND_HINT: &str = "if you expected rooms, multicast may be blocked here (firewall, VLAN, \
    Wi-Fi client isolation): join with `hearth join HOST:PORT --name NAME` or an invite link instead";

pub async fn run(a: RoomsArgs) -> anyhow::Result<ExitCode> {
    let mut browser =
        Browser::start(browse_config(&a.mdns, &a.data)).context("cannot start mDNS browsing")?;
    let timeout = a.timeout.map(|t| Duration::from_secs_f64(t.max(0.0)));
    if a.watch {
        let deadline = timeout.map(|t| Instant::now() + t);
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(sleep);
        let signal = hearth::stop::Stop::install()?.wait();
        tokio::pin!(signal);
        eprintln!("watching for rooms on the local network (Ctrl-C stops)");
        loop {
            tokio::select! {
                _ = &mut signal => break,
                _ = &mut sleep => break,
                ev = browser.next_event() => {
                    let Some(ev) = ev else { break };
                    if a.json {
                        match &ev {
                            BrowseEvent::Added(r) => println!("{}", room_json(r, Some("added"))),
                            BrowseEvent::Updated(r) => println!("{}", room_json(r, Some("updated"))),
                            BrowseEvent::Removed(r) => println!("{}", room_json(r, Some("removed"))),
                            // The whole list: every room as "present".
                            BrowseEvent::Resync(all) => {
                                for r in all {
                                    println!("{}", room_json(r, Some("present")));
                                }
                            }
                        }
                    } else {
                        println!("{}", human_event(&ev));
                    }
                }
            }
        }
    } else {
        let t = timeout.unwrap_or(Duration::from_secs(2));
        tokio::time::sleep(t).await;
        // A room may so far have only an IPv6 link-local address (its A record arrives
        // in another response): give those up to another `t` rather than list an
        // address that no link can use.
        let grace = Instant::now() + t;
        while Instant::now() < grace
            && browser
                .rooms()
                .iter()
                .any(|r| r.joinable_addresses().is_empty())
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut rooms = browser.rooms();
        rooms.sort_by(|a, b| a.name.cmp(&b.name).then(a.room_id.cmp(&b.room_id)));
        if rooms.is_empty() {
            eprintln!(
                "no rooms found on the local network in {:.1} s; {NOTHING_FOUND_HINT}",
                t.as_secs_f64()
            );
        } else if a.json {
            for r in &rooms {
                println!("{}", room_json(r, None));
            }
        } else {
            print_table(&rooms);
        }
    }
    browser.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

fn matches(r: &DiscoveredRoom, query: &str) -> Match {
    let q = query.trim();
    if let Ok(id) = Uuid::parse_str(q) {
        return if r.room_id == id {
            Match::Id
        } else {
            Match::No
        };
    }
    let ql = q.to_lowercase();
    if r.name.to_lowercase() == ql {
        return Match::Name;
    }
    // An id prefix, as shown after '#' in the instance name; at least 4 hex digits.
    let hexish = ql.len() >= 4 && ql.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    if hexish
        && (r.room_id.to_string().starts_with(&ql)
            || r.room_id.simple().to_string().starts_with(&ql))
    {
        return Match::Name;
    }
    Match::No
}

#[derive(PartialEq)]
enum Match {
    Id,
    Name,
    No,
}

fn candidate_line(r: &DiscoveredRoom) -> String {
    format!(
        "  {}  host: {}  address: {}  id: {}",
        r.name,
        host_label(r),
        address(r),
        r.room_id
    )
}

/// How long to keep listening for other rooms of the same name after the first match.
/// All hosts answer one query within about 120 ms (RFC 6762 §6).
const SETTLE: Duration = Duration::from_millis(1500);

/// Finds the room called (or with the id) `query` and the first of its addresses that
/// accepts a connection.
pub async fn discover(
    query: &str,
    timeout: Duration,
    config: BrowseConfig,
) -> anyhow::Result<(DiscoveredRoom, SocketAddr)> {
    let mut browser = Browser::start(config).context("cannot start mDNS browsing")?;
    let deadline = Instant::now() + timeout;
    let mut settle: Option<Instant> = None;
    let found = loop {
        let now = Instant::now();
        let wake = match settle {
            Some(s) if s > now => s.min(deadline),
            _ => deadline,
        };
        let ev = tokio::time::timeout_at(wake, browser.next_event()).await;
        let rooms = browser.rooms();
        let hits: Vec<&DiscoveredRoom> = rooms
            .iter()
            .filter(|r| matches(r, query) != Match::No)
            .collect();
        // Answers for IPv4 and IPv6 arrive separately: a room is ready to join once it
        // has an address an invite can carry.
        let ready = |r: &DiscoveredRoom| !r.joinable_addresses().is_empty();
        if let Some(exact) = rooms
            .iter()
            .find(|r| matches(r, query) == Match::Id && ready(r))
        {
            break Ok(exact.clone());
        }
        let now = Instant::now();
        if !hits.is_empty() && settle.is_none() {
            settle = Some(now + SETTLE);
        }
        let settled = settle.is_some_and(|s| now >= s);
        let out_of_time = now >= deadline || matches!(ev, Ok(None));
        if !(out_of_time || (settled && (hits.len() != 1 || ready(hits[0])))) {
            continue;
        }
        break match hits.as_slice() {
            [one] => Ok((*one).clone()),
            [] => {
                let mut msg = format!(
                    "no room matching {query:?} was found on the local network in {:.1} s",
                    timeout.as_secs_f64()
                );
                if rooms.is_empty() {
                    msg.push_str(&format!("; {NOTHING_FOUND_HINT}"));
                } else {
                    msg.push_str("; rooms seen:");
                    for r in &rooms {
                        msg.push('\n');
                        msg.push_str(&candidate_line(r));
                    }
                }
                Err(anyhow::anyhow!(msg))
            }
            many => {
                let list: Vec<String> = many.iter().map(|r| candidate_line(r)).collect();
                Err(anyhow::anyhow!(
                    "{} rooms match {query:?}; pass a room id (or its first characters) to --discover instead:\n{}",
                    many.len(),
                    list.join("\n")
                ))
            }
        };
    };
    browser.shutdown().await;
    let room = found?;
    let addrs = room.joinable_addresses();
    tracing::debug!(room = %room.name, ?addrs, "trying addresses");
    match first_reachable(&addrs, Duration::from_millis(300), Duration::from_secs(3)).await {
        Some(addr) => Ok((room, addr)),
        None if addrs.is_empty() => bail!(
            "found {:?}, but it has no address an invite can use ({:?})",
            room.name,
            room.addresses
        ),
        None => bail!(
            "found {:?}, but none of its addresses accepted a connection: {}",
            room.name,
            addrs
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
