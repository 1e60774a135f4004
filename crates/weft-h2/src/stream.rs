//! [`H2Stream`]: one HTTP/2 stream as a byte stream.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use h2::{Reason, RecvStream, SendStream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// One HTTP/2 stream as the byte stream a WebSocket runs over (RFC 8441 §5): DATA frames in
/// both directions, `END_STREAM` for the end of the data, `RST_STREAM` for an abnormal end.
///
/// - **Reading** hands out DATA payloads in order and gives HTTP/2 flow-control credit back
///   only for bytes the reader took: a WebSocket whose application does not read holds its
///   peer at the stream window, which is how a slow reader is backpressure rather than a
///   buffer without bound. The peer's `END_STREAM` reads as end of file.
/// - **Writing** hands bytes to HTTP/2 only as far as the stream has send capacity (its
///   window, the connection's window, and the per-stream send buffer), so a peer that does
///   not read stops our writes instead of growing a queue. `poll_flush` has nothing to do:
///   the connection task writes frames as they are queued. `poll_shutdown` sends
///   `END_STREAM` once.
/// - A stream reset by the peer (with any reason but `NO_ERROR`, which ends it cleanly), or a
///   connection that failed or went away, reads and writes as
///   [`io::ErrorKind::ConnectionReset`] or [`io::ErrorKind::ConnectionAborted`] with a
///   message naming the HTTP/2 reason: the abnormal closure (1006) of that one WebSocket.
/// - **Once it has sent `END_STREAM` it reads as ended.** A WebSocket shuts its transport
///   down only after its closing handshake, when nothing the peer could still send matters.
///   Over TCP a client waits for the server to close first (RFC 6455 §7.1.1), which keeps
///   `TIME_WAIT` on the server; a stream has no `TIME_WAIT`, and some servers never end a
///   stream the client closed (hypercorn forgets it), so waiting would only hold the stream,
///   and one of the connection's concurrent-stream slots, until the close timeout.
///
/// Dropped before both sides ended, the stream is reset by h2 once what was queued has been
/// sent: with `NO_ERROR` by a server that had sent `END_STREAM` (RFC 9113 §8.1), else with
/// `CANCEL`, an abnormal end of the WebSocket for the peer.
///
/// ```
/// # async fn demo(send: h2::SendStream<bytes::Bytes>, recv: h2::RecvStream) -> std::io::Result<()> {
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// let mut stream = weft_h2::H2Stream::new(send, recv);
/// stream.write_all(b"\x81\x05hello").await?; // a WebSocket frame in DATA frames
/// let mut first = [0u8; 2];
/// stream.read_exact(&mut first).await?;
/// stream.shutdown().await?; // END_STREAM
/// # Ok(()) }
/// ```
pub struct H2Stream {
    send: SendStream<Bytes>,
    recv: RecvStream,
    /// A DATA payload received and not yet read in full.
    pending: Bytes,
    /// `END_STREAM` was sent.
    send_ended: bool,
    /// `END_STREAM` was received.
    recv_ended: bool,
}

impl fmt::Debug for H2Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("H2Stream")
            .field("stream_id", &self.send.stream_id().as_u32())
            .field("pending", &self.pending.len())
            .field("send_ended", &self.send_ended)
            .field("recv_ended", &self.recv_ended)
            .finish()
    }
}

impl H2Stream {
    /// The stream whose halves h2 handed out: on a server, the request's body and the
    /// `SendStream` from `SendResponse::send_response`; on a client, the `SendStream` from
    /// `SendRequest::send_request` and the response's body.
    ///
    /// ```no_run
    /// # async fn demo(tcp: tokio::net::TcpStream) -> Result<(), h2::Error> {
    /// // On a server: each extended CONNECT stream becomes a byte stream.
    /// let mut connection = h2::server::handshake(tcp).await?;
    /// while let Some(request) = connection.accept().await {
    ///     let (request, mut respond) = request?;
    ///     let send = respond.send_response(http::Response::new(()), false)?;
    ///     let stream = weft_h2::H2Stream::new(send, request.into_body());
    ///     // `stream` is AsyncRead + AsyncWrite: run a WebSocket over it.
    /// #   drop(stream);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn new(send: SendStream<Bytes>, recv: RecvStream) -> Self {
        Self {
            send,
            recv,
            pending: Bytes::new(),
            send_ended: false,
            recv_ended: false,
        }
    }

    /// The HTTP/2 stream identifier (odd for streams a client opened).
    ///
    /// ```
    /// # fn demo(stream: &weft_h2::H2Stream) {
    /// println!("WebSocket on HTTP/2 stream {}", stream.stream_id());
    /// # }
    /// ```
    pub fn stream_id(&self) -> u32 {
        self.send.stream_id().as_u32()
    }

    /// Whether the peer ended its side with `END_STREAM`, as far as has been read.
    ///
    /// ```
    /// # fn demo(stream: &weft_h2::H2Stream) {
    /// if stream.is_read_closed() {
    ///     println!("the peer sent END_STREAM");
    /// }
    /// # }
    /// ```
    pub fn is_read_closed(&self) -> bool {
        self.recv_ended
    }

    /// Resets the stream with `reason` (`RST_STREAM`): an abnormal end of the WebSocket for
    /// the peer.
    ///
    /// ```
    /// # fn demo(mut stream: weft_h2::H2Stream) {
    /// stream.reset(h2::Reason::CANCEL);
    /// # }
    /// ```
    pub fn reset(&mut self, reason: Reason) {
        self.send.send_reset(reason);
    }

    /// Reads and discards what the peer still sends, giving its flow-control credit back,
    /// until its `END_STREAM` (or an error); does nothing once `END_STREAM` was sent. A stream
    /// dropped while the peer is still sending would be reset (`CANCEL`) while the peer may
    /// still be reading our last frames; draining first ends the stream in order.
    ///
    /// ```
    /// # async fn demo(mut stream: weft_h2::H2Stream) {
    /// use std::time::Duration;
    /// let _ = tokio::time::timeout(Duration::from_secs(2), stream.drain()).await;
    /// # }
    /// ```
    pub async fn drain(&mut self) {
        if self.send_ended {
            return;
        }
        let released = self.pending.len();
        self.pending.clear();
        let _ = self.recv.flow_control().release_capacity(released);
        while !self.recv_ended {
            match std::future::poll_fn(|cx| self.recv.poll_data(cx)).await {
                Some(Ok(data)) => {
                    let _ = self.recv.flow_control().release_capacity(data.len());
                }
                None => self.recv_ended = true,
                Some(Err(_)) => return,
            }
        }
    }

    /// The error for a write that cannot go on: the peer's reset reason if it reset the
    /// stream, else a broken pipe.
    fn poll_write_error(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        match self.send.poll_reset(cx) {
            Poll::Ready(Ok(reason)) => Poll::Ready(reset_error(reason)),
            Poll::Ready(Err(err)) => Poll::Ready(io_error(err)),
            Poll::Pending => Poll::Ready(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the HTTP/2 stream is closed for sending",
            )),
        }
    }
}

impl AsyncRead for H2Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.pending.is_empty() {
                let n = this.pending.len().min(buf.remaining());
                buf.put_slice(&this.pending[..n]);
                this.pending.advance(n);
                // Credit goes back only for what the reader took: this is the backpressure.
                // An error means the stream is already gone; the next poll_data says why.
                let _ = this.recv.flow_control().release_capacity(n);
                return Poll::Ready(Ok(()));
            }
            if this.recv_ended || this.send_ended {
                return Poll::Ready(Ok(()));
            }
            match ready!(this.recv.poll_data(cx)) {
                Some(Ok(data)) => this.pending = data,
                None => this.recv_ended = true,
                // A reset without error after the peer's data is the end of it (RFC 9113 §8.1;
                // h2 reports it over an END_STREAM that came first).
                Some(Err(err)) if err.is_reset() && err.reason() == Some(Reason::NO_ERROR) => {
                    this.recv_ended = true;
                }
                Some(Err(err)) => return Poll::Ready(Err(io_error(err))),
            }
        }
    }
}

impl AsyncWrite for H2Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if this.send_ended {
            return this.poll_write_error(cx).map(Err);
        }
        let mut capacity = this.send.capacity();
        if capacity == 0 {
            // Ask for exactly what this write needs: capacity assigned to a stream is taken
            // from the connection's window, and a stream holding more than it sends would
            // starve the others.
            this.send.reserve_capacity(buf.len());
            // `poll_capacity` reports increases only, so it is asked only when there is none.
            capacity = match ready!(this.send.poll_capacity(cx)) {
                Some(Ok(capacity)) => capacity,
                Some(Err(err)) => return Poll::Ready(Err(io_error(err))),
                None => return this.poll_write_error(cx).map(Err),
            };
        }
        let n = capacity.min(buf.len());
        match this
            .send
            .send_data(Bytes::copy_from_slice(&buf[..n]), false)
        {
            Ok(()) => Poll::Ready(Ok(n)),
            Err(_) => this.poll_write_error(cx).map(Err),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Queued DATA frames are written by the connection's task; there is nothing to push.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.send_ended {
            this.send_ended = true;
            // Capacity asked for by an unfinished write must not hold the END_STREAM back.
            this.send.reserve_capacity(0);
            if this.send.send_data(Bytes::new(), true).is_err() {
                return this.poll_write_error(cx).map(Err);
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// An h2 error as the I/O error a byte stream reports: a reset is `ConnectionReset`, a
/// connection that went away `ConnectionAborted`, with the HTTP/2 reason in the message.
///
/// ```
/// use std::io::ErrorKind;
/// let err = weft_h2::io_error(h2::Error::from(h2::Reason::PROTOCOL_ERROR));
/// assert_eq!(err.kind(), ErrorKind::ConnectionAborted);
/// assert!(err.to_string().starts_with("HTTP/2 error: "));
/// ```
pub fn io_error(err: h2::Error) -> io::Error {
    if err.is_io() {
        return err
            .into_io()
            .unwrap_or_else(|| io::Error::other("HTTP/2 I/O error"));
    }
    match err.reason() {
        Some(reason) if err.is_reset() => reset_error(reason),
        Some(reason) if err.is_go_away() => io::Error::new(
            io::ErrorKind::ConnectionAborted,
            format!("the HTTP/2 connection was closed with GOAWAY ({reason})"),
        ),
        _ => io::Error::new(
            io::ErrorKind::ConnectionAborted,
            format!("HTTP/2 error: {err}"),
        ),
    }
}

fn reset_error(reason: Reason) -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        format!("the HTTP/2 stream was reset ({reason})"),
    )
}
