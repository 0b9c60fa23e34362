//! The server's own live figures, pushed to every dashboard over `/ws`.
//!
//! [`ServerStats`] holds what the dashboard shell shows before any engine runs:
//! uptime (tokio's monotonic clock, so a paused test clock controls it), the
//! number of connected dashboards, the process's resident memory and the lag of
//! the push timer. [`ServerStats::heartbeats`] is the per-subscriber push loop's
//! source: one [`Heartbeat`] per tick of a `tokio::time::interval`.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use tokio::time::{Instant, MissedTickBehavior};
use vstack_core::wire::{Heartbeat, ServerInfo};

/// Settings of the server's own figures on `/ws`.
#[derive(Clone, Debug)]
pub struct ServerStatsConfig {
    /// Interval between two heartbeats on `/ws`. Default: 1 s.
    pub push_interval: Duration,
}

impl Default for ServerStatsConfig {
    fn default() -> Self {
        Self {
            push_interval: Duration::from_secs(1),
        }
    }
}

/// The server process's own live figures, shared.
#[derive(Debug)]
pub struct ServerStats {
    config: ServerStatsConfig,
    started: Instant,
    started_unix_ms: u64,
    dashboards: AtomicU32,
    /// Dashboards closed for falling too far behind the event stream.
    dropped: std::sync::atomic::AtomicU64,
    /// Request durations per route of the dashboard server.
    http: Arc<crate::http::prom::HttpMetrics>,
}

impl ServerStats {
    /// Starts the clock now.
    pub fn new(config: ServerStatsConfig) -> Arc<Self> {
        Arc::new(Self {
            config,
            started: Instant::now(),
            started_unix_ms: unix_ms(),
            dashboards: AtomicU32::new(0),
            dropped: std::sync::atomic::AtomicU64::new(0),
            http: crate::http::prom::HttpMetrics::new("dashboard"),
        })
    }

    /// The settings this server runs with.
    pub fn config(&self) -> &ServerStatsConfig {
        &self.config
    }

    /// Milliseconds since start on tokio's clock.
    pub fn uptime_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Dashboards currently subscribed to `/ws`.
    pub fn dashboards_connected(&self) -> u32 {
        self.dashboards.load(Ordering::Relaxed)
    }

    /// Counts a dashboard closed for lagging behind the event stream.
    pub fn count_dropped(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// Dashboards closed for lagging behind the event stream since start.
    pub fn dashboards_dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The dashboard server's request-duration histogram.
    pub fn http(&self) -> &Arc<crate::http::prom::HttpMetrics> {
        &self.http
    }

    /// Registers a subscriber; the count drops again when the guard is dropped.
    pub fn subscribe(self: &Arc<Self>) -> SubscriberGuard {
        self.dashboards.fetch_add(1, Ordering::Relaxed);
        SubscriberGuard(self.clone())
    }

    /// Registers a subscriber unless `max` are subscribed already.
    pub fn try_subscribe(self: &Arc<Self>, max: u32) -> Option<SubscriberGuard> {
        self.dashboards
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| SubscriberGuard(self.clone()))
    }

    /// Snapshot for the `server_info` server function.
    pub fn info(&self) -> ServerInfo {
        ServerInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            pid: std::process::id(),
            started_at_unix_ms: self.started_unix_ms,
            uptime_ms: self.uptime_ms(),
            dashboards_connected: self.dashboards_connected(),
            ws_push_interval_ms: self.config.push_interval.as_millis() as u64,
        }
    }

    /// A ticker producing one heartbeat per push interval, the first immediately.
    pub fn heartbeats(self: &Arc<Self>) -> Heartbeats {
        let mut interval = tokio::time::interval(self.config.push_interval);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Heartbeats {
            stats: self.clone(),
            interval,
            seq: 0,
        }
    }
}

/// Dashboards that must have left since the last trim before
/// [`ServerStats::return_memory_when_dashboards_leave`] trims again.
pub const TRIM_AFTER_LEAVING: u32 = 64;

impl ServerStats {
    /// Gives memory back to the OS after many dashboards left: every 5 s, if
    /// at least [`TRIM_AFTER_LEAVING`] fewer are connected than at the peak
    /// since the last trim, asks the allocator to release its free pages
    /// (glibc's `malloc_trim`, on the blocking pool). glibc keeps freed
    /// memory in its per-thread arenas otherwise: measured, a server that had
    /// 5 000 dashboards kept all of their memory after they left. A no-op
    /// elsewhere. Runs until the runtime stops.
    pub fn return_memory_when_dashboards_leave(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let stats = self.clone();
        tokio::spawn(async move {
            let mut peak = stats.dashboards_connected();
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                let now = stats.dashboards_connected();
                peak = peak.max(now);
                if peak.saturating_sub(now) >= TRIM_AFTER_LEAVING {
                    let _ = tokio::task::spawn_blocking(trim).await;
                    peak = now;
                }
            }
        })
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}

/// Keeps one dashboard counted in [`ServerStats::dashboards_connected`].
#[derive(Debug)]
pub struct SubscriberGuard(Arc<ServerStats>);

impl Drop for SubscriberGuard {
    fn drop(&mut self) {
        self.0.dashboards.fetch_sub(1, Ordering::Relaxed);
    }
}

/// See [`ServerStats::heartbeats`].
#[derive(Debug)]
pub struct Heartbeats {
    stats: Arc<ServerStats>,
    interval: tokio::time::Interval,
    seq: u64,
}

impl Heartbeats {
    /// Waits for the next tick and measures the heartbeat taken at that moment.
    pub async fn next(&mut self) -> Heartbeat {
        let scheduled = self.interval.tick().await;
        let tick_lag_ms = Instant::now()
            .saturating_duration_since(scheduled)
            .as_secs_f64()
            * 1e3;
        let hb = Heartbeat {
            seq: self.seq,
            uptime_ms: self.stats.uptime_ms(),
            server_time_unix_ms: unix_ms(),
            dashboards_connected: self.stats.dashboards_connected(),
            rss_bytes: memory_stats::memory_stats().map(|m| m.physical_mem as u64),
            tick_lag_ms,
        };
        self.seq += 1;
        hb
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn heartbeats_follow_the_push_interval() {
        let stats = ServerStats::new(ServerStatsConfig {
            push_interval: Duration::from_millis(500),
        });
        let mut beats = stats.heartbeats();
        let a = beats.next().await;
        let b = beats.next().await;
        let c = beats.next().await;
        assert_eq!((a.seq, b.seq, c.seq), (0, 1, 2));
        assert_eq!(b.uptime_ms - a.uptime_ms, 500);
        assert_eq!(c.uptime_ms - b.uptime_ms, 500);
        assert!(
            a.tick_lag_ms < 1.0,
            "paused clock has no lag: {}",
            a.tick_lag_ms
        );
    }

    #[tokio::test]
    async fn subscriber_guard_counts_dashboards() {
        let stats = ServerStats::new(ServerStatsConfig::default());
        let g1 = stats.subscribe();
        let g2 = stats.subscribe();
        assert_eq!(stats.dashboards_connected(), 2);
        assert_eq!(stats.info().dashboards_connected, 2);
        drop(g1);
        assert_eq!(stats.dashboards_connected(), 1);
        drop(g2);
        assert_eq!(stats.dashboards_connected(), 0);
    }

    #[test]
    fn rss_is_reported_on_linux() {
        if cfg!(target_os = "linux") {
            let rss = memory_stats::memory_stats()
                .map(|m| m.physical_mem)
                .unwrap_or(0);
            assert!(
                rss > 1024 * 1024,
                "a running process uses more than 1 MiB: {rss}"
            );
        }
    }
}
