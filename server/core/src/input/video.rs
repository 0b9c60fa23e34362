//! Video manifests for the simulator: chunk durations and sizes.
//!
//! Sources:
//! - synthetic constant bitrate, or VBR with seeded size variation
//!   ([`VideoSource::Synthetic`]);
//! - Sabre JSON (`shared/videos/bbb.json`): one bitrate level, its segments
//!   regrouped into chunks of the configured duration;
//! - Pensieve/Envivio chunk-size files (`video_size_N`: one size in bytes per
//!   line, 4 s segments), regrouped the same way.
//!
//! Regrouping: consecutive segments are merged until their summed duration
//! reaches the chunk duration (the last chunk may be shorter), so a 3 s source
//! gives 12 s chunks for a 10 s setting (4 segments), and a 4 s source 12 s.
//!
//! File-based sources carry the file's text; reading it is the caller's.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

/// A video could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    /// The content is malformed.
    #[error("{origin}:{line}: {message}")]
    Parse {
        /// Where the text came from (a file's path).
        origin: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A setting is out of range (level index, durations).
    #[error("{0}")]
    Invalid(String),
}

/// Where the chunk sizes come from.
#[derive(Clone, Debug, PartialEq)]
pub enum VideoSource {
    /// Synthetic video: `bitrate_kbps` average, `duration` long; `vbr` ∈ [0, 1)
    /// varies each chunk's size uniformly by ±`vbr` (seeded).
    Synthetic {
        /// Average bitrate, kbit/s.
        bitrate_kbps: f64,
        /// Total duration.
        duration: Duration,
        /// Relative size variation, 0 = constant bitrate.
        vbr: f64,
        /// RNG seed for the variation.
        seed: u64,
    },
    /// A Sabre JSON manifest and the bitrate level to use (0 = lowest).
    Sabre {
        /// Where the text came from (a file's path), for messages.
        origin: String,
        /// The manifest's text.
        text: String,
        /// Level index.
        level: usize,
    },
    /// A Pensieve/Envivio chunk-size file (bytes per line) with its segment
    /// duration (4 s for Envivio-Dash3).
    SizeFile {
        /// Where the text came from (a file's path), for messages.
        origin: String,
        /// The file's text.
        text: String,
        /// Segment duration.
        segment: Duration,
    },
}

/// Loads `source` as (duration, bytes) per chunk of about `chunk_duration`.
pub fn load_chunks(
    source: &VideoSource,
    chunk_duration: Duration,
) -> Result<Vec<(Duration, u64)>, VideoError> {
    if chunk_duration.is_zero() {
        return Err(VideoError::Invalid(
            "chunk duration must be positive".into(),
        ));
    }
    match source {
        VideoSource::Synthetic {
            bitrate_kbps,
            duration,
            vbr,
            seed,
        } => {
            if !(bitrate_kbps.is_finite() && *bitrate_kbps > 0.0 && (0.0..1.0).contains(vbr)) {
                return Err(VideoError::Invalid(format!(
                    "synthetic video needs bitrate > 0 and 0 <= vbr < 1 (got {bitrate_kbps} kbit/s, vbr {vbr})"
                )));
            }
            let mut rng = ChaCha8Rng::seed_from_u64(*seed);
            let mut out = Vec::new();
            let mut left = *duration;
            while !left.is_zero() {
                let d = left.min(chunk_duration);
                left -= d;
                let factor = if *vbr > 0.0 {
                    1.0 + rng.random_range(-*vbr..*vbr)
                } else {
                    1.0
                };
                let bytes = bitrate_kbps * 1e3 / 8.0 * d.as_secs_f64() * factor;
                out.push((d, bytes.round().max(1.0) as u64));
            }
            Ok(out)
        }
        VideoSource::Sabre {
            origin,
            text,
            level,
        } => {
            let segments = parse_sabre(origin, text, *level)?;
            Ok(regroup(&segments, chunk_duration))
        }
        VideoSource::SizeFile {
            origin,
            text,
            segment,
        } => {
            let segments = parse_size_file(origin, text, *segment)?;
            Ok(regroup(&segments, chunk_duration))
        }
    }
}

/// Longest segment a video manifest may declare, ms: 10 minutes. (A value
/// like 1e300 overflowed the segment's `Duration`.)
pub const MAX_SEGMENT_DURATION_MS: f64 = 600_000.0;
/// Largest segment size a video file may give, bytes: 1 GiB.
pub const MAX_SEGMENT_BYTES: u64 = 1 << 30;

#[derive(Deserialize)]
struct SabreVideo {
    segment_duration_ms: f64,
    bitrates_kbps: Vec<f64>,
    segment_sizes_bits: Vec<Vec<f64>>,
}

/// Most renditions a ladder may have (bbb.json has 10).
pub const MAX_LADDER_LEVELS: usize = 64;
/// Most segments a ladder may have: a day of 1 s segments.
pub const MAX_LADDER_SEGMENTS: usize = 86_400;

/// A video's bitrate ladder with every segment's size in every rendition,
/// as Sabre's manifests give it (`shared/videos/bbb.json`: 10 levels,
/// 230–6,000 kbit/s, 199 segments of 3 s).
///
/// Units are Sabre's own (bits, ms, kbit/s = bits/ms), so the ABR rules and
/// the Sabre-model simulator compute with the very numbers Sabre does.
#[derive(Clone, Debug, PartialEq)]
pub struct Ladder {
    /// Where the description came from (a file's path).
    pub name: String,
    /// Segment duration, ms (every segment lasts this long).
    pub segment_ms: f64,
    /// Nominal bitrate per level, kbit/s, strictly increasing from level 0.
    pub bitrates_kbps: Vec<f64>,
    /// `segments_bits[i][q]`: size of segment `i` at level `q`, bits (> 0).
    pub segments_bits: Vec<Vec<f64>>,
}

impl Ladder {
    /// Number of levels (renditions), ≥ 1.
    pub fn levels(&self) -> usize {
        self.bitrates_kbps.len()
    }

    /// Index of the highest level.
    pub fn top(&self) -> usize {
        self.bitrates_kbps.len() - 1
    }

    /// Number of segments, ≥ 1.
    pub fn segments(&self) -> usize {
        self.segments_bits.len()
    }

    /// Size of segment `segment` at level `level`, bits; a segment past
    /// the end counts at the level's nominal size (bitrate × duration).
    /// Panics if `level` is not a level of the ladder.
    pub fn segment_bits(&self, segment: usize, level: usize) -> f64 {
        self.segments_bits
            .get(segment)
            .and_then(|s| s.get(level))
            .copied()
            .unwrap_or(self.bitrates_kbps[level] * self.segment_ms)
    }

    /// Parses a Sabre video manifest (`segment_duration_ms`,
    /// `bitrates_kbps`, `segment_sizes_bits`), `origin` naming it in errors.
    ///
    /// # Errors
    /// [`VideoError`] when the JSON is malformed, the duration is outside
    /// (0, [`MAX_SEGMENT_DURATION_MS`]], the bitrates are not strictly
    /// increasing and positive, a segment lacks a size in (0,
    /// [`MAX_SEGMENT_BYTES`]] bytes for a level, or the ladder exceeds
    /// [`MAX_LADDER_LEVELS`] levels or [`MAX_LADDER_SEGMENTS`] segments.
    pub fn parse_sabre(origin: &str, text: &str) -> Result<Self, VideoError> {
        let v: SabreVideo = serde_json::from_str(text).map_err(|e| VideoError::Parse {
            origin: origin.to_string(),
            line: e.line(),
            message: format!("not a Sabre video manifest: {e}"),
        })?;
        if !(v.segment_duration_ms > 0.0 && v.segment_duration_ms <= MAX_SEGMENT_DURATION_MS) {
            return Err(VideoError::Invalid(format!(
                "{}: segment_duration_ms must be in (0, {MAX_SEGMENT_DURATION_MS}], got {}",
                origin, v.segment_duration_ms
            )));
        }
        let rates = &v.bitrates_kbps;
        let increasing = rates.windows(2).all(|w| w[0] < w[1]);
        if rates.is_empty()
            || rates.len() > MAX_LADDER_LEVELS
            || !increasing
            || !rates.iter().all(|r| r.is_finite() && *r > 0.0)
        {
            return Err(VideoError::Invalid(format!(
                "{origin}: bitrates_kbps must be 1 to {MAX_LADDER_LEVELS} positive values in increasing order, got {rates:?}"
            )));
        }
        if v.segment_sizes_bits.is_empty() || v.segment_sizes_bits.len() > MAX_LADDER_SEGMENTS {
            return Err(VideoError::Invalid(format!(
                "{origin}: segment_sizes_bits must hold 1 to {MAX_LADDER_SEGMENTS} segments, got {}",
                v.segment_sizes_bits.len()
            )));
        }
        for (i, sizes) in v.segment_sizes_bits.iter().enumerate() {
            for q in 0..rates.len() {
                match sizes.get(q) {
                    Some(bits) if *bits > 0.0 && bits / 8.0 <= MAX_SEGMENT_BYTES as f64 => {}
                    _ => {
                        return Err(VideoError::Parse {
                            origin: origin.to_string(),
                            line: 1,
                            message: format!(
                                "segment {i} has no size in (0, {MAX_SEGMENT_BYTES}] bytes for level {q}"
                            ),
                        });
                    }
                }
            }
        }
        Ok(Self {
            name: origin.to_string(),
            segment_ms: v.segment_duration_ms,
            bitrates_kbps: v.bitrates_kbps,
            segments_bits: v.segment_sizes_bits,
        })
    }
}

impl Ladder {
    /// A ladder from one chunk-size file per level, lowest first (Pensieve's
    /// `video_size_0` … `video_size_N`: one size in bytes per line), every
    /// segment lasting `segment`. `bitrates_kbps` are the levels' nominal
    /// bitrates; `None` takes each level's mean size over `segment` (kbit/s).
    ///
    /// # Errors
    /// [`VideoError`] naming the file and line of a malformed size, or when
    /// the files hold different segment counts, the levels are more than
    /// [`MAX_LADDER_LEVELS`], or the bitrates are not positive and
    /// increasing (one per file).
    pub fn parse_size_files(
        origin: &str,
        levels: &[(String, String)],
        segment: Duration,
        bitrates_kbps: Option<&[f64]>,
    ) -> Result<Self, VideoError> {
        let invalid = |m: String| VideoError::Invalid(format!("{origin}: {m}"));
        if levels.is_empty() || levels.len() > MAX_LADDER_LEVELS {
            return Err(invalid(format!(
                "a ladder needs 1 to {MAX_LADDER_LEVELS} size files, got {}",
                levels.len()
            )));
        }
        let per_level: Vec<Vec<(Duration, u64)>> = levels
            .iter()
            .map(|(name, text)| parse_size_file(name, text, segment))
            .collect::<Result<_, _>>()?;
        let segments = per_level[0].len();
        if segments > MAX_LADDER_SEGMENTS {
            return Err(invalid(format!(
                "at most {MAX_LADDER_SEGMENTS} segments, got {segments}"
            )));
        }
        if let Some((name, l)) = levels
            .iter()
            .zip(&per_level)
            .find(|(_, l)| l.len() != segments)
        {
            return Err(invalid(format!(
                "{} holds {} segments, {} holds {segments}",
                name.0,
                l.len(),
                levels[0].0
            )));
        }
        let seg_s = segment.as_secs_f64();
        let rates: Vec<f64> = match bitrates_kbps {
            Some(r) => r.to_vec(),
            None => per_level
                .iter()
                .map(|l| {
                    l.iter().map(|c| c.1 as f64 * 8.0).sum::<f64>() / segments as f64 / seg_s / 1e3
                })
                .collect(),
        };
        if rates.len() != levels.len()
            || !rates.windows(2).all(|w| w[0] < w[1])
            || !rates.iter().all(|r| r.is_finite() && *r > 0.0)
        {
            return Err(invalid(format!(
                "need {} positive bitrates in increasing order (one per size file, lowest first), got {rates:?} kbit/s",
                levels.len()
            )));
        }
        Ok(Self {
            name: origin.to_string(),
            segment_ms: seg_s * 1e3,
            bitrates_kbps: rates,
            segments_bits: (0..segments)
                .map(|i| per_level.iter().map(|l| l[i].1 as f64 * 8.0).collect())
                .collect(),
        })
    }
}

fn parse_sabre(origin: &str, text: &str, level: usize) -> Result<Vec<(Duration, u64)>, VideoError> {
    let ladder = Ladder::parse_sabre(origin, text)?;
    if level >= ladder.levels() {
        return Err(VideoError::Invalid(format!(
            "{}: level {level} out of range (the file has {} levels: {:?} kbit/s)",
            origin,
            ladder.levels(),
            ladder.bitrates_kbps
        )));
    }
    let seg = Duration::from_secs_f64(ladder.segment_ms / 1e3);
    Ok(ladder
        .segments_bits
        .iter()
        .map(|sizes| (seg, (sizes[level] / 8.0).round() as u64))
        .collect())
}

fn parse_size_file(
    origin: &str,
    text: &str,
    segment: Duration,
) -> Result<Vec<(Duration, u64)>, VideoError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let bytes: u64 = line.parse().map_err(|_| VideoError::Parse {
            origin: origin.to_string(),
            line: i + 1,
            message: format!("expected a chunk size in bytes, found {line:?}"),
        })?;
        if bytes > MAX_SEGMENT_BYTES {
            return Err(VideoError::Parse {
                origin: origin.to_string(),
                line: i + 1,
                message: format!("chunk size {bytes} is above {MAX_SEGMENT_BYTES} bytes"),
            });
        }
        out.push((segment, bytes));
    }
    if out.is_empty() {
        return Err(VideoError::Parse {
            origin: origin.to_string(),
            line: 1,
            message: "no chunk sizes".into(),
        });
    }
    Ok(out)
}

/// Merges consecutive segments until each group lasts at least `chunk`.
pub fn regroup(segments: &[(Duration, u64)], chunk: Duration) -> Vec<(Duration, u64)> {
    let mut out = Vec::new();
    let (mut d, mut b) = (Duration::ZERO, 0u64);
    for (sd, sb) in segments {
        d = d.saturating_add(*sd);
        b = b.saturating_add(*sb);
        if d >= chunk {
            out.push((d, b));
            (d, b) = (Duration::ZERO, 0);
        }
    }
    if !d.is_zero() {
        out.push((d, b));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: u64) -> Duration {
        Duration::from_secs(v)
    }

    #[test]
    fn synthetic_constant_and_vbr() {
        let c = load_chunks(
            &VideoSource::Synthetic {
                bitrate_kbps: 8000.0,
                duration: s(25),
                vbr: 0.0,
                seed: 1,
            },
            s(10),
        )
        .unwrap();
        assert_eq!(
            c,
            vec![(s(10), 10_000_000), (s(10), 10_000_000), (s(5), 5_000_000)]
        );
        let src = VideoSource::Synthetic {
            bitrate_kbps: 5000.0,
            duration: s(600),
            vbr: 0.3,
            seed: 7,
        };
        let a = load_chunks(&src, s(10)).unwrap();
        assert_eq!(
            a,
            load_chunks(&src, s(10)).unwrap(),
            "seeded: deterministic"
        );
        assert_eq!(a.len(), 60);
        assert!(a.iter().all(|(_, b)| *b >= 4_375_000 && *b <= 8_125_000));
        assert!(a.iter().any(|(_, b)| *b != a[0].1), "sizes vary");
    }

    #[test]
    fn regroups_segments() {
        let segs = vec![(s(3), 1); 7];
        assert_eq!(regroup(&segs, s(10)), vec![(s(12), 4), (s(9), 3)]);
    }

    #[test]
    fn bad_size_file_names_the_line() {
        let e = load_chunks(
            &VideoSource::SizeFile {
                origin: "sizes".into(),
                text: "100\n200\nabc\n".into(),
                segment: s(4),
            },
            s(10),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(":3:"), "{e}");
    }

    #[test]
    fn absurd_manifests_are_refused_not_panicked_on() {
        let sabre = |seg_ms: &str, bits: &str| VideoSource::Sabre {
            origin: "m.json".into(),
            text: format!(
                r#"{{"segment_duration_ms": {seg_ms}, "bitrates_kbps": [1000], "segment_sizes_bits": [[{bits}]]}}"#
            ),
            level: 0,
        };
        let e = load_chunks(&sabre("1e300", "8000"), s(10))
            .unwrap_err()
            .to_string();
        assert!(e.contains("segment_duration_ms"), "{e}");
        let e = load_chunks(&sabre("4000", "1e300"), s(10))
            .unwrap_err()
            .to_string();
        assert!(e.contains("segment 0"), "{e}");
        assert_eq!(
            load_chunks(&sabre("4000", "8000"), s(10)).unwrap(),
            vec![(s(4), 1000)]
        );
        let e = load_chunks(
            &VideoSource::SizeFile {
                origin: "sizes".into(),
                text: format!("{}\n{}\n", u64::MAX, u64::MAX),
                segment: s(4),
            },
            s(10),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(":1:") && e.contains("above"), "{e}");
        // Sums saturate rather than overflow.
        assert_eq!(
            regroup(&[(s(4), u64::MAX), (s(4), 1)], s(10)),
            vec![(s(8), u64::MAX)]
        );
    }

    #[test]
    fn size_files_make_a_ladder_and_mismatches_are_refused() {
        let files = |v: &[&str]| -> Vec<(String, String)> {
            v.iter()
                .enumerate()
                .map(|(i, t)| (format!("video_size_{i}"), (*t).to_string()))
                .collect()
        };
        let seg = Duration::from_secs(4);
        let l =
            Ladder::parse_size_files("env", &files(&["1000\n2000\n", "3000\n5000\n"]), seg, None)
                .unwrap();
        assert_eq!(l.levels(), 2);
        assert_eq!(l.segments(), 2);
        assert_eq!(l.segments_bits[1], vec![16_000.0, 40_000.0]);
        // Mean size over 4 s: 1,500 B → 3 kbit/s; 4,000 B → 8 kbit/s.
        assert_eq!(l.bitrates_kbps, vec![3.0, 8.0]);
        let named = Ladder::parse_size_files(
            "env",
            &files(&["1000\n2000\n", "3000\n5000\n"]),
            seg,
            Some(&[300.0, 750.0]),
        )
        .unwrap();
        assert_eq!(named.bitrates_kbps, vec![300.0, 750.0]);
        let e = Ladder::parse_size_files("env", &files(&["1000\n", "3000\n5000\n"]), seg, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("video_size_1") && e.contains("segments"), "{e}");
        let e = Ladder::parse_size_files(
            "env",
            &files(&["1000\n", "3000\n"]),
            seg,
            Some(&[750.0, 300.0]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("increasing"), "{e}");
        let e = Ladder::parse_size_files("env", &files(&["1000\n", "x\n"]), seg, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("video_size_1"), "{e}");
    }
}
