//! BOLA and BOLA-E, as Sabre implements them (`Bola`, `BolaEnh` in
//! `sabre.py`). BOLA scores each level by `(V·(υ + γp) − Q) / S`, utility
//! `υ = ln(R)` offset so the lowest level has utility 0 (BOLA) or 1
//! (BOLA-E), buffer level `Q`, size `S`; the highest score wins.

use super::{AbrConfig, AbrRule, AbrState, Choice, Ladder, Progress, level_from_throughput};

fn utilities(ladder: &Ladder, lowest: f64) -> Vec<f64> {
    let offset = lowest - ladder.bitrates_kbps[0].ln();
    ladder
        .bitrates_kbps
        .iter()
        .map(|b| b.ln() + offset)
        .collect()
}

/// The level with the highest BOLA score at `level_ms` of buffer (the first
/// on a tie).
fn level_from_buffer(ladder: &Ladder, utilities: &[f64], vp: f64, gp: f64, level_ms: f64) -> usize {
    let mut best = 0;
    let mut score: Option<f64> = None;
    for (q, (u, rate)) in utilities.iter().zip(&ladder.bitrates_kbps).enumerate() {
        let s = (vp * (u + gp) - level_ms) / rate;
        if score.is_none_or(|v| s > v) {
            best = q;
            score = Some(s);
        }
    }
    best
}

/// BOLA's abandonment scan (Sabre's `check_abandon`): the lower level, if
/// any, whose whole segment at `level_ms` of buffer scores above `score` and
/// is smaller than the `left_bits` the running download still needs (only
/// then does switching pay); the highest-scoring such level.
fn lower_level_scoring_higher(
    ladder: &Ladder,
    utilities: &[f64],
    (vp, gp): (f64, f64),
    p: &Progress,
    level_ms: f64,
    left_bits: f64,
    mut score: f64,
) -> Option<usize> {
    let mut abandon_to = None;
    for (q, (u, rate)) in utilities
        .iter()
        .zip(&ladder.bitrates_kbps)
        .enumerate()
        .take(p.level)
    {
        let other_size = p.size_bits * rate / ladder.bitrates_kbps[p.level];
        let other_score = (vp * (gp + u) - level_ms) / other_size;
        if other_size < left_bits && other_score > score {
            score = other_score;
            abandon_to = Some(q);
        }
    }
    abandon_to
}

/// BOLA (Sabre's `bola`, default "BOLA-U": an up-switch goes at most one
/// level above what the throughput sustains). Unless `abr_basic`, its buffer
/// target shrinks near the start and the end of the video (Sabre: at most
/// half the segments left, at least 3 segments) and it abandons a download
/// when a lower level scores higher for the bits left.
#[derive(Clone, Debug)]
pub struct Bola {
    utilities: Vec<f64>,
    gp: f64,
    buffer_ms: f64,
    vp: f64,
    abr_osc: bool,
    abr_basic: bool,
    last_seek_index: usize,
    last_level: usize,
}

impl Bola {
    /// BOLA for `ladder` with `config`'s buffer, γp and variants.
    pub fn new(ladder: &Ladder, config: &AbrConfig) -> Self {
        let utilities = utilities(ladder, 0.0);
        let vp =
            (config.buffer_ms - ladder.segment_ms) / (utilities[ladder.top()] + config.gamma_p);
        Self {
            utilities,
            gp: config.gamma_p,
            buffer_ms: config.buffer_ms,
            vp,
            abr_osc: config.abr_osc,
            abr_basic: config.abr_basic,
            last_seek_index: 0,
            last_level: 0,
        }
    }
}

impl AbrRule for Bola {
    fn name(&self) -> &'static str {
        "bola"
    }

    fn choose(&mut self, ladder: &Ladder, state: &AbrState, segment: usize) -> Choice {
        let top_utility = self.utilities[ladder.top()];
        if !self.abr_basic {
            let since_seek = segment.saturating_sub(self.last_seek_index) as f64;
            let left = ladder.segments().saturating_sub(segment) as f64;
            let t = (since_seek.min(left) / 2.0).max(3.0) * ladder.segment_ms;
            let buffer_ms = self.buffer_ms.min(t);
            self.vp = (buffer_ms - ladder.segment_ms) / (top_utility + self.gp);
        }
        let level_ms = state.buffer_level_ms;
        let mut level = level_from_buffer(ladder, &self.utilities, self.vp, self.gp, level_ms);
        let mut delay_ms = 0.0;
        if level > self.last_level {
            let throughput = state.throughput_kbps.unwrap_or(0.0);
            let level_t =
                level_from_throughput(ladder, throughput, state.latency_ms.unwrap_or(0.0));
            if level <= level_t {
                delay_ms = 0.0;
            } else if self.last_level > level_t {
                level = self.last_level;
            } else if !self.abr_osc {
                level = level_t + 1;
            } else {
                level = level_t;
                let l = self.vp * (self.gp + self.utilities[level]);
                delay_ms = (level_ms - l).max(0.0);
                if level == ladder.top() {
                    delay_ms = 0.0;
                }
            }
        }
        self.last_level = level;
        Choice { level, delay_ms }
    }

    fn check_abandon(
        &mut self,
        ladder: &Ladder,
        _state: &AbrState,
        p: &Progress,
        buffer_level_ms: f64,
    ) -> Option<usize> {
        if self.abr_basic {
            return None;
        }
        let remain = p.size_bits - p.downloaded_bits;
        if p.downloaded_bits <= 0.0 || remain <= 0.0 {
            return None;
        }
        let score = (self.vp * (self.gp + self.utilities[p.level]) - buffer_level_ms) / remain;
        if score < 0.0 {
            return None;
        }
        let abandon_to = lower_level_scoring_higher(
            ladder,
            &self.utilities,
            (self.vp, self.gp),
            p,
            buffer_level_ms,
            remain,
            score,
        );
        if let Some(q) = abandon_to {
            self.last_level = q;
        }
        abandon_to
    }
}

/// BOLA-E (Sabre's `bolae`, its default): BOLA with a placeholder buffer
/// that lets it start at the throughput's level, the insufficient-buffer
/// rule (safety 0.9 decaying to 0.5) and abandonment that accounts for the
/// next request's latency. Constants from `sabre.py`: minimum buffer 10 s
/// plus 2 s per level.
#[derive(Clone, Debug)]
pub struct BolaE {
    utilities: Vec<f64>,
    gp: f64,
    vp: f64,
    abr_osc: bool,
    no_ibr: bool,
    steady: bool,
    placeholder_ms: f64,
    last_level: usize,
    ibr_safety: f64,
}

impl BolaE {
    /// Buffer BOLA-E aims for at the lowest level, ms.
    pub const MINIMUM_BUFFER_MS: f64 = 10_000.0;
    /// Extra buffer per level, ms.
    pub const MINIMUM_BUFFER_PER_LEVEL_MS: f64 = 2_000.0;
    const LOW_BUFFER_SAFETY: f64 = 0.5;
    const LOW_BUFFER_SAFETY_INIT: f64 = 0.9;

    /// BOLA-E for `ladder` with `config`'s buffer, γp and variants.
    pub fn new(ladder: &Ladder, config: &AbrConfig) -> Self {
        let utilities = utilities(ladder, 1.0);
        let top = utilities[ladder.top()];
        let (gp, vp) = if config.no_ibr {
            let gp = config.gamma_p - 1.0;
            (gp, (config.buffer_ms - ladder.segment_ms) / (top + gp))
        } else {
            let buffer = (Self::MINIMUM_BUFFER_MS
                + Self::MINIMUM_BUFFER_PER_LEVEL_MS * ladder.levels() as f64)
                .max(config.buffer_ms);
            let gp = (top - 1.0) / (buffer / Self::MINIMUM_BUFFER_MS - 1.0);
            (gp, Self::MINIMUM_BUFFER_MS / gp)
        };
        Self {
            utilities,
            gp,
            vp,
            abr_osc: config.abr_osc,
            no_ibr: config.no_ibr,
            steady: false,
            placeholder_ms: 0.0,
            last_level: 0,
            ibr_safety: Self::LOW_BUFFER_SAFETY_INIT,
        }
    }

    fn min_buffer_for(&self, ladder: &Ladder, level: usize) -> f64 {
        let bitrate = ladder.bitrates_kbps[level];
        let utility = self.utilities[level];
        let mut out: f64 = 0.0;
        for q in 0..level {
            if self.utilities[q] < utility {
                let b = ladder.bitrates_kbps[q];
                let u = self.utilities[q];
                let l = self.vp * (self.gp + (bitrate * u - b * utility) / (bitrate - b));
                out = out.max(l);
            }
        }
        out
    }

    fn max_buffer_for(&self, level: usize) -> f64 {
        self.vp * (self.utilities[level] + self.gp)
    }
}

impl AbrRule for BolaE {
    fn name(&self) -> &'static str {
        "bolae"
    }

    fn choose(&mut self, ladder: &Ladder, state: &AbrState, _segment: usize) -> Choice {
        let buffer_level = state.buffer_level_ms;
        let latency = state.latency_ms.unwrap_or(0.0);
        let Some(throughput) = state.throughput_kbps else {
            return Choice {
                level: self.last_level,
                delay_ms: 0.0,
            };
        };
        if !self.steady {
            self.steady = true;
            self.ibr_safety = Self::LOW_BUFFER_SAFETY_INIT;
            let level = level_from_throughput(ladder, throughput, latency);
            self.placeholder_ms = (self.min_buffer_for(ladder, level) - buffer_level).max(0.0);
            return Choice {
                level,
                delay_ms: 0.0,
            };
        }
        let mut level = level_from_buffer(
            ladder,
            &self.utilities,
            self.vp,
            self.gp,
            buffer_level + self.placeholder_ms,
        );
        let level_t = level_from_throughput(ladder, throughput, latency);
        if level > self.last_level && level > level_t {
            level = self.last_level.max(level_t);
            if !self.abr_osc {
                level += 1;
            }
        }
        let max_level = self.max_buffer_for(level);
        let mut delay = buffer_level + self.placeholder_ms - max_level;
        if delay > 0.0 {
            if delay <= self.placeholder_ms {
                self.placeholder_ms -= delay;
                delay = 0.0;
            } else {
                delay -= self.placeholder_ms;
                self.placeholder_ms = 0.0;
            }
        } else {
            delay = 0.0;
        }
        if level == ladder.top() {
            delay = 0.0;
        }
        if !self.no_ibr {
            let safe_size = self.ibr_safety * (buffer_level - latency) * throughput;
            self.ibr_safety *= Self::LOW_BUFFER_SAFETY_INIT;
            self.ibr_safety = self.ibr_safety.max(Self::LOW_BUFFER_SAFETY);
            let too_big = |q: &usize| ladder.bitrates_kbps[q + 1] * ladder.segment_ms > safe_size;
            if let Some(q) = (0..level).find(too_big) {
                level = q;
                delay = 0.0;
                let min_level = self.min_buffer_for(ladder, level);
                let max_placeholder = (min_level - buffer_level).max(0.0);
                self.placeholder_ms = max_placeholder.min(self.placeholder_ms);
            }
        }
        Choice {
            level,
            delay_ms: delay,
        }
    }

    fn report_delay(&mut self, delay_ms: f64) {
        self.placeholder_ms += delay_ms;
    }

    fn report_download(&mut self, ladder: &Ladder, state: &AbrState, d: &Progress) {
        self.last_level = d.level;
        let level = state.buffer_level_ms;
        match d.abandon_to {
            None => {
                let level_was = level + d.time_ms;
                let max_placeholder = (self.max_buffer_for(d.level) - level_was).max(0.0);
                self.placeholder_ms = self.placeholder_ms.min(max_placeholder);
                if level > 0.0 {
                    let min_placeholder = self.min_buffer_for(ladder, d.level) - level_was;
                    self.placeholder_ms = self.placeholder_ms.max(min_placeholder);
                }
            }
            Some(to) => {
                let want = if to > 0 {
                    self.min_buffer_for(ladder, to)
                } else {
                    Self::MINIMUM_BUFFER_MS
                };
                let max_placeholder = (want - level).max(0.0);
                self.placeholder_ms = self.placeholder_ms.min(max_placeholder);
            }
        }
    }

    fn check_abandon(
        &mut self,
        ladder: &Ladder,
        _state: &AbrState,
        p: &Progress,
        buffer_level_ms: f64,
    ) -> Option<usize> {
        let remain = p.size_bits - p.downloaded_bits;
        if p.downloaded_bits <= 0.0 || remain <= 0.0 {
            return None;
        }
        // A new request pays the latency again: judge the state after it.
        let bl = (buffer_level_ms + self.placeholder_ms - p.time_to_first_bit_ms).max(0.0);
        let tp = p.downloaded_bits / (p.time_ms - p.time_to_first_bit_ms);
        let sz = remain - p.time_to_first_bit_ms * tp;
        if sz <= 0.0 {
            return None;
        }
        let score = (self.vp * (self.gp + self.utilities[p.level]) - bl) / sz;
        lower_level_scoring_higher(
            ladder,
            &self.utilities,
            (self.vp, self.gp),
            p,
            bl,
            sz,
            score,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{ladder, state};
    use super::*;

    #[test]
    fn bola_climbs_with_the_buffer_one_level_past_the_throughput() {
        let l = ladder();
        let mut b = Bola::new(&l, &AbrConfig::default());
        assert_eq!(b.choose(&l, &state(0.0, 10_000.0), 10).level, 0);
        // A full buffer wants the top level, but throughput sustains only
        // level 0: BOLA-U goes one above it.
        assert_eq!(b.choose(&l, &state(20_000.0, 600.0), 10).level, 1);
        assert_eq!(b.choose(&l, &state(20_000.0, 10_000.0), 10).level, 2);
    }

    #[test]
    fn bolae_starts_at_the_throughput_level_and_drops_on_a_short_buffer() {
        let l = ladder();
        let mut b = BolaE::new(&l, &AbrConfig::default());
        assert_eq!(b.choose(&l, &state(2_000.0, 5_000.0), 1).level, 2);
        b.report_download(
            &l,
            &state(2_000.0, 5_000.0),
            &Progress {
                level: 2,
                time_ms: 1_600.0,
                ..Progress::default()
            },
        );
        // With 0.5 s of buffer the insufficient-buffer rule allows only
        // what arrives in time.
        assert_eq!(b.choose(&l, &state(500.0, 5_000.0), 2).level, 0);
    }

    #[test]
    fn bolae_abandons_a_big_download_that_cannot_arrive() {
        let l = ladder();
        let mut b = BolaE::new(&l, &AbrConfig::default());
        let p = Progress {
            level: 2,
            size_bits: 8_000_000.0,
            downloaded_bits: 100_000.0,
            time_ms: 1_000.0,
            time_to_first_bit_ms: 0.0,
            ..Progress::default()
        };
        assert_eq!(
            b.check_abandon(&l, &state(1_000.0, 100.0), &p, 1_000.0),
            Some(0)
        );
    }
}
