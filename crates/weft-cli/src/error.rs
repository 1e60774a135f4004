//! Why a `weft` command failed, as one line for stderr.

use std::fmt;
use std::io;

use weft::codec::ProtocolError;
use weft::handshake::Error as HandshakeError;
use weft::{CloseCode, CloseFrame};

use crate::size::bytes;

/// Why a command failed. `main` prints it as `weft: {error}` and exits with status 1.
#[derive(Debug)]
pub(crate) enum Error {
    /// The tokio runtime could not start.
    Runtime(io::Error),
    /// `serve` could not bind its address.
    Bind {
        /// The address as given.
        addr: String,
        /// Why.
        source: io::Error,
    },
    /// The server's settings are invalid (a subprotocol that is not an HTTP token).
    ServerSettings(weft::server::Error),
    /// The listener failed while serving.
    Serve(io::Error),
    /// A file named on the command line could not be read.
    ReadFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A certificate or key file is unusable.
    Tls {
        /// The file (or the first of them).
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
    /// A `--header` the HTTP library does not accept.
    InvalidHeader {
        /// The header as given.
        header: String,
    },
    /// `--proxy` (or a proxy variable, with `--proxy-from-env`) is not a usable proxy URL.
    Proxy(weft::client::Error),
    /// The connection could not be opened: bad URL, unreachable host, or a refused handshake.
    Connect(weft::client::Error),
    /// The connection failed after the handshake (a protocol error, or closed without a
    /// closing handshake).
    Connection(weft::Error),
    /// The server closed the connection with a code other than 1000 or 1001.
    ClosedByServer(CloseFrame),
    /// The connection ended without the server's close frame (and without an error that says
    /// why).
    NoCloseFrame,
    /// Reading stdin failed.
    Stdin(io::Error),
    /// Writing stdout failed (for example, a closed pipe).
    Stdout(io::Error),
    /// `bench` could not open one of its connections.
    BenchConnect {
        /// Which connection, counting from 1.
        connection: usize,
        /// How many were being opened.
        of: usize,
        /// Why.
        source: weft::client::Error,
    },
    /// `bench` finished, but echoes were wrong or missing, or connections failed.
    BenchFailed(String),
    /// `serve --redis`: the URL is wrong, or Redis cannot be reached.
    Redis {
        /// The URL as given (shown without its password).
        url: String,
        /// Why.
        source: weft::server::Error,
    },
    /// `bench` needs more file descriptors than the process may open.
    DescriptorLimit {
        /// About how many it needs.
        needed: u64,
        /// The soft limit.
        limit: u64,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Runtime(err) => write!(f, "cannot start the tokio runtime: {err}"),
            Self::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            Self::ServerSettings(err) => write!(f, "{err}"),
            Self::ReadFile { path, source } => {
                write!(f, "cannot read {}: {source}", path.display())
            }
            Self::Tls { path, reason } => write!(f, "{}: {reason}", path.display()),
            Self::Serve(err) => write!(f, "server failed: {err}"),
            Self::InvalidHeader { header } => {
                write!(
                    f,
                    "invalid --header {header:?}: not a valid HTTP header name and value"
                )
            }
            Self::Proxy(err) => write!(f, "--proxy: {err}"),
            Self::Connect(err) => fmt_connect_error(f, err),
            Self::Connection(err) => write!(f, "connection failed: {}", describe(err)),
            Self::ClosedByServer(frame) => write!(
                f,
                "server closed the connection with {}",
                close_text(Some(frame))
            ),
            Self::NoCloseFrame => f.write_str("connection ended without a close frame"),
            Self::Stdin(err) => write!(f, "cannot read stdin: {err}"),
            Self::Stdout(err) => write!(f, "cannot write stdout: {err}"),
            Self::BenchConnect {
                connection,
                of,
                source,
            } => {
                write!(f, "connection {connection} of {of}: ")?;
                fmt_connect_error(f, source)
            }
            Self::BenchFailed(what) => write!(f, "bench failed: {what}"),
            Self::Redis { url, source } => {
                let reason = match source {
                    weft::server::Error::Redis(err) => err.to_string(),
                    other => other.to_string(),
                };
                write!(
                    f,
                    "cannot join the room through Redis at {}: {}",
                    crate::serve::redact(url),
                    one_line(&reason)
                )
            }
            Self::DescriptorLimit { needed, limit } => write!(
                f,
                "about {needed} file descriptors are needed but the limit is {limit}; \
                 raise it first (ulimit -n {needed})"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Runtime(err) | Self::Serve(err) | Self::Stdin(err) | Self::Stdout(err) => {
                Some(err)
            }
            Self::Bind { source, .. } | Self::ReadFile { source, .. } => Some(source),
            Self::ServerSettings(err) | Self::Redis { source: err, .. } => Some(err),
            Self::Connect(err) | Self::Proxy(err) | Self::BenchConnect { source: err, .. } => {
                Some(err)
            }
            Self::Connection(err) => Some(err),
            Self::InvalidHeader { .. }
            | Self::Tls { .. }
            | Self::ClosedByServer(_)
            | Self::NoCloseFrame
            | Self::BenchFailed(_)
            | Self::DescriptorLimit { .. } => None,
        }
    }
}

/// A refused handshake shows the status and the first line of the body the server sent, which
/// usually says why; an answer that is neither a refusal nor an upgrade (200, a redirect not
/// followed) says that the server did not upgrade; other failures say what they are, in
/// terms of the command's flags.
fn fmt_connect_error(f: &mut fmt::Formatter<'_>, err: &weft::client::Error) -> fmt::Result {
    let response = match err {
        weft::client::Error::Handshake(HandshakeError::Refused { response, .. }) => response,
        weft::client::Error::TooManyRedirects { limit, location } => {
            return write!(
                f,
                "more than {limit} redirects (the last one to {location}); raise --max-redirects"
            );
        }
        weft::client::Error::WebSocket(err) => return f.write_str(&describe(err)),
        other => return write!(f, "{other}"),
    };
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        write!(
            f,
            "the server did not upgrade to WebSocket: it answered {status}"
        )?;
        if status.is_redirection() {
            if let Some(location) = response
                .headers()
                .get(http::header::LOCATION)
                .and_then(|location| location.to_str().ok())
            {
                write!(f, " to {}", one_line(location))?;
            }
            return f.write_str(" (follow redirects with --max-redirects N)");
        }
        return Ok(());
    }
    write!(f, "server refused the connection: {status}")?;
    let body = String::from_utf8_lossy(response.body());
    match body.lines().map(str::trim).find(|line| !line.is_empty()) {
        Some(line) => write!(f, ": {}", one_line(line)),
        None => Ok(()),
    }
}

/// A connection error in the command's terms: a limit names the flag that sets it
/// (`--max-message-size`), not the library setting.
pub(crate) fn describe(err: &weft::Error) -> String {
    let weft::Error::Protocol(violation) = err else {
        return err.to_string();
    };
    let size = |n: u64| bytes(usize::try_from(n).unwrap_or(usize::MAX));
    let what = match violation {
        ProtocolError::MessageTooLarge { size: got, limit } => format!(
            "a message of {} exceeds the limit of {} (--max-message-size)",
            size(*got),
            bytes(*limit)
        ),
        ProtocolError::FrameTooLarge { size: got, limit } => format!(
            "a frame of {} exceeds the limit of {} (--max-message-size)",
            size(*got),
            bytes(*limit)
        ),
        ProtocolError::InflatedTooLarge { limit } => format!(
            "a compressed message exceeds the limit of {} once decompressed (--max-message-size)",
            bytes(*limit)
        ),
        ProtocolError::TooManyFragments { limit } => {
            format!("a message came in more than {limit} frames")
        }
        other => other.to_string(),
    };
    format!(
        "protocol error, closed with {}: {what}",
        violation.close_code()
    )
}

/// How a peer closed a connection, on one line: `1009 (message too big): reason`.
pub(crate) fn close_text(frame: Option<&CloseFrame>) -> String {
    match frame {
        None => format!("{} (no status code)", CloseCode::NO_STATUS.as_u16()),
        Some(frame) if frame.reason().is_empty() => frame.code().to_string(),
        Some(frame) => format!("{}: {}", frame.code(), one_line(frame.reason())),
    }
}

/// Text from the peer, cut to fit on one terminal line.
fn one_line(text: &str) -> String {
    const MAX_CHARS: usize = 200;
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() <= MAX_CHARS && line.len() == text.len() {
        return line.to_owned();
    }
    let mut cut: String = line.chars().take(MAX_CHARS).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use weft::CloseCode;

    use super::*;

    fn refused(status: u16, body: &str) -> Error {
        let response = http::Response::builder()
            .status(status)
            .body(Bytes::copy_from_slice(body.as_bytes()))
            .expect("a valid response");
        Error::Connect(weft::client::Error::Handshake(HandshakeError::Refused {
            response: Box::new(response),
            body_complete: true,
        }))
    }

    #[test]
    fn a_refusal_shows_the_status_and_the_first_line_of_the_body() {
        assert_eq!(
            refused(403, "\r\norigin not allowed\nmore detail\n").to_string(),
            "server refused the connection: 403 Forbidden: origin not allowed"
        );
        assert_eq!(
            refused(503, "").to_string(),
            "server refused the connection: 503 Service Unavailable"
        );
    }

    #[test]
    fn an_answer_that_is_not_an_upgrade_is_not_called_a_refusal() {
        assert_eq!(
            refused(200, "hello").to_string(),
            "the server did not upgrade to WebSocket: it answered 200 OK"
        );
        let response = http::Response::builder()
            .status(308)
            .header("location", "wss://example.com/new")
            .body(Bytes::new())
            .expect("a valid response");
        let redirect = Error::Connect(weft::client::Error::Handshake(HandshakeError::Refused {
            response: Box::new(response),
            body_complete: true,
        }));
        assert_eq!(
            redirect.to_string(),
            "the server did not upgrade to WebSocket: it answered 308 Permanent Redirect to \
             wss://example.com/new (follow redirects with --max-redirects N)"
        );
    }

    #[test]
    fn limits_are_named_by_their_flags() {
        let too_big = weft::Error::Protocol(ProtocolError::MessageTooLarge {
            size: 70 << 20,
            limit: 64 << 20,
        });
        assert_eq!(
            Error::Connection(too_big).to_string(),
            "connection failed: protocol error, closed with 1009 (message too big): a message \
             of 70 MiB exceeds the limit of 64 MiB (--max-message-size)"
        );
        let bomb = weft::Error::Protocol(ProtocolError::InflatedTooLarge { limit: 1 << 20 });
        assert!(describe(&bomb).ends_with(
            "a compressed message exceeds the limit of 1 MiB once decompressed (--max-message-size)"
        ));
        assert!(!describe(&bomb).contains("max_message_size"));
        assert_eq!(close_text(None), "1005 (no status code)");
    }

    #[test]
    fn every_message_is_one_line() {
        let long = "x".repeat(500);
        let errors = [
            refused(400, "a\nb"),
            refused(400, &long),
            Error::ClosedByServer(CloseFrame::new(CloseCode::POLICY_VIOLATION, "no\nway")),
            Error::ClosedByServer(CloseFrame::new(CloseCode::from(4000), "")),
            Error::Connection(weft::Error::AbnormalClosure),
            Error::NoCloseFrame,
        ];
        for err in errors {
            let text = err.to_string();
            assert!(!text.contains('\n'), "{text:?}");
            assert!(text.chars().count() < 300, "{text:?}");
        }
        assert_eq!(
            Error::ClosedByServer(CloseFrame::new(CloseCode::POLICY_VIOLATION, "no\nway"))
                .to_string(),
            "server closed the connection with 1008 (policy violation): no…"
        );
    }
}
