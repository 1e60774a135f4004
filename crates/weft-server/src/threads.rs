//! Serving on several cores: one [`Server`] per thread, each on a tokio current-thread runtime
//! with a listener of its own on the same address.
//!
//! Why not one multi-thread runtime: with thousands of connections that all become ready at
//! once, tokio's multi-thread scheduler runs the task woken last first (its LIFO slot) and
//! moves what overflows a worker's local queue to a global queue it looks at only now and then,
//! so some connections wait far longer than others. A current-thread runtime runs its ready
//! tasks in the order they woke. At 4,096 connections with one message in flight, `weft serve`
//! on a multi-thread runtime (one worker) had a p99 latency of 556 ms; one current-thread
//! runtime per core, 61 ms (benches/README.md, "Many connections").

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::thread;

use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::oneshot;
use weft_codec::tokio::WebSocket;

use crate::acceptor::Accepted;
use crate::capacity::Capacity;
use crate::server::{Server, ServerBuilder, ShutdownHandle};
use crate::stream::ServerStream;

/// Whether every thread binds a listener of its own (`SO_REUSEPORT`, which Linux balances over
/// the listeners by the connection's addresses); elsewhere the threads share one listener,
/// whichever is free first accepting.
const BALANCED_REUSE_PORT: bool = cfg!(any(target_os = "linux", target_os = "android"));

impl ServerBuilder {
    /// Binds `addr` for `threads` servers, one per thread, each on a tokio current-thread
    /// runtime of its own: weft's way of using several cores (see [`ServerThreads`] for why).
    ///
    /// On Linux every thread binds its own listener on the address (`SO_REUSEPORT`), and the
    /// kernel spreads new connections over them; elsewhere the threads share one listener.
    /// Each server gets this builder's settings, but the connection cap ([`max_connections`],
    /// or the one the file-descriptor limit gives) is divided between them (rounded up), so
    /// together they hold what one server would. One [`ShutdownHandle`] stops them all.
    ///
    /// Call it inside a tokio runtime: the first server runs on it.
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// use weft_server::Server;
    ///
    /// let cores = std::thread::available_parallelism().map_or(1, usize::from);
    /// let servers = Server::builder().bind_threads("0.0.0.0:9001", cores).await?;
    /// println!("listening on {} with {cores} threads", servers.local_addr()?);
    /// let shutdown = servers.shutdown_handle();
    /// tokio::spawn(async move {
    ///     let _ = tokio::signal::ctrl_c().await;
    ///     shutdown.shutdown(); // every thread's server closes its connections with 1001
    /// });
    /// servers
    ///     .serve(|mut ws, _accepted| async move {
    ///         while let Some(Ok(message)) = ws.next().await {
    ///             if message.is_text() || message.is_binary() {
    ///                 if ws.feed(message).await.is_err() {
    ///                     break;
    ///                 }
    ///             }
    ///         }
    ///     })
    ///     .await
    /// # }
    /// ```
    ///
    /// [`max_connections`]: ServerBuilder::max_connections
    pub async fn bind_threads(
        self,
        addr: impl ToSocketAddrs,
        threads: usize,
    ) -> io::Result<ServerThreads> {
        let threads = threads.max(1);
        let handle = ShutdownHandle::new();
        let mut builder = self.shutdown_handle(handle.clone());
        // One acceptor, cloned into every thread's server, so that they share its counters.
        builder.acceptor = Some(builder.acceptor.take().unwrap_or_default());
        // The plan is made once, for the process (its descriptors are shared), and divided.
        let plan = Capacity::plan(builder.max_connections, builder.raise_fd_limit);
        let total = plan.connections;
        builder.share = Some(Capacity {
            connections: plan.connections.div_ceil(threads),
            refusals: plan.refusals.div_ceil(threads),
        });
        builder.reuse_port = BALANCED_REUSE_PORT;
        let listener = bind_shared(addr).await?;
        let addr = listener.local_addr()?;
        // Where the threads share one listener, each gets a copy of the first's.
        let (listener, shared) = if BALANCED_REUSE_PORT {
            (listener, None)
        } else {
            let shared = listener.into_std()?;
            (TcpListener::from_std(shared.try_clone()?)?, Some(shared))
        };
        Ok(ServerThreads {
            first: builder.clone().from_listener(listener),
            builder,
            addr,
            threads,
            max_connections: total,
            handle,
            shared,
        })
    }
}

/// Servers on one address, one per thread, each on a tokio current-thread runtime: what
/// [`ServerBuilder::bind_threads`] binds.
///
/// A current-thread runtime runs the tasks that are ready in the order they woke, so with
/// thousands of connections each gets its turn; tokio's multi-thread runtime runs the task
/// woken last first and moves what overflows a worker's queue to a global queue it looks at
/// only now and then, which left some connections waiting far longer than others (at 4,096
/// connections, a p99 latency of 556 ms against 61 ms; benches/README.md). A connection stays
/// on the thread that accepted it.
#[derive(Debug)]
pub struct ServerThreads {
    first: Server,
    builder: ServerBuilder,
    addr: SocketAddr,
    threads: usize,
    max_connections: usize,
    handle: ShutdownHandle,
    /// The listener the threads share, where they do not bind their own.
    shared: Option<std::net::TcpListener>,
}

impl ServerThreads {
    /// The address every thread listens on (useful after binding port 0).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let servers = weft_server::Server::builder().bind_threads("127.0.0.1:0", 2).await?;
    /// assert_ne!(servers.local_addr()?.port(), 0);
    /// # Ok(()) }
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }

    /// How many threads serve.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let servers = weft_server::Server::builder().bind_threads("127.0.0.1:0", 3).await?;
    /// assert_eq!(servers.threads(), 3);
    /// # Ok(()) }
    /// ```
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The handle that shuts every thread's server down.
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// let servers = weft_server::Server::builder().bind_threads("127.0.0.1:9001", 2).await?;
    /// let shutdown = servers.shutdown_handle();
    /// tokio::spawn(async move {
    ///     let _ = tokio::signal::ctrl_c().await;
    ///     shutdown.shutdown();
    /// });
    /// servers.serve(|_ws, _accepted| async {}).await
    /// # }
    /// ```
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.handle.clone()
    }

    /// The counters of every thread's server together (they share one acceptor's).
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// let servers = weft_server::Server::builder().bind_threads("127.0.0.1:9001", 2).await?;
    /// let stats = servers.stats();
    /// tokio::spawn(servers.serve(|_ws, _accepted| async {}));
    /// println!("{} WebSockets so far", stats.snapshot().websockets_upgraded);
    /// # Ok(()) }
    /// ```
    pub fn stats(&self) -> crate::Stats {
        self.first.stats()
    }

    /// The most connections served at once by all threads together (each holds its share,
    /// rounded up).
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// let servers = weft_server::Server::builder()
    ///     .max_connections(10_000)
    ///     .bind_threads("127.0.0.1:9001", 4)
    ///     .await?;
    /// assert_eq!(servers.max_connections(), 10_000);
    /// # Ok(()) }
    /// ```
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// Serves until shut down: the first server on the calling runtime, the others each on a
    /// thread of its own. Returns when all of them have stopped; the first error of any (a
    /// thread that could not bind, say) shuts the others down and is returned.
    ///
    /// The handler is cloned into every thread, so what it shares (a room, a counter) goes in
    /// an `Arc`.
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// Server::builder()
    ///     .bind_threads("0.0.0.0:9001", 2)
    ///     .await?
    ///     .serve(|mut ws, _accepted| async move {
    ///         while let Some(Ok(message)) = ws.next().await {
    ///             let _ = ws.send(message).await;
    ///         }
    ///     })
    ///     .await
    /// # }
    /// # use weft_server::Server;
    /// ```
    pub async fn serve<F, Fut>(self, handler: F) -> io::Result<()>
    where
        F: Fn(WebSocket<ServerStream>, Accepted) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Self {
            first,
            builder,
            addr,
            threads,
            max_connections: _,
            handle,
            shared,
        } = self;
        let mut done = Vec::with_capacity(threads - 1);
        for index in 1..threads {
            let (tx, rx) = oneshot::channel();
            let builder = builder.clone();
            let handler = handler.clone();
            let listener = shared
                .as_ref()
                .map(std::net::TcpListener::try_clone)
                .transpose()?;
            let thread_handle = handle.clone();
            let spawned = thread::Builder::new()
                .name(format!("weft-server-{index}"))
                .spawn(move || {
                    let result = serve_thread(builder, addr, listener, thread_handle, handler);
                    let _ = tx.send(result);
                });
            match spawned {
                Ok(_) => done.push(rx),
                Err(err) => {
                    handle.shutdown();
                    return Err(err);
                }
            }
        }
        let mut result = first.serve(handler).await;
        for rx in done {
            let finished = rx
                .await
                .unwrap_or_else(|_| Err(io::Error::other("a server thread panicked")));
            if let Err(err) = finished {
                handle.shutdown();
                result = result.and(Err(err));
            }
        }
        result
    }
}

/// One thread's server, on a current-thread runtime of its own. Any error shuts every other
/// thread's server down too.
fn serve_thread<F, Fut>(
    builder: ServerBuilder,
    addr: SocketAddr,
    shared: Option<std::net::TcpListener>,
    handle: ShutdownHandle,
    handler: F,
) -> io::Result<()>
where
    F: Fn(WebSocket<ServerStream>, Accepted) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let serve = || -> io::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async move {
            let server = match shared {
                Some(listener) => builder.from_listener(TcpListener::from_std(listener)?),
                None => builder.bind(addr).await?,
            };
            server.serve(handler).await
        })
    };
    let result = serve();
    if result.is_err() {
        handle.shutdown();
    }
    result
}

/// Binds `addr` so that other listeners may bind it too: `SO_REUSEADDR` and `SO_REUSEPORT`.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) async fn bind_shared(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
    let mut last = None;
    for addr in tokio::net::lookup_host(addr).await? {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.set_reuseport(true)?;
        match socket.bind(addr).and_then(|()| socket.listen(1024)) {
            Ok(listener) => return Ok(listener),
            Err(err) => last = Some(err),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("the address resolved to nothing")))
}

/// Where `SO_REUSEPORT` does not balance, servers share one listener instead.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) async fn bind_shared(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
