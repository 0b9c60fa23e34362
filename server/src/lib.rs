//! vstack's server side: the axum web server that hosts the dashboard, and (as it
//! grows) the client engine, the storage cluster and the command-line tools.
//!
//! - [`config`]: the command line (`vstack --help`), built on clap.
//! - [`web`]: [`web::app`] builds the whole axum [`axum::Router`] (pages, server
//!   functions, `/ws`, `/healthz`, static files) from an [`web::AppState`], so
//!   tests can call routes without binding a port; [`serve`] binds and runs it.
//! - [`engine`]: the sans-IO smart client (monitor, scheduler, buffer).
//! - [`sim`]: the deterministic trace-driven simulator and `vstack sim`.
//! - [`cluster`]: the storage cluster (metadata service, storage nodes, network
//!   emulator, embedded cluster, HLS ingest) and its sub-commands.
//! - [`client`]: the live client (the engine over tokio + HTTP) and `vstack play`.
//! - [`dashboard`], [`rest`]: the engine host behind the dashboard and its REST API.
//! - [`consensus`]: ChunkPaxos, per-chunk consensus among storage nodes.
//! - [`compare`]: `vstack compare`, smart vs naive on identical conditions.
//! - [`demo`]: `vstack demo`, the seed's scenarios in sequence with narration.
//! - [`bench`]: `vstack bench`, the seed's benchmark targets measured in one run.
//! - [`chaos`]: `vstack chaos`, seeded failure injection with invariant checks.
//! - [`live`]: the server's own live figures (uptime, connected dashboards,
//!   process memory, timer lag) pushed to dashboards over `/ws`.

pub mod bench;
pub mod chaos;
pub mod client;
pub mod cluster;
pub mod compare;
pub mod config;
pub mod consensus;
pub mod dashboard;
pub mod demo;
pub mod engine;
pub mod live;
pub mod rest;
pub mod sim;
pub mod web;

use std::net::SocketAddr;

use anyhow::Context;
use tracing_subscriber::EnvFilter;

use config::{Cli, Command, ServeArgs};

/// Runs the command selected on the command line. With no sub-command this is
/// `serve`. Errors are reported by `main` with a non-zero exit code.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&cli.log)),
        )
        .init();
    match cli.command.unwrap_or(Command::Serve(cli.serve)) {
        Command::Serve(args) => serve(args).await,
        Command::Sim(args) => sim::cli::run(args),
        Command::Play(args) => client::play::run(args).await,
        Command::Metadata(args) => cluster::cli::metadata(args).await,
        Command::Node(args) => cluster::cli::node(args).await,
        Command::Cluster(args) => cluster::cli::cluster(args).await,
        Command::Ingest(args) => cluster::cli::ingest_cmd(args).await,
        Command::Compare(args) => compare::run(args).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Chaos(args) => chaos::run(args).await,
        Command::Bench(args) => bench::run(args).await,
    }
}

/// An error caused by the user's input (a bad file, an out-of-range value):
/// `main` reports it and exits with code 2, like a usage error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// Serves the dashboard until the process is stopped (Ctrl-C / SIGTERM).
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let options = args.leptos_options();
    let addr: SocketAddr = options.site_addr;
    let mut state = web::AppState::new(options, args.live_config())
        .with_compare_results(args.compare_results.clone());
    if !args.no_engine {
        let config = args.hub_config().map_err(BadInput)?;
        tracing::info!("starting the engine: embedded clusters and the smart and naive clients");
        let hub = dashboard::Hub::start(config).await.map_err(|e| match e {
            dashboard::HubError::Ingest(e) if e.is_bad_input() => BadInput(e.to_string()).into(),
            dashboard::HubError::Client(e @ client::ClientError::Metadata { status: 404, .. }) => {
                BadInput(e.to_string()).into()
            }
            e => anyhow::Error::from(e),
        })?;
        state = state.with_hub(hub);
    }
    let router = web::app(state);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!("vstack dashboard on http://{}", listener.local_addr()?);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("server error")
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
