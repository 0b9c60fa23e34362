//! The `vstack` command line: one file per command, each a thin front end
//! (its clap options, a `run` that calls the library and prints), and here the
//! [`Cli`] and [`Command`] types, the shared value parsers and the dispatch.
//!
//! Every flag has a default, stated in its help text; `vstack --help` and
//! `vstack <command> --help` list them. Environment variables named in the help
//! override the defaults and are overridden by flags. Commands never import
//! each other: what two of them share lives in the library.

pub mod bench;
pub mod chaos;
pub mod cluster;
pub mod compare;
pub mod demo;
pub mod ingest;
pub mod media;
pub mod metadata;
pub mod node;
pub mod play;
pub mod serve;
pub mod sim;
pub mod steer;

use std::net::SocketAddr;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// A number in `range` (finite), or the message `"{what} must be in
/// [lo, hi]{unit}, got v"`: the shared body of the CLI's `f64` value
/// parsers (a bad value is a usage error, exit code 2).
pub fn parse_f64_in(
    s: &str,
    range: std::ops::RangeInclusive<f64>,
    what: &str,
    unit: &str,
) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("not a number: {s}"))?;
    if v.is_finite() && range.contains(&v) {
        Ok(v)
    } else {
        Err(format!(
            "{what} must be in [{}, {}]{unit}, got {v}",
            range.start(),
            range.end()
        ))
    }
}

/// Value parser of every `--speed` flag: a time compression factor in
/// [1, 1000] (a bad value is a usage error, exit code 2).
pub fn parse_speed(s: &str) -> Result<f64, String> {
    parse_f64_in(s, 1.0..=1000.0, "speed", "")
}

/// Value parser of the repair cap flag: a number in [0.01, 100000] Mbit/s.
pub fn parse_repair_cap_mbps(s: &str) -> Result<f64, String> {
    parse_f64_in(s, 0.01..=100_000.0, "repair cap", " Mbit/s")
}

/// Value parser of every `--cluster-token` flag (16–256 visible ASCII
/// characters; a bad value is a usage error, exit code 2).
pub fn parse_cluster_token(s: &str) -> Result<crate::cluster::auth::ClusterToken, String> {
    crate::cluster::auth::ClusterToken::new(s).map_err(|e| e.to_string())
}

/// The cluster token flags every cluster command shares: the token itself
/// or, so it stays out of `ps` and shell history, a file holding it.
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterTokenArgs {
    /// The cluster's shared token, required on every state-changing request
    /// between its processes (16–256 visible ASCII characters, at least 128
    /// bits of entropy; e.g. `openssl rand -hex 32`). Give every process of
    /// the cluster the same one.
    #[arg(long, env = "VSTACK_CLUSTER_TOKEN", hide_env_values = true,
          value_parser = parse_cluster_token, conflicts_with = "cluster_token_file")]
    pub cluster_token: Option<crate::cluster::auth::ClusterToken>,
    /// A file whose first line is the cluster token (instead of
    /// `--cluster-token`).
    #[arg(long, env = "VSTACK_CLUSTER_TOKEN_FILE")]
    pub cluster_token_file: Option<std::path::PathBuf>,
    /// Send the token over plain HTTP to other hosts too. Without it the
    /// token goes only over HTTPS or to loopback, and a state-changing
    /// request to a plain-HTTP node elsewhere fails (401).
    #[arg(long)]
    pub insecure_cluster_http: bool,
    /// A PEM certificate authority the cluster's HTTPS certificates chain
    /// to, besides the platform's trust store (e.g. your own CA).
    #[arg(long, env = "VSTACK_CLUSTER_CA")]
    pub cluster_ca: Option<std::path::PathBuf>,
}

impl ClusterTokenArgs {
    /// The token given, if any.
    ///
    /// # Errors
    /// [`BadInput`] for an unreadable file or a weak token in it.
    pub async fn given(&self) -> Result<Option<crate::cluster::auth::ClusterToken>, BadInput> {
        if let Some(path) = &self.cluster_token_file {
            let secret = crate::http::secret::read_secret_file(path)
                .await
                .map_err(BadInput)?;
            return parse_cluster_token(secret.expose())
                .map(Some)
                .map_err(|e| BadInput(format!("{}: {e}", path.display())));
        }
        Ok(self.cluster_token.clone())
    }

    /// How this process reaches the cluster's others.
    ///
    /// # Errors
    /// [`BadInput`] for an unreadable or non-PEM `--cluster-ca`.
    pub async fn transport(&self) -> Result<crate::cluster::auth::ClusterTransport, BadInput> {
        let ca = match &self.cluster_ca {
            Some(p) => {
                let pem = tokio::fs::read(p)
                    .await
                    .map_err(|e| BadInput(format!("--cluster-ca {}: {e}", p.display())))?;
                Some(reqwest::Certificate::from_pem(&pem).map_err(|e| {
                    BadInput(format!(
                        "--cluster-ca {}: not a PEM certificate ({e})",
                        p.display()
                    ))
                })?)
            }
            None => None,
        };
        Ok(crate::cluster::auth::ClusterTransport {
            insecure_http: self.insecure_cluster_http,
            ca,
        })
    }

    /// The cluster client for `token` ([`ClusterTokenArgs::transport`]).
    ///
    /// # Errors
    /// As [`ClusterTokenArgs::transport`].
    pub async fn client(
        &self,
        token: crate::cluster::auth::ClusterToken,
    ) -> Result<crate::cluster::auth::ClusterClient, BadInput> {
        Ok(crate::cluster::auth::ClusterClient::new(
            token,
            &self.transport().await?,
        ))
    }

    /// The token, which this command needs.
    ///
    /// # Errors
    /// [`BadInput`] when none was given, or as [`ClusterTokenArgs::given`].
    pub async fn required(&self) -> Result<crate::cluster::auth::ClusterToken, BadInput> {
        self.given().await?.ok_or_else(|| {
            BadInput(
                "this command needs the cluster token: pass --cluster-token-file (or --cluster-token, VSTACK_CLUSTER_TOKEN)".into(),
            )
        })
    }
}

/// Options of the replication manager (adaptive redundancy), shared by
/// `vstack metadata`, `vstack cluster` and `vstack serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct RedundancyArgs {
    /// Turn the replication manager off (replication stays as ingested).
    #[arg(long)]
    pub no_adaptive_redundancy: bool,
    /// Base replication factor.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub base_rf: u64,
    /// Most replicas of a hot chunk (default: every live node).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub max_rf: Option<u64>,
    /// Votes for a chunk per popularity window that make it hot: each node
    /// counts one per client that fetched it, summed over nodes.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u64).range(2..=1_000_000))]
    pub hot_gets: u64,
    /// Seconds a node may be down before its replicas stop counting and
    /// repair starts.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub grace_s: u64,
    /// Cap on repair traffic, Mbit/s (0.01 – 100000).
    #[arg(long, default_value_t = 40.0, value_parser = parse_repair_cap_mbps)]
    pub repair_cap_mbps: f64,
    /// Copies in flight at once (HDFS' replication max-streams).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub max_concurrent_repairs: u64,
}

impl RedundancyArgs {
    /// The policy these options give, or `None` when turned off.
    pub fn config(&self) -> Option<vstack_core::redundancy::RedundancyConfig> {
        (!self.no_adaptive_redundancy).then(|| vstack_core::redundancy::RedundancyConfig {
            base_rf: self.base_rf as usize,
            max_rf: self.max_rf.map(|m| (m as usize).max(self.base_rf as usize)),
            hot_gets: self.hot_gets,
            cool_gets: (self.hot_gets / 4).min(self.hot_gets - 1),
            grace_ms: self.grace_s * 1000,
            repair_cap_mbps: self.repair_cap_mbps,
            max_concurrent_repairs: self.max_concurrent_repairs as usize,
            ..vstack_core::redundancy::RedundancyConfig::default()
        })
    }
}

/// Where a CLI tool keeps its run: `--data-dir` and/or `--publish`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RunOutputArgs {
    /// Also store the run in the history database of this data directory
    /// (`<dir>/history.sqlite3`, the one `vstack serve --data-dir <dir>`
    /// serves), so it gets a permalink page there.
    #[arg(long = "data-dir", env = "VSTACK_DATA_DIR")]
    pub data_dir: Option<std::path::PathBuf>,

    /// Also publish the run to a running dashboard server, e.g.
    /// `http://host:8888` (`POST /api/runs`; needs the admin token in public
    /// mode). Prints the run's permalink.
    #[arg(long)]
    pub publish: Option<String>,

    /// The admin token for `--publish` (public mode).
    #[arg(
        long = "publish-token",
        env = "VSTACK_ADMIN_TOKEN",
        hide_env_values = true,
        value_parser = |s: &str| Ok::<_, String>(crate::http::secret::Secret::from(s))
    )]
    pub publish_token: Option<crate::http::secret::Secret>,
}

impl RunOutputArgs {
    /// The library's view of these flags.
    pub fn output(&self) -> crate::runs::RunOutput {
        crate::runs::RunOutput {
            data_dir: self.data_dir.clone(),
            publish: self.publish.clone(),
            publish_token: self.publish_token.clone(),
        }
    }
}

/// HTTPS flags of a cluster server (`vstack node`, `vstack metadata`).
#[derive(Debug, Clone, clap::Args)]
pub struct TlsArgs {
    /// Serve HTTPS with this PEM certificate chain (leaf first); needs
    /// `--tls-key`.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of `--tls-cert`.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
}

impl TlsArgs {
    /// The acceptor, when HTTPS was asked for.
    ///
    /// # Errors
    /// [`BadInput`] for an unusable certificate or key.
    pub fn acceptor(&self) -> Result<Option<tokio_rustls::TlsAcceptor>, BadInput> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(c), Some(k)) => crate::http::tls::acceptor(c, k)
                .map(Some)
                .map_err(|e| BadInput(e.to_string())),
            _ => Ok(None),
        }
    }
}

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
    pub serve: serve::ServeArgs,
}

/// Sub-commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the live dashboard (the default).
    Serve(serve::ServeArgs),
    /// Simulate smart, naive and oracle clients on recorded traces.
    Sim(sim::SimArgs),
    /// Play a video headless with the live client, printing status and QoE.
    Play(play::PlayArgs),
    /// Run the metadata service (node registry and video catalog).
    Metadata(metadata::MetadataArgs),
    /// Run one storage node with its network emulator.
    Node(node::NodeArgs),
    /// Run the embedded cluster (metadata + nodes + test-video-001) as a process.
    Cluster(cluster::ClusterArgs),
    /// Upload an HLS VOD (playlist + segments) into the cluster as a video.
    Ingest(ingest::IngestArgs),
    /// Encode test-video-001's media (a test pattern, once, cached) ahead of `serve`.
    Media(media::MediaArgs),
    /// Smart vs naive on identical conditions (live twin clusters or simulator).
    Compare(compare::CompareArgs),
    /// The seed's demo: normal, degradation, node failure, recovery, chaos, adaptive redundancy.
    Demo(demo::DemoArgs),
    /// Seeded random failures while clients play; checks and reports invariants.
    Chaos(chaos::ChaosArgs),
    /// Measure the seed's benchmark targets; writes benchmark_results.json.
    Bench(bench::BenchArgs),
    /// HLS Content Steering in front of origins vstack does not serve.
    Steer(steer::SteerArgs),
}

/// Runs the command selected on the command line. With no sub-command this is
/// `serve`. Errors are reported by `main` with a non-zero exit code.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    // Logs go to stderr: stdout carries the commands' results (`--json`
    // documents among them), which background tasks logging after the
    // result once corrupted (`vstack demo --json`).
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&cli.log)),
        )
        .init();
    match cli.command.unwrap_or(Command::Serve(cli.serve)) {
        Command::Serve(args) => serve::run(args).await,
        Command::Sim(args) => sim::run(args),
        Command::Play(args) => play::run(args).await,
        Command::Metadata(args) => metadata::run(args).await,
        Command::Node(args) => node::run(args).await,
        Command::Cluster(args) => cluster::run(args).await,
        Command::Ingest(args) => ingest::run(args).await,
        Command::Media(args) => media::run(args).await,
        Command::Compare(args) => compare::run(args).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Chaos(args) => chaos::run(args).await,
        Command::Bench(args) => bench::run(args).await,
        Command::Steer(args) => steer::run(args).await,
    }
}

/// An error caused by the user's input (a bad file, an out-of-range value):
/// `main` reports it and exits with code 2, like a usage error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// Refuses an output file whose directory does not exist, before a long run
/// that would only fail when it writes.
///
/// # Errors
/// [`BadInput`] naming the directory.
fn check_output_dir(path: &std::path::Path) -> Result<(), BadInput> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => Err(BadInput(format!(
            "--output: directory {} does not exist",
            dir.display()
        ))),
        _ => Ok(()),
    }
}

/// Binds a TCP listener, naming the address on failure.
/// Keeps a finished run where `keep` says (`--data-dir`, `--publish`) and
/// says where on stderr.
///
/// # Errors
/// The database or the server refused (the run's results were printed
/// already).
async fn keep_run(keep: &RunOutputArgs, run: vstack_core::wire::RunRecord) -> anyhow::Result<()> {
    for line in keep.output().keep(run).await? {
        eprintln!("{line}");
    }
    Ok(())
}

async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    crate::http::listen(addr).with_context(|| format!("cannot listen on {addr}"))
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
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
        assert_eq!(cli.serve.site_options().site_addr.port(), 9999);
    }

    #[test]
    fn bad_flags_are_usage_errors() {
        let err = Cli::try_parse_from(["vstack", "--addr", "not-an-address"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let err = Cli::try_parse_from(["vstack", "--ws-push-interval-ms", "0"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
