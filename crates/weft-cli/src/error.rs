//! Why a `weft` command failed, as one line for stderr.

use std::fmt;
use std::io;

use weft::CloseFrame;
use weft::handshake::Error as HandshakeError;

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
            Self::Connect(err) => fmt_connect_error(f, err),
            Self::Connection(err) => write!(f, "connection failed: {err}"),
            Self::ClosedByServer(frame) if frame.reason().is_empty() => {
                write!(f, "server closed the connection with {}", frame.code())
            }
            Self::ClosedByServer(frame) => write!(
                f,
                "server closed the connection with {}: {}",
                frame.code(),
                one_line(frame.reason())
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
            Self::ServerSettings(err) => Some(err),
            Self::Connect(err) | Self::BenchConnect { source: err, .. } => Some(err),
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
/// usually says why; other failures say what they are.
fn fmt_connect_error(f: &mut fmt::Formatter<'_>, err: &weft::client::Error) -> fmt::Result {
    let weft::client::Error::Handshake(HandshakeError::Refused { response, .. }) = err else {
        return write!(f, "{err}");
    };
    write!(f, "server refused the connection: {}", response.status())?;
    let body = String::from_utf8_lossy(response.body());
    match body.lines().map(str::trim).find(|line| !line.is_empty()) {
        Some(line) => write!(f, ": {}", one_line(line)),
        None => Ok(()),
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
