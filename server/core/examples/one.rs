use std::{sync::Arc, time::Duration};
use vstack_core::{engine::*, sim::*};
fn main() {
    let dir = std::env::args().nth(1).unwrap_or("fcc-2col".into());
    let kbps: f64 = std::env::args()
        .nth(2)
        .map(|s| s.parse().unwrap())
        .unwrap_or(1000.0);
    let d = format!("/work/shared/traces/{dir}");
    let mut files: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let traces: Vec<Arc<Trace>> = files
        .iter()
        .take(3)
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
    let m = striped_manifest("t", &chunks, 3, 2);
    let links: Vec<NodeLink> = traces.into_iter().map(NodeLink::new).collect();
    let cfg = SimConfig::new(links.clone());
    for st in [Strategy::Smart, Strategy::Naive] {
        let out = st.run(&cfg, &m);
        let q = out.qoe;
        println!(
            "{}: startup {:?} rebuf {} stall {:.1} s failovers {} downloads {} per_node {:?}",
            st.name(),
            q.startup_latency_ms,
            q.rebuffer_count,
            q.rebuffer_time_ms / 1e3,
            q.failovers,
            q.downloads,
            q.per_node
                .iter()
                .map(|n| (n.chunks, n.failures))
                .collect::<Vec<_>>()
        );
    }
}
