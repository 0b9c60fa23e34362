//! Sabre's single-source model: one player, one link, one ABR rule, so that
//! `vstack sim --model sabre` and `sabre.py` (Spiteri et al., MMSys 2018;
//! `shared/peers/sabre`) can be run side by side on the same trace and video
//! and diffed figure by figure.
//!
//! The model, as `sabre.py` has it:
//! - **Network**: the trace's periods in order, looping; a request first
//!   waits one latency (`latency_ms` of the period(s) it spans), then its
//!   bits flow at the period's bandwidth. No loss, no competing flows.
//! - **Player**: fetch segments one at a time in order. The first segment is
//!   fetched at the rule's first level before playback starts (its time is
//!   the startup). Before each next request, a buffer above `buffer_ms −
//!   segment` waits until it is not; the rule may ask for a further delay.
//!   While a download runs the rule is asked every 50 ms or 12,000 bits
//!   whether to abandon it; an abandoned download is discarded and the rule
//!   chooses again for the same segment.
//! - **Figures**: Sabre's own, under its names ([`SabreReport`]).
//!
//! Sabre quirks kept on purpose (they decide its numbers): the startup
//! download counts in `total play time` (the time averages divide by it);
//! a stall that begins on an already empty buffer adds time but no event;
//! the throughput estimate takes the first segment's size over its time
//! after the first bit.
//!
//! Not modelled (no `sabre.py` option used by vstack needs them): seeks,
//! segment replacement, the reaction-time and estimate-accuracy figures.

use serde::{Deserialize, Serialize};

use crate::{
    abr::{AbrConfig, AbrKind, AbrRule, AbrState, Ewma, Progress},
    input::{Ladder, Trace},
};

/// Settings of a Sabre-model session (Sabre's defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SabreConfig {
    /// The rules' settings (buffer 25 s, γp 5).
    pub abr: AbrConfig,
    /// EWMA half-lives, seconds (3 and 8).
    pub half_life_s: Vec<f64>,
    /// Ask the rule about abandoning running downloads (default true;
    /// Sabre's `--no-abandon` is false).
    pub abandon: bool,
    /// Level `fixed` plays (default the top one, `usize::MAX`).
    pub fixed_level: usize,
    /// Simulated time after which the session is given up, ms (default 48 h:
    /// a trace with almost no bandwidth must not loop for ever).
    pub time_limit_ms: f64,
}

impl Default for SabreConfig {
    fn default() -> Self {
        Self {
            abr: AbrConfig::default(),
            half_life_s: Ewma::DEFAULT_HALF_LIFE_S.to_vec(),
            abandon: true,
            fixed_level: usize::MAX,
            time_limit_ms: 48.0 * 3_600_000.0,
        }
    }
}

/// A Sabre-model session could not run.
#[derive(Debug, thiserror::Error)]
pub enum SabreError {
    /// The trace has no bandwidth at all.
    #[error("trace {0} has no period with bandwidth: no segment could ever arrive")]
    NoBandwidth(String),
    /// The session ran past its time limit.
    #[error("the session passed its time limit of {0} s of simulated time")]
    TimeLimit(f64),
}

/// A session's figures, named and computed as `sabre.py` prints them (times
/// in seconds where Sabre prints seconds), plus the field's linear QoE.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SabreReport {
    /// The rule.
    pub abr: String,
    /// The trace's name.
    pub trace: String,
    /// Buffer size, ms.
    pub buffer_size: f64,
    /// Σ ln(R/R_min) over played segments.
    pub total_played_utility: f64,
    /// Played utility per segment duration of play time.
    pub time_average_played_utility: f64,
    /// Σ bitrate of played segments, kbit/s.
    pub total_played_bitrate: f64,
    /// Played bitrate per segment duration of play time, kbit/s.
    pub time_average_played_bitrate: f64,
    /// Play time including the startup download and stalls, s.
    pub total_play_time: f64,
    /// Stall time after startup, s.
    pub total_rebuffer: f64,
    /// Stall time over play time.
    pub rebuffer_ratio: f64,
    /// Stall events after startup.
    pub total_rebuffer_events: f64,
    /// Σ |ΔR| between consecutive played segments, kbit/s.
    pub total_bitrate_change: f64,
    /// Σ |ln(R₂/R₁)| between consecutive played segments.
    pub total_log_bitrate_change: f64,
    /// Sabre's score: (played utility − γp × stall time / segment) per
    /// segment duration of play time.
    pub time_average_score: f64,
    /// Startup: the first segment's download time after its first bit, s
    /// (Sabre's `startup_time`; it does not print it).
    pub startup_time: f64,
    /// Linear QoE (Pensieve, Mao et al., SIGCOMM 2017): Σ bitrate in Mbit/s
    /// − 4.3 × (startup + stall) s − Σ |ΔR| in Mbit/s, over the played
    /// segments (startup counts as stall, as in [`crate::abr::QualityQoe`]).
    pub linear_qoe: f64,
    /// Level played per segment, in order.
    pub levels: Vec<usize>,
    /// Downloads abandoned.
    pub abandoned: u64,
}

pub use crate::abr::LINEAR_QOE_REBUFFER_PENALTY;

/// Sabre's abandonment check period, ms (`min_progress_time`).
const MIN_PROGRESS_MS: f64 = 50.0;
/// Sabre's abandonment check size, bits (`min_progress_size`).
const MIN_PROGRESS_BITS: f64 = 12_000.0;

#[derive(Clone, Copy)]
struct NetPeriod {
    time_ms: f64,
    bandwidth_kbps: f64,
    latency_ms: f64,
}

/// Sabre's `NetworkModel`: a cursor in the looping trace. Every loop also
/// stops once `total_ms` passes `limit_ms` (a trace with almost no
/// bandwidth would otherwise walk its periods for ever inside one
/// download); the session then ends with [`SabreError::TimeLimit`].
struct Network {
    periods: Vec<NetPeriod>,
    index: usize,
    time_to_next: f64,
    total_ms: f64,
    limit_ms: f64,
}

impl Network {
    fn new(trace: &Trace, limit_ms: f64) -> Self {
        let periods: Vec<NetPeriod> = trace
            .periods()
            .iter()
            .map(|p| NetPeriod {
                time_ms: p.duration.as_secs_f64() * 1000.0,
                bandwidth_kbps: p.bandwidth_mbps * 1000.0,
                latency_ms: p.rtt_ms,
            })
            .collect();
        let time_to_next = periods[0].time_ms;
        Self {
            periods,
            index: 0,
            time_to_next,
            total_ms: 0.0,
            limit_ms,
        }
    }

    fn now(&self) -> NetPeriod {
        self.periods[self.index]
    }

    fn next_period(&mut self) {
        self.index = (self.index + 1) % self.periods.len();
        self.time_to_next = self.periods[self.index].time_ms;
    }

    fn advance(&mut self, time: f64) {
        self.total_ms += time;
    }

    fn expired(&self) -> bool {
        self.total_ms > self.limit_ms
    }

    /// Waits `units` latencies, each at the period's own latency.
    fn latency_delay(&mut self, mut units: f64) -> f64 {
        let mut total = 0.0;
        while units > 0.0 && !self.expired() {
            let latency = self.now().latency_ms;
            let time = units * latency;
            if time <= self.time_to_next {
                total += time;
                self.advance(time);
                self.time_to_next -= time;
                units = 0.0;
            } else {
                total += self.time_to_next;
                self.advance(self.time_to_next);
                units -= self.time_to_next / latency;
                self.next_period();
            }
        }
        total
    }

    fn download_all(&mut self, mut size: f64) -> f64 {
        let mut total = 0.0;
        while size > 0.0 && !self.expired() {
            let bw = self.now().bandwidth_kbps;
            if size <= self.time_to_next * bw {
                let time = size / bw;
                total += time;
                self.advance(time);
                self.time_to_next -= time;
                size = 0.0;
            } else {
                total += self.time_to_next;
                self.advance(self.time_to_next);
                size -= self.time_to_next * bw;
                self.next_period();
            }
        }
        total
    }

    /// Downloads until `min_size` bits or `min_time` ms have passed (or
    /// `size` is done); Sabre's `do_minimal_download`.
    fn minimal_download(
        &mut self,
        mut size: f64,
        mut min_size: f64,
        mut min_time: f64,
    ) -> (f64, f64) {
        let (mut total_size, mut total_time) = (0.0, 0.0);
        while size > 0.0 && (min_size > 0.0 || min_time > 0.0) && !self.expired() {
            let bw = self.now().bandwidth_kbps;
            let (bits, time);
            if bw > 0.0 {
                let min_bits = min_size.max(min_time * bw);
                let bits_to_next = self.time_to_next * bw;
                if size <= min_bits && size <= bits_to_next {
                    bits = size;
                    time = bits / bw;
                    self.time_to_next -= time;
                    self.advance(time);
                } else if min_bits <= bits_to_next {
                    bits = min_bits;
                    time = bits / bw;
                    min_size = 0.0;
                    min_time = 0.0;
                    self.time_to_next -= time;
                    self.advance(time);
                } else {
                    bits = bits_to_next;
                    time = self.time_to_next;
                    self.advance(time);
                    self.next_period();
                }
            } else {
                bits = 0.0;
                if min_size > 0.0 || min_time > self.time_to_next {
                    time = self.time_to_next;
                    self.advance(time);
                    self.next_period();
                } else {
                    time = min_time;
                    self.time_to_next -= time;
                    self.advance(time);
                }
            }
            total_size += bits;
            total_time += time;
            size -= bits;
            min_size -= bits;
            min_time -= time;
        }
        (total_size, total_time)
    }

    fn delay(&mut self, mut time: f64) {
        while time > self.time_to_next && !self.expired() {
            time -= self.time_to_next;
            self.advance(self.time_to_next);
            self.next_period();
        }
        self.time_to_next -= time;
        self.advance(time);
    }
}

/// Sabre's player: the buffer and the figures it accumulates.
struct Player<'a> {
    ladder: &'a Ladder,
    utilities: Vec<f64>,
    buffer: std::collections::VecDeque<usize>,
    /// Time already played of the first buffered segment, ms.
    fcc: f64,
    rebuffer_events: u64,
    rebuffer_ms: f64,
    played_utility: f64,
    played_bitrate: f64,
    play_ms: f64,
    bitrate_change: f64,
    log_bitrate_change: f64,
    last_played: Option<usize>,
    levels: Vec<usize>,
}

impl<'a> Player<'a> {
    fn new(ladder: &'a Ladder) -> Self {
        let offset = 0.0 - ladder.bitrates_kbps[0].ln();
        Self {
            ladder,
            utilities: ladder
                .bitrates_kbps
                .iter()
                .map(|b| b.ln() + offset)
                .collect(),
            buffer: std::collections::VecDeque::new(),
            fcc: 0.0,
            rebuffer_events: 0,
            rebuffer_ms: 0.0,
            played_utility: 0.0,
            played_bitrate: 0.0,
            play_ms: 0.0,
            bitrate_change: 0.0,
            log_bitrate_change: 0.0,
            last_played: None,
            levels: Vec::new(),
        }
    }

    fn level_ms(&self) -> f64 {
        self.ladder.segment_ms * self.buffer.len() as f64 - self.fcc
    }

    /// Plays `time` ms (Sabre's `deplete_buffer`).
    fn deplete(&mut self, mut time: f64) {
        let seg = self.ladder.segment_ms;
        if self.buffer.is_empty() {
            self.rebuffer_ms += time;
            self.play_ms += time;
            return;
        }
        if self.fcc > 0.0 {
            if time + self.fcc < seg {
                self.fcc += time;
                self.play_ms += time;
                return;
            }
            time -= seg - self.fcc;
            self.play_ms += seg - self.fcc;
            self.buffer.pop_front();
            self.fcc = 0.0;
        }
        while time > 0.0 {
            let Some(&q) = self.buffer.front() else { break };
            self.played_utility += self.utilities[q];
            self.played_bitrate += self.ladder.bitrates_kbps[q];
            if let Some(last) = self.last_played
                && q != last
            {
                let (a, b) = (
                    self.ladder.bitrates_kbps[q],
                    self.ladder.bitrates_kbps[last],
                );
                self.bitrate_change += (a - b).abs();
                self.log_bitrate_change += (a / b).ln().abs();
            }
            self.last_played = Some(q);
            self.levels.push(q);
            if time >= seg {
                self.buffer.pop_front();
                self.play_ms += seg;
                time -= seg;
            } else {
                self.fcc = time;
                self.play_ms += time;
                time = 0.0;
            }
        }
        if time > 0.0 {
            self.rebuffer_ms += time;
            self.play_ms += time;
            self.rebuffer_events += 1;
        }
    }
}

/// Runs one session of `ladder` over `trace` with `rule` in Sabre's model.
///
/// # Errors
/// [`SabreError::NoBandwidth`] for a trace without bandwidth,
/// [`SabreError::TimeLimit`] past `config.time_limit_ms`.
pub fn run(
    trace: &Trace,
    ladder: &Ladder,
    rule: AbrKind,
    config: &SabreConfig,
) -> Result<SabreReport, SabreError> {
    if !trace.periods().iter().any(|p| p.bandwidth_mbps > 0.0) {
        return Err(SabreError::NoBandwidth(trace.name.clone()));
    }
    let mut abr = rule.build(ladder, &config.abr, config.fixed_level);
    let mut net = Network::new(trace, config.time_limit_ms);
    let mut player = Player::new(ladder);
    let mut history = Ewma::new(&config.half_life_s, ladder.segment_ms);
    let seg = ladder.segment_ms;
    let buffer_ms = config.abr.buffer_ms;
    let mut abandoned = 0;

    // The first segment, before playback: no abandonment.
    let level = abr.first_level();
    let size = ladder.segments_bits[0][level];
    let latency = net.latency_delay(1.0);
    let time = latency + net.download_all(size);
    let download_time = time - latency;
    let startup_ms = download_time;
    player.buffer.push_back(level);
    history.push(download_time, size / download_time, latency);
    player.play_ms += time;

    let mut next = 1;
    while next < ladder.segments() {
        if net.total_ms > config.time_limit_ms {
            return Err(SabreError::TimeLimit(config.time_limit_ms / 1000.0));
        }
        let state = |p: &Player, h: &Ewma| AbrState {
            buffer_level_ms: p.level_ms(),
            throughput_kbps: h.throughput_kbps(),
            latency_ms: h.latency_ms(),
            replica_rate_kbps: None,
            pool_rate_kbps: None,
            replica_queued_bits: 0.0,
            until_needed_ms: None,
            previous_level: None,
            prediction_error: h.prediction_error(),
        };
        let full_delay = player.level_ms() + seg - buffer_ms;
        if full_delay > 0.0 {
            player.deplete(full_delay);
            net.delay(full_delay);
            abr.report_delay(full_delay);
        }
        let choice = abr.choose(ladder, &state(&player, &history), next);
        let size = ladder.segments_bits[next][choice.level];
        if choice.delay_ms > 0.0 {
            player.deplete(choice.delay_ms);
            net.delay(choice.delay_ms);
        }
        let before = state(&player, &history);
        let d = download(
            &mut net,
            abr.as_mut(),
            ladder,
            &before,
            next,
            choice.level,
            size,
            config.abandon,
        );
        player.deplete(d.time_ms);
        if d.abandon_to.is_none() {
            player.buffer.push_back(choice.level);
            next += 1;
        } else {
            abandoned += 1;
        }
        abr.report_download(ladder, &state(&player, &history), &d);
        let download_time = d.time_ms - d.time_to_first_bit_ms;
        if d.abandon_to.is_none() && download_time > 0.0 {
            history.push(
                download_time,
                d.downloaded_bits / download_time,
                d.time_to_first_bit_ms,
            );
        }
    }
    if net.expired() {
        return Err(SabreError::TimeLimit(config.time_limit_ms / 1000.0));
    }
    player.deplete(player.level_ms());
    Ok(report(&player, rule, trace, config, startup_ms, abandoned))
}

/// One request in Sabre's model (`NetworkModel.download`), asking `abr`
/// about abandonment after every 50 ms or 12,000 bits when `abandon`.
#[allow(clippy::too_many_arguments)]
fn download(
    net: &mut Network,
    abr: &mut dyn AbrRule,
    ladder: &Ladder,
    state: &AbrState,
    segment: usize,
    level: usize,
    size: f64,
    abandon: bool,
) -> Progress {
    let mut p = Progress {
        segment,
        level,
        size_bits: size,
        ..Progress::default()
    };
    if !abandon {
        let latency = net.latency_delay(1.0);
        p.time_ms = latency + net.download_all(size);
        p.time_to_first_bit_ms = latency;
        p.downloaded_bits = size;
        return p;
    }
    let latency = net.latency_delay(1.0);
    p.time_ms = latency;
    p.time_to_first_bit_ms = latency;
    let mut min_time = MIN_PROGRESS_MS - latency;
    let mut min_size = MIN_PROGRESS_BITS;
    while p.downloaded_bits < size && p.abandon_to.is_none() && !net.expired() {
        let (bits, time) = net.minimal_download(size - p.downloaded_bits, min_size, min_time);
        p.time_ms += time;
        p.downloaded_bits += bits;
        if p.downloaded_bits < size {
            let level_then = (state.buffer_level_ms - p.time_ms).max(0.0);
            p.abandon_to = abr.check_abandon(ladder, state, &p, level_then);
            min_time = MIN_PROGRESS_MS;
            min_size = MIN_PROGRESS_BITS;
        }
    }
    p
}

fn report(
    player: &Player,
    rule: AbrKind,
    trace: &Trace,
    config: &SabreConfig,
    startup_ms: f64,
    abandoned: u64,
) -> SabreReport {
    let seg = player.ladder.segment_ms;
    let to_time_average = 1.0 / (player.play_ms / seg);
    let total_rebuffer = player.rebuffer_ms / 1000.0;
    SabreReport {
        abr: rule.name().to_string(),
        trace: trace.name.clone(),
        buffer_size: config.abr.buffer_ms,
        total_played_utility: player.played_utility,
        time_average_played_utility: player.played_utility * to_time_average,
        total_played_bitrate: player.played_bitrate,
        time_average_played_bitrate: player.played_bitrate * to_time_average,
        total_play_time: player.play_ms / 1000.0,
        total_rebuffer,
        rebuffer_ratio: player.rebuffer_ms / player.play_ms,
        total_rebuffer_events: player.rebuffer_events as f64,
        total_bitrate_change: player.bitrate_change,
        total_log_bitrate_change: player.log_bitrate_change,
        time_average_score: to_time_average
            * (player.played_utility - config.abr.gamma_p * player.rebuffer_ms / seg),
        startup_time: startup_ms / 1000.0,
        linear_qoe: player.played_bitrate / 1000.0
            - LINEAR_QOE_REBUFFER_PENALTY * (startup_ms / 1000.0 + total_rebuffer)
            - player.bitrate_change / 1000.0,
        levels: player.levels.clone(),
        abandoned,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::input::Period;

    fn ladder() -> Ladder {
        crate::abr::tests::ladder()
    }

    fn trace(periods: &[(u64, f64)]) -> Trace {
        Trace::new(
            "t",
            periods
                .iter()
                .map(|&(ms, mbps)| Period {
                    duration: Duration::from_millis(ms),
                    bandwidth_mbps: mbps,
                    rtt_ms: 0.0,
                })
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn fixed_on_ample_bandwidth_plays_every_segment_without_a_stall() {
        let l = ladder();
        let r = run(
            &trace(&[(1000, 100.0)]),
            &l,
            AbrKind::Fixed,
            &SabreConfig::default(),
        )
        .unwrap();
        assert_eq!(r.levels.len(), l.segments());
        assert!(r.levels.iter().all(|&q| q == 2));
        assert_eq!(r.total_rebuffer, 0.0);
        // 4 Mbit/s for 2 s at 100 Mbit/s: 80 ms of startup.
        assert!((r.startup_time - 0.08).abs() < 1e-9, "{}", r.startup_time);
        assert!((r.time_average_played_bitrate - 4000.0).abs() < 4000.0 * 0.01);
    }

    #[test]
    fn fixed_above_the_bandwidth_stalls_and_adaptive_rules_do_not() {
        let l = ladder();
        let t = trace(&[(1000, 2.0)]);
        let fixed = run(&t, &l, AbrKind::Fixed, &SabreConfig::default()).unwrap();
        // 4 Mbit/s over 2 Mbit/s: each 2 s segment takes 4 s.
        assert!(fixed.total_rebuffer > 50.0, "{}", fixed.total_rebuffer);
        for rule in AbrKind::SABRE {
            let r = run(&t, &l, rule, &SabreConfig::default()).unwrap();
            assert!(r.total_rebuffer < 1.0, "{rule:?}: {}", r.total_rebuffer);
            assert!(r.linear_qoe > fixed.linear_qoe, "{rule:?}");
        }
    }

    #[test]
    fn a_trace_without_bandwidth_is_an_error_not_a_hang() {
        let e = run(
            &trace(&[(1000, 0.0)]),
            &ladder(),
            AbrKind::Bolae,
            &SabreConfig::default(),
        );
        assert!(matches!(e, Err(SabreError::NoBandwidth(_))));
    }
}
