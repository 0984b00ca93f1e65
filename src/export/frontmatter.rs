//! YAML front matter: `id`, `url`, `title`, `created_time`, `last_edited_time`, and for
//! data-source rows every property under `properties:` (named as in the typed view,
//! valued as the typed view renders them, with people as names and relations as
//! `{id, title}`).
//!
//! Invariant: the output is valid YAML 1.2 (and 1.1) whatever the titles, names and values
//! contain — every string is double-quoted with escapes, every key is plain only when it
//! cannot be misread.

use std::collections::HashMap;

use rusqlite::Connection;
use serde_json::{Number, Value};

use super::load::{self, DatabaseMeta, PageMeta, PropertyValue, Snapshot};
use super::ExportError;
use crate::mirror::properties::{render, Scalar};
use crate::mirror::views::{column_names, SourceSchema};

/// A YAML value.
#[derive(Debug, Clone, PartialEq)]
pub enum Yaml {
    Null,
    Bool(bool),
    Num(Number),
    Str(String),
    List(Vec<Yaml>),
    Map(Vec<(String, Yaml)>),
}

impl Yaml {
    fn str(s: &str) -> Yaml {
        Yaml::Str(s.to_string())
    }

    /// Flow style (one line).
    pub fn flow(&self) -> String {
        match self {
            Yaml::Null => "null".into(),
            Yaml::Bool(b) => b.to_string(),
            Yaml::Num(n) => n.to_string(),
            Yaml::Str(s) => quote(s),
            Yaml::List(items) => {
                let inner: Vec<String> = items.iter().map(Yaml::flow).collect();
                format!("[{}]", inner.join(", "))
            }
            Yaml::Map(pairs) => {
                let inner: Vec<String> = pairs
                    .iter()
                    .map(|(k, v)| format!("{}: {}", key(k), v.flow()))
                    .collect();
                format!("{{{}}}", inner.join(", "))
            }
        }
    }
}

/// A double-quoted YAML string: `"` and `\` escaped, every non-printable character as
/// an escape (YAML forbids C0/C1 controls and DEL raw).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || (0x7f..=0x9f).contains(&(c as u32)) => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A mapping key: plain when it is a simple word sequence, quoted otherwise.
pub fn key(k: &str) -> String {
    const RESERVED: &[&str] = &[
        "y", "n", "yes", "no", "true", "false", "on", "off", "null", "~",
    ];
    let simple = k.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ' ' || c == '-')
        && !k.ends_with(' ')
        && !k.contains("  ")
        && !RESERVED.contains(&k.to_ascii_lowercase().as_str());
    if simple {
        k.to_string()
    } else {
        quote(k)
    }
}

/// A row's property, named as its typed-view column.
#[derive(Debug, Clone)]
pub struct RowProperty {
    pub column: String,
    pub value: PropertyValue,
}

/// The properties of a data-source row in schema order (none for other pages).
pub fn row_properties(
    conn: &Connection,
    snap: &Snapshot,
    page: &PageMeta,
) -> Result<Vec<RowProperty>, ExportError> {
    let Some(source) = page
        .data_source_id
        .as_ref()
        .and_then(|ds| snap.sources.get(ds))
    else {
        return Ok(Vec::new());
    };
    let schema = SourceSchema::from_raw(&source.id, &source.title, &source.raw);
    let mut values: HashMap<String, PropertyValue> = load::property_values(conn, &page.id)?;
    let names = column_names(&schema.properties);
    let mut out = Vec::new();
    for ((pid, name), column) in schema.properties.iter().zip(names) {
        let value = values.remove(pid).unwrap_or(PropertyValue {
            property_id: pid.clone(),
            name: name.clone(),
            kind: String::new(),
            value: Value::Null,
            text: String::new(),
        });
        out.push(RowProperty { column, value });
    }
    Ok(out)
}

/// The YAML of one property value.
pub fn property_yaml(p: &PropertyValue, snap: &Snapshot) -> Yaml {
    value_yaml(&p.kind, &p.value, snap)
}

fn items(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn value_yaml(kind: &str, inner: &Value, snap: &Snapshot) -> Yaml {
    if inner.is_null() {
        return Yaml::Null;
    }
    let field = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    match kind {
        "multi_select" | "files" => Yaml::List(
            items(inner)
                .iter()
                .filter_map(|i| field(i, "name"))
                .map(Yaml::Str)
                .collect(),
        ),
        "people" => Yaml::List(
            items(inner)
                .iter()
                .map(|u| Yaml::Str(user_name(u, snap)))
                .collect(),
        ),
        "created_by" | "last_edited_by" => Yaml::Str(user_name(inner, snap)),
        "relation" => Yaml::List(
            items(inner)
                .iter()
                .filter_map(|r| field(r, "id"))
                .map(|id| {
                    let title = snap
                        .pages
                        .get(&id)
                        .map(|p| Yaml::str(&p.title))
                        .unwrap_or(Yaml::Null);
                    Yaml::Map(vec![("id".into(), Yaml::Str(id)), ("title".into(), title)])
                })
                .collect(),
        ),
        "checkbox" => Yaml::Bool(inner.as_bool().unwrap_or(false)),
        "number" => inner
            .as_number()
            .cloned()
            .map(Yaml::Num)
            .unwrap_or(Yaml::Null),
        "date" => match (field(inner, "start"), field(inner, "end")) {
            (Some(s), Some(e)) => Yaml::Map(vec![
                ("start".into(), Yaml::Str(s)),
                ("end".into(), Yaml::Str(e)),
            ]),
            (Some(s), None) => Yaml::Str(s),
            _ => Yaml::Null,
        },
        "formula" => {
            let t = inner.get("type").and_then(Value::as_str).unwrap_or("");
            let v = inner.get(t).cloned().unwrap_or(Value::Null);
            match t {
                "boolean" => v.as_bool().map(Yaml::Bool).unwrap_or(Yaml::Null),
                "string" => v.as_str().map(Yaml::str).unwrap_or(Yaml::Null),
                _ => value_yaml(t, &v, snap),
            }
        }
        "rollup" => match inner.get("type").and_then(Value::as_str) {
            Some("array") => Yaml::List(
                items(inner.get("array").unwrap_or(&Value::Null))
                    .iter()
                    .map(|item| {
                        let t = item.get("type").and_then(Value::as_str).unwrap_or("");
                        value_yaml(t, item.get(t).unwrap_or(&Value::Null), snap)
                    })
                    .collect(),
            ),
            Some(t) => value_yaml(t, inner.get(t).unwrap_or(&Value::Null), snap),
            None => Yaml::Null,
        },
        _ => scalar_yaml(render(kind, inner).scalar),
    }
}

fn scalar_yaml(s: Scalar) -> Yaml {
    match s {
        Scalar::Null => Yaml::Null,
        Scalar::Int(i) => Yaml::Num(i.into()),
        Scalar::Real(f) => Number::from_f64(f).map(Yaml::Num).unwrap_or(Yaml::Null),
        Scalar::Text(t) => Yaml::Str(t),
    }
}

fn user_name(user: &Value, snap: &Snapshot) -> String {
    let id = user.get("id").and_then(Value::as_str).unwrap_or("");
    snap.user_name(id)
        .or_else(|| user.get("name").and_then(Value::as_str))
        .unwrap_or(id)
        .to_string()
}

/// The front matter block (with its `---` fences and a trailing newline).
fn block(pairs: Vec<(String, Yaml)>, properties: Vec<(String, Yaml)>) -> String {
    let mut out = String::from("---\n");
    for (k, v) in pairs {
        out.push_str(&format!("{}: {}\n", key(&k), v.flow()));
    }
    if !properties.is_empty() {
        out.push_str("properties:\n");
        for (k, v) in properties {
            out.push_str(&format!("  {}: {}\n", key(&k), v.flow()));
        }
    }
    out.push_str("---\n");
    out
}

fn opt(s: Option<&str>) -> Yaml {
    s.map(Yaml::str).unwrap_or(Yaml::Null)
}

/// A page's front matter.
pub fn page(conn: &Connection, snap: &Snapshot, page: &PageMeta) -> Result<String, ExportError> {
    let mut pairs = vec![
        ("id".to_string(), Yaml::str(&page.id)),
        ("url".to_string(), opt(page.url.as_deref())),
        ("title".to_string(), Yaml::str(&page.title)),
        ("created_time".to_string(), Yaml::str(&page.created_time)),
        (
            "last_edited_time".to_string(),
            Yaml::str(&page.last_edited_time),
        ),
    ];
    if page.in_trash {
        pairs.push(("in_trash".to_string(), Yaml::Bool(true)));
    }
    let properties = row_properties(conn, snap, page)?
        .into_iter()
        .map(|p| {
            let y = property_yaml(&p.value, snap);
            (p.column, y)
        })
        .collect();
    Ok(block(pairs, properties))
}

/// A database index's front matter (its data sources listed with ids).
pub fn database(db: &DatabaseMeta, snap: &Snapshot) -> String {
    let raw = |k: &str| db.raw.get(k).and_then(Value::as_str);
    let sources = snap
        .sources_of(&db.id)
        .into_iter()
        .map(|s| {
            Yaml::Map(vec![
                ("id".into(), Yaml::str(&s.id)),
                ("title".into(), Yaml::str(&s.title)),
            ])
        })
        .collect();
    let mut pairs = vec![
        ("id".to_string(), Yaml::str(&db.id)),
        ("url".to_string(), opt(raw("url"))),
        ("title".to_string(), Yaml::str(&db.title)),
        ("created_time".to_string(), opt(raw("created_time"))),
        ("last_edited_time".to_string(), opt(raw("last_edited_time"))),
        ("data_sources".to_string(), Yaml::List(sources)),
    ];
    if db.in_trash {
        pairs.push(("in_trash".to_string(), Yaml::Bool(true)));
    }
    block(pairs, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_keys_are_safe_yaml() {
        assert_eq!(quote("a \"b\"\n\u{7f}"), "\"a \\\"b\\\"\\n\\x7f\"");
        assert_eq!(key("Status"), "Status");
        assert_eq!(key("Created by"), "Created by");
        assert_eq!(key("yes"), "\"yes\"");
        assert_eq!(key("Owner's \"Team\""), "\"Owner's \\\"Team\\\"\"");
        assert_eq!(key("Priorité ✓"), "\"Priorité ✓\"");
        assert_eq!(key("a: b"), "\"a: b\"");
    }

    #[test]
    fn values_follow_the_typed_view() {
        let snap = Snapshot::default();
        let v = |kind: &str, inner: Value| value_yaml(kind, &inner, &snap).flow();
        assert_eq!(v("checkbox", serde_json::json!(true)), "true");
        assert_eq!(v("select", serde_json::json!({"name": "Done"})), "\"Done\"");
        assert_eq!(
            v(
                "multi_select",
                serde_json::json!([{"name": "a"}, {"name": "b"}])
            ),
            "[\"a\", \"b\"]"
        );
        assert_eq!(
            v("relation", serde_json::json!([{"id": "x"}])),
            "[{id: \"x\", title: null}]"
        );
        assert_eq!(
            v("people", serde_json::json!([{"id": "u", "name": "Ann"}])),
            "[\"Ann\"]"
        );
        assert_eq!(
            v(
                "formula",
                serde_json::json!({"type": "boolean", "boolean": false})
            ),
            "false"
        );
        assert_eq!(
            v("unique_id", serde_json::json!({"prefix": "T", "number": 3})),
            "\"T-3\""
        );
        assert_eq!(
            v(
                "date",
                serde_json::json!({"start": "2026-01-01", "end": null})
            ),
            "\"2026-01-01\""
        );
    }
}
