//! The results: the `Bench` collector (rows, raw lines, raw JSON, notes, failures), the
//! number formatting the figures share, and the printed table and `--json` report.
//! Invariant: figures only enter through `Bench`, which drops those of groups not asked for;
//! the table is sorted by group (the order of `GROUPS`), then by the order rows were added.

use std::fmt::Write as _;
use std::time::Instant;

use chrono::Utc;
use notion_mirror::sim::Stats;
use serde_json::{json, Map, Value};

use crate::args::{Args, GROUPS};
use crate::http::now_iso;

struct Row {
    order: usize,
    key: &'static str,
    figure: &'static str,
    shown: String,
    value: f64,
    target: String,
    met: bool,
}

/// Everything one run measured, plus what it was asked to measure.
pub(crate) struct Bench {
    pub(crate) args: Args,
    rows: Vec<Row>,
    raw: Vec<(&'static str, String)>,
    raw_json: Map<String, Value>,
    pub(crate) notes: Vec<String>,
    pub(crate) failures: Vec<String>,
    started: Instant,
}

impl Bench {
    /// An empty collector; the run's clock starts now.
    pub(crate) fn new(args: Args) -> Bench {
        Bench {
            args,
            rows: Vec::new(),
            raw: Vec::new(),
            raw_json: Map::new(),
            notes: Vec::new(),
            failures: Vec::new(),
            started: Instant::now(),
        }
    }

    pub(crate) fn wants(&self, group: &str) -> bool {
        self.args.only.as_deref().is_none_or(|g| g == group)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn row(
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

    pub(crate) fn raw(&mut self, group: &'static str, line: String) {
        if self.wants(group) {
            self.raw.push((group, line));
        }
    }

    pub(crate) fn raw_json(&mut self, group: &'static str, key: &str, v: Value) {
        if self.wants(group) {
            let g = self
                .raw_json
                .entry(group.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            g[key] = v;
        }
    }

    pub(crate) fn fail(&mut self, group: &str, e: &anyhow::Error) {
        let line = format!("{group}: {e:#}");
        eprintln!("FAILURE {line}");
        self.failures.push(line);
    }
}

pub(crate) fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub(crate) fn by_endpoint_line(stats: &Stats) -> String {
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

pub(crate) fn by_endpoint_json(stats: &Stats) -> Value {
    json!(stats.by_endpoint())
}

pub(crate) fn thousands(n: u64) -> String {
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

pub(crate) fn cores() -> usize {
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

pub(crate) fn print_report(b: &mut Bench) -> String {
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

pub(crate) fn report_json(b: &Bench) -> Value {
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
