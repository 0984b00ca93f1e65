//! Page properties rendered for SQL: one `property_values` row per property, and the scalar
//! each typed view column shows (docs/reference/schema.md#rendering-rules).
//!
//! Pure functions. Invariant: every property type renders, unknown ones as their raw inner
//! JSON with empty text and a NULL scalar; nothing here fails on unexpected shapes.

use rusqlite::types::{ToSqlOutput, Value as SqlValue};
use rusqlite::ToSql;
use serde_json::Value;

use super::text::rich_text;

/// A typed view column value: SQLite keeps each value's own type.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl ToSql for Scalar {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Owned(match self {
            Scalar::Null => SqlValue::Null,
            Scalar::Int(i) => SqlValue::Integer(*i),
            Scalar::Real(f) => SqlValue::Real(*f),
            Scalar::Text(s) => SqlValue::Text(s.clone()),
        }))
    }
}

/// One `property_values` row.
#[derive(Debug, Clone, PartialEq)]
pub struct PropertyRow {
    pub property_id: String,
    pub name: String,
    pub kind: String,
    /// The inner value as JSON text; `None` when the API sent `null`.
    pub value: Option<String>,
    pub text: String,
    pub number: Option<f64>,
    pub date_start: Option<String>,
    pub date_end: Option<String>,
    pub scalar: Scalar,
}

/// The rows for every property of a page object.
pub fn rows(page: &Value) -> Vec<PropertyRow> {
    let Some(props) = page.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    props
        .iter()
        .map(|(name, prop)| {
            let kind = prop.get("type").and_then(Value::as_str).unwrap_or("");
            let inner = prop.get(kind).cloned().unwrap_or(Value::Null);
            let rendered = render(kind, &inner);
            PropertyRow {
                property_id: prop
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or(name)
                    .to_string(),
                name: name.clone(),
                kind: kind.to_string(),
                value: (!inner.is_null()).then(|| inner.to_string()),
                text: rendered.text,
                number: rendered.number,
                date_start: rendered.date_start,
                date_end: rendered.date_end,
                scalar: rendered.scalar,
            }
        })
        .collect()
}

/// What one value renders to (shared by properties, formula results and rollup items).
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub text: String,
    pub number: Option<f64>,
    pub date_start: Option<String>,
    pub date_end: Option<String>,
    pub scalar: Scalar,
}

impl Rendered {
    fn text(text: String) -> Self {
        let scalar = Scalar::Text(text.clone());
        Rendered {
            text,
            number: None,
            date_start: None,
            date_end: None,
            scalar,
        }
    }
    fn null() -> Self {
        Rendered {
            text: String::new(),
            number: None,
            date_start: None,
            date_end: None,
            scalar: Scalar::Null,
        }
    }
    fn json_array(items: Vec<Value>, text: String) -> Self {
        Rendered {
            scalar: Scalar::Text(Value::Array(items).to_string()),
            ..Rendered::text(text)
        }
    }
}

/// Renders the inner value of a property (or formula result / rollup item) of type `kind`.
pub fn render(kind: &str, inner: &Value) -> Rendered {
    if inner.is_null() {
        return Rendered::null();
    }
    match kind {
        "title" | "rich_text" => Rendered::text(rich_text(inner)),
        "number" => number(inner),
        "select" | "status" => match inner.get("name").and_then(Value::as_str) {
            Some(name) => Rendered::text(name.to_string()),
            None => Rendered::null(),
        },
        "multi_select" => {
            let names = string_field_of_items(inner, "name");
            Rendered::json_array(
                names.iter().map(|n| Value::from(n.as_str())).collect(),
                names.join(", "),
            )
        }
        "date" => date(inner),
        "people" => {
            let ids = string_field_of_items(inner, "id");
            let names: Vec<String> = items(inner)
                .iter()
                .map(|u| {
                    u.get("name")
                        .and_then(Value::as_str)
                        .or_else(|| u.get("id").and_then(Value::as_str))
                        .unwrap_or("")
                        .to_string()
                })
                .collect();
            Rendered::json_array(
                ids.iter().map(|n| Value::from(n.as_str())).collect(),
                names.join(", "),
            )
        }
        "relation" => {
            let ids = string_field_of_items(inner, "id");
            Rendered::json_array(
                ids.iter().map(|n| Value::from(n.as_str())).collect(),
                ids.join(", "),
            )
        }
        "files" => {
            let names = string_field_of_items(inner, "name");
            Rendered::json_array(
                names.iter().map(|n| Value::from(n.as_str())).collect(),
                names.join(", "),
            )
        }
        "checkbox" => {
            let checked = inner.as_bool().unwrap_or(false);
            Rendered {
                scalar: Scalar::Int(i64::from(checked)),
                ..Rendered::text(checked.to_string())
            }
        }
        "url" | "email" | "phone_number" => match inner.as_str() {
            Some(s) => Rendered::text(s.to_string()),
            None => Rendered::null(),
        },
        "created_time" | "last_edited_time" => match inner.as_str() {
            Some(s) => Rendered {
                date_start: Some(s.to_string()),
                ..Rendered::text(s.to_string())
            },
            None => Rendered::null(),
        },
        "created_by" | "last_edited_by" => {
            let id = inner.get("id").and_then(Value::as_str).unwrap_or("");
            let name = inner.get("name").and_then(Value::as_str).unwrap_or(id);
            Rendered {
                scalar: Scalar::Text(id.to_string()),
                ..Rendered::text(name.to_string())
            }
        }
        "formula" => typed_union(inner),
        "rollup" => rollup(inner),
        "unique_id" => unique_id(inner),
        "verification" => match inner.get("state").and_then(Value::as_str) {
            Some(state) => Rendered::text(state.to_string()),
            None => Rendered::null(),
        },
        "place" => {
            let label = ["name", "address"]
                .iter()
                .find_map(|k| inner.get(*k).and_then(Value::as_str))
                .unwrap_or("");
            Rendered {
                scalar: Scalar::Text(inner.to_string()),
                ..Rendered::text(label.to_string())
            }
        }
        // `button` and types this version does not know: stored raw in `value`.
        _ => Rendered::null(),
    }
}

/// Formula results and rollups are `{type, <type>: value}` unions.
fn typed_union(inner: &Value) -> Rendered {
    let kind = inner.get("type").and_then(Value::as_str).unwrap_or("");
    let value = inner.get(kind).cloned().unwrap_or(Value::Null);
    match kind {
        "string" => match value.as_str() {
            Some(s) => Rendered::text(s.to_string()),
            None => Rendered::null(),
        },
        "boolean" => render("checkbox", &value),
        "number" | "date" => render(kind, &value),
        _ => render(kind, &value),
    }
}

fn rollup(inner: &Value) -> Rendered {
    match inner.get("type").and_then(Value::as_str) {
        Some("array") => {
            let rendered: Vec<Rendered> = items(inner.get("array").unwrap_or(&Value::Null))
                .iter()
                .map(typed_union)
                .collect();
            let values = rendered
                .iter()
                .map(|r| match &r.scalar {
                    Scalar::Null => Value::Null,
                    Scalar::Int(i) => Value::from(*i),
                    Scalar::Real(f) => Value::from(*f),
                    Scalar::Text(s) => Value::from(s.as_str()),
                })
                .collect();
            let text = rendered
                .iter()
                .map(|r| r.text.as_str())
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
                .join(", ");
            Rendered::json_array(values, text)
        }
        Some("number") | Some("date") => typed_union(inner),
        _ => Rendered::null(),
    }
}

fn number(inner: &Value) -> Rendered {
    let Some(n) = inner.as_f64() else {
        return Rendered::null();
    };
    let (scalar, text) = match inner.as_i64() {
        Some(i) => (Scalar::Int(i), i.to_string()),
        None => (Scalar::Real(n), n.to_string()),
    };
    Rendered {
        text,
        number: Some(n),
        date_start: None,
        date_end: None,
        scalar,
    }
}

fn date(inner: &Value) -> Rendered {
    let start = inner
        .get("start")
        .and_then(Value::as_str)
        .map(str::to_string);
    let end = inner.get("end").and_then(Value::as_str).map(str::to_string);
    let text = match (&start, &end) {
        (Some(s), Some(e)) => format!("{s} → {e}"),
        (Some(s), None) => s.clone(),
        _ => String::new(),
    };
    Rendered {
        scalar: start.clone().map(Scalar::Text).unwrap_or(Scalar::Null),
        text,
        number: None,
        date_start: start,
        date_end: end,
    }
}

fn unique_id(inner: &Value) -> Rendered {
    let Some(n) = inner.get("number").and_then(Value::as_i64) else {
        return Rendered::null();
    };
    match inner.get("prefix").and_then(Value::as_str) {
        Some(prefix) if !prefix.is_empty() => Rendered {
            number: Some(n as f64),
            ..Rendered::text(format!("{prefix}-{n}"))
        },
        _ => Rendered {
            number: Some(n as f64),
            scalar: Scalar::Int(n),
            ..Rendered::text(n.to_string())
        },
    }
}

fn items(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn string_field_of_items(value: &Value, field: &str) -> Vec<String> {
    items(value)
        .iter()
        .filter_map(|item| item.get(field).and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(kind: &str, inner: Value) -> Rendered {
        render(kind, &inner)
    }

    #[test]
    fn scalars_follow_the_view_contract() {
        assert_eq!(one("number", json!(12)).scalar, Scalar::Int(12));
        assert_eq!(one("number", json!(1.5)).scalar, Scalar::Real(1.5));
        assert_eq!(
            one(
                "select",
                json!({"id": "x", "name": "Done", "color": "green"})
            )
            .scalar,
            Scalar::Text("Done".into())
        );
        assert_eq!(one("checkbox", json!(true)).scalar, Scalar::Int(1));
        assert_eq!(
            one("multi_select", json!([{"name": "a"}, {"name": "b"}])).scalar,
            Scalar::Text("[\"a\",\"b\"]".into())
        );
        assert_eq!(
            one("relation", json!([{"id": "r1"}, {"id": "r2"}])).scalar,
            Scalar::Text("[\"r1\",\"r2\"]".into())
        );
        assert_eq!(
            one(
                "people",
                json!([{"object": "user", "id": "u1", "name": "Ann"}])
            )
            .scalar,
            Scalar::Text("[\"u1\"]".into())
        );
        assert_eq!(
            one(
                "files",
                json!([{"name": "a.png", "type": "external", "external": {"url": "u"}}])
            )
            .scalar,
            Scalar::Text("[\"a.png\"]".into())
        );
        let d = one(
            "date",
            json!({"start": "2024-01-01", "end": "2024-01-03", "time_zone": null}),
        );
        assert_eq!(d.scalar, Scalar::Text("2024-01-01".into()));
        assert_eq!(d.date_end.as_deref(), Some("2024-01-03"));
        assert_eq!(one("select", json!(null)).scalar, Scalar::Null);
    }

    #[test]
    fn formulas_and_rollups_render_their_value() {
        assert_eq!(
            one("formula", json!({"type": "boolean", "boolean": false})).scalar,
            Scalar::Int(0)
        );
        assert_eq!(
            one("formula", json!({"type": "string", "string": "x"})).scalar,
            Scalar::Text("x".into())
        );
        assert_eq!(
            one("formula", json!({"type": "number", "number": 6})).number,
            Some(6.0)
        );
        assert_eq!(
            one(
                "rollup",
                json!({"type": "number", "number": 72, "function": "max"})
            )
            .scalar,
            Scalar::Int(72)
        );
        let arr = one(
            "rollup",
            json!({"type": "array", "function": "show_original", "array": [
                {"type": "title", "title": [{"plain_text": "Item 1"}]},
                {"type": "number", "number": 2}
            ]}),
        );
        assert_eq!(arr.scalar, Scalar::Text("[\"Item 1\",2]".into()));
        assert_eq!(arr.text, "Item 1, 2");
    }

    #[test]
    fn unique_id_and_unknown_types() {
        assert_eq!(
            one("unique_id", json!({"prefix": "TASK", "number": 7})).scalar,
            Scalar::Text("TASK-7".into())
        );
        assert_eq!(
            one("unique_id", json!({"prefix": null, "number": 7})).scalar,
            Scalar::Int(7)
        );
        assert_eq!(one("button", json!({})).scalar, Scalar::Null);
        assert_eq!(one("something_new", json!({"a": 1})).scalar, Scalar::Null);
    }

    #[test]
    fn rows_keep_ids_names_and_null_values() {
        let page = json!({"properties": {
            "Name": {"id": "title", "type": "title", "title": [{"plain_text": "A"}]},
            "Due": {"id": "d%3A", "type": "date", "date": null}
        }});
        let rows = rows(&page);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].property_id, "title");
        assert_eq!(rows[1].property_id, "d%3A");
        assert_eq!(rows[1].value, None);
    }
}
