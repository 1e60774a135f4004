//! [`Server`]: a listener that serves WebSocket and plain HTTP on one port, with a connection
//! cap and graceful shutdown.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderValue, Method, StatusCode, header};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use weft_codec::CloseCode;
use weft_codec::tokio::WebSocket;

use crate::acceptor::{Accepted, Acceptor, Incoming};
use crate::capacity::{self, Capacity};
use crate::stats::{ConnectionSlot, Count, Stats};
use crate::stream::ServerStream;
use crate::trace;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
pub(crate) type HttpHandler =
    dyn Fn(http::Request<()>) -> BoxFuture<http::Response<Bytes>> + Send + Sync;

/// How long a refused connection is given to read our `503`.
const REFUSAL_LINGER: Duration = Duration::from_secs(2);

/// A WebSocket server: listens, hands each upgraded connection to your handler, answers plain
/// HTTP requests on the same port, caps concurrent connections, and shuts down gracefully.
///
/// | setting | default |
/// | --- | --- |
/// | [`max_connections`](ServerBuilder::max_connections) (then `503`) | the file-descriptor limit less a reserve (19,680 of 20,000; 523,968 of 524,288) |
/// | [`raise_fd_limit`](ServerBuilder::raise_fd_limit) | on: the soft limit is raised to the hard limit |
/// | [`shutdown_timeout`](ServerBuilder::shutdown_timeout) | 10 s |
/// | [`http`](ServerBuilder::http) handler | `404 Not Found` |
/// | [`acceptor`](ServerBuilder::acceptor) | [`Acceptor::builder`]'s defaults |
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use weft_server::{Message, Server};
///
/// let server = Server::bind("127.0.0.1:9001").await?;
/// let shutdown = server.shutdown_handle();
/// tokio::spawn(async move {
///     let _ = tokio::signal::ctrl_c().await;
///     shutdown.shutdown(); // close 1001 to every peer, wait at most 10 s
/// });
/// server
///     .serve(|mut ws, _accepted| async move {
///         while let Some(Ok(message)) = ws.next().await {
///             if message.is_text() || message.is_binary() {
///                 if ws.send(message).await.is_err() {
///                     break;
///                 }
///             }
///         }
///     })
///     .await
/// # }
/// ```
pub struct Server {
    listener: TcpListener,
    acceptor: Acceptor,
    http: Arc<HttpHandler>,
    capacity: Capacity,
    shutdown_timeout: Duration,
    token: CancellationToken,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.listener.local_addr().ok())
            .field("acceptor", &self.acceptor)
            .field("max_connections", &self.capacity.connections)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish_non_exhaustive()
    }
}

/// Stops a [`Server`]: it stops accepting, sends close 1001 to every WebSocket peer, and waits
/// for the connections to end (at most the shutdown timeout) before `serve` returns.
///
/// One handle can stop several servers (one per thread, say) when it is given to each of them
/// with [`ServerBuilder::shutdown_handle`].
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// let server = weft_server::Server::bind("0.0.0.0:9001").await?;
/// let shutdown = server.shutdown_handle(); // cheap to clone, usable from any task
/// tokio::spawn(async move {
///     let _ = tokio::signal::ctrl_c().await;
///     shutdown.shutdown();
/// });
/// server.serve(|_ws, _accepted| async {}).await
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct ShutdownHandle(pub(crate) CancellationToken);

impl ShutdownHandle {
    /// A handle for servers not built yet; see [`ServerBuilder::shutdown_handle`].
    ///
    /// ```
    /// let handle = weft_server::ShutdownHandle::new();
    /// assert!(!handle.is_shutting_down());
    /// handle.shutdown();
    /// assert!(handle.is_shutting_down());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts the graceful shutdown.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let server = weft_server::Server::bind("127.0.0.1:0").await?;
    /// let shutdown = server.shutdown_handle();
    /// let serving = tokio::spawn(server.serve(|_ws, _accepted| async {}));
    /// shutdown.shutdown();
    /// serving.await.expect("the server task")?; // returns once every connection is done
    /// # Ok(()) }
    /// ```
    pub fn shutdown(&self) {
        self.0.cancel();
    }

    /// Whether shutdown has started.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let server = weft_server::Server::bind("127.0.0.1:0").await?;
    /// let shutdown = server.shutdown_handle();
    /// assert!(!shutdown.is_shutting_down());
    /// shutdown.shutdown();
    /// assert!(shutdown.is_shutting_down());
    /// # Ok(()) }
    /// ```
    pub fn is_shutting_down(&self) -> bool {
        self.0.is_cancelled()
    }

    /// Completes when shutdown starts; for handlers that wait on something other than their
    /// WebSocket.
    ///
    /// ```no_run
    /// # async fn demo(server: weft_server::Server) -> std::io::Result<()> {
    /// use weft_server::Message;
    /// let shutdown = server.shutdown_handle();
    /// server
    ///     .serve(move |mut ws, _accepted| {
    ///         let shutdown = shutdown.clone();
    ///         async move {
    ///             // A handler that pushes updates from elsewhere stops with the server.
    ///             let mut ticks = tokio::time::interval(std::time::Duration::from_secs(1));
    ///             loop {
    ///                 tokio::select! {
    ///                     () = shutdown.wait() => break,
    ///                     _ = ticks.tick() => {
    ///                         if ws.send(Message::text("tick")).await.is_err() {
    ///                             break;
    ///                         }
    ///                     }
    ///                 }
    ///             }
    ///         }
    ///     })
    ///     .await
    /// # }
    /// ```
    pub async fn wait(&self) {
        self.0.cancelled().await;
    }
}

impl Server {
    /// A builder with the defaults.
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// use std::time::Duration;
    /// let server = weft_server::Server::builder()
    ///     .max_connections(50_000)
    ///     .shutdown_timeout(Duration::from_secs(30))
    ///     .bind("0.0.0.0:9001")
    ///     .await?;
    /// # drop(server);
    /// # Ok(()) }
    /// ```
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            acceptor: None,
            http: None,
            max_connections: None,
            raise_fd_limit: true,
            shutdown_timeout: Duration::from_secs(10),
            shutdown: None,
            reuse_port: false,
            share: None,
        }
    }

    /// Binds to `addr` with the defaults.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// // Port 0: the system picks a free port.
    /// let server = weft_server::Server::bind("127.0.0.1:0").await?;
    /// println!("listening on ws://{}", server.local_addr()?);
    /// # Ok(()) }
    /// ```
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<Self> {
        Self::builder().bind(addr).await
    }

    /// The address the server listens on (useful after binding port 0).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let server = weft_server::Server::bind("127.0.0.1:0").await?;
    /// assert_ne!(server.local_addr()?.port(), 0);
    /// # Ok(()) }
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// A handle that shuts the server down.
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// let server = weft_server::Server::bind("0.0.0.0:9001").await?;
    /// let shutdown = server.shutdown_handle();
    /// tokio::spawn(async move {
    ///     let _ = tokio::signal::ctrl_c().await;
    ///     shutdown.shutdown();
    /// });
    /// server.serve(|_ws, _accepted| async {}).await
    /// # }
    /// ```
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.token.clone())
    }

    /// The server's counters (connections, refusals, closes by code, limits broken, bytes):
    /// take the handle before [`serve`](Self::serve), read it any time, also after the server
    /// stopped. The same as its acceptor's [`Acceptor::stats`].
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// let server = weft_server::Server::bind("127.0.0.1:9001").await?;
    /// let stats = server.stats();
    /// tokio::spawn(server.serve(|_ws, _accepted| async {}));
    /// println!("{} WebSockets so far", stats.snapshot().websockets_upgraded);
    /// # Ok(()) }
    /// ```
    pub fn stats(&self) -> Stats {
        self.acceptor.stats()
    }

    /// The most connections served at once: the one set with
    /// [`ServerBuilder::max_connections`], or the default computed from the file-descriptor
    /// limit when the server was built.
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// let server = weft_server::Server::bind("127.0.0.1:9001").await?;
    /// println!("serving up to {} connections", server.max_connections());
    /// # Ok(()) }
    /// ```
    pub fn max_connections(&self) -> usize {
        self.capacity.connections
    }

    /// Serves until shut down, running `handler` for each WebSocket connection.
    ///
    /// The handler's WebSocket is closed with 1001 when shutdown starts (on its next poll);
    /// handlers still running after the shutdown timeout are cancelled.
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// use weft_server::{Message, Server};
    /// // A broadcast: every connection gets what any of them sends.
    /// let (tx, _) = tokio::sync::broadcast::channel::<Message>(1024);
    /// Server::bind("0.0.0.0:9001")
    ///     .await?
    ///     .serve(move |ws, accepted| {
    ///         let (tx, mut rx) = (tx.clone(), tx.subscribe());
    ///         async move {
    ///             println!("joined: {}", accepted.request.uri());
    ///             let (mut reader, mut writer) = ws.split();
    ///             let forward = tokio::spawn(async move {
    ///                 while let Ok(message) = rx.recv().await {
    ///                     if writer.send(message).await.is_err() {
    ///                         break;
    ///                     }
    ///                 }
    ///             });
    ///             while let Some(Ok(message)) = reader.next().await {
    ///                 if message.is_text() {
    ///                     let _ = tx.send(message);
    ///                 }
    ///             }
    ///             forward.abort();
    ///         }
    ///     })
    ///     .await
    /// # }
    /// ```
    pub async fn serve<F, Fut>(self, handler: F) -> io::Result<()>
    where
        F: Fn(WebSocket<ServerStream>, Accepted) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let connections = Arc::new(Semaphore::new(self.capacity.connections));
        let refusals = Arc::new(Semaphore::new(self.capacity.refusals));
        let counters = self.acceptor.counters().clone();
        // A descriptor kept free, to accept and close a connection when none is left (so that
        // clients are refused at once instead of waiting in the accept queue).
        let mut spare = spare_fd();
        let mut tasks = JoinSet::new();
        loop {
            let accepted = tokio::select! {
                () = self.token.cancelled() => break,
                accepted = self.listener.accept() => accepted,
            };
            while tasks.try_join_next().is_some() {}
            let (tcp, peer) = match accepted {
                Ok(connection) => connection,
                Err(err) if is_per_connection_error(&err) => continue,
                Err(err) if capacity::out_of_fds(&err) && spare.is_some() => {
                    drop(spare.take());
                    if refuse_without_fds(&self.listener).await {
                        counters.add(Count::RefusedOutOfFds);
                    }
                    spare = spare_fd();
                    continue;
                }
                Err(_) => {
                    // Out of memory, or of descriptors with no spare: back off instead of
                    // spinning.
                    counters.add(Count::AcceptErrors);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    spare = spare.or_else(spare_fd);
                    continue;
                }
            };
            let Ok(permit) = connections.clone().try_acquire_owned() else {
                trace::over_capacity(peer, self.max_connections());
                if let Ok(permit) = refusals.clone().try_acquire_owned() {
                    counters.add(Count::RefusedOverCapacity);
                    let acceptor = self.acceptor.clone();
                    tasks.spawn(async move {
                        refuse_busy(&acceptor, tcp).await;
                        drop(permit);
                    });
                } else {
                    counters.add(Count::DroppedOverCapacity);
                }
                continue;
            };
            let slot = counters.open_connection(permit);
            let acceptor = self.acceptor.clone();
            let http = self.http.clone();
            let handler = handler.clone();
            let token = self.token.clone();
            tasks.spawn(serve_connection(
                tcp, peer, slot, acceptor, http, handler, token,
            ));
        }
        drop(self.listener);
        let drained = tokio::time::timeout(self.shutdown_timeout, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        Ok(())
    }
}

/// One TCP connection: TLS if configured, then HTTP/2, or HTTP/1.1 requests (kept alive)
/// until one upgrades, then the handler in the connection's span.
///
/// This future lives as long as the connection and is as large as its largest state, so
/// everything before the handler (TLS, HTTP requests, HTTP/2) runs in a boxed future of its
/// own, freed once the WebSocket is open: what stays is the handler's state and a few words.
/// Inline, the setup's states made every idle WebSocket task of `weft serve` 4.7 KiB.
#[allow(
    clippy::too_many_arguments,
    reason = "one call site, each argument its own part"
)]
async fn serve_connection<F, Fut>(
    tcp: TcpStream,
    peer: SocketAddr,
    slot: ConnectionSlot,
    acceptor: Acceptor,
    http: Arc<HttpHandler>,
    handler: Arc<F>,
    token: CancellationToken,
) where
    F: Fn(WebSocket<ServerStream>, Accepted) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    // In a block of their own, the WebSocket and what the handshake agreed end before the
    // handler runs: only the handler's future is kept across its await, not copies of them.
    let handling = {
        let opened = Box::pin(open(
            tcp,
            peer,
            slot,
            acceptor,
            http,
            handler.clone(),
            token.clone(),
        ));
        let Some((mut ws, accepted, span)) = opened.await else {
            return;
        };
        ws.close_when(
            CloseCode::GOING_AWAY,
            "server shutting down",
            token.cancelled_owned(),
        );
        trace::instrument(handler(ws, accepted), &span)
    };
    handling.await;
}

/// The connection up to its WebSocket: `None` when it ended before one opened (closed,
/// refused, timed out, plain HTTP only, or served over HTTP/2, whose streams run their
/// handlers here).
async fn open<F, Fut>(
    tcp: TcpStream,
    peer: SocketAddr,
    slot: ConnectionSlot,
    acceptor: Acceptor,
    http: Arc<HttpHandler>,
    handler: Arc<F>,
    token: CancellationToken,
) -> Option<(WebSocket<ServerStream>, Accepted, trace::Span)>
where
    F: Fn(WebSocket<ServerStream>, Accepted) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    #[cfg(not(feature = "http2"))]
    let _ = &handler; // Only HTTP/2's streams run the handler here.
    // The handshake timeout runs from the accept: TLS and the first request share it. After
    // that it bounds each kept-alive request, idle time included.
    let timeout = acceptor.handshake_timeout();
    let mut deadline = tokio::time::Instant::now() + timeout;
    let secured = tokio::select! {
        () = token.cancelled() => return None,
        secured = tokio::time::timeout_at(deadline, acceptor.secure(tcp, true)) => secured,
    };
    let mut stream = match secured {
        Ok(Ok(stream)) => stream,
        Ok(Err(err)) => {
            trace::connection_failed(Some(peer), &err);
            return None;
        }
        Err(_) => {
            trace::connection_failed(Some(peer), &acceptor.timed_out());
            return None;
        }
    };
    stream.hold(slot);
    let mut buf = BytesMut::new();
    #[cfg(feature = "http2")]
    if let Some(limits) = acceptor.http2() {
        let http2 = if stream.is_tls() {
            stream.alpn_is_h2()
        } else {
            // h2c with prior knowledge: the preface tells it from HTTP/1.1 on this port. The
            // bytes read to decide are HTTP/1.1's first request otherwise.
            let sniffed = tokio::select! {
                () = token.cancelled() => return None,
                sniffed = tokio::time::timeout_at(deadline, sniff_preface(&mut stream, &mut buf)) => sniffed,
            };
            match sniffed {
                Ok(Ok(http2)) => http2,
                Ok(Err(err)) => {
                    trace::connection_failed(Some(peer), &crate::Error::Io(err));
                    return None;
                }
                Err(_) => {
                    trace::connection_failed(Some(peer), &acceptor.timed_out());
                    return None;
                }
            }
        };
        if http2 {
            let io = weft_h2::Prefixed::new(buf.freeze(), stream);
            let limits = limits.clone();
            let shared = crate::http2::Shared {
                acceptor,
                http,
                handler,
                token,
            };
            crate::http2::serve(io, limits, shared, deadline).await;
            return None;
        }
    }
    // HTTP/1.1: the connection's span covers reading requests and the handler.
    let span = trace::connection_span(Some(peer), http::Version::HTTP_11);
    let mut first_request = true;
    loop {
        let read = trace::instrument(acceptor.read(stream, buf, &span), &span);
        let incoming = tokio::select! {
            () = token.cancelled() => return None,
            incoming = tokio::time::timeout_at(deadline, read) => incoming,
        };
        match incoming {
            Ok(Ok(Incoming::WebSocket(ws, accepted))) => return Some((*ws, accepted, span)),
            Ok(Ok(Incoming::Http(mut next, request, rest))) => {
                acceptor.counters().add(Count::HttpRequests);
                let keep_alive = keeps_alive(&request);
                let head_only = request.method() == Method::HEAD;
                let response = http(request).await;
                if write_response(&mut next, response, keep_alive, head_only)
                    .await
                    .is_err()
                    || !keep_alive
                {
                    let _ = next.shutdown().await;
                    return None;
                }
                stream = next;
                buf = rest;
                first_request = false;
                deadline = tokio::time::Instant::now() + timeout;
            }
            Ok(Ok(Incoming::Closed)) => return None,
            // Refused (the refusal was written and reported) or failed: done.
            Ok(Err(err)) => {
                trace::handshake_failed(&span, &err);
                return None;
            }
            // A first request that did not come in time is a handshake that timed out; a
            // kept-alive connection that goes quiet is just over.
            Err(_) => {
                if first_request {
                    acceptor.timed_out();
                    trace::handshake_timed_out(&span, timeout);
                }
                return None;
            }
        }
    }
}

/// Reads until the first bytes tell an HTTP/2 connection preface from anything else; what was
/// read stays in `buf`.
#[cfg(feature = "http2")]
async fn sniff_preface(stream: &mut ServerStream, buf: &mut BytesMut) -> io::Result<bool> {
    loop {
        match weft_h2::detect_preface(buf) {
            weft_h2::Preface::Http2 => return Ok(true),
            weft_h2::Preface::NeedMore => {}
            _ => return Ok(false),
        }
        if stream.read_buf(buf).await? == 0 {
            // Closed before deciding: the HTTP/1.1 path sees the same end.
            return Ok(false);
        }
    }
}

/// Whether the connection may carry another request after this one: HTTP/1.1 without
/// `Connection: close`, and no request body (bodies are not read, so the stream would be out
/// of step).
fn keeps_alive(request: &http::Request<()>) -> bool {
    let headers = request.headers();
    let closes = headers.get_all(header::CONNECTION).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
    });
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    request.version() == http::Version::HTTP_11 && !closes && !has_body
}

async fn write_response(
    stream: &mut ServerStream,
    response: http::Response<Bytes>,
    keep_alive: bool,
    head_only: bool,
) -> io::Result<()> {
    let (mut parts, body) = response.into_parts();
    parts.version = http::Version::HTTP_11;
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    if !keep_alive {
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let mut out = Vec::with_capacity(256 + body.len());
    weft_handshake::write_response(&http::Response::from_parts(parts, ()), &mut out);
    if !head_only {
        out.extend_from_slice(&body);
    }
    stream.write_all(&out).await?;
    stream.flush().await
}

/// Answers `503` to a connection over the cap (through TLS when the server uses it), then
/// lingers briefly so the client reads it rather than a reset.
async fn refuse_busy(acceptor: &Acceptor, tcp: TcpStream) {
    let refusal = weft_handshake::Rejection::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "too many connections, try again later",
    )
    .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"));
    let _ = tokio::time::timeout(REFUSAL_LINGER, async {
        // ALPN without h2: the client must read this HTTP/1.1 refusal as HTTP/1.1.
        let mut stream = acceptor
            .secure(tcp, false)
            .await
            .map_err(io::Error::other)?;
        stream.write_all(&refusal.to_vec()).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
        io::Result::Ok(())
    })
    .await;
}

/// A descriptor to give up when the process has none left (see [`refuse_without_fds`]).
fn spare_fd() -> Option<std::fs::File> {
    std::fs::File::open("/dev/null").ok()
}

/// With the spare descriptor given up: accepts one waiting connection, reads what it sent,
/// answers `503` if the socket takes it at once (plain HTTP; a TLS client sees the connection
/// close), and closes it. Returns whether a connection was refused. Clients are told at once
/// rather than left waiting in the accept queue until a descriptor frees up.
async fn refuse_without_fds(listener: &TcpListener) -> bool {
    const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\
        Content-Length: 0\r\nConnection: close\r\n\r\n";
    let Ok(Ok((tcp, _))) = tokio::time::timeout(Duration::from_millis(10), listener.accept()).await
    else {
        return false;
    };
    // Reading the request first makes the close a FIN rather than a reset, which could
    // destroy the answer before the client reads it.
    let mut request = [0u8; 4096];
    let _ = tcp.try_read(&mut request);
    let _ = tcp.try_write(REFUSAL);
    true
}

/// Errors from `accept` that concern one connection only; the listener is fine.
fn is_per_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

/// The default answer to plain HTTP requests.
fn not_found(_request: http::Request<()>) -> BoxFuture<http::Response<Bytes>> {
    Box::pin(async {
        let mut response = http::Response::new(Bytes::from_static(
            b"not found; this is a WebSocket server\n",
        ));
        *response.status_mut() = StatusCode::NOT_FOUND;
        crate::acceptor::set_header(
            &mut response,
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    })
}

/// Configures a [`Server`].
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// let server = weft_server::Server::builder().max_connections(20_000).bind("0.0.0.0:9001").await?;
/// # drop(server);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ServerBuilder {
    pub(crate) acceptor: Option<Acceptor>,
    http: Option<Arc<HttpHandler>>,
    pub(crate) max_connections: Option<usize>,
    pub(crate) raise_fd_limit: bool,
    shutdown_timeout: Duration,
    shutdown: Option<ShutdownHandle>,
    pub(crate) reuse_port: bool,
    /// This server's part of a capacity planned for several (see `bind_threads`).
    pub(crate) share: Option<Capacity>,
}

impl fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("acceptor", &self.acceptor)
            .field("max_connections", &self.max_connections)
            .field("raise_fd_limit", &self.raise_fd_limit)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish_non_exhaustive()
    }
}

impl ServerBuilder {
    /// How WebSocket handshakes are accepted (subprotocols, origins, limits, timeouts).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use weft_server::{Acceptor, Server};
    /// let server = Server::builder()
    ///     .acceptor(Acceptor::builder().protocols(["chat.v1"]).build()?)
    ///     .bind("0.0.0.0:9001")
    ///     .await?;
    /// # drop(server);
    /// # Ok(()) }
    /// ```
    pub fn acceptor(mut self, acceptor: Acceptor) -> Self {
        self.acceptor = Some(acceptor);
        self
    }

    /// Answers plain HTTP requests on the same port (RFC 6455 §1.5). Requests are kept alive
    /// over HTTP/1.1; request bodies are not read (the connection closes after answering).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use weft_server::Server;
    ///
    /// let builder = Server::builder().http(|request| async move {
    ///     match request.uri().path() {
    ///         "/health" => http::Response::new(Bytes::from_static(b"ok")),
    ///         _ => http::Response::builder().status(404).body(Bytes::new()).unwrap(),
    ///     }
    /// });
    /// ```
    pub fn http<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(http::Request<()>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = http::Response<Bytes>> + Send + 'static,
    {
        self.http = Some(Arc::new(move |request| Box::pin(handler(request))));
        self
    }

    /// The most connections served at once (HTTP and WebSocket); more get `503` and are
    /// closed.
    ///
    /// By default, as many as the process's file-descriptor limit allows: each connection
    /// holds one descriptor, until its close has lingered out; 64 are kept for everything
    /// else (the listener, the runtime, files your handlers open) and up to 256 (a sixteenth
    /// of the limit) for refusals in progress. With the limit at 20,000 that is 19,680
    /// connections; with systemd's hard limit, 524,288, it is 523,968. The limit is read when
    /// the server is built, after raising it (see [`raise_fd_limit`](Self::raise_fd_limit)).
    ///
    /// To size it yourself, take the smallest of: the descriptors you can give the server (its
    /// limit less what the application needs besides connections); the memory you can give
    /// it divided by what a connection costs (an idle WebSocket about 6 KiB of server heap
    /// plus the kernel's socket buffers, more while messages are under way: up to
    /// `max_message_size` for a message that arrives fragmented or compressed, and the
    /// deflate state when compression is on); and what your handlers can serve. Set it below
    /// the descriptor limit: a server that runs out of descriptors can only refuse
    /// connections by closing them (counted in
    /// [`StatsSnapshot::refused_out_of_fds`](crate::StatsSnapshot::refused_out_of_fds)).
    ///
    /// ```
    /// // Past 100,000 open connections, new ones get 503 with Retry-After.
    /// let builder = weft_server::Server::builder().max_connections(100_000);
    /// # let _ = builder;
    /// ```
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = Some(max);
        self
    }

    /// Whether building the server raises the process's soft file-descriptor limit to its
    /// hard limit (on by default), as nginx, Go's runtime and Bun do: the soft limit is often
    /// 1,024 while the hard limit allows hundreds of thousands. It changes the limit for the
    /// whole process (child processes inherit it). Without it, the default
    /// [`max_connections`](Self::max_connections) comes from the soft limit as it is.
    ///
    /// ```
    /// // A library that must not change process-wide settings.
    /// let builder = weft_server::Server::builder().raise_fd_limit(false);
    /// # let _ = builder;
    /// ```
    pub fn raise_fd_limit(mut self, on: bool) -> Self {
        self.raise_fd_limit = on;
        self
    }

    /// How long shutdown waits for connections to close before cancelling their handlers.
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = weft_server::Server::builder().shutdown_timeout(Duration::from_secs(30));
    /// # let _ = builder;
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Shuts the server down with `handle` (instead of a handle of its own), so that one
    /// handle stops several servers; see [`ServerBuilder::bind_threads`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use weft_server::{Server, ShutdownHandle};
    /// let stop = ShutdownHandle::new();
    /// let a = Server::builder().shutdown_handle(stop.clone()).bind("127.0.0.1:0").await?;
    /// let b = Server::builder().shutdown_handle(stop.clone()).bind("127.0.0.1:0").await?;
    /// let serving = tokio::spawn(async move {
    ///     tokio::try_join!(a.serve(|_ws, _| async {}), b.serve(|_ws, _| async {}))
    /// });
    /// stop.shutdown(); // both stop
    /// serving.await.expect("the servers' task")?;
    /// # Ok(()) }
    /// ```
    pub fn shutdown_handle(mut self, handle: ShutdownHandle) -> Self {
        self.shutdown = Some(handle);
        self
    }

    /// Binds the listener.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let server = weft_server::Server::builder()
    ///     .max_connections(1000)
    ///     .bind("127.0.0.1:0")
    ///     .await?;
    /// # drop(server);
    /// # Ok(()) }
    /// ```
    pub async fn bind(self, addr: impl ToSocketAddrs) -> io::Result<Server> {
        let listener = if self.reuse_port {
            crate::threads::bind_shared(addr).await?
        } else {
            TcpListener::bind(addr).await?
        };
        Ok(self.from_listener(listener))
    }

    /// Serves on a listener bound elsewhere.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// // A listener set up elsewhere (socket options, systemd socket activation).
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let server = weft_server::Server::builder().from_listener(listener);
    /// # drop(server);
    /// # Ok(()) }
    /// ```
    pub fn from_listener(self, listener: TcpListener) -> Server {
        Server {
            listener,
            acceptor: self.acceptor.unwrap_or_default(),
            http: self.http.unwrap_or_else(|| Arc::new(not_found)),
            capacity: self
                .share
                .unwrap_or_else(|| Capacity::plan(self.max_connections, self.raise_fd_limit)),
            shutdown_timeout: self.shutdown_timeout,
            token: self.shutdown.map(|handle| handle.0).unwrap_or_default(),
        }
    }
}
