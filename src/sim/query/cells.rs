//! A row's values as filters see them, and whether a filter matches a row.
//!
//! Invariant: values are read from the JSON the API renders for the row with complete
//! (uncapped) formulas and rollups; empty values (null, `""`, `[]`) only match
//! `is_empty`, the negative operators (`does_not_equal`, `does_not_contain`) and never a
//! comparison.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Cond, DateOp, Filter, NumOp, Target, TextOp};
use crate::sim::model::{DataSource, Page, PropKind, PropSchema, Workspace};
use crate::sim::properties::{value_json, Mode};
use crate::sim::richtext::plain_text;
use crate::sim::util::round_minute;

/// One value, typed for comparison.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Text(String),
    Number(Option<f64>),
    Bool(bool),
    Option(Option<String>),
    List(Vec<String>),
    /// The instant and whether the value was date-only.
    Date(Option<(DateTime<Utc>, bool)>),
    Count(usize),
}

/// True when `page` (a row of `ds`) passes `f` at `now` (relative dates resolve against it).
pub(crate) fn matches(
    f: &Filter,
    ws: &Workspace,
    ds: &DataSource,
    page: &Page,
    now: DateTime<Utc>,
) -> bool {
    match f {
        Filter::And(v) => v.iter().all(|f| matches(f, ws, ds, page, now)),
        Filter::Or(v) => v.iter().any(|f| matches(f, ws, ds, page, now)),
        Filter::Cond { target, cond } => {
            let cell = match target {
                Target::Created => Cell::Date(Some((round_minute(page.created_time), false))),
                Target::Edited => Cell::Date(Some((round_minute(page.last_edited_time), false))),
                Target::Prop(id) => match ds.properties.iter().find(|p| &p.id == id) {
                    Some(prop) => cell(ws, ds, page, prop),
                    None => return false,
                },
            };
            test(cond, &cell, now)
        }
    }
}

/// The value of `prop` on `page`.
pub(crate) fn cell(ws: &Workspace, ds: &DataSource, page: &Page, prop: &PropSchema) -> Cell {
    let v = value_json(ws, page, ds, prop, Mode::Full);
    of_json(&prop.kind, &v)
}

fn of_json(kind: &PropKind, v: &Value) -> Cell {
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    let ids = |v: &Value, key: &str| {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.get(key).and_then(Value::as_str))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    match kind {
        PropKind::Title | PropKind::RichText => {
            Cell::Text(plain_text(v.as_array().map_or(&[][..], Vec::as_slice)))
        }
        PropKind::Url | PropKind::Email | PropKind::PhoneNumber => Cell::Text(text(v)),
        PropKind::Number { .. } => Cell::Number(v.as_f64()),
        PropKind::UniqueId { .. } => Cell::Number(v.get("number").and_then(Value::as_f64)),
        PropKind::Checkbox => Cell::Bool(v.as_bool().unwrap_or(false)),
        PropKind::Select { .. } | PropKind::Status { .. } => {
            Cell::Option(v.get("name").and_then(Value::as_str).map(str::to_string))
        }
        PropKind::MultiSelect { .. } => Cell::List(ids(v, "name")),
        PropKind::People | PropKind::Relation { .. } => Cell::List(ids(v, "id")),
        PropKind::CreatedBy | PropKind::LastEditedBy => Cell::List(
            v.get("id")
                .and_then(Value::as_str)
                .map(|s| vec![s.to_string()])
                .unwrap_or_default(),
        ),
        PropKind::Date => Cell::Date(date_start(v)),
        PropKind::CreatedTime | PropKind::LastEditedTime => {
            Cell::Date(v.as_str().and_then(super::parse_instant))
        }
        PropKind::Files => Cell::Count(v.as_array().map_or(0, Vec::len)),
        PropKind::Formula(_) | PropKind::Rollup { .. } => typed_result(v),
        PropKind::Verification | PropKind::Button | PropKind::Future => Cell::Count(0),
    }
}

fn date_start(v: &Value) -> Option<(DateTime<Utc>, bool)> {
    v.get("start")
        .and_then(Value::as_str)
        .and_then(super::parse_instant)
}

/// A formula or rollup result `{type, <type>: value}` as a cell.
fn typed_result(v: &Value) -> Cell {
    let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
    let inner = v.get(kind).unwrap_or(&Value::Null);
    match kind {
        "string" => Cell::Text(inner.as_str().unwrap_or("").to_string()),
        "number" => Cell::Number(inner.as_f64()),
        "boolean" => Cell::Bool(inner.as_bool().unwrap_or(false)),
        "date" => Cell::Date(date_start(inner)),
        _ => Cell::Count(0),
    }
}

fn is_empty(cell: &Cell) -> bool {
    match cell {
        Cell::Text(s) => s.is_empty(),
        Cell::Number(n) => n.is_none(),
        Cell::Bool(_) => false,
        Cell::Option(o) => o.is_none(),
        Cell::List(l) => l.is_empty(),
        Cell::Date(d) => d.is_none(),
        Cell::Count(n) => *n == 0,
    }
}

fn test(cond: &Cond, cell: &Cell, now: DateTime<Utc>) -> bool {
    match (cond, cell) {
        (Cond::Empty(want), c) => is_empty(c) == *want,
        (Cond::Text(op, needle), Cell::Text(s)) => text(*op, s, needle),
        (Cond::Number(op, n), Cell::Number(v)) => number(*op, *v, *n),
        (Cond::Checkbox(eq, b), Cell::Bool(v)) => (v == b) == *eq,
        (Cond::Option(eq, name), Cell::Option(v)) => (v.as_deref() == Some(name.as_str())) == *eq,
        (Cond::Contains(contains, x), Cell::List(l)) => {
            // "me" names no user for an internal integration (changelog 2026-03-30).
            (x != "me" && l.iter().any(|i| i == x)) == *contains
        }
        (Cond::Date(op, value), Cell::Date(Some((at, _)))) => date(*op, value, *at, now),
        (Cond::Date(..), Cell::Date(None)) => false,
        (Cond::Formula(inner) | Cond::Rollup(inner), c) => test(inner, c, now),
        _ => false,
    }
}

/// ASCII case folding: what SQLite's `lower()` and `COLLATE NOCASE` do, so the mirror's SQL
/// views can match exactly (decision, see `sim/mod.rs`).
pub(crate) fn fold(s: &str) -> String {
    s.to_ascii_lowercase()
}

fn text(op: TextOp, s: &str, needle: &str) -> bool {
    let (hay, pin) = (fold(s), fold(needle));
    match op {
        TextOp::Equals => s == needle,
        TextOp::DoesNotEqual => s != needle,
        TextOp::Contains => hay.contains(&pin),
        TextOp::DoesNotContain => !hay.contains(&pin),
        TextOp::StartsWith => hay.starts_with(&pin),
        TextOp::EndsWith => hay.ends_with(&pin),
    }
}

fn number(op: NumOp, v: Option<f64>, n: f64) -> bool {
    let Some(v) = v else {
        return op == NumOp::DoesNotEqual;
    };
    match op {
        NumOp::Equals => v == n,
        NumOp::DoesNotEqual => v != n,
        NumOp::GreaterThan => v > n,
        NumOp::LessThan => v < n,
        NumOp::GreaterOrEqual => v >= n,
        NumOp::LessOrEqual => v <= n,
    }
}

fn date(op: DateOp, value: &super::DateValue, at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    let ord = match value.resolve(now) {
        Ok(day) => at.date_naive().cmp(&day),
        Err(instant) => at.cmp(&instant),
    };
    match op {
        DateOp::Equals => ord.is_eq(),
        DateOp::Before => ord.is_lt(),
        DateOp::After => ord.is_gt(),
        DateOp::OnOrBefore => ord.is_le(),
        DateOp::OnOrAfter => ord.is_ge(),
    }
}
