//! HPACK's Huffman code (RFC 7541 Appendix B), decoding only: the `:authority` rewriter decodes
//! a string up to a length limit, or only measures its decoded length without keeping it.
//!
//! The code is canonical: codes are assigned in order of (length, symbol), so the lengths alone
//! define it. Decoding walks the code one bit at a time with the canonical first-code method.

/// Code length in bits of each symbol: bytes 0..=255, then EOS (256).
const LENGTHS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28,
    28, 28, 28, 28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5,
    5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6,
    6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23, 22,
    23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22,
    21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20,
    22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19,
    21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22,
    22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
];

/// The longest code.
const MAX_LEN: usize = 30;
/// The end-of-string symbol, which must never appear in a decoded string.
const EOS: u16 = 256;

/// Symbols sorted by (code length, symbol), and how many codes each length has.
struct Table {
    sorted: [u16; 257],
    counts: [u16; MAX_LEN + 1],
}

fn table() -> &'static Table {
    static TABLE: std::sync::OnceLock<Table> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut counts = [0u16; MAX_LEN + 1];
        for &len in &LENGTHS {
            counts[usize::from(len)] += 1;
        }
        let mut sorted = [0u16; 257];
        let mut next = 0;
        for len in 1..=MAX_LEN {
            for (symbol, &l) in (0u16..).zip(LENGTHS.iter()) {
                if usize::from(l) == len {
                    sorted[next] = symbol;
                    next += 1;
                }
            }
        }
        Table { sorted, counts }
    })
}

/// Why a Huffman-coded string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HuffmanError {
    /// The EOS symbol appeared in the string.
    #[error("EOS symbol in a Huffman string")]
    Eos,
    /// The padding is longer than 7 bits or not all ones, or a code is invalid.
    #[error("invalid Huffman padding or code")]
    Padding,
    /// The decoded string would be longer than the caller allows.
    #[error("Huffman string decodes to more than {0} bytes")]
    TooLong(usize),
}

/// Decodes a Huffman-coded string of at most `limit` decoded bytes.
pub(crate) fn decode(input: &[u8], limit: usize) -> Result<Vec<u8>, HuffmanError> {
    // Every symbol takes at least 5 bits.
    let mut out = Vec::with_capacity((input.len() * 8 / 5).min(limit));
    walk(input, |symbol| {
        if out.len() == limit {
            return Err(HuffmanError::TooLong(limit));
        }
        out.push(symbol);
        Ok(())
    })?;
    Ok(out)
}

/// The length of a Huffman-coded string once decoded, which is validated but not kept.
pub(crate) fn decoded_len(input: &[u8]) -> Result<usize, HuffmanError> {
    let mut len = 0usize;
    walk(input, |_| {
        len += 1;
        Ok(())
    })?;
    Ok(len)
}

/// Walks a Huffman-coded string, handing each decoded byte to `sink`.
fn walk(
    input: &[u8],
    mut sink: impl FnMut(u8) -> Result<(), HuffmanError>,
) -> Result<(), HuffmanError> {
    let table = table();
    // The code read so far for the current symbol, its length, and where its length starts in
    // the canonical order.
    let (mut code, mut first, mut index, mut len) = (0u32, 0u32, 0usize, 0usize);
    let mut all_ones = true;
    for byte in input {
        for shift in (0..8).rev() {
            let bit = u32::from((byte >> shift) & 1);
            code |= bit;
            all_ones &= bit == 1;
            len += 1;
            let count = u32::from(table.counts[len]);
            if code.wrapping_sub(first) < count {
                let offset = (code - first) as usize;
                let symbol = table.sorted[index + offset];
                if symbol == EOS {
                    return Err(HuffmanError::Eos);
                }
                // Symbols below 256 are bytes.
                sink(u8::try_from(symbol).map_err(|_| HuffmanError::Eos)?)?;
                (code, first, index, len) = (0, 0, 0, 0);
                all_ones = true;
                continue;
            }
            if len == MAX_LEN {
                return Err(HuffmanError::Padding);
            }
            index += count as usize;
            first = (first + count) << 1;
            code <<= 1;
        }
    }
    // What is left must be a prefix of EOS (all ones) of at most 7 bits.
    if len > 7 || !all_ones {
        return Err(HuffmanError::Padding);
    }
    Ok(())
}

/// Encodes with the canonical codes rebuilt from the lengths (tests only: the rewriter never
/// Huffman-codes what it writes).
#[cfg(test)]
pub(crate) fn encode(input: &[u8]) -> Vec<u8> {
    let codes = tests::codes();
    let (mut acc, mut bits, mut out) = (0u64, 0u32, Vec::new());
    for &b in input {
        let (code, len) = codes[usize::from(b)];
        acc = (acc << len) | u64::from(code);
        bits += u32::from(len);
        while bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    if bits > 0 {
        let pad = 8 - bits;
        out.push(((acc << pad) | ((1 << pad) - 1)) as u8);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The canonical codes rebuilt from the lengths: (code, length) per symbol.
    pub(super) fn codes() -> Vec<(u32, u8)> {
        let mut order: Vec<usize> = (0..257).collect();
        order.sort_by_key(|&s| (LENGTHS[s], s));
        let mut out = vec![(0u32, 0u8); 257];
        let (mut code, mut prev) = (0u32, 0u8);
        for (i, &s) in order.iter().enumerate() {
            let len = LENGTHS[s];
            if i > 0 {
                code = (code + 1) << (len - prev);
            }
            prev = len;
            out[s] = (code, len);
        }
        out
    }

    #[test]
    fn known_codes_of_rfc_7541() {
        let codes = codes();
        assert_eq!(codes[usize::from(b'0')], (0x0, 5));
        assert_eq!(codes[usize::from(b'a')], (0x3, 5));
        assert_eq!(codes[usize::from(b' ')], (0x14, 6));
        assert_eq!(codes[0], (0x1ff8, 13));
        assert_eq!(codes[255], (0x3ffffee, 26));
        assert_eq!(codes[256], (0x3fffffff, 30));
    }

    #[test]
    fn rfc_7541_c4_example_and_round_trips() {
        // C.4.1: "www.example.com".
        let coded = [
            0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
        ];
        assert_eq!(decode(&coded, 64).unwrap(), b"www.example.com");
        assert_eq!(decoded_len(&coded), Ok(15));
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(decode(&encode(&all), 256).unwrap(), all);
        assert_eq!(decoded_len(&encode(&all)), Ok(256));
        assert_eq!(decode(&encode(b""), 0).unwrap(), b"");
        assert_eq!(
            decode(&encode(b"/tmp/agent.sock"), 15).unwrap(),
            b"/tmp/agent.sock"
        );
    }

    #[test]
    fn the_limit_is_enforced() {
        let coded = encode(b"/tmp/agent.sock");
        assert_eq!(decode(&coded, 14), Err(HuffmanError::TooLong(14)));
        assert_eq!(decode(&coded, 0), Err(HuffmanError::TooLong(0)));
    }

    #[test]
    fn bad_padding_and_eos_are_refused() {
        // 'a' (00011) padded with zeros instead of ones.
        assert_eq!(decode(&[0b0001_1000], 8), Err(HuffmanError::Padding));
        assert_eq!(decoded_len(&[0b0001_1000]), Err(HuffmanError::Padding));
        // A whole byte of padding.
        let mut padded = encode(b"a");
        padded.push(0xff);
        assert_eq!(decode(&padded, 8), Err(HuffmanError::Padding));
        // EOS itself (30 ones) followed by padding.
        assert_eq!(decode(&[0xff, 0xff, 0xff, 0xff], 8), Err(HuffmanError::Eos));
        assert_eq!(
            decoded_len(&[0xff, 0xff, 0xff, 0xff]),
            Err(HuffmanError::Eos)
        );
    }
}
