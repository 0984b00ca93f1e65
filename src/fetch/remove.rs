//! The removal step every kind of object shares: a direct GET answered 404 or 403, so
//! confirm the token, map the answer to a [`write::Removal`] reason, remove the object
//! (with its tombstone and what hangs off it) and report it.
//!
//! Invariant: nothing is removed unless `GET /v1/users/me` proved the token within the last
//! minute (`token.rs`) — a revoked token makes every GET fail, and must never empty the mirror.

use super::{Ctx, FetchError, Report};
use crate::mirror::write;
use crate::notion::NotionError;

/// What a GET could no longer read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gone {
    Page,
    Comment,
    Database,
    DataSource,
    View,
}

impl Gone {
    fn as_str(self) -> &'static str {
        match self {
            Gone::Page => "page",
            Gone::Comment => "comment",
            Gone::Database => "database",
            Gone::DataSource => "data_source",
            Gone::View => "view",
        }
    }
}

/// Removes `id` after the direct GET of it failed with `why` (a 404 or 403), once users/me
/// proves the token works.
pub async fn remove(
    ctx: &Ctx,
    gone: Gone,
    id: &str,
    why: &NotionError,
) -> Result<Report, FetchError> {
    ctx.token.confirm(&ctx.client).await?;
    let reason = removal_reason(why);
    let id = id.to_string();
    let removed = ctx
        .store
        .write(move |c| {
            Ok(match gone {
                Gone::Page => u64::from(write::remove_page(c, &id, reason)?),
                Gone::Comment => u64::from(write::remove_comment(c, &id, reason)?),
                Gone::View => u64::from(write::remove_view(c, &id, reason)?),
                Gone::Database => write::remove_database(c, &id, reason)? as u64,
                Gone::DataSource => write::remove_data_source(c, &id, reason)? as u64,
            })
        })
        .await?;
    if removed > 0 {
        tracing::info!(
            object = gone.as_str(),
            reason = reason.as_str(),
            removed,
            "removed from the mirror"
        );
    }
    Ok(Report {
        written: 0,
        removed,
    })
}

/// `not_found` for 404, `restricted` for 403.
pub fn removal_reason(error: &NotionError) -> write::Removal {
    match error {
        NotionError::Restricted(_) => write::Removal::Restricted,
        _ => write::Removal::NotFound,
    }
}
