//! Just enough HPACK (RFC 7541) to read a client's header blocks and write them again: a
//! decoder that follows the client's dynamic table, and an encoder that never uses one.

use std::collections::VecDeque;

use super::huffman;

/// One header field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    pub(crate) name: Vec<u8>,
    pub(crate) value: Vec<u8>,
    /// Sent as "never indexed" (a sensitive value): kept so on the way out.
    pub(crate) sensitive: bool,
}

/// Why a header block could not be decoded.
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
    /// A table size above what the decoder allows.
    #[error("HPACK dynamic table size {0} is above the limit")]
    TableSize(usize),
    /// A table size update after the first field of a block.
    #[error("HPACK dynamic table size update after a header field")]
    LateSizeUpdate,
    /// The decoded header list is larger than allowed.
    #[error("HPACK header list larger than {0} bytes")]
    ListTooLarge(usize),
}

/// The static table (RFC 7541 Appendix A), index 1 first.
const STATIC: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// Per-entry overhead counted in table sizes (RFC 7541 4.1).
const ENTRY_OVERHEAD: usize = 32;

/// A decoder holding the dynamic table the peer's encoder fills.
#[derive(Debug)]
pub(crate) struct Decoder {
    table: VecDeque<(Vec<u8>, Vec<u8>)>,
    size: usize,
    max_size: usize,
    /// The largest size an update may set.
    limit: usize,
    /// The largest decoded header list (names, values and 32 bytes per field).
    max_list: usize,
}

impl Decoder {
    /// A decoder whose table starts at 4096 bytes (the protocol default) and may be resized up
    /// to `limit`; a block decoding to more than `max_list` bytes is refused.
    pub(crate) fn new(limit: usize, max_list: usize) -> Self {
        Decoder {
            table: VecDeque::new(),
            size: 0,
            max_size: 4096,
            limit,
            max_list,
        }
    }

    /// Decodes one complete header block.
    pub(crate) fn decode(&mut self, block: &[u8]) -> Result<Vec<Field>, HpackError> {
        let mut input = block;
        let mut fields = Vec::new();
        let mut list_size = 0usize;
        while let Some(&first) = input.first() {
            let field = if first & 0x80 != 0 {
                let index = integer(&mut input, 7)?;
                let (name, value) = self.entry(index)?;
                Field {
                    name,
                    value,
                    sensitive: false,
                }
            } else if first & 0x40 != 0 {
                let field = self.literal(&mut input, 6, false)?;
                self.insert(field.name.clone(), field.value.clone());
                field
            } else if first & 0x20 != 0 {
                if !fields.is_empty() {
                    return Err(HpackError::LateSizeUpdate);
                }
                let size = integer(&mut input, 5)?;
                if size > self.limit {
                    return Err(HpackError::TableSize(size));
                }
                self.max_size = size;
                self.evict();
                continue;
            } else {
                // 0000xxxx without indexing, 0001xxxx never indexed.
                self.literal(&mut input, 4, first & 0x10 != 0)?
            };
            list_size =
                list_size.saturating_add(field.name.len() + field.value.len() + ENTRY_OVERHEAD);
            if list_size > self.max_list {
                return Err(HpackError::ListTooLarge(self.max_list));
            }
            fields.push(field);
        }
        Ok(fields)
    }

    fn literal(&self, input: &mut &[u8], prefix: u8, sensitive: bool) -> Result<Field, HpackError> {
        let index = integer(input, prefix)?;
        let name = if index == 0 {
            string(input)?
        } else {
            self.entry(index)?.0
        };
        let value = string(input)?;
        Ok(Field {
            name,
            value,
            sensitive,
        })
    }

    fn entry(&self, index: usize) -> Result<(Vec<u8>, Vec<u8>), HpackError> {
        match index {
            0 => Err(HpackError::BadIndex(0)),
            1..=61 => {
                let (name, value) = STATIC[index - 1];
                Ok((name.as_bytes().to_vec(), value.as_bytes().to_vec()))
            }
            _ => self
                .table
                .get(index - 62)
                .cloned()
                .ok_or(HpackError::BadIndex(index)),
        }
    }

    fn insert(&mut self, name: Vec<u8>, value: Vec<u8>) {
        let size = name.len() + value.len() + ENTRY_OVERHEAD;
        if size > self.max_size {
            // An entry larger than the table empties it (RFC 7541 4.4).
            self.table.clear();
            self.size = 0;
            return;
        }
        self.table.push_front((name, value));
        self.size += size;
        self.evict();
    }

    fn evict(&mut self) {
        while self.size > self.max_size {
            match self.table.pop_back() {
                Some((n, v)) => self.size -= n.len() + v.len() + ENTRY_OVERHEAD,
                None => {
                    self.size = 0;
                    break;
                }
            }
        }
    }
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

/// Reads a string literal (RFC 7541 5.2).
fn string(input: &mut &[u8]) -> Result<Vec<u8>, HpackError> {
    let huffman = input.first().ok_or(HpackError::Truncated)? & 0x80 != 0;
    let len = integer(input, 7)?;
    if input.len() < len {
        return Err(HpackError::Truncated);
    }
    let (raw, rest) = input.split_at(len);
    *input = rest;
    if huffman {
        huffman::decode(raw).map_err(|_| HpackError::Huffman)
    } else {
        Ok(raw.to_vec())
    }
}

/// Encodes fields without touching the peer's dynamic table: an exact static-table match is
/// indexed, any other field is a literal "without indexing" (or "never indexed" when it was so
/// received), naming the static table's entry when there is one. Strings are not Huffman-coded.
pub(crate) fn encode(fields: &[Field], out: &mut Vec<u8>) {
    for field in fields {
        let exact = STATIC
            .iter()
            .position(|(n, v)| n.as_bytes() == field.name && v.as_bytes() == field.value);
        if let (Some(i), false) = (exact, field.sensitive) {
            put_integer(out, i + 1, 7, 0x80);
            continue;
        }
        let name_index = STATIC
            .iter()
            .position(|(n, _)| n.as_bytes() == field.name)
            .map_or(0, |i| i + 1);
        let flags = if field.sensitive { 0x10 } else { 0x00 };
        put_integer(out, name_index, 4, flags);
        if name_index == 0 {
            put_string(out, &field.name);
        }
        put_string(out, &field.value);
    }
}

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

fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    put_integer(out, s.len(), 7, 0x00);
    out.extend_from_slice(s);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str, value: &str) -> Field {
        Field {
            name: name.into(),
            value: value.into(),
            sensitive: false,
        }
    }

    #[test]
    fn rfc_7541_c3_requests_without_huffman() {
        let mut d = Decoder::new(4096, 1 << 16);
        let first = [
            0x82, 0x86, 0x84, 0x41, 0x0f, 0x77, 0x77, 0x77, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70,
            0x6c, 0x65, 0x2e, 0x63, 0x6f, 0x6d,
        ];
        assert_eq!(
            d.decode(&first).unwrap(),
            [
                f(":method", "GET"),
                f(":scheme", "http"),
                f(":path", "/"),
                f(":authority", "www.example.com")
            ]
        );
        let second = [
            0x82, 0x86, 0x84, 0xbe, 0x58, 0x08, 0x6e, 0x6f, 0x2d, 0x63, 0x61, 0x63, 0x68, 0x65,
        ];
        assert_eq!(
            d.decode(&second).unwrap(),
            [
                f(":method", "GET"),
                f(":scheme", "http"),
                f(":path", "/"),
                f(":authority", "www.example.com"),
                f("cache-control", "no-cache")
            ]
        );
        assert_eq!(d.size, 110);
    }

    #[test]
    fn rfc_7541_c4_requests_with_huffman() {
        let mut d = Decoder::new(4096, 1 << 16);
        let first = [
            0x82, 0x86, 0x84, 0x41, 0x8c, 0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab,
            0x90, 0xf4, 0xff,
        ];
        assert_eq!(
            d.decode(&first).unwrap()[3],
            f(":authority", "www.example.com")
        );
    }

    #[test]
    fn encode_round_trips_without_a_dynamic_table() {
        let fields = vec![
            f(":method", "POST"),
            f(":path", "/SpiffeWorkloadAPI/FetchX509SVID"),
            f(":authority", "localhost"),
            f("workload.spiffe.io", "true"),
            Field {
                name: b"authorization".to_vec(),
                value: b"Bearer x".to_vec(),
                sensitive: true,
            },
            f("x-long", &"v".repeat(300)),
        ];
        let mut out = Vec::new();
        encode(&fields, &mut out);
        let mut d = Decoder::new(4096, 1 << 16);
        assert_eq!(d.decode(&out).unwrap(), fields);
        assert!(
            d.table.is_empty(),
            "the encoder never adds to the peer's table"
        );
    }

    #[test]
    fn malformed_blocks_are_refused_not_panicked_on() {
        let mut d = Decoder::new(4096, 1 << 16);
        assert_eq!(d.decode(&[0x80]), Err(HpackError::BadIndex(0)));
        assert_eq!(d.decode(&[0xbe]), Err(HpackError::BadIndex(62)));
        assert_eq!(d.decode(&[0x41, 0x05, b'a']), Err(HpackError::Truncated));
        assert_eq!(
            d.decode(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
            Err(HpackError::Overflow)
        );
        assert_eq!(
            d.decode(&[0x3f, 0xe9, 0x26]),
            Err(HpackError::TableSize(5000))
        );
        assert_eq!(d.decode(&[0x82, 0x20]), Err(HpackError::LateSizeUpdate));
        // Amplification: one big entry referenced many times.
        let mut small = Decoder::new(4096, 1000);
        let mut block = vec![0x40, 0x01, b'x', 0x7f, 0x91, 0x02];
        block.extend(std::iter::repeat_n(b'v', 400));
        block.extend(std::iter::repeat_n(0xbe, 10));
        assert_eq!(small.decode(&block), Err(HpackError::ListTooLarge(1000)));
        for len in 0..40 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let _ = Decoder::new(4096, 1 << 16).decode(&junk);
        }
    }
}
