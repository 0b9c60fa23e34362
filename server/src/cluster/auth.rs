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
//! Clients send it with [`ClusterClient`]: only on the requests that change
//! state, and never in clear to a host other than this machine
//! ([`may_carry_token`]; `--insecure-cluster-http` lifts that on a trusted
//! network).
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

    /// The cluster's HTTP client ([`ClusterClient`]): the token only on
    /// state-changing requests, and never in clear to another host.
    pub fn client(&self) -> ClusterClient {
        ClusterClient::new(self.clone(), &ClusterTransport::default())
    }
}

/// Why [`ClusterClient`] kept the token off a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "refused to send the cluster token in clear to {0}: use https:// for nodes on other hosts, or pass --insecure-cluster-http on a network you trust"
)]
pub struct CleartextRefused(pub String);

/// Whether the token may travel to `url`: over `https://`, or over
/// `http://` to a loopback host (`127.0.0.0/8`, `::1`, `localhost`); to any
/// `http://` host only when `insecure_http`.
///
/// # Errors
/// [`CleartextRefused`] otherwise (also for a URL that does not parse).
pub fn may_carry_token(url: &str, insecure_http: bool) -> Result<(), CleartextRefused> {
    let refused = || CleartextRefused(url.split(['?', '#']).next().unwrap_or(url).to_string());
    let u = reqwest::Url::parse(url).map_err(|_| refused())?;
    match u.scheme() {
        "https" => Ok(()),
        "http" if insecure_http => Ok(()),
        "http" => {
            let host = u.host_str().unwrap_or("");
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            let loopback = bare.eq_ignore_ascii_case("localhost")
                || bare
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if loopback { Ok(()) } else { Err(refused()) }
        }
        _ => Err(refused()),
    }
}

/// How a cluster's processes reach each other. Every field has a stated
/// default ([`ClusterTransport::default`]: HTTPS or loopback only, the
/// platform's trust store).
#[derive(Clone, Debug, Default)]
pub struct ClusterTransport {
    /// Let the token travel over plain HTTP to other hosts
    /// (`--insecure-cluster-http`). Default `false`.
    pub insecure_http: bool,
    /// A further certificate authority the cluster's HTTPS certificates may
    /// chain to (`--cluster-ca`), besides the platform's. Default none.
    pub ca: Option<reqwest::Certificate>,
}

/// The HTTP client of a cluster's processes (metadata service, nodes,
/// ingest, the replication manager, the embedded cluster). Reads (`get`,
/// `head`) go out without credentials; state-changing requests (`put`,
/// `post`, `delete`) carry `Authorization: Bearer <cluster token>`, and only
/// where [`may_carry_token`] allows: to any other URL they go out without it
/// (the node answers 401 and the caller fails) and the refusal is logged.
/// The token never travels in clear to a host another machine could be.
#[derive(Clone, Debug)]
pub struct ClusterClient {
    http: reqwest::Client,
    token: ClusterToken,
    insecure_http: bool,
}

impl Default for ClusterClient {
    /// A client with a random token ([`ClusterToken::random`]): closed, not
    /// open.
    fn default() -> Self {
        ClusterToken::random().client()
    }
}

impl ClusterClient {
    /// A client for `token` reaching the cluster as `transport` says.
    pub fn new(token: ClusterToken, transport: &ClusterTransport) -> Self {
        let mut b = reqwest::Client::builder();
        if let Some(ca) = &transport.ca {
            b = b.add_root_certificate(ca.clone());
        }
        Self {
            http: b.build().unwrap_or_default(),
            token,
            insecure_http: transport.insecure_http,
        }
    }

    /// The plain client underneath (no credentials), for players and reads.
    pub fn plain(&self) -> reqwest::Client {
        self.http.clone()
    }

    /// `GET url`, without credentials.
    pub fn get(&self, url: impl AsRef<str>) -> reqwest::RequestBuilder {
        self.http.get(url.as_ref())
    }

    /// `HEAD url`, without credentials.
    pub fn head(&self, url: impl AsRef<str>) -> reqwest::RequestBuilder {
        self.http.head(url.as_ref())
    }

    /// `PUT url` with the token where it may go.
    pub fn put(&self, url: impl AsRef<str>) -> reqwest::RequestBuilder {
        self.authorized(reqwest::Method::PUT, url.as_ref())
    }

    /// `POST url` with the token where it may go.
    pub fn post(&self, url: impl AsRef<str>) -> reqwest::RequestBuilder {
        self.authorized(reqwest::Method::POST, url.as_ref())
    }

    /// `DELETE url` with the token where it may go.
    pub fn delete(&self, url: impl AsRef<str>) -> reqwest::RequestBuilder {
        self.authorized(reqwest::Method::DELETE, url.as_ref())
    }

    fn authorized(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let req = self.http.request(method, url);
        match may_carry_token(url, self.insecure_http) {
            Ok(()) => match HeaderValue::from_str(&format!("Bearer {}", self.token.0)) {
                Ok(mut v) => {
                    v.set_sensitive(true);
                    req.header(header::AUTHORIZATION, v)
                }
                Err(_) => req,
            },
            Err(e) => {
                tracing::error!("{e}");
                req
            }
        }
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

    #[test]
    fn the_token_travels_only_where_it_stays_secret() {
        for ok in [
            "http://127.0.0.1:8081/chunks/a",
            "http://127.9.9.9/x",
            "http://[::1]:8080/nodes",
            "http://localhost:8080/x",
            "https://node1.example:8443/chunks/a",
            "https://10.0.0.5/x",
        ] {
            assert_eq!(may_carry_token(ok, false), Ok(()), "{ok}");
        }
        for bad in [
            "http://10.0.0.5:8081/chunks/a",
            "http://node1.example/x",
            "http://127.0.0.1.evil.example/x",
            "ftp://127.0.0.1/x",
            "not a url",
        ] {
            assert!(may_carry_token(bad, false).is_err(), "{bad}");
        }
        assert_eq!(may_carry_token("http://10.0.0.5:8081/x", true), Ok(()));
    }

    #[test]
    fn reads_carry_no_token_and_writes_carry_it_only_where_allowed() {
        let t = ClusterToken::new("0123456789abcdef0123456789abcdef").unwrap();
        let c = t.client();
        let auth = |r: reqwest::RequestBuilder| {
            r.build()
                .unwrap()
                .headers()
                .get(header::AUTHORIZATION)
                .is_some()
        };
        assert!(!auth(c.get("http://127.0.0.1:1/chunks/a")), "a read");
        assert!(auth(c.put("http://127.0.0.1:1/chunks/a")));
        assert!(auth(c.post("https://node.example/paxos/a")));
        assert!(
            !auth(c.delete("http://10.0.0.5:1/chunks/a")),
            "in clear to another host"
        );
        let insecure = ClusterClient::new(
            t,
            &ClusterTransport {
                insecure_http: true,
                ..ClusterTransport::default()
            },
        );
        assert!(auth(insecure.delete("http://10.0.0.5:1/chunks/a")));
    }
}
