//! `hearth backup FILE`: a consistent copy of this install's database, taken with SQLite's
//! online backup while hosts and clients keep running. Copying `hearth.db` by hand is not
//! a backup: recent commits may still be in `hearth.db-wal` beside it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use hearth::Store;

#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    /// The new file to write the copy to (it must not exist yet)
    #[arg(value_name = "FILE")]
    dest: PathBuf,
    #[command(flatten)]
    data: crate::DataDir,
}

pub async fn run(a: BackupArgs) -> anyhow::Result<ExitCode> {
    let data_dir = a.data.resolve()?;
    let dest = a.dest.clone();
    // SQLite work stays off the async runtime.
    let size = tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
        let store = Store::open(&data_dir)?;
        store.backup_to(&dest)?;
        Ok(std::fs::metadata(&dest).map(|m| m.len()).unwrap_or(0))
    })
    .await
    .context("the backup task failed")??;
    eprintln!(
        "backed up to {} ({size} bytes, checked); restore it by stopping Hearth and putting it in \
         place of hearth.db, with no hearth.db-wal or hearth.db-shm beside it",
        a.dest.display()
    );
    Ok(ExitCode::SUCCESS)
}
