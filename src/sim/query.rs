//! Data-source query filters and sorts: timestamp filters (`created_time` /
//! `last_edited_time`), `and`/`or` compounds two levels deep, timestamp and title/number sorts.
//!
//! Invariant: filters compare against the minute-rounded timestamps the API shows [S18];
//! anything unsupported is a 400 `validation_error`, never a silent match-all.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use super::error::ApiError;
use super::model::{DataSource, Page, PropKind, Val, Workspace};
use super::pagination::{KeyPart, SortKey};
use super::util::round_minute;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TsField {
    Created,
    Edited,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Equals,
    Before,
    After,
    OnOrBefore,
    OnOrAfter,
}

#[derive(Debug, Clone)]
pub(crate) enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Ts {
        field: TsField,
        op: Op,
        /// The instant, and whether the value was date-only (then compare by UTC date).
        at: DateTime<Utc>,
        date_only: bool,
    },
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::validation(msg)
}

/// Parses `filter`; `depth` counts compound levels (Notion allows two) [S12].
pub(crate) fn parse_filter(v: &Value, depth: usize) -> Result<Filter, ApiError> {
    let obj = v
        .as_object()
        .ok_or_else(|| bad("body failed validation: body.filter should be an object."))?;
    for (key, is_and) in [("and", true), ("or", false)] {
        if let Some(list) = obj.get(key) {
            if depth >= 2 {
                return Err(bad(
                    "body failed validation: filters can be nested at most two levels deep.",
                ));
            }
            let items = list.as_array().ok_or_else(|| {
                bad(format!(
                    "body failed validation: body.filter.{key} should be an array."
                ))
            })?;
            let parsed = items
                .iter()
                .map(|f| parse_filter(f, depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(if is_and {
                Filter::And(parsed)
            } else {
                Filter::Or(parsed)
            });
        }
    }
    if obj.contains_key("property") {
        return Err(bad(
            "The simulator supports only timestamp filters (created_time, last_edited_time) and and/or compounds.",
        ));
    }
    let field = match obj.get("timestamp").and_then(Value::as_str) {
        Some("created_time") => TsField::Created,
        Some("last_edited_time") => TsField::Edited,
        _ => return Err(bad("body failed validation: body.filter.timestamp should be `created_time` or `last_edited_time`.")),
    };
    let key = if field == TsField::Created {
        "created_time"
    } else {
        "last_edited_time"
    };
    let cond = obj.get(key).and_then(Value::as_object).ok_or_else(|| {
        bad(format!(
            "body failed validation: body.filter.{key} should be defined."
        ))
    })?;
    let (op_name, value) = cond.iter().next().ok_or_else(|| {
        bad(format!(
            "body failed validation: body.filter.{key} should have a condition."
        ))
    })?;
    let op = match op_name.as_str() {
        "equals" => Op::Equals,
        "before" => Op::Before,
        "after" => Op::After,
        "on_or_before" => Op::OnOrBefore,
        "on_or_after" => Op::OnOrAfter,
        other => {
            return Err(bad(format!(
                "The simulator does not support the `{other}` date condition."
            )))
        }
    };
    let s = value.as_str().ok_or_else(|| {
        bad(format!(
            "body failed validation: body.filter.{key}.{op_name} should be a string."
        ))
    })?;
    let (at, date_only) = parse_instant(s).ok_or_else(|| {
        bad(format!("body failed validation: body.filter.{key}.{op_name} should be a valid ISO 8601 date string, instead was `\"{s}\"`."))
    })?;
    Ok(Filter::Ts {
        field,
        op,
        at,
        date_only,
    })
}

/// An ISO 8601 date or datetime; date-only values mean midnight UTC.
pub(crate) fn parse_instant(s: &str) -> Option<(DateTime<Utc>, bool)> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|t| (t.and_utc(), true));
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| (t.with_timezone(&Utc), false))
}

pub(crate) fn matches(f: &Filter, page: &Page) -> bool {
    match f {
        Filter::And(v) => v.iter().all(|f| matches(f, page)),
        Filter::Or(v) => v.iter().any(|f| matches(f, page)),
        Filter::Ts {
            field,
            op,
            at,
            date_only,
        } => {
            let ts = round_minute(match field {
                TsField::Created => page.created_time,
                TsField::Edited => page.last_edited_time,
            });
            let ord = if *date_only {
                ts.date_naive().cmp(&at.date_naive())
            } else {
                ts.cmp(at)
            };
            match op {
                Op::Equals => ord.is_eq(),
                Op::Before => ord.is_lt(),
                Op::After => ord.is_gt(),
                Op::OnOrBefore => ord.is_le(),
                Op::OnOrAfter => ord.is_ge(),
            }
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Sort {
    Created(bool),
    Edited(bool),
    Title(bool),
    Number(String, bool),
}

/// Parses `sorts`: timestamp sorts, and property sorts on the title or a number property.
pub(crate) fn parse_sorts(v: Option<&Value>, ds: &DataSource) -> Result<Vec<Sort>, ApiError> {
    let Some(v) = v else { return Ok(Vec::new()) };
    if v.is_null() {
        return Ok(Vec::new());
    }
    let arr = v
        .as_array()
        .ok_or_else(|| bad("body failed validation: body.sorts should be an array."))?;
    arr.iter()
        .map(|s| {
            let desc = match s.get("direction").and_then(Value::as_str) {
                Some("ascending") | None => false,
                Some("descending") => true,
                Some(d) => return Err(bad(format!("body failed validation: sort direction `{d}` is invalid."))),
            };
            if let Some(ts) = s.get("timestamp").and_then(Value::as_str) {
                return match ts {
                    "created_time" => Ok(Sort::Created(desc)),
                    "last_edited_time" => Ok(Sort::Edited(desc)),
                    _ => Err(bad("body failed validation: sort timestamp should be `created_time` or `last_edited_time`.")),
                };
            }
            let name = s
                .get("property")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("body failed validation: each sort needs `property` or `timestamp`."))?;
            let prop = ds
                .properties
                .iter()
                .find(|p| p.name == name || super::util::encode_uri_component(&p.id) == name)
                .ok_or_else(|| bad(format!("Could not find sort property with name or id: {name}")))?;
            match prop.kind {
                PropKind::Title => Ok(Sort::Title(desc)),
                PropKind::Number { .. } => Ok(Sort::Number(prop.id.clone(), desc)),
                _ => Err(bad("The simulator sorts by timestamps, the title or number properties only.")),
            }
        })
        .collect()
}

/// The list key of a row under `sorts` (creation order breaks ties and is the default).
pub(crate) fn sort_key(_ws: &Workspace, page: &Page, sorts: &[Sort]) -> SortKey {
    let mut parts = Vec::new();
    for s in sorts {
        match s {
            Sort::Created(d) => parts.push((
                KeyPart::I(round_minute(page.created_time).timestamp_millis()),
                *d,
            )),
            Sort::Edited(d) => parts.push((
                KeyPart::I(round_minute(page.last_edited_time).timestamp_millis()),
                *d,
            )),
            Sort::Title(d) => parts.push((
                KeyPart::S(super::richtext::plain_text(&page.title).to_lowercase()),
                *d,
            )),
            Sort::Number(id, d) => {
                let n = match page.props.get(id) {
                    Some(Val::Number(Some(n))) => Some(*n),
                    _ => None,
                };
                // Empty values sort last in both directions.
                parts.push((KeyPart::I(i64::from(n.is_none())), false));
                parts.push((KeyPart::I((n.unwrap_or(0.0) * 1000.0) as i64), *d));
            }
        }
    }
    parts.push((KeyPart::I(page.seq as i64), false));
    SortKey(parts)
}
