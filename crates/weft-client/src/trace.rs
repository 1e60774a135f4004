//! What the client reports to `tracing` (feature `tracing`).
//!
//! Every connection gets a span named `websocket` (target `weft_client`, level `DEBUG`) with
//! `role = "client"`, `server` (the URL's host and port; never its path or query, which may
//! carry a token), `peer_addr` (the TCP peer: the server, or the proxy when there is one) and,
//! once the handshake is done, `http_version`, `subprotocol` and `extensions`. Connecting
//! (redirects included) runs inside it, and the WebSocket keeps it, so what weft-codec reports
//! about the connection (how it closed, limits, timeouts) lands in it too.
//!
//! Events, all at `DEBUG`: the handshake accepted; refused, with the status and the start of
//! the server's reason; a redirect followed; a timeout (which phase, after how long); any other
//! failure to connect. Nothing is reported per message.
//!
//! Without the feature the span is a zero-sized placeholder and every function is empty.

#![cfg_attr(
    not(feature = "tracing"),
    allow(unused_variables, reason = "without the feature the reports are empty")
)]

use std::future::Future;
use std::net::SocketAddr;

use weft_codec::tokio::WebSocket;

use crate::{Error, Response};

/// The span of one connection.
#[cfg(feature = "tracing")]
pub(crate) type Span = tracing::Span;

/// Without the feature, connections carry no span.
#[cfg(not(feature = "tracing"))]
#[derive(Debug, Clone)]
pub(crate) struct Span;

/// The span of a connection to `url`.
pub(crate) fn connection_span(url: &str) -> Span {
    #[cfg(feature = "tracing")]
    let span = {
        let span = tracing::debug_span!(
            target: "weft_client",
            "websocket",
            role = "client",
            server = tracing::field::Empty,
            peer_addr = tracing::field::Empty,
            http_version = tracing::field::Empty,
            subprotocol = tracing::field::Empty,
            extensions = tracing::field::Empty,
        );
        record_server(&span, url);
        span
    };
    #[cfg(not(feature = "tracing"))]
    let span = Span;
    span
}

/// No span: what is reported goes to the span current where the client is called.
#[cfg(feature = "http2")]
pub(crate) fn no_span() -> Span {
    #[cfg(feature = "tracing")]
    let span = tracing::Span::none();
    #[cfg(not(feature = "tracing"))]
    let span = Span;
    span
}

/// Records the host and port `url` names (again, after a redirect).
pub(crate) fn record_server(span: &Span, url: &str) {
    #[cfg(feature = "tracing")]
    if !span.is_disabled()
        && let Ok(target) = crate::Target::parse(url)
    {
        span.record("server", crate::authority::join(&target.host, target.port));
    }
}

/// Records the TCP peer's address, looked up only if the span is enabled (a system call).
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

/// The server accepted the handshake: what it agreed to goes into the span, which the
/// WebSocket keeps.
pub(crate) fn accepted<S>(span: &Span, ws: &mut WebSocket<S>, response: &Response) {
    #[cfg(feature = "tracing")]
    {
        use http::header::{SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_PROTOCOL};

        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|value: &http::HeaderValue| value.to_str().ok())
        };
        span.record("http_version", tracing::field::debug(response.version()));
        if let Some(protocol) = header(SEC_WEBSOCKET_PROTOCOL) {
            span.record("subprotocol", protocol);
        }
        if let Some(extensions) = header(SEC_WEBSOCKET_EXTENSIONS) {
            span.record("extensions", extensions);
        }
        span.in_scope(|| {
            tracing::debug!(
                target: "weft_client",
                status = response.status().as_u16(),
                "handshake accepted",
            );
        });
        ws.set_span(span.clone());
    }
}

/// A redirect to `location` is followed.
pub(crate) fn redirected(span: &Span, location: &str) {
    #[cfg(feature = "tracing")]
    span.in_scope(|| {
        // Without the query, which may carry a token.
        let location = location.split_once('?').map_or(location, |(path, _)| path);
        tracing::debug!(target: "weft_client", location, "following a redirect");
    });
}

/// Connecting failed with `err`, about to be returned.
pub(crate) fn failed(span: &Span, err: &Error) {
    #[cfg(feature = "tracing")]
    span.in_scope(|| match err {
        Error::Timeout { phase, after } => tracing::debug!(
            target: "weft_client",
            timeout = phase,
            ?after,
            "connecting timed out",
        ),
        Error::Handshake(weft_handshake::Error::Refused { response, .. }) => {
            let body = String::from_utf8_lossy(response.body());
            tracing::debug!(
                target: "weft_client",
                status = response.status().as_u16(),
                reason = first_words(&body),
                "handshake refused",
            );
        }
        other => tracing::debug!(target: "weft_client", error = %other, "connecting failed"),
    });
}

/// The start of a server's explanation: its first line, at most 200 bytes.
#[cfg(feature = "tracing")]
fn first_words(text: &str) -> &str {
    let line = text.trim().lines().next().unwrap_or_default();
    let mut end = line.len().min(200);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    &line[..end]
}
