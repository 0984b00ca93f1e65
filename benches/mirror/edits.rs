//! One-edit costs: a property edit, a deep block edit and a comment, each made in the
//! simulator and delivered by its webhook sender, counted in requests until the daemon settles.
//! Invariant: each edit starts from an idle queue with reset counters and ends settled, so its
//! count holds every follow-up request it caused and nothing else.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use notion_mirror::sim::{Mutation, Sim, Stats};
use rusqlite::Connection;
use serde_json::{json, Map, Value};

use crate::http::nonce;
use crate::report::{by_endpoint_json, by_endpoint_line, Bench};
use crate::wait::{open_mirror, settle, wait_queue_idle, wait_until};

/// What one edit cost: the simulator's counters and when it first showed in the mirror.
struct EditCost {
    stats: Stats,
    visible_after: Duration,
}

/// Makes `edit`, waits for `check` to hold in the mirror, then for the daemon to settle.
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

/// The three edit figures (the daemon runs with the simulator's webhook sender on).
pub(crate) async fn edits(b: &mut Bench, sim: &Sim, db: &Path) -> Result<()> {
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
