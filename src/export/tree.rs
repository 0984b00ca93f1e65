//! The export's file layout: which pages and databases are exported, where each one's
//! `.md` goes (following the page tree: children in a folder named like their parent's
//! file), where each data source's `.csv` goes, and relative links between them.
//!
//! Invariant: every path is a list of components made by [`super::slug::stem`] (plus a
//! fixed extension), so no component is empty, `.`, `..` or contains a separator; and no
//! two objects share a path (siblings whose stems collide get the id's full hex).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::load::{ParentRef, Snapshot};
use super::slug;

/// A path relative to the export root, as components.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelPath(pub Vec<String>);

impl RelPath {
    /// The `/`-joined form (state file keys, printed lines, links).
    pub fn display(&self) -> String {
        self.0.join("/")
    }

    /// The path under `root`.
    pub fn under(&self, root: &Path) -> PathBuf {
        let mut p = root.to_path_buf();
        for c in &self.0 {
            p.push(c);
        }
        p
    }

    /// The components of the folder holding this file.
    pub fn dir(&self) -> &[String] {
        &self.0[..self.0.len().saturating_sub(1)]
    }

    /// A sibling-relative child: `self`'s folder plus `name`.
    pub fn with_file(dir: &[String], name: String) -> RelPath {
        let mut v = dir.to_vec();
        v.push(name);
        RelPath(v)
    }

    /// Parses a `/`-joined path from the state file, refusing anything that could leave
    /// the export root (absolute, `.`/`..`, empty components, backslashes, NUL).
    pub fn parse_safe(s: &str) -> Option<RelPath> {
        let parts: Vec<String> = s.split('/').map(str::to_string).collect();
        let ok = parts
            .iter()
            .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains(['\\', '\0', ':']));
        ok.then_some(RelPath(parts))
    }
}

/// The link from a file at `from` to the file at `to`, relative to `from`'s folder.
pub fn relative_link(from: &RelPath, to: &RelPath) -> String {
    let from_dir = from.dir();
    let common = from_dir
        .iter()
        .zip(to.0.iter())
        .take_while(|(a, b)| a == b)
        .count();
    let common = common.min(to.0.len().saturating_sub(1));
    let mut parts: Vec<&str> = vec![".."; from_dir.len() - common];
    parts.extend(to.0[common..].iter().map(String::as_str));
    parts.join("/")
}

/// What is exported and where.
#[derive(Debug, Default)]
pub struct Layout {
    /// Page or database id → its `.md` file.
    pub files: HashMap<String, RelPath>,
    /// Data source id → its `.csv` file.
    pub csv: HashMap<String, RelPath>,
    /// Exported pages, in path order.
    pub pages: Vec<String>,
    /// Exported databases, in path order.
    pub databases: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum NodeKind {
    Page,
    Database,
}

/// Longest parent chain followed; deeper (or cyclic) objects are placed at the top.
const MAX_DEPTH: usize = 256;

impl Layout {
    /// Lays out every live page and database (or only `root` and what is under it).
    pub fn build(snap: &Snapshot, root: Option<&str>) -> Layout {
        let nodes = live_nodes(snap);
        let parent_of = |id: &str| -> Option<String> {
            let (kind, _) = nodes.get(id)?;
            let parent = match kind {
                NodeKind::Page => snap.pages.get(id).map(|p| &p.parent),
                NodeKind::Database => snap.databases.get(id).map(|d| &d.parent),
            }?;
            let candidate = match parent {
                ParentRef::Page(p) | ParentRef::Database(p) => Some(p.clone()),
                ParentRef::Block(b) => snap.block_pages.get(b).cloned(),
                ParentRef::DataSource(ds) => {
                    snap.sources.get(ds).and_then(|s| s.database_id.clone())
                }
                ParentRef::Workspace | ParentRef::Other => None,
            }?;
            nodes.contains_key(&candidate).then_some(candidate)
        };
        let mut parents: HashMap<String, Option<String>> = HashMap::new();
        for id in nodes.keys() {
            let chain = chain_of(id, &parent_of);
            let included = match root {
                None => true,
                Some(r) => chain.iter().any(|c| c == r),
            };
            if !included {
                continue;
            }
            let parent = if Some(id.as_str()) == root {
                None
            } else {
                chain.get(1).cloned()
            };
            parents.insert(id.clone(), parent);
        }
        let mut layout = Layout::default();
        layout.place(snap, &nodes, &parents);
        layout
    }

    fn place(
        &mut self,
        snap: &Snapshot,
        nodes: &BTreeMap<String, (NodeKind, String)>,
        parents: &HashMap<String, Option<String>>,
    ) {
        // Folder (by owning object; None = root) → its entries (id, title, extension).
        let mut folders: BTreeMap<Option<String>, Vec<(String, String, &'static str)>> =
            BTreeMap::new();
        for (id, parent) in parents {
            if let Some((_, title)) = nodes.get(id) {
                folders
                    .entry(parent.clone())
                    .or_default()
                    .push((id.clone(), title.clone(), "md"));
            }
        }
        for id in parents.keys() {
            if matches!(nodes.get(id), Some((NodeKind::Database, _))) {
                for ds in snap.sources_of(id) {
                    folders.entry(Some(id.clone())).or_default().push((
                        ds.id.clone(),
                        ds.title.clone(),
                        "csv",
                    ));
                }
            }
        }
        let mut stems: HashMap<String, String> = HashMap::new();
        for entries in folders.values() {
            let mut count: HashMap<String, usize> = HashMap::new();
            for (id, title, _) in entries {
                *count.entry(slug::stem(title, id, false)).or_default() += 1;
            }
            for (id, title, _) in entries {
                let short = slug::stem(title, id, false);
                let full = count.get(&short).copied().unwrap_or(0) > 1;
                stems.insert(id.clone(), slug::stem(title, id, full));
            }
        }
        let mut dirs: HashMap<String, Vec<String>> = HashMap::new();
        for id in parents.keys() {
            let dir = folder_of(id, parents, &stems, &mut dirs);
            if let Some(stem) = stems.get(id) {
                let path = RelPath::with_file(&dir, format!("{stem}.md"));
                self.files.insert(id.clone(), path);
            }
        }
        for (owner, entries) in &folders {
            let Some(owner) = owner else { continue };
            let dir = folder_of(owner, parents, &stems, &mut dirs);
            let mut own = dir.clone();
            if let Some(stem) = stems.get(owner) {
                own.push(stem.clone());
            }
            for (id, _, ext) in entries.iter().filter(|e| e.2 == "csv") {
                if let Some(stem) = stems.get(id) {
                    self.csv.insert(
                        id.clone(),
                        RelPath::with_file(&own, format!("{stem}.{ext}")),
                    );
                }
            }
        }
        let mut ordered: Vec<(&RelPath, &String)> =
            self.files.iter().map(|(id, p)| (p, id)).collect();
        ordered.sort();
        for (_, id) in ordered {
            match nodes.get(id) {
                Some((NodeKind::Page, _)) => self.pages.push(id.clone()),
                Some((NodeKind::Database, _)) => self.databases.push(id.clone()),
                None => {}
            }
        }
    }

    /// The `.md` file of a page or database, when exported.
    pub fn file_of(&self, id: &str) -> Option<&RelPath> {
        self.files.get(id)
    }

    /// The folder holding an object's children (its file's stem).
    pub fn folder_of(&self, id: &str) -> Option<Vec<String>> {
        let file = self.files.get(id)?;
        let mut dir = file.dir().to_vec();
        let name = file.0.last()?;
        dir.push(name.strip_suffix(".md").unwrap_or(name).to_string());
        Some(dir)
    }
}

/// Live pages and databases with their display titles. Rows of a trashed data source or
/// database count as trashed.
fn live_nodes(snap: &Snapshot) -> BTreeMap<String, (NodeKind, String)> {
    let mut nodes = BTreeMap::new();
    for db in snap.databases.values().filter(|d| !d.in_trash) {
        nodes.insert(db.id.clone(), (NodeKind::Database, db.title.clone()));
    }
    for page in snap.pages.values().filter(|p| !p.in_trash) {
        let source_trashed = page.data_source_id.as_ref().is_some_and(|ds| {
            snap.sources.get(ds).is_some_and(|s| {
                s.in_trash
                    || s.database_id
                        .as_ref()
                        .and_then(|db| snap.databases.get(db))
                        .is_some_and(|d| d.in_trash)
            })
        });
        if !source_trashed {
            nodes.insert(page.id.clone(), (NodeKind::Page, page.title.clone()));
        }
    }
    nodes
}

/// `id` followed by its ancestors (nearest first); an object in a cycle or deeper than
/// [`MAX_DEPTH`] is treated as top-level.
fn chain_of(id: &str, parent_of: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let mut chain = vec![id.to_string()];
    let mut seen: HashSet<String> = HashSet::from([id.to_string()]);
    let mut cur = id.to_string();
    while let Some(p) = parent_of(&cur) {
        if !seen.insert(p.clone()) || chain.len() > MAX_DEPTH {
            return vec![id.to_string()];
        }
        chain.push(p.clone());
        cur = p;
    }
    chain
}

/// The folder components holding `id`'s file (memoized).
fn folder_of(
    id: &str,
    parents: &HashMap<String, Option<String>>,
    stems: &HashMap<String, String>,
    memo: &mut HashMap<String, Vec<String>>,
) -> Vec<String> {
    if let Some(dir) = memo.get(id) {
        return dir.clone();
    }
    let dir = match parents.get(id).cloned().flatten() {
        None => Vec::new(),
        Some(parent) => {
            let mut dir = folder_of(&parent, parents, stems, memo);
            if let Some(stem) = stems.get(&parent) {
                dir.push(stem.clone());
            }
            dir
        }
    };
    memo.insert(id.to_string(), dir.clone());
    dir
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> RelPath {
        RelPath(s.split('/').map(str::to_string).collect())
    }

    #[test]
    fn relative_links_climb_only_as_far_as_needed() {
        assert_eq!(relative_link(&p("a.md"), &p("b.md")), "b.md");
        assert_eq!(relative_link(&p("a.md"), &p("a/b.md")), "a/b.md");
        assert_eq!(relative_link(&p("a/b.md"), &p("c.md")), "../c.md");
        assert_eq!(relative_link(&p("a/b/c.md"), &p("a/d/e.md")), "../d/e.md");
        assert_eq!(relative_link(&p("a/b.md"), &p("a.md")), "../a.md");
        assert_eq!(relative_link(&p("a/b.md"), &p("a/b.md")), "b.md");
    }

    #[test]
    fn unsafe_state_paths_are_refused() {
        for bad in [
            "../x.md",
            "/etc/passwd",
            "a//b",
            "a/./b",
            "a\\..\\b",
            "",
            "c:x",
        ] {
            assert!(RelPath::parse_safe(bad).is_none(), "{bad}");
        }
        assert_eq!(RelPath::parse_safe("a/b.md"), Some(p("a/b.md")));
    }
}
