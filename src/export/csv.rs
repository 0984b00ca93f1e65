//! One CSV per data source: the rows of its typed view (`id`, `url`, `created_time`,
//! `last_edited_time`, then one column per property, named and valued exactly as the view
//! `notion-mirror` maintains in the mirror), live rows only, oldest first.
//!
//! Invariant: the query is the typed view's own `SELECT` (`mirror::views::view_select`),
//! so the CSV can never disagree with `select * from <view>`; fields are quoted per
//! RFC 4180 (UTF-8, LF line ends).

use rusqlite::types::ValueRef;
use rusqlite::Connection;

use super::load::SourceMeta;
use super::ExportError;
use crate::mirror::views::{view_select, SourceSchema};

/// The CSV text of a data source.
pub fn data_source(conn: &Connection, source: &SourceMeta) -> Result<String, ExportError> {
    let schema = SourceSchema::from_raw(&source.id, &source.title, &source.raw);
    let sql = format!(
        "SELECT * FROM ({}) WHERE in_trash = 0 ORDER BY created_time, id",
        view_select(&schema)
    );
    let e = |source| ExportError::Sqlite {
        context: "read a data source's typed view",
        source,
    };
    let mut stmt = conn.prepare(&sql).map_err(e)?;
    let names: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
    let keep: Vec<usize> = (0..names.len())
        .filter(|i| names[*i] != "in_trash")
        .collect();
    let mut out = String::new();
    line(&mut out, keep.iter().map(|i| names[*i].clone()));
    let mut rows = stmt.query([]).map_err(e)?;
    while let Some(row) = rows.next().map_err(e)? {
        let mut fields = Vec::with_capacity(keep.len());
        for i in &keep {
            fields.push(field(row.get_ref(*i).map_err(e)?));
        }
        line(&mut out, fields.into_iter());
    }
    Ok(out)
}

fn field(v: ValueRef<'_>) -> String {
    match v {
        ValueRef::Null => String::new(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) => f.to_string(),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
        ValueRef::Blob(b) => hex::encode(b),
    }
}

fn line(out: &mut String, fields: impl Iterator<Item = String>) {
    let quoted: Vec<String> = fields.map(|f| quote(&f)).collect();
    out.push_str(&quoted.join(","));
    out.push('\n');
}

/// A field, quoted when it holds a comma, quote, CR or LF (quotes doubled).
pub fn quote(f: &str) -> String {
    if f.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_only_when_needed() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote("a, b"), "\"a, b\"");
        assert_eq!(quote("say \"hi\"\nbye"), "\"say \"\"hi\"\"\nbye\"");
    }
}
