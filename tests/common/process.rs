//! The real binary as a child process (daemons that tests `kill -9`), free ports, churn,
//! and the consistency checks a copied mirror must pass. Used by `tests/restore.rs` and
//! `tests/replica.rs`.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use notion_mirror::sim::{MutationMix, Sim};
use rusqlite::Connection;

/// A cron (with seconds) that does not fire during a test.
pub const FAR_AWAY: &str = "0 0 0 1 1 *";

/// A child process killed (SIGKILL) when dropped.
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    /// `kill -9`, and reap it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last lines of the log, for assertion messages.
    pub fn tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(25)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A port nobody listens on right now.
pub fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

/// `notion-mirror run` against `sim` on `db`, listening on `addr`, sweeps only at start-up
/// (and when a test asks), `rate` requests/s; output to `log`.
pub fn daemon(
    sim: &Sim,
    db: &Path,
    addr: SocketAddr,
    rate: u32,
    log: &Path,
    extra: &[(&str, String)],
) -> Proc {
    let out = File::create(log).expect("log file");
    let mut cmd = Command::new(super::binary());
    cmd.arg("run")
        .env_clear()
        .env("HOME", db.parent().unwrap_or(Path::new(".")))
        .env("NOTION_TOKEN", sim.token())
        .env("NOTION_API_URL", sim.base_url())
        .env("NOTION_MIRROR_DB", db)
        .env("NOTION_MIRROR_LISTEN", addr.to_string())
        .env("NOTION_MIRROR_RATE", rate.to_string())
        .env("NOTION_MIRROR_INCREMENTAL", FAR_AWAY)
        .env("NOTION_MIRROR_PRESENCE", FAR_AWAY)
        .env("NOTION_MIRROR_FULL", FAR_AWAY)
        .env("NOTION_MIRROR_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::from(out.try_clone().expect("log")))
        .stderr(Stdio::from(out));
    for (k, v) in extra {
        cmd.env(k, v);
    }
    Proc {
        child: cmd.spawn().expect("the daemon starts"),
        log: log.to_path_buf(),
    }
}

/// Waits until `/healthz` answers 200 (or panics with the daemon's log).
pub async fn wait_healthy(proc: &mut Proc, addr: SocketAddr) {
    let client = super::http();
    let url = format!("http://{addr}/healthz");
    let start = Instant::now();
    loop {
        if let Ok(r) = client.get(&url).send().await {
            if r.status().is_success() {
                return;
            }
        }
        if let Ok(Some(status)) = proc.child.try_wait() {
            panic!("the daemon exited ({status}):\n{}", proc.tail());
        }
        if start.elapsed() > Duration::from_secs(30) {
            panic!("the daemon is not healthy after 30 s:\n{}", proc.tail());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Hands the daemon its verification token the way Notion does (stored in the mirror).
pub async fn handshake(addr: SocketAddr, token: &str) {
    let body = serde_json::json!({ "verification_token": token }).to_string();
    let r = super::http()
        .post(format!("http://{addr}/webhook"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("handshake");
    assert!(r.status().is_success(), "handshake answered {}", r.status());
}

/// Random edits (comments, structure, properties, content) every `every` until stopped.
pub struct Churn {
    stop: Arc<AtomicBool>,
    task: Option<tokio::task::JoinHandle<usize>>,
}

impl Churn {
    pub fn start(sim: &Sim, seed: u64, every: Duration) -> Churn {
        let stop = Arc::new(AtomicBool::new(false));
        let (sim, flag) = (sim.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let mut n = 0;
            let mut i = 0u64;
            while !flag.load(Ordering::Relaxed) {
                i += 1;
                n += sim
                    .mutate_random(seed.wrapping_add(i), 1, MutationMix::default())
                    .len();
                tokio::time::sleep(every).await;
            }
            n
        });
        Churn {
            stop,
            task: Some(task),
        }
    }

    /// Stops the edits; returns how many were made.
    pub async fn stop(mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        match self.task.take() {
            Some(t) => t.await.unwrap_or(0),
            None => 0,
        }
    }
}

/// One number from the mirror at `db`.
pub fn scalar(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// `PRAGMA integrity_check` is ok and every table holds a consistent state: no block,
/// property value or comment without its page, no row of a data source the mirror lacks,
/// and every queue row names an object the mirror knows (a row, a database's data source)
/// or one a stored webhook event announced, and a sweep that exists.
pub fn assert_consistent(db: &Path) {
    let conn = notion_mirror::mirror::open::open_read_only(db).expect("the copy opens");
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(check, "ok", "integrity_check");
    let orphans = [
        (
            "blocks without their page",
            "select count(*) from blocks b where not exists (select 1 from pages p where p.id = b.page_id)",
        ),
        (
            "property values without their page",
            "select count(*) from property_values v where not exists (select 1 from pages p where p.id = v.page_id)",
        ),
        (
            "comments without their page",
            "select count(*) from comments c where not exists (select 1 from pages p where p.id = c.page_id)",
        ),
        (
            "rows of a data source the mirror lacks",
            "select count(*) from pages p where p.data_source_id is not null
               and not exists (select 1 from data_sources d where d.id = p.data_source_id)",
        ),
        (
            "queue rows naming unknown objects",
            "select count(*) from queue q where q.kind not in ('users', 'view')
               and not exists (select 1 from pages where id = q.id)
               and not exists (select 1 from databases where id = q.id)
               and not exists (select 1 from data_sources where id = q.id)
               and not exists (select 1 from comments where id = q.id)
               and not exists (select 1 from webhook_events where entity_id = q.id)
               and not exists (select 1 from webhook_events e where instr(e.raw, q.id) > 0)
               and not exists (select 1 from blocks where id = q.id)
               and not exists (select 1 from databases d where instr(d.raw, q.id) > 0)
               and not exists (select 1 from pages p where instr(p.raw, q.id) > 0)",
        ),
        (
            "queue rows of unknown sweeps",
            "select count(*) from queue q where q.sweep_run is not null
               and not exists (select 1 from sync_runs r where r.id = q.sweep_run)",
        ),
    ];
    for (what, sql) in orphans {
        assert_eq!(scalar(&conn, sql), 0, "{what} in {}", db.display());
    }
}

/// The differences between the mirror at `db` and the workspace (empty = equal).
pub fn diff(sim: &Sim, db: &Path) -> Vec<String> {
    let conn = notion_mirror::mirror::open::open_read_only(db).expect("mirror opens");
    notion_mirror::verify::diff(&conn, &sim.expected(), Default::default()).expect("diff runs")
}

/// Waits (bounded) until the mirror at `db` equals the workspace and its queue is idle.
pub async fn wait_equal(sim: &Sim, db: &Path, proc: &mut Proc, limit: Duration) {
    let start = Instant::now();
    let mut last = Vec::new();
    while start.elapsed() < limit {
        let idle = {
            let conn = notion_mirror::mirror::open::open_read_only(db).expect("opens");
            scalar(&conn, "select count(*) from queue where state != 'failed'") == 0
        };
        if idle {
            last = diff(sim, db);
            if last.is_empty() {
                return;
            }
        }
        if let Ok(Some(status)) = proc.child.try_wait() {
            panic!("the daemon exited ({status}):\n{}", proc.tail());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!(
        "the mirror does not equal the workspace after {limit:?}:\n{}\n--- daemon log ---\n{}",
        last.join("\n"),
        proc.tail()
    );
}

/// Waits until the mirror at `db` holds the content of `fraction` of the workspace's live
/// pages; returns the seconds waited.
pub async fn wait_content_fraction(sim: &Sim, db: &Path, fraction: f64, proc: &mut Proc) -> f64 {
    let pages = sim.read(|ws| {
        ws.pages
            .values()
            .filter(|p| !p.in_trash && ws.visible(&p.id))
            .count()
    }) as f64;
    let start = Instant::now();
    loop {
        if let Ok(conn) = notion_mirror::mirror::open::open_read_only(db) {
            let with_content = conn
                .query_row(
                    "select count(*) from pages where content_edited_time is not null",
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .unwrap_or(0) as f64;
            if with_content >= fraction * pages {
                return start.elapsed().as_secs_f64();
            }
        }
        if start.elapsed() > Duration::from_secs(120) {
            panic!(
                "the cold sync did not reach {fraction:.2} of the content:\n{}",
                proc.tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
