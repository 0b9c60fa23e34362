//! The benchmark behind `vstack bench`: the seed's benchmark targets (001,
//! "Performance Targets") and vstack's own bars, measured in one run against
//! embedded clusters over real HTTP; results to `benchmark_results.json`.
//! Every target records the client it judges and the conditions it was
//! measured under, so a target can fail and can tell the clients apart.
//!
//! | step | target | how it is measured |
//! |---|---|---|
//! | `qoe` | startup latency < 2 s (req. 6.3), rebuffering ≤ 1 per session (8.5), average buffer > 20 s (9.5), average throughput > 40 Mbit/s (9.3) | for **each client** (smart and naive on twin clusters, at once) and **each condition**: the default profile (100 / 40 / 15 Mbit/s, 5 / 20 / 50 ms), the `degraded` scenario, and a recorded trace set (`--trace`, 2 Mbit/s video); mean startup, worst session's rebuffers, mean buffer, mean busy-time rate |
//! | `abr` | smart's mean linear QoE ≥ 20 % above naive's (issue 25: ≥ 1.2× naive) | the QoE step's twins and conditions on a video with a ladder (20 %, 50 % and 100 % of its bitrate: 1000 / 2500 / 5000 kbit/s on the default cluster), smart playing vstack's multi-source rule and naive BOLA-E; played bitrate, stall and switches of both in the detail |
//! | `latency` | storage node latency < 10 ms (2.4) | sequential `GET` of a 256 KiB chunk from one unshaped node; p95 to the last byte, wall clock |
//! | `uploads` | concurrent uploads ≥ 10 (9.2) | uploaders at once, each `PUT`ting its chunks (hash-checked) to 2 replicas and registering its manifest; uploaders whose video then reads back intact |
//! | `scale` | concurrent playback ≥ 100 (9.1); ≥ 1,000 sessions per process (full run) | N smart sessions at once in this process (N = 100, 250, 500, 1,000 in the full run; 60 s 1 Mbit/s video, 3 unshaped loopback nodes, real time): sessions played to the end without a rebuffer (any rebuffer there is host-caused), startup p50 / p95, peak RSS, CPU; the largest N where every session did |
//! | `scale` | node response time < 50 ms (9.1) | `GET /ping` to every node every 50 ms during the largest N; p95, wall clock |
//! | `load` | load distribution ≤ 1.5 | smart and naive clients at once on twin default clusters (unequal nodes): each node's share of the bytes ÷ its share of the capacity; the worst node, per client |
//! | `redundancy` | restore the target RF after losing 1 of 3 nodes ≤ 60 s; repair read rate ≤ 105 % of its cap; startup p95 of N clients on a hot video, 4 nodes with one slow, adaptive RF ≤ fixed RF 2 | a node killed for good: from the loss being declared to every chunk at its target (wall), bytes moved over that time against the cap; two waves of N concurrent smart clients (warm-up, then measured) under each policy ([`super::redundancy_bench`]) |
//! | `watchers` | with 20 Watch tab viewers pulling chunks, each twin's median startup within 10 % (or 50 ms) of its median alone; no rebuffering event more; every viewer served | a `vstack serve` child; the twins' sessions (restarted, read after a window) alone, then while 20 simulated viewers pull chunks without pause through the browser route on their own links ([`super::watch_bench`]) |
//! | `sabre` | every cell agrees with `sabre.py` (time-average played bitrate within 1 %, rebuffer time within 2 % or 0.1 s); the whole table ≥ 100× faster than Sabre | every trace of `shared/traces/fcc` and `hsdpa-3g` (quick: 3 of each) × `bola`, `bolae`, `throughput`, `dynamic` with `bbb.json`: vstack's Sabre model in this process, `python3 sabre.py` one process per cell ([`super::sabre_bench`]) |
//! | `failover` | killed node < 1.5 s; silent partition < 3 s | a node serving a smart client's download is killed (connections reset) or partitioned (requests hang, nothing fails); from the fault to that chunk's delivery from another replica (media time); worst of the repetitions |
//!
//! Emulated links run with time compression (`speed`); the session and
//! failover times are media time (what a viewer sees), node latency and
//! response time wall clock. `--quick` shrinks every step to a CI-sized run
//! (the figures are still measured, on smaller samples, and the 1,000-session
//! bar is left out). The JSON records the machine, the build profile and
//! every step's configuration.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime},
};

use anyhow::Context;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};

use vstack_core::{
    conditions::{Conditions, Scenario},
    engine::{ClientKind, ClientSnapshot, PerClient, QoeReport},
    input::Trace,
    stats::{mean, percentile, sorted},
};

use super::{failover_time_ms, testbed::Testbed};
use crate::{
    client::{self, ClientConfig, ClientNotice, fetch_view},
    cluster::{
        embedded::{Cluster, ClusterConfig, SyntheticVideo},
        storage::HASH_HEADER,
        wire::{ChunkEntry, VideoManifest},
    },
    http::sha256_hex,
    sync::LockExt,
};

/// How a measured value is compared with its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// measured < target
    Below,
    /// measured ≤ target
    AtMost,
    /// measured > target
    Above,
    /// measured ≥ target
    AtLeast,
}

impl Comparison {
    /// Whether `measured` meets `target`.
    pub fn check(self, measured: f64, target: f64) -> bool {
        match self {
            Comparison::Below => measured < target,
            Comparison::AtMost => measured <= target,
            Comparison::Above => measured > target,
            Comparison::AtLeast => measured >= target,
        }
    }

    /// The comparison as a symbol (`<`, `≤`, `>`, `≥`).
    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::Below => "<",
            Comparison::AtMost => "≤",
            Comparison::Above => ">",
            Comparison::AtLeast => "≥",
        }
    }
}

/// One target's result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TargetResult {
    /// Metric name.
    pub name: String,
    /// The seed's requirement number, if any.
    pub requirement: Option<String>,
    /// The client judged, when the target is about one.
    pub client: Option<ClientKind>,
    /// The conditions it was measured under (cluster, scenario or trace,
    /// video, speed).
    pub conditions: String,
    /// Unit of `measured` and `target`.
    pub unit: String,
    /// Measured in this run.
    pub measured: f64,
    /// Target.
    pub target: f64,
    /// How they compare.
    pub comparison: Comparison,
    /// Whether the target is met.
    pub passed: bool,
    /// How it was measured, sample size and spread.
    pub detail: String,
}

impl TargetResult {
    pub(crate) fn new(
        name: &str,
        requirement: Option<&str>,
        unit: &str,
        measured: f64,
        comparison: Comparison,
        target: f64,
        detail: String,
    ) -> Self {
        Self {
            name: name.into(),
            requirement: requirement.map(Into::into),
            client: None,
            conditions: String::new(),
            unit: unit.into(),
            measured,
            target,
            comparison,
            passed: measured.is_finite() && comparison.check(measured, target),
            detail,
        }
    }

    fn of(mut self, client: ClientKind) -> Self {
        self.client = Some(client);
        self
    }

    fn under(mut self, conditions: &str) -> Self {
        self.conditions = conditions.into();
        self
    }
}

/// The machine the run was measured on.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Machine {
    /// `linux`, …
    pub os: String,
    /// `x86_64`, …
    pub arch: String,
    /// Logical CPUs available to the process.
    pub cpus: usize,
    /// CPU model (`/proc/cpuinfo`), when known.
    pub cpu_model: Option<String>,
    /// Total memory, MiB (`/proc/meminfo`), when known.
    pub memory_total_mib: Option<u64>,
    /// Host name, when known.
    pub hostname: Option<String>,
    /// `debug` or `release` build of vstack.
    pub build: String,
    /// vstack version.
    pub vstack_version: String,
}

impl Machine {
    /// Reads the current machine's facts.
    pub fn current() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Self {
            os: std::env::consts::OS.into(),
            arch: std::env::consts::ARCH.into(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model: cpuinfo
                .lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string()),
            memory_total_mib: meminfo
                .lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
                .map(|kb| kb / 1024),
            hostname: std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
            build: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
            .into(),
            vstack_version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// Sizes of every step; [`BenchConfig::full`] and [`BenchConfig::quick`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchConfig {
    /// QoE step: sessions per client and condition (smart and naive at once).
    pub qoe_sessions: usize,
    /// QoE step: video length, s (5 Mbit/s, 10 s chunks; the trace condition
    /// plays `trace_bitrate_kbps`).
    pub qoe_video_s: u64,
    /// QoE step: the trace condition's video bitrate, kbit/s.
    pub trace_bitrate_kbps: f64,
    /// QoE and load steps: time compression.
    pub speed: f64,
    /// Node latency step: sequential requests.
    pub latency_requests: usize,
    /// Node latency step: chunk size, bytes.
    pub latency_chunk_bytes: usize,
    /// Upload step: concurrent uploaders.
    pub uploaders: usize,
    /// Upload step: chunks per uploader.
    pub upload_chunks: usize,
    /// Upload step: chunk size, bytes.
    pub upload_chunk_bytes: usize,
    /// Scale step: concurrent sessions, one run per entry.
    pub scale_sessions: Vec<usize>,
    /// Scale step: video length, s (`scale_bitrate_kbps`, 4 s chunks).
    pub scale_video_s: u64,
    /// Scale step: video bitrate, kbit/s.
    pub scale_bitrate_kbps: f64,
    /// Scale step: time compression (1 = real time).
    pub scale_speed: f64,
    /// Load step: clients per kind at once.
    pub load_clients: usize,
    /// Load step: video length, s (5 Mbit/s, 4 s chunks).
    pub load_video_s: u64,
    /// Failover step: repetitions of each fault (kill, partition).
    pub failover_reps: usize,
    /// Failover step: time compression. Default 1 (real time): at ×5 the
    /// client's own CPU time (hashing a 6 MB chunk, ~15 ms) counted five
    /// times over in media time and the worst kill read 1.6–1.8 s instead of
    /// 1.3 s.
    pub failover_speed: f64,
    /// Dashboards step: subscriber counts and slowloris connections.
    pub dashboards: super::ws_load::WsLoadConfig,
    /// Redundancy step: restore and hot-startup sizes.
    pub redundancy: super::redundancy_bench::RedundancyBenchConfig,
    /// Watchers step: viewers, samples, window, speed.
    #[serde(default = "super::watch_bench::WatchBenchConfig::full")]
    pub watchers: super::watch_bench::WatchBenchConfig,
    /// Sabre step: trace sets, traces per set, rules.
    #[serde(default = "super::sabre_bench::SabreBenchConfig::full")]
    pub sabre: super::sabre_bench::SabreBenchConfig,
    /// The players step (opt-in: `--only players`).
    #[serde(default = "super::players_bench::PlayersBenchConfig::full")]
    pub players: super::players_bench::PlayersBenchConfig,
}

impl BenchConfig {
    /// The full run (about ten minutes).
    pub fn full() -> Self {
        Self {
            qoe_sessions: 2,
            qoe_video_s: 300,
            trace_bitrate_kbps: 2000.0,
            speed: 20.0,
            latency_requests: 2000,
            latency_chunk_bytes: 256 << 10,
            uploaders: 20,
            upload_chunks: 10,
            upload_chunk_bytes: 1 << 20,
            scale_sessions: vec![100, 250, 500, 1000],
            scale_video_s: 60,
            scale_bitrate_kbps: 1000.0,
            scale_speed: 1.0,
            load_clients: 6,
            load_video_s: 120,
            failover_reps: 5,
            failover_speed: 1.0,
            dashboards: super::ws_load::WsLoadConfig {
                subscribers: vec![1000, 5000],
                slowloris: 500,
                idle_sockets: 8300,
            },
            redundancy: super::redundancy_bench::RedundancyBenchConfig::full(),
            watchers: super::watch_bench::WatchBenchConfig::full(),
            sabre: super::sabre_bench::SabreBenchConfig::full(),
            players: super::players_bench::PlayersBenchConfig::full(),
        }
    }

    /// The CI-sized run (about three minutes in a debug build).
    pub fn quick() -> Self {
        Self {
            qoe_sessions: 1,
            qoe_video_s: 60,
            trace_bitrate_kbps: 2000.0,
            speed: 20.0,
            latency_requests: 300,
            latency_chunk_bytes: 256 << 10,
            uploaders: 10,
            upload_chunks: 4,
            upload_chunk_bytes: 1 << 20,
            scale_sessions: vec![100],
            scale_video_s: 20,
            scale_bitrate_kbps: 1000.0,
            scale_speed: 2.0,
            load_clients: 4,
            load_video_s: 60,
            failover_reps: 2,
            failover_speed: 1.0,
            dashboards: super::ws_load::WsLoadConfig {
                subscribers: vec![200],
                slowloris: 100,
                idle_sockets: 1000,
            },
            redundancy: super::redundancy_bench::RedundancyBenchConfig::quick(),
            watchers: super::watch_bench::WatchBenchConfig::quick(),
            sabre: super::sabre_bench::SabreBenchConfig::quick(),
            players: super::players_bench::PlayersBenchConfig::quick(),
        }
    }
}

/// One run of the scale step.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScaleRow {
    /// Sessions at once.
    pub sessions: usize,
    /// Sessions that played to the end without a rebuffer.
    pub clean: usize,
    /// Sessions that rebuffered at least once (host-caused: the links are
    /// unshaped loopback).
    pub rebuffered: usize,
    /// Sessions that failed outright.
    pub failed: usize,
    /// Startup latency, median, ms (media time).
    pub startup_p50_ms: f64,
    /// Startup latency, 95th percentile, ms (media time).
    pub startup_p95_ms: f64,
    /// Peak resident memory of the process during the run, MiB (sampled
    /// every 100 ms).
    pub peak_rss_mib: f64,
    /// Process CPU time ÷ wall time, % of one core (200 % = both of 2 cores).
    pub cpu_pct: f64,
    /// Wall time of the run, s.
    pub wall_s: f64,
}

/// `benchmark_results.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchReport {
    /// Start of the run, seconds since the Unix epoch.
    pub started_unix_s: u64,
    /// Wall time of the run, s.
    pub wall_s: f64,
    /// `--quick` run.
    pub quick: bool,
    /// The machine.
    pub machine: Machine,
    /// Step sizes.
    pub config: BenchConfig,
    /// One entry per target.
    pub results: Vec<TargetResult>,
    /// The scale step's runs.
    pub scale: Vec<ScaleRow>,
    /// The dashboards step's runs (`/ws` subscribers).
    #[serde(default)]
    pub dashboards: Vec<super::ws_load::WsLoadRow>,
    /// The dashboards step's slowloris run.
    #[serde(default)]
    pub slowloris: Option<super::ws_load::SlowlorisRow>,
    /// The dashboards step's idle-socket attack.
    #[serde(default)]
    pub idle_sockets: Option<super::ws_load::IdleSocketsRow>,
    /// The redundancy step's restore run.
    #[serde(default)]
    pub restore: Option<super::redundancy_bench::RestoreRow>,
    /// The redundancy step's hot-startup runs (adaptive, fixed RF 2).
    #[serde(default)]
    pub hot_startup: Vec<super::redundancy_bench::HotStartupRow>,
    /// The watchers step (the twins alone and beside Watch tab viewers).
    #[serde(default)]
    pub watch_isolation: Option<super::watch_bench::WatchIsolationReport>,
    /// The sabre step (vstack's Sabre model beside `sabre.py`).
    #[serde(default)]
    pub sabre: Option<super::sabre_bench::SabreBenchReport>,
    /// The players step (vstack's browser players beside hls.js).
    #[serde(default)]
    pub players: Option<super::players_bench::PlayersBenchReport>,
    /// Conditions left out, and why (e.g. no trace set found).
    pub skipped: Vec<String>,
    /// Targets met.
    pub passed: usize,
    /// Targets.
    pub total: usize,
    /// passed / total × 100.
    pub score_pct: f64,
}

fn bar(mp: &MultiProgress, name: &str, len: usize) -> ProgressBar {
    let pb = mp.add(ProgressBar::new(len as u64));
    pb.set_style(
        ProgressStyle::with_template("{prefix:>20} [{bar:30}] {pos}/{len} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_prefix(name.to_string());
    pb
}

/// A condition of the QoE step.
pub enum QoeCondition {
    /// The default 3-node cluster's profiles.
    Default,
    /// A named scenario on the default cluster.
    Scenario(Scenario),
    /// A recorded trace set replayed on the nodes' links (its name, traces).
    Traces(String, Vec<Arc<Trace>>),
}

impl QoeCondition {
    fn describe(&self, cfg: &BenchConfig) -> String {
        let cluster =
            "default 3-node cluster (100 / 40 / 15 Mbit/s, 5 / 20 / 50 ms), replication 2";
        match self {
            QoeCondition::Default => format!(
                "{cluster}; {} s 5 Mbit/s video at ×{}",
                cfg.qoe_video_s, cfg.speed
            ),
            QoeCondition::Scenario(s) => format!(
                "{cluster} under scenario {}; {} s 5 Mbit/s video at ×{}",
                s.name(),
                cfg.qoe_video_s,
                cfg.speed
            ),
            QoeCondition::Traces(name, t) => format!(
                "3 nodes replaying trace set {name} ({} traces; session k gives node i trace 3k + i, from its start), replication 2; {} s {:.0} kbit/s video at ×{}",
                t.len(),
                cfg.qoe_video_s,
                cfg.trace_bitrate_kbps,
                cfg.speed
            ),
        }
    }
}

/// The QoE step under one condition: twin clusters, smart on one and naive
/// on the other at once, `qoe_sessions` each; the four QoE targets per client.
async fn qoe(
    cfg: &BenchConfig,
    condition: &QoeCondition,
    pb: &ProgressBar,
) -> anyhow::Result<Vec<TargetResult>> {
    let reports = twin_sessions(cfg, condition, Vec::new(), pb).await?;
    let conditions = condition.describe(cfg);
    Ok(reports
        .into_iter()
        .flat_map(|(kind, r)| qoe_targets(kind, &r, &conditions))
        .collect())
}

/// `qoe_sessions` sessions of each client at once on twin clusters under
/// `condition`, the video with the ladder `lower_rungs` ÷ its top (empty:
/// one rendition).
async fn twin_sessions(
    cfg: &BenchConfig,
    condition: &QoeCondition,
    lower_rungs: Vec<f64>,
    pb: &ProgressBar,
) -> anyhow::Result<PerClient<Vec<QoeReport>>> {
    Ok(sessions_with_single(cfg, condition, lower_rungs, false, pb)
        .await?
        .0)
}

/// [`twin_sessions`], and with `single` a third cluster (same profiles,
/// video and traces, the video whole on every node) where one session per
/// node plays that node alone beside each pair
/// ([`Testbed::play_single_nodes`]): per session, one entry per node.
async fn sessions_with_single(
    cfg: &BenchConfig,
    condition: &QoeCondition,
    lower_rungs: Vec<f64>,
    single: bool,
    pb: &ProgressBar,
) -> anyhow::Result<(PerClient<Vec<QoeReport>>, Vec<Vec<QoeReport>>)> {
    let mut video = SyntheticVideo {
        duration: Duration::from_secs(cfg.qoe_video_s),
        ..SyntheticVideo::default()
    };
    let mut traces = Vec::new();
    if let QoeCondition::Traces(_, t) = condition {
        video.bitrate_kbps = cfg.trace_bitrate_kbps;
        traces.clone_from(t);
    }
    video.lower_rungs_kbps = lower_rungs.iter().map(|r| r * video.bitrate_kbps).collect();
    let config = ClusterConfig {
        speed: cfg.speed,
        video: Some(video),
        traces,
        ..ClusterConfig::default()
    };
    let single_bed = Testbed::whole_on_every_node(&config, single).await?;
    let smart_bed = Testbed::start(config).await?;
    let naive_bed = smart_bed.twin().await?;
    let beds: Vec<&Testbed> = [Some(&smart_bed), Some(&naive_bed), single_bed.as_ref()]
        .into_iter()
        .flatten()
        .collect();
    if let QoeCondition::Scenario(s) = condition {
        beds.iter().for_each(|b| b.cluster.apply_scenario(*s));
    }
    let mut reports: PerClient<Vec<QoeReport>> = PerClient::default();
    let mut singles = Vec::new();
    for k in 0..cfg.qoe_sessions {
        if let QoeCondition::Traces(_, t) = condition {
            // Session k: node i replays trace (k × nodes + i), on every
            // cluster from this moment, as the simulator does.
            let first = k * smart_bed.cluster.nodes().len();
            beds.iter().for_each(|b| b.cluster.set_traces(t, first));
        }
        let (s, n, one) = tokio::join!(
            smart_bed.play_session(ClientKind::Smart, cfg.speed),
            naive_bed.play_session(ClientKind::Naive, cfg.speed),
            super::testbed::play_single_nodes_on(single_bed.as_ref(), cfg.speed)
        );
        reports.smart.push(s?);
        reports.naive.push(n?);
        singles.extend(one?);
        pb.inc(1);
    }
    Ok((reports, singles))
}

/// The ladder of the ABR step, as shares of the video's bitrate (5000
/// kbit/s, or the trace condition's): 1000, 2500 and 5000 kbit/s on the
/// default cluster.
pub const ABR_LADDER_SHARES: [f64; 2] = [0.2, 0.5];

/// The ABR step under one condition: the QoE step's twins on a video with a
/// ladder, the smart client playing vstack's multi-source rule and the naive
/// one BOLA-E; the target is the issue's, smart's mean linear QoE at least
/// 20 % above naive's (relative to |naive|, so it holds for negative
/// scores too).
async fn abr(
    cfg: &BenchConfig,
    condition: &QoeCondition,
    pb: &ProgressBar,
) -> anyhow::Result<Vec<TargetResult>> {
    let (reports, singles) =
        sessions_with_single(cfg, condition, ABR_LADDER_SHARES.to_vec(), true, pb).await?;
    let best: Vec<QoeReport> = singles
        .iter()
        .filter_map(|s| vstack_core::compare::best_single(s).map(|(_, q)| q.clone()))
        .collect();
    let figures = |r: &[QoeReport]| {
        let q: Vec<&vstack_core::abr::QualityQoe> =
            r.iter().filter_map(|q| q.quality.as_ref()).collect();
        let m = |f: &dyn Fn(&vstack_core::abr::QualityQoe) -> f64| {
            mean(&q.iter().map(|x| f(x)).collect::<Vec<_>>())
        };
        let stall = mean(
            &r.iter()
                .map(|q| q.playback.rebuffer_time_ms / 1e3)
                .collect::<Vec<_>>(),
        );
        (
            q.len(),
            m(&|x| x.linear_qoe),
            format!(
                "linear QoE {:.1}, played {:.0} kbit/s, stall {stall:.1} s, {:.1} switches",
                m(&|x| x.linear_qoe),
                m(&|x| x.played_bitrate_kbps),
                m(&|x| f64::from(x.switches))
            ),
        )
    };
    let (n_smart, smart, smart_text) = figures(&reports.smart);
    let (n_naive, naive, naive_text) = figures(&reports.naive);
    let (n_single, single, single_text) = figures(&best);
    // A run that scored nothing, or fewer sessions than it played, fails.
    let gain_over = |n_other: usize, played: usize, other: f64| {
        if n_smart == 0 || n_other == 0 || n_smart < reports.smart.len() || n_other < played {
            f64::NAN
        } else {
            vstack_core::stats::improvement_pct(smart, other, false).unwrap_or(f64::NAN)
        }
    };
    let at_or_above = reports
        .smart
        .iter()
        .zip(&best)
        .filter(|(s, b)| {
            vstack_core::compare::single_score(s) >= vstack_core::compare::single_score(b)
        })
        .count();
    let under = format!(
        "{}; ladder at {} and 100 % of its bitrate",
        condition.describe(cfg),
        ABR_LADDER_SHARES
            .iter()
            .map(|s| format!("{:.0} %", s * 100.0))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(vec![
        TargetResult::new(
            "linear QoE gain over naive (quality choice)",
            None,
            "%",
            gain_over(n_naive, reports.naive.len(), naive),
            Comparison::AtLeast,
            20.0,
            format!(
                "means of {n_smart} session pair(s); smart (multi-source): {smart_text}; naive (BOLA-E): {naive_text}"
            ),
        )
        .under(&under),
        TargetResult::new(
            "linear QoE gain over the best single node (quality choice)",
            None,
            "%",
            gain_over(n_single, reports.smart.len(), single),
            Comparison::AtLeast,
            10.0,
            format!(
                "means of {n_smart} session(s); smart (multi-source): {smart_text}; best single node in hindsight (one session per node, the video whole on each, BOLA-E): {single_text}; smart at or above it in {at_or_above} of {}",
                reports.smart.len()
            ),
        )
        .under(&under),
    ])
}

/// The four QoE targets of one client's sessions.
fn qoe_targets(kind: ClientKind, reports: &[QoeReport], conditions: &str) -> Vec<TargetResult> {
    let n = reports.len();
    let startup: Vec<f64> = reports
        .iter()
        // A session that never started is a failure: infinite startup.
        .map(|q| q.playback.startup_latency_ms.unwrap_or(f64::INFINITY) / 1e3)
        .collect();
    let rebuffers: Vec<f64> = reports
        .iter()
        .map(|q| f64::from(q.playback.rebuffer_count))
        .collect();
    let buffer: Vec<f64> = reports.iter().map(|q| q.playback.avg_buffer_s).collect();
    let tput: Vec<f64> = reports
        .iter()
        .map(|q| q.playback.avg_throughput_mbps)
        .collect();
    let goodput: Vec<f64> = reports.iter().map(|q| q.playback.goodput_mbps).collect();
    let stall: Vec<f64> = reports
        .iter()
        .map(|q| q.playback.rebuffer_time_ms / 1e3)
        .collect();
    let range = |v: &[f64]| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        format!("{lo:.2}..{hi:.2}")
    };
    let who = format!("{n} {} session(s)", kind.name());
    [
        TargetResult::new(
            "startup latency",
            Some("6.3"),
            "s",
            mean(&startup),
            Comparison::Below,
            2.0,
            format!("mean of {who}; range {}", range(&startup)),
        ),
        TargetResult::new(
            "rebuffering events",
            Some("8.5"),
            "per session",
            rebuffers.iter().copied().fold(0.0, f64::max),
            Comparison::AtMost,
            1.0,
            format!(
                "worst of {who}; {} in total, {:.1} s stalled in total",
                rebuffers.iter().sum::<f64>(),
                stall.iter().sum::<f64>()
            ),
        ),
        TargetResult::new(
            "average buffer",
            Some("9.5"),
            "s",
            mean(&buffer),
            Comparison::Above,
            20.0,
            format!("mean of {who}; range {}", range(&buffer)),
        ),
        TargetResult::new(
            "average throughput",
            Some("9.3"),
            "Mbit/s",
            mean(&tput),
            Comparison::Above,
            40.0,
            format!(
                "mean busy-time rate (bytes ÷ time with a download in flight) of {who}; range {}; session goodput (bytes ÷ session time) {:.2} Mbit/s",
                range(&tput),
                mean(&goodput)
            ),
        ),
    ]
    .into_iter()
    .map(|t| t.of(kind).under(conditions))
    .collect()
}

fn unshaped(nodes: usize, video: Option<SyntheticVideo>) -> ClusterConfig {
    ClusterConfig {
        nodes,
        profiles: vec![Conditions::default()],
        video,
        ..ClusterConfig::default()
    }
}

async fn node_latency(cfg: &BenchConfig, pb: &ProgressBar) -> anyhow::Result<TargetResult> {
    let cluster = Cluster::start(unshaped(1, None)).await?;
    let url = cluster.nodes()[0].url();
    let http = cluster.http();
    let payload = crate::cluster::embedded::synthetic_payload(9, 0, cfg.latency_chunk_bytes as u64);
    let r = http
        .put(format!("{url}/chunks/bench-latency"))
        .header(HASH_HEADER, sha256_hex(&payload))
        .body(payload)
        .send()
        .await?;
    anyhow::ensure!(r.status().is_success(), "upload: {}", r.status());
    let mut ms = Vec::with_capacity(cfg.latency_requests);
    for i in 0..cfg.latency_requests {
        let t = Instant::now();
        let b = http
            .get(format!("{url}/chunks/bench-latency"))
            .send()
            .await?
            .bytes()
            .await?;
        anyhow::ensure!(b.len() == cfg.latency_chunk_bytes, "short read");
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        if i % 50 == 0 {
            pb.set_position(i as u64);
        }
    }
    pb.set_position(cfg.latency_requests as u64);
    ms.sort_by(f64::total_cmp);
    let conditions = format!(
        "one unshaped node on loopback; {} KiB chunk",
        cfg.latency_chunk_bytes >> 10
    );
    Ok(TargetResult::new(
        "storage node latency",
        Some("2.4"),
        "ms",
        percentile(&ms, 0.95),
        Comparison::Below,
        10.0,
        format!(
            "p95 of {} sequential GETs of a {} KiB chunk from one unshaped node (wall clock); p50 {:.2} ms, p99 {:.2} ms",
            ms.len(),
            cfg.latency_chunk_bytes >> 10,
            percentile(&ms, 0.5),
            percentile(&ms, 0.99)
        ),
    )
    .under(&conditions))
}

/// One uploader: its chunks to 2 replicas each, then its manifest; then reads
/// everything back and checks the hashes. Returns the PUT times, ms.
async fn upload_one(
    http: crate::cluster::auth::ClusterClient,
    metadata_url: String,
    nodes: Vec<(String, String)>,
    uploader: usize,
    chunks: usize,
    chunk_bytes: usize,
) -> anyhow::Result<Vec<f64>> {
    let video_id = format!("bench-upload-{uploader:03}");
    let mut entries = Vec::new();
    let mut put_ms = Vec::new();
    for i in 0..chunks {
        let bytes = crate::cluster::embedded::synthetic_payload(
            1000 + uploader as u64,
            i as u32,
            chunk_bytes as u64,
        );
        let sha = sha256_hex(&bytes);
        let chunk_id = format!("{video_id}-{i:05}");
        let replicas = [
            (uploader + i) % nodes.len(),
            (uploader + i + 1) % nodes.len(),
        ];
        let puts = replicas.iter().map(|&r| {
            let (http, url, id, sha, bytes) = (
                http.clone(),
                nodes[r].1.clone(),
                chunk_id.clone(),
                sha.clone(),
                bytes.clone(),
            );
            async move {
                let t = Instant::now();
                let resp = http
                    .put(format!("{url}/chunks/{id}"))
                    .header(HASH_HEADER, sha)
                    .body(bytes)
                    .send()
                    .await?;
                anyhow::ensure!(resp.status().is_success(), "PUT {id}: {}", resp.status());
                Ok(t.elapsed().as_secs_f64() * 1e3)
            }
        });
        for r in futures::future::join_all(puts).await {
            put_ms.push(r?);
        }
        entries.push(ChunkEntry {
            index: i as u32,
            chunk_id,
            duration_ms: 4000,
            size_bytes: chunk_bytes as u64,
            sha256: sha,
            replicas: replicas.iter().map(|&r| nodes[r].0.clone()).collect(),
            revision: 1,
        });
    }
    let manifest = VideoManifest {
        video_id: video_id.clone(),
        version: 1,
        chunks: entries,
        ladder: Vec::new(),
    };
    let resp = http
        .post(format!("{metadata_url}/videos"))
        .json(&manifest)
        .send()
        .await?;
    anyhow::ensure!(resp.status().is_success(), "manifest: {}", resp.status());
    // Read back: the manifest from the catalog, every replica from its node.
    let view = fetch_view(&http.plain(), &metadata_url, &video_id).await?;
    anyhow::ensure!(view.manifest == manifest, "manifest changed");
    for c in &manifest.chunks {
        for r in &c.replicas {
            let url = &nodes.iter().find(|(id, _)| id == r).context("node")?.1;
            let b = http
                .get(format!("{url}/chunks/{}", c.chunk_id))
                .send()
                .await?
                .bytes()
                .await?;
            anyhow::ensure!(
                sha256_hex(&b) == c.sha256,
                "{} on {r} corrupted",
                c.chunk_id
            );
        }
    }
    Ok(put_ms)
}

async fn uploads(cfg: &BenchConfig, pb: &ProgressBar) -> anyhow::Result<TargetResult> {
    let cluster = Cluster::start(unshaped(3, None)).await?;
    let nodes: Vec<(String, String)> = cluster
        .nodes()
        .iter()
        .map(|n| (n.node_id.clone(), n.url()))
        .collect();
    let http = cluster.http();
    let t = Instant::now();
    let tasks: Vec<_> = (0..cfg.uploaders)
        .map(|u| {
            let pb = pb.clone();
            let f = upload_one(
                http.clone(),
                cluster.metadata_url(),
                nodes.clone(),
                u,
                cfg.upload_chunks,
                cfg.upload_chunk_bytes,
            );
            tokio::spawn(async move {
                let r = f.await;
                pb.inc(1);
                r
            })
        })
        .collect();
    let mut ok = 0usize;
    let mut put_ms = Vec::new();
    let mut errors = Vec::new();
    for t in tasks {
        match t.await? {
            Ok(ms) => {
                ok += 1;
                put_ms.extend(ms);
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    let wall = t.elapsed().as_secs_f64();
    put_ms.sort_by(f64::total_cmp);
    let mb = (ok * cfg.upload_chunks * cfg.upload_chunk_bytes * 2) as f64 / 1e6;
    Ok(TargetResult::new(
        "concurrent uploads",
        Some("9.2"),
        "uploaders",
        ok as f64,
        Comparison::AtLeast,
        10.0,
        format!(
            "{ok} of {} uploaders at once succeeded and read back intact ({} × {} KiB chunks each, 2 replicas, 3 unshaped nodes); {mb:.0} MB in {wall:.2} s ({:.0} MB/s); PUT p50 {:.1} ms, p95 {:.1} ms{}",
            cfg.uploaders,
            cfg.upload_chunks,
            cfg.upload_chunk_bytes >> 10,
            mb / wall,
            percentile(&put_ms, 0.5),
            percentile(&put_ms, 0.95),
            errors
                .first()
                .map(|e| format!("; first error: {e}"))
                .unwrap_or_default()
        ),
    )
    .under("3 unshaped nodes on loopback, 2 replicas per chunk"))
}

/// Pings every node of `cluster` every 50 ms until `stop`, recording each
/// round trip in ms (a failed ping counts as infinitely long).
fn ping_nodes(
    cluster: &Cluster,
    http: &reqwest::Client,
    stop: &watch::Receiver<bool>,
) -> (Arc<Mutex<Vec<f64>>>, Vec<tokio::task::JoinHandle<()>>) {
    let rtts = Arc::new(Mutex::new(Vec::<f64>::new()));
    let probers = cluster
        .nodes()
        .iter()
        .map(|n| {
            let (http, url, rtts, mut stop) = (
                http.clone(),
                format!("{}/ping", n.url()),
                rtts.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(50));
                loop {
                    tokio::select! {
                        _ = stop.changed() => break,
                        _ = tick.tick() => {}
                    }
                    let t = Instant::now();
                    let ok = match http.get(&url).send().await {
                        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    let ms = if ok {
                        t.elapsed().as_secs_f64() * 1e3
                    } else {
                        f64::INFINITY
                    };
                    rtts.locked().push(ms);
                }
            })
        })
        .collect();
    (rtts, probers)
}

/// Samples the process's resident memory every 100 ms on a plain thread
/// (no blocking on the async workers) until dropped; `peak_mib` is the
/// largest sample.
struct RssSampler {
    peak_bytes: Arc<std::sync::atomic::AtomicUsize>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    fn start() -> Self {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let peak_bytes = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (peak_bytes.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(m) = memory_stats::memory_stats() {
                    p.fetch_max(m.physical_mem, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Self {
            peak_bytes,
            stop,
            thread: Some(thread),
        }
    }

    fn peak_mib(&self) -> f64 {
        self.peak_bytes.load(std::sync::atomic::Ordering::Relaxed) as f64 / (1 << 20) as f64
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One run of the scale step: `n` smart sessions at once on `bed`.
async fn scale_once(
    cfg: &BenchConfig,
    bed: &Testbed,
    n: usize,
    pb: &ProgressBar,
) -> anyhow::Result<ScaleRow> {
    let rss = RssSampler::start();
    let cpu0 = cpu_time::ProcessTime::try_now().ok();
    let t = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (http, view, pb, speed) = (
                bed.http.clone(),
                bed.view.clone(),
                pb.clone(),
                cfg.scale_speed,
            );
            tokio::spawn(async move {
                let r = client::play_session(http, view, ClientKind::Smart, speed).await;
                pb.inc(1);
                r
            })
        })
        .collect();
    let mut reports = Vec::new();
    let mut failed = 0;
    for t in tasks {
        match t.await? {
            Ok(q) => reports.push(q),
            Err(_) => failed += 1,
        }
    }
    let wall = t.elapsed().as_secs_f64();
    let cpu_s = cpu0
        .and_then(|c| c.try_elapsed().ok())
        .map_or(f64::NAN, |d| d.as_secs_f64());
    let startup = sorted(
        &reports
            .iter()
            .filter_map(|q| q.playback.startup_latency_ms)
            .collect::<Vec<_>>(),
    );
    Ok(ScaleRow {
        sessions: n,
        clean: reports
            .iter()
            .filter(|q| q.ended && q.playback.rebuffer_count == 0)
            .count(),
        rebuffered: reports
            .iter()
            .filter(|q| q.playback.rebuffer_count > 0)
            .count(),
        failed,
        startup_p50_ms: percentile(&startup, 0.5),
        startup_p95_ms: percentile(&startup, 0.95),
        peak_rss_mib: rss.peak_mib(),
        cpu_pct: cpu_s / wall * 100.0,
        wall_s: wall,
    })
}

/// The scale step: one run per entry of `scale_sessions` on 3 unshaped
/// nodes, pinging the nodes during the largest; the rows, and the targets.
async fn scale(
    cfg: &BenchConfig,
    pb: &ProgressBar,
) -> anyhow::Result<(Vec<ScaleRow>, Vec<TargetResult>)> {
    let bed = Testbed::start(ClusterConfig {
        speed: cfg.scale_speed,
        ..unshaped(
            3,
            Some(SyntheticVideo {
                duration: Duration::from_secs(cfg.scale_video_s),
                chunk_duration: Duration::from_secs(4),
                bitrate_kbps: cfg.scale_bitrate_kbps,
                ..SyntheticVideo::default()
            }),
        )
    })
    .await?;
    let conditions = format!(
        "one process, 3 unshaped loopback nodes, replication 2; {} s {:.0} kbit/s video (4 s chunks) at ×{}; smart clients",
        cfg.scale_video_s, cfg.scale_bitrate_kbps, cfg.scale_speed
    );
    let largest = cfg.scale_sessions.iter().copied().max().unwrap_or(0);
    let mut rows = Vec::new();
    let mut rtt = Vec::new();
    for &n in &cfg.scale_sessions {
        let (stop_tx, stop_rx) = watch::channel(false);
        let pinging = (n == largest).then(|| ping_nodes(&bed.cluster, &bed.http, &stop_rx));
        rows.push(scale_once(cfg, &bed, n, pb).await?);
        let _ = stop_tx.send(true);
        if let Some((rtts, probers)) = pinging {
            for p in probers {
                let _ = p.await;
            }
            rtt = sorted(&rtts.locked());
        }
    }
    let sustained = rows
        .iter()
        .filter(|r| r.clean == r.sessions)
        .map(|r| r.sessions)
        .max()
        .unwrap_or(0);
    let table = rows
        .iter()
        .map(|r| {
            format!(
                "N={}: {} clean, {} rebuffered, {} failed, startup p50 {:.0} ms / p95 {:.0} ms, peak RSS {:.0} MiB, CPU {:.0} %, {:.1} s wall",
                r.sessions,
                r.clean,
                r.rebuffered,
                r.failed,
                r.startup_p50_ms,
                r.startup_p95_ms,
                r.peak_rss_mib,
                r.cpu_pct,
                r.wall_s
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let mut out = vec![
        TargetResult::new(
            "concurrent playback",
            Some("9.1"),
            "sessions",
            sustained as f64,
            Comparison::AtLeast,
            100.0,
            format!("largest N where every session played to the end without a rebuffer; {table}"),
        )
        .under(&conditions),
        TargetResult::new(
            "node response time",
            Some("9.1"),
            "ms",
            percentile(&rtt, 0.95),
            Comparison::Below,
            50.0,
            format!(
                "p95 of {} GET /ping round trips to the 3 nodes during the N={largest} run (wall clock); p50 {:.2} ms, max {:.1} ms",
                rtt.len(),
                percentile(&rtt, 0.5),
                rtt.last().copied().unwrap_or(f64::NAN)
            ),
        )
        .under(&conditions),
    ];
    if largest >= 1000 {
        out.push(
            TargetResult::new(
                "sessions per process",
                None,
                "sessions",
                sustained as f64,
                Comparison::AtLeast,
                1000.0,
                "largest N of the scale runs where every session played to the end without a (host-caused) rebuffer".into(),
            )
            .under(&conditions),
        );
    }
    Ok((rows, out))
}

/// The load step: `load_clients` smart clients on the default cluster and as
/// many naive ones on its twin, at once. Per client kind: each node's share
/// of the bytes ÷ its share of the capacity (its bandwidth ÷ the sum), worst
/// node.
async fn load(cfg: &BenchConfig, pb: &ProgressBar) -> anyhow::Result<Vec<TargetResult>> {
    let smart_bed = Testbed::start(ClusterConfig {
        speed: cfg.speed,
        video: Some(SyntheticVideo {
            duration: Duration::from_secs(cfg.load_video_s),
            chunk_duration: Duration::from_secs(4),
            ..SyntheticVideo::default()
        }),
        ..ClusterConfig::default()
    })
    .await?;
    let naive_bed = smart_bed.twin().await?;
    let capacity: Vec<f64> = smart_bed
        .cluster
        .nodes()
        .iter()
        .map(|n| n.emulator().base().bandwidth_mbps.unwrap_or(f64::NAN))
        .collect();
    let cap_total: f64 = capacity.iter().sum();
    let beds = PerClient {
        smart: &smart_bed,
        naive: &naive_bed,
    };
    let tasks = beds.map(|kind, bed| {
        (0..cfg.load_clients)
            .map(|_| {
                let (http, view, pb, speed) =
                    (bed.http.clone(), bed.view.clone(), pb.clone(), cfg.speed);
                tokio::spawn(async move {
                    let r = client::play_session(http, view, kind, speed).await;
                    pb.inc(1);
                    r
                })
            })
            .collect::<Vec<_>>()
    });
    let conditions = format!(
        "default 3-node cluster ({} Mbit/s), {} clients of the kind at once on their own twin cluster; {} s 5 Mbit/s video (4 s chunks) at ×{}",
        capacity
            .iter()
            .map(|c| format!("{c:.0}"))
            .collect::<Vec<_>>()
            .join(" / "),
        cfg.load_clients,
        cfg.load_video_s,
        cfg.speed
    );
    let mut out = Vec::new();
    for (kind, handles) in tasks {
        let mut bytes = vec![0u64; capacity.len()];
        let mut failed = Vec::new();
        let asked = handles.len();
        for h in handles {
            match h.await? {
                Ok(q) => {
                    for (b, l) in bytes.iter_mut().zip(&q.per_node) {
                        *b += l.bytes;
                    }
                }
                Err(e) => failed.push(e.to_string()),
            }
        }
        out.push(sessions_completed(kind, asked, &failed, &conditions));
        let total: u64 = bytes.iter().sum();
        let ratios: Vec<f64> = bytes
            .iter()
            .zip(&capacity)
            .map(|(b, c)| (*b as f64 / total.max(1) as f64) / (c / cap_total))
            .collect();
        let worst = if total == 0 || !failed.is_empty() {
            f64::NAN
        } else {
            ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        };
        out.push(
            TargetResult::new(
                "load distribution",
                None,
                "× capacity share",
                worst,
                Comparison::AtMost,
                1.5,
                format!(
                    "worst node's byte share ÷ its capacity share; per node: {}",
                    bytes
                        .iter()
                        .zip(&ratios)
                        .enumerate()
                        .map(|(i, (b, r))| format!(
                            "node-{} {:.0} % of bytes (capacity {:.0} %) = ×{r:.2}",
                            i + 1,
                            *b as f64 * 100.0 / total.max(1) as f64,
                            capacity[i] * 100.0 / cap_total
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .of(kind)
            .under(&conditions),
        );
    }
    Ok(out)
}

/// A step's own target that every repetition it asked for measured
/// something: `done` of `asked`, in %, at least 100 %.
fn all_measured(name: &str, done: usize, asked: usize, detail: String) -> TargetResult {
    TargetResult::new(
        name,
        None,
        "%",
        done as f64 / asked.max(1) as f64 * 100.0,
        Comparison::AtLeast,
        100.0,
        detail,
    )
}

/// The load step's sessions of `kind`: a session that failed measured
/// nothing, so the step ran fewer than it asked for and this target fails,
/// saying which and why.
fn sessions_completed(
    kind: ClientKind,
    asked: usize,
    failed: &[String],
    conditions: &str,
) -> TargetResult {
    let done = asked - failed.len();
    all_measured(
        "load distribution sessions completed",
        done,
        asked,
        if failed.is_empty() {
            format!("{asked} of {asked} sessions completed")
        } else {
            format!(
                "{done} of {asked} sessions completed; failed: {}",
                failed.join("; ")
            )
        },
    )
    .of(kind)
    .under(conditions)
}

/// The failover step's nodes: bandwidth, Mbit/s.
pub const FAILOVER_MBPS: f64 = 50.0;
/// The failover step's nodes: latency, ms.
pub const FAILOVER_LATENCY_MS: f64 = 10.0;

/// A fault the failover step injects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FailoverFault {
    /// The node's server is killed: connections reset at once.
    Kill,
    /// The node is partitioned: requests and bodies hang, nothing fails.
    Partition,
}

/// One failover measurement: a smart client plays; the first node seen
/// serving one of its downloads gets `fault`; the time (media) from the fault
/// to that chunk's delivery from another replica. `None` when no download was
/// caught in flight or no failover followed within a minute of media time.
async fn failover_once(
    bed: &mut Testbed,
    speed: f64,
    fault: FailoverFault,
) -> anyhow::Result<Option<f64>> {
    let (tx, mut rx) = watch::channel::<Option<ClientSnapshot>>(None);
    let (ntx, mut nrx) = broadcast::channel::<ClientNotice>(1 << 12);
    let (stop_tx, stop_rx) = watch::channel(false);
    let t0 = tokio::time::Instant::now();
    let player = tokio::spawn(client::play(
        bed.http.clone(),
        bed.view.clone(),
        ClientConfig {
            kind: ClientKind::Smart,
            speed,
            status_interval: Duration::ZERO,
            ..ClientConfig::default()
        },
        tx,
        ntx,
        stop_rx,
    ));
    let media = move || t0.elapsed().as_secs_f64() * speed;
    // Wait until some node has a download in flight (after the startup, so
    // the fault hits a steady download), then inject the fault there.
    let mut hit = None;
    let limit = tokio::time::Instant::now() + Duration::from_secs(20);
    while hit.is_none() && tokio::time::Instant::now() < limit {
        if tokio::time::timeout_at(limit, rx.changed()).await.is_err() {
            break;
        }
        let busy = rx.borrow_and_update().as_ref().and_then(|s| {
            (s.startup_latency_ms.is_some())
                .then(|| s.nodes.iter().position(|n| n.in_flight > 0))
                .flatten()
        });
        if let Some(i) = busy {
            match fault {
                FailoverFault::Kill => bed.cluster.kill_node(i),
                FailoverFault::Partition => {
                    let c = Conditions {
                        partitioned: true,
                        ..bed.cluster.nodes()[i].emulator().base()
                    };
                    bed.cluster
                        .set_conditions(i, c)
                        .map_err(anyhow::Error::msg)?;
                }
            }
            hit = Some((i, media()));
        }
    }
    let mut measured = None;
    if let Some((i, at)) = hit {
        let node_id = bed.cluster.nodes()[i].node_id.clone();
        let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(60.0 / speed);
        let mut log = Vec::new();
        while measured.is_none() {
            match tokio::time::timeout_at(deadline, nrx.recv()).await {
                Ok(Ok(n)) => {
                    log.push((media(), n));
                    measured = failover_time_ms(&log, &node_id, at, f64::MAX);
                }
                _ => break,
            }
        }
        match fault {
            FailoverFault::Kill => bed.cluster.restart_node(i).await?,
            FailoverFault::Partition => {
                let base = bed.cluster.nodes()[i].emulator().base();
                bed.cluster
                    .set_conditions(i, base)
                    .map_err(anyhow::Error::msg)?;
            }
        }
    }
    let _ = stop_tx.send(true);
    let _ = player.await;
    Ok(measured)
}

/// The failover target's figure, s: the worst of the measured times (ms).
/// Every repetition is judged: one without a measured failover (no fault
/// landed, or no other replica delivered within 60 s media time) makes it
/// infinite, a failure rather than a repetition left out; so does a run
/// that measured none.
fn worst_failover_s(times_ms: &[f64], misses: usize) -> f64 {
    if misses > 0 || times_ms.is_empty() {
        f64::INFINITY
    } else {
        times_ms.iter().copied().fold(f64::NAN, f64::max) / 1e3
    }
}

async fn failover(cfg: &BenchConfig, pb: &ProgressBar) -> anyhow::Result<Vec<TargetResult>> {
    let speed = cfg.failover_speed;
    // Equal nodes: the time measured is the failover's, not a slow
    // surviving replica's transfer time.
    let mut bed = Testbed::start(ClusterConfig {
        speed,
        profiles: vec![Conditions::profile(FAILOVER_LATENCY_MS, FAILOVER_MBPS)],
        video: Some(SyntheticVideo {
            duration: Duration::from_secs(120),
            ..SyntheticVideo::default()
        }),
        ..ClusterConfig::default()
    })
    .await?;
    let conditions = format!(
        "3 equal nodes ({FAILOVER_MBPS} Mbit/s, {FAILOVER_LATENCY_MS} ms each), replication 2; 120 s 5 Mbit/s video (10 s chunks of ~6 MB) at ×{speed}; smart client"
    );
    let mut out = Vec::new();
    for (fault, name, target, what) in [
        (
            FailoverFault::Kill,
            "failover time (killed node)",
            1.5,
            "kills of a node serving a smart client's download (connections reset)",
        ),
        (
            FailoverFault::Partition,
            "failover time (silent partition)",
            3.0,
            "partitions of a node serving a smart client's download (requests hang, nothing fails: detected through lack of progress)",
        ),
    ] {
        let mut times = Vec::new();
        let mut misses = 0;
        for _ in 0..cfg.failover_reps {
            match failover_once(&mut bed, speed, fault).await? {
                Some(ms) => times.push(ms),
                None => misses += 1,
            }
            pb.inc(1);
        }
        let worst = worst_failover_s(&times, misses);
        out.push(
            TargetResult::new(
                name,
                None,
                "s",
                worst,
                Comparison::Below,
                target,
                format!(
                    "worst of {} {what}; from the fault to that chunk's delivery from another replica (media time); each {}; {misses} of {} without a measured failover (each fails the target)",
                    times.len() + misses,
                    times
                        .iter()
                        .map(|t| format!("{:.2} s", t / 1e3))
                        .collect::<Vec<_>>()
                        .join(", "),
                    cfg.failover_reps
                ),
            )
            .of(ClientKind::Smart)
            .under(&conditions),
        );
    }
    Ok(out)
}

/// A step of the benchmark (`--only`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// QoE targets per client and condition.
    Qoe,
    /// Storage node latency.
    Latency,
    /// Concurrent uploads.
    Uploads,
    /// Concurrent sessions per process, node response time under load.
    Scale,
    /// Load distribution against node capacity.
    Load,
    /// Failover after a kill and a partition.
    Failover,
    /// Many live dashboards on one server, and slowloris connections.
    Dashboards,
    /// Adaptive redundancy: restore after a loss, startup on a hot video.
    Redundancy,
    /// Watch tab viewers beside the twins.
    Watchers,
    /// vstack's Sabre model beside `sabre.py`.
    Sabre,
    /// Quality choice on a ladder: smart's multi-source rule against
    /// naive's BOLA-E.
    Abr,
    /// vstack's browser players beside hls.js in Chromium (opt-in: not in
    /// [`Step::ALL`]; `--only players`).
    Players,
}

impl Step {
    /// Every step, in run order.
    pub const ALL: [Step; 11] = [
        Step::Qoe,
        Step::Abr,
        Step::Latency,
        Step::Uploads,
        Step::Scale,
        Step::Load,
        Step::Failover,
        Step::Dashboards,
        Step::Redundancy,
        Step::Watchers,
        Step::Sabre,
    ];

    /// The step's name (`qoe`, …, `redundancy`), as `--only` and the JSON
    /// spell it.
    pub fn name(self) -> &'static str {
        match self {
            Step::Qoe => "qoe",
            Step::Latency => "latency",
            Step::Uploads => "uploads",
            Step::Scale => "scale",
            Step::Load => "load",
            Step::Failover => "failover",
            Step::Dashboards => "dashboards",
            Step::Redundancy => "redundancy",
            Step::Watchers => "watchers",
            Step::Sabre => "sabre",
            Step::Abr => "abr",
            Step::Players => "players",
        }
    }

    /// Steps run only when `--only` names them (they need a browser and
    /// take an hour or more).
    pub const OPT_IN: [Step; 1] = [Step::Players];

    /// The step named `name` (in [`Step::ALL`] or [`Step::OPT_IN`]).
    pub fn from_name(name: &str) -> Option<Step> {
        Step::ALL
            .into_iter()
            .chain(Step::OPT_IN)
            .find(|s| s.name() == name)
    }
}

/// What to run: the sizes, the steps, the trace set of the QoE step.
#[derive(Clone, Debug)]
pub struct BenchPlan {
    /// `--quick` sizes.
    pub quick: bool,
    /// Steps to run, in [`Step::ALL`]'s order. Default all.
    pub steps: Vec<Step>,
    /// The QoE step's trace set: its name and traces; `None` leaves the
    /// trace condition out (recorded in [`BenchReport::skipped`]).
    pub traces: Option<(String, Vec<Arc<Trace>>)>,
    /// Why `traces` is `None`, if it is.
    pub traces_missing: Option<String>,
    /// Session counts of the scale step instead of the sizes' own.
    pub scale_sessions: Option<Vec<usize>>,
    /// The shared data folder (`traces/`, `videos/`, `peers/`) the sabre
    /// step reads.
    pub shared: std::path::PathBuf,
    /// Runs per player and scenario of the players step instead of the
    /// sizes' own.
    pub players_runs: Option<u32>,
}

/// The conditions of the QoE and ABR steps: the default cluster, its
/// `degraded` scenario and the plan's trace set (when there is none, why
/// goes into `skipped` under `step`'s name).
fn qoe_conditions(plan: &BenchPlan, step: Step, skipped: &mut Vec<String>) -> Vec<QoeCondition> {
    let mut conditions = vec![
        QoeCondition::Default,
        QoeCondition::Scenario(Scenario::Degraded),
    ];
    match &plan.traces {
        Some((name, t)) => conditions.push(QoeCondition::Traces(name.clone(), t.clone())),
        None => skipped.push(format!(
            "{} under a trace set: {}",
            step.name(),
            plan.traces_missing
                .as_deref()
                .unwrap_or("no trace set given")
        )),
    }
    conditions
}

/// Runs the planned steps and returns the report.
///
/// # Errors
/// When a cluster cannot start or a step's HTTP fails outright.
pub async fn execute(plan: BenchPlan, mp: &MultiProgress) -> anyhow::Result<BenchReport> {
    let mut cfg = if plan.quick {
        BenchConfig::quick()
    } else {
        BenchConfig::full()
    };
    if let Some(n) = &plan.scale_sessions {
        cfg.scale_sessions.clone_from(n);
    }
    if let Some(n) = plan.players_runs {
        cfg.players.runs = n;
    }
    let started_unix_s = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let t = Instant::now();
    let mut results = Vec::new();
    let mut scale_rows = Vec::new();
    let mut skipped = Vec::new();
    let runs = |s: Step| plan.steps.contains(&s);
    if runs(Step::Qoe) {
        let conditions = qoe_conditions(&plan, Step::Qoe, &mut skipped);
        let pb = bar(mp, "qoe sessions", conditions.len() * cfg.qoe_sessions);
        for c in &conditions {
            results.extend(qoe(&cfg, c, &pb).await.context("qoe")?);
        }
        pb.finish();
    }
    if runs(Step::Abr) {
        let conditions = qoe_conditions(&plan, Step::Abr, &mut skipped);
        let pb = bar(mp, "abr sessions", conditions.len() * cfg.qoe_sessions);
        for c in &conditions {
            results.extend(abr(&cfg, c, &pb).await.context("abr")?);
        }
        pb.finish();
    }
    if runs(Step::Latency) {
        let pb = bar(mp, "node latency", cfg.latency_requests);
        results.push(node_latency(&cfg, &pb).await.context("node latency")?);
        pb.finish();
    }
    if runs(Step::Uploads) {
        let pb = bar(mp, "concurrent uploads", cfg.uploaders);
        results.push(uploads(&cfg, &pb).await.context("uploads")?);
        pb.finish();
    }
    if runs(Step::Scale) {
        let pb = bar(mp, "scale sessions", cfg.scale_sessions.iter().sum());
        let (rows, r) = scale(&cfg, &pb).await.context("scale")?;
        scale_rows = rows;
        results.extend(r);
        pb.finish();
    }
    if runs(Step::Load) {
        let pb = bar(mp, "load distribution", 2 * cfg.load_clients);
        results.extend(load(&cfg, &pb).await.context("load")?);
        pb.finish();
    }
    if runs(Step::Failover) {
        let pb = bar(mp, "failover", 2 * cfg.failover_reps);
        results.extend(failover(&cfg, &pb).await.context("failover")?);
        pb.finish();
    }
    let (mut dashboards, mut slowloris, mut idle_sockets) = (Vec::new(), None, None);
    if runs(Step::Dashboards) {
        let report = dashboards_step(&cfg, mp, &mut results).await?;
        (dashboards, slowloris, idle_sockets) = (
            report.rows,
            Some(report.slowloris),
            Some(report.idle_sockets),
        );
    }
    let (restore, hot_startup) = if runs(Step::Redundancy) {
        redundancy_step(&cfg, mp, &mut results).await?
    } else {
        (None, Vec::new())
    };
    let watch_isolation = if runs(Step::Watchers) {
        Some(watchers_step(&cfg, mp, &mut results).await?)
    } else {
        None
    };
    let sabre = if runs(Step::Sabre) {
        Some(sabre_step(&cfg, &plan.shared, mp, &mut results).await?)
    } else {
        None
    };
    let players = if runs(Step::Players) {
        Some(players_step(&cfg, &mut results, &mut skipped).await?)
    } else {
        None
    };
    let passed = results.iter().filter(|r| r.passed).count();
    let total = results.len();
    Ok(BenchReport {
        started_unix_s,
        wall_s: t.elapsed().as_secs_f64(),
        quick: plan.quick,
        machine: Machine::current(),
        config: cfg,
        passed,
        total,
        score_pct: if total == 0 {
            0.0
        } else {
            passed as f64 / total as f64 * 100.0
        },
        results,
        scale: scale_rows,
        dashboards,
        slowloris,
        idle_sockets,
        restore,
        hot_startup,
        watch_isolation,
        sabre,
        players,
        skipped,
    })
}

/// The watchers step; its targets go into `results`.
async fn watchers_step(
    cfg: &BenchConfig,
    mp: &MultiProgress,
    results: &mut Vec<TargetResult>,
) -> anyhow::Result<super::watch_bench::WatchIsolationReport> {
    let pb = bar(mp, "watchers", 2);
    let r = super::watch_bench::isolation(&cfg.watchers, &pb)
        .await
        .context("watchers")?;
    results.extend(watchers_targets(&cfg.watchers, &r));
    pb.finish();
    Ok(r)
}

/// The players step; its targets go into `results`, what did not apply
/// into `skipped`.
async fn players_step(
    cfg: &BenchConfig,
    results: &mut Vec<TargetResult>,
    skipped: &mut Vec<String>,
) -> anyhow::Result<super::players_bench::PlayersBenchReport> {
    let r = super::players_bench::run(&cfg.players)
        .await
        .context("players")?;
    let (targets, left_out) =
        super::players_bench::targets(&r).map_err(|e| anyhow::anyhow!("players: {e}"))?;
    results.extend(targets);
    skipped.extend(left_out);
    Ok(r)
}

/// The sabre step; its targets go into `results`.
async fn sabre_step(
    cfg: &BenchConfig,
    shared: &std::path::Path,
    mp: &MultiProgress,
    results: &mut Vec<TargetResult>,
) -> anyhow::Result<super::sabre_bench::SabreBenchReport> {
    let pb = bar(mp, "sabre side by side", 1);
    let r = super::sabre_bench::side_by_side(shared, &cfg.sabre, &pb)
        .await
        .context("sabre")?;
    results.extend(sabre_targets(&cfg.sabre, &r));
    pb.finish();
    Ok(r)
}

/// The sabre step's targets (see [`super::sabre_bench`]): every cell it
/// asked for measured and agreeing, and the speed ratio.
fn sabre_targets(
    cfg: &super::sabre_bench::SabreBenchConfig,
    r: &super::sabre_bench::SabreBenchReport,
) -> Vec<TargetResult> {
    let conditions = format!(
        "bbb.json; traces {} ({}); rules {}",
        cfg.trace_sets.join(", "),
        cfg.traces_per_set
            .map_or_else(|| "all".to_string(), |n| format!("first {n} of each")),
        cfg.rules
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let agreeing = r.cells.iter().filter(|c| c.agrees).count();
    // A missing input (no shared folder) is one problem and no cell: the
    // target still fails (0 of at least 1).
    let asked = (r.cells.len() + r.problems.len()).max(1);
    let worst_bitrate = r
        .cells
        .iter()
        .map(|c| c.bitrate_diff_pct)
        .fold(0.0, f64::max);
    let worst_rebuffer = r
        .cells
        .iter()
        .map(|c| c.rebuffer_diff_s)
        .fold(0.0, f64::max);
    let mut detail = format!(
        "{agreeing} of {asked} cells within 1 % played bitrate and 2 % (or 0.1 s) rebuffer; worst {worst_bitrate:.2e} % bitrate, {worst_rebuffer:.2e} s rebuffer"
    );
    for c in r.cells.iter().filter(|c| !c.agrees).take(5) {
        detail.push_str(&format!(
            "; {}/{} {}: {:.1} vs {:.1} kbit/s, {:.2} vs {:.2} s",
            c.trace_set,
            c.trace,
            c.rule,
            c.vstack.time_average_played_bitrate,
            c.sabre.time_average_played_bitrate,
            c.vstack.total_rebuffer,
            c.sabre.total_rebuffer
        ));
    }
    for p in r.problems.iter().take(3) {
        detail.push_str(&format!("; {p}"));
    }
    vec![
        all_measured("sabre cells agreeing", agreeing, asked, detail).under(&conditions),
        TargetResult::new(
            "sabre table speed, sabre.py time / vstack time",
            None,
            "×",
            if r.cells.is_empty() { 0.0 } else { r.speedup_x },
            Comparison::AtLeast,
            100.0,
            format!(
                "{} cells: sabre.py {:.2} s over its processes (Python start-up included), vstack {:.4} s in this process (files read and parsed included)",
                r.cells.len(),
                r.sabre_wall_s,
                r.vstack_wall_s
            ),
        )
        .under(&conditions),
    ]
}

/// The redundancy step: the restore run, then hot startup under adaptive
/// and fixed replication; its targets go into `results`.
async fn redundancy_step(
    cfg: &BenchConfig,
    mp: &MultiProgress,
    results: &mut Vec<TargetResult>,
) -> anyhow::Result<(
    Option<super::redundancy_bench::RestoreRow>,
    Vec<super::redundancy_bench::HotStartupRow>,
)> {
    let pb = bar(mp, "redundancy", 3);
    let r = super::redundancy_bench::restore(&cfg.redundancy)
        .await
        .context("redundancy: restore")?;
    pb.inc(1);
    let mut hot_startup = Vec::new();
    for adaptive in [true, false] {
        hot_startup.push(
            super::redundancy_bench::hot_startup(&cfg.redundancy, adaptive)
                .await
                .context("redundancy: hot startup")?,
        );
        pb.inc(1);
    }
    results.extend(redundancy_targets(&cfg.redundancy, &r, &hot_startup));
    pb.finish();
    Ok((Some(r), hot_startup))
}

/// The watchers step's targets (see [`super::watch_bench`]).
fn watchers_targets(
    cfg: &super::watch_bench::WatchBenchConfig,
    r: &super::watch_bench::WatchIsolationReport,
) -> Vec<TargetResult> {
    let conditions = format!(
        "vstack serve, default profiles (100 / 40 / 15 Mbit/s), synthetic 5 Mbit/s video, ×{}, {} sessions of {} s wall per run",
        cfg.speed, cfg.samples, cfg.window_s
    );
    let mut out = vec![
        all_measured(
            "Watch viewers served",
            r.watchers_served,
            r.watchers,
            format!(
                "{} of {} viewers received whole chunks; {} chunks, {:.0} Mbit/s together; {} requests failed",
                r.watchers_served, r.watchers, r.chunks_pulled, r.watchers_mbps, r.failed_requests
            ),
        )
        .under(&conditions),
    ];
    for row in &r.rows {
        let alone = row.startup_alone_p50_ms();
        let watched = row.startup_watched_p50_ms();
        // 10 %, or 50 ms where 10 % is less (one probe round's spread).
        let allowed = (alone * 0.10).max(50.0);
        out.push(
            TargetResult::new(
                "startup latency with Watch viewers, over alone",
                None,
                "ms",
                watched - alone,
                Comparison::AtMost,
                allowed,
                format!(
                    "median {watched:.0} ms with {} viewers against {alone:.0} ms alone ({} and {} sessions); allowed 10 % or 50 ms",
                    r.watchers,
                    row.startup_watched_ms.len(),
                    row.startup_alone_ms.len()
                ),
            )
            .of(row.kind)
            .under(&conditions),
        );
        out.push(
            TargetResult::new(
                "rebuffering events with Watch viewers, more than alone",
                None,
                "events",
                f64::from(row.rebuffers_watched) - f64::from(row.rebuffers_alone),
                Comparison::AtMost,
                0.0,
                format!(
                    "{} events ({:.1} s) with viewers, {} ({:.1} s) alone",
                    row.rebuffers_watched,
                    row.stall_watched_ms / 1e3,
                    row.rebuffers_alone,
                    row.stall_alone_ms / 1e3
                ),
            )
            .of(row.kind)
            .under(&conditions),
        );
        out.push(
            all_measured(
                "twin sessions measured beside Watch viewers",
                row.startup_watched_ms.len().min(row.startup_alone_ms.len()),
                cfg.samples,
                format!(
                    "{} sessions started alone, {} with viewers, of {}",
                    row.startup_alone_ms.len(),
                    row.startup_watched_ms.len(),
                    cfg.samples
                ),
            )
            .of(row.kind)
            .under(&conditions),
        );
    }
    out
}

/// The redundancy step's targets (see [`super::redundancy_bench`]).
fn redundancy_targets(
    cfg: &super::redundancy_bench::RedundancyBenchConfig,
    r: &super::redundancy_bench::RestoreRow,
    hot: &[super::redundancy_bench::HotStartupRow],
) -> Vec<TargetResult> {
    let cluster = "embedded cluster, 3 nodes (100 / 40 / 15 Mbit/s)".to_string();
    let mut out = vec![
        TargetResult::new(
            "time to restore target RF (1 of 3 nodes lost)",
            None,
            "s",
            r.restore_ms / 1e3,
            Comparison::AtMost,
            60.0,
            format!(
                "{} lost for good; {} of {} chunks under-replicated when declared lost; {} hash-verified copies, {:.1} MB moved",
                r.node_lost,
                r.under_replicated_at_loss,
                r.chunks,
                r.copies,
                r.bytes_moved as f64 / 1e6
            ),
        )
        .under(&format!(
            "{cluster}, {} s 5 Mbit/s video, repair cap {} Mbit/s",
            cfg.restore_video_s, cfg.repair_cap_mbps
        )),
        TargetResult::new(
            "repair read rate, share of the cap",
            None,
            "%",
            r.share_of_cap_pct,
            Comparison::AtMost,
            105.0,
            format!(
                "{:.1} Mbit/s over the restore against a {} Mbit/s cap (token bucket, 50 ms burst); the sources' emulated links bound it too",
                r.repair_mbps, r.cap_mbps
            ),
        )
        .under(&format!("{cluster}, repair cap {} Mbit/s", cfg.repair_cap_mbps)),
    ];
    if let [adaptive, fixed] = hot {
        let hot_conditions = format!(
            "4 nodes ({} / 100 / 100 / 100 Mbit/s), {} s {} kbit/s video in 2 s chunks, ×{}",
            cfg.slow_node_mbps, cfg.hot_video_s, cfg.hot_bitrate_kbps, cfg.speed
        );
        for row in [adaptive, fixed] {
            out.push(
                all_measured(
                    &format!("hot-video sessions started ({})", row.policy),
                    row.started,
                    row.clients,
                    format!("{} of {} sessions started", row.started, row.clients),
                )
                .of(ClientKind::Smart)
                .under(&hot_conditions),
            );
        }
        // The comparison below means something only if adaptive redundancy
        // acted: the hot chunks must have had more copies.
        out.push(
            TargetResult::new(
                "copies per chunk of the hot video, adaptive RF over fixed RF 2",
                None,
                "replicas",
                adaptive.mean_replicas,
                Comparison::Above,
                fixed.mean_replicas,
                format!(
                    "mean replicas per chunk when the measured wave started: adaptive {:.2}, fixed {:.2}",
                    adaptive.mean_replicas, fixed.mean_replicas
                ),
            )
            .under(&hot_conditions),
        );
        out.push(
            TargetResult::new(
                "startup p95 on a hot video, adaptive RF vs fixed RF 2",
                None,
                "ms",
                adaptive.startup_p95_ms,
                Comparison::AtMost,
                (fixed.startup_p95_ms * 100.0).round() / 100.0,
                format!(
                    "{} concurrent smart clients after a warm-up wave (every session counted; one that never started is infinite): adaptive {} started, p50 {:.0} / p95 {:.0} ms on {:.2} replicas per chunk; fixed RF 2 {} started, p50 {:.0} / p95 {:.0} ms on {:.2}; rebuffers {} / {}",
                    adaptive.clients,
                    adaptive.started,
                    adaptive.startup_p50_ms,
                    adaptive.startup_p95_ms,
                    adaptive.mean_replicas,
                    fixed.started,
                    fixed.startup_p50_ms,
                    fixed.startup_p95_ms,
                    fixed.mean_replicas,
                    adaptive.rebuffers,
                    fixed.rebuffers
                ),
            )
            .of(ClientKind::Smart)
            .under(&hot_conditions),
        );
    }
    out
}

/// Runs the dashboards step and adds its targets to `results`.
async fn dashboards_step(
    cfg: &BenchConfig,
    mp: &MultiProgress,
    results: &mut Vec<TargetResult>,
) -> anyhow::Result<super::ws_load::WsLoadReport> {
    let pb = bar(mp, "dashboards", cfg.dashboards.subscribers.iter().sum());
    let report = super::ws_load::run(&cfg.dashboards, &pb)
        .await
        .context("dashboards")?;
    results.extend(dashboards_targets(&cfg.dashboards, &report));
    pb.finish();
    Ok(report)
}

/// The dashboards step's targets, judged on its rows (see
/// [`super::ws_load`]).
fn dashboards_targets(
    cfg: &super::ws_load::WsLoadConfig,
    report: &super::ws_load::WsLoadReport,
) -> Vec<TargetResult> {
    let (rows, sl) = (&report.rows, &report.slowloris);
    let conditions = format!(
        "vstack serve --no-engine (heartbeat every 1 s), idle /ws subscribers {:?}, each from its own loopback address",
        cfg.subscribers
    );
    let mut results = Vec::new();
    for r in rows {
        results.push(
            all_measured(
                "dashboards opened",
                r.opened,
                r.subscribers,
                format!("{} of {} subscribers opened", r.opened, r.subscribers),
            )
            .under(&conditions),
        );
    }
    if let Some(big) = rows.iter().max_by_key(|r| r.subscribers) {
        let detail = rows
            .iter()
            .map(|r| {
                format!(
                    "{} asked, {} open in {:.1} s: RSS {:.0} → {:.0} → {:.0} MiB, {:.1} KiB each, {:.0} % returned ({} still counted), heartbeat p50 {:.1} / p99 {:.1} ms over {} frames",
                    r.subscribers,
                    r.opened,
                    r.open_s,
                    r.rss_before_mib,
                    r.rss_during_mib,
                    r.rss_after_mib,
                    r.kib_per_subscriber,
                    r.returned_pct,
                    r.connected_after,
                    r.heartbeat_p50_ms,
                    r.heartbeat_p99_ms,
                    r.heartbeats
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        results.push(
            TargetResult::new(
                "memory per idle dashboard",
                None,
                "KiB",
                big.kib_per_subscriber,
                Comparison::AtMost,
                64.0,
                detail.clone(),
            )
            .under(&conditions),
        );
        results.push(
            TargetResult::new(
                "memory returned after dashboards leave",
                None,
                "%",
                big.returned_pct,
                Comparison::AtLeast,
                80.0,
                detail.clone(),
            )
            .under(&conditions),
        );
        results.push(
            TargetResult::new(
                "heartbeat delay p99",
                None,
                "ms",
                big.heartbeat_p99_ms,
                Comparison::AtMost,
                100.0,
                detail,
            )
            .under(&conditions),
        );
    }
    results.push(
        TargetResult::new(
            "first frame beside slowloris",
            None,
            "ms",
            sl.first_frame_loaded_ms - sl.first_frame_ms,
            Comparison::AtMost,
            100.0,
            format!(
                "a new dashboard's connect → first frame: {:.1} ms alone, {:.1} ms beside {} slowloris connections (median of 5 each)",
                sl.first_frame_ms, sl.first_frame_loaded_ms, sl.connections
            ),
        )
        .under("vstack serve --no-engine, slowloris connections trickling a header byte every 200 ms"),
    );
    results.extend(idle_socket_targets(&report.idle_sockets));
    results
}

/// Targets of the idle-socket attack (issue 22): a new dashboard from
/// another address is served as fast (within 100 ms of the median without
/// the attack), the attacker's address keeps at most its allowance and none
/// after the header-read timeout, and the server's memory comes back.
fn idle_socket_targets(r: &super::ws_load::IdleSocketsRow) -> Vec<TargetResult> {
    use super::ws_load::{HEADER_READ_TIMEOUT_S, PER_ADDRESS_CAP};
    let conditions = format!(
        "vstack serve --no-engine with --max-connections-per-ip {PER_ADDRESS_CAP} and a {HEADER_READ_TIMEOUT_S} s header-read timeout; one address opens {} sockets ({} stop mid-way through an HTTP/2 preface, the rest send nothing)",
        r.opened, r.mid_preface
    );
    let detail = format!(
        "server held {} of {} sockets after 1 s and {} after the header timeout; new dashboard's first frame {:.1} ms alone, {:.1} ms beside them; RSS {:.0} → {:.0} → {:.0} MiB",
        r.held_by_server,
        r.opened,
        r.held_after_timeout,
        r.first_frame_ms,
        r.first_frame_loaded_ms,
        r.rss_before_mib,
        r.rss_during_mib,
        r.rss_after_mib
    );
    // An attack that opened nothing measured nothing: the targets fail.
    let measured = |v: f64| if r.opened == 0 { f64::NAN } else { v };
    vec![
        TargetResult::new(
            "first frame beside idle sockets",
            None,
            "ms",
            measured(r.first_frame_loaded_ms - r.first_frame_ms),
            Comparison::AtMost,
            100.0,
            detail.clone(),
        )
        .under(&conditions),
        TargetResult::new(
            "idle sockets one address holds",
            None,
            "connections",
            measured(r.held_by_server as f64),
            Comparison::AtMost,
            PER_ADDRESS_CAP as f64,
            detail.clone(),
        )
        .under(&conditions),
        TargetResult::new(
            "idle sockets held after the header-read timeout",
            None,
            "connections",
            measured(r.held_after_timeout as f64),
            Comparison::AtMost,
            0.0,
            detail.clone(),
        )
        .under(&conditions),
        TargetResult::new(
            "memory above the baseline after the idle sockets closed",
            None,
            "MiB",
            measured(r.rss_after_mib - r.rss_before_mib),
            Comparison::AtMost,
            8.0,
            detail,
        )
        .under(&conditions),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_that_measured_nothing_or_less_than_asked_fails() {
        // Failover: one unmeasured repetition fails the target.
        assert_eq!(worst_failover_s(&[900.0, 1200.0], 0), 1.2);
        assert!(worst_failover_s(&[900.0], 1).is_infinite());
        assert!(worst_failover_s(&[], 0).is_infinite());
        // Load: a failed session fails the completion target.
        let t = sessions_completed(ClientKind::Smart, 4, &["connection refused".into()], "c");
        assert!(!t.passed, "{t:?}");
        assert!(t.detail.contains("3 of 4") && t.detail.contains("refused"));
        assert!(sessions_completed(ClientKind::Smart, 4, &[], "c").passed);
        // Dashboards: fewer opened than asked fails, and nothing opened
        // measures no memory returned.
        let row = super::super::ws_load::WsLoadRow {
            subscribers: 1000,
            opened: 0,
            open_s: 0.0,
            heartbeats: 0,
            heartbeat_p50_ms: f64::NAN,
            heartbeat_p99_ms: f64::NAN,
            rss_before_mib: 40.0,
            rss_during_mib: 40.0,
            rss_after_mib: 40.0,
            connected_after: 0,
            kib_per_subscriber: 0.0,
            returned_pct: f64::NAN,
        };
        let idle = super::super::ws_load::IdleSocketsRow {
            opened: 0,
            mid_preface: 0,
            held_by_server: 0,
            held_after_timeout: 0,
            first_frame_ms: 2.0,
            first_frame_loaded_ms: 2.0,
            rss_before_mib: 40.0,
            rss_during_mib: 40.0,
            rss_after_mib: 40.0,
        };
        let report = super::super::ws_load::WsLoadReport {
            rows: vec![row],
            slowloris: super::super::ws_load::SlowlorisRow {
                connections: 10,
                first_frame_ms: 2.0,
                first_frame_loaded_ms: 2.0,
            },
            idle_sockets: idle,
        };
        let cfg = super::super::ws_load::WsLoadConfig {
            subscribers: vec![1000],
            slowloris: 10,
            idle_sockets: 10,
        };
        let results = dashboards_targets(&cfg, &report);
        for name in [
            "dashboards opened",
            "memory returned after dashboards leave",
            "first frame beside idle sockets",
            "idle sockets held after the header-read timeout",
        ] {
            let r = results.iter().find(|r| r.name == name).unwrap();
            assert!(
                !r.passed,
                "{name} passed on a run that measured nothing: {r:?}"
            );
        }
    }

    #[test]
    fn the_hot_video_target_needs_copies_and_every_session() {
        let row =
            |policy: &str, started, p95, replicas| super::super::redundancy_bench::HotStartupRow {
                policy: policy.into(),
                clients: 20,
                started,
                startup_p50_ms: 1000.0,
                startup_p95_ms: p95,
                mean_replicas: replicas,
                rebuffers: 0,
            };
        let cfg = super::super::redundancy_bench::RedundancyBenchConfig::quick();
        let restore = super::super::redundancy_bench::RestoreRow {
            node_lost: "node-3".into(),
            chunks: 10,
            under_replicated_at_loss: 5,
            restore_ms: 1000.0,
            bytes_moved: 1,
            copies: 5,
            repair_mbps: 10.0,
            cap_mbps: 40.0,
            share_of_cap_pct: 25.0,
        };
        let judge = |hot: &[super::super::redundancy_bench::HotStartupRow], name: &str| {
            redundancy_targets(&cfg, &restore, hot)
                .into_iter()
                .find(|r| r.name.starts_with(name))
                .unwrap()
                .passed
        };
        // A tie where adaptive redundancy added nothing does not pass.
        let tie = [
            row("adaptive", 20, 2000.0, 2.0),
            row("fixed RF 2", 20, 2000.0, 2.0),
        ];
        assert!(judge(&tie, "startup p95"), "the p95 comparison alone ties");
        assert!(!judge(&tie, "copies per chunk"), "but no copies were added");
        // A session that never started fails its policy's target.
        let missing = [
            row("adaptive", 19, f64::INFINITY, 4.0),
            row("fixed RF 2", 20, 2000.0, 2.0),
        ];
        assert!(!judge(&missing, "hot-video sessions started (adaptive)"));
        assert!(!judge(&missing, "startup p95"));
    }

    #[test]
    fn comparisons_and_percentiles() {
        assert!(Comparison::Below.check(1.9, 2.0) && !Comparison::Below.check(2.0, 2.0));
        assert!(Comparison::AtMost.check(1.0, 1.0) && !Comparison::AtMost.check(1.1, 1.0));
        assert!(Comparison::Above.check(20.1, 20.0) && !Comparison::Above.check(20.0, 20.0));
        assert!(Comparison::AtLeast.check(10.0, 10.0) && !Comparison::AtLeast.check(9.0, 10.0));
        let r = TargetResult::new(
            "x",
            None,
            "s",
            f64::NAN,
            Comparison::Below,
            1.0,
            String::new(),
        );
        assert!(!r.passed, "an unmeasured value never passes");
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.95), 95.0);
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert!(percentile(&[], 0.5).is_nan());
    }

    #[test]
    fn watchers_targets_judge_medians_extra_stalls_and_served_viewers() {
        use super::super::watch_bench::{
            WatchBenchConfig, WatchIsolationReport, WatchIsolationRow,
        };
        let row = |kind, alone: [f64; 3], watched: [f64; 3], extra: u32| WatchIsolationRow {
            kind,
            startup_alone_ms: alone.to_vec(),
            startup_watched_ms: watched.to_vec(),
            rebuffers_alone: 1,
            rebuffers_watched: 1 + extra,
            stall_alone_ms: 500.0,
            stall_watched_ms: 500.0,
        };
        let report = |served, rows| WatchIsolationReport {
            rows,
            watchers_served: served,
            watchers: 20,
            chunks_pulled: 100,
            watchers_mbps: 500.0,
            failed_requests: 0,
        };
        let cfg = WatchBenchConfig::quick();
        let passed = |r: &WatchIsolationReport| -> Vec<bool> {
            watchers_targets(&cfg, r).iter().map(|t| t.passed).collect()
        };
        // Medians 1000 → 1090 ms (+9 %): within 10 %; an outlier of one
        // session does not move a median.
        let ok = report(
            20,
            vec![
                row(
                    ClientKind::Smart,
                    [1000.0, 900.0, 1100.0],
                    [1090.0, 5000.0, 950.0],
                    0,
                ),
                row(
                    ClientKind::Naive,
                    [400.0, 420.0, 410.0],
                    [455.0, 450.0, 440.0],
                    0,
                ),
            ],
        );
        assert!(passed(&ok).iter().all(|p| *p), "{:?}", passed(&ok));
        // +15 % on 1000 ms fails; 40 ms on 410 ms passes (under 50 ms);
        // one more rebuffer fails; 19 of 20 viewers served fails.
        let bad = report(
            19,
            vec![
                row(
                    ClientKind::Smart,
                    [1000.0, 1000.0, 1000.0],
                    [1150.0, 1150.0, 1150.0],
                    0,
                ),
                row(
                    ClientKind::Naive,
                    [410.0, 410.0, 410.0],
                    [450.0, 450.0, 450.0],
                    1,
                ),
            ],
        );
        // Order: served, then per twin startup, rebuffers, sessions measured.
        assert_eq!(
            passed(&bad),
            vec![false, false, true, true, true, false, true]
        );
    }

    #[test]
    fn machine_facts_are_read() {
        let m = Machine::current();
        assert!(m.cpus >= 1);
        assert!(!m.os.is_empty() && !m.arch.is_empty());
    }
}
