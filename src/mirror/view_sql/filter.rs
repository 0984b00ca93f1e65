//! A Notion view's filter as a SQL condition over the typed view's columns: text, number,
//! checkbox, select/status, multi-select, people/relation, dates (relative ones evaluated by
//! SQLite at query time), nested `and`/`or` groups.
//!
//! Invariant: exact or an error naming what cannot be reproduced; never an approximation.

use serde_json::Value;

use super::Schema;
use crate::ids;
use crate::mirror::views::quote_ident;

pub(super) fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

pub(super) fn condition(f: &Value, schema: &Schema, depth: usize) -> Result<String, String> {
    let obj = f
        .as_object()
        .ok_or_else(|| "a filter that is not an object".to_string())?;
    for (key, joiner, empty) in [("and", " AND ", "1"), ("or", " OR ", "0")] {
        if let Some(list) = obj.get(key) {
            if depth >= 2 {
                return Err("filters nested deeper than two levels".into());
            }
            let items = list
                .as_array()
                .ok_or_else(|| format!("`{key}` that is not an array"))?;
            if items.is_empty() {
                return Ok(empty.into());
            }
            let parts = items
                .iter()
                .map(|i| condition(i, schema, depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(format!("({})", parts.join(joiner)));
        }
    }
    if let Some(ts) = obj.get("timestamp").and_then(Value::as_str) {
        if !matches!(ts, "created_time" | "last_edited_time") {
            return Err(format!("timestamp filter on `{ts}`"));
        }
        let cond = obj
            .get(ts)
            .ok_or_else(|| format!("timestamp filter without a `{ts}` condition"))?;
        return date_condition(&quote_ident(ts), cond, ts);
    }
    let key = obj
        .get("property")
        .and_then(Value::as_str)
        .ok_or_else(|| "a filter without `property`, `timestamp`, `and` or `or`".to_string())?;
    let prop = schema
        .find(key)
        .ok_or_else(|| format!("property `{key}` is not in the data source's schema"))?;
    let kind = prop.kind.as_str();
    let cond = obj.get(kind).ok_or_else(|| {
        format!(
            "filter on `{}` ({kind}) without a `{kind}` condition",
            prop.name
        )
    })?;
    let col = quote_ident(&prop.column);
    let what = format!("`{}` ({kind})", prop.name);
    match kind {
        "title" | "rich_text" | "url" | "email" | "phone_number" => text_condition(&col, cond, &what),
        "number" => number_condition(&col, cond, &what),
        "checkbox" => checkbox_condition(&col, cond, &what),
        "select" | "status" => option_condition(&col, cond, &what),
        "multi_select" | "people" | "relation" => list_condition(&col, cond, &what, kind),
        "created_by" | "last_edited_by" => single_id_condition(&col, cond, &what),
        "date" => date_condition(&col, cond, &what),
        "created_time" | "last_edited_time" => date_condition(&quote_ident(kind), cond, &what),
        "files" => match op_of(cond, &what)? {
            ("is_empty", _) => Ok(format!("coalesce(json_array_length({col}), 0) = 0")),
            ("is_not_empty", _) => Ok(format!("coalesce(json_array_length({col}), 0) > 0")),
            (op, _) => Err(format!("`{op}` on {what}")),
        },
        "formula" | "rollup" => Err(format!(
            "a {kind} filter on `{}`: page objects compute {kind} values over at most 25 related pages, so the mirror's value can differ from the one Notion filters on",
            prop.name
        )),
        other => Err(format!("a filter on `{}` of type `{other}`", prop.name)),
    }
}

fn op_of<'a>(cond: &'a Value, what: &str) -> Result<(&'a str, &'a Value), String> {
    let obj = cond
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or_else(|| format!("a condition on {what} without exactly one operator"))?;
    obj.iter()
        .next()
        .map(|(k, v)| (k.as_str(), v))
        .ok_or_else(|| format!("an empty condition on {what}"))
}

fn text_condition(col: &str, cond: &Value, what: &str) -> Result<String, String> {
    let (op, value) = op_of(cond, what)?;
    let v = format!("coalesce({col}, '')");
    match op {
        "is_empty" => return Ok(format!("{v} = ''")),
        "is_not_empty" => return Ok(format!("{v} <> ''")),
        _ => {}
    }
    let s = value
        .as_str()
        .ok_or_else(|| format!("a non-text value for `{op}` on {what}"))?;
    // Matching ignores ASCII case, like SQLite's lower() (docs/views.md).
    let folded = s.to_ascii_lowercase();
    let n = folded.chars().count();
    Ok(match op {
        "equals" => format!("{v} = {}", lit(s)),
        "does_not_equal" => format!("{v} <> {}", lit(s)),
        "contains" if n == 0 => "1".into(),
        "does_not_contain" if n == 0 => "0".into(),
        "starts_with" | "ends_with" if n == 0 => "1".into(),
        "contains" => format!("instr(lower({v}), {}) > 0", lit(&folded)),
        "does_not_contain" => format!("instr(lower({v}), {}) = 0", lit(&folded)),
        "starts_with" => format!("instr(lower({v}), {}) = 1", lit(&folded)),
        "ends_with" => format!(
            "(length({v}) >= {n} AND substr(lower({v}), -{n}) = {})",
            lit(&folded)
        ),
        other => return Err(format!("`{other}` on {what}")),
    })
}

fn number_condition(col: &str, cond: &Value, what: &str) -> Result<String, String> {
    let (op, value) = op_of(cond, what)?;
    match op {
        "is_empty" => return Ok(format!("{col} IS NULL")),
        "is_not_empty" => return Ok(format!("{col} IS NOT NULL")),
        _ => {}
    }
    let n = value
        .as_f64()
        .filter(|n| n.is_finite())
        .ok_or_else(|| format!("a non-number value for `{op}` on {what}"))?;
    let n = format!("{n:?}");
    Ok(match op {
        "equals" => format!("{col} = {n}"),
        "does_not_equal" => format!("({col} IS NULL OR {col} <> {n})"),
        "greater_than" => format!("{col} > {n}"),
        "less_than" => format!("{col} < {n}"),
        "greater_than_or_equal_to" => format!("{col} >= {n}"),
        "less_than_or_equal_to" => format!("{col} <= {n}"),
        other => return Err(format!("`{other}` on {what}")),
    })
}

fn checkbox_condition(col: &str, cond: &Value, what: &str) -> Result<String, String> {
    let (op, value) = op_of(cond, what)?;
    let b = value
        .as_bool()
        .ok_or_else(|| format!("a non-boolean value on {what}"))?;
    let wanted = match op {
        "equals" => b,
        "does_not_equal" => !b,
        other => return Err(format!("`{other}` on {what}")),
    };
    Ok(format!("coalesce({col}, 0) = {}", i64::from(wanted)))
}

fn option_condition(col: &str, cond: &Value, what: &str) -> Result<String, String> {
    let (op, value) = op_of(cond, what)?;
    let named = || {
        value
            .as_str()
            .map(lit)
            .ok_or_else(|| format!("a non-text value for `{op}` on {what}"))
    };
    Ok(match op {
        "is_empty" => format!("{col} IS NULL"),
        "is_not_empty" => format!("{col} IS NOT NULL"),
        "equals" => format!("{col} = {}", named()?),
        "does_not_equal" => format!("({col} IS NULL OR {col} <> {})", named()?),
        other => return Err(format!("`{other}` on {what}")),
    })
}

/// A value a `contains` compares with: option names as they are, ids in canonical form.
fn member(value: &Value, kind: &str, what: &str) -> Result<String, String> {
    let s = value
        .as_str()
        .ok_or_else(|| format!("a non-text value on {what}"))?;
    Ok(if kind == "multi_select" {
        s.to_string()
    } else {
        ids::normalize(s).unwrap_or_else(|| s.to_string())
    })
}

fn list_condition(col: &str, cond: &Value, what: &str, kind: &str) -> Result<String, String> {
    let (op, value) = op_of(cond, what)?;
    let any = |m: &str| {
        format!(
            "EXISTS (SELECT 1 FROM json_each({col}) WHERE value = {})",
            lit(m)
        )
    };
    Ok(match op {
        "is_empty" => format!("coalesce(json_array_length({col}), 0) = 0"),
        "is_not_empty" => format!("coalesce(json_array_length({col}), 0) > 0"),
        // "me" names no user for an internal integration (changelog 2026-03-30).
        "contains" | "does_not_contain" if kind == "people" && value.as_str() == Some("me") => {
            if op == "contains" { "0" } else { "1" }.into()
        }
        "contains" => any(&member(value, kind, what)?),
        "does_not_contain" => format!("NOT {}", any(&member(value, kind, what)?)),
        other => return Err(format!("`{other}` on {what}")),
    })
}

fn single_id_condition(col: &str, cond: &Value, what: &str) -> Result<String, String> {
    let (op, value) = op_of(cond, what)?;
    Ok(match op {
        "is_empty" => format!("{col} IS NULL"),
        "is_not_empty" => format!("{col} IS NOT NULL"),
        "contains" if value.as_str() == Some("me") => "0".into(),
        "does_not_contain" if value.as_str() == Some("me") => "1".into(),
        "contains" => format!("{col} = {}", lit(&member(value, "people", what)?)),
        "does_not_contain" => format!(
            "({col} IS NULL OR {col} <> {})",
            lit(&member(value, "people", what)?)
        ),
        other => return Err(format!("`{other}` on {what}")),
    })
}

/// `(days, months)` of the relative date values (changelog 2026-03-30).
const RELATIVE: &[(&str, i64, i32)] = &[
    ("today", 0, 0),
    ("tomorrow", 1, 0),
    ("yesterday", -1, 0),
    ("one_week_ago", -7, 0),
    ("one_week_from_now", 7, 0),
    ("one_month_ago", 0, -1),
    ("one_month_from_now", 0, 1),
];

/// A relative date as an SQLite expression evaluated at query time (UTC). A month shift
/// clamps to the end of a shorter month (SQLite alone would overflow into the next one).
pub(super) fn relative_date(days: i64, months: i32) -> String {
    match months {
        0 => format!("date('now', '{days:+} days')"),
        m => format!(
            "min(date('now', '{m:+} months'), date('now', 'start of month', '{:+} months', '-1 day'))",
            m + 1
        ),
    }
}

fn date_condition(col: &str, cond: &Value, what: &str) -> Result<String, String> {
    let (op, value) = op_of(cond, what)?;
    match op {
        "is_empty" => return Ok(format!("{col} IS NULL")),
        "is_not_empty" => return Ok(format!("{col} IS NOT NULL")),
        _ => {}
    }
    let cmp = match op {
        "equals" => "=",
        "before" => "<",
        "after" => ">",
        "on_or_before" => "<=",
        "on_or_after" => ">=",
        other => return Err(format!("`{other}` on {what}")),
    };
    let s = value
        .as_str()
        .ok_or_else(|| format!("a non-text date on {what}"))?;
    if let Some((_, days, months)) = RELATIVE.iter().find(|(n, ..)| *n == s) {
        return Ok(format!(
            "date({col}) {cmp} {}",
            relative_date(*days, *months)
        ));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(format!(
            "date({col}) {cmp} {}",
            lit(&d.format("%Y-%m-%d").to_string())
        ));
    }
    let t = chrono::DateTime::parse_from_rfc3339(s)
        .map_err(|_| format!("the date `{s}` on {what}"))?
        .with_timezone(&chrono::Utc);
    Ok(format!(
        "{} {cmp} {}",
        instant(col),
        lit(&t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
    ))
}

/// A date or datetime column as a normalized UTC instant text (date-only = midnight).
pub(super) fn instant(col: &str) -> String {
    format!("strftime('%Y-%m-%dT%H:%M:%fZ', {col})")
}
