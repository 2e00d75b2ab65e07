//! `hearth`: host and join Hearth rooms from a terminal.

mod authors;
mod backup;
mod console;
mod files;
mod host;
mod join;
mod output;
mod rooms;
mod search;
mod whoami;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "hearth",
    version,
    about = "Hearth: chat rooms for the local network, no cloud and no account",
    long_about = "Hearth: chat rooms for the local network, no cloud and no account.\n\n\
        Host a room with `hearth host --name NAME`; it prints an invite link that others\n\
        join with `hearth join LINK --name NAME`. Hosted rooms are announced on the local\n\
        network (mDNS), so `hearth rooms` lists them and `hearth join --discover ROOM` joins\n\
        by name, no link needed. History is kept in a local SQLite file\n\
        in the data directory, so it survives restarts and can be read offline."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Host a room; prints its invite link on the first line of stdout.
    Host(host::HostArgs),
    /// Join a room by invite link, address, or name on the LAN: chat interactively, send one message, or print the latest ones.
    Join(join::JoinArgs),
    /// List the rooms announced on the local network (mDNS), once or live with --watch.
    Rooms(rooms::RoomsArgs),
    /// Copy this install's database safely (SQLite's online backup), even while it runs.
    Backup(backup::BackupArgs),
    /// Print this install's identity: user id, identity code and public key.
    Whoami(whoami::WhoamiArgs),
    /// Search the messages of every joined room in the local cache (works offline).
    Search(search::SearchArgs),
    /// Send files to a room in one message (resumes an interrupted upload when run again).
    SendFile(files::SendFileArgs),
    /// Download a room's file by its id (resumes an interrupted download when run again).
    GetFile(files::GetFileArgs),
}

/// Options shared by every subcommand that touches the local database.
#[derive(clap::Args, Clone, Debug)]
pub struct DataDir {
    /// Where the SQLite database lives [default: the platform's data directory, e.g. ~/.local/share/hearth]
    #[arg(long, env = "HEARTH_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

impl DataDir {
    pub fn resolve(&self) -> anyhow::Result<PathBuf> {
        match &self.data_dir {
            Some(d) => Ok(d.clone()),
            None => hearth::store::default_data_dir()
                .context("cannot find a home directory; pass --data-dir"),
        }
    }
}

fn main() -> std::process::ExitCode {
    // Read the UTC offset before any thread exists: the `time` crate refuses later.
    output::init_local_offset();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(hearth::log_filter(
                std::env::var("HEARTH_LOG").ok().as_deref(),
                "warn,hearth=info,hearth_cli=info",
            ))
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Command::Host(a) => host::run(a).await,
            Command::Join(a) => join::run(a).await,
            Command::Rooms(a) => rooms::run(a).await,
            Command::Backup(a) => backup::run(a).await,
            Command::Whoami(a) => whoami::run(a).await,
            Command::Search(a) => search::run(a).await,
            Command::SendFile(a) => files::send(a).await,
            Command::GetFile(a) => files::get(a).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}
