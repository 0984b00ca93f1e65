//! The change feed (docs/history.md): exact rows for every kind of edit, no false changes,
//! `changes --follow`, signed outbound webhooks delivered once per seq across `kill -9`.

mod common;

use notion_mirror::config::Config;
use notion_mirror::history::{self, ChangeRow};
use notion_mirror::mirror::changes::{Change, Kind, Object};
use notion_mirror::reconcile::SweepKind;
use notion_mirror::sim::changes;
use notion_mirror::sim::mutate::Mutation;
use notion_mirror::sim::util::SimRng;
use notion_mirror::sim::{GenConfig, Knobs};
use notion_mirror::verify::Scope;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// Every change after `seq`.
fn rows_after(config: &Config, seq: i64) -> Vec<ChangeRow> {
    history::rows_after(&common::open(config), seq, i64::MAX, 1_000_000).unwrap()
}

fn last_seq(config: &Config) -> i64 {
    history::last_seq(&common::open(config)).unwrap()
}

/// A feed row as a comparable change (its seq, times and cause left out).
fn as_change(r: &ChangeRow) -> Change {
    let map = |v: &Value| v.as_object().cloned().unwrap_or_default();
    Change {
        object: Object::parse(&r.object).expect("known object"),
        id: r.id.clone(),
        page_id: r.page_id.clone(),
        kind: Kind::parse(&r.kind).expect("known kind"),
        fields: r
            .fields
            .as_array()
            .map(|f| f.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
            .unwrap_or_default(),
        before: map(&r.before),
        after: map(&r.after),
        edited_time: None,
        edited_by: None,
    }
}

fn sorted(mut changes: Vec<Change>) -> Vec<Change> {
    changes.sort_by(|a, b| (a.object, &a.id).cmp(&(b.object, &b.id)));
    changes
}

async fn resync(config: &Config) {
    let end = notion_mirror::sync::run_kind(config, SweepKind::Resync, CancellationToken::new(), false)
        .await
        .expect("resync runs");
    assert!(matches!(end, notion_mirror::sync::SyncEnd::Complete(_)), "{end:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_edit_records_exactly_its_changes() {
    let sim = common::sim(GenConfig::small(21), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(&sim, dir.path());
    common::sync(&config).await;
    // The cold sync: one `created` row per object, nothing else.
    let cold = rows_after(&config, 0);
    assert!(cold.iter().all(|r| r.kind == "created" && r.cause.as_deref() == Some("sync")));
    let mut ids: Vec<&str> = cold.iter().map(|r| r.id.as_str()).collect();
    ids.sort();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "one created row per object");

    let mut rng = SimRng::new(77);
    let mut tried = Vec::new();
    for kind in notion_mirror::sim::random::KINDS {
        let Some((m, exact, meant)) =
            sim.mutate_kind_with_changes(&mut rng, kind, config.notion_version)
        else {
            tried.push(format!("{kind}: no target"));
            continue;
        };
        let seq = last_seq(&config);
        resync(&config).await;
        common::assert_mirror_equals(&sim, &config, Scope::default());
        let rows = rows_after(&config, seq);
        assert!(
            rows.iter().all(|r| r.cause.as_deref() == Some("sync")),
            "{kind}: {rows:?}"
        );
        let got = sorted(rows.iter().map(as_change).collect());
        let want = sorted(exact);
        assert_eq!(got, want, "{kind}: {m:?}");
        for e in &meant {
            assert!(got.iter().any(|c| e.met_by(c)), "{kind}: {m:?} lacks {e:?} in {got:?}");
        }
        if std::env::var("SHOW").is_ok() { for c in &got { println!("{kind}: {:?} {} {:?} {:?} -> {:?}", c.object, c.kind.as_str(), c.fields, c.before, c.after); } }
        tried.push(format!("{kind}: {} row(s)", got.len()));
    }
    // Edits the random picks may miss: deleting a first block shifts its siblings (no
    // move), appending under a nested block.
    let (first, nested) = sim.read(|ws| {
        let text = |b: &&notion_mirror::sim::model::Block| b.data.get("rich_text").is_some();
        let first = ws.pages.values().filter(|p| !p.in_trash && ws.visible(&p.id)).find_map(|p| {
            let kids = ws.live_children(&p.id);
            (kids.len() >= 3 && kids.iter().all(text)).then(|| kids[0].id.clone())
        });
        let nested = ws
            .blocks
            .values()
            .find(|b| b.btype == "toggle" && !b.in_trash && ws.pages.get(&b.page_id).is_some_and(|p| !p.in_trash && ws.visible(&p.id)))
            .map(|b| b.id.clone());
        (first, nested)
    });
    let explicit = [
        first.map(|block_id| Mutation::DeleteBlock { block_id }),
        nested.map(|parent_id| Mutation::AppendBlocks { parent_id, texts: vec!["nested".into()] }),
    ];
    for m in explicit.into_iter().flatten() {
        let before = sim.expected_for(config.notion_version);
        let outcome = sim.mutate(m.clone()).expect("mutation applies");
        let after = sim.expected_for(config.notion_version);
        let seq = last_seq(&config);
        resync(&config).await;
        let got = sorted(rows_after(&config, seq).iter().map(as_change).collect());
        assert_eq!(got, sorted(changes::between(&before, &after)), "{m:?}");
        for e in changes::of_mutation(&m, &outcome, &before, &after) {
            assert!(got.iter().any(|c| e.met_by(c)), "{m:?} lacks {e:?} in {got:?}");
        }
        assert!(got.iter().all(|c| c.kind != Kind::Moved), "{m:?} moved nothing: {got:?}");
        tried.push(format!("{m:?}: {} row(s)", got.len()));
    }
    println!("{}", tried.join("\n"));
}
