//! The client-to-server half of an HTTP/2 connection, rewritten: every header block is decoded
//! and encoded again, with an `:authority` that is not a valid URI authority replaced by
//! `localhost`. All other frames pass through untouched, without being buffered whole.

use super::hpack::{self, Decoder, Field, HpackError};

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
/// The largest header block (all its fragments) we accept.
const MAX_BLOCK: usize = 1 << 20;
/// The largest decoded header list we accept.
const MAX_LIST: usize = 1 << 20;
/// The largest dynamic table a client may ask for.
const MAX_TABLE: usize = 1 << 16;
/// What replaces an invalid `:authority`.
const REPLACEMENT: &[u8] = b"localhost";

/// Why the client's bytes could not be rewritten; the connection is then closed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FrameError {
    /// A header block that does not decode.
    #[error("client header block: {0}")]
    Hpack(#[from] HpackError),
    /// Frames that break HTTP/2's framing rules.
    #[error("client HTTP/2 framing: {0}")]
    Framing(&'static str),
}

/// A header block being collected across HEADERS and CONTINUATION frames.
struct Block {
    stream_id: [u8; 4],
    end_stream: bool,
    priority: Option<[u8; 5]>,
    fragment: Vec<u8>,
}

/// Rewrites the bytes a client sends; fed as they arrive.
pub(crate) struct Rewriter {
    /// Input not consumed yet.
    pending: Vec<u8>,
    /// Bytes still to copy through unchanged (the preface, or a frame payload).
    passthrough: usize,
    block: Option<Block>,
    decoder: Decoder,
    /// How many `:authority` values were replaced (for logs and tests).
    pub(crate) rewritten: u64,
}

impl Rewriter {
    pub(crate) fn new() -> Self {
        Rewriter {
            pending: Vec::new(),
            passthrough: PREFACE_LEN,
            block: None,
            decoder: Decoder::new(MAX_TABLE, MAX_LIST),
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
                    let payload = available[FRAME_HEADER_LEN..FRAME_HEADER_LEN + len].to_vec();
                    *pos += FRAME_HEADER_LEN + len;
                    if kind == HEADERS {
                        self.headers(stream_id, flags, &payload)?;
                    } else {
                        self.continuation(stream_id, &payload)?;
                    }
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

    fn headers(&mut self, stream_id: [u8; 4], flags: u8, payload: &[u8]) -> Result<(), FrameError> {
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
        self.block = Some(Block {
            stream_id,
            end_stream: flags & END_STREAM != 0,
            priority,
            fragment: body.to_vec(),
        });
        Ok(())
    }

    fn continuation(&mut self, stream_id: [u8; 4], payload: &[u8]) -> Result<(), FrameError> {
        let block = self
            .block
            .as_mut()
            .ok_or(FrameError::Framing("CONTINUATION without a header block"))?;
        if block.stream_id != stream_id {
            return Err(FrameError::Framing("CONTINUATION on another stream"));
        }
        if block.fragment.len() + payload.len() > MAX_BLOCK {
            return Err(FrameError::Framing("header block too large"));
        }
        block.fragment.extend_from_slice(payload);
        Ok(())
    }

    /// Decodes the finished block, fixes `:authority`, and emits it as HEADERS (+ CONTINUATION).
    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), FrameError> {
        let Some(block) = self.block.take() else {
            return Ok(());
        };
        let mut fields = self.decoder.decode(&block.fragment)?;
        for field in fields.iter_mut().filter(|f| f.name == b":authority") {
            if !valid_authority(field) {
                field.value = REPLACEMENT.to_vec();
                self.rewritten += 1;
            }
        }
        let mut encoded = Vec::with_capacity(block.fragment.len() + 16);
        hpack::encode(&fields, &mut encoded);

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

/// Whether an `:authority` value is one a strict HTTP/2 server (h2) accepts.
fn valid_authority(field: &Field) -> bool {
    http::uri::Authority::try_from(field.value.as_slice()).is_ok()
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
    use super::*;

    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    fn field(name: &str, value: &str) -> Field {
        Field {
            name: name.into(),
            value: value.into(),
            sensitive: false,
        }
    }

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
        (out, r)
    }

    #[test]
    fn invalid_authority_is_replaced_and_the_rest_passes_through() {
        // The block grpc-core sends for a socket at /tmp/x/agent.sock.
        let fields = vec![
            field(":path", "/SpiffeWorkloadAPI/FetchX509SVID"),
            field(":authority", "tmp%2Fx%2Fagent.sock"),
            field(":method", "POST"),
            field("workload.spiffe.io", "true"),
        ];
        let mut block = Vec::new();
        hpack::encode(&fields, &mut block);
        let mut input = PREFACE.to_vec();
        // SETTINGS, then HEADERS, then DATA with END_STREAM.
        frame(&mut input, 0x4, 0, [0; 4], &[&[0, 3, 0, 0, 0, 100]]);
        input.extend(headers_frame(END_HEADERS, 1, &block));
        frame(&mut input, 0x0, END_STREAM, [0, 0, 0, 1], &[b"\0\0\0\0\0"]);

        for piece in [1, 2, 7, 64, 4096] {
            let (out, r) = feed_in_pieces(&input, piece);
            assert_eq!(r.rewritten, 1);
            assert!(out.starts_with(PREFACE));
            let frames = frames(&out);
            assert_eq!(frames.len(), 3, "piece {piece}");
            assert_eq!(frames[0], (0x4, 0, vec![0, 3, 0, 0, 0, 100]));
            assert_eq!(frames[1].0, HEADERS);
            assert_eq!(frames[1].1, END_HEADERS);
            let decoded = Decoder::new(4096, 1 << 16).decode(&frames[1].2).unwrap();
            assert_eq!(decoded[1], field(":authority", "localhost"));
            assert_eq!(decoded[3], field("workload.spiffe.io", "true"));
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
        r.feed(
            &headers_frame(END_HEADERS | END_STREAM, 1, &first),
            &mut out,
        )
        .unwrap();
        r.feed(
            &headers_frame(END_HEADERS | END_STREAM, 3, &second),
            &mut out,
        )
        .unwrap();
        assert_eq!(r.rewritten, 0);
        let frames = frames(&out);
        let mut server = Decoder::new(4096, 1 << 16);
        for (_, flags, payload) in &frames {
            assert_eq!(*flags, END_HEADERS | END_STREAM);
            let fields = server.decode(payload).unwrap();
            assert_eq!(fields[3], field(":authority", "www.example.com"));
        }
    }

    #[test]
    fn continuation_padding_and_priority_are_handled() {
        let long = "v".repeat(20_000);
        let fields = vec![field(":authority", "/a/b.sock"), field("x-big", &long)];
        let mut block = Vec::new();
        hpack::encode(&fields, &mut block);
        let (a, b) = block.split_at(10);
        let mut input = PREFACE.to_vec();
        // HEADERS: padded (3 bytes) with priority, then one CONTINUATION.
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
        frame(&mut input, CONTINUATION, END_HEADERS, [0, 0, 0, 5], &[b]);
        let (out, r) = feed_in_pieces(&input, 1000);
        assert_eq!(r.rewritten, 1);
        let frames = frames(&out);
        assert_eq!(frames[0].0, HEADERS);
        assert_eq!(frames[0].1, PRIORITY);
        assert_eq!(&frames[0].2[..5], &[0, 0, 0, 0, 16]);
        assert!(frames.len() >= 2 && frames[1..].iter().all(|f| f.0 == CONTINUATION));
        assert_eq!(frames.last().unwrap().1, END_HEADERS);
        let mut block = frames[0].2[5..].to_vec();
        for f in &frames[1..] {
            block.extend_from_slice(&f.2);
        }
        let decoded = Decoder::new(4096, 1 << 16).decode(&block).unwrap();
        assert_eq!(decoded[0], field(":authority", "localhost"));
        assert_eq!(decoded[1].value.len(), 20_000);
    }

    #[test]
    fn framing_errors_close_the_connection() {
        let mut r = Rewriter::new();
        let mut out = Vec::new();
        r.feed(PREFACE, &mut out).unwrap();
        r.feed(&headers_frame(0, 1, &[0x82]), &mut out).unwrap();
        let mut data = Vec::new();
        frame(&mut data, 0x0, 0, [0, 0, 0, 1], &[b"x"]);
        assert!(matches!(
            r.feed(&data, &mut out),
            Err(FrameError::Framing(_))
        ));

        let mut r = Rewriter::new();
        r.feed(PREFACE, &mut out).unwrap();
        assert!(matches!(
            r.feed(&headers_frame(END_HEADERS, 1, &[0x80]), &mut out),
            Err(FrameError::Hpack(HpackError::BadIndex(0)))
        ));
    }
}
