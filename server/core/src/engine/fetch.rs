//! Fetching one chunk, possibly from several replicas at once: its parts
//! (byte ranges requested from nodes), what each part has received, what is
//! still missing, and how the received bytes assemble into the chunk.
//!
//! A part receives its range in order, so what it holds is always a prefix
//! `[offset, offset + received)`. A part that failed or was cancelled keeps
//! its prefix (a failover resumes after it); a running part also *plans* the
//! rest of its range. The chunk is complete when the held prefixes cover
//! `[0, size)`; [`Fetch::assembly`] then says which part supplies which
//! bytes, always taking a part's whole prefix from where it is first used
//! (so a driver that hashed a part from offset 0 as it streamed can keep that
//! hash state instead of the bytes).
//!
//! [`split`] divides bytes among nodes so that they all finish together.

use std::time::Duration;

use smallvec::SmallVec;

use super::{DownloadId, NodeId};

/// Where a part stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartState {
    /// Requested, bytes may still arrive.
    Running,
    /// Received its whole range.
    Done,
    /// Failed (error, reset, timeout, stall); its prefix is kept.
    Failed,
    /// Cancelled by the core (the chunk completed without it, or it was
    /// replaced); its prefix is kept.
    Cancelled,
}

/// One byte range of a chunk requested from one node.
#[derive(Clone, Debug)]
pub struct Part {
    /// The attempt's id.
    pub id: DownloadId,
    /// The node asked.
    pub node: NodeId,
    /// First byte of the range.
    pub offset: u64,
    /// Bytes in the range.
    pub len: u64,
    /// Bytes received so far, from `offset` on.
    pub received: u64,
    /// Where it stands.
    pub state: PartState,
    /// When it was requested.
    pub started: Duration,
    /// When the core gives up on it.
    pub deadline: Duration,
    /// When its first byte was seen (a progress report or its end).
    pub first_byte: Option<Duration>,
    /// When `received` last grew (or the request time).
    pub last_progress: Duration,
    /// `received` at the previous progress check (for rate samples).
    pub received_at_check: u64,
    /// It went silent for the stall timeout: it keeps running (its bytes
    /// still count if they come), but its remaining range is up for grabs.
    pub stalled: bool,
    /// Its range was cut short (`len` shrunk) after it ran late, so that
    /// other replicas take the tail: it ends, and the driver's transfer is
    /// cancelled, once it holds its shortened range.
    pub trimmed: bool,
}

impl Part {
    /// End of the range (exclusive).
    pub fn end(&self) -> u64 {
        self.offset + self.len
    }

    /// End of what it holds (exclusive).
    pub fn reach(&self) -> u64 {
        self.offset + self.received.min(self.len)
    }

    /// Bytes still to come.
    pub fn remaining(&self) -> u64 {
        self.len.saturating_sub(self.received)
    }
}

/// One chunk being fetched.
#[derive(Clone, Debug)]
pub struct Fetch {
    /// Chunk index.
    pub chunk: usize,
    /// Chunk size, bytes.
    pub size: u64,
    /// Every part requested, in request order.
    pub parts: Vec<Part>,
    /// When the first part was requested.
    pub started: Duration,
    /// After an assembly failed verification: whole-chunk requests to one
    /// replica at a time, so the bad replica is found.
    pub whole_only: bool,
    /// Waiting for the driver's verdict on an assembly.
    pub assembling: bool,
    /// Its gaps may have changed since they were last filled (a part ended
    /// short, stalled, or a gap could not be requested yet).
    pub dirty: bool,
}

/// Byte intervals `[from, to)` of a chunk, inline up to eight (a chunk has
/// a handful of parts; the simulator computes these every step, and a heap
/// allocation each time was a tenth of its run time).
pub type Ranges = SmallVec<[(u64, u64); 8]>;

/// Sorted, merged union of half-open intervals (sorted, then merged in
/// place: no second buffer).
fn merge(mut v: Ranges) -> Ranges {
    v.retain(|(a, b)| a < b);
    v.sort_unstable();
    let mut n = 0;
    for i in 0..v.len() {
        let (a, b) = v[i];
        if n > 0 && a <= v[n - 1].1 {
            v[n - 1].1 = v[n - 1].1.max(b);
        } else {
            v[n] = (a, b);
            n += 1;
        }
    }
    v.truncate(n);
    v
}

impl Fetch {
    /// A fetch of chunk `chunk` of `size` bytes starting at `now`.
    pub fn new(chunk: usize, size: u64, now: Duration) -> Self {
        Self {
            chunk,
            size,
            parts: Vec::new(),
            started: now,
            whole_only: false,
            assembling: false,
            dirty: true,
        }
    }

    /// The parts still running.
    pub fn running(&self) -> impl Iterator<Item = &Part> {
        self.parts.iter().filter(|p| p.state == PartState::Running)
    }

    /// Whether any part is running.
    pub fn is_running(&self) -> bool {
        self.running().next().is_some()
    }

    /// The byte intervals held: every part's received prefix, merged.
    pub fn held(&self) -> Ranges {
        merge(self.parts.iter().map(|p| (p.offset, p.reach())).collect())
    }

    /// What is neither held nor requested from a running part that is not
    /// stalled: the ranges a new part must fetch.
    pub fn gaps(&self) -> Ranges {
        let mut planned: Ranges = self
            .parts
            .iter()
            .map(|p| {
                if p.state == PartState::Running && !p.stalled {
                    (p.offset, p.end())
                } else {
                    (p.offset, p.reach())
                }
            })
            .filter(|(a, b)| a < b)
            .collect();
        planned.sort_unstable();
        // One sweep over the sorted intervals: what lies between them.
        let mut gaps = Ranges::new();
        let mut x = 0;
        for (a, b) in planned {
            if a > x {
                gaps.push((x, a));
            }
            x = x.max(b);
        }
        if x < self.size {
            gaps.push((x, self.size));
        }
        gaps
    }

    /// Bytes held: the length of the union of every part's received prefix.
    pub fn held_bytes(&self) -> u64 {
        let mut held: Ranges = self
            .parts
            .iter()
            .map(|p| (p.offset, p.reach()))
            .filter(|(a, b)| a < b)
            .collect();
        held.sort_unstable();
        let (mut total, mut x) = (0, 0);
        for (a, b) in held {
            let from = a.max(x);
            if b > from {
                total += b - from;
            }
            x = x.max(b);
        }
        total
    }

    /// Whether the held bytes cover the whole chunk.
    pub fn complete(&self) -> bool {
        // Cheap rejection first: prefixes shorter in total than the chunk
        // cannot cover it.
        let held: u64 = self.parts.iter().map(|p| p.reach() - p.offset).sum();
        held >= self.size && matches!(self.held().as_slice(), [(0, b)] if *b >= self.size)
    }

    /// Which part supplies which bytes, `(part, from, to)` in order: from
    /// each position the part reaching furthest, its whole prefix from there.
    /// `None` while the chunk is not complete.
    pub fn assembly(&self) -> Option<Vec<(DownloadId, u64, u64)>> {
        // Each part supplies one piece at most.
        let mut out = Vec::with_capacity(self.parts.len());
        let mut x = 0;
        while x < self.size {
            let best = self
                .parts
                .iter()
                .filter(|p| p.offset <= x && p.reach() > x)
                .max_by_key(|p| (p.reach(), std::cmp::Reverse(p.id)))?;
            let to = best.reach().min(self.size);
            out.push((best.id, x, to));
            x = to;
        }
        Some(out)
    }

    /// Bytes each node supplied to the assembly, `(node, bytes)`.
    pub fn contributions(&self) -> Vec<(NodeId, u64)> {
        let mut out: Vec<(NodeId, u64)> = Vec::new();
        for (id, from, to) in self.assembly().unwrap_or_default() {
            let Some(p) = self.parts.iter().find(|p| p.id == id) else {
                continue;
            };
            match out.iter_mut().find(|(n, _)| *n == p.node) {
                Some((_, b)) => *b += to - from,
                None => out.push((p.node, to - from)),
            }
        }
        out
    }
}

/// One node's side of a [`split`]: when it is free to start (s from now:
/// latency plus the bytes it already has queued at its rate) and its rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lane {
    /// Seconds until this node would start on new bytes.
    pub free_in_s: f64,
    /// Its estimated rate, bytes per second (> 0).
    pub bytes_per_s: f64,
}

/// Splits `len` bytes among `lanes` so that they all finish at the same time
/// `T` (water-filling): lane *i* gets `(T − free_in_s_i) · bytes_per_s_i`
/// bytes when positive. Lanes that would get fewer than `min_part` bytes get
/// none (their share goes to the others). Returns one byte count per lane;
/// the counts sum to `len` exactly. With no usable lane, the first gets all.
pub fn split(len: u64, lanes: &[Lane], min_part: u64) -> Shares<u64> {
    let mut use_lane: Shares<bool> = lanes
        .iter()
        .map(|l| l.bytes_per_s > 0.0 && l.bytes_per_s.is_finite() && l.free_in_s.is_finite())
        .collect();
    let mut out: Shares<u64> = smallvec::smallvec![0u64; lanes.len()];
    if lanes.is_empty() {
        return out;
    }
    loop {
        let shares = fill(len as f64, lanes, &use_lane);
        // Drop the smallest share under the minimum and fill again.
        let small = shares
            .iter()
            .enumerate()
            .filter(|(i, s)| use_lane[*i] && **s > 0.0 && **s < min_part as f64)
            .min_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i);
        match small {
            // Only while another lane gets bytes: a small share that is the
            // only one stays where the water-filling put it.
            Some(i)
                if shares
                    .iter()
                    .enumerate()
                    .filter(|(j, s)| use_lane[*j] && **s > 0.0)
                    .count()
                    > 1 =>
            {
                use_lane[i] = false
            }
            _ => {
                let mut total = 0;
                for (i, s) in shares.iter().enumerate() {
                    // Truncation saturating at 0: the floor of a share.
                    out[i] = *s as u64;
                    total += out[i];
                }
                // Rounding: the remainder goes to the largest share.
                let big = (0..lanes.len())
                    .max_by(|a, b| shares[*a].total_cmp(&shares[*b]))
                    .unwrap_or(0);
                out[big] += len.saturating_sub(total);
                return out;
            }
        }
    }
}

/// Per-lane values of a [`split`], inline up to eight lanes: a chunk has a
/// few replicas, and a simulated session splits thousands of times.
pub type Shares<T> = SmallVec<[T; 8]>;

/// Water-filling over the lanes in use: the finishing time `T` with
/// `Σ max(0, T − free_i)·rate_i = len`, and each lane's share at that `T`.
fn fill(len: f64, lanes: &[Lane], use_lane: &[bool]) -> Shares<f64> {
    let mut order: Shares<usize> = (0..lanes.len()).filter(|i| use_lane[*i]).collect();
    if order.is_empty() {
        let mut v: Shares<f64> = smallvec::smallvec![0.0; lanes.len()];
        v[0] = len;
        return v;
    }
    // Lanes free at the same time are interchangeable here: any order of
    // ties gives the same `T`.
    order.sort_unstable_by(|a, b| lanes[*a].free_in_s.total_cmp(&lanes[*b].free_in_s));
    // Add lanes in order of their free time until T falls before the next one.
    let (mut rate, mut weighted) = (0.0, 0.0);
    let mut t = 0.0;
    for (k, &i) in order.iter().enumerate() {
        rate += lanes[i].bytes_per_s;
        weighted += lanes[i].bytes_per_s * lanes[i].free_in_s;
        t = (len + weighted) / rate;
        match order.get(k + 1) {
            Some(&next) if t > lanes[next].free_in_s => continue,
            _ => break,
        }
    }
    lanes
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if use_lane[i] {
                ((t - l.free_in_s) * l.bytes_per_s).max(0.0)
            } else {
                0.0
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(id: u64, offset: u64, len: u64, received: u64, state: PartState) -> Part {
        Part {
            id: DownloadId(id),
            node: NodeId(id as u16),
            offset,
            len,
            received,
            state,
            started: Duration::ZERO,
            deadline: Duration::ZERO,
            first_byte: None,
            last_progress: Duration::ZERO,
            received_at_check: 0,
            stalled: false,
            trimmed: false,
        }
    }

    #[test]
    fn a_small_share_that_is_the_only_one_is_kept() {
        // The busy lane would take none of 4 kB: the free lane keeps it all
        // even though it is under the minimum part.
        let lanes = [
            Lane {
                free_in_s: 0.0,
                bytes_per_s: 1e6,
            },
            Lane {
                free_in_s: 10.0,
                bytes_per_s: 1e6,
            },
        ];
        assert_eq!(split(4000, &lanes, 16 << 10).to_vec(), vec![4000, 0]);
    }

    #[test]
    fn gaps_and_completion() {
        let mut f = Fetch::new(0, 100, Duration::ZERO);
        assert_eq!(f.gaps().as_slice(), &[(0, 100)]);
        f.parts.push(part(1, 0, 60, 10, PartState::Running));
        f.parts.push(part(2, 60, 40, 0, PartState::Running));
        assert!(f.gaps().is_empty());
        // Part 1 fails after 25 bytes: its prefix stays, the rest is a gap.
        f.parts[0].received = 25;
        f.parts[0].state = PartState::Failed;
        assert_eq!(f.gaps().as_slice(), &[(25, 60)]);
        f.parts.push(part(3, 25, 35, 35, PartState::Done));
        f.parts[1].received = 40;
        f.parts[1].state = PartState::Done;
        assert!(f.complete());
        assert_eq!(
            f.assembly().unwrap(),
            vec![
                (DownloadId(1), 0, 25),
                (DownloadId(3), 25, 60),
                (DownloadId(2), 60, 100)
            ]
        );
        assert_eq!(
            f.contributions(),
            vec![(NodeId(1), 25), (NodeId(3), 35), (NodeId(2), 40)]
        );
    }

    #[test]
    fn a_hedge_overlapping_its_part_is_used_only_where_needed() {
        let mut f = Fetch::new(0, 100, Duration::ZERO);
        f.parts.push(part(1, 0, 100, 70, PartState::Cancelled));
        f.parts.push(part(2, 40, 60, 60, PartState::Done));
        assert_eq!(
            f.assembly().unwrap(),
            vec![(DownloadId(1), 0, 70), (DownloadId(2), 70, 100)],
            "the prefix part is taken whole, the hedge from where it stops"
        );
    }

    #[test]
    fn held_bytes_counts_overlapping_prefixes_once() {
        let mut f = Fetch::new(0, 100, Duration::ZERO);
        f.parts.push(part(1, 0, 50, 30, PartState::Running));
        f.parts.push(part(2, 20, 40, 25, PartState::Failed));
        f.parts.push(part(3, 70, 30, 10, PartState::Running));
        f.parts.push(part(4, 90, 10, 0, PartState::Running));
        // [0, 30) ∪ [20, 45) ∪ [70, 80): 45 + 10.
        assert_eq!(f.held_bytes(), 55);
        let union: u64 = f.held().iter().map(|(a, b)| b - a).sum();
        assert_eq!(f.held_bytes(), union);
        // Running parts plan their whole range: only [50, 70) is open.
        assert_eq!(f.gaps().to_vec(), vec![(50, 70)]);
    }

    #[test]
    fn split_finishes_together() {
        let lanes = [
            Lane {
                free_in_s: 0.0,
                bytes_per_s: 3.0,
            },
            Lane {
                free_in_s: 0.0,
                bytes_per_s: 1.0,
            },
        ];
        assert_eq!(split(400, &lanes, 1).to_vec(), vec![300, 100]);
        // The second lane is busy for 100 s: the first takes everything.
        let busy = [
            lanes[0],
            Lane {
                free_in_s: 100.0,
                bytes_per_s: 1.0,
            },
        ];
        assert_eq!(split(300, &busy, 1).to_vec(), vec![300, 0]);
        // Shares under the minimum go to the others; sums are exact.
        assert_eq!(split(400, &lanes, 150).to_vec(), vec![400, 0]);
        let three = [lanes[0], lanes[1], lanes[1]];
        let s = split(1001, &three, 1);
        assert_eq!(s.iter().sum::<u64>(), 1001);
        assert!(s[0] > s[1] && s[1] <= s[2] + 1);
        assert!(split(10, &[], 1).is_empty());
    }
}
