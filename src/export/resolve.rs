//! Naming a page on the command line: an id in any form (dashed, undashed, any case), a
//! Notion URL, or a title (exact, then case-insensitive; several matches are ambiguous).
//!
//! Invariant: a query resolves to exactly one page or database of the mirror, or to a
//! typed error that lists what matched (ambiguous) or what came close (not found).

use super::load::Snapshot;
use super::ExportError;
use crate::ids;

/// What a query named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Page(String),
    Database(String),
}

impl Target {
    pub fn id(&self) -> &str {
        match self {
            Target::Page(id) | Target::Database(id) => id,
        }
    }
}

/// One match shown to the user when a title is ambiguous.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: String,
    pub kind: &'static str,
    pub title: String,
    /// Where it sits: the titles of its ancestors, outermost first.
    pub location: String,
}

/// The id inside a Notion URL: the last 32 hex digits (or dashed UUID) of the last path
/// segment; the query string (`?v=` view ids, `?pvs=`) and fragment are ignored.
pub fn id_from_url(url: &str) -> Option<String> {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let path = rest.split(['?', '#']).next()?;
    let segment = path.trim_end_matches('/').rsplit('/').next()?;
    if let Some(id) = ids::normalize(segment) {
        return Some(id);
    }
    let hex: Vec<char> = segment.chars().collect();
    let tail: String = hex.iter().rev().take(32).rev().collect();
    ids::normalize(&tail)
}

/// Resolves `query` against the mirror.
pub fn resolve(snap: &Snapshot, query: &str) -> Result<Target, ExportError> {
    let query = query.trim();
    let as_id = if query.starts_with("http://") || query.starts_with("https://") {
        id_from_url(query)
    } else {
        ids::normalize(query)
    };
    if let Some(id) = as_id {
        if snap.pages.contains_key(&id) {
            return Ok(Target::Page(id));
        }
        if snap.databases.contains_key(&id) {
            return Ok(Target::Database(id));
        }
        if let Some(db) = snap.sources.get(&id).and_then(|s| s.database_id.clone()) {
            if snap.databases.contains_key(&db) {
                return Ok(Target::Database(db));
            }
        }
        return Err(ExportError::NotFound(format!(
            "no page or database with id {id} in the mirror"
        )));
    }
    let exact = by_title(snap, |t| t == query);
    let matches = if exact.is_empty() {
        let folded = query.to_lowercase();
        by_title(snap, |t| t.to_lowercase() == folded)
    } else {
        exact
    };
    if matches.len() > 1 {
        return Err(ExportError::Ambiguous {
            query: query.to_string(),
            candidates: matches
                .into_iter()
                .map(|(t, title)| candidate(snap, t, title))
                .collect(),
        });
    }
    match matches.into_iter().next() {
        Some((target, _)) => Ok(target),
        None => Err(ExportError::NotFound(not_found(snap, query))),
    }
}

/// Live pages and databases whose title satisfies `pred`, in id order.
fn by_title(snap: &Snapshot, pred: impl Fn(&str) -> bool) -> Vec<(Target, String)> {
    let pages = snap
        .pages
        .values()
        .filter(|p| !p.in_trash && pred(&p.title))
        .map(|p| (Target::Page(p.id.clone()), p.title.clone()));
    let dbs = snap
        .databases
        .values()
        .filter(|d| !d.in_trash && pred(&d.title))
        .map(|d| (Target::Database(d.id.clone()), d.title.clone()));
    pages.chain(dbs).collect()
}

fn not_found(snap: &Snapshot, query: &str) -> String {
    let folded = query.to_lowercase();
    let mut close: Vec<String> = by_title(snap, |t| t.to_lowercase().contains(&folded))
        .into_iter()
        .map(|(_, t)| format!("\"{t}\""))
        .take(5)
        .collect();
    close.dedup();
    if close.is_empty() {
        format!("no page or database titled \"{query}\" in the mirror")
    } else {
        format!(
            "no page or database titled \"{query}\" in the mirror; titles containing it: {}",
            close.join(", ")
        )
    }
}

fn candidate(snap: &Snapshot, target: Target, title: String) -> Candidate {
    let kind = match target {
        Target::Page(_) => "page",
        Target::Database(_) => "database",
    };
    let mut names = Vec::new();
    let mut cur = target.id().to_string();
    for _ in 0..64 {
        let parent = snap
            .pages
            .get(&cur)
            .map(|p| &p.parent)
            .or_else(|| snap.databases.get(&cur).map(|d| &d.parent));
        let next = match parent {
            Some(super::load::ParentRef::Page(p)) | Some(super::load::ParentRef::Database(p)) => {
                Some(p.clone())
            }
            Some(super::load::ParentRef::Block(b)) => snap.block_pages.get(b).cloned(),
            Some(super::load::ParentRef::DataSource(ds)) => {
                snap.sources.get(ds).and_then(|s| s.database_id.clone())
            }
            _ => None,
        };
        let Some(next) = next else { break };
        let name = snap
            .pages
            .get(&next)
            .map(|p| p.title.clone())
            .or_else(|| snap.databases.get(&next).map(|d| d.title.clone()));
        match name {
            Some(n) => names.push(n),
            None => break,
        }
        cur = next;
    }
    names.reverse();
    Candidate {
        id: target.id().to_string(),
        kind,
        title,
        location: if names.is_empty() {
            "(top level)".to_string()
        } else {
            names.join(" / ")
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_out_of_notion_urls() {
        let id = "be633bf1-dfa0-436d-b259-571129a590e5";
        for url in [
            "https://www.notion.so/Roadmap-be633bf1dfa0436db259571129a590e5",
            "https://www.notion.so/acme/Roadmap-be633bf1dfa0436db259571129a590e5?pvs=4",
            "https://www.notion.so/be633bf1dfa0436db259571129a590e5#abc",
            "https://notion.so/acme/be633bf1-dfa0-436d-b259-571129a590e5/",
            "https://www.notion.so/acme/BE633BF1DFA0436DB259571129A590E5?v=0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(id_from_url(url).as_deref(), Some(id), "{url}");
        }
        assert_eq!(id_from_url("https://www.notion.so/Roadmap"), None);
    }
}
