//! Unit tests of the change feed's writer: what each upsert and removal records.

use super::*;
use crate::mirror::write::{self, BlockRow};
use serde_json::json;

const PAGE: &str = "00000000-0000-4000-8000-0000000000a1";

fn db() -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let c = crate::mirror::open::open_read_write(&dir.path().join("m.db")).unwrap();
    (dir, c)
}

fn rows(c: &Connection) -> Vec<(String, String, String, Value, Value, Value)> {
    let mut s = c
        .prepare("SELECT object, id, kind, fields, before, after FROM changes ORDER BY seq")
        .unwrap();
    s.query_map([], |r| {
        let j = |i: usize| -> rusqlite::Result<Value> {
            Ok(serde_json::from_str(&r.get::<_, String>(i)?).unwrap())
        };
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, j(3)?, j(4)?, j(5)?))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn page(status: &str, cover_sig: &str) -> Value {
    json!({"object": "page", "id": PAGE, "in_trash": false,
           "parent": {"type": "workspace", "workspace": true},
           "last_edited_time": "2026-01-01T00:00:00.000Z",
           "last_edited_by": {"object": "user", "id": "00000000-0000-4000-8000-0000000000f1"},
           "cover": {"type": "file", "file": {"url": format!("https://files/x.png?sig={cover_sig}"), "expiry_time": cover_sig}},
           "properties": {
               "title": {"id": "title", "type": "title", "title": [{"plain_text": "Roadmap"}]},
               "Status": {"id": "s%3A", "type": "select", "select": {"name": status}}}})
}

fn block(id: &str, text: &str) -> Value {
    json!({"object": "block", "id": id, "type": "paragraph",
           "paragraph": {"rich_text": [{"plain_text": text}], "color": "default"}})
}

fn row(raw: Value, position: i64) -> BlockRow {
    BlockRow {
        raw,
        parent_id: PAGE.into(),
        position,
    }
}

#[test]
fn a_page_is_created_once_and_a_refetch_of_the_same_version_adds_nothing() {
    let (_d, c) = db();
    write::upsert_page(&c, page("Doing", "a")).unwrap();
    write::upsert_page(&c, page("Doing", "b")).unwrap();
    let r = rows(&c);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].2, "created");
    write::upsert_page(&c, page("Done", "c")).unwrap();
    let r = rows(&c);
    assert_eq!(r.len(), 2);
    assert_eq!(r[1].2, "updated");
    assert_eq!(r[1].3, json!(["Status"]));
    assert_eq!(r[1].4, json!({"Status": "Doing"}));
    assert_eq!(r[1].5, json!({"Status": "Done"}));
    let edited_by: String = c
        .query_row("SELECT edited_by FROM changes WHERE seq = 2", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(edited_by, "00000000-0000-4000-8000-0000000000f1");
    let history: (String, String, String, String) = c
        .query_row(
            "SELECT page_title, field, before, after FROM page_history WHERE seq = 2",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(
        history,
        (
            "Roadmap".into(),
            "Status".into(),
            "Doing".into(),
            "Done".into()
        )
    );
}

#[test]
fn a_removed_page_leaves_one_removed_row_with_its_last_fields() {
    let (_d, c) = db();
    write::upsert_page(&c, page("Doing", "a")).unwrap();
    write::remove_page(&c, PAGE, write::Removal::NotFound).unwrap();
    write::remove_page(&c, PAGE, write::Removal::NotFound).unwrap();
    let r = rows(&c);
    assert_eq!(r.len(), 2);
    assert_eq!(r[1].2, "removed");
    assert_eq!(r[1].4["Status"], json!("Doing"));
    assert_eq!(r[1].5, json!({}));
}

#[test]
fn block_edits_inserts_and_deletions_record_only_what_changed() {
    let (_d, c) = db();
    let ids = [
        "00000000-0000-4000-8000-0000000000b1",
        "00000000-0000-4000-8000-0000000000b2",
        "00000000-0000-4000-8000-0000000000b3",
    ];
    let tree = |texts: &[(&str, &str)]| -> Vec<BlockRow> {
        texts
            .iter()
            .enumerate()
            .map(|(i, (id, t))| row(block(id, t), i as i64))
            .collect()
    };
    // One job, as the writer runs it: notes are diffed at the end.
    begin(Some(Cause::Webhook));
    write::replace_page_blocks(&c, PAGE, &tree(&[(ids[0], "a"), (ids[1], "b")]), "t", "t").unwrap();
    finish(&c).unwrap();
    assert_eq!(rows(&c).len(), 2);
    // Insert at the top, edit the last: one created, one updated, no moves.
    begin(Some(Cause::Webhook));
    write::replace_page_blocks(
        &c,
        PAGE,
        &tree(&[(ids[2], "new"), (ids[0], "a"), (ids[1], "b!")]),
        "t",
        "t",
    )
    .unwrap();
    finish(&c).unwrap();
    let r = rows(&c);
    assert_eq!(r.len(), 4, "{r:?}");
    assert_eq!((r[2].1.as_str(), r[2].2.as_str()), (ids[2], "created"));
    assert_eq!((r[3].1.as_str(), r[3].2.as_str()), (ids[1], "updated"));
    assert_eq!(r[3].3, json!(["text"]));
    // Move the first to the end: one moved; delete one: one removed.
    begin(None);
    write::replace_page_blocks(&c, PAGE, &tree(&[(ids[0], "a"), (ids[2], "new")]), "t", "t")
        .unwrap();
    finish(&c).unwrap();
    let r = rows(&c);
    let kinds: Vec<(&str, &str)> = r[4..]
        .iter()
        .map(|x| (x.1.as_str(), x.2.as_str()))
        .collect();
    assert_eq!(kinds, vec![(ids[0], "moved"), (ids[1], "removed")], "{r:?}");
    assert_eq!(r[4].3, json!(["position"]));
}

#[test]
fn a_block_removed_and_written_again_in_one_job_is_no_change() {
    let (_d, c) = db();
    let id = "00000000-0000-4000-8000-0000000000b1";
    write::replace_page_blocks(&c, PAGE, &[row(block(id, "a"), 0)], "t", "t").unwrap();
    begin(None);
    write::replace_children(&c, PAGE, PAGE, &[], &[]).unwrap();
    write::replace_children(&c, PAGE, PAGE, &[row(block(id, "a"), 0)], &[]).unwrap();
    finish(&c).unwrap();
    assert_eq!(rows(&c).len(), 1);
}

#[test]
fn history_off_records_nothing() {
    let (_d, c) = db();
    set_history(false);
    write::upsert_page(&c, page("Doing", "a")).unwrap();
    set_history(true);
    assert!(rows(&c).is_empty());
}

#[test]
fn a_failed_job_leaves_no_notes_behind() {
    let (_d, c) = db();
    begin(None);
    write::upsert_page(&c, page("Doing", "a")).unwrap();
    abandon();
    assert!(rows(&c).is_empty());
    write::upsert_page(&c, page("Done", "a")).unwrap();
    // The page row exists (this test did not roll it back), so this is an update.
    assert_eq!(rows(&c).len(), 1);
}

#[test]
fn pruning_spares_what_a_destination_has_not_handled() {
    let (_d, c) = db();
    write::upsert_page(&c, page("a", "a")).unwrap();
    write::upsert_page(&c, page("b", "a")).unwrap();
    c.execute(
        "INSERT INTO outbound (destination, url, cursor, added_at) VALUES ('d', 'u', 1, 'now')",
        [],
    )
    .unwrap();
    assert_eq!(prune_changes(&c, "9999").unwrap(), 1);
    assert_eq!(last_seq(&c).unwrap(), 2);
    c.execute("UPDATE outbound SET active = 0", []).unwrap();
    assert_eq!(prune_changes(&c, "9999").unwrap(), 1);
    write::upsert_page(&c, page("c", "a")).unwrap();
    assert_eq!(last_seq(&c).unwrap(), 3, "seqs are never reused");
}
