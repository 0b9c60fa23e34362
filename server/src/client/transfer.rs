//! Byte-range downloads and chunk assembly for the live driver.
//!
//! A part (the core's [`vstack_core::engine::Action::Download`]) streams its
//! range into a [`PartBuf`] shared with the driver:
//! - a part from offset 0 feeds a SHA-256 hasher as bytes arrive and keeps no
//!   bytes — the core always uses such a part's whole received prefix first
//!   ([`vstack_core::engine::fetch`]), so its hash state is all assembly needs;
//! - any other part keeps its bytes, sliced at assembly.
//!
//! Progress is read from the buffer when the core asks for it; the driver then
//! also keeps a snapshot of the hash state at the reported count, so that a
//! part cancelled after that report still assembles from exactly the bytes the
//! core knows of. Assembly (hashing what the other parts hold) runs on the
//! blocking pool.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use reqwest::header::{CONTENT_RANGE, RANGE};
use sha2::{Digest, Sha256};
use vstack_core::engine::DownloadId;

use crate::sync::LockExt;

/// What one part has received so far.
#[derive(Debug, Default)]
pub struct PartBuf {
    /// Bytes received (from the part's offset).
    pub received: u64,
    /// Offset-0 parts: the hash of everything received.
    pub hasher: Option<Sha256>,
    /// Other parts: the bytes, in order.
    pub bytes: Vec<Bytes>,
}

/// One part as the driver tracks it.
#[derive(Debug)]
pub struct Part {
    /// The chunk's index.
    pub chunk: u32,
    /// First byte of the range.
    pub offset: u64,
    /// The shared buffer its task fills.
    pub buf: Arc<Mutex<PartBuf>>,
    /// The count last reported to the core and the hash state at that count
    /// (offset-0 parts).
    pub reported: (u64, Option<Sha256>),
}

impl Part {
    /// A part of `chunk` from `offset`. With `keep_bytes` a part from offset
    /// 0 keeps its bytes too instead of only their hash (for a driver that
    /// hands the verified media on, see [`join`]).
    pub fn new(chunk: u32, offset: u64, keep_bytes: bool) -> Self {
        let hash_only = offset == 0 && !keep_bytes;
        let buf = PartBuf {
            hasher: hash_only.then(Sha256::new),
            ..PartBuf::default()
        };
        Self {
            chunk,
            offset,
            buf: Arc::new(Mutex::new(buf)),
            reported: (0, hash_only.then(Sha256::new)),
        }
    }

    /// The bytes received now, remembered (with the hash state) as reported
    /// to the core.
    pub fn report(&mut self) -> u64 {
        let b = self.buf.locked();
        self.reported = (b.received, b.hasher.clone());
        b.received
    }
}

/// Streams `len` bytes from `offset` of the chunk at `url` into `buf`;
/// `whole` when the range is the whole chunk (a plain `GET`). Returns the
/// bytes received, or why it failed (with what was received so far in
/// `buf`).
/// `client_id` goes in [`crate::cluster::wire::CLIENT_ID_HEADER`] (the
/// node's popularity counts one vote per client).
pub async fn download(
    http: &reqwest::Client,
    url: &str,
    client_id: &str,
    offset: u64,
    len: u64,
    whole: bool,
    buf: &Mutex<PartBuf>,
) -> Result<u64, String> {
    let mut req = http
        .get(url)
        .header(crate::cluster::wire::CLIENT_ID_HEADER, client_id);
    if !whole {
        req = req.header(RANGE, format!("bytes={}-{}", offset, offset + len - 1));
    }
    let resp = req.send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let ranged_ok = status.as_u16() == 206
        && resp
            .headers()
            .get(CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with(&format!("bytes {offset}-")));
    if !(if whole {
        status.is_success()
    } else {
        ranged_ok
    }) {
        return Err(format!("{status}"));
    }
    let mut stream = resp.bytes_stream();
    while let Some(b) = stream.next().await {
        let b = b.map_err(|e| e.to_string())?;
        let mut g = buf.locked();
        if g.received + b.len() as u64 > len {
            return Err(format!("more than the {len} bytes asked for"));
        }
        g.received += b.len() as u64;
        match g.hasher.as_mut() {
            Some(h) => h.update(&b),
            None => g.bytes.push(b),
        }
    }
    let n = buf.locked().received;
    if n == len {
        Ok(n)
    } else {
        Err(format!("{n} bytes, expected {len}"))
    }
}

/// A part handed to [`assemble`]: its id, offset, the count and hash state
/// last reported to the core, and its bytes (parts not from offset 0).
pub type HeldPart = (DownloadId, u64, (u64, Option<Sha256>), Vec<Bytes>);

/// Joins the assembly `(part, from, to)` (absolute offsets, in order) from
/// `parts` and checks the result against `size` and `sha256`. Blocking (it
/// hashes): call it on the blocking pool.
pub fn assemble(
    segments: &[(DownloadId, u64, u64)],
    parts: &[HeldPart],
    size: u64,
    sha256: &str,
) -> bool {
    let mut hasher = Sha256::new();
    let mut at = 0u64;
    for (i, (id, from, to)) in segments.iter().enumerate() {
        if *from != at || to < from {
            return false;
        }
        let Some((_, offset, reported, bytes)) = parts.iter().find(|p| p.0 == *id) else {
            return false;
        };
        match &reported.1 {
            // An offset-0 part: its hash state at the reported count, which
            // the core used whole.
            Some(state) if i == 0 && *offset == 0 && reported.0 == *to => hasher = state.clone(),
            Some(_) => return false,
            None => {
                if !feed(
                    |slice| hasher.update(slice),
                    bytes,
                    from - offset,
                    to - offset,
                ) {
                    return false;
                }
            }
        }
        at = *to;
    }
    at == size && hex::encode(hasher.finalize()).eq_ignore_ascii_case(sha256)
}

/// [`assemble`] for parts that all kept their bytes ([`Part::new`] with
/// `keep_bytes`): the chunk's bytes, joined, when they match `size` and
/// `sha256`; `None` otherwise (or when a part holds only a hash state).
/// Blocking (it copies and hashes): call it on the blocking pool.
pub fn join(
    segments: &[(DownloadId, u64, u64)],
    parts: &[HeldPart],
    size: u64,
    sha256: &str,
) -> Option<Bytes> {
    let mut out = Vec::with_capacity(usize::try_from(size).ok()?);
    for (id, from, to) in segments {
        if *from != out.len() as u64 || to < from {
            return None;
        }
        let (_, offset, reported, bytes) = parts.iter().find(|p| p.0 == *id)?;
        if reported.1.is_some() || from < offset {
            return None;
        }
        if !feed(
            |slice| out.extend_from_slice(slice),
            bytes,
            from - offset,
            to - offset,
        ) {
            return None;
        }
        if out.len() as u64 != *to {
            return None;
        }
    }
    let ok =
        out.len() as u64 == size && hex::encode(Sha256::digest(&out)).eq_ignore_ascii_case(sha256);
    ok.then(|| Bytes::from(out))
}

/// Hands bytes `from .. to` (relative to the part) of `chunks` to `sink`,
/// slice by slice; `false` when the part does not hold them all.
fn feed(mut sink: impl FnMut(&[u8]), chunks: &[Bytes], from: u64, to: u64) -> bool {
    let mut pos = 0u64;
    for c in chunks {
        let (start, end) = (pos, pos + c.len() as u64);
        if end > from && start < to {
            let a = (from.max(start) - start) as usize;
            let b = (to.min(end) - start) as usize;
            sink(&c[a..b]);
        }
        pos = end;
        if pos >= to {
            return true;
        }
    }
    pos >= to
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assembles_a_prefix_hash_and_sliced_parts() {
        let data: Vec<u8> = (0..100u8).collect();
        let sha = hex::encode(Sha256::digest(&data));
        // Part 1 from 0 received 40 bytes (hash state); part 2 holds 30..100.
        let mut p1 = Sha256::new();
        p1.update(&data[..40]);
        let parts = vec![
            (DownloadId(1), 0, (40, Some(p1)), Vec::new()),
            (
                DownloadId(2),
                30,
                (70, None),
                vec![
                    Bytes::copy_from_slice(&data[30..55]),
                    Bytes::copy_from_slice(&data[55..]),
                ],
            ),
        ];
        let segs = [(DownloadId(1), 0, 40), (DownloadId(2), 40, 100)];
        assert!(assemble(&segs, &parts, 100, &sha));
        assert!(!assemble(&segs, &parts, 100, &"0".repeat(64)), "wrong hash");
        assert!(
            !assemble(
                &[(DownloadId(1), 0, 30), (DownloadId(2), 30, 100)],
                &parts,
                100,
                &sha
            ),
            "an offset-0 part must be used whole"
        );
        assert!(!assemble(&segs[..1], &parts, 100, &sha), "short");
        assert_eq!(
            join(&segs, &parts, 100, &sha),
            None,
            "part 1 kept only its hash"
        );
    }

    #[test]
    fn joins_parts_that_kept_their_bytes_and_refuses_wrong_ones() {
        let data: Vec<u8> = (0..100u8).collect();
        let sha = hex::encode(Sha256::digest(&data));
        // Part 1 from 0 holds 0..60 (a late part: more than it supplies);
        // part 2 from 40 holds 40..100.
        let parts = vec![
            (
                DownloadId(1),
                0,
                (60, None),
                vec![
                    Bytes::copy_from_slice(&data[..10]),
                    Bytes::copy_from_slice(&data[10..60]),
                ],
            ),
            (
                DownloadId(2),
                40,
                (60, None),
                vec![Bytes::copy_from_slice(&data[40..])],
            ),
        ];
        let segs = [(DownloadId(1), 0, 45), (DownloadId(2), 45, 100)];
        assert_eq!(join(&segs, &parts, 100, &sha).as_deref(), Some(&data[..]));
        assert_eq!(
            join(&segs, &parts, 100, &"0".repeat(64)),
            None,
            "wrong hash"
        );
        assert_eq!(join(&segs[..1], &parts, 100, &sha), None, "short");
        let gap = [(DownloadId(1), 0, 45), (DownloadId(2), 50, 100)];
        assert_eq!(join(&gap, &parts, 100, &sha), None, "a gap");
        let beyond = [(DownloadId(1), 0, 70), (DownloadId(2), 70, 100)];
        assert_eq!(
            join(&beyond, &parts, 100, &sha),
            None,
            "part 1 holds only 60 bytes"
        );
    }
}
