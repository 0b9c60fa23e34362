//! vstack's server side: the axum server that hosts the dashboard and the live
//! engine, the storage cluster, the live client and the command-line tools.
//! The decisions are made in the pure core (`vstack_core`); this crate gives
//! them a clock, sockets and files.
//!
//! - [`cli`]: the command line (`vstack --help`), one file per command.
//! - [`web`]: [`web::app`] builds the whole axum [`axum::Router`] (pages,
//!   server functions, `/ws`, REST, `/healthz`, static files) from a
//!   [`web::AppState`], so tests can call routes without binding a port.
//! - [`hub`]: the engine host the dashboard shows: twin clusters, the smart
//!   and naive client loops, the metrics collector, the controls.
//! - [`client`]: the live client: the core's session driven by tokio over HTTP.
//! - [`cluster`]: the storage cluster (metadata service, storage nodes with
//!   their network emulator, durable ChunkPaxos acceptors, the embedded
//!   cluster, HLS ingest).
//! - [`runs`]: a finished run as a record (tables, charts, the report), kept
//!   in the history or published to a server; the saved comparison file.
//! - [`demo`]: the seed's demo phases on live clusters, one loop for the
//!   command and the dashboard, and the command's own twin testbeds.
//! - [`tools`]: what `vstack compare`, `bench` and `chaos` run.
//! - [`steer`]: `vstack steer`, HLS Content Steering in front of origins
//!   vstack does not serve (probes, steered playlist, steering manifest).
//! - [`history`]: durable history in SQLite: metrics samples (downsampled,
//!   7-day retention), finished sessions, alerts and runs.
//! - [`http`]: the HTTP plumbing every server shares (JSON errors, ids, hashes).
//! - [`files`]: reading the input files (traces, video sizes).
//! - [`sync`]: locks that survive a panic elsewhere.

pub mod cli;
pub mod client;
pub mod cluster;
pub mod demo;
pub mod files;
pub mod history;
pub mod http;
pub mod hub;
pub mod runs;
pub mod steer;
pub mod sync;
pub mod tools;
pub mod web;
