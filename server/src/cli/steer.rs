//! `vstack steer`: HLS Content Steering in front of origins vstack does not
//! serve (see the library's `steer` module): flags, then the server until
//! Ctrl-C.

use std::{net::SocketAddr, time::Duration};

use clap::Args;

use crate::steer::{Pathway, Steer, SteerConfig};

/// Options of `vstack steer`.
#[derive(Debug, Clone, Args)]
pub struct SteerArgs {
    /// An origin as a pathway: `ID=URL` of its multivariant playlist
    /// (repeat 2–16 times; the first is the primary). Every origin must hold
    /// the same renditions under the same relative paths.
    #[arg(long = "pathway", required = true)]
    pub pathways: Vec<Pathway>,
    /// Address to listen on.
    #[arg(long, env = "VSTACK_STEER_ADDR", default_value = "127.0.0.1:8890")]
    pub addr: SocketAddr,
    /// `TTL` of the steering manifest, seconds (1–300): how often players
    /// reload it.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub ttl_s: u64,
    /// Seconds between two probes of each origin (1–60).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub probe_interval_s: u64,
    /// Bytes each probe asks an origin for (4096–4194304), a `Range`
    /// request on the lowest variant's first media file.
    #[arg(long, default_value_t = 65_536, value_parser = clap::value_parser!(u64).range(4096..=4_194_304))]
    pub probe_bytes: u64,
    /// Timeout of every request to an origin, milliseconds (100–60000).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub request_timeout_ms: u64,
}

/// Runs `vstack steer` until Ctrl-C or SIGTERM.
///
/// # Errors
/// [`super::BadInput`] for a bad set of pathways (too few, too many, an id
/// twice); the address cannot be bound.
pub async fn run(args: SteerArgs) -> anyhow::Result<()> {
    let mut config = SteerConfig::new(args.pathways);
    config.ttl = Duration::from_secs(args.ttl_s);
    config.probe_interval = Duration::from_secs(args.probe_interval_s);
    config.probe_bytes = args.probe_bytes;
    config.request_timeout = Duration::from_millis(args.request_timeout_ms);
    let steer = Steer::new(config).map_err(|e| super::BadInput(format!("--pathway: {e}")))?;
    let probes = steer.spawn_probes();
    let listener = super::bind(args.addr).await?;
    let addr = listener.local_addr()?;
    eprintln!(
        "steering {} pathways: the players' playlist is http://{addr}/master.m3u8 (scores at /pathways)",
        steer.config().pathways.len()
    );
    let served = crate::http::serve(
        listener,
        crate::steer::app(steer),
        crate::http::ServeLimits::default(),
        super::shutdown_signal(),
    )
    .await;
    probes.abort();
    served.map_err(|e| anyhow::anyhow!("steering server: {e}"))
}
