//! The bench's report: a table for people, JSON for machines, and the numbers the plots use.

use std::fmt::Write as _;

use serde::Serialize;

use super::hist::Histogram;
use super::load::{LoadResult, LoadSpec, BUCKET};
use super::BenchArgs;

#[derive(Serialize, Clone, Debug)]
pub struct Machine {
    pub cores: usize,
    pub memory_gib: f64,
    pub cpu: String,
    pub kernel: String,
}

impl Machine {
    pub fn detect() -> Machine {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let meminfo = read("/proc/meminfo");
        let mem_kib: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        let cpu = read("/proc/cpuinfo")
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            .unwrap_or_default();
        Machine {
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            memory_gib: (mem_kib / 1024.0 / 1024.0 * 10.0).round() / 10.0,
            cpu,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
        }
    }
}

#[derive(Serialize, Clone, Debug)]
pub struct SpecOut {
    pub clients: usize,
    pub rooms: usize,
    pub senders: usize,
    /// Per sender; null when paced by acknowledgements.
    pub rate_per_sender: Option<f64>,
    pub total_rate: Option<f64>,
    pub window: usize,
    pub size: usize,
    pub warmup_secs: f64,
    pub duration_secs: f64,
    pub repeat: usize,
    pub slow_readers: usize,
}

/// Latency percentiles in milliseconds.
#[derive(Serialize, Clone, Copy, Debug, Default)]
pub struct Pct {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
    pub samples: u64,
}

impl Pct {
    pub fn of(h: &Histogram) -> Pct {
        let ms = |us: u64| us as f64 / 1000.0;
        Pct {
            p50: ms(h.quantile(0.5)),
            p90: ms(h.quantile(0.9)),
            p99: ms(h.quantile(0.99)),
            p999: ms(h.quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
            samples: h.count(),
        }
    }
}

#[derive(Serialize, Clone, Debug)]
pub struct Run {
    pub target: String,
    pub run: usize,
    pub delivered_per_sec: f64,
    pub acks_per_sec: f64,
    pub latency_ms: Pct,
    pub ack_latency_ms: Pct,
    pub clients: usize,
    pub connect_secs: f64,
    pub connects_per_sec: f64,
    /// Server CPU seconds per second of measurement (1.0 = one core busy).
    pub server_cpu_util: Option<f64>,
    /// Server CPU time per delivered message: less sensitive to a noisy machine than
    /// throughput.
    pub server_cpu_us_per_delivery: Option<f64>,
    pub server_peak_rss_mib: Option<f64>,
    /// (RSS with every client connected − RSS before) / clients.
    pub server_rss_per_connection_kib: Option<f64>,
    pub bench_cpu_util: f64,
    pub lost: u64,
    pub duplicates: u64,
    pub unacked: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub disconnected: usize,
    pub slow_reader_closes: Vec<Option<u16>>,
    /// Deliveries per second in each 100 ms step from the start of the warm-up.
    pub delivered_series: Vec<u64>,
    #[serde(skip)]
    pub latency: Histogram,
    #[serde(skip)]
    pub warmup_secs: f64,
    #[serde(skip)]
    pub duration_secs: f64,
}

impl Run {
    pub fn new(label: &str, run: usize, spec: &LoadSpec, r: LoadResult) -> Run {
        let per_sec = 1000 / BUCKET.as_millis() as u64;
        let measured = r.measured_secs.max(1e-9);
        Run {
            target: label.to_string(),
            run,
            delivered_per_sec: r.delivered_per_sec(),
            acks_per_sec: r.acks_per_sec(),
            latency_ms: Pct::of(&r.latency),
            ack_latency_ms: Pct::of(&r.ack_latency),
            clients: r.connected,
            connect_secs: r.connect_secs,
            connects_per_sec: r.connect_rate(),
            server_cpu_util: r.server.map(|s| s.cpu_secs / measured),
            server_cpu_us_per_delivery: r
                .server
                .filter(|_| r.delivered > 0)
                .map(|s| s.cpu_secs * 1e6 / r.delivered as f64),
            server_peak_rss_mib: r.server.map(|s| s.peak_rss_kib as f64 / 1024.0),
            server_rss_per_connection_kib: r.server.map(|s| {
                s.rss_connected_kib.saturating_sub(s.rss_before_kib) as f64
                    / spec.clients.max(1) as f64
            }),
            bench_cpu_util: r.bench_cpu_secs / measured,
            lost: r.lost,
            duplicates: r.duplicates,
            unacked: r.unacked,
            errors: r.errors,
            first_error: r.first_error.clone(),
            disconnected: r.disconnected,
            slow_reader_closes: r.slow_reader_closes.clone(),
            delivered_series: r.series.iter().map(|v| v.0 * per_sec).collect(),
            latency: r.latency,
            warmup_secs: r.warmup_secs,
            duration_secs: r.measured_secs,
        }
    }

    pub fn ok(&self) -> bool {
        self.lost == 0
            && self.duplicates == 0
            && self.unacked == 0
            && self.errors == 0
            && self.disconnected == 0
    }
}

/// Medians over the runs of one target.
#[derive(Serialize, Clone, Debug)]
pub struct Summary {
    pub target: String,
    pub runs: usize,
    pub delivered_per_sec: f64,
    pub acks_per_sec: f64,
    pub latency_ms: Pct,
    pub ack_latency_ms: Pct,
    pub connects_per_sec: f64,
    pub server_cpu_util: Option<f64>,
    pub server_cpu_us_per_delivery: Option<f64>,
    pub server_peak_rss_mib: Option<f64>,
    pub server_rss_per_connection_kib: Option<f64>,
}

#[derive(Serialize, Clone, Debug)]
pub struct Check {
    pub what: String,
    pub value: f64,
    pub limit: String,
    pub met: bool,
}

#[derive(Serialize, Clone, Debug)]
pub struct Report {
    pub scenario: String,
    pub date: String,
    pub commit: String,
    pub machine: Machine,
    pub spec: Option<SpecOut>,
    pub runs: Vec<Run>,
    pub summary: Vec<Summary>,
    /// Hearth ÷ floor for throughput (or slow-reader ÷ baseline for p99).
    pub ratios: Vec<(String, f64)>,
    pub targets: Vec<Check>,
    pub history: Option<HistoryOut>,
    pub search: Option<SearchOut>,
    pub plot: Option<String>,
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl Report {
    pub fn new(a: &BenchArgs, scenario: &str, spec: &LoadSpec) -> Report {
        let mut r = Report::bare(scenario);
        r.spec = Some(SpecOut {
            clients: spec.clients,
            rooms: spec.rooms,
            senders: spec.senders,
            rate_per_sender: spec.rate,
            total_rate: spec.rate.map(|r| r * spec.senders as f64),
            window: spec.window,
            size: spec.size,
            warmup_secs: spec.warmup.as_secs_f64(),
            duration_secs: spec.duration.as_secs_f64(),
            repeat: a.repeat.max(1),
            slow_readers: spec.slow_readers,
        });
        r
    }

    pub fn bare(scenario: &str) -> Report {
        Report {
            scenario: scenario.to_string(),
            date: now(),
            commit: commit(),
            machine: Machine::detect(),
            spec: None,
            runs: Vec::new(),
            summary: Vec::new(),
            ratios: Vec::new(),
            targets: Vec::new(),
            history: None,
            search: None,
            plot: None,
        }
    }

    pub fn labels(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for r in &self.runs {
            if !v.contains(&r.target) {
                v.push(r.target.clone());
            }
        }
        v
    }

    pub fn median(&self, label: &str, f: impl Fn(&Run) -> f64) -> f64 {
        median(
            self.runs
                .iter()
                .filter(|r| r.target == label)
                .map(f)
                .collect(),
        )
    }

    fn median_opt(&self, label: &str, f: impl Fn(&Run) -> Option<f64>) -> Option<f64> {
        let v: Vec<f64> = self
            .runs
            .iter()
            .filter(|r| r.target == label)
            .filter_map(f)
            .collect();
        (!v.is_empty()).then(|| median(v))
    }

    /// Computes the medians, ratios and target checks once every run is in.
    pub fn finish(&mut self) {
        for label in self.labels() {
            let m = |f: fn(&Pct) -> f64, lat: fn(&Run) -> &Pct| self.median(&label, |r| f(lat(r)));
            let pct = |lat: fn(&Run) -> &Pct| Pct {
                p50: m(|p| p.p50, lat),
                p90: m(|p| p.p90, lat),
                p99: m(|p| p.p99, lat),
                p999: m(|p| p.p999, lat),
                max: m(|p| p.max, lat),
                mean: m(|p| p.mean, lat),
                samples: m(|p| p.samples as f64, lat) as u64,
            };
            self.summary.push(Summary {
                target: label.clone(),
                runs: self.runs.iter().filter(|r| r.target == label).count(),
                delivered_per_sec: self.median(&label, |r| r.delivered_per_sec),
                acks_per_sec: self.median(&label, |r| r.acks_per_sec),
                latency_ms: pct(|r| &r.latency_ms),
                ack_latency_ms: pct(|r| &r.ack_latency_ms),
                connects_per_sec: self.median(&label, |r| r.connects_per_sec),
                server_cpu_util: self.median_opt(&label, |r| r.server_cpu_util),
                server_cpu_us_per_delivery: self
                    .median_opt(&label, |r| r.server_cpu_us_per_delivery),
                server_peak_rss_mib: self.median_opt(&label, |r| r.server_peak_rss_mib),
                server_rss_per_connection_kib: self
                    .median_opt(&label, |r| r.server_rss_per_connection_kib),
            });
        }
        let get = |l: &str| self.summary.iter().find(|s| s.target == l).cloned();
        match (get("hearth"), get("floor")) {
            (Some(h), Some(f)) if self.scenario != "idle" => {
                let per_pair = self.paired_ratio();
                self.ratios.push((
                    "delivered_per_sec hearth/floor (median of each)".into(),
                    h.delivered_per_sec / f.delivered_per_sec.max(1e-9),
                ));
                if let Some(p) = per_pair {
                    self.ratios.push((
                        "delivered_per_sec hearth/floor (median of run pairs)".into(),
                        p,
                    ));
                }
                self.ratios.push((
                    "latency p99 hearth/floor".into(),
                    h.latency_ms.p99 / f.latency_ms.p99.max(1e-9),
                ));
            }
            (Some(h), Some(f)) => {
                if let (Some(a), Some(b)) = (
                    h.server_rss_per_connection_kib,
                    f.server_rss_per_connection_kib,
                ) {
                    self.ratios
                        .push(("RSS per connection hearth/floor".into(), a / b.max(1e-9)));
                }
            }
            _ => {}
        }
        if let (Some(b), Some(s)) = (get("baseline"), get("slow-reader")) {
            self.ratios.push((
                "latency p99 slow-reader/baseline".into(),
                s.latency_ms.p99 / b.latency_ms.p99.max(1e-9),
            ));
        }
        self.check_targets();
    }

    /// Hearth ÷ floor for each (hearth, floor) pair run back to back; the median.
    fn paired_ratio(&self) -> Option<f64> {
        let mut v = Vec::new();
        for h in self.runs.iter().filter(|r| r.target == "hearth") {
            if let Some(f) = self
                .runs
                .iter()
                .find(|r| r.target == "floor" && r.run == h.run)
            {
                v.push(h.delivered_per_sec / f.delivered_per_sec.max(1e-9));
            }
        }
        (v.len() > 1).then(|| median(v))
    }

    fn check_targets(&mut self) {
        let get = |l: &str| self.summary.iter().find(|s| s.target == l).cloned();
        let mut checks = Vec::new();
        match self.scenario.as_str() {
            "busy-room" => {
                if let Some((_, r)) = self.ratios.first() {
                    checks.push(Check {
                        what: "delivered/s, Hearth ÷ floor".into(),
                        value: *r,
                        limit: ">= 0.60".into(),
                        met: *r >= 0.60,
                    });
                }
            }
            "fixed-load" => {
                if let Some(h) = get("hearth") {
                    checks.push(Check {
                        what: "end-to-end latency p99 (ms)".into(),
                        value: h.latency_ms.p99,
                        limit: "<= 10".into(),
                        met: h.latency_ms.p99 <= 10.0,
                    });
                }
            }
            "slow-reader" => {
                if let Some((_, r)) = self.ratios.last() {
                    checks.push(Check {
                        what: "p99 with a stalled member ÷ p99 without".into(),
                        value: *r,
                        limit: "<= 2".into(),
                        met: *r <= 2.0,
                    });
                }
            }
            "idle" => {
                if let Some(kib) = get("hearth").and_then(|h| h.server_rss_per_connection_kib) {
                    checks.push(Check {
                        what: "host RSS per idle connection (KiB)".into(),
                        value: kib,
                        limit: "<= 16".into(),
                        met: kib <= 16.0,
                    });
                }
            }
            _ => {}
        }
        self.targets.extend(checks);
    }

    pub fn ok(&self) -> bool {
        self.runs.iter().all(Run::ok)
            && self.history.as_ref().is_none_or(|h| h.ok)
            && self.search.as_ref().is_none_or(|s| s.ok)
    }

    pub fn plottable(&self) -> bool {
        self.runs.iter().any(|r| r.latency.count() > 0)
    }

    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "== {}  ({}, commit {}, {} cores, {} GiB)",
            self.scenario, self.date, self.commit, self.machine.cores, self.machine.memory_gib
        );
        if let Some(sp) = &self.spec {
            let rate = match sp.rate_per_sender {
                Some(r) => format!(
                    "{r:.1} msg/s per sender ({:.0} total)",
                    r * sp.senders as f64
                ),
                None => format!("as fast as acks allow (window {})", sp.window),
            };
            let _ = writeln!(
                s,
                "   {} clients, {} rooms, {} senders, {rate}, {} B text, warm-up {} s, measured {} s, slow readers {}",
                sp.clients, sp.rooms, sp.senders, sp.size, sp.warmup_secs, sp.duration_secs, sp.slow_readers
            );
        }
        if !self.runs.is_empty() {
            let _ = writeln!(
                s,
                "{:<12} {:>3} {:>11} {:>9} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>8} {:>6} {:>7} {:>8} {:>8} {:>5} {:>4}",
                "target", "run", "deliv/s", "acks/s", "p50ms", "p90ms", "p99ms", "p999ms", "maxms",
                "ack50", "ack99", "conn/s", "cpu", "us/dlv", "peakMiB", "KiB/conn", "lost", "dup"
            );
            for r in &self.runs {
                let _ = writeln!(
                    s,
                    "{:<12} {:>3} {:>11.0} {:>9.0} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>7.1} {:>7.2} {:>7.2} {:>8.0} {:>6} {:>7} {:>8} {:>8} {:>5} {:>4}",
                    r.target,
                    r.run,
                    r.delivered_per_sec,
                    r.acks_per_sec,
                    r.latency_ms.p50,
                    r.latency_ms.p90,
                    r.latency_ms.p99,
                    r.latency_ms.p999,
                    r.latency_ms.max,
                    r.ack_latency_ms.p50,
                    r.ack_latency_ms.p99,
                    r.connects_per_sec,
                    r.server_cpu_util.map_or("-".into(), |c| format!("{:.0}%", c * 100.0)),
                    r.server_cpu_us_per_delivery.map_or("-".into(), |c| format!("{c:.2}")),
                    r.server_peak_rss_mib.map_or("-".into(), |m| format!("{m:.1}")),
                    r.server_rss_per_connection_kib.map_or("-".into(), |k| format!("{k:.1}")),
                    r.lost,
                    r.duplicates,
                );
                if let Some(e) = &r.first_error {
                    let _ = writeln!(s, "   first error: {e}");
                }
                if r.unacked + r.errors + r.disconnected as u64 > 0 {
                    let _ = writeln!(
                        s,
                        "   unacked {}, errors {}, disconnected {}",
                        r.unacked, r.errors, r.disconnected
                    );
                }
                if !r.slow_reader_closes.is_empty() {
                    let _ = writeln!(s, "   slow reader close codes: {:?}", r.slow_reader_closes);
                }
            }
            if self.runs.len() > self.summary.len() {
                for m in &self.summary {
                    let _ = writeln!(
                        s,
                        "{:<12} {:>3} {:>11.0} {:>9.0} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>7.1} {:>7.2} {:>7.2} {:>8.0} {:>6} {:>7} {:>8} {:>8}",
                        format!("{} med", m.target),
                        m.runs,
                        m.delivered_per_sec,
                        m.acks_per_sec,
                        m.latency_ms.p50,
                        m.latency_ms.p90,
                        m.latency_ms.p99,
                        m.latency_ms.p999,
                        m.latency_ms.max,
                        m.ack_latency_ms.p50,
                        m.ack_latency_ms.p99,
                        m.connects_per_sec,
                        m.server_cpu_util.map_or("-".into(), |c| format!("{:.0}%", c * 100.0)),
                        m.server_cpu_us_per_delivery.map_or("-".into(), |c| format!("{c:.2}")),
                        m.server_peak_rss_mib.map_or("-".into(), |v| format!("{v:.1}")),
                        m.server_rss_per_connection_kib.map_or("-".into(), |k| format!("{k:.1}")),
                    );
                }
            }
        }
        if let Some(h) = &self.history {
            s.push_str(&h.table());
        }
        if let Some(f) = &self.search {
            s.push_str(&f.table());
        }
        for (what, r) in &self.ratios {
            let _ = writeln!(s, "   ratio {what}: {r:.2}");
        }
        for c in &self.targets {
            let _ = writeln!(
                s,
                "   target {}: {:.2} (want {}) {}",
                c.what,
                c.value,
                c.limit,
                if c.met { "MET" } else { "NOT MET" }
            );
        }
        if let Some(p) = &self.plot {
            let _ = writeln!(s, "   plot: {p}");
        }
        s
    }
}

/// What scenario 4 (a room with a million messages) reports; `history.rs` measures it.
#[derive(Serialize, Clone, Debug)]
pub struct HistoryOut {
    pub messages: u64,
    pub text_size: usize,
    pub batch: usize,
    /// Messages per second committed through `append_batch` in batches of `batch`.
    pub group_commit_per_sec: f64,
    /// The same per CPU second of the committing thread: what an unshared core would
    /// reach (fsync waits excluded).
    pub group_commit_per_cpu_sec: f64,
    pub group_commit_secs: f64,
    pub batch_commit_ms: Pct,
    pub single_commits: u64,
    /// Messages per second when each is its own transaction (and fsync).
    pub single_commit_per_sec: f64,
    pub single_commit_ms: Pct,
    pub db_bytes: u64,
    pub wal_bytes: u64,
    pub bytes_per_message: f64,
    /// `join` with since_seq = head − 200, answered with 200 messages, end to end.
    pub join_ms: Pct,
    /// `history` pages of 200 at random places in the log.
    pub history_random_ms: Pct,
    /// `history` pages of 200 walking back from the head.
    pub history_from_head_ms: Pct,
    pub ok: bool,
    pub problem: Option<String>,
}

impl HistoryOut {
    pub fn table(&self) -> String {
        let mut s = String::new();
        let mib = |b: u64| b as f64 / 1024.0 / 1024.0;
        let _ = writeln!(
            s,
            "   log: {} messages of {} B text; on disk {:.1} MiB ({:.1} MiB db + {:.1} MiB wal), {:.0} B per message",
            self.messages,
            self.text_size,
            mib(self.db_bytes + self.wal_bytes),
            mib(self.db_bytes),
            mib(self.wal_bytes),
            self.bytes_per_message
        );
        let _ = writeln!(
            s,
            "   group commit (batches of {}): {:.0} msg/s, {:.0} per CPU second ({:.1} s; a batch commit p50 {:.1} ms, p99 {:.1} ms)",
            self.batch,
            self.group_commit_per_sec,
            self.group_commit_per_cpu_sec,
            self.group_commit_secs,
            self.batch_commit_ms.p50,
            self.batch_commit_ms.p99
        );
        let _ = writeln!(
            s,
            "   one commit per message ({}): {:.0} msg/s (p50 {:.2} ms, p99 {:.2} ms); group commit is {:.0}x faster",
            self.single_commits,
            self.single_commit_per_sec,
            self.single_commit_ms.p50,
            self.single_commit_ms.p99,
            self.group_commit_per_sec / self.single_commit_per_sec.max(1e-9)
        );
        for (what, p) in [
            ("join since_seq=head-200", &self.join_ms),
            ("history page of 200, random", &self.history_random_ms),
            ("history page of 200, from head", &self.history_from_head_ms),
        ] {
            let _ = writeln!(
                s,
                "   {what:<32} p50 {:>6.2} ms  p90 {:>6.2}  p99 {:>6.2}  max {:>6.2}  (n={})",
                p.p50, p.p90, p.p99, p.max, p.samples
            );
        }
        if let Some(p) = &self.problem {
            let _ = writeln!(s, "   PROBLEM: {p}");
        }
        s
    }
}

/// What scenario 6 (search over a client cache) reports; `search.rs` measures it.
#[derive(Serialize, Clone, Debug)]
pub struct SearchOut {
    /// Messages cached in history pages (the live ones come on top).
    pub messages: u64,
    pub rooms: usize,
    pub authors: usize,
    pub vocabulary: usize,
    pub words_per_message: f64,
    /// Messages per `cache_messages` call while catching up.
    pub page: usize,
    /// Plain messages: stored and indexed.
    pub indexed: IngestOut,
    /// The same messages with a kind the cache does not index: stored only.
    pub unindexed: IngestOut,
    /// Indexed ÷ unindexed messages per second: below 1 by what indexing costs.
    pub ingest_ratio: f64,
    /// Messages cached one per call after the bulk load, as live messages arrive.
    pub live_messages: u64,
    pub live_indexed_ms: Pct,
    pub live_unindexed_ms: Pct,
    /// Hits asked for: the first page.
    pub limit: u32,
    /// Rounds of the query mix, one query of each kind per round.
    pub iterations: usize,
    pub queries: Vec<QueryOut>,
    pub overall_ms: Pct,
    pub ok: bool,
    pub problem: Option<String>,
}

/// The bulk load of one cache, and its size on disk once closed.
#[derive(Serialize, Clone, Debug)]
pub struct IngestOut {
    pub per_sec: f64,
    /// The same per CPU second of the caching thread: less sensitive to a noisy machine.
    pub per_cpu_sec: f64,
    /// Over the first and the last tenth of the load: equal when the cost per message
    /// does not grow with the cache.
    pub first_tenth_per_sec: f64,
    pub last_tenth_per_sec: f64,
    pub secs: f64,
    /// One `cache_messages` call with a page of messages.
    pub page_ms: Pct,
    pub db_bytes: u64,
    pub wal_bytes: u64,
    /// Over every cached message, live ones included.
    pub bytes_per_message: f64,
}

#[derive(Serialize, Clone, Debug)]
pub struct QueryOut {
    pub name: String,
    /// As typed in the search box.
    pub text: String,
    pub filter: Option<String>,
    /// Cached messages the query matches, counted as they were made.
    pub matching: u64,
    /// Hits on the page (at most `limit`).
    pub hits: usize,
    pub ms: Pct,
}

impl SearchOut {
    pub fn table(&self) -> String {
        let mut s = String::new();
        let mib = |b: u64| b as f64 / 1024.0 / 1024.0;
        let _ = writeln!(
            s,
            "   cache: {} messages (+{} live) in {} rooms by {} authors, {:.1} words each, from {} words (Zipf)",
            self.messages,
            self.live_messages,
            self.rooms,
            self.authors,
            self.words_per_message,
            self.vocabulary
        );
        for (what, i) in [("indexed", &self.indexed), ("unindexed", &self.unindexed)] {
            let _ = writeln!(
                s,
                "   pages of {} {what:<10} {:>7.0} msg/s, {:>7.0} per CPU second, first tenth {:.0}/s, last tenth {:.0}/s ({:.1} s; a page p50 {:.1} ms, p99 {:.1} ms)",
                self.page,
                i.per_sec,
                i.per_cpu_sec,
                i.first_tenth_per_sec,
                i.last_tenth_per_sec,
                i.secs,
                i.page_ms.p50,
                i.page_ms.p99
            );
        }
        let _ = writeln!(
            s,
            "   ingest, indexed ÷ unindexed: {:.2} (msg/s), {:.2} (per CPU second)",
            self.ingest_ratio,
            self.indexed.per_cpu_sec / self.unindexed.per_cpu_sec.max(1e-9)
        );
        for (what, p) in [
            ("indexed", &self.live_indexed_ms),
            ("unindexed", &self.live_unindexed_ms),
        ] {
            let _ = writeln!(
                s,
                "   live, one per call {what:<10} p50 {:>6.2} ms  p90 {:>6.2}  p99 {:>6.2}  max {:>6.2}  (n={})",
                p.p50, p.p90, p.p99, p.max, p.samples
            );
        }
        let _ = writeln!(
            s,
            "   live, indexed ÷ unindexed: p50 {:.1}, p99 {:.1}",
            self.live_indexed_ms.p50 / self.live_unindexed_ms.p50.max(1e-9),
            self.live_indexed_ms.p99 / self.live_unindexed_ms.p99.max(1e-9)
        );
        let _ = writeln!(
            s,
            "   on disk: indexed {:.1} MiB ({:.0} B per message), unindexed {:.1} MiB ({:.0} B per message); indexed ÷ unindexed {:.2}",
            mib(self.indexed.db_bytes + self.indexed.wal_bytes),
            self.indexed.bytes_per_message,
            mib(self.unindexed.db_bytes + self.unindexed.wal_bytes),
            self.unindexed.bytes_per_message,
            self.indexed.bytes_per_message / self.unindexed.bytes_per_message.max(1e-9)
        );
        let _ = writeln!(
            s,
            "   search, first page of {}, {} rounds of the mix:",
            self.limit, self.iterations
        );
        let _ = writeln!(
            s,
            "   {:<28} {:<16} {:<26} {:>8} {:>4} {:>7} {:>7} {:>7} {:>7}",
            "query", "text", "filter", "matching", "hits", "p50ms", "p90ms", "p99ms", "maxms"
        );
        for q in &self.queries {
            let _ = writeln!(
                s,
                "   {:<28} {:<16} {:<26} {:>8} {:>4} {:>7.2} {:>7.2} {:>7.2} {:>7.2}",
                q.name,
                q.text,
                q.filter.as_deref().unwrap_or("-"),
                q.matching,
                q.hits,
                q.ms.p50,
                q.ms.p90,
                q.ms.p99,
                q.ms.max
            );
        }
        let o = &self.overall_ms;
        let _ = writeln!(
            s,
            "   {:<28} {:<16} {:<26} {:>8} {:>4} {:>7.2} {:>7.2} {:>7.2} {:>7.2}",
            "overall", "", "", "", "", o.p50, o.p90, o.p99, o.max
        );
        if let Some(p) = &self.problem {
            let _ = writeln!(s, "   PROBLEM: {p}");
        }
        s
    }
}
