//! Data-source query filters and sorts, shared by `POST /v1/data_sources/{id}/query` and
//! view queries: timestamp filters, property filters of every simple type (text, number,
//! checkbox, select, status, multi_select, date, people, relation, files, timestamps,
//! unique_id, formula and rollup results), relative date values, `and`/`or` compounds two
//! levels deep [S12][S5 helpers.ts]; timestamp and property sorts.
//!
//! Invariant: filters compare against what the API shows (minute-rounded timestamps
//! [S18], plain text, option names); anything unsupported is a 400 `validation_error`,
//! never a silent match-all. Decisions where Notion's behaviour is unconfirmed are listed
//! in `sim/mod.rs` ("Query semantics").
//!
//! Files: this one (the filter and sort types, parsing), `cells.rs` (a row's values and
//! matching), `sort.rs` (sort keys).

mod cells;
mod dates;
mod sort;

pub(crate) use cells::matches;
pub(crate) use dates::parse_instant;

/// The relative date values filters accept (changelog 2026-03-30).
pub(crate) const RELATIVE_NAMES: &[&str] = &[
    "today",
    "tomorrow",
    "yesterday",
    "one_week_ago",
    "one_week_from_now",
    "one_month_ago",
    "one_month_from_now",
];
pub(crate) use sort::{parse_sorts, sort_key};

use serde_json::Value;

use super::error::ApiError;
use super::model::{DataSource, PropKind, PropSchema};
use dates::DateValue;

/// What a condition reads.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Target {
    /// The page's `created_time` (timestamp filter or `created_time` property).
    Created,
    /// The page's `last_edited_time`.
    Edited,
    /// A property, by raw (decoded) id.
    Prop(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextOp {
    Equals,
    DoesNotEqual,
    Contains,
    DoesNotContain,
    StartsWith,
    EndsWith,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumOp {
    Equals,
    DoesNotEqual,
    GreaterThan,
    LessThan,
    GreaterOrEqual,
    LessOrEqual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DateOp {
    Equals,
    Before,
    After,
    OnOrBefore,
    OnOrAfter,
}

/// One condition on one value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cond {
    /// `is_empty: true` (`true`) or `is_not_empty: true` (`false`).
    Empty(bool),
    Text(TextOp, String),
    Number(NumOp, f64),
    /// `equals` (`true`) or `does_not_equal` (`false`) a boolean.
    Checkbox(bool, bool),
    /// select/status `equals` (`true`) or `does_not_equal` (`false`) an option name.
    Option(bool, String),
    /// multi_select/people/relation `contains` (`true`) or `does_not_contain` (`false`).
    Contains(bool, String),
    Date(DateOp, DateValue),
    /// A formula's result, tested with the condition for its type.
    Formula(Box<Cond>),
    /// A rollup's number or date result.
    Rollup(Box<Cond>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Cond { target: Target, cond: Cond },
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::validation(msg)
}

/// Parses `filter` against the data source's schema; `depth` counts compound levels
/// (Notion allows two) [S12].
pub(crate) fn parse_filter(v: &Value, depth: usize, ds: &DataSource) -> Result<Filter, ApiError> {
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
                .map(|f| parse_filter(f, depth + 1, ds))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(if is_and {
                Filter::And(parsed)
            } else {
                Filter::Or(parsed)
            });
        }
    }
    if let Some(name) = obj.get("property") {
        let name = name.as_str().ok_or_else(|| {
            bad("body failed validation: body.filter.property should be a string.")
        })?;
        let prop = find_property(ds, name)
            .ok_or_else(|| bad(format!("Could not find property with name or id: {name}")))?;
        return property_filter(obj, prop);
    }
    let (target, key) = match obj.get("timestamp").and_then(Value::as_str) {
        Some("created_time") => (Target::Created, "created_time"),
        Some("last_edited_time") => (Target::Edited, "last_edited_time"),
        _ => return Err(bad("body failed validation: body.filter should have `property` or `timestamp` (`created_time` or `last_edited_time`), or `and`/`or`.")),
    };
    let cond = obj.get(key).ok_or_else(|| {
        bad(format!(
            "body failed validation: body.filter.{key} should be defined."
        ))
    })?;
    Ok(Filter::Cond {
        target,
        cond: date_cond(cond, key)?,
    })
}

/// A property by name, encoded id or raw id (the API accepts names and ids; 2026-03-30
/// fixed percent-encoded ids in views).
pub(crate) fn find_property<'a>(ds: &'a DataSource, key: &str) -> Option<&'a PropSchema> {
    ds.properties.iter().find(|p| p.name == key).or_else(|| {
        let decoded = super::util::percent_decode(key);
        ds.properties.iter().find(|p| {
            p.id == key || p.id == decoded || super::util::encode_uri_component(&p.id) == key
        })
    })
}

fn property_filter(
    obj: &serde_json::Map<String, Value>,
    prop: &PropSchema,
) -> Result<Filter, ApiError> {
    let ty = prop.kind.type_name();
    let cond_of = |key: &str| {
        obj.get(key).ok_or_else(|| {
            bad(format!(
                "body failed validation: a filter on property `{}` ({ty}) should have a `{key}` condition.",
                prop.name
            ))
        })
    };
    let target = match prop.kind {
        PropKind::CreatedTime => Target::Created,
        PropKind::LastEditedTime => Target::Edited,
        _ => Target::Prop(prop.id.clone()),
    };
    let cond = match &prop.kind {
        PropKind::Title
        | PropKind::RichText
        | PropKind::Url
        | PropKind::Email
        | PropKind::PhoneNumber => text_cond(cond_of(ty)?, ty)?,
        PropKind::Number { .. } | PropKind::UniqueId { .. } => number_cond(cond_of(ty)?, ty)?,
        PropKind::Checkbox => checkbox_cond(cond_of(ty)?)?,
        PropKind::Select { .. } | PropKind::Status { .. } => option_cond(cond_of(ty)?, ty)?,
        PropKind::MultiSelect { .. }
        | PropKind::People
        | PropKind::Relation { .. }
        | PropKind::CreatedBy
        | PropKind::LastEditedBy => contains_cond(cond_of(ty)?, ty)?,
        PropKind::Date | PropKind::CreatedTime | PropKind::LastEditedTime => {
            date_cond(cond_of(ty)?, ty)?
        }
        PropKind::Files => empty_cond(cond_of(ty)?, ty)?,
        PropKind::Formula(_) => Cond::Formula(Box::new(typed_result_cond(cond_of(ty)?, ty)?)),
        PropKind::Rollup { .. } => Cond::Rollup(Box::new(typed_result_cond(cond_of(ty)?, ty)?)),
        PropKind::Verification | PropKind::Button | PropKind::Future => {
            return Err(bad(format!(
                "The simulator does not filter {ty} properties."
            )))
        }
    };
    Ok(Filter::Cond { target, cond })
}

/// The single `{operator: value}` pair of a condition object.
fn op_of<'a>(v: &'a Value, what: &str) -> Result<(&'a str, &'a Value), ApiError> {
    let obj = v.as_object().filter(|o| o.len() == 1).ok_or_else(|| {
        bad(format!(
            "body failed validation: the {what} condition should have exactly one operator."
        ))
    })?;
    let (k, v) = obj.iter().next().ok_or_else(|| bad("empty condition"))?;
    Ok((k.as_str(), v))
}

fn existence(op: &str, v: &Value) -> Option<Result<Cond, ApiError>> {
    let flag = match op {
        "is_empty" => true,
        "is_not_empty" => false,
        _ => return None,
    };
    Some(if v.as_bool() == Some(true) {
        Ok(Cond::Empty(flag))
    } else {
        Err(bad(format!(
            "body failed validation: `{op}` should be `true`."
        )))
    })
}

fn unsupported(op: &str, what: &str) -> ApiError {
    bad(format!(
        "body failed validation: `{op}` is not a {what} filter condition."
    ))
}

fn text_cond(v: &Value, what: &str) -> Result<Cond, ApiError> {
    let (op, value) = op_of(v, what)?;
    if let Some(c) = existence(op, value) {
        return c;
    }
    let op = match op {
        "equals" => TextOp::Equals,
        "does_not_equal" => TextOp::DoesNotEqual,
        "contains" => TextOp::Contains,
        "does_not_contain" => TextOp::DoesNotContain,
        "starts_with" => TextOp::StartsWith,
        "ends_with" => TextOp::EndsWith,
        other => return Err(unsupported(other, what)),
    };
    let s = value.as_str().ok_or_else(|| {
        bad(format!(
            "body failed validation: the {what} value should be a string."
        ))
    })?;
    Ok(Cond::Text(op, s.to_string()))
}

fn number_cond(v: &Value, what: &str) -> Result<Cond, ApiError> {
    let (op, value) = op_of(v, what)?;
    if let Some(c) = existence(op, value) {
        return c;
    }
    let op = match op {
        "equals" => NumOp::Equals,
        "does_not_equal" => NumOp::DoesNotEqual,
        "greater_than" => NumOp::GreaterThan,
        "less_than" => NumOp::LessThan,
        "greater_than_or_equal_to" => NumOp::GreaterOrEqual,
        "less_than_or_equal_to" => NumOp::LessOrEqual,
        other => return Err(unsupported(other, what)),
    };
    let n = value.as_f64().ok_or_else(|| {
        bad(format!(
            "body failed validation: the {what} value should be a number."
        ))
    })?;
    Ok(Cond::Number(op, n))
}

fn checkbox_cond(v: &Value) -> Result<Cond, ApiError> {
    let (op, value) = op_of(v, "checkbox")?;
    let eq = match op {
        "equals" => true,
        "does_not_equal" => false,
        other => return Err(unsupported(other, "checkbox")),
    };
    let b = value
        .as_bool()
        .ok_or_else(|| bad("body failed validation: the checkbox value should be a boolean."))?;
    Ok(Cond::Checkbox(eq, b))
}

fn option_cond(v: &Value, what: &str) -> Result<Cond, ApiError> {
    let (op, value) = op_of(v, what)?;
    if let Some(c) = existence(op, value) {
        return c;
    }
    let eq = match op {
        "equals" => true,
        "does_not_equal" => false,
        other => return Err(unsupported(other, what)),
    };
    let s = value.as_str().ok_or_else(|| {
        bad(format!(
            "body failed validation: the {what} value should be a string."
        ))
    })?;
    Ok(Cond::Option(eq, s.to_string()))
}

fn contains_cond(v: &Value, what: &str) -> Result<Cond, ApiError> {
    let (op, value) = op_of(v, what)?;
    if let Some(c) = existence(op, value) {
        return c;
    }
    let contains = match op {
        "contains" => true,
        "does_not_contain" => false,
        other => return Err(unsupported(other, what)),
    };
    let s = value.as_str().ok_or_else(|| {
        bad(format!(
            "body failed validation: the {what} value should be a string."
        ))
    })?;
    // People and relation values are ids: compare canonical forms; "me" stays as it is.
    let s = crate::ids::normalize(s).unwrap_or_else(|| s.to_string());
    Ok(Cond::Contains(contains, s))
}

fn empty_cond(v: &Value, what: &str) -> Result<Cond, ApiError> {
    let (op, value) = op_of(v, what)?;
    existence(op, value).unwrap_or_else(|| Err(unsupported(op, what)))
}

fn date_cond(v: &Value, what: &str) -> Result<Cond, ApiError> {
    let (op, value) = op_of(v, what)?;
    if let Some(c) = existence(op, value) {
        return c;
    }
    let op = match op {
        "equals" => DateOp::Equals,
        "before" => DateOp::Before,
        "after" => DateOp::After,
        "on_or_before" => DateOp::OnOrBefore,
        "on_or_after" => DateOp::OnOrAfter,
        other => {
            return Err(bad(format!(
                "The simulator does not support the `{other}` date condition."
            )))
        }
    };
    let s = value.as_str().ok_or_else(|| {
        bad(format!(
            "body failed validation: body.filter.{what}.{op:?} should be a string."
        ))
    })?;
    let value = DateValue::parse(s).ok_or_else(|| {
        bad(format!("body failed validation: body.filter.{what} should be a valid ISO 8601 date string or a relative date (today, tomorrow, yesterday, one_week_ago, one_week_from_now, one_month_ago, one_month_from_now), instead was `\"{s}\"`."))
    })?;
    Ok(Cond::Date(op, value))
}

/// `{string|number|checkbox|date: condition}` of a formula, `{number|date: condition}` of
/// a rollup.
fn typed_result_cond(v: &Value, what: &str) -> Result<Cond, ApiError> {
    let (kind, inner) = op_of(v, what)?;
    match (what, kind) {
        ("formula", "string") => text_cond(inner, "formula string"),
        ("formula", "checkbox") => checkbox_cond(inner),
        (_, "number") => number_cond(inner, "number"),
        (_, "date") => date_cond(inner, "date"),
        _ => Err(bad(format!(
            "The simulator does not support `{kind}` {what} filters."
        ))),
    }
}
