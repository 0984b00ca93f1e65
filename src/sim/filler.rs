//! Random filler for the generator: page content, comments, padding pages up to the
//! target count, and the final timestamp pass.
//!
//! Invariant: the final pass only moves `last_edited_time` forward (to content edits and
//! dual-relation links) and never past 10 minutes before the start.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use super::generate::Gen;
use super::model::{Holder, Parent, Val};
use super::richtext;

impl Gen {
    /// Random page content: about `mean` top-level blocks, nested up to `max_depth`.
    pub fn random_content(&mut self, page: &str, mean: usize) {
        let n = self.rng.around(mean as f64);
        for _ in 0..n {
            self.random_block(Holder::Page(page.to_string()), 1);
        }
    }

    pub(crate) fn random_block(&mut self, holder: Holder, depth: usize) {
        const KINDS: &[&str] = &[
            "paragraph",
            "paragraph",
            "paragraph",
            "heading_2",
            "heading_3",
            "bulleted_list_item",
            "numbered_list_item",
            "to_do",
            "quote",
            "toggle",
            "callout",
            "divider",
            "code",
        ];
        let kind = self.rng.pick(KINDS).copied().unwrap_or("paragraph");
        let text = self.sentence();
        let id = match kind {
            "divider" => self.block(holder, "divider", json!({})),
            "code" => self.block(
                holder,
                "code",
                json!({ "caption": [], "rich_text": richtext::plain("let x = 42;"), "language": "rust" }),
            ),
            "callout" => self.block(
                holder,
                "callout",
                json!({ "rich_text": richtext::plain(&text), "icon": { "type": "emoji", "emoji": "💡" }, "color": "gray_background" }),
            ),
            k => self.text_block(holder, k, richtext::plain(&text)),
        };
        let nestable = matches!(
            kind,
            "paragraph"
                | "bulleted_list_item"
                | "numbered_list_item"
                | "to_do"
                | "toggle"
                | "quote"
        );
        if nestable && depth < self.cfg.max_depth && self.rng.chance(0.2) {
            for _ in 0..self.rng.range(1, 3) {
                self.random_block(Holder::Block(id.clone()), depth + 1);
            }
        }
    }

    /// Random page-level comments (and, sometimes, a block discussion).
    pub fn random_comments(&mut self, page: &str) {
        let n = self.rng.around(self.cfg.comments_per_page);
        let mut discussion = None;
        for _ in 0..n {
            if self.rng.chance(0.5) {
                discussion = None;
            }
            let text = self.sentence();
            let (_, d) = self.comment(Holder::Page(page.to_string()), discussion.clone(), &text);
            discussion = Some(d);
        }
        if self.rng.chance(self.cfg.comments_per_page / 4.0) {
            let blocks: Vec<String> = self
                .ws
                .content_tree(page)
                .iter()
                .filter(|b| b.data.get("rich_text").is_some())
                .map(|b| b.id.clone())
                .collect();
            if let Some(b) = self.rng.pick(&blocks).cloned() {
                let text = self.sentence();
                self.comment(Holder::Block(b), None, &text);
            }
        }
    }

    /// Pads the workspace with standalone pages and Tasks rows up to `cfg.pages`.
    pub(crate) fn fill(&mut self, fixed: super::fixtures::Fixed) {
        let mut parents: Vec<String> = vec![fixed.meeting_notes.clone(), fixed.archive.clone()];
        let mut n = self.ws.pages.len();
        let mut i = 0;
        while n < self.cfg.pages {
            i += 1;
            if i % 2 == 0 {
                super::fixtures_tasks::task_row(self, &fixed, None);
            } else {
                let parent = self.rng.pick(&parents).cloned().unwrap_or_default();
                let kind = [
                    "Weekly sync",
                    "Retro notes",
                    "Design doc",
                    "Onboarding",
                    "Postmortem",
                ][self.rng.index(5)];
                let title = format!("{kind} {i}");
                let icon = if self.rng.chance(0.3) {
                    json!({ "type": "emoji", "emoji": "📝" })
                } else {
                    Value::Null
                };
                let id = self.page(Parent::Page(parent), richtext::plain(&title), icon);
                let mean = self.cfg.blocks_per_page;
                self.random_content(&id, mean);
                self.random_comments(&id);
                if parents.len() < 40 && self.rng.chance(0.3) {
                    parents.push(id);
                }
            }
            n = self.ws.pages.len();
        }
    }

    /// Final pass: a page's `last_edited_time` covers its content; containers cover their
    /// children; some pages were edited again later.
    pub(crate) fn finish(&mut self) {
        let end = self.end;
        // Latest (edit time, editor) per page: own later edits, content blocks, and links
        // made from the other side of a dual relation after the page existed.
        let mut latest: BTreeMap<String, (DateTime<Utc>, String)> = BTreeMap::new();
        let ids: Vec<String> = self.ws.pages.keys().cloned().collect();
        for id in &ids {
            let later = self
                .rng
                .chance(0.3)
                .then(|| self.rng.range(0, 3 * 24 * 60) as i64);
            let editor = self.person();
            if let Some(p) = self.ws.pages.get(id) {
                let t = later.map_or(p.created_time, |m| {
                    (p.created_time + Duration::minutes(m)).min(end)
                });
                let by = if later.is_some() {
                    editor
                } else {
                    p.created_by.clone()
                };
                latest.insert(id.clone(), (t, by));
            }
        }
        let mut bump = |page: &str, t: DateTime<Utc>, by: &str| {
            if let Some(cur) = latest.get_mut(page) {
                if t > cur.0 {
                    *cur = (t, by.to_string());
                }
            }
        };
        for b in self.ws.blocks.values() {
            bump(&b.page_id, b.last_edited_time, &b.last_edited_by);
        }
        for p in self.ws.pages.values() {
            for v in p.props.values() {
                let Val::Relation(targets) = v else { continue };
                for t in targets.iter().filter_map(|t| self.ws.pages.get(t)) {
                    if t.created_time > p.created_time {
                        bump(&p.id, t.created_time, &t.created_by);
                    }
                }
            }
        }
        for (id, (t, by)) in latest {
            if let Some(p) = self.ws.pages.get_mut(&id) {
                p.last_edited_time = t;
                p.last_edited_by = by;
            }
        }
        let rows: Vec<(String, DateTime<Utc>)> = self
            .ws
            .pages
            .values()
            .filter_map(|p| match &p.parent {
                Parent::DataSource(ds) => Some((ds.clone(), p.created_time)),
                _ => None,
            })
            .collect();
        for (ds, t) in rows {
            if let Some(d) = self.ws.data_sources.get_mut(&ds) {
                d.last_edited_time = d.last_edited_time.max(t);
            }
        }
        let sources: Vec<(String, DateTime<Utc>)> = self
            .ws
            .data_sources
            .values()
            .map(|d| (d.database_id.clone(), d.created_time))
            .collect();
        for (db, t) in sources {
            if let Some(d) = self.ws.databases.get_mut(&db) {
                d.last_edited_time = d.last_edited_time.max(t);
            }
        }
    }
}
