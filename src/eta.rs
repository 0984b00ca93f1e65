//! Time left of long sweeps (a cold sync, a resync, a restored mirror catching up), from the
//! work known to remain: the sweep work items in the queue, the requests each item of the
//! same sweep has cost so far, and the request rate. `sync`'s progress line, `status` and
//! `/metrics` (`notion_mirror_sweep_eta_seconds`) all use [`estimate`].
//!
//! Why this model: once a sweep's listings end, its work is known item by item (one row
//! per page whose content is due, per object to verify); a sweep's items are claimed in
//! random order (`queue::sweep_due_at`), so the requests per item of those done so far is
//! a fair sample of those left; and every request waits for the one rate limiter, so time
//! is requests over the rate. A rate of completed *items* (the previous ETA) swings with
//! the items' sizes and counts the listing phase as no progress at all: it read 5h22m one
//! minute into a 24-minute sync.
//!
//! Invariants: read-only; no estimate while a sweep is still listing (its work is not
//! known yet) or before [`MIN_SAMPLE`] of its items are done; an estimate never counts
//! parked work (a full sweep requeues it).

use std::time::Duration;

use rusqlite::Connection;
use serde::Serialize;

use crate::mirror::StoreError;

/// Items of a sweep that must be done before its cost per item is trusted.
pub const MIN_SAMPLE: u64 = 5;

/// One sweep that still has work, as [`estimate`] saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenSweep {
    pub run_id: i64,
    pub kind: String,
    /// Its listings are still running (more work may come).
    pub listing: bool,
    /// Its work items done, and the requests they made.
    pub items_done: u64,
    pub work_requests: u64,
    /// The same figures when its listings ended.
    pub listed_items: u64,
    pub listed_work_requests: u64,
    /// Its work items pending or running.
    pub items_left: u64,
}

/// The estimate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    /// Sweep work items pending or running.
    pub items_left: u64,
    /// Requests those items are expected to make.
    pub requests_left: f64,
    /// Requests per second the estimate assumes.
    pub rate: f64,
    /// Time left; `None` while a sweep lists or too few items are done to tell.
    #[serde(serialize_with = "secs")]
    pub eta: Option<Duration>,
    pub sweeps: Vec<OpenSweep>,
}

fn secs<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.as_secs()),
        None => s.serialize_none(),
    }
}

/// Sweeps not settled that are listing or have work in the queue.
pub fn open_sweeps(conn: &Connection) -> Result<Vec<OpenSweep>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT r.id, r.kind, r.finished_at IS NULL, r.items, r.work_requests,
                (SELECT count(*) FROM queue q WHERE q.sweep_run = r.id AND q.state != 'failed'),
                r.listed_items, r.listed_work_requests
         FROM sync_runs r
         WHERE r.settled_at IS NULL
           AND (r.finished_at IS NULL
                OR EXISTS (SELECT 1 FROM queue q WHERE q.sweep_run = r.id AND q.state != 'failed'))
         ORDER BY r.id",
    )?;
    let rows = stmt.query_map([], |r| {
        let n = |i: usize| r.get::<_, i64>(i).map(|v| v.max(0) as u64);
        Ok(OpenSweep {
            run_id: r.get(0)?,
            kind: r.get(1)?,
            listing: r.get(2)?,
            items_done: n(3)?,
            work_requests: n(4)?,
            items_left: n(5)?,
            listed_items: n(6)?,
            listed_work_requests: n(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Time left for the open sweeps at `rate` requests per second; `None` when no sweep has
/// work left.
pub fn estimate(conn: &Connection, rate: f64) -> Result<Option<Estimate>, StoreError> {
    Ok(from_sweeps(open_sweeps(conn)?, rate))
}

impl OpenSweep {
    /// The items and requests its requests-per-item figure comes from: those done since its
    /// listings ended once there are [`MIN_SAMPLE`] of them (items claimed while the
    /// listings ran are the first ones listed — in a cold sync the standalone pages search
    /// returns before any data source row — not a random sample), else all of them.
    pub fn sample(&self) -> (u64, u64) {
        let since = self.items_done.saturating_sub(self.listed_items);
        if !self.listing && since >= MIN_SAMPLE {
            (
                since,
                self.work_requests.saturating_sub(self.listed_work_requests),
            )
        } else {
            (self.items_done, self.work_requests)
        }
    }
}

/// The arithmetic of [`estimate`]: each sweep's items left times its requests per item
/// done (a sweep with too small a sample borrows the pooled figure of the others).
pub fn from_sweeps(sweeps: Vec<OpenSweep>, rate: f64) -> Option<Estimate> {
    if sweeps.is_empty() {
        return None;
    }
    let (done, requests) = sweeps
        .iter()
        .map(OpenSweep::sample)
        .filter(|(d, _)| *d >= MIN_SAMPLE)
        .fold((0u64, 0u64), |(d, r), (sd, sr)| (d + sd, r + sr));
    let pooled = (done > 0).then(|| requests as f64 / done as f64);
    let mut requests_left = 0.0;
    let mut known = true;
    for s in &sweeps {
        let (done, requests) = s.sample();
        let per_item = if done >= MIN_SAMPLE {
            Some(requests as f64 / done as f64)
        } else {
            pooled
        };
        match per_item {
            Some(p) => requests_left += p * s.items_left as f64,
            None if s.items_left > 0 => known = false,
            None => {}
        }
        if s.listing {
            known = false;
        }
    }
    let items_left = sweeps.iter().map(|s| s.items_left).sum();
    let eta = (known && rate > 0.0 && rate.is_finite())
        .then(|| Duration::from_secs_f64(requests_left / rate));
    Some(Estimate {
        items_left,
        requests_left,
        rate,
        eta,
        sweeps,
    })
}

/// The request rate over a sliding window (for `sync`, which sees its own requests).
#[derive(Debug)]
pub struct RateWindow {
    window: Duration,
    samples: std::collections::VecDeque<(std::time::Instant, u64)>,
}

impl RateWindow {
    pub fn new(window: Duration) -> RateWindow {
        RateWindow {
            window,
            samples: Default::default(),
        }
    }

    /// Records the running request count at `now`; returns the rate over the window once it
    /// spans at least five seconds with requests in it.
    pub fn update(&mut self, now: std::time::Instant, requests: u64) -> Option<f64> {
        self.samples.push_back((now, requests));
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > self.window)
        {
            self.samples.pop_front();
        }
        let (t0, r0) = *self.samples.front()?;
        let span = now.duration_since(t0).as_secs_f64();
        let made = requests.saturating_sub(r0);
        (span >= 5.0 && made > 0).then(|| made as f64 / span)
    }
}

/// `1h05m`, `4m07s`, `12s`.
pub fn humanize(d: Duration) -> String {
    crate::resume::human(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sweep(listing: bool, done: u64, requests: u64, left: u64) -> OpenSweep {
        OpenSweep {
            run_id: 1,
            kind: "full".into(),
            listing,
            items_done: done,
            work_requests: requests,
            listed_items: 0,
            listed_work_requests: 0,
            items_left: left,
        }
    }

    #[test]
    fn items_left_times_requests_per_item_over_the_rate() {
        // 100 items done for 450 requests; 900 left at 3 req/s: 4,050 requests, 1,350 s.
        let e = from_sweeps(vec![sweep(false, 100, 450, 900)], 3.0).unwrap();
        assert_eq!(e.items_left, 900);
        assert!((e.requests_left - 4050.0).abs() < 1e-6);
        assert_eq!(e.eta, Some(Duration::from_secs(1350)));
    }

    #[test]
    fn no_estimate_while_listing_or_without_a_sample() {
        assert_eq!(
            from_sweeps(vec![sweep(true, 100, 450, 900)], 3.0)
                .unwrap()
                .eta,
            None
        );
        assert_eq!(
            from_sweeps(vec![sweep(false, 2, 9, 900)], 3.0).unwrap().eta,
            None
        );
        assert!(from_sweeps(Vec::new(), 3.0).is_none());
    }

    #[test]
    fn items_done_while_listing_do_not_count_once_enough_came_after() {
        // 10 heavy items (20 requests each) while listing, then 10 light ones (2 each).
        let mut s = sweep(false, 20, 220, 50);
        s.listed_items = 10;
        s.listed_work_requests = 200;
        assert_eq!(s.sample(), (10, 20));
        let e = from_sweeps(vec![s.clone()], 1.0).unwrap();
        assert_eq!(e.eta, Some(Duration::from_secs(100)));
        s.items_done = 12;
        assert_eq!(s.sample(), (12, 220), "too few since: all of them");
    }

    #[test]
    fn a_young_sweep_borrows_the_pooled_cost() {
        let mut young = sweep(false, 1, 50, 10);
        young.run_id = 2;
        let e = from_sweeps(vec![sweep(false, 10, 20, 5), young], 2.0).unwrap();
        // 2 requests per item for both: (5 + 10) × 2 = 30 requests, 15 s.
        assert_eq!(e.eta, Some(Duration::from_secs(15)));
    }

    #[test]
    fn open_sweeps_reads_runs_and_their_queue_rows() {
        use crate::mirror::write;
        use crate::queue::{self, Kind, Signal};
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::mirror::open::open_read_write(&dir.path().join("m.db")).unwrap();
        let run = write::start_run(&conn, "full").unwrap();
        let now = queue::now_ms();
        for i in 0..3 {
            let mut s = Signal::new(Kind::Page, format!("p{i}"), queue::reason::CONTENT, now);
            s.sweep_run = Some(run);
            queue::enqueue(&conn, &s, now).unwrap();
        }
        for _ in 0..6 {
            let work = write::ItemWork {
                requests: 4,
                done: true,
                ..write::ItemWork::default()
            };
            write::add_run_work(&conn, run, work).unwrap();
        }
        let open = open_sweeps(&conn).unwrap();
        assert_eq!(
            open,
            vec![OpenSweep {
                run_id: run,
                kind: "full".into(),
                listing: true,
                items_done: 6,
                work_requests: 24,
                listed_items: 0,
                listed_work_requests: 0,
                items_left: 3,
            }]
        );
        assert_eq!(
            estimate(&conn, 3.0).unwrap().unwrap().eta,
            None,
            "still listing"
        );
        write::finish_run(&conn, run, &write::RunFigures::default()).unwrap();
        let e = estimate(&conn, 3.0).unwrap().unwrap();
        assert_eq!(
            e.eta,
            Some(Duration::from_secs(4)),
            "3 items × 4 requests ÷ 3/s"
        );
    }

    #[test]
    fn the_rate_window_needs_five_seconds_of_requests() {
        let mut w = RateWindow::new(Duration::from_secs(30));
        let t0 = std::time::Instant::now();
        assert_eq!(w.update(t0, 0), None);
        assert_eq!(w.update(t0 + Duration::from_secs(2), 6), None);
        let r = w.update(t0 + Duration::from_secs(10), 30).unwrap();
        assert!((r - 3.0).abs() < 1e-9);
    }
}
