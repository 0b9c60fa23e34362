//! The built site's static files (`pkg/vstack.{js,wasm,css}`, `vendor/`):
//! read from `--site-root` on disk during development, or, in a binary built
//! with the `embed-site` feature, from the binary itself, so a deploy is one
//! executable (see the README's "Deploy").
//!
//! Embedded files are answered with their content type, an `ETag` (the
//! file's SHA-256, computed at build time) and `Cache-Control: no-cache`, so
//! browsers revalidate (304) and never run a stale WASM bundle against a new
//! server after a redeploy.

#[cfg(feature = "embed-site")]
use axum::{
    body::Body,
    http::{HeaderValue, StatusCode, header},
    response::IntoResponse,
};
use axum::{http::HeaderMap, response::Response};

#[cfg(feature = "embed-site")]
#[derive(rust_embed::Embed)]
#[folder = "$CARGO_MANIFEST_DIR/../target/site"]
struct Site;

/// Whether this binary carries the built site.
pub fn embedded() -> bool {
    #[cfg(feature = "embed-site")]
    {
        Site::get("pkg/vstack.js").is_some()
    }
    #[cfg(not(feature = "embed-site"))]
    {
        false
    }
}

/// The embedded file at `path` (e.g. `/pkg/vstack.wasm`) as a response, or
/// `None` when there is no such file (or no embedded site).
pub fn serve_embedded(path: &str, headers: &HeaderMap) -> Option<Response> {
    #[cfg(feature = "embed-site")]
    {
        let file = Site::get(path.trim_start_matches('/'))?;
        let etag = format!("\"{}\"", hex::encode(file.metadata.sha256_hash()));
        let fresh = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
        let mut r = if fresh {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            let mut r = Response::new(Body::from(file.data.into_owned()));
            if let Ok(v) = HeaderValue::from_str(file.metadata.mimetype()) {
                r.headers_mut().insert(header::CONTENT_TYPE, v);
            }
            r
        };
        let h = r.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&etag) {
            h.insert(header::ETAG, v);
        }
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        Some(r)
    }
    #[cfg(not(feature = "embed-site"))]
    {
        let _ = (path, headers);
        None
    }
}
