//! Bodies paced by the emulator: a chunk or ping body streamed a block at
//! a time (from disk, memory or zeros) at the emulated rate, cut where the
//! emulator's plan says.

use super::*;

/// Block size of a paced body's reads, bytes: a body holds at most one
/// block in memory, however large the range and however slowly (or never)
/// the client reads.
pub const READ_BLOCK_BYTES: usize = 64 << 10;

static ZEROS: [u8; READ_BLOCK_BYTES] = [0; READ_BLOCK_BYTES];

/// Where a paced body's bytes come from, one [`READ_BLOCK_BYTES`] block at
/// a time.
pub(super) enum BodySource {
    /// `left` zero bytes (ping payloads), sliced from one static block.
    Zeros { left: u64 },
    /// A chunk file positioned at the range's start, `left` bytes to go,
    /// read on the blocking pool.
    File {
        file: Option<std::fs::File>,
        left: u64,
    },
    /// Bytes already in memory (a chunk pulled from another replica), sent
    /// a block at a time.
    Memory { bytes: Bytes },
}

impl BodySource {
    async fn next_block(&mut self) -> std::io::Result<Option<Bytes>> {
        match self {
            BodySource::Zeros { left } => {
                if *left == 0 {
                    return Ok(None);
                }
                let n =
                    usize::try_from(*left).map_or(READ_BLOCK_BYTES, |l| l.min(READ_BLOCK_BYTES));
                *left -= n as u64;
                Ok(Some(Bytes::from_static(&ZEROS[..n])))
            }
            BodySource::File { file, left } => {
                if *left == 0 {
                    return Ok(None);
                }
                let n =
                    usize::try_from(*left).map_or(READ_BLOCK_BYTES, |l| l.min(READ_BLOCK_BYTES));
                let mut f = file
                    .take()
                    .ok_or_else(|| std::io::Error::other("read after a failed read"))?;
                let (f, buf) = tokio::task::spawn_blocking(move || {
                    use std::io::Read;
                    let mut v = vec![0u8; n];
                    f.read_exact(&mut v).map(|()| (f, v))
                })
                .await
                .map_err(std::io::Error::other)??;
                *file = Some(f);
                *left -= n as u64;
                Ok(Some(Bytes::from(buf)))
            }
            BodySource::Memory { bytes } => {
                if bytes.is_empty() {
                    return Ok(None);
                }
                let n = bytes.len().min(READ_BLOCK_BYTES);
                Ok(Some(bytes.split_to(n)))
            }
        }
    }
}

/// Builds a paced body of `total` bytes from `source`, cut after
/// `cut_after` bytes (a lost transfer). It reads ahead at most one block.
pub(super) fn paced_body(
    emulator: Emulator,
    source: BodySource,
    total: u64,
    cut_after: Option<u64>,
) -> Body {
    let epoch = emulator.epoch();
    let reset =
        |why: &str| std::io::Error::new(std::io::ErrorKind::ConnectionReset, why.to_string());
    let stream = futures::stream::unfold(
        (emulator, source, Bytes::new(), 0u64, cut_after, false),
        move |(e, mut source, mut pending, pos, cut, done)| async move {
            if done {
                return None;
            }
            let lost = cut.is_some_and(|c| pos >= c);
            if lost || e.epoch() != epoch {
                let why = if lost {
                    "transfer lost (network emulator)"
                } else {
                    "node killed"
                };
                return Some((Err(reset(why)), (e, source, pending, pos, None, true)));
            }
            if pos >= total {
                return None;
            }
            if pending.is_empty() {
                match source.next_block().await {
                    Ok(Some(b)) => pending = b,
                    Ok(None) => return None,
                    Err(err) => {
                        // The file shrank or failed under us: the client sees a
                        // broken transfer (and its hash check would catch a
                        // changed one).
                        return Some((
                            Err(reset(&format!("read failed: {err}"))),
                            (e, source, pending, pos, None, true),
                        ));
                    }
                }
            }
            let mut n = e.slice_bytes().min(pending.len());
            if let Some(c) = cut {
                n = n
                    .min(usize::try_from(c.saturating_sub(pos)).unwrap_or(usize::MAX))
                    .max(1);
            }
            e.wait_reachable().await;
            e.pace(n).await;
            if e.epoch() != epoch {
                return Some((
                    Err(reset("node killed")),
                    (e, source, pending, pos, None, true),
                ));
            }
            let slice = pending.split_to(n);
            Some((
                Ok::<_, std::io::Error>(slice),
                (e, source, pending, pos + n as u64, cut, false),
            ))
        },
    );
    Body::from_stream(stream)
}
