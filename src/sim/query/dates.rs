//! Date filter values: ISO 8601 dates and datetimes, and the relative values Notion
//! resolves at query time (`today`, `tomorrow`, `yesterday`, `one_week_ago`,
//! `one_week_from_now`, `one_month_ago`, `one_month_from_now`; changelog 2026-03-30).
//!
//! Invariant: a relative value is a calendar date in UTC (decision: Notion resolves it
//! "relative to the current date" without naming a time zone); months move by calendar
//! month, clamped to the last day of a shorter month.

use chrono::{DateTime, Duration, Months, NaiveDate, Utc};

/// The relative date values, with the `(days, months)` they move from today.
pub const RELATIVE: &[(&str, i64, i32)] = &[
    ("today", 0, 0),
    ("tomorrow", 1, 0),
    ("yesterday", -1, 0),
    ("one_week_ago", -7, 0),
    ("one_week_from_now", 7, 0),
    ("one_month_ago", 0, -1),
    ("one_month_from_now", 0, 1),
];

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum DateValue {
    /// Compared by UTC calendar date.
    Date(NaiveDate),
    /// Compared as an instant.
    Instant(DateTime<Utc>),
    /// Resolved at query time: `(days, months)` from today (UTC).
    Relative(i64, i32),
}

impl DateValue {
    pub fn parse(s: &str) -> Option<DateValue> {
        if let Some((_, days, months)) = RELATIVE.iter().find(|(name, ..)| *name == s) {
            return Some(DateValue::Relative(*days, *months));
        }
        match parse_instant(s)? {
            (t, true) => Some(DateValue::Date(t.date_naive())),
            (t, false) => Some(DateValue::Instant(t)),
        }
    }

    /// The value now: a date (date-only and relative values) or an instant.
    pub fn resolve(&self, now: DateTime<Utc>) -> Result<NaiveDate, DateTime<Utc>> {
        match self {
            DateValue::Date(d) => Ok(*d),
            DateValue::Instant(t) => Err(*t),
            DateValue::Relative(days, months) => Ok(shift(now.date_naive(), *days, *months)),
        }
    }
}

/// `today` moved by days and calendar months (a month shift clamps to the month's end).
pub fn shift(today: NaiveDate, days: i64, months: i32) -> NaiveDate {
    let moved = match months.cmp(&0) {
        std::cmp::Ordering::Greater => today.checked_add_months(Months::new(months as u32)),
        std::cmp::Ordering::Less => today.checked_sub_months(Months::new(months.unsigned_abs())),
        std::cmp::Ordering::Equal => Some(today),
    };
    moved.unwrap_or(today) + Duration::days(days)
}

/// An ISO 8601 date or datetime; date-only values mean midnight UTC (`true` = date-only).
pub(crate) fn parse_instant(s: &str) -> Option<(DateTime<Utc>, bool)> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|t| (t.and_utc(), true));
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| (t.with_timezone(&Utc), false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_values_resolve_against_today_and_clamp_months() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(shift(d("2026-03-31"), 0, -1), d("2026-02-28"));
        assert_eq!(shift(d("2026-01-31"), 0, 1), d("2026-02-28"));
        assert_eq!(shift(d("2026-12-31"), 0, 1), d("2027-01-31"));
        assert_eq!(shift(d("2026-03-01"), -7, 0), d("2026-02-22"));
        let now = d("2026-12-05").and_hms_opt(23, 59, 0).unwrap().and_utc();
        assert_eq!(
            DateValue::parse("tomorrow").unwrap().resolve(now),
            Ok(d("2026-12-06"))
        );
        assert!(DateValue::parse("2026-12-05T10:00:00Z")
            .unwrap()
            .resolve(now)
            .is_err());
        assert_eq!(DateValue::parse("next_decade"), None);
    }
}
