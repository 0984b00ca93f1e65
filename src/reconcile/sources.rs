//! Data sources in sweeps: the data source objects search returned (compared with the
//! mirror: written as they are when only their metadata moved, fetched with a schema
//! check when their schema differs, fetched in full when new), and the daily sweep's
//! direct refresh of a data source, its database and its rows.
//!
//! Invariant: a data source is removed only by a direct GET (a `VERIFY` item); a failed
//! query never removes rows.

use std::collections::HashSet;

use serde_json::Value;

use super::{edited, enqueue, object_id, Listed};
use crate::fetch::{sources, Ctx, FetchError, Origin, Report};
use crate::ids;
use crate::mirror::{read, write};
use crate::notion::NotionError;
use crate::queue::{reason, Kind};

/// Handles the data source objects a search returned: a source new to the mirror is
/// fetched with all its rows; one whose schema differs is fetched (its rows are queried
/// again when the change alters them); one whose other fields moved (a row came or went,
/// the title changed) is written from the search result, for free.
pub(super) async fn from_search(
    ctx: &Ctx,
    found: Vec<Value>,
    origin: Origin,
    listed: &mut Listed,
) -> Result<(), FetchError> {
    let mut signals = Vec::new();
    let mut writes = Vec::new();
    for source in found {
        let Some(id) = object_id(&source) else {
            continue;
        };
        let known: Option<Value> = {
            let id = id.clone();
            ctx.store
                .read(move |c| read::raw_of(c, "data_sources", &id))
                .await?
                .and_then(|r| serde_json::from_str(&r).ok())
        };
        match known {
            None => signals.push(origin.signal(
                Kind::DataSource,
                &id,
                reason::SCHEMA | reason::ROWS_ALL,
            )),
            Some(k) if source.get("properties").is_none() => {
                if edited(&k) != edited(&source) {
                    signals.push(origin.signal(Kind::DataSource, &id, reason::SCHEMA));
                }
            }
            Some(k) if sources::row_values_affected(&k, &source) => {
                signals.push(origin.signal(Kind::DataSource, &id, reason::SCHEMA));
            }
            Some(k) if k != source => writes.push(source),
            Some(_) => {}
        }
    }
    if !writes.is_empty() {
        let written = ctx
            .store
            .write(move |c| {
                let mut n = 0;
                for ds in writes {
                    n += u64::from(write::upsert_data_source(c, ds)?.changed());
                }
                Ok(n)
            })
            .await?;
        listed.report.written += written;
    }
    enqueue(ctx, listed, signals).await?;
    Ok(())
}

/// Why a data source's refresh in a full sweep did not list its rows.
pub(super) enum SourceFailure {
    /// The data source is gone or unreadable: a VERIFY item decides.
    Gone,
    Error(FetchError),
}

impl From<crate::mirror::StoreError> for SourceFailure {
    fn from(e: crate::mirror::StoreError) -> Self {
        SourceFailure::Error(e.into())
    }
}

/// GET the data source (and its database once), then query all of its rows.
pub(super) async fn refresh_source_and_rows(
    ctx: &Ctx,
    ds: &str,
    seen_databases: &mut HashSet<String>,
    origin: Origin,
) -> Result<(Report, HashSet<String>, Option<String>), SourceFailure> {
    let mut report = Report::default();
    let source = match ctx.client.retrieve_data_source(ds).await {
        Ok(source) => source,
        Err(e) if e.is_gone() => {
            let verify = vec![origin.signal(Kind::DataSource, ds, reason::VERIFY)];
            ctx.enqueue(verify).await?;
            return Err(SourceFailure::Gone);
        }
        Err(e) => return Err(SourceFailure::Error(e.into())),
    };
    let trashed = write::trashed(&source);
    let database = source
        .pointer("/parent/database_id")
        .and_then(Value::as_str)
        .and_then(ids::normalize);
    let changed = ctx
        .store
        .write(move |c| write::upsert_data_source(c, source))
        .await?;
    report.written += u64::from(changed.changed());
    if let Some(db) = database {
        if seen_databases.insert(db.clone()) {
            match ctx.client.retrieve_database(&db).await {
                Ok(object) => {
                    let changed = ctx
                        .store
                        .write(move |c| write::upsert_database(c, object))
                        .await?;
                    report.written += u64::from(changed.changed());
                }
                Err(e) if e.is_gone() || matches!(e, NotionError::Validation { .. }) => {}
                Err(e) => return Err(SourceFailure::Error(e.into())),
            }
        }
    }
    if trashed {
        return Err(SourceFailure::Gone);
    }
    rows(ctx, ds, origin).await.map(|(rows, seen, newest)| {
        report.add(rows);
        (report, seen, newest)
    })
}

/// Queries every row of a data source; a 404 queues a direct check of the source.
pub(super) async fn rows(
    ctx: &Ctx,
    ds: &str,
    origin: Origin,
) -> Result<(Report, HashSet<String>, Option<String>), SourceFailure> {
    match sources::sync_rows(ctx, ds, None, origin).await {
        Ok((rows, seen)) => {
            let id = ds.to_string();
            let newest = ctx.store.read(move |c| read::row_watermark(c, &id)).await?;
            Ok((rows, seen, newest))
        }
        Err(FetchError::Notion(e)) if e.is_gone() => {
            let verify = vec![origin.signal(Kind::DataSource, ds, reason::VERIFY)];
            ctx.enqueue(verify).await?;
            Err(SourceFailure::Gone)
        }
        Err(e) => Err(SourceFailure::Error(e)),
    }
}
