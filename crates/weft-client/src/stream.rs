//! The transport under a client connection.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The stream a client connection runs over: plain TCP for `ws://`, TLS over TCP for
/// `wss://`, or (with the `http2` feature) one stream of an HTTP/2 connection (RFC 8441).
/// Through a proxy, the TCP connection is to the proxy.
///
/// ```no_run
/// # async fn demo() -> Result<(), weft_client::Error> {
/// use weft_client::ClientStream;
/// let (ws, _) = weft_client::connect("wss://example.com/feed").await?;
/// match ws.get_ref() {
///     ClientStream::Plain(_) => println!("ws://"),
///     other => println!("TLS: {}", other.is_tls()),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientStream {
    /// `ws://`: TCP.
    Plain(TcpStream),
    /// `wss://`: TLS over TCP.
    #[cfg(feature = "rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// `ws://` through an `https://` proxy: TLS with the proxy, the WebSocket in the clear
    /// inside the tunnel.
    #[cfg(feature = "rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    ProxyTls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// `wss://` through an `https://` proxy: TLS with the server inside TLS with the proxy.
    #[cfg(feature = "rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    TlsOverProxyTls(
        Box<tokio_rustls::client::TlsStream<tokio_rustls::client::TlsStream<TcpStream>>>,
    ),
    /// One stream of an HTTP/2 connection, shared with other streams.
    #[cfg(feature = "http2")]
    #[cfg_attr(docsrs, doc(cfg(feature = "http2")))]
    Http2(Box<weft_h2::H2Stream>),
}

impl ClientStream {
    /// The TCP stream underneath (to the proxy, when there is one); `None` for an HTTP/2
    /// stream, whose TCP connection is shared.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let (ws, _) = weft_client::connect("wss://example.com/feed").await?;
    /// if let Some(tcp) = ws.get_ref().tcp() {
    ///     println!("from {} to {}", tcp.local_addr()?, tcp.peer_addr()?);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Self::Plain(tcp) => Some(tcp),
            #[cfg(feature = "rustls")]
            Self::Tls(tls) | Self::ProxyTls(tls) => Some(tls.get_ref().0),
            #[cfg(feature = "rustls")]
            Self::TlsOverProxyTls(tls) => Some(tls.get_ref().0.get_ref().0),
            #[cfg(feature = "http2")]
            Self::Http2(_) => None,
        }
    }

    /// Whether the stream is encrypted directly with the server (TLS over TCP, or over a
    /// tunnel); a `ws://` connection through an `https://` proxy is encrypted only as far as
    /// the proxy.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let (ws, _) = weft_client::connect("wss://example.com/feed").await?;
    /// assert!(ws.get_ref().is_tls());
    /// # Ok(()) }
    /// ```
    pub fn is_tls(&self) -> bool {
        match self {
            Self::Plain(_) => false,
            #[cfg(feature = "rustls")]
            Self::Tls(_) | Self::TlsOverProxyTls(_) => true,
            #[cfg(feature = "rustls")]
            Self::ProxyTls(_) => false,
            #[cfg(feature = "http2")]
            Self::Http2(_) => false,
        }
    }
}

/// Runs the same call on whichever stream this is.
macro_rules! each {
    ($self:expr, $stream:ident => $call:expr) => {
        match $self {
            ClientStream::Plain($stream) => $call,
            #[cfg(feature = "rustls")]
            ClientStream::Tls($stream) | ClientStream::ProxyTls($stream) => $call,
            #[cfg(feature = "rustls")]
            ClientStream::TlsOverProxyTls($stream) => $call,
            #[cfg(feature = "http2")]
            ClientStream::Http2($stream) => $call,
        }
    };
}

impl AsyncRead for ClientStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        each!(self.get_mut(), s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each!(self.get_mut(), s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        each!(self.get_mut(), s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        each!(self, s => s.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self.get_mut(), s => Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self.get_mut(), s => Pin::new(s).poll_shutdown(cx))
    }
}
