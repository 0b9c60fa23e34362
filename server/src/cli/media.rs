//! `vstack media`: prepares test-video-001's media ahead of time (the test
//! pattern `vstack serve` and `vstack play` seed, encoded once with ffmpeg
//! and cached) and prints where its playlist is, so a first `serve` starts
//! without waiting for the encoder.

use std::time::Duration;

use clap::Args;

use super::BadInput;
use crate::cluster::test_pattern::{self, TestPattern, TestPatternError};

/// Options of `vstack media`.
#[derive(Debug, Clone, Args)]
pub struct MediaArgs {
    /// Length, seconds: the same as `serve --video-duration-s`, whose
    /// cache entry this prepares.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(10..=3600))]
    pub video_duration_s: u64,
}

/// Runs `vstack media`: prints the playlist's path.
///
/// # Errors
/// [`BadInput`] when ffmpeg is missing; the encoder's or the cache's error
/// otherwise.
pub async fn run(args: MediaArgs) -> anyhow::Result<()> {
    let pattern = TestPattern {
        duration: Duration::from_secs(args.video_duration_s),
        ..TestPattern::default()
    };
    let started = std::time::Instant::now();
    let playlist = pattern
        .ensure(test_pattern::cache_root())
        .await
        .map_err(|e| match e {
            e @ TestPatternError::NoFfmpeg(_) => anyhow::Error::from(BadInput(e.to_string())),
            e => e.into(),
        })?;
    eprintln!(
        "{} ready in {:.1} s",
        pattern.video_id,
        started.elapsed().as_secs_f64()
    );
    println!("{}", playlist.display());
    Ok(())
}
