//! Command-line entry points of the cluster: `vstack metadata`, `vstack node`,
//! `vstack cluster` (the embedded cluster as a process) and `vstack ingest`.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use clap::Args;

use super::{
    embedded::{Cluster, ClusterConfig, SyntheticVideo},
    emulator::{Conditions, Emulator, Scenario},
    ingest::{IngestError, ingest},
    metadata::{MetadataConfig, MetadataService},
    storage::{StorageConfig, StorageNode, register_and_heartbeat},
};
use crate::BadInput;

/// Options of `vstack metadata`.
#[derive(Debug, Clone, Args)]
pub struct MetadataArgs {
    /// Address to listen on (the seed's port 8080).
    #[arg(long, env = "VSTACK_METADATA_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// A node without a heartbeat for this many seconds is reported down.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub heartbeat_timeout_s: u64,
}

/// Options of `vstack node`.
#[derive(Debug, Clone, Args)]
pub struct NodeArgs {
    /// Metadata service to register with.
    #[arg(
        long,
        env = "METADATA_SERVICE_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub metadata_url: String,
    /// Node id (1-128 of A-Z a-z 0-9 - _ .). Default: `node-<port>`.
    #[arg(long)]
    pub node_id: Option<String>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub addr: SocketAddr,
    /// URL clients use to reach this node. Default: `http://<addr>`.
    #[arg(long)]
    pub public_url: Option<String>,
    /// Data directory. Default: `./vstack-data/<node id>`.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Upload size limit, MiB.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub max_chunk_mib: u64,
    /// Emulated latency before the first byte, ms.
    #[arg(long, default_value_t = 0.0)]
    pub latency_ms: f64,
    /// Emulated jitter, ± ms.
    #[arg(long, default_value_t = 0.0)]
    pub jitter_ms: f64,
    /// Emulated bandwidth limit, Mbit/s (unshaped when omitted).
    #[arg(long)]
    pub bandwidth_mbps: Option<f64>,
    /// Emulated transfer loss probability in [0, 1].
    #[arg(long, default_value_t = 0.0)]
    pub loss: f64,
    /// Trace file replayed as bandwidth and latency (formats as `vstack sim`).
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// Time compression factor (latency ÷ k, bandwidth × k).
    #[arg(long, default_value_t = 1.0, value_parser = crate::config::parse_speed)]
    pub speed: f64,
    /// Heartbeat period, seconds.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub heartbeat_s: u64,
}

/// Options of `vstack cluster`.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// Storage nodes.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub nodes: u64,
    /// Replicas per chunk.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub replication: u64,
    /// Time compression factor.
    #[arg(long, default_value_t = 1.0, value_parser = crate::config::parse_speed)]
    pub speed: f64,
    /// Data directory (default: a temporary directory removed on exit).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Length of the seeded `test-video-001`, seconds.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(10..=86_400))]
    pub video_duration_s: u64,
    /// Scenario applied at start.
    #[arg(long, value_enum)]
    pub scenario: Option<Scenario>,
    /// Trace files or folders replayed on the nodes' links.
    #[arg(long)]
    pub trace: Vec<PathBuf>,
    /// Play the seed's demo timeline (normal → high latency → low bandwidth →
    /// packet loss → node failure → degraded → recovery) on the nodes.
    #[arg(long, conflicts_with = "scenario")]
    pub demo_timeline: bool,
}

/// Options of `vstack ingest`.
#[derive(Debug, Clone, Args)]
pub struct IngestArgs {
    /// HLS media playlist (`.m3u8`) or a folder holding exactly one.
    pub path: PathBuf,
    /// Metadata service of the cluster.
    #[arg(
        long,
        env = "METADATA_SERVICE_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub metadata_url: String,
    /// Video id. Default: the playlist's folder name for index.m3u8, else its
    /// file name without extension.
    #[arg(long)]
    pub video_id: Option<String>,
    /// Replicas per chunk (capped at the healthy node count).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub replication: u64,
}

async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))
}

/// Runs `vstack metadata` until stopped.
///
/// # Errors
/// When the address cannot be bound.
pub async fn metadata(args: MetadataArgs) -> anyhow::Result<()> {
    let svc = Arc::new(MetadataService::new(MetadataConfig {
        heartbeat_timeout: Duration::from_secs(args.heartbeat_timeout_s),
    }));
    let listener = bind(args.addr).await?;
    tracing::info!("metadata service on http://{}", listener.local_addr()?);
    axum::serve(listener, super::metadata::router(svc))
        .with_graceful_shutdown(crate::shutdown_signal())
        .await
        .context("metadata service")
}

/// Runs `vstack node` until stopped.
///
/// # Errors
/// [`BadInput`] for bad flags; others when the port or directory is unusable.
pub async fn node(args: NodeArgs) -> anyhow::Result<()> {
    let node_id = args
        .node_id
        .clone()
        .unwrap_or_else(|| format!("node-{}", args.addr.port()));
    let base = Conditions {
        latency_ms: args.latency_ms,
        jitter_ms: args.jitter_ms,
        bandwidth_mbps: args.bandwidth_mbps,
        loss: args.loss,
        ..Conditions::default()
    };
    base.validate().map_err(BadInput)?;
    let emulator = Emulator::new(base, args.speed, args.addr.port() as u64);
    if let Some(t) = &args.trace {
        let trace = crate::sim::Trace::from_file(t).map_err(|e| BadInput(e.to_string()))?;
        emulator.set_trace(Some(Arc::new(trace)));
    }
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("vstack-data").join(&node_id));
    let node = Arc::new(
        StorageNode::open(
            StorageConfig {
                max_chunk_bytes: args.max_chunk_mib << 20,
                ..StorageConfig::new(node_id.clone(), data_dir)
            },
            emulator,
        )
        .map_err(|e| BadInput(e.to_string()))?,
    );
    let listener = bind(args.addr).await?;
    let local = listener.local_addr()?;
    let public = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}"));
    tracing::info!(
        "storage node {node_id} on {public} ({} chunks)",
        node.usage().chunk_count
    );
    let hb = tokio::spawn(register_and_heartbeat(
        node.clone(),
        args.metadata_url.clone(),
        public,
        Duration::from_secs(args.heartbeat_s),
    ));
    let r = axum::serve(listener, super::storage::router(node))
        .with_graceful_shutdown(crate::shutdown_signal())
        .await
        .context("storage node");
    hb.abort();
    r
}

/// Runs `vstack cluster`: the embedded cluster as a process, until stopped.
///
/// # Errors
/// [`BadInput`] for bad flags or traces; others when it cannot start.
pub async fn cluster(args: ClusterArgs) -> anyhow::Result<()> {
    let traces = crate::sim::Trace::load_paths(&args.trace).map_err(|e| BadInput(e.to_string()))?;
    let c = Cluster::start(ClusterConfig {
        nodes: args.nodes as usize,
        replication: args.replication as usize,
        speed: args.speed,
        data_dir: args.data_dir.clone(),
        traces,
        video: Some(SyntheticVideo {
            duration: Duration::from_secs(args.video_duration_s),
            ..SyntheticVideo::default()
        }),
        ..ClusterConfig::default()
    })
    .await?;
    if let Some(s) = args.scenario {
        c.apply_scenario(s);
    }
    println!("metadata service: {}", c.metadata_url());
    for n in c.nodes() {
        println!(
            "{}: {} ({:?})",
            n.node_id,
            n.url(),
            n.emulator().conditions()
        );
    }
    println!("video test-video-001 seeded; stop with Ctrl-C");
    let _timeline = args
        .demo_timeline
        .then(|| c.start_demo_timeline(|s| println!("scenario now: {}", s.name())));
    crate::shutdown_signal().await;
    Ok(())
}

/// Runs `vstack ingest`.
///
/// # Errors
/// [`BadInput`] for a bad playlist (nothing uploaded); others for cluster
/// failures (partial uploads removed).
pub async fn ingest_cmd(args: IngestArgs) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    match ingest(
        &http,
        &args.metadata_url,
        &args.path,
        args.video_id.as_deref(),
        args.replication as usize,
    )
    .await
    {
        Ok(r) => {
            println!(
                "ingested {}: {} chunks, {:.1} s, {:.1} MB, replication {} over {} in {:.0} ms",
                r.video.video_id,
                r.video.chunk_count,
                r.video.duration_ms as f64 / 1e3,
                r.video.size_bytes as f64 / 1e6,
                r.replication,
                r.nodes.join(", "),
                r.upload_ms
            );
            let c = &r.consensus;
            println!(
                "ChunkPaxos: {} chunk records committed, {} on the fast path, {} won by another uploader; {} messages ({:.1} per chunk)",
                c.chunks,
                c.fast,
                c.lost,
                c.messages,
                c.messages as f64 / c.chunks.max(1) as f64
            );
            Ok(())
        }
        Err(e @ IngestError::Cluster(_)) => Err(e.into()),
        Err(e) => Err(BadInput(e.to_string()).into()),
    }
}
