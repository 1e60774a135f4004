//! The server's error type.

use std::fmt;
use std::time::Duration;

use weft_handshake::Rejection;

/// Why accepting a connection failed, or why a topic refused a subscription or a publish.
///
/// ```
/// use http::StatusCode;
/// use weft_server::{Error, Rejection};
/// let err = Error::Rejected(Rejection::new(StatusCode::FORBIDDEN, "origin refused"));
/// assert_eq!(err.status(), Some(StatusCode::FORBIDDEN));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The request was refused with this answer, which was sent to the client.
    Rejected(Rejection),
    /// The handshake did not finish within the handshake timeout.
    Timeout {
        /// The time allowed.
        after: Duration,
    },
    /// The client closed the connection before completing its request.
    Closed,
    /// The acceptor's settings are invalid (a subprotocol name that is not a token).
    Config(weft_handshake::Error),
    /// The TLS settings are unusable (unreadable files, a key that does not fit).
    TlsConfig(String),
    /// The TLS handshake failed (the client sent no or a bad ClientHello, or gave up).
    Tls(std::io::Error),
    /// Reading or writing failed during the handshake.
    Io(std::io::Error),
    /// hyper did not hand over the connection after the upgrade's response (the client went
    /// away, or the connection was not served with upgrades).
    #[cfg(feature = "hyper")]
    #[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
    Upgrade(hyper::Error),
    /// A topic name longer than
    /// [`TopicsBuilder::max_topic_name`](crate::topics::TopicsBuilder::max_topic_name).
    TopicNameTooLong {
        /// The name's length in bytes.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A message larger than
    /// [`TopicsBuilder::max_message_size`](crate::topics::TopicsBuilder::max_message_size).
    MessageTooLarge {
        /// The message's payload size in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A subscriber already in
    /// [`TopicsBuilder::max_subscriptions`](crate::topics::TopicsBuilder::max_subscriptions)
    /// topics.
    TooManySubscriptions {
        /// The limit.
        limit: usize,
    },
    /// The Redis bridge could not start: an invalid URL, Redis unreachable, or refused.
    Redis(Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// The HTTP status sent to the client, for a refused request.
    ///
    /// ```no_run
    /// # async fn demo(acceptor: weft_server::Acceptor, tcp: tokio::net::TcpStream) {
    /// match acceptor.accept_tcp(tcp).await {
    ///     Ok((_ws, _accepted)) => { /* serve it */ }
    ///     // The client was told why; a log line is all that is left to do.
    ///     Err(err) => match err.status() {
    ///         Some(status) => println!("refused with {status}: {err}"),
    ///         None => println!("handshake failed: {err}"),
    ///     },
    /// }
    /// # }
    /// ```
    pub fn status(&self) -> Option<http::StatusCode> {
        match self {
            Self::Rejected(rejection) => Some(rejection.status()),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rejected(rejection) => match rejection.cause() {
                Some(cause) => write!(f, "refused with {}: {cause}", rejection.status()),
                None => write!(f, "refused with {}", rejection.status()),
            },
            Self::Timeout { after } => write!(f, "handshake timed out after {after:?}"),
            Self::Closed => f.write_str("client closed the connection during the handshake"),
            Self::Config(err) => write!(f, "invalid acceptor settings: {err}"),
            Self::TlsConfig(reason) => write!(f, "invalid TLS settings: {reason}"),
            Self::Tls(err) => write!(f, "TLS handshake failed: {err}"),
            Self::Io(err) => write!(f, "I/O error during the handshake: {err}"),
            #[cfg(feature = "hyper")]
            Self::Upgrade(err) => write!(f, "hyper did not hand over the connection: {err}"),
            Self::TopicNameTooLong { len, limit } => {
                write!(
                    f,
                    "topic name of {len} bytes exceeds max_topic_name {limit}"
                )
            }
            Self::MessageTooLarge { size, limit } => write!(
                f,
                "message of {size} bytes exceeds the topics' max_message_size {limit}"
            ),
            Self::TooManySubscriptions { limit } => {
                write!(
                    f,
                    "subscriber is already in max_subscriptions {limit} topics"
                )
            }
            Self::Redis(err) => write!(f, "Redis: {err}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Rejected(rejection) => rejection
                .cause()
                .map(|cause| cause as &(dyn std::error::Error + 'static)),
            Self::Config(err) => Some(err),
            Self::Io(err) | Self::Tls(err) => Some(err),
            #[cfg(feature = "hyper")]
            Self::Upgrade(err) => Some(err),
            Self::Redis(err) => Some(&**err),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Self::Io(err)
    }
}
