//! One function per API endpoint: workspace (read-locked) + request → JSON or Notion error.
//!
//! Invariant: handlers never panic on client input; unknown, revoked or wrong-type ids get
//! the documented 404/400 answers [S1][S22 MrBinnacle#51]; nothing here mutates the model.

use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::model::{Page, Workspace};
use super::pagination::{self, envelope, paginate, PageReq, SortKey};
use super::properties::Mode;
use super::property_items;
use super::query;
use super::render::{self, block_json, comment_json, page_json, user_json};
use super::search_index::{entry_for, SearchIndex};
use super::util::encode_uri_component;
use super::version::NotionVersion;

type Query = [(String, String)];

/// A path id in canonical form, or Notion's 400 for a malformed one.
pub(crate) fn path_id(raw: &str, what: &str) -> Result<String, ApiError> {
    crate::ids::normalize(raw).ok_or_else(|| {
        ApiError::validation(format!(
            "path failed validation: path.{what}_id should be a valid uuid, instead was `\"{raw}\"`."
        ))
    })
}

/// `filter_properties` (or `filter_properties[]`) values from the query string [S12].
fn filter_props(query: &Query) -> Option<Vec<String>> {
    let v: Vec<String> = query
        .iter()
        .filter(|(k, _)| k == "filter_properties" || k == "filter_properties[]")
        .map(|(_, v)| v.clone())
        .collect();
    (!v.is_empty()).then_some(v)
}

/// Keeps only the properties named (by encoded id, decoded id or name) in `keep`.
fn trim_properties(mut page: Value, keep: &Option<Vec<String>>) -> Value {
    let Some(keep) = keep else { return page };
    trim_to(&mut page, keep);
    page
}

/// A page in a Search or Query answer: trimmed to `filter_properties`, or (2026-12-01
/// without it) to the title property [upgrade guide 2026-12-01].
fn listed_page(mut page: Value, keep: &Option<Vec<String>>, version: NotionVersion) -> Value {
    match keep {
        Some(keep) => trim_to(&mut page, keep),
        None if version.lists_title_only() => super::version::title_only(&mut page),
        None => {}
    }
    page
}

fn trim_to(page: &mut Value, keep: &[String]) {
    if let Some(props) = page.get_mut("properties").and_then(Value::as_object_mut) {
        props.retain(|name, v| {
            let id = v.get("id").and_then(Value::as_str).unwrap_or_default();
            let decoded = super::util::percent_decode(id);
            keep.iter().any(|k| k == name || k == id || *k == decoded)
        });
    }
}

fn visible_page<'a>(ws: &'a Workspace, id: &str) -> Option<&'a Page> {
    ws.pages.get(id).filter(|_| ws.visible(id))
}

/// `GET /v1/pages/{id}`.
pub(crate) fn retrieve_page(ws: &Workspace, raw: &str, query: &Query) -> Result<Value, ApiError> {
    let id = path_id(raw, "page")?;
    if let Some(p) = visible_page(ws, &id) {
        return Ok(trim_properties(
            page_json(ws, p, Mode::Truncated),
            &filter_props(query),
        ));
    }
    if ws.databases.contains_key(&id) && ws.visible(&id) {
        return Err(ApiError::validation(format!(
            "Provided ID {id} is a database, not a page. Use the retrieve database API instead, `/v1/databases/{id}`."
        )));
    }
    Err(ApiError::not_found("page", &id))
}

/// `GET /v1/databases/{id}`.
pub(crate) fn retrieve_database(ws: &Workspace, raw: &str) -> Result<Value, ApiError> {
    let id = path_id(raw, "database")?;
    if !ws.visible(&id) {
        return Err(ApiError::not_found("database", &id));
    }
    if let Some(db) = ws.databases.get(&id) {
        return Ok(render::database_json(ws, db));
    }
    if ws.pages.contains_key(&id) {
        return Err(ApiError::validation(format!(
            "Provided database_id `{id}` is a page, not a database. Use the retrieve page API instead, `/v1/pages/{id}`."
        )));
    }
    if ws
        .blocks
        .get(&id)
        .is_some_and(|b| b.btype == "child_database")
    {
        return Err(ApiError::validation(format!(
            "{id} is a linked database. Database retrievals do not support linked databases."
        )));
    }
    Err(ApiError::not_found("database", &id))
}

/// `GET /v1/data_sources/{id}`. A database id here is a 404 (UNCONFIRMED: the probe in
/// [S22 MrBinnacle#51] only covers the opposite direction).
pub(crate) fn retrieve_data_source(ws: &Workspace, raw: &str) -> Result<Value, ApiError> {
    let id = path_id(raw, "data_source")?;
    match ws.data_sources.get(&id) {
        Some(ds) if ws.visible(&ds.database_id) => Ok(render::data_source_json(ws, ds)),
        _ => Err(ApiError::not_found("data_source", &id)),
    }
}

/// `POST /v1/data_sources/{id}/query`.
pub(crate) fn query_data_source(
    ws: &Workspace,
    raw: &str,
    query: &Query,
    body: &Map<String, Value>,
    max_rows: usize,
    version: NotionVersion,
) -> Result<Value, ApiError> {
    let id = path_id(raw, "data_source")?;
    let ds = match ws.data_sources.get(&id) {
        Some(ds) if ws.visible(&ds.database_id) && !ws.ds_trashed(ds) => ds,
        _ => return Err(ApiError::not_found("data_source", &id)),
    };
    let req = pagination::from_body(body)?;
    let filter = match body.get("filter") {
        None | Some(Value::Null) => None,
        Some(f) => Some(query::parse_filter(f, 0, ds)?),
    };
    let sorts = query::parse_sorts(body.get("sorts"), ds)?;
    let now = chrono::Utc::now();
    let tag = format!(
        "q:{id}:{:08x}",
        fnv(&format!("{:?}{:?}", body.get("filter"), body.get("sorts")))
    );
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
    let w = paginate(&tag, rows, &req, Some(max_rows.max(1)))?;
    let keep = filter_props(query);
    let results = w
        .items
        .iter()
        .map(|p| listed_page(page_json(ws, p, Mode::Truncated), &keep, version))
        .collect();
    let mut out = envelope(results, w.next_cursor, w.has_more, "page_or_data_source");
    out["request_status"] = if w.incomplete {
        json!({ "type": "incomplete", "incomplete_reason": "query_result_limit_reached" })
    } else {
        json!({ "type": "complete" })
    };
    Ok(out)
}

fn fnv(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// `GET /v1/blocks/{id}` (page ids answer as their child_page block, database ids as their
/// child_database block; data-source ids are 404 [S22 MrBinnacle#51]).
pub(crate) fn retrieve_block(ws: &Workspace, raw: &str) -> Result<Value, ApiError> {
    let id = path_id(raw, "block")?;
    if !ws.visible(&id) {
        return Err(ApiError::not_found("block", &id));
    }
    if let Some(b) = ws.blocks.get(&id) {
        return Ok(block_json(ws, b));
    }
    if let Some(p) = ws.pages.get(&id) {
        return Ok(render::page_as_block(ws, p));
    }
    if let Some(db) = ws.databases.get(&id) {
        return Ok(render::database_as_block(ws, db));
    }
    Err(ApiError::not_found("block", &id))
}

/// `GET /v1/blocks/{id}/children`: one level, live blocks, in order [S14].
pub(crate) fn block_children(ws: &Workspace, raw: &str, query: &Query) -> Result<Value, ApiError> {
    let id = path_id(raw, "block")?;
    let known =
        ws.pages.contains_key(&id) || ws.blocks.contains_key(&id) || ws.databases.contains_key(&id);
    if !known || !ws.visible(&id) {
        return Err(ApiError::not_found("block", &id));
    }
    let req = pagination::from_query(query)?;
    let kids: Vec<(SortKey, Value)> = ws
        .live_children(&id)
        .into_iter()
        .map(|b| (SortKey::seq(b.seq), b))
        .map(|(k, b)| (k, block_json(ws, b)))
        .collect();
    let w = paginate(&format!("c:{id}"), kids, &req, None)?;
    Ok(envelope(w.items, w.next_cursor, w.has_more, "block"))
}

/// `GET /v1/comments?block_id=`: open comments whose parent is exactly that page (page-level
/// discussions only — UNCONFIRMED [notion.md §4.8], the design's choice) or block.
pub(crate) fn list_comments(ws: &Workspace, query: &Query) -> Result<Value, ApiError> {
    let raw = query
        .iter()
        .find(|(k, _)| k == "block_id")
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| ApiError::validation("query failed validation: query.block_id should be defined, instead was `undefined`."))?;
    let id = path_id(raw, "block")?;
    let holder = ws.pages.contains_key(&id) || ws.blocks.contains_key(&id);
    if !holder || !ws.visible(&id) {
        return Err(ApiError::not_found("block", &id));
    }
    let req = pagination::from_query(query)?;
    let items: Vec<(SortKey, Value)> = ws
        .open_comments_on(&id)
        .into_iter()
        .map(|c| (SortKey::seq(c.seq), comment_json(ws, c)))
        .collect();
    let w = paginate(&format!("cm:{id}"), items, &req, None)?;
    Ok(envelope(w.items, w.next_cursor, w.has_more, "comment"))
}

/// `GET /v1/comments/{id}`: resolved and deleted comments are not readable [S15].
pub(crate) fn retrieve_comment(ws: &Workspace, raw: &str) -> Result<Value, ApiError> {
    let id = path_id(raw, "comment")?;
    match ws.comments.get(&id) {
        Some(c) if c.is_open() && ws.visible(&c.page_id) => Ok(comment_json(ws, c)),
        _ => Err(ApiError::not_found("comment", &id)),
    }
}

/// `GET /v1/users`: persons and bots, no guests [S16].
pub(crate) fn list_users(ws: &Workspace, query: &Query) -> Result<Value, ApiError> {
    let req = pagination::from_query(query)?;
    let items: Vec<(SortKey, Value)> = ws
        .users
        .iter()
        .enumerate()
        .map(|(i, u)| (SortKey::seq(i as u64), user_json(ws, &u.id)))
        .collect();
    let w = paginate("users", items, &req, None)?;
    Ok(envelope(w.items, w.next_cursor, w.has_more, "user"))
}

/// `GET /v1/users/{id}`.
pub(crate) fn retrieve_user(ws: &Workspace, raw: &str) -> Result<Value, ApiError> {
    let id = path_id(raw, "user")?;
    if ws.user(&id).is_some() {
        Ok(user_json(ws, &id))
    } else {
        Err(ApiError::not_found("user", &id))
    }
}

/// `GET /v1/users/me`: the integration's bot with its full `bot` object.
pub(crate) fn users_me(ws: &Workspace) -> Value {
    user_json(ws, &ws.bot_id)
}

/// `GET /v1/pages/{id}/properties/{property_id}`: the complete value [S11].
pub(crate) fn page_property(
    ws: &Workspace,
    base_url: &str,
    raw: &str,
    segment: &str,
    query: &Query,
) -> Result<Value, ApiError> {
    let id = path_id(raw, "page")?;
    let page = match visible_page(ws, &id) {
        Some(p) => p,
        None => {
            return Err(retrieve_page(ws, raw, &[])
                .err()
                .unwrap_or_else(|| ApiError::not_found("page", &id)))
        }
    };
    let ds = ws.row_source(page);
    let prop = match ds {
        Some(ds) => Some(property_items::find_prop(ds, segment).ok_or_else(|| not_prop(segment))?),
        None if super::util::percent_decode(segment) == "title" => None,
        None => return Err(not_prop(segment)),
    };
    let is_list = prop.is_none_or(|p| property_items::is_list_type(&p.kind));
    if !is_list {
        if let (Some(ds), Some(p)) = (ds, prop) {
            return Ok(property_items::simple_item(ws, page, ds, p));
        }
    }
    let req = pagination::from_query(query)?;
    let enc = prop.map_or("title".to_string(), |p| encode_uri_component(&p.id));
    let items: Vec<(SortKey, Value)> = property_items::property_items(ws, page, prop)
        .into_iter()
        .enumerate()
        .map(|(i, v)| (SortKey::seq(i as u64), v))
        .collect();
    let w = paginate(&format!("pi:{id}:{enc}"), items, &req, None)?;
    let next_url = w.next_cursor.as_ref().map(|c| {
        format!(
            "{base_url}/v1/pages/{id}/properties/{enc}?start_cursor={c}&page_size={}",
            req.page_size
        )
    });
    let mut out = envelope(w.items, w.next_cursor.clone(), w.has_more, "property_item");
    out["property_item"] = property_items::list_descriptor(ws, page, prop, next_url);
    Ok(out)
}

fn not_prop(segment: &str) -> ApiError {
    ApiError::new(
        404,
        "object_not_found",
        format!("Could not find property with ID: {segment}."),
    )
}

/// `POST /v1/search`: pages and data sources (never databases), trashed and revoked
/// objects excluded; answered from `index` when search lag is on [S13][S7].
pub(crate) fn search(
    ws: &Workspace,
    index: Option<&SearchIndex>,
    query: &Query,
    body: &Map<String, Value>,
    version: NotionVersion,
) -> Result<Value, ApiError> {
    let req: PageReq = pagination::from_body(body)?;
    let needle = match body.get("query") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.to_lowercase(),
        Some(v) => {
            return Err(ApiError::validation(format!(
                "body failed validation: body.query should be a string, instead was `{v}`."
            )))
        }
    };
    let only = search_filter(body.get("filter"))?;
    let sort = search_sort(body.get("sort"))?;
    let mut items: Vec<(SortKey, String)> = Vec::new();
    let mut consider = |id: &str, e_is_page: bool, seq: u64, title: &str, edited: i64| {
        if only.is_some_and(|p| p != e_is_page) || !title.contains(&needle) {
            return;
        }
        let visible = if e_is_page {
            ws.visible(id)
        } else {
            ws.data_sources
                .get(id)
                .is_some_and(|d| ws.visible(&d.database_id))
        };
        if !visible {
            return;
        }
        let key = match sort {
            Some(desc) => SortKey(vec![
                (pagination::KeyPart::I(edited), desc),
                (pagination::KeyPart::I(seq as i64), false),
            ]),
            None => SortKey::seq(seq),
        };
        items.push((key, id.to_string()));
    };
    match index {
        Some(ix) => {
            for (id, e) in ix.entries() {
                consider(id, e.is_page, e.seq, &e.title_lower, e.last_edited_ms);
            }
        }
        None => {
            let title = |items: &[Value]| {
                if needle.is_empty() {
                    String::new()
                } else {
                    super::richtext::plain_text(items).to_lowercase()
                }
            };
            for p in ws.pages.values().filter(|p| !p.in_trash) {
                let t = title(&p.title);
                let edited = super::util::round_minute(p.last_edited_time).timestamp_millis();
                consider(&p.id, true, p.seq, &t, edited);
            }
            for d in ws.data_sources.values().filter(|d| !ws.ds_trashed(d)) {
                let t = match ws.databases.get(&d.database_id) {
                    Some(db) => title(&db.title),
                    None => String::new(),
                };
                let edited = super::util::round_minute(d.last_edited_time).timestamp_millis();
                consider(&d.id, false, d.seq, &t, edited);
            }
        }
    }
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let tag = format!("s:{:08x}", fnv(&format!("{needle}|{only:?}|{sort:?}")));
    let w = paginate(&tag, items, &req, None)?;
    let keep = filter_props(query);
    let results = w
        .items
        .into_iter()
        .filter_map(|id| match index {
            Some(ix) => ix.get(&id).map(|e| e.json.clone()),
            None => entry_for(ws, &id).map(|e| e.json),
        })
        .map(|object| {
            if object.get("object").and_then(Value::as_str) == Some("page") {
                listed_page(object, &keep, version)
            } else {
                object
            }
        })
        .collect();
    Ok(envelope(
        results,
        w.next_cursor,
        w.has_more,
        "page_or_data_source",
    ))
}

/// `Some(true)` = pages only, `Some(false)` = data sources only.
fn search_filter(v: Option<&Value>) -> Result<Option<bool>, ApiError> {
    let Some(f) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    if f.get("property").and_then(Value::as_str) != Some("object") {
        return Err(ApiError::validation(
            "body failed validation: body.filter.property should be `\"object\"`.",
        ));
    }
    match f.get("value").and_then(Value::as_str) {
        Some("page") => Ok(Some(true)),
        Some("data_source") => Ok(Some(false)),
        other => Err(ApiError::validation(format!(
            "body failed validation: body.filter.value should be `\"page\"` or `\"data_source\"`, instead was `{}`.",
            other.map_or("undefined".to_string(), |s| format!("\"{s}\""))
        ))),
    }
}

/// `Some(descending)` for a `last_edited_time` sort.
fn search_sort(v: Option<&Value>) -> Result<Option<bool>, ApiError> {
    let Some(s) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    if s.get("timestamp").and_then(Value::as_str) != Some("last_edited_time") {
        return Err(ApiError::validation(
            "body failed validation: body.sort.timestamp should be `\"last_edited_time\"`.",
        ));
    }
    match s.get("direction").and_then(Value::as_str) {
        Some("ascending") => Ok(Some(false)),
        Some("descending") => Ok(Some(true)),
        _ => Err(ApiError::validation(
            "body failed validation: body.sort.direction should be `\"ascending\"` or `\"descending\"`.",
        )),
    }
}
