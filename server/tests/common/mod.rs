//! Helpers shared by the integration tests.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// Encodes a `seconds`-long test pattern as an HLS VOD (H.264, 4 s segments)
/// into `dir/index.m3u8` with ffmpeg. `None` (with a message) when ffmpeg is not
/// installed; panics when ffmpeg runs but fails.
#[allow(dead_code)]
pub fn ffmpeg_hls(dir: &Path, seconds: u32) -> Option<PathBuf> {
    ffmpeg_hls_of(dir, seconds, "testsrc")
}

/// [`ffmpeg_hls`] with another lavfi source (`testsrc2`, `smptebars`, …), for
/// different bytes of the same length.
#[allow(dead_code)]
pub fn ffmpeg_hls_of(dir: &Path, seconds: u32, source: &str) -> Option<PathBuf> {
    let out = dir.join("index.m3u8");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i"])
        .arg(format!("{source}=duration={seconds}:size=320x240:rate=25"))
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "50"])
        .args(["-f", "hls", "-hls_time", "4", "-hls_playlist_type", "vod"])
        .arg(&out)
        .status();
    match status {
        Ok(s) if s.success() => Some(out),
        Ok(s) => panic!("ffmpeg failed: {s}"),
        Err(e) => {
            eprintln!("skipping: ffmpeg not runnable ({e}); scripts/setup.sh installs it");
            None
        }
    }
}

/// Whether the command `name` is installed. When not, says so and returns
/// false (the caller skips), unless `VSTACK_REQUIRE_TOOLS` is set: then it
/// panics, so a CI run cannot pass by skipping. `scripts/setup.sh` installs
/// every tool the tests use.
#[allow(dead_code)]
pub fn tool(name: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(name).is_file()));
    if !found {
        assert!(
            std::env::var_os("VSTACK_REQUIRE_TOOLS").is_none(),
            "{name} is not installed and VSTACK_REQUIRE_TOOLS is set: run scripts/setup.sh"
        );
        eprintln!("skipping: {name} is not installed; scripts/setup.sh installs it");
    }
    found
}
