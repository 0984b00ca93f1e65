//! The backup group: `notion-mirror backup` of the cold-synced benchmark mirror (2,000
//! pages; 300 with `--quick`), plain and `--compress`: wall time and size, and the copy
//! checked (`PRAGMA integrity_check`, same row counts as the mirror).
//! Invariant: the copies go to their own directory and are removed afterwards.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Result};
use serde_json::json;

use crate::proc::{mirror_cmd, run_to_success, MIB};
use crate::report::Bench;
use crate::wait::{count, open_mirror};

pub(crate) async fn backup(b: &mut Bench, sim: &notion_mirror::sim::Sim, dir: &Path) -> Result<()> {
    let db = dir.join("mirror.db");
    let out = dir.join("backups");
    std::fs::create_dir_all(&out)?;
    let db_bytes = std::fs::metadata(&db)?.len();
    let pages = count(&open_mirror(&db)?, "select count(*) from pages")?;
    let mut figures = Vec::new();
    for compress in [false, true] {
        let dest = out.join(if compress { "copy.db.gz" } else { "copy.db" });
        let log = out.join(if compress {
            "backup-gz.log"
        } else {
            "backup.log"
        });
        let mut cmd = mirror_cmd(sim, dir, "backup", &log)?;
        cmd.arg(&dest);
        if compress {
            cmd.arg("--compress");
        }
        let what = if compress {
            "`notion-mirror backup --compress`"
        } else {
            "`notion-mirror backup`"
        };
        let run = run_to_success(cmd, Duration::from_secs(300), what, &log).await?;
        let bytes = std::fs::metadata(&dest)?.len();
        if !compress {
            let conn = rusqlite::Connection::open_with_flags(
                &dest,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )?;
            let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
            let copied = count(&conn, "select count(*) from pages")?;
            if check != "ok" || copied != pages {
                bail!("the backup is not a faithful copy: integrity_check {check}, {copied} pages of {pages}");
            }
        }
        figures.push((compress, run.wall.as_secs_f64(), bytes));
    }
    let (_, secs, bytes) = figures[0];
    let (_, gz_secs, gz_bytes) = figures[1];
    b.row(
        "backup",
        "backup_secs",
        "backup: time (size) of the benchmark mirror",
        format!(
            "{secs:.2} s ({:.1} MiB); --compress {gz_secs:.2} s ({:.1} MiB)",
            bytes as f64 / MIB,
            gz_bytes as f64 / MIB
        ),
        secs,
        "≤ 10 s".into(),
        secs <= 10.0,
    );
    b.raw(
        "backup",
        format!(
            "mirror {:.1} MiB (+ WAL) with {pages} pages; the plain copy passed integrity_check with the same page count; times are the whole command (process start, quick_check, fsync)",
            db_bytes as f64 / MIB
        ),
    );
    b.raw_json(
        "backup",
        "figures",
        json!({"pages": pages, "mirror_bytes": db_bytes, "secs": secs, "bytes": bytes,
               "compressed_secs": gz_secs, "compressed_bytes": gz_bytes}),
    );
    let _ = std::fs::remove_dir_all(&out);
    Ok(())
}
