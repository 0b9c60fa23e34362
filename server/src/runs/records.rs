//! Each tool's report turned into a [`RunRecord`]: summary, machine,
//! version, per-metric tables with their spread, charts and notes, with the
//! report itself kept beside them.

use vstack_core::wire::{
    CompareReport, RunChart, RunKind, RunRecord, RunSeries, RunSummary, RunTable,
};
use vstack_core::{
    demo::{PhaseFigures, PhaseResult},
    engine::ClientKind,
};

use super::{machine_rows, new_id, version_of};
use crate::history::unix_ms_now;
use crate::tools::{
    bench::{BenchReport, Machine},
    chaos::ChaosReport,
};

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
        let single = c.smart_at_or_above_single.is_some();
        rec.tables.push(RunTable {
            title: format!(
                "{} ({} per client{})",
                c.condition,
                vstack_core::wire::counted(c.sessions, "session", "sessions"),
                c.smart_at_or_above_single.map_or_else(String::new, |k| format!(
                    "; smart at or above the best single node in {k}, best node per session {:?}",
                    c.single_best_node
                ))
            ),
            columns: ["metric", "smart mean ± sd", "naive mean ± sd"]
                .into_iter()
                .chain(single.then_some("best single node mean ± sd"))
                .chain(["improvement", "p10–p90 of pairs"])
                .map(String::from)
                .collect(),
            rows: c
                .metrics
                .iter()
                .map(|m| {
                    [
                        m.metric.clone(),
                        mean_sd(m.smart_mean, m.smart_sd, &m.unit),
                        mean_sd(m.naive_mean, m.naive_sd, &m.unit),
                    ]
                    .into_iter()
                    .chain(single.then(|| {
                        mean_sd(
                            m.single_mean.unwrap_or(f64::NAN),
                            m.single_sd.unwrap_or(f64::NAN),
                            &m.unit,
                        )
                    }))
                    .chain([m.improvement.clone(), m.pairs_label()])
                    .collect()
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

#[cfg(test)]
mod tests {
    use vstack_core::{
        compare::{CompareMode, CompareReport, aggregate, aggregate_with_single},
        engine::{PlaybackQoe, QoeReport},
    };

    fn q(startup_ms: f64) -> QoeReport {
        QoeReport {
            playback: PlaybackQoe {
                startup_latency_ms: Some(startup_ms),
                ..PlaybackQoe::default()
            },
            ..QoeReport::default()
        }
    }

    fn report(single: bool) -> CompareReport {
        let c = if single {
            aggregate_with_single(
                "normal",
                &[q(100.0)],
                &[q(200.0)],
                &[vec![q(300.0), q(150.0)]],
            )
        } else {
            aggregate("normal", &[q(100.0)], &[q(200.0)])
        };
        CompareReport {
            mode: CompareMode::Live,
            video: (30, 5000.0),
            ladder_kbps: Vec::new(),
            speed: 10.0,
            finished_unix_s: Some(1),
            conditions: vec![c],
        }
    }

    #[test]
    fn the_run_page_shows_the_single_node_column_only_when_it_was_played() {
        let with = super::compare_record(&report(true), 0, "test");
        let t = &with.tables[0];
        assert_eq!(t.columns[3], "best single node mean ± sd");
        assert!(t.rows.iter().all(|r| r.len() == t.columns.len()));
        assert!(t.rows[0][3].starts_with("150"), "{:?}", t.rows[0]);
        assert!(t.title.contains("best single node in 1"), "{}", t.title);
        let without = super::compare_record(&report(false), 0, "test");
        assert_eq!(without.tables[0].columns.len(), 5);
        assert!(!without.tables[0].title.contains("single"));
    }
}
