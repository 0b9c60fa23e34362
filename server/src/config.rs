//! The `vstack` command line.
//!
//! Every flag has a default, stated in its help text; `vstack --help` and
//! `vstack <command> --help` list them. Environment variables named in the help
//! override the defaults and are overridden by flags.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};
use leptos::config::LeptosOptions;

use crate::live::LiveConfig;

/// Value parser of every `--speed` flag: a time compression factor in
/// [1, 1000] (a bad value is a usage error, exit code 2).
pub fn parse_speed(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("not a number: {s}"))?;
    if v.is_finite() && (1.0..=1000.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("speed must be in [1, 1000], got {v}"))
    }
}

/// Default dashboard address: the original V-Stack dashboard's port (seed 000).
pub const DEFAULT_ADDR: &str = "127.0.0.1:8888";

/// vstack: V-Stack's smart streaming client, storage cluster and live dashboard.
#[derive(Debug, Parser)]
#[command(name = "vstack", version, about, long_about = None)]
pub struct Cli {
    /// Log filter (tracing `EnvFilter` syntax), overridden by `RUST_LOG`.
    #[arg(long, global = true, default_value = "info,leptos=warn")]
    pub log: String,

    /// What to run; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Options of `serve`, also accepted without the sub-command.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Sub-commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the live dashboard (the default).
    Serve(ServeArgs),
    /// Simulate smart, naive and oracle clients on recorded traces.
    Sim(crate::sim::cli::SimArgs),
    /// Play a video headless with the live client, printing status and QoE.
    Play(crate::client::play::PlayArgs),
    /// Run the metadata service (node registry and video catalog).
    Metadata(crate::cluster::cli::MetadataArgs),
    /// Run one storage node with its network emulator.
    Node(crate::cluster::cli::NodeArgs),
    /// Run the embedded cluster (metadata + nodes + test-video-001) as a process.
    Cluster(crate::cluster::cli::ClusterArgs),
    /// Upload an HLS VOD (playlist + segments) into the cluster as a video.
    Ingest(crate::cluster::cli::IngestArgs),
    /// Smart vs naive on identical conditions (live twin clusters or simulator).
    Compare(crate::compare::CompareArgs),
    /// The seed's demo: normal, degradation, node failure, recovery, chaos.
    Demo(crate::demo::DemoArgs),
    /// Seeded random failures while clients play; checks and reports invariants.
    Chaos(crate::chaos::ChaosArgs),
    /// Measure the seed's benchmark targets; writes benchmark_results.json.
    Bench(crate::bench::BenchArgs),
}

/// Options of `vstack serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on. Default: `LEPTOS_SITE_ADDR` (set by cargo-leptos
    /// from Cargo.toml) or 127.0.0.1:8888.
    #[arg(long, env = "VSTACK_ADDR")]
    pub addr: Option<SocketAddr>,

    /// Folder with the built site (`pkg/` and static assets). Default:
    /// `LEPTOS_SITE_ROOT` or `target/site`.
    #[arg(long, env = "VSTACK_SITE_ROOT")]
    pub site_root: Option<PathBuf>,

    /// Interval between two heartbeat frames on `/ws`, in milliseconds.
    #[arg(long, env = "VSTACK_WS_PUSH_INTERVAL_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub ws_push_interval_ms: u64,

    /// Metrics collector period, milliseconds.
    #[arg(long, env = "VSTACK_METRICS_INTERVAL_MS", default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub metrics_interval_ms: u64,

    /// Metrics samples kept (history length).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(2..=100_000))]
    pub history: u64,

    /// Time compression factor k ≥ 1 of the embedded clusters and the clients
    /// (latency ÷ k, bandwidth × k, playback × k).
    #[arg(long, env = "VSTACK_SPEED", default_value_t = 1.0, value_parser = parse_speed)]
    pub speed: f64,

    /// An HLS VOD (media playlist or a folder holding one, e.g. from `ffmpeg -f
    /// hls -hls_time 10`) to ingest into the embedded cluster and play instead
    /// of the synthetic test-video-001.
    #[arg(long)]
    pub video: Option<PathBuf>,

    /// Trace files or folders (formats of `vstack sim`) replayed on the
    /// embedded nodes' links, trace i on node i mod count.
    #[arg(long)]
    pub trace: Vec<PathBuf>,

    /// Play from a running cluster (its metadata service) instead of the
    /// embedded one; both clients then share it and cluster controls are off.
    #[arg(long, env = "METADATA_SERVICE_URL")]
    pub metadata_url: Option<String>,

    /// Length of the synthetic test-video-001, seconds.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(10..=86_400))]
    pub video_duration_s: u64,

    /// Data directory of the embedded cluster (reused across restarts; chunks
    /// already there are kept). Default: a temporary directory removed on exit.
    #[arg(long, env = "VSTACK_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Serve the dashboard shell without the engine (no clusters, no clients).
    #[arg(long)]
    pub no_engine: bool,

    /// The `vstack compare` result file the Smart vs Naive tab shows (read on
    /// every request, so a new run shows up on reload).
    #[arg(
        long,
        env = "VSTACK_COMPARE_RESULTS",
        default_value = "compare_results.json"
    )]
    pub compare_results: PathBuf,
}

impl ServeArgs {
    /// Leptos options: cargo-leptos's environment when present (so `cargo leptos
    /// watch` hot reload works), otherwise vstack's defaults; flags override both.
    pub fn leptos_options(&self) -> LeptosOptions {
        let mut options = leptos::config::get_configuration(None)
            .map(|c| c.leptos_options)
            .unwrap_or_else(|_| {
                LeptosOptions::builder()
                    .output_name("vstack")
                    .site_root("target/site")
                    .site_pkg_dir("pkg")
                    .site_addr(DEFAULT_ADDR.parse::<SocketAddr>().expect("valid default"))
                    .build()
            });
        if let Some(addr) = self.addr {
            options.site_addr = addr;
        }
        if let Some(root) = &self.site_root {
            options.site_root = root.to_string_lossy().as_ref().into();
        }
        options
    }

    /// Settings of the engine host.
    ///
    /// # Errors
    /// A message for an unreadable trace.
    pub fn hub_config(&self) -> Result<crate::dashboard::HubConfig, String> {
        use crate::cluster::embedded::{ClusterConfig, SyntheticVideo};
        let traces = crate::sim::Trace::load_paths(&self.trace).map_err(|e| e.to_string())?;
        Ok(crate::dashboard::HubConfig {
            metrics_interval: Duration::from_millis(self.metrics_interval_ms),
            history: self.history as usize,
            speed: self.speed,
            cluster: ClusterConfig {
                traces,
                data_dir: self.data_dir.clone(),
                video: Some(SyntheticVideo {
                    duration: Duration::from_secs(self.video_duration_s),
                    ..SyntheticVideo::default()
                }),
                ..ClusterConfig::default()
            },
            video: self.video.clone(),
            metadata_url: self.metadata_url.clone(),
            ..crate::dashboard::HubConfig::default()
        })
    }

    /// Settings of the live `/ws` stream.
    pub fn live_config(&self) -> LiveConfig {
        LiveConfig {
            push_interval: Duration::from_millis(self.ws_push_interval_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_is_the_default_and_flags_parse() {
        let cli = Cli::try_parse_from(["vstack", "--addr", "127.0.0.1:9999"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.serve.leptos_options().site_addr.port(), 9999);
    }

    #[test]
    fn bad_flags_are_usage_errors() {
        let err = Cli::try_parse_from(["vstack", "--addr", "not-an-address"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let err = Cli::try_parse_from(["vstack", "--ws-push-interval-ms", "0"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
