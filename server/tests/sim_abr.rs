//! `vstack sim` with a ladder: the exact form of issue 25's command (with
//! the offline optimum), the quality figures in the JSON summary, and the
//! refusals.

mod common;

use std::{path::Path, process::Command};

const BIN: &str = env!("CARGO_BIN_EXE_vstack");

#[test]
fn a_ladder_video_is_played_adaptively_and_scored() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared");
    let traces = shared.join("traces/fcc");
    let video = shared.join("videos/bbb.json");
    if !common::shared_input(&traces) || !common::shared_input(&video) {
        return;
    }
    let out = Command::new(BIN)
        .args(["sim", "--trace", traces.to_str().unwrap()])
        .args(["--video", video.to_str().unwrap()])
        .args([
            "--abr",
            "multi-source",
            "--strategies",
            "smart,naive,single,oracle,optimum,bound",
        ])
        .args(["--sessions", "4", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let strategies = r["summary"]["strategies"].as_array().unwrap();
    assert_eq!(strategies.len(), 6);
    for s in strategies {
        let name = s["strategy"].as_str().unwrap();
        for f in ["startup_latency_ms", "rebuffer_time_ms"] {
            assert!(s[f]["p95"].is_number(), "{name} {f}: {s}");
        }
        if name == "bound" {
            // Not a player: no quality figures.
            assert!(s.get("linear_qoe").is_none(), "{s}");
            continue;
        }
        for f in ["linear_qoe", "played_bitrate_kbps", "switches"] {
            for k in ["mean", "p50", "p95"] {
                assert!(s[f][k].is_number(), "{name} {f}.{k}: {s}");
            }
        }
        // The ladder is 230–6,000 kbit/s.
        let b = s["played_bitrate_kbps"]["mean"].as_f64().unwrap();
        assert!((230.0..=6_000.0).contains(&b), "{name}: {b}");
    }
    // The optimum's linear QoE is an upper bound, session by session.
    let sessions = r["sessions"].as_array().unwrap();
    let qoe = |run: &serde_json::Value| run["qoe"]["quality"]["linear_qoe"].as_f64();
    for run in sessions.iter().filter(|r| r["qoe"]["ended"] == true) {
        let Some(q) = qoe(run) else { continue };
        let best = sessions
            .iter()
            .find(|o| o["strategy"] == "optimum" && o["session"] == run["session"])
            .and_then(qoe)
            .expect("an optimum per session");
        assert!(
            q <= best + 0.005,
            "{} scored {q} > optimum {best}",
            run["strategy"]
        );
    }
    let gaps = r["summary"]["vs_optimum"].as_array().unwrap();
    assert_eq!(gaps.len(), 4, "{gaps:?}");
    for g in gaps {
        // Measured over the 4 sessions, never below the bound.
        assert_eq!(g["gap_sessions"], 4, "{g}");
        assert!(g["qoe_gap_mean"].as_f64().unwrap() >= -0.005, "{g}");
    }
    // Every session records the level of every chunk it played.
    for run in sessions {
        if run["strategy"] != "bound" {
            let q = &run["qoe"]["quality"];
            assert_eq!(
                q["levels"].as_array().unwrap().len() as u64,
                run["qoe"]["chunks_played"].as_u64().unwrap(),
                "{q}"
            );
        }
    }
}

#[test]
fn a_folder_of_size_files_is_a_ladder() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared");
    let traces = shared.join("traces/fcc");
    let video = shared.join("videos/envivio");
    if !common::shared_input(&traces) || !common::shared_input(&video) {
        return;
    }
    let run = |extra: &[&str]| {
        Command::new(BIN)
            .args(["sim", "--trace", traces.to_str().unwrap()])
            .args(["--video", video.to_str().unwrap()])
            .args([
                "--strategies",
                "smart,naive,optimum",
                "--sessions",
                "3",
                "--json",
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    // Envivio's nominal ladder (Pensieve's VIDEO_BIT_RATE).
    let out = run(&["--ladder-kbps", "300,750,1200,1850,2850,4300"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for s in r["summary"]["strategies"].as_array().unwrap() {
        let b = s["played_bitrate_kbps"]["mean"].as_f64().unwrap();
        assert!((300.0..=4_300.0).contains(&b), "{s}");
    }
    // 49 segments of 4 s in 12 s chunks.
    assert_eq!(r["chunks"], 17);
    // Without names the levels' mean sizes give the bitrates.
    assert!(run(&[]).status.success());
    for (args, says) in [
        (vec!["--ladder-kbps", "300,200"], "increasing"),
        (vec!["--segment-s=-4"], "--segment-s"),
    ] {
        let out = run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn adaptive_rules_need_a_ladder_and_a_known_name() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared");
    let traces = shared.join("traces/fcc");
    if !common::shared_input(&traces) {
        return;
    }
    for (args, says) in [
        (vec!["--abr", "bolae"], "ladder"),
        (vec!["--baseline-abr", "throughput"], "ladder"),
        (vec!["--abr", "pensieve"], "pensieve"),
        (vec!["--strategies", "smart,optimum"], "ladder"),
        (
            vec!["--startup-probe-wait-s", "11"],
            "--startup-probe-wait-s",
        ),
        (
            vec!["--startup-probe-wait-s", "NaN"],
            "--startup-probe-wait-s",
        ),
    ] {
        let out = Command::new(BIN)
            .args(["sim", "--trace", traces.to_str().unwrap()])
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
