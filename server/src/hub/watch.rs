//! The Watch tab's viewers: every browser player reaches the storage nodes
//! through the dashboard's own origin, each on links of its own.
//!
//! A viewer (one browser tab, named by the random id its page makes) holds,
//! per player ([`LinkOwner`]: its smart, its naive and its hls.js peer
//! player) and per node, an
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
//! capped at [`WatchConfig::link_cap_mbps`]. A viewer's hls.js player reloads
//! the steering manifest every [`WatchConfig::steering_ttl`]; a reload sooner
//! than [`WatchConfig::steering_min_interval`] after the last is refused
//! ([`Watchers::steering_reload`], HTTP 429 with `Retry-After`).

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
    /// `TTL` of the steering manifests served to hls.js players
    /// (`vstack serve --steering-ttl-s`, 1–300 s). Default 5 s: a player
    /// leaves a bad node within a TTL and a segment.
    pub steering_ttl: Duration,
    /// Shortest time between two steering reloads of one viewer; a sooner
    /// one gets 429 with `Retry-After`. Default 1 s.
    pub steering_min_interval: Duration,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            max_watchers: 20,
            idle: Duration::from_secs(30),
            link_cap_mbps: 200.0,
            steering_ttl: Duration::from_secs(5),
            steering_min_interval: Duration::from_secs(1),
        }
    }
}

/// Whose requests a viewer link carries: each of a viewer's players has
/// links of its own, so one never slows another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkOwner {
    /// The page's engine player of that kind (smart or naive).
    Engine(ClientKind),
    /// The page's hls.js player (it plays from the smart client's cluster).
    Peer,
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
    /// A steering reload sooner than [`WatchConfig::steering_min_interval`]
    /// after the viewer's last one.
    #[error("steering manifest reloaded too soon; retry in {retry_after_s} s")]
    TooSoon {
        /// Whole seconds until a reload is accepted (at least 1).
        retry_after_s: u64,
    },
}

struct Viewer {
    /// Links by (player, node index), made on first use (at most 3 players
    /// × the cluster's nodes).
    links: HashMap<(LinkOwner, usize), Emulator>,
    last_seen: Instant,
    /// When its hls.js player last loaded the steering manifest.
    last_steering: Option<Instant>,
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

    /// Admits `viewer` (made on its first request), refreshing its
    /// `last_seen`.
    fn admit<'a>(
        &self,
        g: &'a mut HashMap<String, Viewer>,
        viewer: &str,
    ) -> Result<&'a mut Viewer, WatchError> {
        if !valid_viewer_id(viewer) {
            return Err(WatchError::BadViewer);
        }
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
            last_steering: None,
        });
        v.last_seen = Instant::now();
        Ok(v)
    }

    /// Records a steering manifest reload of `viewer`'s hls.js player.
    ///
    /// # Errors
    /// [`WatchError::BadViewer`], [`WatchError::Full`], and
    /// [`WatchError::TooSoon`] within [`WatchConfig::steering_min_interval`]
    /// of its last reload (that one is not recorded).
    pub fn steering_reload(&self, viewer: &str) -> Result<(), WatchError> {
        let mut g = self.viewers.locked();
        let min = self.config.steering_min_interval;
        let v = self.admit(&mut g, viewer)?;
        let now = Instant::now();
        if let Some(last) = v.last_steering {
            let since = now.saturating_duration_since(last);
            if since < min {
                let left = min - since;
                return Err(WatchError::TooSoon {
                    retry_after_s: left.as_secs() + u64::from(left.subsec_nanos() > 0),
                });
            }
        }
        v.last_steering = Some(now);
        Ok(())
    }

    /// `viewer`'s link to node number `node` for its `owner` player, made on
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
        owner: LinkOwner,
        node: usize,
        node_link: &Emulator,
    ) -> Result<Emulator, WatchError> {
        let mut g = self.viewers.locked();
        let v = self.admit(&mut g, viewer)?;
        let link = v.links.entry((owner, node)).or_insert_with(|| {
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
