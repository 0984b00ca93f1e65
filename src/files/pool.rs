//! The download pool: claims due `pending` files (2 at once), works out the URL the mirror
//! shows for each now, downloads it, and records the outcome.
//!
//! Invariants: the `files` table is the durable work list (the next attempt time is in the
//! row; a crash loses at most the attempts in flight, whose temporary files are removed);
//! a URL whose `expiry_time` passed, or that the host rejected, is never requested again —
//! its holder is refetched through the queue (at sweep priority, so webhook work goes
//! first) and the attempt resumes when the holder's new `raw` shows a fresh URL; external
//! URLs are not signed, so a rejection there is retried with backoff instead; transient
//! failures back off (10 s doubling to an hour) and fail after 8 attempts (the daily sweep
//! gives failed files a fresh start).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::blobs::Blobs;
use super::download::{Failure, Fetcher};
use super::{FilesConfig, FilesError, DOWNLOADS};
use crate::fetch::Ctx;
use crate::mirror::file_refs::{self, FileRef, Holder};
use crate::mirror::write::files::{self as rows, DueFile, FileOutcome, Source};
use crate::notion::backoff;
use crate::queue::{self, reason, Kind, Signal};

/// Without a wake-up the pool looks at the table this often.
const POLL: Duration = Duration::from_secs(1);
/// A file fails after this many attempts (downloads, or refetches that brought no fresh
/// URL).
pub const MAX_ATTEMPTS: u32 = 8;
/// A refetch asked for longer ago than this, with the URL still stale, is asked again.
const REFETCH_AGAIN_MS: i64 = 5 * 60 * 1000;
/// Files waiting on the total cap, or shown by no object, are looked at again after this.
const LATER_MS: i64 = 15 * 60 * 1000;
const RETRY_BASE: Duration = Duration::from_secs(10);
const RETRY_CAP: Duration = Duration::from_secs(3600);

/// The files pool.
pub struct Pool {
    ctx: Ctx,
    fetcher: Fetcher,
    max_file_bytes: u64,
    max_total_bytes: Option<u64>,
}

impl Pool {
    pub fn new(ctx: Ctx, config: &FilesConfig) -> Result<Arc<Pool>, FilesError> {
        let blobs = Blobs::open(&config.dir)?;
        Ok(Arc::new(Pool {
            ctx,
            fetcher: Fetcher::new(blobs, config.max_file_bytes)?,
            max_file_bytes: config.max_file_bytes,
            max_total_bytes: config.max_total_bytes,
        }))
    }

    pub fn blobs(&self) -> &Blobs {
        self.fetcher.blobs()
    }

    /// Runs until `shutdown`; downloads in flight are dropped then (their temporary files
    /// go with them, the rows stay pending).
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let cleaned = self.blobs().clean_temp();
        if cleaned > 0 {
            tracing::info!(
                files = cleaned,
                "unfinished downloads of a previous process removed"
            );
        }
        let mut running: JoinSet<(String, FileOutcome)> = JoinSet::new();
        let mut keys: HashMap<tokio::task::Id, String> = HashMap::new();
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let free = DOWNLOADS.saturating_sub(running.len());
            if free > 0 {
                let busy: Vec<String> = keys.values().cloned().collect();
                let now = queue::now_ms();
                match self
                    .ctx
                    .store
                    .read(move |c| rows::due_files(c, now, free, &busy))
                    .await
                {
                    Ok(files) => {
                        for file in files {
                            let pool = self.clone();
                            let key = file.key.clone();
                            let handle = running.spawn(async move {
                                let outcome = pool.attempt(&file).await;
                                (file.key, outcome)
                            });
                            keys.insert(handle.id(), key);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot read the files due"),
                }
            }
            tokio::select! {
                Some(done) = running.join_next_with_id(), if !running.is_empty() => {
                    match done {
                        Ok((id, (key, outcome))) => {
                            keys.remove(&id);
                            self.finish(key, outcome).await;
                        }
                        Err(e) => {
                            keys.remove(&e.id());
                        }
                    }
                }
                _ = tokio::time::sleep(POLL), if running.len() < DOWNLOADS => {}
                _ = shutdown.cancelled() => break,
            }
        }
        running.abort_all();
        while running.join_next().await.is_some() {}
    }

    async fn finish(&self, key: String, outcome: FileOutcome) {
        let label = match &outcome {
            FileOutcome::Stored { size, .. } => {
                self.ctx
                    .metrics
                    .add("notion_mirror_files_download_bytes_total", &[], *size);
                tracing::debug!(file = %key, bytes = size, "file stored");
                "stored"
            }
            FileOutcome::TooLarge { error, .. } => {
                tracing::info!(file = %key, error = %error, "file not archived: too large");
                "too_large"
            }
            FileOutcome::Retry { error, .. } => {
                tracing::info!(file = %key, error = %error, "file download failed; will retry");
                "retry"
            }
            FileOutcome::Rejected { error, .. } => {
                tracing::info!(file = %key, error = %error, "file URL expired or rejected; its object is refetched");
                "rejected"
            }
            FileOutcome::Later { .. } => "later",
            FileOutcome::Failed { error } => {
                tracing::warn!(file = %key, error = %error, "file not archived");
                "failed"
            }
        };
        if label != "later" {
            self.ctx
                .metrics
                .inc("notion_mirror_files_downloads_total", &[("outcome", label)]);
        }
        let now = queue::now_ms();
        if let Err(e) = self
            .ctx
            .store
            .write(move |c| rows::finish_file(c, &key, &outcome, now))
            .await
        {
            tracing::error!(error = %e, "cannot record a file download");
        }
    }

    /// One attempt at `file`: the outcome to record.
    async fn attempt(&self, file: &DueFile) -> FileOutcome {
        let now = queue::now_ms();
        let room = match self.room().await {
            Ok(room) => room,
            Err(outcome) => return outcome,
        };
        let key = file.key.clone();
        let sources = match self
            .ctx
            .store
            .read(move |c| rows::sources_of(c, &key))
            .await
        {
            Ok(s) => s,
            Err(e) => return retry(file, format!("mirror: {e}"), now),
        };
        let shown = shown_urls(&file.key, &sources);
        let Some((first_source, first_ref)) = shown.first() else {
            return FileOutcome::Later {
                due_at: now + LATER_MS,
                error: Some("no object in the mirror shows this file".into()),
            };
        };
        let fresh = shown.iter().find(|(_, r)| {
            Some(url_hash(&r.url)) != file.rejected_url && !expired(r.expiry_time.as_deref(), now)
        });
        let Some((source, shown_ref)) = fresh else {
            let why = "the URL expired".to_string();
            return self
                .wait_for_fresh(file, first_source, &first_ref.url, why, now)
                .await;
        };
        match self
            .fetcher
            .fetch(&shown_ref.url, shown_ref.external, room)
            .await
        {
            Ok(d) => FileOutcome::Stored {
                sha256: d.sha256,
                size: d.size,
                content_type: d.content_type,
            },
            Err(Failure::TooLarge { size }) => FileOutcome::TooLarge {
                size,
                error: format!(
                    "larger than the {} MiB cap (NOTION_MIRROR_FILES_MAX_MB)",
                    self.max_file_bytes / (1024 * 1024)
                ),
            },
            Err(Failure::NoRoom { size }) => FileOutcome::Later {
                due_at: now + LATER_MS,
                error: Some(format!("{size} bytes do not fit under the total cap")),
            },
            Err(Failure::Rejected { detail, .. }) if !shown_ref.external => {
                self.wait_for_fresh(file, source, &shown_ref.url, detail, now)
                    .await
            }
            Err(Failure::Rejected { detail, .. }) | Err(Failure::Transient(detail)) => {
                retry(file, detail, now)
            }
            Err(Failure::Refused(error)) | Err(Failure::Failed(error)) => {
                FileOutcome::Failed { error }
            }
        }
    }

    /// What the total cap leaves (`Err`: nothing, wait).
    async fn room(&self) -> Result<Option<u64>, FileOutcome> {
        let Some(cap) = self.max_total_bytes else {
            return Ok(None);
        };
        let used = self.ctx.store.read(rows::stored_bytes).await.unwrap_or(cap);
        if used >= cap {
            return Err(FileOutcome::Later {
                due_at: queue::now_ms() + LATER_MS,
                error: Some("the total cap (files_max_total_mb) is reached".into()),
            });
        }
        Ok(Some(cap - used))
    }

    /// The URL `stale` will not be requested again: its holder is refetched (once per
    /// five minutes while the URL stays stale) and the file waits for the new `raw`.
    async fn wait_for_fresh(
        &self,
        file: &DueFile,
        source: &Source,
        stale: &str,
        why: String,
        now: i64,
    ) -> FileOutcome {
        let hash = url_hash(stale);
        let asked = file
            .refetch_at
            .filter(|_| file.rejected_url.as_deref() == Some(hash.as_str()));
        if let Some(at) = asked.filter(|at| now - at < REFETCH_AGAIN_MS) {
            // Asked already: look again soon, then less often.
            let wait = ((now - at) / 4).clamp(1000, 60_000);
            return FileOutcome::Later {
                due_at: now + wait,
                error: None,
            };
        }
        if file.attempts + 1 >= MAX_ATTEMPTS {
            return FileOutcome::Failed {
                error: format!("{why}; no working URL after {MAX_ATTEMPTS} attempts"),
            };
        }
        if let Err(e) = self.ctx.enqueue(vec![refetch_signal(source)]).await {
            return retry(file, format!("cannot queue the refetch: {e}"), now);
        }
        self.ctx
            .metrics
            .inc("notion_mirror_files_refetches_total", &[]);
        FileOutcome::Rejected {
            url_hash: hash,
            due_at: now + 1000,
            error: format!("{why}; refetching {} {}", source.holder.as_str(), source.id),
            refetch_requested: true,
        }
    }
}

/// The signal that brings a fresh URL for `source`: one request at sweep priority.
pub fn refetch_signal(source: &Source) -> Signal {
    let (kind, id, reasons) = match source.holder {
        Holder::Page => (Kind::Page, source.id.clone(), reason::PROPERTIES),
        Holder::Database => (Kind::Database, source.id.clone(), reason::PROPERTIES),
        Holder::DataSource => (Kind::DataSource, source.id.clone(), reason::PROPERTIES),
        Holder::Block => (
            Kind::Page,
            source.page_id.clone().unwrap_or_default(),
            reason::BLOCKS,
        ),
    };
    let mut s = Signal::new(kind, id, reasons, queue::now_ms());
    if source.holder == Holder::Block {
        s.blocks = vec![source.id.clone()];
    }
    s.priority = queue::PRIORITY_SWEEP;
    // A refetch of this object already queued or running brings fresh URLs for all its
    // files: a second stale file of the same object adds no request. (Not for blocks: a
    // running refetch of another block of the page may read another parent's list.)
    s.if_idle = source.holder != Holder::Block;
    s
}

/// The references of `key` with the URL each holder shows now.
fn shown_urls<'a>(key: &str, sources: &'a [Source]) -> Vec<(&'a Source, FileRef)> {
    sources
        .iter()
        .filter_map(|s| {
            let raw: Value = serde_json::from_str(&s.raw).ok()?;
            let found = file_refs::refs(s.holder, &raw)
                .into_iter()
                .find(|r| r.key == key && r.location == s.location)?;
            Some((s, found))
        })
        .collect()
}

fn expired(expiry_time: Option<&str>, now_ms: i64) -> bool {
    expiry_time
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .is_some_and(|t| t.timestamp_millis() <= now_ms)
}

/// What is kept of a rejected URL: its hash (the URL itself is a credential).
fn url_hash(url: &str) -> String {
    hex::encode(Sha256::digest(url.as_bytes()))
}

fn retry(file: &DueFile, error: String, now: i64) -> FileOutcome {
    let attempt = file.attempts + 1;
    if attempt >= MAX_ATTEMPTS {
        return FileOutcome::Failed {
            error: format!("{error} (after {attempt} attempts)"),
        };
    }
    let delay = backoff::full_jitter(
        attempt,
        RETRY_BASE,
        RETRY_CAP,
        0.5 + rand::random::<f64>() / 2.0,
    );
    FileOutcome::Retry {
        due_at: now + delay.as_millis() as i64,
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(holder: Holder, id: &str, page: Option<&str>) -> Source {
        Source {
            holder,
            id: id.into(),
            location: "block".into(),
            raw: String::new(),
            page_id: page.map(str::to_string),
        }
    }

    #[test]
    fn a_block_is_refetched_through_its_page_and_the_rest_directly() {
        let s = refetch_signal(&source(Holder::Block, "b", Some("p")));
        assert_eq!(
            (s.kind, s.id.as_str(), s.reasons),
            (Kind::Page, "p", reason::BLOCKS)
        );
        assert_eq!(s.blocks, vec!["b".to_string()]);
        assert_eq!(s.priority, queue::PRIORITY_SWEEP);
        let s = refetch_signal(&source(Holder::DataSource, "d", None));
        assert_eq!((s.kind, s.reasons), (Kind::DataSource, reason::PROPERTIES));
        let s = refetch_signal(&source(Holder::Database, "x", None));
        assert_eq!(s.kind, Kind::Database);
    }

    #[test]
    fn expiry_and_retries() {
        assert!(expired(Some("2020-01-01T00:00:00.000Z"), queue::now_ms()));
        assert!(!expired(Some("2999-01-01T00:00:00.000Z"), queue::now_ms()));
        assert!(!expired(None, queue::now_ms()));
        let file = DueFile {
            key: "k".into(),
            name: "n".into(),
            attempts: 0,
            external: false,
            rejected_url: None,
            refetch_at: None,
        };
        match retry(&file, "boom".into(), 0) {
            FileOutcome::Retry { due_at, .. } => assert!((10_000..=20_000).contains(&due_at)),
            other => panic!("{other:?}"),
        }
        let worn = DueFile {
            attempts: MAX_ATTEMPTS - 1,
            ..file
        };
        assert!(matches!(
            retry(&worn, "boom".into(), 0),
            FileOutcome::Failed { .. }
        ));
    }
}
