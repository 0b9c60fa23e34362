//! `vstack steer`: HLS Content Steering in front of origins vstack does not
//! serve (other CDNs, other servers). The players load the multivariant
//! playlist from here; the segments come straight from the origins.
//!
//! - Each origin is a pathway, named on the command line (`ID=URL` of its
//!   multivariant playlist). Every origin is assumed to hold the same
//!   renditions under the same relative paths, as mirrored CDNs do.
//! - `GET /master.m3u8`: the first origin that answers (best ranked first)
//!   gives the playlist's layout ([`vstack_core::hls::parse_multivariant`]);
//!   every variant is listed once per pathway, its URI resolved against
//!   that pathway's playlist URL, with `#EXT-X-CONTENT-STEERING` pointing at
//!   `steering` (relative, so a proxy prefix keeps working) and the best
//!   pathway now as the initial one. The layout is kept for
//!   [`SteerConfig::layout_ttl`].
//! - `GET /steering?_HLS_pathway=P&_HLS_throughput=T`: the steering
//!   manifest, ranked by [`vstack_core::hls::rank_pathways`] from the
//!   probes' scores (the seed's node score over the smart monitor's EWMAs);
//!   a pathway whose last three probes failed is down and goes last.
//! - `GET /pathways`: each pathway's estimates as JSON, for people.
//! - Probes: every [`SteerConfig::probe_interval`], the first media
//!   segment of each origin's lowest variant is fetched with
//!   `Range: bytes=0-…` up to
//!   [`SteerConfig::probe_bytes`]: the time to the response headers is the
//!   latency sample, the body's transfer the bandwidth sample, fed to a
//!   [`vstack_core::engine::NetworkMonitor`] (one node per pathway).
//!
//! Who may call: anyone; every route is a read (GET), holds no per-client
//! state and answers with `Access-Control-Allow-Origin: *` (a player page
//! on another origin loads the playlist and the manifest). Bounds: 2–16
//! pathways, playlists ≤ [`vstack_core::hls::MAX_PLAYLIST_BYTES`], probe
//! bodies ≤ `probe_bytes`, every origin request under
//! [`SteerConfig::request_timeout`].

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    extract::{Query, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use vstack_core::{
    engine::{MonitorConfig, NetworkMonitor, NodeHealth, NodeId},
    hls::{
        ContentSteering, OriginMultivariant, PathwayScore, SteeringManifest, SteeringPolicy,
        SteeringRequest, first_segment_uri, parse_multivariant, rank_pathways, render_steered,
        valid_pathway_id,
    },
};

use crate::{http::ApiError, sync::LockExt};

/// Most pathways: 16.
pub const MAX_PATHWAYS: usize = 16;

/// One origin: its pathway id and its multivariant playlist's URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pathway {
    /// `PATHWAY-ID` (1–64 of `[A-Za-z0-9._-]`).
    pub id: String,
    /// The origin's multivariant playlist (http or https).
    pub master_url: Url,
}

impl std::str::FromStr for Pathway {
    type Err = String;

    /// `ID=URL`, e.g. `cdn-a=https://a.example/vod/master.m3u8`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (id, url) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?}: expected ID=URL"))?;
        if !valid_pathway_id(id) {
            return Err(format!(
                "pathway id {id:?}: 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'"
            ));
        }
        let master_url = Url::parse(url).map_err(|e| format!("{url:?}: {e}"))?;
        if !matches!(master_url.scheme(), "http" | "https") {
            return Err(format!("{url:?}: an http or https URL"));
        }
        Ok(Pathway {
            id: id.to_string(),
            master_url,
        })
    }
}

/// Settings of a steering server; every default stated.
#[derive(Clone, Debug)]
pub struct SteerConfig {
    /// The origins, the primary first (2–[`MAX_PATHWAYS`], unique ids).
    pub pathways: Vec<Pathway>,
    /// `TTL` of the steering manifest. Default 5 s.
    pub ttl: Duration,
    /// Time between two probes of an origin. Default 2 s.
    pub probe_interval: Duration,
    /// Bytes a probe asks for. Default 64 KiB.
    pub probe_bytes: u64,
    /// Timeout of every request to an origin (playlists, probes). Default
    /// 2 s.
    pub request_timeout: Duration,
    /// How long an origin playlist's layout is reused. Default 60 s.
    pub layout_ttl: Duration,
    /// Ranking rules (stickiness 1.25×; starving below the lowest
    /// variant's `BANDWIDTH`, set from the layout).
    pub policy: SteeringPolicy,
}

impl SteerConfig {
    /// Defaults for these pathways.
    pub fn new(pathways: Vec<Pathway>) -> Self {
        Self {
            pathways,
            ttl: Duration::from_secs(5),
            probe_interval: Duration::from_secs(2),
            probe_bytes: 64 << 10,
            request_timeout: Duration::from_secs(2),
            layout_ttl: Duration::from_secs(60),
            policy: SteeringPolicy::default(),
        }
    }

    /// Checks the pathways: 2–[`MAX_PATHWAYS`], ids unique.
    ///
    /// # Errors
    /// A message naming the problem.
    pub fn validate(&self) -> Result<(), String> {
        if !(2..=MAX_PATHWAYS).contains(&self.pathways.len()) {
            return Err(format!(
                "{} pathways: steering needs 2 to {MAX_PATHWAYS}",
                self.pathways.len()
            ));
        }
        for (i, p) in self.pathways.iter().enumerate() {
            if self.pathways[..i].iter().any(|q| q.id == p.id) {
                return Err(format!("pathway id {:?} given twice", p.id));
            }
        }
        Ok(())
    }
}

/// One pathway's estimates, as `GET /pathways` shows them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PathwayStatus {
    /// Pathway id.
    pub id: String,
    /// Its multivariant playlist.
    pub master_url: String,
    /// Latency EWMA (time to response headers), ms.
    pub latency_ms: Option<f64>,
    /// Bandwidth EWMA of the probes' bodies, Mbit/s.
    pub bandwidth_mbps: Option<f64>,
    /// Share of the recent probes that succeeded, in [0, 1].
    pub reliability: f64,
    /// `healthy`, `degraded` or `down`.
    pub health: NodeHealth,
    /// The seed's node score (higher is better).
    pub score: f64,
    /// Probes sent.
    pub probes: u64,
}

/// The layout read from an origin, and when.
struct Layout {
    playlist: OriginMultivariant,
    read_at: Instant,
}

/// A steering server's state: the pathways, the monitor of their probes and
/// the cached layout.
pub struct Steer {
    config: SteerConfig,
    http: reqwest::Client,
    monitor: std::sync::Mutex<NetworkMonitor>,
    layout: std::sync::Mutex<Option<Arc<Layout>>>,
    /// Per pathway, the URL it is probed with (found from its playlists).
    probe_urls: std::sync::Mutex<Vec<Option<Url>>>,
}

/// Why an origin could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OriginError {
    /// The request failed or timed out.
    #[error("{url}: {source}")]
    Http {
        /// What was asked.
        url: String,
        /// Why.
        source: reqwest::Error,
    },
    /// A status other than 2xx.
    #[error("{url}: HTTP {status}")]
    Status {
        /// What was asked.
        url: String,
        /// Its status.
        status: u16,
    },
    /// The playlist cannot be steered.
    #[error("{url}: {source}")]
    Playlist {
        /// What was asked.
        url: String,
        /// Why.
        source: vstack_core::hls::PlaylistError,
    },
    /// No origin to ask (none configured, or a playlist without variants).
    #[error("no origin to ask")]
    NoOrigin,
    /// A URI in it does not resolve against the playlist's URL.
    #[error("{url}: URI {uri:?} does not resolve")]
    Uri {
        /// The playlist.
        url: String,
        /// The URI.
        uri: String,
    },
}

impl Steer {
    /// A steering server over `config`'s pathways (no probe yet: every
    /// pathway scores like an unmeasured node until its first one).
    ///
    /// # Errors
    /// [`SteerConfig::validate`]'s message, or the HTTP client could not be
    /// built.
    pub fn new(config: SteerConfig) -> Result<Arc<Self>, String> {
        config.validate()?;
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout)
            .build()
            .map_err(|e| e.to_string())?;
        let n = config.pathways.len();
        Ok(Arc::new(Self {
            monitor: std::sync::Mutex::new(NetworkMonitor::new(MonitorConfig::default(), n)),
            layout: std::sync::Mutex::new(None),
            probe_urls: std::sync::Mutex::new(vec![None; n]),
            config,
            http,
        }))
    }

    /// The settings.
    pub fn config(&self) -> &SteerConfig {
        &self.config
    }

    /// Fetches a playlist's text (at most
    /// [`vstack_core::hls::MAX_PLAYLIST_BYTES`]).
    async fn playlist_text(&self, url: &Url) -> Result<String, OriginError> {
        let http = |source| OriginError::Http {
            url: url.to_string(),
            source,
        };
        let mut r = self.http.get(url.clone()).send().await.map_err(http)?;
        if !r.status().is_success() {
            return Err(OriginError::Status {
                url: url.to_string(),
                status: r.status().as_u16(),
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = r.chunk().await.map_err(http)? {
            body.extend_from_slice(&chunk);
            if body.len() > vstack_core::hls::MAX_PLAYLIST_BYTES {
                return Err(OriginError::Playlist {
                    url: url.to_string(),
                    source: vstack_core::hls::PlaylistError::TooLarge,
                });
            }
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    /// Reads pathway `i`'s multivariant playlist.
    async fn read_layout(&self, i: usize) -> Result<OriginMultivariant, OriginError> {
        let url = &self.config.pathways[i].master_url;
        let text = self.playlist_text(url).await?;
        parse_multivariant(&text).map_err(|source| OriginError::Playlist {
            url: url.to_string(),
            source,
        })
    }

    /// The layout, from the cache while it is fresh, else from the first
    /// origin that answers, best ranked first.
    async fn layout(&self) -> Result<Arc<Layout>, OriginError> {
        if let Some(l) = self.layout.locked().clone()
            && l.read_at.elapsed() < self.config.layout_ttl
        {
            return Ok(l);
        }
        let order = self.ranked(&SteeringRequest::default(), 0);
        let mut last = None;
        for id in order {
            let Some(i) = self.index(&id) else { continue };
            match self.read_layout(i).await {
                Ok(playlist) => {
                    let l = Arc::new(Layout {
                        playlist,
                        read_at: Instant::now(),
                    });
                    *self.layout.locked() = Some(l.clone());
                    return Ok(l);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(OriginError::NoOrigin))
    }

    fn index(&self, id: &str) -> Option<usize> {
        self.config.pathways.iter().position(|p| p.id == id)
    }

    /// Each pathway's score and whether it is usable (not down), from
    /// [`Steer::status`].
    pub fn scores(&self) -> Vec<PathwayScore> {
        self.status()
            .into_iter()
            .map(|p| PathwayScore {
                pathway_id: p.id,
                score: p.score,
                usable: p.health != NodeHealth::Down,
            })
            .collect()
    }

    /// Each pathway's estimates.
    pub fn status(&self) -> Vec<PathwayStatus> {
        let m = self.monitor.locked();
        self.config
            .pathways
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let node = NodeId(u16::try_from(i).unwrap_or(u16::MAX));
                let s = m.stats(node);
                PathwayStatus {
                    id: p.id.clone(),
                    master_url: p.master_url.to_string(),
                    latency_ms: s.latency_ms,
                    bandwidth_mbps: s.bandwidth_mbps,
                    reliability: s.reliability(),
                    health: m.health(node),
                    score: m.score(node),
                    probes: s.samples_total,
                }
            })
            .collect()
    }

    /// `PATHWAY-PRIORITY` for a client's reload; `starving_below_bps` the
    /// lowest variant's `BANDWIDTH` (0 when unknown).
    fn ranked(&self, request: &SteeringRequest, starving_below_bps: u64) -> Vec<String> {
        let policy = SteeringPolicy {
            starving_below_bps,
            ..self.config.policy
        };
        rank_pathways(&self.scores(), request, &policy)
    }

    /// The URL pathway `i` is probed with: its lowest variant's first
    /// media segment, found through its own playlists (cached until a probe
    /// fails).
    async fn probe_url(&self, i: usize) -> Result<Url, OriginError> {
        if let Some(u) = self.probe_urls.locked()[i].clone() {
            return Ok(u);
        }
        let master = &self.config.pathways[i].master_url;
        let layout = self.read_layout(i).await?;
        let lowest = layout
            .variants
            .iter()
            .min_by_key(|v| v.bandwidth_bps)
            .ok_or(OriginError::NoOrigin)?;
        let resolve = |base: &Url, uri: &str| {
            base.join(uri).map_err(|_| OriginError::Uri {
                url: base.to_string(),
                uri: uri.to_string(),
            })
        };
        let media = resolve(master, &lowest.uri)?;
        let text = self.playlist_text(&media).await?;
        let first = first_segment_uri(&text).map_err(|source| OriginError::Playlist {
            url: media.to_string(),
            source,
        })?;
        let url = resolve(&media, &first)?;
        self.probe_urls.locked()[i] = Some(url.clone());
        Ok(url)
    }

    /// One probe of pathway `i`: `(time to headers, body bytes, body time)`.
    async fn probe_once(&self, i: usize) -> Result<(Duration, u64, Duration), OriginError> {
        let url = self.probe_url(i).await?;
        let http = |source| OriginError::Http {
            url: url.to_string(),
            source,
        };
        let last = self.config.probe_bytes.max(1) - 1;
        let sent = Instant::now();
        let mut r = self
            .http
            .get(url.clone())
            .header(header::RANGE, format!("bytes=0-{last}"))
            .send()
            .await
            .map_err(http)?;
        let rtt = sent.elapsed();
        if !r.status().is_success() {
            return Err(OriginError::Status {
                url: url.to_string(),
                status: r.status().as_u16(),
            });
        }
        let started = Instant::now();
        let mut bytes = 0u64;
        // An origin that ignores Range sends the whole file: stop reading
        // at the probe's size.
        while bytes < self.config.probe_bytes {
            match r.chunk().await.map_err(http)? {
                Some(c) => bytes = bytes.saturating_add(c.len() as u64),
                None => break,
            }
        }
        Ok((rtt, bytes, started.elapsed()))
    }

    /// Probes every pathway once, at the same time, and records the
    /// outcomes.
    pub async fn probe_round(&self) {
        let outcomes =
            futures::future::join_all((0..self.config.pathways.len()).map(|i| self.probe_once(i)))
                .await;
        let mut m = self.monitor.locked();
        for (i, outcome) in outcomes.into_iter().enumerate() {
            let node = NodeId(u16::try_from(i).unwrap_or(u16::MAX));
            match outcome {
                Ok((rtt, bytes, took)) => {
                    // A body too small to time says nothing about bandwidth.
                    let payload = (bytes >= 4096 && !took.is_zero()).then_some((bytes, took));
                    m.record_probe_success(node, rtt, payload);
                }
                Err(e) => {
                    tracing::debug!(pathway = %self.config.pathways[i].id, "probe failed: {e}");
                    m.record_failure(node);
                    self.probe_urls.locked()[i] = None;
                }
            }
        }
    }

    /// Probes every [`SteerConfig::probe_interval`] until the task is
    /// aborted.
    pub fn spawn_probes(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(me.config.probe_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                me.probe_round().await;
            }
        })
    }
}

/// The steering server's routes (see the module docs), for tests without a
/// port and for `vstack steer`.
pub fn app(state: Arc<Steer>) -> Router {
    Router::new()
        .route("/master.m3u8", get(master))
        .route("/steering", get(steering))
        .route("/pathways", get(pathways))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state)
}

/// Marks a read any page may make, never cached (the ranking changes).
fn public(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn master(State(s): State<Arc<Steer>>) -> Response {
    let layout = match s.layout().await {
        Ok(l) => l,
        Err(e) => {
            return public(
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    format!("no origin gave its playlist: {e}"),
                )
                .into_response(),
            );
        }
    };
    let mut pathways = Vec::with_capacity(s.config.pathways.len());
    for p in &s.config.pathways {
        let uris: Option<Vec<String>> = layout
            .playlist
            .variants
            .iter()
            .map(|v| p.master_url.join(&v.uri).ok().map(String::from))
            .collect();
        if let Some(uris) = uris {
            pathways.push((p.id.clone(), uris));
        }
    }
    let lowest = layout
        .playlist
        .variants
        .iter()
        .map(|v| v.bandwidth_bps)
        .min();
    let first = s
        .ranked(&SteeringRequest::default(), lowest.unwrap_or(0))
        .into_iter()
        .next();
    let text = render_steered(
        &layout.playlist,
        &ContentSteering {
            server_uri: "steering".into(),
            pathway_id: first,
        },
        &pathways,
    );
    public(
        (
            [(header::CONTENT_TYPE, "application/vnd.apple.mpegurl")],
            text,
        )
            .into_response(),
    )
}

/// Most `_HLS_throughput` accepted: 10 Tbit/s.
const MAX_THROUGHPUT_BPS: u64 = 10_000_000_000_000;

/// A steering reload's query.
#[derive(Debug, Deserialize)]
struct SteeringQuery {
    #[serde(rename = "_HLS_pathway")]
    pathway: Option<String>,
    #[serde(rename = "_HLS_throughput")]
    throughput: Option<u64>,
}

async fn steering(
    State(s): State<Arc<Steer>>,
    q: Result<Query<SteeringQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(q) = match q {
        Ok(q) => q,
        Err(e) => return public(ApiError::bad_request(e.body_text()).into_response()),
    };
    if let Some(p) = &q.pathway
        && !valid_pathway_id(p)
        && p != "."
    {
        return public(
            ApiError::bad_request(
                "_HLS_pathway: 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'",
            )
            .into_response(),
        );
    }
    if q.throughput.is_some_and(|t| t > MAX_THROUGHPUT_BPS) {
        return public(
            ApiError::bad_request(format!(
                "_HLS_throughput: at most {MAX_THROUGHPUT_BPS} bit/s"
            ))
            .into_response(),
        );
    }
    let lowest = s
        .layout
        .locked()
        .as_ref()
        .and_then(|l| l.playlist.variants.iter().map(|v| v.bandwidth_bps).min())
        .unwrap_or(0);
    let request = SteeringRequest {
        pathway: q.pathway.filter(|p| p != "."),
        throughput_bps: q.throughput,
    };
    public(
        Json(SteeringManifest {
            version: 1,
            ttl_s: s.config.ttl.as_secs().max(1),
            reload_uri: Some("steering".into()),
            pathway_priority: s.ranked(&request, lowest),
        })
        .into_response(),
    )
}

async fn pathways(State(s): State<Arc<Steer>>) -> Response {
    public(Json(s.status()).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pathways_parse_from_id_equals_url() {
        let p: Pathway = "cdn-a=https://a.example/vod/master.m3u8".parse().unwrap();
        assert_eq!(p.id, "cdn-a");
        assert_eq!(p.master_url.host_str(), Some("a.example"));
        for bad in [
            "no-equals",
            "bad id=https://a/x.m3u8",
            "a=ftp://a/x",
            "a=not a url",
            "=http://a/",
        ] {
            assert!(bad.parse::<Pathway>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_config_needs_two_to_sixteen_distinct_pathways() {
        let p = |id: &str| {
            format!("{id}=http://127.0.0.1:1/m.m3u8")
                .parse::<Pathway>()
                .unwrap()
        };
        assert!(SteerConfig::new(vec![p("a")]).validate().is_err());
        assert!(SteerConfig::new(vec![p("a"), p("a")]).validate().is_err());
        assert!(SteerConfig::new(vec![p("a"), p("b")]).validate().is_ok());
        let many = (0..17).map(|i| p(&format!("p{i}"))).collect();
        assert!(SteerConfig::new(many).validate().is_err());
    }
}
