//! Query sorts: timestamps, and properties of the types whose order is well defined (text,
//! number, checkbox, select and status by their option order, dates, unique ids).
//!
//! Invariant: empty values sort last in both directions; ties (and unsorted queries) fall
//! back to `created_time` (minute-rounded, as shown), then the page id — an order the
//! mirror's SQL views can reproduce exactly (decision, see `sim/mod.rs`).

use serde_json::Value;

use super::cells::{cell, fold, Cell};
use super::{bad, find_property};
use crate::sim::error::ApiError;
use crate::sim::model::{DataSource, Page, PropKind, Workspace};
use crate::sim::pagination::{KeyPart, SortKey};
use crate::sim::util::round_minute;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Sort {
    Created(bool),
    Edited(bool),
    /// A property sort: raw id, descending.
    Prop(String, bool),
}

/// Parses `sorts` against the schema.
pub(crate) fn parse_sorts(v: Option<&Value>, ds: &DataSource) -> Result<Vec<Sort>, ApiError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let arr = v
        .as_array()
        .ok_or_else(|| bad("body failed validation: body.sorts should be an array."))?;
    arr.iter().map(|s| parse_one(s, ds)).collect()
}

fn parse_one(s: &Value, ds: &DataSource) -> Result<Sort, ApiError> {
    let desc = match s.get("direction").and_then(Value::as_str) {
        Some("ascending") | None => false,
        Some("descending") => true,
        Some(d) => {
            return Err(bad(format!(
                "body failed validation: sort direction `{d}` is invalid."
            )))
        }
    };
    if let Some(ts) = s.get("timestamp").and_then(Value::as_str) {
        return match ts {
            "created_time" => Ok(Sort::Created(desc)),
            "last_edited_time" => Ok(Sort::Edited(desc)),
            _ => Err(bad(
                "body failed validation: sort timestamp should be `created_time` or `last_edited_time`.",
            )),
        };
    }
    let name = s
        .get("property")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("body failed validation: each sort needs `property` or `timestamp`."))?;
    let prop = find_property(ds, name).ok_or_else(|| {
        bad(format!(
            "Could not find sort property with name or id: {name}"
        ))
    })?;
    match prop.kind {
        PropKind::CreatedTime => Ok(Sort::Created(desc)),
        PropKind::LastEditedTime => Ok(Sort::Edited(desc)),
        PropKind::Title
        | PropKind::RichText
        | PropKind::Url
        | PropKind::Email
        | PropKind::PhoneNumber
        | PropKind::Number { .. }
        | PropKind::UniqueId { .. }
        | PropKind::Checkbox
        | PropKind::Select { .. }
        | PropKind::Status { .. }
        | PropKind::Date => Ok(Sort::Prop(prop.id.clone(), desc)),
        _ => Err(bad(format!(
            "The simulator does not sort by {} properties.",
            prop.kind.type_name()
        ))),
    }
}

/// A total order on f64 as i64 (negative numbers flipped).
fn f64_key(f: f64) -> i64 {
    let bits = f.to_bits() as i64;
    if bits < 0 {
        bits ^ i64::MAX
    } else {
        bits
    }
}

/// The list key of a row under `sorts`.
pub(crate) fn sort_key(ws: &Workspace, ds: &DataSource, page: &Page, sorts: &[Sort]) -> SortKey {
    let mut parts = Vec::new();
    let created = round_minute(page.created_time).timestamp_millis();
    for s in sorts {
        match s {
            Sort::Created(d) => parts.push((KeyPart::I(created), *d)),
            Sort::Edited(d) => parts.push((
                KeyPart::I(round_minute(page.last_edited_time).timestamp_millis()),
                *d,
            )),
            Sort::Prop(id, d) => {
                let Some(prop) = ds.properties.iter().find(|p| &p.id == id) else {
                    continue;
                };
                let key = match (cell(ws, ds, page, prop), &prop.kind) {
                    (Cell::Text(s), _) if !s.is_empty() => Some(KeyPart::S(fold(&s))),
                    (Cell::Number(Some(n)), _) => Some(KeyPart::I(f64_key(n))),
                    (Cell::Bool(b), _) => Some(KeyPart::I(i64::from(b))),
                    (Cell::Option(Some(name)), kind) => kind
                        .options()
                        .iter()
                        .position(|o| o.name == name)
                        .map(|i| KeyPart::I(i as i64)),
                    (Cell::Date(Some((at, _))), _) => Some(KeyPart::I(at.timestamp_millis())),
                    _ => None,
                };
                // Empty values last in both directions.
                parts.push((KeyPart::I(i64::from(key.is_none())), false));
                parts.push((key.unwrap_or(KeyPart::I(0)), *d));
            }
        }
    }
    parts.push((KeyPart::I(created), false));
    parts.push((KeyPart::S(page.id.clone()), false));
    SortKey(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_keys_keep_the_order_of_the_numbers() {
        let mut v = vec![3.5, -1.0, 0.0, -2.5, 10.0, -0.5];
        let mut keys: Vec<(i64, f64)> = v.iter().map(|n| (f64_key(*n), *n)).collect();
        keys.sort_by_key(|k| k.0);
        v.sort_by(|a, b| a.total_cmp(b));
        assert_eq!(keys.into_iter().map(|k| k.1).collect::<Vec<_>>(), v);
    }
}
