//! The client-to-server half of an HTTP/2 connection, rewritten: in every header block an
//! `:authority` that is not a valid URI authority is replaced (see [`super::hpack`] for how,
//! without decoding the block); everything else passes through. Frames other than HEADERS and
//! CONTINUATION are streamed through untouched, without being buffered whole.
//!
//! A header block is collected across its HEADERS and CONTINUATION frames (padding and
//! priority fields removed), walked, and emitted again as one HEADERS frame (with the priority
//! fields, if any) and as many CONTINUATION frames as needed, of at most 16 KiB each. Limits,
//! past which the connection is closed:
//!
//! - a block is at most [`MAX_BLOCK`] (64 KiB) compressed. hyper serves header lists of up to
//!   16 KiB decoded (its default `max_header_list_size`, which tonic keeps); a decoded byte
//!   takes at most 30 bits Huffman-coded (3.75 bytes), and every representation decodes to at
//!   least as many bytes (32 per field) as its framing takes, so no block the server could
//!   serve is larger;
//! - at most [`MAX_CONTINUATIONS`] CONTINUATION frames per block (h2 itself allows about 5);
//! - PUSH_PROMISE from a client, a block interrupted by another frame, and a CONTINUATION
//!   without a block or on another stream are refused.
//!
//! Output bound: at every point of a connection, the bytes emitted are at most **4 times** the
//! bytes fed (`MAX_EXPANSION`). The preface and other frames are copied one for one. A block
//! of `B` fragment bytes comes out as at most `11/3 B` bytes (the HPACK walker's bound) in
//! frames of up to 16 KiB: at most `9 + p + 11/3 B (1 + 9/16379)` bytes, where `p` is 5 with
//! priority fields and 0 without, against at least `9 + p + B` bytes fed (a frame header, the
//! priority fields, the fragment). One call of [`Rewriter::feed`] may also emit a block begun
//! in earlier calls, so its own output is at most 4 times its input plus the input held from
//! before: at most one header block (64 KiB and its frame headers) and one partial frame.

use super::hpack::{HpackError, ShadowTable};

/// The client connection preface (RFC 9113 3.4).
const PREFACE_LEN: usize = 24;
const FRAME_HEADER_LEN: usize = 9;
const HEADERS: u8 = 0x1;
const PUSH_PROMISE: u8 = 0x5;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;
/// The largest frame payload we emit: the protocol's minimum `SETTINGS_MAX_FRAME_SIZE`, which
/// every server accepts.
const MAX_EMIT: usize = 16_384;
/// The largest header block (all its fragments, compressed) we accept.
pub(crate) const MAX_BLOCK: usize = 64 * 1024;
/// The most CONTINUATION frames one block may take.
pub(crate) const MAX_CONTINUATIONS: usize = 32;
/// How many times its input the rewriter's output may be, at most (see the module docs).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) const MAX_EXPANSION: usize = 4;

/// Why the client's bytes could not be rewritten; the connection is then closed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FrameError {
    /// A header block that does not decode.
    #[error("client header block: {0}")]
    Hpack(#[from] HpackError),
    /// Frames that break HTTP/2's framing rules or our limits.
    #[error("client HTTP/2 framing: {0}")]
    Framing(&'static str),
}

/// A header block being collected across HEADERS and CONTINUATION frames.
struct Block {
    stream_id: [u8; 4],
    end_stream: bool,
    priority: Option<[u8; 5]>,
    fragment: Vec<u8>,
    continuations: usize,
}

/// Rewrites the bytes a client sends; fed as they arrive.
pub(crate) struct Rewriter {
    /// Input not consumed yet.
    pending: Vec<u8>,
    /// Bytes still to copy through unchanged (the preface, or a frame payload).
    passthrough: usize,
    block: Option<Block>,
    /// The client's dynamic table, sizes only.
    table: ShadowTable,
    /// How many `:authority` values were replaced (for logs and tests).
    pub(crate) rewritten: u64,
}

impl Rewriter {
    /// A rewriter for a new connection: the client's preface comes first.
    pub(crate) fn new() -> Self {
        Rewriter {
            pending: Vec::new(),
            passthrough: PREFACE_LEN,
            block: None,
            table: ShadowTable::new(),
            rewritten: 0,
        }
    }

    /// Consumes `input`, appending what the server must see to `out`.
    pub(crate) fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
        let mut input = input;
        // Fast path: bytes of a passed-through payload go straight out.
        if self.pending.is_empty() && self.passthrough > 0 {
            let n = self.passthrough.min(input.len());
            out.extend_from_slice(&input[..n]);
            self.passthrough -= n;
            input = &input[n..];
        }
        self.pending.extend_from_slice(input);
        let mut pos = 0;
        let result = self.process(&mut pos, out);
        self.pending.drain(..pos);
        result
    }

    fn process(&mut self, pos: &mut usize, out: &mut Vec<u8>) -> Result<(), FrameError> {
        loop {
            let available = &self.pending[*pos..];
            if self.passthrough > 0 {
                let n = self.passthrough.min(available.len());
                if n == 0 {
                    return Ok(());
                }
                out.extend_from_slice(&available[..n]);
                self.passthrough -= n;
                *pos += n;
                continue;
            }
            if available.len() < FRAME_HEADER_LEN {
                return Ok(());
            }
            let header: [u8; FRAME_HEADER_LEN] = available[..FRAME_HEADER_LEN]
                .try_into()
                .map_err(|_| FrameError::Framing("short frame header"))?;
            let len =
                usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
            let (kind, flags) = (header[3], header[4]);
            let stream_id = [header[5] & 0x7f, header[6], header[7], header[8]];
            if self.block.is_some() && kind != CONTINUATION {
                return Err(FrameError::Framing(
                    "a header block was interrupted by another frame",
                ));
            }
            match kind {
                HEADERS | CONTINUATION => {
                    if len > MAX_BLOCK {
                        return Err(FrameError::Framing("header frame too large"));
                    }
                    if available.len() < FRAME_HEADER_LEN + len {
                        return Ok(());
                    }
                    let payload =
                        &self.pending[*pos + FRAME_HEADER_LEN..*pos + FRAME_HEADER_LEN + len];
                    if kind == HEADERS {
                        self.block = Some(headers(stream_id, flags, payload)?);
                    } else {
                        continuation(self.block.as_mut(), stream_id, payload)?;
                    }
                    *pos += FRAME_HEADER_LEN + len;
                    if flags & END_HEADERS != 0 {
                        self.finish(out)?;
                    }
                }
                PUSH_PROMISE => {
                    return Err(FrameError::Framing("a client must not send PUSH_PROMISE"));
                }
                _ => {
                    out.extend_from_slice(&header);
                    *pos += FRAME_HEADER_LEN;
                    self.passthrough = len;
                }
            }
        }
    }

    /// Walks the finished block, fixes `:authority`, and emits it as HEADERS (+ CONTINUATION).
    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), FrameError> {
        let Some(block) = self.block.take() else {
            return Ok(());
        };
        let (rewritten, replaced) = self.table.rewrite_block(&block.fragment)?;
        self.rewritten += replaced;
        let encoded = rewritten.as_deref().unwrap_or(&block.fragment);

        let first_room = MAX_EMIT - if block.priority.is_some() { 5 } else { 0 };
        let (first, mut rest) = encoded.split_at(encoded.len().min(first_room));
        let mut flags = if block.end_stream { END_STREAM } else { 0 };
        if block.priority.is_some() {
            flags |= PRIORITY;
        }
        if rest.is_empty() {
            flags |= END_HEADERS;
        }
        let priority = block.priority.unwrap_or_default();
        let priority: &[u8] = if block.priority.is_some() {
            &priority
        } else {
            &[]
        };
        frame(out, HEADERS, flags, block.stream_id, &[priority, first]);
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(rest.len().min(MAX_EMIT));
            rest = tail;
            let flags = if rest.is_empty() { END_HEADERS } else { 0 };
            frame(out, CONTINUATION, flags, block.stream_id, &[chunk]);
        }
        Ok(())
    }
}

/// Starts a block with a HEADERS frame's payload, without its padding and priority fields.
fn headers(stream_id: [u8; 4], flags: u8, payload: &[u8]) -> Result<Block, FrameError> {
    let mut body = payload;
    if flags & PADDED != 0 {
        let (&pad, rest) = body
            .split_first()
            .ok_or(FrameError::Framing("padded HEADERS without a pad length"))?;
        let keep = rest
            .len()
            .checked_sub(usize::from(pad))
            .ok_or(FrameError::Framing("HEADERS padding longer than the frame"))?;
        body = &rest[..keep];
    }
    let priority = if flags & PRIORITY != 0 {
        if body.len() < 5 {
            return Err(FrameError::Framing("HEADERS priority fields truncated"));
        }
        let (p, rest) = body.split_at(5);
        body = rest;
        let mut fields = [0u8; 5];
        fields.copy_from_slice(p);
        Some(fields)
    } else {
        None
    };
    Ok(Block {
        stream_id,
        end_stream: flags & END_STREAM != 0,
        priority,
        fragment: body.to_vec(),
        continuations: 0,
    })
}

/// Adds a CONTINUATION frame's payload to the block being collected.
fn continuation(
    block: Option<&mut Block>,
    stream_id: [u8; 4],
    payload: &[u8],
) -> Result<(), FrameError> {
    let block = block.ok_or(FrameError::Framing("CONTINUATION without a header block"))?;
    if block.stream_id != stream_id {
        return Err(FrameError::Framing("CONTINUATION on another stream"));
    }
    block.continuations += 1;
    if block.continuations > MAX_CONTINUATIONS {
        return Err(FrameError::Framing("too many CONTINUATION frames"));
    }
    if block.fragment.len() + payload.len() > MAX_BLOCK {
        return Err(FrameError::Framing("header block too large"));
    }
    block.fragment.extend_from_slice(payload);
    Ok(())
}

fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream_id: [u8; 4], parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    // `len <= MAX_EMIT < 2^24`.
    out.extend_from_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags]);
    out.extend_from_slice(&stream_id);
    for part in parts {
        out.extend_from_slice(part);
    }
}

#[cfg(test)]
mod tests {
    use super::super::hpack::enc::{self, Kind, Name};
    use super::*;

    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    const SETTINGS: u8 = 0x4;

    fn headers_frame(flags: u8, stream: u8, block: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        frame(&mut out, HEADERS, flags, [0, 0, 0, stream], &[block]);
        out
    }

    /// Parses frames of `bytes` (after the preface) into (type, flags, payload).
    fn frames(bytes: &[u8]) -> Vec<(u8, u8, Vec<u8>)> {
        let mut rest = &bytes[PREFACE.len()..];
        let mut out = Vec::new();
        while !rest.is_empty() {
            let len = usize::from(rest[0]) << 16 | usize::from(rest[1]) << 8 | usize::from(rest[2]);
            out.push((rest[3], rest[4], rest[9..9 + len].to_vec()));
            rest = &rest[9 + len..];
        }
        out
    }

    fn feed_in_pieces(input: &[u8], piece: usize) -> (Vec<u8>, Rewriter) {
        let mut r = Rewriter::new();
        let mut out = Vec::new();
        for chunk in input.chunks(piece) {
            r.feed(chunk, &mut out).unwrap();
        }
        assert!(out.len() <= MAX_EXPANSION * input.len());
        (out, r)
    }

    /// The block grpc-core sends for a socket at /tmp/x/agent.sock, with `authority` as the
    /// `:authority` value's representation.
    fn grpc_block(authority: &str, kind: Kind) -> Vec<u8> {
        let mut b = Vec::new();
        enc::indexed(&mut b, 3); // :method POST
        enc::indexed(&mut b, 6); // :scheme http
        enc::literal(
            &mut b,
            Kind::Indexing,
            Name::Index(4),
            "/SpiffeWorkloadAPI/FetchX509SVID",
            true,
        );
        enc::literal(&mut b, kind, Name::Index(1), authority, false);
        enc::literal(
            &mut b,
            Kind::Indexing,
            Name::Literal("workload.spiffe.io", true),
            "true",
            true,
        );
        b
    }

    #[test]
    fn invalid_authority_is_replaced_and_the_rest_passes_through() {
        let block = grpc_block("tmp%2Fx%2Fagent.sock", Kind::WithoutIndexing);
        let mut input = PREFACE.to_vec();
        // SETTINGS, then HEADERS, then DATA with END_STREAM.
        frame(&mut input, SETTINGS, 0, [0; 4], &[&[0, 3, 0, 0, 0, 100]]);
        input.extend(headers_frame(END_HEADERS, 1, &block));
        frame(&mut input, 0x0, END_STREAM, [0, 0, 0, 1], &[b"\0\0\0\0\0"]);

        let expected = grpc_block("localhost", Kind::WithoutIndexing);
        for piece in [1, 2, 7, 64, 4096] {
            let (out, r) = feed_in_pieces(&input, piece);
            assert_eq!(r.rewritten, 1);
            assert!(out.starts_with(PREFACE));
            let frames = frames(&out);
            assert_eq!(frames.len(), 3, "piece {piece}");
            assert_eq!(frames[0], (SETTINGS, 0, vec![0, 3, 0, 0, 0, 100]));
            assert_eq!(frames[1], (HEADERS, END_HEADERS, expected.clone()));
            assert_eq!(frames[2], (0x0, END_STREAM, b"\0\0\0\0\0".to_vec()));
        }
    }

    #[test]
    fn valid_authority_is_kept_and_dynamic_table_is_followed() {
        let mut r = Rewriter::new();
        let mut out = Vec::new();
        r.feed(PREFACE, &mut out).unwrap();
        // RFC 7541 C.3: the second block refers to the first one's dynamic entry.
        let first = [
            0x82, 0x86, 0x84, 0x41, 0x0f, 0x77, 0x77, 0x77, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70,
            0x6c, 0x65, 0x2e, 0x63, 0x6f, 0x6d,
        ];
        let second = [
            0x82, 0x86, 0x84, 0xbe, 0x58, 0x08, 0x6e, 0x6f, 0x2d, 0x63, 0x61, 0x63, 0x68, 0x65,
        ];
        let mut input = headers_frame(END_HEADERS | END_STREAM, 1, &first);
        input.extend(headers_frame(END_HEADERS | END_STREAM, 3, &second));
        r.feed(&input, &mut out).unwrap();
        assert_eq!(r.rewritten, 0);
        assert_eq!(&out[PREFACE.len()..], input);
    }

    #[test]
    fn continuation_padding_and_priority_are_handled() {
        let long = "v".repeat(20_000);
        let mut block = Vec::new();
        enc::literal(
            &mut block,
            Kind::Indexing,
            Name::Index(1),
            "/a/b.sock",
            false,
        );
        enc::literal(
            &mut block,
            Kind::WithoutIndexing,
            Name::Literal("x-big", false),
            &long,
            false,
        );
        let (a, b) = block.split_at(10);
        let (b, c) = b.split_at(5);
        let mut input = PREFACE.to_vec();
        // HEADERS: padded (3 bytes) with priority, then two CONTINUATIONs.
        let mut payload = vec![3];
        payload.extend_from_slice(&[0, 0, 0, 0, 16]);
        payload.extend_from_slice(a);
        payload.extend_from_slice(&[0, 0, 0]);
        frame(
            &mut input,
            HEADERS,
            PADDED | PRIORITY,
            [0, 0, 0, 5],
            &[&payload],
        );
        frame(&mut input, CONTINUATION, 0, [0, 0, 0, 5], &[b]);
        frame(&mut input, CONTINUATION, END_HEADERS, [0, 0, 0, 5], &[c]);
        let (out, r) = feed_in_pieces(&input, 1000);
        assert_eq!(r.rewritten, 1);
        let frames = frames(&out);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].0, HEADERS);
        assert_eq!(frames[0].1, PRIORITY);
        assert_eq!(frames[0].2.len(), MAX_EMIT);
        assert_eq!(&frames[0].2[..5], &[0, 0, 0, 0, 16]);
        assert_eq!(frames[1].0, CONTINUATION);
        assert_eq!(frames[1].1, END_HEADERS);
        let mut got = frames[0].2[5..].to_vec();
        got.extend_from_slice(&frames[1].2);
        let mut expected = Vec::new();
        enc::literal(
            &mut expected,
            Kind::Indexing,
            Name::Index(1),
            "localhost",
            false,
        );
        enc::literal(
            &mut expected,
            Kind::WithoutIndexing,
            Name::Literal("x-big", false),
            &long,
            false,
        );
        assert!(got == expected);
    }

    #[test]
    fn framing_errors_and_limits_close_the_connection() {
        let started = || {
            let mut r = Rewriter::new();
            r.feed(PREFACE, &mut Vec::new()).unwrap();
            r
        };
        let mut out = Vec::new();
        // Interrupted block.
        let mut r = started();
        r.feed(&headers_frame(0, 1, &[0x82]), &mut out).unwrap();
        let mut data = Vec::new();
        frame(&mut data, 0x0, 0, [0, 0, 0, 1], &[b"x"]);
        assert!(matches!(
            r.feed(&data, &mut out),
            Err(FrameError::Framing(_))
        ));
        // A CONTINUATION on another stream, or with no block.
        let mut r = started();
        r.feed(&headers_frame(0, 1, &[0x82]), &mut out).unwrap();
        let mut cont = Vec::new();
        frame(
            &mut cont,
            CONTINUATION,
            END_HEADERS,
            [0, 0, 0, 3],
            &[&[0x82]],
        );
        assert!(matches!(
            r.feed(&cont, &mut out),
            Err(FrameError::Framing(_))
        ));
        assert!(matches!(
            started().feed(&cont, &mut out),
            Err(FrameError::Framing(_))
        ));
        // PUSH_PROMISE.
        let mut push = Vec::new();
        frame(
            &mut push,
            PUSH_PROMISE,
            END_HEADERS,
            [0, 0, 0, 1],
            &[&[0, 0, 0, 2, 0x82]],
        );
        assert!(matches!(
            started().feed(&push, &mut out),
            Err(FrameError::Framing(_))
        ));
        // Bad HPACK.
        assert!(matches!(
            started().feed(&headers_frame(END_HEADERS, 1, &[0x80]), &mut out),
            Err(FrameError::Hpack(HpackError::BadIndex(0)))
        ));
        // Bad padding and priority.
        assert!(matches!(
            started().feed(
                &headers_frame(PADDED | END_HEADERS, 1, &[5, 0x82]),
                &mut out
            ),
            Err(FrameError::Framing(_))
        ));
        assert!(matches!(
            started().feed(&headers_frame(PRIORITY | END_HEADERS, 1, &[0, 0]), &mut out),
            Err(FrameError::Framing(_))
        ));
        // Too large a frame: refused from its header, before its payload is buffered.
        let big = [0x01, 0x00, 0x01, HEADERS, 0, 0, 0, 0, 1];
        assert!(matches!(
            started().feed(&big, &mut out),
            Err(FrameError::Framing(_))
        ));
        // Too large a block, across CONTINUATIONs.
        let mut r = started();
        let chunk = vec![0x82; MAX_EMIT];
        r.feed(&headers_frame(0, 1, &chunk), &mut out).unwrap();
        let mut cont = Vec::new();
        for _ in 0..3 {
            frame(&mut cont, CONTINUATION, 0, [0, 0, 0, 1], &[&chunk]);
        }
        r.feed(&cont, &mut out).unwrap();
        let mut last = Vec::new();
        frame(&mut last, CONTINUATION, 0, [0, 0, 0, 1], &[&[0x82]]);
        assert!(matches!(
            r.feed(&last, &mut out),
            Err(FrameError::Framing(_))
        ));
        // Too many CONTINUATIONs.
        let mut r = started();
        r.feed(&headers_frame(0, 1, &[]), &mut out).unwrap();
        let mut cont = Vec::new();
        frame(&mut cont, CONTINUATION, 0, [0, 0, 0, 1], &[]);
        for _ in 0..MAX_CONTINUATIONS {
            r.feed(&cont, &mut out).unwrap();
        }
        assert!(matches!(
            r.feed(&cont, &mut out),
            Err(FrameError::Framing(_))
        ));
    }

    /// The input of the report: a dynamic table size update to 64 KiB, one 64 KiB entry, then
    /// 25-byte HEADERS frames that each reference it 16 times.
    fn amplification_input(table: usize, value: usize, frames: usize) -> Vec<u8> {
        let mut input = PREFACE.to_vec();
        frame(&mut input, SETTINGS, 0, [0; 4], &[]);
        let mut block = Vec::new();
        enc::size_update(&mut block, table);
        enc::literal(
            &mut block,
            Kind::Indexing,
            Name::Literal("x-big", false),
            &"v".repeat(value),
            false,
        );
        let mut first = Vec::new();
        frame(
            &mut first,
            HEADERS,
            0,
            [0, 0, 0, 1],
            &[&block[..block.len().min(MAX_EMIT)]],
        );
        let mut rest = &block[block.len().min(MAX_EMIT)..];
        let mut fragments = vec![first];
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(rest.len().min(MAX_EMIT));
            rest = tail;
            let mut f = Vec::new();
            frame(&mut f, CONTINUATION, 0, [0, 0, 0, 1], &[chunk]);
            fragments.push(f);
        }
        // The last fragment ends the block.
        if let Some(last) = fragments.last_mut() {
            last[4] |= END_HEADERS;
        }
        input.extend(fragments.concat());
        for i in 0..frames {
            let stream = u32::try_from(2 * i + 3).unwrap().to_be_bytes();
            frame(
                &mut input,
                HEADERS,
                END_HEADERS | END_STREAM,
                stream,
                &[&[0xbe; 16]],
            );
        }
        input
    }

    #[test]
    fn amplification_is_refused_or_bounded() {
        // As reported: the 64 KiB table is refused at once, with nothing of the block emitted.
        let input = amplification_input(1 << 16, (1 << 16) - 64, 650);
        let mut r = Rewriter::new();
        let mut out = Vec::new();
        let mut fed = 0;
        let mut result = Ok(());
        for chunk in input.chunks(16 * 1024) {
            fed += chunk.len();
            result = r.feed(chunk, &mut out);
            assert!(out.len() <= MAX_EXPANSION * fed);
            if result.is_err() {
                break;
            }
        }
        assert!(
            matches!(result, Err(FrameError::Hpack(HpackError::TableSize(65536)))),
            "{result:?}"
        );
        assert_eq!(out.len(), PREFACE.len() + FRAME_HEADER_LEN);

        // Within the limits (a 4 KiB table, a 4 KiB entry), every frame passes unchanged:
        // output = input, whatever the reads.
        let input = amplification_input(4096, 4096 - 32 - 5, 20_000);
        assert!(input.len() > 500_000);
        for piece in [25, 16 * 1024, 100_000] {
            let (out, r) = feed_in_pieces(&input, piece);
            assert_eq!(r.rewritten, 0);
            assert_eq!(out.len(), input.len());
            assert!(out == input);
        }
    }

    /// What the server saw of one request.
    #[derive(Debug, PartialEq, Eq)]
    struct Seen {
        path: String,
        authority: Option<String>,
        /// Every regular field, sorted.
        headers: Vec<(String, String)>,
    }

    fn seen(path: &str, authority: &str, headers: &[(&str, &str)]) -> Seen {
        let mut headers: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        headers.sort();
        Seen {
            path: path.to_owned(),
            authority: Some(authority.to_owned()),
            headers,
        }
    }

    /// Rewrites `input` (fed `piece` bytes at a time) into a real h2 server (hyper's, as under
    /// tonic) over an in-memory pipe; returns the requests it served and, per stream, the type
    /// of the frame that answered it (HEADERS, or RST_STREAM).
    async fn through_h2(
        input: &[u8],
        piece: usize,
        streams: usize,
    ) -> (Vec<Seen>, std::collections::BTreeMap<u32, u8>, u64) {
        use std::sync::{Arc, Mutex};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let (mut client, server) = tokio::io::duplex(1 << 20);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&requests);
        let service =
            hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let mut headers: Vec<(String, String)> = req
                    .headers()
                    .iter()
                    .map(|(n, v)| {
                        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
                        (n.as_str().to_owned(), v)
                    })
                    .collect();
                headers.sort();
                record.lock().unwrap().push(Seen {
                    path: req.uri().path().to_owned(),
                    authority: req.uri().authority().map(ToString::to_string),
                    headers,
                });
                async {
                    let body = http_body_util::Empty::<&'static [u8]>::new();
                    Ok::<_, std::convert::Infallible>(http::Response::new(body))
                }
            });
        let conn = tokio::spawn(
            hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                .serve_connection(hyper_util::rt::TokioIo::new(server), service),
        );

        let mut r = Rewriter::new();
        let mut out = Vec::new();
        for chunk in input.chunks(piece) {
            r.feed(chunk, &mut out).unwrap();
        }
        assert!(out.len() <= MAX_EXPANSION * input.len());
        client.write_all(&out).await.unwrap();

        let mut answers = std::collections::BTreeMap::new();
        let mut buf = Vec::new();
        let read_all = async {
            while answers.len() < streams {
                let mut chunk = [0u8; 4096];
                let n = client.read(&mut chunk).await.unwrap();
                assert!(n > 0, "the server closed the connection: {answers:?}");
                buf.extend_from_slice(&chunk[..n]);
                while buf.len() >= 9 {
                    let len =
                        usize::from(buf[0]) << 16 | usize::from(buf[1]) << 8 | usize::from(buf[2]);
                    if buf.len() < 9 + len {
                        break;
                    }
                    let kind = buf[3];
                    let stream = u32::from_be_bytes([buf[5] & 0x7f, buf[6], buf[7], buf[8]]);
                    assert_ne!(kind, 0x7, "GOAWAY: {:?}", &buf[9..9 + len]);
                    if stream != 0 && (kind == HEADERS || kind == 0x3) {
                        answers.insert(stream, kind);
                    }
                    buf.drain(..9 + len);
                }
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), read_all)
            .await
            .unwrap();
        conn.abort();
        let requests = std::mem::take(&mut *requests.lock().unwrap());
        (requests, answers, r.rewritten)
    }

    /// A request's first fields: `:method POST`, `:scheme http` and a `:path` naming `stream`.
    fn request(stream: u32) -> Vec<u8> {
        let mut b = Vec::new();
        enc::indexed(&mut b, 3);
        enc::indexed(&mut b, 6);
        let path = format!("/s/{stream}");
        enc::literal(&mut b, Kind::WithoutIndexing, Name::Index(4), &path, false);
        b
    }

    #[tokio::test]
    async fn h2_sees_valid_authorities_and_every_other_field_unchanged() {
        let mut input = PREFACE.to_vec();
        frame(&mut input, SETTINGS, 0, [0; 4], &[]);
        let mut blocks = Vec::new();
        // Stream 1: a 256-byte table; an invalid `:authority` indexed (replaced by a value of
        // its length), two more entries. Table: x-a, content-type, :authority (157 bytes).
        let mut b = Vec::new();
        enc::size_update(&mut b, 256);
        b.extend(request(1));
        enc::literal(
            &mut b,
            Kind::Indexing,
            Name::Index(1),
            "/tmp/x/agent.sock",
            false,
        );
        enc::literal(
            &mut b,
            Kind::Indexing,
            Name::Literal("content-type", true),
            "application/grpc",
            true,
        );
        enc::literal(
            &mut b,
            Kind::Indexing,
            Name::Literal("x-a", false),
            "one",
            false,
        );
        blocks.push((1, b));
        // Stream 3: references to the replaced `:authority` and to content-type, then an entry
        // that evicts both. Table: x-b, x-a (223 bytes).
        let mut b = request(3);
        enc::indexed(&mut b, 64);
        enc::indexed(&mut b, 63);
        enc::literal(
            &mut b,
            Kind::Indexing,
            Name::Literal("x-b", true),
            &"b".repeat(150),
            true,
        );
        blocks.push((3, b));
        // Stream 5: an invalid, Huffman-coded `:authority` under a Huffman-coded literal name,
        // indexed; it evicts x-a. Table: :authority, x-b (240 bytes).
        let mut b = request(5);
        enc::literal(
            &mut b,
            Kind::Indexing,
            Name::Literal(":authority", true),
            "%2Ftmp%2Fsock",
            true,
        );
        enc::indexed(&mut b, 63);
        blocks.push((5, b));
        // Stream 7: never indexed, named by the dynamic `:authority` entry.
        let mut b = request(7);
        enc::literal(&mut b, Kind::NeverIndexed, Name::Index(62), "a b c", true);
        enc::literal(
            &mut b,
            Kind::WithoutIndexing,
            Name::Literal("x-c", true),
            "three",
            true,
        );
        blocks.push((7, b));
        // Stream 9: a valid `:authority`, indexed and kept; it evicts x-b. Table: two
        // `:authority` entries (112 bytes).
        let mut b = request(9);
        enc::literal(
            &mut b,
            Kind::Indexing,
            Name::Index(1),
            "example.com:443",
            true,
        );
        blocks.push((9, b));
        // Stream 11: the replaced Huffman one, by index.
        let mut b = request(11);
        enc::indexed(&mut b, 63);
        blocks.push((11, b));
        // Stream 13: an empty `:authority` passes as is, and h2 resets the stream.
        let mut b = request(13);
        enc::literal(&mut b, Kind::WithoutIndexing, Name::Index(1), "", false);
        blocks.push((13, b));
        // Stream 15: the connection still serves; the valid one, by index.
        let mut b = request(15);
        enc::indexed(&mut b, 62);
        blocks.push((15, b));

        for (stream, block) in &blocks {
            let id = u32::to_be_bytes(*stream);
            if *stream == 3 {
                // Padded, with priority, over three frames.
                let (a, rest) = block.split_at(4);
                let (b, c) = rest.split_at(2);
                let mut payload = vec![2, 0, 0, 0, 0, 7];
                payload.extend_from_slice(a);
                payload.extend_from_slice(&[0, 0]);
                frame(
                    &mut input,
                    HEADERS,
                    END_STREAM | PADDED | PRIORITY,
                    id,
                    &[&payload],
                );
                frame(&mut input, CONTINUATION, 0, id, &[b]);
                frame(&mut input, CONTINUATION, END_HEADERS, id, &[c]);
            } else {
                frame(&mut input, HEADERS, END_STREAM | END_HEADERS, id, &[block]);
            }
        }
        let grpc = ("content-type", "application/grpc");
        let b150 = "b".repeat(150);
        let expected = vec![
            seen("/s/1", "localhostxxxxxxxx", &[grpc, ("x-a", "one")]),
            seen("/s/3", "localhostxxxxxxxx", &[grpc, ("x-b", &b150)]),
            seen("/s/5", "localhostxxxx", &[("x-b", &b150)]),
            seen("/s/7", "localhost", &[("x-c", "three")]),
            seen("/s/9", "example.com:443", &[]),
            seen("/s/11", "localhostxxxx", &[]),
            seen("/s/15", "example.com:443", &[]),
        ];
        for piece in [1, 7, 100, 1 << 20] {
            let (requests, answers, rewritten) = through_h2(&input, piece, blocks.len()).await;
            assert_eq!(rewritten, 3);
            assert_eq!(requests, expected, "piece {piece}");
            let resets: Vec<u32> = answers
                .iter()
                .filter(|(_, kind)| **kind != HEADERS)
                .map(|(s, _)| *s)
                .collect();
            assert_eq!(resets, [13]);
        }
    }

    /// Decodes hex (test data).
    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn what_grpc_core_sends_is_served_by_h2() {
        // The first header block of grpc-python 1.85.3 (grpc-c 58.0.0) on a socket at
        // /tmp/capt/agent.sock: `:authority` is a literal with incremental indexing and a
        // literal name, its value the percent-encoded path.
        let first = hex(concat!(
            "40053a70617468222f537069666665576f726b6c6f61644150492f46657463684a575442756e646c",
            "6573400a3a617574686f7269747917746d70253246636170742532466167656e742e736f636b8386",
            "400c636f6e74656e742d74797065106170706c69636174696f6e2f677270634002746508747261",
            "696c6572734014677270632d6163636570742d656e636f64696e67176964656e746974792c2064",
            "65666c6174652c20677a6970400c677270632d74696d656f757405313031306d400a757365722d",
            "6167656e7430677270632d707974686f6e2f312e38352e3320677270632d632f35382e302e3020",
            "286c696e75783b20636874747032290012776f726b6c6f61642e7370696666652e696f04747275",
            "65",
        ));
        // A second request as that encoder makes it: the same fields by index (user-agent
        // 62 ... :authority 67, :path 68), grpc-timeout left out.
        let mut second = vec![0xc4, 0xc3, 0x83, 0x86, 0xc2, 0xc1, 0xc0, 0xbe];
        second.extend_from_slice(&first[first.len() - 25..]);
        let mut input = PREFACE.to_vec();
        frame(&mut input, SETTINGS, 0, [0; 4], &[]);
        frame(
            &mut input,
            HEADERS,
            END_HEADERS | END_STREAM,
            [0, 0, 0, 1],
            &[&first],
        );
        frame(
            &mut input,
            HEADERS,
            END_HEADERS | END_STREAM,
            [0, 0, 0, 3],
            &[&second],
        );
        let (requests, answers, rewritten) = through_h2(&input, 16 * 1024, 2).await;
        assert_eq!(rewritten, 1);
        assert!(answers.values().all(|kind| *kind == HEADERS), "{answers:?}");
        let common = [
            ("content-type", "application/grpc"),
            ("grpc-accept-encoding", "identity, deflate, gzip"),
            ("te", "trailers"),
            (
                "user-agent",
                "grpc-python/1.85.3 grpc-c/58.0.0 (linux; chttp2)",
            ),
            ("workload.spiffe.io", "true"),
        ];
        let mut with_timeout = common.to_vec();
        with_timeout.push(("grpc-timeout", "1010m"));
        let path = "/SpiffeWorkloadAPI/FetchJWTBundles";
        // "tmp%2Fcapt%2Fagent.sock" is 23 bytes.
        let authority = "localhostxxxxxxxxxxxxxx";
        assert_eq!(
            requests,
            [
                seen(path, authority, &with_timeout),
                seen(path, authority, &common)
            ]
        );
    }
}
