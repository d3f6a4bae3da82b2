//! The caller on the other end of a Workload API connection, pinned when it is accepted.
//!
//! The kernel reports the peer's PID, uid and gid (`SO_PEERCRED`). A PID names a process only
//! while it lives, so each accepted connection also takes a pidfd for its peer: with
//! `SO_PEERPIDFD` (Linux 6.5+) it is the very process that called `connect()`, even if that
//! process has exited since; on older kernels, `pidfd_open` on the reported PID at accept time.
//! The provider attests the caller's PID only while that pidfd shows the process still running
//! (`spiffe_attest::attest_pinned`), so a PID reused by another process after the caller exited
//! is never attested in its place. This runs for every connection, whether or not the
//! `:authority` rewriter is on.

use std::io;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use nix::errno::Errno;
use nix::sys::socket::{getsockopt, sockopt::PeerPidfd};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::UnixStream;
use tonic::transport::server::{Connected, UdsConnectInfo};

/// What a connection knows of its peer: the kernel's credentials for the UNIX stream, and the
/// pidfd taken when it was accepted.
#[derive(Debug, Clone)]
pub(crate) struct PeerInfo {
    /// SO_PEERCRED.
    pub(crate) uds: UdsConnectInfo,
    /// The peer process, pinned at accept; `None` if no pidfd could be had (logged then).
    pub(crate) pidfd: Option<Arc<OwnedFd>>,
}

/// An accepted UNIX stream, its pinned peer, and whatever must live as long as the connection
/// (the endpoint's count of open connections).
pub(crate) struct PeerStream {
    inner: UnixStream,
    pidfd: Option<Arc<OwnedFd>>,
    _guard: Box<dyn Send + Sync>,
}

impl PeerStream {
    /// Wraps an accepted stream, taking a pidfd for its peer; `guard` is dropped when the
    /// connection closes.
    pub(crate) fn new(inner: UnixStream, guard: Box<dyn Send + Sync>) -> Self {
        let pidfd = match pin_peer(&inner) {
            Ok(fd) => Some(Arc::new(fd)),
            Err(reason) => {
                tracing::info!(%reason, "caller's process not pinned at accept; its requests will be refused");
                None
            }
        };
        PeerStream {
            inner,
            pidfd,
            _guard: guard,
        }
    }
}

/// A pidfd for the peer of `stream`: `SO_PEERPIDFD`, else `pidfd_open` of its PID.
fn pin_peer(stream: &UnixStream) -> Result<OwnedFd, String> {
    match getsockopt(stream, PeerPidfd) {
        Ok(fd) => return Ok(fd),
        // Kernels before 6.5 do not know the option.
        Err(Errno::ENOPROTOOPT | Errno::EINVAL) => {}
        Err(e) => return Err(format!("SO_PEERPIDFD: {e}")),
    }
    let pid = stream
        .peer_cred()
        .map_err(|e| format!("SO_PEERCRED: {e}"))?
        .pid()
        .filter(|pid| *pid > 0)
        .ok_or("the kernel reported no PID for the peer")?;
    let pid = rustix::process::Pid::from_raw(pid).ok_or("the peer's PID is not valid")?;
    rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())
        .map_err(|e| format!("pidfd_open({}): {e}", pid.as_raw_nonzero()))
}

impl AsyncRead for PeerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for PeerStream {
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

impl Connected for PeerStream {
    type ConnectInfo = PeerInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        PeerInfo {
            uds: self.inner.connect_info(),
            pidfd: self.pidfd.clone(),
        }
    }
}
