//! One database view, by id (`view.*` webhooks and the full sweep's view listing): retrieve
//! it and upsert, or remove it (with a tombstone) when a direct GET no longer reads it.
//! Also the listing of a database's view ids, which the wide sweeps and a database new to
//! the mirror use.
//!
//! Invariant: a view is removed only after `GET /v1/views/{id}` answered 404/403 and
//! users/me proved the token; removing or changing a view rebuilds the SQL views in the
//! same transaction.

use serde_json::Value;

use super::remove::{remove, Gone};
use super::{Ctx, FetchError, Report};
use crate::ids;
use crate::mirror::write;
use crate::notion::NotionError;

pub async fn refresh(ctx: &Ctx, id: &str) -> Result<Report, FetchError> {
    let view = match ctx.client.retrieve_view(id).await {
        Ok(view) => view,
        Err(e) if e.is_gone() => return remove(ctx, Gone::View, id, &e).await,
        Err(e) => return Err(e.into()),
    };
    let changed = ctx
        .store
        .write(move |c| write::upsert_view(c, view))
        .await?
        .changed();
    Ok(Report::written(u64::from(changed)))
}

/// The ids of `database_id`'s views (`GET /v1/views?database_id=`, every page of it).
pub async fn list_ids(ctx: &Ctx, database_id: &str) -> Result<Vec<String>, NotionError> {
    let mut pages = ctx.client.list_views(database_id);
    let mut out = Vec::new();
    while let Some(page) = pages.next_page().await? {
        out.extend(
            page.results
                .iter()
                .filter_map(|v| v.get("id").and_then(Value::as_str).and_then(ids::normalize)),
        );
    }
    Ok(out)
}
