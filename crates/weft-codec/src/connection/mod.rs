//! [`Connection`]: the protocol state machine of one WebSocket connection, without I/O.

use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use rand::Rng;

use crate::close::{CloseCode, CloseFrame};
use crate::config::{Config, Limits};
use crate::error::{Error, ProtocolError};
use crate::extension::{Extension, ExtensionError};
use crate::frame::{FrameHeader, OpCode, Rsv};
use crate::mask::apply_mask;
use crate::message::{DataKind, Fragment, Message};
use crate::observer::Observer;
use crate::prepared::{EncodingKey, PreparedMessage, data_opcode};
use crate::transmit::Transmit;
use crate::utf8::{Utf8Bytes, Utf8Validator, is_utf8};

/// The most input buffer reserved ahead of data for a frame whose length is known. A frame up
/// to this size lands in one allocation; a larger one grows the buffer as its bytes arrive, so
/// a peer that announces large frames and trickles them cannot make us allocate ahead.
const PREALLOC_LIMIT: usize = 1 << 20;

/// Room reserved beyond the rest of a frame whose length is known. A read that brings exactly
/// the rest of the frame then does not fill the buffer, and a short read is how a reader knows
/// the socket is drained (tokio skips the read that would only find it empty); the next frame's
/// header can come along in the same read.
const FRAME_SLACK: usize = 512;

/// A quiet connection lets go of an input buffer grown past `Config::read_buffer_size` after
/// this long without input.
const SHRINK_DELAY: Duration = Duration::from_secs(1);

/// Which end of the connection this is. Clients mask what they send and expect unmasked
/// frames; servers the reverse (RFC 6455 §5.1).
///
/// ```
/// use weft_codec::{Connection, Role};
/// // A client masks what it sends; a server expects masked frames.
/// let server = Connection::new(Role::Server);
/// assert_eq!(server.role(), Role::Server);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// The end that opened the connection.
    Client,
    /// The end that accepted it.
    Server,
}

/// Where a connection is in its life.
///
/// ```
/// use weft_codec::{CloseCode, Connection, Role, State};
/// let mut conn = Connection::new(Role::Client);
/// assert_eq!(conn.state(), State::Open);
/// conn.close(CloseCode::NORMAL, "")?;
/// assert_eq!(conn.state(), State::Closing);
/// # Ok::<(), weft_codec::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// A close frame was sent or received; the closing handshake is under way.
    Closing,
    /// Nothing more will be read: write out what is queued, then close the transport.
    Closed,
}

/// What [`Connection::poll_event`] hands out.
///
/// ```
/// use weft_codec::{Connection, Event, Message, Role};
/// let mut client = Connection::new(Role::Client);
/// client.read_buf(64).extend_from_slice(&[0x89, 0x00]); // a ping from the server
/// client.handle_read(2);
/// match client.poll_event()? {
///     Some(Event::Message(Message::Ping(_))) => {} // already answered (auto_pong)
///     Some(Event::Message(message)) => println!("{message:?}"),
///     Some(Event::Fragment(piece)) => println!("{} bytes of a message", piece.data.len()),
///     Some(_) | None => {}
/// }
/// # Ok::<(), weft_codec::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A whole data message, or a ping, pong or close frame.
    Message(Message),
    /// A piece of a data message, when [`Config::receive_fragments`] is on.
    Fragment(Fragment),
}

/// The protocol state machine of one WebSocket connection, after the opening handshake.
///
/// A `Connection` never touches a socket or a clock. Drive it like this:
///
/// 1. **Input**: feed bytes read from the transport with [`handle_bytes`](Self::handle_bytes),
///    the end of the stream with [`handle_eof`](Self::handle_eof), and expired timers with
///    [`handle_timeout`](Self::handle_timeout).
/// 2. **Events**: call [`poll_event`](Self::poll_event) until it returns `Ok(None)` (it needs
///    more input). Frames are decoded lazily, one event per call, so a burst of input does
///    not queue events. An `Err` is final for reading; a close frame answering it has been
///    queued, and the connection keeps working towards a clean close.
/// 3. **Commands**: [`send`](Self::send), [`send_fragment`](Self::send_fragment) and
///    [`close`](Self::close) queue frames.
/// 4. **Output**: write [`poll_transmit`](Self::poll_transmit)'s [`Buf`] to the transport,
///    advancing it by what was written, until it returns `None`.
/// 5. **Time**: after each round of the above, call [`poll_timeout`](Self::poll_timeout) with
///    the current time and call [`handle_timeout`](Self::handle_timeout) when the deadline it
///    returns has passed. Timers started since the last call (a close sent, data received)
///    count from the `now` given here.
/// 6. **End**: when [`is_finished`](Self::is_finished) and nothing is left to transmit, close
///    the transport. A server closes first; a client waits for the server to (RFC 6455 §7.1.1).
///
/// ```
/// use bytes::{Buf, BytesMut};
/// use weft_codec::{Connection, Event, Message, Role};
///
/// let mut client = Connection::new(Role::Client);
/// let mut server = Connection::new(Role::Server);
///
/// client.send(Message::text("hello")).unwrap();
/// let mut wire = BytesMut::new();
/// while let Some(out) = client.poll_transmit() {
///     wire.extend_from_slice(out.chunk());
///     let n = out.chunk().len();
///     out.advance(n);
/// }
///
/// server.handle_bytes(&mut wire);
/// assert_eq!(server.poll_event().unwrap(), Some(Event::Message(Message::text("hello"))));
/// assert_eq!(server.poll_event().unwrap(), None);
/// ```
#[derive(Debug)]
pub struct Connection {
    role: Role,
    limits: Limits,
    config: Config,
    extension: Option<Box<dyn Extension>>,
    /// RSV bits the extension claimed; a first data frame may set these.
    claimed_rsv: Rsv,

    reader: Reader,
    writer: Writer,
    closing: Closing,
    timers: Timers,
    /// An error to report from the next `poll_event`.
    pending_error: Option<Error>,
    /// Told about errors and the end (counters, logs).
    observer: Option<Box<dyn Observer>>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some(mut observer) = self.observer.take() {
            observer.ended(self);
        }
    }
}

/// The read side: unparsed input and the frame and message being received.
#[derive(Debug, Default)]
struct Reader {
    /// Input not yet consumed. While a single-frame message arrives, its already unmasked
    /// payload stays at the front (`InFrame::held`) so the message can be handed out as a
    /// slice of this buffer without a copy.
    buf: BytesMut,
    frame: Option<InFrame>,
    message: Option<InMessage>,
    utf8: Utf8Validator,
    /// Input arrived since the last `poll_timeout` (for keepalive).
    activity: bool,
    /// A refused frame announced more payload than can be skipped: stop reading.
    unskippable: bool,
    /// The largest the input buffer has been since it was last released.
    peak: usize,
}

#[derive(Debug)]
struct InFrame {
    header: FrameHeader,
    /// Payload bytes not yet processed.
    remaining: u64,
    /// Payload bytes processed so far (the masking offset).
    offset: u64,
    /// Processed payload bytes kept at the front of `Reader::buf`.
    held: usize,
    /// The frame is a whole uncompressed message: keep it in place, hand out a slice.
    in_place: bool,
    /// Discard the payload: the connection has failed and only a close frame matters now.
    discard: bool,
}

#[derive(Debug)]
struct InMessage {
    kind: DataKind,
    compressed: bool,
    streaming: bool,
    /// The assembled (or, when streaming, not yet handed out) payload.
    data: BytesMut,
    /// Payload bytes received so far, after decoding.
    size: u64,
    fragments: usize,
}

/// The write side: queued output and the state of a fragmented send.
#[derive(Debug, Default)]
struct Writer {
    out: Transmit,
    /// The latest ping's payload, still to be answered; only one pong is ever owed
    /// (RFC 6455 §5.5.3), so a flood of pings cannot grow the queue.
    owed_pong: Option<Bytes>,
    /// Where in the output stream the last queued pong ends.
    queued_pong_end: u64,
    /// A fragmented message being sent: its kind and the RSV bits of its first frame.
    fragmented: Option<(DataKind, Rsv)>,
    text_check: Utf8Validator,
}

#[derive(Debug, Default)]
struct Closing {
    sent: bool,
    received: bool,
    /// The peer's close frame, once received and valid (`None` inside for an empty one).
    peer_frame: Option<Option<CloseFrame>>,
    /// We failed the connection (a protocol error or keepalive timeout): discard data, wait
    /// for the peer's close frame.
    failed: bool,
    /// The transport reported end of stream.
    eof: bool,
    /// Nothing more will be read.
    done: bool,
    /// The closing handshake timed out: queued output is dropped and the transport should be
    /// closed without ceremony.
    aborted: bool,
    /// The code of the first close frame, sent or received (1005 for one without a code).
    first_code: Option<CloseCode>,
}

#[derive(Debug, Default)]
struct Timers {
    close: Timer,
    /// Keepalive: when to ping if nothing arrives.
    idle: Timer,
    /// Keepalive: the outstanding ping's payload and when it was sent.
    ping: Option<(u64, Instant)>,
    pong_deadline: Timer,
    /// When to release a grown input buffer that stayed empty.
    shrink: Timer,
    /// When to ask the extension to release what it can rebuild
    /// (`Config::extension_release_after`), unless a message passed through it meanwhile.
    extension_release: Timer,
    /// A message passed through the extension since `extension_release` was set.
    extension_used: bool,
    /// A matching pong arrived; the round trip is measured at the next `poll_timeout`.
    pong_arrived: bool,
    next_ping_id: u64,
    rtt: Option<Duration>,
}

impl Timers {
    /// Records that a message passed through the extension, and starts the timer after which
    /// a quiet extension releases its state (`Config::extension_release_after`).
    fn note_extension_use(&mut self, quiet: Option<Duration>) {
        self.extension_used = true;
        if self.extension_release == Timer::Off
            && let Some(quiet) = quiet
        {
            self.extension_release = Timer::Armed(quiet);
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Timer {
    #[default]
    Off,
    /// Started, and counts from the next `now` the connection learns.
    Armed(Duration),
    At(Instant),
}

impl Timer {
    fn anchor(&mut self, now: Instant) {
        if let Self::Armed(after) = *self {
            *self = Self::At(now + after);
        }
    }

    fn deadline(self) -> Option<Instant> {
        match self {
            Self::At(at) => Some(at),
            _ => None,
        }
    }

    fn expired(self, now: Instant) -> bool {
        matches!(self, Self::At(at) if at <= now)
    }
}

/// What one step of decoding produced.
enum Step {
    Event(Event),
    /// Progress was made; step again.
    Continue,
    /// The input is used up.
    NeedMore,
}

impl Connection {
    /// A connection in `role` with default [`Limits`] and [`Config`].
    ///
    /// ```
    /// use weft_codec::{Connection, Role, State};
    /// let client = Connection::new(Role::Client);
    /// assert_eq!(client.role(), Role::Client);
    /// assert_eq!(client.state(), State::Open);
    /// ```
    pub fn new(role: Role) -> Self {
        Self {
            role,
            limits: Limits::default(),
            config: Config::default(),
            extension: None,
            claimed_rsv: Rsv::NONE,
            reader: Reader::default(),
            writer: Writer::default(),
            closing: Closing::default(),
            timers: Timers::default(),
            pending_error: None,
            observer: None,
        }
    }

    /// Installs an [`Observer`], told about every error this connection reports and about its
    /// end (when the connection is dropped).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use weft_codec::{Connection, Observer, Role};
    ///
    /// #[derive(Debug, Default)]
    /// struct Ended(Arc<AtomicUsize>);
    /// impl Observer for Ended {
    ///     fn ended(&mut self, _conn: &Connection) {
    ///         self.0.fetch_add(1, Ordering::Relaxed);
    ///     }
    /// }
    ///
    /// let ended = Arc::new(AtomicUsize::new(0));
    /// let conn = Connection::new(Role::Server).with_observer(Box::new(Ended(ended.clone())));
    /// drop(conn);
    /// assert_eq!(ended.load(Ordering::Relaxed), 1);
    /// ```
    pub fn with_observer(mut self, observer: Box<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Replaces the limits.
    ///
    /// ```
    /// use weft_codec::{Connection, Limits, Role};
    /// let limits = Limits::default().max_message_size(1 << 20);
    /// let server = Connection::new(Role::Server).with_limits(limits);
    /// assert_eq!(server.limits().get_max_message_size(), 1 << 20);
    /// ```
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Replaces the configuration.
    ///
    /// ```
    /// use weft_codec::{Config, Connection, Role};
    /// let config = Config::default().ping_interval(None);
    /// let client = Connection::new(Role::Client).with_config(config);
    /// assert_eq!(client.config().get_ping_interval(), None);
    /// ```
    pub fn with_config(mut self, config: Config) -> Self {
        self.config = config;
        self.reset_keepalive();
        self
    }

    /// Installs the extension negotiated in the handshake (at most one).
    ///
    /// ```
    /// # use bytes::BytesMut;
    /// # use weft_codec::{Extension, ExtensionError, OpCode, Rsv};
    /// # #[derive(Debug)]
    /// # struct Reverse;
    /// # impl Extension for Reverse {
    /// #     fn rsv(&self) -> Rsv { Rsv::RSV2 }
    /// #     fn encode_begin(&mut self, _: OpCode, _: Option<usize>) -> Rsv { Rsv::RSV2 }
    /// #     fn encode(&mut self, input: &[u8], _: bool, out: &mut BytesMut)
    /// #         -> Result<(), ExtensionError> {
    /// #         out.extend(input.iter().rev());
    /// #         Ok(())
    /// #     }
    /// #     fn decode(&mut self, input: &[u8], _: bool, out: &mut BytesMut, _: usize)
    /// #         -> Result<(), ExtensionError> {
    /// #         out.extend(input.iter().rev());
    /// #         Ok(())
    /// #     }
    /// # }
    /// use weft_codec::{Connection, Role};
    /// // `Reverse` is the toy extension of the `Extension` docs; weft-deflate's is the real one.
    /// let client = Connection::new(Role::Client).with_extension(Box::new(Reverse));
    /// assert!(client.has_extension());
    /// ```
    pub fn with_extension(mut self, extension: Box<dyn Extension>) -> Self {
        self.claimed_rsv = extension.rsv();
        self.extension = Some(extension);
        self
    }

    // ---------------------------------------------------------------------------------------
    // Input

    /// Takes all of `bytes` (leaving it empty, with its spare capacity) as input from the
    /// transport. Decoding happens in [`poll_event`](Self::poll_event).
    ///
    /// When `bytes` continues the memory of the previous call (as when the caller reads into
    /// the spare capacity this leaves behind), no bytes are copied.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use weft_codec::{Connection, Event, Message, Role};
    ///
    /// let mut client = Connection::new(Role::Client);
    /// // An unmasked text frame "Hi" from the server, as read from the socket:
    /// let mut input = BytesMut::from(&[0x81, 0x02, b'H', b'i'][..]);
    /// client.handle_bytes(&mut input);
    /// assert!(input.is_empty());
    /// assert_eq!(client.poll_event()?, Some(Event::Message(Message::text("Hi"))));
    /// # Ok::<(), weft_codec::Error>(())
    /// ```
    pub fn handle_bytes(&mut self, bytes: &mut BytesMut) {
        if bytes.is_empty() {
            return;
        }
        if self.note_input() {
            self.reader.buf.unsplit(bytes.split());
            self.reader.peak = self.reader.peak.max(self.reader.buf.len());
        } else {
            bytes.clear();
        }
    }

    /// The connection's input buffer, with room to read into: at least half of `min_spare`
    /// bytes (when it has to grow, it makes room for all of them), and room for the whole frame
    /// being received when its length is known (so that it lands in one allocation, without
    /// copies). Append the bytes read (for instance with
    /// `tokio_util::io::poll_read_buf`) and then call [`handle_read`](Self::handle_read).
    ///
    /// This is the copy-free alternative to [`handle_bytes`](Self::handle_bytes), which takes
    /// bytes the caller read into its own buffer.
    ///
    /// ```
    /// use weft_codec::{Connection, Event, Message, Role};
    ///
    /// let mut server = Connection::new(Role::Server);
    /// let buf = server.read_buf(512);
    /// assert!(buf.capacity() - buf.len() >= 512);
    /// // A masked "Hi" arrives:
    /// buf.extend_from_slice(&[0x81, 0x82, 0, 0, 0, 0, b'H', b'i']);
    /// server.handle_read(8);
    /// assert_eq!(server.poll_event().unwrap(), Some(Event::Message(Message::text("Hi"))));
    /// ```
    pub fn read_buf(&mut self, min_spare: usize) -> &mut BytesMut {
        let buf = &mut self.reader.buf;
        // Each message decoded takes its bytes off the front of the buffer and leaves it a
        // little less room. Growing back to `min_spare` on every read would reserve (moving the
        // allocation's start back) once per message; below half, it grows back to all of it.
        let mut need = min_spare.div_ceil(2);
        let mut want = min_spare;
        if let Some(frame) = &self.reader.frame
            && frame.in_place
        {
            let unread = buf.len() - frame.held;
            let missing = to_usize(frame.remaining).saturating_sub(unread);
            // Trust the announced length up to the limit; beyond it, grow with the data.
            let frame_room = missing.min(PREALLOC_LIMIT.max(buf.len()));
            need = need.max(frame_room + 1);
            want = want.max(frame_room + FRAME_SLACK);
        }
        if buf.capacity() - buf.len() < need {
            buf.reserve(want);
        }
        self.reader.peak = self.reader.peak.max(buf.capacity());
        buf
    }

    /// The room the input buffer has now (0 when the connection holds none, as after a quiet
    /// spell): a reader may start with small reads again.
    ///
    /// ```
    /// use weft_codec::{Connection, Role};
    /// let mut server = Connection::new(Role::Server);
    /// assert_eq!(server.input_capacity(), 0); // nothing held yet
    /// server.read_buf(512);
    /// assert!(server.input_capacity() >= 512);
    /// ```
    pub fn input_capacity(&self) -> usize {
        self.reader.buf.capacity()
    }

    /// Records that `read` bytes were appended to the buffer from [`read_buf`](Self::read_buf).
    ///
    /// ```
    /// use weft_codec::{Connection, Event, Message, Role};
    /// let mut server = Connection::new(Role::Server);
    /// // A masked binary frame [1, 2, 3] (mask key 0), as a read into the buffer would bring it:
    /// server.read_buf(512).extend_from_slice(&[0x82, 0x83, 0, 0, 0, 0, 1, 2, 3]);
    /// server.handle_read(9);
    /// assert_eq!(server.poll_event()?, Some(Event::Message(Message::binary(vec![1, 2, 3]))));
    /// # Ok::<(), weft_codec::Error>(())
    /// ```
    pub fn handle_read(&mut self, read: usize) {
        if read > 0 && !self.note_input() {
            self.reader.buf.clear();
        }
    }

    /// Records that input arrived (for keepalive and the buffer release timer); returns
    /// whether it is still wanted. Nothing after a close frame is meaningful (RFC 6455
    /// §5.5.1).
    fn note_input(&mut self) -> bool {
        self.reader.activity = true;
        self.timers.shrink = Timer::Off;
        !(self.closing.done || self.closing.received)
    }

    /// Records that the transport will deliver no more bytes. Input already given is still
    /// decoded; if it holds no close frame, [`poll_event`](Self::poll_event) then reports
    /// [`Error::AbnormalClosure`].
    ///
    /// ```
    /// use weft_codec::{Connection, Error, Role};
    /// let mut client = Connection::new(Role::Client);
    /// client.handle_eof(); // the server vanished without a close frame
    /// assert!(matches!(client.poll_event(), Err(Error::AbnormalClosure)));
    /// assert!(client.is_finished());
    /// ```
    pub fn handle_eof(&mut self) {
        self.closing.eof = true;
    }

    /// Fires the timers due at `now`: the closing handshake deadline, and keepalive.
    ///
    /// ```
    /// # fn drain(conn: &mut weft_codec::Connection) -> bytes::BytesMut {
    /// #     use bytes::Buf;
    /// #     let mut wire = bytes::BytesMut::new();
    /// #     while let Some(out) = conn.poll_transmit() {
    /// #         wire.extend_from_slice(out.chunk());
    /// #         let n = out.chunk().len();
    /// #         out.advance(n);
    /// #     }
    /// #     wire
    /// # }
    /// use std::time::{Duration, Instant};
    /// use weft_codec::{CloseCode, Config, Connection, Error, Role};
    ///
    /// let config = Config::default().close_timeout(Duration::from_secs(2));
    /// let mut client = Connection::new(Role::Client).with_config(config);
    /// client.close(CloseCode::NORMAL, "bye")?;
    /// drain(&mut client);
    /// let start = Instant::now();
    /// let deadline = client.poll_timeout(start).expect("the close timer runs");
    /// // The server never answers: once the deadline has passed, the connection gives up.
    /// client.handle_timeout(deadline);
    /// assert!(matches!(client.poll_event(), Err(Error::CloseTimeout)));
    /// assert!(client.is_aborted());
    /// # Ok::<(), weft_codec::Error>(())
    /// ```
    pub fn handle_timeout(&mut self, now: Instant) {
        self.anchor_timers(now);
        if self.timers.shrink.expired(now) {
            self.timers.shrink = Timer::Off;
            if self.reader.buf.is_empty() {
                self.reader.buf = BytesMut::new();
                self.reader.peak = 0;
            }
        }
        if self.timers.extension_release.expired(now) {
            // Re-armed rather than moved at every message, so that traffic costs one wake-up
            // per period, not an alarm reset per message.
            if std::mem::take(&mut self.timers.extension_used)
                && let Some(quiet) = self.config.get_extension_release_after()
            {
                self.timers.extension_release = Timer::At(now + quiet);
            } else {
                self.timers.extension_release = Timer::Off;
                if let Some(ext) = self.extension.as_mut() {
                    ext.release_idle_memory();
                }
            }
        }
        if self.timers.close.expired(now) {
            self.timers.close = Timer::Off;
            self.closing.aborted = true;
            self.writer.owed_pong = None;
            let queued = self.writer.out.len();
            self.writer.out.advance(queued);
            if !self.closing.done {
                self.closing.done = true;
                if !self.closing.received && !self.closing.failed && self.pending_error.is_none() {
                    self.pending_error = Some(Error::CloseTimeout);
                }
            }
        }
        if self.timers.pong_deadline.expired(now) {
            self.timers.pong_deadline = Timer::Off;
            self.timers.ping = None;
            if !self.closing.sent && !self.closing.done {
                self.fail(CloseCode::INTERNAL_ERROR, "keepalive timeout");
                self.pending_error = Some(Error::KeepaliveTimeout);
            }
        }
        if self.timers.idle.expired(now) {
            self.timers.idle = Timer::Off;
            if self.timers.ping.is_none() && !self.closing.sent && !self.closing.done {
                let id = self.timers.next_ping_id;
                self.timers.next_ping_id = id.wrapping_add(1);
                self.push_control(OpCode::Ping, &Bytes::copy_from_slice(&id.to_be_bytes()));
                self.timers.ping = Some((id, now));
                self.timers.pong_deadline = Timer::At(now + self.config.get_ping_timeout());
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Commands

    /// Queues a message.
    ///
    /// Text and binary messages pass through the negotiated extension and are split into
    /// frames of [`Config::fragment_size`]. Pings and pongs must be at most 125 bytes.
    /// `Message::Close` behaves like [`close`](Self::close).
    ///
    /// ```
    /// # fn drain(conn: &mut weft_codec::Connection) -> bytes::BytesMut {
    /// #     use bytes::Buf;
    /// #     let mut wire = bytes::BytesMut::new();
    /// #     while let Some(out) = conn.poll_transmit() {
    /// #         wire.extend_from_slice(out.chunk());
    /// #         let n = out.chunk().len();
    /// #         out.advance(n);
    /// #     }
    /// #     wire
    /// # }
    /// use weft_codec::{Connection, Event, Message, Role};
    /// let mut client = Connection::new(Role::Client);
    /// let mut server = Connection::new(Role::Server);
    /// client.send(Message::text("hello"))?;
    /// server.handle_bytes(&mut drain(&mut client));
    /// assert_eq!(server.poll_event()?, Some(Event::Message(Message::text("hello"))));
    /// # Ok::<(), weft_codec::Error>(())
    /// ```
    pub fn send(&mut self, message: Message) -> Result<(), Error> {
        self.send_with(message, true)
    }

    /// Queues a message without passing it through the negotiated extension: for data that is
    /// already compressed, or secrets sent next to attacker-chosen text (compressing both
    /// together leaks the secret's length, as in the CRIME and BREACH attacks).
    ///
    /// ```
    /// use weft_codec::{Connection, Message, Role};
    /// let mut client = Connection::new(Role::Client);
    /// // A token next to attacker-chosen text: never compressed with it.
    /// client.send_uncompressed(Message::text("csrf-token=8f1c2e"))?;
    /// assert!(client.buffered_amount() > 0);
    /// # Ok::<(), weft_codec::Error>(())
    /// ```
    pub fn send_uncompressed(&mut self, message: Message) -> Result<(), Error> {
        self.send_with(message, false)
    }

    /// Queues a message prepared for many connections, sharing its encoded frames with every
    /// other connection that sends it (see [`PreparedMessage`] for which connections share
    /// which encoding).
    ///
    /// It is a send like any other: refused once the close frame was sent
    /// ([`Error::SendAfterClose`]), while a fragmented message is under way, or over the write
    /// buffer limit; auto-fragmentation and the negotiated extension apply.
    ///
    /// ```
    /// use weft_codec::{Connection, Error, PreparedMessage, Role, CloseCode};
    ///
    /// let message = PreparedMessage::text("to everyone");
    /// let mut conn = Connection::new(Role::Server);
    /// conn.send_prepared(&message)?;
    /// conn.close(CloseCode::NORMAL, "")?;
    /// assert!(matches!(conn.send_prepared(&message), Err(Error::SendAfterClose)));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn send_prepared(&mut self, message: &PreparedMessage) -> Result<(), Error> {
        if self.role == Role::Client {
            // Every client frame gets its own mask: nothing to share but the payload.
            return self.send_data(message.kind(), message.payload().clone(), true);
        }
        self.check_can_send()?;
        if self.writer.fragmented.is_some() {
            return Err(Error::FragmentInProgress);
        }
        let opcode = data_opcode(message.kind());
        let (rsv, shared) = match &mut self.extension {
            Some(ext) => {
                let rsv = ext.encode_begin(opcode, Some(message.len()));
                (rsv, (!rsv.is_empty()).then(|| ext.shared_encoding()))
            }
            None => (Rsv::NONE, None),
        };
        if let Some(None) = shared {
            // The extension's output depends on this connection's history (deflate with
            // context takeover): encode here, as for any message.
            let payload = self.encode_with_extension(rsv, message.payload().clone(), true)?;
            self.push_data_frames(opcode, rsv, &payload);
            return Ok(());
        }
        let shared = shared.flatten();
        // An uncompressed message that fits in one frame needs no fragmented encoding.
        let fragment_size = self
            .config
            .get_fragment_size()
            .filter(|&size| shared.is_some() || message.len() > size);
        let key = EncodingKey {
            shared,
            fragment_size,
        };
        let frames = message.frames(key, |payload| {
            let encoded = match &mut self.extension {
                Some(ext) if !rsv.is_empty() => {
                    let mut out = BytesMut::with_capacity(payload.len() / 2 + 64);
                    ext.encode_shared(payload, &mut out)
                        .map_err(Error::Extension)?;
                    out.freeze()
                }
                _ => payload.clone(),
            };
            Ok::<_, Error>((encoded, rsv))
        })?;
        self.writer.out.push_shared(&frames);
        Ok(())
    }

    fn send_with(&mut self, message: Message, transform: bool) -> Result<(), Error> {
        match message {
            Message::Text(text) => self.send_data(DataKind::Text, text.into_bytes(), transform),
            Message::Binary(data) => self.send_data(DataKind::Binary, data, transform),
            Message::Ping(data) => self.send_control(OpCode::Ping, data),
            Message::Pong(data) => self.send_control(OpCode::Pong, data),
            Message::Close(frame) => self.send_close(frame),
        }
    }

    /// Queues one piece of a data message; the piece with `fin` set ends it.
    ///
    /// Pieces are sent as frames as they come, so a message larger than memory can be sent.
    /// The pieces of a text message may split a code point but must together be UTF-8; each
    /// piece is checked before it is queued.
    ///
    /// ```
    /// # fn drain(conn: &mut weft_codec::Connection) -> bytes::BytesMut {
    /// #     use bytes::Buf;
    /// #     let mut wire = bytes::BytesMut::new();
    /// #     while let Some(out) = conn.poll_transmit() {
    /// #         wire.extend_from_slice(out.chunk());
    /// #         let n = out.chunk().len();
    /// #         out.advance(n);
    /// #     }
    /// #     wire
    /// # }
    /// use weft_codec::{Connection, DataKind, Event, Fragment, Message, Role};
    /// let mut client = Connection::new(Role::Client);
    /// let mut server = Connection::new(Role::Server);
    /// client.send_fragment(Fragment::new(DataKind::Text, "Hello, ", false))?;
    /// client.send_fragment(Fragment::new(DataKind::Text, "world", true))?;
    /// server.handle_bytes(&mut drain(&mut client));
    /// assert_eq!(server.poll_event()?, Some(Event::Message(Message::text("Hello, world"))));
    /// # Ok::<(), weft_codec::Error>(())
    /// ```
    pub fn send_fragment(&mut self, fragment: Fragment) -> Result<(), Error> {
        self.check_can_send()?;
        let Fragment { kind, data, fin } = fragment;
        let (first, rsv) = match self.writer.fragmented {
            None => {
                let opcode = data_opcode(kind);
                let rsv = match &mut self.extension {
                    Some(ext) => ext.encode_begin(opcode, None),
                    None => Rsv::NONE,
                };
                (true, rsv)
            }
            Some((expected, _)) if expected != kind => {
                return Err(Error::FragmentKindMismatch {
                    expected,
                    found: kind,
                });
            }
            Some((_, rsv)) => (false, rsv),
        };
        if kind == DataKind::Text {
            let mut check = if first {
                Utf8Validator::new()
            } else {
                self.writer.text_check.clone()
            };
            check.feed(&data).map_err(|_| Error::TextNotUtf8)?;
            if fin {
                check.finish().map_err(|_| Error::TextNotUtf8)?;
            }
            self.writer.text_check = check;
        }
        let payload = self.encode_with_extension(rsv, data, fin)?;
        let opcode = if first {
            data_opcode(kind)
        } else {
            OpCode::Continuation
        };
        let frame_rsv = if first { rsv } else { Rsv::NONE };
        self.push_frame(opcode, fin, frame_rsv, &payload);
        self.writer.fragmented = if fin { None } else { Some((kind, rsv)) };
        Ok(())
    }

    /// Starts the closing handshake with `code` and `reason` (at most 123 bytes).
    ///
    /// Calling it again, or after the peer's close frame was answered, does nothing. Data may
    /// still arrive until the peer answers; [`poll_event`](Self::poll_event) then hands out
    /// its close frame.
    ///
    /// ```
    /// # fn drain(conn: &mut weft_codec::Connection) -> bytes::BytesMut {
    /// #     use bytes::Buf;
    /// #     let mut wire = bytes::BytesMut::new();
    /// #     while let Some(out) = conn.poll_transmit() {
    /// #         wire.extend_from_slice(out.chunk());
    /// #         let n = out.chunk().len();
    /// #         out.advance(n);
    /// #     }
    /// #     wire
    /// # }
    /// use weft_codec::{CloseCode, CloseFrame, Connection, Event, Message, Role, State};
    /// let mut client = Connection::new(Role::Client);
    /// let mut server = Connection::new(Role::Server);
    /// client.close(CloseCode::NORMAL, "done")?;
    /// assert_eq!(client.state(), State::Closing);
    /// server.handle_bytes(&mut drain(&mut client));
    /// let close = Message::Close(Some(CloseFrame::new(CloseCode::NORMAL, "done")));
    /// assert_eq!(server.poll_event()?, Some(Event::Message(close)));
    /// // The server answered; once its answer is written, it closes the transport.
    /// client.handle_bytes(&mut drain(&mut server));
    /// assert!(server.is_finished());
    /// # Ok::<(), weft_codec::Error>(())
    /// ```
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.send_close(Some(CloseFrame::new(code, reason)))
    }

    /// Sets [`Config::receive_fragments`] from the next message on.
    ///
    /// ```
    /// use weft_codec::{Connection, DataKind, Event, Role};
    /// let mut server = Connection::new(Role::Server);
    /// server.set_receive_fragments(true);
    /// // The first 2 bytes of a masked 4-byte binary frame:
    /// server.read_buf(64).extend_from_slice(&[0x82, 0x84, 0, 0, 0, 0, 1, 2]);
    /// server.handle_read(8);
    /// match server.poll_event()? {
    ///     Some(Event::Fragment(piece)) => {
    ///         assert_eq!((piece.kind, piece.fin), (DataKind::Binary, false));
    ///         assert_eq!(&piece.data[..], [1, 2]);
    ///     }
    ///     other => panic!("{other:?}"),
    /// }
    /// # Ok::<(), weft_codec::Error>(())
    /// ```
    pub fn set_receive_fragments(&mut self, on: bool) {
        // Called before every read of the async shell: copy the configuration only on a change.
        if self.config.get_receive_fragments() != on {
            self.config = self.config.clone().receive_fragments(on);
        }
    }

    // ---------------------------------------------------------------------------------------
    // Output

    /// Decodes the next event from the input.
    ///
    /// `Ok(None)` means more input is needed (or nothing more will be read: see
    /// [`is_finished`](Self::is_finished)). A peer's protocol violation is returned once as
    /// [`Error::Protocol`], after a close frame with its close code was queued.
    ///
    /// ```
    /// use weft_codec::{CloseCode, Connection, Error, Role};
    /// let mut server = Connection::new(Role::Server);
    /// // An unmasked frame from a client breaks the protocol (RFC 6455 §5.1):
    /// server.read_buf(64).extend_from_slice(&[0x81, 0x02, b'H', b'i']);
    /// server.handle_read(4);
    /// match server.poll_event() {
    ///     Err(err @ Error::Protocol(_)) => {
    ///         assert_eq!(err.close_code(), Some(CloseCode::PROTOCOL_ERROR));
    ///     }
    ///     other => panic!("{other:?}"),
    /// }
    /// assert!(server.buffered_amount() > 0); // the close frame with 1002, queued
    /// ```
    #[inline]
    pub fn poll_event(&mut self) -> Result<Option<Event>, Error> {
        // The usual answer between messages, without entering the decoder: an async shell asks
        // after every read and every wake-up, and most of the time nothing is buffered. (Only
        // when nothing at all is: a first byte alone can already be refused.)
        if self.pending_error.is_none()
            && self.reader.frame.is_none()
            && !(self.closing.received || self.closing.eof || self.closing.done)
        {
            if self.reader.buf.is_empty() {
                self.note_empty_buffer();
                return Ok(None);
            }
            if let Some(message) = self.decode_whole_message() {
                self.note_empty_buffer();
                return Ok(Some(Event::Message(message)));
            }
        }
        self.decode_event()
    }

    /// The usual message, decoded without the general decoder's frame and message state: one
    /// unfragmented, uncompressed text or binary frame, all of it in the buffer, within the
    /// limits, with no message under way. (A large frame rarely arrives in one read: it is
    /// usually under way in the general decoder, unmasked as it lands, by the time it is whole.) Anything else, including every error, returns
    /// `None` with the input untouched, and [`decode_event`](Self::decode_event) decides.
    ///
    /// It gives the same result as the general path (the `whole_and_byte_by_byte_input_decode_
    /// alike` property checks this); it exists because an async shell decodes one small
    /// message per read, and the general path's frame and message state costs more than the
    /// message itself.
    #[inline]
    fn decode_whole_message(&mut self) -> Option<Message> {
        if self.reader.message.is_some()
            || self.closing.failed
            || self.config.get_receive_fragments()
        {
            return None;
        }
        let buf = &mut self.reader.buf;
        // A header `decode` refuses is the general path's to report.
        let (header, header_len) = FrameHeader::decode(buf).ok()??;
        let kind = match header.opcode {
            OpCode::Text => DataKind::Text,
            OpCode::Binary => DataKind::Binary,
            _ => return None,
        };
        let len = usize::try_from(header.payload_len).ok()?;
        if !header.fin
            || !header.rsv.is_empty()
            || header.mask.is_some() != (self.role == Role::Server)
            || len > self.limits.get_max_frame_size()
            || len > self.limits.get_max_message_size()
        {
            return None;
        }
        let payload = buf.get_mut(header_len..header_len + len)?;
        if let Some(key) = header.mask {
            apply_mask(payload, key, 0);
        }
        if kind == DataKind::Text && !is_utf8(payload) {
            // Put the input back as it came: the general path reports the error.
            if let Some(key) = header.mask {
                apply_mask(payload, key, 0);
            }
            return None;
        }
        buf.advance(header_len);
        let data = buf.split_to(len).freeze();
        Some(match kind {
            DataKind::Text => Message::Text(Utf8Bytes::from_validated(data)),
            DataKind::Binary => Message::Binary(data),
        })
    }

    /// [`poll_event`](Self::poll_event) once something may be there to decode.
    fn decode_event(&mut self) -> Result<Option<Event>, Error> {
        let result = self.decode_event_or_error();
        if let (Err(err), Some(observer)) = (&result, &mut self.observer) {
            observer.error(err);
        }
        result
    }

    fn decode_event_or_error(&mut self) -> Result<Option<Event>, Error> {
        if let Some(err) = self.pending_error.take() {
            return Err(err);
        }
        while !self.closing.done && !self.closing.received {
            match self.read_step() {
                Ok(Step::Event(event)) => {
                    self.note_empty_buffer();
                    return Ok(Some(event));
                }
                Ok(Step::Continue) => {}
                Ok(Step::NeedMore) => break,
                Err(_) if self.closing.failed => {
                    // Garbage after we failed the connection: stop reading at once.
                    self.closing.done = true;
                }
                Err(err) => {
                    self.fail(err.close_code(), err.close_reason());
                    if self.reader.unskippable {
                        self.closing.done = true;
                    }
                    return Err(Error::Protocol(err));
                }
            }
        }
        if self.closing.received {
            self.reader.buf.clear();
            self.reader.frame = None;
            self.reader.message = None;
        }
        self.note_empty_buffer();
        if self.closing.eof && !self.closing.done {
            self.closing.done = true;
            if !self.closing.received && !self.closing.failed {
                return Err(Error::AbnormalClosure);
            }
        }
        Ok(None)
    }

    /// The queued output, or `None` when there is nothing to write.
    ///
    /// Write from it (with [`Buf::chunks_vectored`] for one system call per batch) and
    /// [`advance`](Buf::advance) it by what was written.
    ///
    /// ```
    /// use bytes::Buf;
    /// use weft_codec::{Connection, Message, Role};
    /// let mut server = Connection::new(Role::Server);
    /// server.send(Message::text("Hi"))?;
    /// let mut socket = Vec::new(); // stands for the transport
    /// while let Some(out) = server.poll_transmit() {
    ///     let n = out.chunk().len(); // a real write may take less
    ///     socket.extend_from_slice(out.chunk());
    ///     out.advance(n);
    /// }
    /// assert_eq!(socket, [0x81, 0x02, b'H', b'i']);
    /// # Ok::<(), weft_codec::Error>(())
    /// ```
    #[inline]
    pub fn poll_transmit(&mut self) -> Option<&mut Transmit> {
        if self.closing.aborted {
            return None;
        }
        if self.writer.owed_pong.is_some() {
            self.queue_owed_pong();
        }
        if self.writer.out.is_empty() {
            None
        } else {
            Some(&mut self.writer.out)
        }
    }

    /// Queues the pong owed for the last ping, unless the one before it is still queued.
    fn queue_owed_pong(&mut self) {
        let Some(payload) = self.writer.owed_pong.take() else {
            return;
        };
        if self.closing.sent {
            // No pong after our close frame; the peer expects nothing more.
        } else if self.writer.out.written_total() >= self.writer.queued_pong_end {
            self.push_control(OpCode::Pong, &payload);
            self.writer.queued_pong_end = self.writer.out.queued_total();
        } else {
            // The previous pong is still queued: keep only the latest payload.
            self.writer.owed_pong = Some(payload);
        }
    }

    /// The deadline at which [`handle_timeout`](Self::handle_timeout) must be called, if any.
    ///
    /// Timers started since the last call count from `now`, and keepalive treats input
    /// received since the last call as received at `now`; call this after each round of
    /// input and commands.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use weft_codec::{Config, Connection, Role};
    /// let config = Config::default().ping_interval(Some(Duration::from_secs(30)));
    /// let mut server = Connection::new(Role::Server).with_config(config);
    /// let now = Instant::now();
    /// // Keepalive: a ping is due after 30 s without input.
    /// assert_eq!(server.poll_timeout(now), Some(now + Duration::from_secs(30)));
    /// ```
    pub fn poll_timeout(&mut self, now: Instant) -> Option<Instant> {
        self.anchor_timers(now);
        let timers = &self.timers;
        // Called at every wait: a plain loop over references. An iterator chain of `filter_map`
        // and `min` cost about 90 more instructions per wait, a loop over copies about 30
        // (callgrind, 20 B echoes).
        let mut earliest = None;
        for timer in [
            &timers.close,
            &timers.idle,
            &timers.pong_deadline,
            &timers.shrink,
            &timers.extension_release,
        ] {
            if let Some(at) = timer.deadline()
                && earliest.is_none_or(|e| at < e)
            {
                earliest = Some(at);
            }
        }
        earliest
    }

    // ---------------------------------------------------------------------------------------
    // Getters

    /// This end's role.
    ///
    /// ```
    /// use weft_codec::{Connection, Role};
    /// assert_eq!(Connection::new(Role::Server).role(), Role::Server);
    /// ```
    pub fn role(&self) -> Role {
        self.role
    }

    /// The limits in force.
    ///
    /// ```
    /// use weft_codec::{Connection, Role};
    /// assert_eq!(Connection::new(Role::Server).limits().get_max_message_size(), 64 << 20);
    /// ```
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The configuration in force.
    ///
    /// ```
    /// use weft_codec::{Connection, Role};
    /// assert!(Connection::new(Role::Client).config().get_auto_pong());
    /// ```
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Where the connection is in its life.
    ///
    /// ```
    /// use weft_codec::{CloseCode, Connection, Role, State};
    /// let mut client = Connection::new(Role::Client);
    /// assert_eq!(client.state(), State::Open);
    /// client.close(CloseCode::NORMAL, "")?;
    /// assert_eq!(client.state(), State::Closing);
    /// # Ok::<(), weft_codec::Error>(())
    /// ```
    pub fn state(&self) -> State {
        if self.is_finished() {
            State::Closed
        } else if self.closing.sent || self.closing.received || self.closing.failed {
            State::Closing
        } else {
            State::Open
        }
    }

    /// Whether nothing more will be read: once [`poll_transmit`](Self::poll_transmit) is
    /// drained, the transport should be closed.
    ///
    /// ```
    /// use weft_codec::{Connection, Role};
    /// let mut server = Connection::new(Role::Server);
    /// assert!(!server.is_finished());
    /// server.handle_eof();
    /// let _ = server.poll_event(); // reports the abnormal closure
    /// assert!(server.is_finished());
    /// ```
    pub fn is_finished(&self) -> bool {
        self.closing.done
            || (self.closing.sent
                && self.closing.received
                && (self.role == Role::Server || !self.config.get_wait_for_server_close()))
    }

    /// Whether the closing handshake timed out: nothing more is transmitted, and the transport
    /// should be dropped without waiting for it (a peer that stopped reading must not keep the
    /// connection alive).
    ///
    /// ```
    /// use weft_codec::{Connection, Role};
    /// // Only a closing handshake that timed out aborts (see `handle_timeout`).
    /// assert!(!Connection::new(Role::Client).is_aborted());
    /// ```
    pub fn is_aborted(&self) -> bool {
        self.closing.aborted
    }

    /// Whether the transport should still be read.
    ///
    /// ```
    /// use weft_codec::{Connection, Role};
    /// let mut client = Connection::new(Role::Client);
    /// assert!(client.wants_read());
    /// client.handle_eof();
    /// assert!(!client.wants_read());
    /// ```
    pub fn wants_read(&self) -> bool {
        !self.is_finished() && !self.closing.eof
    }

    /// Whether data messages may still be sent (no close frame sent yet).
    ///
    /// ```
    /// use weft_codec::{CloseCode, Connection, Error, Message, Role};
    /// let mut client = Connection::new(Role::Client);
    /// client.close(CloseCode::NORMAL, "")?;
    /// assert!(!client.can_send());
    /// assert!(matches!(client.send(Message::text("late")), Err(Error::SendAfterClose)));
    /// # Ok::<(), weft_codec::Error>(())
    /// ```
    pub fn can_send(&self) -> bool {
        !self.closing.sent && !self.closing.done
    }

    /// Bytes queued for the transport.
    ///
    /// ```
    /// use weft_codec::{Connection, Message, Role};
    /// let mut server = Connection::new(Role::Server);
    /// server.send(Message::binary(vec![0; 1000]))?;
    /// assert_eq!(server.buffered_amount(), 4 + 1000); // a 4-byte header, then the payload
    /// # Ok::<(), weft_codec::Error>(())
    /// ```
    pub fn buffered_amount(&self) -> usize {
        self.writer.out.len()
    }

    /// Bytes of input held: undecoded input and the message being assembled.
    ///
    /// ```
    /// use weft_codec::{Connection, Role};
    /// let mut server = Connection::new(Role::Server);
    /// // The first 3 bytes of a frame: held until the rest arrives.
    /// server.read_buf(64).extend_from_slice(&[0x82, 0x85, 0]);
    /// server.handle_read(3);
    /// assert_eq!(server.poll_event()?, None);
    /// assert_eq!(server.buffered_input(), 3);
    /// # Ok::<(), weft_codec::Error>(())
    /// ```
    pub fn buffered_input(&self) -> usize {
        self.reader.buf.len() + self.reader.message.as_ref().map_or(0, |m| m.data.len())
    }

    /// The close frame the peer sent, once it arrived: `Some(None)` for a close frame without
    /// a status code, `None` before (or when it was invalid).
    ///
    /// ```
    /// use weft_codec::{CloseCode, Connection, Role};
    /// let mut client = Connection::new(Role::Client);
    /// assert_eq!(client.peer_close_frame(), None);
    /// // The server's close frame: 1001, "restart".
    /// client.read_buf(64).extend_from_slice(b"\x88\x09\x03\xe9restart");
    /// client.handle_read(11);
    /// client.poll_event()?;
    /// let frame = client.peer_close_frame().flatten().expect("a close frame with a code");
    /// assert_eq!((frame.code(), frame.reason()), (CloseCode::GOING_AWAY, "restart"));
    /// # Ok::<(), weft_codec::Error>(())
    /// ```
    pub fn peer_close_frame(&self) -> Option<Option<&CloseFrame>> {
        self.closing.peer_frame.as_ref().map(Option::as_ref)
    }

    /// The status code of the closing handshake: the code of the first close frame, whoever
    /// sent it (the peer's, or ours: a close by command, or the code of a violation), and
    /// [`CloseCode::NO_STATUS`] (1005) for a close frame without one. `None` while no close
    /// frame has been sent or received; a connection that ends so closed abnormally (1006).
    ///
    /// ```
    /// use weft_codec::{CloseCode, Connection, Role};
    /// let mut conn = Connection::new(Role::Client);
    /// assert_eq!(conn.close_code(), None);
    /// conn.close(CloseCode::GOING_AWAY, "").unwrap();
    /// assert_eq!(conn.close_code(), Some(CloseCode::GOING_AWAY));
    /// ```
    pub fn close_code(&self) -> Option<CloseCode> {
        self.closing.first_code
    }

    /// Whether an extension (such as permessage-deflate) was negotiated and installed.
    ///
    /// ```
    /// use weft_codec::{Connection, Role};
    /// assert!(!Connection::new(Role::Server).has_extension());
    /// ```
    pub fn has_extension(&self) -> bool {
        self.extension.is_some()
    }

    /// The round-trip time measured by the last answered keepalive ping.
    ///
    /// ```
    /// use weft_codec::{Connection, Role};
    /// // Known once a keepalive ping (`Config::ping_interval`) has been answered.
    /// assert_eq!(Connection::new(Role::Client).rtt(), None);
    /// ```
    pub fn rtt(&self) -> Option<Duration> {
        self.timers.rtt
    }

    // ---------------------------------------------------------------------------------------
    // Decoding

    fn read_step(&mut self) -> Result<Step, ProtocolError> {
        let mut frame = match self.reader.frame.take() {
            Some(frame) => frame,
            None => match self.begin_frame()? {
                Some(frame) => frame,
                None => return Ok(Step::NeedMore),
            },
        };
        let result = if frame.discard {
            Ok(self.skip_payload(&mut frame))
        } else if frame.header.opcode.is_control() {
            self.read_control(&frame)
        } else {
            self.read_data(&mut frame)
        };
        match result {
            Ok((step, done)) => {
                if !done {
                    self.reader.frame = Some(frame);
                }
                Ok(step)
            }
            Err(err) => {
                // The rest of a refused data frame is skipped, so that the peer's close frame
                // can be found after it. (A control frame's payload is already consumed.)
                if frame.header.opcode.is_data() {
                    self.reader.buf.advance(frame.held);
                    frame.held = 0;
                    frame.discard = true;
                    if frame.remaining > 0 {
                        self.reader.frame = Some(frame);
                    }
                }
                Err(err)
            }
        }
    }

    /// Once the input buffer is empty, it is kept for the next message: when the message just
    /// handed out is dropped, the next reservation reuses the same allocation (no allocation, no
    /// page faults). A buffer grown past `read_buffer_size` is released after [`SHRINK_DELAY`]
    /// without input, so that a burst does not pin memory on a quiet connection.
    fn note_empty_buffer(&mut self) {
        if self.reader.buf.is_empty()
            && self.reader.peak > self.config.get_read_buffer_size()
            && self.timers.shrink == Timer::Off
        {
            self.timers.shrink = Timer::Armed(SHRINK_DELAY);
        }
    }

    /// Decodes and checks the next frame header, updating the message state it implies.
    fn begin_frame(&mut self) -> Result<Option<InFrame>, ProtocolError> {
        let Some((header, used)) = FrameHeader::decode(&self.reader.buf)? else {
            return Ok(None);
        };
        self.reader.buf.advance(used);
        let mut frame = InFrame {
            header,
            remaining: header.payload_len,
            offset: 0,
            held: 0,
            in_place: false,
            discard: self.closing.failed && header.opcode.is_data(),
        };
        if !frame.discard {
            match self.check_header(&header) {
                Ok(in_place) => frame.in_place = in_place,
                Err(err) => {
                    // A refused close frame is still the peer's close: it expects only our
                    // close frame, and then the end of the connection.
                    if header.opcode == OpCode::Close {
                        self.closing.received = true;
                    }
                    // Skip the refused frame's payload, so that the peer's close frame can
                    // still be found after it; a payload too large to skip ends reading.
                    if header.payload_len <= self.frame_limit(&header).1 as u64 {
                        frame.discard = true;
                        self.reader.frame = Some(frame);
                    } else {
                        self.reader.unskippable = true;
                    }
                    return Err(err);
                }
            }
        }
        Ok(Some(frame))
    }

    /// Applies every rule a header can break in this connection's state; returns whether the
    /// frame is a whole uncompressed message to be handed out in place.
    fn check_header(&mut self, header: &FrameHeader) -> Result<bool, ProtocolError> {
        let opcode = header.opcode;
        if !header.rsv.is_empty() {
            let allowed = match opcode {
                OpCode::Text | OpCode::Binary => self.claimed_rsv,
                _ => Rsv::NONE,
            };
            let unexpected = header.rsv.without(allowed);
            if !unexpected.is_empty() {
                return Err(ProtocolError::ReservedBits {
                    rsv: unexpected,
                    opcode,
                });
            }
        }
        match (self.role, header.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        if opcode.is_control() {
            if !header.fin {
                return Err(ProtocolError::FragmentedControlFrame(opcode));
            }
            if header.payload_len > 125 {
                return Err(ProtocolError::ControlFrameTooLong(header.payload_len));
            }
            return Ok(false);
        }
        let (limit, on_the_wire) = self.frame_limit(header);
        if header.payload_len > on_the_wire as u64 {
            if !self.limits.has_frame_limit() {
                // The limit in force is the message limit, which is what the user set (or
                // left at its default): name it, not a frame limit nobody chose.
                let before = self.reader.message.as_ref().map_or(0, |m| m.size);
                return Err(ProtocolError::MessageTooLarge {
                    size: before + header.payload_len,
                    limit,
                });
            }
            return Err(ProtocolError::FrameTooLarge {
                size: header.payload_len,
                limit,
            });
        }
        let message = match (opcode, &mut self.reader.message) {
            (OpCode::Continuation, None) => return Err(ProtocolError::UnexpectedContinuation),
            (OpCode::Continuation, Some(message)) => {
                message.fragments += 1;
                let limit = self.limits.get_max_fragments();
                if message.fragments > limit {
                    return Err(ProtocolError::TooManyFragments { limit });
                }
                message
            }
            (_, Some(_)) => return Err(ProtocolError::ExpectedContinuation(opcode)),
            (_, None) => {
                let kind = if opcode == OpCode::Text {
                    DataKind::Text
                } else {
                    DataKind::Binary
                };
                self.reader.message.insert(InMessage {
                    kind,
                    compressed: !header.rsv.is_empty(),
                    streaming: self.config.get_receive_fragments(),
                    data: BytesMut::new(),
                    size: 0,
                    fragments: 1,
                })
            }
        };
        if !message.streaming && !message.compressed {
            let limit = self.limits.get_max_message_size();
            let size = message.size + header.payload_len;
            if size > limit as u64 {
                return Err(ProtocolError::MessageTooLarge { size, limit });
            }
        }
        let in_place = header.fin
            && opcode != OpCode::Continuation
            && !message.compressed
            && !message.streaming;
        Ok(in_place)
    }

    /// The frame limit for a data frame with this header: the limit in force, and the payload
    /// length it allows on the wire, which for a frame of a compressed message includes what
    /// the extension's encoding may add.
    fn frame_limit(&self, header: &FrameHeader) -> (usize, usize) {
        let limit = self.limits.get_max_frame_size();
        let compressed = match header.opcode {
            OpCode::Continuation => self.reader.message.as_ref().is_some_and(|m| m.compressed),
            _ => !header.rsv.is_empty(),
        };
        match &self.extension {
            Some(ext) if compressed => (limit, ext.max_encoded_len(limit).max(limit)),
            _ => (limit, limit),
        }
    }

    /// Drops the payload of a frame that no longer matters.
    fn skip_payload(&mut self, frame: &mut InFrame) -> (Step, bool) {
        let available = self.reader.buf.len() as u64;
        let take = frame.remaining.min(available);
        self.reader.buf.advance(to_usize(take));
        frame.remaining -= take;
        let done = frame.remaining == 0;
        (if done { Step::Continue } else { Step::NeedMore }, done)
    }

    fn read_control(&mut self, frame: &InFrame) -> Result<(Step, bool), ProtocolError> {
        // Control payloads are at most 125 bytes (checked with the header).
        let len = to_usize(frame.header.payload_len);
        if self.reader.buf.len() < len {
            return Ok((Step::NeedMore, false));
        }
        let mut payload = self.reader.buf.split_to(len);
        if let Some(key) = frame.header.mask {
            apply_mask(&mut payload, key, 0);
        }
        let payload = payload.freeze();
        let step = match frame.header.opcode {
            OpCode::Ping if self.closing.failed => Step::Continue,
            OpCode::Ping => {
                if self.config.get_auto_pong() && !self.closing.sent {
                    self.writer.owed_pong = Some(payload.clone());
                }
                Step::Event(Event::Message(Message::Ping(payload)))
            }
            OpCode::Pong => {
                if let Some((id, _)) = self.timers.ping
                    && payload[..] == id.to_be_bytes()[..]
                {
                    self.timers.pong_arrived = true;
                    self.timers.pong_deadline = Timer::Off;
                }
                if self.closing.failed {
                    Step::Continue
                } else {
                    Step::Event(Event::Message(Message::Pong(payload)))
                }
            }
            _ => {
                // The peer has closed even if its close frame is invalid: it expects nothing
                // more than our close frame (with the error's code) before TCP closes.
                self.closing.received = true;
                let close = CloseFrame::parse(payload)?;
                self.closing.first_code.get_or_insert(
                    close
                        .as_ref()
                        .map_or(CloseCode::NO_STATUS, CloseFrame::code),
                );
                self.closing.peer_frame = Some(close.clone());
                if !self.closing.sent {
                    // Echo the code, as RFC 6455 §5.5.1 suggests; an empty close gets an empty
                    // answer.
                    let answer = close.as_ref().map(|c| CloseFrame::new(c.code(), ""));
                    self.queue_close(answer.as_ref());
                }
                if self.closing.failed {
                    Step::Continue
                } else {
                    Step::Event(Event::Message(Message::Close(close)))
                }
            }
        };
        Ok((step, true))
    }

    fn read_data(&mut self, frame: &mut InFrame) -> Result<(Step, bool), ProtocolError> {
        let reader = &mut self.reader;
        let available = reader.buf.len() - frame.held;
        // Bounded by `available`, so it fits in usize.
        let take = to_usize(frame.remaining.min(available as u64));
        if take == 0 && frame.remaining > 0 {
            return Ok((Step::NeedMore, false));
        }
        let Some(message) = reader.message.as_mut() else {
            // `check_header` starts a message for every data frame it accepts.
            return Err(ProtocolError::UnexpectedContinuation);
        };
        let frame_done = frame.remaining == take as u64;
        let message_done = frame_done && frame.header.fin;
        let is_text = message.kind == DataKind::Text;
        let mask_offset = to_usize(frame.offset % 4);
        frame.offset += take as u64;
        frame.remaining -= take as u64;

        let mut piece = None;
        if frame.in_place {
            // The payload stays at the front of the buffer until the frame is complete.
            let start = frame.held;
            frame.held += take;
            let chunk = &mut reader.buf[start..start + take];
            if let Some(key) = frame.header.mask {
                apply_mask(chunk, key, mask_offset);
            }
            if is_text {
                reader
                    .utf8
                    .feed(chunk)
                    .map_err(|_| ProtocolError::InvalidUtf8)?;
            }
            message.size += take as u64;
            if frame_done {
                piece = Some(reader.buf.split_to(frame.held).freeze());
                frame.held = 0;
            }
        } else {
            // The chunk leaves the buffer before anything can fail.
            let mut chunk = reader.buf.split_to(take);
            if let Some(key) = frame.header.mask {
                apply_mask(&mut chunk, key, mask_offset);
            }
            if message.compressed {
                let limit = self.limits.get_max_message_size();
                let budget = if message.streaming {
                    limit
                } else {
                    limit.saturating_sub(message.data.len())
                };
                let before = message.data.len();
                let Some(ext) = self.extension.as_mut() else {
                    return Err(ProtocolError::ReservedBits {
                        rsv: Rsv::RSV1,
                        opcode: OpCode::Text,
                    });
                };
                ext.decode(&chunk, message_done, &mut message.data, budget)
                    .map_err(|err| {
                        match err {
                            // The extension knows only the budget left; the user set the limit.
                            ExtensionError::OutputTooLarge { .. } => {
                                ProtocolError::InflatedTooLarge { limit }
                            }
                            other => ProtocolError::Extension(other),
                        }
                    })?;
                self.timers
                    .note_extension_use(self.config.get_extension_release_after());
                if is_text {
                    reader
                        .utf8
                        .feed(&message.data[before..])
                        .map_err(|_| ProtocolError::InvalidUtf8)?;
                }
                message.size += (message.data.len() - before) as u64;
                if message.streaming && (!message.data.is_empty() || message_done) {
                    piece = Some(message.data.split().freeze());
                }
            } else {
                if is_text {
                    reader
                        .utf8
                        .feed(&chunk)
                        .map_err(|_| ProtocolError::InvalidUtf8)?;
                }
                message.size += take as u64;
                if message.streaming {
                    if take > 0 || message_done {
                        piece = Some(chunk.freeze());
                    }
                } else {
                    message.data.extend_from_slice(&chunk);
                }
            }
        }
        if message_done && is_text {
            reader
                .utf8
                .finish()
                .map_err(|_| ProtocolError::InvalidUtf8)?;
        }

        let kind = message.kind;
        let step = if message.streaming {
            match piece {
                Some(data) => Step::Event(Event::Fragment(Fragment {
                    kind,
                    data,
                    fin: message_done,
                })),
                None => Step::Continue,
            }
        } else if message_done {
            let data = match piece {
                Some(data) => data,
                None => message.data.split().freeze(),
            };
            Step::Event(Event::Message(match kind {
                DataKind::Text => Message::Text(Utf8Bytes::from_validated(data)),
                DataKind::Binary => Message::Binary(data),
            }))
        } else if frame_done {
            Step::Continue
        } else {
            Step::NeedMore
        };
        if message_done {
            reader.message = None;
        }
        Ok((step, frame_done))
    }

    // ---------------------------------------------------------------------------------------
    // Encoding

    fn check_can_send(&self) -> Result<(), Error> {
        if !self.can_send() {
            return Err(Error::SendAfterClose);
        }
        let limit = self.limits.get_max_write_buffer();
        let buffered = self.writer.out.len();
        if buffered >= limit {
            return Err(Error::WriteBufferFull { buffered, limit });
        }
        Ok(())
    }

    fn send_data(&mut self, kind: DataKind, data: Bytes, transform: bool) -> Result<(), Error> {
        self.check_can_send()?;
        if self.writer.fragmented.is_some() {
            return Err(Error::FragmentInProgress);
        }
        let opcode = data_opcode(kind);
        let rsv = match &mut self.extension {
            Some(ext) if transform => ext.encode_begin(opcode, Some(data.len())),
            _ => Rsv::NONE,
        };
        let payload = self.encode_with_extension(rsv, data, true)?;
        self.push_data_frames(opcode, rsv, &payload);
        Ok(())
    }

    /// Queues the frames of one data message: one frame, or frames of
    /// [`Config::fragment_size`] with `rsv` on the first.
    fn push_data_frames(&mut self, opcode: OpCode, rsv: Rsv, payload: &Bytes) {
        match self.config.get_fragment_size() {
            Some(size) if payload.len() > size => {
                let mut offset = 0;
                while offset < payload.len() {
                    let end = (offset + size).min(payload.len());
                    let first = offset == 0;
                    self.push_frame(
                        if first { opcode } else { OpCode::Continuation },
                        end == payload.len(),
                        if first { rsv } else { Rsv::NONE },
                        &payload.slice(offset..end),
                    );
                    offset = end;
                }
            }
            _ => self.push_frame(opcode, true, rsv, payload),
        }
    }

    /// The payload to send for `data`: encoded by the extension when `rsv` says so, otherwise
    /// `data` itself (no copy of the handle, no reference count to touch).
    fn encode_with_extension(&mut self, rsv: Rsv, data: Bytes, fin: bool) -> Result<Bytes, Error> {
        match &mut self.extension {
            Some(ext) if !rsv.is_empty() => {
                let mut out = BytesMut::with_capacity(data.len() / 2 + 64);
                ext.encode(&data, fin, &mut out).map_err(Error::Extension)?;
                self.timers
                    .note_extension_use(self.config.get_extension_release_after());
                Ok(out.freeze())
            }
            _ => Ok(data),
        }
    }

    fn send_control(&mut self, opcode: OpCode, payload: Bytes) -> Result<(), Error> {
        if payload.len() > 125 {
            return Err(Error::ControlPayloadTooLong(payload.len()));
        }
        self.check_can_send()?;
        self.push_control(opcode, &payload);
        Ok(())
    }

    fn send_close(&mut self, frame: Option<CloseFrame>) -> Result<(), Error> {
        if let Some(frame) = &frame {
            frame.validate_outgoing()?;
        }
        if !self.closing.sent && !self.closing.done {
            self.queue_close(frame.as_ref());
        }
        Ok(())
    }

    /// Queues our close frame and starts the closing handshake timer.
    fn queue_close(&mut self, frame: Option<&CloseFrame>) {
        self.closing
            .first_code
            .get_or_insert(frame.map_or(CloseCode::NO_STATUS, CloseFrame::code));
        let payload = frame.map(CloseFrame::encode).unwrap_or_default();
        self.push_control(OpCode::Close, &payload);
        self.closing.sent = true;
        self.writer.owed_pong = None;
        self.timers.close = Timer::Armed(self.config.get_close_timeout());
        self.timers.idle = Timer::Off;
        self.timers.pong_deadline = Timer::Off;
    }

    /// Fails the connection (RFC 6455 §7.1.7): sends a close frame with `code` unless one was
    /// sent, and from now on discards data while waiting for the peer's close frame.
    fn fail(&mut self, code: CloseCode, reason: &str) {
        self.closing.failed = true;
        self.reader.message = None;
        self.reader.utf8.reset();
        // A data frame under way is skipped to its end, so the next header is found.
        if let Some(frame) = &mut self.reader.frame {
            self.reader.buf.advance(frame.held);
            frame.held = 0;
            frame.in_place = false;
            frame.discard = true;
        }
        if !self.closing.sent {
            self.queue_close(Some(&CloseFrame::new(code, reason)));
        }
    }

    fn push_control(&mut self, opcode: OpCode, payload: &Bytes) {
        self.push_frame(opcode, true, Rsv::NONE, payload);
    }

    fn push_frame(&mut self, opcode: OpCode, fin: bool, rsv: Rsv, payload: &Bytes) {
        let mask = match self.role {
            // RFC 6455 §5.3: a fresh, unpredictable key per frame.
            Role::Client => Some(rand::rng().next_u32().to_ne_bytes()),
            Role::Server => None,
        };
        let header = FrameHeader {
            fin,
            rsv,
            opcode,
            mask,
            payload_len: payload.len() as u64,
        };
        self.writer.out.push_frame(&header, payload);
    }

    // ---------------------------------------------------------------------------------------
    // Timers

    fn anchor_timers(&mut self, now: Instant) {
        self.timers.close.anchor(now);
        self.timers.shrink.anchor(now);
        self.timers.extension_release.anchor(now);
        self.timers.pong_deadline.anchor(now);
        if self.timers.pong_arrived {
            self.timers.pong_arrived = false;
            if let Some((_, sent)) = self.timers.ping.take() {
                self.timers.rtt = Some(now.saturating_duration_since(sent));
            }
        }
        if let Some(interval) = self.config.get_ping_interval() {
            let idle = self.closing.sent || self.closing.done;
            if !idle && (self.reader.activity || self.timers.idle == Timer::Off) {
                self.timers.idle = Timer::At(now + interval);
            }
        }
        self.reader.activity = false;
        self.timers.idle.anchor(now);
    }

    fn reset_keepalive(&mut self) {
        self.timers.idle = Timer::Off;
        self.timers.ping = None;
        self.timers.pong_deadline = Timer::Off;
    }
}

/// Narrows a length that is bounded by something in memory (or saturates).
fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests;
