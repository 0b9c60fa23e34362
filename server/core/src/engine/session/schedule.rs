//! Which chunk starts next, from which replicas, in which byte ranges, and
//! with which timeout: the buffer gate, critical chunks split across
//! replicas, gaps filled earliest chunk first, pre-emption.

use super::*;

impl Session {
    /// Replicas of `chunk` that may be asked now (not failed this round,
    /// not held back: [`Session::held_back`]).
    fn candidates(&self, chunk: usize) -> NodeList {
        self.manifest.chunks[chunk]
            .replicas
            .iter()
            .copied()
            .filter(|n| !self.tried[chunk].contains(n) && n.index() < self.health.len())
            .filter(|n| !self.held_back(chunk, *n))
            .collect()
    }

    /// Whether `chunk` is on the critical path: it is needed to start (or
    /// resume) playback, or, while playing, it starts before the playhead +
    /// the low-water mark.
    pub(super) fn critical(&self, chunk: usize) -> bool {
        let b = &self.buffer;
        let ahead = match b.state() {
            PlaybackState::Startup => b.config().start_threshold,
            PlaybackState::Rebuffering => b.config().resume_threshold,
            _ => b.config().low_water_mark,
        };
        b.chunk_start(chunk) < b.playhead() + ahead
    }

    /// Requests bytes `offset .. offset + len` of fetch `fi`'s chunk from `node`.
    pub(super) fn request_part(
        &mut self,
        fi: usize,
        node: NodeId,
        offset: u64,
        len: u64,
        now: Duration,
    ) {
        let chunk = self.fetches[fi].chunk;
        let timeout = self.timeout_for(node, len, self.rounds[chunk]);
        let id = DownloadId(self.next_id);
        self.next_id += 1;
        self.fetches[fi].parts.push(Part {
            id,
            node,
            offset,
            len,
            received: 0,
            state: PartState::Running,
            started: now,
            deadline: now + timeout,
            first_byte: None,
            last_progress: now,
            received_at_check: 0,
            stalled: false,
            trimmed: false,
        });
        self.in_flight_per_node[node.index()] += 1;
        if self.busy_since.is_none() {
            self.busy_since = Some(now);
        }
        self.actions.push_back(Action::Download {
            id,
            chunk: chunk as u32,
            node,
            offset,
            len,
            size_bytes: self.fetches[fi].size,
            level: self.abr.as_ref().and_then(|a| a.levels[chunk]).unwrap_or(0),
            deadline: now + timeout,
        });
    }

    /// Whether the startup probe gate holds new requests back at `now`.
    pub(super) fn gated(&mut self, now: Duration) -> bool {
        let (Some(until), Some(deadline)) = (self.gate_until, self.gate_deadline()) else {
            return false;
        };
        // Only the replicas of the first chunk still needed matter, and when
        // that one is an initialization segment (no media time, a few
        // hundred bytes, back within a round trip) those of the first media
        // segment after it: that segment's level is scored on their probes
        // once the initialization segment is in.
        let chunks = &self.manifest.chunks;
        let next = Some(self.buffer.first_missing()).filter(|&i| i < chunks.len());
        let media = next
            .filter(|&i| chunks[i].duration.is_zero())
            .and_then(|i| (i + 1..chunks.len()).find(|&j| !chunks[j].duration.is_zero()));
        let probed = |i: usize| {
            chunks[i]
                .replicas
                .iter()
                .all(|n| n.index() >= self.health.len() || self.measured(*n))
        };
        let all_probed = next.is_none_or(probed) && media.is_none_or(probed);
        let mut until = until;
        if !all_probed {
            // A new answer: once every chunk waited for has a replica that
            // answered, the rest get GATE_PATIENCE × the slowest answer so
            // far (from the start), at least GATE_MIN_WAIT.
            let answered = (0..self.health.len())
                .filter(|&i| self.answered(NodeId(i as u16)))
                .count();
            if answered > self.gate_answered {
                self.gate_answered = answered;
                let heard = |i: usize| chunks[i].replicas.iter().any(|n| self.answered(*n));
                if next.is_none_or(heard) && media.is_none_or(heard) {
                    let start = self.started_at;
                    let slowest = now.saturating_sub(start);
                    let patience = slowest.mul_f64(GATE_PATIENCE).max(GATE_MIN_WAIT);
                    until = deadline.min(start.saturating_add(patience));
                    self.gate_until = Some(until);
                }
            }
        }
        if now < until && !all_probed {
            return true;
        }
        self.gate_until = None;
        false
    }

    /// The startup gate's longest wait (the start + `startup_probe_wait`);
    /// `Some` for the whole session when it has a gate (a selector that
    /// probes, a nonzero wait), so the held-back rule applies.
    pub(super) fn gate_deadline(&self) -> Option<Duration> {
        let wait = self.config.scheduler.startup_probe_wait;
        (self.selector.uses_probes() && !wait.is_zero()).then(|| self.started_at + wait)
    }

    /// Whether `node` has any measurement (a probe's answer or failure, a
    /// transfer).
    pub(super) fn measured(&self, node: NodeId) -> bool {
        self.monitor.stats(node).samples_total > 0
    }

    /// Whether `node` answered a probe (or delivered): it has a latency.
    fn answered(&self, node: NodeId) -> bool {
        node.index() < self.health.len() && self.monitor.stats(node).latency_ms.is_some()
    }

    /// The held-back rule of a session with a startup gate: `node`, never
    /// measured, sits out `chunk` (no part, not in its pooled rate) while
    /// another replica of it has answered a probe (one that only failed
    /// does not count: the unmeasured replica is then the better bet). Its
    /// prior rate ([`monitor::PRIOR_BANDWIDTH_MBPS`]) would give it a share
    /// of the first media segment it may be far too slow for; it joins once
    /// its probe answers or fails (within the probe timeout). Called for
    /// every candidate on every schedule, so the cheap test (a node measured
    /// long since) comes first.
    pub(super) fn held_back(&self, chunk: usize, node: NodeId) -> bool {
        node.index() < self.health.len()
            && !self.measured(node)
            && self.gate_deadline().is_some()
            && self.manifest.chunks[chunk]
                .replicas
                .iter()
                .any(|n| self.answered(*n))
    }

    /// Whether the buffer rules let chunk `chunk` start now.
    fn may_start(&mut self, chunk: usize) -> bool {
        let start = self.buffer.chunk_start(chunk);
        if !self.buffer.wants_more(start) {
            return false;
        }
        // A multi-source session gets the same focus from its own rules:
        // critical chunks take every free replica first, and a later chunk
        // only starts on a replica that is free. (Applying this rule to it
        // as well left a stall on the fcc-2col traces.)
        if self.config.scheduler.focus_on_start && !self.multi {
            let threshold = match self.buffer.state() {
                PlaybackState::Startup => Some(self.buffer.config().start_threshold),
                PlaybackState::Rebuffering => Some(self.buffer.config().resume_threshold),
                _ => None,
            };
            if let Some(t) = threshold
                && start >= self.buffer.playhead() + t
            {
                return false;
            }
        }
        true
    }

    /// Starts new chunks (playback order, buffer rules, the in-flight cap)
    /// and requests parts for every gap of the chunks being fetched; a
    /// multi-source selector then puts idle replicas to work on the tails.
    pub(super) fn schedule(&mut self, now: Duration) {
        if self.gated(now) {
            return;
        }
        // Gaps of chunks already being fetched (failures, resumes) first.
        // A fetch keeps its dirty mark while a gap waits for a free node.
        // Critical chunks' gaps, then idle replicas help the chunks already
        // under way (earliest first), then later chunks' gaps: a free node
        // works on the earliest chunk it can.
        for critical in [true, false] {
            for fi in 0..self.fetches.len() {
                let f = &self.fetches[fi];
                if !f.assembling && f.dirty && (!self.multi || self.critical(f.chunk) == critical) {
                    self.fill_gaps(fi, now);
                }
            }
            if critical && self.multi && self.in_flight_per_node.contains(&0) {
                self.help_idle(now);
                if self.want_report {
                    // Idle nodes wait for the report (asked for now) before
                    // they take later work.
                    return;
                }
            }
        }
        let cap = self.config.scheduler.max_in_flight.max(1);
        while self.fetches.len() < cap {
            let Some(chunk) =
                (self.buffer.first_missing()..self.manifest.chunks.len()).find(|&i| {
                    !self.buffer.is_downloaded(i) && !self.fetches.iter().any(|f| f.chunk == i)
                })
            else {
                break;
            };
            if self.manifest.chunks[chunk].replicas.is_empty() || !self.may_start(chunk) {
                break;
            }
            // Multi-source with a ladder: a chunk after the first one missing
            // waits until its replicas are measured (a probe or the first
            // transfer, within a round trip or two) rather than take the
            // bottom level blind.
            if self.multi && chunk != self.buffer.first_missing() && self.level_blind(chunk) {
                break;
            }
            // Multi-source: a new chunk waits for an idle replica rather than
            // slowing the chunks before it down.
            if self.multi && !self.critical(chunk) && !self.any_idle(&self.candidates(chunk)) {
                break;
            }
            self.choose_level(chunk);
            let size = self.manifest.chunks[chunk].size_bytes;
            self.fetches.push(Fetch::new(chunk, size, now));
            let fi = self.fetches.len() - 1;
            if !self.fill_gaps(fi, now) {
                break;
            }
        }
    }

    /// Requests parts for fetch `fi`'s gaps; `false` when no replica may be
    /// asked. A multi-source selector splits a gap across the idle replicas
    /// (all candidates when the chunk is critical) so that its parts finish
    /// together, and waits for a replica to be free otherwise.
    fn fill_gaps(&mut self, fi: usize, now: Duration) -> bool {
        let chunk = self.fetches[fi].chunk;
        if self.multi && !self.fetches[fi].whole_only && !self.critical(chunk) {
            // A multi-source gap of a non-critical chunk only goes to a free
            // replica: nothing to do (and nothing to compute) while none is.
            let free = self.manifest.chunks[chunk]
                .replicas
                .iter()
                .any(|n| n.index() < self.health.len() && self.in_flight_per_node[n.index()] == 0);
            if !free {
                return true;
            }
        }
        let gaps = self.fetches[fi].gaps();
        if gaps.is_empty() {
            self.fetches[fi].dirty = false;
            return true;
        }
        let candidates = self.candidates(chunk);
        if candidates.is_empty() {
            return false;
        }
        let f = &self.fetches[fi];
        if f.whole_only && f.is_running() {
            return true;
        }
        if !self.multi || f.whole_only {
            for (a, b) in gaps {
                let node = self.pick(chunk, &candidates, b - a, now);
                self.request_part(fi, node, a, b - a, now);
            }
            return true;
        }
        let up = self.up(&candidates);
        let running = f.is_running();
        let mut requested = false;
        for (a, b) in gaps {
            requested |= self.request_split(fi, &up, a, b - a, now, true);
        }
        if !requested && self.critical(chunk) && self.preempt(fi, &up) {
            for (a, b) in self.fetches[fi].gaps() {
                requested |= self.request_split(fi, &up, a, b - a, now, true);
            }
        }
        if !requested && !running && self.critical(chunk) {
            // Every good replica is busy, but playback needs this chunk:
            // share the node that would deliver it first.
            let node = self.pick(chunk, &up, self.fetches[fi].size, now);
            for (a, b) in self.fetches[fi].gaps() {
                self.request_part(fi, node, a, b - a, now);
            }
        }
        true
    }

    /// Frees a replica for critical fetch `fi` by cancelling its parts of
    /// later, non-critical chunks (they keep their bytes and resume later):
    /// a node always works on the earliest chunk it can. Returns whether a
    /// node was freed.
    fn preempt(&mut self, fi: usize, nodes: &[NodeId]) -> bool {
        let chunk = self.fetches[fi].chunk;
        let victim = nodes.iter().copied().find(|n| {
            let mut parts = self
                .fetches
                .iter()
                .flat_map(|f| f.running().map(move |p| (f.chunk, p.node)))
                .filter(|(_, node)| node == n)
                .peekable();
            parts.peek().is_some() && parts.all(|(c, _)| c > chunk && !self.critical(c))
        });
        let Some(victim) = victim else { return false };
        for gi in 0..self.fetches.len() {
            for pi in 0..self.fetches[gi].parts.len() {
                let p = &self.fetches[gi].parts[pi];
                if p.state == PartState::Running && p.node == victim {
                    self.cancel_part(gi, pi);
                }
            }
        }
        true
    }

    /// The nodes that are not down (all of them when every one is).
    pub(super) fn up(&self, nodes: &[NodeId]) -> NodeList {
        let up: NodeList = nodes
            .iter()
            .copied()
            .filter(|n| self.monitor.health(*n) != NodeHealth::Down)
            .collect();
        if up.is_empty() {
            nodes.iter().copied().collect()
        } else {
            up
        }
    }

    /// One replica for `bytes` of `chunk`, by the selector.
    fn pick(&mut self, chunk: usize, candidates: &[NodeId], bytes: u64, now: Duration) -> NodeId {
        let queued: Shares<u64> = (0..self.health.len())
            .map(|i| self.queued_bytes(NodeId(i as u16)))
            .collect();
        let node = self.selector.select(&SelectionContext {
            now,
            chunk: &self.manifest.chunks[chunk],
            bytes,
            candidates,
            monitor: &self.monitor,
            in_flight_per_node: &self.in_flight_per_node,
            queued_bytes_per_node: &queued,
        });
        if candidates.contains(&node) {
            node
        } else {
            candidates[0]
        }
    }

    /// Splits `len` bytes from `offset` across `nodes` so that the parts
    /// would finish together (each node's share from its rate and the bytes
    /// it has queued) and requests the shares; with `idle_only`, only the
    /// shares of idle nodes (a busy node's share stays a gap until it is
    /// free). Returns whether anything was requested.
    pub(super) fn request_split(
        &mut self,
        fi: usize,
        nodes: &[NodeId],
        offset: u64,
        len: u64,
        now: Duration,
        idle_only: bool,
    ) -> bool {
        // With every node busy, an idle-only split requests nothing and
        // trims nothing: skip the arithmetic.
        if idle_only
            && !nodes
                .iter()
                .any(|n| self.in_flight_per_node[n.index()] == 0)
        {
            return false;
        }
        let lanes: Shares<Lane> = nodes
            .iter()
            .map(|&n| {
                let rate = self.rate_bytes_per_s(n);
                Lane {
                    free_in_s: self.latency_s(n) + self.queued_bytes(n) as f64 / rate,
                    bytes_per_s: rate,
                }
            })
            .collect();
        let min = self.config.scheduler.min_part_bytes;
        // A late part still delivering from `offset` on (`stalled` with
        // recent progress) is the first lane: the new parts take the tail
        // and it is trimmed to where they meet.
        let stall = self.config.scheduler.stall_timeout;
        let lead = self.fetches[fi].parts.iter().position(|p| {
            p.state == PartState::Running
                && p.stalled
                && p.reach() == offset
                && p.end() > offset
                && self.now.saturating_sub(p.last_progress) < stall
        });
        let mut at = offset;
        let mut len = len;
        if let Some(li) = lead {
            let p = &self.fetches[fi].parts[li];
            let mut with_lead = Shares::<Lane>::with_capacity(lanes.len() + 1);
            with_lead.push(Lane {
                free_in_s: 0.0,
                bytes_per_s: self.part_rate(p),
            });
            with_lead.extend_from_slice(&lanes);
            let lead_share = split(len, &with_lead, min)[0].min(p.end() - offset);
            let any_new = nodes
                .iter()
                .any(|n| !idle_only || self.in_flight_per_node[n.index()] == 0);
            if lead_share > 0 && lead_share < len && any_new {
                let p = &mut self.fetches[fi].parts[li];
                p.len = offset + lead_share - p.offset;
                p.stalled = false;
                p.trimmed = true;
                at += lead_share;
                len -= lead_share;
            }
        }
        let shares = split(len, &lanes, min);
        let mut requested = false;
        for (&node, share) in nodes.iter().zip(shares) {
            let free = self.in_flight_per_node[node.index()] == 0;
            if share > 0 && (free || !idle_only) {
                self.request_part(fi, node, at, share, now);
                requested = true;
            }
            at += share;
        }
        requested
    }

    fn timeout_for(&self, node: NodeId, bytes: u64, round: u32) -> Duration {
        let cfg = &self.config.scheduler;
        let stats = self.monitor.stats(node);
        let base = match stats.bandwidth_mbps {
            Some(bw) if bw > 0.0 => {
                let queued = self.queued_bytes(node);
                let expected_s = stats.latency_ms.unwrap_or(0.0) / 1e3
                    + (queued + bytes) as f64 * 8.0 / (bw * 1e6);
                secs(expected_s * cfg.timeout_factor)
                    .clamp(cfg.min_timeout, cfg.max_timeout.max(cfg.min_timeout))
            }
            _ => cfg.initial_timeout,
        };
        base * 2u32.saturating_pow(round.min(6))
    }
}
