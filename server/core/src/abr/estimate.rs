//! Throughput and latency estimates from finished downloads: Sabre's EWMA.

/// Sabre's throughput history (`Ewma` in `sabre.py`): one exponentially
/// weighted moving average per half-life, each corrected for its zero start,
/// reporting the most conservative (lowest throughput, highest latency).
///
/// Throughput samples are weighted by download time (half-lives in ms of
/// download); latency samples by count, with the half-life divided by the
/// segment duration. Defaults: half-lives 3 s and 8 s (Sabre's `-hl 3 8`).
///
/// It also keeps how well it predicted: the relative error of the estimate
/// against each of the last [`PREDICTION_ERROR_WINDOW`] samples
/// ([`Ewma::prediction_error`], RobustMPC's measure; Sabre keeps none).
#[derive(Clone, Debug)]
pub struct Ewma {
    half_life_ms: Vec<f64>,
    latency_half_life: Vec<f64>,
    throughput: Vec<f64>,
    weight_throughput: f64,
    latency: Vec<f64>,
    weight_latency: f64,
    estimate: Option<(f64, f64)>,
    /// Relative errors of the last predictions, a ring of at most
    /// [`PREDICTION_ERROR_WINDOW`]; `errors_seen` counts every one.
    errors: [f64; PREDICTION_ERROR_WINDOW],
    errors_seen: usize,
}

/// How many recent samples [`Ewma::prediction_error`] looks back over:
/// RobustMPC's window (Yin et al., "A Control-Theoretic Approach for
/// Dynamic Adaptive Video Streaming over HTTP", SIGCOMM 2015: the past 5
/// chunks).
pub const PREDICTION_ERROR_WINDOW: usize = 5;

impl Ewma {
    /// Sabre's default half-lives, seconds.
    pub const DEFAULT_HALF_LIFE_S: [f64; 2] = [3.0, 8.0];

    /// An empty estimate with `half_life_s` (seconds, each > 0) for
    /// segments of `segment_ms`.
    pub fn new(half_life_s: &[f64], segment_ms: f64) -> Self {
        let half_life_ms: Vec<f64> = half_life_s.iter().map(|h| h * 1000.0).collect();
        Self {
            latency_half_life: half_life_ms.iter().map(|h| h / segment_ms).collect(),
            throughput: vec![0.0; half_life_ms.len()],
            latency: vec![0.0; half_life_ms.len()],
            half_life_ms,
            weight_throughput: 0.0,
            weight_latency: 0.0,
            estimate: None,
            errors: [0.0; PREDICTION_ERROR_WINDOW],
            errors_seen: 0,
        }
    }

    /// Adds a download that took `time_ms` (after its first bit) at
    /// `throughput_kbps`, with `latency_ms` to its first bit.
    pub fn push(&mut self, time_ms: f64, throughput_kbps: f64, latency_ms: f64) {
        if let Some((predicted, _)) = self.estimate {
            let error = if throughput_kbps > 0.0 {
                (predicted - throughput_kbps).abs() / throughput_kbps
            } else {
                f64::INFINITY
            };
            self.errors[self.errors_seen % PREDICTION_ERROR_WINDOW] = error;
            self.errors_seen += 1;
        }
        for i in 0..self.half_life_ms.len() {
            let alpha = 0.5f64.powf(time_ms / self.half_life_ms[i]);
            self.throughput[i] = alpha * self.throughput[i] + (1.0 - alpha) * throughput_kbps;
            let alpha = 0.5f64.powf(1.0 / self.latency_half_life[i]);
            self.latency[i] = alpha * self.latency[i] + (1.0 - alpha) * latency_ms;
        }
        self.weight_throughput += time_ms;
        self.weight_latency += 1.0;
        let mut tput: Option<f64> = None;
        let mut lat: Option<f64> = None;
        for i in 0..self.half_life_ms.len() {
            let zero_factor = 1.0 - 0.5f64.powf(self.weight_throughput / self.half_life_ms[i]);
            let t = self.throughput[i] / zero_factor;
            tput = Some(tput.map_or(t, |v| v.min(t)));
            let zero_factor = 1.0 - 0.5f64.powf(self.weight_latency / self.latency_half_life[i]);
            let l = self.latency[i] / zero_factor;
            lat = Some(lat.map_or(l, |v| v.max(l)));
        }
        self.estimate = tput.zip(lat);
    }

    /// Throughput estimate, kbit/s; `None` before the first sample.
    pub fn throughput_kbps(&self) -> Option<f64> {
        self.estimate.map(|e| e.0)
    }

    /// Latency estimate, ms; `None` before the first sample.
    pub fn latency_ms(&self) -> Option<f64> {
        self.estimate.map(|e| e.1)
    }

    /// The largest relative error of the throughput estimate over the last
    /// [`PREDICTION_ERROR_WINDOW`] samples: |estimate before the sample −
    /// the sample| / the sample (infinite for a sample of 0). `None`
    /// until a sample found an estimate to judge (the second one).
    pub fn prediction_error(&self) -> Option<f64> {
        let n = self.errors_seen.min(PREDICTION_ERROR_WINDOW);
        (n > 0).then(|| self.errors[..n].iter().copied().fold(0.0, f64::max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_constant_rate_is_estimated_exactly_and_a_drop_pulls_it_down_fast() {
        let mut e = Ewma::new(&Ewma::DEFAULT_HALF_LIFE_S, 3000.0);
        assert_eq!(e.throughput_kbps(), None);
        for _ in 0..5 {
            e.push(1000.0, 4000.0, 50.0);
        }
        assert!((e.throughput_kbps().unwrap() - 4000.0).abs() < 1e-6);
        assert!((e.latency_ms().unwrap() - 50.0).abs() < 1e-6);
        e.push(3000.0, 1000.0, 50.0);
        // 3 s of download moves the 3 s average halfway (before the zero
        // start's correction); the conservative minimum is that average.
        let raw = 0.5 * 4000.0 * (1.0 - 0.5f64.powf(5.0 / 3.0)) + 0.5 * 1000.0;
        let want = raw / (1.0 - 0.5f64.powf(8.0 / 3.0));
        assert!((e.throughput_kbps().unwrap() - want).abs() < 1e-6);
        assert!(want > 2000.0 && want < 2500.0);
    }

    #[test]
    fn the_prediction_error_is_the_worst_of_the_last_five() {
        let mut e = Ewma::new(&Ewma::DEFAULT_HALF_LIFE_S, 3000.0);
        e.push(1000.0, 4000.0, 50.0);
        // One sample: nothing was predicted yet.
        assert_eq!(e.prediction_error(), None);
        e.push(1000.0, 4000.0, 50.0);
        assert_eq!(e.prediction_error(), Some(0.0));
        // 4,000 predicted, 1,000 came: an error of 3.
        e.push(1000.0, 1000.0, 50.0);
        assert!((e.prediction_error().unwrap() - 3.0).abs() < 1e-9);
        // It stays the worst while it is among the last five...
        for _ in 0..4 {
            e.push(1000.0, 1000.0, 50.0);
            assert!((e.prediction_error().unwrap() - 3.0).abs() < 1e-9);
        }
        // ...and leaves with the sixth sample after it.
        e.push(1000.0, 1000.0, 50.0);
        let after = e.prediction_error().unwrap();
        assert!(after < 3.0 && after > 0.0, "{after}");
        // A sample of nothing is unpredictable.
        e.push(1000.0, 0.0, 50.0);
        assert_eq!(e.prediction_error(), Some(f64::INFINITY));
    }
}
