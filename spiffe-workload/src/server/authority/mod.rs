//! Interop with gRPC clients that send a UNIX socket path as `:authority`.
//!
//! gRPC C-core (Python, C++, Ruby, PHP) since 1.57 and grpc-java send the socket path, percent-
//! encoded or not, as the `:authority` of requests on a UNIX socket. h2, under tonic, refuses
//! such a request as malformed (RST_STREAM PROTOCOL_ERROR; hyperium/h2#487, grpc/grpc#38142),
//! so those clients could not use the Workload API at all. [`AuthorityFix`] sits between the
//! socket and tonic and rewrites an invalid `:authority` to `localhost` in the client's header
//! blocks; everything else passes through unchanged. The authority carries no meaning on a
//! UNIX socket, so nothing is lost.

mod frames;
mod hpack;
mod huffman;

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use spiffe_attest::ProcessIdentity;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::UnixStream;
use tonic::transport::server::{Connected, UdsConnectInfo};

use frames::Rewriter;

/// How much is read from the socket at once.
const READ_CHUNK: usize = 16 * 1024;

/// A UNIX stream whose incoming HTTP/2 header blocks get a valid `:authority`.
pub(crate) struct AuthorityFix {
    inner: UnixStream,
    /// The peer process, captured at accept.
    process: Option<ProcessIdentity>,
    rewriter: Rewriter,
    /// Rewritten bytes not yet handed to the reader, from `out_pos`.
    out: Vec<u8>,
    out_pos: usize,
    scratch: Box<[u8]>,
    eof: bool,
}

impl AuthorityFix {
    /// Wraps an accepted stream and captures the identity of the process that connected (its
    /// start time, uid and gid), so that a later request on the connection can be tied to that
    /// process rather than to whoever holds its PID by then.
    pub(crate) fn new(inner: UnixStream) -> Self {
        let process = inner
            .peer_cred()
            .ok()
            .and_then(|cred| cred.pid())
            .and_then(|pid| match ProcessIdentity::capture(pid) {
                Ok(process) => Some(process),
                Err(err) => {
                    tracing::debug!(pid, error = %err, "caller's process not captured at accept");
                    None
                }
            });
        AuthorityFix {
            inner,
            process,
            rewriter: Rewriter::new(),
            out: Vec::new(),
            out_pos: 0,
            scratch: vec![0; READ_CHUNK].into_boxed_slice(),
            eof: false,
        }
    }
}

impl AsyncRead for AuthorityFix {
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

impl AsyncWrite for AuthorityFix {
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

/// What a connection knows of its peer: the kernel's credentials for the UNIX stream, and the
/// process captured at accept.
#[derive(Debug, Clone)]
pub(crate) struct PeerInfo {
    /// SO_PEERCRED.
    pub(crate) uds: UdsConnectInfo,
    /// The process that connected, as captured at accept.
    pub(crate) process: Option<ProcessIdentity>,
}

/// The caller's credentials are those of the UNIX stream underneath.
impl Connected for AuthorityFix {
    type ConnectInfo = PeerInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        PeerInfo {
            uds: self.inner.connect_info(),
            process: self.process,
        }
    }
}
