//! Who may call what on the dashboard server: the same-origin and host checks
//! every request passes, public mode with its admin sign-in, and the limits
//! on server functions.
//!
//! One middleware, [`guard`], runs before every route:
//!
//! 1. **Host allow-list** (stops DNS rebinding): the `Host` must be a loopback
//!    name (`localhost`, `127.0.0.1`, `::1`), the address the server is bound
//!    to (when it is not `0.0.0.0`/`::`), the host of `--public-url`, or one
//!    of `--allow-host`. Otherwise 421 with a JSON body. In public mode with
//!    neither `--public-url` nor `--allow-host`, any host is served (a
//!    rebinding page gains nothing there: changes need the admin, whose
//!    session cookie is bound to the real host name) and a warning is logged.
//! 2. **Same origin** (stops CSRF and foreign dashboards): a request that can
//!    change state (any method but `GET`/`HEAD`/`OPTIONS`) and the `/ws`
//!    upgrade are refused with 403 when they carry an `Origin` other than the
//!    request's own host or `--public-url`'s origin, or `Sec-Fetch-Site:
//!    cross-site`. Clients without an `Origin` (curl, scripts) pass; browsers
//!    always send one on these requests.
//! 3. **Caller**: an admin is this machine's user outside public mode (a
//!    loopback peer; a remote one gets 403 on changes), or a caller with
//!    `Authorization: Bearer <admin token>`, or a browser holding a session
//!    cookie from [`sign_in`]. The caller's [`vstack_core::wire::Access`] goes into
//!    the request's extensions, where server functions read it.
//! 4. **Admin-only routes**: in public mode every route that changes state
//!    answers 401 JSON to a viewer. That is every non-`GET` route except
//!    sign-in / sign-out and the read-only server functions listed in
//!    [`READ_ONLY_FNS`] (a new server function is admin-only until listed).
//! 5. **Rate limit** on server functions per client IP
//!    ([`AccessConfig::fn_rate_per_s`], [`AccessConfig::fn_burst`]) and on
//!    `/ws` connects ([`AccessConfig::ws_rate_per_s`],
//!    [`AccessConfig::ws_burst`]), then 429 ([`client_ip`]: behind a proxy
//!    on this host, the address it forwards; IPv6 counted per /64).
//!
//! Sessions live in memory, at most [`AccessConfig::max_sessions`], each for
//! [`AccessConfig::session_ttl`]; a restart signs everyone out.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    num::NonZeroU32,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Form, Json,
    body::Body,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;
use subtle::ConstantTimeEq;
use vstack_core::wire::Access;

use crate::{http::ApiError, sync::LockExt};

/// Name of the admin session cookie.
pub const SESSION_COOKIE: &str = "vstack_session";

/// Server functions any viewer may call, by endpoint (`/api/fn/<endpoint>`).
/// Every other server function needs the admin in public mode.
pub const READ_ONLY_FNS: [&str; 8] = [
    "server_info",
    "dashboard_snapshot",
    "latest_compare",
    "consensus_run",
    "access",
    "metrics_history",
    "list_runs",
    "get_run",
];

/// Client IPs the rate limiter tracks at most; past it (after forgetting idle
/// ones) a new IP is answered 429 until some go idle.
pub const MAX_TRACKED_IPS: usize = 65_536;

/// Access rules of the dashboard server. [`AccessConfig::default`] is the
/// local mode: controls open to every same-origin caller. `Debug` leaves
/// the admin token out.
#[derive(Clone)]
pub struct AccessConfig {
    /// Public mode: viewers see everything, only the admin changes state.
    /// Default `false`.
    pub public: bool,
    /// The admin token (Bearer, or typed into the sign-in form). `None`
    /// outside public mode; `vstack serve --public` makes one when not given.
    pub admin_token: Option<String>,
    /// The URL users reach the dashboard at, e.g. `https://vstack.example`
    /// (behind a proxy); its host is allowed and its origin is same-origin.
    /// Default none.
    pub public_url: Option<String>,
    /// Further host names (without port) served. Default none.
    pub allowed_hosts: Vec<String>,
    /// The address the server is bound to; its IP is allowed as a host when
    /// it is not unspecified. Default `127.0.0.1:8888`.
    pub bind: SocketAddr,
    /// Lifetime of an admin session. Default 12 h.
    pub session_ttl: Duration,
    /// Admin sessions kept at most (the oldest is dropped). Default 1024.
    pub max_sessions: usize,
    /// Server-function calls per second per client IP, sustained. Default 20.
    pub fn_rate_per_s: u32,
    /// Server-function calls a client IP may burst. Default 100.
    pub fn_burst: u32,
    /// `/ws` connects per second per client IP, sustained (each one sends a
    /// full snapshot). Default 5.
    pub ws_rate_per_s: u32,
    /// `/ws` connects a client IP may burst. Default 50.
    pub ws_burst: u32,
}

impl std::fmt::Debug for AccessConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessConfig")
            .field("public", &self.public)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "…"))
            .field("public_url", &self.public_url)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("bind", &self.bind)
            .finish_non_exhaustive()
    }
}

impl Default for AccessConfig {
    fn default() -> Self {
        Self {
            public: false,
            admin_token: None,
            public_url: None,
            allowed_hosts: Vec::new(),
            bind: SocketAddr::from(([127, 0, 0, 1], 8888)),
            session_ttl: Duration::from_secs(12 * 3600),
            max_sessions: 1024,
            fn_rate_per_s: 20,
            fn_burst: 100,
            ws_rate_per_s: 5,
            ws_burst: 50,
        }
    }
}

/// The access rules with their live state (sessions, rate limiter).
pub struct AccessControl {
    config: AccessConfig,
    /// `(scheme, host, port)` of `public_url`.
    public_origin: Option<(String, String, Option<u16>)>,
    sessions: std::sync::Mutex<HashMap<String, Instant>>,
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    ws_limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl std::fmt::Debug for AccessControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessControl")
            .field("public", &self.config.public)
            .field("public_url", &self.config.public_url)
            .finish_non_exhaustive()
    }
}

/// A refused access configuration.
#[derive(Debug, thiserror::Error)]
pub enum AccessConfigError {
    /// `--public-url` is not `http(s)://host[:port][/path]`.
    #[error("--public-url {0:?} is not an http:// or https:// URL")]
    PublicUrl(String),
    /// Public mode without an admin token.
    #[error("public mode needs an admin token")]
    NoAdminToken,
    /// The admin token is too weak to resist guessing.
    #[error(
        "the admin token must carry at least 128 bits of entropy: e.g. 32 random hex characters (`openssl rand -hex 16`) or more; leave it out to get a random one"
    )]
    WeakAdminToken,
    /// A zero rate or burst.
    #[error("the server-function rate and burst must be at least 1")]
    ZeroRate,
}

impl AccessControl {
    /// Checks `config` and starts with no sessions.
    ///
    /// # Errors
    /// [`AccessConfigError`] for a bad public URL, a missing or short admin
    /// token in public mode, or a zero rate.
    pub fn new(config: AccessConfig) -> Result<Arc<Self>, AccessConfigError> {
        let public_origin = match &config.public_url {
            Some(u) => {
                Some(parse_origin(u).ok_or_else(|| AccessConfigError::PublicUrl(u.clone()))?)
            }
            None => None,
        };
        if config.public {
            match &config.admin_token {
                None => return Err(AccessConfigError::NoAdminToken),
                Some(t) if !crate::http::secret::strong_enough(t) => {
                    return Err(AccessConfigError::WeakAdminToken);
                }
                Some(_) => {}
            }
        }
        let rate = NonZeroU32::new(config.fn_rate_per_s).ok_or(AccessConfigError::ZeroRate)?;
        let burst = NonZeroU32::new(config.fn_burst).ok_or(AccessConfigError::ZeroRate)?;
        let ws_rate = NonZeroU32::new(config.ws_rate_per_s).ok_or(AccessConfigError::ZeroRate)?;
        let ws_burst = NonZeroU32::new(config.ws_burst).ok_or(AccessConfigError::ZeroRate)?;
        Ok(Arc::new(Self {
            public_origin,
            limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            ws_limiter: RateLimiter::keyed(Quota::per_second(ws_rate).allow_burst(ws_burst)),
            sessions: std::sync::Mutex::new(HashMap::new()),
            config,
        }))
    }

    /// The rules in force.
    pub fn config(&self) -> &AccessConfig {
        &self.config
    }

    /// Whether a request for `host` (from `Host`, without port) is served.
    pub fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if loopback {
            return true;
        }
        let bind_ip = self.config.bind.ip();
        if !bind_ip.is_unspecified() && host.parse::<IpAddr>().is_ok_and(|ip| ip == bind_ip) {
            return true;
        }
        if self
            .public_origin
            .as_ref()
            .is_some_and(|(_, h, _)| h.eq_ignore_ascii_case(host))
            || self
                .config
                .allowed_hosts
                .iter()
                .any(|h| h.eq_ignore_ascii_case(host))
        {
            return true;
        }
        self.config.public && self.public_origin.is_none() && self.config.allowed_hosts.is_empty()
    }

    /// Whether `origin` (an `Origin` header) is this server as reached at
    /// `host_header` (the request's `Host`, with port) or at `--public-url`.
    pub fn same_origin(&self, origin: &str, host_header: &str) -> bool {
        let Some((scheme, host, port)) = parse_origin(origin) else {
            return false;
        };
        if let Some((ps, ph, pp)) = &self.public_origin
            && *ps == scheme
            && ph.eq_ignore_ascii_case(&host)
            && default_port(&scheme, *pp) == default_port(&scheme, port)
        {
            return true;
        }
        let Some((req_host, req_port)) = split_host(host_header) else {
            return false;
        };
        req_host.eq_ignore_ascii_case(&host)
            && default_port(&scheme, req_port) == default_port(&scheme, port)
    }

    /// Whether `token` is the admin token (constant time in its content).
    pub fn is_admin_token(&self, token: &str) -> bool {
        self.config
            .admin_token
            .as_ref()
            .is_some_and(|t| bool::from(t.as_bytes().ct_eq(token.as_bytes())))
    }

    /// Who the caller of a request with `headers` from `peer` is. Outside
    /// public mode only this machine's user is the admin: a peer on
    /// loopback (or none: an in-process test) that is not relaying someone
    /// else. A request carrying `Forwarded` or `X-Forwarded-For` came
    /// through a proxy (nginx or Caddy on this host is a loopback peer) and
    /// is a remote caller: it only watches. So does a remote peer (the
    /// server bound to `0.0.0.0` without `--public`).
    pub fn caller(&self, headers: &HeaderMap, peer: IpAddr) -> Access {
        if !self.config.public {
            let relayed =
                headers.contains_key(header::FORWARDED) || headers.contains_key("x-forwarded-for");
            return Access {
                public: false,
                admin: (peer.is_loopback() || peer.is_unspecified()) && !relayed,
            };
        }
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| self.is_admin_token(t.trim()));
        let admin =
            bearer || cookie(headers, SESSION_COOKIE).is_some_and(|s| self.session_valid(s));
        Access {
            public: true,
            admin,
        }
    }

    fn session_valid(&self, id: &str) -> bool {
        let mut sessions = self.sessions.locked();
        match sessions.get(id) {
            Some(t) if t.elapsed() < self.config.session_ttl => true,
            Some(_) => {
                sessions.remove(id);
                false
            }
            None => false,
        }
    }

    /// Opens an admin session and returns its id (32 random bytes, hex).
    pub fn open_session(&self) -> String {
        use rand::Rng;
        let id = hex::encode(rand::rng().random::<[u8; 32]>());
        let mut sessions = self.sessions.locked();
        if sessions.len() >= self.config.max_sessions {
            let ttl = self.config.session_ttl;
            sessions.retain(|_, t| t.elapsed() < ttl);
        }
        while sessions.len() >= self.config.max_sessions.max(1) {
            let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, t)| **t)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            sessions.remove(&oldest);
        }
        sessions.insert(id.clone(), Instant::now());
        id
    }

    fn close_session(&self, id: &str) {
        self.sessions.locked().remove(id);
    }

    /// Whether a server-function call from `ip` is within its rate (IPv6
    /// counted per /64, [`crate::http::serve::ip_key`]).
    fn rate_ok(&self, ip: IpAddr) -> bool {
        within(&self.limiter, ip)
    }

    /// Whether a `/ws` connect from `ip` is within its rate.
    fn ws_rate_ok(&self, ip: IpAddr) -> bool {
        within(&self.ws_limiter, ip)
    }

    /// Whether the browser reaches this server over HTTPS (public URL or a
    /// proxy's `X-Forwarded-Proto`), so cookies get `Secure`.
    fn https(&self, headers: &HeaderMap) -> bool {
        self.public_origin
            .as_ref()
            .is_some_and(|(s, _, _)| s == "https")
            || headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.eq_ignore_ascii_case("https"))
    }
}

fn within(limiter: &DefaultKeyedRateLimiter<IpAddr>, ip: IpAddr) -> bool {
    if limiter.len() >= MAX_TRACKED_IPS {
        limiter.retain_recent();
        if limiter.len() >= MAX_TRACKED_IPS {
            return false;
        }
    }
    limiter.check_key(&crate::http::serve::ip_key(ip)).is_ok()
}

/// `(scheme, host, port)` of `http(s)://host[:port][/…]`, lower-case scheme.
fn parse_origin(s: &str) -> Option<(String, String, Option<u16>)> {
    let (scheme, rest) = s.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.contains('@') {
        return None;
    }
    let (host, port) = split_host(authority)?;
    Some((scheme, host, port))
}

/// `host[:port]` or `[v6][:port]` → (host without brackets, port).
fn split_host(authority: &str) -> Option<(String, Option<u16>)> {
    if authority.is_empty() {
        return None;
    }
    if let Some(rest) = authority.strip_prefix('[') {
        let (h, tail) = rest.split_once(']')?;
        let port = match tail.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if tail.is_empty() => None,
            None => return None,
        };
        return Some((h.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Some((h.to_string(), Some(p.parse().ok()?))),
        Some(_) => None,
        None => Some((authority.to_string(), None)),
    }
}

fn default_port(scheme: &str, port: Option<u16>) -> u16 {
    port.unwrap_or(if scheme == "https" { 443 } else { 80 })
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether a request changes state (needs the admin in public mode).
pub fn needs_admin(method: &Method, path: &str) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return false;
    }
    if path.starts_with("/api/auth/") {
        return false;
    }
    match path.strip_prefix("/api/fn/") {
        Some(endpoint) => !READ_ONLY_FNS.contains(&endpoint),
        None => true,
    }
}

fn request_host(req: &Request) -> Option<String> {
    req.headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
}

/// The middleware of the module doc: host, origin, caller, admin, rate.
pub async fn guard(
    State(access): State<Arc<AccessControl>>,
    mut req: Request,
    next: Next,
) -> Response {
    // Browsers always send `Host`; a request without one (HTTP/1.0, a test's
    // `oneshot`) cannot come from a rebinding page.
    let host_header = request_host(&req).unwrap_or_else(|| "localhost".into());
    let host_ok = split_host(&host_header).is_some_and(|(h, _)| access.host_allowed(&h));
    if !host_ok {
        return ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            format!("host {host_header:?} is not served here (start with --public-url or --allow-host to serve it)"),
        )
        .into_response();
    }
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let state_changing = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    if state_changing || path == "/ws" {
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            let ok = origin
                .to_str()
                .is_ok_and(|o| access.same_origin(o, &host_header));
            if !ok {
                return ApiError::new(
                    StatusCode::FORBIDDEN,
                    format!("cross-origin request refused (Origin {origin:?})"),
                )
                .into_response();
            }
        }
        let cross_site = req
            .headers()
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"));
        if cross_site {
            return ApiError::new(StatusCode::FORBIDDEN, "cross-site request refused")
                .into_response();
        }
    }
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
    let caller = access.caller(req.headers(), peer);
    if !caller.public && !caller.admin && needs_admin(&method, &path) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "the controls belong to this machine's user; to share them, start vstack serve with --public and sign in as admin",
        )
        .into_response();
    }
    if caller.public && !caller.admin && needs_admin(&method, &path) {
        let mut r = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "this dashboard is public and read-only: sign in as admin (/signin) or send Authorization: Bearer <admin token>",
        )
        .into_response();
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    }
    let limited = if path.starts_with("/api/fn/") || path.starts_with("/api/auth/") {
        Some((access.config.fn_rate_per_s, access.config.fn_burst, "calls"))
    } else if path == "/ws" {
        Some((
            access.config.ws_rate_per_s,
            access.config.ws_burst,
            "dashboard connects",
        ))
    } else {
        None
    };
    if let Some((rate, burst, what)) = limited {
        let (parts, body) = req.into_parts();
        let ip = client_ip(&parts);
        let ok = if path == "/ws" {
            access.ws_rate_ok(ip)
        } else {
            access.rate_ok(ip)
        };
        if !ok {
            let mut r = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many {what} from {ip}: at most {rate} per second (burst {burst})"),
            )
            .into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return r;
        }
        req = Request::from_parts(parts, body);
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// The client's IP for rate limits: the peer, or, when the peer is a proxy
/// on this host (loopback), the last address it appended to
/// `X-Forwarded-For` (Caddy and nginx as configured in `deploy/` append the
/// address they saw). A remote peer's `X-Forwarded-For` is ignored: anyone
/// can send one.
pub fn client_ip(parts: &axum::http::request::Parts) -> IpAddr {
    let peer = crate::http::serve::peer(parts).ip();
    if !peer.is_loopback() {
        return peer;
    }
    parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .next_back()
        .and_then(|a| a.trim().parse::<IpAddr>().ok())
        .unwrap_or(peer)
}

/// Form (or query) of `POST /api/auth/signin`. `Debug` hides the token.
#[derive(Debug, Deserialize)]
pub struct SignInForm {
    /// The admin token.
    pub token: crate::http::secret::Secret,
    /// Where to go after signing in: a path on this site. Default `/`.
    #[serde(default)]
    pub next: Option<String>,
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// A path on this site (`/…`, not `//…`), or `/`.
fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p,
        _ => "/",
    }
}

/// `POST /api/auth/signin` (form `token=…&next=/path`): with the admin token,
/// opens a session and sets its cookie (`HttpOnly; SameSite=Strict`, plus
/// `Secure` over HTTPS); a browser is sent on to `next` (303), a script gets
/// `{"admin": true}`. A wrong token: 401 JSON, or back to `/signin?failed=1`.
/// Outside public mode there is nothing to sign in to: 404.
pub async fn sign_in(
    State(access): State<Arc<AccessControl>>,
    headers: HeaderMap,
    form: Result<Form<SignInForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    if !access.config.public {
        return ApiError::not_found(
            "this dashboard is not in public mode; every local caller is admin",
        )
        .into_response();
    }
    let Form(form) = match form {
        Ok(f) => f,
        Err(e) => return ApiError::bad_request(e.body_text()).into_response(),
    };
    let html = wants_html(&headers);
    if !access.is_admin_token(form.token.expose().trim()) {
        return if html {
            Redirect::to("/signin?failed=1").into_response()
        } else {
            ApiError::new(StatusCode::UNAUTHORIZED, "wrong admin token").into_response()
        };
    }
    let id = access.open_session();
    let secure = if access.https(&headers) {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        access.config.session_ttl.as_secs()
    );
    let mut r = if html {
        Redirect::to(local_path(form.next.as_deref())).into_response()
    } else {
        Json(serde_json::json!({ "admin": true })).into_response()
    };
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// `POST /api/auth/signout`: closes the caller's session and clears its
/// cookie; a browser goes back to `/` (303), a script gets `{"admin": false}`.
pub async fn sign_out(State(access): State<Arc<AccessControl>>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers, SESSION_COOKIE) {
        access.close_session(id);
    }
    let mut r = if wants_html(&headers) {
        Redirect::to("/").into_response()
    } else {
        Json(serde_json::json!({ "admin": false })).into_response()
    };
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("vstack_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    r
}

/// `GET /api/auth/me`: the caller's [`Access`] as JSON.
pub async fn me(axum::Extension(caller): axum::Extension<Access>) -> Json<Access> {
    Json(caller)
}

/// Reads a request's body up to `max` bytes before the handler runs and
/// answers 413 JSON as soon as it grows past that (the rest is never read):
/// handlers then never meet an over-long body half-way through.
pub async fn bounded_body(State(max): State<usize>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    // A published run (`POST /api/runs`) may be larger than a control.
    let max = if req.uri().path() == "/api/runs" {
        max.max(super::history::MAX_RUN_BODY_BYTES)
    } else {
        max
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is over {max} bytes"),
        )
        .into_response()
    };
    if declared.is_some_and(|n| n > max as u64) {
        return too_large();
    }
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, max).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(_) => too_large(),
    }
}

/// Body of a server-function error, as [`app::api::FnError`] encodes it.
#[derive(Deserialize)]
struct FnErrorBody {
    status: u16,
}

/// Server functions answer every error with 500; an error that is the
/// caller's (bad arguments, a refused control) carries its own status in its
/// JSON body ([`app::api::FnError`]). This middleware, on `/api/fn/`, puts
/// that status on the response (bodies over 64 KiB are left as they are).
pub async fn fn_error_status(req: Request, next: Next) -> Response {
    let is_fn = req.uri().path().starts_with("/api/fn/");
    let res = next.run(req).await;
    if !is_fn
        || res.status() != StatusCode::INTERNAL_SERVER_ERROR
        || !res.headers().contains_key("serverfnerror")
    {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 << 10).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "server function error").into_response();
    };
    if let Ok(b) = serde_json::from_slice::<FnErrorBody>(&bytes)
        && let Ok(s) = StatusCode::from_u16(b.status)
        && (s.is_client_error() || s.is_server_error())
    {
        parts.status = s;
    }
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRONG: &str = "0123456789abcdef0123456789abcdef";

    fn public() -> Arc<AccessControl> {
        AccessControl::new(AccessConfig {
            public: true,
            admin_token: Some(STRONG.into()),
            public_url: Some("https://vstack.example".into()),
            ..AccessConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn hosts_loopback_public_url_and_nothing_else() {
        let a = public();
        for ok in [
            "localhost",
            "127.0.0.1",
            "[::1]",
            "::1",
            "vstack.example",
            "VSTACK.example",
        ] {
            assert!(a.host_allowed(ok), "{ok}");
        }
        for bad in ["evil.example", "10.0.0.1", "vstack.example.evil"] {
            assert!(!a.host_allowed(bad), "{bad}");
        }
        let local = AccessControl::new(AccessConfig::default()).unwrap();
        assert!(!local.host_allowed("attacker.example"), "DNS rebinding");
        let open = AccessControl::new(AccessConfig {
            public: true,
            admin_token: Some(STRONG.into()),
            ..AccessConfig::default()
        })
        .unwrap();
        assert!(open.host_allowed("203.0.113.9"));
    }

    #[test]
    fn origins() {
        let a = public();
        assert!(a.same_origin("http://127.0.0.1:8888", "127.0.0.1:8888"));
        assert!(!a.same_origin("http://127.0.0.1:9999", "127.0.0.1:8888"));
        assert!(a.same_origin("https://vstack.example", "127.0.0.1:8888"));
        assert!(a.same_origin("https://vstack.example:443", "vstack.example"));
        assert!(!a.same_origin("http://vstack.example", "127.0.0.1:8888"));
        assert!(
            !a.same_origin("https://evil.example", "evil.example:8888")
                || a.host_allowed("evil.example")
        );
        assert!(!a.same_origin("https://evil.example", "127.0.0.1:8888"));
        assert!(!a.same_origin("null", "127.0.0.1:8888"));
        assert!(!a.same_origin("http://user@127.0.0.1:8888", "127.0.0.1:8888"));
        assert!(a.same_origin("http://[::1]:8888", "[::1]:8888"));
    }

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn admin_by_bearer_or_session_only_in_public_mode() {
        let a = public();
        let mut h = HeaderMap::new();
        assert_eq!(
            a.caller(&h, LOCAL),
            Access {
                public: true,
                admin: false
            }
        );
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer wrong-token-wrong-token"),
        );
        assert!(!a.caller(&h, LOCAL).admin);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer 0123456789abcdef0123456789abcdef"),
        );
        assert!(a.caller(&h, LOCAL).admin);
        let id = a.open_session();
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("x=1; {SESSION_COOKIE}={id}")).unwrap(),
        );
        assert!(a.caller(&h, LOCAL).admin);
        a.close_session(&id);
        assert!(!a.caller(&h, LOCAL).admin);
        let local = AccessControl::new(AccessConfig::default()).unwrap();
        assert!(local.caller(&HeaderMap::new(), LOCAL).admin);
        let remote: IpAddr = [203, 0, 113, 7].into();
        assert!(
            !local.caller(&HeaderMap::new(), remote).admin,
            "outside public mode a remote peer only watches"
        );
        for (name, value) in [
            ("x-forwarded-for", "198.51.100.4"),
            ("forwarded", "for=198.51.100.4"),
        ] {
            let mut h = HeaderMap::new();
            h.insert(name, HeaderValue::from_static(value));
            assert!(
                !local.caller(&h, LOCAL).admin,
                "a request a local proxy relayed ({name}) only watches"
            );
        }
    }

    #[test]
    fn sessions_are_bounded() {
        let a = AccessControl::new(AccessConfig {
            max_sessions: 3,
            ..AccessConfig::default()
        })
        .unwrap();
        let first = a.open_session();
        for _ in 0..10 {
            a.open_session();
        }
        assert_eq!(a.sessions.locked().len(), 3);
        assert!(!a.session_valid(&first), "the oldest went first");
    }

    #[test]
    fn the_client_ip_behind_a_local_proxy() {
        use axum::extract::ConnectInfo;
        let parts = |peer: [u8; 4], xff: Option<&str>| {
            let mut b = axum::http::Request::get("/");
            if let Some(x) = xff {
                b = b.header("x-forwarded-for", x);
            }
            let (mut p, ()) = b.body(()).unwrap().into_parts();
            p.extensions
                .insert(ConnectInfo(SocketAddr::from((peer, 1))));
            p
        };
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            client_ip(&parts([127, 0, 0, 1], Some("1.2.3.4, 5.6.7.8"))),
            ip("5.6.7.8")
        );
        assert_eq!(client_ip(&parts([127, 0, 0, 1], None)), ip("127.0.0.1"));
        assert_eq!(
            client_ip(&parts([9, 9, 9, 9], Some("5.6.7.8"))),
            ip("9.9.9.9"),
            "a remote peer's header is not trusted"
        );
    }

    #[test]
    fn what_needs_the_admin() {
        assert!(needs_admin(&Method::POST, "/api/fn/control"));
        assert!(needs_admin(&Method::POST, "/api/fn/some_new_fn"));
        assert!(!needs_admin(&Method::POST, "/api/fn/dashboard_snapshot"));
        assert!(!needs_admin(&Method::GET, "/anything"));
        assert!(!needs_admin(&Method::POST, "/api/auth/signin"));
        assert!(needs_admin(&Method::DELETE, "/api/runs/1"));
    }

    #[test]
    fn config_errors() {
        assert!(matches!(
            AccessControl::new(AccessConfig {
                public: true,
                ..AccessConfig::default()
            }),
            Err(AccessConfigError::NoAdminToken)
        ));
        assert!(matches!(
            AccessControl::new(AccessConfig {
                public: true,
                admin_token: Some("short".into()),
                ..AccessConfig::default()
            }),
            Err(AccessConfigError::WeakAdminToken)
        ));
        let aaaa = AccessConfig {
            public: true,
            admin_token: Some("aaaaaaaaaaaaaaaa".into()),
            ..AccessConfig::default()
        };
        assert!(
            !format!("{aaaa:?}").contains("aaaa"),
            "Debug hides the token"
        );
        assert!(matches!(
            AccessControl::new(aaaa),
            Err(AccessConfigError::WeakAdminToken)
        ));
        assert!(matches!(
            AccessControl::new(AccessConfig {
                public_url: Some("ftp://x".into()),
                ..AccessConfig::default()
            }),
            Err(AccessConfigError::PublicUrl(_))
        ));
        assert_eq!(local_path(Some("//evil.example")), "/");
        assert_eq!(local_path(Some("/metrics")), "/metrics");
    }
}
