//! Just enough HPACK (RFC 7541) to fix `:authority` in a client's header blocks without
//! decoding them.
//!
//! A block is walked representation by representation, and each representation's bytes are
//! copied through unchanged, except a literal `:authority` whose value is not a valid URI
//! authority:
//!
//! - *with incremental indexing* (`01xxxxxx`): re-emitted as the same kind, with the same name
//!   bytes and a replacement value of exactly the same decoded length (see [`replacement`]),
//!   not Huffman-coded. The entry the server's decoder inserts then has the size of the one the
//!   client's encoder inserted, so both tables evict alike and every later index means the same
//!   entry on both sides;
//! - *without indexing* (`0000xxxx`) or *never indexed* (`0001xxxx`): re-emitted as the same
//!   kind with the same name bytes and the value `localhost`.
//!
//! An indexed field (`1xxxxxxx`) is copied as is: a dynamic entry is what we let the server
//! insert, so a dynamic `:authority` is valid already (or empty, see below), and the static
//! one (index 1) is empty. Dynamic table size updates are copied and followed.
//!
//! To follow the client's table, the walker keeps a *shadow* of it ([`ShadowTable`]): per entry
//! its name length, its size and whether its name is `:authority`, never a name or value. With
//! the table capped at [`MAX_TABLE_SIZE`] bytes and 32 bytes counted per entry, it holds at most
//! 128 entries. Strings are skipped by their length; a Huffman string is decoded only when it
//! may be the name `:authority` (8 bytes, the only length that name Huffman-codes to) or is the
//! value of an `:authority` (then at most [`MAX_AUTHORITY`] bytes), and only counted, never
//! stored, when it is the name or value of another field inserted into the table (the table
//! counts decoded lengths).
//!
//! An empty `:authority` is passed through as is, however it is represented: it cannot be
//! replaced by a valid value of the same size (an empty authority is invalid), and h2 answers
//! it with a stream reset (malformed authority) exactly as it would without this rewriter.
//!
//! Output size: a replaced value with incremental indexing decodes to at most 8/5 of its
//! Huffman-coded length (a code is at least 5 bits), and its length prefix grows by at most
//! one byte; a replaced value without indexing takes 10 bytes where the original took at least
//! 2 (a length byte and a non-empty string) in a representation of at least 3. So a block
//! comes out at most 11/3 times its input size.

use std::borrow::Cow;
use std::collections::VecDeque;

use super::huffman::{self, HuffmanError};

/// Why a header block could not be walked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HpackError {
    /// The block ends in the middle of a representation.
    #[error("HPACK block is truncated")]
    Truncated,
    /// An integer does not fit.
    #[error("HPACK integer overflows")]
    Overflow,
    /// Index 0, or an index past the tables.
    #[error("HPACK index {0} is out of range")]
    BadIndex(usize),
    /// A Huffman string that is not valid.
    #[error("HPACK Huffman string is invalid")]
    Huffman,
    /// A table size above what the server allows.
    #[error("HPACK dynamic table size {0} is above the limit of {MAX_TABLE_SIZE}")]
    TableSize(usize),
    /// A table size update after the first field of a block.
    #[error("HPACK dynamic table size update after a header field")]
    LateSizeUpdate,
    /// An `:authority` value longer than any header list the server accepts.
    #[error("HPACK :authority value longer than {0} bytes")]
    AuthorityTooLong(usize),
}

impl From<HuffmanError> for HpackError {
    fn from(e: HuffmanError) -> Self {
        match e {
            HuffmanError::TooLong(limit) => HpackError::AuthorityTooLong(limit),
            HuffmanError::Eos | HuffmanError::Padding => HpackError::Huffman,
        }
    }
}

/// The largest dynamic table the client's encoder may use: what the server behind us lets it.
///
/// h2 (under tonic) sends no `SETTINGS_HEADER_TABLE_SIZE`, so the protocol's default of 4096
/// applies and h2's decoder refuses a size update above it. We never see the server's SETTINGS
/// (they travel the other way), so this constant must follow the server: should it ever
/// advertise a larger table, raise this to match, or clients using it would be cut off.
pub(crate) const MAX_TABLE_SIZE: usize = 4096;

/// The longest `:authority` value accepted: hyper's default `max_header_list_size` (16 KiB),
/// which the server applies to the whole decoded list. A longer value could never make a
/// request the server serves, so the connection is refused instead of decoding it.
pub(crate) const MAX_AUTHORITY: usize = 16 * 1024;

/// The names of the static table (RFC 7541 Appendix A), index 1 first; only their lengths and
/// the first one's being `:authority` matter here.
const STATIC_NAMES: [&str; 61] = [
    ":authority",
    ":method",
    ":method",
    ":path",
    ":path",
    ":scheme",
    ":scheme",
    ":status",
    ":status",
    ":status",
    ":status",
    ":status",
    ":status",
    ":status",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "accept",
    "access-control-allow-origin",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-range",
    "content-type",
    "cookie",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "link",
    "location",
    "max-forwards",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "refresh",
    "retry-after",
    "server",
    "set-cookie",
    "strict-transport-security",
    "transfer-encoding",
    "user-agent",
    "vary",
    "via",
    "www-authenticate",
];

/// The static index of `:authority`.
const AUTHORITY_INDEX: usize = 1;
/// The pseudo-header we fix.
const AUTHORITY: &[u8] = b":authority";
/// How many bytes `:authority` takes Huffman-coded. A string has exactly one Huffman coding
/// (each symbol has one code, and the padding is fixed), so a Huffman name of any other length
/// is not `:authority`.
const AUTHORITY_HUFFMAN_LEN: usize = 8;
/// Per-entry overhead counted in table sizes (RFC 7541 4.1).
const ENTRY_OVERHEAD: usize = 32;
/// What replaces an invalid `:authority` that is not indexed.
const LOCALHOST: &[u8] = b"localhost";
/// What pads [`LOCALHOST`] to a longer replacement.
const PAD: u8 = b'x';

/// One entry of the client's dynamic table, without its name or value.
#[derive(Debug, Clone, Copy)]
struct Entry {
    name_len: usize,
    /// Name length + value length + 32.
    size: usize,
    authority: bool,
}

/// A shadow of the dynamic table the client's encoder fills, and so the server's decoder:
/// entry sizes and which names are `:authority`, nothing else.
#[derive(Debug)]
pub(crate) struct ShadowTable {
    /// Newest first, as HPACK indexes them.
    entries: VecDeque<Entry>,
    size: usize,
    max_size: usize,
}

/// A string literal as it is on the wire.
struct Str<'a> {
    huffman: bool,
    raw: &'a [u8],
}

impl Str<'_> {
    /// Its decoded length, validating a Huffman string on the way.
    fn decoded_len(&self) -> Result<usize, HpackError> {
        if self.huffman {
            Ok(huffman::decoded_len(self.raw)?)
        } else {
            Ok(self.raw.len())
        }
    }

    /// The string decoded, if it is at most `limit` bytes long.
    fn decode(&self, limit: usize) -> Result<Cow<'_, [u8]>, HpackError> {
        if self.huffman {
            Ok(Cow::Owned(huffman::decode(self.raw, limit)?))
        } else if self.raw.len() > limit {
            Err(HpackError::AuthorityTooLong(limit))
        } else {
            Ok(Cow::Borrowed(self.raw))
        }
    }
}

/// What a literal representation's name is.
struct Name {
    authority: bool,
    /// Decoded length, worked out only when the field is to be indexed (else 0).
    len: usize,
}

impl ShadowTable {
    /// An empty table of the protocol's initial size (4096).
    pub(crate) fn new() -> Self {
        ShadowTable {
            entries: VecDeque::new(),
            size: 0,
            max_size: MAX_TABLE_SIZE,
        }
    }

    /// Walks one complete header block, following the client's table. Returns the block the
    /// server must see (`None`: `block` itself, unchanged) and how many values were replaced.
    pub(crate) fn rewrite_block(
        &mut self,
        block: &[u8],
    ) -> Result<(Option<Vec<u8>>, u64), HpackError> {
        let mut input = block;
        // The rewritten block, once something had to change, holding `block[..copied]`.
        let mut out: Option<Vec<u8>> = None;
        let mut copied = 0;
        let mut replaced = 0u64;
        let mut seen_field = false;
        while let Some(&first) = input.first() {
            if first & 0x80 != 0 {
                // Indexed field.
                let index = integer(&mut input, 7)?;
                self.name(index)?;
                seen_field = true;
                continue;
            }
            if first & 0xe0 == 0x20 {
                if seen_field {
                    return Err(HpackError::LateSizeUpdate);
                }
                let size = integer(&mut input, 5)?;
                if size > MAX_TABLE_SIZE {
                    return Err(HpackError::TableSize(size));
                }
                self.max_size = size;
                self.evict();
                continue;
            }
            seen_field = true;
            // A literal: 01 with incremental indexing, 0000 without indexing, 0001 never
            // indexed.
            let indexing = first & 0x40 != 0;
            let name = self.literal_name(&mut input, if indexing { 6 } else { 4 }, indexing)?;
            let value_at = block.len() - input.len();
            let value = string(&mut input)?;
            let end = block.len() - input.len();
            let replacement = if name.authority {
                let decoded = value.decode(MAX_AUTHORITY)?;
                if decoded.is_empty() || valid_authority(&decoded) {
                    None
                } else if indexing {
                    Some(replacement(decoded.len()))
                } else {
                    Some(LOCALHOST.to_vec())
                }
            } else {
                None
            };
            if indexing {
                let value_len = value.decoded_len()?;
                self.insert(name.len, value_len, name.authority);
            }
            if let Some(new_value) = replacement {
                let buf = out.get_or_insert_with(|| Vec::with_capacity(block.len() + 16));
                buf.extend_from_slice(&block[copied..value_at]);
                put_integer(buf, new_value.len(), 7, 0x00);
                buf.extend_from_slice(&new_value);
                copied = end;
                replaced += 1;
            }
        }
        if let Some(buf) = out.as_mut() {
            buf.extend_from_slice(&block[copied..]);
        }
        Ok((out, replaced))
    }

    /// Reads a literal's integer prefix and name; the name's length is worked out when the
    /// field is to be indexed.
    fn literal_name(
        &self,
        input: &mut &[u8],
        prefix: u8,
        indexing: bool,
    ) -> Result<Name, HpackError> {
        let index = integer(input, prefix)?;
        if index != 0 {
            let (len, authority) = self.name(index)?;
            return Ok(Name { authority, len });
        }
        let name = string(input)?;
        let authority = if name.huffman {
            name.raw.len() == AUTHORITY_HUFFMAN_LEN
                && huffman::decode(name.raw, AUTHORITY.len()).is_ok_and(|n| n == AUTHORITY)
        } else {
            name.raw == AUTHORITY
        };
        let len = if authority {
            AUTHORITY.len()
        } else if indexing {
            name.decoded_len()?
        } else {
            0
        };
        Ok(Name { authority, len })
    }

    /// The name length of the entry at `index`, and whether that name is `:authority`.
    fn name(&self, index: usize) -> Result<(usize, bool), HpackError> {
        match index {
            0 => Err(HpackError::BadIndex(0)),
            1..=61 => Ok((STATIC_NAMES[index - 1].len(), index == AUTHORITY_INDEX)),
            _ => self
                .entries
                .get(index - 62)
                .map(|e| (e.name_len, e.authority))
                .ok_or(HpackError::BadIndex(index)),
        }
    }

    fn insert(&mut self, name_len: usize, value_len: usize, authority: bool) {
        let size = name_len
            .saturating_add(value_len)
            .saturating_add(ENTRY_OVERHEAD);
        if size > self.max_size {
            // An entry larger than the table empties it (RFC 7541 4.4).
            self.entries.clear();
            self.size = 0;
            return;
        }
        self.entries.push_front(Entry {
            name_len,
            size,
            authority,
        });
        self.size += size;
        self.evict();
    }

    fn evict(&mut self) {
        while self.size > self.max_size {
            match self.entries.pop_back() {
                Some(e) => self.size -= e.size,
                None => {
                    self.size = 0;
                    break;
                }
            }
        }
    }
}

/// Whether an `:authority` value is one a strict HTTP/2 server (h2) accepts: h2 parses it with
/// the same function.
fn valid_authority(value: &[u8]) -> bool {
    http::uri::Authority::try_from(value).is_ok()
}

/// A valid authority of exactly `len` (> 0) bytes: `localhost` cut short or padded.
fn replacement(len: usize) -> Vec<u8> {
    let mut value: Vec<u8> = LOCALHOST.iter().copied().take(len).collect();
    value.resize(len, PAD);
    value
}

/// Reads an integer with an `prefix`-bit prefix (RFC 7541 5.1).
fn integer(input: &mut &[u8], prefix: u8) -> Result<usize, HpackError> {
    let (&first, rest) = input.split_first().ok_or(HpackError::Truncated)?;
    *input = rest;
    let mask = (1u16 << prefix) - 1;
    let mut value = usize::from(u16::from(first) & mask);
    if value < usize::from(mask) {
        return Ok(value);
    }
    let mut shift = 0u32;
    loop {
        let (&byte, rest) = input.split_first().ok_or(HpackError::Truncated)?;
        *input = rest;
        if shift > 28 {
            return Err(HpackError::Overflow);
        }
        value = value
            .checked_add(usize::from(byte & 0x7f) << shift)
            .ok_or(HpackError::Overflow)?;
        shift += 7;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
}

/// Reads a string literal (RFC 7541 5.2) without decoding it.
fn string<'a>(input: &mut &'a [u8]) -> Result<Str<'a>, HpackError> {
    let huffman = input.first().ok_or(HpackError::Truncated)? & 0x80 != 0;
    let len = integer(input, 7)?;
    if input.len() < len {
        return Err(HpackError::Truncated);
    }
    let (raw, rest) = input.split_at(len);
    *input = rest;
    Ok(Str { huffman, raw })
}

/// Writes an integer with a `prefix`-bit prefix after the bits `flags` (RFC 7541 5.1).
fn put_integer(out: &mut Vec<u8>, value: usize, prefix: u8, flags: u8) {
    let mask = (1usize << prefix) - 1;
    if value < mask {
        // `value < mask <= 127`, so it fits in the byte.
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | mask as u8);
    let mut rest = value - mask;
    while rest >= 0x80 {
        out.push((rest & 0x7f) as u8 | 0x80);
        rest >>= 7;
    }
    out.push(rest as u8);
}

/// A test-only HPACK encoder, to build blocks exactly as a client's encoder would.
#[cfg(test)]
pub(crate) mod enc {
    use super::{huffman, put_integer};

    /// How a literal's name is given.
    #[derive(Clone, Copy)]
    pub(crate) enum Name<'a> {
        /// An index into the static or dynamic table.
        Index(usize),
        /// A string literal, Huffman-coded or not.
        Literal(&'a str, bool),
    }

    /// The kind of a literal representation.
    #[derive(Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Kind {
        /// `01xxxxxx`.
        Indexing,
        /// `0000xxxx`.
        WithoutIndexing,
        /// `0001xxxx`.
        NeverIndexed,
    }

    /// `1xxxxxxx`.
    pub(crate) fn indexed(out: &mut Vec<u8>, index: usize) {
        put_integer(out, index, 7, 0x80);
    }

    /// `001xxxxx`.
    pub(crate) fn size_update(out: &mut Vec<u8>, size: usize) {
        put_integer(out, size, 5, 0x20);
    }

    /// A string literal.
    pub(crate) fn string(out: &mut Vec<u8>, s: &[u8], huffman: bool) {
        if huffman {
            let coded = huffman::encode(s);
            put_integer(out, coded.len(), 7, 0x80);
            out.extend_from_slice(&coded);
        } else {
            put_integer(out, s.len(), 7, 0x00);
            out.extend_from_slice(s);
        }
    }

    /// A literal field.
    pub(crate) fn literal(out: &mut Vec<u8>, kind: Kind, name: Name<'_>, value: &str, huff: bool) {
        let (prefix, flags) = match kind {
            Kind::Indexing => (6, 0x40),
            Kind::WithoutIndexing => (4, 0x00),
            Kind::NeverIndexed => (4, 0x10),
        };
        match name {
            Name::Index(i) => put_integer(out, i, prefix, flags),
            Name::Literal(n, h) => {
                put_integer(out, 0, prefix, flags);
                string(out, n.as_bytes(), h);
            }
        }
        string(out, value.as_bytes(), huff);
    }
}

#[cfg(test)]
mod tests {
    use super::enc::{Kind, Name};
    use super::*;

    fn rewrite(table: &mut ShadowTable, block: &[u8]) -> Result<(Vec<u8>, u64), HpackError> {
        let (out, n) = table.rewrite_block(block)?;
        Ok((out.unwrap_or_else(|| block.to_vec()), n))
    }

    #[test]
    fn authority_codes_to_eight_huffman_bytes() {
        assert_eq!(huffman::encode(AUTHORITY).len(), AUTHORITY_HUFFMAN_LEN);
        // Used below as a name of that length that is not `:authority`.
        assert_eq!(huffman::encode(b":authoritz").len(), AUTHORITY_HUFFMAN_LEN);
        assert_eq!(STATIC_NAMES[AUTHORITY_INDEX - 1].as_bytes(), AUTHORITY);
    }

    #[test]
    fn replacements_are_valid_and_of_the_same_length() {
        for len in 1..40 {
            let r = replacement(len);
            assert_eq!(r.len(), len);
            assert!(valid_authority(&r), "{}", String::from_utf8_lossy(&r));
        }
        assert_eq!(replacement(4), b"loca");
        assert_eq!(replacement(11), b"localhostxx");
        assert!(!valid_authority(b""));
        assert!(!valid_authority(b"/tmp/agent.sock"));
        assert!(!valid_authority(b"%2Ftmp%2Fagent.sock"));
        assert!(valid_authority(b"localhost:8080"));
    }

    #[test]
    fn rfc_7541_c3_and_c4_pass_through_and_are_followed() {
        let mut t = ShadowTable::new();
        // C.3.1, C.3.2 and C.3.3: valid authorities, nothing to change.
        let blocks: [&[u8]; 3] = [
            &[
                0x82, 0x86, 0x84, 0x41, 0x0f, 0x77, 0x77, 0x77, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70,
                0x6c, 0x65, 0x2e, 0x63, 0x6f, 0x6d,
            ],
            &[
                0x82, 0x86, 0x84, 0xbe, 0x58, 0x08, 0x6e, 0x6f, 0x2d, 0x63, 0x61, 0x63, 0x68, 0x65,
            ],
            &[
                0x82, 0x87, 0x85, 0xbf, 0x40, 0x0a, 0x63, 0x75, 0x73, 0x74, 0x6f, 0x6d, 0x2d, 0x6b,
                0x65, 0x79, 0x0c, 0x63, 0x75, 0x73, 0x74, 0x6f, 0x6d, 0x2d, 0x76, 0x61, 0x6c, 0x75,
                0x65,
            ],
        ];
        for block in blocks {
            assert_eq!(t.rewrite_block(block), Ok((None, 0)));
        }
        // C.3.3's table: 164 bytes in three entries, the oldest an `:authority`.
        assert_eq!(t.size, 164);
        assert_eq!(t.entries.len(), 3);
        assert!(t.entries[2].authority && !t.entries[0].authority);
        // C.4.1, with Huffman.
        let mut t = ShadowTable::new();
        let c41 = [
            0x82, 0x86, 0x84, 0x41, 0x8c, 0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab,
            0x90, 0xf4, 0xff,
        ];
        assert_eq!(t.rewrite_block(&c41), Ok((None, 0)));
        assert_eq!(t.size, 57);
    }

    #[test]
    fn each_representation_of_an_invalid_authority_is_fixed() {
        let path = "/tmp/x/agent.sock";
        for huff in [false, true] {
            for name in [
                Name::Index(1),
                Name::Literal(":authority", false),
                Name::Literal(":authority", true),
            ] {
                for kind in [Kind::Indexing, Kind::WithoutIndexing, Kind::NeverIndexed] {
                    let mut input = Vec::new();
                    enc::indexed(&mut input, 3);
                    enc::literal(&mut input, kind, name, path, huff);
                    enc::literal(
                        &mut input,
                        Kind::WithoutIndexing,
                        Name::Index(4),
                        "/a",
                        huff,
                    );
                    let mut expected = Vec::new();
                    enc::indexed(&mut expected, 3);
                    let value = if kind == Kind::Indexing {
                        "localhostxxxxxxxx"
                    } else {
                        "localhost"
                    };
                    assert_eq!(replacement(path.len()), b"localhostxxxxxxxx");
                    enc::literal(&mut expected, kind, name, value, false);
                    enc::literal(
                        &mut expected,
                        Kind::WithoutIndexing,
                        Name::Index(4),
                        "/a",
                        huff,
                    );
                    let mut t = ShadowTable::new();
                    assert_eq!(rewrite(&mut t, &input), Ok((expected, 1)));
                    if kind == Kind::Indexing {
                        assert_eq!(t.size, 10 + path.len() + 32);
                        assert!(t.entries[0].authority);
                    } else {
                        assert!(t.entries.is_empty());
                    }
                }
            }
        }
    }

    #[test]
    fn a_dynamic_authority_name_is_recognised_and_the_table_evicts_alike() {
        let mut t = ShadowTable::new();
        // A small table: two 64-byte entries fit, a third evicts the oldest.
        let mut b1 = Vec::new();
        enc::size_update(&mut b1, 130);
        enc::literal(
            &mut b1,
            Kind::Indexing,
            Name::Index(1),
            "/a/b/c/d/e/f/g/h/i/j",
            false,
        );
        let (out, n) = rewrite(&mut t, &b1).unwrap();
        assert_eq!(n, 1);
        let mut e1 = Vec::new();
        enc::size_update(&mut e1, 130);
        enc::literal(
            &mut e1,
            Kind::Indexing,
            Name::Index(1),
            "localhostxxxxxxxxxxx",
            false,
        );
        assert_eq!(out, e1);
        assert_eq!(t.size, 62);
        // A literal naming dynamic entry 62 (an `:authority`), never indexed, and an indexed
        // reference to it, which passes as is.
        let mut b2 = Vec::new();
        enc::indexed(&mut b2, 62);
        enc::literal(&mut b2, Kind::NeverIndexed, Name::Index(62), "a b", true);
        let mut e2 = Vec::new();
        enc::indexed(&mut e2, 62);
        enc::literal(
            &mut e2,
            Kind::NeverIndexed,
            Name::Index(62),
            "localhost",
            false,
        );
        assert_eq!(rewrite(&mut t, &b2), Ok((e2, 1)));
        // Two more entries evict the first; 62 is then `x-one`, not an `:authority`.
        let mut b3 = Vec::new();
        enc::literal(
            &mut b3,
            Kind::Indexing,
            Name::Literal("x-one", true),
            "/v/",
            false,
        );
        enc::literal(&mut b3, Kind::Indexing, Name::Index(62), "/w/", false);
        enc::literal(
            &mut b3,
            Kind::WithoutIndexing,
            Name::Index(62),
            "/x/",
            false,
        );
        assert_eq!(t.rewrite_block(&b3), Ok((None, 0)));
        assert_eq!(t.entries.len(), 2);
        assert!(t.entries.iter().all(|e| !e.authority && e.name_len == 5));
        assert_eq!(t.size, 80);
        let mut b4 = Vec::new();
        enc::indexed(&mut b4, 64);
        assert_eq!(t.rewrite_block(&b4), Err(HpackError::BadIndex(64)));
        // A size update to 0 empties the table.
        let mut t = ShadowTable::new();
        t.rewrite_block(&b1).unwrap();
        assert_eq!(t.rewrite_block(&[0x20]), Ok((None, 0)));
        assert!(t.entries.is_empty() && t.size == 0);
        // An entry larger than the table empties it too.
        let mut t = ShadowTable::new();
        t.rewrite_block(&b1).unwrap();
        let mut big = Vec::new();
        enc::literal(
            &mut big,
            Kind::Indexing,
            Name::Index(1),
            &"a".repeat(200),
            false,
        );
        assert_eq!(t.rewrite_block(&big), Ok((None, 0)));
        assert!(t.entries.is_empty() && t.size == 0);
    }

    #[test]
    fn valid_and_empty_authorities_and_other_fields_pass_through() {
        let mut t = ShadowTable::new();
        let mut b = Vec::new();
        for kind in [Kind::Indexing, Kind::WithoutIndexing, Kind::NeverIndexed] {
            for huff in [false, true] {
                enc::literal(&mut b, kind, Name::Index(1), "localhost:1234", huff);
                enc::literal(&mut b, kind, Name::Index(1), "", huff);
                enc::literal(&mut b, kind, Name::Literal(":authority", huff), "", huff);
                enc::literal(&mut b, kind, Name::Literal("x-path", huff), "/a/b", huff);
                // Same Huffman length as `:authority`, another name.
                enc::literal(
                    &mut b,
                    kind,
                    Name::Literal(":authoritz", huff),
                    "/a/b",
                    huff,
                );
                enc::literal(&mut b, kind, Name::Index(4), "/a/b", huff);
            }
        }
        enc::indexed(&mut b, 1);
        assert_eq!(t.rewrite_block(&b), Ok((None, 0)));
        // Huffman strings of other fields are not decoded: an invalid one passes (the server
        // refuses it), unless it goes into the table, whose size needs its length.
        let mut t = ShadowTable::new();
        let bad = [0x00, 0x01, b'x', 0x81, 0x00];
        assert_eq!(t.rewrite_block(&bad), Ok((None, 0)));
        let bad = [0x40, 0x01, b'x', 0x81, 0x00];
        assert_eq!(t.rewrite_block(&bad), Err(HpackError::Huffman));
    }

    #[test]
    fn limits_and_malformed_blocks_are_refused_not_panicked_on() {
        let mut t = ShadowTable::new();
        assert_eq!(t.rewrite_block(&[0x80]), Err(HpackError::BadIndex(0)));
        assert_eq!(t.rewrite_block(&[0xbe]), Err(HpackError::BadIndex(62)));
        assert_eq!(
            t.rewrite_block(&[0x7e, 0x00]),
            Err(HpackError::BadIndex(62))
        );
        assert_eq!(
            t.rewrite_block(&[0x41, 0x05, b'a']),
            Err(HpackError::Truncated)
        );
        assert_eq!(t.rewrite_block(&[0x41]), Err(HpackError::Truncated));
        assert_eq!(
            t.rewrite_block(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
            Err(HpackError::Overflow)
        );
        let mut b = Vec::new();
        enc::size_update(&mut b, 4097);
        assert_eq!(t.rewrite_block(&b), Err(HpackError::TableSize(4097)));
        let mut b = Vec::new();
        enc::size_update(&mut b, 65536);
        assert_eq!(t.rewrite_block(&b), Err(HpackError::TableSize(65536)));
        let mut b = Vec::new();
        enc::size_update(&mut b, 100);
        enc::size_update(&mut b, 4096);
        assert_eq!(t.rewrite_block(&b), Ok((None, 0)));
        assert_eq!(
            t.rewrite_block(&[0x82, 0x20]),
            Err(HpackError::LateSizeUpdate)
        );
        // An `:authority` longer than any header list the server takes.
        for huff in [false, true] {
            let mut b = Vec::new();
            let long = "a".repeat(MAX_AUTHORITY + 1);
            enc::literal(&mut b, Kind::WithoutIndexing, Name::Index(1), &long, huff);
            assert_eq!(
                t.rewrite_block(&b),
                Err(HpackError::AuthorityTooLong(MAX_AUTHORITY))
            );
            let mut b = Vec::new();
            let longest = "/".repeat(MAX_AUTHORITY);
            enc::literal(
                &mut b,
                Kind::WithoutIndexing,
                Name::Index(1),
                &longest,
                huff,
            );
            assert_eq!(rewrite(&mut t, &b).map(|r| r.1), Ok(1));
        }
        // An invalid Huffman `:authority` value.
        assert_eq!(
            t.rewrite_block(&[0x01, 0x81, 0x00]),
            Err(HpackError::Huffman)
        );
        for len in 0..40 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let _ = ShadowTable::new().rewrite_block(&junk);
        }
    }

    #[test]
    fn a_rewritten_block_is_at_most_eleven_thirds_of_its_input() {
        // The worst case: one-byte invalid values without indexing.
        let mut t = ShadowTable::new();
        let mut b = Vec::new();
        for _ in 0..1000 {
            enc::literal(&mut b, Kind::WithoutIndexing, Name::Index(1), "/", false);
        }
        let (out, n) = rewrite(&mut t, &b).unwrap();
        assert_eq!(n, 1000);
        assert_eq!(out.len() * 3, b.len() * 11);
        // Huffman-coded values that decode to 8/5 of their size, indexed.
        let mut t = ShadowTable::new();
        let mut b = Vec::new();
        for _ in 0..100 {
            enc::literal(&mut b, Kind::Indexing, Name::Index(1), "/0000000", true);
        }
        let (out, n) = rewrite(&mut t, &b).unwrap();
        assert_eq!(n, 100);
        assert!(out.len() * 3 <= b.len() * 11, "{} {}", out.len(), b.len());
    }
}
