//! Views and versions in the cold sync (issue 19): how many views the cold sync mirrored and
//! what they cost, how many became SQL views and whether each returns exactly the rows the
//! simulator's view query returns (in order), and a second cold sync speaking 2026-12-01
//! (title-only lists unless `filter_properties`) against the first (2026-03-11).
//!
//! Invariant: read-only towards the first mirror; the 2026-12-01 sync runs into its own
//! directory and is checked for exactness like the first.

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, Context as _, Result};
use notion_mirror::notion::NotionVersion;
use notion_mirror::sim::Sim;
use serde_json::json;

use crate::proc::{mirror_cmd, run_to_success};
use crate::report::{thousands, Bench};

/// Views mirrored, SQL views, rows compared with the view queries; `cold_requests` is the
/// first cold sync's request count (users.me excluded), `views_requests` its view calls.
pub(crate) async fn views_and_versions(
    b: &mut Bench,
    sim: &Sim,
    dir: &Path,
    cold_requests: u64,
    views_requests: u64,
) -> Result<()> {
    let conn = notion_mirror::mirror::open::open_read_only(&dir.join("mirror.db"))?;
    let mut stmt = conn.prepare("SELECT id, sql_view FROM views ORDER BY id")?;
    let views: Vec<(String, Option<String>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut matched = 0u64;
    let mut with_sql = 0u64;
    let mut mismatched = Vec::new();
    for (id, sql_view) in &views {
        let Some(sql_view) = sql_view else { continue };
        with_sql += 1;
        let want: Vec<String> = sim.read(|ws| {
            ws.readable_view(id)
                .map(|v| notion_mirror::sim::views::run_view(ws, v).unwrap_or_default())
                .unwrap_or_default()
        });
        let mut q = conn.prepare(&format!(
            "SELECT id FROM \"{}\"",
            sql_view.replace('"', "\"\"")
        ))?;
        let got: Vec<String> = q
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<_, _>>()?;
        if got == want {
            matched += 1;
        } else {
            mismatched.push(sql_view.clone());
        }
    }
    let total = views.len() as u64;
    b.row(
        "cold",
        "views_sql_exact",
        "SQL views equal to their view query",
        format!("{matched} / {with_sql} ({total} views mirrored)"),
        matched as f64 / with_sql.max(1) as f64,
        "= 1".into(),
        matched == with_sql,
    );
    b.raw(
        "cold",
        format!(
            "views: {total} mirrored, {with_sql} with a SQL view ({} with a note instead), {matched} returned exactly the view query's rows in order; the views cost {views_requests} of the cold sync's {} requests (views.list + views.retrieve){}",
            total - with_sql,
            thousands(cold_requests),
            if mismatched.is_empty() { String::new() } else { format!("; differing: {}", mismatched.join(", ")) }
        ),
    );
    b.raw_json(
        "cold",
        "views",
        json!({"mirrored": total, "sql_views": with_sql, "matched": matched, "requests": views_requests}),
    );

    // The same cold sync speaking 2026-12-01.
    let dir = dir.join("v2026-12-01");
    std::fs::create_dir_all(&dir)?;
    sim.reset_stats();
    let log = dir.join("sync.log");
    let mut cmd = mirror_cmd(sim, &dir, "sync", &log)?;
    cmd.arg("--quiet").env("NOTION_MIRROR_RATE", "1000").env(
        "NOTION_MIRROR_NOTION_VERSION",
        NotionVersion::V2026_12_01.as_str(),
    );
    let limit = Duration::from_secs(if b.args.quick { 150 } else { 420 });
    run_to_success(cmd, limit, "`notion-mirror sync` (2026-12-01)", &log).await?;
    let stats = sim.stats();
    let requests = stats.total() - stats.endpoint("users.me");
    let ratio = requests as f64 / cold_requests.max(1) as f64;
    b.row(
        "cold",
        "cold_requests_2026_12_01",
        "cold requests 2026-12-01 / 2026-03-11",
        format!(
            "{ratio:.3} ({} / {})",
            thousands(requests),
            thousands(cold_requests)
        ),
        ratio,
        "= 1".into(),
        requests == cold_requests,
    );
    b.raw(
        "cold",
        format!(
            "2026-12-01 cold sync: {requests} requests ({} page GETs for short rows) against {cold_requests} on 2026-03-11",
            stats.endpoint("pages.retrieve")
        ),
    );
    let diffs = mirror_diff_for(sim, &dir.join("mirror.db"), NotionVersion::V2026_12_01)
        .context("comparing the 2026-12-01 mirror")?;
    if !diffs.is_empty() {
        return Err(anyhow!(
            "the 2026-12-01 mirror differs from the workspace:\n    {}",
            diffs.join("\n    ")
        ));
    }
    Ok(())
}

fn mirror_diff_for(sim: &Sim, db: &Path, version: NotionVersion) -> Result<Vec<String>> {
    let conn = notion_mirror::mirror::open::open_read_only(db)?;
    Ok(notion_mirror::verify::diff(
        &conn,
        &sim.expected_for(version),
        notion_mirror::verify::Scope::default(),
    )?)
}
