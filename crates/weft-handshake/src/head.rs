//! Incremental parsing of an HTTP/1.x message head with caps, shared by both sides.
//!
//! A parser is handed the caller's whole buffer on every call (the bytes given before, plus
//! what arrived since). Its answer depends only on the bytes, never on how they were split:
//! the window it hands to `httparse` never extends past a cap, ends at the last complete
//! line (unless a cap is reached or the peer closed), and a size error is only reported when
//! `httparse` found nothing wrong inside the window.
//!
//! The parser remembers how far it has looked, and only runs `httparse` again when a new
//! line arrived or a cap is reached. Re-parsing on every read would cost the square of the
//! head's size for a peer that sends one byte at a time.

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri, Version};

use crate::{Error, Limits};

/// The progress of an incremental parse.
///
/// This enum will not grow: a parse either needs more bytes or is done.
///
/// # Example
///
/// ```
/// use weft_handshake::{Parsed, Request, RequestParser};
///
/// let mut parser = RequestParser::default();
/// let mut buf = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
/// assert!(matches!(parser.parse(&buf), Ok(Parsed::Partial)));
/// buf.extend_from_slice(b"\r\nleftover");
/// match parser.parse(&buf) {
///     Ok(Parsed::Complete { value: Request::Plain(request), consumed }) => {
///         assert_eq!(request.uri(), "/");
///         assert_eq!(&buf[consumed..], b"leftover");
///     }
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Debug)]
pub enum Parsed<T> {
    /// More bytes are needed. Call again with the same buffer once more bytes have arrived.
    Partial,
    /// The message is complete.
    Complete {
        /// What was parsed.
        value: T,
        /// How many bytes of the buffer the message head took. The bytes after it belong to
        /// whatever follows (the WebSocket stream after an upgrade, or a plain request's body).
        consumed: usize,
    },
}

impl<T> Parsed<T> {
    /// Whether the parse needs more bytes.
    ///
    /// # Example
    ///
    /// ```
    /// assert!(weft_handshake::Parsed::<()>::Partial.is_partial());
    /// ```
    pub fn is_partial(&self) -> bool {
        matches!(self, Parsed::Partial)
    }
}

/// Parses a response head incrementally, within [`Limits`]: the answer to a plain HTTP request
/// a client sends before its WebSocket handshake, such as an HTTP proxy's answer to `CONNECT`.
/// (The handshake's own response is parsed by [`ClientHandshake`](crate::ClientHandshake).)
///
/// Give it the connection's buffer each time bytes arrive (the same buffer, grown); it answers
/// [`Parsed::Partial`] until the head is complete, then hands back the response and how many
/// bytes the head took. The body, if any, is the caller's to read or skip.
///
/// # Example
///
/// ```
/// use weft_handshake::{Parsed, ResponseParser};
///
/// let mut parser = ResponseParser::default();
/// let mut buf = b"HTTP/1.1 200 Connection established\r\n".to_vec();
/// assert!(matches!(parser.parse(&buf)?, Parsed::Partial));
/// buf.extend_from_slice(b"\r\n");
/// let Parsed::Complete { value, consumed } = parser.parse(&buf)? else { unreachable!() };
/// assert_eq!(value.status(), 200);
/// assert_eq!(consumed, buf.len());
/// # Ok::<(), weft_handshake::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ResponseParser {
    limits: Limits,
    scanner: HeadScanner,
}

impl ResponseParser {
    /// A parser with these caps (the start line and header caps apply to the response).
    ///
    /// # Example
    ///
    /// ```
    /// use weft_handshake::{Limits, ResponseParser};
    ///
    /// let parser = ResponseParser::new(Limits::default().with_max_headers(16));
    /// assert_eq!(parser.limits().max_headers(), 16);
    /// ```
    pub fn new(limits: Limits) -> Self {
        ResponseParser {
            limits,
            scanner: HeadScanner::default(),
        }
    }

    /// The caps this parser applies.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(weft_handshake::ResponseParser::default().limits().max_headers(), 64);
    /// ```
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Parses the response head at the start of `buf`.
    ///
    /// `buf` must begin with the bytes given to the previous call, if it answered `Partial`.
    /// While it answers `Partial`, `buf` is at most [`Limits::max_buffered`] long.
    ///
    /// # Errors
    ///
    /// [`Error::StartLineTooLong`], [`Error::HeaderSectionTooLarge`] or
    /// [`Error::TooManyHeaders`] beyond the caps; [`Error::MalformedHttp`] for bytes that are
    /// not an HTTP/1.x response.
    ///
    /// # Example
    ///
    /// ```
    /// use weft_handshake::{Error, ResponseParser};
    ///
    /// let err = ResponseParser::default().parse(b"\x05\xff garbage\r\n").unwrap_err();
    /// assert!(matches!(err, Error::MalformedHttp { .. }));
    /// ```
    pub fn parse(&mut self, buf: &[u8]) -> Result<Parsed<http::Response<()>>, Error> {
        self.parse_inner(buf, false)
    }

    /// Gives the final answer when the connection closed after the bytes in `buf`.
    ///
    /// # Errors
    ///
    /// As [`ResponseParser::parse`], and [`Error::UnexpectedEof`] for a head cut short.
    ///
    /// # Example
    ///
    /// ```
    /// use weft_handshake::{Error, ResponseParser};
    ///
    /// let err = ResponseParser::default().parse_eof(b"HTTP/1.1 200 OK\r\n").unwrap_err();
    /// assert!(matches!(err, Error::UnexpectedEof));
    /// ```
    pub fn parse_eof(&mut self, buf: &[u8]) -> Result<(http::Response<()>, usize), Error> {
        match self.parse_inner(buf, true)? {
            Parsed::Complete { value, consumed } => Ok((value, consumed)),
            Parsed::Partial => Err(Error::UnexpectedEof),
        }
    }

    fn parse_inner(&mut self, buf: &[u8], eof: bool) -> Result<Parsed<http::Response<()>>, Error> {
        let parsed = parse_response(&mut self.scanner, buf, &self.limits, eof);
        if !matches!(parsed, Ok(Parsed::Partial)) {
            self.scanner = HeadScanner::default();
        }
        parsed
    }
}

/// What the scanner decided about the current buffer.
enum Window {
    /// No new complete line and no cap reached: `httparse` would answer as last time.
    Wait,
    /// Run `httparse` on `buf[..end]`; if it needs more, report `overflow` when set.
    Parse { end: usize, overflow: Option<Error> },
}

/// Tracks how far into the buffer a head parser has looked.
///
/// Unless a cap is reached (or the peer closed), `httparse` only ever sees whole lines: the
/// bytes up to the last LF. So whether it runs after each byte or once at the end, it sees the
/// same input and gives the same answer, which is what makes the line-gating invisible.
#[derive(Debug, Default, Clone)]
pub(crate) struct HeadScanner {
    /// Bytes of the buffer already searched for line endings.
    scanned: usize,
    /// The end of the last complete line found (just past its LF).
    lines_end: usize,
    /// Whether a byte other than CR or LF came before `scanned` (blank lines before the start
    /// line are skipped, as RFC 9112 §2.2 allows and `httparse` does).
    content_seen: bool,
    /// Index of the LF that ends the start line, once found.
    start_lf: Option<usize>,
}

impl HeadScanner {
    fn window(&mut self, buf: &[u8], limits: &Limits, eof: bool) -> Window {
        if buf.len() < self.scanned {
            // Not the buffer we saw before; the caller broke the contract, so start over
            // rather than index past the end.
            *self = HeadScanner::default();
        }
        let start_window = limits.start_line_window();
        let mut fresh_line = false;
        if self.start_lf.is_none() {
            let end = buf.len().min(start_window);
            while self.scanned < end {
                let byte = buf[self.scanned];
                self.scanned += 1;
                match byte {
                    b'\n' => {
                        self.lines_end = self.scanned;
                        if self.content_seen {
                            self.start_lf = Some(self.scanned - 1);
                            fresh_line = true;
                            break;
                        }
                        // A blank line before the request line cannot complete a head, so
                        // it does not warrant a parse: a peer sending thousands of them
                        // one at a time costs one scan, not thousands of parses.
                    }
                    b'\r' => {}
                    _ => self.content_seen = true,
                }
            }
        }
        // The bytes the caps let us look at, and the error to give if they are not enough.
        let (end, overflow) = match self.start_lf {
            None if buf.len() >= start_window => (
                start_window,
                Some(Error::StartLineTooLong {
                    limit: limits.max_start_line(),
                }),
            ),
            None => (buf.len(), None),
            Some(lf) => {
                let line_len = lf - usize::from(buf[lf - 1] == b'\r');
                let header_end = (lf + 1).saturating_add(limits.max_header_bytes());
                if line_len > limits.max_start_line() {
                    (
                        lf + 1,
                        Some(Error::StartLineTooLong {
                            limit: limits.max_start_line(),
                        }),
                    )
                } else if buf.len() > header_end {
                    let limit = limits.max_header_bytes();
                    (header_end, Some(Error::HeaderSectionTooLarge { limit }))
                } else {
                    (buf.len(), None)
                }
            }
        };
        if self.scanned < end {
            if let Some(lf) = buf[self.scanned..end].iter().rposition(|&b| b == b'\n') {
                fresh_line = true;
                self.lines_end = self.scanned + lf + 1;
            }
            self.scanned = end;
        }
        if overflow.is_some() || eof {
            Window::Parse { end, overflow }
        } else if fresh_line {
            Window::Parse {
                end: self.lines_end,
                overflow: None,
            }
        } else {
            Window::Wait
        }
    }
}

/// A request head parsed into `http` types.
pub(crate) fn parse_request(
    scanner: &mut HeadScanner,
    buf: &[u8],
    limits: &Limits,
) -> Result<Parsed<http::Request<()>>, Error> {
    let (end, overflow) = match scanner.window(buf, limits, false) {
        Window::Wait => return Ok(Parsed::Partial),
        Window::Parse { end, overflow } => (end, overflow),
    };
    let mut headers = vec![httparse::EMPTY_HEADER; limits.max_headers()];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(&buf[..end]) {
        Ok(httparse::Status::Complete(consumed)) => {
            let method = parsed.method.unwrap_or_default();
            let method =
                Method::from_bytes(method.as_bytes()).map_err(|_| Error::MalformedHttp {
                    reason: "invalid method",
                })?;
            let uri = Uri::try_from(parsed.path.unwrap_or_default()).map_err(|_| {
                Error::MalformedHttp {
                    reason: "invalid request target",
                }
            })?;
            let mut request = http::Request::new(());
            *request.method_mut() = method;
            *request.uri_mut() = uri;
            *request.version_mut() = version(parsed.version);
            *request.headers_mut() = header_map(parsed.headers)?;
            Ok(Parsed::Complete {
                value: request,
                consumed,
            })
        }
        Ok(httparse::Status::Partial) => overflow.map_or(Ok(Parsed::Partial), Err),
        Err(err) => Err(httparse_error(err, limits)),
    }
}

/// A response head parsed into `http` types. With `eof`, no more bytes will come, so the
/// whole buffer is parsed at once.
pub(crate) fn parse_response(
    scanner: &mut HeadScanner,
    buf: &[u8],
    limits: &Limits,
    eof: bool,
) -> Result<Parsed<http::Response<()>>, Error> {
    let (end, overflow) = match scanner.window(buf, limits, eof) {
        Window::Wait => return Ok(Parsed::Partial),
        Window::Parse { end, overflow } => (end, overflow),
    };
    let mut headers = vec![httparse::EMPTY_HEADER; limits.max_headers()];
    let mut parsed = httparse::Response::new(&mut headers);
    match parsed.parse(&buf[..end]) {
        Ok(httparse::Status::Complete(consumed)) => {
            let status = StatusCode::from_u16(parsed.code.unwrap_or_default()).map_err(|_| {
                Error::MalformedHttp {
                    reason: "invalid status code",
                }
            })?;
            let mut response = http::Response::new(());
            *response.status_mut() = status;
            *response.version_mut() = version(parsed.version);
            *response.headers_mut() = header_map(parsed.headers)?;
            Ok(Parsed::Complete {
                value: response,
                consumed,
            })
        }
        Ok(httparse::Status::Partial) => overflow.map_or(Ok(Parsed::Partial), Err),
        Err(err) => Err(httparse_error(err, limits)),
    }
}

fn version(minor: Option<u8>) -> Version {
    // httparse only accepts "HTTP/1.0" and "HTTP/1.1".
    if minor == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    }
}

fn header_map(headers: &[httparse::Header<'_>]) -> Result<HeaderMap, Error> {
    let mut map =
        HeaderMap::try_with_capacity(headers.len()).map_err(|_| Error::MalformedHttp {
            reason: "too many headers for a header map",
        })?;
    for header in headers {
        let name =
            HeaderName::from_bytes(header.name.as_bytes()).map_err(|_| Error::MalformedHttp {
                reason: "invalid header name",
            })?;
        let value = HeaderValue::from_bytes(header.value).map_err(|_| Error::MalformedHttp {
            reason: "invalid header value",
        })?;
        map.try_append(name, value)
            .map_err(|_| Error::MalformedHttp {
                reason: "too many headers for a header map",
            })?;
    }
    Ok(map)
}

fn httparse_error(err: httparse::Error, limits: &Limits) -> Error {
    match err {
        httparse::Error::TooManyHeaders => Error::TooManyHeaders {
            limit: limits.max_headers(),
        },
        httparse::Error::HeaderName => Error::MalformedHttp {
            reason: "invalid header name",
        },
        httparse::Error::HeaderValue => Error::MalformedHttp {
            reason: "invalid header value",
        },
        httparse::Error::NewLine => Error::MalformedHttp {
            reason: "invalid line ending",
        },
        httparse::Error::Status => Error::MalformedHttp {
            reason: "invalid status line",
        },
        httparse::Error::Token => Error::MalformedHttp {
            reason: "invalid token",
        },
        httparse::Error::Version => Error::MalformedHttp {
            reason: "invalid HTTP version",
        },
    }
}

/// How a refusal's body is framed (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFraming {
    /// No body (1xx, 204, 304).
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the connection closes.
    UntilEof,
}

pub(crate) fn body_framing(response: &http::Response<()>) -> BodyFraming {
    let status = response.status();
    if status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return BodyFraming::Empty;
    }
    let headers = response.headers();
    if headers.contains_key(http::header::TRANSFER_ENCODING) {
        // Chunked must be the final coding; anything else is read until the connection closes.
        let last = crate::headers::list_elements(headers, "transfer-encoding").last();
        return if last.is_some_and(|coding| coding.eq_ignore_ascii_case(b"chunked")) {
            BodyFraming::Chunked
        } else {
            BodyFraming::UntilEof
        };
    }
    let mut lengths = crate::headers::list_elements(headers, "content-length").map(|value| {
        std::str::from_utf8(value)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
    });
    match lengths.next() {
        // Repeated equal values are allowed (RFC 9112 §6.3); anything else is not a length.
        Some(Some(first)) if lengths.all(|other| other == Some(first)) => {
            BodyFraming::Length(first)
        }
        _ => BodyFraming::UntilEof,
    }
}

/// The body of a refusal from `raw` (the bytes after the head), kept up to `cap` bytes.
///
/// Returns `None` while more bytes could still change the answer; at EOF (`eof`) it always
/// answers. The flag says whether the body is whole.
pub(crate) fn refusal_body(
    framing: BodyFraming,
    raw: &[u8],
    cap: usize,
    eof: bool,
) -> Option<(Bytes, bool)> {
    match framing {
        BodyFraming::Empty => Some((Bytes::new(), true)),
        BodyFraming::Length(length) => {
            let wanted = usize::try_from(length).unwrap_or(usize::MAX);
            let kept = wanted.min(cap);
            if raw.len() >= kept {
                Some((Bytes::copy_from_slice(&raw[..kept]), kept == wanted))
            } else if eof {
                Some((Bytes::copy_from_slice(raw), false))
            } else {
                None
            }
        }
        BodyFraming::UntilEof => {
            if raw.len() >= cap {
                // The body may go on, so it is only whole if the connection closed right here.
                Some((Bytes::copy_from_slice(&raw[..cap]), eof && raw.len() == cap))
            } else if eof {
                Some((Bytes::copy_from_slice(raw), true))
            } else {
                None
            }
        }
        BodyFraming::Chunked => dechunk(raw, cap, eof),
    }
}

/// Removes chunked framing. Only the first `cap` raw bytes are looked at, so a peer cannot
/// make us hold more than `cap` bytes of framing either.
fn dechunk(raw: &[u8], cap: usize, eof: bool) -> Option<(Bytes, bool)> {
    let window = &raw[..raw.len().min(cap)];
    let truncated = raw.len() >= cap;
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        match httparse::parse_chunk_size(&window[pos..]) {
            Ok(httparse::Status::Complete((_, 0))) => {
                // The last chunk; trailers, if any, are of no interest to a refusal.
                return Some((Bytes::from(body), true));
            }
            Ok(httparse::Status::Complete((size_len, size))) => {
                pos += size_len;
                let available = window.len() - pos;
                let size = usize::try_from(size).unwrap_or(usize::MAX);
                if available < size {
                    body.extend_from_slice(&window[pos..]);
                    break;
                }
                body.extend_from_slice(&window[pos..pos + size]);
                pos += size;
                // Each chunk's data ends with CRLF.
                let crlf = &window[pos..window.len().min(pos + 2)];
                if !b"\r\n".starts_with(crlf) {
                    return Some((Bytes::from(body), false));
                }
                if crlf.len() < 2 {
                    break;
                }
                pos += 2;
            }
            Ok(httparse::Status::Partial) => break,
            // Broken framing: keep what decoded so far; nothing after it can be trusted.
            Err(httparse::InvalidChunkSize) => return Some((Bytes::from(body), false)),
        }
    }
    (truncated || eof).then(|| (Bytes::from(body), false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(buf: &[u8], limits: &Limits) -> Result<Parsed<http::Request<()>>, Error> {
        parse_request(&mut HeadScanner::default(), buf, limits)
    }

    #[test]
    fn complete_request_reports_consumed_bytes() {
        let buf = b"GET /x?y HTTP/1.1\r\nHost: a\r\nX: 1\r\nX: 2\r\n\r\nrest";
        let Ok(Parsed::Complete { value, consumed }) = request(buf, &Limits::default()) else {
            panic!("not complete");
        };
        assert_eq!(&buf[consumed..], b"rest");
        assert_eq!(value.method(), Method::GET);
        assert_eq!(value.uri(), "/x?y");
        assert_eq!(value.version(), Version::HTTP_11);
        assert_eq!(value.headers().get_all("x").iter().count(), 2);
    }

    #[test]
    fn blank_lines_before_the_request_line_are_skipped() {
        let buf = b"\r\n\r\nGET / HTTP/1.0\r\n\r\n";
        // The blank lines count towards the request line's cap: 4 + 14 bytes.
        let parsed = request(buf, &Limits::default().with_max_start_line(18));
        let Ok(Parsed::Complete { value, consumed }) = parsed else {
            panic!("{parsed:?}")
        };
        assert_eq!(consumed, buf.len());
        assert_eq!(value.version(), Version::HTTP_10);
        let parsed = request(buf, &Limits::default().with_max_start_line(17));
        assert!(
            matches!(parsed, Err(Error::StartLineTooLong { limit: 17 })),
            "{parsed:?}"
        );
    }

    #[test]
    fn caps_are_exact() {
        let line = b"GET /abc HTTP/1.1"; // 17 bytes
        let mut buf = line.to_vec();
        buf.extend_from_slice(b"\r\nA: b\r\n\r\n"); // 8 header-section bytes
        let fits = Limits::default()
            .with_max_start_line(17)
            .with_max_header_bytes(8);
        assert!(matches!(request(&buf, &fits), Ok(Parsed::Complete { .. })));
        let short_line = fits.with_max_start_line(16);
        assert!(matches!(
            request(&buf, &short_line),
            Err(Error::StartLineTooLong { limit: 16 })
        ));
        let short_headers = fits.with_max_header_bytes(7);
        assert!(matches!(
            request(&buf, &short_headers),
            Err(Error::HeaderSectionTooLarge { limit: 7 })
        ));
        let few_headers = fits.with_max_headers(0);
        assert!(matches!(
            request(&buf, &few_headers),
            Err(Error::TooManyHeaders { limit: 0 })
        ));
    }

    #[test]
    fn a_syntax_error_inside_the_caps_wins_over_a_size_error_after_them() {
        let limits = Limits::default().with_max_start_line(8);
        let err = request(b"GET /\x01 HTTP/1.1 and on and on", &limits).unwrap_err();
        assert!(matches!(err, Error::MalformedHttp { .. }), "{err:?}");
        let err = request(b"GET /abcdefghijk HTTP/1.1", &limits).unwrap_err();
        assert!(
            matches!(err, Error::StartLineTooLong { limit: 8 }),
            "{err:?}"
        );
    }

    #[test]
    fn one_byte_at_a_time_matches_all_at_once() {
        let buf = b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n";
        let mut scanner = HeadScanner::default();
        for end in 0..buf.len() {
            let parsed = parse_request(&mut scanner, &buf[..end], &Limits::default());
            assert!(matches!(parsed, Ok(Parsed::Partial)), "{end}: {parsed:?}");
        }
        let parsed = parse_request(&mut scanner, buf, &Limits::default());
        assert!(
            matches!(parsed, Ok(Parsed::Complete { consumed: 47, .. })),
            "{parsed:?}"
        );
    }

    #[test]
    fn a_shrunk_buffer_does_not_panic() {
        let mut scanner = HeadScanner::default();
        let limits = Limits::default();
        let _ = parse_request(&mut scanner, b"GET / HTTP/1.1\r\nHost: a\r\n", &limits);
        let parsed = parse_request(&mut scanner, b"GET / HTTP/1.1\r\n\r\n", &limits);
        assert!(
            matches!(parsed, Ok(Parsed::Complete { consumed: 18, .. })),
            "{parsed:?}"
        );
    }

    #[test]
    fn response_heads() {
        let buf = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno";
        let parsed = parse_response(&mut HeadScanner::default(), buf, &Limits::default(), false);
        let Ok(Parsed::Complete { value, consumed }) = parsed else {
            panic!("{parsed:?}")
        };
        assert_eq!(value.status(), StatusCode::FORBIDDEN);
        assert_eq!(body_framing(&value), BodyFraming::Length(2));
        assert_eq!(&buf[consumed..], b"no");
    }

    #[test]
    fn body_framing_rules() {
        let framing = |status: u16, headers: &[(&str, &str)]| {
            let mut response = http::Response::new(());
            *response.status_mut() = StatusCode::from_u16(status).unwrap();
            for (name, value) in headers {
                response.headers_mut().append(
                    HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_str(value).unwrap(),
                );
            }
            body_framing(&response)
        };
        assert_eq!(framing(204, &[("content-length", "5")]), BodyFraming::Empty);
        assert_eq!(framing(304, &[]), BodyFraming::Empty);
        assert_eq!(framing(100, &[]), BodyFraming::Empty);
        assert_eq!(framing(400, &[]), BodyFraming::UntilEof);
        assert_eq!(
            framing(400, &[("content-length", "5")]),
            BodyFraming::Length(5)
        );
        assert_eq!(
            framing(400, &[("content-length", "5, 5")]),
            BodyFraming::Length(5)
        );
        assert_eq!(
            framing(400, &[("content-length", "5, 6")]),
            BodyFraming::UntilEof
        );
        assert_eq!(
            framing(400, &[("content-length", "x")]),
            BodyFraming::UntilEof
        );
        let chunked = [
            ("transfer-encoding", "gzip, chunked"),
            ("content-length", "5"),
        ];
        assert_eq!(framing(400, &chunked), BodyFraming::Chunked);
        assert_eq!(
            framing(400, &[("transfer-encoding", "gzip")]),
            BodyFraming::UntilEof
        );
    }

    #[test]
    fn refusal_bodies() {
        let length = BodyFraming::Length(5);
        assert_eq!(refusal_body(length, b"abc", 100, false), None);
        assert_eq!(
            refusal_body(length, b"abc", 100, true),
            Some(("abc".into(), false))
        );
        assert_eq!(
            refusal_body(length, b"abcdefg", 100, false),
            Some(("abcde".into(), true))
        );
        assert_eq!(
            refusal_body(length, b"abcdefg", 2, false),
            Some(("ab".into(), false))
        );
        let eof = BodyFraming::UntilEof;
        assert_eq!(refusal_body(eof, b"abc", 100, false), None);
        assert_eq!(
            refusal_body(eof, b"abc", 100, true),
            Some(("abc".into(), true))
        );
        assert_eq!(
            refusal_body(eof, b"abc", 2, false),
            Some(("ab".into(), false))
        );
    }

    #[test]
    fn chunked_refusal_bodies() {
        let chunked = BodyFraming::Chunked;
        let raw = b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n";
        assert_eq!(
            refusal_body(chunked, raw, 100, false),
            Some(("abcde".into(), true))
        );
        assert_eq!(refusal_body(chunked, &raw[..10], 100, false), None);
        assert_eq!(
            refusal_body(chunked, &raw[..10], 100, true),
            Some(("abc".into(), false))
        );
        // The cap counts raw bytes: "3\r\nabc\r\n2;" is 10.
        assert_eq!(
            refusal_body(chunked, raw, 10, false),
            Some(("abc".into(), false))
        );
        assert_eq!(
            refusal_body(chunked, b"zz\r\n", 100, false),
            Some(("".into(), false))
        );
        assert_eq!(
            refusal_body(chunked, b"1\r\nab", 100, false),
            Some(("a".into(), false))
        );
    }
}
