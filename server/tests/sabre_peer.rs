//! `vstack sim --model sabre` beside `sabre.py` itself (`shared/peers/sabre`)
//! on a few traces of each shared set, for every rule Sabre has: the same
//! figures under the same names, within 1 % played bitrate and 2 % (or
//! 0.1 s) rebuffer time. The whole table (40 traces × 4 rules) is `vstack
//! bench --only sabre` (`scripts/sabre-table.sh`).

mod common;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use vstack::tools::sabre_bench::SabreFigures;

const BIN: &str = env!("CARGO_BIN_EXE_vstack");

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}

fn vstack(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("vstack runs")
}

/// `sabre.py`'s figures, read as the bench step reads them.
fn sabre(trace: &Path, video: &Path, rule: &str) -> SabreFigures {
    let script = shared().join("peers/sabre/sabre.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg("-n")
        .arg(trace)
        .arg("-m")
        .arg(video)
        .args(["-a", rule])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    SabreFigures::parse_sabre_output(&String::from_utf8_lossy(&out.stdout)).unwrap()
}

#[test]
fn vstack_and_sabre_agree_on_fcc_and_3g_traces_for_every_rule() {
    let root = shared();
    let video = root.join("videos/bbb.json");
    if !common::shared_input(&root.join("peers/sabre/sabre.py")) || !common::tool("python3") {
        return;
    }
    let traces: Vec<PathBuf> = [
        "fcc/trace0000.json",
        "fcc/trace0007.json",
        "hsdpa-3g/report.2010-09-13_1003CEST.json",
        "hsdpa-3g/report.2010-09-21_1622CEST.json",
    ]
    .iter()
    .map(|t| root.join("traces").join(t))
    .collect();
    let mut rebuffering_cells = 0;
    for trace in &traces {
        for rule in ["bola", "bolae", "throughput", "dynamic"] {
            let out = vstack(&[
                "sim",
                "--model",
                "sabre",
                "--abr",
                rule,
                "--trace",
                trace.to_str().unwrap(),
                "--video",
                video.to_str().unwrap(),
                "--json",
            ]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let ours: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let theirs = sabre(trace, &video, rule);
            let cell = format!("{} {rule}", trace.display());
            let (b, sb) = (
                ours["time_average_played_bitrate"].as_f64().unwrap(),
                theirs.time_average_played_bitrate,
            );
            assert!((b - sb).abs() <= 0.01 * sb, "{cell}: bitrate {b} vs {sb}");
            let (r, sr) = (
                ours["total_rebuffer"].as_f64().unwrap(),
                theirs.total_rebuffer,
            );
            assert!(
                (r - sr).abs() <= 0.1_f64.max(0.02 * sr),
                "{cell}: rebuffer {r} vs {sr}"
            );
            assert_eq!(
                ours["total_rebuffer_events"].as_f64().unwrap(),
                theirs.total_rebuffer_events,
                "{cell}"
            );
            let (s, ss) = (
                ours["time_average_score"].as_f64().unwrap(),
                theirs.time_average_score,
            );
            assert!(
                (s - ss).abs() <= 0.01 * ss.abs().max(0.1),
                "{cell}: score {s} vs {ss}"
            );
            rebuffering_cells += usize::from(sr > 0.0);
        }
    }
    // The comparison covers stalls, not only smooth sessions.
    assert!(rebuffering_cells >= 4, "{rebuffering_cells} cells stalled");
}

#[test]
fn the_sabre_model_refuses_bad_input_with_exit_code_2() {
    let root = shared();
    let trace = root.join("traces/fcc/trace0000.json");
    let video = root.join("videos/bbb.json");
    if !common::shared_input(&video) {
        return;
    }
    let (t, v) = (trace.to_str().unwrap(), video.to_str().unwrap());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "sim", "--model", "sabre", "--abr", "bba", "--trace", t, "--video", v,
            ],
            "bba",
        ),
        (
            vec![
                "sim",
                "--model",
                "sabre",
                "--trace",
                t,
                "--video",
                "synthetic",
            ],
            "ladder",
        ),
        (
            vec![
                "sim", "--model", "sabre", "--abr", "fixed", "--level", "10", "--trace", t,
                "--video", v,
            ],
            "--level 10",
        ),
        (vec!["sim", "--abr", "bola", "--trace", t], "ladder"),
    ];
    for (args, says) in cases {
        let out = vstack(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
