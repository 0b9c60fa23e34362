//! The Watch tab's viewers: every browser player reaches the storage nodes
//! through the dashboard's own origin, each on links of its own.
//!
//! A viewer (one browser tab, named by the random id its page makes) holds,
//! per client kind (its smart and its naive player) and per node, an
//! [`Emulator::viewer_link`]: the node's conditions in force (base profile,
//! scenario, sliders, trace, partition) re-read on every request, with its
//! own bandwidth reservations, so a viewer sees what the twins face, and
//! never slows the twins, another viewer or its other player. A killed node
//! refuses viewers as it refuses the twins, and resets their transfers.
//! Viewers' requests do not count towards a chunk's popularity (adaptive
//! redundancy reacts to the twins' clients only).
//!
//! Bounded: at most [`WatchConfig::max_watchers`] viewers at once; a viewer
//! silent for [`WatchConfig::idle`] frees its place. Each link's bandwidth is
//! capped at [`WatchConfig::link_cap_mbps`].

use std::{collections::HashMap, sync::Arc, time::Duration};

use tokio::time::Instant;
use vstack_core::engine::ClientKind;

use crate::{
    cluster::{emulator::Emulator, storage::StorageNode},
    sync::LockExt,
};

/// Watch settings; every default stated.
#[derive(Clone, Debug, PartialEq)]
pub struct WatchConfig {
    /// Viewers at once (`vstack serve --max-watchers`). Default 20.
    pub max_watchers: usize,
    /// A viewer without a request for this long leaves. Default 30 s.
    pub idle: Duration,
    /// Bandwidth cap of each viewer link (one player to one node), Mbit/s:
    /// the most one player draws from one node, whatever the node's
    /// profile. Default 200.
    pub link_cap_mbps: f64,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            max_watchers: 20,
            idle: Duration::from_secs(30),
            link_cap_mbps: 200.0,
        }
    }
}

/// Why a viewer's request is refused.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum WatchError {
    /// Every place is taken.
    #[error("{watching} viewers are watching, the most this server takes; try again later")]
    Full {
        /// Viewers now.
        watching: usize,
        /// The bound.
        max_watchers: usize,
    },
    /// The viewer id is not 16–64 characters of `[0-9a-zA-Z_-]`.
    #[error("a viewer id is 16 to 64 characters of 0-9, a-z, A-Z, _ and -")]
    BadViewer,
    /// No such node.
    #[error("no node {0}")]
    UnknownNode(usize),
    /// The node is killed (its listener closed).
    #[error("node {0} is down")]
    NodeDown(String),
    /// The dashboard plays from an external cluster: nothing to watch here.
    #[error("the engine plays from an external cluster; the Watch tab needs the embedded one")]
    NoCluster,
}

struct Viewer {
    /// Links by (player, node index), made on first use.
    links: HashMap<(ClientKind, usize), Emulator>,
    last_seen: Instant,
}

/// The viewers now and their links.
pub struct Watchers {
    config: WatchConfig,
    viewers: std::sync::Mutex<HashMap<String, Viewer>>,
    seed: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Watchers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watchers")
            .field("config", &self.config)
            .field("watching", &self.watching())
            .finish()
    }
}

/// Whether `id` is an acceptable viewer id.
pub fn valid_viewer_id(id: &str) -> bool {
    (16..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Watchers {
    /// No viewer yet.
    pub fn new(config: WatchConfig) -> Self {
        Self {
            config,
            viewers: std::sync::Mutex::new(HashMap::new()),
            seed: std::sync::atomic::AtomicU64::new(1),
        }
    }

    /// The settings.
    pub fn config(&self) -> &WatchConfig {
        &self.config
    }

    /// Viewers now (after dropping the idle ones).
    pub fn watching(&self) -> usize {
        let mut g = self.viewers.locked();
        let idle = self.config.idle;
        g.retain(|_, v| v.last_seen.elapsed() < idle);
        g.len()
    }

    /// `viewer`'s link to node number `node` for its `kind` player, made on
    /// its first request from `node_link` (the node's own emulator, which
    /// survives the node's restarts), with the node's conditions in force
    /// now, capped at [`WatchConfig::link_cap_mbps`].
    ///
    /// # Errors
    /// [`WatchError::BadViewer`], [`WatchError::Full`] for a new viewer
    /// past the bound.
    pub fn link(
        &self,
        viewer: &str,
        kind: ClientKind,
        node: usize,
        node_link: &Emulator,
    ) -> Result<Emulator, WatchError> {
        if !valid_viewer_id(viewer) {
            return Err(WatchError::BadViewer);
        }
        let mut g = self.viewers.locked();
        let idle = self.config.idle;
        g.retain(|_, v| v.last_seen.elapsed() < idle);
        if !g.contains_key(viewer) && g.len() >= self.config.max_watchers {
            return Err(WatchError::Full {
                watching: g.len(),
                max_watchers: self.config.max_watchers,
            });
        }
        let v = g.entry(viewer.to_string()).or_insert_with(|| Viewer {
            links: HashMap::new(),
            last_seen: Instant::now(),
        });
        v.last_seen = Instant::now();
        let link = v.links.entry((kind, node)).or_insert_with(|| {
            node_link.viewer_link(self.seed.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
        });
        link.follow(node_link, Some(self.config.link_cap_mbps));
        Ok(link.clone())
    }
}

/// A node of the embedded cluster as a viewer reaches it.
#[derive(Clone, Debug)]
pub struct WatchedNode {
    /// Node id (`node-1`, …).
    pub node_id: String,
    /// Its storage.
    pub storage: Arc<StorageNode>,
    /// The viewer's link to it.
    pub link: Emulator,
}
