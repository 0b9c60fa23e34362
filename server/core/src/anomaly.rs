//! Anomaly detection and alert rules over the live series, sans-IO: the
//! caller feeds one [`Tick`] per collector interval (its own clock in
//! [`Now`]) and gets back the alerts that opened or resolved.
//!
//! Two kinds of alert, both with hysteresis so a single sample never opens or
//! resolves one:
//!
//! - **Anomalies** ([`RobustZ`]): the modified z-score of Iglewicz and
//!   Hoaglin (1993), `z = 0.6745 × (x − median) / MAD`, over a sliding window
//!   of the series' recent normal samples; `|z| > 3.5` (their recommended
//!   cut-off) on the bad side is anomalous. Median and MAD ignore the
//!   outliers a mean and standard deviation would chase. The MAD is floored
//!   at a share of the median and an absolute floor per series, so a flat
//!   series (a node answering in exactly 5 ms) does not alarm on noise.
//!   Series: each client's throughput (judged only while the client wants
//!   data, a full buffer pauses downloads) and stall share per tick; each
//!   node's EWMA latency and seed-002 score as each client sees it.
//! - **Rules**: a node degraded or down as a client sees it; the buffer below
//!   the low-water mark for longer than [`AnomalyConfig::low_buffer_for_ms`]
//!   while playing; a seed target (startup < 2 s, req. 6.3; at most one
//!   rebuffering event, req. 8.5) missed over a whole finished session; the
//!   smart client worse than the naive one on a paired session.
//!
//! [`Hysteresis`] opens after [`AnomalyConfig::open_after`] bad ticks in a
//! row and resolves after [`AnomalyConfig::close_after`] good ones. Samples
//! judged anomalous never enter the baseline window (an outage must not
//! become its own baseline); a level that stays anomalous for
//! [`AnomalyConfig::rebaseline_after`] ticks is accepted as the new normal:
//! the alert resolves, saying so, and the window starts over.
//!
//! Bounds: one detector per series (clients × nodes × 4 + clients × 2), each
//! window [`AnomalyConfig::window`] samples; [`AnomalyMonitor::alerts`] keeps
//! every open alert and the newest [`MAX_RESOLVED_ALERTS`] resolved ones.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::engine::{ClientKind, ClientSnapshot, NodeHealth, PerClient, PlaybackState};

/// Resolved alerts kept (newest first); open ones are always kept.
pub const MAX_RESOLVED_ALERTS: usize = 200;

/// The modified z-score's scale: `0.6745 = Φ⁻¹(0.75)`, which makes the MAD
/// of a normal sample comparable to its standard deviation (Iglewicz and
/// Hoaglin, 1993).
pub const MAD_SCALE: f64 = 0.6745;

/// Settings of detection and rules. Every field has a stated default
/// ([`AnomalyConfig::default`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnomalyConfig {
    /// Samples in each series' baseline window. Default 60 (2 min at the
    /// dashboard's 2 s tick).
    pub window: usize,
    /// Samples a window needs before its series is judged. Default 10.
    pub min_samples: usize,
    /// `|z|` over which a sample is anomalous. Default 3.5 (Iglewicz and
    /// Hoaglin's cut-off).
    pub threshold_z: f64,
    /// The MAD is at least this share of `|median|`. Default 0.05: a
    /// deviation of 26 % of the median at least before `|z|` reaches 3.5.
    pub relative_mad_floor: f64,
    /// Bad ticks in a row that open an alert. Default 3.
    pub open_after: u32,
    /// Good ticks in a row that resolve it. Default 5.
    pub close_after: u32,
    /// Ticks an anomaly may stay open before its level becomes the new
    /// baseline. Default 60 (2 min at 2 s).
    pub rebaseline_after: u32,
    /// Wall time the buffer must stay below the low-water mark while playing
    /// before the low-buffer rule opens, ms. Default 5000.
    pub low_buffer_for_ms: u64,
    /// Seed target: startup latency below this, ms (req. 6.3). Default 2000.
    pub startup_target_ms: f64,
    /// Seed target: at most this many rebuffering events per session (req.
    /// 8.5). Default 1.
    pub max_rebuffers_per_session: u32,
    /// Smart counts as worse than naive on a pair when its stall time exceeds
    /// naive's by more than this, ms. Default 500.
    pub paired_stall_margin_ms: f64,
    /// … or its startup latency exceeds naive's by more than this share and
    /// [`Self::paired_startup_margin_ms`]. Default 0.25.
    pub paired_startup_margin: f64,
    /// See [`Self::paired_startup_margin`], ms. Default 200.
    pub paired_startup_margin_ms: f64,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        Self {
            window: 60,
            min_samples: 10,
            threshold_z: 3.5,
            relative_mad_floor: 0.05,
            open_after: 3,
            close_after: 5,
            rebaseline_after: 60,
            low_buffer_for_ms: 5000,
            startup_target_ms: 2000.0,
            max_rebuffers_per_session: 1,
            paired_stall_margin_ms: 500.0,
            paired_startup_margin: 0.25,
            paired_startup_margin_ms: 200.0,
        }
    }
}

impl AnomalyConfig {
    /// Checks the ranges.
    ///
    /// # Errors
    /// A message naming the first field out of range.
    pub fn validate(&self) -> Result<(), String> {
        let checks = [
            (
                self.window >= 4 && self.window <= 10_000,
                "window must be 4–10000 samples",
            ),
            (
                self.min_samples >= 3 && self.min_samples <= self.window,
                "min_samples must be 3–window",
            ),
            (
                self.threshold_z.is_finite() && self.threshold_z > 0.0,
                "threshold_z must be > 0",
            ),
            (
                self.relative_mad_floor.is_finite()
                    && (0.0..=1.0).contains(&self.relative_mad_floor),
                "relative_mad_floor must be 0–1",
            ),
            (
                (1..=1000).contains(&self.open_after),
                "open_after must be 1–1000",
            ),
            (
                (1..=1000).contains(&self.close_after),
                "close_after must be 1–1000",
            ),
            (
                self.rebaseline_after >= self.open_after,
                "rebaseline_after must be ≥ open_after",
            ),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some((_, msg)) => Err((*msg).to_string()),
            None => Ok(()),
        }
    }
}

/// Which side of the baseline is bad.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Too high is bad (latency, stall share).
    High,
    /// Too low is bad (throughput, score).
    Low,
}

/// How a sample compares with its series' baseline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Judgement {
    /// The modified z-score (signed: positive above the median).
    pub z: f64,
    /// The baseline's median.
    pub median: f64,
    /// Lowest and highest values `|z| ≤ threshold` allows.
    pub expected: (f64, f64),
    /// `z` is past the threshold on the bad side.
    pub anomalous: bool,
}

/// The scale a detector judges a series on.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "scale")]
pub enum Scale {
    /// The values themselves; the MAD is at least `floor` (the series'
    /// unit) and [`AnomalyConfig::relative_mad_floor`] × `|median|`.
    Linear {
        /// Smallest MAD, in the series' unit.
        floor: f64,
    },
    /// `ln(x + offset)`: for rates and delays, whose spread grows with their
    /// level (a 4G link swings between 5 and 40 Mbit/s; on a linear scale
    /// the median minus 3.5 robust deviations is below zero, so no outage
    /// could ever be low enough). `offset` (the series' unit) keeps zeros
    /// finite and damps noise near zero; the MAD is at least
    /// [`AnomalyConfig::relative_mad_floor`] and `min_mad` (in log units).
    Log {
        /// Added before the logarithm, in the series' unit.
        offset: f64,
        /// Smallest MAD in log units, over the config's floor: 0.15 asks
        /// for about 2.2× the median before `|z|` reaches 3.5.
        min_mad: f64,
    },
}

impl Scale {
    fn to(self, x: f64) -> f64 {
        match self {
            Scale::Linear { .. } => x,
            Scale::Log { offset, .. } => (x.max(0.0) + offset.max(f64::MIN_POSITIVE)).ln(),
        }
    }

    fn from(self, y: f64) -> f64 {
        match self {
            Scale::Linear { .. } => y,
            Scale::Log { offset, .. } => y.exp() - offset,
        }
    }

    fn mad_floor(self, median: f64, cfg: &AnomalyConfig) -> f64 {
        match self {
            Scale::Linear { floor } => floor.max(cfg.relative_mad_floor * median.abs()),
            Scale::Log { min_mad, .. } => cfg.relative_mad_floor.max(min_mad),
        }
    }
}

/// The robust z-score detector of one series (see the module docs).
#[derive(Clone, Debug)]
pub struct RobustZ {
    direction: Direction,
    scale: Scale,
    /// The window, on the detector's scale.
    window: VecDeque<f64>,
    capacity: usize,
}

impl RobustZ {
    /// A detector with an empty window of `capacity` samples, judging on
    /// `scale`.
    pub fn new(direction: Direction, capacity: usize, scale: Scale) -> Self {
        Self {
            direction,
            scale,
            window: VecDeque::with_capacity(capacity.max(1)),
            capacity: capacity.max(1),
        }
    }

    /// Samples in the window.
    pub fn len(&self) -> usize {
        self.window.len()
    }

    /// The window is empty.
    pub fn is_empty(&self) -> bool {
        self.window.is_empty()
    }

    /// Forgets the baseline.
    pub fn clear(&mut self) {
        self.window.clear();
    }

    /// Adds a normal sample to the baseline (the oldest leaves when full).
    pub fn learn(&mut self, x: f64) {
        if !x.is_finite() {
            return;
        }
        if self.window.len() == self.capacity {
            self.window.pop_front();
        }
        self.window.push_back(self.scale.to(x));
    }

    /// Judges `x` against the window; `None` with fewer than `min_samples`.
    /// The median and expected range are in the series' unit.
    pub fn judge(&self, x: f64, cfg: &AnomalyConfig) -> Option<Judgement> {
        if self.window.len() < cfg.min_samples.max(1) || !x.is_finite() {
            return None;
        }
        let mut v: Vec<f64> = self.window.iter().copied().collect();
        let median = median_in_place(&mut v);
        for d in &mut v {
            *d = (*d - median).abs();
        }
        let mad = median_in_place(&mut v)
            .max(self.scale.mad_floor(median, cfg))
            .max(f64::MIN_POSITIVE);
        let z = MAD_SCALE * (self.scale.to(x) - median) / mad;
        let half = cfg.threshold_z * mad / MAD_SCALE;
        let anomalous = match self.direction {
            Direction::High => z > cfg.threshold_z,
            Direction::Low => z < -cfg.threshold_z,
        };
        Some(Judgement {
            z,
            median: self.scale.from(median),
            expected: (
                self.scale.from(median - half),
                self.scale.from(median + half),
            ),
            anomalous,
        })
    }
}

/// Median of `v` (reordered); NaN when empty.
fn median_in_place(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// What a [`Hysteresis`] step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// Nothing changed.
    None,
    /// `open_after` bad steps in a row: open.
    Open,
    /// `close_after` good steps in a row while open: resolve.
    Close,
}

/// Opens after `open_after` bad steps in a row, resolves after
/// `close_after` good ones: no flapping on a single sample.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hysteresis {
    /// An alert is open.
    pub open: bool,
    bad_run: u32,
    good_run: u32,
    /// Steps since it opened.
    pub open_for: u32,
}

impl Hysteresis {
    /// One step: `bad` or not.
    pub fn step(&mut self, bad: bool, open_after: u32, close_after: u32) -> Transition {
        if bad {
            self.bad_run = self.bad_run.saturating_add(1);
            self.good_run = 0;
        } else {
            self.good_run = self.good_run.saturating_add(1);
            self.bad_run = 0;
        }
        if self.open {
            self.open_for = self.open_for.saturating_add(1);
            if self.good_run >= close_after {
                *self = Self::default();
                return Transition::Close;
            }
        } else if self.bad_run >= open_after {
            self.open = true;
            self.open_for = 0;
            return Transition::Open;
        }
        Transition::None
    }
}

/// How serious an alert is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth a look: quality is below the norm.
    Warning,
    /// Playback or data is at risk (a node down, the buffer empty).
    Critical,
}

/// What raised an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A robust z-score detector.
    Anomaly,
    /// A node degraded or down as a client sees it.
    NodeHealth,
    /// The buffer below the low-water mark for too long.
    LowBuffer,
    /// A seed target missed over a whole session.
    TargetMissed,
    /// Smart worse than naive on a paired session.
    SmartWorse,
}

/// Which chart an alert belongs to (the dashboard draws its markers there).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Throughput over a tick, Mbit/s.
    ThroughputMbps,
    /// Share of a tick spent stalled, 0–1.
    StallShare,
    /// A node's EWMA latency, ms.
    LatencyMs,
    /// A node's seed-002 score.
    Score,
    /// Buffer level, s.
    BufferS,
    /// A node's health (0 healthy, 1 degraded, 2 down).
    Health,
    /// Startup latency of a session, ms.
    StartupMs,
    /// Rebuffering events of a session.
    Rebuffers,
    /// Smart's stall time minus naive's on a pair, ms.
    StallGapMs,
}

/// One alert, open or resolved. Times are the caller's [`Now`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Unique within a monitor, increasing.
    pub id: u64,
    /// What raised it.
    pub kind: AlertKind,
    /// How serious.
    pub severity: Severity,
    /// The series, e.g. `smart/node-2/latency_ms` or `naive/buffer_s`.
    pub series: String,
    /// The series' measure.
    pub metric: Metric,
    /// The client whose series it is (`None`: both, for smart-vs-naive).
    pub client: Option<ClientKind>,
    /// The node, for per-node series.
    pub node: Option<String>,
    /// The value that opened it (the worst seen since, for anomalies);
    /// infinite for a session that never started.
    #[serde(with = "crate::stats::f64_or_inf")]
    pub observed: f64,
    /// Lowest normal value (`None`: unbounded).
    pub expected_low: Option<f64>,
    /// Highest normal value (`None`: unbounded).
    pub expected_high: Option<f64>,
    /// One line for people.
    pub message: String,
    /// When it opened: the caller's uptime clock, ms.
    pub started_uptime_ms: u64,
    /// When it opened, Unix ms.
    pub started_unix_ms: u64,
    /// When it resolved (uptime ms); `None` while open.
    pub ended_uptime_ms: Option<u64>,
    /// When it resolved, Unix ms.
    pub ended_unix_ms: Option<u64>,
    /// Why it resolved, once it has.
    #[serde(default)]
    pub resolution: Option<String>,
}

impl Alert {
    /// Still open.
    pub fn is_open(&self) -> bool {
        self.ended_uptime_ms.is_none()
    }
}

/// The caller's clock at a tick.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Now {
    /// Monotonic ms (the dashboard's uptime, the x axis of its charts).
    pub uptime_ms: u64,
    /// Wall clock, Unix ms (for history).
    pub unix_ms: u64,
}

/// A finished session's QoE, for the session rules.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SessionOutcome {
    /// Whose.
    pub kind: ClientKind,
    /// Session number (smart's `n` and naive's `n` form a pair).
    pub session: u32,
    /// Startup latency, ms (`None`: never started).
    pub startup_latency_ms: Option<f64>,
    /// Rebuffering events.
    pub rebuffer_count: u32,
    /// Stall time, ms.
    pub rebuffer_time_ms: f64,
}

/// What the monitor sees at one tick.
#[derive(Clone, Copy, Debug)]
pub struct Tick<'a> {
    /// The clock.
    pub now: Now,
    /// Each client's snapshot (`None`: not running).
    pub clients: PerClient<Option<&'a ClientSnapshot>>,
    /// Each client's throughput over the tick, Mbit/s.
    pub throughput_mbps: PerClient<Option<f64>>,
    /// Each client's stall time over the tick ÷ the tick, 0–1.
    pub stall_share: PerClient<Option<f64>>,
    /// Sessions that finished since the last tick.
    pub finished: &'a [SessionOutcome],
}

/// One series' detector and its hysteresis.
#[derive(Clone, Debug)]
struct Tracked {
    z: RobustZ,
    h: Hysteresis,
}

/// Detectors, rules and the alert book of a dashboard (see the module docs).
#[derive(Clone, Debug)]
pub struct AnomalyMonitor {
    config: AnomalyConfig,
    detectors: HashMap<String, Tracked>,
    rules: HashMap<String, Hysteresis>,
    /// Low-buffer rule: since when (uptime ms) each client is below the mark.
    low_since: PerClient<Option<u64>>,
    /// Low-buffer rule: good ticks in a row while its alert is open.
    good_ticks: HashMap<String, u32>,
    /// Series key → id of its open alert.
    open: BTreeMap<String, u64>,
    /// Every open alert and the newest resolved ones, oldest first.
    alerts: VecDeque<Alert>,
    next_id: u64,
    /// Finished sessions waiting for their pair.
    unpaired: PerClient<Option<SessionOutcome>>,
}

impl AnomalyMonitor {
    /// A monitor with no history.
    ///
    /// # Errors
    /// The config is out of range ([`AnomalyConfig::validate`]).
    pub fn new(config: AnomalyConfig) -> Result<Self, String> {
        config.validate()?;
        Ok(Self {
            config,
            detectors: HashMap::new(),
            rules: HashMap::new(),
            low_since: PerClient::default(),
            good_ticks: HashMap::new(),
            open: BTreeMap::new(),
            alerts: VecDeque::new(),
            next_id: 1,
            unpaired: PerClient::default(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &AnomalyConfig {
        &self.config
    }

    /// Every open alert and the newest resolved ones, newest first.
    pub fn alerts(&self) -> Vec<Alert> {
        self.alerts.iter().rev().cloned().collect()
    }

    /// Alerts open now.
    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// One tick: feeds every detector and rule; returns the alerts that
    /// opened or resolved, in that order.
    pub fn tick(&mut self, t: &Tick<'_>) -> Vec<Alert> {
        let mut changed = Vec::new();
        for kind in ClientKind::ALL {
            if let Some(c) = *t.clients.get(kind) {
                self.client_series(t, kind, c, &mut changed);
                self.low_buffer_rule(t.now, kind, c, &mut changed);
                for n in &c.nodes {
                    self.node_series(t.now, kind, n, &mut changed);
                }
            }
        }
        for s in t.finished {
            self.session_rules(t.now, s, &mut changed);
        }
        changed
    }

    fn client_series(
        &mut self,
        t: &Tick<'_>,
        kind: ClientKind,
        c: &ClientSnapshot,
        out: &mut Vec<Alert>,
    ) {
        let active = matches!(
            c.state,
            PlaybackState::Startup | PlaybackState::Playing | PlaybackState::Rebuffering
        );
        if !active {
            return;
        }
        // A buffer near its target pauses downloads: low throughput then is
        // no anomaly, so throughput is judged only while the client wants data.
        let wants_data = c.buffer_level_s < 0.8 * c.buffer_target_s && more_to_fetch(c);
        if let Some(x) = (*t.throughput_mbps.get(kind)).filter(|_| wants_data) {
            let spec = Spec {
                key: format!("{}/throughput_mbps", kind.name()),
                metric: Metric::ThroughputMbps,
                direction: Direction::Low,
                scale: Scale::Log {
                    offset: 0.5,
                    min_mad: 0.1,
                },
                client: Some(kind),
                node: None,
                what: format!("{} client's throughput", kind.name()),
                unit: "Mbit/s",
            };
            self.detect(t.now, &spec, x, out);
        }
        if let Some(x) = *t.stall_share.get(kind) {
            let spec = Spec {
                key: format!("{}/stall_share", kind.name()),
                metric: Metric::StallShare,
                direction: Direction::High,
                scale: Scale::Linear { floor: 0.02 },
                client: Some(kind),
                node: None,
                what: format!("{} client's stall share", kind.name()),
                unit: "",
            };
            self.detect(t.now, &spec, x, out);
        }
    }

    fn node_series(
        &mut self,
        now: Now,
        kind: ClientKind,
        n: &crate::engine::NodeSnapshot,
        out: &mut Vec<Alert>,
    ) {
        let base = format!("{}/{}", kind.name(), n.node_id);
        if let Some(ms) = n.latency_ms {
            let spec = Spec {
                key: format!("{base}/latency_ms"),
                metric: Metric::LatencyMs,
                direction: Direction::High,
                scale: Scale::Log {
                    offset: 1.0,
                    min_mad: 0.15,
                },
                client: Some(kind),
                node: Some(n.node_id.clone()),
                what: format!(
                    "{} latency as the {} client sees it",
                    n.node_id,
                    kind.name()
                ),
                unit: "ms",
            };
            self.detect(now, &spec, ms, out);
        }
        let spec = Spec {
            key: format!("{base}/score"),
            metric: Metric::Score,
            direction: Direction::Low,
            scale: Scale::Log {
                offset: 0.1,
                min_mad: 0.15,
            },
            client: Some(kind),
            node: Some(n.node_id.clone()),
            what: format!("{} score as the {} client sees it", n.node_id, kind.name()),
            unit: "",
        };
        self.detect(now, &spec, n.score, out);
        self.health_rule(now, kind, n, out);
    }

    fn health_rule(
        &mut self,
        now: Now,
        kind: ClientKind,
        n: &crate::engine::NodeSnapshot,
        out: &mut Vec<Alert>,
    ) {
        let key = format!("{}/{}/health", kind.name(), n.node_id);
        let bad = n.health != NodeHealth::Healthy;
        let (open_after, close_after) = (2, 3);
        let h = self.rules.entry(key.clone()).or_default();
        let level = match n.health {
            NodeHealth::Healthy => 0.0,
            NodeHealth::Degraded => 1.0,
            NodeHealth::Down => 2.0,
        };
        match h.step(bad, open_after, close_after) {
            Transition::Open => {
                let a = self.draft(
                    now,
                    &key,
                    AlertKind::NodeHealth,
                    if n.health == NodeHealth::Down {
                        Severity::Critical
                    } else {
                        Severity::Warning
                    },
                    Metric::Health,
                    Some(kind),
                    Some(n.node_id.clone()),
                    level,
                    (None, Some(0.0)),
                    health_message(kind, n),
                );
                out.push(self.open_alert(key, a));
            }
            Transition::Close => out.extend(self.resolve(now, &key, "healthy again")),
            Transition::None => {
                if n.health == NodeHealth::Down {
                    let message = health_message(kind, n);
                    out.extend(self.escalate(
                        &key,
                        Severity::Critical,
                        level,
                        Direction::High,
                        Some(message),
                    ));
                }
            }
        }
    }

    fn low_buffer_rule(
        &mut self,
        now: Now,
        kind: ClientKind,
        c: &ClientSnapshot,
        out: &mut Vec<Alert>,
    ) {
        let key = format!("{}/buffer_s", kind.name());
        let playing = matches!(c.state, PlaybackState::Playing | PlaybackState::Rebuffering);
        // The last seconds of a video drain the buffer with nothing left to
        // fetch: not a low buffer.
        let below = playing && c.buffer_level_s < c.low_water_mark_s && more_to_fetch(c);
        let is_open = self.open.contains_key(&key);
        if below {
            self.good_ticks.insert(key.clone(), 0);
            let start = *self.low_since.get_mut(kind).get_or_insert(now.uptime_ms);
            let rebuffering = c.state == PlaybackState::Rebuffering;
            if !is_open && now.uptime_ms.saturating_sub(start) >= self.config.low_buffer_for_ms {
                let severity = if rebuffering {
                    Severity::Critical
                } else {
                    Severity::Warning
                };
                let mut a = self.draft(
                    now,
                    &key,
                    AlertKind::LowBuffer,
                    severity,
                    Metric::BufferS,
                    Some(kind),
                    None,
                    c.buffer_level_s,
                    (Some(c.low_water_mark_s), None),
                    format!(
                        "{} client's buffer {:.1} s, below the {:.0} s low-water mark for over {:.0} s",
                        kind.name(),
                        c.buffer_level_s,
                        c.low_water_mark_s,
                        self.config.low_buffer_for_ms as f64 / 1e3
                    ),
                );
                a.started_uptime_ms = start;
                a.started_unix_ms = now
                    .unix_ms
                    .saturating_sub(now.uptime_ms.saturating_sub(start));
                out.push(self.open_alert(key, a));
            } else if is_open {
                out.extend(self.escalate(
                    &key,
                    if rebuffering {
                        Severity::Critical
                    } else {
                        Severity::Warning
                    },
                    c.buffer_level_s,
                    Direction::Low,
                    None,
                ));
            }
        } else {
            *self.low_since.get_mut(kind) = None;
            if is_open {
                let g = self.good_ticks.entry(key.clone()).or_default();
                *g += 1;
                if *g >= self.config.close_after || !playing {
                    *g = 0;
                    let why = if playing {
                        "buffer back above the low-water mark"
                    } else {
                        "playback ended"
                    };
                    out.extend(self.resolve(now, &key, why));
                }
            }
        }
    }

    fn session_rules(&mut self, now: Now, s: &SessionOutcome, out: &mut Vec<Alert>) {
        let cfg = self.config.clone();
        let key = format!("{}/session_targets", s.kind.name());
        // A session that never started missed the startup target (an
        // infinite startup), it did not meet it.
        let slow = s
            .startup_latency_ms
            .is_none_or(|ms| ms >= cfg.startup_target_ms);
        let stalls = s.rebuffer_count > cfg.max_rebuffers_per_session;
        if slow || stalls {
            let mut missed = Vec::new();
            if slow {
                missed.push(match s.startup_latency_ms {
                    Some(ms) => format!("startup {ms:.0} ms ≥ {:.0} ms", cfg.startup_target_ms),
                    None => "playback never started".to_string(),
                });
            }
            if stalls {
                missed.push(format!(
                    "{} rebuffering events > {}",
                    s.rebuffer_count, cfg.max_rebuffers_per_session
                ));
            }
            let (metric, observed, expected) = if slow {
                (
                    Metric::StartupMs,
                    s.startup_latency_ms.unwrap_or(f64::INFINITY),
                    (None, Some(cfg.startup_target_ms)),
                )
            } else {
                (
                    Metric::Rebuffers,
                    f64::from(s.rebuffer_count),
                    (None, Some(f64::from(cfg.max_rebuffers_per_session))),
                )
            };
            let message = format!(
                "{} client missed the seed's targets over session {}: {}",
                s.kind.name(),
                s.session,
                missed.join(", ")
            );
            if let Some(a) = self
                .open
                .get(&key)
                .copied()
                .and_then(|id| self.find_mut(id))
            {
                a.message = message;
                a.observed = observed;
            } else {
                let a = self.draft(
                    now,
                    &key,
                    AlertKind::TargetMissed,
                    Severity::Warning,
                    metric,
                    Some(s.kind),
                    None,
                    observed,
                    expected,
                    message,
                );
                out.push(self.open_alert(key, a));
            }
        } else {
            out.extend(self.resolve(now, &key, &format!("session {} met the targets", s.session)));
        }
        self.pair_rule(now, s, out);
    }

    fn pair_rule(&mut self, now: Now, s: &SessionOutcome, out: &mut Vec<Alert>) {
        let other = *self.unpaired.get(s.kind.other());
        let (smart, naive) = match other {
            Some(o) if o.session == s.session => match s.kind {
                ClientKind::Smart => (*s, o),
                ClientKind::Naive => (o, *s),
            },
            _ => {
                *self.unpaired.get_mut(s.kind) = Some(*s);
                return;
            }
        };
        self.unpaired = PerClient::default();
        let cfg = &self.config;
        let stall_gap = smart.rebuffer_time_ms - naive.rebuffer_time_ms;
        let startup_worse = match (smart.startup_latency_ms, naive.startup_latency_ms) {
            (Some(a), Some(b)) => {
                a > b * (1.0 + cfg.paired_startup_margin) && a - b > cfg.paired_startup_margin_ms
            }
            (None, Some(_)) => true,
            _ => false,
        };
        let key = "smart_vs_naive".to_string();
        if stall_gap > cfg.paired_stall_margin_ms || startup_worse {
            let message = format!(
                "smart worse than naive on session {}: stall {:.0} vs {:.0} ms, startup {} vs {} ms",
                smart.session,
                smart.rebuffer_time_ms,
                naive.rebuffer_time_ms,
                fmt_ms(smart.startup_latency_ms),
                fmt_ms(naive.startup_latency_ms)
            );
            if let Some(a) = self
                .open
                .get(&key)
                .copied()
                .and_then(|id| self.find_mut(id))
            {
                a.message = message;
                a.observed = stall_gap;
            } else {
                let high = Some(self.config.paired_stall_margin_ms);
                let a = self.draft(
                    now,
                    &key,
                    AlertKind::SmartWorse,
                    Severity::Warning,
                    Metric::StallGapMs,
                    None,
                    None,
                    stall_gap,
                    (None, high),
                    message,
                );
                out.push(self.open_alert(key, a));
            }
        } else {
            out.extend(self.resolve(
                now,
                &key,
                &format!("smart not worse on session {}", smart.session),
            ));
        }
    }

    fn detect(&mut self, now: Now, spec: &Spec, x: f64, out: &mut Vec<Alert>) {
        let cfg = self.config.clone();
        let t = self
            .detectors
            .entry(spec.key.clone())
            .or_insert_with(|| Tracked {
                z: RobustZ::new(spec.direction, cfg.window, spec.scale),
                h: Hysteresis::default(),
            });
        let Some(j) = t.z.judge(x, &cfg) else {
            t.z.learn(x);
            return;
        };
        if !j.anomalous {
            t.z.learn(x);
        }
        let step = t.h.step(j.anomalous, cfg.open_after, cfg.close_after);
        let stale = t.h.open && t.h.open_for >= cfg.rebaseline_after;
        if stale {
            t.z.clear();
            t.h = Hysteresis::default();
        }
        match step {
            Transition::Open => {
                let severity = if j.z.abs() > 2.0 * cfg.threshold_z {
                    Severity::Critical
                } else {
                    Severity::Warning
                };
                let unit = if spec.unit.is_empty() {
                    String::new()
                } else {
                    format!(" {}", spec.unit)
                };
                let message = format!(
                    "{} is {:.2}{unit}, expected {:.2}–{:.2}{unit} (robust z {:+.1})",
                    spec.what,
                    x,
                    j.expected.0.max(0.0),
                    j.expected.1,
                    j.z
                );
                let a = self.draft(
                    now,
                    &spec.key,
                    AlertKind::Anomaly,
                    severity,
                    spec.metric,
                    spec.client,
                    spec.node.clone(),
                    x,
                    (Some(j.expected.0.max(0.0)), Some(j.expected.1)),
                    message,
                );
                out.push(self.open_alert(spec.key.clone(), a));
            }
            Transition::Close => {
                out.extend(self.resolve(now, &spec.key, "back in the expected range"))
            }
            Transition::None if stale => {
                out.extend(self.resolve(now, &spec.key, "the new level became the baseline"));
            }
            Transition::None if j.anomalous => {
                let worse = |a: &Alert| match spec.direction {
                    Direction::High => x > a.observed,
                    Direction::Low => x < a.observed,
                };
                if let Some(a) = self
                    .open
                    .get(&spec.key)
                    .copied()
                    .and_then(|id| self.find_mut(id))
                    && worse(a)
                {
                    a.observed = x;
                }
            }
            Transition::None => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn draft(
        &self,
        now: Now,
        key: &str,
        kind: AlertKind,
        severity: Severity,
        metric: Metric,
        client: Option<ClientKind>,
        node: Option<String>,
        observed: f64,
        expected: (Option<f64>, Option<f64>),
        message: String,
    ) -> Alert {
        Alert {
            id: self.next_id,
            kind,
            severity,
            series: key.to_string(),
            metric,
            client,
            node,
            observed,
            expected_low: expected.0,
            expected_high: expected.1,
            message,
            started_uptime_ms: now.uptime_ms,
            started_unix_ms: now.unix_ms,
            ended_uptime_ms: None,
            ended_unix_ms: None,
            resolution: None,
        }
    }

    fn open_alert(&mut self, key: String, a: Alert) -> Alert {
        self.next_id += 1;
        self.open.insert(key, a.id);
        self.alerts.push_back(a.clone());
        a
    }

    fn find_mut(&mut self, id: u64) -> Option<&mut Alert> {
        self.alerts.iter_mut().rev().find(|a| a.id == id)
    }

    /// Raises an open alert's severity and keeps its worst value.
    /// Raises the open alert of `key` to `severity` (never lowers it) and
    /// keeps its worst observation; with `message`, it says so. Returns the
    /// alert when its severity rose, so dashboards hear of it (they replace
    /// an alert by its id): a silent escalation once left the badge at
    /// "warning" while the alert was critical.
    fn escalate(
        &mut self,
        key: &str,
        severity: Severity,
        observed: f64,
        bad: Direction,
        message: Option<String>,
    ) -> Option<Alert> {
        let a = self
            .open
            .get(key)
            .copied()
            .and_then(|id| self.find_mut(id))?;
        let worse = match bad {
            Direction::High => observed > a.observed,
            Direction::Low => observed < a.observed,
        };
        if worse {
            a.observed = observed;
        }
        if severity <= a.severity {
            return None;
        }
        a.severity = severity;
        if let Some(m) = message {
            a.message = m;
        }
        Some(a.clone())
    }

    fn resolve(&mut self, now: Now, key: &str, why: &str) -> Option<Alert> {
        let id = self.open.remove(key)?;
        let a = self.find_mut(id)?;
        a.ended_uptime_ms = Some(now.uptime_ms);
        a.ended_unix_ms = Some(now.unix_ms);
        a.resolution = Some(why.to_string());
        let done = a.clone();
        self.evict();
        Some(done)
    }

    /// Drops the oldest resolved alerts beyond [`MAX_RESOLVED_ALERTS`].
    fn evict(&mut self) {
        let resolved = self.alerts.iter().filter(|a| !a.is_open()).count();
        let mut excess = resolved.saturating_sub(MAX_RESOLVED_ALERTS);
        self.alerts.retain(|a| {
            if excess > 0 && !a.is_open() {
                excess -= 1;
                false
            } else {
                true
            }
        });
    }
}

/// Media is left beyond what the buffer holds (false in a video's last
/// seconds, when the buffer drains with nothing left to fetch).
fn more_to_fetch(c: &ClientSnapshot) -> bool {
    c.playhead_s + c.buffer_level_s < c.video_duration_s - 0.5
}

fn fmt_ms(v: Option<f64>) -> String {
    v.map_or_else(|| "none".to_string(), |ms| format!("{ms:.0}"))
}

/// A detector's identity and wording.
struct Spec {
    key: String,
    metric: Metric,
    direction: Direction,
    scale: Scale,
    client: Option<ClientKind>,
    node: Option<String>,
    what: String,
    unit: &'static str,
}

/// Runs one detector over a whole series with its hysteresis, the way
/// [`AnomalyMonitor`] does, and returns the `(open, close)` sample indices
/// of every alert (close `None` if still open at the end). For tests and
/// the false-positive figures.
pub fn run_series(
    series: &[f64],
    direction: Direction,
    scale: Scale,
    cfg: &AnomalyConfig,
) -> Vec<(usize, Option<usize>)> {
    let mut z = RobustZ::new(direction, cfg.window, scale);
    let mut h = Hysteresis::default();
    let mut out: Vec<(usize, Option<usize>)> = Vec::new();
    for (i, &x) in series.iter().enumerate() {
        let Some(j) = z.judge(x, cfg) else {
            z.learn(x);
            continue;
        };
        if !j.anomalous {
            z.learn(x);
        }
        match h.step(j.anomalous, cfg.open_after, cfg.close_after) {
            Transition::Open => out.push((i, None)),
            Transition::Close => {
                if let Some(last) = out.last_mut() {
                    last.1 = Some(i);
                }
            }
            Transition::None => {}
        }
        if h.open && h.open_for >= cfg.rebaseline_after {
            z.clear();
            h = Hysteresis::default();
            if let Some(last) = out.last_mut() {
                last.1 = Some(i);
            }
        }
    }
    out
}

/// Share of samples inside an alert, 0–1 (the false-positive rate when the
/// series is clean).
pub fn alerted_share(alerts: &[(usize, Option<usize>)], len: usize) -> f64 {
    if len == 0 {
        return 0.0;
    }
    let inside: usize = alerts
        .iter()
        .map(|(a, b)| b.unwrap_or(len).saturating_sub(*a))
        .sum();
    inside as f64 / len as f64
}

/// The node-health alert's text: `node-3 is down as the smart client sees
/// it (latency 60 ms, success rate 50 %)`.
fn health_message(kind: ClientKind, n: &crate::engine::NodeSnapshot) -> String {
    format!(
        "{} is {} as the {} client sees it (latency {}, success rate {:.0} %)",
        n.node_id,
        n.health.name(),
        kind.name(),
        n.latency_ms
            .map_or_else(|| "not measured".to_string(), |ms| format!("{ms:.0} ms")),
        n.success_rate * 100.0
    )
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    /// Gaussian noise (Box–Muller) around `mean` with `sd`, seeded.
    fn noise(n: usize, mean: f64, sd: f64, seed: u64) -> Vec<f64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let u1: f64 = rng.random_range(f64::EPSILON..1.0);
                let u2: f64 = rng.random();
                mean + sd * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
            })
            .collect()
    }

    #[test]
    fn median_and_mad_ignore_one_outlier() {
        let cfg = AnomalyConfig::default();
        let mut d = RobustZ::new(Direction::High, 60, Scale::Linear { floor: 0.0 });
        for x in [10.0, 11.0, 9.0, 10.5, 9.5, 10.0, 10.2, 9.8, 10.1, 1000.0] {
            d.learn(x);
        }
        let j = d.judge(10.3, &cfg).unwrap();
        assert!((j.median - 10.05).abs() < 1e-9, "{j:?}");
        assert!(!j.anomalous);
        let j = d.judge(20.0, &cfg).unwrap();
        assert!(j.anomalous && j.z > 3.5, "{j:?}");
        // The low side does not count for a High detector.
        assert!(!d.judge(0.0, &cfg).unwrap().anomalous);
    }

    #[test]
    fn the_relative_floor_keeps_a_flat_series_quiet() {
        let cfg = AnomalyConfig::default();
        let mut d = RobustZ::new(Direction::High, 60, Scale::Linear { floor: 0.0 });
        for _ in 0..30 {
            d.learn(5.0);
        }
        // +10 % on a perfectly flat 5 ms series: within the 5 % MAD floor.
        assert!(!d.judge(5.5, &cfg).unwrap().anomalous);
        assert!(d.judge(8.0, &cfg).unwrap().anomalous);
    }

    #[test]
    fn hysteresis_never_flaps_on_a_single_sample() {
        let mut h = Hysteresis::default();
        let steps: Vec<Transition> = [
            true, false, true, false, true, true, true, false, true, false, false, false, false,
            false,
        ]
        .iter()
        .map(|&b| h.step(b, 3, 5))
        .collect();
        let opens = steps.iter().filter(|t| **t == Transition::Open).count();
        let closes = steps.iter().filter(|t| **t == Transition::Close).count();
        assert_eq!((opens, closes), (1, 1), "{steps:?}");
        assert_eq!(steps[6], Transition::Open);
        assert_eq!(steps[13], Transition::Close);
    }

    #[test]
    fn clean_gaussian_series_has_a_low_false_positive_rate() {
        let cfg = AnomalyConfig::default();
        let mut worst: f64 = 0.0;
        for seed in 0..20 {
            let s = noise(2000, 50.0, 5.0, seed);
            let alerts = run_series(&s, Direction::Low, Scale::Linear { floor: 0.5 }, &cfg);
            worst = worst.max(alerted_share(&alerts, s.len()));
        }
        // Three samples in a row past 3.5 robust sd: practically never.
        assert!(worst < 0.001, "false-positive share {worst}");
    }

    #[test]
    fn a_drop_opens_within_open_after_samples_and_resolves_after_it() {
        let cfg = AnomalyConfig::default();
        let mut s = noise(200, 50.0, 5.0, 7);
        for x in &mut s[100..130] {
            *x *= 0.2;
        }
        let alerts = run_series(&s, Direction::Low, Scale::Linear { floor: 0.5 }, &cfg);
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        let (open, close) = alerts[0];
        assert_eq!(open, 100 + cfg.open_after as usize - 1);
        assert_eq!(close, Some(130 + cfg.close_after as usize - 1));
    }

    #[test]
    fn a_permanent_shift_becomes_the_new_baseline() {
        let cfg = AnomalyConfig {
            rebaseline_after: 20,
            ..AnomalyConfig::default()
        };
        let mut s = noise(100, 10.0, 1.0, 3);
        s.extend(noise(200, 40.0, 1.0, 4));
        let alerts = run_series(
            &s,
            Direction::High,
            Scale::Log {
                offset: 1.0,
                min_mad: 0.0,
            },
            &cfg,
        );
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert!(alerts[0].1.is_some_and(|c| c < 140), "{alerts:?}");
    }

    #[test]
    fn bad_configs_are_refused() {
        for bad in [
            AnomalyConfig {
                window: 2,
                ..AnomalyConfig::default()
            },
            AnomalyConfig {
                min_samples: 100,
                ..AnomalyConfig::default()
            },
            AnomalyConfig {
                threshold_z: f64::NAN,
                ..AnomalyConfig::default()
            },
            AnomalyConfig {
                open_after: 0,
                ..AnomalyConfig::default()
            },
        ] {
            assert!(AnomalyMonitor::new(bad).is_err());
        }
    }

    fn outcome(
        kind: ClientKind,
        session: u32,
        startup: f64,
        rebuffers: u32,
        stall: f64,
    ) -> SessionOutcome {
        SessionOutcome {
            kind,
            session,
            startup_latency_ms: Some(startup),
            rebuffer_count: rebuffers,
            rebuffer_time_ms: stall,
        }
    }

    #[test]
    fn a_node_that_goes_from_degraded_to_down_escalates_out_loud() {
        let mut m = AnomalyMonitor::new(AnomalyConfig::default()).unwrap();
        let node = |health: NodeHealth| crate::engine::NodeSnapshot {
            node_id: "node-3".into(),
            score: 0.5,
            latency_ms: Some(60.0),
            bandwidth_mbps: None,
            success_rate: 0.5,
            health,
            in_flight: 0,
            chunks: 0,
            bytes: 0,
            failures: 2,
            killed: false,
        };
        let at = |ms: u64| Now {
            uptime_ms: ms,
            unix_ms: 1_700_000_000_000 + ms,
        };
        let mut out = Vec::new();
        for t in 1..=2 {
            m.health_rule(
                at(t * 1000),
                ClientKind::Smart,
                &node(NodeHealth::Degraded),
                &mut out,
            );
        }
        assert_eq!(out.len(), 1, "opened after two bad ticks: {out:?}");
        assert_eq!(out[0].severity, Severity::Warning);
        assert!(
            out[0].message.starts_with("node-3 is degraded"),
            "{}",
            out[0].message
        );
        let id = out[0].id;
        out.clear();
        m.health_rule(
            at(3000),
            ClientKind::Smart,
            &node(NodeHealth::Down),
            &mut out,
        );
        assert_eq!(out.len(), 1, "the escalation goes out: {out:?}");
        assert_eq!((out[0].id, out[0].severity), (id, Severity::Critical));
        assert!(
            out[0]
                .message
                .starts_with("node-3 is down as the smart client"),
            "{}",
            out[0].message
        );
        out.clear();
        m.health_rule(
            at(4000),
            ClientKind::Smart,
            &node(NodeHealth::Down),
            &mut out,
        );
        assert!(out.is_empty(), "nothing new: {out:?}");
        assert_eq!(m.open_count(), 1);
    }

    fn tick_sessions(m: &mut AnomalyMonitor, at: u64, finished: &[SessionOutcome]) -> Vec<Alert> {
        m.tick(&Tick {
            now: Now {
                uptime_ms: at,
                unix_ms: 1_700_000_000_000 + at,
            },
            clients: PerClient::default(),
            throughput_mbps: PerClient::default(),
            stall_share: PerClient::default(),
            finished,
        })
    }

    #[test]
    fn session_rules_open_on_a_miss_and_resolve_on_the_next_good_session() {
        let mut m = AnomalyMonitor::new(AnomalyConfig::default()).unwrap();
        let s = ClientKind::Smart;
        let n = ClientKind::Naive;
        let a = tick_sessions(
            &mut m,
            1000,
            &[outcome(s, 1, 2500.0, 0, 0.0), outcome(n, 1, 1000.0, 0, 0.0)],
        );
        let kinds: Vec<AlertKind> = a.iter().map(|a| a.kind).collect();
        assert_eq!(
            kinds,
            vec![AlertKind::TargetMissed, AlertKind::SmartWorse],
            "{a:?}"
        );
        assert!(a[0].message.contains("startup 2500 ms"), "{}", a[0].message);
        assert_eq!(m.open_count(), 2);
        let a = tick_sessions(
            &mut m,
            2000,
            &[outcome(s, 2, 800.0, 1, 300.0), outcome(n, 2, 900.0, 0, 0.0)],
        );
        assert!(a.iter().all(|a| !a.is_open()), "{a:?}");
        assert_eq!(m.open_count(), 0);
        let all = m.alerts();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].ended_uptime_ms, Some(2000));
    }

    #[test]
    fn a_session_that_never_started_missed_the_startup_target() {
        let mut m = AnomalyMonitor::new(AnomalyConfig::default()).unwrap();
        let never = SessionOutcome {
            startup_latency_ms: None,
            ..outcome(ClientKind::Smart, 1, 0.0, 0, 0.0)
        };
        let a = tick_sessions(&mut m, 1000, &[never]);
        let missed = a
            .iter()
            .find(|a| a.kind == AlertKind::TargetMissed)
            .expect("a never-started session is a missed target, not a 0 ms startup");
        assert!(
            missed.message.contains("never started"),
            "{}",
            missed.message
        );
        assert!(missed.observed.is_infinite());
        let json = serde_json::to_string(missed).unwrap();
        let back: Alert = serde_json::from_str(&json).unwrap();
        assert!(back.observed.is_infinite(), "{json}");
    }

    #[test]
    fn resolved_alerts_are_bounded() {
        let mut m = AnomalyMonitor::new(AnomalyConfig::default()).unwrap();
        for i in 0..(MAX_RESOLVED_ALERTS as u32 + 50) {
            let bad = outcome(ClientKind::Smart, 2 * i, 3000.0, 0, 0.0);
            let good = outcome(ClientKind::Smart, 2 * i + 1, 500.0, 0, 0.0);
            tick_sessions(&mut m, u64::from(i) * 10, &[bad]);
            tick_sessions(&mut m, u64::from(i) * 10 + 5, &[good]);
        }
        assert_eq!(m.alerts().len(), MAX_RESOLVED_ALERTS);
    }
}
