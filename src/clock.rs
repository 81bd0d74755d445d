//! The clock. China keeps UTC+8 all year, so a fixed offset is exact (no time-zone database).
//! `AIDPAY_NOW` (RFC 3339) sets the time for tests and demos of notice ends and deadlines.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

/// UTC+8.
pub fn china() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// Now in China time, or the time `AIDPAY_NOW` fixes.
pub fn now() -> DateTime<FixedOffset> {
    if let Ok(fixed) = std::env::var("AIDPAY_NOW")
        && let Ok(t) = DateTime::parse_from_rfc3339(fixed.trim())
    {
        return t.with_timezone(&china());
    }
    Utc::now().with_timezone(&china())
}

/// Today's date in China.
pub fn today() -> NaiveDate {
    now().date_naive()
}
