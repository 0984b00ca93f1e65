//! The benchmark runner: `cargo bench --bench mirror [-- --quick] [--seed N] [--json PATH]
//! [--only GROUP]`.
//!
//! The simulated Notion API (`notion_mirror::sim::Sim`) runs in this process on 127.0.0.1;
//! the mirror side is the real `notion-mirror` binary (`sync`, then `run`) as a child
//! process, so request counts are what the simulator answered and memory figures are the
//! binary's own. The run prints ONE table, every figure beside its target with a met/missed
//! mark, then the raw numbers behind each figure.
//!
//! Exit status: 0 when every step ran and every mirror checked was exact (a missed target
//! is reported, not a failure); 1 on a crash, a timeout or a wrong mirror; 2 on bad
//! arguments. Every wait has a deadline and says what it was waiting for.
//!
//! Order of a run: cold sync of the big workspace (`sync`, NOTION_MIRROR_RATE=1000); an
//! idle incremental sweep (`run` with a one-shot cron); `run` with NOTION_MIRROR_RATE=1000
//! and the simulator's webhook sender for the edit costs, coalescing, change → mirror and
//! idle RSS; `run` at its defaults (3 req/s) for the ingest load; last, the rate-limited
//! cold sync of a small workspace on its own simulator (wall time).
//!
//! Groups (`--only`): cold, wall, idle, edits, coalescing, latency, memory, ingest. The
//! daemon groups need the cold-synced mirror, so they run the cold sync first (its figures
//! are then not printed).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use bytes::Bytes;
use chrono::{SubsecRound as _, Timelike as _, Utc};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::Request;
use hyper_util::rt::TokioIo;
use notion_mirror::mirror::open::open_read_only;
use notion_mirror::sim::model::Parent;
use notion_mirror::sim::{GenConfig, Knobs, Mutation, RateLimit, Sim, SimConfig, Stats};
use notion_mirror::verify::{self, Scope};
use notion_mirror::webhook::signature;
use rusqlite::{Connection, OptionalExtension as _};
use serde_json::{json, Map, Value};

const GROUPS: &[&str] = &[
    "cold",
    "wall",
    "idle",
    "edits",
    "coalescing",
    "latency",
    "memory",
    "ingest",
];

/// A cron (with seconds) that does not fire during a run: midnight on January 1st.
const FAR_AWAY: &str = "0 0 0 1 1 *";
/// The daemon's default webhook debounce (not overridden here).
const DEBOUNCE: Duration = Duration::from_secs(1);
const MIB: f64 = 1024.0 * 1024.0;
/// Load-generator connections for the ingest figure (the spec asks for 32–64;
/// `MIRROR_BENCH_CONNECTIONS` overrides it for experiments).
const INGEST_TASKS: usize = 48;

fn ingest_tasks() -> usize {
    std::env::var("MIRROR_BENCH_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| (1..=1024).contains(n))
        .unwrap_or(INGEST_TASKS)
}

// ---------------------------------------------------------------------------------------
// Arguments

#[derive(Debug, Clone)]
struct Args {
    quick: bool,
    seed: u64,
    json: Option<PathBuf>,
    only: Option<String>,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        quick: false,
        seed: 1,
        json: None,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| -> Result<String> {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| anyhow!("{what} needs a value"))
        };
        match name.as_str() {
            "--quick" => args.quick = true,
            "--seed" => {
                let v = value("--seed")?;
                args.seed = v
                    .parse()
                    .map_err(|_| anyhow!("--seed `{v}` is not a number"))?;
            }
            "--json" => args.json = Some(PathBuf::from(value("--json")?)),
            "--only" => {
                let v = value("--only")?;
                if !GROUPS.contains(&v.as_str()) {
                    bail!("--only `{v}`: groups are {}", GROUPS.join(", "));
                }
                args.only = Some(v);
            }
            // cargo passes `--bench`; anything else unknown is ignored too.
            _ => {}
        }
    }
    Ok(args)
}

// ---------------------------------------------------------------------------------------
// Results

struct Row {
    order: usize,
    key: &'static str,
    figure: &'static str,
    shown: String,
    value: f64,
    target: String,
    met: bool,
}

struct Bench {
    args: Args,
    rows: Vec<Row>,
    raw: Vec<(&'static str, String)>,
    raw_json: Map<String, Value>,
    notes: Vec<String>,
    failures: Vec<String>,
    started: Instant,
}

impl Bench {
    fn wants(&self, group: &str) -> bool {
        self.args.only.as_deref().is_none_or(|g| g == group)
    }

    #[allow(clippy::too_many_arguments)]
    fn row(
        &mut self,
        group: &'static str,
        key: &'static str,
        figure: &'static str,
        shown: String,
        value: f64,
        target: String,
        met: bool,
    ) {
        if !self.wants(group) {
            return;
        }
        let order = GROUPS.iter().position(|g| *g == group).unwrap_or(99) * 1000 + self.rows.len();
        self.rows.push(Row {
            order,
            key,
            figure,
            shown,
            value,
            target,
            met,
        });
    }

    fn raw(&mut self, group: &'static str, line: String) {
        if self.wants(group) {
            self.raw.push((group, line));
        }
    }

    fn raw_json(&mut self, group: &'static str, key: &str, v: Value) {
        if self.wants(group) {
            let g = self
                .raw_json
                .entry(group.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            g[key] = v;
        }
    }

    fn fail(&mut self, group: &str, e: &anyhow::Error) {
        let line = format!("{group}: {e:#}");
        eprintln!("FAILURE {line}");
        self.failures.push(line);
    }
}

// ---------------------------------------------------------------------------------------
// Child processes

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_notion-mirror")
}

/// `notion-mirror <sub>` against `sim`, mirror in `dir`, output to `log` (clean env).
fn mirror_cmd(sim: &Sim, dir: &Path, sub: &str, log: &Path) -> Result<Command> {
    let out = File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let mut c = Command::new(binary());
    c.arg(sub)
        .env_clear()
        .env("HOME", dir)
        .env("NOTION_TOKEN", sim.token())
        .env("NOTION_API_URL", sim.base_url())
        .env("NOTION_MIRROR_DB", dir.join("mirror.db"))
        .env("NOTION_MIRROR_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::from(out.try_clone()?))
        .stderr(Stdio::from(out));
    Ok(c)
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(12);
    lines[start..].join("\n    ")
}

/// User + system CPU seconds a process has used so far.
fn cpu_secs(pid: u32) -> f64 {
    stat_cpu_secs(&std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default())
}

/// CPU seconds of the thread of `pid` named `name` (e.g. `mirror-writer`).
fn thread_cpu_secs(pid: u32, name: &str) -> f64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0.0;
    };
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() == name {
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            return stat_cpu_secs(&stat);
        }
    }
    0.0
}

/// utime + stime of a `/proc/.../stat` line, in seconds (USER_HZ = 100 on Linux).
fn stat_cpu_secs(stat: &str) -> f64 {
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Bytes a process caused to be written to storage (`write_bytes` of `/proc/<pid>/io`).
fn written_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("write_bytes:")?.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// A counter or gauge without labels from a Prometheus text page.
fn metric(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// `VmHWM` / `VmRSS` of a process in KiB.
fn proc_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

struct Finished {
    status: ExitStatus,
    wall: Duration,
    /// The last VmHWM read before the process exited.
    peak_kib: Option<u64>,
}

/// Runs a one-shot command to its end (blocking), polling VmHWM every 50 ms.
fn run_to_end(mut cmd: Command, limit: Duration, what: &str, log: &Path) -> Result<Finished> {
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", binary()))?;
    let pid = child.id();
    let mut peak = None;
    let mut last_poll = Instant::now() - Duration::from_secs(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Finished {
                status,
                wall: started.elapsed(),
                peak_kib: peak,
            });
        }
        if last_poll.elapsed() >= Duration::from_millis(50) {
            if let Some(kib) = proc_kib(pid, "VmHWM:") {
                peak = Some(kib);
            }
            last_poll = Instant::now();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{what} did not finish within {limit:?}; log tail:\n    {}",
                log_tail(log)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A running `notion-mirror run`; killed on drop if still alive.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn spawn(
        sim: &Sim,
        dir: &Path,
        addr: &str,
        log_name: &str,
        env: &[(&str, String)],
    ) -> Result<Daemon> {
        let log = dir.join(log_name);
        let mut cmd = mirror_cmd(sim, dir, "run", &log)?;
        cmd.env("NOTION_MIRROR_LISTEN", addr);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {} run", binary()))?;
        Ok(Daemon { child, log })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the "notion-mirror running" log line (after the token check).
    async fn wait_running(&mut self, limit: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            if text.contains("notion-mirror running") {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "`notion-mirror run` exited at start-up ({status}); log tail:\n    {}",
                    log_tail(&self.log)
                );
            }
            if start.elapsed() > limit {
                bail!(
                    "`notion-mirror run` did not log `notion-mirror running` within {limit:?}; log tail:\n    {}",
                    log_tail(&self.log)
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "`notion-mirror run` died ({status}); log tail:\n    {}",
                log_tail(&self.log)
            );
        }
        Ok(())
    }

    /// SIGTERM, then waits for a clean exit.
    async fn terminate(mut self, limit: Duration) -> Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "`notion-mirror run` had already exited ({status}); log tail:\n    {}",
                log_tail(&self.log)
            );
        }
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)
            .context("cannot send SIGTERM to the daemon")?;
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if start.elapsed() > limit {
                bail!(
                    "`notion-mirror run` did not stop within {limit:?} of SIGTERM; log tail:\n    {}",
                    log_tail(&self.log)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn free_addr() -> Result<String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.to_string())
}

// ---------------------------------------------------------------------------------------
// The mirror, read-only

fn open_mirror(db: &Path) -> Result<Connection> {
    open_read_only(db).map_err(|e| anyhow!("cannot open the mirror read-only: {e}"))
}

fn count(conn: &Connection, sql: &str) -> Result<i64> {
    Ok(conn.query_row(sql, [], |r| r.get(0))?)
}

/// Pending or running queue items (parked failures do not count).
fn queue_busy(conn: &Connection) -> Result<i64> {
    count(conn, "select count(*) from queue where state != 'failed'")
}

async fn wait_queue_idle(db: &Path, limit: Duration) -> Result<()> {
    let conn = open_mirror(db)?;
    let start = Instant::now();
    loop {
        let busy = queue_busy(&conn)?;
        if busy == 0 {
            return Ok(());
        }
        if start.elapsed() > limit {
            bail!("the daemon's queue still had {busy} items after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `check` every `every` until it holds; returns when it first held.
async fn wait_until(
    db: &Path,
    what: &str,
    limit: Duration,
    every: Duration,
    check: impl Fn(&Connection) -> rusqlite::Result<bool>,
) -> Result<Instant> {
    let conn = open_mirror(db)?;
    let start = Instant::now();
    loop {
        if check(&conn)? {
            return Ok(Instant::now());
        }
        if start.elapsed() > limit {
            bail!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(every).await;
    }
}

/// Waits until the queue is idle and neither the queue nor the simulator's request count
/// moves for 1.2 s (longer than the debounce, so follow-up work has shown up).
async fn settle(sim: &Sim, db: &Path, limit: Duration) -> Result<()> {
    let start = Instant::now();
    loop {
        wait_queue_idle(db, limit.saturating_sub(start.elapsed())).await?;
        let before = sim.stats().total();
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let conn = open_mirror(db)?;
        if queue_busy(&conn)? == 0 && sim.stats().total() == before {
            return Ok(());
        }
        if start.elapsed() > limit {
            bail!("the daemon kept working for {limit:?} (queue or requests still moving)");
        }
    }
}

fn mirror_diff(sim: &Sim, db: &Path) -> Result<Vec<String>> {
    tokio::task::block_in_place(|| {
        let conn = open_mirror(db)?;
        verify::diff(&conn, &sim.expected(), Scope::default())
            .map_err(|e| anyhow!("comparison failed: {e}"))
    })
}

// ---------------------------------------------------------------------------------------
// Webhook POSTs over one keep-alive HTTP/1.1 connection

struct Poster {
    sender: http1::SendRequest<Full<Bytes>>,
    host: String,
}

impl Poster {
    async fn connect(addr: &str) -> Result<Poster> {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot connect to the daemon at {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Poster {
            sender,
            host: addr.to_string(),
        })
    }

    async fn get(&mut self, path: &str) -> Result<String> {
        self.sender.ready().await?;
        let request = Request::get(path)
            .header(HOST, &self.host)
            .body(Full::new(Bytes::new()))?;
        let response = self.sender.send_request(request).await?;
        let body = response.into_body().collect().await?.to_bytes();
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    async fn post(&mut self, body: Bytes, signature: &str) -> Result<u16> {
        self.sender.ready().await?;
        let request = Request::post("/webhook")
            .header(HOST, &self.host)
            .header(CONTENT_TYPE, "application/json")
            .header("x-notion-signature", signature)
            .body(Full::new(body))?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        response.into_body().collect().await?;
        Ok(status)
    }
}

/// A signed `page.properties_updated` event as Notion sends it (~600 bytes).
fn page_event(id: &str, page: &str, timestamp: &str) -> String {
    format!(
        r#"{{"id":"{id}","timestamp":"{timestamp}","workspace_id":"13950b26-c203-4f3b-b97d-93ec06319565","workspace_name":"Acme Sim","subscription_id":"29d75c0d-5546-4414-8459-7b7a92f1fc4b","integration_id":"0ef104cd-477e-4e81-8f20-7a4c0d1a1a1b","type":"page.properties_updated","authors":[{{"id":"c7c11cca-1d73-471d-9b6e-bdef51470190","type":"person"}}],"accessible_by":[{{"id":"556a1abf-4f08-40c6-878a-75890d2a88ba","type":"person"}}],"attempt_number":1,"api_version":"2025-09-03","entity":{{"id":"{page}","type":"page"}},"data":{{"parent":{{"id":"13950b26-c203-4f3b-b97d-93ec06319565","type":"space"}},"updated_properties":["title"]}}}}"#
    )
}

fn now_iso() -> String {
    Utc::now()
        .trunc_subsecs(3)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A fresh 32-bit tag so event ids of one run never collide with another's.
fn nonce() -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (t.as_nanos() as u32) ^ std::process::id().rotate_left(16)
}

fn event_id(nonce: u32, task: usize, n: u64) -> String {
    format!("{nonce:08x}-{:04x}-4000-8000-{n:012x}", task & 0xffff)
}

// ---------------------------------------------------------------------------------------
// Small helpers

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn by_endpoint_line(stats: &Stats) -> String {
    let parts: Vec<String> = stats
        .by_endpoint()
        .iter()
        .map(|(e, n)| format!("{e} {n}"))
        .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

fn by_endpoint_json(stats: &Stats) -> Value {
    json!(stats.by_endpoint())
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

async fn start_sim(generator: GenConfig, knobs: Knobs) -> Result<Sim> {
    let mut config = SimConfig::new(generator);
    config.knobs = knobs;
    Sim::start(config).await.context("the simulator starts")
}

fn ws_summary(sim: &Sim) -> String {
    sim.read(|ws| {
        let pages = ws
            .pages
            .values()
            .filter(|p| !p.in_trash && ws.visible(&p.id))
            .count();
        let blocks = ws.blocks.values().filter(|b| !b.in_trash).count();
        let comments = ws.comments.len();
        format!(
            "{} live pages, {} blocks, {} comments, {} data sources",
            thousands(pages as u64),
            thousands(blocks as u64),
            thousands(comments as u64),
            ws.data_sources.len()
        )
    })
}

// ---------------------------------------------------------------------------------------
// Cold sync: requests vs floor, peak RSS, mirror exactness

async fn cold(b: &mut Bench, dir: &Path) -> Result<Sim> {
    let pages = if b.args.quick { 300 } else { 2000 };
    let sim = start_sim(
        GenConfig::with_pages(b.args.seed, pages),
        Knobs::unlimited(),
    )
    .await?;
    let floor = sim.floor();
    let summary = ws_summary(&sim);
    sim.reset_stats();
    let log = dir.join("sync.log");
    let mut cmd = mirror_cmd(&sim, dir, "sync", &log)?;
    cmd.arg("--quiet").env("NOTION_MIRROR_RATE", "1000");
    let limit = Duration::from_secs(if b.args.quick { 150 } else { 420 });
    let log2 = log.clone();
    let run = tokio::task::spawn_blocking(move || {
        run_to_end(cmd, limit, "`notion-mirror sync` (cold)", &log2)
    })
    .await??;
    if !run.status.success() {
        bail!(
            "`notion-mirror sync` exited with {}; log tail:\n    {}",
            run.status,
            log_tail(&log)
        );
    }
    let stats = sim.stats();
    let me = stats.endpoint("users.me");
    let requests = stats.total() - me;
    let ratio = requests as f64 / floor.total.max(1) as f64;
    b.row(
        "cold",
        "cold_requests_over_floor",
        "cold sync requests / floor",
        format!(
            "{ratio:.3} ({} / {})",
            thousands(requests),
            thousands(floor.total)
        ),
        ratio,
        "≤ 1.05".into(),
        ratio <= 1.05,
    );
    b.raw(
        "cold",
        format!(
            "workspace with_pages(seed {}, {pages}): {summary}; sync wall {:.1} s at NOTION_MIRROR_RATE=1000, simulator unlimited",
            b.args.seed,
            run.wall.as_secs_f64()
        ),
    );
    b.raw(
        "cold",
        format!(
            "requests {} (+ {me} users.me token check, not counted); non-2xx answers {}; floor {} ({} without per-block comment lists)",
            requests,
            stats.total() - stats.by_endpoint().keys().map(|e| stats.ok(e)).sum::<u64>(),
            floor.total,
            floor.total_without_block_comments
        ),
    );
    let mut table = String::from("by endpoint (requests / floor):");
    let mut endpoints: Vec<String> = stats.by_endpoint().keys().cloned().collect();
    for e in floor.by_endpoint.keys() {
        if !endpoints.contains(e) {
            endpoints.push(e.clone());
        }
    }
    endpoints.sort();
    let mut by = Map::new();
    for e in &endpoints {
        let got = stats.endpoint(e);
        let want = floor.by_endpoint.get(e).copied().unwrap_or(0);
        let mark = if e == "users.me" {
            "  (token check, not counted)"
        } else if got > want {
            "  ← over the floor"
        } else {
            ""
        };
        let _ = write!(table, "\n      {e:<24} {got:>7} / {want:<7}{mark}");
        by.insert(e.clone(), json!({"requests": got, "floor": want}));
    }
    b.raw("cold", table);
    b.raw_json(
        "cold",
        "requests",
        json!({"requests": requests, "users_me": me, "floor": floor.total,
               "floor_without_block_comments": floor.total_without_block_comments,
               "wall_s": run.wall.as_secs_f64(), "by_endpoint": by}),
    );

    let peak = run.peak_kib.unwrap_or(0) as f64 * 1024.0 / MIB;
    b.row(
        "memory",
        "sync_peak_rss_mib",
        "sync peak RSS (VmHWM)",
        format!("{peak:.1} MiB ({pages}-page cold sync)"),
        peak,
        "≤ 64 MiB".into(),
        peak <= 64.0,
    );
    b.raw(
        "memory",
        format!(
            "sync: last VmHWM read before exit {} KiB (polled every 50 ms)",
            run.peak_kib.unwrap_or(0)
        ),
    );
    b.raw_json("memory", "sync_vmhwm_kib", json!(run.peak_kib.unwrap_or(0)));

    let diffs = mirror_diff(&sim, &dir.join("mirror.db"))?;
    b.raw(
        "cold",
        format!(
            "mirror vs workspace: {}",
            if diffs.is_empty() {
                "equal".to_string()
            } else {
                format!("{} differences", diffs.len())
            }
        ),
    );
    if !diffs.is_empty() {
        b.fail(
            "cold",
            &anyhow!(
                "the mirror differs from the workspace after the cold sync:\n    {}",
                diffs.join("\n    ")
            ),
        );
    }
    Ok(sim)
}

// ---------------------------------------------------------------------------------------
// Cold sync wall time against the rate budget

/// Quick: `small(seed)` with top-level pages unshared (newest first) until the floor is at
/// most 100 requests. Full: `small(seed)` with 100 pages (~500 requests).
async fn wall_sim(quick: bool, seed: u64) -> Result<(Sim, String)> {
    let knobs = Knobs {
        rate_limit: Some(RateLimit {
            rate: 3.0,
            burst: 10.0,
        }),
        latency: Duration::from_millis(50),
        ..Knobs::default()
    };
    if !quick {
        let sim = start_sim(
            GenConfig {
                pages: 100,
                ..GenConfig::small(seed)
            },
            knobs,
        )
        .await?;
        return Ok((sim, format!("small(seed {seed}) with 100 pages")));
    }
    let sim = start_sim(GenConfig::small(seed), knobs).await?;
    let tops: Vec<(String, String)> = sim.read(|ws| {
        let mut v: Vec<_> = ws
            .pages
            .values()
            .filter(|p| matches!(p.parent, Parent::Workspace) && !p.in_trash)
            .collect();
        v.sort_by_key(|p| std::cmp::Reverse(p.seq));
        v.iter()
            .map(|p| (p.id.clone(), ws.page_title(&p.id)))
            .collect()
    });
    let mut unshared = Vec::new();
    for (id, title) in tops {
        if sim.floor().total <= 100 {
            break;
        }
        sim.mutate(Mutation::RevokeAccess { page_id: id })
            .map_err(|e| anyhow!("cannot unshare {title}: {e}"))?;
        unshared.push(title);
    }
    Ok((
        sim,
        format!(
            "small(seed {seed}) with top-level pages unshared: {}",
            unshared.join(", ")
        ),
    ))
}

async fn wall(b: &mut Bench, root: &Path) -> Result<()> {
    let dir = root.join("wall");
    std::fs::create_dir_all(&dir)?;
    let (sim, how) = wall_sim(b.args.quick, b.args.seed).await?;
    let floor = sim.floor().total;
    let summary = ws_summary(&sim);
    sim.reset_stats();
    let log = dir.join("sync.log");
    let mut cmd = mirror_cmd(&sim, &dir, "sync", &log)?;
    cmd.arg("--quiet");
    let limit = Duration::from_secs(floor + 120);
    let log2 = log.clone();
    let run = tokio::task::spawn_blocking(move || {
        run_to_end(cmd, limit, "`notion-mirror sync` (rate-limited)", &log2)
    })
    .await??;
    if !run.status.success() {
        bail!(
            "`notion-mirror sync` exited with {}; log tail:\n    {}",
            run.status,
            log_tail(&log)
        );
    }
    let stats = sim.stats();
    let limited = stats.rate_limited();
    let useful = stats.total() - limited;
    let ideal = useful as f64 / 3.0;
    let wall = run.wall.as_secs_f64();
    let ratio = wall / ideal.max(f64::MIN_POSITIVE);
    b.row(
        "wall",
        "cold_wall_over_budget",
        "cold sync wall / (requests ÷ 3)",
        format!("{ratio:.3} ({wall:.1} s / {useful} req ÷ 3 = {ideal:.1} s)"),
        ratio,
        "≤ 1.10".into(),
        ratio <= 1.10,
    );
    b.raw(
        "wall",
        format!(
            "workspace {how}: {summary}; floor {floor}; simulator 3 req/s burst 10, +50 ms latency; binary at its defaults (3 req/s)"
        ),
    );
    b.raw(
        "wall",
        format!(
            "requests {useful} (incl. users.me) + {limited} answered 429; wall {wall:.2} s; by endpoint: {}",
            by_endpoint_line(&stats)
        ),
    );
    b.raw_json(
        "wall",
        "run",
        json!({"wall_s": wall, "requests": useful, "rate_limited": limited, "floor": floor,
               "by_endpoint": by_endpoint_json(&stats)}),
    );
    let diffs = mirror_diff(&sim, &dir.join("mirror.db"))?;
    sim.shutdown().await;
    if !diffs.is_empty() {
        bail!(
            "the mirror differs from the workspace after the rate-limited sync:\n    {}",
            diffs.join("\n    ")
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Idle incremental sweep

async fn idle_sweep(b: &mut Bench, sim: &Sim, dir: &Path) -> Result<()> {
    let db = dir.join("mirror.db");
    let last_run = count(
        &open_mirror(&db)?,
        "select coalesce(max(id), 0) from sync_runs",
    )?;
    // Fire once, ~8 s from now (a fixed second each minute; the daemon is stopped after).
    let second = (Utc::now() + chrono::Duration::seconds(8)).second();
    let cron = format!("{second} * * * * *");
    let mut daemon = Daemon::spawn(
        sim,
        dir,
        &free_addr()?,
        "run-idle.log",
        &[
            ("NOTION_MIRROR_INCREMENTAL", cron.clone()),
            ("NOTION_MIRROR_FULL", FAR_AWAY.into()),
            ("NOTION_WEBHOOK_TOKEN", "secret_bench_idle".into()),
        ],
    )?;
    daemon.wait_running(Duration::from_secs(60)).await?;
    sim.reset_stats();
    let reset_at = Utc::now();
    let sql = format!(
        "select count(*) from sync_runs where id > {last_run} and kind = 'incremental' and finished_at is not null"
    );
    wait_until(
        &db,
        "one finished incremental sweep in sync_runs",
        Duration::from_secs(90),
        Duration::from_millis(100),
        |c| Ok(c.query_row(&sql, [], |r| r.get::<_, i64>(0))? > 0),
    )
    .await?;
    daemon.alive()?;
    let stats = sim.stats();
    let (recorded, objects, error, started): (i64, i64, Option<String>, String) = open_mirror(&db)?.query_row(
        &format!("select requests, objects, error, started_at from sync_runs where id > {last_run} and kind = 'incremental' order by id limit 1"),
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let started = chrono::DateTime::parse_from_rfc3339(&started)
        .with_context(|| format!("sync_runs.started_at `{started}`"))?;
    if started < reset_at {
        bail!("the sweep started before the simulator's counters were reset (daemon start-up took longer than 8 s)");
    }
    let status = daemon.terminate(Duration::from_secs(45)).await?;
    if !status.success() {
        bail!("`notion-mirror run` exited with {status} on SIGTERM");
    }
    let sources = sim
        .floor()
        .by_endpoint
        .get("data_sources.retrieve")
        .copied()
        .unwrap_or(0);
    let delta = stats.total();
    let target = 1 + sources;
    b.row(
        "idle",
        "idle_sweep_requests",
        "idle incremental sweep requests",
        format!("{delta} (sync_runs.requests {recorded})"),
        delta as f64,
        format!("≤ 1 + {sources} data sources = {target}"),
        delta <= target && recorded as u64 <= target,
    );
    b.raw(
        "idle",
        format!(
            "cron `{cron}`; sync_runs: requests {recorded}, objects written {objects}, error {}; simulator delta by endpoint: {}",
            error.as_deref().unwrap_or("none"),
            by_endpoint_line(&stats)
        ),
    );
    b.raw_json(
        "idle",
        "sweep",
        json!({"sim_requests": delta, "sync_runs_requests": recorded, "objects": objects,
               "data_sources": sources, "by_endpoint": by_endpoint_json(&stats)}),
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// One-edit costs (through the simulator's webhook sender)

struct EditCost {
    stats: Stats,
    visible_after: Duration,
}

async fn one_edit(
    sim: &Sim,
    db: &Path,
    what: &str,
    edit: Mutation,
    check: impl Fn(&Connection) -> rusqlite::Result<bool>,
) -> Result<EditCost> {
    wait_queue_idle(db, Duration::from_secs(60)).await?;
    sim.reset_stats();
    let t0 = Instant::now();
    sim.mutate(edit)
        .map_err(|e| anyhow!("the {what} mutation failed: {e}"))?;
    let seen = wait_until(
        db,
        &format!("the {what} to show in the mirror"),
        Duration::from_secs(30),
        Duration::from_millis(20),
        check,
    )
    .await?;
    if let Some(sender) = sim.webhooks() {
        if !sender.quiesce(Duration::from_secs(30)).await {
            bail!("the webhook sender did not deliver the {what} events within 30 s");
        }
    }
    settle(sim, db, Duration::from_secs(60)).await?;
    Ok(EditCost {
        stats: sim.stats(),
        visible_after: seen - t0,
    })
}

/// Blocks in `block`'s subtree (itself included).
fn subtree_size(sim: &Sim, block: &str) -> u64 {
    sim.read(|ws| {
        let mut n = 0;
        let mut stack = vec![block.to_string()];
        while let Some(id) = stack.pop() {
            n += 1;
            if let Some(b) = ws.blocks.get(&id) {
                if b.btype != "child_page" && b.btype != "child_database" {
                    stack.extend(ws.live_children(&id).iter().map(|c| c.id.clone()));
                }
            }
        }
        n
    })
}

/// A Tasks row with no truncated property (a typical row) and a related project.
fn pick_task(sim: &Sim) -> Result<(String, Vec<String>)> {
    sim.read(|ws| {
        let ds = ws
            .find_data_source_by_title("Tasks")
            .ok_or_else(|| anyhow!("no Tasks data source"))?;
        let mut fallback = None;
        for row in ws.rows_of(&ds) {
            let Some(page) = ws.page_api_json(&row) else {
                continue;
            };
            if page.to_string().contains("\"has_more\":true") {
                continue;
            }
            let projects: Vec<String> = page
                .pointer("/properties/Project/relation")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|r| r.get("id").and_then(Value::as_str).map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            if !projects.is_empty() {
                return Ok((row, projects));
            }
            fallback.get_or_insert((row, projects));
        }
        fallback.ok_or_else(|| anyhow!("no Tasks row"))
    })
}

async fn edits(b: &mut Bench, sim: &Sim, db: &Path) -> Result<()> {
    let tag = nonce();
    // 1. A property edit on a Tasks row.
    let (task, projects) = pick_task(sim)?;
    let estimate = 7000.0 + f64::from(tag % 1000);
    let mut values = Map::new();
    values.insert("Estimate".into(), json!(estimate));
    let t = task.clone();
    let cost = one_edit(
        sim,
        db,
        "property edit",
        Mutation::UpdateProperties {
            page_id: task.clone(),
            values,
        },
        move |c| {
            c.query_row(
                "select count(*) from property_values where page_id = ?1 and name = 'Estimate' and number = ?2",
                rusqlite::params![t, estimate],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
        },
    )
    .await?;
    let n = cost.stats.total();
    let own = cost.stats.object("pages.retrieve", &task);
    let related: u64 = projects
        .iter()
        .map(|p| cost.stats.object("pages.retrieve", p))
        .sum();
    let other = cost.stats.endpoint("pages.retrieve") - own - related;
    // Rows of the related projects: their own rollups (e.g. "Project budget") read the
    // project, so a project refetch may cascade to them.
    let siblings: i64 = {
        let conn = open_mirror(db)?;
        let mut n = 0;
        for p in &projects {
            n += conn.query_row(
                "select count(*) from property_values where name = 'Project' and type = 'relation' and instr(value, ?1) > 0",
                [p],
                |r| r.get::<_, i64>(0),
            )?;
        }
        n
    };
    b.row(
        "edits",
        "edit_property_requests",
        "one property edit (Tasks row)",
        format!("{n} (row {own}, its project {related}, cascade {other})"),
        n as f64,
        "1–2".into(),
        (1..=2).contains(&n),
    );
    b.raw(
        "edits",
        format!(
            "property edit (Estimate on a Tasks row, {} related project(s)): {n} requests — {}; pages.retrieve: edited row {own}, related projects (rollups read the row) {related}, other pages {other} (the related projects have {siblings} Tasks rows, whose rollups read the project); visible {:.2} s after the edit (sender window 1 s + debounce 1 s)",
            projects.len(),
            by_endpoint_line(&cost.stats),
            cost.visible_after.as_secs_f64()
        ),
    );
    b.raw_json(
        "edits",
        "property",
        json!({"requests": n, "row_get": own, "rollup_propagation_gets": related,
               "other_page_gets": other, "rows_of_related_projects": siblings, "by_endpoint": by_endpoint_json(&cost.stats),
               "visible_after_s": cost.visible_after.as_secs_f64()}),
    );

    // 2. A deep block edit.
    let roadmap = sim
        .read(|ws| ws.find_page_by_title("Roadmap"))
        .ok_or_else(|| anyhow!("no Roadmap page"))?;
    let block = sim
        .read(|ws| ws.deepest_block(&roadmap))
        .ok_or_else(|| anyhow!("Roadmap has no blocks"))?;
    let (depth, btype) = sim.read(|ws| {
        (
            ws.block_depth(&block),
            ws.blocks
                .get(&block)
                .map(|b| b.btype.clone())
                .unwrap_or_default(),
        )
    });
    let touched = subtree_size(sim, &block);
    let text = format!("bench edit {tag:08x}");
    let (bid, needle) = (block.clone(), text.clone());
    let cost = one_edit(
        sim,
        db,
        "block edit",
        Mutation::EditBlock {
            block_id: block.clone(),
            text,
        },
        move |c| {
            c.query_row(
                "select count(*) from blocks where id = ?1 and instr(text, ?2) > 0",
                rusqlite::params![bid, needle],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
        },
    )
    .await?;
    let n = cost.stats.total();
    let target = 1 + touched;
    b.row(
        "edits",
        "edit_block_requests",
        "one deep block edit (Roadmap)",
        format!("{n}"),
        n as f64,
        format!("≤ 1 + {touched} touched block(s) = {target}"),
        n <= target,
    );
    b.raw(
        "edits",
        format!(
            "block edit ({btype} at depth {depth}, subtree of {touched} block(s)): {n} requests — {}; visible {:.2} s after the edit",
            by_endpoint_line(&cost.stats),
            cost.visible_after.as_secs_f64()
        ),
    );
    b.raw_json(
        "edits",
        "block",
        json!({"requests": n, "depth": depth, "type": btype, "touched_blocks": touched,
               "by_endpoint": by_endpoint_json(&cost.stats),
               "visible_after_s": cost.visible_after.as_secs_f64()}),
    );

    // 3. A comment on a page.
    let page = sim
        .read(|ws| ws.find_page_by_title("Meeting notes"))
        .ok_or_else(|| anyhow!("no Meeting notes page"))?;
    let text = format!("bench comment {tag:08x}");
    let (pid, needle) = (page.clone(), text.clone());
    let cost = one_edit(
        sim,
        db,
        "comment",
        Mutation::AddComment {
            parent_id: page.clone(),
            discussion_id: None,
            text,
        },
        move |c| {
            c.query_row(
                "select count(*) from comments where page_id = ?1 and text = ?2",
                rusqlite::params![pid, needle],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
        },
    )
    .await?;
    let n = cost.stats.total();
    b.row(
        "edits",
        "edit_comment_requests",
        "one comment (page-level)",
        format!("{n}"),
        n as f64,
        "1".into(),
        n == 1,
    );
    b.raw(
        "edits",
        format!(
            "comment: {n} requests — {}; visible {:.2} s after the edit",
            by_endpoint_line(&cost.stats),
            cost.visible_after.as_secs_f64()
        ),
    );
    b.raw_json(
        "edits",
        "comment",
        json!({"requests": n, "by_endpoint": by_endpoint_json(&cost.stats),
               "visible_after_s": cost.visible_after.as_secs_f64()}),
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Coalescing: 100 events for one page inside the debounce window

async fn coalescing(b: &mut Bench, sim: &Sim, db: &Path, addr: &str, token: &str) -> Result<()> {
    let page = sim
        .read(|ws| ws.find_page_by_title("Knowledge base"))
        .ok_or_else(|| anyhow!("no Knowledge base page"))?;
    settle(sim, db, Duration::from_secs(60)).await?;
    sim.reset_stats();
    let tag = nonce();
    let connections = 10;
    let mut posters = Vec::new();
    for _ in 0..connections {
        posters.push(Poster::connect(addr).await?);
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (t, mut poster) in posters.into_iter().enumerate() {
        let (page, token) = (page.clone(), token.to_string());
        tasks.push(tokio::spawn(async move {
            let mut ok = 0u32;
            for n in 0..(100 / connections) {
                let body = page_event(&event_id(tag, t, n as u64), &page, &now_iso());
                let sig = signature::sign(&token, body.as_bytes());
                if poster.post(Bytes::from(body), &sig).await? == 200 {
                    ok += 1;
                }
            }
            anyhow::Ok(ok)
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        accepted += t.await??;
    }
    let burst = started.elapsed();
    if accepted != 100 {
        bail!("only {accepted} of 100 signed events were answered 200");
    }
    let watcher = sim.clone();
    let p = page.clone();
    let deadline = Instant::now() + Duration::from_secs(20);
    while watcher.stats().object("pages.retrieve", &p) == 0 {
        if Instant::now() > deadline {
            bail!("no refetch of the page within 20 s of 100 events");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    settle(sim, db, Duration::from_secs(60)).await?;
    let stats = sim.stats();
    let refetches = stats.object("pages.retrieve", &page);
    let done = count(
        &open_mirror(db)?,
        &format!(
            "select count(*) from webhook_events where id like '{tag:08x}-%' and status = 'done'"
        ),
    )?;
    b.row(
        "coalescing",
        "coalescing_refetches",
        "coalescing: 100 events → page refetches",
        format!("{refetches}"),
        refetches as f64,
        "1".into(),
        refetches == 1,
    );
    b.raw(
        "coalescing",
        format!(
            "100 signed page.properties_updated events over {connections} connections in {:.0} ms (debounce {} ms); all requests after: {}; webhook_events done {done}/100",
            burst.as_secs_f64() * 1000.0,
            DEBOUNCE.as_millis(),
            by_endpoint_line(&stats)
        ),
    );
    b.raw_json(
        "coalescing",
        "burst",
        json!({"refetches": refetches, "burst_ms": burst.as_secs_f64() * 1000.0,
               "events_done": done, "by_endpoint": by_endpoint_json(&stats)}),
    );
    if burst >= DEBOUNCE {
        b.notes.push(format!(
            "coalescing: the 100 POSTs took {:.0} ms, longer than the debounce",
            burst.as_secs_f64() * 1000.0
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Change → mirror latency

async fn latency(b: &mut Bench, sim: &Sim, db: &Path, addr: &str, token: &str) -> Result<()> {
    let samples = if b.args.quick { 5 } else { 20 };
    let avoid = ["Roadmap", "Meeting notes", "Knowledge base"];
    let pages: Vec<String> = sim.read(|ws| {
        ws.standalone_page_ids()
            .into_iter()
            .filter(|p| !avoid.contains(&ws.page_title(p).as_str()))
            .filter(|p| ws.visible(p))
            .collect()
    });
    if pages.is_empty() {
        bail!("no standalone page to rename");
    }
    let tag = nonce();
    let mut poster = Poster::connect(addr).await?;
    let mut lat = Vec::new();
    settle(sim, db, Duration::from_secs(60)).await?;
    for i in 0..samples {
        let page = pages[i % pages.len()].clone();
        let title = format!("Bench rename {i} {tag:08x}");
        sim.mutate(Mutation::RenamePage {
            page_id: page.clone(),
            title: title.clone(),
        })
        .map_err(|e| anyhow!("rename failed: {e}"))?;
        let body = page_event(&event_id(tag, 0, i as u64), &page, &now_iso());
        let sig = signature::sign(token, body.as_bytes());
        let status = poster.post(Bytes::from(body), &sig).await?;
        let acked = Instant::now();
        if status != 200 {
            bail!("the daemon answered {status} to a signed event");
        }
        let (p, t) = (page.clone(), title.clone());
        let seen = wait_until(
            db,
            "a renamed page's title in the mirror",
            Duration::from_secs(20),
            Duration::from_millis(5),
            move |c| {
                let got: Option<String> = c
                    .query_row("select title from pages where id = ?1", [&p], |r| r.get(0))
                    .optional()?;
                Ok(got.as_deref() == Some(t.as_str()))
            },
        )
        .await?;
        lat.push((seen - acked).as_secs_f64());
        wait_queue_idle(db, Duration::from_secs(30)).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut sorted = lat.clone();
    sorted.sort_by(f64::total_cmp);
    let p50 = percentile(&sorted, 0.5);
    let p95 = percentile(&sorted, 0.95);
    let target = DEBOUNCE.as_secs_f64() + 0.5;
    b.row(
        "latency",
        "change_to_mirror_p50_s",
        "change → mirror p50 (p95)",
        format!("{p50:.3} s ({p95:.3} s)"),
        p50,
        format!("p50 ≤ {target:.1} s (debounce 1 s + 0.5)"),
        p50 <= target,
    );
    let shown: Vec<String> = lat.iter().map(|s| format!("{:.3}", s)).collect();
    b.raw(
        "latency",
        format!(
            "{samples} renames, each signalled by one signed event; 200 → title visible (s): {}",
            shown.join(" ")
        ),
    );
    b.raw_json(
        "latency",
        "samples_s",
        json!({"p50": p50, "p95": p95, "samples": lat}),
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Idle RSS of `run`

async fn idle_rss(b: &mut Bench, sim: &Sim, db: &Path, daemon: &mut Daemon) -> Result<()> {
    settle(sim, db, Duration::from_secs(60)).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    daemon.alive()?;
    if queue_busy(&open_mirror(db)?)? != 0 {
        bail!("the queue was not idle for the idle-RSS reading");
    }
    let pid = daemon.pid();
    let rss = proc_kib(pid, "VmRSS:").ok_or_else(|| anyhow!("cannot read VmRSS"))?;
    let hwm = proc_kib(pid, "VmHWM:").unwrap_or(0);
    let mib = rss as f64 * 1024.0 / MIB;
    b.row(
        "memory",
        "run_idle_rss_mib",
        "run idle RSS (VmRSS)",
        format!("{mib:.1} MiB"),
        mib,
        "≤ 24 MiB".into(),
        mib <= 24.0,
    );
    b.raw(
        "memory",
        format!(
            "run (NOTION_MIRROR_RATE=1000; after the edit, coalescing and latency phases, queue idle + 3 s quiet): VmRSS {rss} KiB, VmHWM so far {hwm} KiB"
        ),
    );
    b.raw_json(
        "memory",
        "run_idle",
        json!({"vmrss_kib": rss, "vmhwm_kib": hwm}),
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Webhook ingest throughput

struct TaskResult {
    latencies_us: Vec<u32>,
    statuses: BTreeMap<u16, u64>,
    errors: u64,
}

async fn ingest(
    b: &mut Bench,
    sim: &Sim,
    addr: &str,
    token: &str,
    daemon: &mut Daemon,
) -> Result<(u32, u64)> {
    let secs = if b.args.quick { 2 } else { 10 };
    let pages: Arc<Vec<String>> = Arc::new(sim.read(|ws| {
        ws.pages
            .values()
            .filter(|p| !p.in_trash && ws.visible(&p.id))
            .map(|p| p.id.clone())
            .collect()
    }));
    let tag = nonce();
    let token = Arc::new(token.to_string());
    let mut posters = Vec::new();
    let connections = ingest_tasks();
    for _ in 0..connections {
        posters.push(Poster::connect(addr).await?);
    }
    let commits_before = metric(
        &Poster::connect(addr).await?.get("/metrics").await?,
        "notion_mirror_mirror_commits_total",
    )
    .unwrap_or(0.0);
    let written = written_bytes(daemon.pid());
    let cpu_daemon = cpu_secs(daemon.pid());
    let cpu_writer = thread_cpu_secs(daemon.pid(), "mirror-writer");
    let cpu_self = cpu_secs(std::process::id());
    let started = Instant::now();
    let stop_at = started + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for (t, mut poster) in posters.into_iter().enumerate() {
        let (pages, token, addr) = (pages.clone(), token.clone(), addr.to_string());
        tasks.push(tokio::spawn(async move {
            let mut r = TaskResult {
                latencies_us: Vec::with_capacity(4096),
                statuses: BTreeMap::new(),
                errors: 0,
            };
            let mut n: u64 = 0;
            let timestamp = now_iso();
            while Instant::now() < stop_at {
                let page = &pages[(t * 7919 + n as usize * connections) % pages.len()];
                let body = page_event(&event_id(tag, t, n), page, &timestamp);
                let sig = signature::sign(&token, body.as_bytes());
                let t0 = Instant::now();
                let outcome = poster.post(Bytes::from(body), &sig).await;
                r.latencies_us
                    .push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32);
                n += 1;
                match outcome {
                    Ok(status) => *r.statuses.entry(status).or_insert(0) += 1,
                    Err(_) => {
                        r.errors += 1;
                        match Poster::connect(&addr).await {
                            Ok(p) => poster = p,
                            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                        }
                    }
                }
            }
            r
        }));
    }
    let mut all = Vec::new();
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    let mut errors = 0;
    for t in tasks {
        let r = tokio::time::timeout(Duration::from_secs(secs + 30), t)
            .await
            .map_err(|_| anyhow!("a load-generator task did not finish"))??;
        all.extend(r.latencies_us);
        for (s, n) in r.statuses {
            *statuses.entry(s).or_insert(0) += n;
        }
        errors += r.errors;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_daemon = cpu_secs(daemon.pid()) - cpu_daemon;
    let written = written_bytes(daemon.pid()).saturating_sub(written);
    let cpu_writer = thread_cpu_secs(daemon.pid(), "mirror-writer") - cpu_writer;
    // A fresh connection: the server closes keep-alive connections idle for 10 s.
    let page = Poster::connect(addr).await?.get("/metrics").await?;
    let commits =
        metric(&page, "notion_mirror_mirror_commits_total").unwrap_or(0.0) - commits_before;
    let cpu_self = cpu_secs(std::process::id()) - cpu_self;
    daemon.alive()?;
    let accepted = statuses.get(&200).copied().unwrap_or(0);
    let rate = accepted as f64 / elapsed;
    all.sort_unstable();
    let ms: Vec<f64> = all.iter().map(|u| f64::from(*u) / 1000.0).collect();
    let (p50, p99, max) = (
        percentile(&ms, 0.5),
        percentile(&ms, 0.99),
        ms.last().copied().unwrap_or(f64::NAN),
    );
    b.row(
        "ingest",
        "ingest_events_per_s",
        "webhook ingest, accepted events/s",
        format!("{} /s", thousands(rate.round() as u64)),
        rate,
        "≥ 10,000 /s".into(),
        rate >= 10_000.0,
    );
    b.row(
        "ingest",
        "ingest_p99_ms",
        "webhook ingest POST latency p99 (p50)",
        format!("{p99:.2} ms ({p50:.2} ms)"),
        p99,
        "p99 < 20 ms".into(),
        p99 < 20.0,
    );
    let codes: Vec<String> = statuses.iter().map(|(s, n)| format!("{s}: {n}")).collect();
    let available = elapsed * cores() as f64;
    b.raw(
        "ingest",
        format!(
            "CPU during the load: daemon {cpu_daemon:.1} s ({:.0}%), of which its writer thread {cpu_writer:.1} s ({:.0}% of one core); bench process (generator + simulator) {cpu_self:.1} s ({:.0}%) of {available:.1} core-seconds; daemon CPU per accepted event {:.0} µs",
            100.0 * cpu_daemon / available,
            100.0 * cpu_writer / elapsed,
            100.0 * cpu_self / available,
            1e6 * cpu_daemon / accepted.max(1) as f64
        ),
    );
    b.raw(
        "ingest",
        format!(
            "group commit: {commits:.0} mirror transactions for {accepted} events ({:.1} events per commit, {:.0} commits/s); storage writes {:.1} MiB ({:.1} KiB per event, {:.1} KiB per commit)",
            accepted as f64 / commits.max(1.0),
            commits / elapsed,
            written as f64 / MIB,
            written as f64 / 1024.0 / accepted.max(1) as f64,
            written as f64 / 1024.0 / commits.max(1.0)
        ),
    );
    b.raw(
        "ingest",
        format!(
            "{connections} keep-alive HTTP/1.1 connections in this process for {secs} s ({elapsed:.2} s to the last answer), signed page.properties_updated events over {} pages; answers {{{}}}, connection errors {errors}; latency p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms",
            pages.len(),
            codes.join(", ")
        ),
    );
    b.raw_json(
        "ingest",
        "load",
        json!({"connections": connections, "seconds": elapsed, "accepted": accepted,
               "events_per_s": rate, "statuses": statuses, "connection_errors": errors,
               "p50_ms": p50, "p99_ms": p99, "max_ms": max,
               "cpu_s_daemon": cpu_daemon, "cpu_s_writer_thread": cpu_writer,
               "cpu_s_bench": cpu_self, "commits": commits, "bytes_written": written}),
    );
    b.notes.push(format!(
        "webhook ingest: the load generator ({connections} tasks in the bench process, with the simulator) and the daemon share the machine's {} cores",
        cores()
    ));
    Ok((tag, accepted))
}

// ---------------------------------------------------------------------------------------
// The daemon phases

async fn daemon_phases(b: &mut Bench, sim: &Sim, dir: &Path) -> Result<()> {
    let db = dir.join("mirror.db");
    let addr = free_addr()?;
    let hooks = sim.default_webhook_config(&format!("http://{addr}/webhook"));
    let token = hooks.verification_token.clone();
    let quiet_schedules = [
        ("NOTION_MIRROR_INCREMENTAL", FAR_AWAY.to_string()),
        ("NOTION_MIRROR_FULL", FAR_AWAY.to_string()),
        ("NOTION_WEBHOOK_TOKEN", token.clone()),
    ];

    // Request counts and latencies: NOTION_MIRROR_RATE=1000, so that follow-up work (such
    // as rollup propagation) finishes in seconds instead of queueing behind a 3 req/s
    // budget; the counts do not depend on the rate.
    if ["edits", "coalescing", "latency", "memory"]
        .iter()
        .any(|g| b.wants(g))
    {
        let mut env = quiet_schedules.to_vec();
        env.push(("NOTION_MIRROR_RATE", "1000".into()));
        let mut daemon = Daemon::spawn(sim, dir, &addr, "run.log", &env)?;
        daemon.wait_running(Duration::from_secs(60)).await?;
        wait_queue_idle(&db, Duration::from_secs(120)).await?;
        if b.wants("edits") {
            sim.start_webhooks(hooks);
            if let Err(e) = edits(b, sim, &db).await {
                b.fail("edits", &e);
            }
            // Later phases signal their changes with the bench's own events only.
            if let Some(sender) = sim.webhooks() {
                sender.shutdown();
            }
        }
        if b.wants("coalescing") {
            if let Err(e) = coalescing(b, sim, &db, &addr, &token).await {
                b.fail("coalescing", &e);
            }
        }
        if b.wants("latency") {
            if let Err(e) = latency(b, sim, &db, &addr, &token).await {
                b.fail("latency", &e);
            }
        }
        if b.wants("memory") {
            if let Err(e) = idle_rss(b, sim, &db, &mut daemon).await {
                b.fail("memory", &e);
            }
        }
        let status = daemon.terminate(Duration::from_secs(60)).await?;
        if !status.success() {
            bail!("`notion-mirror run` exited with {status} on SIGTERM");
        }
    }

    // Ingest: the daemon at its defaults (3 req/s), as in production: the refetches the
    // events cause wait for the budget instead of competing for the CPU.
    if b.wants("ingest") {
        let addr = free_addr()?;
        let mut daemon = Daemon::spawn(sim, dir, &addr, "run-ingest.log", &quiet_schedules)?;
        daemon.wait_running(Duration::from_secs(60)).await?;
        wait_queue_idle(&db, Duration::from_secs(120)).await?;
        let fresh = proc_kib(daemon.pid(), "VmRSS:").unwrap_or(0);
        b.raw(
            "memory",
            format!("run freshly started on the same mirror (queue idle): VmRSS {fresh} KiB"),
        );
        let ingested = match ingest(b, sim, &addr, &token, &mut daemon).await {
            Ok(x) => Some(x),
            Err(e) => {
                b.fail("ingest", &e);
                None
            }
        };
        let after = proc_kib(daemon.pid(), "VmHWM:").unwrap_or(0);
        let stop_started = Instant::now();
        let status = daemon.terminate(Duration::from_secs(60)).await?;
        if !status.success() {
            bail!("`notion-mirror run` exited with {status} on SIGTERM");
        }
        let stop = stop_started.elapsed().as_secs_f64();
        if let Some((tag, accepted)) = ingested {
            let stored = count(
                &open_mirror(&db)?,
                &format!("select count(*) from webhook_events where id like '{tag:08x}-%'"),
            )?;
            b.raw(
                "ingest",
                format!("after SIGTERM (clean exit in {stop:.1} s): {stored} of {accepted} acknowledged events are in webhook_events; daemon VmHWM {after} KiB"),
            );
            if stored as u64 != accepted {
                bail!("{accepted} events were acknowledged but {stored} are stored");
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Output

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

fn width(s: &str) -> usize {
    s.chars().count()
}

fn pad(s: &str, w: usize) -> String {
    format!("{s}{}", " ".repeat(w.saturating_sub(width(s))))
}

fn print_report(b: &mut Bench) -> String {
    b.rows.sort_by_key(|r| r.order);
    let mut out = String::new();
    let size = if b.args.quick { "quick" } else { "full" };
    let _ = writeln!(
        out,
        "\nnotion-mirror benchmark — {size} size, seed {}{}",
        b.args.seed,
        b.args
            .only
            .as_deref()
            .map(|g| format!(", only `{g}`"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "machine: {} cores, {} · profile: {} · date: {} · run took {:.0} s\n",
        cores(),
        cpu_model(),
        profile(),
        Utc::now().format("%Y-%m-%d %H:%M UTC"),
        b.started.elapsed().as_secs_f64()
    );
    let header = ["figure", "value", "target", "mark"];
    let cells: Vec<[String; 4]> = b
        .rows
        .iter()
        .map(|r| {
            [
                r.figure.to_string(),
                r.shown.clone(),
                r.target.clone(),
                if r.met { "met" } else { "MISSED" }.to_string(),
            ]
        })
        .collect();
    let mut w = header.map(width);
    for c in &cells {
        for i in 0..4 {
            w[i] = w[i].max(width(&c[i]));
        }
    }
    let line = |c: [&str; 4]| {
        format!(
            "| {} | {} | {} | {} |\n",
            pad(c[0], w[0]),
            pad(c[1], w[1]),
            pad(c[2], w[2]),
            pad(c[3], w[3])
        )
    };
    out.push_str(&line(header));
    out.push_str(&format!(
        "|{}|{}|{}|{}|\n",
        "-".repeat(w[0] + 2),
        "-".repeat(w[1] + 2),
        "-".repeat(w[2] + 2),
        "-".repeat(w[3] + 2)
    ));
    for c in &cells {
        out.push_str(&line([&c[0], &c[1], &c[2], &c[3]]));
    }
    for n in &b.notes {
        let _ = writeln!(out, "note: {n}");
    }
    let _ = writeln!(out, "\nraw numbers:");
    for g in GROUPS {
        let lines: Vec<&String> = b
            .raw
            .iter()
            .filter(|(group, _)| group == g)
            .map(|(_, l)| l)
            .collect();
        if lines.is_empty() {
            continue;
        }
        let _ = writeln!(out, "  [{g}]");
        for l in lines {
            let _ = writeln!(out, "    {l}");
        }
    }
    let met = b.rows.iter().filter(|r| r.met).count();
    let _ = writeln!(
        out,
        "\n{met} of {} targets met; {}",
        b.rows.len(),
        if b.failures.is_empty() {
            "no failures".to_string()
        } else {
            format!(
                "{} FAILURE(S):\n  {}",
                b.failures.len(),
                b.failures.join("\n  ")
            )
        }
    );
    out
}

fn report_json(b: &Bench) -> Value {
    let figures: Map<String, Value> = b
        .rows
        .iter()
        .map(|r| {
            (
                r.key.to_string(),
                json!({"figure": r.figure, "value": r.value, "shown": r.shown,
                       "target": r.target, "met": r.met}),
            )
        })
        .collect();
    json!({
        "machine": {"cores": cores(), "cpu": cpu_model()},
        "profile": profile(),
        "date": now_iso(),
        "size": if b.args.quick { "quick" } else { "full" },
        "seed": b.args.seed,
        "only": b.args.only,
        "seconds": b.started.elapsed().as_secs_f64(),
        "figures": figures,
        "raw": b.raw_json,
        "notes": b.notes,
        "failures": b.failures,
    })
}

// ---------------------------------------------------------------------------------------

async fn run_all(b: &mut Bench) -> Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix("notion-mirror-bench-")
        .tempdir()?;
    let root = tmp.path().to_path_buf();
    let needs_mirror = [
        "cold",
        "idle",
        "edits",
        "coalescing",
        "latency",
        "memory",
        "ingest",
    ]
    .iter()
    .any(|g| b.wants(g));
    if needs_mirror {
        let dir = root.join("cold");
        std::fs::create_dir_all(&dir)?;
        eprintln!("[bench] cold sync …");
        match cold(b, &dir).await {
            Ok(sim) => {
                if b.wants("idle") {
                    eprintln!("[bench] idle incremental sweep …");
                    if let Err(e) = idle_sweep(b, &sim, &dir).await {
                        b.fail("idle", &e);
                    }
                }
                if ["edits", "coalescing", "latency", "memory", "ingest"]
                    .iter()
                    .any(|g| b.wants(g))
                {
                    eprintln!("[bench] daemon phases …");
                    if let Err(e) = daemon_phases(b, &sim, &dir).await {
                        b.fail("daemon", &e);
                    }
                }
                sim.shutdown().await;
            }
            Err(e) => b.fail("cold", &e),
        }
    }
    if b.wants("wall") {
        eprintln!("[bench] rate-limited cold sync (wall time) …");
        if let Err(e) = wall(b, &root).await {
            b.fail("wall", &e);
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("mirror bench: {e:#}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores().max(2))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mirror bench: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let mut bench = Bench {
        args,
        rows: Vec::new(),
        raw: Vec::new(),
        raw_json: Map::new(),
        notes: Vec::new(),
        failures: Vec::new(),
        started: Instant::now(),
    };
    if let Err(e) = runtime.block_on(run_all(&mut bench)) {
        bench.fail("setup", &e);
    }
    runtime.shutdown_timeout(Duration::from_secs(5));
    let text = print_report(&mut bench);
    print!("{text}");
    if let Some(path) = bench.args.json.clone() {
        let body = serde_json::to_string_pretty(&report_json(&bench)).unwrap_or_default();
        if let Err(e) = std::fs::write(&path, body) {
            eprintln!("mirror bench: cannot write {}: {e}", path.display());
            return ExitCode::from(1);
        }
    }
    if bench.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
