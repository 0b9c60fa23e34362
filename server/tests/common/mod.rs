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
            assert!(
                std::env::var_os("VSTACK_REQUIRE_TOOLS").is_none(),
                "ffmpeg not runnable ({e}) and VSTACK_REQUIRE_TOOLS is set: run scripts/setup.sh"
            );
            eprintln!("skipping: ffmpeg not runnable ({e}); scripts/setup.sh installs it");
            None
        }
    }
}

/// Whether the shared input `path` (`../shared/traces/…`) exists. When
/// not, says so and returns false (the caller skips that part), unless
/// `VSTACK_REQUIRE_TOOLS` is set: then it panics.
#[allow(dead_code)]
pub fn shared_input(path: &Path) -> bool {
    let found = path.exists();
    if !found {
        assert!(
            std::env::var_os("VSTACK_REQUIRE_TOOLS").is_none(),
            "{} not found and VSTACK_REQUIRE_TOOLS is set: it is this test's real input",
            path.display()
        );
        eprintln!("skipping: {} not found", path.display());
    }
    found
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

/// The leptos options every in-process test router renders with: the built
/// site at `target/site` (pages render without it; only static files need it).
#[allow(dead_code)]
pub fn leptos_options() -> leptos::config::LeptosOptions {
    leptos::config::LeptosOptions::builder()
        .output_name("vstack")
        .site_root("target/site")
        .site_pkg_dir("pkg")
        .build()
}

/// A dashboard hub's config for tests: the embedded default cluster serving
/// one synthetic video of `video_s` seconds at `bitrate_kbps`, the collector
/// ticking every `tick_ms`, media time running `speed` times real time.
/// Other fields keep their defaults; set them with struct update syntax.
#[allow(dead_code)]
pub fn hub_config(
    tick_ms: u64,
    speed: f64,
    video_s: u64,
    bitrate_kbps: f64,
) -> vstack::hub::HubConfig {
    use vstack::cluster::embedded::{ClusterConfig, SyntheticVideo};
    vstack::hub::HubConfig {
        metrics_interval: std::time::Duration::from_millis(tick_ms),
        speed,
        cluster: ClusterConfig {
            video: Some(SyntheticVideo {
                duration: std::time::Duration::from_secs(video_s),
                bitrate_kbps,
                ..SyntheticVideo::default()
            }),
            ..ClusterConfig::default()
        },
        ..vstack::hub::HubConfig::default()
    }
}

/// Sends `req` through `router` (no port) and returns the status and body.
#[allow(dead_code)]
pub async fn call(
    router: &axum::Router,
    req: axum::http::Request<axum::body::Body>,
) -> (axum::http::StatusCode, String) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

/// `GET uri` through `router`: the status and body.
#[allow(dead_code)]
pub async fn get(router: &axum::Router, uri: &str) -> (axum::http::StatusCode, String) {
    let req = axum::http::Request::get(uri)
        .body(axum::body::Body::empty())
        .unwrap();
    call(router, req).await
}

/// `GET uri` through `router`, which must answer 200 with JSON.
#[allow(dead_code)]
pub async fn get_json(router: &axum::Router, uri: &str) -> serde_json::Value {
    let (status, body) = get(router, uri).await;
    assert_eq!(status, axum::http::StatusCode::OK, "{uri}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// ffprobe's codec name of the first video stream of `path` and the number
/// of frames it decoded.
#[allow(dead_code)]
pub fn probe_frames(path: &Path) -> (String, u64) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream=codec_name,nb_read_frames",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("ffprobe runs (scripts/setup.sh installs ffmpeg)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v["streams"][0];
    (
        s["codec_name"].as_str().unwrap_or_default().to_string(),
        s["nb_read_frames"]
            .as_str()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
    )
}
