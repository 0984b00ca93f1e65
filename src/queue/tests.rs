//! Unit tests of the queue's statements (`sql.rs`): coalescing, claiming, completion,
//! release and recovery, on a real mirror file.

use rusqlite::Connection;

use super::*;

fn conn() -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let c = crate::mirror::open::open_read_write(&dir.path().join("q.db")).unwrap();
    (dir, c)
}

fn page(id: &str, reasons: u32, due: i64) -> Signal {
    Signal::new(Kind::Page, id, reasons, due)
}

fn sweep(id: &str, reasons: u32, due: i64, run: i64) -> Signal {
    let mut s = page(id, reasons, due);
    s.priority = PRIORITY_SWEEP;
    s.if_idle = true;
    s.sweep_run = Some(run);
    s
}

#[test]
fn signals_for_one_object_coalesce() {
    let (_d, c) = conn();
    for i in 0..50 {
        enqueue(&c, &page("p1", reason::PROPERTIES, 1000 + i), 0).unwrap();
    }
    enqueue(&c, &page("p1", reason::CONTENT, 5000), 0).unwrap();
    let items = claim(&c, 10_000, 10, 10, 60_000).unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].reasons, reason::PROPERTIES | reason::CONTENT);
    assert_eq!(items[0].due_at, 1000, "earliest due time wins");
}

#[test]
fn nothing_is_claimed_before_it_is_due_and_webhooks_go_first() {
    let (_d, c) = conn();
    let mut sweep = page("a", reason::CONTENT, 100);
    sweep.priority = PRIORITY_SWEEP;
    enqueue(&c, &sweep, 0).unwrap();
    enqueue(&c, &page("b", reason::PROPERTIES, 200), 0).unwrap();
    enqueue(&c, &page("c", reason::PROPERTIES, 9_000), 0).unwrap();
    let items = claim(&c, 1_000, 10, 10, 60_000).unwrap();
    let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, vec!["b", "a"]);
    assert!(
        claim(&c, 1_000, 10, 10, 60_000).unwrap().is_empty(),
        "claimed rows are not claimed twice"
    );
}

#[test]
fn sweep_work_never_takes_more_than_its_slots() {
    let (_d, c) = conn();
    for id in ["s1", "s2", "s3", "s4"] {
        enqueue(&c, &sweep(id, reason::CONTENT, 0, 1), 0).unwrap();
    }
    let first = claim(&c, 10, 4, 2, 60_000).unwrap();
    assert_eq!(first.len(), 2, "two sweep slots of four");
    enqueue(&c, &page("w", reason::PROPERTIES, 5), 5).unwrap();
    let next = claim(&c, 10, 2, 0, 60_000).unwrap();
    let ids: Vec<&str> = next.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, vec!["w"], "webhook work still gets a slot");
}

#[test]
fn sweep_work_of_one_minute_is_claimed_in_id_order_not_listing_order() {
    let (_d, c) = conn();
    let minute = 1_700_000_040_000;
    // Listed (and enqueued) newest id first, a few milliseconds apart.
    for (i, id) in ["c3", "b2", "a1"].into_iter().enumerate() {
        let mut s = page(id, reason::CONTENT, sweep_due_at(minute + 5 + i as i64));
        s.priority = PRIORITY_SWEEP;
        enqueue(&c, &s, 0).unwrap();
    }
    let items = claim(&c, minute + 10, 10, 10, 60_000).unwrap();
    let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, vec!["a1", "b2", "c3"]);
    assert_eq!(sweep_due_at(minute + 59_999), minute);
}

#[test]
fn a_signal_while_running_runs_once_more() {
    let (_d, c) = conn();
    enqueue(&c, &page("p", reason::PROPERTIES, 0), 0).unwrap();
    let item = claim(&c, 10, 1, 1, 60_000).unwrap().remove(0);
    enqueue(&c, &page("p", reason::CONTENT, 20), 15).unwrap();
    complete(&c, &item, &Outcome::Done, 30).unwrap();
    let again = claim(&c, 100, 1, 1, 60_000).unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].reasons, reason::CONTENT);
    complete(&c, &again[0], &Outcome::Done, 110).unwrap();
    assert_eq!(depth(&c, 200).unwrap(), Depth::default());
}

#[test]
fn event_times_merge_to_the_newest_and_stay_for_the_next_run() {
    let (_d, c) = conn();
    let mut s = page("p", reason::PROPERTIES, 0);
    s.signalled_at = Some("2026-01-01T00:00:10.000Z".into());
    enqueue(&c, &s, 0).unwrap();
    s.signalled_at = Some("2026-01-01T00:00:05.000Z".into());
    enqueue(&c, &s, 0).unwrap();
    let item = claim(&c, 0, 1, 1, 60_000).unwrap().remove(0);
    assert_eq!(
        item.signalled_at.as_deref(),
        Some("2026-01-01T00:00:10.000Z")
    );
    s.signalled_at = Some("2026-01-01T00:00:20.000Z".into());
    enqueue(&c, &s, 1).unwrap();
    complete(&c, &item, &Outcome::Done, 2).unwrap();
    let again = claim(&c, 10, 1, 1, 60_000).unwrap().remove(0);
    assert_eq!(
        again.signalled_at.as_deref(),
        Some("2026-01-01T00:00:20.000Z")
    );
}

#[test]
fn a_sweep_knows_when_its_own_work_is_done() {
    let (_d, c) = conn();
    enqueue(&c, &sweep("a", reason::CONTENT, 0, 7), 0).unwrap();
    enqueue(&c, &sweep("b", reason::CONTENT, 0, 7), 0).unwrap();
    enqueue(&c, &page("w", reason::PROPERTIES, 0), 0).unwrap();
    assert_eq!(sweep_open(&c, 7).unwrap(), 2);
    let items = claim(&c, 0, 3, 3, 60_000).unwrap();
    assert_eq!(sweep_open(&c, 7).unwrap(), 2, "running work is still open");
    for item in items.iter().filter(|i| i.id != "w") {
        complete(&c, item, &Outcome::Done, 1).unwrap();
    }
    assert_eq!(
        sweep_open(&c, 7).unwrap(),
        0,
        "webhook work is not waited for"
    );
}

#[test]
fn a_later_sweep_queuing_the_same_object_does_not_hold_an_earlier_one_open() {
    let (_d, c) = conn();
    enqueue(&c, &sweep("a", reason::COMMENTS, 0, 1), 0).unwrap();
    let item = claim(&c, 10, 1, 1, 60_000).unwrap().remove(0);
    complete(&c, &item, &Outcome::Done, 20).unwrap();
    enqueue(&c, &sweep("a", reason::COMMENTS, 0, 2), 30).unwrap();
    assert_eq!(sweep_open(&c, 1).unwrap(), 0, "sweep 1's work was done");
    assert_eq!(sweep_open(&c, 2).unwrap(), 1);
    // Queued by sweep 3 while sweep 2's run is in progress: sweep 3 waits for the next run.
    let item = claim(&c, 40, 1, 1, 60_000).unwrap().remove(0);
    enqueue(&c, &sweep("a", reason::CONTENT, 0, 3), 50).unwrap();
    complete(&c, &item, &Outcome::Done, 60).unwrap();
    assert_eq!(sweep_open(&c, 2).unwrap(), 0);
    assert_eq!(sweep_open(&c, 3).unwrap(), 1);
}

#[test]
fn failures_back_off_then_park_and_retry_revives() {
    let (_d, c) = conn();
    enqueue(&c, &page("p", reason::PROPERTIES, 0), 0).unwrap();
    let item = claim(&c, 0, 1, 1, 60_000).unwrap().remove(0);
    complete(
        &c,
        &item,
        &Outcome::RetryAt {
            at: 500,
            error: "503".into(),
        },
        0,
    )
    .unwrap();
    assert!(claim(&c, 499, 1, 1, 60_000).unwrap().is_empty());
    let item = claim(&c, 500, 1, 1, 60_000).unwrap().remove(0);
    assert_eq!(item.attempts, 1);
    complete(
        &c,
        &item,
        &Outcome::Park {
            error: "gave up".into(),
        },
        600,
    )
    .unwrap();
    let d = depth(&c, 700).unwrap();
    assert_eq!((d.pending, d.failed), (0, 1));
    assert!(claim(&c, 10_000, 1, 1, 60_000).unwrap().is_empty());
    assert_eq!(retry_parked(&c, 800).unwrap(), 1);
    let item = claim(&c, 800, 1, 1, 60_000).unwrap().remove(0);
    assert_eq!(item.attempts, 0);
}

#[test]
fn block_lists_merge_and_overflow_to_full_content() {
    let (_d, c) = conn();
    let mut s = page("p", reason::BLOCKS, 0);
    s.blocks = vec!["b1".into(), "b2".into()];
    enqueue(&c, &s, 0).unwrap();
    s.blocks = vec!["b2".into(), "b3".into()];
    enqueue(&c, &s, 0).unwrap();
    let item = claim(&c, 0, 1, 1, 1).unwrap().remove(0);
    assert_eq!(item.blocks, vec!["b1", "b2", "b3"]);
    release(&c, &[item]).unwrap();
    s.blocks = (0..40).map(|i| format!("x{i}")).collect();
    enqueue(&c, &s, 0).unwrap();
    let item = claim(&c, 0, 1, 1, 1).unwrap().remove(0);
    assert_eq!(item.reasons & reason::CONTENT, reason::CONTENT);
    assert!(item.blocks.is_empty());
}

#[test]
fn sweep_signals_merge_but_never_repeat_covered_runs() {
    let (_d, c) = conn();
    enqueue(&c, &page("p", reason::PROPERTIES | reason::CONTENT, 0), 0).unwrap();
    let item = claim(&c, 0, 1, 1, 60_000).unwrap().remove(0);
    let mut sweep = page("p", reason::CONTENT, 0);
    sweep.if_idle = true;
    enqueue(&c, &sweep, 0).unwrap();
    complete(&c, &item, &Outcome::Done, 1).unwrap();
    assert_eq!(
        depth(&c, 10).unwrap(),
        Depth::default(),
        "a covered run does not repeat"
    );
    // A run that does not cover the sweep's reasons runs once more, for those only.
    enqueue(&c, &page("p", reason::PROPERTIES, 0), 0).unwrap();
    let item = claim(&c, 10, 1, 1, 60_000).unwrap().remove(0);
    enqueue(&c, &sweep, 0).unwrap();
    complete(&c, &item, &Outcome::Done, 11).unwrap();
    let again = claim(&c, 20, 1, 1, 60_000).unwrap();
    assert_eq!(again[0].reasons, reason::CONTENT);
    complete(&c, &again[0], &Outcome::Done, 21).unwrap();
    // Pending work absorbs sweep signals.
    enqueue(&c, &page("q", reason::PROPERTIES, 50), 0).unwrap();
    let mut sweep_q = page("q", reason::CONTENT, 0);
    sweep_q.if_idle = true;
    enqueue(&c, &sweep_q, 0).unwrap();
    let merged = claim(&c, 50, 1, 1, 60_000).unwrap();
    assert_eq!(merged[0].reasons, reason::PROPERTIES | reason::CONTENT);
}

#[test]
fn crashed_runs_are_recovered() {
    let (_d, c) = conn();
    enqueue(&c, &page("p", reason::PROPERTIES, 0), 0).unwrap();
    claim(&c, 0, 1, 1, 60_000).unwrap();
    assert_eq!(recover(&c).unwrap(), 1);
    assert_eq!(claim(&c, 0, 1, 1, 60_000).unwrap().len(), 1);
}
