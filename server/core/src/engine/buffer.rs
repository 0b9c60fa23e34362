//! Buffer manager: playback state, buffer level and the QoE counters (seed
//! `002_*`, "Buffer Management").
//!
//! Media time is counted in chunk durations. A chunk adds to the buffer only once
//! every chunk before it is there too (playback is in order), so the buffer level
//! is `contiguous media downloaded − playhead`. Time only moves when the caller
//! says `now`: the manager is sans-IO and the same code runs on tokio's clock and
//! on the simulator's virtual clock.
//!
//! Rules, with defaults from the seed ([`BufferConfig`]):
//! - playback starts once [`BufferConfig::start_threshold`] (10 s) is buffered, or
//!   the whole video when it is shorter; startup latency = play request → start;
//! - while playing the playhead advances at 1×; if it reaches the end of the
//!   buffered media before the end of the video, a rebuffering event starts (the
//!   count goes up by one) and lasts until [`BufferConfig::resume_threshold`]
//!   (10 s, same as start) is buffered again; its duration adds to the stall time;
//! - refill hysteresis: downloading starts when the level drops below the
//!   low-water mark (15 s) and continues until level + in-flight media reaches
//!   the target (30 s); during startup and rebuffering it always continues.
//!
//! With a real player ([`BufferConfig::external_playhead`], the browser's
//! `<video>` element) the model steps aside: the playhead is the player's
//! position and the state is what the player reports ([`PlayerEvent`]:
//! startup ends at its first frame, a stall runs from `waiting` to `playing`),
//! reported with [`BufferManager::observe_player`]; the start and resume
//! thresholds then do not apply (the player decides when it can play).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Buffer settings; defaults from seed 002.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BufferConfig {
    /// Level the client fills up to. Default 30 s.
    pub target: Duration,
    /// Level below which refilling starts. Default 15 s.
    pub low_water_mark: Duration,
    /// Level needed to start playback. Default 10 s.
    pub start_threshold: Duration,
    /// Level needed to resume after a stall. Default 10 s.
    pub resume_threshold: Duration,
    /// The playhead and the playback state come from a real player through
    /// [`BufferManager::observe_player`] instead of the model (1× from the
    /// start threshold on, a stall when the buffer runs dry). Default false.
    #[serde(default)]
    pub external_playhead: bool,
}

/// What a real player reported (see [`BufferConfig::external_playhead`]),
/// named after the `<video>` element's events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlayerEvent {
    /// A position update while nothing changed (`timeupdate`).
    Position,
    /// It presents frames: the first one ends startup, a later one ends a
    /// stall (`playing`).
    Playing,
    /// It ran out of data while playing (`waiting`): a stall.
    Waiting,
    /// It played the last frame (`ended`).
    Ended,
}

impl Default for BufferConfig {
    fn default() -> Self {
        Self {
            target: Duration::from_secs(30),
            low_water_mark: Duration::from_secs(15),
            start_threshold: Duration::from_secs(10),
            resume_threshold: Duration::from_secs(10),
            external_playhead: false,
        }
    }
}

/// Playback state machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlaybackState {
    /// Requested, not yet started: filling to the start threshold.
    Startup,
    /// Playing at 1×.
    Playing,
    /// Stalled: the buffer ran dry before the end of the video.
    Rebuffering,
    /// The last chunk has been played.
    Ended,
    /// Stopped before the end by its driver (a control, a restart). The
    /// buffer manager never enters this state; a host sets it on what it
    /// publishes about a session it stopped.
    Stopped,
}

impl PlaybackState {
    /// snake_case name, as on the wire (`rebuffering`).
    pub fn name(self) -> &'static str {
        match self {
            PlaybackState::Startup => "startup",
            PlaybackState::Playing => "playing",
            PlaybackState::Rebuffering => "rebuffering",
            PlaybackState::Ended => "ended",
            PlaybackState::Stopped => "stopped",
        }
    }
}

/// Buffer and playback bookkeeping for one session.
#[derive(Clone, Debug)]
pub struct BufferManager {
    config: BufferConfig,
    /// End media time of each chunk (prefix sums of durations).
    chunk_ends: Vec<Duration>,
    downloaded: Vec<bool>,
    /// Chunks `0..contiguous` are all downloaded.
    contiguous: usize,
    playhead: Duration,
    state: PlaybackState,
    filling: bool,
    last_update: Duration,
    requested_at: Duration,
    started_at: Option<Duration>,
    ended_at: Option<Duration>,
    stall_started: Option<Duration>,
    rebuffer_count: u32,
    rebuffer_time: Duration,
    /// ∫ level dt since playback start, in seconds².
    level_integral: f64,
}

impl BufferManager {
    /// A session of chunks with the given durations, requested at `now`.
    pub fn new(config: BufferConfig, chunk_durations: &[Duration], now: Duration) -> Self {
        let mut acc = Duration::ZERO;
        let chunk_ends = chunk_durations
            .iter()
            .map(|d| {
                acc += *d;
                acc
            })
            .collect();
        let mut b = Self {
            config,
            chunk_ends,
            downloaded: vec![false; chunk_durations.len()],
            contiguous: 0,
            playhead: Duration::ZERO,
            state: PlaybackState::Startup,
            filling: true,
            last_update: now,
            requested_at: now,
            started_at: None,
            ended_at: None,
            stall_started: None,
            rebuffer_count: 0,
            rebuffer_time: Duration::ZERO,
            level_integral: 0.0,
        };
        if chunk_durations.is_empty() {
            b.state = PlaybackState::Ended;
            b.started_at = Some(now);
            b.ended_at = Some(now);
        }
        b
    }

    /// Settings in force.
    pub fn config(&self) -> &BufferConfig {
        &self.config
    }

    /// Current state (as of the last call that passed `now`).
    pub fn state(&self) -> PlaybackState {
        self.state
    }

    fn buffered_end(&self) -> Duration {
        if self.contiguous == 0 {
            Duration::ZERO
        } else {
            self.chunk_ends[self.contiguous - 1]
        }
    }

    /// Total media duration of the video.
    pub fn video_duration(&self) -> Duration {
        self.chunk_ends.last().copied().unwrap_or(Duration::ZERO)
    }

    /// Buffered media ahead of the playhead (never negative).
    pub fn level(&self) -> Duration {
        self.buffered_end().saturating_sub(self.playhead)
    }

    /// Media time played so far.
    pub fn playhead(&self) -> Duration {
        self.playhead
    }

    /// Whether chunk `index` has been downloaded.
    pub fn is_downloaded(&self, index: usize) -> bool {
        self.downloaded.get(index).copied().unwrap_or(false)
    }

    /// The first chunk not downloaded yet: chunks `0..first_missing()` are
    /// all in ([`BufferManager::chunk_count`] once every chunk is).
    pub fn first_missing(&self) -> usize {
        self.contiguous
    }

    /// Number of chunks.
    pub fn chunk_count(&self) -> usize {
        self.chunk_ends.len()
    }

    /// Chunks fully played.
    pub fn chunks_played(&self) -> usize {
        self.chunk_ends.partition_point(|end| *end <= self.playhead)
    }

    /// Moves playback forward to `now`. Calling with an earlier `now` than a
    /// previous call is a no-op.
    pub fn advance(&mut self, now: Duration) {
        if now <= self.last_update {
            return;
        }
        let dt = now - self.last_update;
        if self.config.external_playhead {
            // The player moves the playhead; between two reports the level
            // counts as it was at the last one.
            if self.state == PlaybackState::Playing {
                self.level_integral += self.level().as_secs_f64() * dt.as_secs_f64();
            }
            self.last_update = now;
            return;
        }
        if self.state == PlaybackState::Playing {
            let level = self.level();
            if dt >= level {
                // Drains to zero at last_update + level.
                self.level_integral += level.as_secs_f64().powi(2) / 2.0;
                self.playhead = self.buffered_end();
                let at = self.last_update + level;
                if self.contiguous == self.chunk_ends.len() {
                    self.state = PlaybackState::Ended;
                    self.ended_at = Some(at);
                } else {
                    self.state = PlaybackState::Rebuffering;
                    self.rebuffer_count += 1;
                    self.stall_started = Some(at);
                    self.filling = true;
                }
            } else {
                let (l, d) = (level.as_secs_f64(), dt.as_secs_f64());
                self.level_integral += (l + (l - d)) / 2.0 * d;
                self.playhead += dt;
            }
        }
        self.last_update = now;
    }

    /// Chunk `index` finished downloading at `now`. Returns `false` (and changes
    /// nothing) if the index is out of range or the chunk was already there.
    pub fn add_chunk(&mut self, now: Duration, index: usize) -> bool {
        self.advance(now);
        if index >= self.downloaded.len() || self.downloaded[index] {
            return false;
        }
        self.downloaded[index] = true;
        while self.contiguous < self.downloaded.len() && self.downloaded[self.contiguous] {
            self.contiguous += 1;
        }
        if self.config.external_playhead {
            // The player decides when it plays (`observe_player`).
            return true;
        }
        let complete = self.contiguous == self.chunk_ends.len();
        match self.state {
            PlaybackState::Startup if self.level() >= self.config.start_threshold || complete => {
                self.state = PlaybackState::Playing;
                self.started_at = Some(self.last_update);
            }
            PlaybackState::Rebuffering
                if self.level() >= self.config.resume_threshold || complete =>
            {
                self.state = PlaybackState::Playing;
                if let Some(s) = self.stall_started.take() {
                    self.rebuffer_time += self.last_update.saturating_sub(s);
                }
            }
            _ => {}
        }
        true
    }

    /// What the real player reported at `now`: its position (clamped to
    /// what is buffered and to the video) and, unless
    /// [`PlayerEvent::Position`], a change of state. Startup ends at the
    /// first [`PlayerEvent::Playing`]; a [`PlayerEvent::Waiting`] while
    /// playing starts a stall (counted), the next `Playing` ends it (timed);
    /// [`PlayerEvent::Ended`] ends playback. Ignored unless
    /// [`BufferConfig::external_playhead`], and after the end.
    pub fn observe_player(&mut self, now: Duration, position: Duration, event: PlayerEvent) {
        if !self.config.external_playhead || self.state == PlaybackState::Ended {
            return;
        }
        self.advance(now);
        let now = self.last_update;
        self.playhead = position.min(self.buffered_end());
        match (self.state, event) {
            (PlaybackState::Startup, PlayerEvent::Playing) => {
                self.state = PlaybackState::Playing;
                self.started_at = Some(now);
            }
            (PlaybackState::Playing, PlayerEvent::Waiting) => {
                self.state = PlaybackState::Rebuffering;
                self.rebuffer_count += 1;
                self.stall_started = Some(now);
                self.filling = true;
            }
            (PlaybackState::Rebuffering, PlayerEvent::Playing) => {
                self.state = PlaybackState::Playing;
                if let Some(s) = self.stall_started.take() {
                    self.rebuffer_time += now.saturating_sub(s);
                }
            }
            (_, PlayerEvent::Ended) => {
                if let Some(s) = self.stall_started.take() {
                    self.rebuffer_time += now.saturating_sub(s);
                }
                self.started_at.get_or_insert(now);
                self.playhead = self.video_duration().min(self.buffered_end());
                self.state = PlaybackState::Ended;
                self.ended_at = Some(now);
            }
            _ => {}
        }
    }

    /// Media start time of chunk `index` (its offset in the video).
    pub fn chunk_start(&self, index: usize) -> Duration {
        match index {
            0 => Duration::ZERO,
            i => self
                .chunk_ends
                .get(i - 1)
                .copied()
                .unwrap_or(self.video_duration()),
        }
    }

    /// Whether the client should request the chunk that starts at media time
    /// `next_start` (the lowest chunk neither downloaded nor in flight).
    ///
    /// Refill hysteresis on a media-time horizon: filling starts when the level is
    /// below the low-water mark (and always during startup and rebuffering), and
    /// a chunk is requested only while it starts before `playhead + target`; the
    /// first chunk beyond that horizon ends the filling phase. In-flight and
    /// out-of-order chunks thus count towards the target, and the next missing
    /// chunk is always inside the horizon, so playback can never wait on a chunk
    /// the client refuses to request.
    pub fn wants_more(&mut self, next_start: Duration) -> bool {
        if self.contiguous == self.chunk_ends.len() || self.state == PlaybackState::Ended {
            return false;
        }
        match self.state {
            PlaybackState::Startup | PlaybackState::Rebuffering => self.filling = true,
            // `<=`: the wake-up from `next_deadline` lands exactly on the mark.
            _ if self.level() <= self.config.low_water_mark => self.filling = true,
            _ => {}
        }
        if self.filling && next_start >= self.playhead + self.config.target {
            self.filling = false;
        }
        self.filling
    }

    /// The next instant at which playback itself changes something: the buffer
    /// reaching the low-water mark (while not filling) or running dry. `None`
    /// when not playing.
    pub fn next_deadline(&self) -> Option<Duration> {
        // A real player's reports wake the session instead.
        if self.state != PlaybackState::Playing || self.config.external_playhead {
            return None;
        }
        let level = self.level();
        if !self.filling && level > self.config.low_water_mark {
            Some(self.last_update + (level - self.config.low_water_mark))
        } else {
            Some(self.last_update + level)
        }
    }

    /// Startup latency (play request → playback start), once started.
    pub fn startup_latency(&self) -> Option<Duration> {
        self.started_at.map(|s| s - self.requested_at)
    }

    /// Rebuffering events so far.
    pub fn rebuffer_count(&self) -> u32 {
        self.rebuffer_count
    }

    /// Total stall time so far, including a stall still in progress at the last
    /// `advance`.
    pub fn rebuffer_time(&self) -> Duration {
        self.rebuffer_time
            + self
                .stall_started
                .map(|s| self.last_update.saturating_sub(s))
                .unwrap_or_default()
    }

    /// When playback ended, if it has.
    pub fn ended_at(&self) -> Option<Duration> {
        self.ended_at
    }

    /// Time-weighted average buffer level (seconds) from playback start to the
    /// last update (or the end); `None` before playback started.
    pub fn average_level_secs(&self) -> Option<f64> {
        let start = self.started_at?;
        let end = self.ended_at.unwrap_or(self.last_update);
        let span = end.saturating_sub(start).as_secs_f64();
        Some(if span > 0.0 {
            self.level_integral / span
        } else {
            self.level().as_secs_f64()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: u64) -> Duration {
        Duration::from_secs(v)
    }

    fn six_chunks() -> BufferManager {
        BufferManager::new(BufferConfig::default(), &[s(10); 6], Duration::ZERO)
    }

    #[test]
    fn playback_starts_at_ten_seconds_buffered() {
        let cfg = BufferConfig::default();
        let mut b = BufferManager::new(cfg, &[s(5); 6], Duration::ZERO);
        b.add_chunk(s(1), 0);
        assert_eq!(
            b.state(),
            PlaybackState::Startup,
            "5 s is below the 10 s start"
        );
        b.add_chunk(s(2), 1);
        assert_eq!(b.state(), PlaybackState::Playing);
        assert_eq!(b.startup_latency(), Some(s(2)));
    }

    #[test]
    fn out_of_order_chunks_do_not_count_until_contiguous() {
        let mut b = six_chunks();
        b.add_chunk(s(1), 1);
        assert_eq!(b.level(), Duration::ZERO);
        assert_eq!(b.state(), PlaybackState::Startup);
        b.add_chunk(s(2), 0);
        assert_eq!(b.level(), s(20));
        assert_eq!(b.state(), PlaybackState::Playing);
    }

    #[test]
    fn rebuffering_is_counted_and_timed() {
        let mut b = six_chunks();
        b.add_chunk(s(1), 0); // plays 1..11
        b.advance(s(15)); // dry at 11
        assert_eq!(b.state(), PlaybackState::Rebuffering);
        assert_eq!(b.rebuffer_count(), 1);
        assert_eq!(b.rebuffer_time(), s(4));
        b.add_chunk(s(16), 1);
        assert_eq!(b.state(), PlaybackState::Playing);
        assert_eq!(b.rebuffer_time(), s(5));
        assert_eq!(b.chunks_played(), 1);
        b.advance(s(40));
        assert_eq!(b.rebuffer_count(), 2);
    }

    #[test]
    fn low_water_and_target_hysteresis() {
        let mut b = six_chunks();
        for i in 0..3 {
            b.add_chunk(s(1), i);
        }
        assert_eq!(b.level(), s(30));
        assert!(!b.wants_more(b.chunk_start(3)), "at target: stop");
        b.advance(s(10)); // level 21 s: above low water, stay idle
        assert!(!b.wants_more(b.chunk_start(3)));
        assert_eq!(
            b.next_deadline(),
            Some(s(16)),
            "low-water crossing at 15 s left"
        );
        b.advance(s(17)); // level 14 s
        assert!(b.wants_more(b.chunk_start(3)), "below 15 s: refill");
        b.add_chunk(s(17), 3); // level 24 s
        assert!(
            b.wants_more(b.chunk_start(4)),
            "keeps filling until the target"
        );
        assert!(
            !b.wants_more(b.chunk_start(5)),
            "chunk 4 in flight covers the 30 s target"
        );
    }

    #[test]
    fn ends_after_the_last_chunk_and_averages_the_level() {
        let mut b = BufferManager::new(BufferConfig::default(), &[s(10), s(10)], Duration::ZERO);
        b.add_chunk(Duration::ZERO, 0);
        b.add_chunk(Duration::ZERO, 1);
        assert_eq!(b.state(), PlaybackState::Playing);
        b.advance(s(100));
        assert_eq!(b.state(), PlaybackState::Ended);
        assert_eq!(b.ended_at(), Some(s(20)));
        assert_eq!(b.rebuffer_count(), 0);
        // Level falls linearly 20 → 0 over 20 s: average 10 s.
        assert!((b.average_level_secs().unwrap() - 10.0).abs() < 1e-9);
        assert_eq!(b.chunks_played(), 2);
        assert!(!b.wants_more(Duration::ZERO));
    }

    #[test]
    fn waking_at_the_low_water_deadline_starts_the_refill() {
        // A client with no other wake-ups (no probes) relies on this.
        let mut b = six_chunks();
        for i in 0..3 {
            b.add_chunk(Duration::ZERO, i);
        }
        assert!(!b.wants_more(b.chunk_start(3)));
        let at = b.next_deadline().unwrap();
        assert_eq!(at, s(15));
        b.advance(at);
        assert!(
            b.wants_more(b.chunk_start(3)),
            "refill starts exactly at the mark"
        );
    }

    #[test]
    fn out_of_order_media_counts_towards_the_target() {
        let mut b = six_chunks();
        b.add_chunk(s(1), 1);
        b.add_chunk(s(1), 2);
        assert!(
            b.wants_more(b.chunk_start(0)),
            "the missing chunk 0 is always requested"
        );
        assert!(
            !b.wants_more(b.chunk_start(3)),
            "chunks 0-2 cover the 30 s target"
        );
    }

    fn external() -> BufferManager {
        let cfg = BufferConfig {
            external_playhead: true,
            ..BufferConfig::default()
        };
        BufferManager::new(cfg, &[s(0), s(10), s(10), s(10)], Duration::ZERO)
    }

    #[test]
    fn a_real_player_sets_the_playhead_startup_and_stalls() {
        let mut b = external();
        b.add_chunk(s(1), 0);
        b.add_chunk(s(1), 1);
        b.add_chunk(s(2), 2);
        assert_eq!(
            b.state(),
            PlaybackState::Startup,
            "the player has not played yet"
        );
        assert_eq!(b.level(), s(20));
        assert_eq!(b.next_deadline(), None, "no model deadline");
        b.observe_player(s(3), Duration::ZERO, PlayerEvent::Playing);
        assert_eq!(b.state(), PlaybackState::Playing);
        assert_eq!(b.startup_latency(), Some(s(3)), "request → first frame");
        b.advance(s(30));
        assert_eq!(
            b.state(),
            PlaybackState::Playing,
            "the model never drains it"
        );
        b.observe_player(s(31), s(20), PlayerEvent::Waiting);
        assert_eq!(b.state(), PlaybackState::Rebuffering);
        assert_eq!((b.rebuffer_count(), b.level()), (1, Duration::ZERO));
        assert!(b.wants_more(b.chunk_start(3)), "a stall always refills");
        b.add_chunk(s(33), 3);
        assert_eq!(
            b.state(),
            PlaybackState::Rebuffering,
            "until the player plays"
        );
        b.observe_player(s(34), s(20), PlayerEvent::Playing);
        assert_eq!(b.rebuffer_time(), s(3));
        b.observe_player(s(40), s(26), PlayerEvent::Position);
        assert_eq!(b.playhead(), s(26));
        assert_eq!(b.chunks_played(), 3, "init and two media chunks");
        b.observe_player(s(44), s(99), PlayerEvent::Ended);
        assert_eq!(b.state(), PlaybackState::Ended);
        assert_eq!(b.ended_at(), Some(s(44)));
        assert_eq!(b.playhead(), s(30));
        assert_eq!(b.chunks_played(), 4);
        b.observe_player(s(50), s(0), PlayerEvent::Playing);
        assert_eq!(b.state(), PlaybackState::Ended, "nothing after the end");
    }

    #[test]
    fn a_model_buffer_ignores_player_reports() {
        let mut b = six_chunks();
        b.add_chunk(s(1), 0);
        b.observe_player(s(2), s(5), PlayerEvent::Waiting);
        assert_eq!(b.state(), PlaybackState::Playing);
        assert_eq!(b.rebuffer_count(), 0);
        assert_eq!(b.playhead(), s(0), "the report moved nothing");
    }

    #[test]
    fn duplicate_and_out_of_range_chunks_are_ignored() {
        let mut b = six_chunks();
        assert!(b.add_chunk(s(1), 0));
        assert!(!b.add_chunk(s(1), 0));
        assert!(!b.add_chunk(s(1), 99));
    }
}
