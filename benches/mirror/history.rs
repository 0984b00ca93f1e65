//! The change feed's figures on the cold-synced big workspace (history group,
//! docs/history.md): the rows a SIGHUP resync of the unchanged workspace adds (must be 0)
//! and the cold sync's `created` rows against the objects it wrote; the feed's bytes per
//! 1,000 changes; an outbound webhook receiver on 127.0.0.1 for the delivery latency
//! (change written → POST answered) of the history and load groups.
//! Invariant: every wait is bounded; the receiver verifies every signature and counts
//! each seq once.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use notion_mirror::sim::Sim;
use rusqlite::Connection;
use serde_json::{json, Value};

use crate::proc::{free_addr, Daemon};
use crate::report::{thousands, Bench};
use crate::wait::{count, open_mirror, wait_queue_idle, wait_until};

/// A cron (with seconds) that does not fire during a run.
const FAR_AWAY: &str = "0 0 0 1 1 *";

/// The newest seq of the feed.
pub(crate) fn last_seq(db: &Path) -> Result<i64> {
    count(
        &open_mirror(db)?,
        "select coalesce(max(seq), 0) from changes",
    )
}

/// Rows and on-disk bytes (table and indexes, measured in a fresh file) of the changes
/// after `seq`.
pub(crate) fn feed_bytes(db: &Path, after: i64) -> Result<(i64, u64)> {
    let tmp = tempfile::tempdir()?;
    let conn = Connection::open(tmp.path().join("feed.db"))?;
    conn.execute("ATTACH DATABASE ?1 AS m", [db.display().to_string()])?;
    let ddl: Vec<String> = {
        let mut stmt = conn.prepare(
            "select sql from m.sqlite_master where tbl_name = 'changes' and sql is not null
             order by type desc",
        )?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for sql in &ddl {
        conn.execute_batch(sql)?;
    }
    let rows = conn.execute(
        "insert into main.changes select * from m.changes where seq > ?1",
        [after],
    )? as i64;
    conn.execute_batch("DETACH DATABASE m; VACUUM;")?;
    let bytes: i64 = conn.query_row(
        "select page_count * page_size from pragma_page_count(), pragma_page_size()",
        [],
        |r| r.get(0),
    )?;
    // An empty table with its indexes: what the rows did not add.
    let empty = Connection::open(tmp.path().join("empty.db"))?;
    for sql in &ddl {
        empty.execute_batch(sql)?;
    }
    let base: i64 = empty.query_row(
        "select page_count * page_size from pragma_page_count(), pragma_page_size()",
        [],
        |r| r.get(0),
    )?;
    Ok((rows, (bytes - base).max(0) as u64))
}

/// History group, on the cold mirror: the `created` rows of the cold sync, the feed's size, and a SIGHUP resync
/// of the unchanged workspace by `notion-mirror run` (the rows it adds must be 0).
pub(crate) async fn resync_rows(b: &mut Bench, sim: &Sim, dir: &Path) -> Result<()> {
    let db = dir.join("mirror.db");
    let conn = open_mirror(&db)?;
    let created = count(&conn, "select count(*) from changes where kind = 'created'")?;
    let rows = count(&conn, "select count(*) from changes")?;
    let objects = count(
        &conn,
        "select (select count(*) from pages) + (select count(*) from databases)
              + (select count(*) from data_sources) + (select count(*) from users)
              + (select count(*) from comments) + (select count(*) from views)
              + (select count(*) from blocks where type not in ('child_page', 'child_database'))",
    )?;
    drop(conn);
    let (measured, bytes) = feed_bytes(&db, 0)?;
    let per_thousand = bytes as f64 * 1000.0 / measured.max(1) as f64;
    b.row(
        "history",
        "feed_cold_created_rows",
        "cold sync: change rows / objects written (all `created`)",
        format!(
            "{} / {} ({} created)",
            thousands(rows as u64),
            thousands(objects as u64),
            thousands(created as u64)
        ),
        rows as f64 / objects.max(1) as f64,
        "1 row per object, all created".into(),
        rows == objects && created == rows,
    );
    b.raw(
        "history",
        format!(
            "change feed after the cold sync: {measured} rows, {:.1} KiB with its indexes = {:.0} KiB per 1,000 `created` changes",
            bytes as f64 / 1024.0,
            per_thousand / 1024.0
        ),
    );

    let before = last_seq(&db)?;
    let addr = free_addr()?;
    let env = [
        ("NOTION_MIRROR_RATE", "1000".to_string()),
        ("NOTION_MIRROR_INCREMENTAL", FAR_AWAY.into()),
        ("NOTION_MIRROR_PRESENCE", FAR_AWAY.into()),
        ("NOTION_MIRROR_FULL", FAR_AWAY.into()),
    ];
    let mut daemon = Daemon::spawn(sim, dir, &addr, "run-resync.log", &env)?;
    daemon.wait_running(Duration::from_secs(60)).await?;
    let resyncs = "select count(*) from sync_runs where kind = 'resync' and settled_at is not null";
    let settled_before = count(&open_mirror(&db)?, resyncs)?;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon.pid() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .context("cannot send SIGHUP")?;
    let started = std::time::Instant::now();
    wait_until(
        &db,
        "the SIGHUP resync to settle",
        Duration::from_secs(900),
        Duration::from_millis(250),
        |c| Ok(c.query_row(resyncs, [], |r| r.get::<_, i64>(0))? > settled_before),
    )
    .await?;
    let took = started.elapsed();
    wait_queue_idle(&db, Duration::from_secs(60)).await?;
    daemon.alive()?;
    let added = last_seq(&db)? - before;
    let status = daemon.terminate(Duration::from_secs(30)).await?;
    b.row(
        "history",
        "feed_resync_false_rows",
        "SIGHUP resync of the unchanged workspace: change rows added",
        format!(
            "{added} (resync {:.1} s at 1,000 req/s)",
            took.as_secs_f64()
        ),
        added as f64,
        "0".into(),
        added == 0,
    );
    b.raw_json(
        "history",
        "feed",
        json!({"cold_rows": rows, "cold_created": created, "objects": objects,
               "bytes": bytes, "bytes_per_1000": per_thousand, "resync_rows_added": added,
               "resync_s": took.as_secs_f64()}),
    );
    if !status.success() {
        bail!("`notion-mirror run` exited with {status} after the resync");
    }
    Ok(())
}

/// What the receiver saw: per seq, seconds from the change's `at` to its first 2xx.
#[derive(Debug, Default)]
pub(crate) struct Deliveries {
    pub(crate) latency: BTreeMap<i64, f64>,
    pub(crate) posts: u64,
    pub(crate) bad_signatures: u64,
    pub(crate) duplicates: u64,
}

/// An outbound webhook receiver on 127.0.0.1 (answers 200, verifies signatures).
pub(crate) struct Receiver {
    pub(crate) addr: SocketAddr,
    pub(crate) seen: Arc<Mutex<Deliveries>>,
}

impl Receiver {
    pub(crate) async fn start(secret: &str) -> Result<Receiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let seen = Arc::new(Mutex::new(Deliveries::default()));
        let (shared, secret) = (seen.clone(), secret.to_string());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (seen, secret) = (shared.clone(), secret.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let (seen, secret) = (seen.clone(), secret.clone());
                        async move { Ok::<_, hyper::Error>(receive(req, &seen, &secret).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(Receiver { addr, seen })
    }

    /// The `[[outbound]]` table of a config file pointing here.
    pub(crate) fn config(&self, secret: &str) -> String {
        format!(
            "[[outbound]]\nname = \"bench\"\nurl = \"http://{}/changes\"\nsecret = \"{secret}\"\n",
            self.addr
        )
    }

    /// Delivery latencies (seconds) of the seqs in `(after, upto]`, sorted.
    pub(crate) fn latencies(&self, after: i64, upto: i64) -> Vec<f64> {
        let seen = self.seen.lock().map(|s| {
            s.latency
                .range(after + 1..=upto)
                .map(|(_, l)| *l)
                .collect::<Vec<_>>()
        });
        let mut v = seen.unwrap_or_default();
        v.sort_by(f64::total_cmp);
        v
    }
}

async fn receive(
    req: Request<Incoming>,
    seen: &Mutex<Deliveries>,
    secret: &str,
) -> Response<Full<Bytes>> {
    let signature = req
        .headers()
        .get("x-notion-mirror-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let now = chrono::Utc::now();
    let mut response = Response::new(Full::new(Bytes::new()));
    let Ok(mut s) = seen.lock() else {
        return response;
    };
    s.posts += 1;
    if !notion_mirror::webhook::signature::verify(secret, &body, &signature) {
        s.bad_signatures += 1;
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        return response;
    }
    let changes: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    for c in changes["changes"].as_array().into_iter().flatten() {
        let (Some(seq), Some(at)) = (c["seq"].as_i64(), c["at"].as_str()) else {
            continue;
        };
        let Ok(at) = chrono::DateTime::parse_from_rfc3339(at) else {
            continue;
        };
        let secs = (now - at.with_timezone(&chrono::Utc))
            .num_microseconds()
            .unwrap_or(0) as f64
            / 1e6;
        match s.latency.entry(seq) {
            std::collections::btree_map::Entry::Occupied(_) => s.duplicates += 1,
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(secs.max(0.0));
            }
        }
    }
    response
}
