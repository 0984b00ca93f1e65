//! The HTTP server (hyper 1.x, HTTP/1.1): routing, the per-request check order, JSON
//! answers, and the unauthenticated `/_sim/*` control routes.
//!
//! Invariant: check order is count → latency → hang → Notion-Version → token → rate limit
//! → injected failures → routing; every answer is JSON with a `request_id`; the workspace
//! mutex is never held across an `.await`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::error::ApiError;
use super::handlers;
use super::render::with_request_id;
use super::stats::Counted;
use super::version::{self, NotionVersion};
use super::views;
use super::{lock, Inner};

/// The Notion-Version the simulator's own tools (crawls, the demo) send by default; it
/// answers every version in [`NotionVersion::ALL`].
pub const NOTION_VERSION: &str = "2026-03-11";
const MAX_BODY: usize = 1 << 20;

/// Accepts connections until `shutdown`, then drains (bounded by two seconds).
pub(crate) async fn serve(listener: TcpListener, inner: Arc<Inner>, shutdown: CancellationToken) {
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::warn!(error = %e, "sim: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let inner = inner.clone();
                let svc = service_fn(move |req: Request<Incoming>| {
                    let inner = inner.clone();
                    async move {
                        if req.uri().path().starts_with(super::files::PATH_PREFIX) {
                            return Ok::<_, Infallible>(super::file_host::serve(inner, req).await);
                        }
                        Ok(handle(inner, req).await.map(BodyExt::boxed))
                    }
                });
                let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
                let fut = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = fut.await;
                });
            }
            _ = shutdown.cancelled() => break,
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), graceful.shutdown()).await;
}

/// A routed API request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Route {
    Search,
    Page(String),
    PageProperty(String, String),
    Database(String),
    DataSource(String),
    Query(String),
    Block(String),
    BlockChildren(String),
    Comments,
    Comment(String),
    Users,
    UsersMe,
    User(String),
    Views,
    View(String),
    ViewQuery(String),
    ViewQueryResults(String, String),
    ViewQueryDelete(String, String),
    Unknown,
}

impl Route {
    pub fn parse(method: &Method, path: &str) -> Route {
        let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        let get = method == Method::GET;
        let post = method == Method::POST;
        let delete = method == Method::DELETE;
        match segs.as_slice() {
            ["", "v1", "search"] if post => Route::Search,
            ["", "v1", "pages", id] if get => Route::Page(id.to_string()),
            ["", "v1", "pages", id, "properties", p] if get => {
                Route::PageProperty(id.to_string(), p.to_string())
            }
            ["", "v1", "databases", id] if get => Route::Database(id.to_string()),
            ["", "v1", "data_sources", id] if get => Route::DataSource(id.to_string()),
            ["", "v1", "data_sources", id, "query"] if post => Route::Query(id.to_string()),
            ["", "v1", "blocks", id] if get => Route::Block(id.to_string()),
            ["", "v1", "blocks", id, "children"] if get => Route::BlockChildren(id.to_string()),
            ["", "v1", "comments"] if get => Route::Comments,
            ["", "v1", "comments", id] if get => Route::Comment(id.to_string()),
            ["", "v1", "users"] if get => Route::Users,
            ["", "v1", "users", "me"] if get => Route::UsersMe,
            ["", "v1", "users", id] if get => Route::User(id.to_string()),
            ["", "v1", "views"] if get => Route::Views,
            ["", "v1", "views", id] if get => Route::View(id.to_string()),
            ["", "v1", "views", id, "queries"] if post => Route::ViewQuery(id.to_string()),
            ["", "v1", "views", id, "queries", q] if get => {
                Route::ViewQueryResults(id.to_string(), q.to_string())
            }
            ["", "v1", "views", id, "queries", q] if delete => {
                Route::ViewQueryDelete(id.to_string(), q.to_string())
            }
            _ => Route::Unknown,
        }
    }

    /// The fixed endpoint name used by stats, injection and the floor.
    pub fn endpoint(&self) -> &'static str {
        match self {
            Route::Search => "search",
            Route::Page(_) => "pages.retrieve",
            Route::PageProperty(..) => "pages.property",
            Route::Database(_) => "databases.retrieve",
            Route::DataSource(_) => "data_sources.retrieve",
            Route::Query(_) => "data_sources.query",
            Route::Block(_) => "blocks.retrieve",
            Route::BlockChildren(_) => "blocks.children",
            Route::Comments => "comments.list",
            Route::Comment(_) => "comments.retrieve",
            Route::Users => "users.list",
            Route::UsersMe => "users.me",
            Route::User(_) => "users.retrieve",
            Route::Views => "views.list",
            Route::View(_) => "views.retrieve",
            Route::ViewQuery(_) => "views.query",
            Route::ViewQueryResults(..) => "views.query_results",
            Route::ViewQueryDelete(..) => "views.query_delete",
            Route::Unknown => "unknown",
        }
    }

    /// The object the request names (normalized when it is a UUID).
    fn object(&self, query: &[(String, String)]) -> Option<String> {
        let raw = match self {
            Route::Page(id)
            | Route::PageProperty(id, _)
            | Route::Database(id)
            | Route::DataSource(id)
            | Route::Query(id)
            | Route::Block(id)
            | Route::BlockChildren(id)
            | Route::Comment(id)
            | Route::User(id)
            | Route::View(id)
            | Route::ViewQuery(id)
            | Route::ViewQueryResults(id, _)
            | Route::ViewQueryDelete(id, _) => id.clone(),
            Route::Comments => query.iter().find(|(k, _)| k == "block_id")?.1.clone(),
            _ => return None,
        };
        Some(crate::ids::normalize_or_keep(&raw))
    }
}

fn json_response(
    status: u16,
    body: &Value,
    request_id: &str,
    retry_after: Option<u64>,
) -> Response<Full<Bytes>> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp = Response::new(Full::new(Bytes::from(bytes)));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-notion-request-id", v);
    }
    if let Some(secs) = retry_after {
        h.insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

fn error_response(e: &ApiError, request_id: &str) -> Response<Full<Bytes>> {
    json_response(e.status, &e.body(request_id), request_id, e.retry_after)
}

async fn handle(inner: Arc<Inner>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    if path.starts_with("/_sim/") {
        return super::control::handle(inner, req).await;
    }
    let request_id = inner.request_id();
    let query = super::util::parse_query(req.uri().query());
    let route = Route::parse(req.method(), &path);
    let counted = Counted::new(inner.stats.clone(), route.endpoint(), route.object(&query));
    let resp = match api(&inner, req, &route, &query).await {
        Ok(mut v) => {
            // Every answer signs its hosted files anew, as Notion's do.
            inner.files.sign(&mut v, inner.knobs().file_url_ttl);
            json_response(200, &with_request_id(v, &request_id), &request_id, None)
        }
        Err(e) => error_response(&e, &request_id),
    };
    counted.finish(resp.status().as_u16());
    resp
}

async fn api(
    inner: &Inner,
    req: Request<Incoming>,
    route: &Route,
    query: &[(String, String)],
) -> Result<Value, ApiError> {
    let knobs = inner.knobs();
    if !knobs.latency.is_zero() {
        tokio::time::sleep(knobs.latency).await;
    }
    let hang = lock(&inner.limits).dice(knobs.hang_rate);
    if hang {
        tokio::time::sleep(knobs.hang).await;
    }
    let version = match req.headers().get("notion-version").map(|v| v.to_str().unwrap_or("")) {
        None => return Err(ApiError::missing_version()),
        Some(text) => NotionVersion::parse(text).ok_or_else(|| {
            ApiError::validation(format!(
                "Notion-Version header failed validation: should be one of {}, instead was `{text}`.",
                NotionVersion::ALL.map(|v| format!("`{v}`")).join(", ")
            ))
        })?,
    };
    let auth = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let token = auth.strip_prefix("Bearer ").unwrap_or("").trim();
    if token.is_empty() || token != inner.token {
        return Err(ApiError::unauthorized());
    }
    admit(inner, &knobs, token, route)?;
    let body = if req.method() == Method::POST {
        read_body(req).await?
    } else {
        Map::new()
    };
    let mut answer = dispatch(inner, &knobs, route, query, &body, version)?;
    version::adapt_answer(&mut answer, version);
    Ok(answer)
}

/// Rate limit, 429 storm, injected and random failures.
fn admit(inner: &Inner, knobs: &super::Knobs, token: &str, route: &Route) -> Result<(), ApiError> {
    let mut limits = lock(&inner.limits);
    if let Some(rl) = knobs.rate_limit {
        if let Err(secs) = limits.take(token, rl, Instant::now()) {
            return Err(ApiError::rate_limited(knobs.retry_after.unwrap_or(secs)));
        }
    }
    if limits.dice(knobs.storm_429_rate) {
        return Err(ApiError::rate_limited(knobs.retry_after.unwrap_or(1)));
    }
    let what = what_of(route);
    let id = route.object(&[]).unwrap_or_default();
    if let Some(status) = limits.injected(route.endpoint()) {
        return Err(ApiError::for_status(
            status,
            what,
            &id,
            knobs.retry_after.unwrap_or(1),
        ));
    }
    if limits.dice(knobs.fail_rate) {
        let status = limits.pick_5xx();
        return Err(ApiError::for_status(status, what, &id, 1));
    }
    Ok(())
}

fn what_of(route: &Route) -> &'static str {
    match route {
        Route::Page(_) | Route::PageProperty(..) => "page",
        Route::Database(_) => "database",
        Route::DataSource(_) | Route::Query(_) => "data_source",
        Route::Comment(_) => "comment",
        Route::User(_) => "user",
        Route::View(_) | Route::ViewQuery(_) | Route::ViewQueryResults(..) => "view",
        Route::ViewQueryDelete(..) => "view",
        _ => "block",
    }
}

/// The JSON object body of a POST (empty body = `{}`); 400 `invalid_json` otherwise.
pub(crate) async fn read_body(req: Request<Incoming>) -> Result<Map<String, Value>, ApiError> {
    let bytes = read_raw(req).await?;
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::validation(
            "body failed validation: body should be an object.",
        )),
        Err(_) => Err(ApiError::invalid_json()),
    }
}

pub(crate) async fn read_raw(req: Request<Incoming>) -> Result<Bytes, ApiError> {
    match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(_) => Err(ApiError::validation(
            "Request body too large or unreadable.",
        )),
    }
}

fn dispatch(
    inner: &Inner,
    knobs: &super::Knobs,
    route: &Route,
    query: &[(String, String)],
    body: &Map<String, Value>,
    version: NotionVersion,
) -> Result<Value, ApiError> {
    let ws = lock(&inner.ws);
    match route {
        Route::Search => {
            if knobs.search_lag.is_zero() {
                handlers::search(&ws, None, query, body, version)
            } else {
                let mut ix = lock(&inner.search);
                if !ix.is_built() {
                    ix.build(&ws);
                }
                ix.apply_due(Instant::now());
                handlers::search(&ws, Some(&ix), query, body, version)
            }
        }
        Route::Page(id) => handlers::retrieve_page(&ws, id, query),
        Route::PageProperty(id, p) => handlers::page_property(&ws, &inner.base_url, id, p, query),
        Route::Database(id) => handlers::retrieve_database(&ws, id),
        Route::DataSource(id) => handlers::retrieve_data_source(&ws, id),
        Route::Query(id) => {
            handlers::query_data_source(&ws, id, query, body, knobs.max_query_rows, version)
        }
        Route::Block(id) => handlers::retrieve_block(&ws, id),
        Route::BlockChildren(id) => handlers::block_children(&ws, id, query),
        Route::Comments => handlers::list_comments(&ws, query),
        Route::Comment(id) => handlers::retrieve_comment(&ws, id),
        Route::Users => handlers::list_users(&ws, query),
        Route::UsersMe => Ok(handlers::users_me(&ws)),
        Route::User(id) => handlers::retrieve_user(&ws, id),
        Route::Views => views::list_views(&ws, query),
        Route::View(id) => views::retrieve_view(&ws, id),
        Route::ViewQuery(id) => {
            let query_id = inner.request_id();
            let mut cache = lock(&inner.view_queries);
            views::create_query(&ws, &mut cache, id, body, knobs.max_query_rows, query_id)
        }
        Route::ViewQueryResults(id, q) => {
            views::query_results(&mut lock(&inner.view_queries), id, q, query)
        }
        Route::ViewQueryDelete(id, q) => views::delete_query(&mut lock(&inner.view_queries), id, q),
        Route::Unknown => Err(ApiError::invalid_url()),
    }
}

/// A plain JSON answer for the control routes.
pub(crate) fn control_response(status: u16, body: Value) -> Response<Full<Bytes>> {
    json_response(status, &body, "sim", None)
}
