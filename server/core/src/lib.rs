//! vstack's pure core: everything that decides, and nothing that waits.
//!
//! The crate has no async runtime, no sockets, no clock and no files. Its
//! state machines take `now` and events and return actions (the quinn-proto
//! shape), so the live driver (tokio + HTTP, in the `server` crate) and the
//! simulator here (a virtual clock over recorded traces) run the very same
//! code, and so does the dashboard's WASM build for the data it shows.
//!
//! - [`engine`]: the smart streaming client, sans-IO (seed `002_*`): network
//!   monitor, buffer manager, chunk scheduler, the smart and naive node
//!   selectors, and [`engine::ClientSnapshot`], what a client publishes.
//! - [`input`]: recorded bandwidth traces and video descriptions (chunk
//!   sizes), parsed from text: the inputs of both the simulator and the
//!   live emulator.
//! - [`abr`]: adaptive bitrate: which rendition of the next segment to
//!   fetch (BOLA, BOLA-E, the throughput rule, dynamic, fixed), as Sabre
//!   implements them.
//! - [`sim`]: the trace-driven simulator: simulated links, experiments and
//!   their summaries, and Sabre's single-source model ([`sim::sabre`]).
//! - [`consensus`]: ChunkPaxos, one sans-IO Paxos instance per chunk, and its
//!   recorded virtual-clock runs.
//! - [`demo`]: the seed's demonstration phases and the figures and findings
//!   measured over them.
//! - [`conditions`]: network conditions as data: the emulator's
//!   [`conditions::Conditions`], the seed's named scenarios, the fault
//!   catalogue.
//! - [`compare`]: smart vs naive over paired sessions, as `vstack compare`
//!   reports it.
//! - [`redundancy`]: adaptive redundancy's policy (target replication per
//!   chunk from popularity and node health, the repair/trim plan), its
//!   throttle and popularity window, and the `/replication` report.
//! - [`anomaly`]: online anomaly detection (robust z-score over a sliding
//!   window) and alert rules with hysteresis over the live series.
//! - [`wire`]: the JSON the server, the command line and the browser share
//!   (WebSocket frames, controls, history points, run records) and the
//!   labels all three print.
//! - [`hls`]: HLS playlists for what the cluster stores and HLS Content
//!   Steering (pathway ranking from the smart monitor's scores, the steering
//!   manifest), for the players most sites ship.
//! - [`stats`]: mean, standard deviation, percentiles, improvement in %.
//!
//! Feature `clap` (off by default) derives `clap::ValueEnum` on the enums the
//! command line takes.

pub mod abr;
pub mod anomaly;
pub mod compare;
pub mod conditions;
pub mod consensus;
pub mod demo;
pub mod engine;
pub mod hls;
pub mod input;
pub mod redundancy;
pub mod sim;
pub mod stats;
pub mod wire;
