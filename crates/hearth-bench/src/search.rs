//! Scenario 6: full-text search over a client's cache. A million messages (20 rooms,
//! 200 authors, Zipf-distributed words: `corpus.rs`) go into the cache through
//! `Store::cache_messages` in pages of 1,000, as a client catching up receives history,
//! then a few thousand one per call, as live messages arrive. The same messages, with a
//! kind the cache stores but does not index (it indexes plain messages only), fill a
//! second cache: the same insert path without the index. Both caches are filled in
//! lockstep, page by page, so noise from other processes falls on both alike. Then a
//! mix of first-page searches runs interleaved over the indexed cache.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use hearth::protocol::{now_ms, ChatMessage, Timestamp};
use hearth::store::{JoinedRoom, SearchHit, SearchQuery};
use hearth::Store;
use uuid::Uuid;

use super::corpus::{Corpus, Zipf};
use super::hist::Histogram;
use super::history::{thread_cpu_secs, Rng};
use super::report::{Check, IngestOut, Pct, QueryOut, Report, SearchOut};
use super::BenchArgs;

const ROOMS: usize = 20;
const AUTHORS: usize = 200;
/// Messages per `cache_messages` call when catching up: a history page.
const PAGE: usize = 1000;
/// A first page of search results.
const LIMIT: u32 = 50;
const DAY_MS: i64 = 86_400_000;
/// The cache spans a year, so "the last 7 days" is about 2% of it.
const SPAN_MS: i64 = 365 * DAY_MS;
/// A kind the cache stores but does not index: the unindexed comparison.
const UNINDEXED: &str = "bench-unindexed";
/// The room and author the filtered queries name: middling, by activity.
const ROOM_RANK: usize = 9;
const AUTHOR_RANK: usize = 49;
const SEED: u64 = 0x5EA4_C4ED_2026_0001;

pub async fn run(a: &BenchArgs) -> anyhow::Result<Report> {
    let builder = || {
        let mut b = tempfile::Builder::new();
        b.prefix("hearth-bench-search-");
        b
    };
    let root = match &a.data_root {
        Some(r) => builder().tempdir_in(r)?,
        None => builder().tempdir()?,
    };
    let dir = root.path().to_path_buf();
    let spec = Spec {
        messages: a.search_messages.max(1),
        live: a.search_live,
        iterations: a.search_iterations.max(1),
    };
    tracing::info!(messages = spec.messages, dir = %dir.display(), "building two caches");
    let out = tokio::task::spawn_blocking(move || measure(&dir, spec))
        .await
        .context("the search bench panicked")??;
    let mut report = Report::bare("search");
    if let Some(worst) = out.queries.iter().map(|q| q.ms.p99).reduce(f64::max) {
        report.targets.push(Check {
            what: format!("search first page of {LIMIT}, worst p99 of the query kinds (ms)"),
            value: worst,
            limit: "<= 50".into(),
            met: worst <= 50.0,
        });
    }
    report.search = Some(out);
    Ok(report)
}

#[derive(Clone, Copy)]
struct Spec {
    messages: u64,
    live: u64,
    iterations: usize,
}

/// One of the two caches and what its inserts cost.
struct Cache {
    store: Store,
    dir: PathBuf,
    kind: Option<String>,
    secs: f64,
    cpu_secs: f64,
    pages: Histogram,
    /// Messages and seconds in the first and the last tenth of the load: a rate that
    /// falls as the cache grows shows here.
    first: (u64, f64),
    last: (u64, f64),
    live: Histogram,
}

impl Cache {
    fn open(dir: PathBuf, kind: Option<&str>, rooms: &[Uuid]) -> anyhow::Result<Cache> {
        let store = Store::open(&dir)?;
        for (i, &room_id) in rooms.iter().enumerate() {
            store.upsert_joined_room(&JoinedRoom {
                room_id,
                name: format!("room {i}"),
                address: "127.0.0.1:7373".into(),
                host_id: None,
                host_name: None,
                has_passcode: false,
                synced_seq: 0,
                read_seq: 0,
            })?;
        }
        Ok(Cache {
            store,
            dir,
            kind: kind.map(str::to_string),
            secs: 0.0,
            cpu_secs: 0.0,
            pages: Histogram::default(),
            first: (0, 0.0),
            last: (0, 0.0),
            live: Histogram::default(),
        })
    }

    /// Caches `msgs` (of one room) in one call; returns the wall and CPU time it took.
    fn put(&self, room: Uuid, msgs: &[ChatMessage]) -> anyhow::Result<(Duration, f64)> {
        let owned;
        let msgs = match &self.kind {
            None => msgs,
            Some(k) => {
                owned = msgs
                    .iter()
                    .map(|m| ChatMessage {
                        kind: Some(k.clone()),
                        ..m.clone()
                    })
                    .collect::<Vec<_>>();
                &owned
            }
        };
        let (t, c) = (Instant::now(), thread_cpu_secs());
        self.store.cache_messages(room, msgs, None)?;
        Ok((t.elapsed(), thread_cpu_secs() - c))
    }

    /// A history page while catching up, `done` of the load behind it (0 to 1):
    /// counted in the bulk rate.
    fn put_page(&mut self, room: Uuid, page: &[ChatMessage], done: f64) -> anyhow::Result<()> {
        let (e, cpu) = self.put(room, page)?;
        self.secs += e.as_secs_f64();
        self.cpu_secs += cpu;
        self.pages.record(e.as_micros() as u64);
        let tenth = if done < 0.1 {
            Some(&mut self.first)
        } else if done >= 0.9 {
            Some(&mut self.last)
        } else {
            None
        };
        if let Some((n, secs)) = tenth {
            *n += page.len() as u64;
            *secs += e.as_secs_f64();
        }
        Ok(())
    }

    /// A live message: its own latency, not part of the bulk rate.
    fn put_live(&mut self, m: &ChatMessage) -> anyhow::Result<()> {
        let (e, _) = self.put(m.room_id, std::slice::from_ref(m))?;
        self.live.record(e.as_micros() as u64);
        Ok(())
    }

    /// Closes the store (SQLite checkpoints and removes the WAL on the last close) and
    /// reports the bulk load.
    fn finish(self, bulk: u64, stored: u64) -> IngestOut {
        let Cache {
            store,
            dir,
            secs,
            cpu_secs,
            pages,
            first,
            last,
            ..
        } = self;
        drop(store);
        let size_of = |name: &str| {
            std::fs::metadata(dir.join(name))
                .map(|m| m.len())
                .unwrap_or(0)
        };
        let db_bytes = size_of(hearth::store::DB_FILE);
        let wal_bytes = size_of(&format!("{}-wal", hearth::store::DB_FILE));
        IngestOut {
            per_sec: bulk as f64 / secs.max(1e-9),
            per_cpu_sec: bulk as f64 / cpu_secs.max(1e-9),
            first_tenth_per_sec: first.0 as f64 / first.1.max(1e-9),
            last_tenth_per_sec: last.0 as f64 / last.1.max(1e-9),
            secs,
            page_ms: Pct::of(&pages),
            db_bytes,
            wal_bytes,
            bytes_per_message: (db_bytes + wal_bytes) as f64 / stored.max(1) as f64,
        }
    }
}

/// Where messages come from: a timeline over the rooms, busy rooms and talkative
/// authors by Zipf's law too.
struct Feed {
    corpus: Corpus,
    rng: Rng,
    rooms: Vec<Uuid>,
    authors: Vec<(Uuid, String)>,
    room_zipf: Zipf,
    author_zipf: Zipf,
    next_seq: Vec<u64>,
    start: Timestamp,
    step_ms: f64,
    made: u64,
    tokens: Vec<usize>,
    words: u64,
}

/// A message as the feed made it, with what the counting needs.
struct Made {
    room: usize,
    author: usize,
    msg: ChatMessage,
}

impl Feed {
    fn new(total: u64, end: Timestamp) -> Feed {
        let mut rng = Rng(SEED);
        let mut id = || Uuid::from_u64_pair(rng.next(), rng.next());
        let rooms = (0..ROOMS).map(|_| id()).collect();
        let authors = (0..AUTHORS).map(|i| (id(), format!("user{i}"))).collect();
        Feed {
            corpus: Corpus::new(SEED),
            rng: Rng(SEED ^ 0xFEED),
            rooms,
            authors,
            room_zipf: Zipf::new(ROOMS, 1.0),
            author_zipf: Zipf::new(AUTHORS, 1.0),
            next_seq: vec![1; ROOMS],
            start: end - SPAN_MS,
            step_ms: SPAN_MS as f64 / total.max(1) as f64,
            made: 0,
            tokens: Vec::new(),
            words: 0,
        }
    }

    fn next(&mut self) -> Made {
        let room = self.room_zipf.draw(&mut self.rng);
        let author = self.author_zipf.draw(&mut self.rng);
        let text = self.corpus.message(&mut self.rng, &mut self.tokens);
        self.words += text.split(' ').count() as u64;
        let seq = self.next_seq[room];
        self.next_seq[room] += 1;
        let (user_id, name) = &self.authors[author];
        let msg = ChatMessage {
            room_id: self.rooms[room],
            seq,
            // Increasing: the step is at least 30 ms for up to ~1e9 messages.
            ts: self.start + (self.made as f64 * self.step_ms) as Timestamp,
            user_id: *user_id,
            author: name.clone(),
            // As the Hearth client makes them: time-ordered UUIDv7.
            client_msg_id: Uuid::now_v7().to_string(),
            text,
            ..Default::default()
        };
        self.made += 1;
        Made { room, author, msg }
    }
}

/// What a query's words match, to count the messages it should find.
enum Words {
    One(usize),
    Phrase(usize, usize),
    Prefix(Vec<usize>),
}

impl Words {
    fn find(&self, tokens: &[usize]) -> bool {
        match self {
            Words::One(w) => tokens.contains(w),
            Words::Phrase(a, b) => tokens.windows(2).any(|p| p[0] == *a && p[1] == *b),
            Words::Prefix(ws) => tokens.iter().any(|t| ws.contains(t)),
        }
    }
}

struct Query {
    name: &'static str,
    filter: Option<String>,
    words: Words,
    room: Option<usize>,
    author: Option<usize>,
    q: SearchQuery,
    matching: u64,
    hits: usize,
    ms: Histogram,
}

impl Query {
    fn count(&mut self, m: &Made, tokens: &[usize]) {
        let ok = self.room.is_none_or(|r| r == m.room)
            && self.author.is_none_or(|a| a == m.author)
            && self.q.since.is_none_or(|s| m.msg.ts >= s)
            && self.words.find(tokens);
        self.matching += u64::from(ok);
    }

    /// A page must hold as many hits as there are matches (up to the limit), newest
    /// first, each within the filters.
    fn check(&self, hits: &[SearchHit]) -> Result<(), String> {
        let want = self.matching.min(u64::from(LIMIT)) as usize;
        if hits.len() != want {
            return Err(format!(
                "{}: {} hits, {want} expected",
                self.name,
                hits.len()
            ));
        }
        if hits.windows(2).any(|p| p[0].doc <= p[1].doc) {
            return Err(format!("{}: hits not newest first", self.name));
        }
        let bad = hits.iter().find(|h| {
            self.q.room_id.is_some_and(|r| h.room_id != r)
                || self.q.author.is_some_and(|a| h.user_id != a)
                || self.q.since.is_some_and(|s| h.ts < s)
        });
        match bad {
            Some(h) => Err(format!("{}: a hit outside the filter: {h:?}", self.name)),
            None => Ok(()),
        }
    }
}

fn queries(feed: &Feed, end: Timestamp) -> anyhow::Result<Vec<Query>> {
    let c = &feed.corpus;
    let word = |w: &str| {
        c.index(w)
            .with_context(|| format!("{w} is not in the corpus"))
    };
    let (common, mid, rare) = (word("the")?, word("release")?, word("quixotic")?);
    let prefix: Vec<usize> = ["deploy", "deployed", "deployment", "deploying", "deployer"]
        .iter()
        .map(|w| word(w))
        .collect::<anyhow::Result<_>>()?;
    let q = |text: &str| SearchQuery {
        text: text.into(),
        limit: LIMIT,
        ..Default::default()
    };
    let make = |name, words, text: &str| Query {
        name,
        filter: None,
        words,
        room: None,
        author: None,
        q: q(text),
        matching: 0,
        hits: 0,
        ms: Histogram::default(),
    };
    let share = |z: &Zipf, r| format!("{:.1}% of messages", z.share(r) * 100.0);
    let mut in_room = make("common word, one room", Words::One(common), "the");
    in_room.room = Some(ROOM_RANK);
    in_room.q.room_id = Some(feed.rooms[ROOM_RANK]);
    in_room.filter = Some(format!("room: {}", share(&feed.room_zipf, ROOM_RANK)));
    let mut by = make("common word, one author", Words::One(common), "the");
    by.author = Some(AUTHOR_RANK);
    by.q.author = Some(feed.authors[AUTHOR_RANK].0);
    by.filter = Some(format!("author: {}", share(&feed.author_zipf, AUTHOR_RANK)));
    // Someone in the room who wrote none of the matches (just joined, or quiet): the
    // filter is checked match by match, so this walks every message with the word.
    let mut absent = make("common word, absent author", Words::One(common), "the");
    absent.author = Some(AUTHORS);
    absent.q.author = Some(Uuid::from_u64_pair(SEED, SEED));
    absent.filter = Some("author: no messages".into());
    let mut recent = make("common word, last 7 days", Words::One(common), "the");
    recent.q.since = Some(end - 7 * DAY_MS);
    recent.filter = Some("since: 7 days ago".into());
    let phrase = Words::Phrase(word("good")?, word("morning")?);
    Ok(vec![
        make("common word", Words::One(common), "the"),
        make("mid-frequency word", Words::One(mid), "release"),
        make("rare word", Words::One(rare), "quixotic"),
        make("phrase", phrase, "\"good morning\""),
        make("prefix", Words::Prefix(prefix), "deplo*"),
        in_room,
        by,
        absent,
        recent,
    ])
}

fn measure(dir: &Path, spec: Spec) -> anyhow::Result<SearchOut> {
    let total = spec.messages + spec.live;
    let end = now_ms();
    let mut feed = Feed::new(total, end);
    let mut queries = queries(&feed, end)?;
    let mut caches = [
        Cache::open(dir.join("indexed"), None, &feed.rooms)?,
        Cache::open(dir.join("unindexed"), Some(UNINDEXED), &feed.rooms)?,
    ];
    // Catching up: each room's messages in pages, each page to both caches.
    let mut pages: Vec<Vec<ChatMessage>> = (0..ROOMS).map(|_| Vec::with_capacity(PAGE)).collect();
    let (mut turn, mut cached) = (0u64, 0u64);
    let mut last_log = Instant::now();
    for i in 0..spec.messages {
        let m = feed.next();
        for q in &mut queries {
            q.count(&m, &feed.tokens);
        }
        let room = m.room;
        pages[room].push(m.msg);
        if pages[room].len() == PAGE {
            let done = cached as f64 / spec.messages as f64;
            cached += PAGE as u64;
            put_page(&mut caches, &mut pages[room], done, &mut turn)?;
        }
        if last_log.elapsed() > Duration::from_secs(10) {
            tracing::info!(done = i, "caching");
            last_log = Instant::now();
        }
    }
    for page in &mut pages {
        let done = cached as f64 / spec.messages as f64;
        cached += page.len() as u64;
        put_page(&mut caches, page, done, &mut turn)?;
    }
    // Live: one message per call.
    for _ in 0..spec.live {
        let m = feed.next();
        for q in &mut queries {
            q.count(&m, &feed.tokens);
        }
        for c in order(&mut turn) {
            caches[c].put_live(&m.msg)?;
        }
    }
    let problem = time_queries(&caches, &mut queries, spec.iterations)?;
    let mut overall = Histogram::default();
    for q in &queries {
        overall.merge(&q.ms);
    }
    let [indexed, unindexed] = caches;
    let (live_indexed, live_unindexed) = (Pct::of(&indexed.live), Pct::of(&unindexed.live));
    let indexed = indexed.finish(spec.messages, total);
    let unindexed = unindexed.finish(spec.messages, total);
    Ok(SearchOut {
        messages: spec.messages,
        rooms: ROOMS,
        authors: AUTHORS,
        vocabulary: super::corpus::VOCABULARY,
        words_per_message: feed.words as f64 / feed.made.max(1) as f64,
        page: PAGE,
        ingest_ratio: indexed.per_sec / unindexed.per_sec.max(1e-9),
        indexed,
        unindexed,
        live_messages: spec.live,
        live_indexed_ms: live_indexed,
        live_unindexed_ms: live_unindexed,
        limit: LIMIT,
        iterations: spec.iterations,
        queries: queries
            .iter()
            .map(|q| QueryOut {
                name: q.name.into(),
                text: q.q.text.clone(),
                filter: q.filter.clone(),
                matching: q.matching,
                hits: q.hits,
                ms: Pct::of(&q.ms),
            })
            .collect(),
        overall_ms: Pct::of(&overall),
        ok: problem.is_none(),
        problem,
    })
}

/// Which cache goes first alternates, so neither always meets the other's dirty pages
/// or checkpoint first.
fn order(turn: &mut u64) -> [usize; 2] {
    *turn += 1;
    if turn.is_multiple_of(2) {
        [0, 1]
    } else {
        [1, 0]
    }
}

/// Caches a room's page in both caches and empties it.
fn put_page(
    caches: &mut [Cache; 2],
    page: &mut Vec<ChatMessage>,
    done: f64,
    turn: &mut u64,
) -> anyhow::Result<()> {
    let Some(room) = page.first().map(|m| m.room_id) else {
        return Ok(());
    };
    for c in order(turn) {
        caches[c].put_page(room, page, done)?;
    }
    page.clear();
    Ok(())
}

/// Runs every query `iterations` times, one of each kind per round, and checks every
/// page. Returns the first wrong page, if any.
fn time_queries(
    caches: &[Cache; 2],
    queries: &mut [Query],
    iterations: usize,
) -> anyhow::Result<Option<String>> {
    let mut problem = None;
    // The unindexed cache must find nothing, or the comparison compares nothing.
    let leaked = caches[1].store.search(&queries[0].q)?.len();
    if leaked > 0 {
        problem = Some(format!("the unindexed cache found {leaked} messages"));
    }
    tracing::info!(iterations, "searching");
    for _ in 0..iterations {
        for q in queries.iter_mut() {
            let t = Instant::now();
            let hits = caches[0].store.search(&q.q)?;
            q.ms.record(t.elapsed().as_micros() as u64);
            q.hits = hits.len();
            if let Err(e) = q.check(&hits) {
                problem.get_or_insert(e);
            }
        }
    }
    Ok(problem)
}
