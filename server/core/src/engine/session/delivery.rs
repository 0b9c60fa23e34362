//! What the driver reports about downloads: bytes received, parts done,
//! failed or cancelled, nodes charged, chunks assembled and verified.

use super::*;

impl Session {
    /// (fetch, part) of running download `id`.
    pub(super) fn find_running(&self, id: DownloadId) -> Option<(usize, usize)> {
        self.fetches.iter().enumerate().find_map(|(fi, f)| {
            f.parts
                .iter()
                .position(|p| p.id == id && p.state == PartState::Running)
                .map(|pi| (fi, pi))
        })
    }

    /// A part's received count grew (or stayed): its progress bookkeeping.
    pub(super) fn record_bytes(&mut self, fi: usize, pi: usize, bytes: u64) {
        let now = self.now;
        let p = &mut self.fetches[fi].parts[pi];
        if p.trimmed && bytes > p.len {
            // It delivered past the point it was trimmed to before it heard
            // (the driver still streams the range it was asked for): those
            // bytes are held too, and an offset-0 part's hash state covers
            // all of them, so its range grows back to what it holds.
            p.len = bytes;
        }
        let bytes = bytes.min(p.len);
        if bytes > p.received {
            p.received = bytes;
            p.last_progress = now;
            p.first_byte.get_or_insert(now);
        }
    }

    pub(super) fn on_progress(&mut self, id: DownloadId, bytes: u64) {
        if let Some((fi, pi)) = self.find_running(id) {
            self.record_bytes(fi, pi, bytes);
            let p = &self.fetches[fi].parts[pi];
            if p.trimmed && p.received >= p.len {
                // It holds its shortened range: done; the rest of its
                // transfer is not needed.
                self.end_part(fi, pi, PartState::Done);
                self.actions.push_back(Action::Cancel { id });
            }
        }
    }

    pub(super) fn on_done(&mut self, id: DownloadId, bytes: u64) {
        let Some((fi, pi)) = self.find_running(id) else {
            return;
        };
        self.record_bytes(fi, pi, bytes);
        let p = &self.fetches[fi].parts[pi];
        if p.received < p.len {
            // Fewer bytes than asked for: a failure that keeps its prefix.
            self.end_part(fi, pi, PartState::Failed);
            self.fail_attempt(fi, pi, "error");
            return;
        }
        let (node, took) = (p.node, self.now.saturating_sub(p.started));
        if self.manifest.chunks[self.fetches[fi].chunk]
            .duration
            .is_zero()
        {
            // An initialization segment (about a kilobyte) measures the
            // latency, not the bandwidth: a success, no bandwidth sample.
            self.monitor.record_small_transfer(node);
        } else {
            self.monitor.record_download(node, p.len, took);
        }
        self.end_part(fi, pi, PartState::Done);
    }

    /// A part stops running.
    pub(super) fn end_part(&mut self, fi: usize, pi: usize, state: PartState) {
        let p = &mut self.fetches[fi].parts[pi];
        if p.state != PartState::Running {
            return;
        }
        p.state = state;
        if state != PartState::Done {
            self.fetches[fi].dirty = true;
        }
        let p = &mut self.fetches[fi].parts[pi];
        if state == PartState::Failed && !self.multi {
            // No resume: the chunk is fetched again from its start.
            p.received = 0;
        }
        let node = p.node.index();
        self.in_flight_per_node[node] -= 1;
        if self.in_flight() == 0
            && let Some(s) = self.busy_since.take()
        {
            self.busy_time += self.now.saturating_sub(s);
        }
    }

    /// Aborts a running part (the driver is told).
    pub(super) fn cancel_part(&mut self, fi: usize, pi: usize) {
        let id = self.fetches[fi].parts[pi].id;
        self.end_part(fi, pi, PartState::Cancelled);
        self.actions.push_back(Action::Cancel { id });
    }

    /// Charges a failed attempt to its node and moves the chunk on.
    pub(super) fn fail_attempt(&mut self, fi: usize, pi: usize, reason: &str) {
        let (chunk, node, started) = {
            let p = &self.fetches[fi].parts[pi];
            (self.fetches[fi].chunk, p.node, p.started)
        };
        self.charge(chunk, node, reason, self.now.saturating_sub(started));
    }

    fn charge(&mut self, chunk: usize, node: NodeId, reason: &str, ran: Duration) {
        self.monitor.record_failure(node);
        self.failovers += 1;
        self.loads[node.index()].failures += 1;
        let tried = &mut self.tried[chunk];
        if !tried.contains(&node) {
            tried.push(node);
        }
        if self.manifest.chunks[chunk]
            .replicas
            .iter()
            .all(|r| tried.contains(r))
        {
            tried.clear();
            self.rounds[chunk] += 1;
        }
        self.notify(Notice::Failover {
            chunk: chunk as u32,
            node,
            reason: reason.to_string(),
            attempt_ms: ran.as_secs_f64() * 1e3,
        });
    }

    /// The driver's verdict on an assembly.
    pub(super) fn on_assembled(&mut self, chunk: usize, ok: bool) {
        let Some(fi) = self
            .fetches
            .iter()
            .position(|f| f.chunk == chunk && f.assembling)
        else {
            return;
        };
        let contributions = self.fetches[fi].contributions();
        if !ok {
            let f = &mut self.fetches[fi];
            let ran = self.now.saturating_sub(f.started);
            f.parts.clear();
            f.assembling = false;
            f.whole_only = true;
            f.dirty = true;
            for (node, _) in contributions {
                self.charge(chunk, node, "corrupt", ran);
            }
            return;
        }
        let f = self.fetches.remove(fi);
        let took = self.now.saturating_sub(f.started);
        self.buffer.add_chunk(self.now, chunk);
        let ms = took.as_secs_f64() * 1e3;
        self.download_ms.push(ms);
        self.bytes_total += f.size;
        self.sample_throughput(chunk);
        let main = contributions
            .iter()
            .max_by_key(|(n, b)| (*b, std::cmp::Reverse(*n)))
            .map_or(NodeId(0), |(n, _)| *n);
        for (node, bytes) in &contributions {
            self.loads[node.index()].bytes += bytes;
        }
        self.loads[main.index()].chunks += 1;
        self.records.push(DownloadRecord {
            chunk: chunk as u32,
            node: main,
            bytes: f.size,
            download_ms: ms,
            finished_at_ms: self.now.saturating_sub(self.started_at).as_secs_f64() * 1e3,
        });
        self.notify(Notice::ChunkDownloaded {
            chunk: chunk as u32,
            node: main,
            bytes: f.size,
            download_ms: ms,
        });
    }

    /// Chunks whose bytes are all held: running parts cancelled, assembly
    /// requested.
    pub(super) fn assemble_complete(&mut self) {
        for fi in 0..self.fetches.len() {
            if self.fetches[fi].assembling || !self.fetches[fi].complete() {
                continue;
            }
            for pi in 0..self.fetches[fi].parts.len() {
                if self.fetches[fi].parts[pi].state == PartState::Running {
                    self.cancel_part(fi, pi);
                }
            }
            let f = &mut self.fetches[fi];
            f.assembling = true;
            if let Some(parts) = f.assembly() {
                self.actions.push_back(Action::Assemble {
                    chunk: f.chunk as u32,
                    parts,
                });
            }
        }
    }
}
