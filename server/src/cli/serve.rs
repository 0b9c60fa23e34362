//! `vstack serve` (the default command): the dashboard over the live engine.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::Context;
use clap::Args;

use super::{BadInput, parse_speed};
use crate::{
    client, files,
    hub::{self, HubConfig},
    web::{self, ServerStatsConfig},
};

/// Default dashboard address: the original V-Stack dashboard's port (seed 000).
pub const DEFAULT_ADDR: &str = "127.0.0.1:8888";

/// Default address of the Prometheus metrics listener: loopback, so only the
/// machine's own Prometheus (or a tunnel) reads it.
pub const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9898";

/// Options of `vstack serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on. Default: `LEPTOS_SITE_ADDR` (set by cargo-leptos
    /// from Cargo.toml) or 127.0.0.1:8888; with `--public`, 0.0.0.0:8888.
    #[arg(long, env = "VSTACK_ADDR")]
    pub addr: Option<SocketAddr>,

    /// Address of the Prometheus metrics listener (`GET /metrics`). It stays
    /// on loopback unless told otherwise, in public mode too: the series are
    /// for the operator's Prometheus, not for viewers.
    #[arg(long, env = "VSTACK_METRICS_ADDR", default_value = DEFAULT_METRICS_ADDR)]
    pub metrics_addr: SocketAddr,

    /// Do not open the Prometheus metrics listener.
    #[arg(long)]
    pub no_metrics: bool,

    /// Public mode: anyone may watch, only the admin changes anything (every
    /// control answers 401 to viewers).
    #[arg(long, env = "VSTACK_PUBLIC")]
    pub public: bool,

    /// The admin token of public mode (at least 128 bits of entropy, e.g.
    /// `openssl rand -hex 16`). Default: a random one, printed once at start.
    #[arg(long, env = "VSTACK_ADMIN_TOKEN", hide_env_values = true,
          value_parser = |s: &str| Ok::<_, String>(crate::http::secret::Secret::from(s)),
          conflicts_with = "admin_token_file")]
    pub admin_token: Option<crate::http::secret::Secret>,

    /// A file whose first line is the admin token (instead of
    /// `--admin-token`, so it stays out of `ps` and shell history).
    #[arg(long, env = "VSTACK_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,

    /// The URL users reach the dashboard at, e.g. `https://vstack.example`
    /// behind a reverse proxy: its host is served and its origin trusted.
    #[arg(long, env = "VSTACK_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// A further host name to serve (repeatable); others get 421. Loopback
    /// names are always served.
    #[arg(long = "allow-host")]
    pub allow_hosts: Vec<String>,

    /// Server-function calls per second per client IP (then 429).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub fn_rate_per_s: u32,

    /// `/ws` subscribers at most (then 503). Each holds a connection, so it
    /// may not exceed `--max-connections`.
    #[arg(long, default_value_t = 8_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_dashboards: u32,

    /// Open connections at most, in all (one more is closed at once).
    #[arg(long, default_value_t = 8192, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// Open connections per client address (an IPv4 address, an IPv6 /64).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections_per_ip: u32,

    /// Open connections per loopback address: a reverse proxy on this host
    /// relays all its clients from one, and must then cap them itself.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections_per_loopback_ip: u32,

    /// Seconds a request may take until its response starts (then 408).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout_s: u64,

    /// Seconds a client has to send a request's headers (slowloris guard).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub header_read_timeout_s: u64,

    /// Folder with the built site (`pkg/` and static assets). Default: the
    /// site embedded in the binary (a release build with `embed-site`), else
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
    /// hls -hls_time 10`; MPEG-TS segments are remuxed to fMP4) to ingest into
    /// the embedded cluster and play instead of test-video-001.
    #[arg(long)]
    pub video: Option<PathBuf>,

    /// Viewers the Watch tab serves at once (each browser tab plays from
    /// links of its own to the nodes); past it the Watch routes answer 429
    /// with how many watch.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub max_watchers: u64,

    /// `TTL` of the HLS steering manifests the Watch tab's hls.js players
    /// reload, seconds (1–300): how often vstack re-ranks their pathways.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub steering_ttl_s: u64,

    /// Seed test-video-001 as random bytes (the engine's figures only; no
    /// player can decode it) instead of the test pattern, real H.264 in fMP4
    /// that ffmpeg encodes once (about 1 min at the defaults) and caches under
    /// $VSTACK_CACHE_DIR, else $XDG_CACHE_HOME/vstack, else ~/.cache/vstack.
    /// Without ffmpeg the server falls back to random bytes, with a warning.
    #[arg(long)]
    pub synthetic_video: bool,

    /// Trace files or folders (formats of `vstack sim`) replayed on the
    /// embedded nodes' links, trace i on node i mod count.
    #[arg(long)]
    pub trace: Vec<PathBuf>,

    /// Play from a running cluster (its metadata service) instead of the
    /// embedded one; both clients then share it and cluster controls are off.
    #[arg(long, env = "METADATA_SERVICE_URL")]
    pub metadata_url: Option<String>,

    /// Adaptive redundancy on the embedded cluster (the Redundancy tab).
    #[command(flatten)]
    pub redundancy: super::RedundancyArgs,

    /// Length of test-video-001, seconds (the test pattern, or the random
    /// bytes with --synthetic-video; at most 3600 for the test pattern).
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(10..=86_400))]
    pub video_duration_s: u64,

    /// Data directory of the embedded cluster (reused across restarts: the
    /// chunks, the ChunkPaxos state and the catalog already there are kept).
    /// Default: a temporary directory removed on exit.
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
    /// The site's options (address, site root): see
    /// [`web::site::site_options`]. `--addr` wins; `--public` alone listens on
    /// every interface.
    pub fn site_options(&self) -> web::SiteOptions {
        let default_addr = DEFAULT_ADDR.parse::<SocketAddr>().expect("valid default");
        web::site::site_options(
            default_addr,
            self.addr,
            self.public,
            self.site_root.as_deref(),
        )
    }

    /// Settings of the engine host.
    ///
    /// # Errors
    /// A message for an unreadable trace.
    pub fn hub_config(&self) -> Result<HubConfig, String> {
        use crate::cluster::{
            embedded::{ClusterConfig, SyntheticVideo},
            test_pattern::TestPattern,
        };
        let traces = files::trace_paths(&self.trace).map_err(|e| e.to_string())?;
        if !self.synthetic_video && self.video.is_none() && self.video_duration_s > 3600 {
            return Err(format!(
                "--video-duration-s {}: the test pattern is at most 3600 s long (pass --synthetic-video for longer)",
                self.video_duration_s
            ));
        }
        Ok(HubConfig {
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
                redundancy: self.redundancy.config(),
                ..ClusterConfig::default()
            },
            video: self.video.clone(),
            test_pattern: (!self.synthetic_video).then(|| TestPattern {
                duration: Duration::from_secs(self.video_duration_s),
                ..TestPattern::default()
            }),
            metadata_url: self.metadata_url.clone(),
            watch: crate::hub::watch::WatchConfig {
                max_watchers: self.max_watchers as usize,
                steering_ttl: Duration::from_secs(self.steering_ttl_s),
                ..crate::hub::watch::WatchConfig::default()
            },
            ..HubConfig::default()
        })
    }

    /// Access rules; `admin_token` is the one to use in public mode.
    pub fn access_config(
        &self,
        bind: SocketAddr,
        admin_token: Option<String>,
    ) -> web::AccessConfig {
        web::AccessConfig {
            public: self.public,
            admin_token,
            public_url: self.public_url.clone(),
            allowed_hosts: self.allow_hosts.clone(),
            bind,
            fn_rate_per_s: self.fn_rate_per_s,
            fn_burst: self.fn_rate_per_s.saturating_mul(5),
            ..web::AccessConfig::default()
        }
    }

    /// Route bounds.
    pub fn web_limits(&self) -> web::WebLimits {
        web::WebLimits {
            request_timeout: Duration::from_secs(self.request_timeout_s),
            max_dashboards: self.max_dashboards,
            ..web::WebLimits::default()
        }
    }

    /// Connection limits of the dashboard's listener.
    pub fn serve_limits(&self) -> crate::http::ServeLimits {
        crate::http::ServeLimits {
            header_read_timeout: Duration::from_secs(self.header_read_timeout_s),
            max_connections: self.max_connections as usize,
            max_per_ip: self.max_connections_per_ip as usize,
            max_per_loopback_ip: self.max_connections_per_loopback_ip as usize,
            ..crate::http::ServeLimits::default()
        }
    }

    /// Settings of the server's own figures on `/ws`.
    pub fn server_stats_config(&self) -> ServerStatsConfig {
        ServerStatsConfig {
            push_interval: Duration::from_millis(self.ws_push_interval_ms),
        }
    }
}

/// Opens the Prometheus metrics listener ([`web::metrics_router`]) and serves
/// it in the background until shutdown.
///
/// # Errors
/// The address cannot be bound (in use: pass another `--metrics-addr` or
/// `--no-metrics`).
async fn serve_metrics(args: &ServeArgs, state: web::AppState) -> anyhow::Result<()> {
    let addr = args.metrics_addr;
    if !addr.ip().is_loopback() {
        tracing::warn!(
            "the metrics listener on {addr} is readable by anyone who can reach that address"
        );
    }
    let listener = super::bind(addr)
        .await
        .context("the Prometheus metrics listener (--metrics-addr, or --no-metrics)")?;
    tracing::info!(
        "Prometheus metrics on http://{}/metrics",
        listener.local_addr()?
    );
    let router = web::metrics_router(state);
    tokio::spawn(async move {
        let limits = crate::http::ServeLimits::default();
        if let Err(e) = crate::http::serve(listener, router, limits, super::shutdown_signal()).await
        {
            tracing::error!("metrics listener: {e}");
        }
    });
    Ok(())
}

/// Who this server serves, for the start-up log: which mode, who may
/// change what.
fn audience(args: &ServeArgs, addr: SocketAddr) -> String {
    if args.public {
        "public mode: anyone who reaches this address watches; only the admin (token or sign-in) changes anything".into()
    } else if addr.ip().is_loopback() {
        "local mode: for this machine's user, who may use the controls; requests relayed by a proxy (Forwarded / X-Forwarded-For) only watch; to share the dashboard, use --public".into()
    } else {
        format!(
            "local mode on {addr}: this machine's user may use the controls; every other caller, and every request relayed by a proxy, only watches (--public to let an admin act remotely)"
        )
    }
}

/// Serves the dashboard until the process is stopped (Ctrl-C / SIGTERM).
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    if args.max_dashboards > args.max_connections {
        return Err(BadInput(format!(
            "--max-dashboards {} is more than --max-connections {}: every dashboard holds a connection",
            args.max_dashboards, args.max_connections
        ))
        .into());
    }
    let options = args.site_options();
    let addr: SocketAddr = options.site_addr;
    // An empty VSTACK_ADMIN_TOKEN counts as not given.
    let from_file = match &args.admin_token_file {
        Some(p) => Some(
            crate::http::secret::read_secret_file(p)
                .await
                .map_err(BadInput)?,
        ),
        None => None,
    };
    let given = from_file
        .as_ref()
        .or(args.admin_token.as_ref())
        .map(crate::http::secret::Secret::expose)
        .filter(|t| !t.is_empty());
    let admin_token = match (given, args.public) {
        (Some(t), _) => Some(t.to_string()),
        (None, true) => {
            use rand::Rng;
            let t = hex::encode(rand::rng().random::<[u8; 24]>());
            // Printed once, on purpose: the operator needs it to sign in.
            println!("admin token (pass --admin-token or VSTACK_ADMIN_TOKEN to choose one): {t}");
            Some(t)
        }
        (None, false) => None,
    };
    let access = web::AccessControl::new(args.access_config(addr, admin_token))
        .map_err(|e| BadInput(e.to_string()))?;
    if args.public && args.public_url.is_none() && args.allow_hosts.is_empty() {
        tracing::warn!(
            "public mode without --public-url or --allow-host: any Host header is served"
        );
    }
    let mut state = web::AppState::new(options, args.server_stats_config())
        .with_compare_results(args.compare_results.clone())
        .with_access(access)
        .with_limits(args.web_limits())
        // `cargo leptos watch` serves from disk (LEPTOS_SITE_ROOT), where it
        // rebuilds; a deployed binary serves what it carries.
        .with_embedded_site(
            args.site_root.is_none() && std::env::var_os("LEPTOS_SITE_ROOT").is_none(),
        );
    // The split build's manifest (which WASM chunk each lazy route needs) is
    // read from `<site root>/pkg/` by the page shell; an embedded site puts
    // its copy in a temporary site root that lives as long as the server.
    let _manifest_root = if state.embedded_site {
        tracing::info!("serving the site embedded in this binary");
        let dir = tokio::task::spawn_blocking(crate::web::site::extract_split_manifest)
            .await?
            .context("a temporary directory for the split manifest")?;
        if let Some(d) = &dir {
            state.leptos_options.site_root = d.path().to_string_lossy().as_ref().into();
        }
        dir
    } else {
        None
    };
    // The history lives beside the cluster's data; without --data-dir, in a
    // temporary directory that goes with the process.
    let (history_dir, _history_tmp) = match &args.data_dir {
        Some(d) => (d.clone(), None),
        None => {
            let t = tempfile::tempdir().context("a temporary directory for the history")?;
            tracing::info!(
                "history kept for this run only: pass --data-dir to keep it across restarts"
            );
            (t.path().to_path_buf(), Some(t))
        }
    };
    let history =
        crate::history::History::open(&history_dir, crate::history::HistoryConfig::default())
            .await
            .with_context(|| format!("opening the history in {}", history_dir.display()))?;
    let recorder = crate::history::Recorder::spawn(history);
    state = state.with_recorder(recorder.clone());
    if !args.no_engine {
        let mut config = args.hub_config().map_err(BadInput)?;
        config.recorder = Some(recorder);
        tracing::info!("starting the engine: embedded clusters and the smart and naive clients");
        let hub = hub::Hub::start(config).await.map_err(|e| match e {
            hub::HubError::Ingest(e) if e.is_bad_input() => BadInput(e.to_string()).into(),
            hub::HubError::Client(e @ client::ClientError::Metadata { status: 404, .. }) => {
                BadInput(e.to_string()).into()
            }
            e => anyhow::Error::from(e),
        })?;
        state = state.with_hub(hub);
    }
    state.stats.return_memory_when_dashboards_leave();
    if !args.no_metrics {
        serve_metrics(&args, state.clone()).await?;
    }
    let router = web::app(state);
    let listener = super::bind(addr).await?;
    tracing::info!("vstack dashboard on http://{}", listener.local_addr()?);
    tracing::info!("{}", audience(&args, addr));
    crate::http::serve(
        listener,
        router,
        args.serve_limits(),
        super::shutdown_signal(),
    )
    .await
    .context("server error")
}
