//! Databases, data sources, their rows, and the users list.
//!
//! Invariants: rows are written from query results (100 pages a call), never with a
//! per-page GET; a query that hits Notion's 10,000-row cap continues in a new window
//! (`created_time on_or_after` the last row's, de-duplicated by id) instead of stopping;
//! a failing query never removes anything — only a direct GET of the data source can.

use std::collections::HashSet;

use serde_json::{json, Value};

use super::remove::{remove, Gone};
use super::{pages, Ctx, FetchError, Origin, Report};
use crate::ids;
use crate::mirror::{read, write};
use crate::notion::NotionError;
use crate::queue::{reason, Kind, Signal, WorkItem};

/// Runs one database work item: the container, then its data sources.
pub async fn refresh_database(ctx: &Ctx, item: &WorkItem) -> Result<Report, FetchError> {
    let id = item.id.clone();
    let db = match ctx.client.retrieve_database(&id).await {
        Ok(db) => db,
        Err(e) if e.is_gone() => return remove(ctx, Gone::Database, &id, &e).await,
        Err(e) => return Err(e.into()),
    };
    let listed: Vec<String> = db
        .get("data_sources")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|d| d.get("id").and_then(Value::as_str).and_then(ids::normalize))
                .collect()
        })
        .unwrap_or_default();
    let db_id = id.clone();
    let trashed_now = write::trashed(&db);
    let (written, mirrored, trashed_before) = ctx
        .store
        .write(move |c| {
            let before = read::raw_of(c, "databases", &db_id)?
                .and_then(|r| serde_json::from_str::<Value>(&r).ok())
                .map(|old| write::trashed(&old));
            let changed = write::upsert_database(c, db)?.changed();
            Ok((
                u64::from(changed),
                read::data_sources_of(c, &db_id)?,
                before,
            ))
        })
        .await?;
    // New to the mirror, or announced as created: a data source item of the same database
    // may have written it first. (Sweep items need not: the sweeps that fetch databases
    // list their views.)
    let is_new = trashed_before.is_none() || item.reasons & reason::CREATED != 0;
    if is_new && item.from_webhook() {
        list_new_views(ctx, item, &id).await?;
    }
    if item.reasons & reason::DATA_SOURCES != 0 {
        // New sources in full; known ones only when the database's trash state moved
        // (theirs moved with it); sources no longer listed are checked directly.
        let origin = Origin::of(item);
        let trash_moved = trashed_before.is_some_and(|b| b != trashed_now);
        let mut signals: Vec<Signal> = listed
            .iter()
            .filter_map(|ds| {
                if !mirrored.contains(ds) {
                    Some(origin.signal(Kind::DataSource, ds, reason::SCHEMA | reason::ROWS_ALL))
                } else if trash_moved {
                    Some(origin.signal(Kind::DataSource, ds, reason::SCHEMA))
                } else {
                    None
                }
            })
            .collect();
        signals.extend(
            mirrored
                .iter()
                .filter(|ds| !listed.contains(ds))
                .map(|ds| origin.signal(Kind::DataSource, ds, reason::VERIFY)),
        );
        ctx.enqueue(signals).await?;
    }
    Ok(Report::written(written))
}

/// A database new to the mirror through a webhook, or named by `database.created`, has
/// its views listed once (one request): Notion creates a default view with every data
/// source, and a lost `view.created` would otherwise wait for the daily sweep. Views the
/// mirror already holds (their event came first) are not fetched again. A failing listing
/// is logged and left to the daily sweep; it never fails the database.
async fn list_new_views(ctx: &Ctx, item: &WorkItem, db: &str) -> Result<(), FetchError> {
    let ids = match super::views::list_ids(ctx, db).await {
        Ok(ids) => ids,
        Err(e) if e.is_gone() => return Ok(()),
        Err(e) => {
            tracing::warn!(database = db, error = %e, "cannot list a new database's views");
            return Ok(());
        }
    };
    let new: Vec<String> = ctx
        .store
        .read(move |c| {
            let mut stmt = c.prepare_cached("SELECT 1 FROM views WHERE id = ?1")?;
            let mut out = Vec::new();
            for id in ids {
                if !stmt.exists([&id])? {
                    out.push(id);
                }
            }
            Ok(out)
        })
        .await?;
    let origin = Origin::of(item);
    let signals = new
        .iter()
        .map(|id| origin.signal(Kind::View, id, reason::PROPERTIES))
        .collect();
    Ok(ctx.enqueue(signals).await?)
}

/// Runs one data source work item: schema (and typed view), then rows as asked.
pub async fn refresh_data_source(ctx: &Ctx, item: &WorkItem) -> Result<Report, FetchError> {
    let id = item.id.clone();
    let mut report = Report::default();
    let previous = {
        let id = id.clone();
        ctx.store
            .read(move |c| read::raw_of(c, "data_sources", &id))
            .await?
    };
    let wants_get =
        item.reasons & (reason::SCHEMA | reason::VERIFY | reason::PROPERTIES | reason::TRASH) != 0;
    let mut schema_changed = false;
    let mut trashed = false;
    if wants_get || previous.is_none() {
        let ds = match ctx.client.retrieve_data_source(&id).await {
            Ok(ds) => ds,
            Err(e) if e.is_gone() => return remove(ctx, Gone::DataSource, &id, &e).await,
            Err(e) => return Err(e.into()),
        };
        let old: Option<Value> = previous
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok());
        schema_changed = old.as_ref().is_none_or(|o| row_values_affected(o, &ds));
        trashed = ds.get("in_trash").and_then(Value::as_bool).unwrap_or(false);
        let database_id = ds
            .pointer("/parent/database_id")
            .and_then(Value::as_str)
            .and_then(ids::normalize);
        // A source that is new, trashed, restored, moved or renamed changes its
        // database's `data_sources` list too (unless the mirror's copy already shows it).
        let container_changed = old.as_ref().is_none_or(|o| {
            o.get("in_trash") != ds.get("in_trash")
                || o.get("parent") != ds.get("parent")
                || crate::mirror::text::object_title(o) != crate::mirror::text::object_title(&ds)
        });
        let entry = (!trashed).then(|| (id.clone(), crate::mirror::text::object_title(&ds)));
        let changed = ctx
            .store
            .write(move |c| write::upsert_data_source(c, ds))
            .await?
            .changed();
        report.written += u64::from(changed);
        if let Some(db) = database_id {
            report.add(refresh_container(ctx, &db, container_changed, &id, entry).await?);
        }
    }
    if trashed {
        return Ok(report);
    }
    let origin = Origin::of(item);
    // Rollups to refresh with the related pages' list lost to overflow: every row.
    let all_rollups = item.reasons & reason::ROLLUPS != 0 && item.blocks.is_empty();
    let list_all = item.reasons & reason::ROWS_ALL != 0 || schema_changed || all_rollups;
    if list_all {
        let (rows, seen) = match sync_rows(ctx, &id, None, origin).await {
            Ok(done) => done,
            Err(FetchError::Notion(e)) if e.is_gone() => {
                return verify_after_failed_query(ctx, &id, e).await
            }
            Err(e) => return Err(e),
        };
        report.add(rows);
        // Rows the mirror has but the complete listing lacks: trashed or gone; ask each.
        let ds = id.clone();
        let mirrored = ctx.store.read(move |c| read::rows_of(c, &ds)).await?;
        let absent: Vec<Signal> = mirrored
            .iter()
            .filter(|r| !seen.contains(*r))
            .map(|r| origin.signal(Kind::Page, r, reason::VERIFY))
            .collect();
        ctx.enqueue(absent).await?;
    } else if item.reasons & reason::ROWS_SINCE != 0 {
        let ds = id.clone();
        let watermark = ctx.store.read(move |c| read::row_watermark(c, &ds)).await?;
        let since = watermark.map(|w| minus(&w, ctx.options.overlap));
        match sync_rows(ctx, &id, since.as_deref(), origin).await {
            Ok((rows, _)) => report.add(rows),
            Err(FetchError::Notion(e)) if e.is_gone() => {
                return verify_after_failed_query(ctx, &id, e).await
            }
            Err(e) => return Err(e),
        }
    }
    if item.reasons & reason::ROLLUPS != 0 && !list_all {
        report.add(requery_related_rows(ctx, &id, &item.blocks, origin).await?);
    }
    Ok(report)
}

/// Rows of `data_source_id` related to any of `pages` through a relation a rollup of the
/// source reads, queried with one `or` filter (a chunk of conditions per request) instead
/// of one GET per row, and written as any listing's rows are.
async fn requery_related_rows(
    ctx: &Ctx,
    data_source_id: &str,
    pages: &[String],
    origin: Origin,
) -> Result<Report, FetchError> {
    /// Conditions per query (Notion documents no limit; kept small).
    const CONDITIONS_PER_QUERY: usize = 50;
    let ds = data_source_id.to_string();
    let (links, properties) = ctx
        .store
        .read(move |c| {
            let properties = read::schema_property_ids(c, &ds)?;
            Ok((read::rollup_links(c)?, properties))
        })
        .await?;
    let mut relations: Vec<String> = links
        .into_iter()
        .filter(|l| l.source == data_source_id)
        .map(|l| l.relation_property_id)
        .collect();
    relations.sort();
    relations.dedup();
    let conditions: Vec<Value> = relations
        .iter()
        .flat_map(|r| {
            pages
                .iter()
                .map(move |p| json!({"property": r, "relation": {"contains": p}}))
        })
        .collect();
    let properties = properties.filter(|_| ctx.client.version().lists_title_only());
    let mut report = Report::default();
    for chunk in conditions.chunks(CONDITIONS_PER_QUERY) {
        let body = json!({"filter": {"or": chunk}});
        let mut rows = match &properties {
            Some(ids) => ctx.client.query_properties(data_source_id, body, ids),
            None => ctx.client.query(data_source_id, body),
        };
        while let Some(page) = rows.next_page().await? {
            let (written, _) = pages::write_pages(ctx, page.results, false, origin, true).await?;
            report.add(written);
        }
    }
    Ok(report)
}

/// Whether a schema change alters what rows hold (a property added, removed, renamed or
/// retyped, options or a formula changed): then every row is queried again. A change of
/// a property's description, or of the data source's own title, leaves rows as they were.
pub fn row_values_affected(old: &Value, new: &Value) -> bool {
    fn shape(ds: &Value) -> Value {
        let mut props = ds.get("properties").cloned().unwrap_or(Value::Null);
        if let Some(map) = props.as_object_mut() {
            for prop in map.values_mut() {
                if let Some(p) = prop.as_object_mut() {
                    p.remove("description");
                }
            }
        }
        props
    }
    shape(old) != shape(new)
}

/// `iso` minus `by`, as the API's ISO-8601 text (input returned unchanged if unparsable).
pub fn minus(iso: &str, by: std::time::Duration) -> String {
    match chrono::DateTime::parse_from_rfc3339(iso) {
        Ok(t) => (t.with_timezone(&chrono::Utc)
            - chrono::Duration::from_std(by).unwrap_or_default())
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        Err(_) => iso.to_string(),
    }
}

/// Fetches a data source's database when the mirror lacks it, or when `force` (the source
/// changed in a way its database lists) and the mirror's copy of the database does not
/// already list the source as `entry` says (`(id, name)` when live, `None` when trashed):
/// a `database.*` event's fetch usually got there first.
async fn refresh_container(
    ctx: &Ctx,
    database_id: &str,
    force: bool,
    source_id: &str,
    entry: Option<(String, String)>,
) -> Result<Report, FetchError> {
    let db_id = database_id.to_string();
    let known: Option<Value> = ctx
        .store
        .read(move |c| read::raw_of(c, "databases", &db_id))
        .await?
        .and_then(|r| serde_json::from_str(&r).ok());
    if let Some(db) = &known {
        let listed = db
            .get("data_sources")
            .and_then(Value::as_array)
            .and_then(|list| {
                list.iter().find(|d| {
                    d.get("id")
                        .and_then(Value::as_str)
                        .and_then(ids::normalize)
                        .as_deref()
                        == Some(source_id)
                })
            })
            .map(|d| {
                let name = d.get("name").and_then(Value::as_str).unwrap_or("");
                (source_id.to_string(), name.to_string())
            });
        if !force || listed == entry {
            return Ok(Report::default());
        }
    }
    match ctx.client.retrieve_database(database_id).await {
        Ok(db) => {
            let changed = ctx
                .store
                .write(move |c| write::upsert_database(c, db))
                .await?;
            Ok(Report::written(u64::from(changed.changed())))
        }
        // A data source whose database we cannot read (e.g. a wiki's): keep the source.
        Err(e) if e.is_gone() || matches!(e, NotionError::Validation { .. }) => {
            Ok(Report::default())
        }
        Err(e) => Err(e.into()),
    }
}

/// A query answered 404 (which also used to mean "timed out"): only a direct GET decides.
async fn verify_after_failed_query(
    ctx: &Ctx,
    id: &str,
    query_error: NotionError,
) -> Result<Report, FetchError> {
    match ctx.client.retrieve_data_source(id).await {
        Err(e) if e.is_gone() => remove(ctx, Gone::DataSource, id, &e).await,
        Err(e) => Err(e.into()),
        Ok(_) => Err(FetchError::Notion(NotionError::Transient(format!(
            "query failed while the data source is readable: {query_error}"
        )))),
    }
}

/// Queries a data source's rows — all of them (`since: None`, windowed by `created_time`
/// past the row cap) or those edited on or after `since` — writes them, and enqueues
/// content work for rows whose content is due. Returns the report and the ids seen.
pub async fn sync_rows(
    ctx: &Ctx,
    data_source_id: &str,
    since: Option<&str>,
    origin: Origin,
) -> Result<(Report, HashSet<String>), FetchError> {
    let key = if since.is_some() {
        "last_edited_time"
    } else {
        "created_time"
    };
    let mut seen: HashSet<String> = HashSet::new();
    let mut report = Report::default();
    let mut window_start = since.map(str::to_string);
    // 2026-12-01: rows show only their title unless every property is asked for.
    let properties = if ctx.client.version().lists_title_only() {
        let ds = data_source_id.to_string();
        ctx.store
            .read(move |c| read::schema_property_ids(c, &ds))
            .await?
    } else {
        None
    };
    loop {
        let mut body = json!({"sorts": [{"timestamp": key, "direction": "ascending"}]});
        if let Some(start) = &window_start {
            body["filter"] = json!({"timestamp": key, key: {"on_or_after": start}});
        }
        let mut pages = match &properties {
            Some(ids) => ctx.client.query_properties(data_source_id, body, ids),
            None => ctx.client.query(data_source_id, body),
        };
        let mut last_key: Option<String> = None;
        let mut new_in_window = 0usize;
        let mut incomplete = false;
        while let Some(page) = pages.next_page().await? {
            incomplete |= page.incomplete;
            let fresh: Vec<Value> = page
                .results
                .into_iter()
                .filter(|p| {
                    let id = p.get("id").and_then(Value::as_str).and_then(ids::normalize);
                    id.is_some_and(|id| seen.insert(id))
                })
                .collect();
            new_in_window += fresh.len();
            if let Some(k) = fresh
                .last()
                .and_then(|p| p.get(key))
                .and_then(Value::as_str)
            {
                last_key = Some(k.to_string());
            }
            let (written, _) = pages::write_pages(ctx, fresh, false, origin, true).await?;
            report.add(written);
        }
        if !incomplete {
            return Ok((report, seen));
        }
        if new_in_window == 0 || last_key.is_none() {
            return Err(FetchError::Notion(NotionError::Protocol(format!(
                "data source {data_source_id}: the row cap was hit without progress (more rows share one {key} minute than one query returns)"
            ))));
        }
        tracing::info!(
            data_source = data_source_id,
            rows = seen.len(),
            "row cap reached; continuing in a new window"
        );
        window_start = last_key;
    }
}

/// Refreshes the users list (complete; users no longer listed are removed).
pub async fn refresh_users(ctx: &Ctx) -> Result<Report, FetchError> {
    let users = ctx.client.list_users().collect_all().await?;
    let (written, removed) = ctx
        .store
        .write(move |c| write::replace_users(c, users))
        .await?;
    Ok(Report {
        written: written as u64,
        removed: removed as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_schema_changes_that_alter_rows_requery_them() {
        let ds = |name: &str, desc: &str| {
            json!({"title": [], "properties": {name: {"id": "a", "name": name, "type": "number",
                   "number": {"format": "number"}, "description": desc}}})
        };
        assert!(!row_values_affected(
            &ds("Price", "old"),
            &ds("Price", "new")
        ));
        assert!(row_values_affected(&ds("Price", ""), &ds("Cost", "")));
    }

    #[test]
    fn minus_moves_back_in_time() {
        assert_eq!(
            minus(
                "2026-06-24T16:32:00.000Z",
                std::time::Duration::from_secs(120)
            ),
            "2026-06-24T16:30:00.000Z"
        );
        assert_eq!(
            minus("garbage", std::time::Duration::from_secs(1)),
            "garbage"
        );
    }
}
