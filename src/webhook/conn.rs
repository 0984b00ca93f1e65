//! Connection admission and deadlines for the HTTP server: the cap on open connections,
//! the whole-request deadline, the idle keep-alive timeout, and the answer to HTTP/2
//! prior knowledge.
//!
//! Invariants: at most `max_connections` connections are served at once (plus the few
//! being closed); over the cap the oldest connection that is idle, else the oldest still
//! sending its request, is closed to make room — one that is being answered never is, and
//! when every connection is being answered the newcomer gets 503. A request must arrive
//! completely (headers *and* body) within `request_deadline` of its first byte, and an
//! idle keep-alive connection is closed after `idle_timeout`; nothing else limits how
//! long our own answer takes.
//!
//! How a connection moves: accepted → *reading* (deadline running) → the handler has the
//! whole body → *handling* (no deadline) → the answer is produced → *idle* (idle timeout
//! running) → a byte arrives → *reading* again. The `Watched` stream sees the bytes, the
//! handler reports the rest, and one watchdog per connection enforces the deadlines.

use std::collections::BTreeMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::limits;
use crate::config::HttpLimits;
use crate::metrics::Metrics;

const READING: u8 = 0;
const HANDLING: u8 = 1;
const IDLE: u8 = 2;

/// A body read still running at the deadline is answered 408 by its handler; the
/// watchdog closes the connection this much later if that did not happen.
const GRACE: Duration = Duration::from_secs(1);
/// Connections being closed (evicted, not yet gone) allowed on top of the cap.
const CLOSING_HEADROOM: usize = 64;
/// After at least this many connections were admitted, freed memory goes back to the
/// system (glibc keeps it otherwise: see `limits::release_memory`)...
const FLOOD: u64 = 256;
/// ...once fewer than this many remain open (the flood is over)...
const QUIET_BELOW: usize = 8;
/// ...or, while one goes on, at most this often.
const TRIM_EVERY: Duration = Duration::from_secs(30);

/// Why a connection was closed by us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    Deadline,
    Idle,
    Evicted,
}

impl Closed {
    fn as_str(self) -> &'static str {
        match self {
            Closed::Deadline => "deadline",
            Closed::Idle => "idle",
            Closed::Evicted => "evicted",
        }
    }
}

/// The state of one connection, shared by its stream, its handler and its watchdog.
pub struct Tracker {
    limits: HttpLimits,
    epoch: Instant,
    phase: AtomicU8,
    /// Milliseconds after `epoch` when the current phase expires (reading, idle).
    deadline_ms: AtomicU64,
    evicted: AtomicBool,
    changed: Notify,
}

impl Tracker {
    fn new(limits: HttpLimits) -> Tracker {
        let t = Tracker {
            limits,
            epoch: Instant::now(),
            phase: AtomicU8::new(READING),
            deadline_ms: AtomicU64::new(0),
            evicted: AtomicBool::new(false),
            changed: Notify::new(),
        };
        t.enter(READING, limits.request_deadline);
        t
    }

    fn enter(&self, phase: u8, within: Duration) {
        let due = self.epoch.elapsed() + within;
        self.deadline_ms
            .store(due.as_millis() as u64, Ordering::Relaxed);
        self.phase.store(phase, Ordering::Release);
        self.changed.notify_one();
    }

    fn phase(&self) -> u8 {
        self.phase.load(Ordering::Acquire)
    }

    /// When the request being read must be complete (the handler's body-read deadline).
    pub fn read_deadline(&self) -> Instant {
        self.epoch + Duration::from_millis(self.deadline_ms.load(Ordering::Relaxed))
    }

    /// A request reached the handler (its headers may have waited in the buffer while
    /// the connection was idle: then its deadline starts now).
    pub fn request_started(&self) {
        if self.phase() == IDLE {
            self.enter(READING, self.limits.request_deadline);
        }
    }

    /// The handler has the whole request: from here on the time is ours.
    pub fn request_read(&self) {
        self.enter(HANDLING, Duration::ZERO);
    }

    /// The answer is produced: the connection idles until the next request.
    pub fn answered(&self) {
        self.enter(IDLE, self.limits.idle_timeout);
    }

    fn bytes_arrived(&self) {
        if self.phase() == IDLE {
            self.enter(READING, self.limits.request_deadline);
        }
    }

    fn evict(&self) {
        self.evicted.store(true, Ordering::Release);
        self.changed.notify_one();
    }

    /// Resolves when the connection must be closed: a deadline passed, or it was evicted.
    pub async fn expired(&self) -> Closed {
        loop {
            if self.evicted.load(Ordering::Acquire) {
                return Closed::Evicted;
            }
            let phase = self.phase();
            let until = match phase {
                HANDLING => None,
                READING => Some(self.read_deadline() + GRACE),
                _ => Some(self.read_deadline()),
            };
            let changed = self.changed.notified();
            match until {
                None => changed.await,
                Some(until) => tokio::select! {
                    _ = changed => {}
                    _ = tokio::time::sleep_until(until) => {
                        if self.phase() == phase && Instant::now() >= until {
                            return if phase == IDLE { Closed::Idle } else { Closed::Deadline };
                        }
                    }
                },
            }
        }
    }
}

/// The open connections, oldest first.
pub struct Registry {
    limits: HttpLimits,
    metrics: Arc<Metrics>,
    next_id: AtomicU64,
    state: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    connections: BTreeMap<u64, Arc<Tracker>>,
    /// Evicted, not yet closed.
    closing: usize,
    /// Admitted since memory was last handed back, and when that was.
    since_trim: u64,
    trimmed_at: Option<Instant>,
}

/// An admitted connection; dropping it takes the connection off the registry.
pub struct Admitted {
    registry: Arc<Registry>,
    id: u64,
    pub tracker: Arc<Tracker>,
}

impl Registry {
    pub fn new(limits: HttpLimits, metrics: Arc<Metrics>) -> Arc<Registry> {
        Arc::new(Registry {
            limits,
            metrics,
            next_id: AtomicU64::new(0),
            state: Mutex::new(Open::default()),
        })
    }

    /// Open connections right now.
    pub fn open(&self) -> usize {
        self.state.lock().map(|s| s.connections.len()).unwrap_or(0)
    }

    /// Waits while the connections being closed fill the headroom above the cap: new
    /// connections then wait in the kernel's accept queue instead of being refused.
    pub async fn room(&self) {
        for _ in 0..100 {
            let full = self
                .state
                .lock()
                .map(|s| s.connections.len() >= self.cap_with_headroom())
                .unwrap_or(false);
            if !full {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Admits a new connection, closing the oldest idle or still-reading one when at the
    /// cap; `None` when every connection is being answered (refuse the newcomer).
    pub fn admit(self: &Arc<Self>) -> Option<Admitted> {
        let mut state = self.state.lock().ok()?;
        let live = state.connections.len() - state.closing;
        if live >= self.limits.max_connections {
            let victim = oldest_in(&state.connections, IDLE)
                .or_else(|| oldest_in(&state.connections, READING));
            match victim {
                Some(victim) if state.connections.len() < self.cap_with_headroom() => {
                    victim.evict();
                    state.closing += 1;
                }
                _ => return None,
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let tracker = Arc::new(Tracker::new(self.limits));
        state.connections.insert(id, tracker.clone());
        state.since_trim += 1;
        Some(Admitted {
            registry: self.clone(),
            id,
            tracker,
        })
    }

    fn cap_with_headroom(&self) -> usize {
        self.limits.max_connections + CLOSING_HEADROOM
    }

    fn leave(&self, id: u64) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if let Some(t) = state.connections.remove(&id) {
            if t.evicted.load(Ordering::Acquire) {
                state.closing = state.closing.saturating_sub(1);
            }
        }
        let quiet = state.connections.len() < QUIET_BELOW;
        let due = state.trimmed_at.is_none_or(|t| t.elapsed() >= TRIM_EVERY);
        if state.since_trim >= FLOOD && (quiet || due) {
            state.since_trim = 0;
            state.trimmed_at = Some(Instant::now());
            tokio::task::spawn_blocking(limits::release_memory);
        }
    }

    /// Counts a connection we closed.
    pub fn closed(&self, why: Closed) {
        self.metrics.inc(
            "notion_mirror_http_connections_closed_total",
            &[("reason", why.as_str())],
        );
    }

    /// Counts a refused connection.
    pub fn refused(&self) {
        self.metrics.inc(
            "notion_mirror_http_connections_closed_total",
            &[("reason", "refused")],
        );
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.registry.leave(self.id);
    }
}

fn oldest_in(connections: &BTreeMap<u64, Arc<Tracker>>, phase: u8) -> Option<&Arc<Tracker>> {
    connections
        .values()
        .find(|t| t.phase() == phase && !t.evicted.load(Ordering::Acquire))
}

/// The accepted stream, telling its tracker when bytes arrive on an idle connection.
pub struct Watched {
    stream: TcpStream,
    tracker: Arc<Tracker>,
}

impl Watched {
    pub fn new(stream: TcpStream, tracker: Arc<Tracker>) -> Watched {
        Watched { stream, tracker }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.tracker.bytes_arrived();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// What a refused connection is told before it is closed (best effort, never waits).
pub fn refuse(stream: TcpStream) {
    const BODY: &str = r#"{"error":"too many connections"}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = stream.try_write(answer.as_bytes());
}

/// The client connection preface of HTTP/2 with prior knowledge (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether the client opened with the HTTP/2 preface. Only peeks: HTTP/1.1 bytes stay
/// for hyper. A client that stops inside a prefix of the preface waits here until its
/// connection's deadline.
pub async fn is_h2_preface(stream: &TcpStream) -> bool {
    let mut buf = [0u8; 24];
    loop {
        let n = match stream.peek(&mut buf).await {
            Ok(n) => n,
            Err(_) => return false,
        };
        if n == 0 || !H2_PREFACE.starts_with(&buf[..n]) {
            return false;
        }
        if n == H2_PREFACE.len() {
            return true;
        }
        // A prefix so far ("P" could still be "POST"): wait for more bytes.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Answers HTTP/2 prior knowledge with what RFC 9113 gives a server that will not speak
/// it: its (empty) SETTINGS, then GOAWAY with `HTTP_1_1_REQUIRED` (0xd) and a reason, so
/// the client reports an error instead of a silently closed connection.
pub async fn refuse_h2(mut stream: TcpStream) {
    const REASON: &[u8] = b"this server speaks HTTP/1.1 only";
    let mut frames = vec![0, 0, 0, 0x4, 0, 0, 0, 0, 0];
    let len = 8 + REASON.len();
    frames.extend_from_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8]);
    frames.extend_from_slice(&[0x7, 0, 0, 0, 0, 0]);
    frames.extend_from_slice(&0u32.to_be_bytes()); // last stream id
    frames.extend_from_slice(&0xdu32.to_be_bytes()); // HTTP_1_1_REQUIRED
    frames.extend_from_slice(REASON);
    let exchange = async {
        stream.write_all(&frames).await?;
        stream.shutdown().await?;
        // Read what the client sent until it closes: closing with unread bytes would
        // reset the connection and could destroy the GOAWAY before the client reads it.
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, io::Error>(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), exchange).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize) -> HttpLimits {
        HttpLimits {
            max_connections: max,
            request_deadline: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn at_the_cap_the_oldest_idle_then_reading_connection_makes_room() {
        let registry = Registry::new(limits(3), Arc::new(Metrics::new()));
        let a = registry.admit().unwrap();
        let b = registry.admit().unwrap();
        let c = registry.admit().unwrap();
        b.tracker.request_read();
        b.tracker.answered(); // b idles
        c.tracker.request_read(); // c is being answered
        let _d = registry.admit().unwrap();
        assert!(b.tracker.evicted.load(Ordering::Acquire), "idle goes first");
        assert!(!a.tracker.evicted.load(Ordering::Acquire));
        drop(b);
        let _e = registry.admit().unwrap();
        assert!(
            a.tracker.evicted.load(Ordering::Acquire),
            "then the oldest reading"
        );
        assert!(
            !c.tracker.evicted.load(Ordering::Acquire),
            "never one being answered"
        );
        drop(a);
        // c handling, d and e reading: e is newer, d goes.
        let f = registry.admit().unwrap();
        f.tracker.request_read();
        let g = registry.admit().unwrap();
        g.tracker.request_read();
        // Now c, f, g are handling (d, e evicted): a newcomer is refused.
        assert!(registry.admit().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn deadlines_follow_the_phase() {
        let t = Tracker::new(limits(1));
        let start = Instant::now();
        assert_eq!(t.expired().await, Closed::Deadline);
        assert!(start.elapsed() >= Duration::from_secs(10) + GRACE);
        let t = Arc::new(Tracker::new(limits(1)));
        t.request_read();
        let watch = tokio::spawn({
            let t = t.clone();
            async move { t.expired().await }
        });
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert!(!watch.is_finished(), "no deadline while we answer");
        t.answered();
        let start = Instant::now();
        assert_eq!(watch.await.unwrap(), Closed::Idle);
        assert_eq!(start.elapsed(), Duration::from_secs(5));
    }
}
