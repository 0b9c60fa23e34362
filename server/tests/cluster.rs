//! The storage cluster and the live client on real loopback servers: emulator
//! accuracy, failover when a node dies mid-download, ingest of a real
//! ffmpeg-made HLS video played end to end with every hash verified, and the
//! documented errors for bad input.

mod common;

use std::time::Duration;

use common::ffmpeg_hls;

use tokio::sync::{broadcast, watch};
use vstack::{
    client::{self, ClientKind, LiveConfig, fetch_view},
    cluster::{
        embedded::{Cluster, ClusterConfig, SyntheticVideo},
        emulator::{Conditions, Scenario},
        ingest::{IngestError, ingest},
        sha256_hex,
        storage::HASH_HEADER,
        wire::ErrorBody,
    },
    engine::{PlaybackState, QoeReport},
};

fn small_video(seconds: u64, kbps: f64) -> SyntheticVideo {
    SyntheticVideo {
        bitrate_kbps: kbps,
        duration: Duration::from_secs(seconds),
        ..SyntheticVideo::default()
    }
}

async fn start(config: ClusterConfig) -> Cluster {
    Cluster::start(config).await.expect("cluster starts")
}

async fn play(
    cluster: &Cluster,
    video: &str,
    kind: ClientKind,
    speed: f64,
) -> (QoeReport, watch::Receiver<Option<client::ClientStatus>>) {
    let http = reqwest::Client::new();
    let view = fetch_view(&http, &cluster.metadata_url(), video)
        .await
        .unwrap();
    let (tx, rx) = watch::channel(None);
    let (ntx, _) = broadcast::channel(64);
    let (_stop, stop_rx) = watch::channel(false);
    let cfg = LiveConfig {
        kind,
        speed,
        ..LiveConfig::default()
    };
    let q = client::play(http, view, cfg, tx, ntx, stop_rx)
        .await
        .unwrap();
    (q, rx)
}

async fn put_chunk(url: &str, id: &str, bytes: Vec<u8>) -> reqwest::Response {
    reqwest::Client::new()
        .put(format!("{url}/chunks/{id}"))
        .header(HASH_HEADER, sha256_hex(&bytes))
        .body(bytes)
        .send()
        .await
        .unwrap()
}

/// Time to fetch `id` from `url` completely, seconds.
async fn timed_get(url: &str, id: &str) -> (f64, usize) {
    let t = std::time::Instant::now();
    let b = reqwest::get(format!("{url}/chunks/{id}"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    (t.elapsed().as_secs_f64(), b.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulator_paces_bandwidth_and_adds_latency() {
    let c = start(ClusterConfig {
        nodes: 2,
        profiles: vec![Conditions::profile(0.0, 10.0), Conditions::default()],
        video: None,
        ..ClusterConfig::default()
    })
    .await;
    let (shaped, unshaped) = (c.nodes()[0].url(), c.nodes()[1].url());
    let data = vec![7u8; 5_000_000];
    assert_eq!(
        put_chunk(&shaped, "five-mb", data.clone()).await.status(),
        201
    );
    // 5 MB at 10 Mbit/s: 4 s ± 10 %.
    let (secs, n) = timed_get(&shaped, "five-mb").await;
    assert_eq!(n, 5_000_000);
    assert!(
        (3.6..=4.4).contains(&secs),
        "5 MB at 10 Mbit/s took {secs:.3} s"
    );
    eprintln!("5 MB at 10 Mbit/s: {secs:.3} s (ideal 4.000 s)");

    // Added latency: ping with 0 bytes, 50 ms vs none, median of 9, ± 5 ms.
    async fn median_ping(url: &str) -> f64 {
        let http = reqwest::Client::new();
        let mut v = Vec::new();
        for _ in 0..9 {
            let t = std::time::Instant::now();
            http.get(format!("{url}/ping"))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            v.push(t.elapsed().as_secs_f64() * 1e3);
        }
        v.sort_by(f64::total_cmp);
        v[4]
    }
    let base = median_ping(&unshaped).await;
    c.set_conditions(
        1,
        Conditions {
            latency_ms: 50.0,
            ..Conditions::default()
        },
    )
    .unwrap();
    let added = median_ping(&unshaped).await - base;
    assert!(
        (45.0..=55.0).contains(&added),
        "added latency {added:.2} ms"
    );
    eprintln!("added latency: {added:.2} ms (set 50 ms)");

    // Down: 503 with a JSON error; back up: 200.
    c.apply_scenario(Scenario::NodeFailure);
    let r = reqwest::get(format!("{shaped}/chunks/five-mb"))
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.json::<ErrorBody>().await.unwrap().error.contains("down"));
    c.apply_scenario(Scenario::Recovery);
    assert_eq!(
        reqwest::get(format!("{shaped}/ping"))
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speed_factor_compresses_transfer_time() {
    let c = start(ClusterConfig {
        nodes: 1,
        profiles: vec![Conditions::profile(0.0, 10.0)],
        speed: 10.0,
        video: None,
        ..ClusterConfig::default()
    })
    .await;
    let url = c.nodes()[0].url();
    put_chunk(&url, "c", vec![1u8; 12_500_000]).await;
    // 10 s of transfer at ×10: 1 s ± 10 %.
    let (secs, _) = timed_get(&url, "c").await;
    assert!((0.9..=1.1).contains(&secs), "took {secs:.3} s at ×10");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_downloads_share_a_node() {
    let c = start(ClusterConfig {
        nodes: 1,
        profiles: vec![Conditions::profile(0.0, 20.0)],
        video: None,
        ..ClusterConfig::default()
    })
    .await;
    let url = c.nodes()[0].url();
    put_chunk(&url, "a", vec![1u8; 1_250_000]).await;
    put_chunk(&url, "b", vec![2u8; 1_250_000]).await;
    // Two 1.25 MB bodies on 20 Mbit/s: 1 s together (0.5 s each if alone).
    let t = std::time::Instant::now();
    let (a, b) = tokio::join!(timed_get(&url, "a"), timed_get(&url, "b"));
    let total = t.elapsed().as_secs_f64();
    assert!((0.9..=1.15).contains(&total), "both took {total:.3} s");
    assert!(a.0 > 0.8 && b.0 > 0.8, "{a:?} {b:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smart_client_plays_to_the_end_and_prefers_the_best_node() {
    let c = start(ClusterConfig {
        speed: 10.0,
        video: Some(small_video(120, 2000.0)),
        ..ClusterConfig::default()
    })
    .await;
    let (q, status) = play(&c, "test-video-001", ClientKind::Smart, 10.0).await;
    assert!(q.ended, "{q:?}");
    assert_eq!(q.chunks_played, 12);
    assert_eq!(q.downloads, 12);
    assert_eq!(q.rebuffer_count, 0, "{q:?}");
    let s = status.borrow().clone().unwrap();
    assert_eq!(s.state, PlaybackState::Ended);
    assert_eq!(s.recent_chunks.len(), 12);
    // node-1 (100 Mbit/s) holds 8 of the 12 chunks (replication 2 of 3) and
    // should serve more than round robin's share.
    assert!(
        q.per_node[0].chunks > q.per_node[2].chunks,
        "{:?}",
        q.per_node
    );
    let (n, _) = play(&c, "test-video-001", ClientKind::Naive, 10.0).await;
    assert!(n.ended && n.chunks_played == 12, "{n:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_when_a_node_is_killed_mid_download() {
    // Slow links so the kill lands inside a transfer.
    let mut c = start(ClusterConfig {
        speed: 5.0,
        profiles: vec![
            Conditions::profile(5.0, 12.0),
            Conditions::profile(5.0, 12.0),
            Conditions::profile(5.0, 12.0),
        ],
        video: Some(small_video(80, 2000.0)),
        ..ClusterConfig::default()
    })
    .await;
    let http = reqwest::Client::new();
    let view = fetch_view(&http, &c.metadata_url(), "test-video-001")
        .await
        .unwrap();
    let (tx, mut rx) = watch::channel(None);
    let (ntx, _) = broadcast::channel(64);
    let (_stop, stop_rx) = watch::channel(false);
    let cfg = LiveConfig {
        kind: ClientKind::Naive,
        speed: 5.0,
        ..LiveConfig::default()
    };
    let task = tokio::spawn(client::play(http, view, cfg, tx, ntx, stop_rx));
    // Wait until node-2 is serving a download, then kill it.
    loop {
        rx.changed().await.unwrap();
        let busy = rx
            .borrow()
            .as_ref()
            .is_some_and(|s| s.nodes[1].in_flight > 0 && s.qoe.downloads >= 1);
        if busy {
            break;
        }
    }
    c.kill_node(1);
    let q = task.await.unwrap().unwrap();
    assert!(q.ended, "{q:?}");
    assert_eq!(q.chunks_played, 8);
    assert!(q.failovers >= 1, "{q:?}");
    assert!(q.per_node[1].failures >= 1, "{:?}", q.per_node);
    // Restart on the same port and data: the chunks are all still there.
    let before = c.nodes()[1].storage().usage();
    c.restart_node(1).await.unwrap();
    let after = c.nodes()[1].storage().usage();
    assert_eq!(before, after);
    let r = reqwest::get(format!("{}/health", c.nodes()[1].url()))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_real_hls_and_play_it_with_every_hash_verified() {
    let d = tempfile::tempdir().unwrap();
    let Some(playlist) = ffmpeg_hls(d.path(), 20) else {
        return;
    };
    let c = start(ClusterConfig {
        video: None,
        profiles: vec![Conditions::default()],
        ..ClusterConfig::default()
    })
    .await;
    let http = reqwest::Client::new();
    let r = ingest(&http, &c.metadata_url(), d.path(), Some("ffmpeg-clip"), 2)
        .await
        .unwrap();
    assert_eq!(r.video.video_id, "ffmpeg-clip");
    assert_eq!(r.video.chunk_count, 5, "20 s in 4 s segments");
    assert!((19_000..=21_000).contains(&r.video.duration_ms), "{r:?}");
    let stored: u64 = c
        .nodes()
        .iter()
        .map(|n| n.storage().usage().bytes_stored)
        .sum();
    assert_eq!(stored, 2 * r.video.size_bytes, "two replicas of every byte");
    // Every segment's bytes are what the manifest's hash says.
    let m = c.metadata().video("ffmpeg-clip").unwrap();
    for (i, chunk) in m.chunks.iter().enumerate() {
        let seg = std::fs::read(d.path().join(format!("index{i}.ts"))).unwrap();
        assert_eq!(chunk.sha256, sha256_hex(&seg));
    }
    // Playback end to end: the client checks size and SHA-256 of every chunk;
    // a mismatch would be a failover.
    let (q, _) = play(&c, "ffmpeg-clip", ClientKind::Smart, 10.0).await;
    assert!(q.ended && q.chunks_played == 5, "{q:?}");
    assert_eq!(q.failovers, 0);
    assert_eq!(q.bytes_total, r.video.size_bytes);
    let _ = playlist;

    // Corrupt one replica on disk behind the node's back: the client detects
    // the hash mismatch, fails over to the other replica and still plays.
    let victim = &m.chunks[0];
    let holder = c
        .nodes()
        .iter()
        .find(|n| n.node_id == victim.replicas[0])
        .unwrap();
    let path = holder.data_dir.join(format!("{}.chunk", victim.chunk_id));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let (q, _) = play(&c, "ffmpeg-clip", ClientKind::Naive, 10.0).await;
    assert!(q.ended && q.chunks_played == 5, "{q:?}");
    assert!(q.failovers >= 1, "corrupt chunk must fail over: {q:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_the_documented_errors() {
    let c = start(ClusterConfig {
        video: Some(small_video(20, 500.0)),
        profiles: vec![Conditions::default()],
        max_chunk_bytes: 1_000_000,
        ..ClusterConfig::default()
    })
    .await;
    let http = reqwest::Client::new();
    let meta = c.metadata_url();
    let node = c.nodes()[0].url();

    // Unknown video: 404 with a JSON error, and the client says so.
    let r = http
        .get(format!("{meta}/videos/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.json::<ErrorBody>().await.unwrap().error.contains("nope"));
    let e = fetch_view(&http, &meta, "nope").await.unwrap_err();
    assert!(
        matches!(e, client::ClientError::Metadata { status: 404, .. }),
        "{e}"
    );
    let r = http
        .get(format!("{node}/chunks/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Path-escaping ids: 400 with a JSON error.
    for id in ["..x", "..%2Fetc%2Fpasswd", "a%5Cb", ".hidden"] {
        let r = http
            .put(format!("{node}/chunks/{id}"))
            .header(HASH_HEADER, sha256_hex(b"x"))
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{id}");
        assert!(
            r.json::<ErrorBody>()
                .await
                .unwrap()
                .error
                .contains("invalid")
        );
    }

    // Oversized upload: 413 with a JSON error; nothing stored.
    let before = c.nodes()[0].storage().usage();
    let r = put_chunk(&node, "big", vec![0u8; 1_000_001]).await;
    assert_eq!(r.status(), 413);
    assert!(r.json::<ErrorBody>().await.unwrap().error.contains("limit"));
    // Wrong hash: 422.
    let r = http
        .put(format!("{node}/chunks/x"))
        .header(HASH_HEADER, "0".repeat(64))
        .body("data")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    // Unsatisfiable range: 416; a valid one: 206 with the bytes.
    let id = "test-video-001-00000";
    let r = http
        .get(format!("{node}/chunks/{id}"))
        .header("range", "bytes=99999999-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);
    let r = http
        .get(format!("{node}/chunks/{id}"))
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.unwrap().len(), 10);
    assert_eq!(c.nodes()[0].storage().usage(), before);

    // Bad emulator settings: 400 naming the field.
    let r = http
        .put(format!("{node}/emulator"))
        .json(&serde_json::json!({"loss": 3.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.json::<ErrorBody>().await.unwrap().error.contains("loss"));

    // Broken playlist and a missing segment: clear errors, nothing uploaded.
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("index.m3u8"), "#EXTM3U\n#EXTINF:4.0,\n").unwrap();
    let e = ingest(&http, &meta, d.path(), None, 2).await.unwrap_err();
    assert!(matches!(e, IngestError::Playlist { line: 2, .. }), "{e}");
    std::fs::write(
        d.path().join("index.m3u8"),
        "#EXTM3U\n#EXTINF:4.0,\na.ts\n#EXTINF:4.0,\nmissing.ts\n",
    )
    .unwrap();
    std::fs::write(d.path().join("a.ts"), b"segment").unwrap();
    let e = ingest(&http, &meta, d.path(), None, 2).await.unwrap_err();
    assert!(e.to_string().contains("missing.ts"), "{e}");
    assert_eq!(c.nodes()[0].storage().usage(), before);
    assert_eq!(c.metadata().videos().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_wide_scenario_over_http() {
    let c = start(ClusterConfig {
        video: None,
        ..ClusterConfig::default()
    })
    .await;
    let r = reqwest::Client::new()
        .post(format!("{}/cluster/scenario", c.metadata_url()))
        .json(&serde_json::json!({"scenario": "node_failure"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let out: Vec<serde_json::Value> = r.json().await.unwrap();
    assert_eq!(out.len(), 3);
    assert!(c.nodes()[0].emulator().conditions().down);
    assert!(!c.nodes()[1].emulator().conditions().down);
    let r = reqwest::Client::new()
        .post(format!("{}/cluster/scenario", c.metadata_url()))
        .json(&serde_json::json!({"scenario": "meteor_strike"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
}
