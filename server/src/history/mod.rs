//! Durable history: metrics samples, finished sessions, alerts and runs in
//! SQLite (`<data dir>/history.sqlite3`, sqlx), created and migrated on open.
//!
//! - **Samples**: every collector tick's per-client sample (tier 0, kept
//!   [`HistoryConfig::raw_retention`], 1 h by default), and one-minute means
//!   of them (tier 1, kept [`HistoryConfig::retention`], 7 days). Each
//!   [`History::maintain`] (once a minute) folds the finished minutes into
//!   tier 1 and deletes what is past its retention.
//! - **Sessions**: each finished session's QoE (`SessionResult`), kept for
//!   the retention.
//! - **Alerts**: every alert as it opens and again when it resolves (keyed
//!   by the server's start and the alert's id), kept for the retention.
//! - **Runs** (`RunRecord`s, built by `crate::runs`): every
//!   `compare`, `bench`, `chaos` and `demo` run,
//!   from the command line (`--data-dir`), published to a server
//!   (`--publish`) or started from the dashboard; kept until deleted.
//!
//! The live engine writes through [`Recorder`], a bounded queue
//! ([`RECORDER_QUEUE`] writes) drained by one task, so a slow disk never
//! holds up the collector: a full queue drops the write and counts it.
//! sqlx runs SQLite on its own worker thread; nothing here blocks an async
//! worker. Schema: `PRAGMA user_version` 2 (version 1's files gain the
//! samples' `bitrate_kbps` column on open).

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use sqlx::{
    Row,
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
    },
};
use vstack_core::wire::{
    Alert, ClientKind, HistoryPoint, HistoryRange, HistoryResponse, MetricsSample, RunKind,
    RunRecord, RunSummary, SessionResult,
};

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "history.sqlite3";

/// Writes the [`Recorder`] queues at most before it drops new ones.
pub const RECORDER_QUEUE: usize = 4096;

/// Alerts a history answer carries at most.
pub const MAX_ALERTS_ANSWERED: i64 = 500;

/// Runs the list answers at most.
pub const MAX_RUNS_LISTED: i64 = 500;

/// Largest run record stored, bytes of JSON (a full bench report is ~40 KB).
pub const MAX_RUN_BYTES: usize = 4 << 20;

/// Schema version this code writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 2;

/// A failure of the history store.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// SQLite refused (open, query, disk full, …).
    #[error("history database: {0}")]
    Db(#[from] sqlx::Error),
    /// The database was written by a newer vstack.
    #[error(
        "history database: schema version {found} is newer than this vstack's {SCHEMA_VERSION}"
    )]
    NewerSchema {
        /// The file's `user_version`.
        found: i64,
    },
    /// A stored or given record does not (de)serialise.
    #[error("history record: {0}")]
    Json(#[from] serde_json::Error),
    /// A run record over [`MAX_RUN_BYTES`].
    #[error("run record of {0} bytes is over the {MAX_RUN_BYTES}-byte bound")]
    TooLarge(usize),
    /// [`History::publish_run`] with an id already stored.
    #[error("a run with id {0} is stored already; a published run never replaces one")]
    Exists(String),
}

/// Retention settings. Every field has a stated default
/// ([`HistoryConfig::default`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryConfig {
    /// How long raw collector samples are kept. Default 1 h.
    pub raw_retention: Duration,
    /// How long one-minute means, sessions and alerts are kept. Default 7
    /// days.
    pub retention: Duration,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        Self {
            raw_retention: Duration::from_secs(3600),
            retention: Duration::from_secs(7 * 86_400),
        }
    }
}

/// The open database; cheap to clone.
#[derive(Clone, Debug)]
pub struct History {
    pool: SqlitePool,
    config: HistoryConfig,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS samples (
    tier INTEGER NOT NULL,
    unix_ms INTEGER NOT NULL,
    client TEXT NOT NULL,
    buffer_level_s REAL NOT NULL,
    throughput_mbps REAL NOT NULL,
    avg_download_ms REAL NOT NULL,
    node_scores TEXT NOT NULL,
    bitrate_kbps REAL,
    PRIMARY KEY (tier, unix_ms, client)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    unix_ms INTEGER NOT NULL,
    client TEXT NOT NULL,
    json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_time ON sessions (unix_ms);
CREATE TABLE IF NOT EXISTS alerts (
    server_start_unix_ms INTEGER NOT NULL,
    alert_id INTEGER NOT NULL,
    started_unix_ms INTEGER NOT NULL,
    ended_unix_ms INTEGER,
    json TEXT NOT NULL,
    PRIMARY KEY (server_start_unix_ms, alert_id)
);
CREATE INDEX IF NOT EXISTS alerts_time ON alerts (started_unix_ms);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    started_unix_ms INTEGER NOT NULL,
    finished_unix_ms INTEGER NOT NULL,
    summary TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_time ON runs (finished_unix_ms);
";

impl History {
    /// Opens (creating and migrating) `<dir>/history.sqlite3`.
    ///
    /// # Errors
    /// [`HistoryError::Db`] when the directory or database cannot be
    /// opened; [`HistoryError::NewerSchema`] for a newer vstack's file.
    pub async fn open(dir: &Path, config: HistoryConfig) -> Result<Self, HistoryError> {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| HistoryError::Db(sqlx::Error::Io(e)))?;
        let options = SqliteConnectOptions::new()
            .filename(dir.join(DB_FILE))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await?;
        let found: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&pool)
            .await?;
        if found > SCHEMA_VERSION {
            return Err(HistoryError::NewerSchema { found });
        }
        if found == 1 {
            // Version 2 keeps the level playing (a video with a ladder).
            sqlx::raw_sql("ALTER TABLE samples ADD COLUMN bitrate_kbps REAL")
                .execute(&pool)
                .await?;
        }
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        sqlx::raw_sql(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
            .execute(&pool)
            .await?;
        Ok(Self { pool, config })
    }

    /// The retention settings.
    pub fn config(&self) -> &HistoryConfig {
        &self.config
    }

    /// Stores one collector sample (each running client's) at `unix_ms`.
    ///
    /// # Errors
    /// [`HistoryError::Db`].
    pub async fn record_sample(
        &self,
        unix_ms: u64,
        sample: &MetricsSample,
    ) -> Result<(), HistoryError> {
        for (kind, c) in sample.clients.iter() {
            let Some(c) = c else { continue };
            sqlx::query("INSERT OR REPLACE INTO samples VALUES (0, ?, ?, ?, ?, ?, ?, ?)")
                .bind(to_i64(unix_ms))
                .bind(kind.name())
                .bind(c.buffer_level_s)
                .bind(c.throughput_mbps)
                .bind(c.avg_download_ms)
                .bind(serde_json::to_string(&c.node_scores)?)
                .bind(c.bitrate_kbps)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// Stores a finished session.
    ///
    /// # Errors
    /// [`HistoryError::Db`].
    pub async fn record_session(
        &self,
        unix_ms: u64,
        session: &SessionResult,
    ) -> Result<(), HistoryError> {
        sqlx::query("INSERT INTO sessions (unix_ms, client, json) VALUES (?, ?, ?)")
            .bind(to_i64(unix_ms))
            .bind(session.kind.name())
            .bind(serde_json::to_string(session)?)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stores an alert as it is now (opened, or resolved: the same row).
    ///
    /// # Errors
    /// [`HistoryError::Db`].
    pub async fn record_alert(
        &self,
        server_start_unix_ms: u64,
        alert: &Alert,
    ) -> Result<(), HistoryError> {
        sqlx::query("INSERT OR REPLACE INTO alerts VALUES (?, ?, ?, ?, ?)")
            .bind(to_i64(server_start_unix_ms))
            .bind(to_i64(alert.id))
            .bind(to_i64(alert.started_unix_ms))
            .bind(alert.ended_unix_ms.map(to_i64))
            .bind(serde_json::to_string(alert)?)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Folds finished minutes of raw samples into one-minute means and
    /// deletes what is past its retention. Returns the rows deleted.
    ///
    /// # Errors
    /// [`HistoryError::Db`].
    pub async fn maintain(&self, now_unix_ms: u64) -> Result<u64, HistoryError> {
        let minute_start = now_unix_ms - now_unix_ms % 60_000;
        // Minutes already folded are replaced by the same means (raw rows
        // of a minute never change once it is over).
        let rows = sqlx::query(
            "SELECT (unix_ms / 60000) * 60000 AS minute, client,
                    AVG(buffer_level_s), AVG(throughput_mbps), AVG(avg_download_ms),
                    GROUP_CONCAT(node_scores, '|'), AVG(bitrate_kbps)
             FROM samples WHERE tier = 0 AND unix_ms < ?
             GROUP BY minute, client",
        )
        .bind(to_i64(minute_start))
        .fetch_all(&self.pool)
        .await?;
        let mut tx = self.pool.begin().await?;
        for r in rows {
            let minute: i64 = r.get(0);
            let client: String = r.get(1);
            let scores = mean_scores(r.get::<Option<String>, _>(5).as_deref().unwrap_or(""));
            sqlx::query("INSERT OR REPLACE INTO samples VALUES (1, ?, ?, ?, ?, ?, ?, ?)")
                .bind(minute)
                .bind(client)
                .bind(r.get::<f64, _>(2))
                .bind(r.get::<f64, _>(3))
                .bind(r.get::<f64, _>(4))
                .bind(serde_json::to_string(&scores)?)
                .bind(r.get::<Option<f64>, _>(6))
                .execute(&mut *tx)
                .await?;
        }
        let raw_cut = now_unix_ms.saturating_sub(ms(self.config.raw_retention));
        let cut = now_unix_ms.saturating_sub(ms(self.config.retention));
        let mut deleted = 0;
        for (sql, at) in [
            (
                "DELETE FROM samples WHERE tier = 0 AND unix_ms < ?",
                raw_cut,
            ),
            ("DELETE FROM samples WHERE tier = 1 AND unix_ms < ?", cut),
            ("DELETE FROM sessions WHERE unix_ms < ?", cut),
            (
                "DELETE FROM alerts WHERE COALESCE(ended_unix_ms, started_unix_ms) < ?",
                cut,
            ),
        ] {
            deleted += sqlx::query(sql)
                .bind(to_i64(at))
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(deleted)
    }

    /// The samples and alerts of `range` ending at `now_unix_ms`: raw
    /// samples for 15 min and 1 h, one-minute means for 24 h and 7 d (raw
    /// samples of minutes not folded yet are averaged on the fly).
    ///
    /// # Errors
    /// [`HistoryError::Db`].
    pub async fn samples(
        &self,
        range: HistoryRange,
        now_unix_ms: u64,
        node_ids: Vec<String>,
        collector_interval_ms: u64,
    ) -> Result<HistoryResponse, HistoryError> {
        let from = now_unix_ms.saturating_sub(range.span_ms());
        let raw = matches!(range, HistoryRange::Min15 | HistoryRange::Hour1);
        let rows = if raw {
            sqlx::query(
                "SELECT unix_ms, client, buffer_level_s, throughput_mbps, avg_download_ms, node_scores,
                        bitrate_kbps
                 FROM samples WHERE tier = 0 AND unix_ms >= ? ORDER BY unix_ms",
            )
            .bind(to_i64(from))
            .fetch_all(&self.pool)
            .await?
        } else {
            sqlx::query(
                "SELECT unix_ms, client, buffer_level_s, throughput_mbps, avg_download_ms, node_scores,
                        bitrate_kbps
                 FROM samples WHERE tier = 1 AND unix_ms >= ?
                 UNION ALL
                 SELECT (unix_ms / 60000) * 60000 AS m, client, AVG(buffer_level_s),
                        AVG(throughput_mbps), AVG(avg_download_ms), MAX(node_scores),
                        AVG(bitrate_kbps)
                 FROM samples WHERE tier = 0 AND unix_ms >= ?
                   AND (unix_ms / 60000) * 60000 NOT IN
                       (SELECT unix_ms FROM samples WHERE tier = 1 AND unix_ms >= ?)
                 GROUP BY m, client
                 ORDER BY 1",
            )
            .bind(to_i64(from))
            .bind(to_i64(from))
            .bind(to_i64(from))
            .fetch_all(&self.pool)
            .await?
        };
        let points = rows
            .into_iter()
            .filter_map(|r| {
                Some(HistoryPoint {
                    unix_ms: u64::try_from(r.get::<i64, _>(0)).ok()?,
                    client: match r.get::<String, _>(1).as_str() {
                        "smart" => ClientKind::Smart,
                        "naive" => ClientKind::Naive,
                        _ => return None,
                    },
                    buffer_level_s: r.get(2),
                    throughput_mbps: r.get(3),
                    avg_download_ms: r.get(4),
                    node_scores: serde_json::from_str(&r.get::<String, _>(5)).unwrap_or_default(),
                    bitrate_kbps: r.get(6),
                })
            })
            .collect();
        let alerts = self.alerts_between(from, now_unix_ms).await?;
        Ok(HistoryResponse {
            range,
            resolution_ms: if raw { collector_interval_ms } else { 60_000 },
            now_unix_ms,
            node_ids,
            points,
            alerts,
        })
    }

    /// Alerts open at any time in `[from, to]`, newest first (at most
    /// [`MAX_ALERTS_ANSWERED`]).
    ///
    /// # Errors
    /// [`HistoryError::Db`].
    pub async fn alerts_between(&self, from: u64, to: u64) -> Result<Vec<Alert>, HistoryError> {
        let rows = sqlx::query(
            "SELECT json FROM alerts
             WHERE started_unix_ms <= ? AND COALESCE(ended_unix_ms, ?) >= ?
             ORDER BY started_unix_ms DESC LIMIT ?",
        )
        .bind(to_i64(to))
        .bind(to_i64(to))
        .bind(to_i64(from))
        .bind(MAX_ALERTS_ANSWERED)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| Ok(serde_json::from_str(&r.get::<String, _>(0))?))
            .collect()
    }

    /// Finished sessions since `from_unix_ms`, oldest first (at most 10 000).
    ///
    /// # Errors
    /// [`HistoryError::Db`].
    pub async fn sessions(&self, from_unix_ms: u64) -> Result<Vec<SessionResult>, HistoryError> {
        let rows = sqlx::query(
            "SELECT json FROM sessions WHERE unix_ms >= ? ORDER BY unix_ms LIMIT 10000",
        )
        .bind(to_i64(from_unix_ms))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| Ok(serde_json::from_str(&r.get::<String, _>(0))?))
            .collect()
    }

    /// Stores a run (replacing one with the same id).
    ///
    /// # Errors
    /// [`HistoryError::TooLarge`] over [`MAX_RUN_BYTES`]; [`HistoryError::Db`].
    pub async fn save_run(&self, run: &RunRecord) -> Result<(), HistoryError> {
        self.insert_run(run, "INSERT OR REPLACE").await
    }

    /// Stores a run that arrived from elsewhere (`POST /api/runs`): never
    /// over a stored one.
    ///
    /// # Errors
    /// [`HistoryError::Exists`] when its id is taken; otherwise as
    /// [`History::save_run`].
    pub async fn publish_run(&self, run: &RunRecord) -> Result<(), HistoryError> {
        match self.insert_run(run, "INSERT").await {
            Err(HistoryError::Db(sqlx::Error::Database(e))) if e.is_unique_violation() => {
                Err(HistoryError::Exists(run.summary.id.clone()))
            }
            r => r,
        }
    }

    async fn insert_run(&self, run: &RunRecord, verb: &str) -> Result<(), HistoryError> {
        let record = serde_json::to_string(run)?;
        if record.len() > MAX_RUN_BYTES {
            return Err(HistoryError::TooLarge(record.len()));
        }
        let s = &run.summary;
        sqlx::query(&format!("{verb} INTO runs VALUES (?, ?, ?, ?, ?, ?)"))
            .bind(&s.id)
            .bind(s.kind.name())
            .bind(to_i64(s.started_unix_ms))
            .bind(to_i64(s.finished_unix_ms))
            .bind(serde_json::to_string(s)?)
            .bind(record)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Runs, newest first, of `kind` if given (at most
    /// [`MAX_RUNS_LISTED`]).
    ///
    /// # Errors
    /// [`HistoryError::Db`].
    pub async fn list_runs(&self, kind: Option<RunKind>) -> Result<Vec<RunSummary>, HistoryError> {
        let rows = sqlx::query(
            "SELECT summary FROM runs WHERE (?1 IS NULL OR kind = ?1)
             ORDER BY finished_unix_ms DESC LIMIT ?2",
        )
        .bind(kind.map(RunKind::name))
        .bind(MAX_RUNS_LISTED)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| Ok(serde_json::from_str(&r.get::<String, _>(0))?))
            .collect()
    }

    /// One run; `None` for an unknown id.
    ///
    /// # Errors
    /// [`HistoryError::Db`]; [`HistoryError::Json`] for a damaged row.
    pub async fn run(&self, id: &str) -> Result<Option<RunRecord>, HistoryError> {
        let row = sqlx::query("SELECT record FROM runs WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok(serde_json::from_str(&r.get::<String, _>(0))?))
            .transpose()
    }
}

/// Mean per node of `|`-joined JSON arrays of scores.
fn mean_scores(joined: &str) -> Vec<f64> {
    let mut sum: Vec<f64> = Vec::new();
    let mut n = 0.0;
    for part in joined.split('|').filter(|p| !p.is_empty()) {
        let Ok(v) = serde_json::from_str::<Vec<f64>>(part) else {
            continue;
        };
        if sum.len() < v.len() {
            sum.resize(v.len(), 0.0);
        }
        for (s, x) in sum.iter_mut().zip(v) {
            *s += x;
        }
        n += 1.0;
    }
    if n > 0.0 {
        for s in &mut sum {
            *s /= n;
        }
    }
    sum
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Unix ms now.
pub fn unix_ms_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, ms)
}

/// What the live engine writes.
#[derive(Debug)]
enum Write {
    Sample(u64, MetricsSample),
    Session(u64, SessionResult),
    Alert(Alert),
    Run(Box<RunRecord>),
}

/// The live engine's handle to the history: a bounded queue
/// ([`RECORDER_QUEUE`]) drained by one task that also runs
/// [`History::maintain`] once a minute. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Recorder {
    history: History,
    tx: tokio::sync::mpsc::Sender<Write>,
    dropped: Arc<AtomicU64>,
    server_start_unix_ms: u64,
}

impl Recorder {
    /// Starts the writer task over `history`.
    pub fn spawn(history: History) -> Self {
        let (tx, mut rx) = tokio::sync::mpsc::channel(RECORDER_QUEUE);
        let server_start_unix_ms = unix_ms_now();
        let h = history.clone();
        tokio::spawn(async move {
            let mut maintain = tokio::time::interval(Duration::from_secs(60));
            maintain.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    w = rx.recv() => {
                        let Some(w) = w else { break };
                        let r = match &w {
                            Write::Sample(t, s) => h.record_sample(*t, s).await,
                            Write::Session(t, s) => h.record_session(*t, s).await,
                            Write::Alert(a) => h.record_alert(server_start_unix_ms, a).await,
                            Write::Run(r) => h.save_run(r).await,
                        };
                        if let Err(e) = r {
                            tracing::warn!("history write failed: {e}");
                        }
                    }
                    _ = maintain.tick() => {
                        if let Err(e) = h.maintain(unix_ms_now()).await {
                            tracing::warn!("history maintenance failed: {e}");
                        }
                    }
                }
            }
        });
        Self {
            history,
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
            server_start_unix_ms,
        }
    }

    /// The store, for reads.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Writes dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn push(&self, w: Write) {
        if self.tx.try_send(w).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Queues a collector sample taken now.
    pub fn sample(&self, sample: &MetricsSample) {
        self.push(Write::Sample(unix_ms_now(), sample.clone()));
    }

    /// Queues a finished session.
    pub fn session(&self, session: &SessionResult) {
        self.push(Write::Session(unix_ms_now(), session.clone()));
    }

    /// Queues an alert (opened or resolved).
    pub fn alert(&self, alert: &Alert) {
        self.push(Write::Alert(alert.clone()));
    }

    /// Queues a run.
    pub fn run(&self, run: RunRecord) {
        self.push(Write::Run(Box::new(run)));
    }

    /// When this server started, Unix ms (the alerts' key).
    pub fn server_start_unix_ms(&self) -> u64 {
        self.server_start_unix_ms
    }
}

#[cfg(test)]
mod tests {
    use vstack_core::wire::{ClientSample, PerClient, PlaybackState};

    use super::*;

    fn sample(buffer: f64) -> MetricsSample {
        MetricsSample {
            uptime_ms: 0,
            clients: PerClient {
                smart: Some(ClientSample {
                    buffer_level_s: buffer,
                    throughput_mbps: 10.0,
                    node_scores: vec![1.0, 2.0],
                    avg_download_ms: 50.0,
                    bytes_transferred: 0,
                    state: PlaybackState::Playing,
                    bitrate_kbps: Some(1000.0 + buffer),
                }),
                naive: None,
            },
        }
    }

    #[tokio::test]
    async fn samples_fold_into_minutes_and_expire() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path(), HistoryConfig::default())
            .await
            .unwrap();
        // A minute boundary (1 800 000 000 000 is one: 30 000 000 minutes).
        let t0: u64 = 1_800_000_000_000;
        for i in 0..30u64 {
            h.record_sample(t0 + i * 2000, &sample(i as f64))
                .await
                .unwrap();
        }
        let now = t0 + 61_000;
        let r = h
            .samples(
                HistoryRange::Min15,
                now,
                vec!["n1".into(), "n2".into()],
                2000,
            )
            .await
            .unwrap();
        assert_eq!(r.points.len(), 30);
        assert_eq!(r.resolution_ms, 2000);
        // Before maintenance the 24 h view averages the minute on the fly.
        let day = h
            .samples(HistoryRange::Hour24, now, vec![], 2000)
            .await
            .unwrap();
        assert_eq!(day.points.len(), 1, "{:?}", day.points);
        assert!((day.points[0].buffer_level_s - 14.5).abs() < 1e-9);
        h.maintain(now).await.unwrap();
        let day = h
            .samples(HistoryRange::Hour24, now, vec![], 2000)
            .await
            .unwrap();
        assert_eq!(day.points.len(), 1);
        assert!((day.points[0].buffer_level_s - 14.5).abs() < 1e-9);
        assert_eq!(day.points[0].node_scores, vec![1.0, 2.0]);
        assert_eq!(day.points[0].bitrate_kbps, Some(1014.5), "the level's mean");
        // Two hours later the raw rows are gone, the minute stays.
        h.maintain(now + 2 * 3_600_000).await.unwrap();
        let raw = h
            .samples(HistoryRange::Hour1, now + 2 * 3_600_000, vec![], 2000)
            .await
            .unwrap();
        assert!(raw.points.is_empty());
        let week = h
            .samples(HistoryRange::Day7, now + 2 * 3_600_000, vec![], 2000)
            .await
            .unwrap();
        assert_eq!(week.points.len(), 1);
        // Eight days later the minute is past the retention.
        h.maintain(now + 8 * 86_400_000).await.unwrap();
        let week = h
            .samples(HistoryRange::Day7, now + 8 * 86_400_000, vec![], 2000)
            .await
            .unwrap();
        assert!(week.points.is_empty());
    }

    fn sample_run(id: &str) -> RunRecord {
        RunRecord {
            summary: RunSummary {
                id: id.into(),
                kind: RunKind::Compare,
                title: "t".into(),
                headline: "h".into(),
                passed: None,
                started_unix_ms: 1,
                finished_unix_ms: 2,
                conditions: "c".into(),
                source: "cli".into(),
            },
            machine: vec![],
            version: "0".into(),
            tables: vec![],
            charts: vec![],
            notes: vec![],
            report: serde_json::json!({}),
        }
    }

    #[tokio::test]
    async fn a_reopened_database_keeps_everything() {
        let dir = tempfile::tempdir().unwrap();
        let t = 1_800_000_000_000;
        {
            let h = History::open(dir.path(), HistoryConfig::default())
                .await
                .unwrap();
            h.record_sample(t, &sample(3.0)).await.unwrap();
            let mut run = sample_run("abc0123456789def");
            run.summary.finished_unix_ms = t;
            h.save_run(&run).await.unwrap();
        }
        let h = History::open(dir.path(), HistoryConfig::default())
            .await
            .unwrap();
        let r = h
            .samples(HistoryRange::Hour1, t + 1000, vec![], 2000)
            .await
            .unwrap();
        assert_eq!(r.points.len(), 1);
        let runs = h.list_runs(None).await.unwrap();
        assert_eq!(runs.len(), 1);
        assert!(h.run("abc0123456789def").await.unwrap().is_some());
        assert!(h.run("nope").await.unwrap().is_none());
        assert!(h.list_runs(Some(RunKind::Chaos)).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(
            History::open(dir.path(), HistoryConfig::default())
                .await
                .unwrap(),
        );
        let pool = SqlitePoolOptions::new()
            .connect_with(SqliteConnectOptions::new().filename(dir.path().join(DB_FILE)))
            .await
            .unwrap();
        sqlx::raw_sql("PRAGMA user_version = 99")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let e = History::open(dir.path(), HistoryConfig::default())
            .await
            .unwrap_err();
        assert!(matches!(e, HistoryError::NewerSchema { found: 99 }), "{e}");
    }

    #[tokio::test]
    async fn a_version_1_file_gains_the_bitrate_column_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path()).unwrap();
        let pool = SqlitePoolOptions::new()
            .connect_with(
                SqliteConnectOptions::new()
                    .filename(dir.path().join(DB_FILE))
                    .create_if_missing(true),
            )
            .await
            .unwrap();
        sqlx::raw_sql(
            "CREATE TABLE samples (tier INTEGER NOT NULL, unix_ms INTEGER NOT NULL,
                 client TEXT NOT NULL, buffer_level_s REAL NOT NULL,
                 throughput_mbps REAL NOT NULL, avg_download_ms REAL NOT NULL,
                 node_scores TEXT NOT NULL, PRIMARY KEY (tier, unix_ms, client)) WITHOUT ROWID;
             INSERT INTO samples VALUES (0, 1800000000000, 'smart', 12.0, 5.0, 40.0, '[]');
             PRAGMA user_version = 1;",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
        let h = History::open(dir.path(), HistoryConfig::default())
            .await
            .unwrap();
        h.record_sample(1_800_000_002_000, &sample(3.0))
            .await
            .unwrap();
        let r = h
            .samples(HistoryRange::Min15, 1_800_000_010_000, vec![], 2000)
            .await
            .unwrap();
        let levels: Vec<Option<f64>> = r.points.iter().map(|p| p.bitrate_kbps).collect();
        assert_eq!(levels, [None, Some(1003.0)], "{:?}", r.points);
    }
}
