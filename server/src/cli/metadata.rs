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
    #[arg(long, env = "VSTACK_METADATA_ADDR", default_value = crate::cluster::metadata::DEFAULT_ADDR)]
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
    /// The cluster token (or a file holding it).
    #[command(flatten)]
    pub token: super::ClusterTokenArgs,
    /// A host name this service answers to (repeatable); IP literals and
    /// `localhost` always are, other names get 421 (DNS-rebinding guard).
    #[arg(long = "allow-host")]
    pub allow_hosts: Vec<String>,
    /// HTTPS for this service (`--tls-cert`, `--tls-key`).
    #[command(flatten)]
    pub tls: super::TlsArgs,
    /// Hosts nodes may register URLs on (comma-separated names, addresses
    /// or CIDR blocks), besides loopback and each node's own address.
    /// Default: this service's own network (its bound address's /24, or
    /// /64 for IPv6; nothing more when bound to loopback or 0.0.0.0).
    #[arg(long, value_delimiter = ',')]
    pub node_hosts: Vec<String>,
    /// Adaptive redundancy: the replication manager's policy.
    #[command(flatten)]
    pub redundancy: super::RedundancyArgs,
}

/// `--node-hosts`, or by default the bound address's network.
fn node_hosts(args: &MetadataArgs) -> Vec<String> {
    if !args.node_hosts.is_empty() {
        return args.node_hosts.clone();
    }
    let ip = args.addr.ip();
    if ip.is_loopback() || ip.is_unspecified() {
        return Vec::new();
    }
    match ip {
        std::net::IpAddr::V4(v4) => {
            let o = v4.octets();
            vec![format!("{}.{}.{}.0/24", o[0], o[1], o[2])]
        }
        std::net::IpAddr::V6(v6) => {
            let net = u128::from(v6) & !((1u128 << 64) - 1);
            vec![format!("{}/64", std::net::Ipv6Addr::from(net))]
        }
    }
}

/// Runs `vstack metadata` until stopped.
///
/// # Errors
/// When the address cannot be bound.
pub async fn run(args: MetadataArgs) -> anyhow::Result<()> {
    let cluster_token = args.token.required().await?;
    let tls = args.tls.acceptor()?;
    let svc = Arc::new(
        MetadataService::open(MetadataConfig {
            heartbeat_timeout: Duration::from_secs(args.heartbeat_timeout_s),
            cluster_token: cluster_token.clone(),
            data_dir: Some(args.data_dir.clone()),
            allowed_hosts: crate::http::host::HostAllowList::new(args.allow_hosts.clone()),
            node_hosts: node_hosts(&args),
            transport: args.token.transport().await?,
        })
        .await
        .with_context(|| format!("opening the catalog in {}", args.data_dir.display()))?,
    );
    let _manager = match args.redundancy.config() {
        Some(cfg) => Some(
            crate::cluster::replication::spawn(
                svc.clone(),
                cfg,
                args.token.client(cluster_token.clone()).await?,
            )
            .map_err(|e| anyhow::anyhow!("adaptive redundancy: {e}"))?,
        ),
        None => None,
    };
    let listener = super::bind(args.addr).await?;
    tracing::info!(
        "metadata service on {}://{} ({} videos in {})",
        if tls.is_some() { "https" } else { "http" },
        listener.local_addr()?,
        svc.videos().len(),
        args.data_dir.display()
    );
    crate::http::serve_tls(
        listener,
        crate::cluster::metadata::router(svc),
        crate::http::ServeLimits::default(),
        tls,
        super::shutdown_signal(),
    )
    .await
    .context("metadata service")
}
