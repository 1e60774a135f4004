//! Safety caps on what a handshake may make us buffer.

/// Caps on the size of a handshake message head, so a peer cannot make us buffer without
/// bound. Every cap has a safe default; raise one only for a peer you trust.
///
/// The caps are checked as bytes arrive, so a parser answers [`Parsed::Partial`] only while
/// the bytes it was given fit in [`Limits::max_buffered`]: the caller never holds more than
/// that plus one read.
///
/// | cap | default | server answer |
/// |---|---|---|
/// | [`max_start_line`](Limits::max_start_line) | 8 KiB | 414 URI Too Long |
/// | [`max_header_bytes`](Limits::max_header_bytes) | 8 KiB | 431 Request Header Fields Too Large |
/// | [`max_headers`](Limits::max_headers) | 64 | 431 Request Header Fields Too Large |
/// | [`max_refusal_body`](Limits::max_refusal_body) | 4 KiB | (client only) |
///
/// [`Parsed::Partial`]: crate::Parsed::Partial
///
/// # Example
///
/// ```
/// use weft_handshake::Limits;
///
/// let limits = Limits::default().with_max_headers(100).with_max_header_bytes(16 * 1024);
/// assert_eq!(limits.max_headers(), 100);
/// assert_eq!(limits.max_start_line(), 8 * 1024);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    max_start_line: usize,
    max_header_bytes: usize,
    max_headers: usize,
    max_refusal_body: usize,
}

impl Default for Limits {
    /// 8 KiB request line, 8 KiB and 64 header lines, 4 KiB of a refusal's body.
    ///
    /// 8 KiB per part matches what common servers and proxies accept, so a request that
    /// passed a proxy also passes here.
    fn default() -> Self {
        Limits {
            max_start_line: 8 * 1024,
            max_header_bytes: 8 * 1024,
            max_headers: 64,
            max_refusal_body: 4 * 1024,
        }
    }
}

impl Limits {
    /// Sets the longest request line (server) or status line (client) accepted, in bytes,
    /// not counting its line ending. Blank lines before the request line count towards it.
    ///
    /// # Example
    ///
    /// ```
    /// let limits = weft_handshake::Limits::default().with_max_start_line(2048);
    /// assert_eq!(limits.max_start_line(), 2048);
    /// ```
    #[must_use]
    pub fn with_max_start_line(mut self, bytes: usize) -> Self {
        self.max_start_line = bytes;
        self
    }

    /// Sets the largest header section accepted, in bytes: every header line and the blank
    /// line that ends the head, line endings included.
    ///
    /// # Example
    ///
    /// ```
    /// let limits = weft_handshake::Limits::default().with_max_header_bytes(4096);
    /// assert_eq!(limits.max_header_bytes(), 4096);
    /// ```
    #[must_use]
    pub fn with_max_header_bytes(mut self, bytes: usize) -> Self {
        self.max_header_bytes = bytes;
        self
    }

    /// Sets the most header lines accepted. Each parse allocates room for this many headers,
    /// so keep it modest.
    ///
    /// # Example
    ///
    /// ```
    /// let limits = weft_handshake::Limits::default().with_max_headers(32);
    /// assert_eq!(limits.max_headers(), 32);
    /// ```
    #[must_use]
    pub fn with_max_headers(mut self, count: usize) -> Self {
        self.max_headers = count;
        self
    }

    /// Sets how much of a refusing server's body a client keeps (in bytes, after removing
    /// chunked framing), so a caller can show why the server said no.
    ///
    /// # Example
    ///
    /// ```
    /// let limits = weft_handshake::Limits::default().with_max_refusal_body(0);
    /// assert_eq!(limits.max_refusal_body(), 0);
    /// ```
    #[must_use]
    pub fn with_max_refusal_body(mut self, bytes: usize) -> Self {
        self.max_refusal_body = bytes;
        self
    }

    /// The longest start line accepted, in bytes.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(weft_handshake::Limits::default().max_start_line(), 8192);
    /// ```
    pub fn max_start_line(&self) -> usize {
        self.max_start_line
    }

    /// The largest header section accepted, in bytes.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(weft_handshake::Limits::default().max_header_bytes(), 8192);
    /// ```
    pub fn max_header_bytes(&self) -> usize {
        self.max_header_bytes
    }

    /// The most header lines accepted.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(weft_handshake::Limits::default().max_headers(), 64);
    /// ```
    pub fn max_headers(&self) -> usize {
        self.max_headers
    }

    /// How much of a refusing server's body a client keeps, in bytes.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(weft_handshake::Limits::default().max_refusal_body(), 4096);
    /// ```
    pub fn max_refusal_body(&self) -> usize {
        self.max_refusal_body
    }

    /// The most bytes a parser can be given and still answer [`Parsed::Partial`]: the start
    /// line with its CRLF plus the header section. A client waiting for a refusal's body
    /// may hold [`max_refusal_body`](Limits::max_refusal_body) more.
    ///
    /// [`Parsed::Partial`]: crate::Parsed::Partial
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(weft_handshake::Limits::default().max_buffered(), 8192 + 2 + 8192);
    /// ```
    pub fn max_buffered(&self) -> usize {
        self.start_line_window()
            .saturating_add(self.max_header_bytes)
    }

    /// The bytes the start line may occupy, line ending included.
    pub(crate) fn start_line_window(&self) -> usize {
        self.max_start_line.saturating_add(2)
    }
}
