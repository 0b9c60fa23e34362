//! The built site's static files (`pkg/vstack.{js,wasm,css}`, `vendor/`):
//! read from `--site-root` on disk during development, or, in a binary built
//! with the `embed-site` feature, from the binary itself, so a deploy is one
//! executable (see the README's "Deploy").
//!
//! Embedded files are answered with their content type, an `ETag` (the
//! file's SHA-256, computed at build time) and `Cache-Control: no-cache`, so
//! browsers revalidate (304) and never run a stale WASM bundle against a new
//! server after a redeploy. A file with a precompressed sibling (`.br` from
//! `cargo leptos build --release --precompress` or setup's ECharts bundle,
//! `.gz`) is answered with it when the browser accepts that encoding, brotli
//! first; the compression layer leaves an encoded body alone. (From disk,
//! leptos_axum's file handler does the same.)

#[cfg(feature = "embed-site")]
use axum::{
    body::Body,
    http::{HeaderValue, StatusCode, header},
    response::IntoResponse,
};
use axum::{http::HeaderMap, response::Response};

/// The leptos options a server renders with (output name, site root, pkg
/// folder, address); the rest of the server names this type, not leptos.
pub type SiteOptions = leptos::config::LeptosOptions;

/// Site options: cargo-leptos's environment when present (so `cargo leptos
/// watch` hot reload works), otherwise vstack's defaults (output `vstack`,
/// site root `target/site`, pkg folder `pkg`, `default_addr`). `addr` wins
/// over both; without it, `public` listens on every interface (0.0.0.0) at
/// the same port. `site_root` replaces the site root when given.
pub fn site_options(
    default_addr: std::net::SocketAddr,
    addr: Option<std::net::SocketAddr>,
    public: bool,
    site_root: Option<&std::path::Path>,
) -> SiteOptions {
    // cargo-leptos sets LEPTOS_OUTPUT_NAME; without it (a deployed
    // binary) leptos would fall back to an empty output name.
    let from_cargo_leptos = std::env::var_os("LEPTOS_OUTPUT_NAME").is_some();
    let mut options = from_cargo_leptos
        .then(|| leptos::config::get_configuration(None).ok())
        .flatten()
        .map(|c| c.leptos_options)
        .unwrap_or_else(|| {
            SiteOptions::builder()
                .output_name("vstack")
                .site_root("target/site")
                .site_pkg_dir("pkg")
                .site_addr(default_addr)
                .build()
        });
    if let Some(addr) = addr {
        options.site_addr = addr;
    } else if public {
        options.site_addr.set_ip([0, 0, 0, 0].into());
    }
    if let Some(root) = site_root {
        options.site_root = root.to_string_lossy().as_ref().into();
    }
    options
}

#[cfg(feature = "embed-site")]
#[derive(rust_embed::Embed)]
#[folder = "$CARGO_MANIFEST_DIR/../target/site"]
struct Site;

/// Writes the embedded split manifest (`pkg/__wasm_split_manifest.json`,
/// present in a `cargo leptos build --split` site) into a fresh temporary
/// directory laid out as a site root, for the page shell to read; `None`
/// when the binary carries no manifest. Without it, a page served for a lazy
/// route does not name the route's WASM chunk and fails to hydrate.
///
/// # Errors
/// The temporary directory cannot be created or written.
pub fn extract_split_manifest() -> std::io::Result<Option<tempfile::TempDir>> {
    #[cfg(feature = "embed-site")]
    {
        let Some(file) = Site::get("pkg/__wasm_split_manifest.json") else {
            return Ok(None);
        };
        let dir = tempfile::tempdir()?;
        std::fs::create_dir_all(dir.path().join("pkg"))?;
        std::fs::write(
            dir.path().join("pkg/__wasm_split_manifest.json"),
            file.data.as_ref(),
        )?;
        Ok(Some(dir))
    }
    #[cfg(not(feature = "embed-site"))]
    {
        Ok(None)
    }
}

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
        let path = path.trim_start_matches('/');
        let file = Site::get(path)?;
        let accepts = |enc: &str| {
            headers
                .get(header::ACCEPT_ENCODING)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| {
                    v.split(',')
                        .any(|e| e.split(';').next().is_some_and(|n| n.trim() == enc))
                })
        };
        let encoded = [("br", "br"), ("gzip", "gz")]
            .into_iter()
            .find_map(|(enc, ext)| {
                accepts(enc)
                    .then(|| Site::get(&format!("{path}.{ext}")))
                    .flatten()
                    .map(|f| (enc, f))
            });
        let etag = format!("\"{}\"", hex::encode(file.metadata.sha256_hash()));
        let fresh = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
        let mut r = if fresh {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            let mime = file.metadata.mimetype().to_string();
            let mut r = match encoded {
                Some((enc, f)) => {
                    let mut r = Response::new(Body::from(f.data.into_owned()));
                    r.headers_mut()
                        .insert(header::CONTENT_ENCODING, HeaderValue::from_static(enc));
                    r
                }
                None => Response::new(Body::from(file.data.into_owned())),
            };
            if let Ok(v) = HeaderValue::from_str(&mime) {
                r.headers_mut().insert(header::CONTENT_TYPE, v);
            }
            r
        };
        let h = r.headers_mut();
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
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
