//! `hearth send-file` and `hearth get-file`: files in a room from a terminal (protocol
//! §15), with a progress bar on a terminal and one JSON object with `--json`. Both
//! resume an interrupted transfer when run again.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use hearth::client::ClientEvent;
use hearth::files::cache::FileCache;
use hearth::files::transfer::{self, Progress, Source, TransferError};
use hearth::protocol::files::{human_size, Attachment};
use hearth::protocol::relations::Relation;
use hearth::{Client, ClientConfig, ConnectionState, Invite, Store};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::join::{fatal, next_event, pick_room, send_and_wait};
use crate::DataDir;

/// How to reach the room, shared by both commands.
#[derive(clap::Args, Debug)]
pub struct RoomArgs {
    /// Invite link (hearth://HOST:PORT/ROOM_ID) or HOST:PORT of a host with a single room
    invite: String,
    /// Your display name in the room
    #[arg(long, default_value = "Hearth CLI")]
    name: String,
    /// The room's passcode, if it has one (and no resume token is stored)
    #[arg(long, env = "HEARTH_PASSCODE", hide_env_values = true)]
    passcode: Option<String>,
    #[command(flatten)]
    data: DataDir,
    /// Connect without encryption, to a host started with --insecure-plaintext
    #[arg(long)]
    insecure_plaintext: bool,
    /// Seconds to wait for the host (to connect and join); a transfer itself has no limit
    #[arg(long, default_value_t = 15.0, value_name = "SECS")]
    timeout: f64,
    /// One JSON object on stdout instead of text and progress bars
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
pub struct SendFileArgs {
    #[command(flatten)]
    room: RoomArgs,
    /// The files to send, in one message (at most 10)
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// The message's text
    #[arg(long, value_name = "TEXT", default_value = "")]
    caption: String,
}

#[derive(clap::Args, Debug)]
pub struct GetFileArgs {
    #[command(flatten)]
    room: RoomArgs,
    /// The file's id (its SHA-256, as `--tail --json` or `send-file --json` print it)
    file_id: String,
    /// Where to save it: a file, or a folder to save it in under its (made safe) name
    /// [default: the current folder]
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
}

/// A joined room on a host that takes files.
struct Joined {
    client: Client,
    events: mpsc::Receiver<ClientEvent>,
    store: Arc<Store>,
    room_id: Uuid,
    data_dir: PathBuf,
    deadline: tokio::time::Instant,
}

impl Joined {
    async fn open(a: &RoomArgs) -> anyhow::Result<Joined> {
        let invite = Invite::parse(&a.invite)?;
        let data_dir = a.data.resolve()?;
        let store = Arc::new(Store::open(&data_dir)?);
        let mut config = ClientConfig::new(invite.clone(), a.name.clone(), Arc::clone(&store));
        config.plaintext = a.insecure_plaintext;
        let (client, mut events) = Client::start(config)?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(a.timeout.max(0.1));
        let room_id = match invite.room_id {
            Some(id) => id,
            None => pick_room(&mut events, Some(deadline)).await?,
        };
        client.join(room_id, a.passcode.clone())?;
        // Joined (with its files grant) and caught up, so the room's messages are known.
        loop {
            let ev = next_event(&mut events, Some(deadline)).await?;
            if let Some(e) = fatal(&ev) {
                return Err(e);
            }
            if let ClientEvent::Synced { room_id: r, .. } = ev {
                if r == room_id {
                    break;
                }
            }
        }
        if client.files(room_id).is_none() {
            bail!("this host runs an older Hearth that cannot take files");
        }
        Ok(Joined {
            client,
            events,
            store,
            room_id,
            data_dir,
            deadline,
        })
    }

    fn source(&self) -> Source {
        let (c, r) = (self.client.clone(), self.room_id);
        Arc::new(move || c.files(r))
    }

    /// Keeps the connection's events flowing while a transfer runs (the client stalls
    /// if nobody reads them); ends with the transfer.
    async fn while_draining<T>(&mut self, fut: impl std::future::Future<Output = T>) -> T {
        tokio::pin!(fut);
        loop {
            tokio::select! {
                out = &mut fut => return out,
                ev = self.events.recv() => {
                    if let Some(ClientEvent::State(ConnectionState::Reconnecting { reason, .. })) = ev {
                        tracing::info!(%reason, "connection lost; the transfer resumes once back");
                    }
                }
            }
        }
    }

    async fn close(mut self) {
        self.client.shutdown();
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(e) = self.events.recv().await {
                if matches!(e, ClientEvent::State(ConnectionState::Closed { .. })) {
                    break;
                }
            }
        })
        .await;
    }
}

/// Where a transfer started: its first progress report (above zero: it resumed).
#[derive(Clone, Default)]
struct Start(Arc<std::sync::OnceLock<u64>>);

impl Start {
    fn get(&self) -> u64 {
        self.0.get().copied().unwrap_or(0)
    }
}

/// A progress bar on stderr when it is a terminal and the output is for people; either
/// way, where the transfer started is noted in `start`.
fn bar(
    json: bool,
    name: &str,
    size: u64,
    start: &Start,
) -> (Progress, Option<indicatif::ProgressBar>) {
    let first = start.clone();
    if json || !std::io::stderr().is_terminal() {
        return (
            Arc::new(move |done, _| {
                let _ = first.0.set(done);
            }),
            None,
        );
    }
    let pb = indicatif::ProgressBar::new(size);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:30!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta} left",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb.set_message(crate::output::term(name).into_owned());
    let p = pb.clone();
    (
        Arc::new(move |done, _| {
            let _ = first.0.set(done);
            p.set_position(done)
        }),
        Some(pb),
    )
}

/// Ctrl+C cancels the transfer (an upload is then dropped on the host too).
fn cancel_on_ctrl_c() -> CancellationToken {
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            c.cancel();
        }
    });
    cancel
}

fn transfer_error(e: TransferError) -> anyhow::Error {
    anyhow::anyhow!("{e} [{}]", e.code())
}

pub async fn send(a: SendFileArgs) -> anyhow::Result<ExitCode> {
    if a.paths.len() > hearth::protocol::files::MAX_ATTACHMENTS {
        bail!(
            "at most {} files in one message",
            hearth::protocol::files::MAX_ATTACHMENTS
        );
    }
    let mut room = Joined::open(&a.room).await?;
    let grant = room
        .client
        .files(room.room_id)
        .context("no files grant")?
        .grant;
    let mut prepared = Vec::new();
    for p in &a.paths {
        let f = room
            .while_draining(transfer::prepare(p))
            .await
            .map_err(transfer_error)?;
        // Said before a byte is sent (the host checks again).
        if f.size > grant.max_file_bytes {
            bail!(
                "{} is {}; this host takes files up to {}",
                p.display(),
                human_size(f.size),
                human_size(grant.max_file_bytes)
            );
        }
        prepared.push(f);
    }
    let total: u64 = prepared.iter().map(|f| f.size).sum();
    let usage = room
        .while_draining(transfer::usage(
            &room.client.files(room.room_id).context("no files grant")?,
        ))
        .await
        .map_err(transfer_error)?;
    if usage.room_used_bytes + total > usage.room_quota_bytes {
        bail!(
            "the room's files may take {} on the host and {} are taken; these are {}",
            human_size(usage.room_quota_bytes),
            human_size(usage.room_used_bytes),
            human_size(total)
        );
    }
    let cancel = cancel_on_ctrl_c();
    let mut attachments: Vec<Attachment> = Vec::new();
    let mut resumed = Vec::new();
    for f in &prepared {
        let start = Start::default();
        let (progress, pb) = bar(a.room.json, &f.name, f.size, &start);
        let src = room.source();
        let store = Arc::clone(&room.store);
        let up = transfer::upload_attachment(&src, &store, f, progress, &cancel);
        let r = room.while_draining(up).await;
        if let Some(pb) = pb {
            pb.finish();
        }
        attachments.push(r.map_err(transfer_error)?);
        resumed.push(start.get());
    }
    let rel = Relation {
        attachments: attachments.clone(),
        ..Relation::default()
    };
    let deadline = tokio::time::Instant::now().max(room.deadline) + Duration::from_secs(15);
    let seq = send_and_wait(
        &room.client,
        &mut room.events,
        room.room_id,
        &a.caption,
        &rel,
        deadline,
    )
    .await?;
    if a.room.json {
        println!(
            "{}",
            serde_json::json!({"room_id": room.room_id, "seq": seq, "attachments": attachments,
                "resumed_from": resumed})
        );
    } else {
        for at in &attachments {
            println!(
                "{}  {}  {}",
                at.file_id,
                human_size(at.size),
                crate::output::term(&at.name)
            );
        }
        eprintln!("sent (seq {seq})");
    }
    room.close().await;
    Ok(ExitCode::SUCCESS)
}

pub async fn get(a: GetFileArgs) -> anyhow::Result<ExitCode> {
    let id = a.file_id.trim().to_ascii_lowercase();
    if !hearth::protocol::files::is_file_id(&id) {
        bail!("a file id is 64 hex digits (the file's SHA-256)");
    }
    let mut room = Joined::open(&a.room).await?;
    let (store, room_id) = (Arc::clone(&room.store), room.room_id);
    let found = {
        let id = id.clone();
        tokio::task::spawn_blocking(move || store.find_attachment(room_id, &id)).await??
    };
    let Some(att) = found else {
        bail!("no message of this room carries that file (deleted, or not a file of this room)");
    };
    let cache = FileCache::open(&room.data_dir).context("cannot create the file cache")?;
    let start = Start::default();
    let (progress, pb) = bar(a.room.json, &att.name, att.size, &start);
    let cancel = cancel_on_ctrl_c();
    let src = room.source();
    let store = Arc::clone(&room.store);
    let dl = transfer::download(&src, &store, &cache, &id, att.size, progress, &cancel);
    let r = room.while_draining(dl).await;
    if let Some(pb) = pb {
        pb.finish();
    }
    let cached = r.map_err(transfer_error)?;
    let dest = destination(a.output.as_deref(), &att.name)?;
    let (from, to) = (cached.clone(), dest.clone());
    tokio::task::spawn_blocking(move || std::fs::copy(&from, &to))
        .await?
        .with_context(|| format!("cannot write {}", dest.display()))?;
    if a.room.json {
        println!(
            "{}",
            serde_json::json!({"file_id": id, "name": att.name, "size": att.size, "mime": att.mime,
                "path": dest.display().to_string(), "resumed_from": start.get()})
        );
    } else {
        eprintln!("saved {} ({})", dest.display(), human_size(att.size));
    }
    room.close().await;
    Ok(ExitCode::SUCCESS)
}

/// Where to save: `-o FILE` as given, `-o FOLDER` or nothing: the sender's name made
/// safe, inside that folder (never outside it), not overwriting anything.
fn destination(output: Option<&Path>, name: &str) -> anyhow::Result<PathBuf> {
    match output {
        Some(p) if !p.is_dir() => Ok(p.to_path_buf()),
        Some(dir) => Ok(hearth::files::save_name::unused_path(dir, name)),
        None => {
            let here = std::env::current_dir().context("no current folder")?;
            Ok(hearth::files::save_name::unused_path(&here, name))
        }
    }
}
