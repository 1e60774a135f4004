//! The transport under a server connection.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use crate::stats::{ConnectionSlot, Counters};

/// How long a dropped connection keeps draining what the client still sends (see
/// [`ServerStream`]'s drop behaviour).
const LINGER: Duration = Duration::from_secs(2);

/// A connection adds the bytes it moved to the server's counters every this many bytes (and
/// when it is dropped), so that busy connections do not contend on the shared counters.
const COUNT_EVERY: u64 = 64 << 10;

/// The stream a server connection runs over: plain TCP, TLS over TCP for `wss://`, or (with
/// the `http2` feature) one stream of an HTTP/2 connection (RFC 8441).
///
/// Dropped before the client closed its side (a handler that returns on an error, say), the
/// connection is not closed at once: a small task shuts down our side and reads and discards
/// what the client still sends, for at most two seconds. Closing a socket with unread input makes
/// the kernel send a reset, which can destroy the close frame we just sent (a client that sent an
/// oversized message would see "connection reset" instead of 1009). An HTTP/2 stream is drained
/// the same way before it is let go, rather than reset.
///
/// ```no_run
/// # async fn demo(server: weft_server::Server) -> std::io::Result<()> {
/// server
///     .serve(|ws, _accepted| async move {
///         let stream: &weft_server::ServerStream = ws.get_ref();
///         let (version, peer) = (stream.http_version(), stream.peer_addr());
///         println!("{version:?} from {peer:?}, TLS: {}", stream.is_tls());
///     })
///     .await
/// # }
/// ```
#[derive(Debug)]
pub struct ServerStream {
    inner: Option<Inner>,
    read_eof: bool,
    counted: Counted,
}

/// Bytes moved and not yet added to the server's counters, and the connection's place under
/// the cap, which it keeps until its descriptor is closed.
#[derive(Debug, Default)]
struct Counted {
    /// `None` for a stream of an HTTP/2 connection, whose TCP connection counts its bytes.
    counters: Option<Arc<Counters>>,
    received: u64,
    sent: u64,
    slot: Option<ConnectionSlot>,
}

impl Counted {
    fn new(counters: Arc<Counters>) -> Self {
        Self {
            counters: Some(counters),
            ..Self::default()
        }
    }

    fn add(&mut self, received: u64, sent: u64) {
        self.received += received;
        self.sent += sent;
        if self.received + self.sent >= COUNT_EVERY {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if let Some(counters) = &self.counters {
            counters.add_bytes(self.received, self.sent);
        }
        (self.received, self.sent) = (0, 0);
    }
}

#[derive(Debug)]
enum Inner {
    Plain(TcpStream),
    #[cfg(feature = "rustls")]
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    #[cfg(feature = "http2")]
    Http2 {
        stream: Box<weft_h2::H2Stream>,
        peer_addr: Option<std::net::SocketAddr>,
        tls: bool,
    },
}

impl ServerStream {
    pub(crate) fn plain(tcp: TcpStream, counters: Arc<Counters>) -> Self {
        Self {
            inner: Some(Inner::Plain(tcp)),
            read_eof: false,
            counted: Counted::new(counters),
        }
    }

    #[cfg(feature = "rustls")]
    pub(crate) fn tls(
        tls: tokio_rustls::server::TlsStream<TcpStream>,
        counters: Arc<Counters>,
    ) -> Self {
        Self {
            inner: Some(Inner::Tls(Box::new(tls))),
            read_eof: false,
            counted: Counted::new(counters),
        }
    }

    /// Keeps the connection's place under the server's cap until the descriptor is closed,
    /// lingering included.
    pub(crate) fn hold(&mut self, slot: ConnectionSlot) {
        self.counted.slot = Some(slot);
    }

    /// One stream of an HTTP/2 connection from `peer_addr`, over TLS or not.
    #[cfg(feature = "http2")]
    pub(crate) fn http2(
        stream: weft_h2::H2Stream,
        peer_addr: Option<std::net::SocketAddr>,
        tls: bool,
    ) -> Self {
        Self {
            inner: Some(Inner::Http2 {
                stream: Box::new(stream),
                peer_addr,
                tls,
            }),
            read_eof: false,
            counted: Counted::default(),
        }
    }

    /// Whether TLS chose HTTP/2 by ALPN for this connection.
    #[cfg(feature = "http2")]
    pub(crate) fn alpn_is_h2(&self) -> bool {
        match self.inner() {
            #[cfg(feature = "rustls")]
            Inner::Tls(tls) => tls.get_ref().1.alpn_protocol() == Some(b"h2"),
            _ => false,
        }
    }

    fn inner(&self) -> &Inner {
        self.inner
            .as_ref()
            .unwrap_or_else(|| unreachable!("taken only on drop"))
    }

    fn inner_mut(&mut self) -> &mut Inner {
        self.inner
            .as_mut()
            .unwrap_or_else(|| unreachable!("taken only on drop"))
    }

    /// The TCP stream underneath; `None` for an HTTP/2 stream, whose TCP connection carries
    /// other streams too.
    ///
    /// ```no_run
    /// # async fn demo(server: weft_server::Server) -> std::io::Result<()> {
    /// server
    ///     .serve(|ws, _accepted| async move {
    ///         if let Some(tcp) = ws.get_ref().tcp() {
    ///             let _ = tcp.set_ttl(64);
    ///         }
    ///     })
    ///     .await
    /// # }
    /// ```
    pub fn tcp(&self) -> Option<&TcpStream> {
        match self.inner() {
            Inner::Plain(tcp) => Some(tcp),
            #[cfg(feature = "rustls")]
            Inner::Tls(tls) => Some(tls.get_ref().0),
            #[cfg(feature = "http2")]
            Inner::Http2 { .. } => None,
        }
    }

    /// The client's address (for an HTTP/2 stream, that of its connection).
    ///
    /// ```no_run
    /// # async fn demo(server: weft_server::Server) -> std::io::Result<()> {
    /// server
    ///     .serve(|ws, _accepted| async move {
    ///         if let Ok(peer) = ws.get_ref().peer_addr() {
    ///             println!("connection from {peer}");
    ///         }
    ///     })
    ///     .await
    /// # }
    /// ```
    pub fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        match self.inner() {
            #[cfg(feature = "http2")]
            Inner::Http2 { peer_addr, .. } => peer_addr
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "no peer address")),
            _ => self
                .tcp()
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "no TCP stream"))?
                .peer_addr(),
        }
    }

    /// Whether the stream is encrypted (for an HTTP/2 stream, whether its connection is).
    ///
    /// ```no_run
    /// # async fn demo(server: weft_server::Server) -> std::io::Result<()> {
    /// server
    ///     .serve(|ws, _accepted| async move {
    ///         println!("encrypted: {}", ws.get_ref().is_tls());
    ///     })
    ///     .await
    /// # }
    /// ```
    pub fn is_tls(&self) -> bool {
        match self.inner() {
            Inner::Plain(_) => false,
            #[cfg(feature = "rustls")]
            Inner::Tls(_) => true,
            #[cfg(feature = "http2")]
            Inner::Http2 { tls, .. } => *tls,
        }
    }

    /// The HTTP version of the connection: `HTTP_2` for a stream of an HTTP/2 connection,
    /// else `HTTP_11`.
    ///
    /// ```no_run
    /// # async fn demo(server: weft_server::Server) -> std::io::Result<()> {
    /// server
    ///     .serve(|ws, _accepted| async move {
    ///         println!("over {:?}", ws.get_ref().http_version()); // HTTP/1.1 or HTTP/2.0
    ///     })
    ///     .await
    /// # }
    /// ```
    pub fn http_version(&self) -> http::Version {
        match self.inner() {
            #[cfg(feature = "http2")]
            Inner::Http2 { .. } => http::Version::HTTP_2,
            _ => http::Version::HTTP_11,
        }
    }

    fn count_written(&mut self, result: &Poll<io::Result<usize>>) {
        if let Poll::Ready(Ok(written)) = result {
            self.counted.add(0, *written as u64);
        }
    }
}

impl Drop for ServerStream {
    fn drop(&mut self) {
        self.counted.flush();
        if self.read_eof {
            return;
        }
        let Some(inner) = self.inner.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        #[cfg(feature = "http2")]
        if let Inner::Http2 { mut stream, .. } = inner {
            runtime.spawn(async move {
                let _ = tokio::time::timeout(LINGER, stream.drain()).await;
            });
            return;
        }
        let Some(mut tcp) = inner.into_tcp() else {
            return;
        };
        let slot = self.counted.slot.take();
        runtime.spawn(async move {
            let _ = tokio::time::timeout(LINGER, async {
                tcp.shutdown().await?;
                let mut sink = [0u8; 4096];
                while tcp.read(&mut sink).await? > 0 {}
                io::Result::Ok(())
            })
            .await;
            // The descriptor closes with `tcp`, then the place under the cap is given back.
            drop(tcp);
            drop(slot);
        });
    }
}

impl Inner {
    /// The TCP stream underneath; TLS records still arriving are discarded with the rest.
    /// `None` for an HTTP/2 stream, whose TCP connection is the connection task's.
    #[cfg_attr(
        not(feature = "http2"),
        allow(
            clippy::unnecessary_wraps,
            reason = "only an HTTP/2 stream has no TCP of its own"
        )
    )]
    fn into_tcp(self) -> Option<TcpStream> {
        match self {
            Inner::Plain(tcp) => Some(tcp),
            #[cfg(feature = "rustls")]
            Inner::Tls(tls) => Some(tls.into_inner().0),
            #[cfg(feature = "http2")]
            Inner::Http2 { .. } => None,
        }
    }
}

/// Runs the same call on whichever stream this is.
macro_rules! each {
    ($inner:expr, $stream:ident => $call:expr) => {
        match $inner {
            Inner::Plain($stream) => $call,
            #[cfg(feature = "rustls")]
            Inner::Tls($stream) => $call,
            #[cfg(feature = "http2")]
            Inner::Http2 {
                stream: $stream, ..
            } => $call,
        }
    };
}

impl AsyncRead for ServerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = each!(this.inner_mut(), s => Pin::new(s).poll_read(cx, buf));
        if let Poll::Ready(Ok(())) = &result {
            let read = buf.filled().len() - before;
            if read == 0 && buf.remaining() > 0 {
                this.read_eof = true;
            }
            this.counted.add(read as u64, 0);
        }
        result
    }
}

impl AsyncWrite for ServerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = each!(this.inner_mut(), s => Pin::new(s).poll_write(cx, buf));
        this.count_written(&result);
        result
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = each!(this.inner_mut(), s => Pin::new(s).poll_write_vectored(cx, bufs));
        this.count_written(&result);
        result
    }

    fn is_write_vectored(&self) -> bool {
        each!(self.inner(), s => s.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self.get_mut().inner_mut(), s => Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self.get_mut().inner_mut(), s => Pin::new(s).poll_shutdown(cx))
    }
}
