//! Progress monitoring and tail hedging (multi-source selectors): rates
//! sampled over each interval, stalls, late parts trimmed, and idle replicas
//! taking over the end of a running part's range.

use super::*;
use crate::abr::segment_linear_qoe;

impl Session {
    /// The progress check of multi-source selectors: bandwidth samples from
    /// the bytes each node delivered since the last check, stalled parts
    /// failed.
    pub(super) fn check_progress(&mut self, now: Duration) {
        let interval = self.config.scheduler.progress_interval;
        let dt = now.saturating_sub(self.last_check);
        // An early check (for a trimmed part) samples no rate: over a few
        // milliseconds the bytes say more about bursts than bandwidth.
        if dt >= interval / 2 {
            self.sample_rates(dt);
            self.last_check = now;
        }
        self.next_check = Some(self.last_check + interval);
        self.last_report = now;
        let stall = self.config.scheduler.stall_timeout;
        let mut stalled = Vec::new();
        for (fi, f) in self.fetches.iter().enumerate() {
            for (pi, p) in f.parts.iter().enumerate() {
                if p.state != PartState::Running || p.stalled {
                    continue;
                }
                let limit = match p.first_byte {
                    Some(_) => stall,
                    None => stall.max(secs(4.0 * self.latency_s(p.node))),
                };
                if now.saturating_sub(p.last_progress) >= limit {
                    stalled.push((fi, pi));
                }
            }
        }
        // A stalled part keeps running (a node that only paused still
        // delivers), but its node is charged and the rest of its range goes
        // to the other replicas.
        for (fi, pi) in stalled {
            self.fetches[fi].parts[pi].stalled = true;
            self.fetches[fi].dirty = true;
            self.fail_attempt(fi, pi, "stall");
        }
    }

    /// Abandonment, as BOLA-E and dash.js abandon a download, adapted to
    /// parts: while playing, the next chunk to play, when its running parts
    /// at their rates would complete more than [`DOWNSHIFT_MARGIN_S`] after
    /// its play time, is dropped and fetched again at the lower level that
    /// scores best in linear QoE's terms at those rates (its bitrate, less
    /// [`crate::abr::LINEAR_QOE_REBUFFER_PENALTY`] a second of the stall left, less the
    /// switches from the chunk before and to the one after, or back to this
    /// level), when that beats keeping the chunk as it is. Its parts are
    /// cancelled and its bytes given up. Each chunk at most once, never
    /// before [`DOWNSHIFT_MIN_ELAPSED`] of fetching (rates need a sample),
    /// never while its assembly is being verified; the `fixed` rule never
    /// downshifts.
    pub(super) fn downshift_late_chunks(&mut self, now: Duration) {
        let Some(abr) = &self.abr else {
            return;
        };
        if abr.kind == crate::abr::AbrKind::Fixed || self.buffer.state() != PlaybackState::Playing {
            return;
        }
        let mut drops = Vec::new();
        for (fi, f) in self.fetches.iter().enumerate() {
            let Some(level) = abr.levels[f.chunk] else {
                continue;
            };
            if level == 0
                || !f.is_running()
                || f.assembling
                || abr.downshifted[f.chunk]
                || now.saturating_sub(f.started) < DOWNSHIFT_MIN_ELAPSED
            {
                continue;
            }
            // Only the next chunk to play can make playback wait.
            if self.buffer.first_missing() < f.chunk {
                continue;
            }
            let running: f64 = f.running().map(|p| self.part_rate(p)).sum();
            let until_needed_s = self
                .buffer
                .chunk_start(f.chunk)
                .saturating_sub(self.buffer.playhead())
                .as_secs_f64();
            // Whether a transfer of `bytes` at `rate` (bytes/s) would be in
            // within the margin of the time the chunk is needed.
            let transfer_s = |bytes: f64, rate: f64| bytes / rate.max(1.0);
            let on_time = |secs: f64| secs <= until_needed_s + DOWNSHIFT_MARGIN_S;
            // On time at its running parts' rates even if nothing were held
            // yet: no need to count.
            if on_time(transfer_s(f.size as f64, running)) {
                continue;
            }
            // Its running parts at their rates, and every replica that may
            // help at its estimate: tail hedging puts an idle replica on the
            // end of a lagging part at once. (Counting the running parts
            // alone, smart dropped a chunk whenever one replica lagged while
            // the other had brought its share: on the FCC traces 19.9
            // switches a session and linear QoE 136.7, against 11.2 and
            // 210.6 now.)
            let rate = running + self.helpers_rate(fi);
            if on_time(transfer_s(f.size as f64, rate)) {
                continue;
            }
            let finish_s = transfer_s(f.size.saturating_sub(f.held_bytes()) as f64, rate);
            if on_time(finish_s) {
                continue;
            }
            let sizes = &self.manifest.chunks[f.chunk].level_sizes;
            let takes_s = |q: usize| {
                sizes
                    .get(q)
                    .map_or(f64::INFINITY, |b| transfer_s(*b as f64, rate))
            };
            // Linear QoE's own terms: a lower level saves the stall it
            // avoids (4.3 a second) and costs its bitrate and the switches
            // into and out of it (the chunks around it keep theirs).
            let r = |q: usize| abr.ladder.bitrates_kbps.get(q).copied().unwrap_or(0.0) / 1e3;
            let before = f.chunk.checked_sub(1).and_then(|c| abr.levels[c]);
            let after = abr
                .levels
                .get(f.chunk + 1)
                .copied()
                .flatten()
                .unwrap_or(level);
            let score = |q: usize, arrives_s: f64| {
                let wait_s = (arrives_s - until_needed_s).max(0.0);
                segment_linear_qoe(r(q), wait_s, before.map(r), r(after))
            };
            let keep = score(level, finish_s);
            let pick = (0..level)
                .map(|q| (q, score(q, takes_s(q))))
                .filter(|&(_, s)| s > keep)
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(q, _)| q);
            if let Some(q) = pick {
                drops.push((fi, q));
            }
        }
        for (fi, q) in drops {
            for pi in 0..self.fetches[fi].parts.len() {
                if self.fetches[fi].parts[pi].state == PartState::Running {
                    self.cancel_part(fi, pi);
                }
            }
            let chunk = self.fetches[fi].chunk;
            let meta = &mut self.manifest.chunks[chunk];
            meta.size_bytes = meta.level_sizes[q];
            let f = &mut self.fetches[fi];
            f.parts.clear();
            f.size = meta.size_bytes;
            f.whole_only = false;
            f.dirty = true;
            if let Some(abr) = self.abr.as_mut() {
                abr.levels[chunk] = Some(q);
                abr.downshifted[chunk] = true;
            }
        }
    }

    /// Whether replica `n` of `chunk` may take over the tail of one of its
    /// running parts ([`Self::help_idle`]): nothing in flight, not down, not
    /// tried for this chunk, not held back.
    fn may_help(&self, chunk: usize, n: NodeId) -> bool {
        n.index() < self.health.len()
            && self.in_flight_per_node[n.index()] == 0
            && !self.tried[chunk].contains(&n)
            && self.monitor.health(n) != NodeHealth::Down
            && !self.held_back(chunk, n)
    }

    /// The estimated rate of the replicas that may help fetch `fi` at once
    /// ([`Self::may_help`]), bytes/s; 0 for a fetch that takes no help.
    fn helpers_rate(&self, fi: usize) -> f64 {
        let f = &self.fetches[fi];
        if f.assembling || f.whole_only {
            return 0.0;
        }
        self.manifest.chunks[f.chunk]
            .replicas
            .iter()
            .filter(|n| self.may_help(f.chunk, **n))
            .map(|n| self.rate_bytes_per_s(*n))
            .sum()
    }

    /// When the first running trimmed part should hold its whole range, at
    /// its observed rate (at least [`MIN_EARLY_CHECK`] from `now`).
    pub(super) fn trimmed_eta(&self, now: Duration) -> Option<Duration> {
        self.fetches
            .iter()
            .flat_map(|f| f.running())
            .filter(|p| p.trimmed)
            .map(|p| now + secs(self.part_finish_s(p, now)).max(MIN_EARLY_CHECK))
            .min()
    }

    /// Each node's bytes over the last `dt` as a bandwidth sample, when all
    /// of its running parts were requested before the interval began.
    fn sample_rates(&mut self, dt: Duration) {
        // Per node, a pass over the parts (a few nodes, a few parts): no
        // allocation, which mattered at one check every half second.
        for i in 0..self.in_flight_per_node.len() {
            let (mut bytes, mut whole, mut any) = (0u64, true, false);
            for f in &mut self.fetches {
                for p in f
                    .parts
                    .iter_mut()
                    .filter(|p| p.state == PartState::Running && p.node.index() == i)
                {
                    any = true;
                    bytes += p.received.saturating_sub(p.received_at_check);
                    whole &= p.started <= self.last_check;
                    p.received_at_check = p.received;
                }
            }
            if any && whole {
                let mbps = bytes as f64 * 8.0 / dt.as_secs_f64() / 1e6;
                self.monitor.update_bandwidth(NodeId(i as u16), mbps);
            }
        }
    }

    /// Whether one of `nodes` holds no running part and is not down: free for work.
    pub(super) fn any_idle(&self, nodes: &[NodeId]) -> bool {
        nodes.iter().any(|n| {
            self.in_flight_per_node[n.index()] == 0 && self.monitor.health(*n) != NodeHealth::Down
        })
    }

    /// Hedges the tail: an idle replica takes over the end of a running part
    /// of the earliest chunk it holds, when the two together finish that part
    /// sooner than it would alone (each node's share so that both finish
    /// together; the part keeps running, whichever bytes come first are
    /// used). A part is helped again once its helper is done.
    pub(super) fn help_idle(&mut self, now: Duration) {
        let min = self.config.scheduler.min_part_bytes;

        for fi in 0..self.fetches.len() {
            let f = &self.fetches[fi];
            if f.assembling || f.whole_only {
                continue;
            }
            let Some(helper) = self.manifest.chunks[f.chunk]
                .replicas
                .iter()
                .copied()
                .find(|&n| self.may_help(f.chunk, n))
            else {
                continue;
            };
            // A part already being helped (a running part starts inside its
            // remaining range) waits for that help to end.
            let helped = |p: &Part| {
                f.running()
                    .any(|q| q.id != p.id && q.offset > p.reach() && q.offset < p.end())
            };
            // What a part still has to deliver that nothing else holds: from
            // its reach to the first byte another part already brought.
            let open_end = |p: &Part| {
                f.parts
                    .iter()
                    .filter(|q| {
                        q.id != p.id
                            && q.state == PartState::Done
                            && q.offset > p.reach()
                            && q.offset < p.end()
                    })
                    .map(|q| q.offset)
                    .min()
                    .unwrap_or(p.end())
            };
            let best = f
                .parts
                .iter()
                .enumerate()
                .filter(|(_, p)| p.state == PartState::Running && !helped(p))
                .map(|(pi, p)| (pi, p, open_end(p)))
                .filter(|(_, p, e)| e.saturating_sub(p.reach()) >= 2 * min)
                .map(|(pi, p, e)| (pi, e, self.part_eta_s(p, e - p.reach(), now)))
                .max_by(|a, b| a.2.total_cmp(&b.2));
            let Some((pi, e, alone_s)) = best else {
                continue;
            };
            // Where the part stands is known from the last progress report:
            // split its tail only on a fresh one.
            if now.saturating_sub(self.last_report) > FRESH_REPORT {
                self.want_report = true;
                return;
            }
            let p = &self.fetches[fi].parts[pi];
            let (rate_p, rate_h) = (self.part_rate(p), self.rate_bytes_per_s(helper));
            let lat_h = self.latency_s(helper);
            // The helper takes the tail: b bytes with lat_h + b/rate_h =
            // (open - b)/rate_p, both from now.
            let r = (e - p.reach()) as f64;
            let b = ((r / rate_p - lat_h) * rate_p * rate_h / (rate_p + rate_h)).clamp(0.0, r);
            let together_s = (r - b) / rate_p;
            let gain = alone_s - together_s;
            if b < min as f64 || gain < (2.0 * lat_h).max(MIN_HELP_GAIN_S) {
                continue;
            }
            let b = b as u64;
            let (offset, len) = (e - b, b);
            // The helped part ends where the helper starts: once it holds
            // its shortened range its node is free for other work (and may
            // in turn help the helper).
            let p = &mut self.fetches[fi].parts[pi];
            p.len = offset - p.offset;
            p.trimmed = true;
            self.request_part(fi, helper, offset, len, now);
        }
    }

    /// A running part's rate: observed once bytes came, else the node's
    /// estimate (bytes/s).
    pub(super) fn part_rate(&self, p: &Part) -> f64 {
        // Progress is reported at checks, so the first byte's time is known
        // only to a check interval; count from the expected first byte.
        let since = self.now.saturating_sub(p.started).as_secs_f64() - self.latency_s(p.node);
        if p.received > 0 && since > 0.0 {
            (p.received as f64 / since).max(1.0)
        } else {
            self.rate_bytes_per_s(p.node)
        }
    }

    /// Seconds until a running part has `bytes` more at its rate (latency
    /// still to come before its first byte).
    fn part_eta_s(&self, p: &Part, bytes: u64, now: Duration) -> f64 {
        let wait = match p.first_byte {
            Some(_) => 0.0,
            None => (self.latency_s(p.node) - now.saturating_sub(p.started).as_secs_f64()).max(0.0),
        };
        wait + bytes as f64 / self.part_rate(p)
    }

    /// Seconds until a running part is done at its rate.
    fn part_finish_s(&self, p: &Part, now: Duration) -> f64 {
        self.part_eta_s(p, p.remaining(), now)
    }

    /// The node's latency estimate, s.
    pub(super) fn latency_s(&self, node: NodeId) -> f64 {
        self.monitor
            .stats(node)
            .latency_ms
            .unwrap_or(PRIOR_LATENCY_MS)
            / 1e3
    }

    /// The node's estimated rate for new bytes, bytes/s: its bandwidth
    /// estimate (or the prior) times its reliability.
    pub(super) fn rate_bytes_per_s(&self, node: NodeId) -> f64 {
        let s = self.monitor.stats(node);
        let mbps = s.bandwidth_mbps.unwrap_or(PRIOR_BANDWIDTH_MBPS) * s.reliability();
        (mbps * 1e6 / 8.0).max(1.0)
    }

    /// Bytes still to come from the node's running parts.
    pub(super) fn queued_bytes(&self, node: NodeId) -> u64 {
        self.fetches
            .iter()
            .flat_map(|f| f.running())
            .filter(|p| p.node == node)
            .map(Part::remaining)
            .sum()
    }
}
