//! The replication view: a metadata service's registry and catalog as
//! adaptive redundancy sees them (node status from heartbeat age and the
//! grace period, popularity summed over the nodes' reports, each chunk's
//! replicas), and the [`ReplicationReport`] built from it and a plan. The
//! metadata service uses it for `GET /replication` when no manager runs; the
//! replication manager ([`super::replication`]) for every tick.

use std::{collections::HashMap, time::Duration};

use vstack_core::redundancy::{
    ChunkReplication, ChunkView, MAX_REPORTED_CHUNKS, NodeReplication, NodeStatus, NodeView,
    RedundancyConfig, RepairAction, ReplicationReport, ReplicationTotals, plan,
};

use super::wire::{NodeHeartbeat, VideoManifest};

/// A registered node with its last heartbeat, for the replication manager.
#[derive(Clone, Debug)]
pub struct NodeUsage {
    /// Node id.
    pub node_id: String,
    /// Base URL.
    pub url: String,
    /// Time since its last heartbeat (or registration).
    pub since_heartbeat: Duration,
    /// Its last heartbeat.
    pub usage: NodeHeartbeat,
}

/// The policy's view of a node from its heartbeat age.
pub(crate) fn status_of(
    since_heartbeat: Duration,
    timeout: Duration,
    cfg: &RedundancyConfig,
) -> NodeStatus {
    if since_heartbeat < timeout {
        NodeStatus::Live
    } else if since_heartbeat >= Duration::from_millis(cfg.grace_ms) {
        NodeStatus::Lost
    } else {
        NodeStatus::Suspect
    }
}

/// Popularity per chunk id, summed over the nodes' reports.
fn popularity(nodes: &[NodeUsage]) -> HashMap<String, u64> {
    let mut p: HashMap<String, u64> = HashMap::new();
    for n in nodes {
        for g in &n.usage.popularity {
            let e = p.entry(g.chunk_id.clone()).or_default();
            *e = e.saturating_add(g.gets);
        }
    }
    p
}

/// What one tick sees: nodes, their status, the catalog flattened.
pub(crate) struct World {
    /// Registered nodes with their last heartbeats.
    pub(crate) nodes: Vec<NodeUsage>,
    /// The policy's view of them.
    pub(crate) views: Vec<NodeView>,
    /// Every video's manifest.
    pub(crate) manifests: Vec<VideoManifest>,
    /// (manifest index, chunk index) per chunk view.
    pub(crate) keys: Vec<(usize, usize)>,
    /// The policy's view of every chunk.
    pub(crate) chunks: Vec<ChunkView>,
}

pub(crate) fn world(
    nodes: Vec<NodeUsage>,
    manifests: Vec<VideoManifest>,
    timeout: Duration,
    cfg: &RedundancyConfig,
    listings: &HashMap<String, HashMap<String, String>>,
) -> World {
    let views: Vec<NodeView> = nodes
        .iter()
        .map(|n| NodeView {
            node_id: n.node_id.clone(),
            status: status_of(n.since_heartbeat, timeout, cfg),
            free_bytes: n.usage.free_bytes.unwrap_or(u64::MAX / 2),
            load_gets: n.usage.gets_in_window,
        })
        .collect();
    let pop = popularity(&nodes);
    let mut keys = Vec::new();
    let mut chunks = Vec::new();
    for (mi, m) in manifests.iter().enumerate() {
        // Startup needs an fMP4 initialization segment and the first media
        // chunk alike: both count as position 0.
        let init = usize::from(m.init_segment().is_some());
        for (ci, c) in m.chunks.iter().enumerate() {
            keys.push((mi, ci));
            let extra = listings
                .iter()
                .filter(|(node, held)| {
                    !c.replicas.contains(node) && held.get(&c.chunk_id) == Some(&c.sha256)
                })
                .map(|(node, _)| node.clone())
                .collect();
            chunks.push(ChunkView {
                index: ci.saturating_sub(init),
                size_bytes: c.size_bytes,
                replicas: c.replicas.clone(),
                extra,
                popularity: pop.get(&c.chunk_id).copied().unwrap_or(0),
            });
        }
    }
    World {
        nodes,
        views,
        manifests,
        keys,
        chunks,
    }
}

/// The report of a catalog under `cfg`, with nothing in flight (what
/// `GET /replication` answers while no manager runs).
pub fn report_of(
    nodes: Vec<NodeUsage>,
    manifests: Vec<VideoManifest>,
    timeout: Duration,
    cfg: &RedundancyConfig,
) -> ReplicationReport {
    let w = world(nodes, manifests, timeout, cfg, &HashMap::new());
    let p = plan(&w.chunks, &w.views, &[], 0, cfg);
    build_report(&w, &p, cfg, &HashMap::new())
}

pub(crate) fn build_report(
    w: &World,
    p: &vstack_core::redundancy::Plan,
    cfg: &RedundancyConfig,
    in_flight: &HashMap<(String, u32), RepairAction>,
) -> ReplicationReport {
    let status: HashMap<&str, NodeStatus> = w
        .views
        .iter()
        .map(|n| (n.node_id.as_str(), n.status))
        .collect();
    let mut per_node: HashMap<&str, u64> = HashMap::new();
    let mut chunks = Vec::new();
    for (k, (&(mi, ci), view)) in w.keys.iter().zip(&w.chunks).enumerate() {
        let m = &w.manifests[mi];
        let c = &m.chunks[ci];
        for r in &c.replicas {
            *per_node.entry(r.as_str()).or_default() += 1;
        }
        if chunks.len() >= MAX_REPORTED_CHUNKS {
            continue;
        }
        let of = |s: NodeStatus| -> Vec<String> {
            c.replicas
                .iter()
                .filter(|r| status.get(r.as_str()) == Some(&s))
                .cloned()
                .collect()
        };
        let repairing = match in_flight.get(&(m.video_id.clone(), c.index)) {
            Some(RepairAction::Copy { to, .. }) => vec![to.clone()],
            Some(RepairAction::Adopt { node, .. }) => vec![node.clone()],
            _ => Vec::new(),
        };
        chunks.push(ChunkReplication {
            video_id: m.video_id.clone(),
            index: c.index,
            chunk_id: c.chunk_id.clone(),
            size_bytes: c.size_bytes,
            target_rf: p.counts.get(k).map_or(cfg.base_rf, |c| c.target_rf),
            live: of(NodeStatus::Live),
            suspect: of(NodeStatus::Suspect),
            lost: of(NodeStatus::Lost),
            repairing,
            popularity: view.popularity,
            revision: c.revision,
        });
    }
    ReplicationReport {
        enabled: true,
        config: cfg.clone(),
        nodes: w
            .views
            .iter()
            .map(|n| NodeReplication {
                node_id: n.node_id.clone(),
                status: n.status,
                free_bytes: n.free_bytes,
                load_gets: n.load_gets,
                replicas: per_node.get(n.node_id.as_str()).copied().unwrap_or(0),
            })
            .collect(),
        chunks_truncated: w.chunks.len() > MAX_REPORTED_CHUNKS,
        chunks,
        totals: ReplicationTotals {
            chunks: w.chunks.len(),
            under_replicated: p.under_replicated,
            over_replicated: p.over_replicated,
            unavailable: p.unavailable,
            repairs_in_flight: in_flight.len(),
            repair_cap_mbps: cfg.repair_cap_mbps,
            ..ReplicationTotals::default()
        },
        events: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_heartbeat_age_and_grace() {
        let cfg = RedundancyConfig {
            grace_ms: 30_000,
            ..RedundancyConfig::default()
        };
        let t = Duration::from_secs(10);
        let s = |secs| status_of(Duration::from_secs(secs), t, &cfg);
        assert_eq!(s(1), NodeStatus::Live);
        assert_eq!(s(10), NodeStatus::Suspect);
        assert_eq!(s(29), NodeStatus::Suspect);
        assert_eq!(s(30), NodeStatus::Lost);
    }
}
