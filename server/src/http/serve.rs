//! The accept loop every vstack server runs (dashboard, its metrics listener,
//! metadata service, storage nodes), in place of `axum::serve`, which sets no
//! timer: a client that opens a connection and sends its headers one byte a
//! minute (slowloris), or nothing at all, would hold it forever.
//!
//! [`serve`] bounds every connection, whatever protocol it turns out to be:
//!
//! - **First request.** A connection whose first request has not arrived
//!   (headers complete) within [`ServeLimits::header_read_timeout`] is
//!   closed: one that sends nothing, half an HTTP/2 preface, or a whole
//!   preface and no request. hyper's own header timer covers only HTTP/1 and
//!   only once its side is chosen (upstream hyper #3756, #3962), so this
//!   loop keeps its own deadline.
//! - **HTTP/1 keep-alive**: hyper's header-read timeout runs from the
//!   previous response, so an idle keep-alive connection is closed after it.
//! - **HTTP/2**: keep-alive pings every [`ServeLimits::h2_keep_alive`] (a
//!   peer that does not answer within it is dropped), at most
//!   [`ServeLimits::h2_max_streams`] concurrent streams, and a connection with
//!   no request in flight for [`ServeLimits::idle_timeout`] is closed.
//! - **Caps**: [`ServeLimits::max_connections`] open connections in all, and
//!   per client address ([`ip_key`]: an IPv4 address, an IPv6 /64)
//!   [`ServeLimits::max_per_ip`], or [`ServeLimits::max_per_loopback_ip`] for
//!   a loopback peer (a reverse proxy on this host carries many clients on
//!   its one address; it must then enforce the per-client limits itself, see
//!   `deploy/`). One over a cap is closed at once, before any byte is read.
//!
//! The peer address goes into each request's extensions as axum's
//! [`ConnectInfo<SocketAddr>`](axum::extract::ConnectInfo) (rate limits), and
//! the connection's slot as [`ConnectionSlot`]: a WebSocket handler keeps it
//! for the socket's life, so an upgraded connection still counts against the
//! caps. On shutdown open requests may finish for up to [`ServeLimits::drain`].

use std::{
    collections::HashMap,
    future::Future,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{Router, body::Body, extract::ConnectInfo};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto::Builder, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::{
    net::TcpListener,
    sync::{OwnedSemaphorePermit, Semaphore},
    time::Instant,
};
use tower::ServiceExt;

use crate::sync::LockExt;

/// Connection limits of [`serve`]. Every field has a stated default
/// ([`ServeLimits::default`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServeLimits {
    /// Time a client has to send a request's complete headers: from accept
    /// for the first request (any protocol), from the previous response for
    /// the next one on an HTTP/1 keep-alive connection. Default 10 s.
    pub header_read_timeout: Duration,
    /// An HTTP/2 connection with no request in flight (no response body
    /// still streaming) for this long is closed. Default 60 s.
    pub idle_timeout: Duration,
    /// HTTP/2 keep-alive ping interval, and how long an answer may take.
    /// Default 20 s.
    pub h2_keep_alive: Duration,
    /// Concurrent HTTP/2 streams per connection. Default 32.
    pub h2_max_streams: u32,
    /// Open connections at most; one accepted over the cap is closed at once.
    /// Default 8192.
    pub max_connections: usize,
    /// Open connections per client address ([`ip_key`]). Default 64.
    pub max_per_ip: usize,
    /// Open connections per loopback address: a reverse proxy on this host
    /// relays every client through one address. Default 4096.
    pub max_per_loopback_ip: usize,
    /// On shutdown, how long open connections may finish. Default 5 s.
    pub drain: Duration,
}

impl Default for ServeLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            h2_keep_alive: Duration::from_secs(20),
            h2_max_streams: 32,
            max_connections: 8192,
            max_per_ip: 64,
            max_per_loopback_ip: 4096,
            drain: Duration::from_secs(5),
        }
    }
}

/// The key connection caps and rate limits count a client by: its IPv4
/// address (an IPv4-mapped IPv6 address is its IPv4 address), or for IPv6
/// its /64 network (one subscriber's allocation: counting per /128 would let
/// one host take 2^64 slots).
pub fn ip_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
        },
    }
}

/// Open connections per client key; an entry lives while it has one.
/// Bounded by [`ServeLimits::max_connections`] entries (each holds a slot).
#[derive(Default)]
struct PerIp(Mutex<HashMap<IpAddr, usize>>);

/// One open connection's place in the caps; dropping it frees the place.
struct Slot {
    _global: OwnedSemaphorePermit,
    per_ip: Arc<PerIp>,
    key: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.per_ip.0.locked();
        if let Some(n) = map.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.key);
            }
        }
    }
}

/// A connection's place under [`serve`]'s caps, in every request's
/// extensions. Whoever holds a clone keeps the place taken: the `/ws`
/// handler holds it for the socket's life (an upgraded connection has left
/// hyper, and would otherwise count no more).
#[derive(Clone)]
pub struct ConnectionSlot(#[allow(dead_code)] Arc<Slot>);

impl std::fmt::Debug for ConnectionSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ConnectionSlot").field(&self.0.key).finish()
    }
}

/// Why a connection was refused before any byte was read.
#[derive(Debug, PartialEq, Eq)]
enum Refused {
    /// [`ServeLimits::max_connections`] are open.
    Full,
    /// Its address has its allowance open.
    PerIp(usize),
}

fn take_slot(
    limits: &ServeLimits,
    slots: &Arc<Semaphore>,
    per_ip: &Arc<PerIp>,
    peer: IpAddr,
) -> Result<Slot, Refused> {
    let key = ip_key(peer);
    let allowance = if peer.is_loopback() {
        limits.max_per_loopback_ip
    } else {
        limits.max_per_ip
    };
    let global = slots
        .clone()
        .try_acquire_owned()
        .map_err(|_| Refused::Full)?;
    let mut map = per_ip.0.locked();
    let n = map.entry(key).or_insert(0);
    if *n >= allowance.max(1) {
        if *n == 0 {
            map.remove(&key);
        }
        return Err(Refused::PerIp(allowance));
    }
    *n += 1;
    drop(map);
    Ok(Slot {
        _global: global,
        per_ip: per_ip.clone(),
        key,
    })
}

/// What a connection's watchdog reads: whether a request ever arrived, how
/// many are in flight (until their response body ends), and when the last
/// one ended.
struct Activity {
    started: AtomicBool,
    in_flight: AtomicUsize,
    last_done: Mutex<Instant>,
    /// Wakes the watchdog when a request starts or ends.
    changed: tokio::sync::Notify,
}

impl Activity {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            started: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            last_done: Mutex::new(Instant::now()),
            changed: tokio::sync::Notify::new(),
        })
    }
}

/// Marks one request in flight until dropped (with its response body).
struct InFlight(Arc<Activity>);

impl InFlight {
    fn begin(a: &Arc<Activity>) -> Self {
        a.started.store(true, Ordering::Relaxed);
        a.in_flight.fetch_add(1, Ordering::Relaxed);
        a.changed.notify_one();
        Self(a.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        *self.0.last_done.locked() = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.changed.notify_one();
    }
}

/// A response body that keeps its request counted in flight until it ends.
struct TrackedBody {
    inner: Body,
    _in_flight: InFlight,
}

impl http_body::Body for TrackedBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains.
///
/// # Errors
/// Never today: accept errors (e.g. too many open files) are logged and the
/// loop pauses 50 ms; the `Result` leaves room for a fatal listener error.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    serve_tls(listener, router, limits, None, shutdown).await
}

/// [`serve`], over TLS when `tls` is given ([`super::tls::acceptor`]): the
/// handshake must finish within the header-read timeout too.
///
/// # Errors
/// As [`serve`].
pub async fn serve_tls(
    listener: TcpListener,
    router: Router,
    limits: ServeLimits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(limits.h2_keep_alive))
        .keep_alive_timeout(limits.h2_keep_alive)
        .max_concurrent_streams(limits.h2_max_streams.max(1));
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let per_ip = Arc::new(PerIp::default());
    let mut refused_logged = Instant::now() - Duration::from_secs(10);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let slot = match take_slot(&limits, &slots, &per_ip, peer.ip()) {
            Ok(s) => ConnectionSlot(Arc::new(s)),
            Err(why) => {
                // At most one line a second: a flood must not flood the log.
                if refused_logged.elapsed() >= Duration::from_secs(1) {
                    refused_logged = Instant::now();
                    match why {
                        Refused::Full => {
                            tracing::warn!("refusing connections: {} open", limits.max_connections)
                        }
                        Refused::PerIp(n) => tracing::warn!(
                            "refusing connections from {}: {n} open from that address",
                            ip_key(peer.ip())
                        ),
                    }
                }
                drop(stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let activity = Activity::new();
        let svc = {
            let (activity, slot, router) = (activity.clone(), slot.clone(), router.clone());
            tower::service_fn(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req.extensions_mut().insert(slot.clone());
                // In flight from its headers until its response body ends.
                let mark = InFlight::begin(&activity);
                let router = router.clone();
                async move {
                    let res = router.oneshot(req.map(Body::new)).await?;
                    Ok::<_, std::convert::Infallible>(res.map(|inner| {
                        Body::new(TrackedBody {
                            inner,
                            _in_flight: mark,
                        })
                    }))
                }
            })
        };
        let limits = limits.clone();
        let (builder, tls) = (builder.clone(), tls.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let deadline = Instant::now() + limits.header_read_timeout;
            match tls {
                None => {
                    serve_io(&builder, stream, svc, watcher, &activity, &limits, deadline).await
                }
                Some(acceptor) => {
                    // The handshake counts against the first request's time.
                    if let Ok(Ok(stream)) =
                        tokio::time::timeout_at(deadline, acceptor.accept(stream)).await
                    {
                        serve_io(&builder, stream, svc, watcher, &activity, &limits, deadline)
                            .await;
                    }
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!("shutdown: connections still open after {:?}", limits.drain);
    }
    Ok(())
}

/// Serves one connection's `io` (plain or TLS) with `svc` under `watcher`
/// and the watchdog of [`watch_connection`].
async fn serve_io<I, S>(
    builder: &Builder<TokioExecutor>,
    io: I,
    svc: S,
    watcher: hyper_util::server::graceful::Watcher,
    activity: &Activity,
    limits: &ServeLimits,
    deadline: Instant,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: tower::Service<
            axum::http::Request<hyper::body::Incoming>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let conn = builder
        .serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(svc))
        .into_owned();
    watch_connection(watcher.watch(conn), activity, limits, deadline).await;
}

/// Runs one connection to its end, closing it when its first request does
/// not arrive within the header-read timeout or, once it served some, when
/// nothing has been in flight for the idle timeout.
async fn watch_connection<F>(
    conn: F,
    activity: &Activity,
    limits: &ServeLimits,
    first_deadline: Instant,
) where
    F: Future,
{
    tokio::pin!(conn);
    loop {
        // When to look again: the first request's deadline, or the idle
        // deadline while nothing is in flight, or only when that changes.
        let deadline = if !activity.started.load(Ordering::Relaxed) {
            Some(first_deadline)
        } else if activity.in_flight.load(Ordering::Relaxed) == 0 {
            Some(*activity.last_done.locked() + limits.idle_timeout)
        } else {
            None
        };
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = conn.as_mut() => return,
            () = activity.changed.notified() => continue,
            () = sleep => {}
        }
        let now = Instant::now();
        if !activity.started.load(Ordering::Relaxed) {
            // No request within the header-read timeout: whatever it sent
            // (nothing, part of a preface), the connection goes.
            return;
        }
        if activity.in_flight.load(Ordering::Relaxed) == 0
            && now >= *activity.last_done.locked() + limits.idle_timeout
        {
            return;
        }
    }
}

/// The peer address [`serve`] records, or `0.0.0.0:0` for a request that did
/// not come through it (a test's `oneshot`).
pub fn peer(req: &axum::http::request::Parts) -> SocketAddr {
    req.extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |c| c.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_count_per_64_and_mapped_v4_as_v4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ip_key(a), ip_key(b));
        assert_ne!(ip_key(a), ip_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(ip_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn caps_per_address_and_in_all() {
        let limits = ServeLimits {
            max_connections: 5,
            max_per_ip: 2,
            max_per_loopback_ip: 3,
            ..ServeLimits::default()
        };
        let slots = Arc::new(Semaphore::new(5));
        let per_ip = Arc::new(PerIp::default());
        let remote: IpAddr = [192, 0, 2, 1].into();
        let lo: IpAddr = [127, 0, 0, 1].into();
        let a = take_slot(&limits, &slots, &per_ip, remote).unwrap();
        let _b = take_slot(&limits, &slots, &per_ip, remote).unwrap();
        assert_eq!(
            take_slot(&limits, &slots, &per_ip, remote).err(),
            Some(Refused::PerIp(2))
        );
        drop(a);
        let _c = take_slot(&limits, &slots, &per_ip, remote).unwrap();
        let l: Vec<_> = (0..3)
            .map(|_| take_slot(&limits, &slots, &per_ip, lo).unwrap())
            .collect();
        assert_eq!(
            take_slot(&limits, &slots, &per_ip, [192, 0, 2, 9].into()).err(),
            Some(Refused::Full)
        );
        drop(l);
        assert_eq!(per_ip.0.locked().len(), 1, "empty entries are removed");
    }
}
