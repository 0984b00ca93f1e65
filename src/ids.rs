//! Notion object ids: the one canonical form (lowercase, dashed UUID) used as SQLite keys.
//!
//! Invariant: every id written to the mirror went through [`normalize`].

/// Normalizes a Notion id (dashed or undashed, any case) to lowercase dashed form.
///
/// Returns `None` when the input is not 32 hex digits (with or without the four dashes).
pub fn normalize(raw: &str) -> Option<String> {
    let hex: String = raw.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    Some(dashed(&hex.to_ascii_lowercase()))
}

/// A version-4 UUID in canonical form from 16 random bytes (sets the version and variant
/// bits). The simulator draws its object and event ids through this.
pub fn uuid_v4_from(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    dashed(&hex::encode(bytes))
}

/// `hex` (32 hex digits) with the four dashes of the 8-4-4-4-12 form.
fn dashed(hex: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Like [`normalize`], but keeps the input unchanged when it is not a UUID.
pub fn normalize_or_keep(raw: &str) -> String {
    normalize(raw).unwrap_or_else(|| raw.to_string())
}

/// The first eight hex digits of an id, used to disambiguate view names.
pub fn short(id: &str) -> String {
    id.chars().filter(|c| *c != '-').take(8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undashed_uppercase_becomes_dashed_lowercase() {
        assert_eq!(
            normalize("BE633BF1DFA0436DB259571129A590E5").as_deref(),
            Some("be633bf1-dfa0-436d-b259-571129a590e5")
        );
        assert_eq!(
            normalize("be633bf1-dfa0-436d-b259-571129a590e5").as_deref(),
            Some("be633bf1-dfa0-436d-b259-571129a590e5")
        );
    }

    #[test]
    fn non_uuid_is_rejected() {
        assert_eq!(normalize("title"), None);
        assert_eq!(normalize("zz633bf1dfa0436db259571129a590e5"), None);
        assert_eq!(normalize_or_keep("title"), "title");
    }

    #[test]
    fn short_is_first_eight_hex() {
        assert_eq!(short("be633bf1-dfa0-436d-b259-571129a590e5"), "be633bf1");
    }
}
