//! The human rendering of a change, for a terminal:
//! `#42 14:02:07 page "Roadmap" updated · Status: In progress → Done · by Ada (webhook)`.
//!
//! Invariant: one line per change, whatever the values hold (newlines and control
//! characters are escaped, long values shortened); names come from the mirror when it has
//! them, ids otherwise.

use rusqlite::{Connection, OptionalExtension};
use serde_json::Value;

use super::ChangeRow;

/// Characters of one value shown before it is cut.
const VALUE_WIDTH: usize = 60;

/// A value as short, printable text.
fn short(value: Option<&Value>) -> String {
    let text = match value {
        None | Some(Value::Null) => "∅".to_string(),
        Some(Value::String(s)) if s.is_empty() => "\"\"".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    };
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.chars().count() > VALUE_WIDTH {
        let cut: String = clean.chars().take(VALUE_WIDTH - 1).collect();
        format!("{cut}…")
    } else {
        clean
    }
}

/// What the mirror calls the object (a title or name), when it knows.
fn label(conn: &Connection, row: &ChangeRow) -> Option<String> {
    let (sql, key) = match row.object.as_str() {
        "page" => ("SELECT title FROM pages WHERE id = ?1", &row.id),
        "database" => ("SELECT title FROM databases WHERE id = ?1", &row.id),
        "data_source" => ("SELECT title FROM data_sources WHERE id = ?1", &row.id),
        "user" => ("SELECT name FROM users WHERE id = ?1", &row.id),
        "view" => ("SELECT name FROM views WHERE id = ?1", &row.id),
        _ => (
            "SELECT title FROM pages WHERE id = ?1",
            row.page_id.as_ref()?,
        ),
    };
    conn.prepare_cached(sql)
        .ok()?
        .query_row([key], |r| r.get::<_, Option<String>>(0))
        .optional()
        .ok()
        .flatten()
        .flatten()
        .filter(|t| !t.is_empty())
}

fn user_name(conn: &Connection, id: &str) -> Option<String> {
    conn.prepare_cached("SELECT name FROM users WHERE id = ?1")
        .ok()?
        .query_row([id], |r| r.get::<_, Option<String>>(0))
        .optional()
        .ok()
        .flatten()
        .flatten()
}

/// One line for `row`.
pub fn line(conn: &Connection, row: &ChangeRow) -> String {
    let time = row.at.get(11..19).unwrap_or(&row.at);
    let mut out = format!("#{} {time} {}", row.seq, row.object);
    match label(conn, row) {
        Some(title) if row.object == "block" || row.object == "comment" => {
            out.push_str(&format!(
                " {} in \"{}\"",
                short_id(&row.id),
                short(Some(&Value::String(title)))
            ));
        }
        Some(title) => out.push_str(&format!(" \"{}\"", short(Some(&Value::String(title))))),
        None => out.push_str(&format!(" {}", short_id(&row.id))),
    }
    out.push(' ');
    out.push_str(&row.kind);
    let fields: Vec<&str> = row
        .fields
        .as_array()
        .map(|f| f.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for field in fields {
        let (b, a) = (row.before.get(field), row.after.get(field));
        let text = match row.kind.as_str() {
            "created" => format!("{field}: {}", short(a)),
            "removed" => format!("{field}: {}", short(b)),
            _ => format!("{field}: {} → {}", short(b), short(a)),
        };
        out.push_str(" · ");
        out.push_str(&text);
    }
    if let Some(by) = &row.edited_by {
        let name = user_name(conn, by).unwrap_or_else(|| short_id(by));
        out.push_str(&format!(" · by {}", short(Some(&Value::String(name)))));
    }
    if let Some(cause) = &row.cause {
        out.push_str(&format!(" ({cause})"));
    }
    out
}

fn short_id(id: &str) -> String {
    id.chars().take(8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_property_change_reads_as_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let c = crate::mirror::open::open_read_write(&dir.path().join("m.db")).unwrap();
        let row = ChangeRow {
            seq: 42,
            at: "2026-06-24T14:02:07.000Z".into(),
            object: "page".into(),
            id: "00000000-0000-4000-8000-000000000001".into(),
            page_id: None,
            kind: "updated".into(),
            fields: json!(["Status"]),
            before: json!({"Status": "In progress"}),
            after: json!({"Status": "Done\nnow"}),
            edited_time: None,
            edited_by: None,
            cause: Some("webhook".into()),
        };
        assert_eq!(
            line(&c, &row),
            "#42 14:02:07 page 00000000 updated · Status: In progress → Done now (webhook)"
        );
    }
}
