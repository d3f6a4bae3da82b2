//! The `by_expires_before` filter of ListAgents and CountAgents (the `-expiresBefore` flag of
//! `agent list` and `agent count`): one parser for the server and the command line.
//!
//! SPIRE's CLI refuses what Go's `time.Parse` refuses with the layout [`LAYOUT`] and sends
//! the text as typed; SPIRE's server parses it the same way and, when that fails, drops the
//! filter without a word. Here the one rule is Go's for that layout, and a value that breaks
//! it is refused, naming the rule, on both sides. Two forms are taken besides:
//!
//! - a zone abbreviation in place of the final `-07` (`2019-03-12 17:24:26 +0000 UTC`, as Go's
//!   `Time.String()` writes a time and as `agent show` prints one); the numeric offset counts;
//! - plain seconds since the Unix epoch (`1552411466`).
//!
//! [`format_expires_before`] writes a time in the layout itself (UTC), which SPIRE's server
//! and this one both read: the command line sends that, whatever form was typed.

use thiserror::Error;

/// The longest value read: the layout with a 9-digit fraction and a zone name fits well within.
const MAX_LEN: usize = 64;

/// Go's layout that `-expiresBefore` and `by_expires_before` take.
pub const LAYOUT: &str = "2006-01-02 15:04:05 -0700 -07";

/// Why a value is not a `by_expires_before` time.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ExpiresBeforeError {
    /// Not the layout (nor Unix seconds).
    #[error(
        "by_expires_before {input:?} does not match the layout \"2006-01-02 15:04:05 -0700 -07\" \
         (nor is it seconds since the Unix epoch): {expected}"
    )]
    Layout {
        /// The text given.
        input: String,
        /// What was expected where the text departs from the layout.
        expected: &'static str,
    },
    /// The layout, with a field out of its range.
    #[error("by_expires_before {input:?}: {field} out of range ({range})")]
    Range {
        /// The text given.
        input: String,
        /// `month`, `day`, `hour`, `minute`, `second`, `zone offset hour` or `zone offset
        /// minute`.
        field: &'static str,
        /// The values allowed.
        range: &'static str,
    },
    /// A time that the layout cannot write (before year 0 or after 9999).
    #[error("by_expires_before: {unix} seconds since the Unix epoch is not within years 0 to 9999")]
    Unrepresentable {
        /// The time.
        unix: i64,
    },
}

/// A reader of the layout's fields, front to back.
struct Fields<'a> {
    input: &'a str,
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    fn layout(&self, expected: &'static str) -> ExpiresBeforeError {
        ExpiresBeforeError::Layout {
            input: self.input.to_owned(),
            expected,
        }
    }

    fn range(&self, field: &'static str, range: &'static str) -> ExpiresBeforeError {
        ExpiresBeforeError::Range {
            input: self.input.to_owned(),
            field,
            range,
        }
    }

    /// A number of `min..=max` digits (fewer only if a non-digit follows).
    fn number(
        &mut self,
        min: usize,
        max: usize,
        expected: &'static str,
    ) -> Result<u32, ExpiresBeforeError> {
        let len = self
            .rest
            .iter()
            .take(max)
            .take_while(|b| b.is_ascii_digit())
            .count();
        if len < min {
            return Err(self.layout(expected));
        }
        let (digits, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(digits.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    }

    fn byte(&mut self, b: u8, expected: &'static str) -> Result<(), ExpiresBeforeError> {
        match self.rest.split_first() {
            Some((first, rest)) if *first == b => {
                self.rest = rest;
                Ok(())
            }
            _ => Err(self.layout(expected)),
        }
    }

    /// The layout's space: one or more spaces in the text (Go's rule).
    fn spaces(&mut self, expected: &'static str) -> Result<(), ExpiresBeforeError> {
        self.byte(b' ', expected)?;
        while let Some(rest) = self.rest.strip_prefix(b" ") {
            self.rest = rest;
        }
        Ok(())
    }

    /// A numeric zone offset (`+hhmm`, or `+hh` if `with_minutes` is false), in seconds.
    fn offset(
        &mut self,
        with_minutes: bool,
        expected: &'static str,
    ) -> Result<i64, ExpiresBeforeError> {
        let sign = match self.rest.first() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return Err(self.layout(expected)),
        };
        self.rest = &self.rest[1..];
        let hours = self.number(2, 2, expected)?;
        let minutes = if with_minutes {
            self.number(2, 2, expected)?
        } else {
            0
        };
        // Go allows 24 hours and 60 minutes: some people write those.
        if hours > 24 {
            return Err(self.range("zone offset hour", "0 to 24"));
        }
        if minutes > 60 {
            return Err(self.range("zone offset minute", "0 to 60"));
        }
        Ok(sign * i64::from(hours * 3600 + minutes * 60))
    }
}

/// Parses a `by_expires_before` value (see the [module](self) for the forms taken) into seconds
/// since the Unix epoch. A fraction of a second (which Go reads after the seconds, with `.` or
/// `,`) rounds up, so that "expires before" keeps the meaning it has at nanosecond precision.
///
/// # Errors
///
/// [`ExpiresBeforeError::Layout`] if the text is longer than 64 bytes or is not the layout,
/// naming what was expected where it departs; [`ExpiresBeforeError::Range`] if a field is out
/// of its range (month 1 to 12, the month's days, hour 0 to 23, minute and second 0 to 59,
/// offset up to 24 hours and 60 minutes).
pub fn parse_expires_before(input: &str) -> Result<i64, ExpiresBeforeError> {
    if input.len() > MAX_LEN {
        // Refused before any parsing, and not echoed whole into the error (the request that
        // carries it may be megabytes long).
        let mut end = MAX_LEN;
        while !input.is_char_boundary(end) {
            end -= 1;
        }
        return Err(ExpiresBeforeError::Layout {
            input: format!("{}...", &input[..end]),
            expected: "at most 64 bytes",
        });
    }
    if let Ok(unix) = input.parse::<i64>() {
        return Ok(unix);
    }
    let mut f = Fields {
        input,
        rest: input.as_bytes(),
    };
    let year = f.number(4, 4, "a 4-digit year")?;
    f.byte(b'-', "'-' after the year")?;
    let month = f.number(2, 2, "a 2-digit month")?;
    let month = u8::try_from(month)
        .ok()
        .and_then(|m| time::Month::try_from(m).ok())
        .ok_or_else(|| f.range("month", "1 to 12"))?;
    f.byte(b'-', "'-' after the month")?;
    let day = f.number(2, 2, "a 2-digit day")?;
    f.spaces("a space after the date")?;
    let hour = f.number(1, 2, "an hour")?;
    if hour > 23 {
        return Err(f.range("hour", "0 to 23"));
    }
    f.byte(b':', "':' after the hour")?;
    let minute = f.number(2, 2, "2-digit minutes")?;
    if minute > 59 {
        return Err(f.range("minute", "0 to 59"));
    }
    f.byte(b':', "':' after the minutes")?;
    let second = f.number(2, 2, "2-digit seconds")?;
    if second > 59 {
        return Err(f.range("second", "0 to 59"));
    }
    // Go reads a fraction here even though the layout has none; its first 9 digits count.
    let mut fraction = false;
    if let [b'.' | b',', d, ..] = f.rest
        && d.is_ascii_digit()
    {
        let digits = f.rest[1..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        fraction = f.rest[1..=digits].iter().take(9).any(|d| *d != b'0');
        f.rest = &f.rest[1 + digits..];
    }
    f.spaces("a space after the time")?;
    let mut offset = f.offset(true, "a zone offset such as -0700")?;
    f.spaces("a space after the zone offset")?;
    if f.rest.first().is_some_and(u8::is_ascii_alphabetic) {
        // A zone abbreviation (Go's `Time.String()`): the numeric offset stands.
        while f.rest.first().is_some_and(u8::is_ascii_alphabetic) {
            f.rest = &f.rest[1..];
        }
    } else {
        // Go's `-07`: when both offsets are given, the last one counts (as in Go).
        offset = f.offset(false, "a zone offset such as -07")?;
    }
    if !f.rest.is_empty() {
        return Err(f.layout("nothing after the zone"));
    }
    let date = u8::try_from(day)
        .ok()
        .and_then(|day| time::Date::from_calendar_date(year.try_into().ok()?, month, day).ok())
        .ok_or_else(|| f.range("day", "1 to the month's last day"))?;
    let local = date.midnight().assume_utc().unix_timestamp()
        + i64::from(hour * 3600 + minute * 60 + second);
    Ok(local - offset + i64::from(fraction))
}

/// `unix` in the layout, in UTC (`2019-03-12 17:24:26 +0000 +00`).
///
/// # Errors
///
/// [`ExpiresBeforeError::Unrepresentable`] if the time is before year 0 or after year 9999.
pub fn format_expires_before(unix: i64) -> Result<String, ExpiresBeforeError> {
    let t = time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .filter(|t| (0..=9999).contains(&t.year()))
        .ok_or(ExpiresBeforeError::Unrepresentable { unix })?;
    Ok(format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} +0000 +00",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_value_is_refused_without_echoing_it_whole() {
        let long = format!("2024-01-01 00:00:00 +0000 {}", "é".repeat(10_000));
        let err = parse_expires_before(&long).unwrap_err();
        assert!(
            matches!(&err, ExpiresBeforeError::Layout { input, expected: "at most 64 bytes" } if input.len() <= 67),
            "{err:?}"
        );
    }

    /// What Go's `time.Parse(LAYOUT, ...)` gives (checked with Go 1.25), as Unix seconds.
    #[test]
    fn go_layout() {
        for (input, unix) in [
            ("2024-01-01 12:00:00 +0000 +00", 1_704_110_400),
            ("2024-01-01 12:00:00 -0700 -07", 1_704_135_600),
            // The last offset counts.
            ("2024-01-01 12:00:00 +0200 +00", 1_704_110_400),
            ("2024-01-01 12:00:00 +0000 -07", 1_704_135_600),
            ("2024-01-01 12:00:00 +0000 -00", 1_704_110_400),
            ("2024-01-01 2:00:00 +0000 +00", 1_704_074_400),
            ("2024-01-01  12:00:00   +0000  +00", 1_704_110_400),
            ("2024-01-01 12:00:00 +2460 +00", 1_704_110_400),
            ("0000-01-01 00:00:00 +0000 +00", -62_167_219_200),
            // Fractions round up.
            ("2024-01-01 12:00:00.5 +0000 +00", 1_704_110_401),
            ("2024-01-01 12:00:00,25 +0000 +00", 1_704_110_401),
            ("2024-01-01 12:00:00.000 +0000 +00", 1_704_110_400),
            ("2024-01-01 12:00:00.0000000001 +0000 +00", 1_704_110_400),
            ("2024-02-29 12:00:00 +0000 +00", 1_709_208_000),
        ] {
            assert_eq!(parse_expires_before(input), Ok(unix), "{input:?}");
        }
    }

    #[test]
    fn time_string_and_unix_seconds() {
        for (input, unix) in [
            ("2023-11-14 22:13:20 +0000 UTC", 1_700_000_000),
            ("2023-11-15 00:13:20 +0200 EET", 1_700_000_000),
            ("2024-01-01 12:00:00 +0000 UTC", 1_704_110_400),
            ("1700000000", 1_700_000_000),
            ("1704110400", 1_704_110_400),
            ("-1", -1),
        ] {
            assert_eq!(parse_expires_before(input), Ok(unix), "{input:?}");
        }
    }

    #[test]
    fn refused_as_go_refuses() {
        for input in [
            "yesterday",
            "",
            "2024-1-01 12:00:00 +0000 +00",
            "02024-01-01 12:00:00 +0000 +00",
            " 2024-01-01 12:00:00 +0000 +00",
            "2024-01-01 12:00:00 +00:00 +00",
            "2024-01-01 12:00:00 +0000 +0000",
            "2024-01-01 12:00:00 +0000 +0",
            "2024-01-01 12:00:00 +0000 +00x",
            "2024-01-01 12:00:00 +0000 +00 ",
            "2024-01-01 12:00:00 +0000\t+00",
            "2024-01-01 12:00:00 +0000+00",
            "2024-01-01 12:00:00",
            "2024-01-01 123:00:00 +0000 +00",
            "2024-01-01 12:00:00 +0000 UTC extra",
        ] {
            assert!(
                matches!(
                    parse_expires_before(input),
                    Err(ExpiresBeforeError::Layout { .. })
                ),
                "{input:?}: {:?}",
                parse_expires_before(input)
            );
        }
        for (input, field) in [
            ("2024-13-01 12:00:00 +0000 +00", "month"),
            ("2024-00-01 12:00:00 +0000 +00", "month"),
            ("2024-02-30 12:00:00 +0000 +00", "day"),
            ("2023-02-29 12:00:00 +0000 +00", "day"),
            ("2024-01-00 12:00:00 +0000 +00", "day"),
            ("2024-01-01 24:00:00 +0000 +00", "hour"),
            ("2024-01-01 12:60:00 +0000 +00", "minute"),
            ("2024-01-01 12:00:60 +0000 +00", "second"),
            ("2024-01-01 12:00:00 +2500 +00", "zone offset hour"),
            ("2024-01-01 12:00:00 +0061 +00", "zone offset minute"),
            ("2024-01-01 12:00:00 +0000 +25", "zone offset hour"),
        ] {
            assert!(
                matches!(
                    parse_expires_before(input),
                    Err(ExpiresBeforeError::Range { field: f, .. }) if f == field
                ),
                "{input:?}: {:?}",
                parse_expires_before(input)
            );
        }
        let e = parse_expires_before("yesterday").unwrap_err().to_string();
        assert!(e.contains("by_expires_before") && e.contains(LAYOUT), "{e}");
    }

    #[test]
    fn formats_the_layout_in_utc() {
        assert_eq!(
            format_expires_before(1_704_110_400).as_deref(),
            Ok("2024-01-01 12:00:00 +0000 +00")
        );
        assert_eq!(
            format_expires_before(0).as_deref(),
            Ok("1970-01-01 00:00:00 +0000 +00")
        );
        for unix in [0, 1_700_000_000, -62_167_219_200, 253_402_300_799] {
            let text = format_expires_before(unix).unwrap();
            assert_eq!(parse_expires_before(&text), Ok(unix), "{text}");
        }
        assert_eq!(
            format_expires_before(253_402_300_800),
            Err(ExpiresBeforeError::Unrepresentable {
                unix: 253_402_300_800
            })
        );
        assert!(format_expires_before(i64::MIN).is_err());
    }
}
