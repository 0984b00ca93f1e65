//! Views in the wide sweeps (full and resync): every database the sweep fetched has its
//! views listed (`GET /v1/views?database_id=`, references only), and each listed view is
//! queued for a GET; mirrored views of a listed database that the listing lacks get a
//! direct-GET check. Cost: one list per database (per 100 views) and one GET per view.
//!
//! Invariant: a view is never removed because a listing lacked it (only its own GET
//! decides); views of a database whose listing failed are not checked at all. The
//! incremental and presence sweeps never list views.

use std::collections::{BTreeSet, HashSet};

use super::{enqueue, Listed};
use crate::fetch::{Ctx, FetchError, Origin};
use crate::queue::{reason, Kind, Signal};

/// Lists the views of `databases` and queues their GETs (and checks of missing ones).
pub(super) async fn list(
    ctx: &Ctx,
    databases: &HashSet<String>,
    origin: Origin,
    listed: &mut Listed,
) -> Result<(), FetchError> {
    let mut signals: Vec<Signal> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut listed_dbs: BTreeSet<String> = BTreeSet::new();
    for db in databases {
        match crate::fetch::views::list_ids(ctx, db).await {
            Ok(ids) => {
                for id in ids {
                    if seen.insert(id.clone()) {
                        signals.push(origin.signal(Kind::View, &id, reason::PROPERTIES));
                    }
                }
                listed_dbs.insert(db.clone());
            }
            // Gone or unreadable (its own VERIFY decides), or failing: check nothing.
            Err(e) if e.is_gone() => {}
            Err(e) => listed.errors.push(format!("views of database {db}: {e}")),
        }
    }
    let mirrored: Vec<(String, Option<String>)> = ctx
        .store
        .read(|c| {
            let mut stmt = c.prepare("SELECT id, database_id FROM views")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await?;
    signals.extend(
        mirrored
            .iter()
            .filter(|(id, db)| {
                !seen.contains(id) && db.as_ref().is_some_and(|d| listed_dbs.contains(d))
            })
            .map(|(id, _)| origin.signal(Kind::View, id, reason::VERIFY)),
    );
    enqueue(ctx, listed, signals).await?;
    Ok(())
}
