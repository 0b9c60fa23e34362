//! The disk store: the chunk index, atomic writes, reads that notice a
//! concurrent overwrite, and the scan that rebuilds the index on start.

use super::*;

impl StorageNode {
    /// Opens (creating if needed) the data directory, removes temporary files
    /// left by a crash and indexes the chunks found, hashing each.
    ///
    /// # Errors
    /// [`StorageError`] when the id is invalid or the directory unusable.
    pub fn open(config: StorageConfig, emulator: Emulator) -> Result<Self, StorageError> {
        validate_id("node", &config.node_id).map_err(|e| StorageError::BadId(e.message))?;
        let dir = &config.data_dir;
        let io = |source| StorageError::Io {
            path: dir.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut index = HashMap::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(".tmp-") {
                let _ = std::fs::remove_file(entry.path());
                continue;
            }
            let Some(id) = name.strip_suffix(".chunk") else {
                continue;
            };
            if validate_id("chunk", id).is_err() {
                continue;
            }
            let bytes = std::fs::read(entry.path()).map_err(|source| StorageError::Io {
                path: entry.path(),
                source,
            })?;
            index.insert(
                id.to_string(),
                StoredChunk {
                    chunk_id: id.to_string(),
                    size_bytes: bytes.len() as u64,
                    sha256: sha256_hex(&bytes),
                },
            );
        }
        let paxos =
            crate::cluster::acceptor_store::AcceptorStore::open(dir.join("paxos")).map_err(io)?;
        Ok(Self {
            popularity: popularity_window(&config),
            started: tokio::time::Instant::now(),
            http: crate::http::prom::HttpMetrics::new("node"),
            served_bytes: std::sync::atomic::AtomicU64::new(0),
            config,
            index: Arc::new(RwLock::new(index)),
            emulator,
            node_index: AtomicUsize::new(0),
            paxos: Arc::new(paxos),
        })
    }

    /// A twin of this node: the same data directory and chunk index (a chunk
    /// stored through either is seen by both), its own emulator. The dashboard's
    /// naive client streams from twins of the smart client's nodes, so both
    /// read the same bytes under separately controlled, identical conditions.
    pub fn twin(&self, emulator: Emulator) -> Self {
        Self {
            popularity: popularity_window(&self.config),
            started: tokio::time::Instant::now(),
            http: crate::http::prom::HttpMetrics::new("node"),
            served_bytes: std::sync::atomic::AtomicU64::new(0),
            config: self.config.clone(),
            index: self.index.clone(),
            emulator,
            node_index: AtomicUsize::new(self.node_index()),
            paxos: self.paxos.clone(),
        }
    }

    /// Node id.
    pub fn node_id(&self) -> &str {
        &self.config.node_id
    }

    /// The node's emulator.
    pub fn emulator(&self) -> &Emulator {
        &self.emulator
    }

    /// Position in the metadata service's registry (for scenarios), 0 until set.
    pub fn node_index(&self) -> usize {
        self.node_index.load(Ordering::Relaxed)
    }

    /// Sets the registry position.
    pub fn set_node_index(&self, i: usize) {
        self.node_index.store(i, Ordering::Relaxed);
    }

    /// Chunk count and bytes stored.
    pub fn usage(&self) -> NodeHeartbeat {
        let idx = self.index.read_locked();
        NodeHeartbeat {
            chunk_count: idx.len() as u64,
            bytes_stored: idx.values().map(|c| c.size_bytes).sum(),
            window_ms: self.config.popularity_window.as_millis() as u64,
            ..NodeHeartbeat::default()
        }
    }

    /// Counts one GET of chunk `id` by `voter` in the popularity window
    /// (one vote per client per window, [`PopularityWindow::record_vote`]).
    pub(super) fn count_get(&self, id: &str, voter: &str) {
        let now = self.started.elapsed();
        self.popularity.locked().record_vote(now, id, voter);
    }

    /// What the node's heartbeat carries: [`Self::usage`], the free space of
    /// its data disk (a `statvfs` on the blocking pool) and the GETs per
    /// chunk over its popularity window.
    pub async fn heartbeat_body(&self) -> NodeHeartbeat {
        let mut h = self.usage();
        let dir = self.config.data_dir.clone();
        h.free_bytes = tokio::task::spawn_blocking(move || free_bytes(&dir))
            .await
            .ok()
            .flatten();
        let now = self.started.elapsed();
        let top = self.popularity.locked().top(now, usize::MAX);
        h.gets_in_window = top.iter().fold(0u64, |a, (_, n)| a.saturating_add(*n));
        h.popularity = top
            .into_iter()
            .take(crate::cluster::wire::MAX_HEARTBEAT_POPULARITY)
            .map(|(chunk_id, gets)| crate::cluster::wire::ChunkGets { chunk_id, gets })
            .collect();
        h
    }

    /// Every stored chunk, sorted by id.
    pub fn chunks(&self) -> Vec<StoredChunk> {
        let idx = self.index.read_locked();
        let mut v: Vec<_> = idx.values().cloned().collect();
        v.sort_by(|a, b| a.chunk_id.cmp(&b.chunk_id));
        v
    }

    /// Whether this node holds chunk `id`.
    pub fn holds(&self, id: &str) -> bool {
        self.index.read_locked().contains_key(id)
    }

    pub(super) fn lookup(&self, id: &str) -> Option<StoredChunk> {
        self.index.read_locked().get(id).cloned()
    }

    fn path_of(&self, id: &str) -> PathBuf {
        self.config.data_dir.join(format!("{id}.chunk"))
    }

    /// Stores `bytes` as chunk `id` after checking `sha256` (atomic replace).
    /// Returns true when the chunk is new.
    ///
    /// # Errors
    /// 400 bad id, 413 too large, 422 hash mismatch, 500 disk errors.
    pub async fn store(&self, id: &str, sha256: &str, bytes: Bytes) -> Result<bool, ApiError> {
        validate_id("chunk", id)?;
        if bytes.len() as u64 > self.config.max_chunk_bytes {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "chunk of {} bytes exceeds the {} byte limit",
                    bytes.len(),
                    self.config.max_chunk_bytes
                ),
            ));
        }
        let actual = sha256_hex(&bytes);
        if !actual.eq_ignore_ascii_case(sha256.trim()) {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("content hash mismatch: header says {sha256}, body hashes to {actual}"),
            ));
        }
        let dir = self.config.data_dir.clone();
        let target = self.path_of(id);
        let tmp = dir.join(format!(
            ".tmp-{id}-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        ));
        let len = bytes.len() as u64;
        tokio::task::spawn_blocking(move || write_atomically(&dir, &tmp, &target, &bytes))
            .await
            .map_err(|e| ApiError::internal(format!("write task: {e}")))?
            .map_err(|e| ApiError::internal(format!("write failed: {e}")))?;
        let new = self
            .index
            .write_locked()
            .insert(
                id.to_string(),
                StoredChunk {
                    chunk_id: id.to_string(),
                    size_bytes: len,
                    sha256: actual,
                },
            )
            .is_none();
        Ok(new)
    }

    /// Reads chunk `id` from disk.
    ///
    /// # Errors
    /// 400 bad id, 404 unknown, 500 disk errors.
    pub async fn read(&self, id: &str) -> Result<(StoredChunk, Bytes), ApiError> {
        validate_id("chunk", id)?;
        let meta = self
            .lookup(id)
            .ok_or_else(|| ApiError::not_found(format!("no chunk {id:?} on this node")))?;
        let bytes = tokio::fs::read(self.path_of(id))
            .await
            .map_err(|e| ApiError::internal(format!("read failed: {e}")))?;
        if bytes.len() as u64 != meta.size_bytes {
            return Err(changed_while_read());
        }
        Ok((meta, Bytes::from(bytes)))
    }

    /// Reads bytes `start..end` of chunk `id` from disk (on the blocking
    /// pool), without reading the rest of the file.
    ///
    /// # Errors
    /// 400 bad id, 404 unknown, 500 disk errors (a file shorter than its
    /// record included).
    pub async fn read_range(
        &self,
        id: &str,
        start: u64,
        end: u64,
    ) -> Result<(StoredChunk, Bytes), ApiError> {
        let len = usize::try_from(end.saturating_sub(start))
            .map_err(|_| ApiError::internal("range too long"))?;
        let mut f = self.open_range(id, start, end).await?;
        let meta = self
            .lookup(id)
            .ok_or_else(|| ApiError::not_found(format!("no chunk {id:?} on this node")))?;
        let bytes = tokio::task::spawn_blocking(move || -> std::io::Result<Option<Vec<u8>>> {
            use std::io::Read;
            let mut v = vec![0u8; len];
            match f.read_exact(&mut v) {
                Ok(()) => Ok(Some(v)),
                // Shrunk by an overwrite after the length check.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await
        .map_err(|e| ApiError::internal(format!("read task failed: {e}")))?
        .map_err(|e| ApiError::internal(format!("read failed: {e}")))?
        .ok_or_else(changed_while_read)?;
        Ok((meta, Bytes::from(bytes)))
    }

    /// Opens chunk `id` for streaming bytes `start..end`: the file, checked
    /// to have the chunk's size and positioned at `start` (on the blocking
    /// pool). The body then reads it block by block ([`READ_BLOCK_BYTES`]).
    ///
    /// # Errors
    /// 400 bad id, 404 unknown, 503 when the file changed size (an overwrite
    /// racing the read), 500 disk errors.
    pub async fn open_range(
        &self,
        id: &str,
        start: u64,
        end: u64,
    ) -> Result<std::fs::File, ApiError> {
        validate_id("chunk", id)?;
        let meta = self
            .lookup(id)
            .ok_or_else(|| ApiError::not_found(format!("no chunk {id:?} on this node")))?;
        if start > end || end > meta.size_bytes {
            return Err(ApiError::internal("range outside the chunk"));
        }
        let path = self.path_of(id);
        let size = meta.size_bytes;
        tokio::task::spawn_blocking(move || -> std::io::Result<Option<std::fs::File>> {
            use std::io::{Seek, SeekFrom};
            let mut f = std::fs::File::open(path)?;
            if f.metadata()?.len() != size {
                return Ok(None);
            }
            f.seek(SeekFrom::Start(start))?;
            Ok(Some(f))
        })
        .await
        .map_err(|e| ApiError::internal(format!("open task failed: {e}")))?
        .map_err(|e| ApiError::internal(format!("open failed: {e}")))?
        .ok_or_else(changed_while_read)
    }

    /// Deletes chunk `id`.
    ///
    /// # Errors
    /// 400 bad id, 404 unknown, 500 disk errors.
    pub async fn delete(&self, id: &str) -> Result<(), ApiError> {
        validate_id("chunk", id)?;
        if self.index.write_locked().remove(id).is_none() {
            return Err(ApiError::not_found(format!("no chunk {id:?} on this node")));
        }
        tokio::fs::remove_file(self.path_of(id))
            .await
            .map_err(|e| ApiError::internal(format!("delete failed: {e}")))
    }
}

/// Free bytes on the file system holding `dir` (for unprivileged users),
/// from `statvfs`; `None` when it fails.
pub(super) fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized,
    // zeroed out-parameter that statvfs fills.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    (rc == 0).then(|| (st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

/// 503: the chunk was overwritten between its lookup and its read (the
/// client retries or fails over).
fn changed_while_read() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the chunk changed while being read; retry",
    )
}

fn write_atomically(dir: &Path, tmp: &Path, target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let result = (|| {
        let mut f = std::fs::File::create(tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(tmp, target)?;
        // Make the rename itself durable.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    result
}
