//! The cluster token: the shared secret that every state-changing request
//! inside a cluster carries.
//!
//! Storage nodes and the metadata service refuse, with 401 JSON, every
//! request other than `GET`/`HEAD`/`OPTIONS` that lacks `Authorization:
//! Bearer <cluster token>` ([`require_token`]): chunk uploads and deletes,
//! `/emulator`, `/paxos`, node registration and heartbeats, video uploads and
//! deletes, `/cluster/scenario`. Reads stay open, so plain HTTP clients (and
//! the streaming clients) can fetch chunks and manifests. A node id therefore
//! cannot be re-registered to another URL, nor a forged ChunkPaxos message
//! sent, by anyone without the token.
//!
//! The token is chosen by the operator (`--cluster-token` /
//! `VSTACK_CLUSTER_TOKEN`) for separate processes; the embedded cluster makes
//! a random one. [`ClusterToken::default`] is random, so a service built
//! without thinking about it is closed, not open.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use subtle::ConstantTimeEq;

use crate::http::ApiError;

/// Shortest accepted token, characters.
pub const MIN_TOKEN_CHARS: usize = 16;
/// Longest accepted token, characters.
pub const MAX_TOKEN_CHARS: usize = 256;

/// A cluster's shared secret. Cheap to clone; `Debug` does not print it.
#[derive(Clone)]
pub struct ClusterToken(Arc<str>);

impl std::fmt::Debug for ClusterToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterToken(…)")
    }
}

/// A token refused by [`ClusterToken::new`].
#[derive(Debug, thiserror::Error)]
#[error(
    "a cluster token must have {MIN_TOKEN_CHARS}-{MAX_TOKEN_CHARS} visible ASCII characters (no spaces) and at least 128 bits of entropy (e.g. `openssl rand -hex 16` or more)"
)]
pub struct BadToken;

impl ClusterToken {
    /// The token `s`.
    ///
    /// # Errors
    /// [`BadToken`] unless `s` has 16–256 visible ASCII characters and
    /// rates at least 128 bits ([`crate::http::secret::estimated_bits`]).
    pub fn new(s: &str) -> Result<Self, BadToken> {
        let ok = (MIN_TOKEN_CHARS..=MAX_TOKEN_CHARS).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_graphic())
            && crate::http::secret::strong_enough(s);
        if ok {
            Ok(Self(s.into()))
        } else {
            Err(BadToken)
        }
    }

    /// A fresh random token (32 random bytes, hex).
    pub fn random() -> Self {
        use rand::Rng;
        Self(hex::encode(rand::rng().random::<[u8; 32]>()).into())
    }

    /// The secret itself (to hand to a process that joins the cluster).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `headers` carry `Authorization: Bearer <this token>`
    /// (compared in constant time).
    pub fn verify(&self, headers: &HeaderMap) -> bool {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| bool::from(t.trim().as_bytes().ct_eq(self.0.as_bytes())))
    }

    /// An HTTP client that sends the token on every request (the header is
    /// marked sensitive, so it is never logged).
    pub fn client(&self) -> reqwest::Client {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Ok(mut v) = HeaderValue::from_str(&format!("Bearer {}", self.0)) {
            v.set_sensitive(true);
            headers.insert(header::AUTHORIZATION, v);
        }
        reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .unwrap_or_default()
    }
}

impl Default for ClusterToken {
    /// A random token ([`ClusterToken::random`]).
    fn default() -> Self {
        Self::random()
    }
}

/// Middleware: state-changing requests need the token (see the module doc).
pub async fn require_token(
    State(token): State<ClusterToken>,
    req: Request,
    next: Next,
) -> Response {
    let read = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if read || token.verify(req.headers()) {
        return next.run(req).await;
    }
    let mut r = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "this cluster route changes state: send Authorization: Bearer <cluster token>",
    )
    .into_response();
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert!(ClusterToken::new("short").is_err());
        assert!(ClusterToken::new("has a space in it 0123").is_err());
        assert!(ClusterToken::new("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa").is_err());
        assert!(ClusterToken::new("0123456789abcdef").is_err(), "64 bits");
        let t = ClusterToken::new("0123456789abcdef0123456789abcdef").unwrap();
        let mut h = HeaderMap::new();
        assert!(!t.verify(&h));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer 0123456789abcdef0123456789abcdeX"),
        );
        assert!(!t.verify(&h));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer 0123456789abcdef0123456789abcdef"),
        );
        assert!(t.verify(&h));
        assert_ne!(
            ClusterToken::random().expose(),
            ClusterToken::random().expose()
        );
        assert_eq!(format!("{t:?}"), "ClusterToken(…)");
    }
}
