//! The sequence every tool starts with: bring up an embedded cluster (and,
//! for a side-by-side comparison, its twin) and fetch its synthetic video's
//! manifest over HTTP, as a client would.

use std::time::Duration;

use crate::{
    client::{self, ClientError, ClusterView, fetch_view},
    cluster::embedded::{Cluster, ClusterConfig, ClusterError, SyntheticVideo},
};

/// A testbed could not start.
#[derive(Debug, thiserror::Error)]
pub enum TestbedError {
    /// The embedded cluster (or its twin) did not start.
    #[error("embedded cluster: {0}")]
    Cluster(#[from] ClusterError),
    /// The seeded video's manifest could not be fetched.
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// An embedded cluster with its seeded synthetic video.
#[derive(Debug)]
pub struct Testbed {
    /// The cluster.
    pub cluster: Cluster,
    /// Its nodes and the seeded video's manifest, as fetched over HTTP.
    pub view: ClusterView,
    /// One HTTP client (without credentials) for everything played on it.
    pub http: reqwest::Client,
}

impl Testbed {
    /// Starts `config`'s cluster (which must seed a video: `config.video`,
    /// default `test-video-001`) and fetches that video's manifest.
    ///
    /// # Errors
    /// [`TestbedError`].
    pub async fn start(config: ClusterConfig) -> Result<Self, TestbedError> {
        let video_id = config.video.as_ref().map_or_else(
            || SyntheticVideo::default().video_id,
            |v| v.video_id.clone(),
        );
        let cluster = Cluster::start(config).await?;
        Self::over(cluster, &video_id).await
    }

    /// Its twin: a second cluster with the same profiles, traces, seeds and
    /// data, and the same video.
    ///
    /// # Errors
    /// [`TestbedError`].
    pub async fn twin(&self) -> Result<Self, TestbedError> {
        let cluster = self.cluster.start_twin().await?;
        Self::over(cluster, &self.view.manifest.video_id).await
    }

    async fn over(cluster: Cluster, video_id: &str) -> Result<Self, TestbedError> {
        let http = cluster.http().plain();
        let view = fetch_view(&http, &cluster.metadata_url(), video_id).await?;
        Ok(Self {
            cluster,
            view,
            http,
        })
    }

    /// The single-node column's cluster, when `wanted`: `config`'s
    /// settings (profiles, traces, seeds, video) with the video whole on
    /// every node (replication = nodes), for
    /// [`Testbed::play_single_nodes`].
    ///
    /// # Errors
    /// [`TestbedError`].
    pub async fn whole_on_every_node(
        config: &ClusterConfig,
        wanted: bool,
    ) -> Result<Option<Self>, TestbedError> {
        if !wanted {
            return Ok(None);
        }
        let whole = ClusterConfig {
            replication: config.nodes,
            ..config.clone()
        };
        Ok(Some(Self::start(whole).await?))
    }

    /// Plays one whole session of the video with a `kind` client at `speed`
    /// (see [`client::play_session`]).
    ///
    /// # Errors
    /// As [`client::play`].
    pub async fn play_session(
        &self,
        kind: vstack_core::engine::ClientKind,
        speed: f64,
    ) -> Result<vstack_core::engine::QoeReport, ClientError> {
        client::play_session(self.http.clone(), self.view.clone(), kind, speed).await
    }

    /// Plays one session per node with that node as the only origin
    /// ([`ClusterView::pinned`]), all at once (each on its own node's
    /// link): the smart client's fetching with BOLA-E on a ladder, as the
    /// simulator's `single` strategy plays. The cluster must hold the whole
    /// video on every node (replication = nodes). Node order.
    ///
    /// # Errors
    /// As [`client::play`], the first session's that failed.
    pub async fn play_single_nodes(
        &self,
        speed: f64,
    ) -> Result<Vec<vstack_core::engine::QoeReport>, ClientError> {
        let sessions = (0..self.view.nodes.len()).map(|j| {
            client::play_session_with(
                self.http.clone(),
                self.view.pinned(j),
                client::ClientConfig {
                    kind: vstack_core::engine::ClientKind::Smart,
                    speed,
                    abr: Some(vstack_core::abr::AbrKind::Bolae),
                    ..client::ClientConfig::default()
                },
            )
        });
        futures::future::join_all(sessions)
            .await
            .into_iter()
            .collect()
    }
}

/// [`Testbed::play_single_nodes`] on `bed`, if there is one (`None`: no
/// single-node column, nothing played).
///
/// # Errors
/// As [`Testbed::play_single_nodes`].
pub async fn play_single_nodes_on(
    bed: Option<&Testbed>,
    speed: f64,
) -> Result<Option<Vec<vstack_core::engine::QoeReport>>, ClientError> {
    match bed {
        Some(b) => b.play_single_nodes(speed).await.map(Some),
        None => Ok(None),
    }
}

/// A synthetic video of `duration_s` seconds (5 Mbit/s VBR, 10 s chunks
/// unless `chunk_s` says otherwise): the usual testbed video.
pub fn video(duration_s: u64, chunk_s: u64) -> SyntheticVideo {
    SyntheticVideo {
        duration: Duration::from_secs(duration_s),
        chunk_duration: Duration::from_secs(chunk_s),
        ..SyntheticVideo::default()
    }
}
