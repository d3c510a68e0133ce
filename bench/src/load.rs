//! A closed-loop HTTP load generator on loopback: `concurrency` keep-alive connections, each
//! sending its next request when the previous answered, for a fixed time. Every latency is kept,
//! so the percentiles are exact.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// One request to send; built per request so that each may differ (ids, idempotency keys).
pub struct Call {
    pub method: &'static str,
    pub path: String,
    pub body: Option<String>,
    pub headers: Vec<(&'static str, String)>,
}

/// What a run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Stats {
    pub concurrency: usize,
    pub requests: usize,
    pub errors: usize,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// Builds request `n` of `worker`. Worker numbers are never reused within a process, so that
/// what a call names after them (a new lead, an idempotency key) is new in every run.
pub type MakeCall = Arc<dyn Fn(usize, usize) -> Call + Send + Sync>;

static WORKERS: AtomicUsize = AtomicUsize::new(0);

/// Runs `make(worker, n)` requests against `address` (host:port) for `duration`.
pub async fn run(address: &str, concurrency: usize, duration: Duration, make: MakeCall) -> Stats {
    let started = Instant::now();
    let deadline = started + duration;
    let first = WORKERS.fetch_add(concurrency, Ordering::Relaxed);
    let workers = (first..first + concurrency).map(|worker| {
        let make = make.clone();
        let address = address.to_owned();
        tokio::spawn(async move {
            let stream = TcpStream::connect(&address).await.expect("connect");
            stream.set_nodelay(true).ok();
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .expect("handshake");
            tokio::spawn(connection);
            let mut latencies = Vec::new();
            let mut errors = 0;
            let mut n = 0;
            while Instant::now() < deadline {
                let call = make(worker, n);
                n += 1;
                let mut builder = Request::builder()
                    .method(call.method)
                    .uri(&call.path)
                    .header("host", &address);
                for (name, value) in &call.headers {
                    builder = builder.header(*name, value);
                }
                if call.body.is_some() {
                    builder = builder.header("content-type", "application/json");
                }
                let request = builder
                    .body(Full::new(Bytes::from(call.body.unwrap_or_default())))
                    .expect("request");
                let sent = Instant::now();
                match sender.send_request(request).await {
                    Ok(response) => {
                        let ok = response.status().is_success();
                        let _ = response.into_body().collect().await;
                        latencies.push(sent.elapsed().as_micros() as u32);
                        if !ok {
                            errors += 1;
                        }
                    }
                    Err(error) => {
                        eprintln!("request failed: {error}");
                        errors += 1;
                        break;
                    }
                }
            }
            (latencies, errors)
        })
    });
    let mut latencies = Vec::new();
    let mut errors = 0;
    for result in futures_util::future::join_all(workers).await {
        let (mut worker_latencies, worker_errors) = result.expect("worker");
        latencies.append(&mut worker_latencies);
        errors += worker_errors;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let percentile = |p: f64| {
        if latencies.is_empty() {
            return 0.0;
        }
        let index = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        f64::from(latencies[index]) / 1000.0
    };
    Stats {
        concurrency,
        requests: latencies.len(),
        errors,
        rps: latencies.len() as f64 / elapsed,
        p50_ms: percentile(0.50),
        p99_ms: percentile(0.99),
        p999_ms: percentile(0.999),
        max_ms: latencies.last().map_or(0.0, |m| f64::from(*m) / 1000.0),
    }
}
