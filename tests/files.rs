//! Archived files (docs/files.md) against the simulator's real file host: files of every
//! location arrive with the right sha256; an expired URL leads to one refetch of the
//! object showing it and then the file; a re-signed URL downloads nothing; a crash
//! mid-download leaves no final blob and the download finishes after a restart;
//! unreferenced files are collected; a file over the cap is `too_large` and nothing is
//! downloaded; `--no-files` downloads nothing.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use notion_mirror::config::Config;
use notion_mirror::sim::files::HostedFile;
use notion_mirror::sim::{GenConfig, Knobs, Mutation, Sim};
use notion_mirror::sync::SyncEnd;
use notion_mirror::verify::Scope;
use serde_json::{json, Map};
use sha2::Digest;

async fn sync(config: &Config) {
    match common::sync(config).await {
        SyncEnd::Complete(_) => {}
        other => panic!("sync did not complete: {other:?}"),
    }
}

/// `key → (status, sha256, size)` of every file row.
fn file_rows(config: &Config) -> BTreeMap<String, (String, Option<String>, Option<i64>)> {
    let conn = common::open(config);
    let mut stmt = conn
        .prepare("SELECT key, status, sha256, size FROM files")
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?))))
        .unwrap();
    rows.map(Result::unwrap).collect()
}

/// Every column of both tables, for "nothing changed" checks.
fn snapshot(config: &Config) -> Vec<String> {
    let conn = common::open(config);
    let mut stmt = conn
        .prepare(
            "SELECT json_array(key, name, sha256, size, content_type, status, attempts, error,
                               stored_at, due_at, rejected_url, refetch_at, unreferenced_since)
             FROM files
             UNION ALL SELECT json_array(key, object, object_id, location) FROM file_refs
             ORDER BY 1",
        )
        .unwrap();
    let rows = stmt.query_map([], |r| r.get(0)).unwrap();
    rows.map(Result::unwrap).collect()
}

/// The simulator's file behind a key (`…/s3/<workspace>/<file id>/<name>`).
fn sim_file(sim: &Sim, key: &str) -> HostedFile {
    let id = key.rsplit('/').nth(1).unwrap().to_string();
    sim.hosted_files()
        .into_iter()
        .find(|f| f.id == id)
        .unwrap_or_else(|| panic!("no simulated file behind {key}"))
}

fn files_dir(config: &Config) -> PathBuf {
    config.files.dir.clone()
}

fn blob(config: &Config, sha: &str) -> PathBuf {
    files_dir(config).join(&sha[..2]).join(sha)
}

/// Blobs on disk (names), each checked to hash to its name.
fn blobs_on_disk(config: &Config) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Ok(prefixes) = std::fs::read_dir(files_dir(config)) else {
        return out;
    };
    for prefix in prefixes.flatten() {
        let name = prefix.file_name().to_string_lossy().to_string();
        if name.len() != 2 {
            continue;
        }
        for entry in std::fs::read_dir(prefix.path()).unwrap().flatten() {
            let sha = entry.file_name().to_string_lossy().to_string();
            let bytes = std::fs::read(entry.path()).unwrap();
            assert_eq!(
                hex::encode(sha2::Sha256::digest(&bytes)),
                sha,
                "a final blob name always holds complete bytes"
            );
            out.insert(sha);
        }
    }
    out
}

fn temp_files(config: &Config) -> Vec<PathBuf> {
    std::fs::read_dir(files_dir(config).join("tmp"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// A Tasks row of the workspace.
fn a_task(sim: &Sim, n: usize) -> String {
    let tasks = sim
        .read(|ws| ws.find_data_source_by_title("Tasks"))
        .expect("a Tasks data source");
    sim.read(|ws| ws.rows_of(&tasks))[n].clone()
}

fn attach(sim: &Sim, page: &str, files: serde_json::Value) {
    let mut values = Map::new();
    values.insert("Attachments".into(), files);
    sim.mutate(Mutation::UpdateProperties {
        page_id: page.to_string(),
        values,
    })
    .expect("the files value is accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_of_every_location_arrive_with_the_right_sha256() {
    let sim = common::sim(GenConfig::small(31), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(&sim, dir.path());
    sync(&config).await;
    common::assert_mirror_equals(&sim, &config, Scope::default());

    let rows = file_rows(&config);
    assert!(rows.len() >= 10, "the small workspace has files: {rows:?}");
    for (key, (status, sha, size)) in &rows {
        let file = sim_file(&sim, key);
        assert_eq!(status, "stored", "{key}");
        assert_eq!(sha.as_deref(), Some(file.sha256().as_str()), "{key}");
        assert_eq!(*size, Some(file.size as i64), "{key}");
        assert!(blob(&config, sha.as_deref().unwrap()).is_file());
    }
    let conn = common::open(&config);
    let places: BTreeSet<String> = {
        let mut stmt = conn
            .prepare("SELECT DISTINCT object || ' ' || substr(location, 1, instr(location || ':', ':') - 1) FROM file_refs")
            .unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.map(Result::unwrap).collect()
    };
    for place in [
        "page property",
        "page cover",
        "page icon",
        "block block",
        "database icon",
        "data_source icon",
    ] {
        assert!(places.contains(place), "{place} missing from {places:?}");
    }
    // Every hosted file the mirror's objects show has its row (and nothing else has one).
    let shown: i64 = conn
        .query_row("SELECT count(DISTINCT key) FROM file_refs", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(shown as usize, rows.len());
    // Stored once: a cover shown by two pages is one row; icons with the same bytes under
    // several keys are one blob.
    let shared: i64 = conn
        .query_row(
            "SELECT count(*) FROM (SELECT key FROM file_refs GROUP BY key HAVING count(*) > 1)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(shared >= 1, "some file is referenced twice");
    let distinct: BTreeSet<&str> = rows.values().filter_map(|r| r.1.as_deref()).collect();
    assert!(distinct.len() < rows.len(), "some bytes are shared");
    assert_eq!(
        blobs_on_disk(&config),
        distinct.iter().map(|s| s.to_string()).collect()
    );
    // "Where is this file?"
    let (path, page_title): (String, Option<String>) = conn
        .query_row(
            "SELECT local_path, page_title FROM attachments WHERE location LIKE 'property:%' LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(Path::new(&path).is_file(), "{path}");
    assert!(page_title.is_some());
    // Downloads never drew on the Notion API: the requests are the cold sync's own.
    // One download per key (a blob shared by two keys is still fetched under each).
    assert_eq!(sim.file_stats().ok() as usize, rows.len());
    assert_eq!(
        sim.file_stats().total(),
        sim.file_stats().ok(),
        "no URL was refused"
    );
    let status = notion_mirror::status::gather(&config.db_path).unwrap();
    let files = status.files.as_ref().expect("files in status");
    assert_eq!(files.stored as usize, rows.len());
    assert_eq!(files.pending + files.failed + files.too_large, 0);
    assert!(notion_mirror::status::render(&status)
        .contains(&format!("files       {} stored", rows.len())));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_re_signed_url_downloads_nothing() {
    let sim = common::sim(GenConfig::small(32), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(&sim, dir.path());
    sync(&config).await;
    let before = snapshot(&config);
    let downloads = sim.file_stats().total();
    let raw_of = |config: &Config| -> String {
        common::open(config)
            .query_row(
                "SELECT p.raw FROM pages p JOIN file_refs r ON r.object = 'page' AND r.object_id = p.id
                 ORDER BY p.id LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap()
    };
    let raw_before = raw_of(&config);
    // A resync reads every object again: every hosted URL comes back with a new signature.
    match notion_mirror::sync::run_kind(
        &config,
        notion_mirror::reconcile::SweepKind::Resync,
        tokio_util::sync::CancellationToken::new(),
        false,
    )
    .await
    .unwrap()
    {
        SyncEnd::Complete(_) => {}
        other => panic!("{other:?}"),
    }
    assert_ne!(raw_of(&config), raw_before, "the page was re-signed");
    assert_eq!(
        snapshot(&config),
        before,
        "no file row or reference changed"
    );
    assert_eq!(
        sim.file_stats().total(),
        downloads,
        "nothing was downloaded"
    );
    common::assert_mirror_equals(&sim, &config, Scope::default());
    sim.shutdown().await;
}

/// Runs the daemon (no sweeps scheduled) until no file is pending.
async fn daemon_until_files_settle(config: &Config) -> notion_mirror::daemon::Daemon {
    let mut config = config.clone();
    config.incremental_cron = "0 0 0 1 1 *".into();
    config.presence_cron = "0 0 0 1 1 *".into();
    config.full_cron = "0 0 0 1 1 *".into();
    let daemon = notion_mirror::daemon::start(&config).await.unwrap();
    let c = config.clone();
    common::wait_for("every file stored", Duration::from_secs(60), || {
        let c = c.clone();
        async move {
            common::count(&c, "select count(*) from files where status != 'stored'") == 0
                && common::count(&c, "select count(*) from files") > 0
        }
    })
    .await;
    daemon
}

/// The distinct objects showing files (each needs at most one refetch).
fn holders(config: &Config) -> BTreeSet<String> {
    let conn = common::open(config);
    let mut stmt = conn
        .prepare("SELECT DISTINCT object || ' ' || object_id FROM file_refs")
        .unwrap();
    let rows = stmt.query_map([], |r| r.get(0)).unwrap();
    rows.map(Result::unwrap).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_url_leads_to_one_parent_refetch_and_then_the_file() {
    let sim = common::sim(GenConfig::small(33), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(&sim, dir.path());
    // The mirror is synced without files: every URL it holds was signed then.
    config.files.enabled = false;
    sync(&config).await;
    assert_eq!(sim.file_stats().total(), 0);
    // Phase 1: the credentials those URLs were signed with expire (S3: 400 ExpiredToken).
    sim.expire_file_sessions();
    sim.reset_stats();
    config.files.enabled = true;
    let daemon = daemon_until_files_settle(&config).await;
    let files = file_rows(&config);
    for (key, (_, sha, _)) in &files {
        assert_eq!(sha.as_deref(), Some(sim_file(&sim, key).sha256().as_str()));
    }
    let host = sim.file_stats();
    let stale = host.status(400);
    assert!(stale >= 1 && stale as usize <= files.len(), "{host:?}");
    assert_eq!(
        host.refused_again, 0,
        "no refused URL was tried again as is"
    );
    assert_eq!(host.ok() as usize, files.len());
    // At most one refetch per stale URL, and none for a second file of an object being
    // refetched already (a block's refetch reads its parent's children list).
    let stats = sim.stats();
    let requests = stats.total() - stats.endpoint("users.me");
    let objects = holders(&config);
    assert!(
        requests as usize <= objects.len() && requests > 0,
        "{requests} requests for {} objects showing {} files: {:?}",
        objects.len(),
        files.len(),
        stats.by_endpoint()
    );
    let metrics = common::http()
        .get(format!("http://{}/metrics", daemon.addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!(
            "notion_mirror_files{{status=\"stored\"}} {}",
            files.len()
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("notion_mirror_files_refetches_total"),
        "{metrics}"
    );
    daemon.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_past_its_expiry_time_is_not_even_tried() {
    let sim = common::sim(GenConfig::small(34), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(&sim, dir.path());
    config.files.enabled = false;
    // URLs that live one second (X-Amz-Expires=1).
    let mut knobs = sim.knobs();
    knobs.file_url_ttl = Duration::from_secs(1);
    sim.set_knobs(knobs.clone());
    sync(&config).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    knobs.file_url_ttl = Duration::from_secs(3600);
    sim.set_knobs(knobs);
    sim.reset_stats();
    config.files.enabled = true;
    let daemon = daemon_until_files_settle(&config).await;
    let files = file_rows(&config).len() as u64;
    assert_eq!(
        sim.file_stats().total(),
        files,
        "only fresh URLs were requested (none answered 403)"
    );
    let stats = sim.stats();
    let requests = stats.total() - stats.endpoint("users.me");
    assert!(requests as usize <= holders(&config).len() && requests > 0);
    daemon.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_download_leaves_no_final_blob_and_the_download_finishes_after_restart() {
    let sim = common::sim(GenConfig::small(35), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(&sim, dir.path());
    // The files arrive at 32 KiB/s: the first download is still running when killed.
    let mut knobs = sim.knobs();
    knobs.file_bytes_per_sec = Some(32 * 1024);
    sim.set_knobs(knobs.clone());
    let mut child = Command::new(common::binary())
        .args(["sync", "--quiet"])
        .env("HOME", dir.path())
        .env("NOTION_TOKEN", sim.token())
        .env("NOTION_API_URL", sim.base_url())
        .env("NOTION_MIRROR_DB", &config.db_path)
        .env("NOTION_MIRROR_RATE", "500")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let c = config.clone();
    common::wait_for("a download in progress", Duration::from_secs(60), || {
        let c = c.clone();
        async move { !temp_files(&c).is_empty() }
    })
    .await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        !temp_files(&config).is_empty(),
        "the unfinished download is left as a .part"
    );
    let stored: BTreeSet<String> = file_rows(&config)
        .values()
        .filter(|r| r.0 == "stored")
        .filter_map(|r| r.1.clone())
        .collect();
    // Every blob under a final name is complete (checked) and recorded as stored.
    assert_eq!(blobs_on_disk(&config), stored);
    knobs.file_bytes_per_sec = None;
    sim.set_knobs(knobs);
    sync(&config).await;
    let rows = file_rows(&config);
    assert!(rows.values().all(|r| r.0 == "stored"), "{rows:?}");
    for (key, (_, sha, _)) in &rows {
        assert_eq!(sha.as_deref(), Some(sim_file(&sim, key).sha256().as_str()));
    }
    assert!(
        temp_files(&config).is_empty(),
        "the dead process's .part is gone"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreferenced_files_are_collected_after_a_day() {
    let sim = common::sim(GenConfig::small(36), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(&sim, dir.path());
    let task = a_task(&sim, 0);
    attach(&sim, &task, json!(["minutes.pdf"]));
    sync(&config).await;
    let key: String = common::open(&config)
        .query_row(
            "SELECT key FROM files WHERE name = 'minutes.pdf'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let sha = file_rows(&config)[&key].1.clone().unwrap();
    assert!(blob(&config, &sha).is_file());
    // The file leaves the page: kept for a day.
    attach(&sim, &task, json!([]));
    sync(&config).await;
    let since: Option<String> = common::open(&config)
        .query_row(
            "SELECT unreferenced_since FROM files WHERE key = ?1",
            [&key],
            |r| r.get(0),
        )
        .unwrap();
    assert!(since.is_some());
    assert!(blob(&config, &sha).is_file(), "kept within the day");
    // A day passes.
    {
        let conn = notion_mirror::mirror::open::open_read_write(&config.db_path).unwrap();
        conn.execute(
            "UPDATE files SET unreferenced_since = '2000-01-01T00:00:00.000Z' WHERE key = ?1",
            [&key],
        )
        .unwrap();
    }
    let old = std::time::SystemTime::now() - Duration::from_secs(3 * 86_400);
    std::fs::File::options()
        .write(true)
        .open(blob(&config, &sha))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let kept = file_rows(&config).len() - 1;
    sync(&config).await; // a full sweep
    assert!(!file_rows(&config).contains_key(&key));
    assert!(!blob(&config, &sha).exists(), "the blob left the disk");
    assert_eq!(file_rows(&config).len(), kept, "nothing else was collected");
    assert!(file_rows(&config)
        .values()
        .all(|r| blob(&config, r.1.as_deref().unwrap()).is_file()));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_over_the_cap_is_too_large_and_nothing_is_downloaded() {
    let sim = common::sim(GenConfig::small(37), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(&sim, dir.path());
    config.files.max_file_bytes = 1024 * 1024;
    // Far more than the socket buffers between the host and the mirror hold.
    let big = 64 * 1024 * 1024;
    attach(
        &sim,
        &a_task(&sim, 1),
        json!([{ "name": "huge.bin", "size": big }]),
    );
    sync(&config).await;
    let (status, size, error): (String, Option<i64>, Option<String>) = common::open(&config)
        .query_row(
            "SELECT status, size, error FROM files WHERE name = 'huge.bin'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(status, "too_large");
    assert_eq!(size, Some(big));
    assert!(error.unwrap_or_default().contains("1 MiB"));
    let others: i64 = common::count(
        &config,
        "select coalesce(sum(size), 0) from files where status = 'stored'",
    );
    // The body was never read: the host handed over at most what its buffers hold.
    let sent = sim.file_stats().bytes as i64;
    assert!(
        sent - others < big / 4,
        "sent {sent} bytes, stored {others}"
    );
    assert!(temp_files(&config).is_empty());
    assert!(!blobs_on_disk(&config)
        .iter()
        .any(|sha| std::fs::metadata(blob(&config, sha)).unwrap().len() == big as u64));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_files_downloads_nothing() {
    let sim = common::sim(GenConfig::small(38), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(&sim, dir.path());
    config.files.enabled = false;
    sync(&config).await;
    common::assert_mirror_equals(&sim, &config, Scope::default());
    assert_eq!(sim.file_stats().total(), 0);
    assert_eq!(common::count(&config, "select count(*) from files"), 0);
    assert_eq!(common::count(&config, "select count(*) from file_refs"), 0);
    assert!(!files_dir(&config).exists());
    let status = notion_mirror::status::gather(&config.db_path).unwrap();
    assert_eq!(status.files.unwrap().mode, "off");
    sim.shutdown().await;
}
