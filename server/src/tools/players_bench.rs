//! `vstack bench`'s players step (opt-in: `--only players`): vstack's two
//! browser players beside hls.js on the same nodes, in real Chromium, as the
//! players' table measures them (`scripts/players-table.sh`, a Playwright
//! spec in the checkout's `end2end/`). The step runs that script as a child
//! process, reads the table it writes (`end2end/artifacts/players-table.json`)
//! and judges its verdicts as targets:
//!
//! - per scenario, vstack smart's mean linear QoE ≥ the best hls.js
//!   configuration's;
//! - on a node kill or partition, no vstack smart stall where an hls.js
//!   configuration stalled (when none did, the target does not apply and
//!   `skipped` says so);
//! - where node-1 turns bad (`degraded`, kill, partition), hls.js with
//!   vstack's steering off node-1 within the steering TTL + one segment, in
//!   its worst run.
//!
//! It needs what the script needs: a checkout built by `scripts/test.sh`
//! (the debug server, the site with hls.js), Node with Playwright in
//! `end2end/node_modules`, Chromium, and `../shared/traces`. About 15 minutes
//! a scenario at 3 runs of 90 s.

use std::{
    path::{Path, PathBuf},
    time::{Instant, SystemTime},
};

use serde::{Deserialize, Serialize};

use super::bench::{Comparison, TargetResult};

/// Scenarios the players' table measures (`players-table.spec.ts`).
pub const SCENARIOS: usize = 6;

/// What the players step runs; defaults in [`PlayersBenchConfig::full`] and
/// [`PlayersBenchConfig::quick`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlayersBenchConfig {
    /// The script, relative to the working directory. Default
    /// `scripts/players-table.sh` (run `vstack bench` from the checkout).
    pub script: PathBuf,
    /// Runs per player and scenario (`VSTACK_PLAYERS_RUNS`, 1–10). Default 3;
    /// `--quick` 1.
    pub runs: u32,
    /// Seconds of playback per run (`VSTACK_PLAYERS_WINDOW_S`, 30–600).
    /// Default 90: 70 s after the event at 20 s.
    pub window_s: u32,
}

impl PlayersBenchConfig {
    /// 3 runs of 90 s per player and scenario (about 90 minutes).
    pub fn full() -> Self {
        Self {
            script: PathBuf::from("scripts/players-table.sh"),
            runs: 3,
            window_s: 90,
        }
    }

    /// 1 run of 90 s per player and scenario (about 35 minutes).
    pub fn quick() -> Self {
        Self {
            runs: 1,
            ..Self::full()
        }
    }
}

/// Why the players step measured nothing.
#[derive(Debug, thiserror::Error)]
pub enum PlayersBenchError {
    /// The script is not there (not run from a checkout).
    #[error(
        "{0} not found: run `vstack bench --only players` from a vstack checkout built by scripts/test.sh"
    )]
    ScriptMissing(PathBuf),
    /// Runs or window out of range.
    #[error("players step: {0}")]
    BadConfig(String),
    /// The script could not be started.
    #[error("starting {path}: {source}")]
    Spawn {
        /// The script.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The script ended without writing a table this run.
    #[error("{script} exited with {exit} and wrote no table at {table}")]
    NoTable {
        /// The script.
        script: PathBuf,
        /// Its exit status.
        exit: String,
        /// Where the table should be.
        table: PathBuf,
    },
    /// The table is not what the spec writes.
    #[error("reading {path}: {reason}")]
    BadTable {
        /// The table.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// One scenario's verdict, as the spec writes it (`verdicts()` in
/// `players-table.spec.ts`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlayersVerdict {
    /// vstack smart's mean linear QoE over its runs.
    pub smart_qoe: f64,
    /// The hls.js configuration with the best mean linear QoE.
    pub best_hls: String,
    /// Its mean linear QoE.
    pub best_hls_qoe: f64,
    /// Stalls of vstack smart, summed over its runs.
    pub smart_stalls: u32,
    /// Whether any hls.js configuration stalled (or never started) in any run.
    pub hls_stalled: bool,
    /// Per steering run: s until off node-1 (`None`: never).
    #[serde(default)]
    pub steering_moved_s: Vec<Option<f64>>,
    /// Per static-pathways run: s until off node-1 (`None`: never).
    #[serde(default)]
    pub pathways_moved_s: Vec<Option<f64>>,
    /// Whether every steering run moved within the target; `None` where no
    /// node turns bad.
    #[serde(default)]
    pub moved_met: Option<bool>,
}

/// The players' table as the spec writes it (the fields the step reads; the
/// rest is kept in [`PlayersBenchReport::table`]).
#[derive(Clone, Debug, Deserialize)]
struct TableDoc {
    verdicts: std::collections::BTreeMap<String, PlayersVerdict>,
    #[serde(default)]
    move_target_s: Option<f64>,
    finished_unix_ms: u64,
}

/// What the players step measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlayersBenchReport {
    /// The table the spec wrote, whole (every cell of every run).
    pub table: serde_json::Value,
    /// The script's exit status (non-zero when a target was missed).
    pub exit: String,
    /// Wall time of the script, s.
    pub wall_s: f64,
}

/// Runs the players' table and reads it back.
///
/// # Errors
/// [`PlayersBenchError`]: no script, bad sizes, the script could not start
/// or wrote no table this run, or the table is unreadable.
pub async fn run(cfg: &PlayersBenchConfig) -> Result<PlayersBenchReport, PlayersBenchError> {
    if !(1..=10).contains(&cfg.runs) || !(30..=600).contains(&cfg.window_s) {
        return Err(PlayersBenchError::BadConfig(format!(
            "runs {} (1–10) and window {} s (30–600)",
            cfg.runs, cfg.window_s
        )));
    }
    if !tokio::fs::try_exists(&cfg.script).await.unwrap_or(false) {
        return Err(PlayersBenchError::ScriptMissing(cfg.script.clone()));
    }
    let table = table_path(&cfg.script);
    let started = SystemTime::now();
    let t = Instant::now();
    let status = tokio::process::Command::new("bash")
        .arg(&cfg.script)
        .env("VSTACK_PLAYERS_RUNS", cfg.runs.to_string())
        .env("VSTACK_PLAYERS_WINDOW_S", cfg.window_s.to_string())
        .stdin(std::process::Stdio::null())
        .status()
        .await
        .map_err(|source| PlayersBenchError::Spawn {
            path: cfg.script.clone(),
            source,
        })?;
    let exit = status.to_string();
    let no_table = || PlayersBenchError::NoTable {
        script: cfg.script.clone(),
        exit: exit.clone(),
        table: table.clone(),
    };
    let text = tokio::fs::read_to_string(&table)
        .await
        .map_err(|_| no_table())?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| PlayersBenchError::BadTable {
            path: table.clone(),
            reason: e.to_string(),
        })?;
    let doc = parse(&value).map_err(|reason| PlayersBenchError::BadTable {
        path: table.clone(),
        reason,
    })?;
    // A table left over from an earlier run is not this run's measurement.
    let started_ms = started
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    if doc.finished_unix_ms < started_ms {
        return Err(no_table());
    }
    Ok(PlayersBenchReport {
        table: value,
        exit,
        wall_s: t.elapsed().as_secs_f64(),
    })
}

/// `end2end/artifacts/players-table.json` beside the script's checkout.
fn table_path(script: &Path) -> PathBuf {
    let root = script
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| Path::new("."));
    root.join("end2end/artifacts/players-table.json")
}

fn parse(value: &serde_json::Value) -> Result<TableDoc, String> {
    let doc: TableDoc = serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
    if doc.verdicts.is_empty() {
        return Err("no scenario was measured".into());
    }
    Ok(doc)
}

/// The step's targets from a table (see the module docs), and what did not
/// apply (into `skipped`).
///
/// # Errors
/// The table lacks its verdicts.
pub fn targets(r: &PlayersBenchReport) -> Result<(Vec<TargetResult>, Vec<String>), String> {
    let doc = parse(&r.table)?;
    let runs = r
        .table
        .get("runs")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    let window = r
        .table
        .get("window_s")
        .and_then(serde_json::Value::as_f64)
        .unwrap_or(0.0);
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    // A table with a scenario or a run missing measured less than it asked.
    let fewest_runs = r
        .table
        .get("results")
        .and_then(serde_json::Value::as_object)
        .into_iter()
        .flat_map(|by_scenario| by_scenario.values())
        .filter_map(serde_json::Value::as_object)
        .flat_map(|by_player| by_player.values())
        .map(|runs| runs.as_array().map_or(0, Vec::len))
        .min()
        .unwrap_or(0);
    out.push(TargetResult::new(
        "players: scenarios measured",
        None,
        "scenarios",
        doc.verdicts.len() as f64,
        Comparison::AtLeast,
        SCENARIOS as f64,
        "the spec's six: default profile, degraded, low_bandwidth, kill, partition, 4G/LTE traces"
            .into(),
    ));
    out.push(TargetResult::new(
        "players: runs measured per player and scenario (fewest)",
        None,
        "runs",
        fewest_runs as f64,
        Comparison::AtLeast,
        runs as f64,
        "every cell of the table".into(),
    ));
    for (scenario, v) in &doc.verdicts {
        let conditions =
            format!("{scenario}; Chromium, test-video-001, {runs} runs of {window:.0} s");
        let mut qoe = TargetResult::new(
            "players: vstack smart linear QoE against hls.js's best",
            None,
            "linear QoE",
            v.smart_qoe,
            Comparison::AtLeast,
            v.best_hls_qoe,
            format!("best hls.js configuration: {}", v.best_hls),
        );
        qoe.conditions.clone_from(&conditions);
        out.push(qoe);
        let event = scenario.contains("killed") || scenario.contains("partitioned");
        if event && v.hls_stalled {
            let mut stall = TargetResult::new(
                "players: vstack smart stalls where hls.js stalled",
                None,
                "stalls",
                f64::from(v.smart_stalls),
                Comparison::AtMost,
                0.0,
                "summed over vstack smart's runs".into(),
            );
            stall.conditions.clone_from(&conditions);
            out.push(stall);
        } else if event {
            skipped.push(format!(
                "players, {scenario}: no hls.js configuration stalled, so the no-stall target did not apply"
            ));
        }
        if v.moved_met.is_some() {
            let target = doc.move_target_s.unwrap_or(f64::NAN);
            // A run still on node-1 at the end never moved: infinitely late.
            let worst = v
                .steering_moved_s
                .iter()
                .map(|m| m.unwrap_or(f64::INFINITY))
                .fold(f64::NEG_INFINITY, f64::max);
            let fmt = |xs: &[Option<f64>]| {
                xs.iter()
                    .map(|m| m.map_or_else(|| "never".to_string(), |s| format!("{s:.1}")))
                    .collect::<Vec<_>>()
                    .join(" / ")
            };
            let mut moved = TargetResult::new(
                "players: hls.js with vstack's steering off node-1 (worst run)",
                None,
                "s",
                worst,
                Comparison::AtMost,
                target,
                format!(
                    "steering runs {} s; static pathways {} s",
                    fmt(&v.steering_moved_s),
                    fmt(&v.pathways_moved_s)
                ),
            );
            moved.conditions.clone_from(&conditions);
            out.push(moved);
        }
    }
    Ok((out, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(table: serde_json::Value) -> PlayersBenchReport {
        PlayersBenchReport {
            table,
            exit: "exit status: 1".into(),
            wall_s: 1.0,
        }
    }

    #[test]
    fn verdicts_become_targets_that_can_fail() {
        let cell = serde_json::json!([{}, {}]);
        let table = serde_json::json!({
            "runs": 2, "window_s": 90, "move_target_s": 15, "finished_unix_ms": 1,
            "results": {"default profile": {"vstack smart": cell, "hls.js on node-1": [{}]}},
            "verdicts": {
                "default profile": {"smart_qoe": 20.0, "best_hls": "hls.js on node-2", "best_hls_qoe": 25.0,
                    "smart_stalls": 0, "hls_stalled": false},
                "node-1 killed 20 s in": {"smart_qoe": 30.0, "best_hls": "hls.js, static pathways", "best_hls_qoe": 10.0,
                    "smart_stalls": 1, "hls_stalled": true,
                    "steering_moved_s": [3.5, null], "pathways_moved_s": [12.0, 14.0], "moved_met": false},
                "node-1 partitioned 20 s in": {"smart_qoe": 30.0, "best_hls": "hls.js, static pathways", "best_hls_qoe": 10.0,
                    "smart_stalls": 0, "hls_stalled": false,
                    "steering_moved_s": [3.5, 4.0], "pathways_moved_s": [null, null], "moved_met": true}
            }
        });
        let (t, skipped) = targets(&report(table)).unwrap();
        let find = |scenario: &str, name: &str| {
            t.iter()
                .find(|r| r.conditions.starts_with(scenario) && r.name.contains(name))
                .unwrap_or_else(|| panic!("{scenario} {name}: {t:#?}"))
        };
        assert!(!find("default profile", "QoE").passed, "20 < 25");
        assert!(find("node-1 killed", "QoE").passed);
        assert!(
            !find("node-1 killed", "stalls").passed,
            "one stall where hls.js stalled"
        );
        let moved = find("node-1 killed", "off node-1");
        assert!(
            !moved.passed && moved.measured.is_infinite(),
            "a run that never moved"
        );
        assert!(find("node-1 partitioned", "off node-1").passed);
        assert!(
            t.iter()
                .all(|r| !r.conditions.starts_with("default") || !r.name.contains("off node-1"))
        );
        assert!(!find("", "scenarios measured").passed, "3 of 6 scenarios");
        let runs = find("", "runs measured");
        assert!(
            !runs.passed && runs.measured == 1.0,
            "a cell with 1 of 2 runs"
        );
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert!(skipped[0].contains("partitioned"));
    }

    #[test]
    fn a_table_without_verdicts_is_an_error() {
        let e = targets(&report(
            serde_json::json!({"finished_unix_ms": 1, "verdicts": {}}),
        ))
        .unwrap_err();
        assert!(e.contains("no scenario"), "{e}");
        assert!(targets(&report(serde_json::json!({"rows": []}))).is_err());
    }

    #[tokio::test]
    async fn a_missing_script_or_bad_sizes_is_a_clear_error() {
        let mut cfg = PlayersBenchConfig::full();
        cfg.script = PathBuf::from("/nonexistent/scripts/players-table.sh");
        let e = run(&cfg).await.unwrap_err();
        assert!(matches!(e, PlayersBenchError::ScriptMissing(_)), "{e}");
        assert!(e.to_string().contains("from a vstack checkout"), "{e}");
        cfg.runs = 0;
        assert!(matches!(
            run(&cfg).await.unwrap_err(),
            PlayersBenchError::BadConfig(_)
        ));
    }

    #[test]
    fn the_table_sits_in_the_checkouts_end2end_artifacts() {
        assert_eq!(
            table_path(Path::new("/w/main/scripts/players-table.sh")),
            PathBuf::from("/w/main/end2end/artifacts/players-table.json")
        );
    }
}
