use std::{sync::Arc, time::Duration};
use vstack_core::{engine::striped_manifest, sim::*};
fn main() {
    let chunks = load_chunks(
        &VideoSource::Synthetic {
            bitrate_kbps: 5000.0,
            duration: Duration::from_secs(600),
            vbr: 0.2,
            seed: 1,
        },
        Duration::from_secs(10),
    )
    .unwrap();
    let manifest = striped_manifest("bench", &chunks, 3, 2);
    let d = "/work/shared/traces/lte-4g";
    let constant = std::env::args().nth(1).is_some();
    let mut files: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let links: Vec<NodeLink> = files
        .iter()
        .take(3)
        .map(|f| {
            NodeLink::new(Arc::new(
                Trace::parse(&f.to_string_lossy(), &std::fs::read_to_string(f).unwrap()).unwrap(),
            ))
        })
        .collect();
    let links = if constant {
        [40.0, 15.0, 6.0]
            .iter()
            .map(|m| NodeLink::new(Arc::new(Trace::constant(*m, 20.0))))
            .collect()
    } else {
        links
    };
    let cfg = SimConfig::new(links);
    let mut steps = 0;
    for _ in 0..200 {
        steps += Strategy::Smart.run(&cfg, &manifest).steps;
    }
    println!("{steps}");
}
