//! Go durations as Kubernetes writes `metav1.Duration` (`"1h"`, `"90s"`, `"1h30m"`,
//! `"1.5h"`), and their conversion to the whole seconds an entry's TTL holds.

use std::time::Duration;

use thiserror::Error;

/// Why a string is not a Go duration, or not a usable TTL.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DurationError {
    /// Not Go's syntax.
    #[error("invalid duration {input:?}")]
    Invalid {
        /// The input.
        input: String,
    },
    /// A unit Go does not know.
    #[error("unknown unit {unit:?} in duration {input:?}")]
    UnknownUnit {
        /// The input.
        input: String,
        /// The unit.
        unit: String,
    },
    /// Below zero.
    #[error("duration {input:?} is negative")]
    Negative {
        /// The input.
        input: String,
    },
    /// More seconds than a TTL holds (SPIRE's API carries int32 seconds).
    #[error("duration {input:?} is too long for a TTL (at most {max} seconds)", max = i32::MAX)]
    TooLong {
        /// The input.
        input: String,
    },
}

fn unit_nanos(unit: &str) -> Option<f64> {
    Some(match unit {
        "ns" => 1.0,
        "us" | "µs" | "μs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        _ => return None,
    })
}

/// Parses a Go duration (`time.ParseDuration`).
pub fn parse(input: &str) -> Result<Duration, DurationError> {
    let invalid = || DurationError::Invalid {
        input: input.to_owned(),
    };
    let (negative, body) = match input.as_bytes().first() {
        Some(b'-') => (true, &input[1..]),
        Some(b'+') => (false, &input[1..]),
        _ => (false, input),
    };
    if body == "0" {
        return Ok(Duration::ZERO);
    }
    if body.is_empty() {
        return Err(invalid());
    }
    let mut nanos = 0f64;
    let mut rest = body;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..num_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(invalid());
        }
        let value: f64 = number.parse().map_err(|_| invalid())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        if unit.is_empty() {
            return Err(DurationError::Invalid {
                input: input.to_owned(),
            });
        }
        let scale = unit_nanos(unit).ok_or_else(|| DurationError::UnknownUnit {
            input: input.to_owned(),
            unit: unit.to_owned(),
        })?;
        nanos += value * scale;
        rest = &rest[unit_len..];
    }
    if negative && nanos > 0.0 {
        return Err(DurationError::Negative {
            input: input.to_owned(),
        });
    }
    if !nanos.is_finite() || nanos > 1e9 * 1e12 {
        return Err(DurationError::TooLong {
            input: input.to_owned(),
        });
    }
    Ok(Duration::from_nanos(nanos as u64))
}

/// A TTL field: empty means 0 (the server's default); otherwise whole seconds that fit in 32
/// bits (fractions of a second are dropped, as SPIRE's controller does).
pub fn ttl_seconds(input: Option<&str>) -> Result<i32, DurationError> {
    let Some(input) = input.filter(|s| !s.is_empty()) else {
        return Ok(0);
    };
    let d = parse(input)?;
    i32::try_from(d.as_secs()).map_err(|_| DurationError::TooLong {
        input: input.to_owned(),
    })
}

/// Formats a duration as Go does for whole units (`1h0m0s`, `90s` is `1m30s`).
pub fn format(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return "0s".into();
    }
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        for (s, secs) in [
            ("0", 0),
            ("1h", 3600),
            ("90s", 90),
            ("1h30m", 5400),
            ("1.5h", 5400),
            ("2m3s", 123),
            ("1500ms", 1),
            ("+5s", 5),
            ("-0s", 0),
        ] {
            assert_eq!(parse(s).map(|d| d.as_secs()), Ok(secs), "{s}");
        }
        assert!(matches!(parse(""), Err(DurationError::Invalid { .. })));
        assert!(matches!(parse("10"), Err(DurationError::Invalid { .. })));
        assert!(matches!(parse("h"), Err(DurationError::Invalid { .. })));
        assert!(matches!(parse("1..2s"), Err(DurationError::Invalid { .. })));
        assert!(matches!(
            parse("3d"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert!(matches!(parse("-1s"), Err(DurationError::Negative { .. })));
    }

    #[test]
    fn ttls() {
        assert_eq!(ttl_seconds(None), Ok(0));
        assert_eq!(ttl_seconds(Some("")), Ok(0));
        assert_eq!(ttl_seconds(Some("1h")), Ok(3600));
        assert!(matches!(
            ttl_seconds(Some("1000000h")),
            Err(DurationError::TooLong { .. })
        ));
        assert_eq!(format(Duration::from_secs(5400)), "1h30m0s");
        assert_eq!(format(Duration::from_secs(90)), "1m30s");
        assert_eq!(format(Duration::ZERO), "0s");
    }
}
