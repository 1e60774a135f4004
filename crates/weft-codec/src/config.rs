//! [`Limits`] (safety: what a peer may make us hold) and [`Config`] (behaviour and tuning).

use std::time::Duration;

/// What a peer may make a connection hold. Every limit has a safe default.
///
/// Each violation closes the connection with the close code the RFC asks for, before the
/// oversized data is buffered: a frame or message over its limit is refused from its header.
///
/// | limit | default | close code |
/// | --- | --- | --- |
/// | [`max_message_size`](Self::max_message_size) (also caps inflated size) | 64 MiB | 1009 |
/// | [`max_frame_size`](Self::max_frame_size) | none of its own: the message limit | 1009 |
/// | [`max_fragments`](Self::max_fragments) per message | 70,000 | 1009 |
/// | [`max_write_buffer`](Self::max_write_buffer) | 64 MiB | — (a send error) |
///
/// The defaults accept what Autobahn|Testsuite sends (16 MiB messages; 4 MiB in 64-byte
/// fragments, which is 65,536 frames plus an empty final one) and refuse what no honest peer
/// sends.
///
/// Sizes count message data, not its encoding: a message within `max_message_size` is
/// accepted however the peer frames it and whatever permessage-deflate does to its size on the
/// wire (random data grows slightly when compressed). To size the limit, take the largest
/// message your application exchanges; each connection buffers at most that much (plus one
/// read) for a message that arrives fragmented or compressed.
///
/// ```
/// use weft_codec::Limits;
/// let limits = Limits::default().max_message_size(1 << 20).max_frame_size(64 << 10);
/// assert_eq!(limits.get_max_message_size(), 1 << 20);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `None`: frames are bounded by the message limit only.
    max_frame_size: Option<usize>,
    max_message_size: usize,
    max_fragments: usize,
    max_write_buffer: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame_size: None,
            max_message_size: 64 << 20,
            max_fragments: 70_000,
            max_write_buffer: 64 << 20,
        }
    }
}

impl Limits {
    /// The largest frame payload accepted, when frames should be limited more tightly than
    /// messages (by default they are limited by [`max_message_size`](Self::max_message_size)
    /// alone, which already stops a peer from announcing a huge frame, up to 2^63 − 1 bytes,
    /// and making us buffer it).
    ///
    /// A compressed frame may be larger on the wire by what the extension's encoding can add
    /// to this much data ([`Extension::max_encoded_len`](crate::Extension::max_encoded_len)),
    /// so that data up to the limit passes however well it compresses.
    ///
    /// ```
    /// use weft_codec::Limits;
    /// assert_eq!(Limits::default().get_max_frame_size(), 64 << 20); // the message limit
    /// let limits = Limits::default().max_frame_size(1 << 20);
    /// assert_eq!(limits.get_max_frame_size(), 1 << 20);
    /// ```
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = Some(bytes);
        self
    }

    /// The largest message accepted, counted after decompression. Stops a peer from filling
    /// memory with one endless fragmented message, or with a decompression bomb.
    ///
    /// ```
    /// let limits = weft_codec::Limits::default().max_message_size(4 << 20);
    /// assert_eq!(limits.get_max_message_size(), 4 << 20);
    /// ```
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// The most frames one message may have. Stops a peer from keeping a message open forever
    /// with empty or one-byte fragments, each costing us a frame's work.
    ///
    /// ```
    /// let limits = weft_codec::Limits::default().max_fragments(1_000);
    /// assert_eq!(limits.get_max_fragments(), 1_000);
    /// ```
    pub fn max_fragments(mut self, count: usize) -> Self {
        self.max_fragments = count;
        self
    }

    /// How many bytes may wait to be written before [`Connection::send`](crate::Connection::send)
    /// refuses more. The async layer applies backpressure long before this
    /// ([`Config::write_buffer_size`]); this is the hard stop for callers that ignore it.
    ///
    /// ```
    /// let limits = weft_codec::Limits::default().max_write_buffer(8 << 20);
    /// assert_eq!(limits.get_max_write_buffer(), 8 << 20);
    /// ```
    pub fn max_write_buffer(mut self, bytes: usize) -> Self {
        self.max_write_buffer = bytes;
        self
    }

    /// The frame limit in force: the one set with [`max_frame_size`](Self::max_frame_size),
    /// or else the message limit.
    ///
    /// ```
    /// let limits = weft_codec::Limits::default().max_message_size(1 << 20);
    /// assert_eq!(limits.get_max_frame_size(), 1 << 20);
    /// ```
    pub fn get_max_frame_size(&self) -> usize {
        self.max_frame_size.unwrap_or(self.max_message_size)
    }

    /// Whether a frame limit of its own was set (else frames are bounded by the message limit,
    /// and a frame over it is reported as the message over it).
    pub(crate) fn has_frame_limit(&self) -> bool {
        self.max_frame_size.is_some()
    }

    /// See [`max_message_size`](Self::max_message_size).
    ///
    /// ```
    /// assert_eq!(weft_codec::Limits::default().get_max_message_size(), 64 << 20);
    /// ```
    pub fn get_max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// See [`max_fragments`](Self::max_fragments).
    ///
    /// ```
    /// assert_eq!(weft_codec::Limits::default().get_max_fragments(), 70_000);
    /// ```
    pub fn get_max_fragments(&self) -> usize {
        self.max_fragments
    }

    /// See [`max_write_buffer`](Self::max_write_buffer).
    ///
    /// ```
    /// assert_eq!(weft_codec::Limits::default().get_max_write_buffer(), 64 << 20);
    /// ```
    pub fn get_max_write_buffer(&self) -> usize {
        self.max_write_buffer
    }
}

/// How a connection behaves: replies, timers, fragmentation and buffering.
///
/// | option | default |
/// | --- | --- |
/// | [`auto_pong`](Self::auto_pong) | on |
/// | [`close_timeout`](Self::close_timeout) | 5 s |
/// | [`ping_interval`](Self::ping_interval) / [`ping_timeout`](Self::ping_timeout) | 30 s / 30 s |
/// | [`fragment_size`](Self::fragment_size) | none (one frame per message) |
/// | [`receive_fragments`](Self::receive_fragments) | off (whole messages) |
/// | [`write_buffer_size`](Self::write_buffer_size) | 128 KiB |
/// | [`read_buffer_size`](Self::read_buffer_size) | 8 KiB |
/// | [`wait_for_server_close`](Self::wait_for_server_close) | on |
/// | [`extension_release_after`](Self::extension_release_after) | 5 s |
///
/// ```
/// use std::time::Duration;
/// use weft_codec::Config;
/// let config = Config::default()
///     .ping_interval(Some(Duration::from_secs(30)))
///     .close_timeout(Duration::from_secs(2));
/// assert_eq!(config.get_close_timeout(), Duration::from_secs(2));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    auto_pong: bool,
    close_timeout: Duration,
    ping_interval: Option<Duration>,
    ping_timeout: Duration,
    fragment_size: Option<usize>,
    receive_fragments: bool,
    write_buffer_size: usize,
    read_buffer_size: usize,
    wait_for_server_close: bool,
    extension_release_after: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            auto_pong: true,
            close_timeout: Duration::from_secs(5),
            ping_interval: Some(Duration::from_secs(30)),
            ping_timeout: Duration::from_secs(30),
            fragment_size: None,
            receive_fragments: false,
            write_buffer_size: 128 << 10,
            read_buffer_size: 8 << 10,
            wait_for_server_close: true,
            extension_release_after: Some(Duration::from_secs(5)),
        }
    }
}

impl Config {
    /// Answer each received ping with a pong. When pings arrive faster than pongs can be
    /// written, only the latest is answered (RFC 6455 §5.5.3), so a ping flood cannot grow the
    /// write buffer.
    ///
    /// ```
    /// let config = weft_codec::Config::default().auto_pong(false);
    /// assert!(!config.get_auto_pong());
    /// ```
    pub fn auto_pong(mut self, on: bool) -> Self {
        self.auto_pong = on;
        self
    }

    /// How long to wait for the peer's part of the closing handshake (its close frame, and for
    /// a client, the server closing TCP) before dropping the connection.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = weft_codec::Config::default().close_timeout(Duration::from_secs(1));
    /// assert_eq!(config.get_close_timeout(), Duration::from_secs(1));
    /// ```
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// Send a ping after this long without receiving anything; `None` turns keepalive off.
    ///
    /// Keepalive is what notices a peer that vanished without closing (a cable pulled, a NAT
    /// entry expired): without it such a connection holds its resources forever.
    ///
    /// Traffic costs it nothing per message: the async shell keeps its deadlines on a shared
    /// timer thread, which wakes once per interval while traffic flows, and only a connection
    /// that stayed quiet for the whole interval is pinged. (A tokio timer would make the
    /// runtime arm a kernel timer on every wait for I/O; see `benches/README.md`.)
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = weft_codec::Config::default().ping_interval(None);
    /// assert_eq!(config.get_ping_interval(), None);
    /// ```
    pub fn ping_interval(mut self, interval: Option<Duration>) -> Self {
        self.ping_interval = interval;
        self
    }

    /// With [`ping_interval`](Self::ping_interval) set: close with 1011 when a keepalive ping
    /// is not answered within this time.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = weft_codec::Config::default().ping_timeout(Duration::from_secs(10));
    /// assert_eq!(config.get_ping_timeout(), Duration::from_secs(10));
    /// ```
    pub fn ping_timeout(mut self, timeout: Duration) -> Self {
        self.ping_timeout = timeout;
        self
    }

    /// Split outgoing messages into frames of at most this many payload bytes; `None` sends
    /// each message as one frame.
    ///
    /// ```
    /// let config = weft_codec::Config::default().fragment_size(Some(16 << 10));
    /// assert_eq!(config.get_fragment_size(), Some(16 << 10));
    /// ```
    pub fn fragment_size(mut self, bytes: Option<usize>) -> Self {
        self.fragment_size = bytes.map(|b| b.max(1));
        self
    }

    /// Deliver received data messages piece by piece ([`Event::Fragment`](crate::Event))
    /// as the bytes arrive, instead of whole ([`Event::Message`](crate::Event)). Takes effect
    /// from the next message; [`Limits::max_message_size`] does not apply to streamed messages.
    ///
    /// ```
    /// let config = weft_codec::Config::default().receive_fragments(true);
    /// assert!(config.get_receive_fragments());
    /// ```
    pub fn receive_fragments(mut self, on: bool) -> Self {
        self.receive_fragments = on;
        self
    }

    /// Backpressure threshold for the async layer: sending waits while more than this many
    /// bytes are queued.
    ///
    /// ```
    /// let config = weft_codec::Config::default().write_buffer_size(1 << 20);
    /// assert_eq!(config.get_write_buffer_size(), 1 << 20);
    /// ```
    pub fn write_buffer_size(mut self, bytes: usize) -> Self {
        self.write_buffer_size = bytes;
        self
    }

    /// How much the async layer reads at once when it has no better idea. Buffers grow on
    /// demand for large frames and shrink back when the connection goes quiet.
    ///
    /// ```
    /// let config = weft_codec::Config::default().read_buffer_size(64 << 10);
    /// assert_eq!(config.get_read_buffer_size(), 64 << 10);
    /// ```
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.read_buffer_size = bytes.max(64);
        self
    }

    /// See [`auto_pong`](Self::auto_pong).
    ///
    /// ```
    /// assert!(weft_codec::Config::default().get_auto_pong());
    /// ```
    pub fn get_auto_pong(&self) -> bool {
        self.auto_pong
    }

    /// Whether a client, after the closing handshake, waits for the server to close the
    /// transport before closing it too (at most [`close_timeout`](Self::close_timeout)): RFC
    /// 6455 §7.1.1 asks it to, so that TCP's `TIME_WAIT` stays on the server. A transport
    /// without `TIME_WAIT` (an HTTP/2 stream, RFC 8441) gains nothing from the wait, and a
    /// server that never ends its side would hold it for the whole timeout: `weft-client`
    /// turns it off there. Servers never wait.
    ///
    /// ```
    /// let config = weft_codec::Config::default().wait_for_server_close(false);
    /// assert!(!config.get_wait_for_server_close());
    /// ```
    pub fn wait_for_server_close(mut self, on: bool) -> Self {
        self.wait_for_server_close = on;
        self
    }

    /// See [`wait_for_server_close`](Self::wait_for_server_close).
    ///
    /// ```
    /// assert!(weft_codec::Config::default().get_wait_for_server_close());
    /// ```
    pub fn get_wait_for_server_close(&self) -> bool {
        self.wait_for_server_close
    }

    /// See [`close_timeout`](Self::close_timeout).
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(weft_codec::Config::default().get_close_timeout(), Duration::from_secs(5));
    /// ```
    pub fn get_close_timeout(&self) -> Duration {
        self.close_timeout
    }

    /// After this long without a message passing through the negotiated extension, the
    /// connection asks it to free what it can rebuild
    /// ([`Extension::release_idle_memory`](crate::Extension::release_idle_memory));
    /// `None` keeps the extension's state for the connection's life.
    ///
    /// permessage-deflate then drops its compressor (about 270 KiB at its defaults), which
    /// costs the first message after the pause its references to earlier messages, so it
    /// compresses less well, and the allocation of a new compressor. A connection that
    /// exchanges messages more often than this never notices; one that falls quiet holds
    /// only its decompressor. The timer checks once per period whether a message passed
    /// since its last check (one wake-up per period while messages flow, never an alarm reset
    /// per message), so the state goes one to two periods after the last message.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = weft_codec::Config::default().extension_release_after(None);
    /// assert_eq!(config.get_extension_release_after(), None);
    /// let config = config.extension_release_after(Some(Duration::from_secs(60)));
    /// assert_eq!(config.get_extension_release_after(), Some(Duration::from_secs(60)));
    /// ```
    pub fn extension_release_after(mut self, quiet: Option<Duration>) -> Self {
        self.extension_release_after = quiet;
        self
    }

    /// See [`extension_release_after`](Self::extension_release_after).
    ///
    /// ```
    /// use std::time::Duration;
    /// let five_s = Some(Duration::from_secs(5));
    /// assert_eq!(weft_codec::Config::default().get_extension_release_after(), five_s);
    /// ```
    pub fn get_extension_release_after(&self) -> Option<Duration> {
        self.extension_release_after
    }

    /// See [`ping_interval`](Self::ping_interval).
    ///
    /// ```
    /// use std::time::Duration;
    /// let every_30_s = Some(Duration::from_secs(30));
    /// assert_eq!(weft_codec::Config::default().get_ping_interval(), every_30_s);
    /// ```
    pub fn get_ping_interval(&self) -> Option<Duration> {
        self.ping_interval
    }

    /// See [`ping_timeout`](Self::ping_timeout).
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(weft_codec::Config::default().get_ping_timeout(), Duration::from_secs(30));
    /// ```
    pub fn get_ping_timeout(&self) -> Duration {
        self.ping_timeout
    }

    /// See [`fragment_size`](Self::fragment_size).
    ///
    /// ```
    /// assert_eq!(weft_codec::Config::default().get_fragment_size(), None);
    /// ```
    pub fn get_fragment_size(&self) -> Option<usize> {
        self.fragment_size
    }

    /// See [`receive_fragments`](Self::receive_fragments).
    ///
    /// ```
    /// assert!(!weft_codec::Config::default().get_receive_fragments());
    /// ```
    pub fn get_receive_fragments(&self) -> bool {
        self.receive_fragments
    }

    /// See [`write_buffer_size`](Self::write_buffer_size).
    ///
    /// ```
    /// assert_eq!(weft_codec::Config::default().get_write_buffer_size(), 128 << 10);
    /// ```
    pub fn get_write_buffer_size(&self) -> usize {
        self.write_buffer_size
    }

    /// See [`read_buffer_size`](Self::read_buffer_size).
    ///
    /// ```
    /// assert_eq!(weft_codec::Config::default().get_read_buffer_size(), 8 << 10);
    /// ```
    pub fn get_read_buffer_size(&self) -> usize {
        self.read_buffer_size
    }
}
