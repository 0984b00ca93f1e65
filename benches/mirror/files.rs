//! Archived files (docs/files.md): what the cold sync of the big workspace archived (files,
//! bytes, extra API requests; reported in the `cold` group), what re-signing costs when every URL the mirror holds has
//! expired (the daemon refetches the objects showing them), and the peak RSS of `sync`
//! while it downloads one 100 MB file.
//! Invariant: every figure comes from the real binary against the simulator's file host;
//! each phase starts from an empty mirror directory and checks what it stored.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use notion_mirror::sim::{GenConfig, Knobs, Mutation, Sim, SimConfig};
use serde_json::{json, Map};

use crate::proc::{free_addr, mirror_cmd, run_to_success, Daemon, MIB};
use crate::report::{thousands, Bench};
use crate::wait::{count, open_mirror, wait_until};

/// `(files stored, other files, bytes of distinct blobs)` of a mirror.
fn stored(db: &Path) -> Result<(i64, i64, i64)> {
    let conn = open_mirror(db)?;
    Ok((
        count(&conn, "select count(*) from files where status = 'stored'")?,
        count(&conn, "select count(*) from files where status != 'stored'")?,
        count(
            &conn,
            "select coalesce(sum(size), 0) from (select sha256, max(size) as size from files
             where status = 'stored' group by sha256)",
        )?,
    ))
}

/// The cold sync's files (called by `cold` after its sync).
pub(crate) fn cold_files(b: &mut Bench, sim: &Sim, dir: &Path) -> Result<()> {
    let (files, others, bytes) = stored(&dir.join("mirror.db"))?;
    let host = sim.file_stats();
    let refused = host.total() - host.ok();
    b.row(
        "cold",
        "cold_files",
        "files archived by the cold sync",
        format!(
            "{} files, {:.1} MiB, {refused} URLs refused (→ extra API requests)",
            thousands(files as u64),
            bytes as f64 / MIB
        ),
        files as f64,
        "all stored, 0 extra requests".into(),
        others == 0 && refused == 0 && files > 0,
    );
    b.raw(
        "cold",
        format!(
            "cold sync: {files} files stored ({others} not), {bytes} bytes of distinct blobs; host answered {} downloads ({} bytes), {refused} refusals",
            host.ok(),
            host.bytes
        ),
    );
    b.raw_json(
        "cold",
        "files",
        json!({"files": files, "not_stored": others, "bytes": bytes, "downloads": host.ok(), "refused": refused}),
    );
    Ok(())
}

/// The files group's own phases: expired URLs, and RSS with a 100 MB file.
pub(crate) async fn files(b: &mut Bench, root: &Path) -> Result<()> {
    expired(b, root).await?;
    big_file(b, root).await
}

async fn start_sim(generator: GenConfig) -> Result<Sim> {
    let mut config = SimConfig::new(generator);
    config.knobs = Knobs::unlimited();
    Sim::start(config).await.context("the simulator starts")
}

/// Every URL in the mirror expired (synced with `--no-files`, then the session ended): the
/// daemon, with no sweep scheduled, archives everything; the requests it makes are what
/// re-signing costs.
async fn expired(b: &mut Bench, root: &Path) -> Result<()> {
    let pages = if b.args.quick { 300 } else { 2000 };
    let sim = start_sim(GenConfig::with_pages(b.args.seed, pages)).await?;
    let dir = root.join("files-expired");
    std::fs::create_dir_all(&dir)?;
    let log = dir.join("sync.log");
    let mut cmd = mirror_cmd(&sim, &dir, "sync", &log)?;
    cmd.args(["--quiet", "--no-files"])
        .env("NOTION_MIRROR_RATE", "1000");
    let limit = Duration::from_secs(if b.args.quick { 150 } else { 420 });
    run_to_success(cmd, limit, "`notion-mirror sync --no-files`", &log).await?;
    sim.expire_file_sessions();
    sim.reset_stats();
    sim.reset_file_stats();
    let never = "0 0 0 1 1 *".to_string();
    let mut daemon = Daemon::spawn(
        &sim,
        &dir,
        &free_addr()?,
        "run.log",
        &[
            ("NOTION_MIRROR_RATE", "1000".into()),
            ("NOTION_MIRROR_INCREMENTAL", never.clone()),
            ("NOTION_MIRROR_PRESENCE", never.clone()),
            ("NOTION_MIRROR_FULL", never),
        ],
    )?;
    daemon.wait_running(Duration::from_secs(30)).await?;
    let started = Instant::now();
    let db = dir.join("mirror.db");
    wait_until(
        &db,
        "every file archived",
        limit,
        Duration::from_millis(100),
        |c| {
            let all: i64 = c.query_row("select count(*) from files", [], |r| r.get(0))?;
            let open: i64 = c.query_row(
                "select count(*) from files where status = 'pending'",
                [],
                |r| r.get(0),
            )?;
            Ok(all > 0 && open == 0)
        },
    )
    .await?;
    let took = started.elapsed();
    daemon.alive()?;
    let status = daemon.terminate(Duration::from_secs(30)).await?;
    if !status.success() {
        bail!("`notion-mirror run` exited with {status}");
    }
    let (files, others, bytes) = stored(&db)?;
    let holders = count(
        &open_mirror(&db)?,
        "select count(*) from (select distinct object, object_id from file_refs)",
    )?;
    let stats = sim.stats();
    let requests = stats.total() - stats.endpoint("users.me");
    let host = sim.file_stats();
    b.row(
        "files",
        "resign_requests",
        "API requests to re-sign every expired URL",
        format!(
            "{} for {} files on {} objects",
            thousands(requests),
            thousands(files as u64),
            thousands(holders as u64)
        ),
        requests as f64,
        "≤ 1 per object showing files".into(),
        requests <= holders as u64 && others == 0,
    );
    b.raw(
        "files",
        format!(
            "expired URLs ({pages}-page workspace): {files} files ({bytes} bytes) archived in {:.1} s by `run` after `sync --no-files`; host: {} refused (400 ExpiredToken), {} refused again, {} served; API: {:?}",
            took.as_secs_f64(),
            host.total() - host.ok(),
            host.refused_again,
            host.ok(),
            stats.by_endpoint()
        ),
    );
    b.raw_json(
        "files",
        "expired",
        json!({"pages": pages, "files": files, "bytes": bytes, "objects": holders,
               "requests": requests, "refused": host.total() - host.ok(),
               "refused_again": host.refused_again, "seconds": took.as_secs_f64()}),
    );
    sim.shutdown().await;
    Ok(())
}

/// Peak RSS of `sync` on the small workspace with and without one big file.
async fn big_file(b: &mut Bench, root: &Path) -> Result<()> {
    let size: u64 = if b.args.quick { 32 << 20 } else { 100 << 20 };
    let baseline = sync_peak(b, root, "files-baseline", None).await?;
    let with = sync_peak(b, root, "files-big", Some(size)).await?;
    let label = format!("{} MB", size >> 20);
    b.row(
        "files",
        "big_file_peak_rss_mib",
        "sync peak RSS downloading one big file",
        format!("{with:.1} MiB with a {label} file ({baseline:.1} MiB without)"),
        with,
        "≤ without + 16 MiB".into(),
        with <= baseline + 16.0,
    );
    b.raw_json(
        "files",
        "big_file",
        json!({"bytes": size, "peak_rss_mib": with, "baseline_peak_rss_mib": baseline}),
    );
    Ok(())
}

/// A cold `sync` of `small(seed)` (plus a file of `big` bytes on a task); its VmHWM in MiB.
async fn sync_peak(b: &mut Bench, root: &Path, name: &str, big: Option<u64>) -> Result<f64> {
    let sim = start_sim(GenConfig::small(b.args.seed)).await?;
    if let Some(size) = big {
        let tasks = sim
            .read(|ws| ws.find_data_source_by_title("Tasks"))
            .context("no Tasks data source")?;
        let task = sim
            .read(|ws| ws.rows_of(&tasks))
            .first()
            .cloned()
            .context("no task")?;
        let mut values = Map::new();
        values.insert(
            "Attachments".into(),
            json!([{ "name": "big.bin", "size": size }]),
        );
        sim.mutate(Mutation::UpdateProperties {
            page_id: task,
            values,
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let dir = root.join(name);
    std::fs::create_dir_all(&dir)?;
    let log = dir.join("sync.log");
    let mut cmd = mirror_cmd(&sim, &dir, "sync", &log)?;
    cmd.arg("--quiet").env("NOTION_MIRROR_RATE", "1000");
    let run = run_to_success(
        cmd,
        Duration::from_secs(300),
        "`notion-mirror sync` (files)",
        &log,
    )
    .await?;
    let peak = run.peak_kib.unwrap_or(0) as f64 * 1024.0 / MIB;
    let (files, others, _) = stored(&dir.join("mirror.db"))?;
    if others != 0 {
        bail!("{others} files were not stored ({name})");
    }
    if let Some(size) = big {
        let want = sim
            .hosted_files()
            .into_iter()
            .find(|f| f.name == "big.bin")
            .context("no big file")?;
        let sha: String = open_mirror(&dir.join("mirror.db"))?.query_row(
            "select sha256 from files where name = 'big.bin'",
            [],
            |r| r.get(0),
        )?;
        let expected = tokio::task::spawn_blocking(move || want.sha256()).await?;
        if sha != expected {
            bail!("the big file's hash is {sha}, the host's {expected}");
        }
        b.raw(
            "files",
            format!(
                "big file: {size} bytes stored with the right sha256 in {:.1} s; sync VmHWM {peak:.1} MiB ({files} files)",
                run.wall.as_secs_f64()
            ),
        );
    } else {
        b.raw(
            "files",
            format!(
                "baseline: small({}) cold sync with {files} files, VmHWM {peak:.1} MiB",
                b.args.seed
            ),
        );
    }
    sim.shutdown().await;
    Ok(peak)
}
