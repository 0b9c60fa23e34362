//! Durable ChunkPaxos acceptors of one storage node: one JSON file per chunk
//! instance under `<data dir>/paxos/`, written (temporary file, fsync,
//! rename) before the reply leaves, so a promise or a vote survives a crash
//! and restart — the property the model checker's forgetful variant shows is
//! needed.
//!
//! Messages of one instance are handled one at a time (a lock per stripe of
//! [`LOCK_STRIPES`], chosen by the chunk id's hash), so instances of
//! different chunks proceed in parallel; the file work (read, write, two
//! fsyncs) runs on the blocking pool, never on an async worker.

use std::{
    hash::{Hash, Hasher},
    path::{Path, PathBuf},
    sync::Arc,
};

use vstack_core::consensus::{
    ChunkRecord,
    paxos::{Acceptor, Message},
};

use crate::http::{ApiError, validate_id};

/// Locks serialising the instances' messages (instances in one stripe
/// wait for each other; memory stays fixed however many chunks there are).
pub const LOCK_STRIPES: usize = 64;

/// The acceptor states of one node.
#[derive(Debug)]
pub struct AcceptorStore {
    dir: Arc<PathBuf>,
    locks: Vec<tokio::sync::Mutex<()>>,
}

impl AcceptorStore {
    /// Opens (creating) `dir`; leftover temporary files are removed.
    ///
    /// # Errors
    /// When the directory cannot be created or read.
    pub fn open(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(".tmp-") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(Self {
            dir: Arc::new(dir),
            locks: (0..LOCK_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
        })
    }

    fn path(&self, chunk_id: &str) -> PathBuf {
        self.dir.join(format!("{chunk_id}.json"))
    }

    fn lock_of(&self, chunk_id: &str) -> &tokio::sync::Mutex<()> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        chunk_id.hash(&mut h);
        &self.locks[(h.finish() % LOCK_STRIPES as u64) as usize]
    }

    fn load(path: &Path) -> Result<Acceptor<ChunkRecord>, ApiError> {
        match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| ApiError::internal(format!("acceptor state unreadable: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Acceptor::default()),
            Err(e) => Err(ApiError::internal(format!("acceptor state: {e}"))),
        }
    }

    /// The acceptor state of `chunk_id` (empty if it never took part).
    ///
    /// # Errors
    /// 400 for a bad id; 500 for an unreadable state file.
    pub fn state(&self, chunk_id: &str) -> Result<Acceptor<ChunkRecord>, ApiError> {
        validate_id("chunk", chunk_id)?;
        Self::load(&self.path(chunk_id))
    }

    /// Handles a proposer's message (`prepare` or `accept`) for `chunk_id`,
    /// persisting the new state before returning the reply.
    ///
    /// # Errors
    /// 400 for a bad id or a message acceptors do not take (promise,
    /// accepted, nack); 500 when the state cannot be written.
    pub async fn handle(
        &self,
        chunk_id: &str,
        msg: &Message<ChunkRecord>,
    ) -> Result<Message<ChunkRecord>, ApiError> {
        validate_id("chunk", chunk_id)?;
        let _g = self.lock_of(chunk_id).lock().await;
        let path = self.path(chunk_id);
        let dir = self.dir.clone();
        let tmp = self.dir.join(format!(".tmp-{chunk_id}"));
        let msg = msg.clone();
        let reply = tokio::task::spawn_blocking(move || {
            let mut acc = Self::load(&path)?;
            let before = acc.clone();
            let reply = acc.handle(&msg).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "an acceptor takes prepare and accept, not {}",
                    msg.kind()
                ))
            })?;
            if acc != before {
                let bytes = serde_json::to_vec(&acc)
                    .map_err(|e| ApiError::internal(format!("acceptor state: {e}")))?;
                let write = || -> std::io::Result<()> {
                    use std::io::Write;
                    let mut f = std::fs::File::create(&tmp)?;
                    f.write_all(&bytes)?;
                    f.sync_all()?;
                    std::fs::rename(&tmp, &path)?;
                    std::fs::File::open(dir.as_path())?.sync_all()
                };
                write()
                    .map_err(|e| ApiError::internal(format!("acceptor state not saved: {e}")))?;
            }
            Ok::<_, ApiError>(reply)
        })
        .await
        .map_err(|e| ApiError::internal(format!("acceptor task: {e}")))??;
        Ok(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vstack_core::consensus::paxos::Ballot;

    fn rec() -> ChunkRecord {
        ChunkRecord {
            chunk_id: "v-00000".into(),
            sha256: "ab".repeat(32),
            size_bytes: 10,
            duration_ms: 4000,
            replicas: vec!["node-1".into()],
            version: 1,
            uploader: "u".into(),
            revision: 1,
        }
    }

    #[tokio::test]
    async fn promises_and_votes_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let b2 = Ballot {
            round: 2,
            proposer: 1,
        };
        {
            let s = AcceptorStore::open(dir.path()).unwrap();
            let r = s
                .handle("v-00000", &Message::Prepare { ballot: b2 })
                .await
                .unwrap();
            assert!(matches!(r, Message::Promise { accepted: None, .. }));
            let r = s
                .handle(
                    "v-00000",
                    &Message::Accept {
                        ballot: b2,
                        value: rec(),
                    },
                )
                .await
                .unwrap();
            assert!(matches!(r, Message::Accepted { .. }));
        }
        // A crash mid-write leaves a temporary file; reopening removes it.
        std::fs::write(dir.path().join(".tmp-v-00000"), b"torn").unwrap();
        let s = AcceptorStore::open(dir.path()).unwrap();
        assert!(!dir.path().join(".tmp-v-00000").exists());
        let st = s.state("v-00000").unwrap();
        assert_eq!(st.promised, Some(b2));
        assert_eq!(st.accepted, Some((b2, rec())));
        let lower = Ballot {
            round: 1,
            proposer: 9,
        };
        let r = s
            .handle("v-00000", &Message::Prepare { ballot: lower })
            .await
            .unwrap();
        assert!(matches!(r, Message::Nack { promised, .. } if promised == b2));
        assert_eq!(
            s.handle(
                "v-00000",
                &Message::Nack {
                    ballot: lower,
                    promised: lower
                }
            )
            .await
            .unwrap_err()
            .status,
            axum::http::StatusCode::BAD_REQUEST
        );
        assert!(s.state("../x").is_err());
        assert_eq!(s.state("other").unwrap(), Acceptor::default());
    }
}
