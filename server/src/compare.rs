//! `vstack compare`: the smart and the naive client on identical conditions,
//! over N sessions per condition, with the improvement in % and its spread.
//!
//! - `--mode live` (default): per scenario, the embedded cluster and its twin
//!   (same profiles, seeds and traces) run side by side; the smart client plays
//!   on one, the naive client on the other, N sessions each, over real HTTP.
//! - `--mode sim`: per trace folder, the deterministic simulator
//!   ([`crate::sim`]) runs both clients on the same traces.
//!
//! For every metric the table shows each client's mean ± standard deviation over
//! its sessions and the improvement of the means in % (positive = smart better);
//! the spread of the improvement is the range of the per-session-pair
//! improvements (session *k* of smart against session *k* of naive, which ran
//! under the same conditions), shown as p10..p90.

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

use app::perf::improvement_pct;

use crate::{
    BadInput,
    client::{self, ClientKind, fetch_view},
    cluster::{
        embedded::{Cluster, ClusterConfig, SyntheticVideo},
        emulator::Scenario,
    },
    engine::{QoeReport, striped_manifest},
    sim::{Experiment, SimConfig, Strategy, Trace, VideoSource, load_chunks, run_experiment},
};

/// Where the comparison runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Twin embedded clusters over real HTTP.
    Live,
    /// The trace-driven simulator.
    Sim,
}

/// Options of `vstack compare`.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// Live twin clusters or the simulator.
    #[arg(long, value_enum, default_value_t = Mode::Live)]
    pub mode: Mode,
    /// Live mode: scenarios, comma-separated (normal, high_latency,
    /// low_bandwidth, packet_loss, node_failure, degraded, recovery).
    #[arg(long, value_delimiter = ',', default_value = "normal,degraded")]
    pub scenarios: Vec<String>,
    /// Trace files or folders: in sim mode one condition per path; in live mode
    /// replayed on the nodes' links (all paths together).
    #[arg(long)]
    pub trace: Vec<PathBuf>,
    /// Sessions per client and condition.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub sessions: u64,
    /// Live mode: time compression factor.
    #[arg(long, default_value_t = 10.0, value_parser = crate::config::parse_speed)]
    pub speed: f64,
    /// Length of the synthetic video, seconds.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(10..=86_400))]
    pub video_duration_s: u64,
    /// Average bitrate of the synthetic video, kbit/s.
    #[arg(long, default_value_t = 5000.0)]
    pub bitrate_kbps: f64,
    /// Seed (emulators' jitter and loss, simulator offsets).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Where to save the result (JSON) for the dashboard's Smart vs Naive tab
    /// (`vstack serve --compare-results`); `-` saves nothing.
    #[arg(long, default_value = "compare_results.json")]
    pub output: PathBuf,
}

/// Reads a saved comparison (`--output` of `vstack compare`).
///
/// # Errors
/// A message when the file exists but cannot be read or is not a comparison.
/// A missing file is `Ok(None)`.
pub fn read_results(path: &std::path::Path) -> Result<Option<CompareReport>, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("{} is not a vstack compare result: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

fn unix_now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub use app::wire::{CompareReport, ConditionResult, MetricRow};

fn mean_sd(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64;
    (m, var.sqrt())
}

/// The `p` quantile (0–1, nearest rank) of an ascending slice; NaN when empty.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// Aggregates paired sessions of one condition.
pub fn aggregate(condition: &str, smart: &[QoeReport], naive: &[QoeReport]) -> ConditionResult {
    type Get = fn(&QoeReport) -> f64;
    let metrics: [(&str, &str, bool, Get); 6] = [
        ("startup latency", "ms", true, |q| {
            q.startup_latency_ms.unwrap_or(q.session_ms)
        }),
        ("rebuffering events", "", true, |q| {
            f64::from(q.rebuffer_count)
        }),
        ("stall time", "ms", true, |q| q.rebuffer_time_ms),
        ("average buffer", "s", false, |q| q.avg_buffer_s),
        ("throughput", "Mbit/s", false, |q| q.avg_throughput_mbps),
        ("failovers", "", true, |q| q.failovers as f64),
    ];
    let rows = metrics
        .iter()
        .map(|(name, unit, lower, get)| {
            let s: Vec<f64> = smart.iter().map(get).collect();
            let n: Vec<f64> = naive.iter().map(get).collect();
            let ((sm, ssd), (nm, nsd)) = (mean_sd(&s), mean_sd(&n));
            let mut pairs: Vec<f64> = s
                .iter()
                .zip(&n)
                .filter_map(|(a, b)| improvement_pct(*a, *b, *lower))
                .collect();
            pairs.sort_by(f64::total_cmp);
            MetricRow {
                metric: name.to_string(),
                unit: unit.to_string(),
                smart_mean: sm,
                smart_sd: ssd,
                naive_mean: nm,
                naive_sd: nsd,
                improvement_pct: improvement_pct(sm, nm, *lower),
                improvement_p10_p90: (!pairs.is_empty())
                    .then(|| (percentile(&pairs, 0.1), percentile(&pairs, 0.9))),
            }
        })
        .collect();
    let load = |v: &[QoeReport]| {
        let n = v.first().map(|q| q.per_node.len()).unwrap_or(0);
        (0..n)
            .map(|i| v.iter().map(|q| q.per_node[i].chunks).sum())
            .collect::<Vec<u64>>()
    };
    ConditionResult {
        condition: condition.to_string(),
        sessions: smart.len().min(naive.len()),
        metrics: rows,
        load_per_node: (load(smart), load(naive)),
    }
}

async fn run_client(cluster: &Cluster, kind: ClientKind, speed: f64) -> anyhow::Result<QoeReport> {
    let http = reqwest::Client::new();
    let view = fetch_view(&http, &cluster.metadata_url(), "test-video-001").await?;
    Ok(client::play_session(http, view, kind, speed).await?)
}

/// Live mode: one condition per scenario, twin clusters side by side.
///
/// # Errors
/// When a cluster cannot start or a session fails.
pub async fn compare_live(args: &CompareArgs) -> anyhow::Result<CompareReport> {
    let traces = Trace::load_paths(&args.trace).map_err(|e| BadInput(e.to_string()))?;
    let mut conditions = Vec::new();
    for name in &args.scenarios {
        let scenario = Scenario::from_name(name.trim())
            .ok_or_else(|| BadInput(format!("unknown scenario {name:?}")))?;
        let a = Cluster::start(ClusterConfig {
            speed: args.speed,
            seed: args.seed,
            traces: traces.clone(),
            video: Some(SyntheticVideo {
                duration: Duration::from_secs(args.video_duration_s),
                bitrate_kbps: args.bitrate_kbps,
                ..SyntheticVideo::default()
            }),
            ..ClusterConfig::default()
        })
        .await
        .context("embedded cluster")?;
        let b = a.start_twin().await.context("twin cluster")?;
        a.apply_scenario(scenario);
        b.apply_scenario(scenario);
        let (mut smart, mut naive) = (Vec::new(), Vec::new());
        for k in 0..args.sessions {
            if !args.json {
                eprintln!(
                    "{}: session {}/{} (smart and naive side by side)…",
                    scenario.name(),
                    k + 1,
                    args.sessions
                );
            }
            let (s, n) = tokio::join!(
                run_client(&a, ClientKind::Smart, args.speed),
                run_client(&b, ClientKind::Naive, args.speed)
            );
            smart.push(s?);
            naive.push(n?);
        }
        conditions.push(aggregate(scenario.name(), &smart, &naive));
    }
    Ok(CompareReport {
        mode: "live".into(),
        finished_unix_s: Some(unix_now_s()),
        video: (args.video_duration_s, args.bitrate_kbps),
        speed: args.speed,
        conditions,
    })
}

/// Sim mode: one condition per trace path.
///
/// # Errors
/// [`BadInput`] without traces or with a bad trace file.
pub fn compare_sim(args: &CompareArgs) -> anyhow::Result<CompareReport> {
    if args.trace.is_empty() {
        return Err(BadInput("--mode sim needs at least one --trace file or folder".into()).into());
    }
    let chunks = load_chunks(
        &VideoSource::Synthetic {
            bitrate_kbps: args.bitrate_kbps,
            duration: Duration::from_secs(args.video_duration_s),
            vbr: 0.2,
            seed: args.seed,
        },
        Duration::from_secs(10),
    )
    .map_err(|e| BadInput(e.to_string()))?;
    let manifest = striped_manifest("test-video-001", &chunks, 3, 2);
    let mut conditions = Vec::new();
    for path in &args.trace {
        let traces: Vec<Arc<Trace>> = Trace::load_path(path)
            .map_err(|e| BadInput(e.to_string()))?
            .into_iter()
            .map(Arc::new)
            .collect();
        let results = run_experiment(&Experiment {
            base: SimConfig::new(Vec::new()),
            traces,
            manifest: manifest.clone(),
            strategies: vec![Strategy::Smart, Strategy::Naive],
            sessions: args.sessions as usize,
            seed: args.seed,
            random_offsets: true,
        });
        let pick = |s: Strategy| -> Vec<QoeReport> {
            results
                .iter()
                .filter(|r| r.strategy == s)
                .map(|r| r.qoe.clone())
                .collect()
        };
        conditions.push(aggregate(
            &path.display().to_string(),
            &pick(Strategy::Smart),
            &pick(Strategy::Naive),
        ));
    }
    Ok(CompareReport {
        mode: "sim".into(),
        finished_unix_s: Some(unix_now_s()),
        video: (args.video_duration_s, args.bitrate_kbps),
        speed: 1.0,
        conditions,
    })
}

/// Renders the report as tables.
pub fn format_report(r: &CompareReport) -> String {
    use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
    let mut out = format!(
        "smart vs naive · {} · video {} s at {:.0} kbit/s{}\n",
        if r.mode == "live" {
            "live twin clusters"
        } else {
            "simulator"
        },
        r.video.0,
        r.video.1,
        if r.mode == "live" {
            format!(" · speed ×{}", r.speed)
        } else {
            String::new()
        }
    );
    for c in &r.conditions {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
            "metric",
            "smart mean ± sd",
            "naive mean ± sd",
            "smart better by",
            "pairs p10..p90",
        ]);
        for m in &c.metrics {
            t.add_row(vec![
                format!(
                    "{} {}",
                    m.metric,
                    if m.unit.is_empty() { "" } else { &m.unit }
                ),
                format!("{:.1} ± {:.1}", m.smart_mean, m.smart_sd),
                format!("{:.1} ± {:.1}", m.naive_mean, m.naive_sd),
                m.improvement_pct
                    .map(|x| format!("{x:+.1} %"))
                    .unwrap_or_else(|| "—".into()),
                m.improvement_p10_p90
                    .map(|(a, b)| format!("{a:+.0} .. {b:+.0} %"))
                    .unwrap_or_else(|| "—".into()),
            ]);
        }
        out.push_str(&format!(
            "\n{} ({} sessions per client; chunks per node smart {:?}, naive {:?})\n{t}\n",
            c.condition, c.sessions, c.load_per_node.0, c.load_per_node.1
        ));
    }
    out
}

/// Runs `vstack compare`.
///
/// # Errors
/// [`BadInput`] for bad flags; others when a run fails.
pub async fn run(args: CompareArgs) -> anyhow::Result<()> {
    if !(args.bitrate_kbps.is_finite() && args.bitrate_kbps > 0.0) {
        return Err(BadInput("--bitrate-kbps must be positive".into()).into());
    }
    let save = args.output != std::path::Path::new("-");
    if save
        && let Some(dir) = args.output.parent()
        && !dir.as_os_str().is_empty()
        && !dir.is_dir()
    {
        return Err(BadInput(format!(
            "--output: directory {} does not exist",
            dir.display()
        ))
        .into());
    }
    let report = match args.mode {
        Mode::Live => compare_live(&args).await?,
        Mode::Sim => compare_sim(&args)?,
    };
    if save {
        std::fs::write(&args.output, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", args.output.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", format_report(&report));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_standard_deviation() {
        assert_eq!(mean_sd(&[1.0, 3.0]), (2.0, 1.0));
    }
}
