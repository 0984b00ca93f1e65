//! States of API objects as the feed sees them: the meaningful fields of each object type,
//! rendered like the typed views (DESIGN.md §4) — property values as their view column
//! value, flags as 0/1, parents and people as ids, rich text as plain text.
//!
//! Invariant: pure and total (unknown shapes render as `null`, never an error); a
//! Notion-hosted file's URL is compared without its query string (the signature Notion
//! changes on every read) and `expiry_time` is never part of a state.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::State;
use crate::ids;
use crate::mirror::properties::{self, Scalar};
use crate::mirror::text;

/// Property types that are not page content: they change with every edit (the feed's
/// `edited_time`/`edited_by` columns say it).
const VOLATILE_PROPERTY_TYPES: &[&str] = &["last_edited_time", "last_edited_by"];

/// Typed-view scalars that hold JSON (arrays of ids or names; a place).
const JSON_SCALARS: &[&str] = &["multi_select", "people", "relation", "files", "place"];

fn flag(b: bool) -> Value {
    json!(i64::from(b))
}

fn trashed(object: &Value) -> bool {
    crate::mirror::write::trashed(object)
}

/// The id a `parent` names, or `workspace`.
fn parent(object: &Value) -> Value {
    let (kind, id) = crate::mirror::write::parent_of(object);
    match id {
        Some(id) => json!(id),
        None => json!(kind),
    }
}

/// A copy of `value` without what a re-read changes by itself: `expiry_time`, and the
/// query string of Notion-hosted (`file`) URLs.
pub fn without_signatures(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                if k == "expiry_time" {
                    continue;
                }
                let v = if k == "file" {
                    hosted_file(v)
                } else {
                    without_signatures(v)
                };
                out.insert(k.clone(), v);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(without_signatures).collect()),
        other => other.clone(),
    }
}

/// A `file` object (`{url, expiry_time}`): its URL without the query string.
fn hosted_file(file: &Value) -> Value {
    let mut out = without_signatures(file);
    if let Some(url) = out.get_mut("url") {
        if let Some(s) = url.as_str() {
            *url = json!(strip_query(s));
        }
    }
    out
}

/// `url` without `?query` (and `#fragment`).
pub fn strip_query(url: &str) -> &str {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    &url[..end]
}

/// An icon as text (see `text::icon`), hosted URLs without their signature.
fn icon(object: &Value) -> Value {
    match object.get("icon") {
        Some(icon) if !icon.is_null() => match text::icon(&without_signatures(icon)) {
            Some(s) => json!(s),
            None => Value::Null,
        },
        _ => Value::Null,
    }
}

/// A cover as its URL (hosted ones without their signature).
fn cover(object: &Value) -> Value {
    let Some(cover) = object.get("cover").filter(|c| !c.is_null()) else {
        return Value::Null;
    };
    let cover = without_signatures(cover);
    let kind = cover.get("type").and_then(Value::as_str).unwrap_or("");
    match cover
        .get(kind)
        .and_then(|b| b.get("url"))
        .and_then(Value::as_str)
    {
        Some(url) => json!(url),
        None => cover,
    }
}

fn rich(object: &Value, key: &str) -> Value {
    json!(object.get(key).map(text::rich_text).unwrap_or_default())
}

fn user_id(object: &Value, key: &str) -> Option<String> {
    object
        .get(key)
        .and_then(|u| u.get("id"))
        .and_then(Value::as_str)
        .map(ids::normalize_or_keep)
}

/// Notion's `last_edited_time` and `last_edited_by` of a version.
pub fn edited(object: &Value) -> (Option<String>, Option<String>) {
    let time = object
        .get("last_edited_time")
        .and_then(Value::as_str)
        .map(str::to_string);
    let by = user_id(object, "last_edited_by").or_else(|| user_id(object, "created_by"));
    (time, by)
}

fn scalar_json(kind: &str, scalar: &Scalar) -> Value {
    match scalar {
        Scalar::Null => Value::Null,
        Scalar::Int(i) => json!(i),
        Scalar::Real(f) => json!(f),
        Scalar::Text(s) => {
            let looks_json =
                JSON_SCALARS.contains(&kind) || (kind == "rollup" && s.starts_with('['));
            match looks_json
                .then(|| serde_json::from_str::<Value>(s).ok())
                .flatten()
            {
                Some(v) => v,
                None => json!(s),
            }
        }
    }
}

/// A page: its place, trash, icon, cover, lock, and every property's typed-view value.
pub fn page(raw: &Value) -> State {
    let props = properties::rows(raw)
        .into_iter()
        .filter(|row| !VOLATILE_PROPERTY_TYPES.contains(&row.kind.as_str()))
        .map(|row| {
            let value = scalar_json(&row.kind, &row.scalar);
            (row.property_id, (row.name, value))
        })
        .collect();
    State {
        fixed: vec![
            ("parent", parent(raw)),
            ("in_trash", flag(trashed(raw))),
            ("icon", icon(raw)),
            ("cover", cover(raw)),
            (
                "is_locked",
                flag(
                    raw.get("is_locked")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                ),
            ),
        ],
        props,
        schema: None,
    }
}

/// A database container.
pub fn database(raw: &Value) -> State {
    State {
        fixed: vec![
            ("title", json!(text::object_title(raw))),
            ("description", rich(raw, "description")),
            ("parent", parent(raw)),
            ("in_trash", flag(trashed(raw))),
            ("icon", icon(raw)),
            ("cover", cover(raw)),
            (
                "is_inline",
                flag(
                    raw.get("is_inline")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                ),
            ),
        ],
        ..State::default()
    }
}

/// A data source: title, description, database, trash, icon and its schema.
pub fn data_source(raw: &Value) -> State {
    let database = raw
        .pointer("/parent/database_id")
        .and_then(Value::as_str)
        .map(|id| json!(ids::normalize_or_keep(id)))
        .unwrap_or(Value::Null);
    State {
        fixed: vec![
            ("title", json!(text::object_title(raw))),
            ("description", rich(raw, "description")),
            ("parent", database),
            ("in_trash", flag(trashed(raw))),
            ("icon", icon(raw)),
        ],
        props: BTreeMap::new(),
        schema: Some(schema(raw)),
    }
}

/// A data source's properties by id: (name, definition). A definition is the type plus
/// what shapes its values (option names, number format, relation target, formula
/// expression, rollup); ids and colours of options are left out.
fn schema(raw: &Value) -> BTreeMap<String, (String, Value)> {
    let Some(props) = raw.get("properties").and_then(Value::as_object) else {
        return BTreeMap::new();
    };
    props
        .iter()
        .map(|(name, p)| {
            let id = p
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or(name)
                .to_string();
            (id, (name.clone(), definition(p)))
        })
        .collect()
}

fn definition(p: &Value) -> Value {
    let kind = p.get("type").and_then(Value::as_str).unwrap_or("");
    let body = p.get(kind).unwrap_or(&Value::Null);
    let mut def = Map::new();
    def.insert("type".into(), json!(kind));
    let names = |key: &str| -> Value {
        let items = body.get(key).and_then(Value::as_array);
        json!(items
            .map(|o| o
                .iter()
                .filter_map(|x| x.get("name").and_then(Value::as_str))
                .collect::<Vec<_>>())
            .unwrap_or_default())
    };
    match kind {
        "select" | "multi_select" | "status" => {
            def.insert("options".into(), names("options"));
        }
        "number" => {
            def.insert(
                "format".into(),
                body.get("format").cloned().unwrap_or(Value::Null),
            );
        }
        "relation" => {
            let target = body
                .get("data_source_id")
                .and_then(Value::as_str)
                .map(ids::normalize_or_keep);
            def.insert("data_source_id".into(), json!(target));
        }
        "formula" => {
            def.insert(
                "expression".into(),
                body.get("expression").cloned().unwrap_or(Value::Null),
            );
        }
        "rollup" => {
            for key in ["relation_property_name", "rollup_property_name", "function"] {
                def.insert(key.into(), body.get(key).cloned().unwrap_or(Value::Null));
            }
        }
        _ => {}
    }
    Value::Object(def)
}

/// Fields of a block's type object that are not `content`: its text (the `text` field)
/// and what the mirror derives or Notion does not send in lists.
const BLOCK_TEXT_KEYS: &[&str] = &["rich_text", "cells", "children", "title"];

/// A block: type, plain text, place among its siblings, and the rest of its type object
/// (`content`: checked, language, colour, a file's URL, ...).
pub fn block(raw: &Value, parent_id: &str, position: i64, block_text: &str) -> State {
    let kind = raw.get("type").and_then(Value::as_str).unwrap_or("");
    let content = match raw.get(kind).map(without_signatures) {
        Some(Value::Object(body)) => {
            let mut rest = Map::new();
            for (k, v) in body {
                if BLOCK_TEXT_KEYS.contains(&k.as_str()) {
                    continue;
                }
                let v = if k == "caption" {
                    json!(text::rich_text(&v))
                } else {
                    v
                };
                rest.insert(k, v);
            }
            if rest.is_empty() {
                Value::Null
            } else {
                Value::Object(rest)
            }
        }
        Some(other) if !other.is_null() => other,
        _ => Value::Null,
    };
    State {
        fixed: vec![
            ("type", json!(kind)),
            ("text", json!(block_text)),
            ("parent", json!(ids::normalize_or_keep(parent_id))),
            ("position", json!(position)),
            ("content", content),
        ],
        ..State::default()
    }
}

/// Blocks that stand for another object: their changes are that object's (a page's title,
/// trash, move), so the feed does not record them.
pub fn is_stand_in(kind: &str) -> bool {
    matches!(kind, "child_page" | "child_database")
}

/// A comment: its text and where it hangs.
pub fn comment(raw: &Value) -> State {
    let discussion = raw
        .get("discussion_id")
        .and_then(Value::as_str)
        .map(|d| json!(ids::normalize_or_keep(d)))
        .unwrap_or(Value::Null);
    State {
        fixed: vec![
            ("text", json!(text::comment(raw))),
            ("parent", parent(raw)),
            ("discussion_id", discussion),
        ],
        ..State::default()
    }
}

/// A user: name, type, email.
pub fn user(raw: &Value) -> State {
    let s = |k: &str| raw.get(k).cloned().unwrap_or(Value::Null);
    State {
        fixed: vec![
            ("name", s("name")),
            ("type", s("type")),
            (
                "email",
                raw.pointer("/person/email").cloned().unwrap_or(Value::Null),
            ),
        ],
        ..State::default()
    }
}

/// A database view: name, type, the data source it shows, filter and sorts.
pub fn view(raw: &Value) -> State {
    let s = |k: &str| raw.get(k).cloned().unwrap_or(Value::Null);
    let source = raw
        .get("data_source_id")
        .and_then(Value::as_str)
        .map(|d| json!(ids::normalize_or_keep(d)))
        .unwrap_or(Value::Null);
    State {
        fixed: vec![
            ("name", s("name")),
            ("type", s("type")),
            ("data_source_id", source),
            ("filter", s("filter")),
            ("sorts", s("sorts")),
        ],
        ..State::default()
    }
}

/// The state of a non-block object of type `object` from its raw JSON.
pub fn of(object: super::Object, raw: &Value) -> State {
    use super::Object as O;
    match object {
        O::Page => page(raw),
        O::Database => database(raw),
        O::DataSource => data_source(raw),
        O::Comment => comment(raw),
        O::User => user(raw),
        O::View => view(raw),
        // Blocks need their place (`block`); a bare raw block renders without one.
        O::Block => block(raw, "", 0, &text::block(raw)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mirror::changes::{diff, Kind};

    fn signed(sig: &str, expiry: &str) -> Value {
        json!({"type": "file", "file": {
            "url": format!("https://prod-files-secure.s3.amazonaws.com/w/p/a.png?X-Amz-Signature={sig}"),
            "expiry_time": expiry}})
    }

    #[test]
    fn re_signed_file_urls_and_expiry_times_are_not_changes() {
        let page = |sig: &str, expiry: &str| {
            json!({"object": "page", "id": "p", "parent": {"type": "workspace", "workspace": true},
                   "icon": signed(sig, expiry), "cover": signed(sig, expiry),
                   "properties": {"title": {"id": "title", "type": "title", "title": []}}})
        };
        let a = page("aaa", "2026-01-01T00:00:00.000Z");
        let b = page("bbb", "2026-01-01T01:00:00.000Z");
        let d = diff(Some(&super::page(&a)), Some(&super::page(&b)));
        assert_eq!(d.kind, None, "{d:?}");
        let img = |sig: &str, expiry: &str| {
            let mut body = signed(sig, expiry);
            body["caption"] = json!([]);
            json!({"object": "block", "id": "b", "type": "image", "image": body})
        };
        let (x, y) = (img("1", "t1"), img("2", "t2"));
        assert_eq!(
            diff(Some(&block(&x, "p", 0, "")), Some(&block(&y, "p", 0, ""))).kind,
            None
        );
        // A different file is a change.
        let mut z = img("1", "t1");
        z["image"]["file"]["url"] =
            json!("https://prod-files-secure.s3.amazonaws.com/w/p/b.png?X=1");
        assert_eq!(
            diff(Some(&block(&x, "p", 0, "")), Some(&block(&z, "p", 0, ""))).kind,
            Some(Kind::Updated)
        );
    }

    #[test]
    fn last_edited_properties_and_key_order_are_not_changes() {
        let a: Value = serde_json::from_str(
            r#"{"id":"p","in_trash":false,"properties":{
                "Edited":{"id":"e","type":"last_edited_time","last_edited_time":"2026-01-01T00:00:00.000Z"},
                "Name":{"id":"title","type":"title","title":[{"plain_text":"A"}]}}}"#,
        )
        .unwrap();
        let b: Value = serde_json::from_str(
            r#"{"properties":{
                "Name":{"type":"title","id":"title","title":[{"plain_text":"A"}]},
                "Edited":{"id":"e","type":"last_edited_time","last_edited_time":"2026-02-01T00:00:00.000Z"}},
                "in_trash":false,"id":"p","last_edited_time":"2026-02-01T00:00:00.000Z"}"#,
        )
        .unwrap();
        assert_eq!(diff(Some(&page(&a)), Some(&page(&b))).kind, None);
    }

    #[test]
    fn page_properties_render_like_the_typed_view() {
        let p = json!({"id": "p", "properties": {
            "Done": {"id": "d", "type": "checkbox", "checkbox": true},
            "Tags": {"id": "t", "type": "multi_select", "multi_select": [{"name": "a"}, {"name": "b"}]},
            "Status": {"id": "s", "type": "status", "status": {"name": "Done"}},
            "Owner": {"id": "o", "type": "people", "people": [{"id": "U1"}]}}});
        let s = page(&p);
        assert_eq!(s.props["d"], ("Done".to_string(), json!(1)));
        assert_eq!(s.props["t"], ("Tags".to_string(), json!(["a", "b"])));
        assert_eq!(s.props["s"], ("Status".to_string(), json!("Done")));
        assert_eq!(s.props["o"], ("Owner".to_string(), json!(["U1"])));
    }

    #[test]
    fn strip_query_keeps_the_path() {
        assert_eq!(strip_query("https://x/y.png?a=1#f"), "https://x/y.png");
        assert_eq!(strip_query("https://x/y.png"), "https://x/y.png");
    }
}
