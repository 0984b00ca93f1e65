//! Which blocks moved among their siblings. Inserting or deleting a block shifts the
//! position of every later sibling without moving any of them; the blocks that *moved* are
//! the fewest whose removal leaves the rest in their old order (the complement of a
//! longest increasing subsequence of old positions, taken in new order).
//!
//! Invariant: pure; a block whose parent changed is always moved, and a pure insertion or
//! deletion moves nothing.

use std::collections::{BTreeMap, HashSet};

/// A block seen in both versions: its id, old parent and position, new parent and
/// position.
#[derive(Debug, Clone)]
pub struct Placement<'a> {
    pub id: &'a str,
    pub old_parent: &'a str,
    pub old_position: i64,
    pub new_parent: &'a str,
    pub new_position: i64,
}

/// The ids of blocks that stayed under the same parent but changed their order relative
/// to the siblings that stayed too.
pub fn reordered<'a>(placements: &[Placement<'a>]) -> HashSet<&'a str> {
    let mut by_parent: BTreeMap<&str, Vec<&Placement>> = BTreeMap::new();
    for p in placements.iter().filter(|p| p.old_parent == p.new_parent) {
        by_parent.entry(p.new_parent).or_default().push(p);
    }
    let mut moved = HashSet::new();
    for siblings in by_parent.values_mut() {
        siblings.sort_by_key(|p| p.new_position);
        let old: Vec<i64> = siblings.iter().map(|p| p.old_position).collect();
        let keep = longest_increasing(&old);
        for (i, p) in siblings.iter().enumerate() {
            if !keep.contains(&i) {
                moved.insert(p.id);
            }
        }
    }
    moved
}

/// Indices of one longest strictly increasing subsequence of `values` (patience sorting,
/// O(n log n)). Among equally long ones it keeps the earliest-ending elements.
fn longest_increasing(values: &[i64]) -> HashSet<usize> {
    // tails[k]: index of the smallest tail of an increasing run of length k + 1.
    let mut tails: Vec<usize> = Vec::new();
    let mut prev: Vec<Option<usize>> = vec![None; values.len()];
    for (i, v) in values.iter().enumerate() {
        let k = tails.partition_point(|&t| values[t] < *v);
        if k > 0 {
            prev[i] = Some(tails[k - 1]);
        }
        if k == tails.len() {
            tails.push(i);
        } else {
            tails[k] = i;
        }
    }
    let mut keep = HashSet::new();
    let mut cur = tails.last().copied();
    while let Some(i) = cur {
        keep.insert(i);
        cur = prev[i];
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moved(old: &[&str], new: &[&str]) -> Vec<String> {
        let pos = |list: &[&str], id: &str| list.iter().position(|x| *x == id).map(|p| p as i64);
        let placements: Vec<Placement> = new
            .iter()
            .filter_map(|id| {
                Some(Placement {
                    id,
                    old_parent: "p",
                    old_position: pos(old, id)?,
                    new_parent: "p",
                    new_position: pos(new, id)?,
                })
            })
            .collect();
        let mut out: Vec<String> = reordered(&placements)
            .into_iter()
            .map(str::to_string)
            .collect();
        out.sort();
        out
    }

    #[test]
    fn insertions_and_deletions_move_nothing() {
        assert!(moved(&["a", "b", "c"], &["x", "a", "b", "c"]).is_empty());
        assert!(moved(&["a", "b", "c"], &["a", "c"]).is_empty());
        assert!(moved(&["a", "b", "c"], &["a", "y", "c", "z"]).is_empty());
    }

    #[test]
    fn a_block_moved_to_the_top_is_the_only_one_moved() {
        assert_eq!(
            moved(&["a", "b", "c", "d"], &["d", "a", "b", "c"]),
            vec!["d"]
        );
        assert_eq!(
            moved(&["a", "b", "c", "d"], &["b", "c", "d", "a"]),
            vec!["a"]
        );
        assert_eq!(
            moved(&["a", "b", "c", "d", "e"], &["a", "d", "b", "c", "e"]),
            vec!["d"]
        );
    }

    #[test]
    fn a_reversal_moves_all_but_one() {
        assert_eq!(moved(&["a", "b", "c"], &["c", "b", "a"]).len(), 2);
    }
}
