//! Security headers on every dashboard response, and the per-response
//! script nonce the pages render with.
//!
//! [`security_headers`] mints a fresh nonce for each request (16 random
//! bytes, hex), puts it in the request's extensions as [`CspNonce`] (the
//! page renderer hands it to leptos, whose hydration scripts and our shell's
//! one inline script carry it), and sends:
//!
//! - `Content-Security-Policy`: scripts from this origin or carrying the
//!   nonce (plus `'wasm-unsafe-eval'` so the WASM bundle may compile), no
//!   plugins, connections (fetch, `/ws`) to this origin only, media from
//!   this origin or the Watch tab's own `MediaSource` (`blob:`), no `<base>`
//!   elsewhere, forms posting here only, and `frame-ancestors 'none'`: no
//!   other site may frame the dashboard (clickjacking its controls);
//! - `X-Frame-Options: DENY` for browsers without `frame-ancestors`;
//! - `X-Content-Type-Options: nosniff` and `Referrer-Policy: same-origin`.
//!
//! A stored string that reaches a page therefore cannot run even where
//! escaping were to fail: an injected `<script>` has no nonce.

use axum::{
    extract::Request,
    http::{HeaderValue, header},
    middleware::Next,
    response::Response,
};

/// This response's script nonce (hex), in the request's extensions.
#[derive(Clone, Debug)]
pub struct CspNonce(pub String);

impl CspNonce {
    /// A fresh nonce: 16 random bytes from the OS-seeded generator, hex.
    pub fn fresh() -> Self {
        use rand::Rng;
        Self(hex::encode(rand::rng().random::<[u8; 16]>()))
    }
}

/// The `Content-Security-Policy` value for a response whose scripts carry
/// `nonce`. `dev_reload` (`cargo leptos watch`'s reload socket, e.g.
/// `ws://127.0.0.1:8889`) is added to `connect-src` when given.
pub fn content_security_policy(nonce: &str, dev_reload: Option<&str>) -> String {
    let reload = dev_reload.map(|r| format!(" {r}")).unwrap_or_default();
    format!(
        "script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; object-src 'none'; \
         connect-src 'self'{reload}; media-src 'self' blob:; base-uri 'self'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

/// `cargo leptos watch`'s reload socket when it runs (`LEPTOS_WATCH`), for
/// `connect-src`.
fn dev_reload_source() -> Option<String> {
    std::env::var_os("LEPTOS_WATCH")?;
    let port = std::env::var("LEPTOS_RELOAD_PORT").unwrap_or_else(|_| "8889".into());
    Some(format!("ws://127.0.0.1:{port} ws://localhost:{port}"))
}

/// The middleware of the module doc.
pub async fn security_headers(mut req: Request, next: Next) -> Response {
    let nonce = CspNonce::fresh();
    req.extensions_mut().insert(nonce.clone());
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let csp = content_security_policy(&nonce.0, dev_reload_source().as_deref());
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    res
}

/// In a page render: hands this request's [`CspNonce`] to leptos (its
/// hydration scripts and `use_nonce()` read it), replacing the one
/// leptos_axum mints, which the header would not name.
pub fn provide_request_nonce() {
    use leptos::prelude::{provide_context, use_context};
    if let Some(parts) = use_context::<axum::http::request::Parts>()
        && let Some(n) = parts.extensions.get::<CspNonce>()
    {
        provide_context(leptos::nonce::Nonce::from_value(n.0.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_the_nonce_and_forbids_framing() {
        let p = content_security_policy("abc123", None);
        assert!(p.contains("script-src 'self' 'nonce-abc123'"));
        assert!(p.contains("frame-ancestors 'none'"));
        assert!(p.contains("connect-src 'self';"));
        assert!(p.contains("media-src 'self' blob:;"));
        assert!(!p.contains("unsafe-inline"));
        assert_ne!(CspNonce::fresh().0, CspNonce::fresh().0);
        assert_eq!(CspNonce::fresh().0.len(), 32);
    }
}
