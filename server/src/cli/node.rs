//! `vstack node`: one storage node with its network emulator, registered with
//! a metadata service and sending heartbeats.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use clap::Args;
use vstack_core::conditions::Conditions;

use super::BadInput;
use crate::{
    cluster::{
        emulator::Emulator,
        storage::{StorageConfig, StorageNode, register_and_heartbeat},
    },
    files,
};

/// Options of `vstack node`.
#[derive(Debug, Clone, Args)]
pub struct NodeArgs {
    /// Metadata service to register with.
    #[arg(
        long,
        env = "METADATA_SERVICE_URL",
        default_value = crate::cluster::metadata::DEFAULT_URL
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
    /// The cluster token (or a file holding it).
    #[command(flatten)]
    pub token: super::ClusterTokenArgs,
    /// HTTPS for this node (`--tls-cert`, `--tls-key`).
    #[command(flatten)]
    pub tls: super::TlsArgs,
    /// A host name this node answers to (repeatable) besides IP literals,
    /// `localhost` and its `--public-url` host; others get 421
    /// (DNS-rebinding guard).
    #[arg(long = "allow-host")]
    pub allow_hosts: Vec<String>,
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
    #[arg(long, default_value_t = 1.0, value_parser = super::parse_speed)]
    pub speed: f64,
    /// Heartbeat period, seconds.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub heartbeat_s: u64,
}

/// Runs `vstack node` until stopped.
///
/// # Errors
/// [`BadInput`] for bad flags; others when the port or directory is unusable.
pub async fn run(args: NodeArgs) -> anyhow::Result<()> {
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
        let trace = files::trace_file(t).map_err(|e| BadInput(e.to_string()))?;
        emulator.set_trace(Some(Arc::new(trace)));
    }
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("vstack-data").join(&node_id));
    let cluster_token = args.token.required().await?;
    let tls = args.tls.acceptor()?;
    let node = Arc::new(
        StorageNode::open(
            StorageConfig {
                max_chunk_bytes: args.max_chunk_mib << 20,
                cluster_token,
                transport: args.token.transport().await?,
                allowed_hosts: {
                    let list = crate::http::host::HostAllowList::new(args.allow_hosts.clone());
                    match &args.public_url {
                        Some(u) => list.with_url_host(u),
                        None => list,
                    }
                },
                ..StorageConfig::new(node_id.clone(), data_dir)
            },
            emulator,
        )
        .map_err(|e| BadInput(e.to_string()))?,
    );
    let listener = super::bind(args.addr).await?;
    let local = listener.local_addr()?;
    let public = args.public_url.clone().unwrap_or_else(|| {
        let scheme = if tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{local}")
    });
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
    let r = crate::http::serve_tls(
        listener,
        crate::cluster::storage::router(node),
        crate::http::ServeLimits::default(),
        tls,
        super::shutdown_signal(),
    )
    .await
    .context("storage node");
    hb.abort();
    r
}
