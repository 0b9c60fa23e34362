//! The played media, written in order: what a client's
//! [`super::ClientConfig::media_sink`] receives (verified chunks, in the order
//! they were verified) written to a file or a pipe in playback order, so that
//! `vstack play --output - | mpv -` shows what the engine fetched.
//!
//! Chunks verified ahead of an earlier one wait in memory until it arrives;
//! the engine fetches at most its in-flight cap of chunks at once, so few
//! wait.

use std::collections::BTreeMap;

use bytes::Bytes;
use tokio::{
    io::{AsyncWrite, AsyncWriteExt},
    sync::mpsc,
};

/// What [`write_in_order`] wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// Chunks written, from chunk 0 on without a gap.
    pub chunks: u32,
    /// Bytes written.
    pub bytes: u64,
}

/// Writes the chunks `rx` yields to `out` in index order, starting at chunk
/// 0, until the channel closes; chunks after a missing one are held until it
/// comes (and dropped if it never does). A duplicate of a chunk already
/// written is ignored.
///
/// # Errors
/// The first write error (a closed pipe: the reader left).
pub async fn write_in_order<W: AsyncWrite + Unpin>(
    mut rx: mpsc::Receiver<(u32, Bytes)>,
    mut out: W,
) -> std::io::Result<Written> {
    let mut next = 0u32;
    let mut waiting: BTreeMap<u32, Bytes> = BTreeMap::new();
    let mut written = Written::default();
    while let Some((chunk, bytes)) = rx.recv().await {
        if chunk < next {
            continue;
        }
        waiting.insert(chunk, bytes);
        while let Some(bytes) = waiting.remove(&next) {
            out.write_all(&bytes).await?;
            written.bytes += bytes.len() as u64;
            written.chunks += 1;
            next += 1;
        }
    }
    out.flush().await?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn chunks_verified_out_of_order_are_written_in_order() {
        let (tx, rx) = mpsc::channel(8);
        let mut out = Vec::new();
        let writer = async { write_in_order(rx, &mut out).await.unwrap() };
        let sender = async move {
            for (i, b) in [(1, "b"), (0, "a"), (0, "a"), (3, "d"), (2, "c"), (5, "f")] {
                tx.send((i, Bytes::from(b))).await.unwrap();
            }
        };
        let (w, ()) = tokio::join!(writer, sender);
        assert_eq!(out, b"abcd", "chunk 5 waits for 4, which never came");
        assert_eq!(
            w,
            Written {
                chunks: 4,
                bytes: 4
            }
        );
    }
}
