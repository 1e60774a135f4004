//! Telling HTTP/2 with prior knowledge (h2c) from HTTP/1.1 on a shared cleartext port.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The client connection preface (RFC 9113 §3.4): an HTTP/2 client with prior knowledge
/// starts with it, and no HTTP/1.1 request does (`PRI` is no method a server serves).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What the first bytes of a cleartext connection say about its protocol.
///
/// ```
/// use weft_h2::{Preface, detect_preface};
///
/// assert_eq!(detect_preface(b"GET / HTTP/1.1\r\n"), Preface::Http1);
/// assert_eq!(detect_preface(b"PRI * HT"), Preface::NeedMore);
/// assert_eq!(detect_preface(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0"), Preface::Http2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Preface {
    /// The bytes begin with the HTTP/2 connection preface.
    Http2,
    /// The bytes cannot begin it: HTTP/1.x (or garbage for the HTTP/1.1 parser to refuse).
    Http1,
    /// The bytes so far begin the preface; read more to decide (at most 24 bytes in all).
    NeedMore,
}

/// Decides from the first bytes of a connection; see [`Preface`].
///
/// ```
/// use weft_h2::{PREFACE, Preface, detect_preface};
/// let mut first = Vec::new();
/// // Read until the bytes decide (at most the preface's 24 bytes):
/// for &byte in PREFACE {
///     first.push(byte);
///     if detect_preface(&first) != Preface::NeedMore {
///         break;
///     }
/// }
/// assert_eq!(detect_preface(&first), Preface::Http2);
/// ```
pub fn detect_preface(bytes: &[u8]) -> Preface {
    let n = bytes.len().min(PREFACE.len());
    if bytes[..n] != PREFACE[..n] {
        Preface::Http1
    } else if n == PREFACE.len() {
        Preface::Http2
    } else {
        Preface::NeedMore
    }
}

/// A stream with bytes already read from it put back in front, so that the HTTP/2 library
/// reads the preface the detection looked at.
///
/// ```
/// # async fn demo() -> std::io::Result<()> {
/// use tokio::io::AsyncReadExt;
///
/// let (client, _server) = tokio::io::duplex(64);
/// let mut stream = weft_h2::Prefixed::new(bytes::Bytes::from_static(b"PRI"), client);
/// let mut first = [0u8; 3];
/// stream.read_exact(&mut first).await?;
/// assert_eq!(&first, b"PRI");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Prefixed<S> {
    prefix: Bytes,
    inner: S,
}

impl<S> Prefixed<S> {
    /// `inner`, read as if `prefix` were still in front of it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    ///
    /// let (client, mut server) = tokio::io::duplex(64);
    /// tokio::spawn(async move { server.write_all(b" * HTTP/2.0").await });
    /// // "PRI" was read to detect HTTP/2; the HTTP/2 library must read it again.
    /// let mut stream = weft_h2::Prefixed::new(bytes::Bytes::from_static(b"PRI"), client);
    /// let mut start = [0u8; 14];
    /// stream.read_exact(&mut start).await?;
    /// assert_eq!(&start, b"PRI * HTTP/2.0");
    /// # Ok(()) }
    /// ```
    pub fn new(prefix: Bytes, inner: S) -> Self {
        Self { prefix, inner }
    }

    /// The stream underneath.
    ///
    /// ```no_run
    /// # async fn demo(tcp: tokio::net::TcpStream) -> std::io::Result<()> {
    /// let stream = weft_h2::Prefixed::new(bytes::Bytes::new(), tcp);
    /// println!("HTTP/2 from {}", stream.get_ref().peer_addr()?);
    /// # Ok(()) }
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix[..n]);
            this.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
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

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_prefix_of_the_preface_needs_more_and_any_divergence_is_http1() {
        for n in 0..PREFACE.len() {
            assert_eq!(detect_preface(&PREFACE[..n]), Preface::NeedMore, "{n}");
            let mut diverging = PREFACE[..=n].to_vec();
            diverging[n] ^= 0x20;
            assert_eq!(detect_preface(&diverging), Preface::Http1, "{n}");
        }
        assert_eq!(detect_preface(b"POST / HTTP/1.1"), Preface::Http1);
    }
}
