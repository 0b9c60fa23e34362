//! The `vstack` command line.
//!
//! Every flag has a default, stated in its help text; `vstack --help` and
//! `vstack <command> --help` list them. Environment variables named in the help
//! override the defaults and are overridden by flags.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};
use leptos::config::LeptosOptions;

use crate::live::LiveConfig;

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
