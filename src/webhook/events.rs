//! Webhook events → work: which object to refetch, and why (docs/freshness.md).
//!
//! Pure. Invariant: only ids and the event type steer the work; no payload content is ever
//! written as data. Unknown types and objects we do not mirror map to no work (`ignored`).

use serde_json::Value;

use crate::ids;
use crate::queue::{reason, Kind, Signal};

/// Every event type Notion documents (docs/reference/notion.md §6.3: developers.notion.com
/// "Event types & delivery", and the SDK's webhook types): the only values `/metrics` uses
/// as a `type` label. Anything else counts as `other`, so a signed sender cannot grow the
/// metrics without bound.
pub const KNOWN_TYPES: &[&str] = &[
    "page.created",
    "page.content_updated",
    "page.properties_updated",
    "page.moved",
    "page.deleted",
    "page.undeleted",
    "page.locked",
    "page.unlocked",
    "page.transcription_block.transcript_deleted",
    "database.created",
    "database.content_updated",
    "database.schema_updated",
    "database.moved",
    "database.deleted",
    "database.undeleted",
    "data_source.created",
    "data_source.content_updated",
    "data_source.schema_updated",
    "data_source.moved",
    "data_source.deleted",
    "data_source.undeleted",
    "comment.created",
    "comment.updated",
    "comment.deleted",
    "file_upload.created",
    "file_upload.completed",
    "file_upload.expired",
    "file_upload.upload_failed",
    "view.created",
    "view.updated",
    "view.deleted",
];

/// The bounded label for an event type: itself when Notion documents it, else `other`.
pub fn type_label(event_type: &str) -> &'static str {
    KNOWN_TYPES
        .iter()
        .find(|t| **t == event_type)
        .copied()
        .unwrap_or("other")
}

/// Untrusted text made safe for one log or terminal line: control characters (newlines
/// included), quotes and backslashes escaped, cut at `max` characters with `…`.
pub fn printable(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        out.extend(c.escape_debug());
    }
    out
}

/// The fields of an event envelope the ingress records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub id: String,
    pub event_type: String,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub timestamp: Option<String>,
    pub attempt_number: Option<i64>,
}

/// Reads the envelope; `None` when the body is not an event (no `id` or `type`).
pub fn envelope(event: &Value) -> Option<Envelope> {
    let text = |k: &str| event.get(k).and_then(Value::as_str).map(str::to_string);
    Some(Envelope {
        id: text("id")?,
        event_type: text("type")?,
        entity_type: event
            .pointer("/entity/type")
            .and_then(Value::as_str)
            .map(str::to_string),
        entity_id: event
            .pointer("/entity/id")
            .and_then(Value::as_str)
            .map(ids::normalize_or_keep),
        timestamp: text("timestamp"),
        attempt_number: event.get("attempt_number").and_then(Value::as_i64),
    })
}

/// The work an event asks for, due at `due_at` (unix ms); empty = ignore. The floor per
/// event type (docs/freshness.md) is what this mapping costs:
/// - `page.created` → the page and its tree (no comment lists: a new page's comments
///   arrive as `comment.*` events);
/// - `page.properties_updated`, `page.moved`, `page.deleted`/`undeleted`,
///   `page.locked`/`unlocked` → the page object (content only if never fetched);
/// - `page.content_updated` naming blocks → those blocks (or their parent's children
///   list when a block is new, moved or deleted), not the page object (its new
///   `last_edited_time` comes with the next sweep's listing for free); naming none (or
///   only the page) → the page object: a title edit when the title changed, otherwise an
///   unknown content change and the whole tree;
/// - `database.*` → the database (its data sources when it lists new or removed ones);
/// - `data_source.created`/`undeleted` → schema and every row; `schema_updated` → the
///   schema, and the rows only when the change alters row values; `content_updated` →
///   one query for rows edited since the source's newest row; `moved`/`deleted` → the
///   data source object;
/// - `comment.*` → one `GET /v1/comments/{id}` (404 removes it);
/// - `view.*` → one `GET /v1/views/{id}` (404 removes it).
pub fn signals(event: &Value, due_at: i64) -> Vec<Signal> {
    let Some(env) = envelope(event) else {
        return Vec::new();
    };
    let Some(id) = env.entity_id.as_deref().and_then(ids::normalize) else {
        return Vec::new();
    };
    let entity = env.entity_type.as_deref().unwrap_or("");
    let data = event.get("data").unwrap_or(&Value::Null);
    let stamp = |mut s: Signal| {
        s.signalled_at = env.timestamp.clone();
        s
    };
    let one =
        |kind: Kind, reasons: u32| vec![stamp(Signal::new(kind, id.clone(), reasons, due_at))];
    match (env.event_type.as_str(), entity) {
        ("page.created", "page") => one(
            Kind::Page,
            reason::PROPERTIES | reason::CONTENT | reason::CREATED,
        ),
        ("page.properties_updated", "page")
        | ("page.locked", "page")
        | ("page.unlocked", "page")
        | ("page.moved", "page") => one(Kind::Page, reason::PROPERTIES),
        ("page.content_updated", "page") => vec![stamp(content_signal(&id, data, due_at))],
        ("page.deleted", "page") | ("page.undeleted", "page") => {
            one(Kind::Page, reason::PROPERTIES | reason::TRASH)
        }
        // database.* with entity type "block" are linked databases: not mirrored.
        // A new database also lists its views (its default views' own events may be lost).
        ("database.created", "database") => one(
            Kind::Database,
            reason::PROPERTIES | reason::DATA_SOURCES | reason::CREATED,
        ),
        (t, "database") if t.starts_with("database.") => {
            one(Kind::Database, reason::PROPERTIES | reason::DATA_SOURCES)
        }
        ("data_source.created", "data_source") | ("data_source.undeleted", "data_source") => {
            one(Kind::DataSource, reason::SCHEMA | reason::ROWS_ALL)
        }
        ("data_source.schema_updated", "data_source") => one(Kind::DataSource, reason::SCHEMA),
        // Rows came or went: the rows it names are refetched — the same queue rows as
        // their own `page.*` events, so together they cost nothing more, and a row whose
        // own event was lost is still caught. Naming none: one query for recent rows. The
        // source's new `last_edited_time` comes with the next sweep's search, for free.
        ("data_source.content_updated", "data_source") => {
            let rows = named_blocks(data, None);
            if rows.is_empty() {
                return one(Kind::DataSource, reason::ROWS_SINCE);
            }
            rows.into_iter()
                .map(|row| stamp(Signal::new(Kind::Page, row, reason::PROPERTIES, due_at)))
                .collect()
        }
        ("data_source.moved", "data_source") | ("data_source.deleted", "data_source") => {
            one(Kind::DataSource, reason::SCHEMA | reason::TRASH)
        }
        // A view created, changed or deleted: one GET of it (404 removes it).
        (t, "view") if t.starts_with("view.") => one(Kind::View, reason::PROPERTIES),
        (t, "comment") if t.starts_with("comment.") => {
            let mut s = Signal::new(Kind::Comment, id.clone(), reason::PROPERTIES, due_at);
            s.hint = page_hint(data);
            vec![stamp(s)]
        }
        _ => Vec::new(),
    }
}

/// The page a comment event names (`data.page_id`), for the queue's routing hint.
pub fn page_hint(event_data: &Value) -> Option<String> {
    event_data
        .get("page_id")
        .and_then(Value::as_str)
        .and_then(ids::normalize)
}

/// The ids `data.updated_blocks` names (normalized), leaving out `except`.
fn named_blocks(data: &Value, except: Option<&str>) -> Vec<String> {
    data.get("updated_blocks")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|b| b.get("id").and_then(Value::as_str).and_then(ids::normalize))
                .filter(|b| Some(b.as_str()) != except)
                .collect()
        })
        .unwrap_or_default()
}

/// `page.content_updated`: the touched blocks only; a title edit or an unknown change
/// when the event names no block but the page.
fn content_signal(page_id: &str, data: &Value, due_at: i64) -> Signal {
    let blocks = named_blocks(data, Some(page_id));
    if blocks.is_empty() {
        return Signal::new(Kind::Page, page_id, reason::TITLE_OR_CONTENT, due_at);
    }
    let mut s = Signal::new(Kind::Page, page_id, reason::BLOCKS, due_at);
    s.blocks = blocks;
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const P: &str = "153104cd-477e-809d-8dc4-ff2d96ae3090";
    const B: &str = "153104cd-477e-80ec-a87d-f7ff0236d35c";

    fn event(kind: &str, entity: &str, data: Value) -> Value {
        json!({"id": "e1", "type": kind, "timestamp": "2024-12-05T23:55:34.285Z",
               "attempt_number": 1, "entity": {"id": P, "type": entity}, "data": data})
    }

    #[test]
    fn page_events_map_to_page_work() {
        let s = signals(&event("page.created", "page", json!({})), 5);
        assert_eq!(s[0].kind, Kind::Page);
        assert_eq!(
            s[0].reasons,
            reason::PROPERTIES | reason::CONTENT | reason::CREATED
        );
        assert_eq!(s[0].due_at, 5);
        assert_eq!(
            s[0].signalled_at.as_deref(),
            Some("2024-12-05T23:55:34.285Z")
        );
        let s = signals(
            &event(
                "page.properties_updated",
                "page",
                json!({"updated_properties": ["a"]}),
            ),
            0,
        );
        assert_eq!(s[0].reasons, reason::PROPERTIES);
    }

    #[test]
    fn content_updates_name_their_blocks() {
        let s = signals(
            &event(
                "page.content_updated",
                "page",
                json!({"updated_blocks": [{"id": B, "type": "block"}]}),
            ),
            0,
        );
        assert_eq!(s[0].reasons, reason::BLOCKS, "no page GET, no tree");
        assert_eq!(s[0].blocks, vec![B.to_string()]);
        let s = signals(&event("page.content_updated", "page", json!({})), 0);
        assert_eq!(s[0].reasons, reason::TITLE_OR_CONTENT);
        let s = signals(
            &event(
                "page.content_updated",
                "page",
                json!({"updated_blocks": [{"id": P, "type": "block"}]}),
            ),
            0,
        );
        assert_eq!(s[0].reasons, reason::TITLE_OR_CONTENT);
        let s = signals(&event("page.moved", "page", json!({})), 0);
        assert_eq!(s[0].reasons, reason::PROPERTIES, "a move keeps the content");
    }

    #[test]
    fn other_objects_and_unknown_types() {
        assert_eq!(
            signals(
                &event("data_source.schema_updated", "data_source", json!({})),
                0
            )[0]
            .kind,
            Kind::DataSource
        );
        assert_eq!(
            signals(&event("database.moved", "database", json!({})), 0)[0].kind,
            Kind::Database
        );
        assert!(
            signals(&event("database.created", "block", json!({})), 0).is_empty(),
            "linked database"
        );
        let c = signals(
            &event("comment.created", "comment", json!({"page_id": B})),
            0,
        );
        assert_eq!(c[0].kind, Kind::Comment);
        assert_eq!(c[0].hint.as_deref(), Some(B));
        assert!(signals(&event("file_upload.completed", "file_upload", json!({})), 0).is_empty());
        let v = signals(&event("view.deleted", "view", json!({})), 0);
        assert_eq!(v[0].kind, Kind::View);
        assert_eq!(v[0].reasons, reason::PROPERTIES);
        assert!(
            signals(&json!({"type": "page.created"}), 0).is_empty(),
            "no id"
        );
    }

    #[test]
    fn unknown_types_share_one_label_and_print_on_one_line() {
        assert_eq!(type_label("page.created"), "page.created");
        assert_eq!(type_label("view.deleted"), "view.deleted");
        assert_eq!(type_label("page.created\n"), "other");
        assert_eq!(type_label(&"x".repeat(1 << 20)), "other");
        assert_eq!(printable("a\nb\"c", 80), "a\\nb\\\"c");
        let long = printable(&"é".repeat(100), 10);
        assert_eq!(long.chars().count(), 11);
        assert!(!printable("x\r\n\u{1b}[31m", 80).contains(['\n', '\r', '\u{1b}']));
    }
}
