//! [`Http2Limits`]: what one HTTP/2 connection may make us hold.

use std::time::Duration;

/// The bounds on one HTTP/2 connection, with defaults a real deployment does not trip over
/// and an attacker cannot turn into unbounded memory.
///
/// | limit | default | why |
/// | --- | ---: | --- |
/// | [`max_concurrent_streams`](Self::max_concurrent_streams) | 100 | WebSockets (and requests) open at once on one connection; RFC 9113 §6.5.2 recommends at least 100 |
/// | [`stream_window`](Self::stream_window) | 256 KiB | what a peer may send on one stream before its reader takes it: the backpressure of a slow reader |
/// | [`connection_window`](Self::connection_window) | streams × stream window | large enough that streams whose readers stopped can never hold up the others |
/// | [`max_header_list_size`](Self::max_header_list_size) | 16 KiB | a request's decoded headers (bounds CONTINUATION floods, CVE-2024-27316) |
/// | [`max_send_buffer`](Self::max_send_buffer) | 256 KiB | data queued per stream for a peer that does not read |
/// | [`max_pending_reset_streams`](Self::max_pending_reset_streams) | 20 | streams the peer reset before they were served (rapid reset, CVE-2023-44487): then `ENHANCE_YOUR_CALM` |
/// | [`max_local_error_resets`](Self::max_local_error_resets) | 256 | streams we had to reset for the peer's protocol errors: then `ENHANCE_YOUR_CALM` |
/// | [`idle_timeout`](Self::idle_timeout) | 60 s | a connection with no open stream is closed (`GOAWAY`) after this |
///
/// Memory on one connection is thus bounded by the connection window (DATA that arrived
/// before its readers took it) plus, per WebSocket, the limits of the WebSocket itself
/// (`weft_codec::Limits`).
///
/// ```
/// use std::time::Duration;
/// use weft_h2::Http2Limits;
///
/// let limits = Http2Limits::default()
///     .max_concurrent_streams(1000)
///     .stream_window(64 << 10)
///     .idle_timeout(Duration::from_secs(300));
/// assert_eq!(limits.get_connection_window(), 1000 * (64 << 10));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Http2Limits {
    max_concurrent_streams: u32,
    stream_window: u32,
    connection_window: Option<u32>,
    max_header_list_size: u32,
    max_send_buffer: usize,
    max_pending_reset_streams: usize,
    max_local_error_resets: usize,
    idle_timeout: Duration,
}

impl Default for Http2Limits {
    fn default() -> Self {
        Self {
            max_concurrent_streams: 100,
            stream_window: 256 << 10,
            connection_window: None,
            max_header_list_size: 16 << 10,
            max_send_buffer: 256 << 10,
            max_pending_reset_streams: 20,
            max_local_error_resets: 256,
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// HTTP/2's largest flow-control window (RFC 9113 §6.9.1).
const MAX_WINDOW: u32 = (1 << 31) - 1;

impl Http2Limits {
    /// Streams the peer may have open at once (`SETTINGS_MAX_CONCURRENT_STREAMS`); one more is
    /// refused (`REFUSED_STREAM`) and the others go on.
    ///
    /// ```
    /// let limits = weft_h2::Http2Limits::default().max_concurrent_streams(1000);
    /// assert_eq!(limits.get_max_concurrent_streams(), 1000);
    /// ```
    #[must_use]
    pub fn max_concurrent_streams(mut self, max: u32) -> Self {
        self.max_concurrent_streams = max;
        self
    }

    /// Bytes the peer may send on one stream ahead of its reader (`SETTINGS_INITIAL_WINDOW_SIZE`),
    /// at most 2³¹ − 1.
    ///
    /// ```
    /// let limits = weft_h2::Http2Limits::default().stream_window(64 << 10);
    /// assert_eq!(limits.get_stream_window(), 64 << 10);
    /// ```
    #[must_use]
    pub fn stream_window(mut self, bytes: u32) -> Self {
        self.stream_window = bytes.min(MAX_WINDOW);
        self
    }

    /// Bytes the peer may send on all streams ahead of their readers. The default, and the
    /// least it can be, is [`max_concurrent_streams`](Self::max_concurrent_streams) ×
    /// [`stream_window`](Self::stream_window) (capped at 2³¹ − 1): with less, streams whose
    /// readers stopped could use up the connection's window and stall every other stream.
    ///
    /// ```
    /// use weft_h2::Http2Limits;
    /// let limits = Http2Limits::default().max_concurrent_streams(10).connection_window(16 << 20);
    /// assert_eq!(limits.get_connection_window(), 16 << 20);
    /// // Never below streams × stream window: 10 × 256 KiB here.
    /// let limits = Http2Limits::default().max_concurrent_streams(10).connection_window(1024);
    /// assert_eq!(limits.get_connection_window(), 10 * (256 << 10));
    /// ```
    #[must_use]
    pub fn connection_window(mut self, bytes: u32) -> Self {
        self.connection_window = Some(bytes);
        self
    }

    /// The largest decoded header list of a request or response (`SETTINGS_MAX_HEADER_LIST_SIZE`,
    /// RFC 9113 §6.5.2: names, values and 32 bytes for each field). A larger one is refused
    /// with `431` or a stream reset, however many CONTINUATION frames it came in.
    ///
    /// ```
    /// let limits = weft_h2::Http2Limits::default().max_header_list_size(8 << 10);
    /// assert_eq!(limits.get_max_header_list_size(), 8 << 10);
    /// ```
    #[must_use]
    pub fn max_header_list_size(mut self, bytes: u32) -> Self {
        self.max_header_list_size = bytes;
        self
    }

    /// Data queued on one stream for a peer whose window is closed; a writer waits beyond it.
    ///
    /// ```
    /// let limits = weft_h2::Http2Limits::default().max_send_buffer(1 << 20);
    /// # let _ = limits;
    /// ```
    #[must_use]
    pub fn max_send_buffer(mut self, bytes: usize) -> Self {
        self.max_send_buffer = bytes.min(MAX_WINDOW as usize);
        self
    }

    /// Streams the peer may reset before they were served; past this the connection is
    /// closed with `ENHANCE_YOUR_CALM` (the rapid-reset attack, CVE-2023-44487).
    ///
    /// ```
    /// // A stricter stand against rapid reset than the default 20.
    /// let limits = weft_h2::Http2Limits::default().max_pending_reset_streams(5);
    /// # let _ = limits;
    /// ```
    #[must_use]
    pub fn max_pending_reset_streams(mut self, max: usize) -> Self {
        self.max_pending_reset_streams = max;
        self
    }

    /// Streams we may have to reset because of the peer's protocol errors; past this the
    /// connection is closed with `ENHANCE_YOUR_CALM`.
    ///
    /// ```
    /// let limits = weft_h2::Http2Limits::default().max_local_error_resets(64);
    /// # let _ = limits;
    /// ```
    #[must_use]
    pub fn max_local_error_resets(mut self, max: usize) -> Self {
        self.max_local_error_resets = max;
        self
    }

    /// How long a connection with no open stream is kept; then it is closed with `GOAWAY`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let limits = weft_h2::Http2Limits::default().idle_timeout(Duration::from_secs(300));
    /// assert_eq!(limits.get_idle_timeout(), Duration::from_secs(300));
    /// ```
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// See [`max_concurrent_streams`](Self::max_concurrent_streams).
    ///
    /// ```
    /// assert_eq!(weft_h2::Http2Limits::default().get_max_concurrent_streams(), 100);
    /// ```
    pub fn get_max_concurrent_streams(&self) -> u32 {
        self.max_concurrent_streams
    }

    /// See [`stream_window`](Self::stream_window).
    ///
    /// ```
    /// assert_eq!(weft_h2::Http2Limits::default().get_stream_window(), 256 << 10);
    /// ```
    pub fn get_stream_window(&self) -> u32 {
        self.stream_window
    }

    /// The connection window in effect: the one set, raised to streams × stream window.
    ///
    /// ```
    /// // 100 streams of 256 KiB by default.
    /// assert_eq!(weft_h2::Http2Limits::default().get_connection_window(), 100 * (256 << 10));
    /// ```
    pub fn get_connection_window(&self) -> u32 {
        let floor = u64::from(self.max_concurrent_streams) * u64::from(self.stream_window);
        let floor = u32::try_from(floor.min(u64::from(MAX_WINDOW))).unwrap_or(MAX_WINDOW);
        self.connection_window.unwrap_or(floor).max(floor)
    }

    /// See [`max_header_list_size`](Self::max_header_list_size).
    ///
    /// ```
    /// assert_eq!(weft_h2::Http2Limits::default().get_max_header_list_size(), 16 << 10);
    /// ```
    pub fn get_max_header_list_size(&self) -> u32 {
        self.max_header_list_size
    }

    /// See [`idle_timeout`](Self::idle_timeout).
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(weft_h2::Http2Limits::default().get_idle_timeout(), Duration::from_secs(60));
    /// ```
    pub fn get_idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// An h2 server builder with these limits and extended CONNECT enabled
    /// (`SETTINGS_ENABLE_CONNECT_PROTOCOL = 1`, RFC 8441 §3).
    ///
    /// ```
    /// let builder = weft_h2::Http2Limits::default().server_builder();
    /// # let _ = builder;
    /// ```
    pub fn server_builder(&self) -> h2::server::Builder {
        let mut builder = h2::server::Builder::new();
        builder
            .enable_connect_protocol()
            .max_concurrent_streams(self.max_concurrent_streams)
            .initial_window_size(self.stream_window)
            .initial_connection_window_size(self.get_connection_window())
            .max_header_list_size(self.max_header_list_size)
            .max_send_buffer_size(self.max_send_buffer)
            .max_pending_accept_reset_streams(self.max_pending_reset_streams)
            .max_local_error_reset_streams(Some(self.max_local_error_resets));
        builder
    }

    /// An h2 client builder with these limits (streams the server may push: none).
    ///
    /// ```
    /// let builder = weft_h2::Http2Limits::default().client_builder();
    /// # let _ = builder;
    /// ```
    pub fn client_builder(&self) -> h2::client::Builder {
        let mut builder = h2::client::Builder::new();
        builder
            .enable_push(false)
            .initial_window_size(self.stream_window)
            .initial_connection_window_size(self.get_connection_window())
            .max_header_list_size(self.max_header_list_size)
            .max_send_buffer_size(self.max_send_buffer)
            .max_local_error_reset_streams(Some(self.max_local_error_resets));
        builder
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_window_never_lets_stopped_streams_stall_the_others() {
        let limits = Http2Limits::default();
        assert_eq!(limits.get_connection_window(), 100 * (256 << 10));
        let small = limits.clone().connection_window(1 << 20);
        assert_eq!(small.get_connection_window(), 100 * (256 << 10));
        let large = limits.clone().connection_window(1 << 30);
        assert_eq!(large.get_connection_window(), 1 << 30);
        let huge = limits.max_concurrent_streams(u32::MAX);
        assert_eq!(huge.get_connection_window(), MAX_WINDOW);
    }
}
