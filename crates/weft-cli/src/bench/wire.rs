//! Bytes on the wire: a transport that counts what passes through it, so that `weft bench`
//! can say how many bytes each message took each way (what permessage-deflate saves, and what
//! framing costs).
//!
//! It wraps the transport of a connection once the handshake is done, so the counts are the
//! WebSocket's own bytes: frames, with their headers and masks, above TLS.

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes written and read, by every connection of a run together.
#[derive(Debug, Default)]
pub(crate) struct WireCounts {
    sent: AtomicU64,
    received: AtomicU64,
}

impl WireCounts {
    /// Bytes written so far.
    pub(crate) fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Bytes read so far.
    pub(crate) fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

/// A transport that adds what it writes and reads to a [`WireCounts`].
#[derive(Debug)]
pub(crate) struct Wire<S> {
    inner: S,
    counts: Arc<WireCounts>,
}

impl<S> Wire<S> {
    pub(crate) fn new(inner: S, counts: Arc<WireCounts>) -> Self {
        Self { inner, counts }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Wire<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        let read = buf.filled().len() - before;
        self.counts
            .received
            .fetch_add(read as u64, Ordering::Relaxed);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Wire<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let written = ready!(Pin::new(&mut self.inner).poll_write(cx, buf))?;
        self.counts
            .sent
            .fetch_add(written as u64, Ordering::Relaxed);
        Poll::Ready(Ok(written))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let written = ready!(Pin::new(&mut self.inner).poll_write_vectored(cx, bufs))?;
        self.counts
            .sent
            .fetch_add(written as u64, Ordering::Relaxed);
        Poll::Ready(Ok(written))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn reads_and_writes_are_counted() {
        let counts = Arc::new(WireCounts::default());
        let (near, mut far) = tokio::io::duplex(64);
        let mut wire = Wire::new(near, counts.clone());
        wire.write_all(b"hello").await.unwrap();
        let slices = [IoSlice::new(b"ab"), IoSlice::new(b"c")];
        let written = wire.write_vectored(&slices).await.unwrap();
        far.write_all(b"0123456789").await.unwrap();
        let mut got = [0u8; 10];
        wire.read_exact(&mut got).await.unwrap();
        assert_eq!(counts.sent(), 5 + written as u64);
        assert_eq!(counts.received(), 10);
        let mut echoed = vec![0u8; 5 + written];
        far.read_exact(&mut echoed).await.unwrap();
        assert!(echoed.starts_with(b"hello"));
    }
}
