//! Times printed as Go prints them: `time.Unix(x, 0).UTC().String()`
//! (`2019-03-12 17:04:26 +0000 UTC`) and RFC 3339 (`2019-03-12T17:04:26Z`). The calendar is
//! the `time` crate's.

use time::OffsetDateTime;

/// `unix` with the date and time written by `write`, or (outside the years -9999 to 9999,
/// which no certificate or SPIRE server time reaches) the plain number of seconds.
fn civil(unix: i64, write: impl FnOnce(OffsetDateTime) -> String) -> String {
    match OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => write(t),
        Err(_) => format!("{unix} seconds since the Unix epoch"),
    }
}

/// Go's `time.Time.String()` of a UTC time.
pub fn utc_string(unix: i64) -> String {
    civil(unix, |t| {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} +0000 UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    })
}

/// RFC 3339 in UTC.
pub fn rfc3339(unix: i64) -> String {
    civil(unix, |t| {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    })
}

/// Seconds since the Unix epoch, now.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_formats() {
        assert_eq!(utc_string(1_552_411_466), "2019-03-12 17:24:26 +0000 UTC");
        assert_eq!(utc_string(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(253_402_300_799), "9999-12-31T23:59:59Z");
        assert_eq!(utc_string(-1), "1969-12-31 23:59:59 +0000 UTC");
        assert_eq!(
            utc_string(i64::MAX),
            "9223372036854775807 seconds since the Unix epoch"
        );
    }
}
