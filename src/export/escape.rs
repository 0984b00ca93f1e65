//! Escaping for Markdown output: plain text, code spans and fences, link destinations,
//! HTML text and comments.
//!
//! Pure functions. Invariant: what these return parses back (CommonMark + GFM tables,
//! strikethrough and `$` math) to exactly the input text; they never emit a raw newline
//! except as a hard break in block text.

use super::richtext::Mode;

/// Whether the next character is the first of a line (where `#`, `-`, `1.`, `>`, leading
/// spaces … would start a block).
#[derive(Debug, Clone, Copy)]
pub struct LineState {
    at_start: bool,
}

impl LineState {
    pub fn new(at_start: bool) -> Self {
        LineState { at_start }
    }

    /// Something other than text (a delimiter, a code span) was written.
    pub fn after_inline(&mut self) {
        self.at_start = false;
    }
}

/// Characters that are escaped wherever they appear: emphasis, code, links, HTML,
/// tables, strikethrough and math delimiters, and the escape character itself.
const ALWAYS: &[char] = &['\\', '`', '*', '_', '[', ']', '<', '|', '~', '$'];

/// Escapes plain text. Newlines become a hard break (`\` + newline) in [`Mode::Block`],
/// `<br>` otherwise.
pub fn escape_text(s: &str, mode: Mode, state: &mut LineState) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for (n, line) in s.split('\n').enumerate() {
        if n > 0 {
            if mode == Mode::Block {
                out.push_str("\\\n");
                state.at_start = true;
            } else {
                out.push_str("<br>");
            }
        }
        let chars: Vec<char> = line.chars().filter(|c| *c != '\r').collect();
        let mut escape_at: Option<usize> = None;
        for (k, &c) in chars.iter().enumerate() {
            if state.at_start {
                state.at_start = false;
                match c {
                    ' ' => {
                        out.push_str("&#32;");
                        continue;
                    }
                    '\t' => {
                        out.push_str("&#9;");
                        continue;
                    }
                    '#' | '-' | '+' | '=' | '>' => {
                        out.push('\\');
                        out.push(c);
                        continue;
                    }
                    d if d.is_ascii_digit() => {
                        let run = chars[k..].iter().take_while(|c| c.is_ascii_digit()).count();
                        if run <= 9 && matches!(chars.get(k + run), Some('.') | Some(')')) {
                            escape_at = Some(k + run);
                        }
                    }
                    _ => {}
                }
            }
            let escape = ALWAYS.contains(&c)
                || escape_at == Some(k)
                || (c == '#'
                    && mode == Mode::Line
                    && chars[k..].iter().all(|c| *c == '#' || c.is_whitespace()))
                || (c == '&' && entity_like(&chars[k + 1..]));
            if escape {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out
}

/// True when `rest` (what follows a `&`) would make it a character reference.
fn entity_like(rest: &[char]) -> bool {
    let body = rest
        .iter()
        .take(33)
        .take_while(|c| c.is_ascii_alphanumeric() || **c == '#')
        .count();
    body > 0 && rest.get(body) == Some(&';')
}

/// The longest run of `ch` in `s`.
pub fn longest_run(s: &str, ch: char) -> usize {
    let (mut best, mut cur) = (0, 0);
    for c in s.chars() {
        if c == ch {
            cur += 1;
            best = best.max(cur);
        } else {
            cur = 0;
        }
    }
    best
}

/// An inline code span holding `content` literally (newlines become spaces; in a table
/// cell `|` is escaped, which GFM undoes inside code spans).
pub fn code_span(content: &str, table: bool) -> String {
    let content = content.replace(['\n', '\r'], " ");
    let fence = "`".repeat(longest_run(&content, '`') + 1);
    let pad = content.starts_with('`')
        || content.ends_with('`')
        || (content.starts_with(' ') && content.ends_with(' ') && !content.trim().is_empty());
    let sp = if pad { " " } else { "" };
    let body = if table {
        content.replace('|', "\\|")
    } else {
        content
    };
    format!("{fence}{sp}{body}{sp}{fence}")
}

/// The fence of a code block: backticks, at least three and longer than any run inside.
pub fn code_fence(content: &str) -> String {
    "`".repeat((longest_run(content, '`') + 1).max(3))
}

/// A link destination: spaces, angle brackets and control characters percent-encoded,
/// parentheses and backslashes escaped (and `|` inside a table cell).
pub fn link_destination(url: &str, table: bool) -> String {
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        match c {
            ' ' => out.push_str("%20"),
            '<' => out.push_str("%3C"),
            '>' => out.push_str("%3E"),
            '(' | ')' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '|' if table => out.push_str("\\|"),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Text for HTML content or attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// An HTML comment whose text cannot end it early (`--` and `>` are broken up).
pub fn comment(text: &str) -> String {
    let safe = text
        .replace("--", "- -")
        .replace('>', "&gt;")
        .replace(['\n', '\r'], " ");
    format!("<!-- {safe} -->")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(s: &str) -> String {
        escape_text(s, Mode::Block, &mut LineState::new(true))
    }

    #[test]
    fn line_starts_that_would_open_a_block_are_escaped() {
        assert_eq!(block("# h"), "\\# h");
        assert_eq!(block("12. x"), "12\\. x");
        assert_eq!(block("3) x"), "3\\) x");
        assert_eq!(block("2026 was"), "2026 was");
        assert_eq!(block("    code"), "&#32;   code");
        assert_eq!(block("a\n==="), "a\\\n\\===");
        assert_eq!(block("a # b"), "a # b");
        let line = |s: &str| escape_text(s, Mode::Line, &mut LineState::new(false));
        assert_eq!(line("Weekly sync #1"), "Weekly sync #1");
        assert_eq!(line("Notes ##"), "Notes \\#\\#");
    }

    #[test]
    fn fences_outgrow_the_content() {
        assert_eq!(code_fence("plain"), "```");
        assert_eq!(code_fence("a ```` b"), "`````");
        assert_eq!(code_span("a | b", true), "`a \\| b`");
    }

    #[test]
    fn comments_cannot_close_early() {
        assert_eq!(comment("a --> b"), "<!-- a - -&gt; b -->");
    }
}
