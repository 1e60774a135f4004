//! What a [`WebSocket`](super::WebSocket) reports to `tracing` (feature `tracing`): how the
//! connection ended (its close code and reason), a limit the peer exceeded or the write buffer
//! reached, a protocol violation, a timeout, a transport that failed. Nothing per message:
//! the reports run when the connection ends or on an error ([`queued`] passes each send's
//! result through and reports only a full write buffer).
//!
//! Events go inside the connection's span, which the client or server that opened the
//! connection gives it ([`WebSocket::set_span`](super::WebSocket::set_span)); a WebSocket
//! without one reports in the span current where it is polled. Every event is at `DEBUG`,
//! target `weft_codec`: what a peer does is not the application's problem until it asks.
//!
//! Without the feature the span is a zero-sized placeholder and every function is empty, so
//! the call sites in the loop need no `cfg` of their own.

#![cfg_attr(
    not(feature = "tracing"),
    allow(unused_variables, reason = "without the feature the reports are empty")
)]

use crate::connection::Connection;
use crate::error::Error;
#[cfg(feature = "tracing")]
use crate::error::ProtocolError;

/// The span of one connection.
#[cfg(feature = "tracing")]
pub(super) type Span = tracing::Span;

/// Without the feature, a WebSocket carries no span.
#[cfg(not(feature = "tracing"))]
#[derive(Debug)]
pub(super) struct Span;

/// No span of its own: the WebSocket reports in the span current where it is polled.
pub(super) fn no_span() -> Span {
    #[cfg(feature = "tracing")]
    let span = tracing::Span::none();
    #[cfg(not(feature = "tracing"))]
    let span = Span;
    span
}

/// The connection failed with `err`, which is about to be handed to the reader.
pub(super) fn failed(span: &Span, conn: &Connection, err: &Error) {
    #[cfg(feature = "tracing")]
    span.in_scope(|| match err {
        Error::Protocol(violation) => {
            let code = violation.close_code().as_u16();
            match exceeded_limit(violation) {
                Some(limit) => tracing::debug!(
                    target: "weft_codec",
                    limit,
                    code,
                    error = %violation,
                    "peer exceeded a limit",
                ),
                None => tracing::debug!(
                    target: "weft_codec",
                    code,
                    error = %violation,
                    "peer broke the protocol",
                ),
            }
        }
        Error::CloseTimeout => tracing::debug!(
            target: "weft_codec",
            timeout = "close_timeout",
            after = ?conn.config().get_close_timeout(),
            "peer did not finish the closing handshake in time",
        ),
        Error::KeepaliveTimeout => tracing::debug!(
            target: "weft_codec",
            timeout = "ping_timeout",
            after = ?conn.config().get_ping_timeout(),
            code = crate::CloseCode::INTERNAL_ERROR.as_u16(),
            "keepalive ping not answered in time",
        ),
        Error::AbnormalClosure => tracing::debug!(
            target: "weft_codec",
            code = crate::CloseCode::ABNORMAL.as_u16(),
            "transport ended without a closing handshake",
        ),
        Error::Io(io) => tracing::debug!(
            target: "weft_codec",
            error = %io,
            "transport failed",
        ),
        other => tracing::debug!(target: "weft_codec", error = %other, "connection failed"),
    });
}

/// What queueing a message came to, passed through: a full write buffer (a peer that reads
/// too slowly for what is sent) is reported; the caller's other mistakes are only returned.
#[inline]
pub(super) fn queued(span: &Span, result: Result<(), Error>) -> Result<(), Error> {
    #[cfg(feature = "tracing")]
    if let Err(Error::WriteBufferFull { buffered, limit }) = &result {
        span.in_scope(|| {
            tracing::debug!(
                target: "weft_codec",
                limit = "max_write_buffer",
                buffered,
                max = limit,
                "write buffer full: the peer reads too slowly",
            );
        });
    }
    result
}

/// The connection is over and its transport closed: the close code and reason the peer sent
/// (RFC 6455 §7.1.5: 1005 for a close frame without a code, 1006 when none arrived).
pub(super) fn closed(span: &Span, conn: &Connection) {
    #[cfg(feature = "tracing")]
    span.in_scope(|| match conn.peer_close_frame() {
        Some(Some(frame)) => tracing::debug!(
            target: "weft_codec",
            code = frame.code().as_u16(),
            reason = frame.reason(),
            "connection closed",
        ),
        Some(None) => tracing::debug!(
            target: "weft_codec",
            code = crate::CloseCode::NO_STATUS.as_u16(),
            reason = "",
            "connection closed",
        ),
        None => tracing::debug!(
            target: "weft_codec",
            code = crate::CloseCode::ABNORMAL.as_u16(),
            reason = "",
            "connection closed without a close frame from the peer",
        ),
    });
}

/// The [`Limits`](crate::Limits) setting a violation exceeded, if it is a limit's.
#[cfg(feature = "tracing")]
fn exceeded_limit(violation: &ProtocolError) -> Option<&'static str> {
    match violation {
        ProtocolError::FrameTooLarge { .. } => Some("max_frame_size"),
        ProtocolError::MessageTooLarge { .. } | ProtocolError::InflatedTooLarge { .. } => {
            Some("max_message_size")
        }
        ProtocolError::TooManyFragments { .. } => Some("max_fragments"),
        _ => None,
    }
}
