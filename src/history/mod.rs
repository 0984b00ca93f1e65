//! Reading the change feed: rows of `changes` as JSON objects (the form `notion-mirror
//! changes` prints and outbound webhooks send), filters, and the human rendering.
//!
//! Invariant: read-only; rows come in `seq` order and a reader asking for rows after `seq`
//! never skips one (gaps in `seq` are rows rolled back, never rows to come).
//!
//! Files: `human` (the terminal rendering), `command` (`notion-mirror changes`, with
//! `--follow`).

pub mod command;
pub mod human;

use rusqlite::{params, Connection};
use serde_json::{json, Value};

use crate::mirror::changes::{Kind, Object};
use crate::mirror::StoreError;

/// One row of `changes`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRow {
    pub seq: i64,
    pub at: String,
    pub object: String,
    pub id: String,
    pub page_id: Option<String>,
    pub kind: String,
    pub fields: Value,
    pub before: Value,
    pub after: Value,
    pub edited_time: Option<String>,
    pub edited_by: Option<String>,
    pub cause: Option<String>,
}

impl ChangeRow {
    /// The JSON object of the feed (one line of `changes --json`, one element of an
    /// outbound batch).
    pub fn to_json(&self) -> Value {
        json!({
            "seq": self.seq,
            "at": self.at,
            "object": self.object,
            "id": self.id,
            "page_id": self.page_id,
            "kind": self.kind,
            "fields": self.fields,
            "before": self.before,
            "after": self.after,
            "edited_time": self.edited_time,
            "edited_by": self.edited_by,
            "cause": self.cause,
        })
    }
}

/// Which rows a reader wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only these objects (`None`: all).
    pub objects: Option<Vec<Object>>,
    /// Only these kinds (`None`: all).
    pub kinds: Option<Vec<Kind>>,
    /// Only changes of this object, or of what belongs to this page.
    pub id: Option<String>,
}

impl Filter {
    pub fn matches(&self, row: &ChangeRow) -> bool {
        let object_ok = self
            .objects
            .as_ref()
            .is_none_or(|os| os.iter().any(|o| o.as_str() == row.object));
        let kind_ok = self
            .kinds
            .as_ref()
            .is_none_or(|ks| ks.iter().any(|k| k.as_str() == row.kind));
        let id_ok = self
            .id
            .as_ref()
            .is_none_or(|id| row.id == *id || row.page_id.as_deref() == Some(id.as_str()));
        object_ok && kind_ok && id_ok
    }
}

fn json_column(text: String) -> Value {
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

/// Up to `limit` rows with `after < seq <= upto`, in seq order (unfiltered).
pub fn rows_after(
    conn: &Connection,
    after: i64,
    upto: i64,
    limit: usize,
) -> Result<Vec<ChangeRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, at, object, id, page_id, kind, fields, before, after, edited_time,
                edited_by, cause
         FROM changes WHERE seq > ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![after, upto, limit as i64], |r| {
        Ok(ChangeRow {
            seq: r.get(0)?,
            at: r.get(1)?,
            object: r.get(2)?,
            id: r.get(3)?,
            page_id: r.get(4)?,
            kind: r.get(5)?,
            fields: json_column(r.get(6)?),
            before: json_column(r.get(7)?),
            after: json_column(r.get(8)?),
            edited_time: r.get(9)?,
            edited_by: r.get(10)?,
            cause: r.get(11)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The highest seq (0 when there is none).
pub fn last_seq(conn: &Connection) -> Result<i64, StoreError> {
    crate::mirror::write::changes::last_seq(conn)
}
