//! `hearth join`: an interactive terminal chat, or one-shot `--send` / `--tail`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use hearth::client::ClientEvent;
use hearth::protocol::relations::{self, Relation};
use hearth::protocol::{ChatMessage, ErrorCode, PresenceEvent};
use hearth::{Client, ClientConfig, ConnectionState, Invite, Store};
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::authors::Authors;
use crate::output;
use crate::rooms::MdnsArgs;
use crate::DataDir;

#[derive(clap::Args, Debug)]
pub struct JoinArgs {
    /// Invite link (hearth://HOST:PORT/ROOM_ID) or HOST:PORT of a host with a single room
    #[arg(required_unless_present = "discover")]
    invite: Option<String>,
    /// Instead of a link: join the room of this name, room id or id prefix announced on
    /// the local network (see `hearth rooms`)
    #[arg(long, value_name = "NAME_OR_ID", conflicts_with = "invite")]
    discover: Option<String>,
    /// With --discover: seconds to look for the room
    #[arg(
        long,
        default_value_t = 3.0,
        value_name = "SECS",
        requires = "discover"
    )]
    discover_timeout: f64,
    #[command(flatten)]
    mdns: MdnsArgs,
    /// Your display name
    #[arg(long)]
    name: String,
    /// The room's passcode, if it has one
    #[arg(long, env = "HEARTH_PASSCODE", hide_env_values = true)]
    passcode: Option<String>,
    #[command(flatten)]
    data: DataDir,
    /// Send this one message, wait until the host has stored it, and exit
    #[arg(long, value_name = "TEXT", conflicts_with = "tail")]
    send: Option<String>,
    /// With --send: reply to the message with this seq
    #[arg(long, value_name = "SEQ", requires = "send")]
    reply_to: Option<u64>,
    /// With --send: mention this person, by user id (repeat for several)
    #[arg(long, value_name = "USER", requires = "send")]
    mention: Vec<String>,
    /// With --send: mention everyone in the room (@room)
    #[arg(long, requires = "send")]
    mention_room: bool,
    /// Replace the text of your message with this seq by the --send text
    #[arg(long, value_name = "SEQ", requires = "send", conflicts_with_all = ["reply_to", "delete", "react", "unreact"])]
    edit: Option<u64>,
    /// Delete your message with this seq (the host owner: anyone's), wait until stored, exit
    #[arg(long, value_name = "SEQ", conflicts_with_all = ["send", "tail", "react", "unreact"])]
    delete: Option<u64>,
    /// React to the message with seq SEQ with EMOJI, wait until stored, exit
    #[arg(long, num_args = 2, value_names = ["SEQ", "EMOJI"], conflicts_with_all = ["send", "tail", "unreact"])]
    react: Option<Vec<String>>,
    /// Take back your reaction EMOJI on the message with seq SEQ
    #[arg(long, num_args = 2, value_names = ["SEQ", "EMOJI"], conflicts_with_all = ["send", "tail"])]
    unreact: Option<Vec<String>>,
    /// Print the last N messages and exit
    #[arg(long, value_name = "N")]
    tail: Option<usize>,
    /// With --tail: one JSON object per line (seq, ts, author, user_id, text, ...)
    #[arg(long, requires = "tail")]
    json: bool,
    /// Trust this certificate fingerprint (hex SHA-256, as shown in a mismatch warning),
    /// replacing the one pinned on an earlier visit
    #[arg(long, value_name = "FP")]
    accept_fingerprint: Option<String>,
    /// Connect without encryption, to a host started with --insecure-plaintext
    #[arg(long)]
    insecure_plaintext: bool,
    /// With --send or --tail: give up after this many seconds without the host
    #[arg(long, default_value_t = 15.0, value_name = "SECS")]
    timeout: f64,
}

pub async fn run(a: JoinArgs) -> anyhow::Result<ExitCode> {
    let invite = match (&a.invite, &a.discover) {
        (Some(link), _) => Invite::parse(link)?,
        (None, Some(query)) => {
            let config = crate::rooms::browse_config(&a.mdns, &a.data);
            let timeout = Duration::from_secs_f64(a.discover_timeout.max(0.1));
            let (room, addr) = crate::rooms::discover(query, timeout, config).await?;
            eprintln!(
                "found \"{}\" hosted by {} at {addr}",
                room.name,
                room.host_name.as_deref().unwrap_or("?")
            );
            let store = Store::open(&a.data.resolve()?)?;
            let expected = hearth::client::expected_for_announced(
                &store,
                room.room_id,
                room.host_id,
                room.fingerprint.as_deref(),
            )?;
            if let (Some(pinned), Some(announced)) = (&expected, &room.fingerprint) {
                if pinned != announced {
                    return Err(hearth::client::FingerprintConflict {
                        pinned: hearth::tls::display_fingerprint(pinned),
                        announced: hearth::tls::display_fingerprint(announced),
                    }
                    .into());
                }
            }
            Invite {
                fingerprint: expected,
                ..room.invite_for(addr)
            }
        }
        (None, None) => bail!("give an invite link, an address, or --discover NAME"),
    };
    let mut invite = invite;
    if let Some(fp) = &a.accept_fingerprint {
        invite.fingerprint = Some(
            hearth::tls::normalize_fingerprint(fp)
                .context("--accept-fingerprint takes a SHA-256 fingerprint in hex")?,
        );
    }
    if a.insecure_plaintext {
        eprintln!("* WARNING: unencrypted connection (--insecure-plaintext): anyone on the network can read it");
    }
    let data_dir = a.data.resolve()?;
    let store = Arc::new(Store::open(&data_dir)?);
    let mut config = ClientConfig::new(invite.clone(), a.name.clone(), store);
    config.plaintext = a.insecure_plaintext;
    let (client, mut events) = Client::start(config)?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(a.timeout.max(0.1));
    let action = action(&a)?;
    let one_shot = a.send.is_some() || a.tail.is_some() || action.is_some();

    let room_id = match invite.room_id {
        Some(id) => id,
        None => pick_room(&mut events, one_shot.then_some(deadline)).await?,
    };
    client.join(room_id, a.passcode.clone())?;

    let code = if let Some((text, rel)) = action {
        send_one(&client, &mut events, room_id, &text, &rel, deadline).await
    } else if let Some(n) = a.tail {
        tail(&client, &mut events, room_id, n, a.json, deadline).await
    } else {
        interactive(&client, &mut events, room_id, a.passcode.clone()).await
    };
    client.shutdown();
    // Let the close frame go out.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(e) = events.recv().await {
            if matches!(e, ClientEvent::State(ConnectionState::Closed { .. })) {
                break;
            }
        }
    })
    .await;
    code
}

pub(crate) async fn next_event(
    events: &mut mpsc::Receiver<ClientEvent>,
    deadline: Option<tokio::time::Instant>,
) -> anyhow::Result<ClientEvent> {
    let ev = match deadline {
        Some(d) => tokio::time::timeout_at(d, events.recv())
            .await
            .ok()
            .flatten(),
        None => events.recv().await,
    };
    ev.context("timed out waiting for the host")
}

pub(crate) async fn pick_room(
    events: &mut mpsc::Receiver<ClientEvent>,
    deadline: Option<tokio::time::Instant>,
) -> anyhow::Result<Uuid> {
    loop {
        if let ClientEvent::Welcome(w) = next_event(events, deadline).await? {
            return match w.rooms.as_slice() {
                [one] => Ok(one.room_id),
                [] => bail!(
                    "that host lists no rooms (an unlisted room is joined with its invite link)"
                ),
                many => {
                    let list: Vec<String> = many
                        .iter()
                        .map(|r| format!("  {} ({})", output::term(&r.name), r.room_id))
                        .collect();
                    bail!(
                        "that host has several rooms; use a full invite link:\n{}",
                        list.join("\n")
                    )
                }
            };
        }
    }
}

/// The events that end a one-shot `join`: refused, impostor, or gave up.
pub(crate) fn fatal(ev: &ClientEvent) -> Option<anyhow::Error> {
    match ev {
        ClientEvent::JoinFailed { error, .. } => Some(refused(error)),
        ClientEvent::FingerprintMismatch {
            address,
            expected,
            presented,
        } => Some(mismatch(address, expected, presented)),
        ClientEvent::State(ConnectionState::Closed { reason }) => {
            Some(anyhow::anyhow!("connection closed: {reason}"))
        }
        _ => None,
    }
}

/// The host's log went back in time: said once per occurrence, never mixed in silently.
fn diverged_warning(set_aside: usize) -> String {
    format!(
        "! WARNING: the host's history of this room went back in time (restored from a backup, \
         or its database was copied without its -wal file). {set_aside} message(s) it no longer \
         has are kept on this computer as \"not on the host\"; what is shown now is the host's"
    )
}

/// The host could not read its own log for this room (a `storage_error` answering our
/// join or history request): say so rather than wait for a page that will not come.
fn host_storage_error(ev: &ClientEvent, room_id: Uuid) -> Option<&hearth::protocol::ErrorFrame> {
    match ev {
        ClientEvent::Error(e)
            if e.code == ErrorCode::StorageError
                && e.room_id == Some(room_id)
                && matches!(e.request.as_deref(), Some("join" | "history")) =>
        {
            Some(e)
        }
        _ => None,
    }
}

fn mismatch(address: &str, expected: &str, presented: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "WARNING: the host at {address} presented a different certificate than expected.\n  \
         expected:  {}\n  presented: {}\n\
         Someone may be impersonating the host; nothing was sent. If the host really changed \
         (reinstalled, new data folder), confirm the new fingerprint with its owner and run again \
         with --accept-fingerprint {presented}",
        hearth::tls::display_fingerprint(expected),
        hearth::tls::display_fingerprint(presented)
    )
}

fn refused(error: &hearth::protocol::ErrorFrame) -> anyhow::Error {
    let mut msg = format!(
        "the host refused to let you in: {} ({})",
        output::term(&error.message),
        error.code
    );
    if let Some(ms) = error.retry_after_ms {
        msg.push_str(&format!("; retry in {:.1} s", ms as f64 / 1000.0));
    }
    anyhow::anyhow!(msg)
}

/// What `--send` and the action flags ask to send: the text and its relation.
fn action(a: &JoinArgs) -> anyhow::Result<Option<(String, Relation)>> {
    let pair = |v: &Vec<String>, kind: &str| -> anyhow::Result<(String, Relation)> {
        let seq: u64 = v[0]
            .trim_start_matches('#')
            .parse()
            .with_context(|| format!("--{kind} takes a message seq, not {:?}", v[0]))?;
        Ok((v[1].clone(), Relation::action(kind, seq)))
    };
    if let Some(seq) = a.delete {
        return Ok(Some((
            String::new(),
            Relation::action(relations::DELETE, seq),
        )));
    }
    if let Some(v) = &a.react {
        return pair(v, relations::REACT).map(Some);
    }
    if let Some(v) = &a.unreact {
        return pair(v, relations::UNREACT).map(Some);
    }
    let Some(text) = &a.send else {
        return Ok(None);
    };
    let mut rel = match a.edit {
        Some(seq) => Relation::action(relations::EDIT, seq),
        None => Relation::default(),
    };
    rel.reply_to = a.reply_to;
    rel.mentions_room = a.mention_room;
    for m in &a.mention {
        rel.mentions.push(parse_person(m)?);
    }
    Ok(Some((text.clone(), rel)))
}

/// A mention names a person by user id: names are labels anyone can take (§3.7).
fn parse_person(s: &str) -> anyhow::Result<Uuid> {
    Uuid::parse_str(s.trim()).map_err(|_| {
        anyhow::anyhow!(
            "--mention takes a user id (as `hearth whoami` or `--tail --json` print it), not {s:?}"
        )
    })
}

async fn send_one(
    client: &Client,
    events: &mut mpsc::Receiver<ClientEvent>,
    room_id: Uuid,
    text: &str,
    rel: &Relation,
    deadline: tokio::time::Instant,
) -> anyhow::Result<ExitCode> {
    let seq = send_and_wait(client, events, room_id, text, rel, deadline).await?;
    eprintln!("sent (seq {seq})");
    Ok(ExitCode::SUCCESS)
}

/// Queues a message and waits for the host to store it: its seq.
pub(crate) async fn send_and_wait(
    client: &Client,
    events: &mut mpsc::Receiver<ClientEvent>,
    room_id: Uuid,
    text: &str,
    rel: &Relation,
    deadline: tokio::time::Instant,
) -> anyhow::Result<u64> {
    let entry = client.send_with(room_id, text, rel)?;
    loop {
        let ev = match next_event(events, Some(deadline)).await {
            Ok(ev) => ev,
            Err(_) => bail!(
                "the host did not acknowledge the message in time; it stays queued in the outbox \
                 and will be delivered by the next `hearth join` to this room"
            ),
        };
        if let Some(e) = fatal(&ev) {
            return Err(e);
        }
        if let Some(e) = host_storage_error(&ev, room_id) {
            bail!(
                "the host cannot read this room's log ({}: {}); your message stays queued in the \
                 outbox and will be delivered by the next `hearth join` to this room once the host \
                 is repaired",
                e.code,
                output::term(&e.message)
            )
        }
        match ev {
            ClientEvent::Ack {
                client_msg_id, seq, ..
            } if client_msg_id == entry.client_msg_id => {
                return Ok(seq);
            }
            ClientEvent::SendFailed {
                client_msg_id,
                error,
                ..
            } if client_msg_id == entry.client_msg_id => {
                bail!(
                    "the host refused the message: {} ({})",
                    error.message,
                    error.code
                )
            }
            ClientEvent::Error(e)
                if e.client_msg_id.as_deref() == Some(entry.client_msg_id.as_str())
                    && matches!(e.code, ErrorCode::StorageFull | ErrorCode::StorageError) =>
            {
                bail!(
                    "the host could not store the message ({}: {}); it stays queued in the outbox \
                     and will be delivered by the next `hearth join` to this room",
                    e.code,
                    e.message
                )
            }
            ClientEvent::State(ConnectionState::Reconnecting {
                reason, retry_in, ..
            }) => {
                tracing::info!(%reason, "retrying in {:.1} s", retry_in.as_secs_f64());
            }
            _ => {}
        }
    }
}

async fn tail(
    client: &Client,
    events: &mut mpsc::Receiver<ClientEvent>,
    room_id: Uuid,
    n: usize,
    json: bool,
    deadline: tokio::time::Instant,
) -> anyhow::Result<ExitCode> {
    let store = Arc::clone(client.store());
    let unreadable = |e: &hearth::protocol::ErrorFrame| {
        anyhow::anyhow!(
            "the host cannot read this room's log ({}: {}); its database may be damaged: tell \
             whoever hosts the room",
            e.code,
            output::term(&e.message)
        )
    };
    // Wait until the cache has caught up with the host.
    let head = loop {
        let ev = next_event(events, Some(deadline)).await?;
        if let Some(e) = fatal(&ev) {
            return Err(e);
        }
        if let Some(e) = host_storage_error(&ev, room_id) {
            return Err(unreadable(e));
        }
        if let ClientEvent::HistoryDiverged { set_aside, .. } = ev {
            eprintln!("{}", diverged_warning(set_aside));
        }
        match ev {
            ClientEvent::Synced {
                room_id: r,
                head_seq,
            } if r == room_id => break head_seq,
            _ => {}
        }
    };
    // Fetch older pages until the cache holds the last n (or the whole room).
    loop {
        let have = store.cached_messages(room_id, Some(head + 1), n as u32)?;
        let complete = have.len() >= n || have.first().map(|m| m.seq <= 1).unwrap_or(true);
        if complete {
            print_messages(&have, json);
            return Ok(ExitCode::SUCCESS);
        }
        let oldest = have.first().map(|m| m.seq);
        client.history(room_id, oldest)?;
        loop {
            let ev = next_event(events, Some(deadline)).await?;
            if let Some(e) = host_storage_error(&ev, room_id) {
                return Err(unreadable(e));
            }
            match ev {
                ClientEvent::HistoryPage(p) if p.room_id == room_id => break,
                _ => {}
            }
        }
    }
}

fn print_messages(msgs: &[ChatMessage], json: bool) {
    let mut authors = Authors::default();
    for m in msgs {
        if json {
            println!("{}", output::json(m));
        } else {
            println!("{}", output::human(m, &mut authors));
        }
    }
}

/// How often a room whose host stopped hosting it is asked for again.
const NOT_HOSTED_RETRY: Duration = Duration::from_secs(5);

async fn interactive(
    client: &Client,
    events: &mut mpsc::Receiver<ClientEvent>,
    room_id: Uuid,
    passcode: Option<String>,
) -> anyhow::Result<ExitCode> {
    let store = Arc::clone(client.store());
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    // Messages are printed once, in seq order: history when first synced, then live ones.
    let mut printed: Option<u64> = None;
    // A pasted block meets the host's rate limit; nothing is lost (the outbox resends),
    // so that is said once per backlog, not once per refused line.
    let mut told_rate_limited = false;
    // The host stopped hosting the room: it is asked for again until it is back.
    let mut not_hosted = false;
    let mut ask_again = tokio::time::interval(NOT_HOSTED_RETRY);
    let mut authors = Authors::default();
    eprintln!("joining… type a message and press Enter; /quit leaves");
    loop {
        tokio::select! {
            ev = events.recv() => {
                let Some(ev) = ev else { return Ok(ExitCode::SUCCESS) };
                match ev {
                    ClientEvent::State(s) => match s {
                        ConnectionState::Connected => eprintln!("* connected"),
                        ConnectionState::Reconnecting { reason, retry_in, host_down, .. } => {
                            let state = if host_down { "host offline" } else { "disconnected" };
                            eprintln!("* {state} ({}); reconnecting in {:.1} s (messages you type are queued)", output::term(&reason), retry_in.as_secs_f64())
                        }
                        ConnectionState::Closed { reason } => bail!("connection closed: {}", output::term(&reason)),
                        ConnectionState::Connecting => {}
                    },
                    ClientEvent::Joined { room, members } => {
                        not_hosted = false;
                        let names: Vec<String> = members.iter().map(|m| output::term(&m.name).into_owned()).collect();
                        eprintln!("* in \"{}\" — online: {}", output::term(&room.name), names.join(", "));
                    }
                    ClientEvent::Synced { room_id: r, .. } if r == room_id => {
                        let from = printed.unwrap_or(0);
                        let msgs = if printed.is_none() {
                            store.cached_messages(room_id, None, 50)?
                        } else {
                            store.all_cached_messages(room_id)?.into_iter().filter(|m| m.seq > from).collect()
                        };
                        for m in &msgs {
                            println!("{}", output::human(m, &mut authors));
                        }
                        printed = Some(msgs.last().map(|m| m.seq).unwrap_or(from).max(from));
                    }
                    ClientEvent::Message(m) if m.room_id == room_id => {
                        if let Some(p) = printed {
                            if m.seq == p + 1 {
                                println!("{}", output::human(&m, &mut authors));
                                printed = Some(m.seq);
                            }
                        }
                    }
                    ClientEvent::Presence(p) => {
                        let what = match p.event {
                            PresenceEvent::Join => "joined",
                            PresenceEvent::Leave => "left",
                            PresenceEvent::Timeout => "dropped out (no answer)",
                            PresenceEvent::Rename => "is now called that",
                        };
                        eprintln!("* {} {what} ({} online)", output::term(&p.member.name), p.online);
                    }
                    ClientEvent::Typing(t) if t.active => eprintln!("* {} is typing…", output::term(&t.member.name)),
                    ClientEvent::JoinFailed { error, .. }
                        if not_hosted && error.code == ErrorCode::UnknownRoom => {}
                    ClientEvent::JoinFailed { error, .. } => return Err(refused(&error)),
                    ClientEvent::Removed { room_id: r } if r == room_id => {
                        bail!("the host owner removed you from this room")
                    }
                    ClientEvent::RoomClosed { room_id: r } if r == room_id => {
                        not_hosted = true;
                        ask_again.reset();
                        eprintln!("* the host stopped hosting this room; waiting for it to be hosted again (messages you type are queued)");
                    }
                    ClientEvent::FingerprintMismatch { address, expected, presented } => {
                        return Err(mismatch(&address, &expected, &presented))
                    }
                    ClientEvent::Secured { fingerprint, first_use } => eprintln!(
                        "* encrypted; host certificate {}{}",
                        hearth::tls::display_fingerprint(&fingerprint),
                        if first_use { " (first visit: now pinned)" } else { " (verified)" }
                    ),
                    ClientEvent::SendFailed { error, .. } => eprintln!("! not sent: {}", output::term(&error.message)),
                    ClientEvent::HistoryDiverged { set_aside, .. } => {
                        eprintln!("{}", diverged_warning(set_aside));
                        // What was printed may be gone: show the host's history afresh.
                        printed = None;
                    }
                    ClientEvent::Error(e) if e.code == ErrorCode::RateLimited && e.client_msg_id.is_some() => {
                        let first = !told_rate_limited;
                        told_rate_limited = true;
                        if first {
                            eprintln!("* sending more slowly: the host takes only so many messages a second; everything you typed is queued and goes out in order");
                        }
                    }
                    ClientEvent::Ack { .. }
                        if told_rate_limited
                            && store.outbox(room_id).map(|o| o.is_empty()).unwrap_or(false) =>
                    {
                        told_rate_limited = false;
                        eprintln!("* everything you typed has been sent");
                    }
                    ClientEvent::Error(e) => eprintln!("! {} ({})", output::term(&e.message), e.code),
                    _ => {}
                }
            }
            line = stdin.next_line(), if stdin_open => match line {
                Ok(Some(line)) => {
                    let line = line.trim_end();
                    if line == "/quit" {
                        return Ok(ExitCode::SUCCESS);
                    }
                    if !line.trim().is_empty() {
                        match client.send(room_id, line) {
                            Ok(_) => {}
                            // Keep running for reading: only this line could not be kept.
                            Err(hearth::client::ClientError::Store(e)) if e.is_full() => eprintln!(
                                "! the disk is full: that line was neither saved nor sent; free some space and type it again (you keep receiving)"
                            ),
                            Err(e) => return Err(e.into()),
                        }
                    }
                }
                // End of input: leave once everything typed has been delivered.
                Ok(None) | Err(_) => stdin_open = false,
            },
            _ = tokio::time::sleep(Duration::from_millis(200)), if !stdin_open => {}
            _ = ask_again.tick(), if not_hosted => client.join(room_id, passcode.clone())?,
        }
        // End of input: leave once everything typed has been delivered.
        if !stdin_open && store.outbox(room_id).map(|o| o.is_empty()).unwrap_or(true) {
            return Ok(ExitCode::SUCCESS);
        }
    }
}
