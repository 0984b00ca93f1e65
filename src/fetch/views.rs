//! One database view, by id (`view.*` webhooks and the full sweep's view listing): retrieve
//! it and upsert, or remove it (with a tombstone) when a direct GET no longer reads it.
//!
//! Invariant: a view is removed only after `GET /v1/views/{id}` answered 404/403 and
//! users/me proved the token; removing or changing a view rebuilds the SQL views in the
//! same transaction.

use super::remove::{remove, Gone};
use super::{Ctx, FetchError, Report};
use crate::mirror::write;

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
