//! The throughput rule and dash.js's "dynamic", as Sabre implements them
//! (`ThroughputRule`, `Dynamic` in `sabre.py`).

use super::{AbrConfig, AbrRule, AbrState, Bola, Choice, Ladder, Progress, level_from_throughput};

/// The throughput rule: the highest level that arrives within a segment's
/// duration at 0.9 × the estimate, lowered by the insufficient-buffer rule
/// (what can arrive before the buffer runs out at a safety of 0.9 decaying
/// per segment to 0.5). After a 500 ms grace it abandons a download whose
/// projected time exceeds 1.8 segment durations.
#[derive(Clone, Debug)]
pub struct ThroughputRule {
    ibr_safety: f64,
    no_ibr: bool,
}

impl ThroughputRule {
    /// Share of the estimate the rule trusts (Sabre: 0.9).
    pub const SAFETY_FACTOR: f64 = 0.9;
    const LOW_BUFFER_SAFETY: f64 = 0.5;
    const LOW_BUFFER_SAFETY_INIT: f64 = 0.9;
    const ABANDON_MULTIPLIER: f64 = 1.8;
    const ABANDON_GRACE_MS: f64 = 500.0;

    /// The rule with `config`'s insufficient-buffer setting.
    pub fn new(config: &AbrConfig) -> Self {
        Self {
            ibr_safety: Self::LOW_BUFFER_SAFETY_INIT,
            no_ibr: config.no_ibr,
        }
    }
}

impl AbrRule for ThroughputRule {
    fn name(&self) -> &'static str {
        "throughput"
    }

    fn choose(&mut self, ladder: &Ladder, state: &AbrState, _segment: usize) -> Choice {
        let throughput = state.throughput_kbps.unwrap_or(0.0);
        let latency = state.latency_ms.unwrap_or(0.0);
        let mut level = level_from_throughput(ladder, throughput * Self::SAFETY_FACTOR, latency);
        if !self.no_ibr {
            let safe_size = self.ibr_safety * (state.buffer_level_ms - latency) * throughput;
            self.ibr_safety *= Self::LOW_BUFFER_SAFETY_INIT;
            self.ibr_safety = self.ibr_safety.max(Self::LOW_BUFFER_SAFETY);
            let too_big = |q: &usize| ladder.bitrates_kbps[q + 1] * ladder.segment_ms > safe_size;
            if let Some(q) = (0..level).find(too_big) {
                level = q;
            }
        }
        Choice {
            level,
            delay_ms: 0.0,
        }
    }

    fn check_abandon(
        &mut self,
        ladder: &Ladder,
        state: &AbrState,
        p: &Progress,
        _buffer_level_ms: f64,
    ) -> Option<usize> {
        let dl_time = p.time_ms - p.time_to_first_bit_ms;
        if p.time_ms < Self::ABANDON_GRACE_MS || dl_time <= 0.0 {
            return None;
        }
        let tput = p.downloaded_bits / dl_time;
        let size_left = p.size_bits - p.downloaded_bits;
        let estimate_time_left = size_left / tput;
        if p.time_ms + estimate_time_left <= Self::ABANDON_MULTIPLIER * ladder.segment_ms {
            return None;
        }
        let latency = state.latency_ms.unwrap_or(0.0);
        let level = level_from_throughput(ladder, tput * Self::SAFETY_FACTOR, latency);
        let estimate_size =
            p.size_bits * ladder.bitrates_kbps[level] / ladder.bitrates_kbps[p.level];
        (level < p.level && estimate_size < size_left).then_some(level)
    }
}

/// dash.js's "dynamic" (Sabre's `dynamic`): the throughput rule until the
/// buffer passes 10 s with BOLA choosing at least as high, BOLA until the
/// buffer falls below 10 s with BOLA choosing lower. Both rules see every
/// decision; abandonment is always the throughput rule's.
#[derive(Clone, Debug)]
pub struct Dynamic {
    bola: Bola,
    tput: ThroughputRule,
    is_bola: bool,
}

impl Dynamic {
    /// Buffer level that switches between the rules, ms (Sabre: 10 s).
    pub const LOW_BUFFER_THRESHOLD_MS: f64 = 10_000.0;

    /// The rule for `ladder` with `config`.
    pub fn new(ladder: &Ladder, config: &AbrConfig) -> Self {
        Self {
            bola: Bola::new(ladder, config),
            tput: ThroughputRule::new(config),
            is_bola: false,
        }
    }
}

impl AbrRule for Dynamic {
    fn name(&self) -> &'static str {
        "dynamic"
    }

    fn choose(&mut self, ladder: &Ladder, state: &AbrState, segment: usize) -> Choice {
        let level = state.buffer_level_ms;
        let b = self.bola.choose(ladder, state, segment);
        let t = self.tput.choose(ladder, state, segment);
        if self.is_bola {
            if level < Self::LOW_BUFFER_THRESHOLD_MS && b.level < t.level {
                self.is_bola = false;
            }
        } else if level > Self::LOW_BUFFER_THRESHOLD_MS && b.level >= t.level {
            self.is_bola = true;
        }
        if self.is_bola { b } else { t }
    }

    fn check_abandon(
        &mut self,
        ladder: &Ladder,
        state: &AbrState,
        p: &Progress,
        buffer_level_ms: f64,
    ) -> Option<usize> {
        self.tput.check_abandon(ladder, state, p, buffer_level_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{ladder, state};
    use super::*;

    #[test]
    fn throughput_rule_keeps_a_safety_margin() {
        let l = ladder();
        let mut r = ThroughputRule::new(&AbrConfig::default());
        // 1.6 Mbit/s × 0.9 is below level 1's 1.5 Mbit/s.
        assert_eq!(r.choose(&l, &state(20_000.0, 1_600.0), 5).level, 0);
        assert_eq!(r.choose(&l, &state(20_000.0, 1_700.0), 5).level, 1);
    }

    #[test]
    fn throughput_rule_abandons_only_after_its_grace() {
        let l = ladder();
        let mut r = ThroughputRule::new(&AbrConfig::default());
        let mut p = Progress {
            level: 2,
            size_bits: 8_000_000.0,
            downloaded_bits: 40_000.0,
            time_ms: 400.0,
            ..Progress::default()
        };
        let s = state(10_000.0, 5_000.0);
        assert_eq!(r.check_abandon(&l, &s, &p, 10_000.0), None);
        p.time_ms = 600.0;
        assert_eq!(r.check_abandon(&l, &s, &p, 10_000.0), Some(0));
    }

    #[test]
    fn dynamic_hands_over_to_bola_past_ten_seconds() {
        let l = ladder();
        let mut r = Dynamic::new(&l, &AbrConfig::default());
        let low = r.choose(&l, &state(2_000.0, 700.0), 10);
        assert!(!r.is_bola && low.level == 0);
        r.choose(&l, &state(15_000.0, 10_000.0), 10);
        assert!(r.is_bola);
    }
}
