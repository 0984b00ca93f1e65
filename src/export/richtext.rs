//! Rich text → inline Markdown (or inline HTML inside `<summary>`): annotations, links,
//! every mention type, inline equations, and escaping so plain text round-trips.
//!
//! Pure functions. Invariant: the text of every item comes back from a CommonMark/GFM
//! parser unchanged — Markdown-special characters are backslash-escaped, emphasis falls
//! back to HTML tags where CommonMark's flanking rules would not parse it, and the output
//! never contains a raw newline outside [`Mode::Block`] (where it is a hard break).

use serde_json::Value;

use super::emphasis::{wrap, Style};
use super::escape::{code_span, escape_html, escape_text, link_destination, LineState};
use super::links::Linker;

/// Where the inline text goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A paragraph-like block: newlines become hard breaks (`\` at the end of the line).
    Block,
    /// One line (headings): newlines become `<br>`.
    Line,
    /// A GFM table cell: like `Line`, and `|` is escaped inside code spans too.
    Table,
    /// Inline HTML (inside `<summary>`): tags instead of Markdown.
    Html,
}

#[derive(Debug, Clone, PartialEq)]
struct Seg {
    text: String,
    style: Style,
    href: Option<String>,
    equation: bool,
}

fn str_at<'v>(v: &'v Value, pointer: &str) -> Option<&'v str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// One rich-text item as a segment (mentions resolved through `links`).
fn segment(item: &Value, links: &Linker) -> Seg {
    let plain = str_at(item, "/plain_text").unwrap_or("").to_string();
    let href = str_at(item, "/href").map(str::to_string);
    let style = Style::of(item.get("annotations"));
    let mut seg = Seg {
        text: plain.clone(),
        style,
        href,
        equation: false,
    };
    match item.get("type").and_then(Value::as_str) {
        Some("text") => {
            if let Some(c) = item.pointer("/text/content").and_then(Value::as_str) {
                seg.text = c.to_string();
            }
            if let Some(url) = str_at(item, "/text/link/url") {
                seg.href = Some(url.to_string());
            }
        }
        Some("equation") => {
            seg.text = str_at(item, "/equation/expression")
                .unwrap_or(&plain)
                .to_string();
            seg.equation = true;
            seg.href = None;
        }
        Some("mention") => mention(item, links, &mut seg),
        _ => {}
    }
    seg
}

fn mention(item: &Value, links: &Linker, seg: &mut Seg) {
    let m = item.get("mention").unwrap_or(&Value::Null);
    match m.get("type").and_then(Value::as_str).unwrap_or("") {
        "user" => {
            let id = str_at(m, "/user/id").unwrap_or("");
            let name = links
                .snap
                .user_name(id)
                .or_else(|| str_at(m, "/user/name"))
                .map(str::to_string)
                .unwrap_or_else(|| seg.text.trim_start_matches('@').to_string());
            seg.text = format!("@{name}");
            seg.href = None;
        }
        "page" | "database" => {
            let kind = if m.get("page").is_some() {
                "page"
            } else {
                "database"
            };
            let id = str_at(m, &format!("/{kind}/id")).unwrap_or("");
            let target = crate::ids::normalize(id).and_then(|id| links.object(&id));
            if let Some(t) = target {
                seg.text = t.title;
                seg.href = Some(t.href);
            }
        }
        "date" if seg.text.is_empty() => {
            let start = str_at(m, "/date/start").unwrap_or("");
            seg.text = match str_at(m, "/date/end") {
                Some(end) => format!("{start} → {end}"),
                None => start.to_string(),
            };
        }
        "link_preview" => {
            if let Some(url) = str_at(m, "/link_preview/url") {
                seg.href = Some(url.to_string());
                if seg.text.is_empty() {
                    seg.text = url.to_string();
                }
            }
        }
        "link_mention" => {
            if let Some(url) = str_at(m, "/link_mention/href") {
                seg.href = Some(url.to_string());
            }
            if seg.text.is_empty() {
                seg.text = str_at(m, "/link_mention/title").unwrap_or("").to_string();
            }
        }
        // template_mention (`@Today`, `@Me`), custom_emoji (`:name:`) and types this
        // version does not know: their plain text, linked when Notion gave an href.
        _ => {}
    }
    if seg.text.is_empty() {
        seg.text = seg.href.clone().unwrap_or_default();
    }
}

/// Adjacent segments with the same style and link become one; styled segments give
/// their leading and trailing whitespace to unstyled neighbours (emphasis cannot start
/// or end with a space).
fn normalize(segs: Vec<Seg>, trim_newlines: bool) -> Vec<Seg> {
    let mut split: Vec<Seg> = Vec::new();
    for seg in segs {
        if seg.text.is_empty() {
            continue;
        }
        if seg.style.code || seg.equation || !(seg.style.emphasis() || seg.style.underline) {
            split.push(seg);
            continue;
        }
        let core = seg.text.trim();
        if core.is_empty() {
            split.push(Seg {
                style: Style::default(),
                ..seg
            });
            continue;
        }
        let start = seg.text.len() - seg.text.trim_start().len();
        let end = start + core.len();
        let plain = |text: &str| Seg {
            text: text.to_string(),
            style: Style::default(),
            href: seg.href.clone(),
            equation: false,
        };
        if start > 0 {
            split.push(plain(&seg.text[..start]));
        }
        split.push(Seg {
            text: core.to_string(),
            ..seg.clone()
        });
        if end < seg.text.len() {
            split.push(plain(&seg.text[end..]));
        }
    }
    let mut merged: Vec<Seg> = Vec::new();
    for seg in split {
        match merged.last_mut() {
            Some(last)
                if !last.equation
                    && !seg.equation
                    && last.style == seg.style
                    && last.href == seg.href =>
            {
                last.text.push_str(&seg.text);
            }
            _ => merged.push(seg),
        }
    }
    if trim_newlines {
        trim_edge_newlines(&mut merged);
    }
    merged
}

fn trim_edge_newlines(segs: &mut Vec<Seg>) {
    while let Some(first) = segs.first_mut() {
        let t = first.text.trim_start_matches(['\n', '\r']).to_string();
        if t.is_empty() {
            segs.remove(0);
        } else {
            first.text = t;
            break;
        }
    }
    while let Some(last) = segs.last_mut() {
        let t = last.text.trim_end_matches(['\n', '\r']).to_string();
        if t.is_empty() {
            segs.pop();
        } else {
            last.text = t;
            break;
        }
    }
}

/// Renders a rich-text array.
pub fn render(items: &Value, links: &Linker, mode: Mode) -> String {
    let Some(items) = items.as_array() else {
        return String::new();
    };
    let segs: Vec<Seg> = items.iter().map(|i| segment(i, links)).collect();
    let segs = normalize(segs, true);
    match mode {
        Mode::Html => render_html(&segs),
        _ => render_markdown(&segs, mode),
    }
}

/// The plain text of a rich-text array (for alt text, titles and comparisons).
pub fn plain(items: &Value) -> String {
    crate::mirror::text::rich_text(items)
}

/// The first character the segment at `i` will emit (links and styles start with
/// punctuation), or `end` past the last one.
fn next_char(
    segs: &[Seg],
    i: usize,
    end: Option<char>,
    rendered_first: Option<char>,
) -> Option<char> {
    match segs.get(i) {
        None => end,
        Some(s) if s.href.is_some() || s.style != Style::default() || s.equation => Some('*'),
        Some(_) => rendered_first,
    }
}

fn render_markdown(segs: &[Seg], mode: Mode) -> String {
    let mut out = String::new();
    let mut state = LineState::new(mode == Mode::Block);
    let mut i = 0;
    while i < segs.len() {
        match &segs[i].href {
            Some(href) => {
                let mut j = i;
                while j < segs.len() && segs[j].href.as_deref() == Some(href) {
                    j += 1;
                }
                let mut inner = String::new();
                spans(
                    &segs[i..j],
                    mode,
                    &mut state,
                    &mut inner,
                    Some('['),
                    Some(']'),
                );
                if inner.is_empty() {
                    inner = escape_text(href, mode, &mut state);
                }
                if out.ends_with('!') {
                    out.pop();
                    out.push_str("\\!");
                }
                out.push('[');
                out.push_str(&inner);
                out.push_str("](");
                out.push_str(&link_destination(href, mode == Mode::Table));
                out.push(')');
                i = j;
            }
            None => {
                let mut j = i;
                while j < segs.len() && segs[j].href.is_none() {
                    j += 1;
                }
                let end = segs.get(j).map(|_| '[');
                let prev = out.chars().last();
                let mut piece = String::new();
                spans(&segs[i..j], mode, &mut state, &mut piece, prev, end);
                out.push_str(&piece);
                i = j;
            }
        }
    }
    out
}

/// Renders segments that share one link context, between `prev` and `end` characters.
fn spans(
    segs: &[Seg],
    mode: Mode,
    state: &mut LineState,
    out: &mut String,
    prev: Option<char>,
    end: Option<char>,
) {
    let bodies: Vec<String> = segs
        .iter()
        .map(|s| {
            if s.equation {
                let expr = s.text.trim().replace('\n', " ");
                let expr = if mode == Mode::Table {
                    expr.replace('|', "\\|")
                } else {
                    expr
                };
                state.after_inline();
                format!("${expr}$")
            } else if s.style.code {
                state.after_inline();
                code_span(&s.text, mode == Mode::Table)
            } else {
                escape_text(&s.text, mode, state)
            }
        })
        .collect();
    for (k, seg) in segs.iter().enumerate() {
        let body = &bodies[k];
        let before = out.chars().last().or(if k == 0 { prev } else { None });
        let after = next_char(
            segs,
            k + 1,
            end,
            bodies.get(k + 1).and_then(|b| b.chars().next()),
        );
        out.push_str(&wrap(seg.style, body, before, after));
    }
}

fn render_html(segs: &[Seg]) -> String {
    let mut out = String::new();
    for seg in segs {
        let mut body = if seg.equation {
            format!("${}$", escape_html(seg.text.trim()))
        } else {
            escape_html(&seg.text).replace('\n', "<br>")
        };
        let tags = [
            (seg.style.code, "code"),
            (seg.style.italic, "em"),
            (seg.style.bold, "strong"),
            (seg.style.strike, "del"),
            (seg.style.underline, "u"),
        ];
        for (on, tag) in tags {
            if on {
                body = format!("<{tag}>{body}</{tag}>");
            }
        }
        if let Some(href) = &seg.href {
            body = format!("<a href=\"{}\">{body}</a>", escape_html(href));
        }
        out.push_str(&body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::load::Snapshot;
    use serde_json::json;

    fn item(text: &str, marks: &[&str], link: Option<&str>) -> Value {
        let mut a = json!({"bold": false, "italic": false, "strikethrough": false,
            "underline": false, "code": false, "color": "default"});
        for m in marks {
            a[*m] = json!(true);
        }
        json!({"type": "text", "text": {"content": text, "link": link.map(|u| json!({"url": u}))},
            "annotations": a, "plain_text": text, "href": link})
    }

    fn md(items: Vec<Value>) -> String {
        let snap = Snapshot::default();
        render(&Value::Array(items), &Linker::notion(&snap), Mode::Block)
    }

    #[test]
    fn annotations_use_markdown_delimiters() {
        assert_eq!(
            md(vec![
                item("a ", &[], None),
                item("b", &["bold"], None),
                item(" ", &[], None),
                item("c", &["italic"], None),
                item(" ", &[], None),
                item("d", &["strikethrough"], None),
                item(" ", &[], None),
                item("e", &["code"], None),
                item(" ", &[], None),
                item("f", &["underline"], None),
            ]),
            "a **b** *c* ~~d~~ `e` <u>f</u>"
        );
    }

    #[test]
    fn whitespace_moves_outside_emphasis() {
        assert_eq!(
            md(vec![
                item("bold ", &["bold"], None),
                item("text", &[], None)
            ]),
            "**bold** text"
        );
    }

    #[test]
    fn emphasis_that_would_not_parse_falls_back_to_html() {
        assert_eq!(
            md(vec![
                item("say", &[], None),
                item("\"hi\"", &["bold"], None),
                item("now", &[], None)
            ]),
            "say<strong>\"hi\"</strong>now"
        );
        assert_eq!(
            md(vec![
                item("a", &["bold"], None),
                item("b", &["italic"], None)
            ]),
            "**a**<em>b</em>"
        );
    }

    #[test]
    fn special_characters_are_escaped() {
        assert_eq!(
            md(vec![item("2*3 [x] <b> a|b ~ $5 \\", &[], None)]),
            "2\\*3 \\[x\\] \\<b> a\\|b \\~ \\$5 \\\\"
        );
        assert_eq!(
            md(vec![item("# h\n1. n\n- b", &[], None)]),
            "\\# h\\\n1\\. n\\\n\\- b"
        );
        assert_eq!(md(vec![item("&amp; & x", &[], None)]), "\\&amp; & x");
    }

    #[test]
    fn links_and_code_spans() {
        assert_eq!(
            md(vec![item("docs", &["bold"], Some("https://x.test/a b"))]),
            "[**docs**](https://x.test/a%20b)"
        );
        assert_eq!(md(vec![item("a`b", &["code"], None)]), "``a`b``");
        assert_eq!(md(vec![item("`x", &["code"], None)]), "`` `x ``");
        assert_eq!(
            md(vec![
                item("wow!", &[], None),
                item("l", &[], Some("https://x.test"))
            ]),
            "wow\\![l](https://x.test)"
        );
    }
}
