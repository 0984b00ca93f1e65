//! The next POST of a destination: the rows after its cursor that its filters keep, at
//! most [`MAX_CHANGES`] and [`MAX_BYTES`] of body, and where its cursor may move once the
//! POST is answered 2xx.
//!
//! Invariant: pure over the rows given; the cursor never moves past a row that was not
//! either put in the batch or skipped by the filters.

use crate::history::{ChangeRow, Filter};

/// Changes in one POST at most.
pub const MAX_CHANGES: usize = 100;
/// Body bytes of one POST at most (a single change larger than this is sent alone).
pub const MAX_BYTES: usize = 1024 * 1024;

/// One POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// `{"changes": [...]}`, exactly the bytes signed and sent.
    pub body: Vec<u8>,
    /// Changes in the body.
    pub count: usize,
    /// The seq of the last change in the body (`X-Notion-Mirror-Seq`).
    pub last_seq: Option<i64>,
    /// Where the cursor moves after a 2xx: the last row handled (sent or filtered out).
    pub cursor: i64,
}

/// Builds the batch from `rows` (in seq order, all after `cursor`); `exhausted` says the
/// rows reach the newest durable change (so the cursor may pass every row read).
pub fn build(rows: &[ChangeRow], cursor: i64, filter: &Filter) -> Batch {
    let mut body = b"{\"changes\":[".to_vec();
    let mut count = 0;
    let mut last_seq = None;
    let mut handled = cursor;
    for row in rows {
        if !filter.matches(row) {
            handled = row.seq;
            continue;
        }
        let item = row.to_json().to_string();
        let separator = usize::from(count > 0);
        if count > 0 && body.len() + separator + item.len() + 2 > MAX_BYTES {
            break;
        }
        if count > 0 {
            body.push(b',');
        }
        body.extend_from_slice(item.as_bytes());
        count += 1;
        last_seq = Some(row.seq);
        handled = row.seq;
        if count == MAX_CHANGES {
            break;
        }
    }
    body.extend_from_slice(b"]}");
    Batch {
        body,
        count,
        last_seq,
        cursor: handled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mirror::changes::Object;
    use serde_json::{json, Value};

    fn row(seq: i64, object: &str, size: usize) -> ChangeRow {
        ChangeRow {
            seq,
            at: "t".into(),
            object: object.into(),
            id: format!("id{seq}"),
            page_id: None,
            kind: "updated".into(),
            fields: json!(["text"]),
            before: json!({}),
            after: json!({"text": "x".repeat(size)}),
            edited_time: None,
            edited_by: None,
            cause: None,
        }
    }

    #[test]
    fn at_most_a_hundred_changes_in_seq_order() {
        let rows: Vec<ChangeRow> = (1..=150).map(|s| row(s, "page", 10)).collect();
        let b = build(&rows, 0, &Filter::default());
        assert_eq!((b.count, b.last_seq, b.cursor), (100, Some(100), 100));
        let body: Value = serde_json::from_slice(&b.body).unwrap();
        let seqs: Vec<i64> = body["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["seq"].as_i64().unwrap())
            .collect();
        assert_eq!(seqs, (1..=100).collect::<Vec<_>>());
    }

    #[test]
    fn at_most_one_mebibyte_unless_one_change_is_bigger() {
        let rows: Vec<ChangeRow> = (1..=5).map(|s| row(s, "page", 400 * 1024)).collect();
        let b = build(&rows, 0, &Filter::default());
        assert_eq!(b.count, 2);
        assert!(b.body.len() <= MAX_BYTES);
        let huge = [row(7, "page", 2 * MAX_BYTES)];
        let b = build(&huge, 6, &Filter::default());
        assert_eq!((b.count, b.cursor), (1, 7));
    }

    #[test]
    fn filtered_rows_move_the_cursor_without_being_sent() {
        let rows = vec![row(1, "block", 1), row(2, "page", 1), row(3, "block", 1)];
        let only_pages = Filter {
            objects: Some(vec![Object::Page]),
            ..Filter::default()
        };
        let b = build(&rows, 0, &only_pages);
        assert_eq!((b.count, b.last_seq, b.cursor), (1, Some(2), 3));
        let none = build(&rows[..1], 0, &only_pages);
        assert_eq!((none.count, none.cursor), (0, 1));
    }
}
