//! Times printed as Go's `%v` prints a certificate's `NotBefore`/`NotAfter`:
//! `2019-03-12 17:04:26 +0000 UTC`.

/// Civil date and time (UTC) of a Unix timestamp: year, month, day, hour, minute, second.
fn civil(unix: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let narrow = |v: i64| u32::try_from(v).unwrap_or(0);
    (
        year,
        narrow(month),
        narrow(day),
        narrow(secs / 3600),
        narrow(secs % 3600 / 60),
        narrow(secs % 60),
    )
}

/// Go's `time.Time.String()` of a UTC time.
pub(crate) fn utc_string(unix: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(unix);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} +0000 UTC")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_format() {
        assert_eq!(utc_string(1_552_411_466), "2019-03-12 17:24:26 +0000 UTC");
        assert_eq!(utc_string(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(utc_string(951_782_400), "2000-02-29 00:00:00 +0000 UTC");
        assert_eq!(utc_string(-1), "1969-12-31 23:59:59 +0000 UTC");
    }
}
