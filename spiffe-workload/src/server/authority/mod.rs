//! Interop with gRPC clients that send a UNIX socket path as `:authority`.
//!
//! gRPC C-core (Python, C++, Ruby, PHP) since 1.57 and grpc-java send the socket path, percent-
//! encoded or not, as the `:authority` of requests on a UNIX socket. h2, under tonic, refuses
//! such a request as malformed (RST_STREAM PROTOCOL_ERROR; hyperium/h2#487, grpc/grpc#38142),
//! so those clients could not use the Workload API at all. `AuthorityFix` sits between the
//! socket and tonic and rewrites an invalid `:authority` to `localhost` in the client's header
//! blocks; everything else passes through unchanged. The authority carries no meaning on a
//! UNIX socket, so nothing is lost.

mod frames;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod hpack;
mod huffman;

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::server::Connected;

use frames::Rewriter;

/// How much is read from the socket at once.
const READ_CHUNK: usize = 16 * 1024;

/// A stream whose incoming HTTP/2 header blocks get a valid `:authority`; everything else of
/// the stream (writes, its peer's connection info) is `S`'s.
pub(crate) struct AuthorityFix<S> {
    inner: S,
    rewriter: Rewriter,
    /// Rewritten bytes not yet handed to the reader, from `out_pos`.
    out: Vec<u8>,
    out_pos: usize,
    scratch: Box<[u8]>,
    eof: bool,
}

impl<S> AuthorityFix<S> {
    /// Wraps an accepted stream.
    pub(crate) fn new(inner: S) -> Self {
        AuthorityFix {
            inner,
            rewriter: Rewriter::new(),
            out: Vec::new(),
            out_pos: 0,
            scratch: vec![0; READ_CHUNK].into_boxed_slice(),
            eof: false,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for AuthorityFix<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.out_pos < this.out.len() {
                let n = buf.remaining().min(this.out.len() - this.out_pos);
                buf.put_slice(&this.out[this.out_pos..this.out_pos + n]);
                this.out_pos += n;
                if this.out_pos == this.out.len() {
                    this.out.clear();
                    this.out_pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            let mut scratch = ReadBuf::new(&mut this.scratch);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut scratch))?;
            let filled = scratch.filled();
            if filled.is_empty() {
                this.eof = true;
                continue;
            }
            let before = this.rewriter.rewritten;
            this.rewriter.feed(filled, &mut this.out).map_err(|e| {
                tracing::info!(error = %e, "closing connection: bad HTTP/2 from client");
                io::Error::new(io::ErrorKind::InvalidData, e)
            })?;
            if this.rewriter.rewritten > before {
                tracing::trace!("replaced an invalid :authority with localhost");
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for AuthorityFix<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The caller's credentials are those of the stream underneath.
impl<S: Connected> Connected for AuthorityFix<S> {
    type ConnectInfo = S::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}
