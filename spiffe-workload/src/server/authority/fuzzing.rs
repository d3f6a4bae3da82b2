//! Entry points for the `cargo fuzz` target of the `:authority` rewriter (feature `fuzzing`;
//! not part of the supported API).

use super::frames::{FrameError, MAX_BLOCK, MAX_EXPANSION, Rewriter};

/// The client connection preface, put before the fuzzer's bytes so that they are frames.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const FRAME_HEADER_LEN: usize = 9;
const HEADERS: u8 = 0x1;
const CONTINUATION: u8 = 0x9;
const END_HEADERS: u8 = 0x4;
/// The largest header frame payload the rewriter emits.
const MAX_EMIT: usize = 16_384;

/// Rewrites `data` as the client half of a connection: the first byte chooses how the rest,
/// after the preface, is cut into reads (0: one read), the rest is the client's frames.
///
/// Panics (for the fuzzer to report) when the output of the reads so far is more than
/// 4 times their input, or when, all reads accepted, the output is not well-framed, or
/// rewriting it again fails or changes it: its `:authority` values are all valid (or empty),
/// and its header blocks are framed as the rewriter frames them. (A block that grew past the
/// block limit in the rewrite, which only invalid values can do, is not rewritten again.)
///
/// ```
/// // Read by read (seed 1): SETTINGS, then HEADERS with `:authority: /a/` without indexing.
/// spiffe_workload::server::authority::fuzzing::rewrite(&[
///     1, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 5, 1, 5, 0, 0, 0, 1, 0x01, 0x03, b'/', b'a', b'/',
/// ]);
/// ```
pub fn rewrite(data: &[u8]) {
    let Some((&seed, frames)) = data.split_first() else {
        return;
    };
    let mut input = PREFACE.to_vec();
    input.extend_from_slice(frames);
    let Ok((out, _)) = run(&input, seed) else {
        return;
    };
    if assert_well_framed(&out) > MAX_BLOCK {
        return;
    }
    let again = run(&out, seed.wrapping_add(1));
    assert!(
        again.is_ok(),
        "the output does not rewrite again: {:?}",
        again.as_ref().err()
    );
    if let Ok((again, rewritten)) = again {
        assert_eq!(rewritten, 0, "the output had an invalid :authority");
        assert!(again == out, "rewriting the output changed it");
    }
}

/// Feeds `input` in reads cut by `seed`, checking the output bound after each; returns the
/// output and how many values were replaced.
fn run(input: &[u8], seed: u8) -> Result<(Vec<u8>, u64), FrameError> {
    let mut rewriter = Rewriter::new();
    let mut out = Vec::new();
    let mut fed = 0usize;
    let mut rest = input;
    let mut step = usize::from(seed);
    while !rest.is_empty() {
        let n = if seed == 0 {
            rest.len()
        } else {
            // Read sizes from 1 to 512, varying from one read to the next.
            step = (step * 33 + 17) % 512;
            (step + 1).min(rest.len())
        };
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        fed += chunk.len();
        let result = rewriter.feed(chunk, &mut out);
        assert!(
            out.len() <= MAX_EXPANSION * fed,
            "{} bytes out for {fed} in",
            out.len()
        );
        result?;
    }
    Ok((out, rewriter.rewritten))
}

/// Checks that `out` is the preface and a sequence of frames (the last one possibly cut short
/// when the input was), where header blocks are whole, in frames of at most 16 KiB. Returns
/// the size of the largest header block (its frames' payloads).
fn assert_well_framed(out: &[u8]) -> usize {
    assert!(out.len() >= PREFACE.len() && out.starts_with(PREFACE));
    let mut rest = &out[PREFACE.len()..];
    let mut in_block = false;
    let (mut block, mut largest) = (0usize, 0usize);
    while rest.len() >= FRAME_HEADER_LEN {
        let len = usize::from(rest[0]) << 16 | usize::from(rest[1]) << 8 | usize::from(rest[2]);
        let (kind, flags) = (rest[3], rest[4]);
        if in_block {
            assert_eq!(kind, CONTINUATION, "a header block is interrupted");
        } else {
            assert_ne!(kind, CONTINUATION, "a CONTINUATION outside a header block");
        }
        if kind == HEADERS || kind == CONTINUATION {
            assert!(len <= MAX_EMIT, "a header frame of {len} bytes");
            assert!(
                rest.len() >= FRAME_HEADER_LEN + len,
                "a header frame cut short"
            );
            in_block = flags & END_HEADERS == 0;
            block = if kind == HEADERS { len } else { block + len };
            largest = largest.max(block);
        }
        if rest.len() < FRAME_HEADER_LEN + len {
            // The input stopped in this frame's payload.
            return largest;
        }
        rest = &rest[FRAME_HEADER_LEN + len..];
    }
    assert!(!in_block, "a header block is not finished");
    largest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz_entry_point_runs_on_simple_inputs() {
        rewrite(&[]);
        rewrite(&[0]);
        rewrite(&[3, 0, 0, 0, 4, 0, 0, 0, 0, 0]);
        // HEADERS with an invalid `:authority` without indexing, then a partial DATA frame.
        let mut data = vec![7, 0, 0, 5, HEADERS, END_HEADERS, 0, 0, 0, 1];
        data.extend_from_slice(&[0x01, 0x03, b'/', b'a', b'/']);
        data.extend_from_slice(&[0, 0, 9, 0, 0, 0, 0, 0, 1, 1, 2]);
        rewrite(&data);
        for seed in 0..=255u8 {
            let junk: Vec<u8> = (0..300u32)
                .map(|i| (i * 89 + u32::from(seed)) as u8)
                .collect();
            let mut data = vec![seed];
            data.extend(junk);
            rewrite(&data);
        }
    }

    /// A small deterministic generator (xorshift).
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    /// A random header block of plausible representations, many of them `:authority`.
    fn block(rng: &mut Rng) -> Vec<u8> {
        use super::super::hpack::enc::{self, Kind, Name};
        const VALUES: [&str; 8] = [
            "",
            "localhost",
            "/tmp/agent.sock",
            "tmp%2Fagent.sock",
            "a b",
            "example.com:8443",
            "x",
            "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv",
        ];
        let mut b = Vec::new();
        if rng.below(4) == 0 {
            enc::size_update(&mut b, [0, 64, 256, 4096, 4097][rng.below(5)]);
        }
        for _ in 0..rng.below(8) {
            let kind = [Kind::Indexing, Kind::WithoutIndexing, Kind::NeverIndexed][rng.below(3)];
            let name = match rng.below(5) {
                0 => Name::Index(1),
                1 => Name::Index(1 + rng.below(70)),
                2 => Name::Literal(":authority", rng.below(2) == 0),
                3 => Name::Literal("x-h", rng.below(2) == 0),
                _ => Name::Index(62 + rng.below(4)),
            };
            match rng.below(4) {
                0 => enc::indexed(&mut b, 1 + rng.below(66)),
                _ => enc::literal(&mut b, kind, name, VALUES[rng.below(8)], rng.below(2) == 0),
            }
        }
        b
    }

    #[test]
    fn structured_random_inputs_keep_the_bound_and_rewrite_to_a_fixed_point() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..3000 {
            let mut data = vec![rng.below(256) as u8];
            // SETTINGS first, as a client does.
            data.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
            for stream in 0..rng.below(6) {
                let id = (2 * stream as u32 + 1).to_be_bytes();
                let b = block(&mut rng);
                let frame = |kind: u8, flags: u8, payload: &[u8]| {
                    let len = payload.len().to_be_bytes();
                    let mut f = vec![len[5], len[6], len[7], kind, flags];
                    f.extend_from_slice(&id);
                    f.extend_from_slice(payload);
                    f
                };
                match rng.below(4) {
                    0 => {
                        // Padded, with priority, over two frames.
                        let cut = rng.below(b.len() + 1);
                        let mut p = vec![2, 0, 0, 0, 0, 9];
                        p.extend_from_slice(&b[..cut]);
                        p.extend_from_slice(&[0, 0]);
                        data.extend(frame(HEADERS, 0x8 | 0x20, &p));
                        data.extend(frame(CONTINUATION, END_HEADERS, &b[cut..]));
                    }
                    1 => data.extend(frame(0x0, 0x1, b"\0\0\0\0\0")),
                    _ => data.extend(frame(HEADERS, END_HEADERS | 0x1, &b)),
                }
            }
            // Now and then a flipped byte or a cut.
            if rng.below(3) == 0 && data.len() > 1 {
                let at = 1 + rng.below(data.len() - 1);
                data[at] ^= 1 << rng.below(8);
            }
            if rng.below(5) == 0 {
                data.truncate(1 + rng.below(data.len()));
            }
            rewrite(&data);
        }
    }
}
