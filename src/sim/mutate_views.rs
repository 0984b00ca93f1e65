//! View mutations (create, update, delete; `view.*` events, changelog 2026-03-19) and the
//! random views the generator and random mutations make: filters and sorts of every kind
//! the simulator's query supports, with values taken from the data so they select rows.
//!
//! Invariant: a view mutation changes only views (no page, database or data source moves
//! its `last_edited_time`; decision, UNCONFIRMED); random views name properties by their
//! encoded ids and never name the properties random schema changes may delete.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::error::SimError;
use super::model::{DataSource, PropKind, View, Workspace};
use super::mutate::Tx;
use super::properties::{value_json, Mode};
use super::richtext::plain_text;
use super::util::{encode_uri_component, fmt_minute, SimRng};

/// Layout types a random view takes (dashboards have no data source: fixtures only).
pub const VIEW_TYPES: &[&str] = &[
    "table", "board", "calendar", "timeline", "gallery", "list", "form", "chart", "map",
];

/// The layout configuration of a new view (enough to be a plausible answer; the mirror
/// stores it raw).
pub(crate) fn configuration(ds: Option<&DataSource>, vtype: &str) -> Value {
    let Some(ds) = ds else {
        return json!({ "type": vtype, "rows": [] });
    };
    let props: Vec<Value> = ds
        .properties
        .iter()
        .map(|p| json!({ "property_id": encode_uri_component(&p.id), "visible": true }))
        .collect();
    match vtype {
        "table" | "list" | "gallery" => json!({ "type": vtype, "properties": props }),
        "calendar" | "timeline" => match ds
            .properties
            .iter()
            .find(|p| matches!(p.kind, PropKind::Date))
        {
            Some(d) => json!({ "type": vtype, "date_property_id": encode_uri_component(&d.id) }),
            None => json!({ "type": vtype }),
        },
        _ => json!({ "type": vtype }),
    }
}

impl Workspace {
    /// Inserts a view (no event); `id` from the caller so generators keep their id streams.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn insert_view(
        &mut self,
        id: String,
        database_id: &str,
        data_source_id: Option<&str>,
        name: &str,
        vtype: &str,
        (filter, sorts): (Value, Value),
        at: DateTime<Utc>,
        author: &str,
    ) {
        let seq = self.next_seq();
        let configuration =
            configuration(data_source_id.and_then(|d| self.data_sources.get(d)), vtype);
        self.views.insert(
            id.clone(),
            View {
                id: id.clone(),
                seq,
                database_id: database_id.to_string(),
                data_source_id: data_source_id.map(str::to_string),
                name: name.to_string(),
                vtype: vtype.to_string(),
                filter,
                sorts,
                quick_filters: Value::Null,
                configuration,
                created_time: at,
                last_edited_time: at,
                created_by: author.to_string(),
                last_edited_by: author.to_string(),
                deleted: false,
            },
        );
        if let Some(db) = self.databases.get_mut(database_id) {
            db.views.push(id);
        }
    }
}

impl Tx<'_> {
    fn view_event(&mut self, ty: &str, id: &str, updated: Option<Vec<&str>>) {
        let Some(v) = self.ws.views.get(id) else {
            return;
        };
        let mut data = json!({
            "parent": { "id": v.database_id, "type": "database" },
            "view_type": v.vtype,
        });
        if let Some(fields) = updated {
            data["updated_fields"] = json!(fields);
        }
        let db = v.database_id.clone();
        if self.ws.visible(&db) {
            self.event(ty, "view", id, data);
        }
    }

    /// The default table view a new data source gets (Notion creates one per source).
    pub(crate) fn default_view(&mut self, ds: &str) {
        let Some(db) = self.ws.data_sources.get(ds).map(|d| d.database_id.clone()) else {
            return;
        };
        let id = self.ws.new_id();
        let (now, author) = (self.now, self.author.clone());
        self.ws.insert_view(
            id.clone(),
            &db,
            Some(ds),
            "Default view",
            "table",
            (Value::Null, Value::Null),
            now,
            &author,
        );
        self.view_event("view.created", &id, None);
    }

    pub(crate) fn create_view(
        &mut self,
        ds_raw: &str,
        name: &str,
        vtype: &str,
        filter: &Value,
        sorts: &Value,
    ) -> Result<(), SimError> {
        let ds_id = Self::id(ds_raw)?;
        let db = match self.ws.data_sources.get(&ds_id) {
            Some(d) if !self.ws.ds_trashed(d) => d.database_id.clone(),
            Some(_) => return Err(SimError::Invalid(format!("data source {ds_id} is trashed"))),
            None => return Err(SimError::NotFound(ds_id)),
        };
        if !VIEW_TYPES.contains(&vtype) {
            return Err(SimError::Invalid(format!("unknown view type {vtype}")));
        }
        self.check_view_query(&ds_id, filter, sorts)?;
        let id = self.ws.new_id();
        let (now, author) = (self.now, self.author.clone());
        self.ws.insert_view(
            id.clone(),
            &db,
            Some(&ds_id),
            name,
            vtype,
            (filter.clone(), sorts.clone()),
            now,
            &author,
        );
        self.created.push(id.clone());
        self.view_event("view.created", &id, None);
        Ok(())
    }

    /// A filter and sorts the data source's query accepts (else the view is refused).
    fn check_view_query(&self, ds: &str, filter: &Value, sorts: &Value) -> Result<(), SimError> {
        let Some(d) = self.ws.data_sources.get(ds) else {
            return Err(SimError::NotFound(ds.to_string()));
        };
        if !filter.is_null() {
            super::query::parse_filter(filter, 0, d).map_err(|e| SimError::Invalid(e.message))?;
        }
        super::query::parse_sorts(Some(sorts), d).map_err(|e| SimError::Invalid(e.message))?;
        Ok(())
    }

    /// Renames a view and/or replaces its filter and sorts (`null` clears them).
    pub(crate) fn update_view(
        &mut self,
        raw: &str,
        name: Option<&str>,
        filter: Option<&Value>,
        sorts: Option<&Value>,
    ) -> Result<(), SimError> {
        let id = Self::id(raw)?;
        let (ds, old) = match self.ws.views.get(&id) {
            Some(v) if !v.deleted => (v.data_source_id.clone(), v.clone()),
            _ => return Err(SimError::NotFound(id)),
        };
        if let Some(ds) = &ds {
            self.check_view_query(
                ds,
                filter.unwrap_or(&old.filter),
                sorts.unwrap_or(&old.sorts),
            )?;
        } else if filter.is_some() || sorts.is_some() {
            return Err(SimError::Invalid(
                "a dashboard view has no filter or sorts".into(),
            ));
        }
        let mut fields = Vec::new();
        let (now, author) = (self.now, self.author.clone());
        if let Some(v) = self.ws.views.get_mut(&id) {
            if let Some(n) = name.filter(|n| *n != v.name) {
                v.name = n.to_string();
                fields.push("name");
            }
            if let Some(f) = filter.filter(|f| **f != v.filter) {
                v.filter = f.clone();
                fields.push("filter");
            }
            if let Some(s) = sorts.filter(|s| **s != v.sorts) {
                v.sorts = s.clone();
                fields.push("sorts");
            }
            if fields.is_empty() {
                return Err(SimError::Invalid("the update changes nothing".into()));
            }
            v.last_edited_time = now;
            v.last_edited_by = author;
        }
        self.view_event("view.updated", &id, Some(fields));
        Ok(())
    }

    pub(crate) fn delete_view(&mut self, raw: &str) -> Result<(), SimError> {
        let id = Self::id(raw)?;
        match self.ws.views.get_mut(&id) {
            Some(v) if !v.deleted => v.deleted = true,
            _ => return Err(SimError::NotFound(id)),
        }
        self.view_event("view.deleted", &id, None);
        Ok(())
    }
}

/// Properties random views may name (not the ones random schema changes add and delete).
fn stable(ds: &DataSource) -> Vec<&super::model::PropSchema> {
    ds.properties
        .iter()
        .filter(|p| !p.name.starts_with("Field "))
        .collect()
}

/// A random view filter for `ds` (or `null`): one condition, or an `and`/`or` of two or
/// three, one of them possibly a nested compound; values come from the source's rows.
pub fn random_filter(ws: &Workspace, ds: &DataSource, rng: &mut SimRng) -> Value {
    match rng.range(0, 9) {
        0 => Value::Null,
        1..=5 => condition(ws, ds, rng).unwrap_or(Value::Null),
        n => {
            let key = if n % 2 == 0 { "and" } else { "or" };
            let mut items: Vec<Value> = (0..rng.range(2, 3))
                .filter_map(|_| condition(ws, ds, rng))
                .collect();
            if rng.chance(0.3) {
                let inner: Vec<Value> = (0..2).filter_map(|_| condition(ws, ds, rng)).collect();
                let other = if key == "and" { "or" } else { "and" };
                items.push(json!({ other: inner }));
            }
            json!({ key: items })
        }
    }
}

/// Random sorts (possibly none) over the sortable properties and timestamps.
pub fn random_sorts(ds: &DataSource, rng: &mut SimRng) -> Value {
    let sortable: Vec<&super::model::PropSchema> = stable(ds)
        .into_iter()
        .filter(|p| {
            matches!(
                p.kind,
                PropKind::Title
                    | PropKind::RichText
                    | PropKind::Number { .. }
                    | PropKind::Checkbox
                    | PropKind::Select { .. }
                    | PropKind::Status { .. }
                    | PropKind::Date
                    | PropKind::Url
            )
        })
        .collect();
    let n = rng.range(0, 2);
    let mut out = Vec::new();
    for _ in 0..n {
        let dir = if rng.chance(0.5) {
            "ascending"
        } else {
            "descending"
        };
        match rng.pick(&sortable) {
            Some(p) if rng.chance(0.8) => {
                out.push(json!({ "property": encode_uri_component(&p.id), "direction": dir }))
            }
            _ => {
                let ts = if rng.chance(0.5) {
                    "created_time"
                } else {
                    "last_edited_time"
                };
                out.push(json!({ "timestamp": ts, "direction": dir }));
            }
        }
    }
    if out.is_empty() && rng.chance(0.5) {
        Value::Null
    } else {
        Value::Array(out)
    }
}

/// One random condition on a stable property (or a timestamp), with a value from a row.
fn condition(ws: &Workspace, ds: &DataSource, rng: &mut SimRng) -> Option<Value> {
    let rows: Vec<&super::model::Page> = ds
        .rows
        .iter()
        .filter_map(|r| ws.pages.get(r))
        .filter(|p| !p.in_trash)
        .collect();
    let sample = rng.pick(&rows).copied();
    let props = stable(ds);
    if props.is_empty() || rng.chance(0.12) {
        let ts = if rng.chance(0.5) {
            "created_time"
        } else {
            "last_edited_time"
        };
        let op = *rng.pick(&["on_or_after", "before", "after", "on_or_before"])?;
        let value = match sample {
            Some(p) if rng.chance(0.5) => fmt_minute(if ts == "created_time" {
                p.created_time
            } else {
                p.last_edited_time
            }),
            _ => rng.pick(super::query::RELATIVE_NAMES)?.to_string(),
        };
        return Some(json!({ "timestamp": ts, ts: { op: value } }));
    }
    let prop = *rng.pick(&props)?;
    let key = encode_uri_component(&prop.id);
    let ty = prop.kind.type_name();
    let value = sample.map(|p| value_json(ws, p, ds, prop, Mode::Full));
    let v = value.unwrap_or(Value::Null);
    let empty = |rng: &mut SimRng| {
        let op = if rng.chance(0.5) {
            "is_empty"
        } else {
            "is_not_empty"
        };
        json!({ op: true })
    };
    let cond = match &prop.kind {
        PropKind::Title
        | PropKind::RichText
        | PropKind::Url
        | PropKind::Email
        | PropKind::PhoneNumber => {
            let text = match &prop.kind {
                PropKind::Title | PropKind::RichText => {
                    plain_text(v.as_array().map_or(&[][..], Vec::as_slice))
                }
                _ => v.as_str().unwrap_or("").to_string(),
            };
            let chars: Vec<char> = text.chars().collect();
            if chars.is_empty() || rng.chance(0.15) {
                empty(rng)
            } else {
                let op = *rng.pick(&[
                    "contains",
                    "does_not_contain",
                    "starts_with",
                    "ends_with",
                    "equals",
                    "does_not_equal",
                ])?;
                let (a, b) = (rng.index(chars.len()), rng.index(chars.len()));
                let piece: String = match op {
                    "equals" | "does_not_equal" => text.clone(),
                    "starts_with" => chars[..=a.max(b).min(chars.len() - 1)].iter().collect(),
                    "ends_with" => chars[a.min(b)..].iter().collect(),
                    _ => chars[a.min(b)..=a.max(b)].iter().collect(),
                };
                // Flip the case of ASCII letters sometimes: matching ignores it.
                let piece = if rng.chance(0.3) && op != "equals" && op != "does_not_equal" {
                    piece.to_ascii_uppercase()
                } else {
                    piece
                };
                json!({ op: piece })
            }
        }
        PropKind::Number { .. } => match v.as_f64() {
            Some(n) if rng.chance(0.85) => {
                let op = *rng.pick(&[
                    "equals",
                    "does_not_equal",
                    "greater_than",
                    "less_than",
                    "greater_than_or_equal_to",
                    "less_than_or_equal_to",
                ])?;
                json!({ op: n })
            }
            _ => empty(rng),
        },
        PropKind::Checkbox => {
            let op = if rng.chance(0.7) {
                "equals"
            } else {
                "does_not_equal"
            };
            json!({ op: rng.chance(0.5) })
        }
        PropKind::Select { .. } | PropKind::Status { .. } => {
            let names: Vec<&str> = prop
                .kind
                .options()
                .iter()
                .map(|o| o.name.as_str())
                .collect();
            match rng.pick(&names) {
                Some(n) if rng.chance(0.85) => {
                    let op = if rng.chance(0.7) {
                        "equals"
                    } else {
                        "does_not_equal"
                    };
                    json!({ op: n })
                }
                _ => empty(rng),
            }
        }
        PropKind::MultiSelect { .. } => {
            let names: Vec<&str> = prop
                .kind
                .options()
                .iter()
                .map(|o| o.name.as_str())
                .collect();
            match rng.pick(&names) {
                Some(n) if rng.chance(0.85) => {
                    let op = if rng.chance(0.7) {
                        "contains"
                    } else {
                        "does_not_contain"
                    };
                    json!({ op: n })
                }
                _ => empty(rng),
            }
        }
        PropKind::People | PropKind::Relation { .. } => {
            let ids: Vec<String> = v
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.get("id").and_then(Value::as_str))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            match rng.pick(&ids) {
                Some(id) if rng.chance(0.85) => {
                    let op = if rng.chance(0.7) {
                        "contains"
                    } else {
                        "does_not_contain"
                    };
                    json!({ op: id })
                }
                _ if matches!(prop.kind, PropKind::People) && rng.chance(0.3) => {
                    json!({ "contains": "me" })
                }
                _ => empty(rng),
            }
        }
        PropKind::Date => {
            let start = v.get("start").and_then(Value::as_str).map(str::to_string);
            match start {
                Some(s) if rng.chance(0.85) => {
                    let op =
                        *rng.pick(&["equals", "before", "after", "on_or_before", "on_or_after"])?;
                    let value = if rng.chance(0.3) {
                        rng.pick(super::query::RELATIVE_NAMES)?.to_string()
                    } else if rng.chance(0.5) {
                        s.chars().take(10).collect()
                    } else {
                        s
                    };
                    json!({ op: value })
                }
                _ => empty(rng),
            }
        }
        PropKind::Files => empty(rng),
        _ => return None,
    };
    Some(json!({ "property": key, ty: cond }))
}
