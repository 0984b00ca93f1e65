//! Small pure helpers for the simulator: seeded RNG, UUIDs, Notion's timestamp format,
//! URL-encoding of property ids and page-URL slugs.
//!
//! Invariant: everything here is deterministic for its inputs (no clock, no global RNG).

use chrono::{DateTime, SecondsFormat, Timelike, Utc};

/// A small deterministic PRNG (SplitMix64). Independent of the `rand` crate's versioned
/// algorithms, so a seed produces the same workspace on every build.
#[derive(Debug, Clone)]
pub struct SimRng {
    state: u64,
}

impl SimRng {
    pub fn new(seed: u64) -> Self {
        SimRng {
            state: seed ^ 0x9E37_79B9_7F4A_7C15,
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform float in `[0, 1)`.
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p` (clamped to `[0, 1]`).
    pub fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        self.f64() < p
    }

    /// Uniform integer in `lo..=hi` (returns `lo` when `hi < lo`).
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        if hi <= lo {
            return lo;
        }
        lo + (self.next_u64() % ((hi - lo + 1) as u64)) as usize
    }

    /// Uniform index into a non-empty collection of `len` items (0 when `len == 0`).
    pub fn index(&mut self, len: usize) -> usize {
        if len == 0 {
            0
        } else {
            (self.next_u64() % len as u64) as usize
        }
    }

    /// One element of a slice (None when empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            items.get(self.index(items.len()))
        }
    }

    /// A Poisson-ish count around `mean` (sum of Bernoulli trials, cheap and bounded).
    pub fn around(&mut self, mean: f64) -> usize {
        if mean <= 0.0 {
            return 0;
        }
        let trials = (mean * 2.0).ceil() as usize;
        (0..trials).filter(|_| self.chance(0.5)).count()
    }

    /// A random version-4 UUID in Notion's canonical form (lowercase, dashed).
    pub fn uuid(&mut self) -> String {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_be_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_be_bytes());
        crate::ids::uuid_v4_from(bytes)
    }

    /// `n` random lowercase hex digits.
    pub fn hex(&mut self, n: usize) -> String {
        let mut out = String::with_capacity(n + 16);
        while out.len() < n {
            out.push_str(&format!("{:016x}", self.next_u64()));
        }
        out.truncate(n);
        out
    }
}

/// Rounds down to the minute, as Notion does for object timestamps [S18].
pub fn round_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_nanosecond(0)
        .and_then(|t| t.with_second(0))
        .unwrap_or(t)
}

/// Notion's object timestamp: minute-rounded, `2026-06-24T16:32:00.000Z` [S18].
pub fn fmt_minute(t: DateTime<Utc>) -> String {
    round_minute(t).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Millisecond ISO timestamp (`2024-12-05T23:55:34.285Z`), for webhook times and expiries.
pub fn fmt_millis(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// JavaScript `encodeURIComponent`: Notion's encoding of property ids (`%3ABw`, `~`, `_`
/// and `)` left alone, as in the recorded responses).
pub fn encode_uri_component(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() * 3);
    for b in raw.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
            );
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-decoding (lenient: malformed escapes stay as they are). `+` is kept literally.
pub fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hi = (bytes[i + 1] as char).to_digit(16);
            let lo = (bytes[i + 2] as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hi, lo) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Decodes an `application/x-www-form-urlencoded` query value (`+` means space).
pub fn query_decode(raw: &str) -> String {
    percent_decode(&raw.replace('+', " "))
}

/// Parses a query string into ordered `(key, value)` pairs (decoded).
pub fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    let Some(q) = q else { return Vec::new() };
    q.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (query_decode(k), query_decode(v)),
            None => (query_decode(kv), String::new()),
        })
        .collect()
}

/// The page URL Notion builds: `https://www.notion.so/<Title-Slug>-<32 hex>`.
pub fn page_url(title: &str, id: &str) -> String {
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    let slug = slug(title);
    if slug.is_empty() {
        format!("https://www.notion.so/{hex}")
    } else {
        format!("https://www.notion.so/{slug}-{hex}")
    }
}

/// The URL of a database (and of its data sources): `https://www.notion.so/<32 hex>`.
pub fn object_url(id: &str) -> String {
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    format!("https://www.notion.so/{hex}")
}

/// Runs of characters other than letters and digits become one `-`.
fn slug(title: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in title.chars() {
        if c.is_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c);
        } else {
            dash = true;
        }
    }
    out
}

/// Notion's JSON numbers: integral values print without a fraction (`12`, not `12.0`).
pub fn json_number(n: f64) -> serde_json::Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        serde_json::Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_deterministic_and_uuid_is_v4() {
        let mut a = SimRng::new(7);
        let mut b = SimRng::new(7);
        let ua = a.uuid();
        assert_eq!(ua, b.uuid());
        assert_eq!(ua.len(), 36);
        assert_eq!(&ua[14..15], "4");
        assert_eq!(crate::ids::normalize(&ua).as_deref(), Some(ua.as_str()));
    }

    #[test]
    fn property_ids_encode_like_notion() {
        assert_eq!(encode_uri_component(":Bw"), "%3ABw");
        assert_eq!(encode_uri_component("f\\\\:p"), "f%5C%5C%3Ap");
        assert_eq!(encode_uri_component("F])?"), "F%5D)%3F");
        assert_eq!(encode_uri_component("~ak@"), "~ak%40");
        assert_eq!(percent_decode("f%5C%5C%3Ap"), "f\\\\:p");
        assert_eq!(percent_decode("100%"), "100%");
    }

    #[test]
    fn timestamps_round_down_to_the_minute() {
        let t = DateTime::parse_from_rfc3339("2026-06-24T16:32:59.999Z")
            .map(|t| t.with_timezone(&Utc))
            .ok();
        assert_eq!(
            t.map(fmt_minute).as_deref(),
            Some("2026-06-24T16:32:00.000Z")
        );
    }

    #[test]
    fn urls_use_a_title_slug() {
        assert_eq!(
            page_url("Café \"Zoë\" notes", "be633bf1-dfa0-436d-b259-571129a590e5"),
            "https://www.notion.so/Café-Zoë-notes-be633bf1dfa0436db259571129a590e5"
        );
        assert_eq!(
            page_url("", "be633bf1-dfa0-436d-b259-571129a590e5"),
            "https://www.notion.so/be633bf1dfa0436db259571129a590e5"
        );
    }
}
