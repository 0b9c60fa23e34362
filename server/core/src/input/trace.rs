//! Recorded bandwidth traces: readers for the formats of `shared/traces` and a
//! looping, time-indexed view of them.
//!
//! Formats (see `shared/traces/README.md`):
//! - **Sabre JSON** (`.json`): `[{"duration_ms", "bandwidth_kbps", "latency_ms"}]`,
//!   periods played in order; `latency_ms` is the round-trip latency.
//! - **Pensieve two-column**: `time_s bandwidth_mbps` per line, each sample holding
//!   until the next one's time; the last sample holds for the median gap. No
//!   latency in the file: [`DEFAULT_RTT_MS`] (80 ms, Pensieve's `LINK_RTT`).
//! - **Mahimahi**: one integer per line, the millisecond at which one 1500-byte
//!   packet may be delivered; binned into 1 s periods. RTT as above.
//!
//! A trace loops past its end. Errors name the file and the line. Values are
//! bounded ([`MAX_TRACE_S`], [`MAX_TRACE_BANDWIDTH_MBPS`],
//! [`MAX_TRACE_RTT_MS`]): no input makes a parser panic or allocate beyond
//! the text's own size plus one 1 s bin per second of a 7-day trace. This module
//! parses text; reading files is the caller's (the server's `files` module).

use std::time::Duration;

use serde::Deserialize;

/// RTT assumed for formats without latency, in ms (Pensieve's simulator uses 80).
pub const DEFAULT_RTT_MS: f64 = 80.0;
/// Mahimahi packet size in bytes.
pub const MAHIMAHI_PACKET_BYTES: f64 = 1500.0;
/// Longest trace accepted, seconds: 7 days. Longer (or a time like 1e300)
/// is refused: it overflowed durations or, in Mahimahi, allocated a bin per
/// second up to the last timestamp.
pub const MAX_TRACE_S: f64 = 7.0 * 86_400.0;
/// Highest bandwidth a trace may give, Mbit/s (as for node conditions).
pub const MAX_TRACE_BANDWIDTH_MBPS: f64 = 100_000.0;
/// Highest round-trip latency a trace may give, ms.
pub const MAX_TRACE_RTT_MS: f64 = 600_000.0;

/// A trace's text could not be used. `origin` is where the text came from
/// (a file's path, as given), so messages read `path:line: what`.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// A line (or JSON location) is malformed.
    #[error("{origin}:{line}: {message}")]
    Parse {
        /// Where the text came from.
        origin: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The text holds no usable period.
    #[error("{origin}: no samples")]
    Empty {
        /// Where the text came from.
        origin: String,
    },
}

/// One period of a trace.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Period {
    /// Length of the period.
    pub duration: Duration,
    /// Available bandwidth, Mbit/s.
    pub bandwidth_mbps: f64,
    /// Round-trip latency, ms.
    pub rtt_ms: f64,
}

/// A looping bandwidth/latency trace.
#[derive(Clone, Debug, PartialEq)]
pub struct Trace {
    /// Display name (file name).
    pub name: String,
    periods: Vec<Period>,
    /// End of each period from the trace start, seconds.
    ends_s: Vec<f64>,
}

impl Trace {
    /// A trace from periods; `None` if there is none with a positive duration.
    pub fn new(name: impl Into<String>, periods: Vec<Period>) -> Option<Self> {
        let periods: Vec<Period> = periods
            .into_iter()
            .filter(|p| !p.duration.is_zero())
            .collect();
        if periods.is_empty() {
            return None;
        }
        let mut acc = 0.0;
        let ends_s = periods
            .iter()
            .map(|p| {
                acc += p.duration.as_secs_f64();
                acc
            })
            .collect();
        Some(Self {
            name: name.into(),
            periods,
            ends_s,
        })
    }

    /// A constant trace (one period of 1 s, looping).
    pub fn constant(bandwidth_mbps: f64, rtt_ms: f64) -> Self {
        Self::new(
            format!("constant-{bandwidth_mbps}mbps"),
            vec![Period {
                duration: Duration::from_secs(1),
                bandwidth_mbps,
                rtt_ms,
            }],
        )
        .expect("one positive period")
    }

    /// A looping trace of `(seconds, Mbit/s)` steps, each with `rtt_ms`, for
    /// tests. Panics on a step of zero seconds or no steps.
    #[cfg(test)]
    pub(crate) fn stepped(name: &str, steps: &[(u64, f64)], rtt_ms: f64) -> Self {
        let periods = steps
            .iter()
            .map(|&(secs, bandwidth_mbps)| Period {
                duration: Duration::from_secs(secs),
                bandwidth_mbps,
                rtt_ms,
            })
            .collect();
        Self::new(name, periods).expect("positive steps")
    }

    /// The periods, in order.
    pub fn periods(&self) -> &[Period] {
        &self.periods
    }

    /// Length of one loop, seconds.
    pub fn length_s(&self) -> f64 {
        *self.ends_s.last().unwrap_or(&1.0)
    }

    /// Mean bandwidth over one loop, time-weighted, Mbit/s.
    pub fn mean_bandwidth_mbps(&self) -> f64 {
        self.periods
            .iter()
            .map(|p| p.bandwidth_mbps * p.duration.as_secs_f64())
            .sum::<f64>()
            / self.length_s()
    }

    /// The period in force at `t_s` seconds (looping) and the absolute time (s)
    /// at which it ends.
    pub fn at(&self, t_s: f64) -> (Period, f64) {
        let len = self.length_s();
        let loops = (t_s / len).floor();
        let local = t_s - loops * len;
        let i = self
            .ends_s
            .partition_point(|end| *end <= local)
            .min(self.periods.len() - 1);
        (self.periods[i], loops * len + self.ends_s[i])
    }

    /// Parses a trace from its text, detecting the format (a name ending in
    /// `.json` or text starting with `[` → Sabre; otherwise two numeric
    /// columns → Pensieve, one integer column → Mahimahi). `origin` is where
    /// the text came from (a path); the trace is named after its last
    /// component.
    ///
    /// # Errors
    /// [`TraceError`] naming `origin` and the line.
    pub fn parse(origin: &str, text: &str) -> Result<Self, TraceError> {
        let name = origin.rsplit(['/', '\\']).next().unwrap_or(origin);
        let is_json = name.ends_with(".json") || text.trim_start().starts_with('[');
        if is_json {
            parse_sabre(name, origin, text)
        } else {
            parse_columns(name, origin, text)
        }
    }
}

#[derive(Deserialize)]
struct SabrePeriod {
    duration_ms: f64,
    bandwidth_kbps: f64,
    latency_ms: f64,
}

fn parse_sabre(name: &str, origin: &str, text: &str) -> Result<Trace, TraceError> {
    let periods: Vec<SabrePeriod> = serde_json::from_str(text).map_err(|e| TraceError::Parse {
        origin: origin.to_string(),
        line: e.line(),
        message: format!("not a Sabre trace: {e}"),
    })?;
    let mut out = Vec::with_capacity(periods.len());
    let mut total_ms = 0.0;
    for (i, p) in periods.iter().enumerate() {
        let valid = |v: f64| v.is_finite() && v >= 0.0;
        let bad = |message: String| TraceError::Parse {
            origin: origin.to_string(),
            line: line_of_entry(text, i),
            message: format!("period {i}: {message}"),
        };
        if !(valid(p.duration_ms) && valid(p.bandwidth_kbps) && valid(p.latency_ms)) {
            return Err(bad("negative or non-finite value".into()));
        }
        total_ms += p.duration_ms;
        if total_ms > MAX_TRACE_S * 1e3 {
            return Err(bad(format!(
                "the trace would last more than {MAX_TRACE_S} s"
            )));
        }
        if p.bandwidth_kbps > MAX_TRACE_BANDWIDTH_MBPS * 1e3 || p.latency_ms > MAX_TRACE_RTT_MS {
            return Err(bad(format!(
                "bandwidth above {MAX_TRACE_BANDWIDTH_MBPS} Mbit/s or latency above {MAX_TRACE_RTT_MS} ms"
            )));
        }
        out.push(Period {
            duration: Duration::from_secs_f64(p.duration_ms / 1e3),
            bandwidth_mbps: p.bandwidth_kbps / 1e3,
            rtt_ms: p.latency_ms,
        });
    }
    Trace::new(name, out).ok_or_else(|| TraceError::Empty {
        origin: origin.to_string(),
    })
}

/// Best-effort line number of the `i`-th `{` in a JSON array, for messages.
fn line_of_entry(text: &str, i: usize) -> usize {
    text.char_indices()
        .filter(|(_, c)| *c == '{')
        .nth(i)
        .map(|(pos, _)| text[..pos].lines().count().max(1))
        .unwrap_or(1)
}

fn parse_columns(name: &str, origin: &str, text: &str) -> Result<Trace, TraceError> {
    let err = |line: usize, message: String| TraceError::Parse {
        origin: origin.to_string(),
        line,
        message,
    };
    let mut two: Vec<(f64, f64)> = Vec::new();
    let mut one: Vec<u64> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split_whitespace().collect();
        match cols.len() {
            2 if one.is_empty() => {
                let t: f64 = cols[0]
                    .parse()
                    .map_err(|_| err(i + 1, format!("bad time {:?}", cols[0])))?;
                let bw: f64 = cols[1]
                    .parse()
                    .map_err(|_| err(i + 1, format!("bad bandwidth {:?}", cols[1])))?;
                if !(t.is_finite() && bw.is_finite() && bw >= 0.0) {
                    return Err(err(i + 1, "negative or non-finite value".into()));
                }
                if bw > MAX_TRACE_BANDWIDTH_MBPS {
                    return Err(err(
                        i + 1,
                        format!("bandwidth above {MAX_TRACE_BANDWIDTH_MBPS} Mbit/s"),
                    ));
                }
                if let Some((first, _)) = two.first()
                    && t - first > MAX_TRACE_S
                {
                    return Err(err(
                        i + 1,
                        format!("time {t} is more than {MAX_TRACE_S} s after the first"),
                    ));
                }
                if let Some((prev, _)) = two.last()
                    && t <= *prev
                {
                    return Err(err(i + 1, format!("time {t} does not increase")));
                }
                two.push((t, bw));
            }
            1 if two.is_empty() => {
                let ms: u64 = cols[0]
                    .parse()
                    .map_err(|_| err(i + 1, format!("bad Mahimahi timestamp {:?}", cols[0])))?;
                if let Some(prev) = one.last()
                    && ms < *prev
                {
                    return Err(err(i + 1, format!("timestamp {ms} goes backwards")));
                }
                if ms as f64 > MAX_TRACE_S * 1e3 {
                    return Err(err(
                        i + 1,
                        format!("timestamp {ms} ms is past {MAX_TRACE_S} s"),
                    ));
                }
                one.push(ms);
            }
            _ => {
                return Err(err(
                    i + 1,
                    "expected `time_s bandwidth_mbps` (Pensieve) or one integer (Mahimahi)".into(),
                ));
            }
        }
    }
    if two.is_empty() && one.is_empty() {
        return Err(TraceError::Empty {
            origin: origin.to_string(),
        });
    }
    let periods = if !two.is_empty() {
        let mut gaps: Vec<f64> = two.windows(2).map(|w| w[1].0 - w[0].0).collect();
        gaps.sort_by(f64::total_cmp);
        let last_gap = gaps.get(gaps.len() / 2).copied().unwrap_or(1.0);
        two.iter()
            .enumerate()
            .map(|(i, (t, bw))| {
                let next = two.get(i + 1).map(|n| n.0).unwrap_or(t + last_gap);
                Period {
                    duration: Duration::from_secs_f64(next - t),
                    bandwidth_mbps: *bw,
                    rtt_ms: DEFAULT_RTT_MS,
                }
            })
            .collect()
    } else {
        let end_ms = one.last().copied().unwrap_or(0);
        let bins = (end_ms / 1000 + 1) as usize;
        let mut packets = vec![0u64; bins];
        for ms in &one {
            packets[(*ms / 1000) as usize] += 1;
        }
        packets
            .iter()
            .map(|n| Period {
                duration: Duration::from_secs(1),
                bandwidth_mbps: *n as f64 * MAHIMAHI_PACKET_BYTES * 8.0 / 1e6,
                rtt_ms: DEFAULT_RTT_MS,
            })
            .collect()
    };
    Trace::new(name, periods).ok_or_else(|| TraceError::Empty {
        origin: origin.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sabre_json() {
        let t = Trace::parse(
            "traces/a.json",
            r#"[{"duration_ms": 500, "bandwidth_kbps": 8000, "latency_ms": 20},
                {"duration_ms": 1500, "bandwidth_kbps": 4000, "latency_ms": 40}]"#,
        )
        .unwrap();
        assert_eq!(t.name, "a.json");
        assert_eq!(t.periods().len(), 2);
        assert_eq!(t.length_s(), 2.0);
        assert_eq!(t.at(0.2).0.bandwidth_mbps, 8.0);
        assert_eq!(t.at(0.7), (t.periods()[1], 2.0));
        // Loops: 2.3 s is 0.3 s into the second loop.
        assert_eq!(t.at(2.3), (t.periods()[0], 2.5));
        assert!((t.mean_bandwidth_mbps() - 5.0).abs() < 1e-12);
    }

    #[test]
    fn pensieve_columns() {
        let t = Trace::parse("b", "0.0\t1.5\n1.0\t2.5\n3.0\t0.5\n").unwrap();
        let d: Vec<f64> = t
            .periods()
            .iter()
            .map(|p| p.duration.as_secs_f64())
            .collect();
        assert_eq!(d, vec![1.0, 2.0, 2.0], "last holds for the median gap");
        assert_eq!(t.periods()[0].rtt_ms, DEFAULT_RTT_MS);
    }

    #[test]
    fn mahimahi_packets() {
        let mut text = String::new();
        for ms in 0..1000 {
            if ms % 2 == 0 {
                text.push_str(&format!("{ms}\n"));
            }
        }
        text.push_str("1500\n");
        let t = Trace::parse("c", &text).unwrap();
        // 500 packets × 1500 B × 8 in 1 s = 6 Mbit/s.
        assert!((t.periods()[0].bandwidth_mbps - 6.0).abs() < 1e-9);
        assert_eq!(t.periods().len(), 2);
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = Trace::parse("dir/bad", "0.0 1.0\n1.0 x\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad:2:"), "{e}");
        let e = Trace::parse("bad2", "0.0 1.0\n0.5 1.0 7\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad2:2:"), "{e}");
        let e = Trace::parse("bad.json", "[{\"duration_ms\": 1}]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad.json:1:") && e.contains("Sabre"), "{e}");
        let e = Trace::parse("empty", "\n").unwrap_err().to_string();
        assert!(e.contains("no samples"), "{e}");
    }

    #[test]
    fn absurd_values_are_refused_not_panicked_on() {
        for (name, text, what) in [
            (
                "long.json",
                r#"[{"duration_ms": 1e300, "bandwidth_kbps": 1000, "latency_ms": 20}]"#,
                "more than",
            ),
            (
                "fat.json",
                r#"[{"duration_ms": 1000, "bandwidth_kbps": 1e300, "latency_ms": 20}]"#,
                "bandwidth above",
            ),
            ("pensieve", "0 1.0\n1e300 2.0\n", "more than"),
            ("pensieve-fat", "0 1e12\n", "bandwidth above"),
            ("mahimahi", "0\n10000000000000000000\n", "past"),
        ] {
            let e = Trace::parse(name, text).unwrap_err().to_string();
            assert!(e.contains(what), "{name}: {e}");
        }
        // The longest accepted trace still parses.
        let t = Trace::parse("week", &format!("0\n{}\n", (MAX_TRACE_S * 1e3) as u64)).unwrap();
        assert!((t.length_s() - (MAX_TRACE_S + 1.0)).abs() < 1.0);
    }
}
