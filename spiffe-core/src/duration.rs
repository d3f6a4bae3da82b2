//! Go's durations: the syntax `time.ParseDuration` reads (`"300ms"`, `"1h30m"`, `"-1.5h"`) and
//! the text `time.Duration.String()` writes (`"1h30m0s"`, `"1.5µs"`).
//!
//! SPIRE's configuration files and flags, and Kubernetes' `metav1.Duration`, write durations
//! this way. [`GoDuration`] is Go's signed count of nanoseconds; [`parse`] and [`format()`] work
//! on [`std::time::Duration`] for the callers that take no negative durations.
//!
//! Go's rules, which this module follows exactly: an optional `+` or `-`, then one or more
//! decimal numbers (an integer part, a fraction, or both), each followed by a unit (`ns`, `us`,
//! `µs` or `μs`, `ms`, `s`, `m`, `h`). `"0"` alone needs no unit; any other number without one
//! is refused. The total must fit in a signed 64-bit count of nanoseconds (about 292 years).
//! Callers that take more (a bare number of seconds, say) do so themselves, explicitly.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use thiserror::Error;

/// Why a string is not a Go duration (or not one the caller takes).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DurationError {
    /// Not Go's syntax: empty, a sign alone, a number without digits, or a character that
    /// starts neither a number nor a unit.
    #[error(
        "invalid duration {input:?}: expected numbers each followed by a unit, such as \"1h30m\""
    )]
    Invalid {
        /// The text given.
        input: String,
    },
    /// A number with no unit after it (only `"0"` may stand alone).
    #[error("missing unit in duration {input:?} (ns, us, µs, ms, s, m, h; only \"0\" needs none)")]
    MissingUnit {
        /// The text given.
        input: String,
    },
    /// A unit Go does not know (`d` is not one).
    #[error("unknown unit {unit:?} in duration {input:?} (ns, us, µs, ms, s, m, h)")]
    UnknownUnit {
        /// The text given.
        input: String,
        /// The unit.
        unit: String,
    },
    /// More than Go's `time.Duration` holds.
    #[error(
        "duration {input:?} is out of range (at most 2562047h47m16.854775807s either way of zero)"
    )]
    OutOfRange {
        /// The text given.
        input: String,
    },
    /// Below zero, where only durations of zero or more are taken.
    #[error("duration {input:?} must not be negative")]
    Negative {
        /// The text given.
        input: String,
    },
}

/// A Go `time.Duration`: a signed count of nanoseconds, read and written as Go does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct GoDuration(i64);

impl GoDuration {
    /// No time.
    pub const ZERO: GoDuration = GoDuration(0);

    /// The duration of `nanos` nanoseconds.
    pub const fn from_nanos(nanos: i64) -> Self {
        GoDuration(nanos)
    }

    /// The nanoseconds.
    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    /// Whether the duration is below zero.
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// The same as a [`Duration`], or `None` if negative.
    pub fn to_std(self) -> Option<Duration> {
        u64::try_from(self.0).ok().map(Duration::from_nanos)
    }
}

/// The magnitude Go's parser accumulates in: up to 2^63 (the magnitude of `i64::MIN`).
const LIMIT: u64 = 1 << 63;

/// Nanoseconds in one of Go's units.
fn unit_nanos(unit: &str) -> Option<u64> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// Splits `s` after its leading ASCII digits.
fn split_digits(s: &str) -> (&str, &str) {
    s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()))
}

/// One `number unit` term at the start of `s`: its nanoseconds (at most [`LIMIT`]) and the rest.
fn term<'a>(s: &'a str, input: &str) -> Result<(u64, &'a str), DurationError> {
    let invalid = || DurationError::Invalid {
        input: input.to_owned(),
    };
    let out_of_range = || DurationError::OutOfRange {
        input: input.to_owned(),
    };
    if !s.starts_with(|c: char| c == '.' || c.is_ascii_digit()) {
        return Err(invalid());
    }
    let (int_digits, rest) = split_digits(s);
    let mut whole: u64 = 0;
    for d in int_digits.bytes() {
        whole = whole
            .checked_mul(10)
            .and_then(|w| w.checked_add(u64::from(d - b'0')))
            .filter(|w| *w <= LIMIT)
            .ok_or_else(out_of_range)?;
    }
    // The fraction keeps the digits that fit (as Go's does); later ones are read but ignored.
    let (mut fraction, mut scale, mut frac_digits, mut rest) = (0u64, 1f64, "", rest);
    if let Some(after_point) = rest.strip_prefix('.') {
        (frac_digits, rest) = split_digits(after_point);
        let mut full = false;
        for d in frac_digits.bytes() {
            let next = fraction
                .checked_mul(10)
                .and_then(|f| f.checked_add(u64::from(d - b'0')))
                .filter(|f| *f <= LIMIT);
            match next {
                Some(next) if !full => {
                    fraction = next;
                    scale *= 10.0;
                }
                _ => full = true,
            }
        }
    }
    if int_digits.is_empty() && frac_digits.is_empty() {
        return Err(invalid());
    }
    let unit_len = rest
        .find(|c: char| c == '.' || c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (unit, rest) = rest.split_at(unit_len);
    if unit.is_empty() {
        return Err(DurationError::MissingUnit {
            input: input.to_owned(),
        });
    }
    let per_unit = unit_nanos(unit).ok_or_else(|| DurationError::UnknownUnit {
        input: input.to_owned(),
        unit: unit.to_owned(),
    })?;
    let mut nanos = whole
        .checked_mul(per_unit)
        .filter(|n| *n <= LIMIT)
        .ok_or_else(out_of_range)?;
    if fraction > 0 {
        // In floating point, as Go computes it, so that results agree to the nanosecond; the
        // product is at most an hour's nanoseconds, and the cast truncates as Go's does.
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
        let part = (fraction as f64 * (per_unit as f64 / scale)) as u64;
        nanos = nanos
            .checked_add(part)
            .filter(|n| *n <= LIMIT)
            .ok_or_else(out_of_range)?;
    }
    Ok((nanos, rest))
}

impl FromStr for GoDuration {
    type Err = DurationError;

    /// Go's `time.ParseDuration`.
    fn from_str(input: &str) -> Result<Self, DurationError> {
        let (negative, body) = match input.strip_prefix('-') {
            Some(body) => (true, body),
            None => (false, input.strip_prefix('+').unwrap_or(input)),
        };
        if body == "0" {
            return Ok(GoDuration::ZERO);
        }
        if body.is_empty() {
            return Err(DurationError::Invalid {
                input: input.to_owned(),
            });
        }
        let out_of_range = || DurationError::OutOfRange {
            input: input.to_owned(),
        };
        let (mut total, mut rest) = (0u64, body);
        while !rest.is_empty() {
            let (nanos, tail) = term(rest, input)?;
            total = total
                .checked_add(nanos)
                .filter(|t| *t <= LIMIT)
                .ok_or_else(out_of_range)?;
            rest = tail;
        }
        let signed = if negative {
            0i64.checked_sub_unsigned(total)
        } else {
            i64::try_from(total).ok()
        };
        signed.map(GoDuration).ok_or_else(out_of_range)
    }
}

/// Writes `value / 10^digits` in decimal, without trailing zeros in the fraction (nor a bare
/// point), as Go writes the parts of a duration.
fn write_decimal(f: &mut fmt::Formatter<'_>, value: u128, digits: u32) -> fmt::Result {
    let scale = 10u128.pow(digits);
    write!(f, "{}", value / scale)?;
    let (mut frac, mut width) = (value % scale, digits as usize);
    if frac == 0 {
        return Ok(());
    }
    while frac % 10 == 0 {
        frac /= 10;
        width -= 1;
    }
    write!(f, ".{frac:0width$}")
}

/// Go's `Duration.String()` of a duration of `nanos` nanoseconds (negative if `negative`).
fn write_go(f: &mut fmt::Formatter<'_>, negative: bool, nanos: u128) -> fmt::Result {
    const MICRO: u128 = 1_000;
    const MILLI: u128 = 1_000_000;
    const SECOND: u128 = 1_000_000_000;
    if nanos == 0 {
        return f.write_str("0s");
    }
    if negative {
        f.write_str("-")?;
    }
    if nanos < MICRO {
        return write!(f, "{nanos}ns");
    }
    if nanos < MILLI {
        write_decimal(f, nanos, 3)?;
        return f.write_str("µs");
    }
    if nanos < SECOND {
        write_decimal(f, nanos, 6)?;
        return f.write_str("ms");
    }
    let secs = nanos / SECOND;
    let (hours, minutes) = (secs / 3600, secs / 60 % 60);
    if hours > 0 {
        write!(f, "{hours}h")?;
    }
    if hours > 0 || minutes > 0 {
        write!(f, "{minutes}m")?;
    }
    write_decimal(f, secs % 60 * SECOND + nanos % SECOND, 9)?;
    f.write_str("s")
}

impl fmt::Display for GoDuration {
    /// Go's `Duration.String()`: `0s`, `850ns`, `1.5µs`, `2.2ms`, `3.3s`, `4m5s`, `-1h0m0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_go(f, self.0 < 0, u128::from(self.0.unsigned_abs()))
    }
}

/// A [`Duration`] displayed as Go displays a duration.
struct StdAsGo(Duration);

impl fmt::Display for StdAsGo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_go(f, false, self.0.as_nanos())
    }
}

/// Parses a Go duration (`time.ParseDuration`) of zero or more.
///
/// # Errors
///
/// [`DurationError`] if `input` is not Go's syntax, is out of Go's range, or is below zero
/// ([`DurationError::Negative`]; `"-0s"` is zero and taken).
pub fn parse(input: &str) -> Result<Duration, DurationError> {
    input
        .parse::<GoDuration>()?
        .to_std()
        .ok_or_else(|| DurationError::Negative {
            input: input.to_owned(),
        })
}

/// `d` as Go's `Duration.String()` writes it (`1h2m3.5s`, `1.5µs`, `0s`); durations beyond
/// Go's range are written the same way, with more hours.
pub fn format(d: Duration) -> String {
    StdAsGo(d).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: i64 = 1;
    const US: i64 = 1_000;
    const MS: i64 = 1_000_000;
    const S: i64 = 1_000_000_000;
    const M: i64 = 60 * S;
    const H: i64 = 60 * M;

    fn nanos(s: &str) -> Result<i64, DurationError> {
        s.parse::<GoDuration>().map(GoDuration::as_nanos)
    }

    /// Go's `parseDurationTests` (src/time/time_test.go).
    #[test]
    fn parses_as_go() {
        let cases: &[(&str, i64)] = &[
            ("0", 0),
            ("5s", 5 * S),
            ("30s", 30 * S),
            ("1478s", 1478 * S),
            ("-5s", -5 * S),
            ("+5s", 5 * S),
            ("-0", 0),
            ("+0", 0),
            ("5.0s", 5 * S),
            ("5.6s", 5 * S + 600 * MS),
            ("5.s", 5 * S),
            (".5s", 500 * MS),
            ("1.0s", S),
            ("1.00s", S),
            ("1.004s", S + 4 * MS),
            ("1.0040s", S + 4 * MS),
            ("100.00100s", 100 * S + MS),
            ("10ns", 10 * NS),
            ("11us", 11 * US),
            ("12µs", 12 * US),
            ("12μs", 12 * US),
            ("13ms", 13 * MS),
            ("14s", 14 * S),
            ("15m", 15 * M),
            ("16h", 16 * H),
            ("3h30m", 3 * H + 30 * M),
            ("10.5s4m", 4 * M + 10 * S + 500 * MS),
            ("-2m3.4s", -(2 * M + 3 * S + 400 * MS)),
            (
                "1h2m3s4ms5us6ns",
                H + 2 * M + 3 * S + 4 * MS + 5 * US + 6 * NS,
            ),
            ("39h9m14.425s", 39 * H + 9 * M + 14 * S + 425 * MS),
            ("52763797000ns", 52_763_797_000),
            ("0.3333333333333333333h", 20 * M),
            ("9007199254740993ns", (1 << 53) + 1),
            ("9223372036854775807ns", i64::MAX),
            ("9223372036854775.807us", i64::MAX),
            ("9223372036s854ms775us807ns", i64::MAX),
            ("-9223372036854775808ns", i64::MIN),
            ("-9223372036854775.808us", i64::MIN),
            ("-9223372036s854ms775us808ns", i64::MIN),
            ("-2562047h47m16.854775808s", i64::MIN),
            ("0.100000000000000000000h", 6 * M),
            ("0.830103483285477580700h", 49 * M + 48 * S + 372_539_827),
        ];
        for (input, want) in cases {
            assert_eq!(nanos(input), Ok(*want), "{input}");
        }
    }

    /// Go's `parseDurationErrorTests` (those that are valid UTF-8).
    #[test]
    fn refuses_as_go() {
        for input in [
            "",
            "-",
            "s",
            ".",
            "-.",
            ".s",
            "+.s",
            "\u{FFFD}",
            "\u{FFFD} hello \u{FFFD} world",
            " 5s",
        ] {
            assert_eq!(
                nanos(input),
                Err(DurationError::Invalid {
                    input: input.into()
                }),
                "{input:?}"
            );
        }
        for input in ["3", "5", "-5", "1.5", "1..2s", "1h30"] {
            assert_eq!(
                nanos(input),
                Err(DurationError::MissingUnit {
                    input: input.into()
                }),
                "{input:?}"
            );
        }
        assert_eq!(
            nanos("1d"),
            Err(DurationError::UnknownUnit {
                input: "1d".into(),
                unit: "d".into()
            })
        );
        assert!(
            matches!(nanos("1hh"), Err(DurationError::UnknownUnit { unit, .. }) if unit == "hh")
        );
        assert!(
            matches!(nanos("5s "), Err(DurationError::UnknownUnit { unit, .. }) if unit == "s ")
        );
        for input in [
            "9223372036854775810ns",
            "9223372036854775808ns",
            "-9223372036854775809ns",
            "9223372036854776us",
            "3000000h",
            "9223372036854775.808us",
            "9223372036854ms775us808ns",
            "99999999999999999999999s",
        ] {
            assert_eq!(
                nanos(input),
                Err(DurationError::OutOfRange {
                    input: input.into()
                }),
                "{input:?}"
            );
        }
    }

    /// Go's `durationTests`, and their negatives.
    #[test]
    fn formats_as_go() {
        let cases: &[(&str, i64)] = &[
            ("0s", 0),
            ("1ns", NS),
            ("1.1µs", 1100 * NS),
            ("2.2ms", 2200 * US),
            ("3.3s", 3300 * MS),
            ("4m5s", 4 * M + 5 * S),
            ("4m5.001s", 4 * M + 5001 * MS),
            ("5h6m7.001s", 5 * H + 6 * M + 7001 * MS),
            ("8m0.000000001s", 8 * M + NS),
            ("2562047h47m16.854775807s", i64::MAX),
            ("-2562047h47m16.854775808s", i64::MIN),
        ];
        for (text, n) in cases {
            assert_eq!(GoDuration::from_nanos(*n).to_string(), *text);
            if *n > 0 {
                assert_eq!(GoDuration::from_nanos(-n).to_string(), format!("-{text}"));
            }
        }
        assert_eq!(format(Duration::ZERO), "0s");
        assert_eq!(format(Duration::from_nanos(850)), "850ns");
        assert_eq!(format(Duration::from_nanos(1_500)), "1.5µs");
        assert_eq!(format(Duration::from_nanos(3_123_456)), "3.123456ms");
        assert_eq!(format(Duration::from_millis(2)), "2ms");
        assert_eq!(format(Duration::from_millis(2_500)), "2.5s");
        assert_eq!(format(Duration::from_secs(60)), "1m0s");
        assert_eq!(format(Duration::from_secs(90)), "1m30s");
        assert_eq!(format(Duration::from_secs(5400)), "1h30m0s");
        assert_eq!(format(Duration::from_millis(3_723_500)), "1h2m3.5s");
        // Beyond Go's range, more hours.
        assert_eq!(
            format(Duration::from_secs(10_000_000 * 3600)),
            "10000000h0m0s"
        );
    }

    /// Go's `TestParseDurationRoundTrip`, on its extremes and on whole milliseconds.
    #[test]
    fn round_trips() {
        for n in [
            i64::MAX,
            i64::MIN,
            0,
            1,
            -1,
            123 * MS,
            7 * H + 59 * S + 999 * MS,
        ] {
            let d = GoDuration::from_nanos(n);
            assert_eq!(d.to_string().parse(), Ok(d), "{d}");
        }
        let mut ms: i64 = 1;
        while ms < i64::from(i32::MAX) {
            let d = GoDuration::from_nanos(ms * MS);
            assert_eq!(d.to_string().parse(), Ok(d), "{d}");
            ms = ms * 7 + 3;
        }
    }

    #[test]
    fn std_durations_of_zero_or_more() {
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("+5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse("-0s"), Ok(Duration::ZERO));
        assert_eq!(parse("-0"), Ok(Duration::ZERO));
        assert_eq!(
            parse("-1s"),
            Err(DurationError::Negative {
                input: "-1s".into()
            })
        );
        assert_eq!(GoDuration::from_nanos(-1).to_std(), None);
        assert!(GoDuration::from_nanos(-1).is_negative());
        assert_eq!(
            GoDuration::from_nanos(i64::MAX).to_std(),
            Some(Duration::from_nanos(u64::try_from(i64::MAX).unwrap()))
        );
        let e = parse("10").unwrap_err().to_string();
        assert!(e.contains("missing unit") && e.contains("\"10\""), "{e}");
    }
}
