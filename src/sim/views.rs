//! The Views API (changelog 2026-03-19; reference "View", "List views", "Retrieve a view",
//! "Create a view query", "Get view query results", "Delete a view query"): view objects,
//! view references per database or data source, and view queries — the view's filter and
//! sorts run against its data source, the matching page references cached for 15 minutes
//! and paginated.
//!
//! Invariant: a view is readable while its database is visible and it is not deleted; a
//! view query reads the workspace once, when created (later pages come from its cache,
//! as Notion's "cached queries" do).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::handlers::path_id;
use super::model::{Page, View, Workspace};
use super::pagination::{self, envelope, paginate, SortKey};
use super::query;
use super::render::partial_user;
use super::util::{fmt_minute, object_url};

/// How long a view query's results stay cached (reference "Create a view query").
pub const QUERY_TTL: Duration = Duration::from_secs(15 * 60);

/// A view object [reference "View"; SDK `DataSourceViewObjectResponse` key order].
pub fn view_json(v: &View) -> Value {
    let mut m = Map::new();
    m.insert("object".into(), json!("view"));
    m.insert("id".into(), json!(v.id));
    m.insert(
        "parent".into(),
        json!({ "type": "database_id", "database_id": v.database_id }),
    );
    m.insert("name".into(), json!(v.name));
    m.insert("type".into(), json!(v.vtype));
    m.insert("created_time".into(), json!(fmt_minute(v.created_time)));
    m.insert(
        "last_edited_time".into(),
        json!(fmt_minute(v.last_edited_time)),
    );
    m.insert(
        "url".into(),
        json!(format!(
            "{}?v={}",
            object_url(&v.database_id),
            v.id.replace('-', "")
        )),
    );
    m.insert("data_source_id".into(), json!(v.data_source_id));
    m.insert("created_by".into(), partial_user(&v.created_by));
    m.insert("last_edited_by".into(), partial_user(&v.last_edited_by));
    m.insert("filter".into(), v.filter.clone());
    m.insert("sorts".into(), v.sorts.clone());
    m.insert("quick_filters".into(), v.quick_filters.clone());
    m.insert("configuration".into(), v.configuration.clone());
    Value::Object(m)
}

impl Workspace {
    /// A view the integration can read.
    pub fn readable_view(&self, id: &str) -> Option<&View> {
        self.views
            .get(id)
            .filter(|v| !v.deleted && self.visible(&v.database_id))
    }

    /// The readable views of a database, in tab order.
    pub fn views_of_database(&self, db: &str) -> Vec<&View> {
        self.databases
            .get(db)
            .map(|d| {
                d.views
                    .iter()
                    .filter_map(|id| self.readable_view(id))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// `GET /v1/views?database_id=…|data_source_id=…`: view references [reference "List
/// views"].
pub(crate) fn list_views(ws: &Workspace, q: &[(String, String)]) -> Result<Value, ApiError> {
    let param = |k: &str| q.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let views: Vec<&View> = match (param("database_id"), param("data_source_id")) {
        (Some(raw), _) => {
            let id = path_id(raw, "database")?;
            if !ws.databases.contains_key(&id) || !ws.visible(&id) {
                return Err(ApiError::not_found("database", &id));
            }
            ws.views_of_database(&id)
        }
        (None, Some(raw)) => {
            let id = path_id(raw, "data_source")?;
            let ds = ws
                .data_sources
                .get(&id)
                .filter(|d| ws.visible(&d.database_id))
                .ok_or_else(|| ApiError::not_found("data_source", &id))?;
            ws.views_of_database(&ds.database_id)
                .into_iter()
                .filter(|v| v.data_source_id.as_deref() == Some(id.as_str()))
                .collect()
        }
        (None, None) => {
            return Err(ApiError::validation(
                "query failed validation: at least one of `database_id` or `data_source_id` should be defined.",
            ))
        }
    };
    let req = pagination::from_query(q)?;
    let items: Vec<(SortKey, Value)> = views
        .iter()
        .enumerate()
        .map(|(i, v)| {
            (
                SortKey::seq(i as u64),
                json!({ "object": "view", "id": v.id }),
            )
        })
        .collect();
    let tag = format!("v:{}", views.first().map_or("", |v| v.database_id.as_str()));
    let w = paginate(&tag, items, &req, None)?;
    Ok(envelope(w.items, w.next_cursor, w.has_more, "view"))
}

/// `GET /v1/views/{id}`.
pub(crate) fn retrieve_view(ws: &Workspace, raw: &str) -> Result<Value, ApiError> {
    let id = path_id(raw, "view")?;
    ws.readable_view(&id)
        .map(view_json)
        .ok_or_else(|| ApiError::not_found("view", &id))
}

/// The pages a view shows: its data source's live rows passing its filter, in its sort
/// order (ties: creation minute, then id). Errors when the view cannot be queried (a
/// dashboard, a missing data source, a filter naming a property the schema lacks).
pub fn run_view(ws: &Workspace, view: &View) -> Result<Vec<String>, ApiError> {
    let ds_id = view
        .data_source_id
        .as_deref()
        .ok_or_else(|| ApiError::validation("A dashboard view has no data source to query."))?;
    let ds = ws
        .data_sources
        .get(ds_id)
        .filter(|d| ws.visible(&d.database_id) && !ws.ds_trashed(d))
        .ok_or_else(|| ApiError::not_found("data_source", ds_id))?;
    let filter = match &view.filter {
        Value::Null => None,
        f => Some(query::parse_filter(f, 0, ds)?),
    };
    let sorts = query::parse_sorts(Some(&view.sorts), ds)?;
    let now = Utc::now();
    let mut rows: Vec<(SortKey, &Page)> = ds
        .rows
        .iter()
        .filter_map(|r| ws.pages.get(r))
        .filter(|p| !p.in_trash && ws.visible(&p.id))
        .filter(|p| {
            filter
                .as_ref()
                .is_none_or(|f| query::matches(f, ws, ds, p, now))
        })
        .map(|p| (query::sort_key(ws, ds, p, &sorts), p))
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(rows.into_iter().map(|(_, p)| p.id.clone()).collect())
}

/// One cached view query.
#[derive(Debug, Clone)]
pub(crate) struct Cached {
    view_id: String,
    ids: Vec<String>,
    incomplete: bool,
    created: Instant,
}

/// The view query cache (`Inner::view_queries`).
#[derive(Debug, Default)]
pub(crate) struct QueryCache {
    queries: HashMap<String, Cached>,
}

impl QueryCache {
    fn expire(&mut self, now: Instant) {
        self.queries
            .retain(|_, q| now.duration_since(q.created) < QUERY_TTL);
    }
}

fn page_refs(ids: &[String]) -> Vec<(SortKey, Value)> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| {
            (
                SortKey::seq(i as u64),
                json!({ "object": "page", "id": id }),
            )
        })
        .collect()
}

fn request_status(incomplete: bool) -> Value {
    if incomplete {
        json!({ "type": "incomplete", "incomplete_reason": "query_result_limit_reached" })
    } else {
        json!({ "type": "complete" })
    }
}

/// `POST /v1/views/{id}/queries`: runs the view, caches up to `max_rows` results, answers
/// the first page [reference "Create a view query"].
pub(crate) fn create_query(
    ws: &Workspace,
    cache: &mut QueryCache,
    raw: &str,
    body: &Map<String, Value>,
    max_rows: usize,
    query_id: String,
) -> Result<Value, ApiError> {
    let id = path_id(raw, "view")?;
    let view = ws
        .readable_view(&id)
        .ok_or_else(|| ApiError::not_found("view", &id))?;
    let mut ids = run_view(ws, view)?;
    let incomplete = ids.len() > max_rows.max(1);
    ids.truncate(max_rows.max(1));
    let req = pagination::from_body(body)?;
    let w = paginate(&format!("vq:{query_id}"), page_refs(&ids), &req, None)?;
    let now = Instant::now();
    cache.expire(now);
    let expires = Utc::now() + chrono::Duration::from_std(QUERY_TTL).unwrap_or_default();
    let answer = json!({
        "object": "view_query",
        "id": query_id,
        "view_id": id,
        "expires_at": expires.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "total_count": ids.len(),
        "results": w.items,
        "next_cursor": w.next_cursor,
        "has_more": w.has_more,
        "request_status": request_status(incomplete),
    });
    cache.queries.insert(
        query_id,
        Cached {
            view_id: id,
            ids,
            incomplete,
            created: now,
        },
    );
    Ok(answer)
}

fn cached<'a>(cache: &'a mut QueryCache, view: &str, query: &str) -> Result<&'a Cached, ApiError> {
    cache.expire(Instant::now());
    let view = path_id(view, "view")?;
    let query = path_id(query, "query")?;
    cache
        .queries
        .get(&query)
        .filter(|q| q.view_id == view)
        .ok_or_else(|| {
            ApiError::new(
                404,
                "object_not_found",
                format!("Could not find view query with ID: {query}. It may have expired."),
            )
        })
}

/// `GET /v1/views/{id}/queries/{query_id}`: a page of the cached results (404 once
/// expired) [reference "Get view query results"].
pub(crate) fn query_results(
    cache: &mut QueryCache,
    view: &str,
    query: &str,
    q: &[(String, String)],
) -> Result<Value, ApiError> {
    let req = pagination::from_query(q)?;
    let c = cached(cache, view, query)?;
    let tag = format!("vq:{}", crate::ids::normalize_or_keep(query));
    let w = paginate(&tag, page_refs(&c.ids), &req, None)?;
    let mut out = envelope(w.items, w.next_cursor, w.has_more, "page");
    out["request_status"] = request_status(c.incomplete);
    Ok(out)
}

/// `DELETE /v1/views/{id}/queries/{query_id}`.
pub(crate) fn delete_query(
    cache: &mut QueryCache,
    view: &str,
    query: &str,
) -> Result<Value, ApiError> {
    cached(cache, view, query)?;
    let id = crate::ids::normalize_or_keep(query);
    cache.queries.remove(&id);
    Ok(json!({ "object": "view_query", "id": id, "deleted": true }))
}
