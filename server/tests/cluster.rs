//! The storage cluster and the live client on real loopback servers: emulator
//! accuracy, failover when a node dies mid-download, ingest of a real
//! ffmpeg-made HLS video played end to end with every hash verified, and the
//! documented errors for bad input.

mod common;

use std::time::Duration;

use common::{ffmpeg_hls, probe_frames};

use tokio::sync::{broadcast, watch};
use vstack::{
    client::{self, ClientConfig, fetch_view},
    cluster::{
        embedded::{Cluster, ClusterConfig, SyntheticVideo},
        emulator::{Conditions, Scenario},
        ingest::{IngestError, ingest},
        storage::HASH_HEADER,
    },
    http::{ErrorBody, sha256_hex},
};
use vstack_core::engine::{ClientKind, ClientSnapshot, PlaybackState, QoeReport};

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

/// A naive client at `speed` playing `test-video-001` on `cluster` in a
/// task: the task, its snapshots and the sender that stops it.
async fn spawn_naive(
    cluster: &Cluster,
    speed: f64,
) -> (
    tokio::task::JoinHandle<Result<QoeReport, client::ClientError>>,
    watch::Receiver<Option<ClientSnapshot>>,
    watch::Sender<bool>,
) {
    let http = reqwest::Client::new();
    let view = fetch_view(&http, &cluster.metadata_url(), "test-video-001")
        .await
        .unwrap();
    let (tx, rx) = watch::channel(None);
    let (ntx, _) = broadcast::channel(64);
    let (stop, stop_rx) = watch::channel(false);
    let cfg = ClientConfig {
        kind: ClientKind::Naive,
        speed,
        ..ClientConfig::default()
    };
    let task = tokio::spawn(client::play(http, view, cfg, tx, ntx, stop_rx));
    (task, rx, stop)
}

async fn play(
    cluster: &Cluster,
    video: &str,
    kind: ClientKind,
    speed: f64,
) -> (QoeReport, watch::Receiver<Option<ClientSnapshot>>) {
    play_with(
        cluster,
        video,
        ClientConfig {
            kind,
            speed,
            ..ClientConfig::default()
        },
    )
    .await
}

/// Plays `video` to the end with `cfg`.
async fn play_with(
    cluster: &Cluster,
    video: &str,
    cfg: ClientConfig,
) -> (QoeReport, watch::Receiver<Option<ClientSnapshot>>) {
    let http = reqwest::Client::new();
    let view = fetch_view(&http, &cluster.metadata_url(), video)
        .await
        .unwrap();
    let (tx, rx) = watch::channel(None);
    let (ntx, _) = broadcast::channel(64);
    let (_stop, stop_rx) = watch::channel(false);
    let q = client::play(http, view, cfg, tx, ntx, stop_rx)
        .await
        .unwrap();
    (q, rx)
}

/// Plays `video` with the smart client at ×10, writing the verified media
/// in playback order to `path`.
async fn play_to_file(
    cluster: &Cluster,
    video: &str,
    path: std::path::PathBuf,
) -> (std::path::PathBuf, QoeReport) {
    let (sink, media) = tokio::sync::mpsc::channel(4);
    let file = tokio::fs::File::create(&path).await.unwrap();
    let writer = tokio::spawn(client::output::write_in_order(media, file));
    let cfg = ClientConfig {
        speed: 10.0,
        media_sink: Some(sink),
        ..ClientConfig::default()
    };
    let (q, _) = play_with(cluster, video, cfg).await;
    let w = writer.await.unwrap().unwrap();
    assert_eq!(w.chunks as usize, q.chunk_count);
    (path, q)
}

async fn put_chunk(c: &Cluster, url: &str, id: &str, bytes: Vec<u8>) -> reqwest::Response {
    c.http()
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
        put_chunk(&c, &shaped, "five-mb", data.clone())
            .await
            .status(),
        201
    );
    // 5 MB at 10 Mbit/s: 4 s, never less than 3.6 s; the ceiling allows
    // for a loaded machine's extra wall time on top of the pacing.
    let (secs, n) = timed_get(&shaped, "five-mb").await;
    assert_eq!(n, 5_000_000);
    assert!(
        (3.6..=4.8).contains(&secs),
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
    put_chunk(&c, &url, "c", vec![1u8; 12_500_000]).await;
    // 10 s of transfer at ×10 is 1 s of wall time. The floor is strict (the
    // pacing may not run faster than the emulated link); the ceiling leaves
    // room for a loaded CI machine (1.12 s was seen beside the bench test)
    // and still fails if the factor is ignored (10 s) or applied twice (0.1 s).
    let (secs, _) = timed_get(&url, "c").await;
    assert!((0.9..=1.5).contains(&secs), "took {secs:.3} s at ×10");
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
    put_chunk(&c, &url, "a", vec![1u8; 1_250_000]).await;
    put_chunk(&c, &url, "b", vec![2u8; 1_250_000]).await;
    // Two 1.25 MB bodies on 20 Mbit/s: 1 s together (0.5 s each if alone).
    // What tells sharing apart is the lower end; the upper end allows for a
    // loaded machine (a clean-clone CI run measured 1.176 s beside the
    // other test binaries).
    let t = std::time::Instant::now();
    let (a, b) = tokio::join!(timed_get(&url, "a"), timed_get(&url, "b"));
    let total = t.elapsed().as_secs_f64();
    assert!((0.9..=1.4).contains(&total), "both took {total:.3} s");
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
    assert_eq!(q.playback.rebuffer_count, 0, "{q:?}");
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
    let (task, mut rx, _stop) = spawn_naive(&c, 5.0).await;
    // Wait until node-2 is serving a download, then kill it.
    loop {
        rx.changed().await.unwrap();
        let busy = rx
            .borrow()
            .as_ref()
            .is_some_and(|s| s.nodes[1].in_flight > 0 && s.downloads >= 1);
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
    let http = c.http();
    let r = ingest(&http, &c.metadata_url(), d.path(), Some("ffmpeg-clip"), 2)
        .await
        .unwrap();
    assert_eq!(r.video.video_id, "ffmpeg-clip");
    // MPEG-TS is remuxed to fMP4: the initialization segment, then 20 s in
    // 4 s segments.
    assert_eq!(r.video.chunk_count, 6, "{r:?}");
    assert!((19_000..=21_000).contains(&r.video.duration_ms), "{r:?}");
    let stored: u64 = c
        .nodes()
        .iter()
        .map(|n| n.storage().usage().bytes_stored)
        .sum();
    assert_eq!(stored, 2 * r.video.size_bytes, "two replicas of every byte");
    let m = c.metadata().video("ffmpeg-clip").unwrap();
    let init = m.init_segment().expect("an fMP4 initialization segment");
    assert_eq!(init.duration_ms, 0);
    assert!(init.size_bytes < 4096, "{init:?}");
    assert_eq!(init.replicas.len(), 2, "replicated like any chunk");
    // Every stored replica is what the manifest's hash says.
    for chunk in &m.chunks {
        for holder in &chunk.replicas {
            let n = c.nodes().iter().find(|n| &n.node_id == holder).unwrap();
            let bytes =
                std::fs::read(n.data_dir.join(format!("{}.chunk", chunk.chunk_id))).unwrap();
            assert_eq!(chunk.sha256, sha256_hex(&bytes), "{}", chunk.chunk_id);
        }
    }
    // Playback end to end: the client checks size and SHA-256 of every chunk
    // (a mismatch would be a failover) and hands the verified media on in
    // playback order: ffprobe decodes every frame of it.
    let (media, q) = play_to_file(&c, "ffmpeg-clip", d.path().join("played.mp4")).await;
    assert!(q.ended && q.chunks_played == 6, "{q:?}");
    assert_eq!(q.failovers, 0);
    assert_eq!(q.bytes_total, r.video.size_bytes);
    assert_eq!(std::fs::metadata(&media).unwrap().len(), r.video.size_bytes);
    let (codec, frames) = probe_frames(&media);
    assert_eq!(codec, "h264");
    assert_eq!(frames, 500, "20 s at 25 frames/s, every one decoded");
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
    assert!(q.ended && q.chunks_played == 6, "{q:?}");
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
    let http = c.http();
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
    let e = fetch_view(&http.plain(), &meta, "nope").await.unwrap_err();
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
    let r = put_chunk(&c, &node, "big", vec![0u8; 1_000_001]).await;
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
    let r = c
        .http()
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
    let r = c
        .http()
        .post(format!("{}/cluster/scenario", c.metadata_url()))
        .json(&serde_json::json!({"scenario": "meteor_strike"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
}

/// ChunkPaxos over real HTTP between uploaders and the embedded nodes:
/// the fast path, concurrent uploaders, durability across a restart, a down
/// node, and randomized conditions through the network emulator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunk_paxos_over_http_commits_exactly_one_record_per_chunk() {
    use vstack::cluster::proposer::commit;
    use vstack_core::consensus::ChunkRecord;
    let mut cluster = Cluster::start(ClusterConfig {
        profiles: vec![Conditions::profile(2.0, 1000.0)],
        video: None,
        ..ClusterConfig::default()
    })
    .await
    .unwrap();
    let urls: Vec<String> = cluster.nodes().iter().map(|n| n.url()).collect();
    let http = cluster.http();
    let rec = |chunk: &str, who: &str| ChunkRecord {
        chunk_id: chunk.into(),
        sha256: sha256_hex(who.as_bytes()),
        size_bytes: who.len() as u64,
        duration_ms: 4000,
        replicas: vec!["node-1".into(), "node-2".into()],
        version: 1,
        uploader: who.into(),
        revision: 1,
    };
    let t = Duration::from_secs(2);

    // One uploader: the fast round, 6 messages.
    let (chosen, stats) = commit(&http, &urls, 1, rec("v-00000", "a"), t, 8)
        .await
        .unwrap();
    assert_eq!(chosen, rec("v-00000", "a"));
    assert!(stats.fast);
    assert_eq!(stats.messages, 6);

    // Three uploaders at once on one chunk: all learn the same record.
    let (x, y, z) = tokio::join!(
        commit(&http, &urls, 1, rec("v-00001", "a"), t, 20),
        commit(&http, &urls, 2, rec("v-00001", "b"), t, 20),
        commit(&http, &urls, 3, rec("v-00001", "c"), t, 20),
    );
    let (x, y, z) = (x.unwrap().0, y.unwrap().0, z.unwrap().0);
    assert!(x == y && y == z, "{x:?} {y:?} {z:?}");
    assert!(["a", "b", "c"].contains(&x.uploader.as_str()));

    // Durable: a restarted node still holds its vote.
    cluster.kill_node(0);
    cluster.restart_node(0).await.unwrap();
    // A fresh client: the pooled keep-alive connection to the killed node
    // is dead, and reusing it fails with an incomplete message.
    let st: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/paxos/v-00001", urls[0]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(st["accepted"][1]["uploader"], x.uploader, "{st}");

    // A down node: no fast quorum, a classic majority commits.
    let mut down = cluster.nodes()[2].emulator().base();
    down.down = true;
    cluster.set_conditions(2, down).unwrap();
    let (chosen, stats) = commit(&http, &urls, 4, rec("v-00002", "d"), t, 8)
        .await
        .unwrap();
    assert_eq!(chosen.uploader, "d");
    assert!(!stats.fast && stats.attempts >= 2, "{stats:?}");
    // Two down: no majority, a clear error.
    let mut down1 = cluster.nodes()[1].emulator().base();
    down1.down = true;
    cluster.set_conditions(1, down1).unwrap();
    let e = commit(&http, &urls, 5, rec("v-00003", "e"), t, 3)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no value chosen"), "{e}");
    for i in 0..3 {
        cluster
            .set_conditions(i, Conditions::profile(2.0, 1000.0))
            .unwrap();
    }

    // Bad input: a message acceptors do not take, a bad id.
    let r = http
        .post(format!("{}/paxos/v-00000", urls[0]))
        .json(&serde_json::json!({"type": "nack", "ballot": {"round": 1, "proposer": 1}, "promised": {"round": 1, "proposer": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("error"));

    randomized_rounds(&cluster, &http, &urls, rec, t).await;
}

/// ChunkPaxos over HTTP under jitter and loss on every node, 2–3 uploaders
/// per chunk, 12 rounds: the uploaders agree, and a majority of acceptors
/// holds the chosen value.
async fn randomized_rounds(
    cluster: &Cluster,
    http: &vstack::cluster::auth::ClusterClient,
    urls: &[String],
    rec: impl Fn(&str, &str) -> vstack_core::consensus::ChunkRecord,
    t: Duration,
) {
    use rand::{Rng, SeedableRng};
    use vstack::cluster::proposer::commit;
    // Randomized: jitter and loss on every node, 2–3 uploaders per chunk.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    for round in 0..12 {
        for i in 0..3 {
            let c = Conditions {
                latency_ms: rng.random_range(0.0..20.0),
                jitter_ms: rng.random_range(0.0..10.0),
                loss: rng.random_range(0.0..0.3),
                ..Conditions::default()
            };
            cluster.set_conditions(i, c).unwrap();
        }
        let chunk = format!("r-{round:05}");
        let k = rng.random_range(2..=3);
        let tasks: Vec<_> = (0..k)
            .map(|u| {
                let (http, urls, r) = (http.clone(), urls.to_vec(), rec(&chunk, &format!("u{u}")));
                tokio::spawn(async move { commit(&http, &urls, u + 1, r, t, 50).await })
            })
            .collect();
        let mut learned = Vec::new();
        for task in tasks {
            learned.push(task.await.unwrap().unwrap().0);
        }
        assert!(
            learned.windows(2).all(|w| w[0] == w[1]),
            "round {round}: {learned:?}"
        );
        // The acceptors' votes agree with it: a majority holds the chosen value.
        let mut holders = 0;
        for u in urls {
            let st: serde_json::Value = http
                .get(format!("{u}/paxos/{chunk}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            holders += usize::from(st["accepted"][1]["uploader"] == learned[0].uploader);
        }
        assert!(holders >= 2, "round {round}: {holders} of 3 hold it");
    }
}

/// Two uploaders ingest different encodings under the same video id at the
/// same time: ChunkPaxos picks exactly one record per chunk, both uploaders
/// agree on it, the catalog holds it, and the losers' bytes are removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_ingests_of_one_video_commit_one_record_per_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let (Some(ta), Some(tb)) = (
        common::ffmpeg_hls_of(&a, 16, "testsrc"),
        common::ffmpeg_hls_of(&b, 16, "testsrc2"),
    ) else {
        return;
    };
    // Remuxed to fMP4 first, so both uploads start together (a remux in
    // the ingest takes each its own time, and the faster one then
    // registered before the other chose its version).
    let fmp4 = |ts: &std::path::Path, name: &str| {
        let out = dir.path().join(name);
        std::fs::create_dir_all(&out).unwrap();
        let segments = vstack::cluster::ingest::parse_playlist(ts).unwrap();
        vstack::cluster::ingest::remux_to_fmp4(ts, &segments, &out).unwrap()
    };
    let (pa, pb) = (fmp4(&ta, "a-fmp4"), fmp4(&tb, "b-fmp4"));
    let cluster = Cluster::start(ClusterConfig {
        profiles: vec![Conditions::profile(5.0, 500.0)],
        video: None,
        ..ClusterConfig::default()
    })
    .await
    .unwrap();
    let http = cluster.http();
    let meta = cluster.metadata_url();
    let (ra, rb) = tokio::join!(
        ingest(&http, &meta, &pa, Some("film"), 2),
        ingest(&http, &meta, &pb, Some("film"), 2)
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    let n = ra.consensus.chunks;
    assert_eq!(n, rb.consensus.chunks);
    assert!(n >= 4, "{n}");
    // Every slot was won by exactly one of them.
    assert_eq!(ra.consensus.lost + rb.consensus.lost, n, "{ra:?} {rb:?}");
    let view = fetch_view(&http.plain(), &meta, "film").await.unwrap();
    assert_eq!(view.manifest.chunks.len(), n);
    // The winners' bytes are on their replicas; nothing else of `film` is stored.
    let mut stored = std::collections::BTreeSet::new();
    for node in cluster.nodes() {
        for c in node.storage().chunks() {
            if c.chunk_id.starts_with("film-") {
                stored.insert((node.node_id.clone(), c.chunk_id.clone()));
            }
        }
    }
    let mut expected = std::collections::BTreeSet::new();
    for c in &view.manifest.chunks {
        for r in &c.replicas {
            let node = cluster.nodes().iter().find(|x| &x.node_id == r).unwrap();
            let (_, bytes) = node.storage().read(&c.chunk_id).await.unwrap();
            assert_eq!(sha256_hex(&bytes), c.sha256);
            expected.insert((r.clone(), c.chunk_id.clone()));
        }
    }
    assert_eq!(stored, expected, "orphans left behind");
    // And the video plays with every hash verified.
    let (tx, _rx) = watch::channel(None);
    let (ntx, _) = broadcast::channel(64);
    let (_stop, stop_rx) = watch::channel(false);
    let q = client::play(
        http.plain(),
        view,
        ClientConfig {
            speed: 20.0,
            ..ClientConfig::default()
        },
        tx,
        ntx,
        stop_rx,
    )
    .await
    .unwrap();
    assert!(q.ended && q.failovers == 0, "{q:?}");
}

/// A stall in progress shows in the published snapshots as it lasts: the
/// live driver publishes on its interval while someone subscribes, events
/// or not (a stall with nothing arriving used to freeze the stall time and
/// the elapsed time until the next event).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_keep_moving_through_a_stall_without_events() {
    // One node at 1 Mbit/s, a 2 Mbit/s video in 10 s chunks, ×4: every
    // chunk takes 20 s of media time to arrive, so playback stalls ~10 s
    // (2.5 s wall) before each chunk after the first.
    let c = start(ClusterConfig {
        speed: 4.0,
        profiles: vec![Conditions::profile(5.0, 1.0)],
        video: Some(small_video(30, 2000.0)),
        ..ClusterConfig::default()
    })
    .await;
    let (task, mut rx, stop) = spawn_naive(&c, 4.0).await;
    let stalled = |rx: &watch::Receiver<Option<ClientSnapshot>>| {
        rx.borrow()
            .as_ref()
            .filter(|s| s.state == PlaybackState::Rebuffering)
            .cloned()
    };
    let first = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            rx.changed().await.unwrap();
            if let Some(s) = stalled(&rx) {
                break s;
            }
        }
    })
    .await
    .expect("the client stalls");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let later = rx.borrow().clone().unwrap();
    // 800 ms of wall time is 3.2 s of media time at ×4.
    assert!(
        later.elapsed_ms - first.elapsed_ms >= 2500.0,
        "elapsed {} → {}",
        first.elapsed_ms,
        later.elapsed_ms
    );
    if later.state == first.state && later.rebuffer_count == first.rebuffer_count {
        assert!(
            later.rebuffer_time_ms - first.rebuffer_time_ms >= 2500.0,
            "stall time {} → {}",
            first.rebuffer_time_ms,
            later.rebuffer_time_ms
        );
    }
    stop.send(true).unwrap();
    let _ = task.await;
}

/// A multivariant HLS ladder (ffmpeg `-var_stream_map`) ingested as a video
/// with a ladder, each rung a video of its own; the live client adapts on
/// it: the top rung on an ample link, lower ones on a scarce link, every
/// chunk verified against the hash of the level it was fetched at.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multivariant_ladder_is_ingested_and_the_live_client_adapts_on_it() {
    use vstack::cluster::test_pattern::TestPattern;
    if !common::tool("ffmpeg") {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let pattern = TestPattern {
        video_id: "ladder".into(),
        duration: Duration::from_secs(60),
        bitrate_kbps: 3000,
        lower_rungs_kbps: vec![300, 1000],
        size: (320, 240),
        segment: Duration::from_secs(4),
        ..TestPattern::default()
    };
    let master = pattern.ensure(cache.path().to_path_buf()).await.unwrap();
    assert!(master.ends_with("master.m3u8"), "{master:?}");
    let cluster = |mbps: f64| {
        start(ClusterConfig {
            video: None,
            speed: 8.0,
            profiles: vec![Conditions::profile(10.0, mbps); 3],
            ..ClusterConfig::default()
        })
    };
    let ample = cluster(40.0).await;
    let r = ingest(&ample.http(), &ample.metadata_url(), &master, None, 2)
        .await
        .unwrap();
    assert_eq!(r.video.video_id, "ladder");
    let rung_ids: Vec<&str> = r.rungs.iter().map(|v| v.video_id.as_str()).collect();
    assert_eq!(rung_ids, ["ladder-r0", "ladder-r1"]);
    let m = ample.metadata().video("ladder").unwrap();
    let ids: Vec<&str> = m.ladder.iter().map(|r| r.video_id.as_str()).collect();
    assert_eq!(ids, ["ladder-r0", "ladder-r1", "ladder"]);
    assert!(
        m.ladder
            .windows(2)
            .all(|w| w[0].bandwidth_bps < w[1].bandwidth_bps),
        "{:?}",
        m.ladder
    );
    let low = ample.metadata().video("ladder-r0").unwrap();
    assert_eq!(low.chunks.len(), m.chunks.len());
    assert!(
        low.size_bytes() * 3 < m.size_bytes(),
        "the lowest rung is the smallest"
    );

    // Ample: the top rung from the first media segment on. The startup
    // probe gate holds the first request for the probes, and a probe too
    // quick to time (16 KiB in well under 5 ms of wall time at 8×) is
    // asked again bigger, so the first level is scored on measured rates;
    // before both it went out blind at the bottom and paid a switch up.
    let (q, rx) = play(&ample, "ladder", ClientKind::Smart, 8.0).await;
    assert!(q.ended && q.failovers == 0, "{q:?}");
    let quality = q.quality.clone().expect("a ladder is scored");
    eprintln!("ample, smart: {quality:?}");
    assert_eq!(
        quality.levels.len(),
        15,
        "fifteen 4 s media chunks: {quality:?}"
    );
    assert_eq!(quality.levels.first(), Some(&2), "{quality:?}");
    assert_eq!(quality.levels.last(), Some(&2), "{quality:?}");
    let top_kbps = m.ladder[2].bandwidth_bps as f64 / 1e3;
    assert!(quality.played_bitrate_kbps > 0.5 * top_kbps, "{quality:?}");
    let snap = rx.borrow().clone().unwrap();
    assert_eq!(snap.bitrates_kbps.len(), 3);
    assert_eq!(snap.level, Some(2), "{snap:?}");
    assert!(snap.quality.is_some());

    // Scarce: 3 × 0.4 Mbit/s pooled cannot carry the 3 Mbit/s top rung.
    let scarce = cluster(0.4).await;
    let r = ingest(&scarce.http(), &scarce.metadata_url(), &master, None, 2)
        .await
        .unwrap();
    assert_eq!(r.video.video_id, "ladder");
    for kind in ClientKind::ALL {
        let (q, _) = play(&scarce, "ladder", kind, 8.0).await;
        assert!(q.ended && q.failovers == 0, "{kind:?}: {q:?}");
        let quality = q.quality.expect("scored");
        eprintln!(
            "scarce, {kind:?}: {quality:?}, stall {} ms",
            q.playback.rebuffer_time_ms
        );
        assert!(
            quality.played_bitrate_kbps < 0.6 * top_kbps,
            "{kind:?} adapts down: {quality:?}"
        );
    }

    // A ladder that does not hold together is refused, and a rung in use
    // stays.
    let http = ample.http();
    let post = |m: vstack::cluster::wire::VideoManifest| {
        http.post(format!("{}/videos", ample.metadata_url()))
            .json(&m)
            .send()
    };
    let mut bad = m.clone();
    bad.ladder[0].video_id = "nope".into();
    let resp = post(bad).await.unwrap();
    assert_eq!(resp.status(), 400);
    let error = resp.json::<ErrorBody>().await.unwrap().error;
    assert!(error.contains("nope"), "{error}");
    let mut bad = m.clone();
    bad.ladder.pop();
    assert_eq!(post(bad).await.unwrap().status(), 400);
    let resp = http
        .delete(format!("{}/videos/ladder-r0", ample.metadata_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 409, "a rung in use stays");
    assert!(ample.metadata().video("ladder-r0").is_ok());
}
