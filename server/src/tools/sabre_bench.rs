//! `vstack bench`'s sabre step: vstack's Sabre model and `sabre.py` itself
//! (Spiteri et al., MMSys 2018; `shared/peers/sabre`) run side by side on
//! the same traces, video and rules, cell by cell.
//!
//! For every trace of each set (`shared/traces/fcc`, `hsdpa-3g`) and every
//! rule (`bola`, `bolae`, `throughput`, `dynamic`) with `shared/videos/bbb.json`:
//! vstack's [`vstack_core::sim::sabre::run`] in this process, and
//! `python3 sabre.py -n TRACE -m VIDEO -a RULE` as a child process, one per
//! cell, as Sabre is run. A cell agrees when the time-average played
//! bitrate is within 1 % and the total rebuffer time within 2 % or 0.1 s.
//!
//! Speed, side by side on this machine: vstack's whole table (reading and
//! parsing the files included) against the sum of Sabre's processes' wall
//! times (Python's start-up included: that is what running Sabre costs).
//! `bench` judges every cell agreeing and vstack ≥ 100× faster.

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use vstack_core::{
    abr::AbrKind,
    input::{Ladder, Trace},
    sim::sabre::{self, SabreConfig, SabreReport},
};

/// Sizes of the sabre step; defaults in [`SabreBenchConfig::full`] and
/// [`SabreBenchConfig::quick`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SabreBenchConfig {
    /// Trace sets under `shared/traces`.
    pub trace_sets: Vec<String>,
    /// Traces taken from each set, in name order (`None`: all).
    pub traces_per_set: Option<usize>,
    /// The rules compared.
    pub rules: Vec<AbrKind>,
}

impl SabreBenchConfig {
    /// The whole table: every trace of `fcc` and `hsdpa-3g` (40) × 4 rules.
    pub fn full() -> Self {
        Self {
            trace_sets: vec!["fcc".into(), "hsdpa-3g".into()],
            traces_per_set: None,
            rules: AbrKind::SABRE.to_vec(),
        }
    }

    /// 3 traces of each set × 4 rules (24 cells).
    pub fn quick() -> Self {
        Self {
            traces_per_set: Some(3),
            ..Self::full()
        }
    }
}

/// The figures compared, under Sabre's names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SabreFigures {
    /// Time-average played bitrate, kbit/s.
    pub time_average_played_bitrate: f64,
    /// Total rebuffer time, s.
    pub total_rebuffer: f64,
    /// Rebuffer events.
    pub total_rebuffer_events: f64,
    /// Sabre's time-average score.
    pub time_average_score: f64,
}

impl From<&SabreReport> for SabreFigures {
    fn from(r: &SabreReport) -> Self {
        Self {
            time_average_played_bitrate: r.time_average_played_bitrate,
            total_rebuffer: r.total_rebuffer,
            total_rebuffer_events: r.total_rebuffer_events,
            time_average_score: r.time_average_score,
        }
    }
}

impl SabreFigures {
    /// Reads `sabre.py`'s output (`name: value` per line; lines without a
    /// colon, such as BOLA-E's stray debug number, are skipped).
    ///
    /// # Errors
    /// When a figure is missing or not a number.
    pub fn parse_sabre_output(text: &str) -> anyhow::Result<Self> {
        let get = |name: &str| -> anyhow::Result<f64> {
            text.lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim() == name)
                .with_context(|| format!("sabre.py printed no {name:?}"))?
                .1
                .trim()
                .parse()
                .with_context(|| format!("sabre.py's {name:?} is not a number"))
        };
        Ok(Self {
            time_average_played_bitrate: get("time average played bitrate")?,
            total_rebuffer: get("total rebuffer")?,
            total_rebuffer_events: get("total rebuffer events")?,
            time_average_score: get("time average score")?,
        })
    }
}

/// One trace × rule.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SabreCell {
    /// Trace set.
    pub trace_set: String,
    /// Trace file name.
    pub trace: String,
    /// Rule.
    pub rule: String,
    /// vstack's figures.
    pub vstack: SabreFigures,
    /// `sabre.py`'s figures.
    pub sabre: SabreFigures,
    /// |Δ played bitrate| ÷ Sabre's, %.
    pub bitrate_diff_pct: f64,
    /// |Δ rebuffer time|, s.
    pub rebuffer_diff_s: f64,
    /// Within 1 % bitrate and 2 % (or 0.1 s) rebuffer.
    pub agrees: bool,
}

impl SabreCell {
    fn new(
        trace_set: &str,
        trace: &str,
        rule: AbrKind,
        vstack: SabreFigures,
        sabre: SabreFigures,
    ) -> Self {
        let bitrate_diff_pct =
            (vstack.time_average_played_bitrate - sabre.time_average_played_bitrate).abs()
                / sabre.time_average_played_bitrate.abs().max(1e-9)
                * 100.0;
        let rebuffer_diff_s = (vstack.total_rebuffer - sabre.total_rebuffer).abs();
        let agrees = bitrate_diff_pct <= 1.0
            && (rebuffer_diff_s <= 0.1 || rebuffer_diff_s <= 0.02 * sabre.total_rebuffer.abs());
        Self {
            trace_set: trace_set.into(),
            trace: trace.into(),
            rule: rule.name().into(),
            vstack,
            sabre,
            bitrate_diff_pct,
            rebuffer_diff_s,
            agrees,
        }
    }
}

/// The step's result.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SabreBenchReport {
    /// Every cell, set by set, trace by trace, rule by rule.
    pub cells: Vec<SabreCell>,
    /// vstack's whole table, files read and parsed included, s.
    pub vstack_wall_s: f64,
    /// Sum of Sabre's processes' wall times, s.
    pub sabre_wall_s: f64,
    /// `sabre_wall_s / vstack_wall_s`.
    pub speedup_x: f64,
    /// Why cells are missing, if any are (no python3, no trace set, …).
    pub problems: Vec<String>,
}

struct Inputs {
    ladder: Ladder,
    /// (set, file, trace)
    traces: Vec<(String, PathBuf, Trace)>,
}

fn read_inputs(shared: &Path, cfg: &SabreBenchConfig, video: &Path) -> anyhow::Result<Inputs> {
    let text = crate::files::read_text(video)?;
    let ladder = Ladder::parse_sabre(&video.to_string_lossy(), &text)?;
    let mut traces = Vec::new();
    for set in &cfg.trace_sets {
        let dir = shared.join("traces").join(set);
        let mut files = crate::files::trace_file_paths(&dir)?;
        files.retain(|p| p.extension().is_some_and(|x| x == "json"));
        files.truncate(cfg.traces_per_set.unwrap_or(usize::MAX));
        for f in files {
            let trace = crate::files::trace_file(&f)?;
            traces.push((set.clone(), f, trace));
        }
    }
    Ok(Inputs { ladder, traces })
}

/// vstack's side: every cell's figures, in order (set, trace, rule).
fn vstack_table(
    shared: &Path,
    cfg: &SabreBenchConfig,
    video: &Path,
) -> anyhow::Result<(Inputs, Vec<SabreFigures>)> {
    let inputs = read_inputs(shared, cfg, video)?;
    let config = SabreConfig::default();
    let mut out = Vec::new();
    for (_, _, trace) in &inputs.traces {
        for &rule in &cfg.rules {
            let r = sabre::run(trace, &inputs.ladder, rule, &config)?;
            out.push(SabreFigures::from(&r));
        }
    }
    Ok((inputs, out))
}

/// Runs the step: vstack's table, then `sabre.py` cell by cell. Inputs that
/// cannot be read (no shared folder) and Sabre's failures are recorded in
/// [`SabreBenchReport::problems`]; the cells they cost are missing, so the
/// step's targets fail.
///
/// # Errors
/// Only when the blocking task panics.
pub async fn side_by_side(
    shared: &Path,
    cfg: &SabreBenchConfig,
    pb: &indicatif::ProgressBar,
) -> anyhow::Result<SabreBenchReport> {
    let video = shared.join("videos").join("bbb.json");
    let script = shared.join("peers").join("sabre").join("sabre.py");
    let (s, c, v) = (shared.to_path_buf(), cfg.clone(), video.clone());
    let t = Instant::now();
    let table = tokio::task::spawn_blocking(move || vstack_table(&s, &c, &v)).await?;
    let vstack_wall_s = t.elapsed().as_secs_f64();
    let mut report = SabreBenchReport {
        vstack_wall_s,
        ..SabreBenchReport::default()
    };
    let (inputs, ours) = match table {
        Ok(t) => t,
        Err(e) => {
            report.problems.push(format!("vstack's side: {e}"));
            return Ok(report);
        }
    };
    pb.set_length((inputs.traces.len() * cfg.rules.len()) as u64);
    let mut ours = ours.into_iter();
    for (set, path, trace) in &inputs.traces {
        for &rule in &cfg.rules {
            let mine = ours.next().context("one figure set per cell")?;
            let t = Instant::now();
            let out = tokio::process::Command::new("python3")
                .arg(&script)
                .arg("-n")
                .arg(path)
                .arg("-m")
                .arg(&video)
                .arg("-a")
                .arg(rule.name())
                .kill_on_drop(true)
                .output()
                .await;
            report.sabre_wall_s += t.elapsed().as_secs_f64();
            pb.inc(1);
            let theirs = match out {
                Ok(o) if o.status.success() => {
                    SabreFigures::parse_sabre_output(&String::from_utf8_lossy(&o.stdout))
                }
                Ok(o) => Err(anyhow::anyhow!(
                    "exited with {}: {}",
                    o.status,
                    String::from_utf8_lossy(&o.stderr)
                        .lines()
                        .last()
                        .unwrap_or("")
                )),
                Err(e) => Err(anyhow::anyhow!("python3 could not start: {e}")),
            };
            match theirs {
                Ok(f) => report
                    .cells
                    .push(SabreCell::new(set, &trace.name, rule, mine, f)),
                Err(e) => report.problems.push(format!(
                    "sabre.py on {set}/{} with {}: {e:#}",
                    trace.name,
                    rule.name()
                )),
            }
        }
    }
    report.speedup_x = report.sabre_wall_s / report.vstack_wall_s.max(1e-9);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sabres_output_past_its_stray_number() {
        let text = "30000\nbuffer size: 25000\ntime average played bitrate: 3527.154149\n\
                    total rebuffer: 2.385962\ntotal rebuffer events: 2.000000\n\
                    time average score: 1.983805\n";
        let f = SabreFigures::parse_sabre_output(text).unwrap();
        assert_eq!(f.time_average_played_bitrate, 3527.154149);
        assert_eq!(f.total_rebuffer_events, 2.0);
        assert!(SabreFigures::parse_sabre_output("buffer size: 1\n").is_err());
    }

    #[test]
    fn a_cell_agrees_within_one_percent_and_two_percent_or_a_tenth_of_a_second() {
        let f = |b: f64, r: f64| SabreFigures {
            time_average_played_bitrate: b,
            total_rebuffer: r,
            ..SabreFigures::default()
        };
        let cell = |a, b| SabreCell::new("s", "t", AbrKind::Bola, a, b).agrees;
        assert!(cell(f(1000.0, 0.0), f(1009.0, 0.09)));
        assert!(!cell(f(1000.0, 0.0), f(1011.0, 0.0)));
        assert!(cell(f(1000.0, 10.0), f(1000.0, 10.19)));
        assert!(!cell(f(1000.0, 10.0), f(1000.0, 10.3)));
    }
}
