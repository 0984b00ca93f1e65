//! The change feed's vocabulary and its pure diffing: what one version of an object looks
//! like in the feed (its [`State`]: the meaningful fields, rendered like the typed views),
//! and the [`Change`] between two states (docs/history.md).
//!
//! Invariant: pure functions. Two versions that differ only in what is not meaningful —
//! re-signed file URLs and their `expiry_time`, `request_id`, key order, `last_edited_time`
//! and `last_edited_by` (also as properties), `has_children`, derived titles of child page
//! blocks — have equal states, so a refetch that finds nothing new yields no change.
//!
//! Files: `render` (states from API objects), `blocks` (which blocks moved among their
//! siblings: the fewest that explain the new order).

pub mod blocks;
pub mod render;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The objects the feed records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Object {
    Page,
    Database,
    DataSource,
    Block,
    Comment,
    User,
    View,
}

impl Object {
    pub const ALL: [Object; 7] = [
        Object::Page,
        Object::Database,
        Object::DataSource,
        Object::Block,
        Object::Comment,
        Object::User,
        Object::View,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Object::Page => "page",
            Object::Database => "database",
            Object::DataSource => "data_source",
            Object::Block => "block",
            Object::Comment => "comment",
            Object::User => "user",
            Object::View => "view",
        }
    }

    pub fn parse(text: &str) -> Option<Object> {
        Object::ALL.into_iter().find(|o| o.as_str() == text)
    }

    /// The mirror table holding this object.
    pub fn table(self) -> &'static str {
        match self {
            Object::Page => "pages",
            Object::Database => "databases",
            Object::DataSource => "data_sources",
            Object::Block => "blocks",
            Object::Comment => "comments",
            Object::User => "users",
            Object::View => "views",
        }
    }
}

/// What kind of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Created,
    Updated,
    Trashed,
    Restored,
    Moved,
    Removed,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Created,
        Kind::Updated,
        Kind::Trashed,
        Kind::Restored,
        Kind::Moved,
        Kind::Removed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Created => "created",
            Kind::Updated => "updated",
            Kind::Trashed => "trashed",
            Kind::Restored => "restored",
            Kind::Moved => "moved",
            Kind::Removed => "removed",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// Why the mirror wrote a change: the work that fetched it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// A webhook-driven work item (and what it discovered).
    Webhook,
    Incremental,
    Presence,
    Full,
    Resync,
    /// The `notion-mirror sync` command.
    Sync,
    /// Work a sweep queued: the kind of `sync_runs` row `id` (resolved when written).
    Run(i64),
}

impl Cause {
    /// The label, or `None` for [`Cause::Run`] (resolved from `sync_runs`).
    pub fn label(self) -> Option<&'static str> {
        Some(match self {
            Cause::Webhook => "webhook",
            Cause::Incremental => "incremental",
            Cause::Presence => "presence",
            Cause::Full => "full",
            Cause::Resync => "resync",
            Cause::Sync => "sync",
            Cause::Run(_) => return None,
        })
    }

    /// The cause of a sweep of this `sync_runs.kind`.
    pub fn of_sweep(kind: &str) -> Cause {
        match kind {
            "incremental" => Cause::Incremental,
            "presence" => Cause::Presence,
            "resync" => Cause::Resync,
            _ => Cause::Full,
        }
    }
}

/// One version of an object as the feed sees it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct State {
    /// Fixed fields in feed order (`title`, `in_trash`, `parent`, `text`, ...).
    pub fixed: Vec<(&'static str, Value)>,
    /// Page property values by property id: (name, typed-view value). Properties added to
    /// or removed from the schema are schema changes, not page changes: only properties
    /// present in both versions are compared.
    pub props: BTreeMap<String, (String, Value)>,
    /// A data source's schema by property id: (name, definition).
    pub schema: Option<BTreeMap<String, (String, Value)>>,
}

impl State {
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.fixed.iter().find(|(k, _)| *k == field).map(|(_, v)| v)
    }

    fn fixed_names(&self) -> Vec<&'static str> {
        self.fixed.iter().map(|(k, _)| *k).collect()
    }

    /// The feed name of property `id` called `name`: the name, unless a fixed field has
    /// it (then `name [id]`, like the typed views' collision rule).
    fn prop_field(&self, name: &str, id: &str) -> String {
        if self.fixed.iter().any(|(k, _)| *k == name) || name == "schema" {
            format!("{name} [{id}]")
        } else {
            name.to_string()
        }
    }
}

/// A change, ready to be written (its `seq`, `at` and `cause` come with the write).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub object: Object,
    pub id: String,
    pub page_id: Option<String>,
    pub kind: Kind,
    pub fields: Vec<String>,
    pub before: Map<String, Value>,
    pub after: Map<String, Value>,
    pub edited_time: Option<String>,
    pub edited_by: Option<String>,
}

/// The fields of a change between two states of one object.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Delta {
    pub kind: Option<Kind>,
    pub fields: Vec<String>,
    pub before: Map<String, Value>,
    pub after: Map<String, Value>,
}

/// Values a created or removed object's fields leave out: nothing to show.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Every non-empty field of `state` (a created object's `after`, a removed one's
/// `before`).
fn whole(state: &State) -> (Vec<String>, Map<String, Value>) {
    let mut fields = Vec::new();
    let mut map = Map::new();
    for (k, v) in &state.fixed {
        if !is_empty(v) {
            fields.push(k.to_string());
            map.insert(k.to_string(), v.clone());
        }
    }
    let mut props: Vec<(String, &Value)> = state
        .props
        .iter()
        .filter(|(_, (_, v))| !is_empty(v))
        .map(|(id, (name, v))| (state.prop_field(name, id), v))
        .collect();
    props.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, v) in props {
        fields.push(name.clone());
        map.insert(name, v.clone());
    }
    if let Some(schema) = &state.schema {
        let defs: Map<String, Value> = schema
            .values()
            .map(|(name, def)| (name.clone(), def.clone()))
            .collect();
        fields.push("schema".into());
        map.insert("schema".into(), Value::Object(defs));
    }
    (fields, map)
}

/// The change from `old` to `new` (`None` on a side: the object is new, or gone). An empty
/// delta (`kind: None`) means nothing meaningful changed.
pub fn diff(old: Option<&State>, new: Option<&State>) -> Delta {
    match (old, new) {
        (None, None) => Delta::default(),
        (None, Some(new)) => {
            let (fields, after) = whole(new);
            Delta {
                kind: Some(Kind::Created),
                fields,
                before: Map::new(),
                after,
            }
        }
        (Some(old), None) => {
            let (fields, before) = whole(old);
            Delta {
                kind: Some(Kind::Removed),
                fields,
                before,
                after: Map::new(),
            }
        }
        (Some(old), Some(new)) => compare(old, new),
    }
}

fn compare(old: &State, new: &State) -> Delta {
    let mut d = Delta::default();
    let mut names = new.fixed_names();
    for k in old.fixed_names() {
        if !names.contains(&k) {
            names.push(k);
        }
    }
    for k in names {
        let o = old.get(k).cloned().unwrap_or(Value::Null);
        let n = new.get(k).cloned().unwrap_or(Value::Null);
        if o != n {
            d.fields.push(k.to_string());
            d.before.insert(k.to_string(), o);
            d.after.insert(k.to_string(), n);
        }
    }
    let mut props: Vec<(String, Value, Value)> = Vec::new();
    for (id, (name, n)) in &new.props {
        if let Some((_, o)) = old.props.get(id) {
            if o != n {
                props.push((new.prop_field(name, id), o.clone(), n.clone()));
            }
        }
    }
    props.sort_by(|a, b| a.0.cmp(&b.0));
    for (field, o, n) in props {
        d.fields.push(field.clone());
        d.before.insert(field.clone(), o);
        d.after.insert(field, n);
    }
    if let Some((before, after)) = schema_delta(old.schema.as_ref(), new.schema.as_ref()) {
        d.fields.push("schema".into());
        d.before.insert("schema".into(), Value::Object(before));
        d.after.insert("schema".into(), Value::Object(after));
    }
    if !d.fields.is_empty() {
        d.kind = Some(kind_of(&d, new));
    }
    d
}

type Schema = BTreeMap<String, (String, Value)>;

/// The schema properties that changed, by name: `null` on the side where one is absent.
fn schema_delta(
    old: Option<&Schema>,
    new: Option<&Schema>,
) -> Option<(Map<String, Value>, Map<String, Value>)> {
    let empty = Schema::new();
    let (old, new) = (old.unwrap_or(&empty), new.unwrap_or(&empty));
    let mut before = Map::new();
    let mut after = Map::new();
    for (id, (name, def)) in new {
        match old.get(id) {
            Some((old_name, old_def)) if old_name == name && old_def == def => {}
            Some((old_name, old_def)) => {
                before.insert(old_name.clone(), old_def.clone());
                after.insert(name.clone(), def.clone());
            }
            None => {
                before.insert(name.clone(), Value::Null);
                after.insert(name.clone(), def.clone());
            }
        }
    }
    for (id, (name, def)) in old {
        if !new.contains_key(id) {
            before.insert(name.clone(), def.clone());
            after.insert(name.clone(), Value::Null);
        }
    }
    (!before.is_empty() || !after.is_empty()).then_some((before, after))
}

/// `trashed`/`restored` when `in_trash` flipped, `moved` when the parent or the place
/// among siblings changed, else `updated`.
fn kind_of(d: &Delta, new: &State) -> Kind {
    if d.fields.iter().any(|f| f == "in_trash") {
        let trashed = new.get("in_trash").and_then(Value::as_i64) == Some(1);
        return if trashed {
            Kind::Trashed
        } else {
            Kind::Restored
        };
    }
    if d.fields.iter().any(|f| f == "parent" || f == "position") {
        return Kind::Moved;
    }
    Kind::Updated
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state(fixed: Vec<(&'static str, Value)>, props: &[(&str, &str, Value)]) -> State {
        State {
            fixed,
            props: props
                .iter()
                .map(|(id, name, v)| (id.to_string(), (name.to_string(), v.clone())))
                .collect(),
            schema: None,
        }
    }

    #[test]
    fn equal_states_make_no_change() {
        let s = state(
            vec![("in_trash", json!(0))],
            &[("a", "Status", json!("Done"))],
        );
        assert_eq!(diff(Some(&s), Some(&s)), Delta::default());
    }

    #[test]
    fn a_property_edit_names_the_property_with_before_and_after() {
        let old = state(
            vec![("in_trash", json!(0))],
            &[("a", "Status", json!("In progress"))],
        );
        let new = state(
            vec![("in_trash", json!(0))],
            &[("a", "Status", json!("Done"))],
        );
        let d = diff(Some(&old), Some(&new));
        assert_eq!(d.kind, Some(Kind::Updated));
        assert_eq!(d.fields, vec!["Status"]);
        assert_eq!(
            d.before,
            json!({"Status": "In progress"})
                .as_object()
                .cloned()
                .unwrap()
        );
        assert_eq!(
            d.after,
            json!({"Status": "Done"}).as_object().cloned().unwrap()
        );
    }

    #[test]
    fn properties_present_on_one_side_only_are_schema_changes_not_page_changes() {
        let old = state(vec![], &[("a", "Old name", json!("x"))]);
        let renamed = state(vec![], &[("a", "New name", json!("x"))]);
        assert_eq!(diff(Some(&old), Some(&renamed)).kind, None);
        let added = state(
            vec![],
            &[("a", "Old name", json!("x")), ("b", "New", json!(0))],
        );
        assert_eq!(diff(Some(&old), Some(&added)).kind, None);
    }

    #[test]
    fn trash_restore_and_moves_are_their_own_kinds() {
        let live = state(vec![("parent", json!("p1")), ("in_trash", json!(0))], &[]);
        let trashed = state(vec![("parent", json!("p1")), ("in_trash", json!(1))], &[]);
        let moved = state(vec![("parent", json!("p2")), ("in_trash", json!(0))], &[]);
        assert_eq!(diff(Some(&live), Some(&trashed)).kind, Some(Kind::Trashed));
        assert_eq!(diff(Some(&trashed), Some(&live)).kind, Some(Kind::Restored));
        let m = diff(Some(&live), Some(&moved));
        assert_eq!(m.kind, Some(Kind::Moved));
        assert_eq!(m.fields, vec!["parent"]);
    }

    #[test]
    fn created_and_removed_carry_the_non_empty_fields() {
        let s = state(
            vec![("parent", json!("p")), ("icon", Value::Null)],
            &[("a", "Name", json!("Row")), ("b", "Notes", json!(""))],
        );
        let c = diff(None, Some(&s));
        assert_eq!(c.kind, Some(Kind::Created));
        assert_eq!(c.fields, vec!["parent", "Name"]);
        assert!(c.before.is_empty());
        let r = diff(Some(&s), None);
        assert_eq!(r.kind, Some(Kind::Removed));
        assert_eq!(r.before, c.after);
    }

    #[test]
    fn a_property_named_like_a_fixed_field_is_told_apart() {
        let old = state(
            vec![("parent", json!("p"))],
            &[("x%3A", "parent", json!(1))],
        );
        let new = state(
            vec![("parent", json!("p"))],
            &[("x%3A", "parent", json!(2))],
        );
        assert_eq!(diff(Some(&old), Some(&new)).fields, vec!["parent [x%3A]"]);
    }

    #[test]
    fn schema_changes_name_the_properties_that_changed() {
        let schema = |defs: &[(&str, &str, Value)]| State {
            schema: Some(
                defs.iter()
                    .map(|(id, name, def)| (id.to_string(), (name.to_string(), def.clone())))
                    .collect(),
            ),
            ..State::default()
        };
        let old = schema(&[
            ("a", "Field x", json!({"type": "number"})),
            ("b", "Gone", json!({"type": "date"})),
        ]);
        let new = schema(&[
            ("a", "Field y", json!({"type": "number"})),
            ("c", "Added", json!({"type": "checkbox"})),
        ]);
        let d = diff(Some(&old), Some(&new));
        assert_eq!(d.fields, vec!["schema"]);
        assert_eq!(
            d.before["schema"],
            json!({"Field x": {"type": "number"}, "Added": null, "Gone": {"type": "date"}})
        );
        assert_eq!(
            d.after["schema"],
            json!({"Field y": {"type": "number"}, "Added": {"type": "checkbox"}, "Gone": null})
        );
    }
}
