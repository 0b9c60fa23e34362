//! Adaptive bitrate (ABR): which rendition of the next segment to fetch.
//!
//! Quality choice is a decision of its own beside source choice (which
//! replica serves the bytes, [`crate::engine`]'s scheduler). A rule sees the
//! ladder ([`Ladder`]), the buffer level and the throughput estimate
//! ([`AbrState`]) and answers with a level and an optional delay
//! ([`Choice`]); while a download runs it may abandon it for a lower level
//! ([`AbrRule::check_abandon`]).
//!
//! The rules are those of the Sabre simulator (Spiteri, Sitaraman and
//! Sparacio, "From Theory to Practice: Improving Bitrate Adaptation in the
//! DASH Reference Player", MMSys 2018; code `UMass-LIDS/sabre`), reproduced
//! decision for decision so that `vstack sim --model sabre` and `sabre.py`
//! agree line by line:
//!
//! - [`Bola`]: BOLA (Spiteri, Urgaonkar and Sitaraman, INFOCOM 2016), with
//!   Sabre's "BOLA-U" up-switch limit and dynamic buffer target;
//! - [`BolaE`]: BOLA-E, BOLA with placeholder and the insufficient-buffer
//!   rule, as in dash.js;
//! - [`ThroughputRule`]: the throughput rule (safety factor 0.9) with the
//!   insufficient-buffer rule and abandonment;
//! - [`Dynamic`]: dash.js's "dynamic": the throughput rule while the buffer
//!   is below 10 s, BOLA above;
//! - [`Fixed`]: one level always (the seed's fixed quality);
//! - [`MultiSourceRule`]: vstack's own: each level scored in linear QoE's
//!   terms, its arrival timed at the rate the chunk can come in at from
//!   its whole replica set (the sum of the replicas' estimates, as the
//!   scheduler splits a chunk across them) instead of one link's history,
//!   its switches counted to the level the whole cluster's pooled rate
//!   sustains once the buffer is deep (chunks on other replica sets are
//!   fetched beside it).
//!
//! [`QualityQoe`] scores what was played as the field does: time-average
//! played bitrate, switches, and Pensieve's linear QoE.
//!
//! Units are Sabre's: sizes in bits, times in ms, rates in kbit/s (bits/ms).
//! Everything here is sans-IO and deterministic.

mod bola;
mod estimate;
mod throughput;

use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use bola::{Bola, BolaE};
pub use estimate::{Ewma, PREDICTION_ERROR_WINDOW};
pub use throughput::{Dynamic, ThroughputRule};

pub use crate::input::Ladder;

/// What a rule sees when it decides: the player's state at that moment.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AbrState {
    /// Media buffered ahead of the playhead, ms.
    pub buffer_level_ms: f64,
    /// Throughput estimate, kbit/s; `None` before the first download.
    pub throughput_kbps: Option<f64>,
    /// Latency (time to first bit) estimate, ms; `None` before the first
    /// download.
    pub latency_ms: Option<f64>,
    /// The rate the segment can arrive at from its whole replica set, kbit/s
    /// (the multi-source engine's estimate); `None` outside it.
    pub replica_rate_kbps: Option<f64>,
    /// The rate every live node of the cluster pools, kbit/s (the
    /// multi-source engine's estimate): once the buffer is deep, chunks on
    /// other replica sets are fetched beside this one, so this is the rate
    /// the client settles at. `None` outside the engine and while the
    /// buffer is below the engine's low-water mark (a slow replica set
    /// would stall it before the others helped).
    pub pool_rate_kbps: Option<f64>,
    /// Bits already queued on that replica set (parts of other chunks still
    /// to come), which the segment waits behind; 0 outside the engine.
    pub replica_queued_bits: f64,
    /// Media time until the segment is needed (its start − the playhead),
    /// ms: the buffer level once every earlier segment is in, more while
    /// earlier ones are still on their way (their bits are in
    /// `replica_queued_bits`); `None` outside the engine.
    pub until_needed_ms: Option<f64>,
    /// Level of the segment before this one, when it has been chosen
    /// (the multi-source rule counts the switch from it); `None` outside
    /// the engine and for the first segment.
    pub previous_level: Option<usize>,
    /// How well the throughput estimate predicted the last
    /// [`PREDICTION_ERROR_WINDOW`] downloads: the largest relative error
    /// ([`Ewma::prediction_error`]). `None` before the second download.
    pub prediction_error: Option<f64>,
}

/// A rule's answer for the next segment.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Choice {
    /// Level to fetch (index into the ladder, 0 = lowest).
    pub level: usize,
    /// Wait this long before starting the download, ms (BOLA's buffer
    /// target; 0 for rules that never wait).
    pub delay_ms: f64,
}

/// A download in progress or finished, as rules see it (Sabre's
/// `DownloadProgress`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Progress {
    /// Segment index.
    pub segment: usize,
    /// Level being fetched.
    pub level: usize,
    /// Segment size, bits.
    pub size_bits: f64,
    /// Bits received so far.
    pub downloaded_bits: f64,
    /// Time since the request, ms.
    pub time_ms: f64,
    /// Time from the request to the first bit, ms.
    pub time_to_first_bit_ms: f64,
    /// Level the download was abandoned for, if it was.
    pub abandon_to: Option<usize>,
}

/// An ABR rule. One instance serves one playback session.
pub trait AbrRule: Send {
    /// The rule's name as `--abr` takes it.
    fn name(&self) -> &'static str;

    /// Level of the first segment, fetched before any estimate exists.
    fn first_level(&self) -> usize {
        0
    }

    /// Level (and wait) for segment `segment`.
    fn choose(&mut self, ladder: &Ladder, state: &AbrState, segment: usize) -> Choice;

    /// Level of segment `segment` asked before the client has a throughput
    /// sample of its own (the first segment, and those asked beside it),
    /// when every replica of it has been measured by the startup probes
    /// (`state.replica_rate_kbps` is their pooled rate). `previous` is the
    /// level chosen for the segment before, if any. Default
    /// [`AbrRule::first_level`]: Sabre's rules start at the bottom.
    fn startup_level(
        &mut self,
        _ladder: &Ladder,
        _state: &AbrState,
        _segment: usize,
        _previous: Option<usize>,
    ) -> usize {
        self.first_level()
    }

    /// The player waited `delay_ms` because its buffer was full.
    fn report_delay(&mut self, _delay_ms: f64) {}

    /// A download finished or was abandoned; `state` is the player's after
    /// it.
    fn report_download(&mut self, _ladder: &Ladder, _state: &AbrState, _download: &Progress) {}

    /// Called while `progress` runs with the buffer level the player will
    /// have at that point (`buffer_level_ms`); `Some(level)` abandons the
    /// download for a lower level.
    fn check_abandon(
        &mut self,
        _ladder: &Ladder,
        _state: &AbrState,
        _progress: &Progress,
        _buffer_level_ms: f64,
    ) -> Option<usize> {
        None
    }
}

/// Settings the rules share (Sabre's command-line defaults).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AbrConfig {
    /// Maximum buffer, ms. Default 25,000 (Sabre's `-b 25`).
    pub buffer_ms: f64,
    /// BOLA's γp product, seconds. Default 5 (Sabre's `-gp 5`).
    pub gamma_p: f64,
    /// BOLA-E and the throughput rule without the insufficient-buffer rule.
    /// Default false.
    pub no_ibr: bool,
    /// Sabre's `--abr-osc`: BOLA variants that trade oscillation for delay.
    /// Default false.
    pub abr_osc: bool,
    /// Sabre's `--abr-basic`: BOLA without the dynamic buffer target and
    /// without abandonment. Default false.
    pub abr_basic: bool,
}

impl Default for AbrConfig {
    fn default() -> Self {
        Self {
            buffer_ms: 25_000.0,
            gamma_p: 5.0,
            no_ibr: false,
            abr_osc: false,
            abr_basic: false,
        }
    }
}

/// The rules by name, as `--abr` takes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AbrKind {
    /// One level always: the highest one (`fixed`), or the level given.
    Fixed,
    /// BOLA.
    Bola,
    /// BOLA-E.
    Bolae,
    /// The throughput rule.
    Throughput,
    /// dash.js's dynamic (throughput below 10 s of buffer, BOLA above).
    Dynamic,
    /// vstack's multi-source rule ([`MultiSourceRule`]).
    MultiSource,
}

impl AbrKind {
    /// Every rule, in the order tables list them.
    pub const ALL: [AbrKind; 6] = [
        AbrKind::Fixed,
        AbrKind::Bola,
        AbrKind::Bolae,
        AbrKind::Throughput,
        AbrKind::Dynamic,
        AbrKind::MultiSource,
    ];

    /// The rules `sabre.py` also has (every one but `fixed`).
    pub const SABRE: [AbrKind; 4] = [
        AbrKind::Bola,
        AbrKind::Bolae,
        AbrKind::Throughput,
        AbrKind::Dynamic,
    ];

    /// The name `--abr` takes (and `sabre.py -a` for the Sabre rules).
    pub fn name(self) -> &'static str {
        match self {
            AbrKind::Fixed => "fixed",
            AbrKind::Bola => "bola",
            AbrKind::Bolae => "bolae",
            AbrKind::Throughput => "throughput",
            AbrKind::Dynamic => "dynamic",
            AbrKind::MultiSource => "multi-source",
        }
    }

    /// A fresh rule for one session on `ladder`. `Fixed` plays
    /// `fixed_level` (clamped to the top level).
    pub fn build(
        self,
        ladder: &Ladder,
        config: &AbrConfig,
        fixed_level: usize,
    ) -> Box<dyn AbrRule> {
        match self {
            AbrKind::Fixed => Box::new(Fixed {
                level: fixed_level.min(ladder.top()),
            }),
            AbrKind::Bola => Box::new(Bola::new(ladder, config)),
            AbrKind::Bolae => Box::new(BolaE::new(ladder, config)),
            AbrKind::Throughput => Box::new(ThroughputRule::new(config)),
            AbrKind::Dynamic => Box::new(Dynamic::new(ladder, config)),
            AbrKind::MultiSource => Box::new(MultiSourceRule::new(config)),
        }
    }
}

/// `--abr` got a name that is not a rule.
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown ABR rule {0:?}; expected one of fixed, bola, bolae, throughput, dynamic, multi-source"
)]
pub struct UnknownRule(pub String);

impl FromStr for AbrKind {
    type Err = UnknownRule;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AbrKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| UnknownRule(s.to_string()))
    }
}

/// The seed's fixed quality: one level for every segment.
#[derive(Clone, Copy, Debug)]
pub struct Fixed {
    /// The level played.
    pub level: usize,
}

impl AbrRule for Fixed {
    fn name(&self) -> &'static str {
        "fixed"
    }

    fn first_level(&self) -> usize {
        self.level
    }

    fn choose(&mut self, _ladder: &Ladder, _state: &AbrState, _segment: usize) -> Choice {
        Choice {
            level: self.level,
            delay_ms: 0.0,
        }
    }
}

/// The rule a session plays, with its settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AbrSettings {
    /// The rule. Default `fixed`.
    pub rule: AbrKind,
    /// Level `fixed` plays (clamped to the top). Default the top level.
    pub fixed_level: usize,
    /// The rules' settings. Default [`AbrConfig::default`].
    pub config: AbrConfig,
}

impl Default for AbrSettings {
    fn default() -> Self {
        Self {
            rule: AbrKind::Fixed,
            fixed_level: usize::MAX,
            config: AbrConfig::default(),
        }
    }
}

/// vstack's multi-source rule: the level that scores best in linear QoE's
/// own terms ([`QualityQoe`], Pensieve's metric) when the segment is
/// fetched from its whole replica set:
///
/// - its bitrate, Mbit/s;
/// - less [`LINEAR_QOE_REBUFFER_PENALTY`] per second it would arrive after
///   it is needed: one latency, then the bits already queued on its
///   replicas ([`AbrState::replica_queued_bits`]) and its own, at 0.9 × the
///   smaller of the replica set's pooled rate
///   ([`AbrState::replica_rate_kbps`], the sum of the replicas' estimates,
///   as the scheduler splits a chunk across them) and the client's measured
///   throughput, against [`AbrState::until_needed_ms`];
/// - less the switches it sits between: from the segment before
///   ([`AbrState::previous_level`]) and to the level it will settle at,
///   the one (as the throughput rule picks) that 0.9 × the smaller of
///   the whole cluster's pooled rate ([`AbrState::pool_rate_kbps`], given
///   once the buffer is at the low-water mark: chunks on other replica
///   sets are fetched beside it) and the client's throughput sustains;
///   the arrival rate's own level when that is higher or no pool is given.
///
/// A one-segment dip pays its switch twice, so a short late arrival is
/// played through at the level held (a second of stall costs 4.3, a dip
/// from 6 to 0.2 Mbit/s costs about 17) and a long one is not.
///
/// While the throughput estimate has predicted well (the largest relative
/// error of its last [`PREDICTION_ERROR_WINDOW`] predictions,
/// [`AbrState::prediction_error`], at most
/// [`LOOKAHEAD_MAX_PREDICTION_ERROR`]: RobustMPC's error measure, used as
/// a gate), it looks one segment further, as MPC does (Yin et al., SIGCOMM
/// 2015) with a horizon of two (`lookahead_level`): the segment and the
/// one after it (any level, arriving at the settle rate), then the switch
/// to the settle level. In those terms a climb above the settle level for
/// two segments costs exactly what it gains, and an equal score goes to
/// the higher level (as the one-segment score's does), so with accurate
/// predictions the rule spends buffer above the sustainable level while
/// both segments arrive in time, and holds it until a stall looms. On
/// `fcc-2col` (three nodes near 0.49 Mbit/s each) that plays the 1,427
/// kbit/s rung the one-segment score never reached (pool 1.47 Mbit/s, 1.32
/// at the safety factor); on the 3G traces, whose predictions miss by more,
/// it is mostly off (always on, it cost 3G 26 % of its mean over 300
/// sessions). Before a download has been predicted (the second one), the
/// prediction counts as good: the startup probes measured the replicas.
///
/// With `no_ibr` it is the plain throughput pick on that rate. Until it
/// scored switches (measured on FCC traces, 3 nodes, replication 2,
/// `bbb.json`) it picked the highest sustainable level that arrived within
/// a shrinking share of the time left, and dipped to the bottom for one
/// segment whenever a replica's estimate fell: 26 switches a session.
///
/// Outside the engine (no replica set) the pooled rate is the measured
/// throughput. It never abandons itself: the engine splits, hedges and
/// resumes, and drops a late chunk to a lower level on its own, in the same
/// terms (the session's abandonment).
///
/// At startup, before any throughput sample of its own but with every
/// replica probed ([`AbrRule::startup_level`]), it scores the same way on
/// the probed pooled rate (for the first segment all of its arrival time
/// counts as waiting: startup counts as stall). The engine asks the first
/// segment at once (blind, so at the bottom) and holds the ones beside it
/// until their replicas are measured; a fast replica set then jumps to the
/// top instead of climbing from the bottom (on the LTE traces that climb
/// cost 11 points of linear QoE a session), a slow one stays low.
#[derive(Clone, Debug)]
pub struct MultiSourceRule {
    no_ibr: bool,
}

impl MultiSourceRule {
    /// The rule with `config`'s insufficient-buffer setting.
    pub fn new(config: &AbrConfig) -> Self {
        Self {
            no_ibr: config.no_ibr,
        }
    }
}

impl AbrRule for MultiSourceRule {
    fn name(&self) -> &'static str {
        "multi-source"
    }

    fn startup_level(
        &mut self,
        ladder: &Ladder,
        state: &AbrState,
        segment: usize,
        previous: Option<usize>,
    ) -> usize {
        let Some(pooled) = state.replica_rate_kbps.filter(|r| *r > 0.0) else {
            return self.first_level();
        };
        let rate = pooled * ThroughputRule::SAFETY_FACTOR;
        qoe_scored_level(ladder, state, segment, previous, rate, rate)
    }

    fn choose(&mut self, ladder: &Ladder, state: &AbrState, segment: usize) -> Choice {
        let pooled = state
            .replica_rate_kbps
            .or(state.throughput_kbps)
            .unwrap_or(0.0);
        let sustained = state.throughput_kbps.map_or(pooled, |t| t.min(pooled));
        // Where the player settles: the whole cluster's rate (within the
        // client's own throughput) once the buffer is deep, never below the
        // replica set's.
        let settle = state.pool_rate_kbps.map_or(sustained, |pool| {
            state
                .throughput_kbps
                .map_or(pool, |t| t.min(pool))
                .max(sustained)
        });
        let predicted_well = state
            .prediction_error
            .is_none_or(|e| e <= LOOKAHEAD_MAX_PREDICTION_ERROR);
        let level = if self.no_ibr {
            let latency = state.latency_ms.unwrap_or(0.0);
            level_from_throughput(ladder, sustained * ThroughputRule::SAFETY_FACTOR, latency)
        } else if predicted_well && segment + 1 < ladder.segments() {
            lookahead_level(
                ladder,
                state,
                segment,
                sustained * ThroughputRule::SAFETY_FACTOR,
                settle * ThroughputRule::SAFETY_FACTOR,
            )
        } else {
            qoe_scored_level(
                ladder,
                state,
                segment,
                state.previous_level,
                sustained * ThroughputRule::SAFETY_FACTOR,
                settle * ThroughputRule::SAFETY_FACTOR,
            )
        };
        Choice {
            level,
            delay_ms: 0.0,
        }
    }
}

/// The level of `segment` that scores best in linear QoE's own terms
/// (Pensieve's metric, [`QualityQoe::of`]): its bitrate (Mbit/s), less
/// [`LINEAR_QOE_REBUFFER_PENALTY`] per second it would arrive after it is
/// needed, less the switches it sits between: from `previous` and to the
/// level `settle_kbps` sustains (where the player settles).
///
/// Arrival: one latency, then the bits already queued on the replica set
/// ([`AbrState::replica_queued_bits`]) and the segment's own at
/// `rate_kbps`; needed at [`AbrState::until_needed_ms`] (the buffer
/// level outside the engine). A one-segment dip costs its switch twice,
/// so a short late arrival is played through at the level held and a long
/// one is not.
fn qoe_scored_level(
    ladder: &Ladder,
    state: &AbrState,
    segment: usize,
    previous: Option<usize>,
    rate_kbps: f64,
    settle_kbps: f64,
) -> usize {
    let (latency, until_needed) = latency_and_deadline_ms(state);
    let next = level_from_throughput(ladder, settle_kbps, latency);
    let r = |q: usize| ladder.bitrates_kbps[q] / 1e3;
    let score = |q: usize| {
        let arrives_ms = arrival_ms(ladder, state, segment, q, latency, rate_kbps);
        let wait_s = (arrives_ms - until_needed).max(0.0) / 1e3;
        segment_linear_qoe(r(q), wait_s, previous.map(r), r(next))
    };
    (0..ladder.levels())
        .max_by(|a, b| score(*a).total_cmp(&score(*b)))
        .unwrap_or(0)
}

/// The latency (ms, 0 while unknown) and the time until the segment is
/// needed (ms: [`AbrState::until_needed_ms`], at least the buffer level)
/// that the multi-source rule's scores time an arrival against.
fn latency_and_deadline_ms(state: &AbrState) -> (f64, f64) {
    let latency = state.latency_ms.unwrap_or(0.0);
    let until_needed = state
        .until_needed_ms
        .unwrap_or(state.buffer_level_ms)
        .max(state.buffer_level_ms);
    (latency, until_needed)
}

/// When `segment` at `level` arrives, ms from now: `latency_ms`, then the
/// bits already queued on its replica set
/// ([`AbrState::replica_queued_bits`]) and its own at `rate_kbps`.
fn arrival_ms(
    ladder: &Ladder,
    state: &AbrState,
    segment: usize,
    level: usize,
    latency_ms: f64,
    rate_kbps: f64,
) -> f64 {
    latency_ms
        + (state.replica_queued_bits + ladder.segment_bits(segment, level)) / rate_kbps.max(1e-9)
}

/// The largest prediction error ([`AbrState::prediction_error`]) at which
/// the multi-source rule looks two segments ahead (`lookahead_level`).
/// Measured (`sim`, 3 nodes, replication 2, `bbb.json`, 100 sessions for
/// each of seeds 3, 7 and 11; smart's mean linear QoE, and its median
/// share of the optimum on `fcc-2col`), against the one-segment score
/// alone (3G −114.2, `fcc-2col` 32.3 and 53 %): a gate of 0.35 gave 3G
/// −112.9 and `fcc-2col` 47.2 (77–79 %); 0.5 gave −116.9 and 48.8
/// (81 % on every seed); 0.75 −120.5 and 49.1; no gate −143.6 and 49.1.
/// 0.5 is the smallest of those at which `fcc-2col` reaches 80 % of the
/// optimum; FCC, LTE and Envivio moved by under 0.3.
pub const LOOKAHEAD_MAX_PREDICTION_ERROR: f64 = 0.5;

/// The level of `segment` that scores best over two segments in linear
/// QoE's terms (MPC's look-ahead, Yin et al., SIGCOMM 2015, with a horizon
/// of two): for each level of `segment` and each of the segment after it,
/// their bitrates, less [`LINEAR_QOE_REBUFFER_PENALTY`] per second either
/// arrives after it is needed, less the switches from
/// [`AbrState::previous_level`], between the two and to the level
/// `settle_kbps` sustains.
///
/// `segment` arrives as in [`qoe_scored_level`] (one latency, then the
/// replica set's queued bits and its own at `rate_kbps`); the one after it
/// follows at `settle_kbps` and is needed one segment duration later, plus
/// any stall the first caused. Computed in kbit/s (bitrates and switches
/// are whole numbers on real ladders, so equal scores are exactly equal);
/// an equal score goes to the higher level. [`MultiSourceRule`] asks it
/// only when a segment follows `segment` (a missing one would be sized at
/// its level's nominal bitrate, [`Ladder::segment_bits`]).
fn lookahead_level(
    ladder: &Ladder,
    state: &AbrState,
    segment: usize,
    rate_kbps: f64,
    settle_kbps: f64,
) -> usize {
    let (latency, until_needed) = latency_and_deadline_ms(state);
    let next = ladder.bitrates_kbps[level_from_throughput(ladder, settle_kbps, latency)];
    let r = |q: usize| ladder.bitrates_kbps[q];
    // 4.3 a second of stall against Mbit/s is 4.3 a millisecond against
    // kbit/s.
    let penalty_per_ms = LINEAR_QOE_REBUFFER_PENALTY;
    let mut best = (f64::NEG_INFINITY, 0);
    for q in 0..ladder.levels() {
        let arrives_ms = arrival_ms(ladder, state, segment, q, latency, rate_kbps);
        let wait_ms = (arrives_ms - until_needed).max(0.0);
        let head = r(q) - state.previous_level.map_or(0.0, |p| (r(q) - r(p)).abs());
        let after_needed_ms = until_needed + ladder.segment_ms + wait_ms;
        for t in 0..ladder.levels() {
            let after_ms = arrives_ms + ladder.segment_bits(segment + 1, t) / settle_kbps.max(1e-9);
            let after_wait_ms = (after_ms - after_needed_ms).max(0.0);
            let score = head + r(t)
                - (r(t) - r(q)).abs()
                - (next - r(t)).abs()
                - penalty_per_ms * (wait_ms + after_wait_ms);
            if score >= best.0 {
                best = (score, q);
            }
        }
    }
    best.1
}

/// One segment's share of linear QoE ([`QualityQoe::of`]), Mbit/s: its
/// bitrate `rate_mbps`, less [`LINEAR_QOE_REBUFFER_PENALTY`] per second of
/// `wait_s` it causes, less the switches from `before_mbps` (none for the
/// first segment) and to `after_mbps`.
pub fn segment_linear_qoe(
    rate_mbps: f64,
    wait_s: f64,
    before_mbps: Option<f64>,
    after_mbps: f64,
) -> f64 {
    let switches =
        before_mbps.map_or(0.0, |b| (rate_mbps - b).abs()) + (after_mbps - rate_mbps).abs();
    rate_mbps - LINEAR_QOE_REBUFFER_PENALTY * wait_s - switches
}

/// Pensieve's stall penalty per second in linear QoE (Mao et al., SIGCOMM
/// 2017: `REBUF_PENALTY` 4.3 for the linear metric, the top bitrate of its
/// ladder in Mbit/s).
pub const LINEAR_QOE_REBUFFER_PENALTY: f64 = 4.3;

/// What was played, scored as the field scores it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QualityQoe {
    /// Level of each played chunk, in order.
    pub levels: Vec<usize>,
    /// Played bitrate averaged over played media time, kbit/s.
    pub played_bitrate_kbps: f64,
    /// Level changes between consecutive played chunks.
    pub switches: u32,
    /// Σ |ΔR| over those changes, kbit/s.
    pub switch_kbps: f64,
    /// Linear QoE (Pensieve): Σ R in Mbit/s over played chunks − 4.3 ×
    /// (startup + stall) time in s − Σ |ΔR| in Mbit/s (see [`Self::of`]).
    pub linear_qoe: f64,
}

impl QualityQoe {
    /// Scores chunks played at `played` = (level, media duration s) with
    /// `bitrates_kbps` per level and `stall_s` of waiting: startup latency
    /// plus rebuffering, as Pensieve counts it (its buffer starts empty, so
    /// the first chunk's download is rebuffering), so that a later start
    /// never scores better than a stall of the same length.
    pub fn of(bitrates_kbps: &[f64], played: &[(usize, f64)], stall_s: f64) -> Self {
        let rate = |q: usize| bitrates_kbps.get(q).copied().unwrap_or(0.0);
        let media_s: f64 = played.iter().map(|p| p.1).sum();
        let weighted: f64 = played.iter().map(|&(q, d)| rate(q) * d).sum();
        let mut switches = 0;
        let mut switch_kbps = 0.0;
        for w in played.windows(2) {
            if w[0].0 != w[1].0 {
                switches += 1;
                switch_kbps += (rate(w[1].0) - rate(w[0].0)).abs();
            }
        }
        let sum_mbps: f64 = played.iter().map(|p| rate(p.0) / 1000.0).sum();
        Self {
            levels: played.iter().map(|p| p.0).collect(),
            played_bitrate_kbps: if media_s > 0.0 {
                weighted / media_s
            } else {
                0.0
            },
            switches,
            switch_kbps,
            linear_qoe: sum_mbps - LINEAR_QOE_REBUFFER_PENALTY * stall_s - switch_kbps / 1000.0,
        }
    }
}

/// The highest level whose segment arrives within one segment duration at
/// `throughput_kbps` after `latency_ms` (Sabre's `quality_from_throughput`).
/// Level 0 when none does.
pub fn level_from_throughput(ladder: &Ladder, throughput_kbps: f64, latency_ms: f64) -> usize {
    let p = ladder.segment_ms;
    let mut level = 0;
    while level + 1 < ladder.levels()
        && latency_ms + p * ladder.bitrates_kbps[level + 1] / throughput_kbps <= p
    {
        level += 1;
    }
    level
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A three-level ladder of constant-bitrate 2 s segments.
    pub(crate) fn ladder() -> Ladder {
        let rates = vec![500.0, 1_500.0, 4_000.0];
        Ladder {
            name: "test".into(),
            segment_ms: 2_000.0,
            segments_bits: vec![rates.iter().map(|r| r * 2_000.0).collect(); 30],
            bitrates_kbps: rates,
        }
    }

    /// A state at `buffer_level_ms` with a `throughput_kbps` estimate and no
    /// latency.
    pub(crate) fn state(buffer_level_ms: f64, throughput_kbps: f64) -> AbrState {
        AbrState {
            buffer_level_ms,
            throughput_kbps: Some(throughput_kbps),
            latency_ms: Some(0.0),
            replica_rate_kbps: None,
            pool_rate_kbps: None,
            replica_queued_bits: 0.0,
            until_needed_ms: None,
            previous_level: None,
            prediction_error: None,
        }
    }

    #[test]
    fn names_round_trip_and_unknown_is_an_error() {
        for k in AbrKind::ALL {
            assert_eq!(k.name().parse::<AbrKind>().unwrap(), k);
        }
        let e = "bba".parse::<AbrKind>().unwrap_err().to_string();
        assert!(e.contains("bba") && e.contains("bolae"), "{e}");
    }

    #[test]
    fn throughput_level_keeps_the_segment_within_its_duration() {
        let l = ladder();
        assert_eq!(level_from_throughput(&l, 100.0, 0.0), 0);
        assert_eq!(level_from_throughput(&l, 1_500.0, 0.0), 1);
        // 100 ms of latency leaves 1.9 s for 2 s of 1.5 Mbit/s: too slow.
        assert_eq!(level_from_throughput(&l, 1_500.0, 100.0), 0);
        assert_eq!(level_from_throughput(&l, 1e9, 0.0), 2);
    }

    #[test]
    fn fixed_plays_its_level_clamped() {
        let l = ladder();
        let mut r = AbrKind::Fixed.build(&l, &AbrConfig::default(), 9);
        assert_eq!(r.first_level(), 2);
        assert_eq!(r.choose(&l, &AbrState::default(), 3).level, 2);
    }

    #[test]
    fn multi_source_plays_a_short_late_arrival_through_and_drops_for_a_long_one() {
        // Ladder 500 / 1,500 / 4,000 kbit/s, 2 s segments (1, 3, 8 Mbit);
        // the replica set pools 4 Mbit/s (3.6 at the 0.9 safety), the
        // previous segment played the top level.
        let l = ladder();
        let mut r = MultiSourceRule::new(&AbrConfig::default());
        let at = |until_needed_ms: f64| AbrState {
            buffer_level_ms: until_needed_ms,
            throughput_kbps: Some(4_000.0),
            replica_rate_kbps: Some(4_000.0),
            until_needed_ms: Some(until_needed_ms),
            previous_level: Some(2),
            // Predictions that missed: the one-segment score.
            prediction_error: Some(1.0),
            ..AbrState::default()
        };
        // Needed in 2 s: the top segment is 0.22 s late (0.96 of stall);
        // a dip to 1.5 Mbit/s would cost 2.5 of bitrate and 2.5 of switch
        // back. It keeps the top level (the share-of-the-buffer rule it
        // replaced dropped to level 1 here).
        assert_eq!(r.choose(&l, &at(2_000.0), 5).level, 2);
        // Needed in 0.5 s: the top segment would stall 1.7 s (7.4); level 1
        // stalls 0.33 s and costs its switches: it drops.
        assert_eq!(r.choose(&l, &at(500.0), 5).level, 1);
        // A slow replica set far ahead plays the level it sustains.
        let slow = AbrState {
            throughput_kbps: Some(2_000.0),
            replica_rate_kbps: Some(2_000.0),
            previous_level: Some(1),
            ..at(20_000.0)
        };
        assert_eq!(r.choose(&l, &slow, 5).level, 1);
    }

    #[test]
    fn multi_source_settles_where_the_cluster_pool_and_the_throughput_allow() {
        // Ladder 500 / 1,500 / 4,000 kbit/s, 2 s segments. The replica
        // set pools 1,600 kbit/s (1,440 at the safety: only the bottom is
        // sustained); 20 s of buffer, the previous segment at the bottom.
        let l = ladder();
        let mut r = MultiSourceRule::new(&AbrConfig::default());
        let state = |pool_kbps: Option<f64>, throughput_kbps: f64| AbrState {
            buffer_level_ms: 20_000.0,
            throughput_kbps: Some(throughput_kbps),
            replica_rate_kbps: Some(1_600.0),
            pool_rate_kbps: pool_kbps,
            until_needed_ms: Some(20_000.0),
            previous_level: Some(0),
            prediction_error: Some(1.0),
            ..AbrState::default()
        };
        // No pool given (a shallow buffer): a climb to 1,500 would switch
        // up and back down (2 × 1.0 against 1.0 of bitrate): it stays.
        assert_eq!(r.choose(&l, &state(None, 2_400.0), 5).level, 0);
        // The cluster pools 2,400 (2,160 sustains 1,500) and the client
        // measured as much: it climbs to where it will settle.
        assert_eq!(r.choose(&l, &state(Some(2_400.0), 2_400.0), 5).level, 1);
        // A client measured at the pair's rate (a cap of its own) stays.
        assert_eq!(r.choose(&l, &state(Some(2_400.0), 1_600.0), 5).level, 0);
    }

    #[test]
    fn multi_source_spends_buffer_above_the_settle_level_only_on_good_predictions() {
        // Ladder 500 / 1,500 / 4,000 kbit/s, 2 s segments (1, 3, 8 Mbit).
        // The replica set pools 1,600 kbit/s (1,440 at the safety: only
        // the bottom is sustained), no pool given, the previous segment at
        // the bottom.
        let l = ladder();
        let mut r = MultiSourceRule::new(&AbrConfig::default());
        let state = |until_needed_ms: f64, prediction_error: Option<f64>| AbrState {
            buffer_level_ms: until_needed_ms,
            throughput_kbps: Some(1_600.0),
            replica_rate_kbps: Some(1_600.0),
            until_needed_ms: Some(until_needed_ms),
            previous_level: Some(0),
            prediction_error,
            ..AbrState::default()
        };
        // Predictions within 50 %, 20 s ahead: two top segments arrive in
        // 5.6 and 11.1 s, in time; over two segments the climb and the
        // switch back cost what they gain, and the tie goes up.
        assert_eq!(r.choose(&l, &state(20_000.0, Some(0.1)), 5).level, 2);
        // No prediction judged yet counts as good.
        assert_eq!(r.choose(&l, &state(20_000.0, None), 5).level, 2);
        // 5 s ahead the top segment would stall 0.56 s; two at 1,500
        // arrive by 4.2 s, within the 7 s the second is needed by.
        assert_eq!(r.choose(&l, &state(5_000.0, Some(0.1)), 5).level, 1);
        // 1 s ahead even 1,500 would arrive 1.1 s late (at 2.1 s): the
        // bottom (0.7 s).
        assert_eq!(r.choose(&l, &state(1_000.0, Some(0.1)), 5).level, 0);
        // Predictions that missed by more than half: the one-segment
        // score, which never climbs above where the player settles.
        assert_eq!(r.choose(&l, &state(20_000.0, Some(0.6)), 5).level, 0);
        // The last segment has none after it: the one-segment score.
        assert_eq!(r.choose(&l, &state(20_000.0, Some(0.1)), 29).level, 0);
    }

    #[test]
    fn the_startup_level_weighs_bitrate_against_the_wait_as_linear_qoe_does() {
        // Ladder 500 / 1,500 / 4,000 kbit/s, 2 s segments (1, 3, 8 Mbit).
        let l = ladder();
        let mut r = MultiSourceRule::new(&AbrConfig::default());
        let probed = |pooled_kbps: f64, until_needed_ms: f64| AbrState {
            replica_rate_kbps: Some(pooled_kbps),
            until_needed_ms: Some(until_needed_ms),
            ..AbrState::default()
        };
        // 40 Mbit/s pooled: the top segment arrives in 0.22 s, worth its
        // 4 Mbit/s less 0.96 of waiting; the bottom one saves 0.9 of
        // waiting but loses 3.5 of bitrate and then 3.5 of switch up.
        assert_eq!(r.startup_level(&l, &probed(40_000.0, 0.0), 0, None), 2);
        // 2 Mbit/s: 8 Mbit takes 4.4 s (−19), 1 Mbit 0.56 s: the bottom.
        assert_eq!(r.startup_level(&l, &probed(2_000.0, 0.0), 0, None), 0);
        // The same rate (1.8 Mbit/s at the safety factor: it sustains
        // 1,500), 3 s before the segment is needed, after one at the
        // bottom: 3 Mbit arrives in time and is on the way to where the
        // player settles; 8 Mbit waits 1.4 s and switches twice.
        assert_eq!(
            r.startup_level(&l, &probed(2_000.0, 3_000.0), 1, Some(0)),
            1
        );
        // Nothing measured: the rule's first level.
        assert_eq!(r.startup_level(&l, &AbrState::default(), 0, None), 0);
        // Sabre's rules keep their own start.
        let mut bola = AbrKind::Bolae.build(&l, &AbrConfig::default(), 0);
        assert_eq!(
            bola.startup_level(&l, &probed(40_000.0, 0.0), 0, None),
            bola.first_level()
        );
    }
}
