//! [`DeflateConfig`]: what this end asks for, agrees to, and how it compresses.

/// The smallest window RFC 7692 allows (256 bytes).
pub(crate) const MIN_WINDOW_BITS: u8 = 8;
/// The largest window, and the default (32 KiB).
pub(crate) const MAX_WINDOW_BITS: u8 = 15;
/// See [`DeflateConfig::memory_level`].
const DEFAULT_MEMORY_LEVEL: u8 = 5;

/// How permessage-deflate is offered, accepted and run on one end of a connection.
///
/// The same configuration serves both roles; each option reads from the point of view of the
/// protocol parameter it sets, so `server_no_context_takeover` always concerns the server's
/// compressor (and the client's decompressor), whichever end this is.
///
/// | option | default | as a client | as a server |
/// | --- | --- | --- | --- |
/// | [`enabled`](Self::enabled) | on | offer at all | accept at all |
/// | [`server_no_context_takeover`](Self::server_no_context_takeover) | off | ask the server to reset its compressor per message | reset ours per message, and say so |
/// | [`client_no_context_takeover`](Self::client_no_context_takeover) | off | reset ours per message, and say so | ask the client to reset its compressor per message |
/// | [`server_max_window_bits`](Self::server_max_window_bits) | 15 | ask for at most this server window | compress with at most this window |
/// | [`client_max_window_bits`](Self::client_max_window_bits) | 15 | compress with at most this window | inflate the client's messages with at most this window |
/// | [`compression_level`](Self::compression_level) | 6 | level of our compressor | level of our compressor |
/// | [`memory_level`](Self::memory_level) | 5 | zlib memory level of our compressor | same |
/// | [`threshold`](Self::threshold) | 64 bytes | smaller messages go uncompressed | same |
/// | [`fallback_offer`](Self::fallback_offer) | on | add a plain offer after one that asks for server parameters | — |
///
/// Window sizes are powers of two: 8 bits is 256 bytes, 15 bits is 32 KiB. Smaller windows
/// and no context takeover cost less memory per connection and compress less; see the
/// [crate documentation](crate#memory) for the figures. Setters clamp out-of-range values
/// (window bits to 8..=15, level to 0..=9) rather than fail.
///
/// # Why the threshold is 64 bytes
///
/// Without history to refer to, short text does not shrink: a JSON message cut to 16, 32 and
/// 48 bytes deflates (level 6, tail removed) to 18, 34 and 48 bytes; at 64 bytes it saves 2,
/// at 100 bytes 19. A DEFLATE block needs its header and end code, and a short text has
/// little to match. A message that small also travels in one TCP segment and TLS record
/// either way, so compressing it buys nothing on the wire and costs a compressor call and,
/// for the first one, allocating the compressor (see the memory table), which an end that
/// only ever sends small messages then never pays. With context takeover, short messages
/// that repeat earlier ones would shrink; lower the threshold when that is the traffic.
///
/// # Example
///
/// ```
/// use weft_deflate::DeflateConfig;
///
/// // A memory-conscious server: 4 KiB windows, no context kept between messages.
/// let config = DeflateConfig::default()
///     .server_max_window_bits(12)
///     .client_max_window_bits(12)
///     .server_no_context_takeover(true)
///     .compression_level(1);
/// assert_eq!(config.get_server_max_window_bits(), 12);
/// assert!(config.get_server_no_context_takeover());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeflateConfig {
    pub(crate) enabled: bool,
    pub(crate) server_no_context_takeover: bool,
    pub(crate) client_no_context_takeover: bool,
    pub(crate) server_max_window_bits: u8,
    pub(crate) client_max_window_bits: u8,
    pub(crate) level: u32,
    pub(crate) memory_level: u8,
    pub(crate) threshold: usize,
    pub(crate) fallback_offer: bool,
}

impl Default for DeflateConfig {
    /// Enabled, context takeover both ways, 32 KiB windows, level 6, memory level 5, 64-byte
    /// threshold, with a fallback offer.
    ///
    /// ```
    /// let config = weft_deflate::DeflateConfig::default();
    /// assert!(config.get_enabled());
    /// assert_eq!(config.get_compression_level(), 6);
    /// ```
    fn default() -> Self {
        Self {
            enabled: true,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: MAX_WINDOW_BITS,
            client_max_window_bits: MAX_WINDOW_BITS,
            level: 6,
            memory_level: DEFAULT_MEMORY_LEVEL,
            threshold: 64,
            fallback_offer: true,
        }
    }
}

impl DeflateConfig {
    /// The default configuration; the same as [`DeflateConfig::default`].
    ///
    /// ```
    /// use weft_deflate::DeflateConfig;
    /// assert_eq!(DeflateConfig::new(), DeflateConfig::default());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The low-memory preset: no context takeover in either direction (a server asks its
    /// clients for it, a client announces it and asks the server), with the other settings
    /// at their defaults.
    ///
    /// No compressor or decompressor then outlives a message, so whole messages are
    /// compressed and inflated with state the thread shares between its connections, and a
    /// connection holds no compression memory between messages (see the
    /// [crate documentation](crate#memory)). The price is the ratio: each message is
    /// compressed on its own, without referring to earlier ones (on the JSON corpus of
    /// `cargo xtask bench`, 268 bytes per message instead of 173).
    ///
    /// ```
    /// use weft_deflate::DeflateConfig;
    /// let config = DeflateConfig::low_memory();
    /// assert!(config.get_server_no_context_takeover());
    /// assert!(config.get_client_no_context_takeover());
    /// assert_eq!(config.get_compression_level(), 6);
    /// ```
    pub fn low_memory() -> Self {
        Self::default()
            .server_no_context_takeover(true)
            .client_no_context_takeover(true)
    }

    /// Offer (as a client) or accept (as a server) permessage-deflate at all. When off, a
    /// client offers nothing and a server declines every offer.
    ///
    /// ```
    /// use weft_deflate::DeflateConfig;
    /// assert!(DeflateConfig::default().enabled(false).client_offers().is_empty());
    /// ```
    pub fn enabled(mut self, on: bool) -> Self {
        self.enabled = on;
        self
    }

    /// The server resets its compressor after every message, so it keeps no history between
    /// messages (and the client's decompressor may forget it too).
    ///
    /// A client asks for it in its offer; a server adds it to every response.
    ///
    /// ```
    /// use weft_deflate::DeflateConfig;
    /// let config = DeflateConfig::default().server_no_context_takeover(true);
    /// assert!(config.get_server_no_context_takeover());
    /// ```
    pub fn server_no_context_takeover(mut self, on: bool) -> Self {
        self.server_no_context_takeover = on;
        self
    }

    /// The client resets its compressor after every message.
    ///
    /// A client announces it in its offer and resets regardless of the answer; a server adds
    /// it to every response, which obliges the client.
    ///
    /// ```
    /// use weft_deflate::DeflateConfig;
    /// let config = DeflateConfig::default().client_no_context_takeover(true);
    /// assert!(config.get_client_no_context_takeover());
    /// ```
    pub fn client_no_context_takeover(mut self, on: bool) -> Self {
        self.client_no_context_takeover = on;
        self
    }

    /// The largest window the server compresses with, in bits (8..=15, clamped).
    ///
    /// Below 15, a client asks for it in its offer; a server never uses more, and answers
    /// with the smaller of this and what the client asked for. A window of 8 bits is run as
    /// 9 by the compressor (zlib cannot deflate raw streams with 8), which is still valid
    /// for an 8-bit peer: zlib never looks back further than the window minus 262 bytes, 250
    /// bytes at 9 bits.
    ///
    /// ```
    /// use weft_deflate::DeflateConfig;
    /// assert_eq!(DeflateConfig::default().server_max_window_bits(20).get_server_max_window_bits(), 15);
    /// assert_eq!(DeflateConfig::default().server_max_window_bits(10).get_server_max_window_bits(), 10);
    /// ```
    pub fn server_max_window_bits(mut self, bits: u8) -> Self {
        self.server_max_window_bits = bits.clamp(MIN_WINDOW_BITS, MAX_WINDOW_BITS);
        self
    }

    /// The largest window the client compresses with, in bits (8..=15, clamped).
    ///
    /// A client offers `client_max_window_bits` without a value when this is 15 (telling the
    /// server it may choose a smaller window) and with this value otherwise. A server that
    /// sets it below 15 answers with it, and declines offers that do not let it limit the
    /// client's window.
    ///
    /// ```
    /// use weft_deflate::DeflateConfig;
    /// assert_eq!(DeflateConfig::default().client_max_window_bits(3).get_client_max_window_bits(), 8);
    /// ```
    pub fn client_max_window_bits(mut self, bits: u8) -> Self {
        self.client_max_window_bits = bits.clamp(MIN_WINDOW_BITS, MAX_WINDOW_BITS);
        self
    }

    /// Compression level of our compressor, 0 (store only) to 9 (best, slowest); clamped.
    /// On JSON-like text (the crate's benchmark), level 1 compresses about six times faster
    /// than level 6, and its output is about 1.7 times larger.
    ///
    /// ```
    /// use weft_deflate::DeflateConfig;
    /// assert_eq!(DeflateConfig::default().compression_level(12).get_compression_level(), 9);
    /// ```
    pub fn compression_level(mut self, level: u32) -> Self {
        self.level = level.min(9);
        self
    }

    /// zlib's memory level of our compressor, 1 to 9 (clamped): it sizes the buffer of
    /// symbols a DEFLATE block collects, 2^(level + 6) of them, 3 bytes each, plus 4 bytes
    /// each of output buffer. It is not negotiated; the peer never sees it except in how
    /// blocks are cut.
    ///
    /// Every message ends a block (the sync flush permessage-deflate requires), and zlib-rs
    /// clears the whole symbol buffer at every block, so a buffer larger than messages are
    /// long costs time on every message: zlib's default of 8 (48 KiB cleared per message)
    /// compresses the JSON corpus of `cargo xtask bench` (about 550-byte messages) to the same
    /// bytes as 5 (6 KiB), but slower. Below 5, messages of a few KiB are cut into several
    /// blocks and grow; large messages grow slightly at 5 too (64 KiB JSON documents by 0.4 %
    /// against 8). Raise it for traffic of large messages.
    ///
    /// ```
    /// use weft_deflate::DeflateConfig;
    /// assert_eq!(DeflateConfig::default().get_memory_level(), 5);
    /// assert_eq!(DeflateConfig::default().memory_level(0).get_memory_level(), 1);
    /// assert_eq!(DeflateConfig::default().memory_level(8).get_memory_level(), 8);
    /// ```
    pub fn memory_level(mut self, level: u8) -> Self {
        self.memory_level = level.clamp(1, 9);
        self
    }

    /// See [`memory_level`](Self::memory_level).
    ///
    /// ```
    /// assert_eq!(weft_deflate::DeflateConfig::default().get_memory_level(), 5);
    /// ```
    pub fn get_memory_level(&self) -> u8 {
        self.memory_level
    }

    /// Messages shorter than this many bytes are sent uncompressed. Fragmented messages
    /// sent piece by piece, whose size is not known in advance, are always compressed. 0
    /// compresses everything.
    ///
    /// ```
    /// use weft_deflate::DeflateConfig;
    /// assert_eq!(DeflateConfig::default().threshold(0).get_threshold(), 0);
    /// ```
    pub fn threshold(mut self, bytes: usize) -> Self {
        self.threshold = bytes;
        self
    }

    /// As a client, follow an offer that asks for server parameters
    /// (`server_no_context_takeover`, `server_max_window_bits`) with a plain
    /// `permessage-deflate` offer, so a server that cannot honour them can still agree to
    /// compression. Turn it off when those parameters are required.
    ///
    /// ```
    /// use weft_deflate::DeflateConfig;
    /// let config = DeflateConfig::default().server_no_context_takeover(true);
    /// assert_eq!(config.client_offers().len(), 2);
    /// assert_eq!(config.fallback_offer(false).client_offers().len(), 1);
    /// ```
    pub fn fallback_offer(mut self, on: bool) -> Self {
        self.fallback_offer = on;
        self
    }

    /// See [`enabled`](Self::enabled).
    ///
    /// ```
    /// assert!(weft_deflate::DeflateConfig::default().get_enabled());
    /// ```
    pub fn get_enabled(&self) -> bool {
        self.enabled
    }

    /// See [`server_no_context_takeover`](Self::server_no_context_takeover).
    ///
    /// ```
    /// assert!(!weft_deflate::DeflateConfig::default().get_server_no_context_takeover());
    /// ```
    pub fn get_server_no_context_takeover(&self) -> bool {
        self.server_no_context_takeover
    }

    /// See [`client_no_context_takeover`](Self::client_no_context_takeover).
    ///
    /// ```
    /// assert!(!weft_deflate::DeflateConfig::default().get_client_no_context_takeover());
    /// ```
    pub fn get_client_no_context_takeover(&self) -> bool {
        self.client_no_context_takeover
    }

    /// See [`server_max_window_bits`](Self::server_max_window_bits).
    ///
    /// ```
    /// assert_eq!(weft_deflate::DeflateConfig::default().get_server_max_window_bits(), 15);
    /// ```
    pub fn get_server_max_window_bits(&self) -> u8 {
        self.server_max_window_bits
    }

    /// See [`client_max_window_bits`](Self::client_max_window_bits).
    ///
    /// ```
    /// assert_eq!(weft_deflate::DeflateConfig::default().get_client_max_window_bits(), 15);
    /// ```
    pub fn get_client_max_window_bits(&self) -> u8 {
        self.client_max_window_bits
    }

    /// See [`compression_level`](Self::compression_level).
    ///
    /// ```
    /// assert_eq!(weft_deflate::DeflateConfig::default().get_compression_level(), 6);
    /// ```
    pub fn get_compression_level(&self) -> u32 {
        self.level
    }

    /// See [`threshold`](Self::threshold).
    ///
    /// ```
    /// assert_eq!(weft_deflate::DeflateConfig::default().get_threshold(), 64);
    /// ```
    pub fn get_threshold(&self) -> usize {
        self.threshold
    }

    /// See [`fallback_offer`](Self::fallback_offer).
    ///
    /// ```
    /// assert!(weft_deflate::DeflateConfig::default().get_fallback_offer());
    /// ```
    pub fn get_fallback_offer(&self) -> bool {
        self.fallback_offer
    }
}
