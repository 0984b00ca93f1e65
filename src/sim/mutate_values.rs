//! Property-value mutations (`UpdateProperties`): simple JSON values → stored values, and
//! dual relations kept in step.
//!
//! Invariant: every value is converted and validated before the first write, so a bad
//! value changes nothing.

use serde_json::{json, Map, Value};

use super::error::SimError;
use super::model::{Parent, PropKind, Val};
use super::mutate::Tx;
use super::richtext;
use super::util::encode_uri_component;

impl Tx<'_> {
    /// Converts a simple mutation value to a stored value for `kind`.
    pub(crate) fn convert(&self, kind: &PropKind, v: &Value) -> Result<Val, SimError> {
        let bad = || {
            SimError::Invalid(format!(
                "value {v} does not fit a {} property",
                kind.type_name()
            ))
        };
        let opt = |name: &str| {
            kind.options()
                .iter()
                .find(|o| o.name == name)
                .map(|o| o.id.clone())
        };
        Ok(match kind {
            PropKind::RichText => Val::RichText(richtext::plain(v.as_str().unwrap_or_default())),
            PropKind::Number { .. } => Val::Number(if v.is_null() {
                None
            } else {
                Some(v.as_f64().ok_or_else(bad)?)
            }),
            PropKind::Select { .. } | PropKind::Status { .. } => {
                let id = match v.as_str() {
                    None if v.is_null() => None,
                    None => return Err(bad()),
                    Some(n) => Some(
                        opt(n).ok_or_else(|| SimError::Invalid(format!("no option named {n}")))?,
                    ),
                };
                if matches!(kind, PropKind::Select { .. }) {
                    Val::Select(id)
                } else {
                    Val::Status(id)
                }
            }
            PropKind::MultiSelect { .. } => {
                let names = v.as_array().ok_or_else(bad)?;
                let ids = names
                    .iter()
                    .map(|n| {
                        n.as_str()
                            .and_then(opt)
                            .ok_or_else(|| SimError::Invalid(format!("no option named {n}")))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Val::MultiSelect(ids)
            }
            PropKind::Date => match v.as_str() {
                None if v.is_null() => Val::Date(None),
                Some(s) if super::query::parse_instant(s).is_some() => {
                    Val::Date(Some(json!({ "start": s, "end": null, "time_zone": null })))
                }
                _ => return Err(bad()),
            },
            PropKind::People => {
                let ids = self.id_list(v)?;
                if let Some(x) = ids.iter().find(|id| self.ws.user(id).is_none()) {
                    return Err(SimError::NotFound(x.clone()));
                }
                Val::People(ids)
            }
            PropKind::Checkbox => Val::Checkbox(v.as_bool().ok_or_else(bad)?),
            PropKind::Url | PropKind::Email | PropKind::PhoneNumber => Val::Text(if v.is_null() {
                None
            } else {
                Some(v.as_str().ok_or_else(bad)?.to_string())
            }),
            PropKind::Relation { data_source_id, .. } => {
                let ids = self.id_list(v)?;
                let rows = self
                    .ws
                    .data_sources
                    .get(data_source_id)
                    .map(|d| d.rows.clone())
                    .unwrap_or_default();
                if let Some(x) = ids.iter().find(|id| !rows.contains(id)) {
                    return Err(SimError::Invalid(format!(
                        "{x} is not a row of the related data source"
                    )));
                }
                Val::Relation(ids)
            }
            other => {
                return Err(SimError::Invalid(format!(
                    "{} properties are read-only",
                    other.type_name()
                )))
            }
        })
    }

    pub(crate) fn id_list(&self, v: &Value) -> Result<Vec<String>, SimError> {
        let arr = v
            .as_array()
            .ok_or_else(|| SimError::Invalid(format!("expected an array of ids, got {v}")))?;
        let mut out: Vec<String> = Vec::new();
        for x in arr {
            let id = Self::id(x.as_str().unwrap_or_default())?;
            if !out.contains(&id) {
                out.push(id);
            }
        }
        Ok(out)
    }

    pub(crate) fn update_properties(
        &mut self,
        raw: &str,
        values: &Map<String, Value>,
    ) -> Result<(), SimError> {
        let id = self.page(raw)?;
        let ds = match self.ws.pages.get(&id).map(|p| p.parent.clone()) {
            Some(Parent::DataSource(ds)) => Some(ds),
            _ => None,
        };
        let Some(ds_id) = ds else {
            // A non-row page has only its title.
            return match values.get("title").and_then(Value::as_str) {
                Some(t) if values.len() == 1 => self.rename_page(&id, t),
                _ => Err(SimError::Invalid(
                    "a non-row page only has a `title` property".into(),
                )),
            };
        };
        let schema = self
            .ws
            .data_sources
            .get(&ds_id)
            .map(|d| d.properties.clone())
            .unwrap_or_default();
        // Validate everything before writing anything.
        let mut planned: Vec<(String, PropKind, Option<Val>, Option<String>)> = Vec::new();
        let mut uploads = Vec::new();
        for (name, v) in values {
            let prop = schema
                .iter()
                .find(|p| &p.name == name || encode_uri_component(&p.id) == *name)
                .ok_or_else(|| SimError::Invalid(format!("no property named {name}")))?;
            if let PropKind::Title = prop.kind {
                let t = v
                    .as_str()
                    .ok_or_else(|| SimError::Invalid("title must be a string".into()))?;
                planned.push((
                    prop.id.clone(),
                    prop.kind.clone(),
                    None,
                    Some(t.to_string()),
                ));
            } else if let PropKind::Files = prop.kind {
                let (val, files) = super::files::files_value(self.ws, &id, self.now, v)?;
                uploads.extend(files);
                planned.push((prop.id.clone(), prop.kind.clone(), Some(val), None));
            } else {
                let val = self.convert(&prop.kind, v)?;
                planned.push((prop.id.clone(), prop.kind.clone(), Some(val), None));
            }
        }
        for file in uploads {
            self.ws.add_hosted_file(file);
        }
        let mut updated = Vec::new();
        for (prop_id, kind, val, title) in planned {
            if let Some(t) = title {
                if let Some(p) = self.ws.pages.get_mut(&id) {
                    p.title = richtext::plain(&t);
                }
            }
            if let Some(val) = val {
                if let (
                    PropKind::Relation {
                        synced: Some(other),
                        ..
                    },
                    Val::Relation(new),
                ) = (&kind, &val)
                {
                    self.sync_dual(&id, &prop_id, other, new);
                }
                if let Some(p) = self.ws.pages.get_mut(&id) {
                    p.props.insert(prop_id.clone(), val);
                }
            }
            updated.push(encode_uri_component(&prop_id));
        }
        self.bump_page(&id);
        let parent = self.page_parent_data(&id);
        self.event(
            "page.properties_updated",
            "page",
            &id,
            json!({ "parent": parent, "updated_properties": updated }),
        );
        Ok(())
    }

    /// Keeps the other side of a dual relation in step; the partner pages are edited too
    /// (their `last_edited_time` moves and they get `page.properties_updated` — UNCONFIRMED).
    pub(crate) fn sync_dual(&mut self, page: &str, prop: &str, other_prop: &str, new: &[String]) {
        let old = match self.ws.pages.get(page).and_then(|p| p.props.get(prop)) {
            Some(Val::Relation(v)) => v.clone(),
            _ => Vec::new(),
        };
        let added: Vec<String> = new.iter().filter(|x| !old.contains(x)).cloned().collect();
        let removed: Vec<String> = old.iter().filter(|x| !new.contains(x)).cloned().collect();
        for (target, add) in added
            .iter()
            .map(|t| (t, true))
            .chain(removed.iter().map(|t| (t, false)))
        {
            let Some(tp) = self.ws.pages.get_mut(target) else {
                continue;
            };
            let list = tp
                .props
                .entry(other_prop.to_string())
                .or_insert_with(|| Val::Relation(Vec::new()));
            if let Val::Relation(v) = list {
                v.retain(|x| x != page);
                if add {
                    v.push(page.to_string());
                }
            }
            self.bump_page(target);
            let parent = self.page_parent_data(target);
            let enc = encode_uri_component(other_prop);
            self.event(
                "page.properties_updated",
                "page",
                target,
                json!({ "parent": parent, "updated_properties": [enc] }),
            );
        }
    }
}
