//! The accept loop every vstack server runs (dashboard, metadata service,
//! storage nodes), in place of `axum::serve`, which sets no timer and so has
//! no header-read timeout: a client that opens a connection and sends its
//! headers one byte a minute (slowloris) would hold it forever.
//!
//! [`serve`] hands each accepted connection to hyper with
//! [`ServeLimits::header_read_timeout`], caps open connections at
//! [`ServeLimits::max_connections`] (one over the cap is closed at once), puts
//! the peer address in the request's extensions as axum's
//! [`ConnectInfo<SocketAddr>`](axum::extract::ConnectInfo) (for per-IP rate
//! limits), supports WebSocket upgrades, and on shutdown lets open requests
//! finish for up to [`ServeLimits::drain`].

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, body::Body, extract::ConnectInfo};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto::Builder, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::{net::TcpListener, sync::Semaphore};
use tower::ServiceExt;

/// Connection limits of [`serve`]. Every field has a stated default
/// ([`ServeLimits::default`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServeLimits {
    /// Time a client has to send a request's complete headers, from the
    /// connection's first byte or the previous response (HTTP/1). Default
    /// 10 s.
    pub header_read_timeout: Duration,
    /// Open connections at most; one accepted over the cap is closed at once.
    /// Default 8192.
    pub max_connections: usize,
    /// On shutdown, how long open connections may finish. Default 5 s.
    pub drain: Duration,
}

impl Default for ServeLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 8192,
            drain: Duration::from_secs(5),
        }
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
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
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
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!(
                "refusing a connection from {peer}: {} open",
                limits.max_connections
            );
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let svc = router.clone().map_request(
            move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req.map(Body::new)
            },
        );
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(svc))
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
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

/// The peer address [`serve`] records, or `0.0.0.0:0` for a request that did
/// not come through it (a test's `oneshot`).
pub fn peer(req: &axum::http::request::Parts) -> SocketAddr {
    req.extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |c| c.0)
}
