//! The default video's media: a test pattern encoded once with ffmpeg and
//! cached, so the embedded cluster serves real H.264 in fragmented MP4 (an
//! initialization segment plus 10 s media segments) that a browser's Media
//! Source Extensions, mpv or ffprobe play, instead of random bytes.
//!
//! The picture is ffmpeg's moving `testsrc2` pattern with grain (so the
//! encoder spends the bitrate, as a real scene would) and, burnt in large,
//! the media clock and the chunk number the dashboard shows for that moment
//! (chunk 0 is the initialization segment, so the first 10 s are chunk 1):
//! a frozen clock is a stall, visible at a glance.
//!
//! By default the picture is encoded at three bitrates in one ffmpeg run
//! (`-var_stream_map`), a ladder of 1000, 2500 and 5000 kbit/s, so the
//! clients' quality choice has real renditions to choose from.
//!
//! The encoding takes a while (about real time on one core per rung at the
//! defaults), so it is done once per distinct [`TestPattern`] and kept under
//! [`cache_root`]`/media/<key>/test-video-001/` (`master.m3u8` and one
//! folder per rung `v0/`, `v1/`, … holding `index.m3u8`, `init_K.mp4`,
//! `seg_NNNNN.m4s`; a single rendition is `index.m3u8`, `init.mp4` and the
//! segments), where `<key>` hashes every setting and ffmpeg's version.
//! A run writes into a temporary sibling and renames it into place, so two
//! processes preparing it at once never see half a video.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

/// What to encode; every default stated. Defaults keep the twins' figures
/// comparable with the synthetic video (about 5 Mbit/s, 10 s chunks).
#[derive(Clone, Debug, PartialEq)]
pub struct TestPattern {
    /// Video id, and the name of the folder holding the playlist (ingest
    /// names a video after it). Default `test-video-001`.
    pub video_id: String,
    /// Length. Default 120 s (about 75 MB at the default bitrate).
    pub duration: Duration,
    /// Target bitrate, kbit/s (constant-bitrate x264 with a 2 s buffer).
    /// Default 5000.
    pub bitrate_kbps: u32,
    /// Picture width × height, pixels. Default 854 × 480.
    pub size: (u32, u32),
    /// Frames per second. Default 25.
    pub fps: u32,
    /// Segment (chunk) length; every segment starts on a keyframe. Default 10 s.
    pub segment: Duration,
    /// The ladder's lower rungs, kbit/s, lowest first, each below
    /// `bitrate_kbps` (the top rung): the same picture encoded again, so
    /// quality can adapt. With rungs the output is a multivariant playlist
    /// (`master.m3u8`, one media playlist per rung in `v0/`, `v1/`, …, top
    /// last), ingested as a video with a ladder; empty for one rendition
    /// (`index.m3u8`). At most 8. Default `[1000, 2500]`.
    pub lower_rungs_kbps: Vec<u32>,
}

impl Default for TestPattern {
    fn default() -> Self {
        Self {
            video_id: "test-video-001".into(),
            duration: Duration::from_secs(120),
            bitrate_kbps: 5000,
            size: (854, 480),
            fps: 25,
            segment: Duration::from_secs(10),
            lower_rungs_kbps: vec![1000, 2500],
        }
    }
}

/// Errors preparing the test pattern.
#[derive(Debug, thiserror::Error)]
pub enum TestPatternError {
    /// ffmpeg is not installed or could not be started.
    #[error("ffmpeg did not run ({0}); scripts/setup.sh installs it")]
    NoFfmpeg(std::io::Error),
    /// ffmpeg ran and failed.
    #[error("ffmpeg failed to encode the test pattern ({status}): {stderr}")]
    Encode {
        /// Its exit status.
        status: String,
        /// What it printed.
        stderr: String,
    },
    /// A setting is out of range.
    #[error("test pattern: {0}")]
    Config(String),
    /// The cache folder could not be written.
    #[error("{path}: {source}")]
    Cache {
        /// The folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Where vstack caches what it generates: `$VSTACK_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/vstack`, else `$HOME/.cache/vstack`, else a `vstack-cache`
/// folder in the system's temporary directory.
pub fn cache_root() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("VSTACK_CACHE_DIR")
        .or_else(|| env("XDG_CACHE_HOME").map(|p| p.join("vstack")))
        .or_else(|| env("HOME").map(|p| p.join(".cache").join("vstack")))
        .unwrap_or_else(|| std::env::temp_dir().join("vstack-cache"))
}

impl TestPattern {
    fn validate(&self) -> Result<(), TestPatternError> {
        let bad = |m: String| Err(TestPatternError::Config(m));
        crate::http::validate_id("video", &self.video_id)
            .map_err(|e| TestPatternError::Config(e.message))?;
        if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&self.duration) {
            return bad(format!(
                "duration {:?} out of range 1 s..=1 h",
                self.duration
            ));
        }
        if !(100..=50_000).contains(&self.bitrate_kbps) {
            return bad(format!(
                "bitrate {} kbit/s out of range 100..=50000",
                self.bitrate_kbps
            ));
        }
        let (w, h) = self.size;
        if !(16..=3840).contains(&w) || !(16..=2160).contains(&h) || w % 2 == 1 || h % 2 == 1 {
            return bad(format!("size {w}x{h}: even, 16..=3840 × 16..=2160"));
        }
        if !(1..=60).contains(&self.fps) {
            return bad(format!("fps {} out of range 1..=60", self.fps));
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(60)).contains(&self.segment) {
            return bad(format!("segment {:?} out of range 1..=60 s", self.segment));
        }
        let rungs = &self.lower_rungs_kbps;
        if rungs.len() > 8
            || rungs.first().is_some_and(|&r| r < 100)
            || rungs.windows(2).any(|w| w[0] >= w[1])
            || rungs.last().is_some_and(|&r| r >= self.bitrate_kbps)
        {
            return bad(format!(
                "lower rungs {rungs:?} kbit/s: at most 8, rising from at least 100, all below the top's {}",
                self.bitrate_kbps
            ));
        }
        Ok(())
    }

    /// ffmpeg's arguments, writing the HLS VOD into `dir`.
    fn ffmpeg_args(&self, dir: &Path) -> Vec<String> {
        let (w, h) = self.size;
        let seg_s = self.segment.as_secs_f64();
        // Keyframe every 2 s and on every segment start; no scene-cut
        // keyframes, so the segments are exactly `segment` long.
        let gop = (self.fps * 2).max(1);
        let font = (h / 9).max(12);
        let text = format!("%{{pts\\:hms}}   chunk %{{eif\\:floor(t/{seg_s})+1\\:d}}");
        let vf = format!(
            "noise=alls=12:allf=t,drawtext=font=DejaVu Sans Mono:fontsize={font}:\
             fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=12:x=(w-tw)/2:y=h-th-{font}:\
             text='{text}'"
        );
        let mut rates: Vec<u32> = self.lower_rungs_kbps.clone();
        rates.push(self.bitrate_kbps);
        let n = rates.len();
        let mut args: Vec<String> = [
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=size={w}x{h}:rate={}", self.fps),
            "-t",
            &format!("{:.3}", self.duration.as_secs_f64()),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // One picture, split into one output per rung.
        let outs: String = (0..n).map(|k| format!("[v{k}]")).collect();
        args.push("-filter_complex".into());
        args.push(format!("[0:v]{vf},split={n}{outs}"));
        for k in 0..n {
            args.push("-map".into());
            args.push(format!("[v{k}]"));
        }
        for (k, kbps) in rates.iter().enumerate() {
            for (opt, v) in [
                ("-b:v", *kbps),
                ("-maxrate:v", *kbps),
                ("-bufsize:v", kbps * 2),
            ] {
                args.push(format!("{opt}:{k}"));
                args.push(format!("{v}k"));
            }
        }
        let rest: Vec<String> = [
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-profile:v",
            "high",
            "-pix_fmt",
            "yuv420p",
            "-g",
            &gop.to_string(),
            "-keyint_min",
            &gop.to_string(),
            "-sc_threshold",
            "0",
            "-force_key_frames",
            &format!("expr:gte(t,n_forced*{seg_s})"),
            "-an",
            "-f",
            "hls",
            "-hls_time",
            &format!("{seg_s}"),
            "-hls_playlist_type",
            "vod",
            "-hls_segment_type",
            "fmp4",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(rest);
        if n == 1 {
            args.extend([
                "-hls_fmp4_init_filename".to_string(),
                "init.mp4".into(),
                "-hls_segment_filename".into(),
                dir.join("seg_%05d.m4s").to_string_lossy().into_owned(),
                dir.join("index.m3u8").to_string_lossy().into_owned(),
            ]);
        } else {
            let map: Vec<String> = (0..n).map(|k| format!("v:{k}")).collect();
            args.extend([
                "-hls_fmp4_init_filename".to_string(),
                "init.mp4".into(),
                "-master_pl_name".into(),
                "master.m3u8".into(),
                "-var_stream_map".into(),
                map.join(" "),
                "-hls_segment_filename".into(),
                dir.join("v%v")
                    .join("seg_%05d.m4s")
                    .to_string_lossy()
                    .into_owned(),
                dir.join("v%v")
                    .join("index.m3u8")
                    .to_string_lossy()
                    .into_owned(),
            ]);
        }
        args
    }

    /// The playlist's file name: `master.m3u8` with a ladder, else
    /// `index.m3u8`.
    fn playlist_name(&self) -> &'static str {
        if self.lower_rungs_kbps.is_empty() {
            "index.m3u8"
        } else {
            "master.m3u8"
        }
    }

    /// The cache folder for these settings under `root`, keyed by the
    /// settings and `ffmpeg_version`.
    fn folder(&self, root: &Path, ffmpeg_version: &str) -> PathBuf {
        let key = crate::http::sha256_hex(
            format!(
                "{:?}|{ffmpeg_version}|{:?}",
                self,
                self.ffmpeg_args(Path::new("/"))
            )
            .as_bytes(),
        );
        root.join("media").join(&key[..16]).join(&self.video_id)
    }

    /// The playlist of this test pattern under `root`, encoding it first when
    /// it is not there yet. Blocking (runs ffmpeg): call it on the blocking
    /// pool, or use [`TestPattern::ensure`].
    ///
    /// # Errors
    /// [`TestPatternError`]: a setting out of range, ffmpeg missing or
    /// failing, the cache folder not writable.
    pub fn ensure_blocking(&self, root: &Path) -> Result<PathBuf, TestPatternError> {
        self.validate()?;
        let version = Command::new("ffmpeg")
            .arg("-version")
            .stdin(Stdio::null())
            .output()
            .map_err(TestPatternError::NoFfmpeg)?;
        let version = String::from_utf8_lossy(&version.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        let dir = self.folder(root, &version);
        let playlist = dir.join(self.playlist_name());
        if playlist.is_file() {
            return Ok(playlist);
        }
        let parent = dir.parent().unwrap_or(root);
        let cache = |path: &Path| {
            let path = path.to_path_buf();
            move |source| TestPatternError::Cache { path, source }
        };
        std::fs::create_dir_all(parent).map_err(cache(parent))?;
        let tmp = tempfile::Builder::new()
            .prefix(".encoding-")
            .tempdir_in(parent)
            .map_err(cache(parent))?;
        let out = Command::new("ffmpeg")
            .args(self.ffmpeg_args(tmp.path()))
            .stdin(Stdio::null())
            .output()
            .map_err(TestPatternError::NoFfmpeg)?;
        if !out.status.success() {
            return Err(TestPatternError::Encode {
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        let done = tmp.keep();
        match std::fs::rename(&done, &dir) {
            Ok(()) => {}
            // Another process finished first: keep its copy.
            Err(_) if playlist.is_file() => {
                let _ = std::fs::remove_dir_all(&done);
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&done);
                return Err(cache(&dir)(e));
            }
        }
        Ok(playlist)
    }

    /// [`TestPattern::ensure_blocking`] on the blocking pool.
    ///
    /// # Errors
    /// As [`TestPattern::ensure_blocking`].
    pub async fn ensure(&self, root: PathBuf) -> Result<PathBuf, TestPatternError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.ensure_blocking(&root))
            .await
            .map_err(|e| TestPatternError::Config(format!("the encoding task failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_out_of_range_are_refused_before_ffmpeg_runs() {
        let root = tempfile::tempdir().unwrap();
        for bad in [
            TestPattern {
                duration: Duration::ZERO,
                ..TestPattern::default()
            },
            TestPattern {
                bitrate_kbps: 0,
                ..TestPattern::default()
            },
            TestPattern {
                size: (855, 480),
                ..TestPattern::default()
            },
            TestPattern {
                fps: 0,
                ..TestPattern::default()
            },
            TestPattern {
                video_id: "../x".into(),
                ..TestPattern::default()
            },
            TestPattern {
                lower_rungs_kbps: vec![2500, 1000],
                ..TestPattern::default()
            },
            TestPattern {
                lower_rungs_kbps: vec![1000, 5000],
                ..TestPattern::default()
            },
        ] {
            let e = bad.ensure_blocking(root.path()).unwrap_err();
            assert!(matches!(e, TestPatternError::Config(_)), "{e}");
        }
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
    }

    #[test]
    fn the_cache_key_changes_with_every_setting() {
        let root = Path::new("/cache");
        let base = TestPattern::default();
        let a = base.folder(root, "ffmpeg version 5.1");
        assert!(a.ends_with("test-video-001"), "{a:?}");
        assert_ne!(a, base.folder(root, "ffmpeg version 6.0"));
        for other in [
            TestPattern {
                duration: Duration::from_secs(60),
                ..base.clone()
            },
            TestPattern {
                bitrate_kbps: 2500,
                ..base.clone()
            },
            TestPattern {
                size: (1280, 720),
                ..base.clone()
            },
            TestPattern {
                lower_rungs_kbps: vec![500],
                ..base.clone()
            },
        ] {
            assert_ne!(a, other.folder(root, "ffmpeg version 5.1"));
        }
    }
}
