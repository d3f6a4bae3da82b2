//! TTL fields: Go durations as Kubernetes writes `metav1.Duration` (`"1h"`, `"90s"`,
//! `"1h30m"`, `"1.5h"`; read by [`spiffe_core::duration`]), and their conversion to the whole
//! seconds an entry's TTL holds.

use spiffe_core::duration::{self, DurationError};
use thiserror::Error;

/// Why a TTL field is not usable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TtlError {
    /// Not a Go duration of zero or more.
    #[error(transparent)]
    Duration(#[from] DurationError),
    /// More seconds than a TTL holds (SPIRE's API carries int32 seconds).
    #[error("duration {input:?} is too long for a TTL (at most {max} seconds)", max = i32::MAX)]
    TooLong {
        /// The text given.
        input: String,
    },
}

/// A TTL field: empty means 0 (the server's default); otherwise whole seconds that fit in 32
/// bits (fractions of a second are dropped, as SPIRE's controller does).
///
/// # Errors
///
/// [`TtlError::Duration`] if the text is not a Go duration, or is negative;
/// [`TtlError::TooLong`] beyond `i32::MAX` seconds.
pub fn ttl_seconds(input: Option<&str>) -> Result<i32, TtlError> {
    let Some(input) = input.filter(|s| !s.is_empty()) else {
        return Ok(0);
    };
    let d = duration::parse(input)?;
    i32::try_from(d.as_secs()).map_err(|_| TtlError::TooLong {
        input: input.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls() {
        assert_eq!(ttl_seconds(None), Ok(0));
        assert_eq!(ttl_seconds(Some("")), Ok(0));
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
            assert_eq!(ttl_seconds(Some(s)), Ok(secs), "{s}");
        }
        assert!(matches!(
            ttl_seconds(Some("1000000h")),
            Err(TtlError::TooLong { .. })
        ));
        for (s, invalid) in [
            ("10", "missing unit"),
            ("h", "invalid"),
            ("3d", "unknown unit"),
            ("-1s", "negative"),
        ] {
            let e = ttl_seconds(Some(s)).unwrap_err();
            assert!(matches!(e, TtlError::Duration(_)), "{s}");
            assert!(e.to_string().contains(invalid), "{s}: {e}");
        }
    }
}
