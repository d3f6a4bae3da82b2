//! HPACK's Huffman code (RFC 7541 Appendix B), decoding only.
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HuffmanError {
    /// The EOS symbol appeared in the string.
    Eos,
    /// The padding is longer than 7 bits or not all ones, or a code is invalid.
    Padding,
}

/// Decodes a Huffman-coded string.
pub(crate) fn decode(input: &[u8]) -> Result<Vec<u8>, HuffmanError> {
    let table = table();
    let mut out = Vec::with_capacity(input.len() * 8 / 5);
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
                out.push(u8::try_from(symbol).map_err(|_| HuffmanError::Eos)?);
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
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes with the canonical codes rebuilt from the lengths (for tests only).
    fn codes() -> Vec<(u32, u8)> {
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

    fn encode(input: &[u8]) -> Vec<u8> {
        let codes = codes();
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
        assert_eq!(decode(&coded).unwrap(), b"www.example.com");
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(decode(&encode(&all)).unwrap(), all);
        assert_eq!(decode(&encode(b"")).unwrap(), b"");
        assert_eq!(
            decode(&encode(b"/tmp/agent.sock")).unwrap(),
            b"/tmp/agent.sock"
        );
    }

    #[test]
    fn bad_padding_and_eos_are_refused() {
        // 'a' (00011) padded with zeros instead of ones.
        assert_eq!(decode(&[0b0001_1000]), Err(HuffmanError::Padding));
        // A whole byte of padding.
        let mut padded = encode(b"a");
        padded.push(0xff);
        assert_eq!(decode(&padded), Err(HuffmanError::Padding));
        // EOS itself (30 ones) followed by padding.
        assert_eq!(decode(&[0xff, 0xff, 0xff, 0xff]), Err(HuffmanError::Eos));
    }
}
