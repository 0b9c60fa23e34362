//! The chaos run behind `vstack chaos`: seeded random failure injection on the embedded cluster while
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
//! - **no panic** anywhere in the process (a panic hook counts them);
//! - **durability** (unless `--no-permanent-loss`): after the schedule, one
//!   node (drawn from the seed) dies for good while the clients still play.
//!   The replication manager declares it lost after its grace period and
//!   repairs; within `--restore-bound-s` (wall time) every chunk must be back
//!   at its target replication factor with none left without a copy, every
//!   copy the catalog names is read back and hashed, and no client may
//!   rebuffer while repairs run.
//!
//! Reported per failure: the failover time of each client that hit it — from
//! the injection (or the failed request's start, if later) to the delivery of
//! that chunk from another replica.

use std::{
    sync::{
        Arc, Once,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokio::{
    sync::{broadcast, watch},
    task::JoinHandle,
    time::Instant,
};
use vstack_core::{
    conditions::Fault,
    engine::{ClientKind, ClientSnapshot, Notice},
};

use super::{
    NoticeLog, failover_time_ms,
    testbed::{Testbed, TestbedError},
};
use crate::{
    client::{self, ClientConfig, ClientNotice, ClusterView},
    cluster::embedded::{Cluster, ClusterConfig, SyntheticVideo},
    http::sha256_hex,
    sync::LockExt,
};

/// Settings of a chaos run; every default stated (as `vstack chaos`'s).
#[derive(Clone, Debug, PartialEq)]
pub struct ChaosConfig {
    /// Media seconds of failure injection. Default 120.
    pub duration_s: u64,
    /// Length of the synthetic video (4 s chunks, 5 Mbit/s), s. Default 40.
    pub video_s: u64,
    /// Time compression. Default 10.
    pub speed: f64,
    /// Live clients, alternately smart and naive. Default 3.
    pub clients: usize,
    /// Longest media-time gap between a failure's end and the next one, s.
    /// Default 4.
    pub gap_s: u64,
    /// Faults to draw from. Default: all ([`Fault::ALL`]).
    pub kinds: Vec<Fault>,
    /// Ballast of a memory-pressure failure, MiB. Default 256.
    pub memory_mib: u64,
    /// Self-test: flip one byte of the first replica on node-1 before the
    /// clients start. Default off.
    pub corrupt_replica: bool,
    /// End with a permanent node loss and check durability (repair to the
    /// target RF within `restore_bound_s`). Default on.
    pub permanent_loss: bool,
    /// Wall seconds from the loss being declared to every chunk back at its
    /// target. Default 60.
    pub restore_bound_s: u64,
}

impl Default for ChaosConfig {
    fn default() -> Self {
        Self {
            duration_s: 120,
            video_s: 40,
            speed: 10.0,
            clients: 3,
            gap_s: 4,
            kinds: Fault::ALL.to_vec(),
            memory_mib: 256,
            corrupt_replica: false,
            permanent_loss: true,
            restore_bound_s: 60,
        }
    }
}

/// A chaos run could not start.
#[derive(Debug, thiserror::Error)]
pub enum ChaosError {
    /// The cluster did not start or its video could not be fetched.
    #[error(transparent)]
    Testbed(#[from] TestbedError),
    /// The self-test could not corrupt a replica.
    #[error("self-test: {0}")]
    SelfTest(String),
    /// A failure could not be injected or healed.
    #[error("{0}")]
    Inject(String),
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
    pub kind: Fault,
}

/// The failure schedule of `seed`: the first failure at 5 s (playback has
/// started), then one at a time, each holding 3–8 s and followed by a gap of
/// 1–`gap_s` s, until `duration_s`. Nodes and kinds are uniform.
pub fn schedule(
    seed: u64,
    duration_s: f64,
    nodes: usize,
    kinds: &[Fault],
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
    /// The permanent loss at the end and its repair (`None` when off).
    pub durability: Option<DurabilityOutcome>,
    /// Broken invariants; empty when the run passed.
    pub violations: Vec<String>,
}

/// The permanent node loss at the end of a chaos run and its repair.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DurabilityOutcome {
    /// The node that died for good.
    pub node_id: String,
    /// When it died, media seconds from the start.
    pub lost_at_s: f64,
    /// The replication manager's grace period, ms (wall).
    pub grace_ms: u64,
    /// Chunks under-replicated when the loss was declared.
    pub under_replicated_at_loss: usize,
    /// Wall ms from the loss being declared to every chunk at its target
    /// (`None`: not within the bound).
    pub restored_ms: Option<f64>,
    /// Bytes the repair copied.
    pub bytes_moved: u64,
    /// Copies made (each hash-verified on arrival and committed).
    pub copies: u64,
    /// Rebuffering events that started while repairs ran.
    pub rebuffers_during_repair: usize,
    /// The bound, wall s.
    pub bound_s: u64,
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

/// Watches one client: drains its notices before each status (the driver sends
/// a turn's notices before its status), feeds the checker and logs notices
/// with their media time.
async fn watch_client(
    mut status: watch::Receiver<Option<ClientSnapshot>>,
    mut notices: broadcast::Receiver<ClientNotice>,
    mut checker: PlaybackChecker,
    log: NoticeLog,
    t0: Instant,
    speed: f64,
) -> (PlaybackChecker, Option<ClientSnapshot>) {
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
                    log.locked().push((t, n));
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

/// Plays sessions back to back until `until_s` (media time since `t0`) or
/// `wind_down`, each watched by its own [`PlaybackChecker`]; the last session
/// plays to its end (or until `stop`).
#[allow(clippy::too_many_arguments)]
async fn client_loop(
    http: reqwest::Client,
    view: ClusterView,
    config: ClientConfig,
    durations: Vec<f64>,
    log: NoticeLog,
    t0: Instant,
    until_s: f64,
    wind_down: Arc<std::sync::atomic::AtomicBool>,
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
        if let Some(s) = last {
            out.rebuffers += s.rebuffer_count;
            out.stall_ms += s.rebuffer_time_ms;
            out.failovers += s.failovers;
            startups.extend(s.startup_latency_ms);
        }
        if !ended
            || t0.elapsed().as_secs_f64() * speed >= until_s
            || wind_down.load(Ordering::SeqCst)
        {
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

fn rss_mib() -> Option<f64> {
    memory_stats::memory_stats().map(|m| m.physical_mem as f64 / (1 << 20) as f64)
}

/// A fault in force on one node, to be healed.
struct Injected {
    node_id: String,
    base: vstack_core::conditions::Conditions,
    ballast: Option<Vec<u8>>,
    rss_growth_mib: Option<f64>,
}

/// Injects `f` on its node: a kill, a link fault relative to the node's base
/// profile, or a touched ballast of `memory_mib` (memory pressure).
fn inject(cluster: &mut Cluster, f: &Failure, memory_mib: u64) -> Result<Injected, ChaosError> {
    let node = &cluster.nodes()[f.node];
    let mut injected = Injected {
        node_id: node.node_id.clone(),
        base: node.emulator().base(),
        ballast: None,
        rss_growth_mib: None,
    };
    match f.kind {
        Fault::Kill => cluster.kill_node(f.node),
        Fault::MemoryPressure => {
            let before = rss_mib();
            let mut v = vec![0u8; (memory_mib as usize) << 20];
            for b in v.iter_mut().step_by(4096) {
                *b = 1;
            }
            injected.rss_growth_mib = before.zip(rss_mib()).map(|(a, b)| b - a);
            injected.ballast = Some(v);
        }
        link => {
            let c = link
                .conditions(&injected.base)
                .expect("every other fault is a link fault");
            cluster
                .set_conditions(f.node, c)
                .map_err(ChaosError::Inject)?;
        }
    }
    Ok(injected)
}

/// Heals what [`inject`] did.
async fn heal(cluster: &mut Cluster, f: &Failure, injected: Injected) -> Result<(), ChaosError> {
    match f.kind {
        Fault::Kill => cluster
            .restart_node(f.node)
            .await
            .map_err(|e| ChaosError::Inject(format!("restarting {}: {e}", injected.node_id))),
        Fault::MemoryPressure => {
            drop(injected.ballast);
            Ok(())
        }
        _ => cluster
            .set_conditions(f.node, injected.base)
            .map_err(ChaosError::Inject),
    }
}

/// Flips the first byte of the first replica stored on node-1 (the
/// `corrupt_replica` self-test); returns its chunk id.
fn corrupt_one_replica(bed: &Testbed) -> Result<String, ChaosError> {
    let n = &bed.cluster.nodes()[0];
    let c = bed
        .view
        .manifest
        .chunks
        .iter()
        .find(|c| c.replicas.contains(&n.node_id))
        .ok_or_else(|| ChaosError::SelfTest("node-1 holds no replica".into()))?;
    let path = n.data_dir.join(format!("{}.chunk", c.chunk_id));
    let fail = |e: std::io::Error| ChaosError::SelfTest(format!("{}: {e}", path.display()));
    let mut bytes = std::fs::read(&path).map_err(fail)?;
    bytes[0] ^= 0xff;
    std::fs::write(&path, bytes).map_err(fail)?;
    Ok(c.chunk_id.clone())
}

/// Reads every replica the catalog names now (repairs may have moved them)
/// back from its node and hashes it; returns how many are intact and pushes a
/// violation for each that is not, and for a chunk left without a replica.
async fn verify_replicas(bed: &Testbed, violations: &mut Vec<String>) -> usize {
    let manifest = bed
        .cluster
        .metadata()
        .video(&bed.view.manifest.video_id)
        .unwrap_or_else(|_| bed.view.manifest.clone());
    for c in &manifest.chunks {
        if c.replicas.is_empty() {
            violations.push(format!("{}: no replica left (lost)", c.chunk_id));
        }
    }
    let mut verified = 0;
    for n in bed.cluster.nodes() {
        for c in &manifest.chunks {
            if !c.replicas.iter().any(|r| r == &n.node_id) {
                continue;
            }
            match n.storage().read(&c.chunk_id).await {
                Ok((_, bytes))
                    if bytes.len() as u64 == c.size_bytes && sha256_hex(&bytes) == c.sha256 =>
                {
                    verified += 1
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
    verified
}

/// The clients of a run: name, task, notice log.
type Clients = Vec<(String, JoinHandle<ClientRun>, NoticeLog)>;

/// Starts `cfg.clients` clients (alternately smart and naive) playing
/// sessions back to back until the injection window ends.
fn start_clients(
    bed: &Testbed,
    cfg: &ChaosConfig,
    t0: Instant,
    until_s: f64,
    wind_down: &Arc<std::sync::atomic::AtomicBool>,
    stop: &watch::Receiver<bool>,
) -> Clients {
    let durations: Vec<f64> = bed
        .view
        .manifest
        .chunks
        .iter()
        .map(|c| c.duration_ms as f64 / 1e3)
        .collect();
    (0..cfg.clients)
        .map(|i| {
            let kind = ClientKind::ALL[i % 2];
            let log: NoticeLog = Arc::default();
            let task = tokio::spawn(client_loop(
                bed.http.clone(),
                bed.view.clone(),
                ClientConfig {
                    kind,
                    speed: cfg.speed,
                    ..ClientConfig::default()
                },
                durations.clone(),
                log.clone(),
                t0,
                until_s,
                wind_down.clone(),
                stop.clone(),
            ));
            (format!("{}-{}", kind.name(), i + 1), task, log)
        })
        .collect()
}

/// Waits for every client: each session in progress must play to the end
/// within `limit_s` media seconds, else the client is stopped and a
/// violation recorded.
async fn join_clients(
    clients: Clients,
    limit_s: f64,
    speed: f64,
    stop: &watch::Sender<bool>,
    violations: &mut Vec<String>,
) -> (Vec<ClientOutcome>, Vec<NoticeLog>) {
    let deadline = Instant::now() + Duration::from_secs_f64(limit_s / speed);
    let mut outcomes = Vec::new();
    let mut logs = Vec::new();
    for (name, mut task, log) in clients {
        let joined = match tokio::time::timeout_at(deadline, &mut task).await {
            Ok(joined) => joined,
            Err(_) => {
                violations.push(format!(
                    "{name}: playback did not reach the end within {limit_s:.0} s of media time after the last failure"
                ));
                let _ = stop.send(true);
                task.await
            }
        };
        match joined {
            Ok(c) => {
                violations.extend(c.violations.iter().map(|v| format!("{name}: {v}")));
                outcomes.push(ClientOutcome { name, ..c.outcome });
            }
            Err(e) => violations.push(format!("{name}: client task failed: {e}")),
        }
        logs.push(log);
    }
    (outcomes, logs)
}

/// Runs a chaos run with `seed` and returns its report; `progress` is told
/// what happens as it happens (the self-test, each failure as injected).
///
/// # Errors
/// [`ChaosError`] when the cluster cannot start or a failure cannot be
/// injected. Broken invariants are not errors here: they are in
/// [`ChaosReport::violations`].
pub async fn execute(
    cfg: &ChaosConfig,
    seed: u64,
    mut progress: impl FnMut(String),
) -> Result<ChaosReport, ChaosError> {
    count_panics();
    let panics_before = PANICS.load(Ordering::SeqCst);
    let speed = cfg.speed;
    // Long enough that no scheduled failure (at most 8 s of media time) is
    // taken for a loss; 2 s at least.
    let grace_ms = ((10_000.0 / speed) as u64).max(2_000);
    let redundancy = cfg
        .permanent_loss
        .then(|| vstack_core::redundancy::RedundancyConfig {
            grace_ms,
            tick_ms: 200,
            ..vstack_core::redundancy::RedundancyConfig::default()
        });
    let mut bed = Testbed::start(ClusterConfig {
        speed,
        seed,
        video: Some(SyntheticVideo {
            duration: Duration::from_secs(cfg.video_s),
            chunk_duration: Duration::from_secs(4),
            ..SyntheticVideo::default()
        }),
        heartbeat_interval: Duration::from_millis(200),
        heartbeat_timeout: Duration::from_millis(1_000),
        redundancy,
        ..ClusterConfig::default()
    })
    .await?;
    let plan = schedule(
        seed,
        cfg.duration_s as f64,
        bed.cluster.nodes().len(),
        &cfg.kinds,
        cfg.gap_s as f64,
    );
    if cfg.corrupt_replica {
        let chunk = corrupt_one_replica(&bed)?;
        progress(format!("  self-test: flipped a byte of {chunk} on node-1"));
    }
    let t0 = Instant::now();
    let (stop_tx, stop_rx) = watch::channel(false);
    let wind_down = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // With a permanent loss to come, the clients play on until it is
    // repaired (or the bound passed).
    let until_s = if cfg.permanent_loss {
        f64::INFINITY
    } else {
        cfg.duration_s as f64
    };
    let clients = start_clients(&bed, cfg, t0, until_s, &wind_down, &stop_rx);
    let at = |s: f64| t0 + Duration::from_secs_f64(s / speed);
    let mut injected = Vec::new();
    for f in &plan {
        tokio::time::sleep_until(at(f.at_s)).await;
        let i = inject(&mut bed.cluster, f, cfg.memory_mib)?;
        progress(format!(
            "  {:>7.1} s  {}  {:<15} for {:.1} s",
            f.at_s,
            i.node_id,
            f.kind.name(),
            f.hold_s
        ));
        tokio::time::sleep_until(at(f.at_s + f.hold_s)).await;
        let (node_id, rss_growth_mib) = (i.node_id.clone(), i.rss_growth_mib);
        heal(&mut bed.cluster, f, i).await?;
        injected.push((f.clone(), node_id, rss_growth_mib));
    }
    let mut violations = Vec::new();
    let durability = if cfg.permanent_loss {
        tokio::time::sleep_until(at(cfg.duration_s as f64)).await;
        let node =
            ChaCha8Rng::seed_from_u64(seed ^ 0xd0_0d).random_range(0..bed.cluster.nodes().len());
        let lost_at_s = t0.elapsed().as_secs_f64() * speed;
        let node_id = bed.cluster.nodes()[node].node_id.clone();
        progress(format!(
            "  {lost_at_s:>7.1} s  {node_id}  lost for good; repair starts {:.1} s (wall) after its last heartbeat",
            grace_ms as f64 / 1e3
        ));
        bed.cluster.kill_node(node);
        let d = await_repair(&bed, cfg, node_id, lost_at_s, grace_ms, &mut violations).await;
        Some(d)
    } else {
        None
    };
    wind_down.store(true, Ordering::SeqCst);
    // Every failure healed: each client's session in progress must now play
    // to the end.
    let limit_s = (2 * cfg.video_s + 60) as f64;
    let (clients, logs) = join_clients(clients, limit_s, speed, &stop_tx, &mut violations).await;
    let replicas_verified = verify_replicas(&bed, &mut violations).await;
    let durability = durability.map(|mut d| {
        d.rebuffers_during_repair = rebuffers_between(&logs, d.lost_at_s, &d, speed);
        if d.rebuffers_during_repair > 0 {
            violations.push(format!(
                "durability: {} rebuffer(s) started while repairs ran",
                d.rebuffers_during_repair
            ));
        }
        d
    });
    let panics = PANICS.load(Ordering::SeqCst) - panics_before;
    if panics > 0 {
        violations.push(format!("{panics} panic(s) during the run"));
    }
    Ok(ChaosReport {
        seed,
        duration_s: cfg.duration_s,
        speed,
        failures: failure_outcomes(injected, &logs),
        clients,
        replicas_verified,
        panics,
        durability,
        violations,
    })
}

/// Waits for the replication manager to declare `node_id` lost and to bring
/// every chunk back to its target; records the figures and, past
/// `cfg.restore_bound_s`, a violation.
async fn await_repair(
    bed: &Testbed,
    cfg: &ChaosConfig,
    node_id: String,
    lost_at_s: f64,
    grace_ms: u64,
    violations: &mut Vec<String>,
) -> DurabilityOutcome {
    use vstack_core::redundancy::RedundancyEventKind;
    let svc = bed.cluster.metadata().clone();
    let before = svc.replication_report().totals;
    let mut out = DurabilityOutcome {
        node_id: node_id.clone(),
        lost_at_s,
        grace_ms,
        under_replicated_at_loss: 0,
        restored_ms: None,
        bytes_moved: 0,
        copies: 0,
        rebuffers_during_repair: 0,
        bound_s: cfg.restore_bound_s,
    };
    let lost_by = Instant::now() + Duration::from_millis(grace_ms) + Duration::from_secs(30);
    let lost_event = |r: &vstack_core::redundancy::ReplicationReport| {
        r.events
            .iter()
            .any(|e| e.kind == RedundancyEventKind::NodeLost && e.message.starts_with(&node_id))
    };
    let declared = loop {
        let r = svc.replication_report();
        if lost_event(&r) {
            out.under_replicated_at_loss = r.totals.under_replicated;
            break Some(Instant::now());
        }
        if Instant::now() > lost_by {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let Some(declared) = declared else {
        violations.push(format!("durability: {node_id} was never declared lost"));
        return out;
    };
    let bound = declared + Duration::from_secs(cfg.restore_bound_s);
    loop {
        let r = svc.replication_report();
        let t = &r.totals;
        if t.under_replicated == 0 && t.unavailable == 0 && t.repairs_in_flight == 0 {
            out.restored_ms = Some(declared.elapsed().as_secs_f64() * 1e3);
            out.bytes_moved = t.bytes_repaired.saturating_sub(before.bytes_repaired);
            out.copies = t.copies_done.saturating_sub(before.copies_done);
            return out;
        }
        if Instant::now() > bound {
            violations.push(format!(
                "durability: {} chunk(s) still under-replicated ({} without a copy) {} s after {node_id} was declared lost",
                t.under_replicated, t.unavailable, cfg.restore_bound_s
            ));
            return out;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Rebuffering events that started while repairs ran: after the grace period
/// following the loss at `lost_at_s`, until the restore (or the bound).
fn rebuffers_between(
    logs: &[NoticeLog],
    lost_at_s: f64,
    d: &DurabilityOutcome,
    speed: f64,
) -> usize {
    let from = lost_at_s + d.grace_ms as f64 / 1e3 * speed;
    let until = from + d.restored_ms.map_or(d.bound_s as f64 * 1e3, |ms| ms) / 1e3 * speed;
    logs.iter()
        .map(|log| {
            log.locked()
                .iter()
                .filter(|(t, n)| {
                    *t >= from
                        && *t <= until
                        && matches!(
                            n.notice,
                            Notice::PlaybackState {
                                state: vstack_core::engine::PlaybackState::Rebuffering
                            }
                        )
                })
                .count()
        })
        .sum()
}

/// Each failure with every client's failover time: failed attempts are
/// attributed to the failure while it holds and for 2 s after it heals (a
/// timeout firing late).
fn failure_outcomes(
    injected: Vec<(Failure, String, Option<f64>)>,
    logs: &[NoticeLog],
) -> Vec<FailureOutcome> {
    injected
        .into_iter()
        .map(|(f, node_id, rss_growth_mib)| {
            let failover_ms = logs
                .iter()
                .map(|log| {
                    let log = log.locked();
                    failover_time_ms(&log, &node_id, f.at_s, f.at_s + f.hold_s + 2.0)
                })
                .collect();
            FailureOutcome {
                failure: f,
                failover_ms,
                rss_growth_mib,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_is_seeded_sequential_and_bounded() {
        let a = schedule(7, 120.0, 3, &Fault::ALL, 4.0);
        assert_eq!(a, schedule(7, 120.0, 3, &Fault::ALL, 4.0));
        assert_ne!(a, schedule(8, 120.0, 3, &Fault::ALL, 4.0));
        assert!(a.len() >= 8, "{}", a.len());
        for w in a.windows(2) {
            assert!(w[1].at_s >= w[0].at_s + w[0].hold_s + 1.0, "one at a time");
        }
        for f in &a {
            assert!(f.node < 3 && (3.0..=8.0).contains(&f.hold_s));
            assert!(f.at_s + f.hold_s <= 120.0);
        }
        let only = schedule(1, 60.0, 3, &[Fault::Kill], 2.0);
        assert!(only.iter().all(|f| f.kind == Fault::Kill));
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
}
