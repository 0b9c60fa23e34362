use std::{sync::Arc, time::Duration};
use vstack_core::{engine::striped_manifest, sim::*};
fn main() {
    let dir = std::env::args().nth(1).unwrap_or("fcc".into());
    let kbps: f64 = std::env::args()
        .nth(2)
        .map(|s| s.parse().unwrap())
        .unwrap_or(2000.0);
    let d = format!("/work/shared/traces/{dir}");
    let mut files: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let traces: Vec<Arc<Trace>> = files
        .iter()
        .map(|f| {
            Arc::new(
                Trace::parse(&f.to_string_lossy(), &std::fs::read_to_string(f).unwrap()).unwrap(),
            )
        })
        .collect();
    let chunks = load_chunks(
        &VideoSource::Synthetic {
            bitrate_kbps: kbps,
            duration: Duration::from_secs(600),
            vbr: 0.2,
            seed: 1,
        },
        Duration::from_secs(10),
    )
    .unwrap();
    let exp = Experiment {
        base: SimConfig::new(Vec::new()),
        traces,
        manifest: striped_manifest("t", &chunks, 3, 2),
        strategies: vec![Strategy::Smart, Strategy::Bound, Strategy::Oracle],
        sessions: 20,
        seed: 1,
        random_offsets: true,
    };
    let r = run_experiment(&exp);
    for k in 0..20 {
        let row: Vec<String> = r
            .iter()
            .filter(|x| x.session == k)
            .map(|x| {
                format!(
                    "{}: {:>5.1}s st {:>4} rb {:>5.1}s",
                    x.strategy.name(),
                    x.qoe.startup_latency_ms.unwrap_or(f64::NAN) / 1e3,
                    x.qoe.rebuffer_count,
                    x.qoe.rebuffer_time_ms / 1e3
                )
            })
            .collect();
        println!("{k:>2} {}", row.join(" | "));
    }
}
