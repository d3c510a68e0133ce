//! The HTTP server under the gateway, fit to face the internet behind a reverse proxy: HTTP/1.1
//! connections (hyper) with a bound on every wait on a client, a cap on open connections, and a
//! graceful shutdown. `axum::serve` has no read timeouts and accepts every connection, so this
//! small accept loop replaces it; everything about requests stays in `gateway`.
//!
//! - A request's head must arrive within `header_timeout`. hyper starts that clock whenever a
//!   connection waits for a head, on a new connection and after each answer, so the same bound
//!   closes idle keep-alive connections. (A body is bounded by the gateway, which reads it.)
//! - At most `max_connections` connections are open: the loop takes a permit before it accepts,
//!   so further clients wait in the kernel's listen queue, costing the process nothing, until a
//!   connection closes.
//! - On shutdown the listener closes at once, idle connections are closed, and requests in flight
//!   get up to `shutdown_timeout` to finish.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::{Service, ServiceExt};

/// How long the server waits on clients, and how many it serves at once.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub max_connections: usize,
    pub shutdown_timeout: Duration,
}

/// Serves `service` on `listener` until `shutdown` completes, then lets requests in flight finish
/// (within `limits.shutdown_timeout`).
pub async fn run<S>(
    listener: TcpListener,
    service: S,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) where
    S: Service<Request, Response = Response, Error = Infallible, Future: Send>
        + Clone
        + Send
        + 'static,
{
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    tokio::pin!(shutdown);

    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = service
            .clone()
            .map_request(move |req: hyper::Request<Incoming>| {
                let mut req = req.map(Body::new);
                req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                req
            });
        let connection = graceful.watch(
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)),
        );
        tokio::spawn(async move {
            // A connection's errors are its client's (a timeout, a reset): nothing to report.
            let _ = connection.await;
            drop(permit);
        });
    }

    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_timeout) => {
            tracing::warn!(
                shutdown_timeout_ms = limits.shutdown_timeout.as_millis() as u64,
                "requests still in flight at shutdown were cut off"
            );
        }
    }
}

/// A failed accept: a client that gave up is skipped; anything else (out of file descriptors)
/// is logged and the loop pauses before trying again, rather than spinning.
async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if !matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        tracing::warn!(%error, "cannot accept a connection");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
