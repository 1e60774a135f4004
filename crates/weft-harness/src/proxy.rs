//! [`FaultProxy`]: a TCP proxy on loopback that puts a bad network between a client and a
//! server.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// The payload of one TCP segment on a 1500-byte MTU path (timestamps on): what one lost
/// packet holds back.
const SEGMENT: usize = 1448;
/// The most bytes read at once from either side.
const READ_SIZE: usize = 16 << 10;
/// Chunks in flight per direction: the "network" buffers at most this many reads (64 MiB at
/// most) before it stops reading from the sender, which then sees TCP backpressure.
const IN_FLIGHT: usize = 4096;

/// Which way bytes travel through the proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the client (who connected to the proxy) to the server behind it.
    ToServer,
    /// From the server to the client.
    ToClient,
}

/// How a connection is cut at a chosen point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// Both sides get a reset (`SO_LINGER` 0): reads fail with `ConnectionReset`.
    Reset,
    /// The receiver gets a FIN after the bytes before the cut: it reads the end of the
    /// stream. Whatever the sender sends afterwards in that direction is discarded.
    Fin,
}

/// What the network does to each direction of every connection through a [`FaultProxy`].
///
/// Delays keep the order of the bytes (like TCP): a chunk is released at its arrival plus
/// the latency, a jitter drawn uniformly from `0..=jitter`, the time the bandwidth cap needs
/// to send it, and a retransmission delay if one of its segments was "lost", but never before
/// the chunk ahead of it.
///
/// ```
/// use std::time::Duration;
/// use weft_harness::{Cut, Direction, NetFaults};
///
/// // 50 ms round trips, 1 % loss, 1 MB/s, and a reset after the server sent 100 bytes.
/// let faults = NetFaults::default()
///     .latency(Duration::from_millis(25))
///     .jitter(Duration::from_millis(5))
///     .loss(0.01)
///     .bandwidth(1_000_000)
///     .cut_after(Direction::ToClient, 100, Cut::Reset);
/// assert_eq!(faults.get_latency(), Duration::from_millis(25));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NetFaults {
    latency: Duration,
    jitter: Duration,
    bandwidth: Option<u64>,
    loss: f64,
    retransmit_delay: Option<Duration>,
    cuts: Vec<(Direction, u64, Cut)>,
    stalls: Vec<(Direction, u64, Duration)>,
    seed: u64,
}

impl NetFaults {
    /// One-way delay added to every byte, in both directions (a round trip gets twice this).
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Up to this much more delay, drawn per chunk (order is kept).
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// At most this many bytes per second in each direction.
    pub fn bandwidth(mut self, bytes_per_second: u64) -> Self {
        self.bandwidth = Some(bytes_per_second.max(1));
        self
    }

    /// Each 1448-byte segment is "lost" with this probability: the chunk holding it, and
    /// everything behind it, waits for its retransmission (see
    /// [`retransmit_delay`](Self::retransmit_delay)). The proxy splits TCP, so this is the
    /// head-of-line delay loss causes, not the congestion window's reaction to it.
    pub fn loss(mut self, probability: f64) -> Self {
        self.loss = probability.clamp(0.0, 1.0);
        self
    }

    /// How long a lost segment takes to arrive after all. Default: one round trip (twice the
    /// latency, at least 1 ms), as a retransmission triggered by duplicate acknowledgements
    /// takes.
    pub fn retransmit_delay(mut self, delay: Duration) -> Self {
        self.retransmit_delay = Some(delay);
        self
    }

    /// Cuts every connection once `bytes` bytes have been forwarded in `direction`.
    pub fn cut_after(mut self, direction: Direction, bytes: u64, cut: Cut) -> Self {
        self.cuts.push((direction, bytes, cut));
        self
    }

    /// Holds `direction` of every connection for `duration` once `bytes` bytes have been
    /// forwarded in it (a stalled path; what arrives meanwhile is buffered).
    pub fn stall_after(mut self, direction: Direction, bytes: u64, duration: Duration) -> Self {
        self.stalls.push((direction, bytes, duration));
        self
    }

    /// The seed of the jitter and loss draws (each connection and direction derives its own).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// See [`latency`](Self::latency).
    pub fn get_latency(&self) -> Duration {
        self.latency
    }

    fn get_retransmit_delay(&self) -> Duration {
        self.retransmit_delay
            .unwrap_or_else(|| (self.latency * 2).max(Duration::from_millis(1)))
    }
}

/// A TCP proxy on `127.0.0.1` in front of `upstream`, injecting [`NetFaults`], with switches
/// for whole-network faults: a blackhole, a stall, a reset of every connection.
///
/// Each connection to [`addr`](Self::addr) opens one to the upstream; bytes are relayed both
/// ways through the faults. Dropping the proxy closes everything.
///
/// ```no_run
/// # async fn demo(server: std::net::SocketAddr) -> std::io::Result<()> {
/// use std::time::Duration;
/// use weft_harness::{FaultProxy, NetFaults};
///
/// let proxy = FaultProxy::start(server, NetFaults::default().latency(Duration::from_millis(25))).await?;
/// let url = format!("ws://{}/", proxy.addr());
/// // ... connect through the proxy, then pull the cable:
/// proxy.blackhole(true);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug)]
struct Shared {
    faults: Mutex<NetFaults>,
    /// Everything sent is read and thrown away; nothing arrives anywhere.
    blackhole: AtomicBool,
    /// Nothing is delivered before this instant (a stall of the whole network).
    stalled_until: Mutex<Option<Instant>>,
    stall_changed: Notify,
    /// Bumped to reset every open connection.
    resets: AtomicU64,
    reset_now: Notify,
    open: AtomicUsize,
    accepted: AtomicU64,
    next_seed: AtomicU64,
}

impl FaultProxy {
    /// Starts the proxy on `127.0.0.1` (a port the OS chooses) in front of `upstream`.
    pub async fn start(upstream: SocketAddr, faults: NetFaults) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            next_seed: AtomicU64::new(faults.seed),
            faults: Mutex::new(faults),
            blackhole: AtomicBool::new(false),
            stalled_until: Mutex::new(None),
            stall_changed: Notify::new(),
            resets: AtomicU64::new(0),
            reset_now: Notify::new(),
            open: AtomicUsize::new(0),
            accepted: AtomicU64::new(0),
        });
        let task = tokio::spawn(accept_loop(listener, upstream, Arc::clone(&shared)));
        Ok(Self { addr, shared, task })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://` and [`addr`](Self::addr).
    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// Replaces the faults for what is forwarded from now on (cuts and stalls count bytes from
    /// the start of each connection).
    pub fn set_faults(&self, faults: NetFaults) {
        *lock(&self.shared.faults) = faults;
    }

    /// Swallows everything in both directions while on: the proxy keeps reading (so senders
    /// see their data acknowledged) and delivers nothing, as a path whose far end vanished.
    pub fn blackhole(&self, on: bool) {
        self.shared.blackhole.store(on, Ordering::SeqCst);
    }

    /// Delivers nothing for `duration` from now (bytes that arrive meanwhile are held, then
    /// delivered in order).
    pub fn stall(&self, duration: Duration) {
        *lock(&self.shared.stalled_until) = Some(Instant::now() + duration);
        self.shared.stall_changed.notify_waiters();
    }

    /// Resets every open connection, both sides, now.
    pub fn reset_all(&self) {
        self.shared.resets.fetch_add(1, Ordering::SeqCst);
        self.shared.reset_now.notify_waiters();
    }

    /// Connections open through the proxy now.
    pub fn open_connections(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr, shared: Arc<Shared>) {
    // Dropped with the accept task: every relay is aborted with it.
    let mut relays = JoinSet::new();
    loop {
        let Ok((client, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        while relays.try_join_next().is_some() {}
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        shared.open.fetch_add(1, Ordering::SeqCst);
        let shared = Arc::clone(&shared);
        relays.spawn(async move {
            if let Ok(server) = TcpStream::connect(upstream).await {
                relay(client, server, &shared).await;
            }
            shared.open.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// What both directions of one connection share.
#[derive(Debug)]
struct Connection {
    /// Set when the connection is to be reset: both pumps stop and close with `SO_LINGER` 0.
    reset: AtomicBool,
    reset_now: Notify,
}

impl Connection {
    fn reset(&self) {
        self.reset.store(true, Ordering::SeqCst);
        self.reset_now.notify_waiters();
    }
}

async fn relay(client: TcpStream, server: TcpStream, shared: &Arc<Shared>) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let conn = Connection {
        reset: AtomicBool::new(false),
        reset_now: Notify::new(),
    };
    let resets_before = shared.resets.load(Ordering::SeqCst);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let seed = shared.next_seed.fetch_add(2, Ordering::SeqCst);
    let pumps = async {
        tokio::join!(
            pump(
                client_read,
                server_write,
                Direction::ToServer,
                shared,
                &conn,
                seed
            ),
            pump(
                server_read,
                client_write,
                Direction::ToClient,
                shared,
                &conn,
                seed + 1
            ),
        )
    };
    // A reset of the whole proxy resets this connection too.
    let watch_resets = async {
        loop {
            let notified = shared.reset_now.notified();
            if shared.resets.load(Ordering::SeqCst) != resets_before {
                conn.reset();
                return;
            }
            notified.await;
        }
    };
    tokio::select! {
        _ = pumps => {}
        () = watch_resets => {
            // The pumps see the reset and finish.
        }
    }
}

/// Moves one direction: reads from `from`, delays, delivers to `to`.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    direction: Direction,
    shared: &Shared,
    conn: &Connection,
    seed: u64,
) {
    let (queue, mut queued) = mpsc::channel::<(Instant, Bytes)>(IN_FLIGHT);
    let reading = async {
        let mut link = Link::new(seed);
        loop {
            let mut buf = BytesMut::with_capacity(READ_SIZE);
            match from.read_buf(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let faults = lock(&shared.faults).clone();
            let release = link.release(&faults, buf.len());
            if queue.send((release, buf.freeze())).await.is_err() {
                break;
            }
        }
        // The end of the queue tells the delivering side to pass the FIN on.
        drop(queue);
    };
    let delivering = async {
        let mut forwarded = 0u64;
        let mut stalls_done = 0usize;
        while let Some((release, mut chunk)) = queued.recv().await {
            tokio::time::sleep_until(release).await;
            wait_out_stall(shared).await;
            if shared.blackhole.load(Ordering::SeqCst) {
                continue;
            }
            let faults = lock(&shared.faults).clone();
            // A cut inside this chunk: deliver up to it, then cut.
            let cut = faults
                .cuts
                .iter()
                .filter(|(d, at, _)| *d == direction && *at < forwarded + chunk.len() as u64)
                .min_by_key(|(_, at, _)| *at)
                .copied();
            let stall = faults
                .stalls
                .iter()
                .filter(|(d, _, _)| *d == direction)
                .nth(stalls_done)
                .filter(|(_, at, _)| *at < forwarded + chunk.len() as u64)
                .copied();
            if let Some((_, at, pause)) = stall {
                let before = usize::try_from(at.saturating_sub(forwarded)).unwrap_or(0);
                let head = chunk.split_to(before.min(chunk.len()));
                if to.write_all(&head).await.is_err() {
                    return None;
                }
                forwarded += head.len() as u64;
                stalls_done += 1;
                tokio::time::sleep(pause).await;
            }
            if let Some((_, at, how)) = cut {
                let before = usize::try_from(at.saturating_sub(forwarded)).unwrap_or(0);
                let _ = to.write_all(&chunk[..before.min(chunk.len())]).await;
                return Some(how);
            }
            if to.write_all(&chunk).await.is_err() {
                return None;
            }
            forwarded += chunk.len() as u64;
        }
        // The sender closed its side: pass the FIN on.
        let _ = to.shutdown().await;
        None
    };
    let reset = async {
        loop {
            let notified = conn.reset_now.notified();
            if conn.reset.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    };
    let outcome = {
        // Pinned in this block, so that their borrows of the sockets end with it.
        tokio::pin!(reading, delivering, reset);
        let mut read_all = false;
        loop {
            tokio::select! {
                // The sender's FIN: keep delivering what is queued.
                () = &mut reading, if !read_all => read_all = true,
                cut = &mut delivering => break cut,
                () = &mut reset => break Some(Cut::Reset),
            }
        }
    };
    match outcome {
        Some(Cut::Reset) => {
            conn.reset();
            // Close without a FIN first: SO_LINGER 0 turns the close into a reset.
            let _ = to.as_ref().set_zero_linger();
            let _ = from.as_ref().set_zero_linger();
            to.forget();
        }
        Some(Cut::Fin) => {
            let _ = to.shutdown().await;
            // Whatever the sender still sends in this direction is lost; keep reading it so
            // it is not stopped, until it closes or the connection is reset.
            let mut sink = vec![0u8; READ_SIZE];
            tokio::select! {
                () = async { while matches!(from.read(&mut sink).await, Ok(n) if n > 0) {} } => {}
                () = async {
                    loop {
                        let notified = conn.reset_now.notified();
                        if conn.reset.load(Ordering::SeqCst) {
                            return;
                        }
                        notified.await;
                    }
                } => {
                    let _ = from.as_ref().set_zero_linger();
                }
            }
        }
        None => {}
    }
}

/// Waits while the whole network is stalled.
async fn wait_out_stall(shared: &Shared) {
    loop {
        let changed = shared.stall_changed.notified();
        let until = *lock(&shared.stalled_until);
        match until {
            Some(until) if until > Instant::now() => {
                tokio::select! {
                    () = tokio::time::sleep_until(until) => {}
                    () = changed => {}
                }
            }
            _ => return,
        }
    }
}

/// The timing of one direction: when the link is free again and when the last chunk arrives.
struct Link {
    rng: StdRng,
    free_at: Instant,
    last_release: Instant,
}

impl Link {
    fn new(seed: u64) -> Self {
        let now = Instant::now();
        Self {
            rng: StdRng::seed_from_u64(seed),
            free_at: now,
            last_release: now,
        }
    }

    /// When a chunk of `len` bytes arriving now is delivered.
    fn release(&mut self, faults: &NetFaults, len: usize) -> Instant {
        let now = Instant::now();
        let mut departs = now.max(self.free_at);
        if let Some(rate) = faults.bandwidth {
            departs += Duration::from_secs_f64(len as f64 / rate as f64);
        }
        self.free_at = departs;
        let mut release = departs + faults.latency;
        if !faults.jitter.is_zero() {
            release += faults.jitter.mul_f64(self.rng.random::<f64>());
        }
        if faults.loss > 0.0 {
            let segments = len.div_ceil(SEGMENT);
            let lost = (0..segments).any(|_| self.rng.random::<f64>() < faults.loss);
            if lost {
                release += faults.get_retransmit_delay();
            }
        }
        self.last_release = release.max(self.last_release);
        self.last_release
    }
}
