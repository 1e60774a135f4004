//! What the server reports to `tracing` (feature `tracing`).
//!
//! Every connection gets a span named `websocket` (target `weft_server`, level `DEBUG`) with
//! `peer_addr`, `role = "server"`, `http_version`, and, once the handshake agreed to them,
//! `subprotocol` and `extensions`. Over HTTP/1.1 the span is the TCP connection's: reading its
//! requests (refusals and timeouts are reported there), then the WebSocket; over HTTP/2 each
//! WebSocket is a stream and has a span of its own. The handler runs inside it, and the
//! WebSocket keeps it, so what weft-codec reports about the connection (how it closed,
//! limits, timeouts) lands in it too, whichever task polls it.
//!
//! Events, all at `DEBUG`: the handshake accepted or refused (with the status and reason), a
//! request or TLS handshake that did not finish in time, a TLS handshake that failed, a
//! connection refused over [`max_connections`](crate::ServerBuilder::max_connections), a
//! subscriber closed for falling behind its topics
//! ([`SlowSubscriber::Close`](crate::topics::SlowSubscriber::Close)). What
//! a peer does is not the application's concern until it asks; nothing is reported per
//! message.
//!
//! Without the feature the span is a zero-sized placeholder and every function is empty.

#![cfg_attr(
    not(feature = "tracing"),
    allow(unused_variables, reason = "without the feature the reports are empty")
)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use weft_codec::tokio::WebSocket;
use weft_handshake::Rejection;

use crate::Error;

/// The span of one connection.
#[cfg(feature = "tracing")]
pub(crate) type Span = tracing::Span;

/// Without the feature, connections carry no span.
#[cfg(not(feature = "tracing"))]
#[derive(Debug, Clone)]
pub(crate) struct Span;

/// A connection's span; `peer_addr` may be recorded later with [`record_peer`].
pub(crate) fn connection_span(peer_addr: Option<SocketAddr>, version: http::Version) -> Span {
    #[cfg(feature = "tracing")]
    let span = tracing::debug_span!(
        target: "weft_server",
        "websocket",
        peer_addr = peer_addr.map(tracing::field::display),
        role = "server",
        http_version = ?version,
        subprotocol = tracing::field::Empty,
        extensions = tracing::field::Empty,
    );
    #[cfg(not(feature = "tracing"))]
    let span = Span;
    span
}

/// Records the peer's address, looked up only if the span is enabled (a system call).
pub(crate) fn record_peer(span: &Span, peer_addr: impl FnOnce() -> Option<SocketAddr>) {
    #[cfg(feature = "tracing")]
    if !span.is_disabled()
        && let Some(addr) = peer_addr()
    {
        span.record("peer_addr", tracing::field::display(addr));
    }
}

/// `future`, entered into `span` whenever it is polled.
#[cfg(feature = "tracing")]
pub(crate) fn instrument<F: Future>(
    future: F,
    span: &Span,
) -> tracing::instrument::Instrumented<F> {
    tracing::Instrument::instrument(future, span.clone())
}

/// `future` as it is.
#[cfg(not(feature = "tracing"))]
pub(crate) fn instrument<F: Future>(future: F, span: &Span) -> F {
    future
}

/// Runs `f` inside `span`.
#[cfg(any(feature = "http2", feature = "hyper"))]
pub(crate) fn in_scope<T>(span: &Span, f: impl FnOnce() -> T) -> T {
    #[cfg(feature = "tracing")]
    let value = span.in_scope(f);
    #[cfg(not(feature = "tracing"))]
    let value = f();
    value
}

/// The handshake was agreed: the subprotocol and extensions go into the span, which the
/// WebSocket keeps.
pub(crate) fn accepted<S>(
    span: Span,
    ws: &mut WebSocket<S>,
    request: &http::Request<()>,
    response: &http::Response<()>,
    protocol: Option<&str>,
) {
    #[cfg(feature = "tracing")]
    {
        if let Some(protocol) = protocol {
            span.record("subprotocol", protocol);
        }
        if let Some(extensions) = response
            .headers()
            .get(http::header::SEC_WEBSOCKET_EXTENSIONS)
            .and_then(|value| value.to_str().ok())
        {
            span.record("extensions", extensions);
        }
        span.in_scope(|| {
            tracing::debug!(
                target: "weft_server",
                path = request.uri().path(),
                status = response.status().as_u16(),
                "handshake accepted",
            );
        });
        ws.set_span(span);
    }
}

/// The handshake was refused with `rejection` (reported in the current span).
pub(crate) fn refused(rejection: &Rejection) {
    #[cfg(feature = "tracing")]
    if tracing::enabled!(target: "weft_server", tracing::Level::DEBUG) {
        let reason = match rejection.cause() {
            Some(cause) => cause.to_string(),
            None => String::from_utf8_lossy(rejection.body())
                .trim_end()
                .to_owned(),
        };
        tracing::debug!(
            target: "weft_server",
            status = rejection.status().as_u16(),
            reason,
            "handshake refused",
        );
    }
}

/// The handshake failed other than by a refusal (a refusal is reported where it is made).
pub(crate) fn handshake_failed(span: &Span, err: &Error) {
    #[cfg(feature = "tracing")]
    match err {
        Error::Rejected(_) => {}
        Error::Timeout { after } => handshake_timed_out(span, *after),
        other => span.in_scope(|| {
            tracing::debug!(target: "weft_server", error = %other, "handshake failed");
        }),
    }
}

/// No complete request (TLS included) arrived within the handshake timeout; over HTTP/1.1
/// with keep-alive, the same timeout bounds the wait for each further request.
pub(crate) fn handshake_timed_out(span: &Span, after: Duration) {
    #[cfg(feature = "tracing")]
    span.in_scope(|| {
        tracing::debug!(
            target: "weft_server",
            timeout = "handshake_timeout",
            ?after,
            "no complete request within the handshake timeout",
        );
    });
}

/// The TLS handshake, or the HTTP/2 connection preface and settings, failed or timed out:
/// before any request, so reported with the peer's address instead of in a span.
pub(crate) fn connection_failed(peer_addr: Option<SocketAddr>, err: &Error) {
    #[cfg(feature = "tracing")]
    match err {
        Error::Timeout { after } => tracing::debug!(
            target: "weft_server",
            peer_addr = peer_addr.map(tracing::field::display),
            timeout = "handshake_timeout",
            ?after,
            "connection not set up within the handshake timeout",
        ),
        other => tracing::debug!(
            target: "weft_server",
            peer_addr = peer_addr.map(tracing::field::display),
            error = %other,
            "connection failed before its first request",
        ),
    }
}

/// A subscriber's queue overflowed in a topic whose policy closes slow subscribers: it is
/// closed with `code` (reported in the current span: its connection's, when the server's
/// handler runs it).
pub(crate) fn slow_subscriber_closed(code: weft_codec::CloseCode) {
    #[cfg(feature = "tracing")]
    tracing::debug!(
        target: "weft_server",
        limit = "queue_capacity",
        code = code.as_u16(),
        "subscriber closed: it could not keep up with its topics",
    );
}

/// A connection over the server's connection cap was answered `503`.
pub(crate) fn over_capacity(peer_addr: SocketAddr, max_connections: usize) {
    #[cfg(feature = "tracing")]
    tracing::debug!(
        target: "weft_server",
        %peer_addr,
        status = 503,
        limit = "max_connections",
        max = max_connections,
        "connection refused: the server is at its connection cap",
    );
}
