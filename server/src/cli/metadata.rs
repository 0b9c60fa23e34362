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
}

/// Runs `vstack metadata` until stopped.
///
/// # Errors
/// When the address cannot be bound.
pub async fn run(args: MetadataArgs) -> anyhow::Result<()> {
    let svc = Arc::new(MetadataService::new(MetadataConfig {
        heartbeat_timeout: Duration::from_secs(args.heartbeat_timeout_s),
    }));
    let listener = super::bind(args.addr).await?;
    tracing::info!("metadata service on http://{}", listener.local_addr()?);
    axum::serve(listener, crate::cluster::metadata::router(svc))
        .with_graceful_shutdown(super::shutdown_signal())
        .await
        .context("metadata service")
}
