use std::{sync::Arc, time::Duration};
use vstack_core::{engine::*, sim::*};
fn main() {
    for bw in [[2.0, 40.0, 4.0], [40.0, 4.0, 2.0]] {
        let links: Vec<NodeLink> = bw
            .iter()
            .map(|b| NodeLink::new(Arc::new(Trace::constant(*b, 20.0))))
            .collect();
        let cfg = SimConfig::new(links);
        let m = striped_manifest("t", &vec![(Duration::from_secs(10), 5_000_000); 30], 3, 2);
        for st in [Strategy::Smart, Strategy::Naive, Strategy::Bound] {
            let q = st.run(&cfg, &m).qoe;
            println!(
                "{bw:?} {}: startup {:?} rebuf {} stall {:.1} tput {:.1}",
                st.name(),
                q.startup_latency_ms,
                q.rebuffer_count,
                q.rebuffer_time_ms / 1e3,
                q.avg_throughput_mbps
            );
        }
    }
}
