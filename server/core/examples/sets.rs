// Scratch measurement (not committed): the four shared trace sets, 20 sessions.
use std::{sync::Arc, time::Duration};
use vstack_core::{engine::striped_manifest, sim::*};
fn main() {
    let strategies: Vec<Strategy> = std::env::args()
        .nth(1)
        .map(|s| {
            s.split(',')
                .map(|x| match x {
                    "smart" => Strategy::Smart,
                    "naive" => Strategy::Naive,
                    "bound" => Strategy::Bound,
                    _ => Strategy::Oracle,
                })
                .collect()
        })
        .unwrap_or(vec![
            Strategy::Smart,
            Strategy::Naive,
            Strategy::Oracle,
            Strategy::Bound,
        ]);
    for (dir, kbps) in [
        ("fcc", 2000.0),
        ("hsdpa-3g", 600.0),
        ("lte-4g", 8000.0),
        ("fcc-2col", 1000.0),
    ] {
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
                    Trace::parse(&f.to_string_lossy(), &std::fs::read_to_string(f).unwrap())
                        .unwrap(),
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
            strategies: strategies.clone(),
            sessions: 20,
            seed: 1,
            random_offsets: true,
        };
        let t = std::time::Instant::now();
        let s = Summary::of(&run_experiment(&exp));
        let el = t.elapsed();
        let f = |g: &dyn Fn(&StrategySummary) -> f64| {
            s.strategies
                .iter()
                .map(|x| format!("{:.1}", g(x)))
                .collect::<Vec<_>>()
                .join(" / ")
        };
        println!(
            "{dir:>9}: startup {} s | stall {} s | rebuf {} | never {} [{}] {:.0} ms",
            f(&|x| x.startup_latency_ms.mean / 1e3),
            f(&|x| x.rebuffer_time_ms.mean / 1e3),
            f(&|x| x.rebuffer_count.mean),
            s.strategies
                .iter()
                .map(|x| x.never_started.to_string())
                .collect::<Vec<_>>()
                .join("/"),
            s.strategies
                .iter()
                .map(|x| x.strategy.name())
                .collect::<Vec<_>>()
                .join(","),
            el.as_secs_f64() * 1e3
        );
    }
}
