//! File-name slugs for exported pages and databases: `<title-slug>-<first 8 hex of id>`.
//!
//! Pure functions. Invariant: a slug contains only lowercase alphanumerics (any script)
//! and single `-` between them — never `/`, `\`, `.`, a control character or whitespace —
//! is never empty, and fits in [`MAX_SLUG_BYTES`]; so a name built from it can never climb
//! out of its folder or exceed a file system's 255-byte name limit.

/// Upper bound on a slug's UTF-8 length (the `-<hex>.md` suffix adds at most 36 bytes).
pub const MAX_SLUG_BYTES: usize = 80;

/// The slug of a title: lowercase; each run of characters that are not alphanumeric
/// becomes one `-`; trimmed; cut at a character boundary to [`MAX_SLUG_BYTES`];
/// `untitled` when nothing is left.
pub fn slug(title: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    for ch in title.chars().flat_map(char::to_lowercase) {
        if ch.is_alphanumeric() {
            if gap && !out.is_empty() {
                if out.len() + 1 + ch.len_utf8() > MAX_SLUG_BYTES {
                    break;
                }
                out.push('-');
            }
            gap = false;
            if out.len() + ch.len_utf8() > MAX_SLUG_BYTES {
                break;
            }
            out.push(ch);
        } else {
            gap = true;
        }
    }
    if out.is_empty() {
        "untitled".to_string()
    } else {
        out
    }
}

/// The hex digits of an id (dashes removed, lowercase, only hex digits kept).
pub fn id_hex(id: &str) -> String {
    id.chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The file stem of an object: `<slug>-<first 8 hex of id>`, or with every hex digit of
/// the id when `full` (used when two siblings would otherwise share a stem).
pub fn stem(title: &str, id: &str, full: bool) -> String {
    let hex = id_hex(id);
    let hex = if full {
        &hex[..]
    } else {
        &hex[..hex.len().min(8)]
    };
    format!("{}-{hex}", slug(title))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "1a2b3c4d-0000-4000-8000-000000000001";

    #[test]
    fn titles_become_lowercase_dashed_words() {
        assert_eq!(slug("Projects & Tasks"), "projects-tasks");
        assert_eq!(slug("  Café \"Zoë\" "), "café-zoë");
        assert_eq!(slug("日本語のページ 🎉"), "日本語のページ");
        assert_eq!(stem("Roadmap", ID, false), "roadmap-1a2b3c4d");
        assert_eq!(
            stem("Roadmap", ID, true),
            "roadmap-1a2b3c4d000040008000000000000001"
        );
    }

    #[test]
    fn traversal_titles_cannot_escape() {
        for title in [
            "../../etc/passwd",
            "/",
            "..",
            ".",
            "",
            "a\\..\\b",
            "~/.ssh",
            "\u{0}\n\t",
        ] {
            let s = slug(title);
            assert!(!s.is_empty());
            assert!(
                s.chars().all(|c| c.is_alphanumeric() || c == '-'),
                "{title:?} → {s:?}"
            );
            assert!(!s.starts_with('-') && !s.ends_with('-'), "{s}");
        }
        assert_eq!(slug("/"), "untitled");
        assert_eq!(slug("../../etc/passwd"), "etc-passwd");
    }

    #[test]
    fn long_titles_are_cut_at_a_character_boundary() {
        let long = "日本".repeat(200);
        let s = slug(&long);
        assert!(s.len() <= MAX_SLUG_BYTES);
        assert!(s.chars().all(|c| c == '日' || c == '本'));
        let words = "word ".repeat(100);
        let s = slug(&words);
        assert!(s.len() <= MAX_SLUG_BYTES && !s.ends_with('-'), "{s}");
        let forty: Vec<String> = (1..=40).map(|i| format!("part {i:02}")).collect();
        assert!(slug(&forty.join("/")).len() <= MAX_SLUG_BYTES);
    }
}
