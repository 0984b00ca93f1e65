//! What the daily sweep does for files: re-derive every reference (self-healing), delete
//! the rows and blobs of files nothing has referenced for a day, remove blobs no row names,
//! and give failed files a fresh start.
//!
//! Invariants: a blob is removed only when no `stored` row names its hash and it is older
//! than the grace period (a download that just placed it, or found it already there and
//! touched it, keeps it); rows go before their blobs, so a crash in between leaves a stray
//! blob for the next sweep, never a row pointing at nothing.

use std::time::Duration;

use super::Blobs;
use crate::mirror::file_refs::Holder;
use crate::mirror::write::files::{self as rows, Mode};
use crate::mirror::{Store, StoreError};

/// Objects read per writer job while re-deriving references.
const CHUNK: usize = 500;
/// A file is collected this long after its last reference went.
pub const GRACE: Duration = Duration::from_secs(24 * 3600);

/// Derives every object's references again under `mode`; returns how many objects were
/// read.
pub async fn reindex(store: &Store, mode: Mode) -> Result<u64, StoreError> {
    let mut read = 0u64;
    for holder in Holder::ALL {
        let mut after = String::new();
        loop {
            let from = after.clone();
            let (n, next) = store
                .write(move |c| rows::reindex_chunk(c, holder, &from, CHUNK))
                .await?;
            read += n as u64;
            match next {
                Some(id) => after = id,
                None => break,
            }
        }
    }
    store.write(move |c| rows::mark_indexed(c, mode)).await?;
    Ok(read)
}

/// What one collection removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Collected {
    /// File rows unreferenced for longer than the grace period.
    pub rows: usize,
    /// Blobs deleted from disk.
    pub blobs: usize,
    /// Failed files given a fresh start.
    pub retried: usize,
}

/// Collects unreferenced files older than `grace` and stray blobs.
pub async fn collect(
    store: &Store,
    blobs: &Blobs,
    grace: Duration,
) -> Result<Collected, StoreError> {
    let cutoff = crate::queue::iso_ms(crate::queue::now_ms() - grace.as_millis() as i64);
    let deleted = store
        .write(move |c| rows::collect_unreferenced(c, &cutoff))
        .await?;
    let mut out = Collected {
        rows: deleted,
        ..Collected::default()
    };
    // Every blob old enough that no stored row names: those of the rows just deleted, and
    // strays (a crash between deleting a row and its blob, or hand edits).
    let candidates: Vec<String> = match blobs.list() {
        Ok(on_disk) => on_disk
            .into_iter()
            .filter(|(_, age)| *age > grace)
            .map(|(sha, _)| sha)
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the files directory");
            Vec::new()
        }
    };
    for sha in candidates {
        let check = sha.clone();
        if store.read(move |c| rows::blob_in_use(c, &check)).await? {
            continue;
        }
        match blobs.remove(&sha) {
            Ok(true) => out.blobs += 1,
            Ok(false) => {}
            Err(e) => tracing::warn!(blob = %sha, error = %e, "cannot remove an unreferenced blob"),
        }
    }
    out.retried = store.write(rows::retry_failed).await?;
    Ok(out)
}

/// The files part of a full sweep: references re-derived, unreferenced files collected.
pub async fn sweep(store: &Store, blobs: &Blobs, mode: Mode) -> Result<Collected, StoreError> {
    reindex(store, mode).await?;
    let collected = collect(store, blobs, GRACE).await?;
    if collected != Collected::default() {
        tracing::info!(
            rows = collected.rows,
            blobs = collected.blobs,
            retried = collected.retried,
            "files collected by the full sweep"
        );
    }
    Ok(collected)
}
