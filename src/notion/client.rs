//! The Notion HTTP client: headers, the shared rate limit, retries, error mapping, and
//! request accounting.
//!
//! Invariants: every request takes a limiter token first and a slot of the in-flight
//! semaphore; a 429 pauses the whole client for `Retry-After`; retries (429, 409, 5xx, 529,
//! timeouts, resets) use exponential backoff with full jitter; 400/401/403/404 are never
//! retried; the token only ever goes into the `Authorization` header.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::Semaphore;

use super::backoff;
use super::error::NotionError;
use super::limiter::{Limiter, Priority, Rank};
use super::version::NotionVersion;
use crate::config::Secret;
use crate::metrics::Metrics;

/// The API version this program speaks unless configured otherwise.
pub const NOTION_VERSION: &str = "2026-03-11";

/// The longest `filter_properties` part of one request's query string: a longer list is
/// split over several requests for the same page of results (Notion's own URL limit is
/// not documented; 1,500 bytes keeps every request URL well under the usual 2,000).
pub const FILTER_PROPERTIES_BUDGET: usize = 1500;

/// Most 429s one request waits through before giving up (each waits `Retry-After`).
const MAX_RATE_LIMITED: u32 = 30;
/// The longest `Retry-After` honoured at once.
const MAX_PAUSE: Duration = Duration::from_secs(3600);

/// How to talk to Notion.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub base_url: String,
    pub token: Secret,
    pub rate: f64,
    pub burst: f64,
    pub max_in_flight: usize,
    pub timeout: Duration,
    /// Attempts per request for 5xx/timeouts/resets (429s are counted separately).
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// The `Notion-Version` header sent with every request.
    pub version: NotionVersion,
    /// Bytes of `filter_properties` query string per request before a list is split.
    pub filter_properties_budget: usize,
}

impl ClientConfig {
    pub fn new(base_url: &str, token: Secret) -> Self {
        ClientConfig {
            base_url: base_url.trim_end_matches('/').to_string(),
            token,
            rate: 3.0,
            burst: 3.0,
            max_in_flight: 8,
            timeout: Duration::from_secs(60),
            max_attempts: 6,
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(30),
            version: NotionVersion::default(),
            filter_properties_budget: FILTER_PROPERTIES_BUDGET,
        }
    }
}

/// Running totals, for progress lines and `sync_runs`.
#[derive(Debug, Default)]
pub struct ClientCounters {
    pub requests: AtomicU64,
    pub rate_limited: AtomicU64,
    pub retries: AtomicU64,
}

struct Inner {
    http: reqwest::Client,
    config: ClientConfig,
    limiter: Limiter,
    in_flight: Semaphore,
    counters: ClientCounters,
    metrics: Arc<Metrics>,
}

/// A cheap, cloneable handle; clones share the limiter, the semaphore and the counters.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    priority: Priority,
    /// The work item's due time: with the requests it made so far (`tally`), its rank
    /// among high-priority requests in the limiter.
    due_at: i64,
    /// This handle's own request count (see [`Client::tallied`]).
    tally: Option<Arc<AtomicU64>>,
}

impl Client {
    /// Builds the client. Installs the rustls crypto provider if none is installed yet.
    pub fn new(config: ClientConfig, metrics: Arc<Metrics>) -> Result<Client, NotionError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("notion-mirror/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| NotionError::Protocol(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client {
            inner: Arc::new(Inner {
                limiter: Limiter::new(config.rate, config.burst),
                in_flight: Semaphore::new(config.max_in_flight.max(1)),
                http,
                config,
                counters: ClientCounters::default(),
                metrics,
            }),
            priority: Priority::High,
            due_at: 0,
            tally: None,
        })
    }

    /// A handle whose requests yield to webhook-driven ones (`Low`) or not (`High`).
    pub fn with_priority(&self, priority: Priority) -> Client {
        Client {
            priority,
            ..self.clone()
        }
    }

    /// A handle for one work item due at `due_at` (unix ms): its high-priority requests
    /// are ranked by the requests it has made so far (see [`Client::tallied`]), then by
    /// `due_at` ([`super::limiter::Rank`]).
    pub fn for_item(&self, due_at: i64) -> Client {
        Client {
            due_at,
            ..self.clone()
        }
    }

    /// A handle that also counts its own requests (and its clones'), for attributing
    /// requests to one sweep or one work item while others share the client.
    pub fn tallied(&self) -> (Client, Arc<AtomicU64>) {
        let tally = Arc::new(AtomicU64::new(0));
        let client = Client {
            tally: Some(tally.clone()),
            ..self.clone()
        };
        (client, tally)
    }

    pub fn counters(&self) -> &ClientCounters {
        &self.inner.counters
    }

    pub fn requests(&self) -> u64 {
        self.inner.counters.requests.load(Ordering::Relaxed)
    }

    pub fn rate(&self) -> f64 {
        self.inner.limiter.rate()
    }

    pub fn base_url(&self) -> &str {
        &self.inner.config.base_url
    }

    /// The `Notion-Version` this client speaks.
    pub fn version(&self) -> NotionVersion {
        self.inner.config.version
    }

    /// Bytes of `filter_properties` per request before a property list is split.
    pub fn filter_properties_budget(&self) -> usize {
        self.inner.config.filter_properties_budget
    }

    /// `GET path?query`.
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, NotionError> {
        self.send(Method::GET, path, query, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, NotionError> {
        self.send(Method::POST, path, &[], Some(body)).await
    }

    /// `POST path?query` with a JSON body.
    pub async fn post_query(
        &self,
        path: &str,
        query: &[(&str, String)],
        body: &Value,
    ) -> Result<Value, NotionError> {
        self.send(Method::POST, path, query, Some(body)).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, NotionError> {
        let endpoint = endpoint_name(&method, path);
        let mut failures = 0u32;
        let mut rate_limited = 0u32;
        loop {
            let outcome = self.attempt(&method, path, query, body, endpoint).await;
            let wait = match outcome {
                Attempt::Done(value) => return Ok(value),
                Attempt::Fatal(error) => return Err(error),
                Attempt::RateLimited(pause) => {
                    rate_limited += 1;
                    if rate_limited > MAX_RATE_LIMITED {
                        return Err(NotionError::Transient(format!(
                            "{endpoint}: still rate limited after {MAX_RATE_LIMITED} waits"
                        )));
                    }
                    self.inner.limiter.pause_for(pause);
                    tracing::debug!(
                        endpoint,
                        retry_after_ms = pause.as_millis() as u64,
                        "rate limited"
                    );
                    Duration::ZERO // the limiter holds everyone until the pause ends
                }
                Attempt::Retry(error) => {
                    failures += 1;
                    if failures >= self.inner.config.max_attempts {
                        return Err(error);
                    }
                    self.inner.counters.retries.fetch_add(1, Ordering::Relaxed);
                    backoff::delay(
                        failures - 1,
                        self.inner.config.backoff_base,
                        self.inner.config.backoff_cap,
                    )
                }
            };
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
    }

    async fn attempt(
        &self,
        method: &Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        endpoint: &'static str,
    ) -> Attempt {
        // The budget first (where priorities apply), then a connection slot: a sweep
        // request waiting for a token must not hold a slot a webhook request needs.
        let rank = Rank {
            served: self.tally.as_ref().map_or(0, |t| t.load(Ordering::Relaxed)),
            due_at: self.due_at,
        };
        self.inner.limiter.acquire(self.priority, rank).await;
        let Ok(_slot) = self.inner.in_flight.acquire().await else {
            return Attempt::Fatal(NotionError::Cancelled);
        };
        let url = format!("{}{}", self.inner.config.base_url, path);
        let mut request = self
            .inner
            .http
            .request(method.clone(), &url)
            .bearer_auth(self.inner.config.token.expose())
            .header("Notion-Version", self.inner.config.version.as_str())
            .timeout(self.inner.config.timeout);
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let started = Instant::now();
        self.inner.counters.requests.fetch_add(1, Ordering::Relaxed);
        if let Some(tally) = &self.tally {
            tally.fetch_add(1, Ordering::Relaxed);
        }
        let response = request.send().await;
        let outcome = match response {
            Err(e) => {
                self.record(endpoint, 0, started);
                network_error(&self.inner.config.base_url, endpoint, e)
            }
            Ok(response) => {
                let status = response.status();
                let retry_after = retry_after(response.headers());
                let bytes = response.bytes().await;
                self.record(endpoint, status.as_u16(), started);
                match bytes {
                    Err(e) => Attempt::Retry(NotionError::Transient(format!(
                        "{endpoint}: reading the answer failed: {e}"
                    ))),
                    Ok(bytes) => classify(endpoint, status, retry_after, &bytes),
                }
            }
        };
        if matches!(outcome, Attempt::RateLimited(_)) {
            self.inner
                .counters
                .rate_limited
                .fetch_add(1, Ordering::Relaxed);
            self.inner
                .metrics
                .inc("notion_mirror_notion_rate_limited_total", &[]);
        }
        outcome
    }

    fn record(&self, endpoint: &str, status: u16, started: Instant) {
        let status = status.to_string();
        self.inner.metrics.inc(
            "notion_mirror_notion_requests_total",
            &[("endpoint", endpoint), ("status", &status)],
        );
        self.inner.metrics.observe(
            "notion_mirror_notion_request_seconds",
            &[("endpoint", endpoint)],
            started.elapsed().as_secs_f64(),
        );
    }
}

/// What one HTTP attempt came to.
enum Attempt {
    Done(Value),
    Fatal(NotionError),
    RateLimited(Duration),
    Retry(NotionError),
}

fn network_error(base_url: &str, endpoint: &str, e: reqwest::Error) -> Attempt {
    if e.is_connect() {
        return Attempt::Retry(NotionError::Unreachable {
            url: base_url.to_string(),
            message: root_cause(&e),
        });
    }
    let what = if e.is_timeout() {
        "timed out"
    } else {
        "failed"
    };
    Attempt::Retry(NotionError::Transient(format!(
        "{endpoint}: request {what}: {}",
        root_cause(&e)
    )))
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let text = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// Maps an answer to an outcome (pure; see the module invariants).
fn classify(
    endpoint: &str,
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
) -> Attempt {
    if status.is_success() {
        return match serde_json::from_slice::<Value>(body) {
            Ok(value) if value.is_object() => Attempt::Done(value),
            _ => Attempt::Retry(NotionError::Protocol(format!(
                "{endpoint}: {status} with a body that is not a JSON object"
            ))),
        };
    }
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let code = parsed
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let message = parsed
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("HTTP {status} without a Notion error body"));
    let detail = format!("{endpoint}: {message}");
    match status.as_u16() {
        429 | 529 => {
            Attempt::RateLimited(retry_after.unwrap_or(Duration::from_secs(1)).min(MAX_PAUSE))
        }
        401 => Attempt::Fatal(NotionError::Unauthorized(message)),
        403 => Attempt::Fatal(NotionError::Restricted(detail)),
        404 => Attempt::Fatal(NotionError::NotFound(detail)),
        409 | 500..=599 => Attempt::Retry(NotionError::Transient(format!(
            "{} {detail}",
            status.as_u16()
        ))),
        s => Attempt::Fatal(NotionError::Validation {
            status: s,
            code,
            message: detail,
        }),
    }
}

/// The stable endpoint name of a request, for metrics (matches the simulator's names).
pub fn endpoint_name(method: &Method, path: &str) -> &'static str {
    let parts: Vec<&str> = path
        .trim_start_matches("/v1/")
        .split('?')
        .next()
        .unwrap_or("")
        .split('/')
        .collect();
    match (method.as_str(), parts.as_slice()) {
        ("POST", ["search"]) => "search",
        ("GET", ["pages", _]) => "pages.retrieve",
        ("GET", ["pages", _, "properties", _]) => "pages.property",
        ("GET", ["databases", _]) => "databases.retrieve",
        ("GET", ["data_sources", _]) => "data_sources.retrieve",
        ("POST", ["data_sources", _, "query"]) => "data_sources.query",
        ("GET", ["blocks", _]) => "blocks.retrieve",
        ("GET", ["blocks", _, "children"]) => "blocks.children",
        ("GET", ["comments"]) => "comments.list",
        ("GET", ["comments", _]) => "comments.retrieve",
        ("GET", ["users"]) => "users.list",
        ("GET", ["users", "me"]) => "users.me",
        ("GET", ["users", _]) => "users.retrieve",
        ("GET", ["views"]) => "views.list",
        ("GET", ["views", _]) => "views.retrieve",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_named_like_the_simulator() {
        assert_eq!(endpoint_name(&Method::POST, "/v1/search"), "search");
        assert_eq!(
            endpoint_name(&Method::GET, "/v1/pages/abc/properties/f%5C"),
            "pages.property"
        );
        assert_eq!(
            endpoint_name(&Method::POST, "/v1/data_sources/x/query"),
            "data_sources.query"
        );
        assert_eq!(endpoint_name(&Method::GET, "/v1/users/me"), "users.me");
        assert_eq!(endpoint_name(&Method::GET, "/v1/comments"), "comments.list");
        assert_eq!(
            endpoint_name(&Method::GET, "/v1/blocks/b/children"),
            "blocks.children"
        );
    }

    #[test]
    fn answers_map_to_outcomes() {
        let err = |status: u16, code: &str| {
            format!("{{\"object\":\"error\",\"status\":{status},\"code\":\"{code}\",\"message\":\"m\"}}")
        };
        let s = |n| StatusCode::from_u16(n).unwrap();
        assert!(matches!(
            classify("x", s(200), None, b"{\"object\":\"page\"}"),
            Attempt::Done(_)
        ));
        assert!(matches!(
            classify("x", s(200), None, b"<html>"),
            Attempt::Retry(NotionError::Protocol(_))
        ));
        assert!(matches!(
            classify("x", s(429), Some(Duration::from_secs(7)), err(429, "rate_limited").as_bytes()),
            Attempt::RateLimited(d) if d == Duration::from_secs(7)
        ));
        assert!(matches!(
            classify("x", s(401), None, err(401, "unauthorized").as_bytes()),
            Attempt::Fatal(NotionError::Unauthorized(_))
        ));
        assert!(matches!(
            classify(
                "x",
                s(403),
                None,
                err(403, "restricted_resource").as_bytes()
            ),
            Attempt::Fatal(NotionError::Restricted(_))
        ));
        assert!(matches!(
            classify("x", s(404), None, err(404, "object_not_found").as_bytes()),
            Attempt::Fatal(NotionError::NotFound(_))
        ));
        assert!(matches!(
            classify("x", s(400), None, err(400, "validation_error").as_bytes()),
            Attempt::Fatal(NotionError::Validation { .. })
        ));
        for code in [409, 500, 502, 503, 504] {
            assert!(
                matches!(
                    classify("x", s(code), None, b"oops"),
                    Attempt::Retry(NotionError::Transient(_))
                ),
                "{code}"
            );
        }
        assert!(matches!(
            classify("x", s(529), None, b""),
            Attempt::RateLimited(_)
        ));
    }
}
