//! `vstack metadata`: the metadata service (node registry and video catalog)
//! alone, for a cluster of separate processes.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use clap::Args;

use crate::cluster::metadata::{MetadataConfig, MetadataService};

/// Options of `vstack metadata`.
#[derive(Debug, Clone, Args)]
pub struct MetadataArgs {
    /// Address to listen on (the seed's port 8080).
    #[arg(long, env = "VSTACK_METADATA_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// A node without a heartbeat for this many seconds is reported down.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub heartbeat_timeout_s: u64,
    /// Where the registry and catalog are kept (SQLite, created on first
    /// start); a restart keeps every node and video.
    #[arg(
        long,
        env = "VSTACK_METADATA_DATA_DIR",
        default_value = "vstack-data/metadata"
    )]
    pub data_dir: std::path::PathBuf,
    /// The cluster's shared token, required on every state-changing request
    /// between its processes (16–256 visible ASCII characters; e.g. `openssl
    /// rand -hex 32`). Give every process of the cluster the same one.
    #[arg(long, env = "VSTACK_CLUSTER_TOKEN", hide_env_values = true,
          value_parser = super::parse_cluster_token)]
    pub cluster_token: crate::cluster::auth::ClusterToken,
}

/// Runs `vstack metadata` until stopped.
///
/// # Errors
/// When the address cannot be bound.
pub async fn run(args: MetadataArgs) -> anyhow::Result<()> {
    let svc = Arc::new(
        MetadataService::open(MetadataConfig {
            heartbeat_timeout: Duration::from_secs(args.heartbeat_timeout_s),
            cluster_token: args.cluster_token.clone(),
            data_dir: Some(args.data_dir.clone()),
        })
        .await
        .with_context(|| format!("opening the catalog in {}", args.data_dir.display()))?,
    );
    let listener = super::bind(args.addr).await?;
    tracing::info!(
        "metadata service on http://{} ({} videos in {})",
        listener.local_addr()?,
        svc.videos().len(),
        args.data_dir.display()
    );
    crate::http::serve(
        listener,
        crate::cluster::metadata::router(svc),
        crate::http::ServeLimits::default(),
        super::shutdown_signal(),
    )
    .await
    .context("metadata service")
}
