//! [`WebSocket`]: a [`Connection`] driven over any tokio `AsyncRead + AsyncWrite`.
//!
//! The loop here only moves bytes and time: it reads into a buffer and hands it to
//! [`Connection::handle_bytes`], returns what [`Connection::poll_event`] decodes, writes what
//! [`Connection::poll_transmit`] queued (vectored, when the transport supports it), arms a
//! timer for [`Connection::poll_timeout`], and closes the transport when the connection is
//! finished. Every protocol decision is the connection's.

use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker, ready};

use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use atomic_waker::AtomicWaker;
use bytes::{Buf, BytesMut};
use futures_core::Stream;
use futures_sink::Sink;

use crate::close::CloseCode;
use crate::connection::{Connection, Event};
use crate::error::Error;
use crate::message::{DataKind, Fragment, Message};
use crate::prepared::PreparedMessage;
use crate::utf8::Utf8Bytes;

use alarm::{Alarm, Clock};

mod alarm;
mod trace;

/// Reads start at this size (an idle connection holds no more), and double while they fill up.
const MIN_READ: usize = 512;
/// Reads grow up to this size while they keep filling the buffer. Larger reads save few system
/// calls and lose the cache: what the kernel copies in must still be in the core's cache when
/// the frames are decoded. A client receiving 1 KiB messages as fast as a server pushes them
/// spent 182 ns of CPU per message with 256 KiB reads and 137 ns with 64 KiB (128 KiB: the
/// same, 32 KiB: 145); 64 KiB messages, 9.3 µs and 7.6 µs (`bench_client`, 512 KiB of L2 per
/// core).
const MAX_READ: usize = 64 << 10;

/// A WebSocket over an async transport `S`, after the opening handshake.
///
/// Use it as a [`Stream`] of received messages and a [`Sink`] of messages to send, or through
/// the methods below. [`split`](Self::split) gives a read half and a write half that can live
/// in two tasks.
///
/// Reading answers pings, completes the closing handshake and runs the timers; writing waits
/// (backpressure) while more than [`Config::write_buffer_size`](crate::Config::write_buffer_size)
/// bytes are queued. The stream ends (`None`) once the closing handshake is over and the
/// transport is closed.
///
/// The close and keepalive timeouts are kept by one background thread, `weft-timer`, started
/// by the first connection that needs one: a pending tokio timer would make the runtime arm a
/// kernel timer on every wait for I/O. On a paused tokio clock (`start_paused` tests) they use
/// tokio's timer instead, and follow that clock; the runtime then needs its time driver, as
/// paused tests always have.
///
/// ```no_run
/// # async fn demo(tcp: tokio::net::TcpStream) -> Result<(), weft_codec::Error> {
/// use weft_codec::{Connection, Message, Role, tokio::WebSocket};
///
/// // After a handshake done elsewhere (weft-client or weft-server do it for you):
/// let mut ws = WebSocket::from_parts(tcp, Connection::new(Role::Server), Default::default());
/// while let Some(message) = ws.next().await {
///     match message? {
///         msg @ (Message::Text(_) | Message::Binary(_)) => ws.send(msg).await?,
///         _ => {} // pings are answered, closes completed, by the connection itself
///     }
/// }
/// # Ok(()) }
/// ```
pub struct WebSocket<S> {
    io: S,
    conn: Connection,
    /// How much the next read asks for: grows while reads fill it, and starts over when the
    /// connection let go of its input buffer.
    read_size: usize,
    timer: Option<Alarm>,
    /// `timer` is set for a deadline that has not fired yet.
    timer_armed: bool,
    /// The clock the connection's deadlines follow, chosen when it first needs the time.
    clock: Option<Clock>,
    /// A decoding error waiting for its close frame to be written before it is returned.
    pending_error: Option<Error>,
    /// A data message that started arriving in pieces, assembled for a whole-message reader.
    assembling: Option<(DataKind, BytesMut)>,
    /// Bytes were written since the transport was last flushed.
    needs_flush: bool,
    /// The transport's write side is shut down, or failed with this error kind.
    write_closed: Option<Option<io::ErrorKind>>,
    /// A write failed; reported once what had already arrived has been handed out.
    write_error: Option<Error>,
    /// The transport's read side reached its end.
    read_eof: bool,
    /// The stream has ended; every further poll returns `None`.
    done: bool,
    /// When this completes, the connection is closed with the code and reason given.
    close_signal: Option<CloseSignal>,
    /// The connection's `tracing` span (feature `tracing`; zero-sized without it).
    span: trace::Span,
}

/// A future that, when it completes, closes the connection (see [`WebSocket::close_when`]).
struct CloseSignal {
    signal: Pin<Box<dyn Future<Output = ()> + Send>>,
    code: CloseCode,
    reason: Utf8Bytes,
    gate: WakeGate,
}

/// Polls a future only after it asked to be polled. A connection waits once per message, and
/// polling its close signal (a `CancellationToken`'s future takes a mutex) or its timer's
/// `Sleep` (on a paused clock) at every wait cost as much as decoding a small message. The
/// future is polled with this gate's waker, which records the wake-up before passing it on to
/// the task that polled the connection last (a split connection is polled by two tasks, taking
/// turns).
struct WakeGate {
    state: Arc<GateState>,
    waker: Waker,
}

struct GateState {
    /// The future asked to be polled (set at first, so that it is polled once to begin with).
    woken: AtomicBool,
    task: AtomicWaker,
}

impl WakeGate {
    fn new() -> Self {
        let state = Arc::new(GateState {
            woken: AtomicBool::new(true),
            task: AtomicWaker::new(),
        });
        Self {
            waker: Waker::from(state.clone()),
            state,
        }
    }

    /// Polls `future` if it woke since it was last polled (or [`reopen`](Self::reopen) was
    /// called); `task` is woken when it next does.
    fn poll<F: Future + ?Sized>(&self, future: Pin<&mut F>, task: &Waker) -> Poll<F::Output> {
        self.state.task.register(task);
        if !self.state.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        future.poll(&mut Context::from_waker(&self.waker))
    }

    /// Makes the next [`poll`](Self::poll) poll the future (after it was changed).
    fn reopen(&self) {
        self.state.woken.store(true, Ordering::Release);
    }
}

impl Wake for GateState {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

impl<S> fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("conn", &self.conn)
            .field("read_buffered", &self.conn.buffered_input())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// The connection's `tracing` span (feature `tracing`).
#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
impl<S> WebSocket<S> {
    /// Gives the connection its `tracing` span: what the connection reports (how it ended,
    /// with the close code and reason; a limit the peer exceeded or a full write buffer; a
    /// protocol violation; a timeout; a failed transport) goes inside it, at `DEBUG`. Nothing
    /// is reported per message.
    ///
    /// weft's client and server give every connection a span named `websocket` with the
    /// peer's address, the role, the HTTP version, the subprotocol and the extensions; set
    /// one yourself for a connection whose handshake you ran. A WebSocket without a span
    /// reports in the span current where it is polled.
    ///
    /// ```no_run
    /// # async fn demo(tcp: tokio::net::TcpStream) {
    /// use weft_codec::{Connection, Role, tokio::WebSocket};
    ///
    /// let peer = tcp.peer_addr().ok();
    /// let mut ws = WebSocket::from_parts(tcp, Connection::new(Role::Server), Default::default());
    /// ws.set_span(tracing::debug_span!("websocket", peer_addr = ?peer, role = "server"));
    /// # }
    /// ```
    pub fn set_span(&mut self, span: tracing::Span) {
        self.span = span;
    }

    /// The connection's `tracing` span (see [`set_span`](Self::set_span)), to run work of
    /// your own inside it, or to record a field the server could not know (the peer's address
    /// behind a proxy, a user name).
    ///
    /// ```no_run
    /// # async fn demo(ws: weft_codec::tokio::WebSocket<tokio::net::TcpStream>) {
    /// use tracing::Instrument;
    ///
    /// let span = ws.span().clone();
    /// tokio::spawn(async move { tracing::info!("in the connection's span") }.instrument(span));
    /// # }
    /// ```
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }
}

impl<S> WebSocket<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Runs `conn` over `io`. `read_buf` holds bytes already read past the handshake (they
    /// belong to the WebSocket stream), or is empty.
    ///
    /// ```
    /// use weft_codec::{Connection, Message, Role, tokio::WebSocket};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), weft_codec::Error> {
    /// // Two ends of an in-memory pipe; usually a socket after a handshake done elsewhere.
    /// let (client_io, server_io) = tokio::io::duplex(64 << 10);
    /// let mut client =
    ///     WebSocket::from_parts(client_io, Connection::new(Role::Client), Default::default());
    /// let mut server =
    ///     WebSocket::from_parts(server_io, Connection::new(Role::Server), Default::default());
    /// client.send(Message::text("hello")).await?;
    /// assert_eq!(server.next().await.transpose()?, Some(Message::text("hello")));
    /// # Ok(()) }
    /// ```
    pub fn from_parts(io: S, mut conn: Connection, mut read_buf: BytesMut) -> Self {
        // Bytes that arrived with the handshake are the first frames: decode them before the
        // next read, which may never come (a peer may send its frames and close at once).
        conn.handle_bytes(&mut read_buf);
        Self {
            io,
            conn,
            read_size: MIN_READ,
            timer: None,
            timer_armed: false,
            clock: None,
            pending_error: None,
            assembling: None,
            needs_flush: false,
            write_closed: None,
            write_error: None,
            read_eof: false,
            done: false,
            close_signal: None,
            span: trace::no_span(),
        }
    }

    /// Closes the connection with `code` and `reason` when `signal` completes, as a server does
    /// on shutdown (1001, going away). The close happens on the next poll of either direction;
    /// the reader then sees the peer's answer and the end of the stream.
    ///
    /// ```no_run
    /// # async fn demo(mut ws: weft_codec::tokio::WebSocket<tokio::net::TcpStream>) {
    /// use weft_codec::CloseCode;
    /// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    /// ws.close_when(CloseCode::GOING_AWAY, "server shutting down", async move {
    ///     let _ = stopped.await;
    /// });
    /// # drop(stop);
    /// # }
    /// ```
    pub fn close_when(
        &mut self,
        code: CloseCode,
        reason: impl Into<Utf8Bytes>,
        signal: impl Future<Output = ()> + Send + 'static,
    ) {
        self.close_signal = Some(CloseSignal {
            signal: Box::pin(signal),
            code,
            reason: reason.into(),
            gate: WakeGate::new(),
        });
    }

    /// Starts the closing handshake if the close signal has fired; returns whether it did.
    fn poll_close_signal(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(close) = &mut self.close_signal else {
            return false;
        };
        if !self.conn.can_send() {
            self.close_signal = None;
            return false;
        }
        if close
            .gate
            .poll(close.signal.as_mut(), cx.waker())
            .is_pending()
        {
            return false;
        }
        let (code, reason) = (close.code, close.reason.clone());
        self.close_signal = None;
        // A code or reason the caller got wrong must not keep the connection open.
        if self.conn.close(code, &reason).is_err() {
            let _ = self.conn.close(CloseCode::GOING_AWAY, "");
        }
        true
    }

    /// The protocol state machine, to ask about state, limits or round-trip time.
    ///
    /// ```
    /// # use weft_codec::{Connection, Role, tokio::WebSocket};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), weft_codec::Error> {
    /// # let (io, peer_io) = tokio::io::duplex(1 << 16);
    /// # let mut ws = WebSocket::from_parts(io, Connection::new(Role::Client), Default::default());
    /// # let mut peer = WebSocket::from_parts(peer_io, Connection::new(Role::Server), Default::default());
    /// use weft_codec::State;
    /// assert_eq!(ws.connection().state(), State::Open);
    /// assert_eq!(ws.connection().rtt(), None); // no keepalive ping answered yet
    /// # Ok(()) }
    /// ```
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The transport.
    ///
    /// ```no_run
    /// # async fn demo(ws: weft_codec::tokio::WebSocket<tokio::net::TcpStream>) -> std::io::Result<()> {
    /// println!("connected to {}", ws.get_ref().peer_addr()?);
    /// # Ok(()) }
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// The transport, mutably. Reading or writing it directly corrupts the stream.
    ///
    /// ```no_run
    /// # async fn demo(mut ws: weft_codec::tokio::WebSocket<tokio::net::TcpStream>) -> std::io::Result<()> {
    /// // Socket options are fine; reading or writing the socket is not.
    /// ws.get_mut().set_nodelay(true)?;
    /// # Ok(()) }
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.io
    }

    /// The next message; `None` once the connection has closed.
    ///
    /// Cancel safe: if the future is dropped before it completes, no message is lost.
    ///
    /// ```
    /// # use weft_codec::{Connection, Role, tokio::WebSocket};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), weft_codec::Error> {
    /// # let (io, peer_io) = tokio::io::duplex(1 << 16);
    /// # let mut ws = WebSocket::from_parts(io, Connection::new(Role::Client), Default::default());
    /// # let mut peer = WebSocket::from_parts(peer_io, Connection::new(Role::Server), Default::default());
    /// use weft_codec::Message;
    /// peer.send(Message::text("hi")).await?;
    /// peer.send(Message::binary(vec![1, 2])).await?;
    /// while let Some(message) = ws.next().await {
    ///     match message? {
    ///         Message::Text(text) => println!("text: {text}"),
    ///         Message::Binary(data) => {
    ///             println!("{} bytes", data.len());
    ///             break;
    ///         }
    ///         _ => {} // pings are answered, closes completed, by the connection itself
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn next(&mut self) -> Option<Result<Message, Error>> {
        poll_fn(|cx| {
            let waker = cx.waker();
            self.poll_message(cx, waker)
        })
        .await
    }

    /// The next piece of a data message, or a control message, for receiving a message without
    /// holding all of it: data comes as [`Event::Fragment`], pings, pongs and close frames as
    /// [`Event::Message`]. A message that started arriving whole is returned as one fragment.
    ///
    /// Cancel safe.
    ///
    /// ```
    /// # use weft_codec::{Connection, Role, tokio::WebSocket};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), weft_codec::Error> {
    /// # let (io, peer_io) = tokio::io::duplex(1 << 16);
    /// # let mut ws = WebSocket::from_parts(io, Connection::new(Role::Client), Default::default());
    /// # let mut peer = WebSocket::from_parts(peer_io, Connection::new(Role::Server), Default::default());
    /// use weft_codec::{Event, Message};
    /// peer.send(Message::binary(vec![7; 1000])).await?;
    /// let mut received = 0;
    /// while let Some(event) = ws.next_fragment().await {
    ///     match event? {
    ///         Event::Fragment(piece) => {
    ///             received += piece.data.len(); // write it to a file, hash it, ...
    ///             if piece.fin {
    ///                 break;
    ///             }
    ///         }
    ///         Event::Message(control) => println!("{control:?}"),
    ///         _ => {}
    ///     }
    /// }
    /// assert_eq!(received, 1000);
    /// # Ok(()) }
    /// ```
    pub async fn next_fragment(&mut self) -> Option<Result<Event, Error>> {
        poll_fn(|cx| {
            let waker = cx.waker();
            self.poll_fragment(cx, waker)
        })
        .await
    }

    /// Queues `message` and writes everything queued.
    ///
    /// Cancel safety: if dropped while waiting for room, the message is not queued; if dropped
    /// while flushing, it is queued and goes out with the next write.
    ///
    /// ```
    /// # use weft_codec::{Connection, Role, tokio::WebSocket};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), weft_codec::Error> {
    /// # let (io, peer_io) = tokio::io::duplex(1 << 16);
    /// # let mut ws = WebSocket::from_parts(io, Connection::new(Role::Client), Default::default());
    /// # let mut peer = WebSocket::from_parts(peer_io, Connection::new(Role::Server), Default::default());
    /// use weft_codec::Message;
    /// ws.send(Message::text("hello")).await?;
    /// assert_eq!(peer.next().await.transpose()?, Some(Message::text("hello")));
    /// # Ok(()) }
    /// ```
    pub async fn send(&mut self, message: Message) -> Result<(), Error> {
        self.feed(message).await?;
        self.flush().await
    }

    /// As [`send`](Self::send), bypassing the negotiated extension (see
    /// [`Connection::send_uncompressed`]).
    ///
    /// ```
    /// # use weft_codec::{Connection, Role, tokio::WebSocket};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), weft_codec::Error> {
    /// # let (io, peer_io) = tokio::io::duplex(1 << 16);
    /// # let mut ws = WebSocket::from_parts(io, Connection::new(Role::Client), Default::default());
    /// # let mut peer = WebSocket::from_parts(peer_io, Connection::new(Role::Server), Default::default());
    /// use weft_codec::Message;
    /// // A secret next to attacker-chosen text stays out of the compressor.
    /// ws.send_uncompressed(Message::text("session=8f1c2e")).await?;
    /// assert_eq!(peer.next().await.transpose()?, Some(Message::text("session=8f1c2e")));
    /// # Ok(()) }
    /// ```
    pub async fn send_uncompressed(&mut self, message: Message) -> Result<(), Error> {
        poll_fn(|cx| self.poll_ready_inner(cx)).await?;
        trace::queued(&self.span, self.conn.send_uncompressed(message))?;
        self.flush().await
    }

    /// Queues `message` once there is room, without waiting for it to be written, so that
    /// several messages leave in one write.
    ///
    /// What is queued is written by [`flush`](Self::flush), by the next [`send`](Self::send),
    /// and whenever the socket waits for input. So an echo or relay loop of
    /// [`next`](Self::next) and `feed` writes once per batch of input rather than once per
    /// message (with 64 messages in flight, about a tenth of the server CPU per message of a
    /// flush per message). A sender that never reads must flush.
    ///
    /// ```no_run
    /// # async fn demo(mut ws: weft_codec::tokio::WebSocket<tokio::net::TcpStream>)
    /// # -> Result<(), weft_codec::Error> {
    /// use weft_codec::Message;
    /// while let Some(message) = ws.next().await {
    ///     if let msg @ (Message::Text(_) | Message::Binary(_)) = message? {
    ///         ws.feed(msg).await?;
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// Cancel safe: the message is queued only if the future completes.
    pub async fn feed(&mut self, message: Message) -> Result<(), Error> {
        poll_fn(|cx| self.poll_ready_inner(cx)).await?;
        trace::queued(&self.span, self.conn.send(message))
    }

    /// Queues a [`PreparedMessage`] (its frames shared with every other connection that sends
    /// it, see [`Connection::send_prepared`]) and writes everything queued.
    ///
    /// ```no_run
    /// # async fn demo(mut sockets: Vec<weft_codec::tokio::WebSocket<tokio::net::TcpStream>>)
    /// # -> Result<(), weft_codec::Error> {
    /// use weft_codec::PreparedMessage;
    /// let news = PreparedMessage::text("encoded once, sent to all");
    /// for ws in &mut sockets {
    ///     ws.send_prepared(&news).await?;
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// Cancel safety as for [`send`](Self::send).
    pub async fn send_prepared(&mut self, message: &PreparedMessage) -> Result<(), Error> {
        self.feed_prepared(message).await?;
        self.flush().await
    }

    /// Queues a [`PreparedMessage`] once there is room, without waiting for it to be written
    /// (see [`feed`](Self::feed)). Cancel safe: queued only if the future completes.
    ///
    /// ```
    /// # use weft_codec::{Connection, Role, tokio::WebSocket};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), weft_codec::Error> {
    /// # let (io, peer_io) = tokio::io::duplex(1 << 16);
    /// # let ws = WebSocket::from_parts(io, Connection::new(Role::Server), Default::default());
    /// # let mut peer = WebSocket::from_parts(peer_io, Connection::new(Role::Client), Default::default());
    /// # let mut ws = ws;
    /// use weft_codec::{Message, PreparedMessage};
    /// // Encoded once, written to as many connections as need it.
    /// let tick = PreparedMessage::text("tick");
    /// ws.feed_prepared(&tick).await?;
    /// ws.feed_prepared(&tick).await?;
    /// ws.flush().await?;
    /// assert_eq!(peer.next().await.transpose()?, Some(Message::text("tick")));
    /// # Ok(()) }
    /// ```
    pub async fn feed_prepared(&mut self, message: &PreparedMessage) -> Result<(), Error> {
        poll_fn(|cx| self.poll_ready_inner(cx)).await?;
        trace::queued(&self.span, self.conn.send_prepared(message))
    }

    /// Queues a [`PreparedMessage`] now, whatever is queued already: the poll-based form of
    /// [`feed_prepared`](Self::feed_prepared), for a caller that checked for room with
    /// [`Sink::poll_ready`] (as `Sink::start_send` does for a [`Message`]). What is queued is
    /// written by the next flush or send, and whenever the socket waits for input.
    ///
    /// ```no_run
    /// # async fn demo(mut ws: weft_codec::tokio::WebSocket<tokio::net::TcpStream>)
    /// # -> Result<(), weft_codec::Error> {
    /// use std::future::poll_fn;
    /// use std::pin::Pin;
    /// use futures_sink::Sink;
    /// use weft_codec::{Message, PreparedMessage};
    ///
    /// let news = PreparedMessage::text("hello");
    /// poll_fn(|cx| Sink::<Message>::poll_ready(Pin::new(&mut ws), cx)).await?;
    /// ws.start_send_prepared(&news)?;
    /// ws.flush().await?;
    /// # Ok(()) }
    /// ```
    pub fn start_send_prepared(&mut self, message: &PreparedMessage) -> Result<(), Error> {
        trace::queued(&self.span, self.conn.send_prepared(message))
    }

    /// Queues one piece of a data message and writes everything queued; the piece with `fin`
    /// set ends the message. Cancel safety as for [`send`](Self::send).
    ///
    /// ```
    /// # use weft_codec::{Connection, Role, tokio::WebSocket};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), weft_codec::Error> {
    /// # let (io, peer_io) = tokio::io::duplex(1 << 16);
    /// # let mut ws = WebSocket::from_parts(io, Connection::new(Role::Client), Default::default());
    /// # let mut peer = WebSocket::from_parts(peer_io, Connection::new(Role::Server), Default::default());
    /// use weft_codec::{DataKind, Fragment, Message};
    /// // A message sent as it is produced, without holding all of it.
    /// for (i, chunk) in [&b"abc"[..], b"def", b"gh"].into_iter().enumerate() {
    ///     ws.send_fragment(Fragment::new(DataKind::Binary, chunk, i == 2)).await?;
    /// }
    /// assert_eq!(peer.next().await.transpose()?, Some(Message::binary(&b"abcdefgh"[..])));
    /// # Ok(()) }
    /// ```
    pub async fn send_fragment(&mut self, fragment: Fragment) -> Result<(), Error> {
        poll_fn(|cx| self.poll_ready_inner(cx)).await?;
        trace::queued(&self.span, self.conn.send_fragment(fragment))?;
        self.flush().await
    }

    /// Writes everything queued. Cancel safe.
    ///
    /// ```
    /// # use weft_codec::{Connection, Role, tokio::WebSocket};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), weft_codec::Error> {
    /// # let (io, peer_io) = tokio::io::duplex(1 << 16);
    /// # let mut ws = WebSocket::from_parts(io, Connection::new(Role::Client), Default::default());
    /// # let mut peer = WebSocket::from_parts(peer_io, Connection::new(Role::Server), Default::default());
    /// use weft_codec::Message;
    /// for n in 0..3 {
    ///     ws.feed(Message::text(n.to_string())).await?; // queued
    /// }
    /// ws.flush().await?; // written, in one write
    /// assert_eq!(peer.next().await.transpose()?, Some(Message::text("0")));
    /// # Ok(()) }
    /// ```
    pub async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.poll_flush_inner(cx)).await
    }

    /// Closes the connection: sends a close frame with `code` and `reason`, waits (at most
    /// [`Config::close_timeout`](crate::Config::close_timeout)) for the peer's close frame,
    /// discarding messages that arrive meanwhile, and closes the transport.
    ///
    /// To keep receiving until the peer's close frame arrives, send
    /// [`Message::Close`] instead and keep calling [`next`](Self::next).
    ///
    /// Cancel safe: the close frame stays queued.
    ///
    /// ```
    /// # use weft_codec::{Connection, Role, tokio::WebSocket};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), weft_codec::Error> {
    /// # let (io, peer_io) = tokio::io::duplex(1 << 16);
    /// # let mut ws = WebSocket::from_parts(io, Connection::new(Role::Client), Default::default());
    /// # let mut peer = WebSocket::from_parts(peer_io, Connection::new(Role::Server), Default::default());
    /// use weft_codec::CloseCode;
    /// // The peer keeps reading, so it answers the close frame.
    /// let peer_reads = tokio::spawn(async move { while peer.next().await.is_some() {} });
    /// ws.close(CloseCode::NORMAL, "done").await?;
    /// peer_reads.await.unwrap();
    /// # Ok(()) }
    /// ```
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.conn.close(code, reason)?;
        self.flush().await?;
        while let Some(event) = self.next_event_raw().await {
            event?;
        }
        Ok(())
    }

    /// Splits into a read half and a write half, usable from two tasks.
    ///
    /// The read half answers pings and completes the closing handshake, so keep reading it
    /// until it ends. [`WebSocketReader::reunite`] joins the halves again.
    ///
    /// ```
    /// # use weft_codec::{Connection, Role, tokio::WebSocket};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), weft_codec::Error> {
    /// # let (io, peer_io) = tokio::io::duplex(1 << 16);
    /// # let mut ws = WebSocket::from_parts(io, Connection::new(Role::Client), Default::default());
    /// # let mut peer = WebSocket::from_parts(peer_io, Connection::new(Role::Server), Default::default());
    /// use weft_codec::Message;
    /// let (mut reader, mut writer) = ws.split();
    /// // One task sends while another reads.
    /// let sender = tokio::spawn(async move {
    ///     for n in 0..3 {
    ///         writer.send(Message::text(format!("tick {n}"))).await?;
    ///     }
    ///     Ok::<_, weft_codec::Error>(writer)
    /// });
    /// for n in 0..3 {
    ///     peer.send(Message::text(format!("tock {n}"))).await?;
    ///     assert_eq!(peer.next().await.transpose()?, Some(Message::text(format!("tick {n}"))));
    /// }
    /// assert_eq!(reader.next().await.transpose()?, Some(Message::text("tock 0")));
    /// let writer = sender.await.unwrap()?;
    /// let ws = reader.reunite(writer).expect("halves of one WebSocket");
    /// # drop(ws);
    /// # Ok(()) }
    /// ```
    pub fn split(self) -> (WebSocketReader<S>, WebSocketWriter<S>) {
        let wakers = Arc::new(WriteWakers::default());
        let shared = Arc::new(Shared {
            ws: Mutex::new(self),
            wakers: wakers.clone(),
        });
        let write_waker = Waker::from(wakers);
        (
            WebSocketReader {
                shared: shared.clone(),
                write_waker: write_waker.clone(),
            },
            WebSocketWriter {
                shared,
                write_waker,
            },
        )
    }

    /// The transport and the connection (which holds any bytes read but not yet decoded).
    ///
    /// ```
    /// # use weft_codec::{Connection, Role, tokio::WebSocket};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), weft_codec::Error> {
    /// # let (io, peer_io) = tokio::io::duplex(1 << 16);
    /// # let mut ws = WebSocket::from_parts(io, Connection::new(Role::Client), Default::default());
    /// # let mut peer = WebSocket::from_parts(peer_io, Connection::new(Role::Server), Default::default());
    /// let (io, conn) = ws.into_parts();
    /// assert_eq!(conn.buffered_input(), 0);
    /// # drop((io, peer));
    /// # Ok(()) }
    /// ```
    pub fn into_parts(self) -> (S, Connection) {
        (self.io, self.conn)
    }

    async fn next_event_raw(&mut self) -> Option<Result<Event, Error>> {
        poll_fn(|cx| {
            let waker = cx.waker();
            self.poll_event(cx, waker)
        })
        .await
    }

    // ---------------------------------------------------------------------------------------
    // The loop

    /// The next whole message. A message that started arriving in pieces (the reader switched
    /// from [`next_fragment`](Self::next_fragment)) is assembled here.
    fn poll_message(
        &mut self,
        cx: &mut Context<'_>,
        write_waker: &Waker,
    ) -> Poll<Option<Result<Message, Error>>> {
        self.conn.set_receive_fragments(false);
        loop {
            let fragment = match ready!(self.poll_event(cx, write_waker)) {
                Some(Ok(Event::Fragment(fragment))) => fragment,
                Some(Ok(Event::Message(message))) => return Poll::Ready(Some(Ok(message))),
                Some(Err(err)) => return Poll::Ready(Some(Err(err))),
                None => return Poll::Ready(None),
            };
            let (kind, data) = self
                .assembling
                .get_or_insert_with(|| (fragment.kind, BytesMut::new()));
            data.extend_from_slice(&fragment.data);
            if fragment.fin {
                let kind = *kind;
                let data = data.split().freeze();
                self.assembling = None;
                return Poll::Ready(Some(Ok(match kind {
                    // The connection validated the text as it arrived.
                    DataKind::Text => match Utf8Bytes::try_from(data) {
                        Ok(text) => Message::Text(text),
                        Err(_) => return Poll::Ready(Some(Err(Error::TextNotUtf8))),
                    },
                    DataKind::Binary => Message::Binary(data),
                })));
            }
        }
    }

    /// The next piece of a data message, or a control message.
    fn poll_fragment(
        &mut self,
        cx: &mut Context<'_>,
        write_waker: &Waker,
    ) -> Poll<Option<Result<Event, Error>>> {
        self.conn.set_receive_fragments(true);
        let event = ready!(self.poll_event(cx, write_waker));
        Poll::Ready(event.map(|event| {
            event.map(|event| match event {
                // A message that started arriving whole: one piece.
                Event::Message(Message::Text(text)) => Event::Fragment(Fragment {
                    kind: DataKind::Text,
                    data: text.into_bytes(),
                    fin: true,
                }),
                Event::Message(Message::Binary(data)) => Event::Fragment(Fragment {
                    kind: DataKind::Binary,
                    data,
                    fin: true,
                }),
                other => other,
            })
        }))
    }

    /// Drives the connection until it has an event, ends, or must wait. `write_waker` is
    /// registered when waiting on the transport's write side (it differs from `cx`'s waker for
    /// a split read half, so that both halves wake on write readiness).
    fn poll_event(
        &mut self,
        cx: &mut Context<'_>,
        write_waker: &Waker,
    ) -> Poll<Option<Result<Event, Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        loop {
            if self.pending_error.is_none() {
                match self.conn.poll_event() {
                    Ok(Some(event)) => {
                        match &event {
                            Event::Message(Message::Ping(_) | Message::Close(_)) => {
                                // Answer pings and closes as soon as practical (RFC 6455
                                // §5.5): write now if the transport takes it, without waiting.
                                let mut write_cx = Context::from_waker(write_waker);
                                let _ = self.poll_write_out(&mut write_cx);
                            }
                            Event::Message(Message::Pong(_)) => {
                                // Tell the connection the time now, so that the round trip of
                                // a keepalive ping is known when the caller sees its pong.
                                let now = self.clock().now();
                                let _ = self.conn.poll_timeout(now);
                            }
                            _ => {}
                        }
                        return Poll::Ready(Some(Ok(event)));
                    }
                    Ok(None) => {}
                    // After a failed write, the write error says more than the end of stream.
                    Err(Error::AbnormalClosure) if self.write_error.is_some() => {
                        self.pending_error = self.write_error.take();
                    }
                    Err(err) => self.pending_error = Some(err),
                }
            }

            // Write what the connection queued (pongs, close frames) without waiting for it,
            // unless an error is waiting for its close frame to go out first.
            let mut write_cx = Context::from_waker(write_waker);
            let written = match self.poll_write_out(&mut write_cx) {
                Poll::Ready(Ok(())) => true,
                Poll::Ready(Err(err)) => {
                    // Keep it until what has already arrived (often the peer's close frame,
                    // which says why) has been handed out.
                    if self.write_error.is_none() && self.pending_error.is_none() {
                        self.write_error = Some(err);
                    }
                    true
                }
                Poll::Pending => false,
            };
            if (written || self.conn.is_aborted())
                && let Some(err) = self.pending_error.take()
            {
                self.write_error = None;
                return Poll::Ready(Some(Err(self.failed(err))));
            }

            if self.conn.is_finished() && (written || self.conn.is_aborted()) {
                ready!(self.poll_close_transport(cx, &mut write_cx));
                self.done = true;
                self.timer = None;
                self.timer_armed = false;
                trace::closed(&self.span, &self.conn);
                return Poll::Ready(None);
            }

            let read = if self.conn.wants_read() {
                self.poll_read_in(cx)
            } else {
                Poll::Pending
            };
            match read {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(err)) => {
                    self.done = true;
                    let err = self.write_error.take().unwrap_or(err);
                    return Poll::Ready(Some(Err(self.failed(err))));
                }
                Poll::Pending => {
                    // About to wait: only now do the close signal and the timers need a look
                    // (and the clock a read). While data flows, tokio's cooperative budget
                    // still makes reads wait now and then, so timers are never starved.
                    if self.poll_close_signal(cx) || self.poll_timer(cx) {
                        continue;
                    }
                    // Nothing more has arrived: now the write error.
                    if let Some(err) = self.write_error.take() {
                        self.done = true;
                        return Poll::Ready(Some(Err(self.failed(err))));
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    /// Reports `err`, about to be handed to the reader, to `tracing` (feature `tracing`).
    fn failed(&self, err: Error) -> Error {
        trace::failed(&self.span, &self.conn, &err);
        err
    }

    /// Closes the transport once the connection is finished: shut down the write side, then
    /// read and drop whatever the peer still sends until it closes too, so that unread input
    /// does not turn our close into a reset (a lingering close). The close timer bounds the
    /// wait; after it fired, or after the transport failed, the transport is simply dropped.
    fn poll_close_transport(
        &mut self,
        cx: &mut Context<'_>,
        write_cx: &mut Context<'_>,
    ) -> Poll<()> {
        if self.conn.is_aborted() {
            return Poll::Ready(());
        }
        if self.write_closed.is_none() {
            let _ = ready!(Pin::new(&mut self.io).poll_shutdown(write_cx));
            self.write_closed = Some(None);
        }
        if self.write_closed != Some(None) {
            return Poll::Ready(());
        }
        let mut sink = [0u8; MIN_READ];
        while !self.read_eof {
            if self.poll_timer(cx) {
                if self.conn.is_aborted() {
                    return Poll::Ready(());
                }
                continue;
            }
            let mut discard = ReadBuf::new(&mut sink);
            match ready!(Pin::new(&mut self.io).poll_read(cx, &mut discard)) {
                Ok(()) if discard.filled().is_empty() => self.read_eof = true,
                Ok(()) => {}
                Err(_) => self.read_eof = true,
            }
        }
        Poll::Ready(())
    }

    /// Reads once into the buffer and gives the bytes to the connection.
    fn poll_read_in(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.conn.input_capacity() == 0 {
            // The connection holds no buffer (new, or quiet for a while): start small again.
            self.read_size = MIN_READ;
        }
        // Read straight into the connection's buffer: no copy, and a frame of known length gets
        // room for all of it at once.
        let buf = self.conn.read_buf(self.read_size);
        let spare = buf.capacity() - buf.len();
        let n = match ready!(tokio_util::io::poll_read_buf(
            Pin::new(&mut self.io),
            cx,
            buf
        )) {
            Ok(n) => n,
            // The transport ended without its own end marker: TLS without `close_notify`, as
            // tokio-rustls reports it (tokio-tungstenite, tokio-websockets and fastwebsockets
            // servers end so). That is how TCP ends too, and it means the same: after the
            // peer's close frame, the end of the connection (the frame is the authenticated
            // end of the data, RFC 6455 §5.5.1); before it, an abnormal closure (1006).
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => 0,
            Err(err) => return Poll::Ready(Err(err.into())),
        };
        if n == 0 {
            self.read_eof = true;
            self.conn.handle_eof();
        } else {
            if n == spare {
                // The read filled the buffer: ask for more next time.
                self.read_size = (self.read_size * 2).min(MAX_READ);
            }
            self.conn.handle_read(n);
        }
        Poll::Ready(Ok(()))
    }

    /// Writes everything queued and flushes the transport.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if let Some(failure) = self.write_closed {
            // Nothing can be written any more: drop what is queued.
            let mut dropped = false;
            while let Some(out) = self.conn.poll_transmit() {
                out.advance(out.remaining());
                dropped = true;
            }
            return Poll::Ready(match failure {
                Some(kind) if dropped => Err(io::Error::from(kind).into()),
                _ => Ok(()),
            });
        }
        while let Some(out) = self.conn.poll_transmit() {
            let written = if out.chunk().len() == out.remaining() {
                // One buffer (the usual case for small messages): a plain write, cheaper in the
                // kernel than a vectored one.
                ready!(Pin::new(&mut self.io).poll_write(cx, out.chunk()))
                    .inspect(|&n| out.advance(n))
            } else {
                ready!(tokio_util::io::poll_write_buf(
                    Pin::new(&mut self.io),
                    cx,
                    out
                ))
            };
            match written {
                Ok(0) => {
                    return Poll::Ready(Err(self.write_failed(io::ErrorKind::WriteZero.into())));
                }
                Ok(_) => self.needs_flush = true,
                Err(err) => return Poll::Ready(Err(self.write_failed(err))),
            }
        }
        if self.needs_flush {
            if let Err(err) = ready!(Pin::new(&mut self.io).poll_flush(cx)) {
                return Poll::Ready(Err(self.write_failed(err)));
            }
            self.needs_flush = false;
        }
        Poll::Ready(Ok(()))
    }

    /// Records that the transport cannot be written any more.
    fn write_failed(&mut self, err: io::Error) -> Error {
        self.write_closed = Some(Some(err.kind()));
        Error::Io(err)
    }

    /// Arms the timer for the connection's next deadline; fires it if due. Returns whether a
    /// timer fired (and the loop should run again).
    ///
    /// Keepalive moves the deadline later with every read. Re-arming the alarm each time would
    /// cost a timer update per read, so it is only moved earlier: when it fires too early, the
    /// connection does nothing and names the later deadline.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> bool {
        let clock = self.clock();
        let now = clock.now();
        let Some(deadline) = self.conn.poll_timeout(now) else {
            self.timer_armed = false;
            return false;
        };
        if deadline <= now {
            self.timer_armed = false;
            self.conn.handle_timeout(now);
            return true;
        }
        let alarm = match &mut self.timer {
            Some(alarm) if self.timer_armed && alarm.deadline() <= deadline => alarm,
            Some(alarm) => {
                alarm.reset(deadline);
                self.timer_armed = true;
                alarm
            }
            None => {
                self.timer_armed = true;
                self.timer.insert(Alarm::new(clock, deadline))
            }
        };
        if alarm.poll(cx.waker()).is_ready() {
            self.timer_armed = false;
            self.conn.handle_timeout(clock.now());
            return true;
        }
        false
    }

    /// The clock the connection's deadlines follow, chosen the first time it is asked for.
    fn clock(&mut self) -> Clock {
        *self.clock.get_or_insert_with(Clock::of_runtime)
    }

    fn poll_ready_inner(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let high_water = self.conn.config().get_write_buffer_size();
        if self.conn.buffered_amount() < high_water {
            return Poll::Ready(Ok(()));
        }
        // About to wait for the peer to read: a sender that never reads still learns of a
        // close signal here (its next send fails once the close frame is queued).
        self.poll_close_signal(cx);
        ready!(self.poll_write_out(cx))?;
        Poll::Ready(Ok(()))
    }

    fn poll_flush_inner(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.poll_write_out(cx)
    }

    fn poll_close_inner(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.conn.can_send() {
            self.conn.close(CloseCode::NORMAL, "")?;
        }
        self.poll_write_out(cx)
    }
}

impl<S> Stream for WebSocket<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let waker = cx.waker();
        self.get_mut().poll_message(cx, waker)
    }
}

/// Sending messages. `poll_close` sends a close frame (1000) if none was sent and flushes; the
/// stream side completes the closing handshake.
impl<S> Sink<Message> for WebSocket<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_ready_inner(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        let ws = self.get_mut();
        trace::queued(&ws.span, ws.conn.send(item))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_flush_inner(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_close_inner(cx)
    }
}

// -------------------------------------------------------------------------------------------
// Split halves

struct Shared<S> {
    ws: Mutex<WebSocket<S>>,
    wakers: Arc<WriteWakers>,
}

impl<S> Shared<S> {
    fn lock(&self) -> MutexGuard<'_, WebSocket<S>> {
        // A panic in another half cannot leave the state half-updated in a way that matters
        // more than the panic itself; keep going rather than poison both halves.
        self.ws.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The tasks waiting for the transport to accept writes. A transport remembers one waker per
/// direction, so both halves register here (each slot holds the waker of the last task that
/// polled that half) and the transport gets a waker that wakes both.
#[derive(Default)]
struct WriteWakers {
    reader: AtomicWaker,
    writer: AtomicWaker,
}

impl Wake for WriteWakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.reader.wake();
        self.writer.wake();
    }
}

/// The read half of a [`WebSocket`] (see [`WebSocket::split`]): a [`Stream`] of messages.
///
/// Reading answers pings and completes the closing handshake; keep polling it until it ends.
///
/// ```no_run
/// # async fn demo(ws: weft_codec::tokio::WebSocket<tokio::net::TcpStream>) {
/// let (mut reader, _writer) = ws.split();
/// while let Some(Ok(message)) = reader.next().await {
///     println!("{message:?}");
/// }
/// # }
/// ```
pub struct WebSocketReader<S> {
    shared: Arc<Shared<S>>,
    write_waker: Waker,
}

/// The write half of a [`WebSocket`] (see [`WebSocket::split`]): a [`Sink`] of messages.
///
/// ```no_run
/// # async fn demo(ws: weft_codec::tokio::WebSocket<tokio::net::TcpStream>)
/// # -> Result<(), weft_codec::Error> {
/// use weft_codec::Message;
/// let (_reader, mut writer) = ws.split();
/// writer.send(Message::text("hello")).await?;
/// # Ok(()) }
/// ```
pub struct WebSocketWriter<S> {
    shared: Arc<Shared<S>>,
    write_waker: Waker,
}

impl<S> fmt::Debug for WebSocketReader<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketReader").finish_non_exhaustive()
    }
}

impl<S> fmt::Debug for WebSocketWriter<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketWriter").finish_non_exhaustive()
    }
}

impl<S> WebSocketReader<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// The next message; `None` once the connection has closed. Cancel safe.
    ///
    /// ```
    /// # use weft_codec::{Connection, Role, tokio::WebSocket};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), weft_codec::Error> {
    /// # let (io, peer_io) = tokio::io::duplex(1 << 16);
    /// # let mut ws = WebSocket::from_parts(io, Connection::new(Role::Client), Default::default());
    /// # let mut peer = WebSocket::from_parts(peer_io, Connection::new(Role::Server), Default::default());
    /// # let (mut reader, mut writer) = ws.split();
    /// use weft_codec::Message;
    /// peer.send(Message::text("hi")).await?;
    /// assert_eq!(reader.next().await.transpose()?, Some(Message::text("hi")));
    /// # drop(writer);
    /// # Ok(()) }
    /// ```
    pub async fn next(&mut self) -> Option<Result<Message, Error>> {
        poll_fn(|cx| self.poll_with(cx, WebSocket::poll_message)).await
    }

    /// As [`WebSocket::next_fragment`]. Cancel safe.
    ///
    /// ```
    /// # use weft_codec::{Connection, Role, tokio::WebSocket};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), weft_codec::Error> {
    /// # let (io, peer_io) = tokio::io::duplex(1 << 16);
    /// # let mut ws = WebSocket::from_parts(io, Connection::new(Role::Client), Default::default());
    /// # let mut peer = WebSocket::from_parts(peer_io, Connection::new(Role::Server), Default::default());
    /// # let (mut reader, mut writer) = ws.split();
    /// use weft_codec::{Event, Message};
    /// peer.send(Message::binary(vec![1, 2, 3])).await?;
    /// let Some(Event::Fragment(piece)) = reader.next_fragment().await.transpose()? else {
    ///     panic!("a data message");
    /// };
    /// assert_eq!((&piece.data[..], piece.fin), (&[1, 2, 3][..], true));
    /// # drop(writer);
    /// # Ok(()) }
    /// ```
    pub async fn next_fragment(&mut self) -> Option<Result<Event, Error>> {
        poll_fn(|cx| self.poll_with(cx, WebSocket::poll_fragment)).await
    }

    /// Joins the halves again. Fails, giving both back, if they come from different sockets.
    ///
    /// ```
    /// # use weft_codec::{Connection, Role, tokio::WebSocket};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), weft_codec::Error> {
    /// # let (io, peer_io) = tokio::io::duplex(1 << 16);
    /// # let mut ws = WebSocket::from_parts(io, Connection::new(Role::Client), Default::default());
    /// # let mut peer = WebSocket::from_parts(peer_io, Connection::new(Role::Server), Default::default());
    /// let (reader, writer) = ws.split();
    /// let ws = reader.reunite(writer).expect("halves of one WebSocket");
    /// # drop((ws, peer));
    /// # Ok(()) }
    /// ```
    pub fn reunite(
        self,
        writer: WebSocketWriter<S>,
    ) -> Result<WebSocket<S>, (WebSocketReader<S>, WebSocketWriter<S>)> {
        if !Arc::ptr_eq(&self.shared, &writer.shared) {
            return Err((self, writer));
        }
        let write_waker = writer.write_waker.clone();
        drop(writer);
        match Arc::try_unwrap(self.shared) {
            Ok(shared) => Ok(shared
                .ws
                .into_inner()
                .unwrap_or_else(PoisonError::into_inner)),
            // Both halves were given, so no other owner exists; keep the types honest anyway.
            Err(shared) => Err((
                WebSocketReader {
                    shared: shared.clone(),
                    write_waker: self.write_waker,
                },
                WebSocketWriter {
                    shared,
                    write_waker,
                },
            )),
        }
    }

    fn poll_with<T>(
        &self,
        cx: &mut Context<'_>,
        f: impl FnOnce(&mut WebSocket<S>, &mut Context<'_>, &Waker) -> Poll<T>,
    ) -> Poll<T> {
        self.shared.wakers.reader.register(cx.waker());
        let mut ws = self.shared.lock();
        f(&mut ws, cx, &self.write_waker)
    }
}

impl<S> Stream for WebSocketReader<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_with(cx, WebSocket::poll_message)
    }
}

impl<S> WebSocketWriter<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// As [`WebSocket::send`].
    ///
    /// ```
    /// # use weft_codec::{Connection, Role, tokio::WebSocket};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), weft_codec::Error> {
    /// # let (io, peer_io) = tokio::io::duplex(1 << 16);
    /// # let mut ws = WebSocket::from_parts(io, Connection::new(Role::Client), Default::default());
    /// # let mut peer = WebSocket::from_parts(peer_io, Connection::new(Role::Server), Default::default());
    /// # let (mut reader, mut writer) = ws.split();
    /// use weft_codec::Message;
    /// writer.send(Message::text("hello")).await?;
    /// assert_eq!(peer.next().await.transpose()?, Some(Message::text("hello")));
    /// # drop(reader);
    /// # Ok(()) }
    /// ```
    pub async fn send(&mut self, message: Message) -> Result<(), Error> {
        self.feed(message).await?;
        self.flush().await
    }

    /// As [`WebSocket::send_uncompressed`].
    ///
    /// ```
    /// # use weft_codec::{Connection, Role, tokio::WebSocket};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), weft_codec::Error> {
    /// # let (io, peer_io) = tokio::io::duplex(1 << 16);
    /// # let mut ws = WebSocket::from_parts(io, Connection::new(Role::Client), Default::default());
    /// # let mut peer = WebSocket::from_parts(peer_io, Connection::new(Role::Server), Default::default());
    /// # let (mut reader, mut writer) = ws.split();
    /// use weft_codec::Message;
    /// writer.send_uncompressed(Message::text("token=8f1c2e")).await?;
    /// assert_eq!(peer.next().await.transpose()?, Some(Message::text("token=8f1c2e")));
    /// # drop(reader);
    /// # Ok(()) }
    /// ```
    pub async fn send_uncompressed(&mut self, message: Message) -> Result<(), Error> {
        poll_fn(|cx| self.poll_with(cx, WebSocket::poll_ready_inner)).await?;
        self.queue(|conn| conn.send_uncompressed(message))?;
        self.flush().await
    }

    /// As [`WebSocket::feed`].
    ///
    /// ```
    /// # use weft_codec::{Connection, Role, tokio::WebSocket};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), weft_codec::Error> {
    /// # let (io, peer_io) = tokio::io::duplex(1 << 16);
    /// # let mut ws = WebSocket::from_parts(io, Connection::new(Role::Client), Default::default());
    /// # let mut peer = WebSocket::from_parts(peer_io, Connection::new(Role::Server), Default::default());
    /// # let (mut reader, mut writer) = ws.split();
    /// use weft_codec::Message;
    /// writer.feed(Message::text("one")).await?;
    /// writer.feed(Message::text("two")).await?;
    /// writer.flush().await?;
    /// assert_eq!(peer.next().await.transpose()?, Some(Message::text("one")));
    /// # drop(reader);
    /// # Ok(()) }
    /// ```
    pub async fn feed(&mut self, message: Message) -> Result<(), Error> {
        poll_fn(|cx| self.poll_with(cx, WebSocket::poll_ready_inner)).await?;
        self.queue(|conn| conn.send(message))
    }

    /// As [`WebSocket::send_fragment`].
    ///
    /// ```
    /// # use weft_codec::{Connection, Role, tokio::WebSocket};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), weft_codec::Error> {
    /// # let (io, peer_io) = tokio::io::duplex(1 << 16);
    /// # let mut ws = WebSocket::from_parts(io, Connection::new(Role::Client), Default::default());
    /// # let mut peer = WebSocket::from_parts(peer_io, Connection::new(Role::Server), Default::default());
    /// # let (mut reader, mut writer) = ws.split();
    /// use weft_codec::{DataKind, Fragment, Message};
    /// writer.send_fragment(Fragment::new(DataKind::Text, "he", false)).await?;
    /// writer.send_fragment(Fragment::new(DataKind::Text, "llo", true)).await?;
    /// assert_eq!(peer.next().await.transpose()?, Some(Message::text("hello")));
    /// # drop(reader);
    /// # Ok(()) }
    /// ```
    pub async fn send_fragment(&mut self, fragment: Fragment) -> Result<(), Error> {
        poll_fn(|cx| self.poll_with(cx, WebSocket::poll_ready_inner)).await?;
        self.queue(|conn| conn.send_fragment(fragment))?;
        self.flush().await
    }

    /// As [`WebSocket::send_prepared`].
    ///
    /// ```
    /// # use weft_codec::{Connection, Role, tokio::WebSocket};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), weft_codec::Error> {
    /// # let (io, peer_io) = tokio::io::duplex(1 << 16);
    /// # let ws = WebSocket::from_parts(io, Connection::new(Role::Server), Default::default());
    /// # let mut peer = WebSocket::from_parts(peer_io, Connection::new(Role::Client), Default::default());
    /// use weft_codec::{Message, PreparedMessage};
    /// let (_reader, mut writer) = ws.split();
    /// writer.send_prepared(&PreparedMessage::text("news")).await?;
    /// assert_eq!(peer.next().await.transpose()?, Some(Message::text("news")));
    /// # Ok(()) }
    /// ```
    pub async fn send_prepared(&mut self, message: &PreparedMessage) -> Result<(), Error> {
        self.feed_prepared(message).await?;
        self.flush().await
    }

    /// As [`WebSocket::feed_prepared`].
    ///
    /// ```
    /// # use weft_codec::{Connection, Role, tokio::WebSocket};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), weft_codec::Error> {
    /// # let (io, peer_io) = tokio::io::duplex(1 << 16);
    /// # let ws = WebSocket::from_parts(io, Connection::new(Role::Server), Default::default());
    /// # let mut peer = WebSocket::from_parts(peer_io, Connection::new(Role::Client), Default::default());
    /// use weft_codec::{Message, PreparedMessage};
    /// let (_reader, mut writer) = ws.split();
    /// writer.feed_prepared(&PreparedMessage::text("one")).await?;
    /// writer.feed_prepared(&PreparedMessage::text("two")).await?;
    /// writer.flush().await?;
    /// assert_eq!(peer.next().await.transpose()?, Some(Message::text("one")));
    /// # Ok(()) }
    /// ```
    pub async fn feed_prepared(&mut self, message: &PreparedMessage) -> Result<(), Error> {
        poll_fn(|cx| self.poll_with(cx, WebSocket::poll_ready_inner)).await?;
        self.queue(|conn| conn.send_prepared(message))
    }

    /// As [`WebSocket::flush`].
    ///
    /// ```
    /// # use weft_codec::{Connection, Role, tokio::WebSocket};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), weft_codec::Error> {
    /// # let (io, peer_io) = tokio::io::duplex(1 << 16);
    /// # let mut ws = WebSocket::from_parts(io, Connection::new(Role::Client), Default::default());
    /// # let mut peer = WebSocket::from_parts(peer_io, Connection::new(Role::Server), Default::default());
    /// # let (mut reader, mut writer) = ws.split();
    /// use weft_codec::Message;
    /// writer.feed(Message::text("queued")).await?;
    /// writer.flush().await?;
    /// assert_eq!(peer.next().await.transpose()?, Some(Message::text("queued")));
    /// # drop(reader);
    /// # Ok(()) }
    /// ```
    pub async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.poll_with(cx, WebSocket::poll_flush_inner)).await
    }

    /// Sends a close frame and flushes it. The read half receives the peer's answer, completes
    /// the closing handshake and then ends.
    ///
    /// ```
    /// # use weft_codec::{Connection, Role, tokio::WebSocket};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), weft_codec::Error> {
    /// # let (io, peer_io) = tokio::io::duplex(1 << 16);
    /// # let mut ws = WebSocket::from_parts(io, Connection::new(Role::Client), Default::default());
    /// # let mut peer = WebSocket::from_parts(peer_io, Connection::new(Role::Server), Default::default());
    /// # let (mut reader, mut writer) = ws.split();
    /// use weft_codec::{CloseCode, Message};
    /// let peer_reads = tokio::spawn(async move { while peer.next().await.is_some() {} });
    /// writer.close(CloseCode::GOING_AWAY, "shutting down").await?;
    /// // The reader sees the peer's answer, then the end.
    /// assert!(matches!(reader.next().await.transpose()?, Some(Message::Close(_))));
    /// assert!(reader.next().await.is_none());
    /// peer_reads.await.unwrap();
    /// # Ok(()) }
    /// ```
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.shared.lock().conn.close(code, reason)?;
        self.flush().await
    }

    /// Queues with the connection (`send` and the like); a full write buffer is reported.
    fn queue(&self, send: impl FnOnce(&mut Connection) -> Result<(), Error>) -> Result<(), Error> {
        let mut ws = self.shared.lock();
        let ws = &mut *ws;
        trace::queued(&ws.span, send(&mut ws.conn))
    }

    fn poll_with<T>(
        &self,
        cx: &mut Context<'_>,
        f: impl FnOnce(&mut WebSocket<S>, &mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        self.shared.wakers.writer.register(cx.waker());
        let mut write_cx = Context::from_waker(&self.write_waker);
        let mut ws = self.shared.lock();
        let result = f(&mut ws, &mut write_cx);
        // The reader may be parked waiting for room to write a pong: let it retry.
        if result.is_ready() {
            self.shared.wakers.reader.wake();
        }
        result
    }
}

impl<S> Sink<Message> for WebSocketWriter<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.poll_with(cx, WebSocket::poll_ready_inner)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        self.queue(|conn| conn.send(item))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.poll_with(cx, WebSocket::poll_flush_inner)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.poll_with(cx, WebSocket::poll_close_inner)
    }
}
