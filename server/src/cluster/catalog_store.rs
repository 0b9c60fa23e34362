//! The metadata service's durable state: the node registry and the video
//! catalog in SQLite (`<data dir>/metadata.sqlite3`), so a restarted service
//! still knows every node and serves every video whose chunks and chosen
//! ChunkPaxos records are on the nodes.
//!
//! Writes go through before the service answers (WAL journal, `synchronous =
//! FULL`); the in-memory maps in [`super::metadata::MetadataService`] are the
//! read path. sqlx runs SQLite on its own worker thread, so nothing here
//! blocks an async worker. The schema is created on open (`CREATE TABLE IF
//! NOT EXISTS`, `user_version` 1).

use std::path::Path;

use sqlx::{
    Row,
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
    },
};

use super::wire::VideoManifest;

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "metadata.sqlite3";

/// A failure of the catalog store.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// SQLite refused (open, query, disk full, …).
    #[error("catalog database: {0}")]
    Db(#[from] sqlx::Error),
    /// A stored manifest does not decode (a newer or damaged file).
    #[error("catalog database: stored manifest of {video_id:?} unreadable: {message}")]
    Corrupt {
        /// The video.
        video_id: String,
        /// The decode error.
        message: String,
    },
}

/// A registered node as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredNode {
    /// Node id.
    pub node_id: String,
    /// Its base URL.
    pub url: String,
}

/// The open database.
#[derive(Clone, Debug)]
pub struct CatalogStore {
    pool: SqlitePool,
}

impl CatalogStore {
    /// Opens (creating) `<dir>/metadata.sqlite3` and its tables.
    ///
    /// # Errors
    /// [`CatalogError::Db`] when the directory or database cannot be opened.
    pub async fn open(dir: &Path) -> Result<Self, CatalogError> {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| CatalogError::Db(sqlx::Error::Io(e)))?;
        let options = SqliteConnectOptions::new()
            .filename(dir.join(DB_FILE))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(5));
        // One connection: writes are serialised anyway, and reads come from
        // memory.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS nodes (
                 node_id TEXT PRIMARY KEY NOT NULL,
                 url TEXT NOT NULL,
                 position INTEGER NOT NULL
             );
             CREATE TABLE IF NOT EXISTS videos (
                 video_id TEXT PRIMARY KEY NOT NULL,
                 version INTEGER NOT NULL,
                 manifest TEXT NOT NULL,
                 updated_unix_ms INTEGER NOT NULL
             );
             PRAGMA user_version = 1;",
        )
        .execute(&pool)
        .await?;
        Ok(Self { pool })
    }

    /// Every stored node, in registration order.
    ///
    /// # Errors
    /// [`CatalogError::Db`].
    pub async fn nodes(&self) -> Result<Vec<StoredNode>, CatalogError> {
        let rows = sqlx::query("SELECT node_id, url FROM nodes ORDER BY position")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| StoredNode {
                node_id: r.get(0),
                url: r.get(1),
            })
            .collect())
    }

    /// Every stored manifest.
    ///
    /// # Errors
    /// [`CatalogError`] when a query fails or a manifest does not decode.
    pub async fn videos(&self) -> Result<Vec<VideoManifest>, CatalogError> {
        let rows = sqlx::query("SELECT video_id, manifest FROM videos ORDER BY video_id")
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|r| {
                let video_id: String = r.get(0);
                let json: String = r.get(1);
                serde_json::from_str(&json).map_err(|e| CatalogError::Corrupt {
                    video_id,
                    message: e.to_string(),
                })
            })
            .collect()
    }

    /// Stores node `node_id` at `url`, at registry position `position`.
    ///
    /// # Errors
    /// [`CatalogError::Db`].
    pub async fn put_node(
        &self,
        node_id: &str,
        url: &str,
        position: usize,
    ) -> Result<(), CatalogError> {
        sqlx::query(
            "INSERT INTO nodes (node_id, url, position) VALUES (?1, ?2, ?3)
             ON CONFLICT(node_id) DO UPDATE SET url = excluded.url",
        )
        .bind(node_id)
        .bind(url)
        .bind(i64::try_from(position).unwrap_or(i64::MAX))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Stores (replacing) a manifest.
    ///
    /// # Errors
    /// [`CatalogError::Db`].
    pub async fn put_video(&self, m: &VideoManifest) -> Result<(), CatalogError> {
        let json = serde_json::to_string(m).map_err(|e| CatalogError::Corrupt {
            video_id: m.video_id.clone(),
            message: e.to_string(),
        })?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        sqlx::query(
            "INSERT INTO videos (video_id, version, manifest, updated_unix_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(video_id) DO UPDATE SET version = excluded.version,
                 manifest = excluded.manifest, updated_unix_ms = excluded.updated_unix_ms",
        )
        .bind(&m.video_id)
        .bind(i64::try_from(m.version).unwrap_or(i64::MAX))
        .bind(json)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes a manifest; `false` when there was none.
    ///
    /// # Errors
    /// [`CatalogError::Db`].
    pub async fn delete_video(&self, video_id: &str) -> Result<bool, CatalogError> {
        let r = sqlx::query("DELETE FROM videos WHERE video_id = ?1")
            .bind(video_id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }
}
