//! `vstack chaos`: seeded random failure injection on the embedded cluster while
//! live clients play, with the invariants checked and reported.
//!
//! A [`schedule`] drawn from the seed places one failure at a time on a random
//! node: a kill (and restart on the same port and data), a latency spike
//! (+400 ms), loss (30 % of transfers cut), a slow disk (+500 ms per read), a
//! network partition (requests hang and heartbeats stop until it heals) or
//! memory pressure (a ballast of `--memory-mib` touched pages held for the
//! failure; the embedded nodes share one process, so the pressure is on that
//! process). Each failure holds for 3–8 s of media time and heals before the
//! next. The same seed gives the same schedule, so a failing run can be
//! replayed with `--seed`.
//!
//! Each client (alternately smart and naive) plays the video (`--video-s`, 4 s
//! chunks) in sessions back to back until the injection window ends, so
//! start-ups and refills keep meeting failures.
//!
//! Invariants, checked while the clients play and at the end:
//! - **playback continues or resumes**: every session plays to the end; the
//!   last one within a deadline after the last failure (twice the video's
//!   length plus a minute);
//! - **every chunk is played once and in order, with a verified hash**: each
//!   chunk is accepted exactly once (the live client only accepts a download
//!   whose SHA-256 matches the manifest) and the playhead never moves back nor
//!   past the contiguous downloaded prefix ([`PlaybackChecker`]);
//! - **no stored chunk is lost or corrupted**: after the run every replica on
//!   every node is read back and hashed;
//! - **no panic** anywhere in the process (a panic hook counts them).
//!
//! Reported per failure: the failover time of each client that hit it — from
//! the injection (or the failed request's start, if later) to the delivery of
//! that chunk from another replica.

use std::{
    sync::{
        Arc, Mutex, Once,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::Context;
use clap::{Args, ValueEnum};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokio::{
    sync::{broadcast, watch},
    time::Instant,
};

use crate::{
    client::{self, ClientKind, ClientNotice, ClientStatus, LiveConfig, fetch_view},
    cluster::{
        embedded::{Cluster, ClusterConfig, SyntheticVideo},
        emulator::Conditions,
        sha256_hex,
    },
    engine::Notice,
};

/// A kind of failure `vstack chaos` injects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The node is killed (listener closed, transfers reset, heartbeats
    /// stopped) and restarted on the same port and data when the failure heals.
    Kill,
    /// +400 ms on the node's latency.
    LatencySpike,
    /// 30 % of the node's transfers are cut.
    Loss,
    /// +500 ms before every chunk read (slow disk).
    SlowDisk,
    /// The node is partitioned: requests hang, heartbeats stop.
    Partition,
    /// A ballast of `--memory-mib` touched pages held in the process.
    MemoryPressure,
}

impl FailureKind {
    /// Every kind.
    pub const ALL: [FailureKind; 6] = [
        FailureKind::Kill,
        FailureKind::LatencySpike,
        FailureKind::Loss,
        FailureKind::SlowDisk,
        FailureKind::Partition,
        FailureKind::MemoryPressure,
    ];

    /// snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Kill => "kill",
            FailureKind::LatencySpike => "latency_spike",
            FailureKind::Loss => "loss",
            FailureKind::SlowDisk => "slow_disk",
            FailureKind::Partition => "partition",
            FailureKind::MemoryPressure => "memory_pressure",
        }
    }

    /// Whether requests to the node fail while it holds (so clients fail over).
    fn breaks_requests(self) -> bool {
        matches!(
            self,
            FailureKind::Kill | FailureKind::Loss | FailureKind::Partition
        )
    }
}

/// Options of `vstack chaos`.
#[derive(Debug, Clone, Args)]
pub struct ChaosArgs {
    /// Media seconds of failure injection.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(10..=86_400))]
    pub duration_s: u64,
    /// Length of the synthetic video (4 s chunks, 5 Mbit/s), s. Clients play
    /// it back to back while failures are injected.
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u64).range(8..=86_400))]
    pub video_s: u64,
    /// Time compression factor.
    #[arg(long, default_value_t = 10.0, value_parser = crate::config::parse_speed)]
    pub speed: f64,
    /// Seed of the failure schedule and the emulators. Default: a random seed,
    /// printed so the run can be replayed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Live clients playing during the run, alternately smart and naive.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub clients: u64,
    /// Longest media-time gap between a failure's end and the next one, s
    /// (the gap is drawn in [1, gap]).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub gap_s: u64,
    /// Failure kinds to draw from, comma-separated. Default: all.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub kinds: Vec<FailureKind>,
    /// Ballast of a memory-pressure failure, MiB.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub memory_mib: u64,
    /// Self-test of the checks: flip one byte of one stored replica (the first
    /// chunk on node-1) on disk before the clients start. Clients must fail
    /// over on the hash mismatch, and the run must fail on the corrupted replica.
    #[arg(long)]
    pub corrupt_replica: bool,
    /// Print the report as JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// One scheduled failure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// Injection time, media seconds from the start of the run.
    pub at_s: f64,
    /// How long it holds, media seconds.
    pub hold_s: f64,
    /// Node index (0-based; `node-{i+1}`).
    pub node: usize,
    /// What fails.
    pub kind: FailureKind,
}

/// The failure schedule of `seed`: the first failure at 5 s (playback has
/// started), then one at a time, each holding 3–8 s and followed by a gap of
/// 1–`gap_s` s, until `duration_s`. Nodes and kinds are uniform.
pub fn schedule(
    seed: u64,
    duration_s: f64,
    nodes: usize,
    kinds: &[FailureKind],
    gap_s: f64,
) -> Vec<Failure> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::new();
    let mut t = 5.0;
    if nodes == 0 || kinds.is_empty() {
        return out;
    }
    loop {
        let hold_s = rng.random_range(3.0..=8.0);
        if t + hold_s > duration_s {
            break;
        }
        out.push(Failure {
            at_s: t,
            hold_s,
            node: rng.random_range(0..nodes),
            kind: kinds[rng.random_range(0..kinds.len())],
        });
        t += hold_s + rng.random_range(1.0..=gap_s.max(1.0));
    }
    out
}

/// Checks one client's playback invariants from its notices and statuses:
/// every chunk accepted exactly once, the playhead never moving back nor past
/// the contiguous prefix of accepted chunks.
#[derive(Clone, Debug)]
pub struct PlaybackChecker {
    durations_s: Vec<f64>,
    downloaded: Vec<bool>,
    contiguous: usize,
    contiguous_end_s: f64,
    last_playhead_s: f64,
    /// Broken invariants seen so far.
    pub violations: Vec<String>,
}

impl PlaybackChecker {
    /// A checker for a video with these chunk durations (s).
    pub fn new(durations_s: Vec<f64>) -> Self {
        Self {
            downloaded: vec![false; durations_s.len()],
            durations_s,
            contiguous: 0,
            contiguous_end_s: 0.0,
            last_playhead_s: 0.0,
            violations: Vec::new(),
        }
    }

    /// A chunk was accepted (downloaded with a verified hash).
    pub fn on_downloaded(&mut self, chunk: u32) {
        let i = chunk as usize;
        let Some(d) = self.downloaded.get_mut(i) else {
            self.violations.push(format!(
                "chunk {chunk} accepted but the video has no such chunk"
            ));
            return;
        };
        if *d {
            self.violations
                .push(format!("chunk {chunk} accepted twice"));
            return;
        }
        *d = true;
        while self.contiguous < self.downloaded.len() && self.downloaded[self.contiguous] {
            self.contiguous_end_s += self.durations_s[self.contiguous];
            self.contiguous += 1;
        }
    }

    /// A status with the playhead at `playhead_s`.
    pub fn on_playhead(&mut self, playhead_s: f64) {
        const EPS: f64 = 1e-6;
        if playhead_s + EPS < self.last_playhead_s {
            self.violations.push(format!(
                "playhead moved back from {:.3} s to {playhead_s:.3} s",
                self.last_playhead_s
            ));
        }
        if playhead_s > self.contiguous_end_s + EPS {
            self.violations.push(format!(
                "playhead at {playhead_s:.3} s past the downloaded prefix (chunk {} missing, {:.3} s)",
                self.contiguous, self.contiguous_end_s
            ));
        }
        self.last_playhead_s = self.last_playhead_s.max(playhead_s);
    }

    /// The end of the session: every chunk must have been accepted and, if
    /// `ended`, played.
    pub fn finish(&mut self, ended: bool) {
        let missing: Vec<usize> = (0..self.downloaded.len())
            .filter(|i| !self.downloaded[*i])
            .collect();
        if !missing.is_empty() {
            self.violations.push(format!(
                "{} chunk(s) never accepted, first {}",
                missing.len(),
                missing[0]
            ));
        }
        let total: f64 = self.durations_s.iter().sum();
        if ended && (self.last_playhead_s - total).abs() > 1e-3 {
            self.violations.push(format!(
                "ended with the playhead at {:.3} s of {total:.3} s",
                self.last_playhead_s
            ));
        }
    }

    /// Chunks accepted so far.
    pub fn accepted(&self) -> usize {
        self.downloaded.iter().filter(|d| **d).count()
    }
}

/// One failure's outcome.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FailureOutcome {
    /// The failure.
    #[serde(flatten)]
    pub failure: Failure,
    /// Per client (in client order): failover time, ms, when a request of that
    /// client failed on the node during the failure; `None` when none did.
    pub failover_ms: Vec<Option<f64>>,
    /// Memory pressure only: the process's resident set grew by this, MiB.
    pub rss_growth_mib: Option<f64>,
}

/// One client's outcome over its sessions.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClientOutcome {
    /// `smart-1`, `naive-2`, …
    pub name: String,
    /// Sessions played (back to back while failures were injected).
    pub sessions: u64,
    /// Sessions that played to the end.
    pub ended: u64,
    /// Chunks accepted / chunks of the sessions' videos.
    pub chunks: (usize, usize),
    /// Rebuffering events.
    pub rebuffers: u32,
    /// Stall time, ms.
    pub stall_ms: f64,
    /// Failed attempts.
    pub failovers: u64,
    /// Mean startup latency, ms.
    pub startup_ms_mean: Option<f64>,
}

/// The whole run (`--json` output).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChaosReport {
    /// Seed (replay with `--seed`).
    pub seed: u64,
    /// Media seconds of injection.
    pub duration_s: u64,
    /// Time compression.
    pub speed: f64,
    /// Failures in order.
    pub failures: Vec<FailureOutcome>,
    /// Clients.
    pub clients: Vec<ClientOutcome>,
    /// Replicas read back and hashed after the run.
    pub replicas_verified: usize,
    /// Panics in the process during the run.
    pub panics: u64,
    /// Broken invariants; empty when the run passed.
    pub violations: Vec<String>,
}

static PANICS: AtomicU64 = AtomicU64::new(0);

/// Installs (once) a panic hook that counts panics and then runs the previous hook.
fn count_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            prev(info);
        }));
    });
}

type Log = Arc<Mutex<Vec<(f64, ClientNotice)>>>;

/// Watches one client: drains its notices before each status (the driver sends
/// a turn's notices before its status), feeds the checker and logs notices
/// with their media time.
async fn watch_client(
    mut status: watch::Receiver<Option<ClientStatus>>,
    mut notices: broadcast::Receiver<ClientNotice>,
    mut checker: PlaybackChecker,
    log: Log,
    t0: Instant,
    speed: f64,
) -> (PlaybackChecker, Option<ClientStatus>) {
    let mut last = None;
    loop {
        let changed = status.changed().await;
        loop {
            match notices.try_recv() {
                Ok(n) => {
                    if let Notice::ChunkDownloaded { chunk, .. } = n.notice {
                        checker.on_downloaded(chunk);
                    }
                    let t = t0.elapsed().as_secs_f64() * speed;
                    log.lock().unwrap_or_else(|e| e.into_inner()).push((t, n));
                }
                Err(broadcast::error::TryRecvError::Lagged(k)) => checker
                    .violations
                    .push(format!("observer lagged by {k} notices: cannot check them")),
                Err(_) => break,
            }
        }
        if changed.is_err() {
            break;
        }
        if let Some(s) = status.borrow_and_update().clone() {
            checker.on_playhead(s.playhead_s);
            last = Some(s);
        }
    }
    (checker, last)
}

struct ClientRun {
    outcome: ClientOutcome,
    violations: Vec<String>,
}

/// Plays sessions back to back until `until_s` (media time since `t0`), each
/// watched by its own [`PlaybackChecker`]; the last session plays to its end
/// (or until `stop`).
#[allow(clippy::too_many_arguments)]
async fn client_loop(
    http: reqwest::Client,
    view: client::ClusterView,
    config: LiveConfig,
    durations: Vec<f64>,
    log: Log,
    t0: Instant,
    until_s: f64,
    stop: watch::Receiver<bool>,
) -> ClientRun {
    let speed = config.speed;
    let mut out = ClientOutcome {
        name: String::new(),
        sessions: 0,
        ended: 0,
        chunks: (0, 0),
        rebuffers: 0,
        stall_ms: 0.0,
        failovers: 0,
        startup_ms_mean: None,
    };
    let mut startups = Vec::new();
    let mut violations = Vec::new();
    loop {
        let (tx, rx) = watch::channel(None);
        let (ntx, nrx) = broadcast::channel(1 << 14);
        let watcher = tokio::spawn(watch_client(
            rx,
            nrx,
            PlaybackChecker::new(durations.clone()),
            log.clone(),
            t0,
            speed,
        ));
        let result = client::play(
            http.clone(),
            view.clone(),
            config.clone(),
            tx,
            ntx,
            stop.clone(),
        )
        .await;
        out.sessions += 1;
        let k = out.sessions;
        let (mut checker, last) = match watcher.await {
            Ok(w) => w,
            Err(e) => {
                violations.push(format!("session {k}: watcher failed: {e}"));
                break;
            }
        };
        let ended = matches!(result, Ok(ref q) if q.ended);
        match &result {
            Ok(_) => {}
            Err(client::ClientError::Stopped) => {}
            Err(e) => violations.push(format!("session {k}: playback error: {e}")),
        }
        checker.finish(ended);
        violations.extend(
            checker
                .violations
                .iter()
                .map(|v| format!("session {k}: {v}")),
        );
        out.ended += u64::from(ended);
        out.chunks.0 += checker.accepted();
        out.chunks.1 += durations.len();
        if let Some(q) = last.map(|s| s.qoe) {
            out.rebuffers += q.rebuffer_count;
            out.stall_ms += q.rebuffer_time_ms;
            out.failovers += q.failovers;
            startups.extend(q.startup_latency_ms);
        }
        if !ended || t0.elapsed().as_secs_f64() * speed >= until_s {
            break;
        }
    }
    out.startup_ms_mean =
        (!startups.is_empty()).then(|| startups.iter().sum::<f64>() / startups.len() as f64);
    ClientRun {
        outcome: out,
        violations,
    }
}

/// Failover time of one client for one failure on `node_id` injected at
/// `from_s`, ms: the first attempt on that node that failed between `from_s`
/// and `to_s` (log times are media seconds), from the injection or that
/// attempt's start (whichever is later) to the delivery of its chunk from
/// anywhere. `None` when no attempt on the node failed in the window or the
/// chunk has not arrived yet.
pub fn failover_time_ms(
    log: &[(f64, ClientNotice)],
    node_id: &str,
    from_s: f64,
    to_s: f64,
) -> Option<f64> {
    let (t_fail, chunk, started) = log.iter().find_map(|(t, n)| match &n.notice {
        Notice::Failover {
            chunk, attempt_ms, ..
        } if *t >= from_s && *t <= to_s && n.node_id.as_deref() == Some(node_id) => {
            Some((*t, *chunk, t - attempt_ms / 1e3))
        }
        _ => None,
    })?;
    let delivered = log.iter().find_map(|(t, n)| match &n.notice {
        Notice::ChunkDownloaded { chunk: c, .. } if *c == chunk && *t >= t_fail => Some(*t),
        _ => None,
    })?;
    Some((delivered - started.max(from_s)) * 1e3)
}

fn rss_mib() -> Option<f64> {
    memory_stats::memory_stats().map(|m| m.physical_mem as f64 / (1 << 20) as f64)
}

/// Runs `vstack chaos` and returns its report (the CLI prints it).
///
/// # Errors
/// When the cluster cannot start or the video cannot be fetched. Broken
/// invariants are not errors here: they are in [`ChaosReport::violations`].
pub async fn execute(args: &ChaosArgs, seed: u64) -> anyhow::Result<ChaosReport> {
    count_panics();
    let panics_before = PANICS.load(Ordering::SeqCst);
    let speed = args.speed;
    let kinds = if args.kinds.is_empty() {
        FailureKind::ALL.to_vec()
    } else {
        args.kinds.clone()
    };
    let video_s = args.video_s;
    let mut cluster = Cluster::start(ClusterConfig {
        speed,
        seed,
        video: Some(SyntheticVideo {
            duration: Duration::from_secs(video_s),
            chunk_duration: Duration::from_secs(4),
            ..SyntheticVideo::default()
        }),
        ..ClusterConfig::default()
    })
    .await
    .context("embedded cluster")?;
    let plan = schedule(
        seed,
        args.duration_s as f64,
        cluster.nodes().len(),
        &kinds,
        args.gap_s as f64,
    );
    let http = reqwest::Client::new();
    let view = fetch_view(&http, &cluster.metadata_url(), "test-video-001").await?;
    let manifest = view.manifest.clone();
    let durations: Vec<f64> = manifest
        .chunks
        .iter()
        .map(|c| c.duration_ms as f64 / 1e3)
        .collect();
    if args.corrupt_replica {
        let n = &cluster.nodes()[0];
        let c = manifest
            .chunks
            .iter()
            .find(|c| c.replicas.contains(&n.node_id))
            .context("node-1 holds no replica")?;
        let path = n.data_dir.join(format!("{}.chunk", c.chunk_id));
        let mut bytes = std::fs::read(&path).with_context(|| format!("{}", path.display()))?;
        bytes[0] ^= 0xff;
        std::fs::write(&path, bytes).with_context(|| format!("{}", path.display()))?;
        if !args.json {
            println!("  self-test: flipped a byte of {} on node-1", c.chunk_id);
        }
    }
    let t0 = Instant::now();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut clients = Vec::new();
    for i in 0..args.clients as usize {
        let kind = if i % 2 == 0 {
            ClientKind::Smart
        } else {
            ClientKind::Naive
        };
        let log: Log = Arc::default();
        let task = tokio::spawn(client_loop(
            http.clone(),
            view.clone(),
            LiveConfig {
                kind,
                speed,
                ..LiveConfig::default()
            },
            durations.clone(),
            log.clone(),
            t0,
            args.duration_s as f64,
            stop_rx.clone(),
        ));
        clients.push((format!("{}-{}", kind.name(), i + 1), task, log));
    }
    let at = |s: f64| t0 + Duration::from_secs_f64(s / speed);
    let mut outcomes = Vec::new();
    for f in &plan {
        tokio::time::sleep_until(at(f.at_s)).await;
        let node_id = cluster.nodes()[f.node].node_id.clone();
        let base = cluster.nodes()[f.node].emulator().base();
        let mut ballast: Option<Vec<u8>> = None;
        let mut rss_growth_mib = None;
        match f.kind {
            FailureKind::Kill => cluster.kill_node(f.node),
            FailureKind::LatencySpike => {
                let c = Conditions {
                    latency_ms: base.latency_ms + 400.0,
                    ..base.clone()
                };
                cluster
                    .set_conditions(f.node, c)
                    .map_err(anyhow::Error::msg)?;
            }
            FailureKind::Loss => {
                let c = Conditions {
                    loss: 0.3,
                    ..base.clone()
                };
                cluster
                    .set_conditions(f.node, c)
                    .map_err(anyhow::Error::msg)?;
            }
            FailureKind::SlowDisk => {
                let c = Conditions {
                    disk_delay_ms: base.disk_delay_ms + 500.0,
                    ..base.clone()
                };
                cluster
                    .set_conditions(f.node, c)
                    .map_err(anyhow::Error::msg)?;
            }
            FailureKind::Partition => {
                let c = Conditions {
                    partitioned: true,
                    ..base.clone()
                };
                cluster
                    .set_conditions(f.node, c)
                    .map_err(anyhow::Error::msg)?;
            }
            FailureKind::MemoryPressure => {
                let before = rss_mib();
                let mut v = vec![0u8; (args.memory_mib as usize) << 20];
                for b in v.iter_mut().step_by(4096) {
                    *b = 1;
                }
                rss_growth_mib = before.zip(rss_mib()).map(|(a, b)| b - a);
                ballast = Some(v);
            }
        }
        if !args.json {
            println!(
                "  {:>7.1} s  {node_id}  {:<15} for {:.1} s",
                f.at_s,
                f.kind.name(),
                f.hold_s
            );
        }
        tokio::time::sleep_until(at(f.at_s + f.hold_s)).await;
        match f.kind {
            FailureKind::Kill => cluster
                .restart_node(f.node)
                .await
                .with_context(|| format!("restarting {node_id}"))?,
            FailureKind::MemoryPressure => drop(ballast.take()),
            _ => cluster
                .set_conditions(f.node, base)
                .map_err(anyhow::Error::msg)?,
        }
        outcomes.push((f.clone(), node_id, rss_growth_mib));
    }
    // Every failure healed: each client's session in progress must now play
    // to the end.
    let limit_s = (2 * video_s + 60) as f64;
    let deadline = Instant::now() + Duration::from_secs_f64(limit_s / speed);
    let mut violations = Vec::new();
    let mut client_outcomes = Vec::new();
    let mut logs = Vec::new();
    for (name, mut task, log) in clients {
        let joined = match tokio::time::timeout_at(deadline, &mut task).await {
            Ok(joined) => joined,
            Err(_) => {
                violations.push(format!(
                    "{name}: playback did not reach the end within {limit_s:.0} s of media time after the last failure"
                ));
                let _ = stop_tx.send(true);
                task.await
            }
        };
        match joined {
            Ok(c) => {
                violations.extend(c.violations.iter().map(|v| format!("{name}: {v}")));
                client_outcomes.push(ClientOutcome { name, ..c.outcome });
            }
            Err(e) => violations.push(format!("{name}: client task failed: {e}")),
        }
        logs.push(log);
    }
    // Stored chunks: every replica read back and hashed.
    let mut replicas_verified = 0;
    for n in cluster.nodes() {
        for c in &manifest.chunks {
            if !c.replicas.iter().any(|r| r == &n.node_id) {
                continue;
            }
            match n.storage().read(&c.chunk_id).await {
                Ok((_, bytes))
                    if bytes.len() as u64 == c.size_bytes && sha256_hex(&bytes) == c.sha256 =>
                {
                    replicas_verified += 1
                }
                Ok(_) => violations.push(format!(
                    "{}: replica of {} is corrupted",
                    n.node_id, c.chunk_id
                )),
                Err(e) => violations.push(format!(
                    "{}: replica of {} is lost: {}",
                    n.node_id, c.chunk_id, e.message
                )),
            }
        }
    }
    let panics = PANICS.load(Ordering::SeqCst) - panics_before;
    if panics > 0 {
        violations.push(format!("{panics} panic(s) during the run"));
    }
    let failures = outcomes
        .into_iter()
        .map(|(f, node_id, rss_growth_mib)| {
            let failover_ms = logs
                .iter()
                .map(|log| {
                    let log = log.lock().unwrap_or_else(|e| e.into_inner());
                    // Failed attempts are attributed to the failure while it
                    // holds and for 2 s after it heals (a timeout firing late).
                    failover_time_ms(&log, &node_id, f.at_s, f.at_s + f.hold_s + 2.0)
                })
                .collect();
            FailureOutcome {
                failure: f,
                failover_ms,
                rss_growth_mib,
            }
        })
        .collect();
    Ok(ChaosReport {
        seed,
        duration_s: args.duration_s,
        speed,
        failures,
        clients: client_outcomes,
        replicas_verified,
        panics,
        violations,
    })
}

fn print_report(r: &ChaosReport) {
    use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    let mut header = vec![
        "at (s)".to_string(),
        "node".into(),
        "failure".into(),
        "held (s)".into(),
    ];
    header.extend(r.clients.iter().map(|c| format!("failover {}", c.name)));
    t.set_header(header);
    for f in &r.failures {
        let mut row = vec![
            format!("{:.1}", f.failure.at_s),
            format!("node-{}", f.failure.node + 1),
            match f.rss_growth_mib {
                Some(g) => format!("{} (+{g:.0} MiB RSS)", f.failure.kind.name()),
                None => f.failure.kind.name().to_string(),
            },
            format!("{:.1}", f.failure.hold_s),
        ];
        row.extend(f.failover_ms.iter().map(|v| match v {
            Some(ms) => format!("{:.2} s", ms / 1e3),
            None if f.failure.kind.breaks_requests() => "not hit".into(),
            None => "—".into(),
        }));
        t.add_row(row);
    }
    println!(
        "\nFailures (failover: from the injection or the failed request's start to the chunk's delivery elsewhere)\n{t}"
    );
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header([
        "client",
        "sessions ended",
        "chunks",
        "mean startup",
        "rebuffers",
        "stalled",
        "failovers",
    ]);
    for c in &r.clients {
        t.add_row([
            c.name.clone(),
            format!("{}/{}", c.ended, c.sessions),
            format!("{}/{}", c.chunks.0, c.chunks.1),
            c.startup_ms_mean
                .map_or("—".into(), |ms| format!("{:.2} s", ms / 1e3)),
            c.rebuffers.to_string(),
            format!("{:.1} s", c.stall_ms / 1e3),
            c.failovers.to_string(),
        ]);
    }
    println!("\nClients\n{t}");
    let hits: Vec<f64> = r
        .failures
        .iter()
        .flat_map(|f| f.failover_ms.iter().flatten().copied())
        .collect();
    if let Some(max) = hits.iter().copied().reduce(f64::max) {
        println!(
            "\nfailover time over {} hits: mean {:.2} s, max {:.2} s",
            hits.len(),
            hits.iter().sum::<f64>() / hits.len() as f64 / 1e3,
            max / 1e3
        );
    }
    println!("\nInvariants");
    let ok = |b: bool| if b { "✓" } else { "✗" };
    let any = |pat: &str| r.violations.iter().any(|v| v.contains(pat));
    println!(
        "  {} playback continued or resumed to the end ({} of {} sessions)",
        ok(r.clients.iter().all(|c| c.ended == c.sessions)),
        r.clients.iter().map(|c| c.ended).sum::<u64>(),
        r.clients.iter().map(|c| c.sessions).sum::<u64>()
    );
    println!(
        "  {} every chunk played once, in order, hash verified",
        ok(!any("chunk") && !any("playhead") && !any("lagged"))
    );
    println!(
        "  {} stored replicas intact ({} read back and hashed)",
        ok(!any("replica")),
        r.replicas_verified
    );
    println!("  {} no panic ({} seen)", ok(r.panics == 0), r.panics);
    for v in &r.violations {
        println!("  ✗ {v}");
    }
}

/// The command line that replays a run: every option with its value.
pub fn replay_command(args: &ChaosArgs, seed: u64) -> String {
    let mut cmd = format!(
        "vstack chaos --seed {seed} --duration-s {} --video-s {} --speed {} --clients {} --gap-s {} --memory-mib {}",
        args.duration_s, args.video_s, args.speed, args.clients, args.gap_s, args.memory_mib
    );
    if !args.kinds.is_empty() {
        let kinds: Vec<&str> = args.kinds.iter().map(|k| k.name()).collect();
        cmd += &format!(" --kinds {}", kinds.join(",").replace('_', "-"));
    }
    if args.corrupt_replica {
        cmd += " --corrupt-replica";
    }
    cmd
}

/// Runs `vstack chaos`.
///
/// # Errors
/// When the cluster cannot start, or when an invariant breaks (the message
/// names the seed to replay).
pub async fn run(args: ChaosArgs) -> anyhow::Result<()> {
    let seed = args.seed.unwrap_or_else(rand::random);
    if !args.json {
        println!(
            "vstack chaos: seed {seed}, {} s of failures at ×{} with {} client(s)",
            args.duration_s, args.speed, args.clients
        );
    }
    let report = execute(&args, seed).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    if report.violations.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "{} invariant violation(s); replay with `{}`",
            report.violations.len(),
            replay_command(&args, seed)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_is_seeded_sequential_and_bounded() {
        let a = schedule(7, 120.0, 3, &FailureKind::ALL, 4.0);
        assert_eq!(a, schedule(7, 120.0, 3, &FailureKind::ALL, 4.0));
        assert_ne!(a, schedule(8, 120.0, 3, &FailureKind::ALL, 4.0));
        assert!(a.len() >= 8, "{}", a.len());
        for w in a.windows(2) {
            assert!(w[1].at_s >= w[0].at_s + w[0].hold_s + 1.0, "one at a time");
        }
        for f in &a {
            assert!(f.node < 3 && (3.0..=8.0).contains(&f.hold_s));
            assert!(f.at_s + f.hold_s <= 120.0);
        }
        let only = schedule(1, 60.0, 3, &[FailureKind::Kill], 2.0);
        assert!(only.iter().all(|f| f.kind == FailureKind::Kill));
    }

    #[test]
    fn checker_accepts_a_clean_session() {
        let mut c = PlaybackChecker::new(vec![10.0, 10.0, 5.0]);
        c.on_downloaded(0);
        c.on_playhead(3.0);
        c.on_downloaded(2);
        c.on_playhead(10.0);
        c.on_downloaded(1);
        c.on_playhead(25.0);
        c.finish(true);
        assert!(c.violations.is_empty(), "{:?}", c.violations);
    }

    #[test]
    fn checker_catches_each_broken_invariant() {
        let mut c = PlaybackChecker::new(vec![10.0, 10.0]);
        c.on_downloaded(0);
        c.on_downloaded(0);
        assert!(c.violations[0].contains("twice"));
        c.on_playhead(12.0);
        assert!(c.violations[1].contains("past the downloaded prefix"));
        c.on_playhead(5.0);
        assert!(c.violations[2].contains("moved back"));
        c.on_downloaded(9);
        assert!(c.violations[3].contains("no such chunk"));
        c.finish(true);
        assert!(c.violations[4].contains("never accepted"));
        assert!(c.violations[5].contains("ended with the playhead"));
    }

    #[test]
    fn failover_time_runs_from_injection_or_request_start_to_delivery() {
        let n = |notice| ClientNotice {
            kind: ClientKind::Smart,
            node_id: Some("node-1".into()),
            notice,
        };
        let log = vec![
            (
                11.0,
                n(Notice::Failover {
                    chunk: 3,
                    node: crate::engine::NodeId(0),
                    reason: "error".into(),
                    attempt_ms: 2500.0,
                }),
            ),
            (
                12.5,
                n(Notice::ChunkDownloaded {
                    chunk: 3,
                    node: crate::engine::NodeId(1),
                    bytes: 1,
                    download_ms: 1.0,
                }),
            ),
        ];
        // The attempt started at 8.5 s, before the injection at 10 s.
        assert_eq!(failover_time_ms(&log, "node-1", 10.0, 20.0), Some(2500.0));
        // Injection at 7 s: the attempt started later, at 8.5 s.
        assert_eq!(failover_time_ms(&log, "node-1", 7.0, 20.0), Some(4000.0));
        assert_eq!(failover_time_ms(&log, "node-2", 7.0, 20.0), None);
        assert_eq!(failover_time_ms(&log, "node-1", 11.5, 20.0), None);
    }
}
