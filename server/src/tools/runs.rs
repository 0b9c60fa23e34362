//! Runs as the history keeps them and the run pages show them: each tool's
//! report turned into a [`RunRecord`] (summary, machine, version, per-metric
//! tables with their spread, charts, notes, and the report itself), and
//! where a finished run goes: the history database of a data directory
//! (`--data-dir`), a running server (`--publish URL`, `POST /api/runs` with
//! the admin token), or both.

use std::path::PathBuf;

use vstack_core::wire::{
    CompareReport, RunChart, RunKind, RunRecord, RunSeries, RunSummary, RunTable,
};
use vstack_core::{
    demo::{PhaseFigures, PhaseResult},
    engine::ClientKind,
};

use super::{
    bench::{BenchReport, Machine},
    chaos::ChaosReport,
};
use crate::history::{History, HistoryConfig, unix_ms_now};

/// A fresh run id: 16 hex digits (64 random bits: links cannot be guessed).
pub fn new_id() -> String {
    use rand::Rng;
    hex::encode(rand::rng().random::<[u8; 8]>())
}

/// Whether `id` has the shape of a run id (16 lower-case hex digits).
pub fn is_run_id(id: &str) -> bool {
    id.len() == 16
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The machine as (label, value) rows.
pub fn machine_rows(m: &Machine) -> Vec<(String, String)> {
    let mut rows = vec![
        ("OS".to_string(), format!("{} {}", m.os, m.arch)),
        ("CPUs".to_string(), m.cpus.to_string()),
    ];
    if let Some(c) = &m.cpu_model {
        rows.push(("CPU".into(), c.clone()));
    }
    if let Some(mib) = m.memory_total_mib {
        rows.push(("memory".into(), format!("{:.1} GiB", mib as f64 / 1024.0)));
    }
    if let Some(h) = &m.hostname {
        rows.push(("host".into(), h.clone()));
    }
    rows
}

/// `vstack 0.1.0 (debug build)`.
pub fn version_of(m: &Machine) -> String {
    format!("vstack {} ({} build)", m.vstack_version, m.build)
}

/// What every run's summary says (see [`RunSummary`]).
struct Head {
    kind: RunKind,
    title: String,
    headline: String,
    passed: Option<bool>,
    times: (u64, u64),
    conditions: String,
}

fn record(h: Head, source: &str, report: serde_json::Value) -> RunRecord {
    let machine = Machine::current();
    RunRecord {
        summary: RunSummary {
            id: new_id(),
            kind: h.kind,
            title: h.title,
            headline: h.headline,
            passed: h.passed,
            started_unix_ms: h.times.0,
            finished_unix_ms: h.times.1,
            conditions: h.conditions,
            source: source.into(),
        },
        machine: machine_rows(&machine),
        version: version_of(&machine),
        tables: Vec::new(),
        charts: Vec::new(),
        notes: Vec::new(),
        report,
    }
}

fn fmt(v: f64, unit: &str) -> String {
    let digits = if v.abs() >= 100.0 {
        0
    } else if v.abs() >= 10.0 {
        1
    } else {
        2
    };
    if unit.is_empty() {
        format!("{v:.digits$}")
    } else {
        format!("{v:.digits$} {unit}")
    }
}

fn mean_sd(mean: f64, sd: f64, unit: &str) -> String {
    format!("{} ± {}", fmt(mean, ""), fmt(sd, unit))
}

/// A `vstack compare` run (also the dashboard's re-run).
pub fn compare_record(r: &CompareReport, started_unix_ms: u64, source: &str) -> RunRecord {
    let finished = r.finished_unix_s.map_or_else(unix_ms_now, |s| s * 1000);
    let sessions = r.conditions.first().map_or(0, |c| c.sessions);
    let names: Vec<&str> = r.conditions.iter().map(|c| c.condition.as_str()).collect();
    let headline = r
        .conditions
        .first()
        .and_then(|c| c.metrics.first().map(|m| (c, m)))
        .map(|(c, m)| format!("{}: smart {} {}", c.condition, m.improvement, m.metric))
        .unwrap_or_else(|| "no conditions".into());
    let mut rec = record(
        Head {
            kind: RunKind::Compare,
            title: format!(
                "compare ({}) · {} · {} each",
                serde_json::to_value(r.mode)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                vstack_core::wire::counted(r.conditions.len(), "condition", "conditions"),
                vstack_core::wire::counted(sessions, "session pair", "session pairs"),
            ),
            headline,
            passed: None,
            times: (started_unix_ms.min(finished), finished),
            conditions: format!(
                "{}; video {} s at {:.0} kbit/s; speed {}x",
                names.join(", "),
                r.video.0,
                r.video.1,
                r.speed
            ),
        },
        source,
        serde_json::to_value(r).unwrap_or_default(),
    );
    for c in &r.conditions {
        rec.tables.push(RunTable {
            title: format!(
                "{} ({} per client)",
                c.condition,
                vstack_core::wire::counted(c.sessions, "session", "sessions")
            ),
            columns: [
                "metric",
                "smart mean ± sd",
                "naive mean ± sd",
                "improvement",
                "p10–p90 of pairs",
            ]
            .map(String::from)
            .to_vec(),
            rows: c
                .metrics
                .iter()
                .map(|m| {
                    vec![
                        m.metric.clone(),
                        mean_sd(m.smart_mean, m.smart_sd, &m.unit),
                        mean_sd(m.naive_mean, m.naive_sd, &m.unit),
                        m.improvement.clone(),
                        m.pairs_label(),
                    ]
                })
                .collect(),
        });
    }
    let metrics: Vec<(String, String)> = r
        .conditions
        .first()
        .map(|c| {
            c.metrics
                .iter()
                .map(|m| (m.metric.clone(), m.unit.clone()))
                .collect()
        })
        .unwrap_or_default();
    for (metric, unit) in metrics.iter().take(4) {
        let value = |kind: ClientKind| {
            r.conditions
                .iter()
                .map(|c| {
                    c.metrics
                        .iter()
                        .find(|m| &m.metric == metric)
                        .map_or(0.0, |m| match kind {
                            ClientKind::Smart => m.smart_mean,
                            ClientKind::Naive => m.naive_mean,
                        })
                })
                .collect()
        };
        rec.charts.push(RunChart {
            title: format!("{metric}, mean per condition"),
            y_name: if unit.is_empty() {
                metric.clone()
            } else {
                unit.clone()
            },
            categories: names.iter().map(|s| (*s).to_string()).collect(),
            series: ClientKind::ALL
                .iter()
                .map(|&k| RunSeries {
                    name: k.name().into(),
                    values: value(k),
                })
                .collect(),
        });
    }
    rec
}

/// A `vstack bench` run.
pub fn bench_record(r: &BenchReport, source: &str) -> RunRecord {
    let started = r.started_unix_s * 1000;
    let finished = started + (r.wall_s * 1000.0) as u64;
    let mut rec = record(
        Head {
            kind: RunKind::Bench,
            title: format!(
                "bench{} · {} targets",
                if r.quick { " --quick" } else { "" },
                r.total
            ),
            headline: format!(
                "{}/{} targets met ({:.0} %)",
                r.passed, r.total, r.score_pct
            ),
            passed: Some(r.passed == r.total),
            times: (started, finished),
            conditions: format!("{} build, {} skipped", r.machine.build, r.skipped.len()),
        },
        source,
        serde_json::to_value(r).unwrap_or_default(),
    );
    rec.machine = machine_rows(&r.machine);
    rec.version = version_of(&r.machine);
    rec.tables.push(RunTable {
        title: "Targets".into(),
        columns: [
            "target",
            "client",
            "conditions",
            "measured",
            "bar",
            "met",
            "how (sample, spread)",
        ]
        .map(String::from)
        .to_vec(),
        rows: r
            .results
            .iter()
            .map(|t| {
                vec![
                    format!(
                        "{}{}",
                        t.name,
                        t.requirement
                            .as_deref()
                            .map(|q| format!(" ({q})"))
                            .unwrap_or_default()
                    ),
                    t.client.map_or_else(|| "—".into(), |c| c.name().into()),
                    t.conditions.clone(),
                    fmt(t.measured, &t.unit),
                    format!("{} {}", t.comparison.symbol(), fmt(t.target, &t.unit)),
                    if t.passed { "yes".into() } else { "NO".into() },
                    t.detail.clone(),
                ]
            })
            .collect(),
    });
    let judged: Vec<_> = r
        .results
        .iter()
        .filter(|t| t.target.abs() > 0.0)
        .take(24)
        .collect();
    rec.charts.push(RunChart {
        title: "Measured as % of each target's bar".into(),
        y_name: "% of bar".into(),
        categories: judged.iter().map(|t| t.name.clone()).collect(),
        series: vec![RunSeries {
            name: "measured ÷ bar".into(),
            values: judged
                .iter()
                .map(|t| t.measured / t.target * 100.0)
                .collect(),
        }],
    });
    rec.notes = r.skipped.iter().map(|s| format!("skipped: {s}")).collect();
    rec
}

/// A `vstack chaos` run.
pub fn chaos_record(r: &ChaosReport, times: (u64, u64), source: &str) -> RunRecord {
    let passed = r.violations.is_empty();
    let mut rec = record(
        Head {
            kind: RunKind::Chaos,
            title: format!("chaos · seed {} · {} failures", r.seed, r.failures.len()),
            headline: if passed {
                format!(
                    "every invariant held; {} replicas verified",
                    r.replicas_verified
                )
            } else {
                format!("{} invariant(s) broken", r.violations.len())
            },
            passed: Some(passed),
            times,
            conditions: format!("{} media s of injection at {}x", r.duration_s, r.speed),
        },
        source,
        serde_json::to_value(r).unwrap_or_default(),
    );
    rec.tables.push(RunTable {
        title: "Clients".into(),
        columns: [
            "client",
            "sessions (ended)",
            "chunks",
            "rebuffers",
            "stall",
            "failovers",
            "startup mean",
        ]
        .map(String::from)
        .to_vec(),
        rows: r
            .clients
            .iter()
            .map(|c| {
                vec![
                    c.name.clone(),
                    format!("{} ({})", c.sessions, c.ended),
                    format!("{}/{}", c.chunks.0, c.chunks.1),
                    c.rebuffers.to_string(),
                    fmt(c.stall_ms, "ms"),
                    c.failovers.to_string(),
                    c.startup_ms_mean
                        .map_or_else(|| "—".into(), |v| fmt(v, "ms")),
                ]
            })
            .collect(),
    });
    rec.tables.push(RunTable {
        title: "Failures injected".into(),
        columns: ["at", "node", "fault", "held", "failover per client"]
            .map(String::from)
            .to_vec(),
        rows: r
            .failures
            .iter()
            .map(|f| {
                vec![
                    fmt(f.failure.at_s, "s"),
                    format!("node-{}", f.failure.node + 1),
                    format!("{:?}", f.failure.kind),
                    fmt(f.failure.hold_s, "s"),
                    f.failover_ms
                        .iter()
                        .map(|v| v.map_or_else(|| "—".into(), |ms| fmt(ms, "ms")))
                        .collect::<Vec<_>>()
                        .join(", "),
                ]
            })
            .collect(),
    });
    rec.charts.push(RunChart {
        title: "Stall time per client".into(),
        y_name: "ms".into(),
        categories: r.clients.iter().map(|c| c.name.clone()).collect(),
        series: vec![RunSeries {
            name: "stall".into(),
            values: r.clients.iter().map(|c| c.stall_ms).collect(),
        }],
    });
    if let Some(d) = &r.durability {
        rec.notes.push(format!(
            "{} lost for good at {:.0} s: {} chunks under-replicated, restored {} ({} copies, {:.1} MB moved)",
            d.node_id,
            d.lost_at_s,
            d.under_replicated_at_loss,
            d.restored_ms.map_or_else(|| "NOT within the bound".into(), |ms| format!("in {:.1} s", ms / 1e3)),
            d.copies,
            d.bytes_moved as f64 / 1e6
        ));
    }
    rec.notes
        .extend(r.violations.iter().map(|v| format!("violation: {v}")));
    rec
}

/// What `vstack demo` (or the dashboard's demo) measured.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct DemoRun {
    /// Media seconds per phase.
    pub phase_s: u64,
    /// Time compression.
    pub speed: f64,
    /// Seed of the chaos phase.
    pub seed: u64,
    /// Each phase's figures.
    pub phases: Vec<PhaseResult>,
    /// Key findings.
    pub findings: Vec<String>,
}

/// A demo run.
pub fn demo_record(d: &DemoRun, times: (u64, u64), source: &str) -> RunRecord {
    let mut rec = record(
        Head {
            kind: RunKind::Demo,
            title: format!("demo · {} phases of {} s", d.phases.len(), d.phase_s),
            headline: d
                .findings
                .first()
                .cloned()
                .unwrap_or_else(|| "no findings".into()),
            passed: None,
            times,
            conditions: format!("seed {}, {}x", d.seed, d.speed),
        },
        source,
        serde_json::to_value(d).unwrap_or_default(),
    );
    let row = |f: &PhaseFigures| {
        format!(
            "{} rebuffers, {} stall, {} goodput, {} failovers",
            f.rebuffers,
            fmt(f.stall_ms, "ms"),
            fmt(f.goodput_mbps, "Mbit/s"),
            f.failovers
        )
    };
    rec.tables.push(RunTable {
        title: "Phases".into(),
        columns: ["phase", "smart", "naive"].map(String::from).to_vec(),
        rows: d
            .phases
            .iter()
            .map(|p| vec![p.phase.clone(), row(&p.smart), row(&p.naive)])
            .collect(),
    });
    let cats: Vec<String> = d.phases.iter().map(|p| p.phase.clone()).collect();
    for (title, unit, f) in [
        (
            "Stall time per phase",
            "ms",
            (|f: &PhaseFigures| f.stall_ms) as fn(&PhaseFigures) -> f64,
        ),
        ("Goodput per phase", "Mbit/s", |f: &PhaseFigures| {
            f.goodput_mbps
        }),
    ] {
        rec.charts.push(RunChart {
            title: title.into(),
            y_name: unit.into(),
            categories: cats.clone(),
            series: vec![
                RunSeries {
                    name: "smart".into(),
                    values: d.phases.iter().map(|p| f(&p.smart)).collect(),
                },
                RunSeries {
                    name: "naive".into(),
                    values: d.phases.iter().map(|p| f(&p.naive)).collect(),
                },
            ],
        });
    }
    rec.notes = d.findings.clone();
    rec
}

/// Where a CLI tool keeps its run (`cli::RunOutputArgs` parses it). Its
/// `Debug` does not print the token.
#[derive(Debug, Clone, Default)]
pub struct RunOutput {
    /// Also store the run in the history database of this data directory
    /// (`<dir>/history.sqlite3`). Default none.
    pub data_dir: Option<PathBuf>,
    /// Also publish the run to a running dashboard server at this base URL
    /// (`POST /api/runs`). Default none.
    pub publish: Option<String>,
    /// The admin token for `publish` (public mode). Default none.
    pub publish_token: Option<crate::http::secret::Secret>,
}

/// A failure to keep a run.
#[derive(Debug, thiserror::Error)]
pub enum KeepError {
    /// The history database refused.
    #[error(transparent)]
    History(#[from] crate::history::HistoryError),
    /// The server could not be reached.
    #[error("publishing to {url}: {source}")]
    Http {
        /// Where.
        url: String,
        /// Why.
        source: reqwest::Error,
    },
    /// The server answered with an error.
    #[error("publishing to {url}: HTTP {status}: {body}")]
    Refused {
        /// Where.
        url: String,
        /// Status.
        status: u16,
        /// Its JSON error.
        body: String,
    },
}

impl RunOutput {
    /// Keeps `run` where the options say; returns one line per place, with
    /// the permalink when published.
    ///
    /// # Errors
    /// [`KeepError`] from the database or the server.
    pub async fn keep(&self, mut run: RunRecord) -> Result<Vec<String>, KeepError> {
        let mut lines = Vec::new();
        if let Some(dir) = &self.data_dir {
            History::open(dir, HistoryConfig::default())
                .await?
                .save_run(&run)
                .await?;
            lines.push(format!(
                "run {} stored in {}",
                run.summary.id,
                dir.join(crate::history::DB_FILE).display()
            ));
        }
        if let Some(base) = &self.publish {
            run.summary.source = "published".into();
            lines.push(
                publish(
                    base,
                    self.publish_token
                        .as_ref()
                        .map(crate::http::secret::Secret::expose),
                    &run,
                )
                .await?,
            );
        }
        Ok(lines)
    }
}

async fn publish(base: &str, token: Option<&str>, run: &RunRecord) -> Result<String, KeepError> {
    let base = base.trim_end_matches('/');
    let url = format!("{base}/api/runs");
    let mut req = reqwest::Client::new().post(&url).json(run);
    if let Some(t) = token.filter(|t| !t.is_empty()) {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.map_err(|source| KeepError::Http {
        url: url.clone(),
        source,
    })?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        return Err(KeepError::Refused {
            url,
            status: status.as_u16(),
            body,
        });
    }
    Ok(format!("published: {base}/runs/{}", run.summary.id))
}
