//! `vstack cluster`: the embedded cluster (metadata service, storage nodes,
//! `test-video-001`) as a process, optionally on the seed's demo timeline.

use std::{path::PathBuf, time::Duration};

use clap::Args;
use vstack_core::conditions::Scenario;

use super::BadInput;
use crate::{
    cluster::embedded::{Cluster, ClusterConfig, SyntheticVideo},
    files,
};

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
    #[arg(long, default_value_t = 1.0, value_parser = super::parse_speed)]
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
    /// The cluster token (or a file holding it).
    #[command(flatten)]
    pub token: super::ClusterTokenArgs,
    /// Adaptive redundancy: the replication manager's policy.
    #[command(flatten)]
    pub redundancy: super::RedundancyArgs,
}

/// Runs `vstack cluster`: the embedded cluster as a process, until stopped.
///
/// # Errors
/// [`BadInput`] for bad flags or traces; others when it cannot start.
pub async fn run(args: ClusterArgs) -> anyhow::Result<()> {
    let traces = files::trace_paths(&args.trace).map_err(|e| BadInput(e.to_string()))?;
    let given = args.token.given().await?;
    let token_given = given.is_some();
    let cluster_token = given.unwrap_or_default();
    let c = Cluster::start(ClusterConfig {
        cluster_token: cluster_token.clone(),
        nodes: args.nodes as usize,
        replication: args.replication as usize,
        speed: args.speed,
        data_dir: args.data_dir.clone(),
        traces,
        video: Some(SyntheticVideo {
            duration: Duration::from_secs(args.video_duration_s),
            ..SyntheticVideo::default()
        }),
        redundancy: args.redundancy.config(),
        ..ClusterConfig::default()
    })
    .await?;
    if let Some(s) = args.scenario {
        c.apply_scenario(s);
    }
    println!("metadata service: {}", c.metadata_url());
    if !token_given {
        // Printed once, on purpose: ingest and other writers need it.
        println!(
            "cluster token (VSTACK_CLUSTER_TOKEN for vstack ingest): {}",
            cluster_token.expose()
        );
    }
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
    super::shutdown_signal().await;
    Ok(())
}
