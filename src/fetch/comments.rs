//! One comment, by id (`comment.*` webhooks): retrieve it and upsert, or remove it when a
//! direct GET no longer finds it (deleted or resolved — the API cannot tell which).
//!
//! Invariant: a comment is filed under the page it belongs to: its parent page, or for a
//! block comment the mirrored block's page, else the event's `page_id` hint.

use super::remove::{remove, Gone};
use super::{Ctx, FetchError, Report};
use crate::ids;
use crate::mirror::{read, write};

pub async fn refresh(ctx: &Ctx, id: &str, page_hint: Option<&str>) -> Result<Report, FetchError> {
    let comment = match ctx.client.retrieve_comment(id).await {
        Ok(comment) => comment,
        Err(e) if e.is_gone() => return remove(ctx, Gone::Comment, id, &e).await,
        Err(e) => return Err(e.into()),
    };
    let (parent_type, parent_id) = write::parent_of(&comment);
    let hint = page_hint.and_then(ids::normalize);
    let written = ctx
        .store
        .write(move |c| {
            let page = match (parent_type.as_str(), parent_id) {
                ("page_id", Some(p)) => Some(p),
                (_, Some(block)) => read::block_info(c, &block)?.map(|b| b.page_id).or(hint),
                _ => hint,
            };
            let Some(page) = page else {
                return Ok(0);
            };
            Ok(u64::from(
                write::upsert_comment(c, &page, comment)?.changed(),
            ))
        })
        .await?;
    Ok(Report::written(written))
}
