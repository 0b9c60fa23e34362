//! Adaptive redundancy on real loopback clusters: a node lost for good is
//! repaired (every copy hash-verified), two managers racing agree on one
//! replica set per chunk, a hot video gains replicas and loses them after it
//! cools, a returning node has its excess trimmed, and repair under a cap
//! leaves playback without a rebuffer.

use std::{collections::HashMap, sync::Arc, time::Duration};

use tokio::sync::{broadcast, watch};
use vstack::{
    client::{self, ClientConfig, fetch_view},
    cluster::{
        embedded::{Cluster, ClusterConfig, SyntheticVideo},
        ingest::{revision_slot, slot_of},
        replication,
        storage::StoredChunk,
        wire::VideoManifest,
    },
    http::sha256_hex,
};
use vstack_core::{
    consensus::{ChunkRecord, paxos::Acceptor},
    engine::{ClientKind, Notice},
    redundancy::{RedundancyConfig, RedundancyEventKind, ReplicationReport},
};

const VIDEO: &str = "test-video-001";

fn video(seconds: u64, kbps: f64, chunk_s: u64) -> SyntheticVideo {
    SyntheticVideo {
        bitrate_kbps: kbps,
        duration: Duration::from_secs(seconds),
        chunk_duration: Duration::from_secs(chunk_s),
        ..SyntheticVideo::default()
    }
}

/// A quick policy: 100 ms ticks, 1 s grace, no startup-hot chunks.
fn policy() -> RedundancyConfig {
    RedundancyConfig {
        grace_ms: 1_000,
        tick_ms: 100,
        startup_chunks: 0,
        repair_cap_mbps: 400.0,
        ..RedundancyConfig::default()
    }
}

fn config(nodes: usize, v: SyntheticVideo, redundancy: Option<RedundancyConfig>) -> ClusterConfig {
    ClusterConfig {
        nodes,
        video: Some(v),
        heartbeat_interval: Duration::from_millis(100),
        heartbeat_timeout: Duration::from_millis(500),
        popularity_window: Duration::from_secs(3),
        redundancy,
        ..ClusterConfig::default()
    }
}

async fn report(c: &Cluster) -> ReplicationReport {
    reqwest::get(format!("{}/replication", c.metadata_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn manifest(c: &Cluster) -> VideoManifest {
    reqwest::get(format!("{}/videos/{VIDEO}", c.metadata_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Polls `GET /replication` until `done` holds, at most `secs` seconds.
async fn wait_for(
    c: &Cluster,
    secs: u64,
    what: &str,
    done: impl Fn(&ReplicationReport) -> bool,
) -> ReplicationReport {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let r = report(c).await;
        if done(&r) {
            return r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} within {secs} s; last report totals {:?}, events {:?}",
            r.totals,
            r.events
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every replica the manifest names holds the chunk's bytes, hash-checked
/// here; returns how many replicas each chunk has.
async fn verify_replicas(c: &Cluster) -> Vec<usize> {
    let m = manifest(c).await;
    let urls: HashMap<String, String> = c
        .nodes()
        .iter()
        .map(|n| (n.node_id.clone(), n.url()))
        .collect();
    let mut counts = Vec::new();
    for chunk in &m.chunks {
        for r in &chunk.replicas {
            let body = reqwest::get(format!("{}/chunks/{}", urls[r], chunk.chunk_id))
                .await
                .unwrap();
            assert!(
                body.status().is_success(),
                "{} on {r}: {}",
                chunk.chunk_id,
                body.status()
            );
            let bytes = body.bytes().await.unwrap();
            assert_eq!(
                sha256_hex(&bytes),
                chunk.sha256,
                "{} on {r}",
                chunk.chunk_id
            );
        }
        counts.push(chunk.replicas.len());
    }
    counts
}

/// The acceptor states of every chunk's latest record instance on the live
/// nodes agree with the catalog: the value a quorum accepted is the record
/// the manifest shows.
async fn verify_agreement(c: &Cluster, live: &[usize]) {
    let m = manifest(c).await;
    for chunk in m.chunks.iter().filter(|c| c.revision > 1) {
        let slot = revision_slot(
            &slot_of(VIDEO, m.version, chunk.index as usize),
            chunk.revision,
        );
        let mut accepted = Vec::new();
        for &i in live {
            let a: Acceptor<ChunkRecord> =
                reqwest::get(format!("{}/paxos/{slot}", c.nodes()[i].url()))
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
            if let Some((_, v)) = a.accepted {
                accepted.push(v);
            }
        }
        let agreeing = accepted
            .iter()
            .filter(|v| v.replicas == chunk.replicas && v.revision == chunk.revision)
            .count();
        assert!(
            agreeing * 2 > c.nodes().len(),
            "{slot}: a majority of {} acceptors accepted the catalog's record ({agreeing} did): {accepted:?} vs {:?}",
            c.nodes().len(),
            chunk.replicas
        );
    }
}

async fn listing(c: &Cluster, i: usize) -> Vec<StoredChunk> {
    reqwest::get(format!("{}/chunks", c.nodes()[i].url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_for_good_is_repaired_with_every_copy_verified() {
    let mut c = Cluster::start(config(3, video(40, 2000.0, 2), Some(policy())))
        .await
        .unwrap();
    let before = wait_for(&c, 10, "a first report", |r| r.enabled).await;
    assert_eq!(before.totals.under_replicated, 0);
    assert_eq!(before.totals.chunks, 20);
    c.kill_node(2);
    let lost = wait_for(&c, 10, "node-3 declared lost", |r| {
        r.events
            .iter()
            .any(|e| e.kind == RedundancyEventKind::NodeLost)
    })
    .await;
    assert!(lost.totals.since_last_loss_ms.is_some());
    let done = wait_for(&c, 30, "every chunk back at its target", |r| {
        r.events
            .iter()
            .any(|e| e.kind == RedundancyEventKind::Repaired)
    })
    .await;
    assert_eq!(done.totals.under_replicated, 0, "{:?}", done.totals);
    assert!(done.totals.bytes_repaired > 0);
    assert!(done.totals.copies_done >= 10, "{:?}", done.totals);
    let msg = &done
        .events
        .iter()
        .find(|e| e.kind == RedundancyEventKind::Repaired)
        .unwrap()
        .message;
    assert!(
        msg.starts_with("node-3 lost → ") && msg.contains("repaired in"),
        "{msg}"
    );
    for ch in &done.chunks {
        assert!(ch.live.len() >= 2, "{ch:?}");
        assert!(!ch.live.contains(&"node-3".to_string()));
    }
    let counts = verify_replicas(&c).await;
    assert!(counts.iter().all(|&n| n == 2), "{counts:?}");
    verify_agreement(&c, &[0, 1]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_managers_racing_agree_on_one_replica_set_per_chunk() {
    let mut c = Cluster::start(config(4, video(40, 2000.0, 2), Some(policy())))
        .await
        .unwrap();
    // A second manager on the same catalog, with its own proposer id.
    let second =
        replication::spawn(Arc::clone(c.metadata()), policy(), c.http()).expect("valid policy");
    wait_for(&c, 10, "a first report", |r| r.enabled).await;
    c.kill_node(3);
    wait_for(&c, 40, "every chunk back at its target", |r| {
        r.totals.under_replicated == 0
            && r.totals.repairs_in_flight == 0
            && r.events
                .iter()
                .any(|e| e.kind == RedundancyEventKind::NodeLost)
    })
    .await;
    second.stop();
    let counts = verify_replicas(&c).await;
    assert!(counts.iter().all(|&n| n >= 2), "{counts:?}");
    verify_agreement(&c, &[0, 1, 2]).await;
    // No orphans: every copy a live node holds is one the catalog names.
    let m = manifest(&c).await;
    for i in 0..3 {
        let id = &c.nodes()[i].node_id;
        for s in listing(&c, i).await {
            let ch = m
                .chunks
                .iter()
                .find(|ch| ch.chunk_id == s.chunk_id)
                .unwrap();
            assert!(
                ch.replicas.contains(id),
                "{id} holds {} the catalog does not place there",
                s.chunk_id
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hot_video_gains_replicas_and_loses_them_after_cooling() {
    let c = Cluster::start(config(3, video(20, 1000.0, 2), Some(policy())))
        .await
        .unwrap();
    wait_for(&c, 10, "a first report", |r| r.enabled).await;
    let m = manifest(&c).await;
    let hot = &m.chunks[4];
    assert_eq!(hot.replicas.len(), 2);
    let url = &c
        .nodes()
        .iter()
        .find(|n| n.node_id == hot.replicas[0])
        .unwrap()
        .url();
    // One client in a loop (a cross-site image loop, say) is one vote: 50
    // GETs leave the chunk at its base factor.
    let http = reqwest::Client::new();
    for _ in 0..50 {
        let r = http
            .get(format!("{url}/chunks/{}", hot.chunk_id))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let still = c.metadata().video(&m.video_id).unwrap();
    assert_eq!(
        still.chunks[4].replicas.len(),
        2,
        "one client's GET loop made the chunk hot"
    );
    // 10 players within the 3 s window: over hot_gets (6).
    for i in 0..10 {
        let r = http
            .get(format!("{url}/chunks/{}", hot.chunk_id))
            .header(
                vstack::cluster::wire::CLIENT_ID_HEADER,
                format!("player-{i}"),
            )
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    let grown = wait_for(&c, 10, "the hot chunk on every node", |r| {
        r.chunks[4].live.len() == 3
    })
    .await;
    assert_eq!(grown.chunks[4].target_rf, 3);
    assert!(grown.chunks[4].popularity >= 6);
    assert!(grown.chunks.iter().filter(|c| c.live.len() == 3).count() == 1);
    assert!(
        grown
            .events
            .iter()
            .any(|e| e.kind == RedundancyEventKind::Popularity)
    );
    assert_eq!(verify_replicas(&c).await[4], 3);
    // The window slides past the GETs: back to the base factor.
    let cooled = wait_for(&c, 15, "the chunk cooled back to 2", |r| {
        r.chunks[4].live.len() == 2 && r.totals.repairs_in_flight == 0
    })
    .await;
    assert!(cooled.totals.trims_done >= 1);
    assert_eq!(verify_replicas(&c).await[4], 2);
    let on_disk: usize = {
        let mut n = 0;
        for i in 0..3 {
            n += listing(&c, i)
                .await
                .iter()
                .filter(|s| s.chunk_id == hot.chunk_id)
                .count();
        }
        n
    };
    assert_eq!(on_disk, 2, "the trimmed copy's bytes are gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_returning_node_has_its_excess_trimmed() {
    let mut c = Cluster::start(config(3, video(40, 2000.0, 2), Some(policy())))
        .await
        .unwrap();
    wait_for(&c, 10, "a first report", |r| r.enabled).await;
    let held_before = listing(&c, 2).await.len();
    assert!(held_before > 0);
    c.kill_node(2);
    wait_for(&c, 30, "repaired", |r| {
        r.events
            .iter()
            .any(|e| e.kind == RedundancyEventKind::Repaired)
    })
    .await;
    c.restart_node(2).await.unwrap();
    let r = wait_for(&c, 30, "excess trimmed after node-3 returned", |r| {
        r.events
            .iter()
            .any(|e| e.kind == RedundancyEventKind::NodeBack)
            && r.totals.over_replicated == 0
            && r.totals.repairs_in_flight == 0
            && r.totals.trims_done > 0
    })
    .await;
    assert!(
        r.chunks.iter().all(|ch| ch.live.len() == 2),
        "{:?}",
        r.chunks
    );
    let counts = verify_replicas(&c).await;
    assert!(counts.iter().all(|&n| n == 2), "{counts:?}");
    // What node-3 still holds is exactly what the catalog places there.
    let m = manifest(&c).await;
    let placed = m
        .chunks
        .iter()
        .filter(|ch| ch.replicas.contains(&"node-3".to_string()))
        .count();
    assert_eq!(listing(&c, 2).await.len(), placed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn repair_under_a_bandwidth_cap_leaves_playback_without_a_rebuffer() {
    let cap = RedundancyConfig {
        repair_cap_mbps: 8.0,
        max_concurrent_repairs: 1,
        ..policy()
    };
    let mut c = Cluster::start(config(3, video(60, 2000.0, 2), Some(cap)))
        .await
        .unwrap();
    wait_for(&c, 10, "a first report", |r| r.enabled).await;
    let http = reqwest::Client::new();
    let view = fetch_view(&http, &c.metadata_url(), VIDEO).await.unwrap();
    let (tx, _rx) = watch::channel(None);
    let (ntx, mut notices) = broadcast::channel(4096);
    let (_stop, stop_rx) = watch::channel(false);
    let cfg = ClientConfig {
        kind: ClientKind::Smart,
        speed: 2.0,
        ..ClientConfig::default()
    };
    let play = tokio::spawn(client::play(http, view, cfg, tx, ntx, stop_rx));
    let updates = tokio::spawn(async move {
        let mut chunks = 0;
        while let Ok(n) = notices.recv().await {
            if let Notice::ReplicasUpdated { chunks: c } = n.notice {
                chunks += c;
            }
        }
        chunks
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    c.kill_node(2);
    let repairing = wait_for(&c, 20, "repair traffic", |r| r.totals.bytes_repaired > 0).await;
    assert!(repairing.totals.repair_cap_mbps == 8.0);
    let qoe = play.await.unwrap().unwrap();
    let done = report(&c).await;
    let moved = updates.await.unwrap();
    assert!(
        moved > 0,
        "the client re-read its manifest after failing over and took the new replicas"
    );
    assert_eq!(
        qoe.playback.rebuffer_count, 0,
        "a rebuffer while repair ran: {qoe:?}"
    );
    assert!(
        done.totals.repair_mbps <= 8.0 * 1.25,
        "repair read at {} Mbit/s against an 8 Mbit/s cap",
        done.totals.repair_mbps
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_revived_on_twin_clusters_keeps_one_chunk_index() {
    use vstack::cluster::embedded::restart_node_on_twins;
    let smart = Cluster::start(config(3, video(8, 1000.0, 2), None))
        .await
        .unwrap();
    let twin = smart.start_twin().await.unwrap();
    let mut both = vstack_core::engine::PerClient { smart, naive: twin };
    for (_, c) in both.iter_mut() {
        c.kill_node(2);
    }
    restart_node_on_twins(&mut both, 2).await.unwrap();
    // A copy stored through the smart cluster's node is seen by its twin.
    let bytes = bytes::Bytes::from_static(b"a repaired copy");
    both.smart.nodes()[2]
        .storage()
        .store("copy-1", &sha256_hex(&bytes), bytes.clone())
        .await
        .unwrap();
    let listed = listing(&both.naive, 2).await;
    assert!(listed.iter().any(|s| s.chunk_id == "copy-1"), "{listed:?}");
}

/// A revision instance may hold a decision about another chunk: the nodes
/// keep their acceptor state in their data directories, an embedded catalog
/// does not, so a later video under the same id meets its predecessor's
/// decisions. The manager moves on to the next free revision instead of
/// copying the chunk again and again (it did, for ever, with the fMP4 test
/// video seeded on the data of a synthetic one).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revision_taken_by_another_chunk_is_skipped() {
    let c = Cluster::start(config(3, video(20, 2000.0, 2), None))
        .await
        .unwrap();
    let m = manifest(&c).await;
    let first = &m.chunks[0];
    assert_eq!(first.revision, 1);
    let acceptors: Vec<String> = c.nodes().iter().map(|n| n.url()).collect();
    let stale = ChunkRecord {
        chunk_id: "test-video-001-00000-an-older-one".into(),
        sha256: "0".repeat(64),
        size_bytes: 1,
        duration_ms: 2000,
        replicas: acceptors.iter().map(|_| "node-9".to_string()).collect(),
        version: 1,
        uploader: "an-earlier-life".into(),
        revision: 2,
    };
    let slot = revision_slot(&slot_of(VIDEO, 1, 0), 2);
    vstack::cluster::proposer::commit_instance(
        &c.http(),
        &acceptors,
        &slot,
        7,
        stale,
        Duration::from_secs(3),
        10,
    )
    .await
    .unwrap();
    // The startup chunk is hot: it wants a copy on every node.
    let manager = replication::spawn(
        Arc::clone(c.metadata()),
        RedundancyConfig {
            startup_chunks: 1,
            ..policy()
        },
        c.http(),
    )
    .unwrap();
    wait_for(&c, 20, "chunk 0 on every node", |r| {
        r.totals.under_replicated == 0 && r.totals.repairs_in_flight == 0
    })
    .await;
    let r = report(&c).await;
    manager.stop();
    let m = manifest(&c).await;
    assert_eq!(m.chunks[0].chunk_id, first.chunk_id);
    assert_eq!(m.chunks[0].replicas.len(), 3, "{:?}", m.chunks[0]);
    assert_eq!(m.chunks[0].revision, 3, "revision 2 was taken");
    assert_eq!(r.totals.copies_done, 1, "copied once: {:?}", r.totals);
    verify_replicas(&c).await;
}
