//! Tidiness the code review would otherwise repeat: every Rust file under `src/`, `tests/`
//! and `benches/` opens with a `//!` doc (its purpose and invariant), and no file grows
//! past a size that is still read in one sitting (600 lines in `src/`, 800 in `tests/` and
//! `benches/`; split it into a directory module instead).
//!
//! Invariant: compiled only for the library's unit tests (no test binary of its own);
//! reads the source tree from `CARGO_MANIFEST_DIR`, never writes.

use std::path::{Path, PathBuf};

/// Longest file allowed under `src/`.
const SRC_MAX_LINES: usize = 600;
/// Longest file allowed under `tests/` and `benches/` (fixtures and scenarios run long).
const TEST_MAX_LINES: usize = 800;

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Whether the first non-blank line is a `//!` doc line.
fn opens_with_module_doc(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .is_some_and(|l| l.starts_with("//!"))
}

/// The files under `root/dir` that break a rule, one line each.
fn offences(root: &Path, dir: &str, max_lines: usize) -> Vec<String> {
    let files = rust_files(&root.join(dir));
    assert!(!files.is_empty(), "no Rust files under {dir}/");
    let mut out = Vec::new();
    for path in files {
        let shown = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .display()
            .to_string();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                out.push(format!("{shown}: unreadable: {e}"));
                continue;
            }
        };
        if !opens_with_module_doc(&text) {
            out.push(format!("{shown}: does not open with a `//!` module doc"));
        }
        let lines = text.lines().count();
        if lines > max_lines {
            out.push(format!(
                "{shown}: {lines} lines, more than {max_lines} (split it into a directory module)"
            ));
        }
    }
    out
}

#[test]
fn every_file_opens_with_a_module_doc_and_stays_short() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = offences(root, "src", SRC_MAX_LINES);
    all.extend(offences(root, "tests", TEST_MAX_LINES));
    all.extend(offences(root, "benches", TEST_MAX_LINES));
    assert!(all.is_empty(), "untidy files:\n{}", all.join("\n"));
}

#[test]
fn the_rules_see_what_they_check() {
    assert!(opens_with_module_doc("\n//! Purpose.\n\nuse x;\n"));
    assert!(!opens_with_module_doc("// A comment.\n//! Late doc.\n"));
    assert!(!opens_with_module_doc("use x;\n"));
    assert!(!opens_with_module_doc(""));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let long = offences(root, "src", 10);
    assert!(
        long.iter()
            .any(|o| o.starts_with("src/lib.rs: ") && o.contains("lines")),
        "a low limit flags src/lib.rs: {long:?}"
    );
}
