//! Property schemas and values as the API renders them: formulas, rollups, relations, the
//! 25-reference truncation of page objects, and the complete property-item lists.
//!
//! Invariant: page objects (GET page, query, search) cap relation/people/mention arrays at 25
//! and compute formulas/rollups over at most 25 related pages [S11]; `Mode::Full` (the
//! property-item endpoint) never caps.

use chrono::{Duration, NaiveDate, Utc};
use serde_json::{json, Map, Value};

use super::model::{
    DataSource, FormulaDef, Page, PropKind, PropSchema, RollupFn, SelectOption, Val, Workspace,
};
use super::render::user_json;
use super::richtext;
use super::util::{encode_uri_component, fmt_minute, json_number};

/// How much of a value to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Page objects as the API serves them (25-reference rule).
    Truncated,
    /// What a mirror holds after completion: arrays complete (`has_more:false`), but
    /// formulas and rollups exactly as in page objects (25-capped).
    Completed,
    /// The property-item endpoint: everything complete and uncapped.
    Full,
}

pub(crate) const REF_CAP: usize = 25;

/// `{"id","name","description","type","<type>":config}` for a data source schema.
pub fn schema_json(ws: &Workspace, ds: &DataSource, prop: &PropSchema) -> Value {
    let config = match &prop.kind {
        PropKind::Number { format } => json!({ "format": format }),
        PropKind::Select { options } | PropKind::MultiSelect { options } => {
            json!({ "options": options_json(options) })
        }
        PropKind::Status { options, groups } => json!({
            "options": options_json(options),
            "groups": groups.iter().map(|g| json!({
                "id": g.id, "name": g.name, "color": g.color, "option_ids": g.option_ids
            })).collect::<Vec<_>>(),
        }),
        PropKind::Formula(f) => json!({ "expression": formula_expression(ds, f) }),
        PropKind::Relation {
            data_source_id,
            database_id,
            synced,
        } => relation_config(ws, data_source_id, database_id, synced.as_deref()),
        PropKind::Rollup {
            relation,
            target,
            function,
        } => rollup_config(ws, ds, relation, target, *function),
        PropKind::UniqueId { prefix } => json!({ "prefix": prefix }),
        _ => json!({}),
    };
    let ty = prop.kind.type_name();
    let mut m = Map::new();
    m.insert("id".into(), json!(encode_uri_component(&prop.id)));
    m.insert("name".into(), json!(prop.name));
    m.insert("description".into(), Value::Null);
    m.insert("type".into(), json!(ty));
    m.insert(ty.into(), config);
    Value::Object(m)
}

fn options_json(options: &[SelectOption]) -> Vec<Value> {
    options
        .iter()
        .map(|o| json!({ "id": o.id, "name": o.name, "color": o.color, "description": null }))
        .collect()
}

fn relation_config(ws: &Workspace, ds_id: &str, db_id: &str, synced: Option<&str>) -> Value {
    match synced {
        Some(raw) => {
            let name = ws
                .data_sources
                .get(ds_id)
                .and_then(|ds| ds.properties.iter().find(|p| p.id == raw))
                .map(|p| p.name.clone());
            json!({
                "database_id": db_id, "data_source_id": ds_id, "type": "dual_property",
                "dual_property": {
                    "synced_property_name": name,
                    "synced_property_id": encode_uri_component(raw),
                }
            })
        }
        None => json!({
            "database_id": db_id, "data_source_id": ds_id,
            "type": "single_property", "single_property": {}
        }),
    }
}

/// Rollup configs show raw (decoded) ids, as recorded [ultimate samples].
fn rollup_config(
    ws: &Workspace,
    owner: &DataSource,
    relation: &str,
    target: &str,
    f: RollupFn,
) -> Value {
    let rel = owner.properties.iter().find(|p| p.id == relation);
    let target_name = rel
        .and_then(|r| match &r.kind {
            PropKind::Relation { data_source_id, .. } => ws.data_sources.get(data_source_id),
            _ => None,
        })
        .and_then(|tds| tds.properties.iter().find(|p| p.id == target))
        .map(|p| p.name.clone());
    json!({
        "rollup_property_name": target_name,
        "relation_property_name": rel.map(|r| r.name.clone()),
        "rollup_property_id": target,
        "relation_property_id": relation,
        "function": f.name(),
    })
}

fn formula_expression(ds: &DataSource, f: &FormulaDef) -> String {
    // Readable stand-ins for Notion's `{{notion:block_property:…}}` expressions; names are
    // looked up live so renames show.
    let n = |id: &str| {
        prop_by_id(ds, id)
            .map(|p| p.name.clone())
            .unwrap_or_default()
    };
    match f {
        FormulaDef::NumberTimes { prop, factor } => {
            format!("prop(\"{}\") * {}", n(prop), json_number(*factor))
        }
        FormulaDef::TitleWithOption { title, option } => {
            format!(
                "prop(\"{}\") + \" (\" + prop(\"{}\") + \")\"",
                n(title),
                n(option)
            )
        }
        FormulaDef::OptionIs { prop, value } => format!("prop(\"{}\") == \"{value}\"", n(prop)),
        FormulaDef::DateAddDays { prop, days } => {
            format!("dateAdd(prop(\"{}\"), {days}, \"days\")", n(prop))
        }
        FormulaDef::RelationCount { prop } => format!("prop(\"{}\").length()", n(prop)),
        FormulaDef::Unsupported => "unsupported()".to_string(),
    }
}

/// The `properties` object of a page.
pub fn page_properties(ws: &Workspace, page: &Page, mode: Mode) -> Map<String, Value> {
    let mut m = Map::new();
    match ws.row_source(page) {
        Some(ds) => {
            for prop in &ds.properties {
                m.insert(prop.name.clone(), property_entry(ws, page, ds, prop, mode));
            }
        }
        None => {
            let title = title_items(&page.title, mode);
            m.insert(
                "title".into(),
                json!({ "id": "title", "type": "title", "title": title }),
            );
        }
    }
    m
}

fn title_items(items: &[Value], mode: Mode) -> Vec<Value> {
    match mode {
        Mode::Truncated => richtext::truncate_mentions(items),
        _ => items.to_vec(),
    }
}

/// `{"id","type","<type>":value}` (+ `has_more` for relations).
pub fn property_entry(
    ws: &Workspace,
    page: &Page,
    ds: &DataSource,
    prop: &PropSchema,
    mode: Mode,
) -> Value {
    let ty = prop.kind.type_name();
    let mut m = Map::new();
    m.insert("id".into(), json!(encode_uri_component(&prop.id)));
    m.insert("type".into(), json!(ty));
    if let PropKind::Relation { .. } = prop.kind {
        let targets = relation_targets(ws, page, &prop.id);
        let more = mode == Mode::Truncated && targets.len() > REF_CAP;
        let shown = if more {
            &targets[..REF_CAP]
        } else {
            &targets[..]
        };
        let arr: Vec<Value> = shown.iter().map(|id| json!({ "id": id })).collect();
        m.insert(ty.into(), Value::Array(arr));
        m.insert("has_more".into(), json!(more));
    } else {
        m.insert(ty.into(), value_json(ws, page, ds, prop, mode));
    }
    Value::Object(m)
}

/// Related page ids of a relation property, hiding pages the integration cannot see
/// (relations to unshared pages come back empty [S11]).
pub fn relation_targets(ws: &Workspace, page: &Page, prop_id: &str) -> Vec<String> {
    match page.props.get(prop_id) {
        Some(Val::Relation(ids)) => ids
            .iter()
            .filter(|id| ws.pages.contains_key(*id) && ws.visible(id))
            .cloned()
            .collect(),
        _ => Vec::new(),
    }
}

fn option_json(kind: &PropKind, id: Option<&String>) -> Value {
    id.and_then(|id| kind.options().iter().find(|o| &o.id == id))
        .map(|o| json!({ "id": o.id, "name": o.name, "color": o.color }))
        .unwrap_or(Value::Null)
}

/// The inner value of one property.
pub fn value_json(
    ws: &Workspace,
    page: &Page,
    ds: &DataSource,
    prop: &PropSchema,
    mode: Mode,
) -> Value {
    let stored = page.props.get(&prop.id);
    match &prop.kind {
        PropKind::Title => Value::Array(title_items(&page.title, mode)),
        PropKind::RichText => match stored {
            Some(Val::RichText(items)) => Value::Array(title_items(items, mode)),
            _ => json!([]),
        },
        PropKind::Number { .. } => match stored {
            Some(Val::Number(Some(n))) => json_number(*n),
            _ => Value::Null,
        },
        PropKind::Select { .. } => match stored {
            Some(Val::Select(id)) => option_json(&prop.kind, id.as_ref()),
            _ => Value::Null,
        },
        PropKind::Status { .. } => match stored {
            Some(Val::Status(id)) => option_json(&prop.kind, id.as_ref()),
            _ => Value::Null,
        },
        PropKind::MultiSelect { .. } => match stored {
            Some(Val::MultiSelect(ids)) => Value::Array(
                ids.iter()
                    .map(|id| option_json(&prop.kind, Some(id)))
                    .filter(|v| !v.is_null())
                    .collect(),
            ),
            _ => json!([]),
        },
        PropKind::Date => match stored {
            Some(Val::Date(Some(d))) => d.clone(),
            _ => Value::Null,
        },
        PropKind::People => match stored {
            Some(Val::People(ids)) => {
                let cap = if mode == Mode::Truncated {
                    REF_CAP
                } else {
                    usize::MAX
                };
                Value::Array(ids.iter().take(cap).map(|id| user_json(ws, id)).collect())
            }
            _ => json!([]),
        },
        PropKind::Files => match stored {
            Some(Val::Files(f)) => Value::Array(f.clone()),
            _ => json!([]),
        },
        PropKind::Checkbox => json!(matches!(stored, Some(Val::Checkbox(true)))),
        PropKind::Url | PropKind::Email | PropKind::PhoneNumber => match stored {
            Some(Val::Text(Some(s))) => json!(s),
            _ => Value::Null,
        },
        PropKind::Formula(f) => formula_json(ws, page, ds, f, mode),
        PropKind::Relation { .. } => Value::Array(
            relation_targets(ws, page, &prop.id)
                .into_iter()
                .map(|id| json!({ "id": id }))
                .collect(),
        ),
        PropKind::Rollup {
            relation,
            target,
            function,
        } => rollup_json(ws, page, ds, relation, target, *function, mode),
        PropKind::CreatedTime => json!(fmt_minute(page.created_time)),
        PropKind::LastEditedTime => json!(fmt_minute(page.last_edited_time)),
        PropKind::CreatedBy => user_json(ws, &page.created_by),
        PropKind::LastEditedBy => user_json(ws, &page.last_edited_by),
        PropKind::UniqueId { prefix } => match stored {
            Some(Val::UniqueId(n)) => json!({ "prefix": prefix, "number": n }),
            _ => json!({ "prefix": prefix, "number": null }),
        },
        PropKind::Verification => match stored {
            Some(Val::Verification(v)) => v.clone(),
            _ => json!({ "state": "unverified", "verified_by": null, "date": null }),
        },
        PropKind::Button => json!({}),
        PropKind::Future => json!({ "state": "new", "score": 1 }),
    }
}

fn prop_by_id<'a>(ds: &'a DataSource, id: &str) -> Option<&'a PropSchema> {
    ds.properties.iter().find(|p| p.id == id)
}

fn option_name(ds: &DataSource, page: &Page, prop_id: &str) -> Option<String> {
    let prop = prop_by_id(ds, prop_id)?;
    let id = match page.props.get(&prop.id)? {
        Val::Select(Some(id)) | Val::Status(Some(id)) => id,
        _ => return None,
    };
    prop.kind
        .options()
        .iter()
        .find(|o| &o.id == id)
        .map(|o| o.name.clone())
}

fn formula_json(ws: &Workspace, page: &Page, ds: &DataSource, f: &FormulaDef, mode: Mode) -> Value {
    match f {
        FormulaDef::NumberTimes { prop, factor } => {
            let n = prop_by_id(ds, prop).and_then(|p| match page.props.get(&p.id) {
                Some(Val::Number(Some(n))) => Some(n * factor),
                _ => None,
            });
            json!({ "type": "number", "number": n.map(json_number).unwrap_or(Value::Null) })
        }
        FormulaDef::TitleWithOption { option, .. } => {
            let title = richtext::plain_text(&page.title);
            let opt = option_name(ds, page, option).unwrap_or_default();
            json!({ "type": "string", "string": format!("{title} ({opt})") })
        }
        FormulaDef::OptionIs { prop, value } => {
            let b = option_name(ds, page, prop).as_deref() == Some(value.as_str());
            json!({ "type": "boolean", "boolean": b })
        }
        FormulaDef::DateAddDays { prop, days } => {
            let start = prop_by_id(ds, prop).and_then(|p| match page.props.get(&p.id) {
                Some(Val::Date(Some(d))) => {
                    d.get("start").and_then(Value::as_str).map(String::from)
                }
                _ => None,
            });
            let date = start
                .and_then(|s| add_days(&s, *days))
                .map(|s| json!({ "start": s, "end": null, "time_zone": null }))
                .unwrap_or(Value::Null);
            json!({ "type": "date", "date": date })
        }
        FormulaDef::RelationCount { prop } => {
            let n = prop_by_id(ds, prop)
                .map(|p| relation_targets(ws, page, &p.id).len())
                .unwrap_or(0);
            let n = if mode == Mode::Full {
                n
            } else {
                n.min(REF_CAP)
            };
            json!({ "type": "number", "number": n })
        }
        FormulaDef::Unsupported => json!({ "type": "unsupported", "unsupported": {} }),
    }
}

/// Adds days to a date-only or datetime ISO string, keeping its style.
pub fn add_days(start: &str, days: i64) -> Option<String> {
    if let Ok(d) = NaiveDate::parse_from_str(start, "%Y-%m-%d") {
        return Some((d + Duration::days(days)).format("%Y-%m-%d").to_string());
    }
    let t = chrono::DateTime::parse_from_rfc3339(start).ok()?;
    Some(
        (t + Duration::days(days))
            .with_timezone(&Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, false),
    )
}

/// A sortable instant for a date value's `start` (date-only = midnight UTC).
pub fn date_key(start: &str) -> Option<i64> {
    if let Ok(d) = NaiveDate::parse_from_str(start, "%Y-%m-%d") {
        return d
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis());
    }
    chrono::DateTime::parse_from_rfc3339(start)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// The rolled-up values of the related pages: `(type, value)` per page.
pub(crate) fn rollup_inputs(
    ws: &Workspace,
    page: &Page,
    relation: &str,
    target: &str,
    cap: usize,
) -> (String, Vec<Value>) {
    let mut ty = String::from("rich_text");
    let mut out = Vec::new();
    for id in relation_targets(ws, page, relation).iter().take(cap) {
        let Some(tp) = ws.pages.get(id) else { continue };
        let Some(tds) = ws.row_source(tp) else {
            continue;
        };
        let Some(tprop) = tds.properties.iter().find(|p| p.id == target) else {
            continue;
        };
        if matches!(tprop.kind, PropKind::Rollup { .. } | PropKind::Formula(_)) {
            continue; // nested computed values are not rolled up by the simulator
        }
        ty = tprop.kind.type_name().to_string();
        out.push(value_json(ws, tp, tds, tprop, Mode::Completed));
    }
    (ty, out)
}

fn rollup_json(
    ws: &Workspace,
    page: &Page,
    _ds: &DataSource,
    relation: &str,
    target: &str,
    f: RollupFn,
    mode: Mode,
) -> Value {
    let cap = if mode == Mode::Full {
        usize::MAX
    } else {
        REF_CAP
    };
    let (ty, vals) = rollup_inputs(ws, page, relation, target, cap);
    aggregate(
        f,
        &ty,
        &vals,
        relation_targets(ws, page, relation).len().min(cap),
    )
}

/// `{"type","<type>":…,"function"}` for a rollup over `vals`.
pub(crate) fn aggregate(f: RollupFn, ty: &str, vals: &[Value], related: usize) -> Value {
    let nums = || vals.iter().filter_map(Value::as_f64);
    match f {
        RollupFn::Count => json!({ "type": "number", "number": related, "function": "count" }),
        RollupFn::Sum => {
            let s: f64 = nums().sum();
            json!({ "type": "number", "number": json_number(s), "function": "sum" })
        }
        RollupFn::Max => {
            let m = nums().fold(None, |acc: Option<f64>, n| {
                Some(acc.map_or(n, |a| a.max(n)))
            });
            json!({ "type": "number", "number": m.map(json_number).unwrap_or(Value::Null), "function": "max" })
        }
        RollupFn::EarliestDate => {
            let earliest = vals
                .iter()
                .filter_map(|v| v.get("start").and_then(Value::as_str))
                .filter_map(|s| date_key(s).map(|k| (k, s.to_string())))
                .min()
                .map(|(_, s)| json!({ "start": s, "end": null, "time_zone": null }))
                .unwrap_or(Value::Null);
            json!({ "type": "date", "date": earliest, "function": "earliest_date" })
        }
        RollupFn::ShowOriginal => {
            let arr: Vec<Value> = vals
                .iter()
                .map(|v| {
                    let mut m = Map::new();
                    m.insert("type".into(), json!(ty));
                    m.insert(ty.to_string(), v.clone());
                    Value::Object(m)
                })
                .collect();
            json!({ "type": "array", "array": arr, "function": "show_original" })
        }
        RollupFn::Median => {
            json!({ "type": "unsupported", "unsupported": {}, "function": "median" })
        }
    }
}
