//! The simulated webhook sender over real HTTP: a small hyper receiver on 127.0.0.1:0 records
//! every request, and the tests check what Notion's delivery semantics promise.
//!
//! Invariant: tests wait for conditions with bounded deadlines (`quiesce` or polling), never
//! a bare sleep before an assertion.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use hmac::{Hmac, KeyInit, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::HeaderMap;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use notion_mirror::sim::events::RawEvent;
use notion_mirror::sim::webhook::{WebhookConfig, WebhookSender};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::time::Instant;

const TOKEN: &str = "secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl";
const WINDOW: Duration = Duration::from_millis(100);
const DEADLINE: Duration = Duration::from_secs(10);

/// One request as the receiver saw it.
#[derive(Clone)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("body is JSON")
    }
}

/// How the receiver answers the n-th request (1-based, counted over all requests).
#[derive(Clone, Copy, Default)]
struct Policy {
    /// Answer 500 to the first `fail_first` requests.
    fail_first: usize,
    /// Wait `stall` before answering the first `stall_first` requests.
    stall_first: usize,
    stall: Duration,
}

#[derive(Clone)]
struct Receiver {
    url: String,
    log: Arc<Mutex<Vec<Received>>>,
    policy: Policy,
}

impl Receiver {
    async fn start(policy: Policy) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let receiver = Receiver {
            url: format!("http://{addr}/webhook"),
            log: Arc::default(),
            policy,
        };
        let accepting = receiver.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let r = accepting.clone();
                let service = service_fn(move |req| {
                    let r = r.clone();
                    async move { r.answer(req).await }
                });
                tokio::spawn(async move {
                    let io = TokioIo::new(stream);
                    let _ = http1::Builder::new().serve_connection(io, service).await;
                });
            }
        });
        receiver
    }

    async fn answer(&self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
        let (parts, body) = req.into_parts();
        let body = body.collect().await?.to_bytes();
        let n = {
            let mut log = self.log.lock().unwrap();
            log.push(Received {
                headers: parts.headers,
                body,
            });
            log.len()
        };
        if n <= self.policy.stall_first {
            tokio::time::sleep(self.policy.stall).await;
        }
        let status = if n <= self.policy.fail_first {
            500
        } else {
            200
        };
        Ok(Response::builder()
            .status(status)
            .body(Full::new(Bytes::from_static(b"ok")))
            .unwrap())
    }

    fn requests(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }

    /// Polls (10 ms) until at least `n` requests arrived; false after `DEADLINE`.
    async fn wait_for(&self, n: usize) -> bool {
        let end = Instant::now() + DEADLINE;
        while Instant::now() < end {
            if self.log.lock().unwrap().len() >= n {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }
}

fn config(url: &str) -> WebhookConfig {
    WebhookConfig {
        url: url.to_string(),
        verification_token: TOKEN.to_string(),
        aggregation_window: WINDOW,
        time_factor: 0.0001,
        drop_rate: 0.0,
        duplicate_rate: 0.0,
        max_extra_delay: Duration::ZERO,
        delivery_timeout: Duration::from_secs(2),
        seed: 42,
        workspace_id: "13950b26-c203-4f3b-b97d-93ec06319565".to_string(),
        workspace_name: "Quantify Labs".to_string(),
        subscription_id: "29d75c0d-5546-4414-8459-7b7a92f1fc4b".to_string(),
        integration_id: "0ef2e755-4912-8096-91c1-00376a88a5ca".to_string(),
    }
}

fn page_id(n: u32) -> String {
    format!("153104cd-477e-809d-8dc4-{n:012}")
}

fn event(event_type: &str, entity_type: &str, entity_id: &str, data: Value) -> RawEvent {
    RawEvent {
        event_type: event_type.to_string(),
        entity_type: entity_type.to_string(),
        entity_id: entity_id.to_string(),
        data,
        at: Utc::now(),
        authors: vec![(
            "c7c11cca-1d73-471d-9b6e-bdef51470190".to_string(),
            "person".to_string(),
        )],
    }
}

fn properties_updated(page: &str, props: &[&str]) -> RawEvent {
    let data = json!({
        "parent": { "id": "0ef104cd-477e-80e1-8571-cfd10e92339a", "type": "page" },
        "updated_properties": props,
    });
    event("page.properties_updated", "page", page, data)
}

fn lifecycle(event_type: &str, page: &str) -> RawEvent {
    let data =
        json!({ "parent": { "id": "0ef104cd-477e-80e1-8571-cfd10e92339a", "type": "page" } });
    event(event_type, "page", page, data)
}

/// `sha256=<hex>` computed here, independently of the crate's `signature` module.
fn hmac_header(token: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn header<'a>(r: &'a Received, name: &str) -> Option<&'a str> {
    r.headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn deliveries_are_signed_over_the_exact_body_bytes() {
    let receiver = Receiver::start(Policy::default()).await;
    let sender = WebhookSender::start(config(&receiver.url));
    sender.emit(properties_updated(&page_id(1), &["title"]));
    assert!(sender.quiesce(DEADLINE).await);

    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(
        header(r, "x-notion-signature"),
        Some(hmac_header(TOKEN, &r.body).as_str())
    );
    assert_eq!(header(r, "content-type"), Some("application/json"));
    let body = r.json();
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let expected_keys = [
        "id",
        "timestamp",
        "workspace_id",
        "workspace_name",
        "subscription_id",
        "integration_id",
        "type",
        "authors",
        "attempt_number",
        "api_version",
        "entity",
        "data",
    ];
    assert_eq!(keys, expected_keys, "no accessible_by, sample key order");
    assert_eq!(body["type"], "page.properties_updated");
    assert_eq!(body["attempt_number"], 1);
    assert_eq!(body["api_version"], "2025-09-03");
    assert_eq!(body["entity"], json!({ "id": page_id(1), "type": "page" }));
    let id = body["id"].as_str().unwrap();
    assert_eq!((id.len(), &id[14..15]), (36, "4"), "uuid v4: {id}");
    let timestamp = body["timestamp"].as_str().unwrap();
    assert!(
        timestamp.ends_with('Z') && timestamp.len() == 24,
        "{timestamp}"
    );
}

#[tokio::test]
async fn burst_of_twenty_property_edits_arrives_as_one_delivery() {
    let receiver = Receiver::start(Policy::default()).await;
    let sender = WebhookSender::start(config(&receiver.url));
    let page = page_id(2);
    let names: Vec<String> = (0..20).map(|i| format!("p{}", i % 7)).collect();
    for name in &names {
        sender.emit(properties_updated(&page, &[name.as_str(), "title"]));
    }
    assert!(sender.quiesce(DEADLINE).await);

    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    let props = requests[0].json()["data"]["updated_properties"].clone();
    let expected = json!(["p0", "title", "p1", "p2", "p3", "p4", "p5", "p6"]);
    assert_eq!(props, expected, "union in first-seen order");
    let stats = sender.stats();
    assert_eq!(
        (stats.emitted, stats.deliveries, stats.aggregated_away),
        (20, 1, 19)
    );
}

#[tokio::test]
async fn create_then_delete_inside_the_window_delivers_nothing() {
    let receiver = Receiver::start(Policy::default()).await;
    let sender = WebhookSender::start(config(&receiver.url));
    sender.emit(lifecycle("page.created", &page_id(3)));
    sender.emit(properties_updated(&page_id(3), &["title"]));
    sender.emit(lifecycle("page.deleted", &page_id(3)));
    // A control entity proves the pipe works while the collapsed one stays silent.
    sender.emit(lifecycle("page.moved", &page_id(4)));
    assert!(sender.quiesce(DEADLINE).await);

    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].json()["entity"]["id"], page_id(4).as_str());
    let stats = sender.stats();
    assert_eq!((stats.deliveries, stats.aggregated_away), (1, 3));
}

#[tokio::test]
async fn failed_attempts_are_retried_with_the_same_id_and_increasing_attempt_number() {
    let policy = Policy {
        fail_first: 3,
        ..Policy::default()
    };
    let receiver = Receiver::start(policy).await;
    let sender = WebhookSender::start(config(&receiver.url));
    sender.emit(lifecycle("page.deleted", &page_id(5)));
    assert!(sender.quiesce(DEADLINE).await);

    let requests = receiver.requests();
    let bodies: Vec<Value> = requests.iter().map(Received::json).collect();
    let attempts: Vec<i64> = bodies
        .iter()
        .map(|b| b["attempt_number"].as_i64().unwrap())
        .collect();
    assert_eq!(attempts, [1, 2, 3, 4]);
    assert!(
        bodies.iter().all(|b| b["id"] == bodies[0]["id"]),
        "same event id"
    );
    for r in &requests {
        assert_eq!(
            header(r, "x-notion-signature"),
            Some(hmac_header(TOKEN, &r.body).as_str()),
            "each attempt's body is signed"
        );
    }
    let stats = sender.stats();
    assert_eq!(
        (
            stats.attempts,
            stats.failed_attempts,
            stats.acknowledged,
            stats.gave_up
        ),
        (4, 3, 1, 0)
    );
}

#[tokio::test]
async fn delivery_gives_up_after_eight_failed_attempts() {
    let policy = Policy {
        fail_first: usize::MAX,
        ..Policy::default()
    };
    let receiver = Receiver::start(policy).await;
    let mut cfg = config(&receiver.url);
    cfg.time_factor = 0.00001; // the whole ~24 h schedule in ~0.9 s
    let sender = WebhookSender::start(cfg);
    sender.emit(lifecycle("page.moved", &page_id(6)));
    assert!(sender.quiesce(DEADLINE).await);

    let attempts: Vec<i64> = (receiver.requests().iter())
        .map(|r| r.json()["attempt_number"].as_i64().unwrap())
        .collect();
    assert_eq!(attempts, [1, 2, 3, 4, 5, 6, 7, 8]);
    let stats = sender.stats();
    assert_eq!((stats.failed_attempts, stats.gave_up), (8, 1));
}

#[tokio::test]
async fn timeout_counts_as_a_failed_attempt() {
    let policy = Policy {
        stall_first: 1,
        stall: Duration::from_secs(3),
        ..Policy::default()
    };
    let receiver = Receiver::start(policy).await;
    let mut cfg = config(&receiver.url);
    cfg.delivery_timeout = Duration::from_millis(200);
    let sender = WebhookSender::start(cfg);
    sender.emit(lifecycle("page.moved", &page_id(7)));
    assert!(sender.quiesce(DEADLINE).await);

    let stats = sender.stats();
    assert_eq!(
        (stats.attempts, stats.failed_attempts, stats.acknowledged),
        (2, 1, 1)
    );
    let attempts: Vec<Value> = receiver
        .requests()
        .iter()
        .map(|r| r.json()["attempt_number"].clone())
        .collect();
    assert_eq!(attempts, [json!(1), json!(2)]);
}

#[tokio::test]
async fn refused_connections_are_failed_attempts_and_verification_reports_them() {
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhook", closed.local_addr().unwrap());
    drop(closed);
    let mut cfg = config(&url);
    cfg.time_factor = 0.00001;
    let sender = WebhookSender::start(cfg);
    assert!(sender.send_verification().await.is_err());
    sender.emit(lifecycle("page.moved", &page_id(8)));
    assert!(sender.quiesce(DEADLINE).await);
    let stats = sender.stats();
    assert_eq!(
        (stats.attempts, stats.failed_attempts, stats.gave_up),
        (8, 8, 1)
    );
}

#[tokio::test]
async fn drop_rate_one_delivers_nothing_until_faults_are_lifted() {
    let receiver = Receiver::start(Policy::default()).await;
    let mut cfg = config(&receiver.url);
    cfg.drop_rate = 1.0;
    let sender = WebhookSender::start(cfg);
    for n in 10..15 {
        sender.emit(lifecycle("page.moved", &page_id(n)));
    }
    assert!(sender.quiesce(DEADLINE).await);
    assert!(receiver.requests().is_empty());
    assert_eq!((sender.stats().deliveries, sender.stats().dropped), (5, 5));

    sender.set_faults(0.0, 0.0, Duration::ZERO);
    sender.emit(lifecycle("page.moved", &page_id(15)));
    assert!(sender.quiesce(DEADLINE).await);
    assert_eq!(receiver.requests().len(), 1);
}

#[tokio::test]
async fn duplicate_rate_one_delivers_each_id_twice() {
    let receiver = Receiver::start(Policy::default()).await;
    let mut cfg = config(&receiver.url);
    cfg.duplicate_rate = 1.0;
    let sender = WebhookSender::start(cfg);
    for n in 20..25 {
        sender.emit(lifecycle("page.moved", &page_id(n)));
    }
    assert!(sender.quiesce(DEADLINE).await);

    let mut per_id: HashMap<String, Vec<Value>> = HashMap::new();
    for r in receiver.requests() {
        let body = r.json();
        per_id
            .entry(body["id"].as_str().unwrap().to_string())
            .or_default()
            .push(body["entity"]["id"].clone());
    }
    assert_eq!(per_id.len(), 5);
    for (id, entities) in &per_id {
        assert_eq!(entities.len(), 2, "{id} delivered twice");
        assert_eq!(entities[0], entities[1], "{id}: copies are the same event");
    }
    let stats = sender.stats();
    assert_eq!((stats.duplicated, stats.acknowledged), (5, 10));
}

#[tokio::test]
async fn comment_events_are_not_aggregated() {
    let receiver = Receiver::start(Policy::default()).await;
    let mut cfg = config(&receiver.url);
    cfg.aggregation_window = Duration::from_secs(3600);
    let sender = WebhookSender::start(cfg);
    let comment = "153104cd-477e-80ca-8f75-001d9e2b6839";
    let data = json!({
        "page_id": page_id(30),
        "parent": { "id": page_id(30), "type": "page" },
    });
    for event_type in ["comment.created", "comment.updated", "comment.updated"] {
        sender.emit(event(event_type, "comment", comment, data.clone()));
    }
    // Delivered although the hour-long window is still open for aggregated types.
    assert!(sender.quiesce(DEADLINE).await);

    let bodies: Vec<Value> = receiver.requests().iter().map(Received::json).collect();
    let mut types: Vec<&str> = bodies.iter().map(|b| b["type"].as_str().unwrap()).collect();
    types.sort_unstable();
    assert_eq!(
        types,
        ["comment.created", "comment.updated", "comment.updated"]
    );
    assert_ne!(bodies[1]["id"], bodies[2]["id"], "separate events");
    assert_eq!(bodies[0]["data"], data);
    assert_eq!(sender.stats().aggregated_away, 0);
}

#[tokio::test]
async fn extra_delay_reorders_deliveries() {
    let receiver = Receiver::start(Policy::default()).await;
    let mut cfg = config(&receiver.url);
    cfg.aggregation_window = Duration::ZERO;
    cfg.max_extra_delay = Duration::from_millis(500);
    let sender = WebhookSender::start(cfg);
    let pages: Vec<String> = (40..60).map(page_id).collect();
    for page in &pages {
        sender.emit(lifecycle("page.moved", page));
    }
    assert!(receiver.wait_for(pages.len()).await);

    let arrived: Vec<String> = (receiver.requests().iter())
        .map(|r| r.json()["entity"]["id"].as_str().unwrap().to_string())
        .collect();
    let mut sorted = arrived.clone();
    sorted.sort();
    assert_eq!(sorted, pages, "every event arrives once");
    assert_ne!(arrived, pages, "but not in emission order");
}

#[tokio::test]
async fn verification_handshake_is_posted_unsigned() {
    let receiver = Receiver::start(Policy::default()).await;
    let sender = WebhookSender::start(config(&receiver.url));
    assert_eq!(sender.send_verification().await, Ok(200));

    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].json(), json!({ "verification_token": TOKEN }));
    assert_eq!(header(&requests[0], "x-notion-signature"), None);
    assert_eq!(sender.stats().attempts, 0, "not an event delivery");
}

#[tokio::test]
async fn quiesce_is_false_while_a_window_is_open_and_after_shutdown() {
    let receiver = Receiver::start(Policy::default()).await;
    let mut cfg = config(&receiver.url);
    cfg.aggregation_window = Duration::from_secs(3600);
    let sender = WebhookSender::start(cfg);
    assert!(
        sender.quiesce(Duration::from_millis(50)).await,
        "idle at start"
    );
    sender.emit(lifecycle("page.moved", &page_id(70)));
    assert!(!sender.quiesce(Duration::from_millis(100)).await);
    sender.shutdown();
    assert!(
        !sender.quiesce(DEADLINE).await,
        "abandoned work never drains"
    );
    assert!(receiver.requests().is_empty());
}
