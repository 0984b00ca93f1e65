//! The Notion API versions this program speaks (`Notion-Version` header) and what differs
//! between them for a read-only mirror (docs/notion-2026.md):
//! - `2025-09-03`: databases split into data sources; `archived` beside `in_trash`.
//! - `2026-03-11` (the default): `archived` removed (only `in_trash`), block type
//!   `transcription` renamed `meeting_notes` (developers.notion.com changelog 2026-03-11,
//!   upgrade guide 2026-03-11).
//! - `2026-12-01`: Search and Query a data source return only the title property unless
//!   `filter_properties` names the others (upgrade guide 2026-12-01, "Page properties in
//!   lists").
//!
//! Invariant: pure; the simulator and the client share this one definition.

use std::fmt;

/// A supported `Notion-Version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum NotionVersion {
    V2025_09_03,
    #[default]
    V2026_03_11,
    V2026_12_01,
}

impl NotionVersion {
    pub const ALL: [NotionVersion; 3] = [
        NotionVersion::V2025_09_03,
        NotionVersion::V2026_03_11,
        NotionVersion::V2026_12_01,
    ];

    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            NotionVersion::V2025_09_03 => "2025-09-03",
            NotionVersion::V2026_03_11 => "2026-03-11",
            NotionVersion::V2026_12_01 => "2026-12-01",
        }
    }

    pub fn parse(s: &str) -> Option<NotionVersion> {
        NotionVersion::ALL
            .into_iter()
            .find(|v| v.as_str() == s.trim())
    }

    /// Objects still carry the deprecated `archived` flag (removed in 2026-03-11).
    pub fn has_archived(self) -> bool {
        self == NotionVersion::V2025_09_03
    }

    /// The name of the AI meeting-notes block (`transcription` before 2026-03-11).
    pub fn meeting_notes_type(self) -> &'static str {
        if self == NotionVersion::V2025_09_03 {
            "transcription"
        } else {
            "meeting_notes"
        }
    }

    /// Search and data source queries return only the title property unless
    /// `filter_properties` asks for more.
    pub fn lists_title_only(self) -> bool {
        self >= NotionVersion::V2026_12_01
    }
}

impl fmt::Display for NotionVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_print() {
        for v in NotionVersion::ALL {
            assert_eq!(NotionVersion::parse(v.as_str()), Some(v));
        }
        assert_eq!(NotionVersion::parse("2022-06-28"), None);
        assert_eq!(NotionVersion::default().as_str(), "2026-03-11");
        assert!(NotionVersion::V2025_09_03.has_archived());
        assert!(!NotionVersion::V2026_03_11.has_archived());
        assert_eq!(
            NotionVersion::V2026_12_01.meeting_notes_type(),
            "meeting_notes"
        );
        assert!(NotionVersion::V2026_12_01.lists_title_only());
        assert!(!NotionVersion::V2026_03_11.lists_title_only());
    }
}
