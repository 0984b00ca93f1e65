//! `notion-mirror cat` and `export` on a mirror synced from the simulator: the golden export
//! of the fixed workspace (byte for byte), a CommonMark round trip of every block's text,
//! incremental re-exports, `--check`, `cat` by id, URL and title, and titles or state
//! files that try to climb out of the export directory.
//!
//! Regenerate the golden files after an intended rendering change with
//! `UPDATE_GOLDEN=1 cargo test --test export` and review the diff.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::TimeZone;
use notion_mirror::config::Config;
use notion_mirror::export::{self, incremental::STATE_FILE, ExportOptions};
use notion_mirror::sim::{fixtures as fx, GenConfig, Knobs, Mutation, Sim, SimConfig};
use notion_mirror::sync::SyncEnd;
use notion_mirror::verify::Scope;
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// The showcase workspace, generated against a fixed clock so every byte is stable.
async fn showcase() -> (Sim, tempfile::TempDir, Config) {
    let mut config = SimConfig::new(GenConfig::showcase(1));
    config.knobs = Knobs::unlimited();
    config.now = chrono::Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).single();
    let sim = Sim::start(config).await.expect("simulator starts");
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(&sim, dir.path());
    sync(&config).await;
    (sim, dir, config)
}

async fn sync(config: &Config) {
    match common::sync(config).await {
        SyncEnd::Complete(_) => {}
        other => panic!("sync did not complete: {other:?}"),
    }
}

fn export_to(config: &Config, out: &Path, check: bool) -> export::ExportReport {
    let options = ExportOptions {
        check,
        ..ExportOptions::default()
    };
    export::export_mirror(&config.db_path, out, &options).expect("export runs")
}

/// Every file under `root` (relative path → bytes), the state file excepted.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .to_string();
                if rel != STATE_FILE {
                    out.insert(rel, std::fs::read(&path).unwrap());
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    if root.exists() {
        walk(root, root, &mut out);
    }
    out
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/export")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fixed_workspace_exports_exactly_the_golden_files() {
    let (sim, dir, config) = showcase().await;
    common::assert_mirror_equals(&sim, &config, Scope::default());
    let out = dir.path().join("export");
    let report = export_to(&config, &out, false);
    assert!(report.pages > 50 && report.databases >= 8, "{report:?}");
    let got = tree(&out);
    let golden = golden_dir();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let _ = std::fs::remove_dir_all(&golden);
        for (rel, bytes) in &got {
            let path = golden.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
        eprintln!("golden files rewritten in {}", golden.display());
        return;
    }
    let want = tree(&golden);
    let missing: Vec<&String> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    let extra: Vec<&String> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "file sets differ (UPDATE_GOLDEN=1 cargo test --test export regenerates)\nmissing: {missing:?}\nextra: {extra:?}"
    );
    for (rel, bytes) in &want {
        let mine = &got[rel];
        if mine != bytes {
            let a = String::from_utf8_lossy(bytes);
            let b = String::from_utf8_lossy(mine);
            let line = a
                .lines()
                .zip(b.lines())
                .position(|(x, y)| x != y)
                .unwrap_or(a.lines().count().min(b.lines().count()));
            panic!(
                "{rel} differs from its golden file at line {}:\n golden: {:?}\n    now: {:?}\n(UPDATE_GOLDEN=1 cargo test --test export regenerates)",
                line + 1,
                a.lines().nth(line),
                b.lines().nth(line)
            );
        }
    }
    sim.shutdown().await;
}

/// Text of a Markdown document as a CommonMark/GFM parser sees it (front matter and HTML
/// comments dropped, tags stripped, entities decoded), whitespace collapsed.
fn parsed_text(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_MATH
        | Options::ENABLE_YAML_STYLE_METADATA_BLOCKS;
    let mut out = String::new();
    let mut in_metadata = false;
    for event in Parser::new_ext(markdown, options) {
        match event {
            Event::Start(Tag::MetadataBlock(_)) => in_metadata = true,
            Event::End(TagEnd::MetadataBlock(_)) => in_metadata = false,
            _ if in_metadata => {}
            Event::Text(t) | Event::Code(t) | Event::InlineMath(t) | Event::DisplayMath(t) => {
                out.push_str(&t)
            }
            Event::Html(h) | Event::InlineHtml(h) => out.push_str(&strip_html(&h)),
            Event::Start(
                Tag::Emphasis
                | Tag::Strong
                | Tag::Strikethrough
                | Tag::Link { .. }
                | Tag::Image { .. },
            )
            | Event::End(
                TagEnd::Emphasis
                | TagEnd::Strong
                | TagEnd::Strikethrough
                | TagEnd::Link
                | TagEnd::Image,
            ) => {}
            Event::SoftBreak | Event::HardBreak | Event::Start(_) | Event::End(_) => out.push(' '),
            _ => {}
        }
    }
    squash(&out)
}

fn strip_html(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(start) = rest.find(['<', '&']) {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        if rest.starts_with("<!--") {
            let end = rest.find("-->").map(|e| e + 3).unwrap_or(rest.len());
            rest = &rest[end..];
        } else if rest.starts_with('<') {
            let end = rest.find('>').map(|e| e + 1).unwrap_or(rest.len());
            if rest[..end].starts_with("<br") {
                out.push(' ');
            }
            rest = &rest[end..];
        } else {
            let entities = [
                ("&amp;", "&"),
                ("&lt;", "<"),
                ("&gt;", ">"),
                ("&quot;", "\""),
            ];
            match entities.iter().find(|(e, _)| rest.starts_with(e)) {
                Some((e, c)) => {
                    out.push_str(c);
                    rest = &rest[e.len()..];
                }
                None => {
                    out.push('&');
                    rest = &rest[1..];
                }
            }
        }
    }
    out.push_str(rest);
    out
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The plain text of each block of a page, in reading order (depth first).
fn block_texts(conn: &rusqlite::Connection, page: &str) -> Vec<String> {
    let mut stmt = conn
        .prepare("SELECT id, parent_id, raw FROM blocks WHERE page_id = ?1 AND in_trash = 0 ORDER BY parent_id, position")
        .unwrap();
    let mut children: BTreeMap<String, Vec<(String, serde_json::Value)>> = BTreeMap::new();
    let rows = stmt
        .query_map([page], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .unwrap();
    for row in rows {
        let (id, parent, raw) = row.unwrap();
        children
            .entry(parent)
            .or_default()
            .push((id, serde_json::from_str(&raw).unwrap()));
    }
    fn walk(
        parent: &str,
        children: &BTreeMap<String, Vec<(String, serde_json::Value)>>,
        out: &mut Vec<String>,
    ) {
        let plain = |v: Option<&serde_json::Value>| {
            v.map(notion_mirror::mirror::text::rich_text)
                .unwrap_or_default()
        };
        for (id, raw) in children.get(parent).map(Vec::as_slice).unwrap_or(&[]) {
            let kind = raw["type"].as_str().unwrap_or("");
            let body = &raw[kind];
            match kind {
                "table_row" => {
                    for cell in body["cells"].as_array().into_iter().flatten() {
                        out.push(plain(Some(cell)));
                    }
                }
                "child_page" | "child_database" => {
                    out.push(body["title"].as_str().unwrap_or("").into())
                }
                "equation" => out.push(body["expression"].as_str().unwrap_or("").into()),
                _ => {
                    out.push(plain(body.get("rich_text")));
                    out.push(plain(body.get("caption")));
                }
            }
            walk(id, children, out);
        }
    }
    let mut out = Vec::new();
    walk(page, &children, &mut out);
    out.into_iter()
        .map(|t| squash(&t))
        .filter(|t| !t.is_empty())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_blocks_text_comes_back_from_a_commonmark_parser_in_order() {
    let (sim, dir, config) = showcase().await;
    let out = dir.path().join("export");
    export_to(&config, &out, false);
    let conn = common::open(&config);
    let mut pages_checked = 0;
    let mut blocks_checked = 0;
    for (rel, bytes) in tree(&out).iter().filter(|(k, _)| k.ends_with(".md")) {
        let markdown = String::from_utf8(bytes.clone()).unwrap();
        let id = markdown
            .lines()
            .find_map(|l| l.strip_prefix("id: \""))
            .map(|l| l.trim_end_matches('"').to_string())
            .unwrap();
        let is_page: i64 = conn
            .query_row("SELECT count(*) FROM pages WHERE id = ?1", [&id], |r| {
                r.get(0)
            })
            .unwrap();
        if is_page == 0 {
            continue;
        }
        let text = parsed_text(&markdown);
        let mut cursor = 0;
        let texts = block_texts(&conn, &id);
        for expected in &texts {
            match text[cursor..].find(expected.as_str()) {
                Some(at) => cursor += at + expected.len(),
                None => panic!(
                    "{rel}: block text {expected:?} not found (in order) in the parsed Markdown:\n{}\nall block texts: {texts:#?}",
                    &text[cursor..]
                ),
            }
            blocks_checked += 1;
        }
        pages_checked += 1;
    }
    assert!(pages_checked > 50, "{pages_checked} pages checked");
    assert!(blocks_checked > 200, "{blocks_checked} blocks checked");
    sim.shutdown().await;
}

/// The path (relative to the export) of the page or database titled `title`.
fn path_of(out: &Path, title: &str) -> String {
    let want = format!("title: {}", serde_json::to_string(title).unwrap());
    let hits: Vec<String> = tree(out)
        .into_iter()
        .filter(|(k, v)| {
            k.ends_with(".md") && String::from_utf8_lossy(v).lines().any(|l| l == want)
        })
        .map(|(k, _)| k)
        .collect();
    assert_eq!(hits.len(), 1, "one file titled {title:?}: {hits:?}");
    hits[0].clone()
}

fn id_of(config: &Config, title: &str) -> String {
    common::open(config)
        .query_row(
            "SELECT id FROM pages WHERE title = ?1 AND in_trash = 0",
            [title],
            |r| r.get(0),
        )
        .unwrap()
}

fn notion_mirror(config: &Config, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(common::binary())
        .args(args)
        .env_clear()
        .env("HOME", config.db_path.parent().unwrap())
        .env("NOTION_MIRROR_DB", &config.db_path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_export_rewrites_only_what_changed_and_removes_what_left() {
    let (sim, dir, config) = showcase().await;
    let out = dir.path().join("export");
    let out_arg = out.to_str().unwrap();
    let first = export_to(&config, &out, false);
    assert!(first.outcome.written.len() > 60, "{first:?}");
    let again = export_to(&config, &out, false);
    assert!(again.outcome.written.is_empty() && again.outcome.removed.is_empty());
    assert_eq!(again.outcome.unchanged, first.outcome.written.len());
    let (code, stdout, _) = notion_mirror(&config, &["export", out_arg, "--check"]);
    assert_eq!(code, 0, "an up-to-date export passes --check: {stdout}");

    // Edit one paragraph of one page: only that page's file changes.
    let cafe = path_of(&out, fx::CAFE);
    let block: String = common::open(&config)
        .query_row(
            "SELECT id FROM blocks WHERE page_id = ?1 AND type = 'paragraph' ORDER BY position LIMIT 1",
            [id_of(&config, fx::CAFE)],
            |r| r.get(0),
        )
        .unwrap();
    sim.mutate(Mutation::EditBlock {
        block_id: block,
        text: "Edited after the first export.".into(),
    })
    .unwrap();
    sync(&config).await;
    let check = export_to(&config, &out, true);
    assert_eq!(
        check.outcome.written,
        vec![cafe.clone()],
        "--check names the stale file"
    );
    let (code, stdout, _) = notion_mirror(&config, &["export", out_arg, "--check"]);
    assert_eq!(code, 1, "a stale export fails --check: {stdout}");
    assert!(stdout.contains(&format!("stale {cafe}")), "{stdout}");
    let edited = export_to(&config, &out, false);
    assert_eq!(edited.outcome.written, vec![cafe.clone()]);
    assert!(edited.outcome.removed.is_empty());
    let text = std::fs::read_to_string(out.join(&cafe)).unwrap();
    assert!(text.contains("Edited after the first export."), "{text}");

    // Trash a page: its file goes, and so does the link in its parent's content.
    let twins: Vec<String> = tree(&out)
        .keys()
        .filter(|k| k.contains("/twin-"))
        .cloned()
        .collect();
    assert_eq!(twins.len(), 2, "{twins:?}");
    let twin_id: String = common::open(&config)
        .query_row(
            "SELECT id FROM pages WHERE title = ?1 ORDER BY id LIMIT 1",
            [fx::SHOWCASE_TWIN],
            |r| r.get(0),
        )
        .unwrap();
    let gone = twins
        .iter()
        .find(|p| p.contains(&twin_id[..8]))
        .unwrap()
        .clone();
    sim.mutate(Mutation::TrashPage { page_id: twin_id })
        .unwrap();
    sync(&config).await;
    let (code, stdout, _) = notion_mirror(&config, &["export", out_arg]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains(&format!("removed {gone}")), "{stdout}");
    assert!(!out.join(&gone).exists());
    let showcase = path_of(&out, fx::SHOWCASE);
    let written: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("wrote "))
        .collect();
    assert_eq!(written, vec![showcase.as_str()], "{stdout}");
    let (code, _, _) = notion_mirror(&config, &["export", out_arg, "--check"]);
    assert_eq!(code, 0);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cat_finds_a_page_by_id_url_and_title() {
    let (sim, _dir, config) = showcase().await;
    let id = id_of(&config, fx::CAFE);
    let url: String = common::open(&config)
        .query_row("SELECT url FROM pages WHERE id = ?1", [&id], |r| r.get(0))
        .unwrap();
    let undashed = id.replace('-', "").to_uppercase();
    let url_arg = format!("{url}?pvs=4");
    for query in [
        id.as_str(),
        undashed.as_str(),
        url_arg.as_str(),
        fx::CAFE,
        "CAFÉ \"ZOË\"",
    ] {
        let (code, stdout, stderr) = notion_mirror(&config, &["cat", query]);
        assert_eq!(code, 0, "cat {query}: {stderr}");
        assert!(
            stdout.starts_with(&format!("---\nid: \"{id}\"\n")),
            "cat {query}: {stdout}"
        );
        assert!(stdout.contains("\n# Café \"Zoë\"\n"), "{stdout}");
        assert!(stdout.contains("Crème brûlée"), "{stdout}");
    }
    let (code, stdout, _) = notion_mirror(&config, &["cat", &id, "--no-front-matter"]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("# Café \"Zoë\"\n"), "{stdout}");

    // Links point at Notion URLs; --depth inlines child pages.
    let (_, roadmap, _) = notion_mirror(&config, &["cat", fx::ROADMAP]);
    assert!(
        roadmap.contains(&format!("[Café \"Zoë\"]({url})")),
        "{roadmap}"
    );
    assert!(!roadmap.contains("Crème brûlée"));
    let (_, deep, _) = notion_mirror(&config, &["cat", fx::ROADMAP, "--depth", "1"]);
    assert!(deep.contains("# Café \"Zoë\"\n\nCrème brûlée"), "{deep}");

    // A database by title prints its index.
    let (code, index, _) = notion_mirror(&config, &["cat", fx::SHOWCASE_DB]);
    assert_eq!(code, 0);
    assert!(index.contains("| Name | Kind | Tags |"), "{index}");
    assert!(index.contains("Second \\| item"), "{index}");

    // Ambiguous titles exit 2 and list the candidates; unknown ones exit 1.
    let (code, _, stderr) = notion_mirror(&config, &["cat", fx::SHOWCASE_TWIN]);
    assert_eq!(code, 2, "{stderr}");
    let twins: Vec<String> = {
        let conn = common::open(&config);
        let mut stmt = conn
            .prepare("SELECT id FROM pages WHERE title = ?1")
            .unwrap();
        stmt.query_map([fx::SHOWCASE_TWIN], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(twins.len(), 2);
    for twin in &twins {
        assert!(stderr.contains(twin), "{stderr}");
    }
    assert!(
        stderr.contains(fx::SHOWCASE),
        "candidates say where they are: {stderr}"
    );
    let (code, _, stderr) = notion_mirror(&config, &["cat", "No such page"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("no page or database titled \"No such page\""),
        "{stderr}"
    );
    let (code, _, stderr) =
        notion_mirror(&config, &["cat", "00000000-0000-4000-8000-000000000000"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no page or database with id"), "{stderr}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn titles_and_state_files_cannot_reach_outside_the_export() {
    let (sim, dir, config) = showcase().await;
    let out = dir.path().join("export");
    let report = export_to(&config, &out, false);
    let root = out.canonicalize().unwrap();
    let files = tree(&out);
    assert_eq!(files.len(), report.outcome.written.len());
    for rel in files.keys() {
        let path = out.join(rel).canonicalize().unwrap();
        assert!(path.starts_with(&root), "{rel} is inside the export");
        for part in rel.split('/') {
            assert!(!part.starts_with('.') && !part.is_empty(), "{rel}");
            assert!(
                part.len() <= 120,
                "{rel}: component of {} bytes",
                part.len()
            );
        }
    }
    let outside: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        // `files/` holds the blobs the sync archived (docs/files.md), not export output.
        .filter(|n| !n.starts_with("mirror.db") && n != "export" && n != "files")
        .collect();
    assert!(
        outside.is_empty(),
        "nothing written beside the export: {outside:?}"
    );
    let mut titles: Vec<String> = fx::SHOWCASE_TRAVERSAL_TITLES
        .iter()
        .map(|t| t.to_string())
        .collect();
    titles.push(fx::showcase_forty_segments());
    for title in titles.iter().filter(|t| !t.is_empty()) {
        let path = path_of(&out, title);
        assert!(
            path.contains('/'),
            "{title:?} stays in its parent's folder: {path}"
        );
    }

    // A state file that names paths outside the export removes nothing there.
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "keep me").unwrap();
    let state_path = out.join(STATE_FILE);
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap();
    let entry = serde_json::json!({"id": "x", "sha256": "0", "size": 0});
    for bad in [
        "../victim.txt",
        "/etc/hostname",
        "a/../../victim.txt",
        "..\\victim.txt",
    ] {
        state["files"][bad] = entry.clone();
    }
    std::fs::write(&state_path, state.to_string()).unwrap();
    let again = export_to(&config, &out, false);
    assert_eq!(again.outcome.refused.len(), 4, "{:?}", again.outcome);
    assert!(victim.exists(), "the file outside the export survives");
    assert!(again.outcome.written.is_empty());

    // A folder replaced by a symlink is not written through.
    let showcase = path_of(&out, fx::SHOWCASE);
    let folder = out.join(showcase.trim_end_matches(".md"));
    std::fs::remove_dir_all(&folder).unwrap();
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &folder).unwrap();
    let err = export::export_mirror(&config.db_path, &out, &ExportOptions::default())
        .expect_err("writing through a symlinked folder is refused");
    assert!(err.to_string().contains("not a directory"), "{err}");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archived_attachments_are_copied_beside_their_page() {
    let (sim, dir, config) = showcase().await;
    // The sync archived the showcase's hosted photo: its `files` row and blob (docs/files.md).
    let (key, sha): (String, String) = common::open(&config)
        .query_row(
            "SELECT key, sha256 FROM files WHERE name = 'photo.jpg' AND status = 'stored'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let photo = sim
        .hosted_files()
        .into_iter()
        .find(|f| f.name == "photo.jpg")
        .unwrap();
    assert_eq!(sha, photo.sha256());
    let bytes = std::fs::read(dir.path().join("files").join(&sha[..2]).join(&sha)).unwrap();
    let out = dir.path().join("export");
    let report = export_to(&config, &out, false);
    assert!(report.files_table);
    assert_eq!(
        report.attachments, 2,
        "the photo and the roadmap image: {report:?}"
    );
    let showcase = path_of(&out, fx::SHOWCASE);
    let local = format!(
        "{}/files/{}-photo.jpg",
        showcase.trim_end_matches(".md"),
        &sha[..8]
    );
    assert_eq!(std::fs::read(out.join(&local)).unwrap(), bytes);
    let page = std::fs::read_to_string(out.join(&showcase)).unwrap();
    // The showcase page is at the top level, so the relative link is the path itself.
    assert!(!showcase.contains('/'));
    assert!(page.contains(&format!("![]({local})")), "{page}");
    assert!(!page.contains(&key), "the expiring URL is gone: {page}");
    let again = export_to(&config, &out, false);
    assert!(again.outcome.written.is_empty(), "{:?}", again.outcome);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_exports_one_subtree_with_links_outside_it_to_notion() {
    let (sim, dir, config) = showcase().await;
    let out = dir.path().join("export");
    let out_arg = out.to_str().unwrap();
    let (code, stdout, stderr) =
        notion_mirror(&config, &["export", out_arg, "--root", fx::ROADMAP]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("3 pages, 0 databases"), "{stdout}");
    let files: Vec<String> = tree(&out).into_keys().collect();
    let roadmap = path_of(&out, fx::ROADMAP);
    assert!(!roadmap.contains('/'), "the root is at the top: {roadmap}");
    // Three pages and the roadmap's archived image.
    assert_eq!(files.len(), 4, "{files:?}");
    assert_eq!(
        files.iter().filter(|f| f.contains("/files/")).count(),
        1,
        "{files:?}"
    );
    let text = std::fs::read_to_string(out.join(&roadmap)).unwrap();
    let meeting_url: String = common::open(&config)
        .query_row(
            "SELECT url FROM pages WHERE id = ?1",
            [id_of(&config, fx::MEETING_NOTES)],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        text.contains(&format!("[Meeting notes]({meeting_url})")),
        "a page outside the subtree is linked by its Notion URL: {text}"
    );
    let (code, _, stderr) = notion_mirror(&config, &["export", out_arg, "--root", "Twin"]);
    assert_eq!(code, 2, "an ambiguous root is a usage error: {stderr}");
    sim.shutdown().await;
}
