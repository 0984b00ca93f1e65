//! The property-item endpoint's values: complete paginated lists (title, rich_text,
//! relation, people, rollup), simple items, and which page properties are truncated.
//!
//! Invariant: everything here is complete and uncapped (`Mode::Full`) [S11].

use serde_json::{json, Map, Value};

use super::model::{DataSource, Page, PropKind, PropSchema, RollupFn, Val, Workspace};
use super::properties::{aggregate, relation_targets, rollup_inputs, value_json, Mode, REF_CAP};
use super::render::user_json;
use super::richtext;
use super::util::encode_uri_component;

/// True for the types whose property-item answer is a paginated list [S11].
pub fn is_list_type(kind: &PropKind) -> bool {
    matches!(
        kind,
        PropKind::Title
            | PropKind::RichText
            | PropKind::Relation { .. }
            | PropKind::People
            | PropKind::Rollup { .. }
    )
}

/// The complete item list of a paginated property, one `property_item` per element.
pub fn property_items(ws: &Workspace, page: &Page, prop: Option<&PropSchema>) -> Vec<Value> {
    let enc = prop.map_or("title".to_string(), |p| encode_uri_component(&p.id));
    let item = |ty: &str, v: Value| {
        let mut m = Map::new();
        m.insert("object".into(), json!("property_item"));
        m.insert("id".into(), json!(enc));
        m.insert("type".into(), json!(ty));
        m.insert(ty.to_string(), v);
        Value::Object(m)
    };
    let Some(prop) = prop else {
        return page
            .title
            .iter()
            .map(|t| item("title", t.clone()))
            .collect();
    };
    match &prop.kind {
        PropKind::Title => page
            .title
            .iter()
            .map(|t| item("title", t.clone()))
            .collect(),
        PropKind::RichText => match page.props.get(&prop.id) {
            Some(Val::RichText(v)) => v.iter().map(|t| item("rich_text", t.clone())).collect(),
            _ => Vec::new(),
        },
        PropKind::Relation { .. } => relation_targets(ws, page, &prop.id)
            .into_iter()
            .map(|id| item("relation", json!({ "id": id })))
            .collect(),
        PropKind::People => match page.props.get(&prop.id) {
            Some(Val::People(ids)) => ids
                .iter()
                .map(|u| item("people", user_json(ws, u)))
                .collect(),
            _ => Vec::new(),
        },
        PropKind::Rollup {
            relation, target, ..
        } => rollup_items(ws, page, relation, target),
        _ => Vec::new(),
    }
}

/// A rollup's items: the related pages' values of the rolled-up property, flattened the
/// way that property's own item list is — one item per rich-text element of a title or
/// text, per user of a people value, per page of a relation, one item per page otherwise
/// ("A title or text item contains one rich text object"; developers.notion.com guide
/// "Read page property values", reference "Retrieve a page property item": show_original
/// rollups return "a flattened list of all the property items"). Each item is the rolled-up
/// property's own item, so its `id` is that property's id.
fn rollup_items(ws: &Workspace, page: &Page, relation: &str, target: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for (tp, tds, tprop) in rollup_sources(ws, page, relation, target) {
        let enc = encode_uri_component(&tprop.id);
        let ty = tprop.kind.type_name();
        let item = |v: Value| {
            let mut m = Map::new();
            m.insert("object".into(), json!("property_item"));
            m.insert("id".into(), json!(enc));
            m.insert("type".into(), json!(ty));
            m.insert(ty.to_string(), v);
            Value::Object(m)
        };
        let value = value_json(ws, tp, tds, tprop, Mode::Full);
        match &tprop.kind {
            PropKind::Title | PropKind::RichText | PropKind::People | PropKind::Relation { .. } => {
                out.extend(
                    value
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .into_iter()
                        .map(item),
                );
            }
            _ => out.push(item(value)),
        }
    }
    out
}

/// The related pages a rollup reads, with their data source and the rolled-up property
/// (the same selection `rollup_inputs` aggregates).
fn rollup_sources<'a>(
    ws: &'a Workspace,
    page: &Page,
    relation: &str,
    target: &str,
) -> Vec<(&'a Page, &'a DataSource, &'a PropSchema)> {
    let mut out = Vec::new();
    for id in &relation_targets(ws, page, relation) {
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
        out.push((tp, tds, tprop));
    }
    out
}

/// The `property_item` descriptor of a paginated property answer. For rollups, the final
/// page carries the complete aggregate; earlier pages `incomplete` [S11].
pub fn list_descriptor(
    ws: &Workspace,
    page: &Page,
    prop: Option<&PropSchema>,
    next_url: Option<String>,
) -> Value {
    let enc = prop.map_or("title".to_string(), |p| encode_uri_component(&p.id));
    let ty = prop.map_or("title", |p| p.kind.type_name());
    let mut m = Map::new();
    m.insert("id".into(), json!(enc));
    m.insert(
        "next_url".into(),
        next_url.clone().map(Value::from).unwrap_or(Value::Null),
    );
    m.insert("type".into(), json!(ty));
    let inner = match prop.map(|p| &p.kind) {
        Some(PropKind::Rollup {
            relation,
            target,
            function,
        }) => {
            if next_url.is_some() {
                json!({ "type": "incomplete", "incomplete": {}, "function": function.name() })
            } else {
                let (rty, vals) = rollup_inputs(ws, page, relation, target, usize::MAX);
                let related = relation_targets(ws, page, relation).len();
                let mut agg = aggregate(*function, &rty, &vals, related);
                if *function == RollupFn::ShowOriginal {
                    // The items are the list's results; the descriptor's array stays empty.
                    agg["array"] = json!([]);
                }
                agg
            }
        }
        _ => json!({}),
    };
    m.insert(ty.to_string(), inner);
    Value::Object(m)
}

/// A simple (non-list) property item: `{"object":"property_item","id","type","<type>"}`.
pub fn simple_item(ws: &Workspace, page: &Page, ds: &DataSource, prop: &PropSchema) -> Value {
    let ty = prop.kind.type_name();
    let mut m = Map::new();
    m.insert("object".into(), json!("property_item"));
    m.insert("id".into(), json!(encode_uri_component(&prop.id)));
    m.insert("type".into(), json!(ty));
    m.insert(ty.to_string(), value_json(ws, page, ds, prop, Mode::Full));
    Value::Object(m)
}

/// Finds a property by the id segment of a `/properties/{id}` path: the encoded id as
/// given, its decoded form, or a double-encoded form.
pub fn find_prop<'a>(ds: &'a DataSource, segment: &str) -> Option<&'a PropSchema> {
    let once = super::util::percent_decode(segment);
    let twice = super::util::percent_decode(&once);
    ds.properties.iter().find(|p| {
        let enc = encode_uri_component(&p.id);
        enc == segment || p.id == segment || p.id == once || enc == once || p.id == twice
    })
}

/// True when a page object truncates this property (it needs a property-item call to be
/// completed): more than 25 relations, people or rich-text mentions.
pub fn is_truncated(ws: &Workspace, page: &Page, prop: Option<&PropSchema>) -> bool {
    item_count_if_truncated(ws, page, prop).is_some()
}

/// When truncated, the number of items the property-item list holds.
pub fn item_count_if_truncated(
    ws: &Workspace,
    page: &Page,
    prop: Option<&PropSchema>,
) -> Option<usize> {
    let Some(prop) = prop else {
        return (richtext::mention_count(&page.title) > REF_CAP).then_some(page.title.len());
    };
    match (&prop.kind, page.props.get(&prop.id)) {
        (PropKind::Title, _) => {
            (richtext::mention_count(&page.title) > REF_CAP).then_some(page.title.len())
        }
        (PropKind::RichText, Some(Val::RichText(v))) => {
            (richtext::mention_count(v) > REF_CAP).then_some(v.len())
        }
        (PropKind::People, Some(Val::People(v))) => (v.len() > REF_CAP).then_some(v.len()),
        (PropKind::Relation { .. }, _) => {
            let n = relation_targets(ws, page, &prop.id).len();
            (n > REF_CAP).then_some(n)
        }
        _ => None,
    }
}
