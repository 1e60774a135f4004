//! Serving one HTTP/2 connection (RFC 9113 through `h2`): every extended CONNECT stream for
//! `websocket` (RFC 8441) becomes a WebSocket for the same handler as HTTP/1.1 upgrades, and
//! every other request goes to the same HTTP handler.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use h2::server::SendResponse;
use h2::{Reason, RecvStream};
use http::{HeaderName, Method, header};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use weft_codec::CloseCode;
use weft_codec::tokio::WebSocket;
use weft_h2::{H2Stream, Http2Limits, Prefixed};

use crate::acceptor::{Accepted, Acceptor};
use crate::server::HttpHandler;
use crate::stream::ServerStream;
use crate::{Error, trace};

/// What one connection shares with all its streams.
pub(crate) struct Shared<F> {
    pub(crate) acceptor: Acceptor,
    pub(crate) http: Arc<HttpHandler>,
    pub(crate) handler: Arc<F>,
    pub(crate) token: CancellationToken,
}

/// Serves an HTTP/2 connection until the peer closes it, it stays idle past the idle
/// timeout, or the server shuts down. `deadline` bounds the HTTP/2 handshake (the preface and
/// the first SETTINGS), which shares the handshake timeout with TLS.
///
/// Shutdown closes every WebSocket with 1001 (their `close_when`), refuses new streams
/// (`REFUSED_STREAM`), and once the streams are done sends `GOAWAY` and lets the connection
/// end.
pub(crate) async fn serve<F, Fut>(
    io: Prefixed<ServerStream>,
    limits: Http2Limits,
    shared: Shared<F>,
    deadline: Instant,
) where
    F: Fn(WebSocket<ServerStream>, Accepted) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let peer_addr = io.get_ref().peer_addr().ok();
    let tls = io.get_ref().is_tls();
    let handshake = limits.server_builder().handshake::<_, Bytes>(io);
    let mut connection = tokio::select! {
        () = shared.token.cancelled() => return,
        handshake = tokio::time::timeout_at(deadline, handshake) => match handshake {
            Ok(Ok(connection)) => connection,
            Ok(Err(err)) => {
                return trace::connection_failed(peer_addr, &Error::Io(weft_h2::io_error(err)));
            }
            // Counted as a handshake that timed out, as on HTTP/1.1.
            Err(_) => return trace::connection_failed(peer_addr, &shared.acceptor.timed_out()),
        },
    };
    let shared = Arc::new(shared);
    let mut streams = JoinSet::new();
    let idle_timeout = limits.get_idle_timeout();
    let idle = tokio::time::sleep(idle_timeout);
    tokio::pin!(idle);
    let mut shutting_down = false;
    let mut goaway_sent = false;
    loop {
        tokio::select! {
            accepted = connection.accept() => match accepted {
                Some(Ok((request, mut respond))) => {
                    if shutting_down {
                        respond.send_reset(Reason::REFUSED_STREAM);
                        continue;
                    }
                    let shared = shared.clone();
                    streams.spawn(serve_stream(request, respond, shared, peer_addr, tls));
                }
                // The peer closed the connection, or broke the protocol (h2 has sent GOAWAY).
                Some(Err(_)) | None => break,
            },
            Some(_) = streams.join_next(), if !streams.is_empty() => {
                if streams.is_empty() {
                    idle.as_mut().reset(Instant::now() + idle_timeout);
                }
            }
            () = shared.token.cancelled(), if !shutting_down => shutting_down = true,
            () = &mut idle, if streams.is_empty() && !goaway_sent => {
                connection.graceful_shutdown();
                goaway_sent = true;
            }
        }
        if shutting_down && streams.is_empty() && !goaway_sent {
            // Every WebSocket has had its 1001 and closed: now GOAWAY.
            connection.graceful_shutdown();
            goaway_sent = true;
        }
    }
    // The connection is over: streams still open see it fail in their reads and writes, and
    // their handlers end as they would on a closed TCP connection (a handler that ignores
    // its WebSocket is cut off by the server's shutdown timeout, as on HTTP/1.1).
    while streams.join_next().await.is_some() {}
}

/// One stream: a WebSocket for an extended CONNECT, an HTTP response for anything else.
///
/// Each stream's task lives as long as its WebSocket and is as large as its largest state, so
/// the part before the handler (deciding, responding, or answering a plain request) runs in a
/// boxed future freed once the WebSocket is open, as for an HTTP/1.1 connection.
async fn serve_stream<F, Fut>(
    request: http::Request<RecvStream>,
    respond: SendResponse<Bytes>,
    shared: Arc<Shared<F>>,
    peer_addr: Option<SocketAddr>,
    tls: bool,
) where
    F: Fn(WebSocket<ServerStream>, Accepted) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let handling = {
        let opened = Box::pin(open_stream(request, respond, &shared, peer_addr, tls));
        let Some((ws, accepted, span)) = opened.await else {
            return;
        };
        trace::instrument((shared.handler)(ws, accepted), &span)
    };
    handling.await;
}

/// The stream up to its WebSocket: `None` when it was refused or was a plain request (which is
/// answered here).
async fn open_stream<F, Fut>(
    request: http::Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    shared: &Shared<F>,
    peer_addr: Option<SocketAddr>,
    tls: bool,
) -> Option<(WebSocket<ServerStream>, Accepted, trace::Span)>
where
    F: Fn(WebSocket<ServerStream>, Accepted) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (parts, body) = request.into_parts();
    let protocol = parts
        .extensions
        .get::<h2::ext::Protocol>()
        .map(|protocol| protocol.as_str().to_owned());
    let request = http::Request::from_parts(parts, ());
    if request.method() == Method::CONNECT {
        // Each WebSocket on the connection has a span of its own.
        let span = trace::connection_span(peer_addr, http::Version::HTTP_2);
        let decided = trace::in_scope(&span, || {
            shared
                .acceptor
                .decide_extended_connect(request, protocol.as_deref())
        });
        return match decided {
            Ok(pending) => {
                let send = respond
                    .send_response(pending.response().clone(), false)
                    .ok()?;
                let stream = ServerStream::http2(H2Stream::new(send, body), peer_addr, tls);
                let (mut ws, accepted) =
                    pending.into_websocket_in(stream, BytesMut::new(), span.clone());
                ws.close_when(
                    CloseCode::GOING_AWAY,
                    "server shutting down",
                    shared.token.clone().cancelled_owned(),
                );
                Some((ws, accepted, span))
            }
            Err(rejection) => {
                send(&mut respond, rejection.into_http2_response(), false);
                None
            }
        };
    }
    // Request bodies are not read over HTTP/1.1 either; the stream's receiving side is
    // dropped, which tells h2 to discard what the client still sends.
    drop(body);
    shared
        .acceptor
        .counters()
        .add(crate::stats::Count::HttpRequests);
    let head_only = request.method() == Method::HEAD;
    let response = (shared.http)(request).await;
    send(&mut respond, response, head_only);
    None
}

/// Headers that belong to one HTTP/1.1 connection and are malformed in HTTP/2
/// (RFC 9113 §8.2.2).
const CONNECTION_SPECIFIC: [HeaderName; 4] = [
    header::CONNECTION,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    HeaderName::from_static("keep-alive"),
];

/// Sends a whole response on its stream; without its body for HEAD.
fn send(respond: &mut SendResponse<Bytes>, response: http::Response<Bytes>, head_only: bool) {
    let (mut parts, body) = response.into_parts();
    parts.version = http::Version::HTTP_2;
    for name in CONNECTION_SPECIFIC {
        parts.headers.remove(name);
    }
    parts
        .headers
        .insert(header::CONTENT_LENGTH, body.len().into());
    let end = head_only || body.is_empty();
    if let Ok(mut stream) = respond.send_response(http::Response::from_parts(parts, ()), end)
        && !end
    {
        let _ = stream.send_data(body, true);
    }
}
