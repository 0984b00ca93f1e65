//! Trash at the edges of what sweeps can see: a trashed page is in no search or query
//! result, so only events tell the mirror about it. An edit under a trashed page moves its
//! `last_edited_by`; a child page found by a sweep and trashed before the mirror saw its
//! block is named only by its parent's `page.content_updated`. Both must reach the mirror
//! from the events alone (no sweep runs in these tests).

mod common;

use std::time::Duration;

use chrono::Utc;
use notion_mirror::config::Config;
use notion_mirror::reconcile::SweepKind;
use notion_mirror::sim::events::RawEvent;
use notion_mirror::sim::model::{Parent, UserKind};
use notion_mirror::sim::mutate::ParentRef;
use notion_mirror::sim::{Mutation, Sim};
use serde_json::json;

/// A live, unlocked page under another page, and two distinct people.
fn pick(sim: &Sim) -> (String, String, String) {
    sim.read(|ws| {
        let persons: Vec<String> = ws
            .users
            .iter()
            .filter(|u| matches!(u.kind, UserKind::Person { .. }))
            .map(|u| u.id.clone())
            .collect();
        let page = ws
            .pages
            .values()
            .filter(|p| !p.in_trash && !p.is_locked && matches!(p.parent, Parent::Page(_)))
            .map(|p| p.id.clone())
            .next()
            .unwrap();
        (page, persons[0].clone(), persons[1].clone())
    })
}

/// Creates a child page of `parent` authored by `author`; returns its id.
fn create_child(sim: &Sim, parent: &str, title: &str, author: &str) -> String {
    let m = Mutation::CreatePage {
        parent: ParentRef::Page(parent.to_string()),
        title: title.to_string(),
    };
    sim.mutate_as(&m, author).unwrap().created_ids[0].clone()
}

async fn wait_field(config: &Config, what: &str, sql: String) {
    let c = config.clone();
    common::wait_for(what, Duration::from_secs(30), || {
        let (c, sql) = (c.clone(), sql.clone());
        async move { common::count(&c, &sql) == 1 }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_under_a_trashed_page_refreshes_its_last_edited_by() {
    let (sim, config, daemon, sender, _dir) = common::live(43).await.parts();
    let (parent, alice, bob) = pick(&sim);

    // A child page, then its parent trashed by Alice: the mirror holds the parent trashed.
    let child = create_child(&sim, &parent, "child of a page about to be trashed", &alice);
    sim.mutate_as(
        &Mutation::TrashPage {
            page_id: parent.clone(),
        },
        &alice,
    )
    .unwrap();
    wait_field(
        &config,
        "the parent trashed in the mirror",
        format!("select count(*) from pages where id = '{parent}' and in_trash = 1"),
    )
    .await;
    assert!(sender.quiesce(Duration::from_secs(30)).await);
    common::wait_queue_idle(&config).await;

    // Bob trashes the child: the trashed parent's last_edited_by becomes Bob. The parent is
    // in no listing, so its content event is the only news of that.
    sim.mutate_as(&Mutation::TrashPage { page_id: child }, &bob)
        .unwrap();
    let by = sim.read(|ws| ws.pages[&parent].last_edited_by.clone());
    assert_eq!(by, bob, "the simulator moved the parent's last_edited_by");
    wait_field(
        &config,
        "the trashed parent's last_edited_by in the mirror",
        format!(
            "select count(*) from pages where id = '{parent}'
               and json_extract(raw, '$.last_edited_by.id') = '{bob}'"
        ),
    )
    .await;
    assert!(sender.quiesce(Duration::from_secs(30)).await);
    common::wait_queue_idle(&config).await;
    // The live grandparent's new last_edited_by comes with the sweep's search, as designed.
    common::sweep_and_settle(&daemon, &config, SweepKind::Incremental).await;
    common::assert_mirror_equals(&sim, &config, Default::default());
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trashed_child_named_only_by_its_parents_event_is_trashed_in_the_mirror() {
    let (sim, config, daemon, sender, _dir) = common::live(44).await.parts();
    let (parent, alice, _) = pick(&sim);

    let child = create_child(&sim, &parent, "found by a sweep, trashed at once", &alice);
    wait_field(
        &config,
        "the child page in the mirror",
        format!("select count(*) from pages where id = '{child}' and in_trash = 0"),
    )
    .await;
    assert!(sender.quiesce(Duration::from_secs(30)).await);
    common::wait_queue_idle(&config).await;
    // As when the sweep found the page but the parent's event announcing its block was
    // aggregated with the trashing: the mirror holds the page, not its block.
    let conn = rusqlite::Connection::open(common::db_path(&config)).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn.execute("delete from blocks where id = ?1", [&child])
        .unwrap();
    drop(conn);

    // The child is trashed; every event of it is lost but the parent's content event
    // naming the child's block.
    sender.set_faults(1.0, 0.0, Duration::ZERO);
    sim.mutate_as(
        &Mutation::TrashPage {
            page_id: child.clone(),
        },
        &alice,
    )
    .unwrap();
    assert!(sender.quiesce(Duration::from_secs(30)).await);
    sender.set_faults(0.0, 0.0, Duration::ZERO);
    sender.emit(RawEvent {
        event_type: "page.content_updated".into(),
        entity_type: "page".into(),
        entity_id: parent.clone(),
        data: json!({
            "parent": {"id": "ignored", "type": "space"},
            "updated_blocks": [{"id": child, "type": "block"}],
        }),
        at: Utc::now(),
        authors: vec![(alice.clone(), "person".into())],
    });
    wait_field(
        &config,
        "the child trashed in the mirror",
        format!("select count(*) from pages where id = '{child}' and in_trash = 1"),
    )
    .await;
    daemon.stop().await;
}
