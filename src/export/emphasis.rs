//! Emphasis delimiters for annotated text: `**bold**`, `*italic*`, `~~struck~~` where
//! CommonMark's flanking rules will parse them, `<strong>`/`<em>`/`<del>` where they would
//! not (mid-word punctuation, adjacent runs of the same character), `<u>` for underline.
//!
//! Pure functions. Invariant: the wrapped text parses back to the same characters with the
//! same annotations, whatever surrounds it.

use serde_json::Value;

/// The annotations that change a rich-text item's Markdown (colours do not).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Style {
    pub bold: bool,
    pub italic: bool,
    pub strike: bool,
    pub underline: bool,
    pub code: bool,
}

impl Style {
    pub fn of(annotations: Option<&Value>) -> Style {
        let flag = |k: &str| {
            annotations
                .and_then(|a| a.get(k))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        Style {
            bold: flag("bold"),
            italic: flag("italic"),
            strike: flag("strikethrough"),
            underline: flag("underline"),
            code: flag("code"),
        }
    }

    pub fn emphasis(self) -> bool {
        self.bold || self.italic || self.strike
    }
}

fn is_punct(c: char) -> bool {
    c.is_ascii_punctuation() || (!c.is_alphanumeric() && !c.is_whitespace())
}

/// Whether an emphasis run is allowed between `neighbour` (outside; `None` = edge) and
/// `inner` (the first or last character inside).
fn flank_ok(neighbour: Option<char>, inner: Option<char>, single: bool) -> bool {
    let outside_ok = neighbour.is_none_or(|c| c.is_whitespace() || is_punct(c));
    let inside_ok = inner.is_some_and(|c| !c.is_whitespace());
    inside_ok && (outside_ok || (single && inner.is_some_and(|c| !is_punct(c))))
}

/// Wraps `body` in the style's delimiters: Markdown when CommonMark will parse them
/// there, HTML tags otherwise; underline is always `<u>`.
pub fn wrap(style: Style, body: &str, before: Option<char>, after: Option<char>) -> String {
    let mut marks: Vec<&str> = Vec::new();
    if style.strike {
        marks.push("~~");
    }
    if style.bold {
        marks.push("**");
    }
    if style.italic {
        marks.push("*");
    }
    let (u_open, u_close) = if style.underline {
        ("<u>", "</u>")
    } else {
        ("", "")
    };
    if marks.is_empty() {
        return format!("{u_open}{body}{u_close}");
    }
    let (before, after) = if style.underline {
        (Some('>'), Some('<'))
    } else {
        (before, after)
    };
    let single = marks.len() == 1;
    let opener: String = marks.concat();
    let closer: String = marks.iter().rev().copied().collect();
    let merges = before.is_some_and(|c| opener.starts_with(c));
    let ok = !merges
        && flank_ok(before, body.chars().next(), single)
        && flank_ok(after, body.chars().last(), single);
    if ok {
        return format!("{u_open}{opener}{body}{closer}{u_close}");
    }
    let (mut open, mut close) = (String::new(), String::new());
    for (on, tag) in [
        (style.strike, "del"),
        (style.bold, "strong"),
        (style.italic, "em"),
    ] {
        if on {
            open.push_str(&format!("<{tag}>"));
            close.insert_str(0, &format!("</{tag}>"));
        }
    }
    format!("{u_open}{open}{body}{close}{u_close}")
}
