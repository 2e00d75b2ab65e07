//! `hearth search`: full-text search over this install's local cache of every joined
//! room, newest first, without a network.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use hearth::store::{SearchHit, SearchQuery, MARK_END, MARK_START};
use hearth::Store;
use uuid::Uuid;

use crate::output;
use crate::DataDir;

#[derive(clap::Args)]
pub struct SearchArgs {
    /// Words (all must match), "a phrase" in quotes, prefix* with a star
    query: String,
    /// Only this room: its name or room id
    #[arg(long, value_name = "ROOM")]
    room: Option<String>,
    /// Only messages by this user id
    #[arg(long, value_name = "USER_ID")]
    from: Option<Uuid>,
    /// Only messages from the last N days
    #[arg(long, value_name = "N")]
    days: Option<u32>,
    /// At most this many results
    #[arg(long, default_value_t = 20, value_name = "N")]
    limit: u32,
    /// One JSON object per line (room_id, room, seq, ts, author, user_id, snippet)
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    data: DataDir,
}

pub async fn run(a: SearchArgs) -> anyhow::Result<ExitCode> {
    let dir = a.data.resolve()?;
    // SQLite off the runtime's workers.
    let (hits, names) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let store = Arc::new(Store::open(&dir)?);
        let rooms = store.joined_rooms()?;
        let room_id = match &a.room {
            None => None,
            Some(r) => Some(
                rooms
                    .iter()
                    .find(|j| j.room_id.to_string() == *r)
                    .or_else(|| rooms.iter().find(|j| j.name.eq_ignore_ascii_case(r)))
                    .map(|j| j.room_id)
                    .with_context(|| format!("no joined room is called or has the id {r:?}"))?,
            ),
        };
        let since = a
            .days
            .map(|d| hearth::protocol::now_ms() - i64::from(d) * 86_400_000);
        let hits = store.search(&SearchQuery {
            text: a.query.clone(),
            room_id,
            author: a.from,
            since,
            limit: a.limit,
            ..Default::default()
        })?;
        let names: std::collections::HashMap<Uuid, String> =
            rooms.into_iter().map(|r| (r.room_id, r.name)).collect();
        Ok((hits, names))
    })
    .await
    .context("the search task failed")??;
    let room_name = |h: &SearchHit| names.get(&h.room_id).cloned().unwrap_or_default();
    for h in &hits {
        if a.json {
            let plain: String = h
                .snippet
                .chars()
                .filter(|c| *c != MARK_START && *c != MARK_END)
                .collect();
            println!(
                "{}",
                serde_json::json!({
                    "room_id": h.room_id,
                    "room": room_name(h),
                    "seq": h.seq,
                    "ts": h.ts,
                    "author": h.author,
                    "user_id": h.user_id,
                    "snippet": plain,
                    "matches": matches(&h.snippet),
                })
            );
        } else {
            let shown = output::term(&h.snippet)
                .replace(MARK_START, "\x1b[1m")
                .replace(MARK_END, "\x1b[0m");
            let shown = if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                shown
            } else {
                shown.replace("\x1b[1m", "").replace("\x1b[0m", "")
            };
            println!(
                "{} #{} {} {}: {}",
                output::term(&room_name(h)),
                h.seq,
                output::when(h.ts),
                output::term(&h.author),
                shown.replace('\n', " ")
            );
        }
    }
    if hits.is_empty() && !a.json {
        eprintln!("no cached message matches");
    }
    Ok(ExitCode::SUCCESS)
}

/// The highlighted parts of a snippet.
fn matches(snippet: &str) -> Vec<String> {
    snippet
        .split(MARK_START)
        .skip(1)
        .filter_map(|p| p.split(MARK_END).next())
        .map(str::to_string)
        .collect()
}
