//! The HTTP server: accepts connections within the cap, serves each with HTTP/1.1 under
//! the request deadline and idle timeout (`conn`), and routes `POST /webhook`,
//! `GET /healthz` and `GET /metrics` to their handlers (`handlers`; docs/reference/http.md).
//!
//! Invariants: the raw body is verified before it is parsed (except the unsigned
//! verification handshake); nothing is stored for a rejected request; 200 is sent only
//! after the event's row committed; bodies over 1 MiB are refused without being buffered;
//! no client holds a connection longer than the deadlines allow, and connections never
//! use more than half the descriptor limit (see `conn.rs` and `limits.rs`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::conn::{self, Admitted, Registry, Tracker, Watched};
use super::handlers::{self, error, Reply};
use super::ingest::Tokens;
use crate::config::HttpLimits;
use crate::metrics::Metrics;
use crate::mirror::Store;

pub use super::handlers::MAX_BODY;

/// hyper's read buffer per connection: headers beyond it get 431. Small, so a flood of
/// connections costs little memory (Notion's headers are well under 2 KiB).
const MAX_BUF: usize = 16 * 1024;

/// What the server needs; shared by every connection.
pub struct Ingress {
    pub store: Store,
    pub tokens: Arc<Tokens>,
    pub metrics: Arc<Metrics>,
    pub debounce: Duration,
    pub wake: Arc<crate::queue::Wake>,
    /// `--no-webhooks`: `/webhook` answers 404 (polling-only mode).
    pub webhooks_enabled: bool,
    /// Cleared when the worker pool stops (for `/healthz`).
    pub worker_alive: Arc<AtomicBool>,
    /// Connection cap and deadlines (the cap already fitted to the descriptor limit).
    pub limits: HttpLimits,
    /// Notion requests per second (the ETA of `/metrics`).
    pub rate: f64,
}

/// One connection as its handlers see it.
pub struct Conn {
    pub peer: SocketAddr,
    pub tracker: Arc<Tracker>,
    pub registry: Arc<Registry>,
}

/// Serves until `shutdown`, then lets open requests finish (bounded by `grace`).
pub async fn serve(
    listener: TcpListener,
    ingress: Arc<Ingress>,
    shutdown: CancellationToken,
    grace: Duration,
) {
    let graceful = GracefulShutdown::new();
    let registry = Registry::new(ingress.limits, ingress.metrics.clone());
    tracing::info!(
        max_connections = ingress.limits.max_connections,
        request_deadline_secs = ingress.limits.request_deadline.as_secs_f64(),
        idle_timeout_secs = ingress.limits.idle_timeout.as_secs_f64(),
        "HTTP limits"
    );
    let mut accept_errors = RateLimitedLog::default();
    loop {
        registry.room().await;
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                accept_errors.warn(&e);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(admitted) = registry.admit() else {
            registry.refused();
            conn::refuse(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let conn = Conn {
            peer,
            tracker: admitted.tracker.clone(),
            registry: registry.clone(),
        };
        tokio::spawn(connection(
            stream,
            conn,
            admitted,
            ingress.clone(),
            graceful.watcher(),
        ));
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("HTTP connections still open at the shutdown deadline");
    }
}

/// One connection, from its first byte to its close; `admitted` leaves the registry when
/// this returns.
async fn connection(
    stream: TcpStream,
    conn: Conn,
    admitted: Admitted,
    ingress: Arc<Ingress>,
    watcher: Watcher,
) {
    let tracker = admitted.tracker.clone();
    let registry = conn.registry.clone();
    let h2 = tokio::select! {
        h2 = conn::is_h2_preface(&stream) => h2,
        why = tracker.expired() => { registry.closed(why); return; }
    };
    if h2 {
        conn::refuse_h2(stream).await;
        return;
    }
    let limits = ingress.limits;
    let conn = Arc::new(conn);
    let service = service_fn(move |request| {
        let (ingress, conn) = (ingress.clone(), conn.clone());
        async move {
            conn.tracker.request_started();
            let reply = route(&ingress, &conn, request).await;
            conn.tracker.answered();
            Ok::<_, Infallible>(reply)
        }
    });
    let http = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.request_deadline)
        .max_buf_size(MAX_BUF)
        .serve_connection(TokioIo::new(Watched::new(stream, tracker.clone())), service);
    let served = watcher.watch(http);
    tokio::select! {
        _ = served => {}
        why = tracker.expired() => registry.closed(why),
    }
    drop(admitted);
}

async fn route(ingress: &Ingress, conn: &Conn, request: Request<Incoming>) -> Reply {
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    match (path.as_str(), &method) {
        ("/webhook", &Method::POST) if ingress.webhooks_enabled => {
            handlers::webhook(ingress, conn, request).await
        }
        _ => {
            // Nothing else reads a body: the request is complete as far as we care.
            conn.tracker.request_read();
            other(ingress, conn, &path, &method).await
        }
    }
}

async fn other(ingress: &Ingress, conn: &Conn, path: &str, method: &Method) -> Reply {
    match (path, method) {
        ("/webhook", _) if ingress.webhooks_enabled => {
            ingress.metrics.inc(
                "notion_mirror_webhook_rejected_total",
                &[("reason", "method")],
            );
            let mut r = error(StatusCode::METHOD_NOT_ALLOWED, "use POST");
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("POST"));
            r
        }
        ("/healthz", &Method::GET) | ("/healthz", &Method::HEAD) => handlers::health(ingress).await,
        ("/metrics", &Method::GET) => handlers::metrics(ingress, conn).await,
        ("/healthz", _) | ("/metrics", _) => {
            let mut r = error(StatusCode::METHOD_NOT_ALLOWED, "use GET");
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET"));
            r
        }
        _ => {
            ingress.metrics.inc(
                "notion_mirror_webhook_rejected_total",
                &[("reason", "path")],
            );
            error(StatusCode::NOT_FOUND, "not found")
        }
    }
}

/// One warning per 10 s for a repeating error (e.g. `accept` failing for lack of file
/// descriptors), with the number of repeats it stands for.
#[derive(Default)]
struct RateLimitedLog {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimitedLog {
    fn warn(&mut self, e: &std::io::Error) {
        if self
            .last
            .is_some_and(|t| t.elapsed() < Duration::from_secs(10))
        {
            self.suppressed += 1;
            return;
        }
        tracing::warn!(error = %e, repeats = self.suppressed, "accept failed");
        self.last = Some(Instant::now());
        self.suppressed = 0;
    }
}
