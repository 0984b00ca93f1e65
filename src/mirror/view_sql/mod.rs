//! Notion views as SQL: for every mirrored view whose filter and sorts the typed view can
//! express exactly, a SQL view `<typed view>__<view name>` selecting the view's rows from
//! the typed view in the view's order (docs/views.md has the rules and the semantics).
//!
//! Invariant: exact or nothing — a view using anything this module cannot reproduce
//! exactly (formula and rollup values, which page objects compute over at most 25
//! references; unknown property types or operators; a property the schema lacks) gets no
//! SQL view and a `views.sql_note` naming the condition. Only views recorded in
//! `view_sql` are ever dropped. Relative dates are evaluated by SQLite at query time.

use std::collections::{BTreeMap, HashMap, HashSet};

use rusqlite::{params, Connection};
use serde_json::Value;

use super::read::percent_decode;
use super::views::{quote_ident, SourceSchema};
use super::{StoreError, INTERNAL_NAMES, USER_TABLES};
use crate::ids;

mod filter;
use filter::{condition, instant, lit};

/// A property of the view's data source as the translation needs it.
#[derive(Debug, Clone)]
struct Prop {
    id: String,
    name: String,
    kind: String,
    /// The typed view's column for it.
    column: String,
    /// Select/status option names in schema order.
    options: Vec<String>,
}

/// A data source's schema with its typed view's columns.
#[derive(Debug, Clone)]
pub struct Schema {
    view_name: String,
    props: Vec<Prop>,
}

impl Schema {
    /// From a data source's raw JSON and its typed view name.
    pub fn new(view_name: &str, source: &SourceSchema, raw: &Value) -> Schema {
        let columns = super::views::column_names(&source.properties);
        let by_name = raw.get("properties").and_then(Value::as_object);
        let props = source
            .properties
            .iter()
            .zip(columns)
            .map(|((id, name), column)| {
                let def = by_name.and_then(|m| m.get(name)).unwrap_or(&Value::Null);
                let kind = def.get("type").and_then(Value::as_str).unwrap_or("");
                let options = def
                    .pointer(&format!("/{kind}/options"))
                    .and_then(Value::as_array)
                    .map(|o| {
                        o.iter()
                            .filter_map(|x| x.get("name").and_then(Value::as_str))
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                Prop {
                    id: id.clone(),
                    name: name.clone(),
                    kind: kind.to_string(),
                    column,
                    options,
                }
            })
            .collect();
        Schema {
            view_name: view_name.to_string(),
            props,
        }
    }

    /// A property by name, by id as the API shows it, or by its decoded id.
    fn find(&self, key: &str) -> Option<&Prop> {
        self.props.iter().find(|p| p.name == key).or_else(|| {
            let decoded = percent_decode(key);
            self.props
                .iter()
                .find(|p| p.id == key || percent_decode(&p.id) == decoded)
        })
    }
}

/// The SELECT a view runs, and a note on what it leaves out (quick filters); or why
/// there is none.
pub fn translate(view: &Value, schema: &Schema) -> Result<(String, Option<String>), String> {
    let filter = match view.get("filter") {
        None | Some(Value::Null) => "1".to_string(),
        Some(f) => condition(f, schema, 0)?,
    };
    let order = order_by(view.get("sorts").unwrap_or(&Value::Null), schema)?;
    let quick = view
        .get("quick_filters")
        .and_then(Value::as_object)
        .is_some_and(|q| !q.is_empty());
    let note = quick.then(|| {
        "quick filters are not applied (Notion's view queries run the view's filter and sorts only)"
            .to_string()
    });
    let sql = format!(
        "SELECT * FROM {} WHERE \"in_trash\" = 0 AND ({filter}) ORDER BY {order}",
        quote_ident(&schema.view_name)
    );
    Ok((sql, note))
}

fn order_by(sorts: &Value, schema: &Schema) -> Result<String, String> {
    let mut parts = Vec::new();
    let list = match sorts {
        Value::Null => &[][..],
        Value::Array(a) => a.as_slice(),
        _ => return Err("sorts that are not an array".into()),
    };
    for s in list {
        let dir = match s.get("direction").and_then(Value::as_str) {
            Some("descending") => "DESC",
            Some("ascending") | None => "ASC",
            Some(d) => return Err(format!("sort direction `{d}`")),
        };
        if let Some(ts) = s.get("timestamp").and_then(Value::as_str) {
            if !matches!(ts, "created_time" | "last_edited_time") {
                return Err(format!("a sort on timestamp `{ts}`"));
            }
            parts.push(format!("{} {dir}", quote_ident(ts)));
            continue;
        }
        let key = s
            .get("property")
            .and_then(Value::as_str)
            .ok_or_else(|| "a sort without `property` or `timestamp`".to_string())?;
        let prop = schema
            .find(key)
            .ok_or_else(|| format!("sort property `{key}` is not in the data source's schema"))?;
        let col = quote_ident(&prop.column);
        // Empty values last in both directions.
        let (empty, value) = match prop.kind.as_str() {
            "title" | "rich_text" | "url" | "email" | "phone_number" => (
                format!("(coalesce({col}, '') = '')"),
                format!("{col} COLLATE NOCASE"),
            ),
            "number" | "checkbox" => (format!("({col} IS NULL)"), col.clone()),
            "select" | "status" => {
                let cases: Vec<String> = prop
                    .options
                    .iter()
                    .enumerate()
                    .map(|(i, o)| format!("WHEN {} THEN {i}", lit(o)))
                    .collect();
                let e = if cases.is_empty() {
                    "NULL".to_string()
                } else {
                    format!("(CASE {col} {} END)", cases.join(" "))
                };
                (format!("({e} IS NULL)"), e)
            }
            "date" => (format!("({col} IS NULL)"), instant(&col)),
            "created_time" | "last_edited_time" => {
                parts.push(format!("{} {dir}", quote_ident(&prop.kind)));
                continue;
            }
            other => {
                return Err(format!(
                    "a sort on `{}` of type `{other}` (its order in Notion is not documented)",
                    prop.name
                ))
            }
        };
        parts.push(format!("{empty} ASC"));
        parts.push(format!("{value} {dir}"));
    }
    parts.push("\"created_time\" ASC".into());
    parts.push("\"id\" ASC".into());
    Ok(parts.join(", "))
}

/// The name part of a view: lowercase, each run of non-alphanumerics → `_`, trimmed;
/// empty → `v_<8 hex of the id>`.
pub fn view_part(name: &str, id: &str) -> String {
    let out = super::views::slug(name);
    if out.is_empty() {
        format!("v_{}", ids::short(id))
    } else {
        out
    }
}

/// What the mirror's views ask for: `(view id, name, select)` or `(view id, note)`.
struct Plan {
    wanted: BTreeMap<String, (String, String)>,
    /// view id → (SQL view name, note)
    status: HashMap<String, (Option<String>, Option<String>)>,
}

fn plan(conn: &Connection) -> Result<Plan, StoreError> {
    // Typed views and schemas of the mirrored data sources.
    let mut schemas: HashMap<String, Schema> = HashMap::new();
    {
        let mut stmt = conn.prepare(
            "SELECT d.id, d.title, d.raw, t.name FROM data_sources d JOIN typed_views t ON t.data_source_id = d.id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        for row in rows {
            let (id, title, raw, view) = row?;
            let raw: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
            let source = SourceSchema::from_raw(&id, &title, &raw);
            schemas.insert(id, Schema::new(&view, &source, &raw));
        }
    }
    let views: Vec<(String, String, Option<String>, Value)> = {
        let mut stmt =
            conn.prepare("SELECT id, name, data_source_id, raw FROM views ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        rows.map(|r| {
            r.map(|(a, b, c, d)| (a, b, c, serde_json::from_str(&d).unwrap_or(Value::Null)))
        })
        .collect::<Result<_, _>>()?
    };
    let mut status = HashMap::new();
    let mut candidates: Vec<(String, String, String)> = Vec::new(); // (view id, base, select)
    for (id, name, ds, raw) in views {
        let outcome = match ds.as_deref().map(|d| (d, schemas.get(d))) {
            None => Err("a dashboard view has no data source".to_string()),
            Some((d, None)) => Err(format!("data source {d} is not in the mirror")),
            Some((_, Some(schema))) => translate(&raw, schema).map(|(sql, note)| {
                (
                    format!("{}__{}", schema.view_name, view_part(&name, &id)),
                    sql,
                    note,
                )
            }),
        };
        match outcome {
            Ok((base, sql, note)) => {
                status.insert(id.clone(), (None, note));
                candidates.push((id, base, sql));
            }
            Err(why) => {
                status.insert(id, (None, Some(why)));
            }
        }
    }
    let taken: HashSet<String> = {
        let mut stmt = conn.prepare("SELECT lower(name) FROM typed_views")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect::<Result<_, _>>()?
    };
    let mut counts: HashMap<String, usize> = HashMap::new();
    for (_, base, _) in &candidates {
        *counts.entry(base.to_lowercase()).or_default() += 1;
    }
    let mut wanted = BTreeMap::new();
    for (id, base, sql) in candidates {
        let folded = base.to_lowercase();
        let collides = counts.get(&folded).copied().unwrap_or(0) > 1
            || taken.contains(&folded)
            || USER_TABLES.contains(&folded.as_str())
            || INTERNAL_NAMES.contains(&folded.as_str());
        let name = if collides {
            format!("{base}_{}", ids::short(&id))
        } else {
            base
        };
        if let Some(s) = status.get_mut(&id) {
            s.0 = Some(name.clone());
        }
        wanted.insert(name, (id, sql));
    }
    Ok(Plan { wanted, status })
}

/// Brings the SQL views in step with the `views` table and the typed views, touching only
/// those whose SQL changed; records each view's SQL view name and note. Returns how many
/// SQL views were created or replaced.
pub fn rebuild_all(conn: &Connection) -> Result<usize, StoreError> {
    let Plan { wanted, mut status } = plan(conn)?;
    // Recorded and still present (a SQL view dropped by hand is created again).
    let existing: HashMap<String, String> = {
        let mut stmt = conn.prepare(
            "SELECT v.name, CASE WHEN m.name IS NULL THEN '' ELSE v.sql END
             FROM view_sql v LEFT JOIN sqlite_master m ON m.type = 'view' AND m.name = v.name",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    let keep: HashSet<&String> = wanted
        .iter()
        .filter(|(name, (_, sql))| existing.get(*name) == Some(sql))
        .map(|(name, _)| name)
        .collect();
    for name in existing.keys().filter(|n| !keep.contains(n)) {
        conn.execute_batch(&format!("DROP VIEW IF EXISTS {}", quote_ident(name)))?;
        conn.execute("DELETE FROM view_sql WHERE name = ?1", [name])?;
    }
    let mut changed = 0;
    for (name, (view_id, sql)) in &wanted {
        if keep.contains(name) {
            continue;
        }
        let create = format!("CREATE VIEW {} AS {sql}", quote_ident(name));
        if let Err(e) = conn.execute_batch(&create) {
            // A user's own object holds the name: leave theirs.
            tracing::warn!(view = %name, error = %e, "SQL view over a Notion view could not be created");
            status.insert(
                view_id.clone(),
                (
                    None,
                    Some(format!("the name `{name}` is taken by another object")),
                ),
            );
            continue;
        }
        conn.execute(
            "INSERT INTO view_sql (name, view_id, sql) VALUES (?1, ?2, ?3)",
            params![name, view_id, sql],
        )?;
        changed += 1;
    }
    let mut update = conn.prepare_cached(
        "UPDATE views SET sql_view = ?2, sql_note = ?3
         WHERE id = ?1 AND (sql_view IS NOT ?2 OR sql_note IS NOT ?3)",
    )?;
    for (id, (name, note)) in status {
        update.execute(params![id, name, note])?;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::filter::relative_date;
    use super::*;
    use serde_json::json;

    fn schema() -> Schema {
        let raw = json!({"properties": {
            "Name": {"id": "title", "name": "Name", "type": "title", "title": {}},
            "Status": {"id": "s%3A", "name": "Status", "type": "status",
                       "status": {"options": [{"name": "Todo"}, {"name": "Done"}]}},
            "Due": {"id": "d", "name": "Due", "type": "date", "date": {}},
            "Sum": {"id": "r", "name": "Sum", "type": "rollup", "rollup": {}},
        }});
        let source = SourceSchema::from_raw("ds", "Tasks", &raw);
        Schema::new("tasks", &source, &raw)
    }

    #[test]
    fn filters_and_sorts_become_where_and_order_by() {
        let view = json!({
            "filter": {"and": [
                {"property": "s:", "status": {"does_not_equal": "Done"}},
                {"property": "Name", "title": {"contains": "Ship"}},
                {"property": "d", "date": {"on_or_after": "one_month_ago"}}
            ]},
            "sorts": [{"property": "s%3A", "direction": "descending"}]
        });
        let (sql, note) = translate(&view, &schema()).expect("expressible");
        assert_eq!(note, None);
        assert!(
            sql.contains("(\"Status\" IS NULL OR \"Status\" <> 'Done')"),
            "{sql}"
        );
        assert!(
            sql.contains("instr(lower(coalesce(\"Name\", '')), 'ship') > 0"),
            "{sql}"
        );
        assert!(
            sql.contains("date(\"Due\") >= min(date('now', '-1 months')"),
            "{sql}"
        );
        assert!(
            sql.contains("(CASE \"Status\" WHEN 'Todo' THEN 0 WHEN 'Done' THEN 1 END) DESC"),
            "{sql}"
        );
        assert!(sql.ends_with("\"created_time\" ASC, \"id\" ASC"), "{sql}");
    }

    #[test]
    fn inexpressible_filters_name_their_condition() {
        let view =
            json!({"filter": {"property": "Sum", "rollup": {"number": {"greater_than": 1}}}});
        let why = translate(&view, &schema()).expect_err("a rollup");
        assert!(why.contains("rollup filter on `Sum`"), "{why}");
        let view = json!({"filter": {"property": "Gone", "title": {"contains": "x"}}});
        assert!(translate(&view, &schema()).unwrap_err().contains("`Gone`"));
        let view = json!({"quick_filters": {"s%3A": {"status": {"equals": "Done"}}}});
        assert!(translate(&view, &schema()).expect("created").1.is_some());
    }

    #[test]
    fn relative_months_clamp_like_the_simulator() {
        let conn = Connection::open_in_memory().expect("db");
        let shift = |expr: &str, now: &str| -> String {
            let e = expr.replace("'now'", &format!("'{now}'"));
            conn.query_row(&format!("SELECT {e}"), [], |r| r.get(0))
                .expect("date")
        };
        assert_eq!(shift(&relative_date(0, -1), "2026-03-31"), "2026-02-28");
        assert_eq!(shift(&relative_date(0, 1), "2026-01-31"), "2026-02-28");
        assert_eq!(shift(&relative_date(0, 1), "2026-12-31"), "2027-01-31");
        assert_eq!(shift(&relative_date(-7, 0), "2026-03-01"), "2026-02-22");
        assert_eq!(
            view_part("My open tasks!", "1a2b3c4d-0000"),
            "my_open_tasks"
        );
        assert_eq!(view_part("✓", "1a2b3c4d-0000"), "v_1a2b3c4d");
    }
}
