//! `notion-mirror demo`: the simulated workspace, the real daemon against it with webhooks
//! wired, and a scripted series of edits, each followed by the SQL that shows the mirror
//! catching up, the measured delay and the change feed's lines for it — the last one an
//! attachment arriving on disk. No network beyond loopback, no Notion account.
//!
//! Invariant: the demo drives the same daemon code as `notion-mirror run`; only the
//! Notion API and its webhook sender are simulated.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde_json::{json, Map, Value};

use crate::config::{Config, Env, FileConfig, Overrides};
use crate::daemon;
use crate::mirror::open;
use crate::sim::{GenConfig, Knobs, Mutation, PropertyKind, RateLimit, Sim, SimConfig};

/// Options of `notion-mirror demo`.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub seed: u64,
    /// Leave the daemon and simulator running until Ctrl-C.
    pub keep: bool,
    /// Where the mirror goes (a fresh temporary directory by default).
    pub dir: Option<PathBuf>,
}

/// The demo's working directory: `dir` if given, else a fresh one under the system's
/// temporary directory (removed after the demo unless `--keep`). Created here.
pub fn prepare_dir(dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    let dir = match dir {
        Some(d) => d.to_path_buf(),
        None => std::env::temp_dir().join(format!("notion-mirror-demo-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// Where the demo's daemon and simulator log (`main` points the subscriber there).
pub fn log_path(dir: &Path) -> PathBuf {
    dir.join("demo.log")
}

/// Runs the demo, printing its story to stdout.
pub async fn run(options: DemoOptions) -> anyhow::Result<()> {
    let mut sim_config = SimConfig::new(GenConfig::small(options.seed));
    // Notion's 3 req/s would make the first sync take minutes; the demo runs 20× faster.
    sim_config.knobs = Knobs {
        rate_limit: Some(RateLimit {
            rate: 60.0,
            burst: 30.0,
        }),
        ..Knobs::unlimited()
    };
    let sim = Sim::start(sim_config)
        .await
        .context("cannot start the simulator")?;
    let dir = prepare_dir(options.dir.as_deref())?;
    let config = demo_config(&sim, &dir)?;
    println!("notion-mirror demo — a simulated Notion workspace mirrored into SQLite\n");
    println!("simulated Notion API   {}", sim.base_url());
    println!("mirror                 {}", config.db_path.display());
    println!("daemon logs            {}", log_path(&dir).display());

    let started = Instant::now();
    let daemon = daemon::start(&config).await?;
    println!("daemon listening       http://{}/webhook", daemon.addr);
    wait_for_sql(
        &config,
        "select count(*) from sync_runs where kind = 'full' and finished_at is not null",
        json!(1),
        Duration::from_secs(40),
    )
    .await
    .context("the first full sync did not finish")?;
    wait_for_sql(
        &config,
        "select count(*) from queue where state != 'failed'",
        json!(0),
        Duration::from_secs(40),
    )
    .await?;
    wait_for_sql(
        &config,
        "select count(*) from files where status = 'pending'",
        json!(0),
        Duration::from_secs(40),
    )
    .await?;
    let counts = sql(&config, "select (select count(*) from pages) || ' pages, ' || (select count(*) from blocks) || ' blocks, ' || (select count(*) from comments) || ' comments, ' || (select count(*) from data_sources) || ' data sources, ' || (select count(*) from files where status = 'stored') || ' files'")?;
    println!(
        "first full sync        {} in {:.1} s\n",
        counts.as_str().unwrap_or(""),
        started.elapsed().as_secs_f64()
    );

    let hooks = sim.default_webhook_config(&format!("http://{}/webhook", daemon.addr));
    sim.start_webhooks(hooks);
    if let Some(sender) = sim.webhooks() {
        let status = sender
            .send_verification()
            .await
            .map_err(anyhow::Error::msg)?;
        println!("webhook subscription   verified (handshake answered {status})\n");
    }
    let result = script(&sim, &config).await;
    if let Err(e) = &result {
        println!("demo step failed: {e:#}");
        println!("the daemon's logs are in {}", log_path(&dir).display());
    }
    if options.keep || options.dir.is_some() {
        println!(
            "\nexplore it:  sqlite3 {} 'select \"Name\", \"Status\", \"Done\" from tasks limit 5'",
            config.db_path.display()
        );
    } else {
        println!("\nthe demo's mirror is removed on exit: run `notion-mirror demo --keep` (or `--dir DIR`) to explore it with sqlite3");
    }
    if options.keep {
        println!("\nkept running (Ctrl-C to stop):");
        println!(
            "  NOTION_API_URL={} NOTION_TOKEN={} — the simulated API",
            sim.base_url(),
            sim.token()
        );
        println!("  curl http://{}/metrics", daemon.addr);
        tokio::signal::ctrl_c().await.ok();
    }
    daemon.stop().await;
    sim.shutdown().await;
    // A failed demo keeps its directory: the mirror and the logs explain the failure.
    if !options.keep && options.dir.is_none() && result.is_ok() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn demo_config(sim: &Sim, dir: &Path) -> anyhow::Result<Config> {
    let over = Overrides {
        db: Some(dir.join("mirror.db")),
        api_url: Some(sim.base_url()),
        listen: Some("127.0.0.1:0".into()),
        rate: Some(50.0),
        debounce_ms: Some(300),
        ..Overrides::default()
    };
    let env = Env {
        notion_token: Some(sim.token()),
        ..Env::default()
    };
    let mut config = Config::from_parts(FileConfig::default(), &over, &env)?;
    config.burst = 20.0;
    config.shutdown_timeout = Duration::from_secs(5);
    Ok(config)
}

/// The scripted edits.
async fn script(sim: &Sim, config: &Config) -> anyhow::Result<()> {
    let roadmap = sim
        .read(|ws| ws.find_page_by_title("Roadmap"))
        .context("no Roadmap page")?;
    let tasks = sim
        .read(|ws| ws.find_data_source_by_title("Tasks"))
        .context("no Tasks source")?;
    let rows = sim.read(|ws| ws.rows_of(&tasks));
    let task = rows.first().cloned().context("no task")?;
    let notes = sim
        .read(|ws| ws.find_page_by_title("Meeting notes"))
        .context("no Meeting notes page")?;

    step(
        sim,
        config,
        "1. rename the page “Roadmap” to “Roadmap 2027”",
        Mutation::RenamePage {
            page_id: roadmap.clone(),
            title: "Roadmap 2027".into(),
        },
        &format!("select title from pages where id = '{roadmap}'"),
        json!("Roadmap 2027"),
    )
    .await?;

    let mut done = Map::new();
    done.insert("Done".into(), Value::Bool(true));
    step(
        sim,
        config,
        "2. tick “Done” on a task",
        Mutation::UpdateProperties {
            page_id: task.clone(),
            values: done,
        },
        &format!("select \"Done\" from tasks where id = '{task}'"),
        json!(1),
    )
    .await?;

    step(
        sim,
        config,
        "3. comment on “Meeting notes”",
        Mutation::AddComment {
            parent_id: notes.clone(),
            discussion_id: None,
            text: "Ship it on Friday?".into(),
        },
        &format!(
            "select text from comments where page_id = '{notes}' and text = 'Ship it on Friday?'"
        ),
        json!("Ship it on Friday?"),
    )
    .await?;

    step(
        sim,
        config,
        "4. move “Meeting notes” to the trash",
        Mutation::TrashPage {
            page_id: notes.clone(),
        },
        &format!("select in_trash from pages where id = '{notes}'"),
        json!(1),
    )
    .await?;

    step(
        sim,
        config,
        "5. add a “Priority” property to the Tasks data source",
        Mutation::AddProperty {
            data_source_id: tasks.clone(),
            name: "Priority".into(),
            kind: PropertyKind::Select,
        },
        "select count(*) from pragma_table_info('tasks') where name = 'Priority'",
        json!(1),
    )
    .await?;

    attachment(sim, config, &task).await
}

/// The last step: a file attached in Notion arrives on disk (docs/files.md).
async fn attachment(sim: &Sim, config: &Config, task: &str) -> anyhow::Result<()> {
    println!(
        "6. attach “minutes.pdf” to the task (a Notion-hosted file, its URL signed for an hour)"
    );
    let at = Instant::now();
    let mut values = Map::new();
    values.insert(
        "Attachments".into(),
        json!([{ "name": "minutes.pdf", "size": 48 * 1024 }]),
    );
    sim.mutate(Mutation::UpdateProperties {
        page_id: task.to_string(),
        values,
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let query = "select status from attachments where name = 'minutes.pdf'";
    wait_for_sql(config, query, json!("stored"), Duration::from_secs(20)).await?;
    let path = sql(
        config,
        "select local_path from attachments where name = 'minutes.pdf'",
    )?;
    let path = path.as_str().unwrap_or_default().to_string();
    let bytes = std::fs::metadata(&path)
        .with_context(|| format!("the archived file is not at {path}"))?
        .len();
    println!(
        "   sqlite> select name, status, local_path from attachments where name = 'minutes.pdf';"
    );
    println!(
        "   minutes.pdf | stored | {path}        (on disk after {:.2} s, {bytes} bytes)\n",
        at.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn step(
    sim: &Sim,
    config: &Config,
    what: &str,
    edit: Mutation,
    query: &str,
    want: Value,
) -> anyhow::Result<()> {
    println!("{what}");
    let seq = feed_seq(config)?;
    let at = Instant::now();
    sim.mutate(edit).map_err(|e| anyhow::anyhow!("{e}"))?;
    let got = wait_for_sql(config, query, want, Duration::from_secs(20)).await?;
    println!("   sqlite> {query};");
    println!(
        "   {}        (visible after {:.2} s)",
        render(&got),
        at.elapsed().as_secs_f64()
    );
    // The change feed holds the edit too, written in the same transaction.
    for line in feed_lines(config, seq)? {
        println!("   changes> {line}");
    }
    println!();
    Ok(())
}

fn feed_seq(config: &Config) -> anyhow::Result<i64> {
    let conn = open::open_read_only(&config.db_path)?;
    Ok(crate::history::last_seq(&conn)?)
}

/// The feed's lines after `seq` (what `notion-mirror changes` prints on a terminal).
fn feed_lines(config: &Config, seq: i64) -> anyhow::Result<Vec<String>> {
    let conn = open::open_read_only(&config.db_path)?;
    let rows = crate::history::rows_after(&conn, seq, i64::MAX, 20)?;
    Ok(rows
        .iter()
        .map(|r| crate::history::human::line(&conn, r))
        .collect())
}

fn render(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn sql(config: &Config, query: &str) -> anyhow::Result<Value> {
    let conn = open::open_read_only(&config.db_path)?;
    let value: rusqlite::types::Value =
        conn.query_row(query, [], |r| r.get(0))
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(rusqlite::types::Value::Null),
                e => Err(e),
            })?;
    Ok(match value {
        rusqlite::types::Value::Integer(i) => json!(i),
        rusqlite::types::Value::Real(f) => json!(f),
        rusqlite::types::Value::Text(s) => json!(s),
        _ => Value::Null,
    })
}

async fn wait_for_sql(
    config: &Config,
    query: &str,
    want: Value,
    limit: Duration,
) -> anyhow::Result<Value> {
    let start = Instant::now();
    loop {
        let got = sql(config, query).unwrap_or(Value::Null);
        if got == want {
            return Ok(got);
        }
        if start.elapsed() > limit {
            bail!("the mirror did not show {want} for `{query}` within {limit:?} (it shows {got})");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
