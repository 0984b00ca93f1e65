//! Notion-hosted files in every place the API shows them: page covers and icons, database
//! and data source icons, and (in benchmark-sized workspaces) `image`/`pdf`/`file` blocks
//! at the end of some pages. The Tasks rows' `Attachments` values, the roadmap image in a
//! column and the showcase photo are made with their fixtures. Some covers are shared by
//! two pages (one key, referenced twice) and icons come in four contents (several keys,
//! one blob each).
//!
//! Invariant: added after the fixtures and the filler with an RNG of its own, drawing
//! nothing from the generator's or the workspace's RNG, so every other id, value and
//! timestamp of a seed's workspace stays as it was; new blocks come last in their page
//! and are as old as the page, and only workspaces above [`MEDIA_BLOCKS_ABOVE`] pages get
//! them (random mutations sample blocks, so the test workspaces keep their block sets and
//! every seeded mutation sequence its targets).

use serde_json::{json, Value};

use super::files::{derived_id, seed_of, HostedFile};
use super::generate::Gen;
use super::model::{Block, Holder, Parent};
use super::util::SimRng;

const COVER: f64 = 0.08;
const SHARED_COVER: f64 = 0.25;
const ICON: f64 = 0.04;
const MEDIA_BLOCK: f64 = 0.1;
const CONTAINER_ICON: f64 = 0.2;
/// Workspaces with more pages than this (the benchmark's) get media blocks.
pub(crate) const MEDIA_BLOCKS_ABOVE: usize = 400;

/// Adds hosted files to the workspace `g` built (not to the Markdown showcase, whose
/// golden export stays as small as it is).
pub(crate) fn attach(g: &mut Gen) {
    if g.cfg.showcase {
        return;
    }
    let mut rng = SimRng::new(g.cfg.seed ^ 0xF11E_5EED);
    let mut last_cover: Option<HostedFile> = None;
    let mut blocks = 0;
    let ids: Vec<String> = g.ws.pages.keys().cloned().collect();
    for id in ids {
        let Some((row, empty_cover, empty_icon, has_content)) = g.ws.pages.get(&id).map(|p| {
            (
                matches!(p.parent, Parent::DataSource(_)),
                p.cover.is_null(),
                p.icon.is_null(),
                !p.children.is_empty(),
            )
        }) else {
            continue;
        };
        if empty_cover && rng.chance(COVER) {
            let file = match last_cover.clone() {
                Some(shared) if rng.chance(SHARED_COVER) => shared,
                _ => {
                    let size = rng.range(20, 200) as u64 * 1024;
                    new_file(g, &mut rng, "cover.jpg", size, None)
                }
            };
            set_page(g, &id, "cover", file.object());
            last_cover = Some(file);
        }
        if empty_icon && rng.chance(ICON) {
            let file = icon(g, &mut rng);
            set_page(g, &id, "icon", file.object());
        }
        let media = g.cfg.pages > MEDIA_BLOCKS_ABOVE;
        if media && !row && has_content && (blocks == 0 || rng.chance(MEDIA_BLOCK)) {
            media_block(g, &mut rng, &id);
            blocks += 1;
        }
    }
    let databases: Vec<String> = g.ws.databases.keys().cloned().collect();
    for (i, id) in databases.iter().enumerate() {
        let empty = g.ws.databases.get(id).is_some_and(|d| d.icon.is_null());
        if empty && (i == 0 || rng.chance(CONTAINER_ICON)) {
            let file = icon(g, &mut rng);
            if let Some(d) = g.ws.databases.get_mut(id) {
                d.icon = file.object();
            }
        }
    }
    let sources: Vec<String> = g.ws.data_sources.keys().cloned().collect();
    for (i, id) in sources.iter().enumerate() {
        let empty = g.ws.data_sources.get(id).is_some_and(|d| d.icon.is_null());
        if empty && (i == 0 || rng.chance(CONTAINER_ICON)) {
            let file = icon(g, &mut rng);
            if let Some(d) = g.ws.data_sources.get_mut(id) {
                d.icon = file.object();
            }
        }
    }
}

/// A new hosted file with its own id (and, unless given, its own content).
fn new_file(
    g: &mut Gen,
    rng: &mut SimRng,
    name: &str,
    size: u64,
    content_seed: Option<u64>,
) -> HostedFile {
    let id = loop {
        let id = rng.uuid();
        if !g.ws.files.contains_key(&id) {
            break id;
        }
    };
    let seed = content_seed.unwrap_or_else(|| seed_of(&id));
    g.ws.add_hosted_file(HostedFile::new(&id, name, size, seed))
}

/// An icon: one of four images, each stored under many keys.
fn icon(g: &mut Gen, rng: &mut SimRng) -> HostedFile {
    let variant = rng.index(4);
    let size = 1024 * (variant as u64 + 1) * 2;
    let seed = seed_of(&format!("icon-{variant}"));
    new_file(g, rng, "icon.png", size, Some(seed))
}

fn set_page(g: &mut Gen, id: &str, field: &str, value: Value) {
    if let Some(p) = g.ws.pages.get_mut(id) {
        match field {
            "cover" => p.cover = value,
            _ => p.icon = value,
        }
    }
}

/// An `image`, `pdf` or `file` block with a hosted file, last in the page.
fn media_block(g: &mut Gen, rng: &mut SimRng, page_id: &str) {
    let (kind, name) = match rng.index(5) {
        0..=2 => ("image", "diagram.png"),
        3 => ("pdf", "report.pdf"),
        _ => ("file", "notes.txt"),
    };
    let size = rng.range(10, 300) as u64 * 1024;
    let file = new_file(g, rng, name, size, None);
    let mut data = json!({ "caption": [], "type": "file", "file": file.unsigned() });
    if kind == "file" {
        data["name"] = json!(name);
    }
    let Some((created, by)) =
        g.ws.pages
            .get(page_id)
            .map(|p| (p.created_time, p.created_by.clone()))
    else {
        return;
    };
    let id = loop {
        let id = rng.uuid();
        if g.ws.kind_of(&id).is_none() {
            break id;
        }
    };
    let seq = g.ws.next_seq();
    g.ws.blocks.insert(
        id.clone(),
        Block {
            id: id.clone(),
            seq,
            page_id: page_id.to_string(),
            parent: Holder::Page(page_id.to_string()),
            created_time: created,
            last_edited_time: created,
            created_by: by.clone(),
            last_edited_by: by,
            btype: kind.to_string(),
            data,
            children: Vec::new(),
            in_trash: false,
        },
    );
    if let Some(p) = g.ws.pages.get_mut(page_id) {
        p.children.push(id);
    }
}

/// A hosted `files` value entry for a fixture (`name`, deterministic id from `key`): the
/// Tasks rows' `spec.pdf`.
pub(crate) fn fixture_file(g: &mut Gen, key: &str, name: &str) -> Value {
    let id = derived_id(key);
    let size = 8 * 1024 + seed_of(&id) % (88 * 1024);
    let file =
        g.ws.add_hosted_file(HostedFile::new(&id, name, size, seed_of(&id)));
    json!({ "name": name, "type": "file", "file": file.unsigned() })
}
