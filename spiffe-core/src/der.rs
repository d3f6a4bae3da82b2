//! A minimal, zero-copy DER reader: exactly what certificates, keys and CSRs need.
//!
//! Only single-byte tags are supported (every structure read here uses them), lengths must be
//! in their shortest form (DER), indefinite lengths are refused. Nothing here panics on any
//! input; every failure is a [`DerError`] that says what was being read.

use thiserror::Error;

/// Malformed DER, with the name of the structure being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("malformed DER in {what}: {problem}")]
pub struct DerError {
    /// The structure being read (`"TBSCertificate"`, `"key usage"`, ...).
    pub what: &'static str,
    /// What is wrong with it.
    pub problem: &'static str,
}

impl DerError {
    pub(crate) const fn new(what: &'static str, problem: &'static str) -> Self {
        DerError { what, problem }
    }
}

/// DER tags used in this crate.
pub(crate) mod tag {
    pub(crate) const BOOLEAN: u8 = 0x01;
    pub(crate) const INTEGER: u8 = 0x02;
    pub(crate) const BIT_STRING: u8 = 0x03;
    pub(crate) const OCTET_STRING: u8 = 0x04;
    pub(crate) const NULL: u8 = 0x05;
    pub(crate) const OID: u8 = 0x06;
    pub(crate) const UTC_TIME: u8 = 0x17;
    pub(crate) const GENERALIZED_TIME: u8 = 0x18;
    pub(crate) const SEQUENCE: u8 = 0x30;
    pub(crate) const SET: u8 = 0x31;
    /// `[0]` constructed (explicit tag 0).
    pub(crate) const CONTEXT_0: u8 = 0xA0;
    /// `[3]` constructed (explicit tag 3).
    pub(crate) const CONTEXT_3: u8 = 0xA3;
    /// `[1]` primitive (implicit tag 1).
    pub(crate) const IMPLICIT_1: u8 = 0x81;
    /// `[2]` primitive (implicit tag 2: dNSName in GeneralName).
    pub(crate) const IMPLICIT_2: u8 = 0x82;
    /// `[6]` primitive (implicit tag 6: uniformResourceIdentifier in GeneralName).
    pub(crate) const IMPLICIT_6: u8 = 0x86;
}

/// A cursor over DER bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over `data`; `what` names the structure in errors.
    pub(crate) fn new(data: &'a [u8], what: &'static str) -> Self {
        Reader { data, what }
    }

    pub(crate) fn err(&self, problem: &'static str) -> DerError {
        DerError::new(self.what, problem)
    }

    /// Whether all bytes were read.
    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The tag of the next element, if any.
    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.data.first().copied()
    }

    /// Reads the next element: its tag, its contents, and the whole encoding (tag and length
    /// included).
    pub(crate) fn read_any(&mut self) -> Result<(u8, &'a [u8], &'a [u8]), DerError> {
        let data = self.data;
        let (&tag, rest) = data
            .split_first()
            .ok_or(self.err("unexpected end of data"))?;
        if tag & 0x1F == 0x1F {
            return Err(self.err("multi-byte tags are not supported"));
        }
        let (&first, mut rest) = rest.split_first().ok_or(self.err("missing length"))?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7F);
            if n == 0 {
                return Err(self.err("indefinite length is not DER"));
            }
            if n > 4 {
                return Err(self.err("length too large"));
            }
            let (bytes, after) = rest
                .split_at_checked(n)
                .ok_or(self.err("truncated length"))?;
            rest = after;
            if bytes.first() == Some(&0) {
                return Err(self.err("length not in shortest form"));
            }
            let len = bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            if len < 0x80 {
                return Err(self.err("length not in shortest form"));
            }
            len
        };
        let (contents, after) = rest
            .split_at_checked(len)
            .ok_or(self.err("element longer than its container"))?;
        let header_len = data.len() - rest.len();
        let whole = data
            .get(..header_len + len)
            .ok_or(self.err("element longer than its container"))?;
        self.data = after;
        Ok((tag, contents, whole))
    }

    /// Reads an element that must have tag `expected`; returns its contents.
    pub(crate) fn read(&mut self, expected: u8) -> Result<&'a [u8], DerError> {
        let (tag, contents, _) = self.read_any()?;
        if tag != expected {
            return Err(self.err("unexpected tag"));
        }
        Ok(contents)
    }

    /// Reads an element that must have tag `expected`; returns its whole encoding.
    pub(crate) fn read_whole(&mut self, expected: u8) -> Result<&'a [u8], DerError> {
        let (tag, _, whole) = self.read_any()?;
        if tag != expected {
            return Err(self.err("unexpected tag"));
        }
        Ok(whole)
    }

    /// Reads an element with tag `expected` if the next element has that tag.
    pub(crate) fn read_optional(&mut self, expected: u8) -> Result<Option<&'a [u8]>, DerError> {
        if self.peek_tag() == Some(expected) {
            self.read(expected).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Reads a SEQUENCE and returns a reader over its contents.
    pub(crate) fn sequence(&mut self, what: &'static str) -> Result<Reader<'a>, DerError> {
        let contents = self.read(tag::SEQUENCE)?;
        Ok(Reader::new(contents, what))
    }

    /// Reads a BOOLEAN (DER: 0x00 or 0xFF).
    pub(crate) fn boolean(&mut self) -> Result<bool, DerError> {
        match self.read(tag::BOOLEAN)? {
            [0x00] => Ok(false),
            [0xFF] => Ok(true),
            _ => Err(self.err("BOOLEAN is not 0x00 or 0xFF")),
        }
    }

    /// Reads a non-negative INTEGER that fits in a `u64`.
    pub(crate) fn small_uint(&mut self) -> Result<u64, DerError> {
        let bytes = self.read(tag::INTEGER)?;
        uint_bytes(bytes, self.what)
            .and_then(|b| {
                if b.len() > 8 {
                    Err(self.err("INTEGER too large"))
                } else {
                    Ok(b)
                }
            })
            .map(|b| b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
    }

    /// Reads a BIT STRING with no unused bits and returns its bytes.
    pub(crate) fn bit_string_octets(&mut self) -> Result<&'a [u8], DerError> {
        let contents = self.read(tag::BIT_STRING)?;
        match contents.split_first() {
            Some((0, bits)) => Ok(bits),
            Some(_) => Err(self.err("BIT STRING with unused bits where whole octets are required")),
            None => Err(self.err("empty BIT STRING")),
        }
    }

    /// Fails unless every byte was read.
    pub(crate) fn finish(&self) -> Result<(), DerError> {
        if self.data.is_empty() {
            Ok(())
        } else {
            Err(self.err("trailing data"))
        }
    }
}

/// The magnitude bytes of a non-negative DER INTEGER (leading zero removed), checked for
/// minimal encoding.
pub(crate) fn uint_bytes<'a>(bytes: &'a [u8], what: &'static str) -> Result<&'a [u8], DerError> {
    match bytes {
        [] => Err(DerError::new(what, "empty INTEGER")),
        [first, ..] if first & 0x80 != 0 => Err(DerError::new(what, "negative INTEGER")),
        [0, second, ..] if second & 0x80 == 0 => {
            Err(DerError::new(what, "INTEGER not in shortest form"))
        }
        [0, rest @ ..] if !rest.is_empty() => Ok(rest),
        _ => Ok(bytes),
    }
}

/// Encodes a length in DER.
pub(crate) fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// Encodes one element.
pub(crate) fn push_tlv(out: &mut Vec<u8>, tag: u8, contents: &[u8]) {
    out.push(tag);
    push_len(out, contents.len());
    out.extend_from_slice(contents);
}

/// Encodes a non-negative integer given by its big-endian magnitude.
pub(crate) fn push_uint(out: &mut Vec<u8>, magnitude: &[u8]) {
    let skip = magnitude.iter().take_while(|&&b| b == 0).count();
    let m = &magnitude[skip.min(magnitude.len().saturating_sub(1))..];
    let pad = m.first().is_some_and(|b| b & 0x80 != 0);
    out.push(tag::INTEGER);
    push_len(out, m.len() + usize::from(pad));
    if pad {
        out.push(0);
    }
    out.extend_from_slice(m);
}

/// Parses an X.509 `Time` (UTCTime or GeneralizedTime, UTC, seconds precision) into seconds
/// since the Unix epoch.
pub(crate) fn time(reader: &mut Reader<'_>) -> Result<i64, DerError> {
    let (tag, contents, _) = reader.read_any()?;
    let err = |p| DerError::new("Time", p);
    let digits = |s: &[u8]| -> Result<i64, DerError> {
        s.iter().try_fold(0i64, |acc, &b| {
            if b.is_ascii_digit() {
                Ok(acc * 10 + i64::from(b - b'0'))
            } else {
                Err(err("non-digit in time"))
            }
        })
    };
    let (year, rest) = match tag {
        tag::UTC_TIME => {
            if contents.len() != 13 {
                return Err(err("UTCTime must be YYMMDDHHMMSSZ"));
            }
            let yy = digits(&contents[..2])?;
            // RFC 5280 4.1.2.5.1: YY >= 50 is 19YY, else 20YY.
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &contents[2..])
        }
        tag::GENERALIZED_TIME => {
            if contents.len() != 15 {
                return Err(err("GeneralizedTime must be YYYYMMDDHHMMSSZ"));
            }
            (digits(&contents[..4])?, &contents[4..])
        }
        _ => return Err(err("expected UTCTime or GeneralizedTime")),
    };
    if rest.last() != Some(&b'Z') {
        return Err(err("time must end in Z"));
    }
    let narrow = |v: i64| u8::try_from(v).map_err(|_| err("time field out of range"));
    let month = time::Month::try_from(narrow(digits(&rest[0..2])?)?)
        .map_err(|_| err("time field out of range"))?;
    let day = narrow(digits(&rest[2..4])?)?;
    let date = i32::try_from(year)
        .ok()
        .and_then(|year| time::Date::from_calendar_date(year, month, day).ok())
        .ok_or_else(|| err("time field out of range"))?;
    let clock = time::Time::from_hms(
        narrow(digits(&rest[4..6])?)?,
        narrow(digits(&rest[6..8])?)?,
        narrow(digits(&rest[8..10])?)?,
    )
    .map_err(|_| err("time field out of range"))?;
    Ok(time::PrimitiveDateTime::new(date, clock)
        .assume_utc()
        .unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(tag: u8, s: &str) -> Result<i64, DerError> {
        let mut der = vec![tag, s.len() as u8];
        der.extend_from_slice(s.as_bytes());
        time(&mut Reader::new(&der, "test"))
    }

    #[test]
    fn times() {
        assert_eq!(t(tag::UTC_TIME, "700101000000Z").unwrap(), 0);
        assert_eq!(t(tag::UTC_TIME, "491231235959Z").unwrap(), 2_524_607_999);
        assert_eq!(
            t(tag::GENERALIZED_TIME, "20240229120000Z").unwrap(),
            1_709_208_000
        );
        assert!(t(tag::GENERALIZED_TIME, "20230229120000Z").is_err());
        assert!(t(tag::UTC_TIME, "701301000000Z").is_err());
        assert!(t(tag::UTC_TIME, "7001010000001").is_err());
        assert!(t(tag::UTC_TIME, "70010100000Z").is_err());
        assert!(t(tag::INTEGER, "700101000000Z").is_err());
    }

    #[test]
    fn lengths() {
        // Long form that fits in short form is not DER.
        let mut r = Reader::new(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5], "t");
        assert!(r.read_any().is_err());
        // Indefinite length.
        let mut r = Reader::new(&[0x30, 0x80, 0, 0], "t");
        assert!(r.read_any().is_err());
        // Truncated.
        let mut r = Reader::new(&[0x04, 0x05, 1, 2], "t");
        assert!(r.read_any().is_err());
        // A long-form length that is right.
        let mut data = vec![0x04, 0x81, 0x80];
        data.extend(std::iter::repeat_n(7u8, 0x80));
        let mut r = Reader::new(&data, "t");
        let (tag, contents, whole) = r.read_any().unwrap();
        assert_eq!((tag, contents.len(), whole.len()), (0x04, 0x80, 0x83));
        assert!(r.is_empty());
    }

    #[test]
    fn integers() {
        assert_eq!(uint_bytes(&[0x00, 0x80], "t").unwrap(), &[0x80]);
        assert!(uint_bytes(&[0x00, 0x7F], "t").is_err());
        assert!(uint_bytes(&[0x80], "t").is_err());
        assert_eq!(uint_bytes(&[0x00], "t").unwrap(), &[0x00]);
        let mut out = Vec::new();
        push_uint(&mut out, &[0, 0, 0x80, 1]);
        assert_eq!(out, [0x02, 0x03, 0x00, 0x80, 0x01]);
        let mut out = Vec::new();
        push_uint(&mut out, &[0]);
        assert_eq!(out, [0x02, 0x01, 0x00]);
    }

    #[test]
    fn read_never_panics() {
        use proptest::prelude::*;
        proptest!(|(data in proptest::collection::vec(any::<u8>(), 0..64))| {
            let mut r = Reader::new(&data, "t");
            while !r.is_empty() {
                if r.read_any().is_err() {
                    break;
                }
            }
            let _ = time(&mut Reader::new(&data, "t"));
        });
    }
}
