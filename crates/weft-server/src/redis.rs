//! [`RedisBridge`]: topics that span every node, through Redis pub/sub (feature `redis`).
//!
//! Each node runs its own [`Topics`] and one bridge. A message published on a node is
//! delivered to that node's subscribers at once and published to Redis; the bridges of the
//! other nodes receive it and deliver it to theirs. Each node holds **one Redis subscription
//! per topic that has local subscribers**, not one per connection: a topic's channel is
//! subscribed when its first local subscriber arrives and unsubscribed when its last leaves.
//!
//! Redis 7's sharded pub/sub (`SPUBLISH`/`SSUBSCRIBE`) is used when the server has it (in a
//! cluster, a channel then lives on one shard instead of being broadcast to every node);
//! plain `PUBLISH`/`SUBSCRIBE` otherwise. The bridge speaks RESP3, so it needs Redis 6 or
//! later, and talks to Redis through [redis-rs](https://docs.rs/redis), over one connection
//! that carries publishes and subscriptions.
//!
//! # Semantics
//!
//! - **At most once** across nodes: Redis pub/sub stores nothing. A message published while a
//!   node's bridge is disconnected, or while its outgoing queue is full, is delivered locally
//!   but not to other nodes ([`RedisStats::not_relayed`]); one sent when the connection fails
//!   may or may not have been passed on ([`RedisStats::unconfirmed`]); messages other nodes
//!   publish while this node is disconnected are never received here.
//! - **Order** is kept per publisher and topic: one node's messages to one topic reach every
//!   other node in the order they were published (one connection, commands in order, and
//!   Redis keeps a channel's order). Messages of different publishers may interleave
//!   differently on different nodes.
//! - **Gaps are reported**, not hidden: every relayed message carries its publisher's node id
//!   and a sequence number per topic, so a receiving node counts exactly how many messages of
//!   each publisher it missed ([`RedisStats::missed`]). Losing Redis is counted
//!   ([`RedisStats::disconnects`], [`RedisStats::last_gap`]) and, with the `tracing` feature,
//!   logged: a warning when the connection is lost, another when it is back, with how long
//!   the gap lasted and what was not relayed meanwhile.
//!
//! # When Redis goes away
//!
//! Local delivery goes on: publishing never waits for Redis. The bridge reconnects with
//! exponential backoff (100 ms doubling up to 5 s by default), subscribes its topics again,
//! and cross-node delivery resumes without restarting anything.
//!
//! # Hostile or broken input from Redis
//!
//! A message on a bridged channel that is not a weft envelope (another client publishing
//! there, a different version of weft) is dropped and counted ([`RedisStats::malformed`]); one
//! whose payload exceeds the topics' [`max_message_size`](crate::topics::TopicsBuilder::max_message_size)
//! is dropped before it is delivered ([`RedisStats::oversized`]). Both are logged with the
//! `tracing` feature. (The Redis client holds a message whole before the bridge sees it;
//! Redis bounds it with its own `proto-max-bulk-len`, 512 MB by default.)
//!
//! ```no_run
//! # async fn demo() -> Result<(), weft_server::Error> {
//! use weft_server::redis::RedisBridge;
//! use weft_server::topics::Topics;
//!
//! let topics = Topics::new();
//! // Fails at once if the URL is wrong or Redis cannot be reached.
//! let bridge = RedisBridge::connect("redis://127.0.0.1:6379", &topics).await?;
//! // ... serve connections that subscribe and publish through `topics` ...
//! println!("{:?}", bridge.stats());
//! # Ok(()) }
//! ```

mod envelope;

use std::collections::hash_map::RandomState;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use ::redis::aio::MultiplexedConnection;
use ::redis::{AsyncConnectionConfig, PushInfo, PushKind, Value};
use bytes::Bytes;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use weft_codec::PreparedMessage;

use crate::error::Error;
use crate::topics::{Hub, Relay, Topics};
use envelope::Refused;

/// The most publishes sent to Redis in one pipeline.
const MAX_BATCH: usize = 256;
/// How many remote publishers' sequence numbers are remembered per topic; beyond that the
/// oldest entries are forgotten (a publisher seen again after that starts afresh).
const MAX_PEERS_PER_TOPIC: usize = 1024;
/// How many topics' sequence numbers a node remembers for its own publishes; beyond that the
/// numbering starts afresh, which receivers take as a new publisher, not as a gap.
const MAX_SEQUENCES: usize = 65_536;

macro_rules! event {
    ($level:ident, $($arg:tt)*) => {
        #[cfg(feature = "tracing")]
        tracing::$level!(target: "weft_server::redis", $($arg)*);
    };
}

/// Counters of a [`RedisBridge`] (see [`RedisBridge::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisStats {
    /// Connected to Redis now.
    pub connected: bool,
    /// Using sharded pub/sub (`SPUBLISH`/`SSUBSCRIBE`, Redis 7 and later).
    pub sharded: bool,
    /// Topics subscribed in Redis now (one subscription per topic with local subscribers).
    pub subscriptions: usize,
    /// Times the connection to Redis was lost.
    pub disconnects: u64,
    /// How long the last loss of Redis lasted, from the failure to the new connection.
    pub last_gap: Option<Duration>,
    /// Local publishes sent to Redis.
    pub relayed: u64,
    /// Local publishes not sent to Redis: it was unreachable, or the outgoing queue was full.
    /// They were delivered locally.
    pub not_relayed: u64,
    /// Local publishes sent to Redis whose reply never came: the connection failed first.
    /// Redis may or may not have passed them on (the other nodes' [`missed`](Self::missed)
    /// says which).
    pub unconfirmed: u64,
    /// Messages from other nodes delivered to local subscribers.
    pub received: u64,
    /// Messages of other nodes that never arrived, counted from gaps in their sequence numbers.
    pub missed: u64,
    /// Messages on a bridged channel that were not weft envelopes, dropped.
    pub malformed: u64,
    /// Messages over the topics' message limit, dropped.
    pub oversized: u64,
}

/// Spans a node's [`Topics`] over every node connected to the same Redis (see the
/// [module documentation](self) for the semantics). The bridge runs in a task of its own
/// until it is dropped.
pub struct RedisBridge {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

/// Configures a [`RedisBridge`].
#[derive(Clone, Debug)]
pub struct RedisBridgeBuilder {
    url: String,
    prefix: String,
    sharded: Option<bool>,
    min_backoff: Duration,
    max_backoff: Duration,
    connect_timeout: Duration,
    health_check: Duration,
    outgoing_capacity: usize,
    outgoing_bytes: usize,
}

/// What the bridge task and the relay share.
struct Shared {
    hub: Arc<Hub>,
    node: u64,
    prefix: String,
    /// Topics with local subscribers: the channels the bridge should be subscribed to.
    desired: Mutex<BTreeSet<Box<str>>>,
    desired_changed: Notify,
    outgoing: mpsc::Sender<Outgoing>,
    /// Bytes of envelopes waiting in `outgoing`, and the most there may be.
    outgoing_bytes: AtomicUsize,
    max_outgoing_bytes: usize,
    /// The bridge was dropped: nothing is relayed any more.
    stopped: AtomicBool,
    connected: AtomicBool,
    sharded: AtomicBool,
    subscriptions: AtomicU64,
    /// Our own sequence numbers, per topic.
    sequences: Mutex<HashMap<Box<str>, u64>>,
    /// The last sequence number seen from each other node, per topic.
    peers: Mutex<HashMap<Box<str>, HashMap<u64, u64>>>,
    disconnects: AtomicU64,
    last_gap_ms: AtomicU64,
    relayed: AtomicU64,
    not_relayed: AtomicU64,
    unconfirmed: AtomicU64,
    received: AtomicU64,
    missed: AtomicU64,
    malformed: AtomicU64,
    oversized: AtomicU64,
}

/// One publish on its way to Redis.
struct Outgoing {
    channel: String,
    envelope: Bytes,
}

/// A live connection to Redis, and how to learn that it died.
struct Session {
    conn: MultiplexedConnection,
    /// Notified by the push handler when redis-rs reports the connection gone.
    gone: Arc<Notify>,
    sharded: bool,
}

impl RedisBridge {
    /// Connects `topics` to the Redis at `url` (`redis://[user:password@]host[:port][/db]`)
    /// with the default settings. Fails if the URL is invalid or Redis cannot be reached now;
    /// once running, the bridge survives Redis going away.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), weft_server::Error> {
    /// use weft_server::redis::RedisBridge;
    /// use weft_server::topics::Topics;
    /// let topics = Topics::new();
    /// // From now on, what any node publishes reaches the subscribers on every node.
    /// let bridge = RedisBridge::connect("redis://127.0.0.1:6379", &topics).await?;
    /// # drop(bridge);
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str, topics: &Topics) -> Result<Self, Error> {
        Self::builder(url).connect(topics).await
    }

    /// A builder for a bridge to the Redis at `url`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weft_server::redis::RedisBridge;
    /// let builder = RedisBridge::builder("redis://127.0.0.1:6379")
    ///     .channel_prefix("chat:")
    ///     .backoff(Duration::from_millis(50), Duration::from_secs(2));
    /// ```
    pub fn builder(url: impl Into<String>) -> RedisBridgeBuilder {
        RedisBridgeBuilder {
            url: url.into(),
            prefix: "weft:".to_owned(),
            sharded: None,
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            health_check: Duration::from_secs(5),
            outgoing_capacity: 4096,
            outgoing_bytes: 64 << 20,
        }
    }

    /// The counters: connection state, gaps, and messages relayed, received, missed and
    /// dropped.
    ///
    /// ```no_run
    /// # fn demo(bridge: &weft_server::redis::RedisBridge) {
    /// let stats = bridge.stats();
    /// if !stats.connected {
    ///     println!("Redis is away; {} publishes not relayed so far", stats.not_relayed);
    /// }
    /// # }
    /// ```
    pub fn stats(&self) -> RedisStats {
        self.shared.stats()
    }

    /// This node's id, carried by every message it relays.
    ///
    /// ```no_run
    /// # fn demo(bridge: &weft_server::redis::RedisBridge) {
    /// println!("this node relays as {:016x}", bridge.node_id());
    /// # }
    /// ```
    pub fn node_id(&self) -> u64 {
        self.shared.node
    }
}

/// Stops relaying: the topics keep delivering locally (they take no other bridge).
impl Drop for RedisBridge {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::Relaxed);
        self.shared.connected.store(false, Ordering::Release);
        self.task.abort();
    }
}

impl fmt::Debug for RedisBridge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBridge")
            .field("node", &self.shared.node)
            .field("prefix", &self.shared.prefix)
            .field("stats", &self.stats())
            .finish()
    }
}

impl RedisBridgeBuilder {
    /// What Redis channel names start with; the topic name follows (default `weft:`). Nodes
    /// that should share topics use the same prefix.
    ///
    /// ```
    /// // Two applications on one Redis keep their topics apart.
    /// use weft_server::redis::RedisBridge;
    /// let builder = RedisBridge::builder("redis://cache:6379").channel_prefix("chat:");
    /// # let _ = builder;
    /// ```
    pub fn channel_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sharded pub/sub: `Some(true)` always (fails on Redis before 7), `Some(false)` never,
    /// `None` (the default) when the server's version has it.
    ///
    /// ```
    /// // A Redis Cluster: sharded pub/sub or nothing.
    /// use weft_server::redis::RedisBridge;
    /// let builder = RedisBridge::builder("redis://cluster:6379").sharded(Some(true));
    /// # let _ = builder;
    /// ```
    pub fn sharded(mut self, sharded: Option<bool>) -> Self {
        self.sharded = sharded;
        self
    }

    /// The first and the longest wait between reconnection attempts; the wait doubles after
    /// each failure (default 100 ms to 5 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = weft_server::redis::RedisBridge::builder("redis://127.0.0.1:6379")
    ///     .backoff(Duration::from_millis(200), Duration::from_secs(30));
    /// # let _ = builder;
    /// ```
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.min_backoff = min.max(Duration::from_millis(1));
        self.max_backoff = max.max(self.min_backoff);
        self
    }

    /// How long connecting (and each command) may take (default 5 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = weft_server::redis::RedisBridge::builder("redis://127.0.0.1:6379")
    ///     .connect_timeout(Duration::from_secs(2));
    /// # let _ = builder;
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How often an idle connection is checked with a `PING` (default 5 s), so that a Redis
    /// that vanished without closing the connection is noticed.
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = weft_server::redis::RedisBridge::builder("redis://127.0.0.1:6379")
    ///     .health_check(Duration::from_secs(1));
    /// # let _ = builder;
    /// ```
    pub fn health_check(mut self, interval: Duration) -> Self {
        self.health_check = interval.max(Duration::from_millis(10));
        self
    }

    /// How many publishes may wait to be sent to Redis (default 4,096); beyond that they are
    /// not relayed (and counted in [`RedisStats::not_relayed`]).
    ///
    /// ```
    /// let builder = weft_server::redis::RedisBridge::builder("redis://127.0.0.1:6379")
    ///     .outgoing_capacity(16_384);
    /// # let _ = builder;
    /// ```
    pub fn outgoing_capacity(mut self, messages: usize) -> Self {
        self.outgoing_capacity = messages.max(1);
        self
    }

    /// How many bytes of publishes may wait to be sent to Redis (default 64 MiB), whatever
    /// their number: a slow or stalled Redis cannot make the queue hold more. Beyond it they
    /// are not relayed (and counted in [`RedisStats::not_relayed`]).
    ///
    /// ```
    /// let builder = weft_server::redis::RedisBridge::builder("redis://127.0.0.1:6379")
    ///     .outgoing_bytes(16 << 20);
    /// # let _ = builder;
    /// ```
    pub fn outgoing_bytes(mut self, bytes: usize) -> Self {
        self.outgoing_bytes = bytes;
        self
    }

    /// Connects and starts the bridge. Fails if the URL is invalid or Redis cannot be reached
    /// now, or if `topics` already has a bridge.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), weft_server::Error> {
    /// use weft_server::redis::RedisBridge;
    /// use weft_server::topics::Topics;
    /// let topics = Topics::new();
    /// let bridge = RedisBridge::builder("redis://127.0.0.1:6379")
    ///     .channel_prefix("chat:")
    ///     .connect(&topics)
    ///     .await?;
    /// # drop(bridge);
    /// # Ok(()) }
    /// ```
    pub async fn connect(self, topics: &Topics) -> Result<RedisBridge, Error> {
        let client = ::redis::Client::open(self.url.as_str()).map_err(redis_error)?;
        // RESP3: subscriptions and commands share one connection.
        let info = client.get_connection_info().clone();
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(::redis::ProtocolVersion::RESP3);
        let client =
            ::redis::Client::open(info.set_redis_settings(settings)).map_err(redis_error)?;
        let (outgoing, outgoing_rx) = mpsc::channel(self.outgoing_capacity);
        let shared = Arc::new(Shared::new(
            topics.hub().clone(),
            random_node_id(),
            self.prefix.clone(),
            outgoing,
            self.outgoing_bytes,
        ));
        let session = open_session(&shared, &client, &self).await?;
        if !topics.hub().set_relay(shared.clone()) {
            return Err(Error::Redis("these topics already have a bridge".into()));
        }
        let task = tokio::spawn(run(shared.clone(), client, self, outgoing_rx, session));
        Ok(RedisBridge { shared, task })
    }
}

/// The bridge: keeps a session alive, reconnecting with backoff when it fails.
async fn run(
    shared: Arc<Shared>,
    client: ::redis::Client,
    config: RedisBridgeBuilder,
    mut outgoing: mpsc::Receiver<Outgoing>,
    first: Session,
) {
    let mut session = Some(first);
    let mut backoff = config.min_backoff;
    let mut lost_at: Option<Instant> = None;
    loop {
        let current = match session.take() {
            Some(current) => current,
            None => match open_session(&shared, &client, &config).await {
                Ok(current) => current,
                Err(_err) => {
                    event!(debug, error = %_err, ?backoff, "cannot reconnect to Redis yet");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(config.max_backoff);
                    continue;
                }
            },
        };
        backoff = config.min_backoff;
        let mut subscribed = HashSet::new();
        let _failure = serve_session(
            &shared,
            current,
            &mut subscribed,
            &mut outgoing,
            &config,
            &mut lost_at,
        )
        .await;
        // The connection is gone: publishes are no longer relayed until it is back.
        shared.connected.store(false, Ordering::Release);
        shared.subscriptions.store(0, Ordering::Relaxed);
        shared.disconnects.fetch_add(1, Ordering::Relaxed);
        let mut dropped = 0;
        while let Ok(message) = outgoing.try_recv() {
            shared
                .outgoing_bytes
                .fetch_sub(message.envelope.len(), Ordering::Relaxed);
            dropped += 1;
        }
        shared.not_relayed.fetch_add(dropped, Ordering::Relaxed);
        lost_at = Some(Instant::now());
        event!(
            warn,
            reason = %_failure.err().unwrap_or_default(),
            queued_not_relayed = dropped,
            "lost the connection to Redis; local delivery goes on, reconnecting"
        );
    }
}

/// Runs one connection until it fails: subscriptions follow the topics, publishes go out in
/// batches, and an idle connection is checked now and then.
async fn serve_session(
    shared: &Arc<Shared>,
    mut session: Session,
    subscribed: &mut HashSet<Box<str>>,
    outgoing: &mut mpsc::Receiver<Outgoing>,
    config: &RedisBridgeBuilder,
    lost_at: &mut Option<Instant>,
) -> Result<(), String> {
    reconcile(shared, &mut session, subscribed).await?;
    shared.connected.store(true, Ordering::Release);
    if let Some(lost) = lost_at.take() {
        let gap = lost.elapsed();
        shared.last_gap_ms.store(
            u64::try_from(gap.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        event!(
            info,
            ?gap,
            not_relayed = shared.not_relayed.load(Ordering::Relaxed),
            "reconnected to Redis and subscribed again"
        );
    }
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut health = tokio::time::interval(config.health_check);
    health.tick().await;
    loop {
        tokio::select! {
            () = session.gone.notified() => return Err("the connection was closed".to_owned()),
            () = shared.desired_changed.notified() => {
                reconcile(shared, &mut session, subscribed).await?;
            }
            received = outgoing.recv_many(&mut batch, MAX_BATCH) => {
                if received == 0 {
                    // Every sender is gone: the topics were dropped.
                    std::future::pending::<()>().await;
                }
                let command = if session.sharded { "SPUBLISH" } else { "PUBLISH" };
                let mut pipe = ::redis::pipe();
                for message in &batch {
                    pipe.cmd(command).arg(&message.channel).arg(&message.envelope[..]).ignore();
                }
                let count = batch.len() as u64;
                let bytes: usize = batch.iter().map(|message| message.envelope.len()).sum();
                shared.outgoing_bytes.fetch_sub(bytes, Ordering::Relaxed);
                batch.clear();
                if let Err(err) = pipe.query_async::<()>(&mut session.conn).await {
                    shared.unconfirmed.fetch_add(count, Ordering::Relaxed);
                    return Err(err.to_string());
                }
                shared.relayed.fetch_add(count, Ordering::Relaxed);
                health.reset();
            }
            _ = health.tick() => {
                ::redis::cmd("PING")
                    .query_async::<()>(&mut session.conn)
                    .await
                    .map_err(|err| err.to_string())?;
            }
        }
    }
}

/// Subscribes to the channels of topics that gained local subscribers and unsubscribes from
/// those that lost them.
async fn reconcile(
    shared: &Shared,
    session: &mut Session,
    subscribed: &mut HashSet<Box<str>>,
) -> Result<(), String> {
    let desired = shared.lock_desired().clone();
    let (subscribe, unsubscribe) = if session.sharded {
        ("SSUBSCRIBE", "SUNSUBSCRIBE")
    } else {
        ("SUBSCRIBE", "UNSUBSCRIBE")
    };
    let stale: Vec<Box<str>> = subscribed
        .iter()
        .filter(|topic| !desired.contains(*topic))
        .cloned()
        .collect();
    for topic in stale {
        ::redis::cmd(unsubscribe)
            .arg(shared.channel(&topic))
            .query_async::<Value>(&mut session.conn)
            .await
            .map_err(|err| err.to_string())?;
        subscribed.remove(&topic);
    }
    for topic in desired {
        if subscribed.contains(&topic) {
            continue;
        }
        ::redis::cmd(subscribe)
            .arg(shared.channel(&topic))
            .query_async::<Value>(&mut session.conn)
            .await
            .map_err(|err| err.to_string())?;
        subscribed.insert(topic);
    }
    shared
        .subscriptions
        .store(subscribed.len() as u64, Ordering::Relaxed);
    Ok(())
}

/// Connects, with a push handler that delivers what other nodes publish.
async fn open_session(
    shared: &Arc<Shared>,
    client: &::redis::Client,
    config: &RedisBridgeBuilder,
) -> Result<Session, Error> {
    let gone = Arc::new(Notify::new());
    let handler = {
        let shared = shared.clone();
        let gone = gone.clone();
        move |push: PushInfo| -> Result<(), std::convert::Infallible> {
            match push.kind {
                PushKind::Message | PushKind::SMessage => shared.receive(push.data),
                PushKind::Disconnection => gone.notify_one(),
                _ => {}
            }
            Ok(())
        }
    };
    let connection_config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(config.connect_timeout))
        .set_response_timeout(Some(config.connect_timeout))
        .set_push_sender(handler);
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&connection_config)
        .await
        .map_err(redis_error)?;
    let sharded = match config.sharded {
        Some(sharded) => sharded,
        None => server_major_version(&mut conn).await.map_err(redis_error)? >= 7,
    };
    shared.sharded.store(sharded, Ordering::Relaxed);
    Ok(Session {
        conn,
        gone,
        sharded,
    })
}

/// The major version of the Redis server, from `INFO server`.
async fn server_major_version(conn: &mut MultiplexedConnection) -> ::redis::RedisResult<u32> {
    let info: String = ::redis::cmd("INFO").arg("server").query_async(conn).await?;
    Ok(info
        .lines()
        .find_map(|line| line.strip_prefix("redis_version:"))
        .and_then(|version| version.split('.').next())
        .and_then(|major| major.trim().parse().ok())
        .unwrap_or(0))
}

impl Shared {
    fn new(
        hub: Arc<Hub>,
        node: u64,
        prefix: String,
        outgoing: mpsc::Sender<Outgoing>,
        max_outgoing_bytes: usize,
    ) -> Self {
        Self {
            hub,
            node,
            prefix,
            desired: Mutex::new(BTreeSet::new()),
            desired_changed: Notify::new(),
            outgoing,
            outgoing_bytes: AtomicUsize::new(0),
            max_outgoing_bytes,
            stopped: AtomicBool::new(false),
            connected: AtomicBool::new(false),
            sharded: AtomicBool::new(false),
            subscriptions: AtomicU64::new(0),
            sequences: Mutex::new(HashMap::new()),
            peers: Mutex::new(HashMap::new()),
            disconnects: AtomicU64::new(0),
            last_gap_ms: AtomicU64::new(u64::MAX),
            relayed: AtomicU64::new(0),
            not_relayed: AtomicU64::new(0),
            unconfirmed: AtomicU64::new(0),
            received: AtomicU64::new(0),
            missed: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            oversized: AtomicU64::new(0),
        }
    }

    fn lock_desired(&self) -> MutexGuard<'_, BTreeSet<Box<str>>> {
        self.desired.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn channel(&self, topic: &str) -> String {
        format!("{}{topic}", self.prefix)
    }

    /// A message pushed by Redis on one of our channels: `[channel, payload]`.
    fn receive(&self, data: Vec<Value>) {
        let mut data = data.into_iter();
        let (Some(Value::BulkString(channel)), Some(Value::BulkString(payload))) =
            (data.next(), data.next())
        else {
            self.malformed.fetch_add(1, Ordering::Relaxed);
            event!(warn, "dropped a Redis push that is not a channel message");
            return;
        };
        let Some(topic) = channel
            .strip_prefix(self.prefix.as_bytes())
            .and_then(|topic| std::str::from_utf8(topic).ok())
        else {
            self.malformed.fetch_add(1, Ordering::Relaxed);
            event!(
                warn,
                "dropped a message on a channel that is not a topic of ours"
            );
            return;
        };
        let envelope = match envelope::decode(Bytes::from(payload), self.hub.max_message_size()) {
            Ok(envelope) => envelope,
            Err(Refused::Malformed(_why)) => {
                self.malformed.fetch_add(1, Ordering::Relaxed);
                event!(
                    warn,
                    topic,
                    why = _why,
                    "dropped a malformed message from Redis"
                );
                return;
            }
            Err(Refused::Oversized {
                size: _size,
                limit: _limit,
            }) => {
                self.oversized.fetch_add(1, Ordering::Relaxed);
                event!(
                    warn,
                    topic,
                    size = _size,
                    limit = _limit,
                    "dropped a message from Redis over the message limit"
                );
                return;
            }
        };
        if envelope.node == self.node {
            // Our own, delivered locally when it was published.
            return;
        }
        self.note_sequence(topic, envelope.node, envelope.seq);
        self.received.fetch_add(1, Ordering::Relaxed);
        self.hub.deliver(topic, &envelope.message);
    }

    /// Counts the messages of `node` to `topic` that were skipped before `seq`.
    fn note_sequence(&self, topic: &str, node: u64, seq: u64) {
        let mut peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
        let topic_peers = match peers.get_mut(topic) {
            Some(topic_peers) => topic_peers,
            None => peers.entry(topic.into()).or_default(),
        };
        if topic_peers.len() >= MAX_PEERS_PER_TOPIC && !topic_peers.contains_key(&node) {
            topic_peers.clear();
        }
        let last = topic_peers.insert(node, seq);
        // A first message, or numbering that started afresh (the publisher forgot its
        // sequences), is not a gap: only a jump forward is.
        if let Some(last) = last
            && seq > last + 1
        {
            let missed = seq - last - 1;
            self.missed.fetch_add(missed, Ordering::Relaxed);
            event!(
                warn,
                topic,
                publisher = node,
                missed,
                "messages of another node never arrived through Redis"
            );
        }
    }

    fn next_sequence(&self, topic: &str) -> u64 {
        let mut sequences = self
            .sequences
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(seq) = sequences.get_mut(topic) {
            *seq += 1;
            return *seq;
        }
        if sequences.len() >= MAX_SEQUENCES {
            sequences.clear();
        }
        sequences.insert(topic.into(), 1);
        1
    }

    fn stats(&self) -> RedisStats {
        let last_gap = match self.last_gap_ms.load(Ordering::Relaxed) {
            u64::MAX => None,
            ms => Some(Duration::from_millis(ms)),
        };
        RedisStats {
            connected: self.connected.load(Ordering::Acquire),
            sharded: self.sharded.load(Ordering::Relaxed),
            subscriptions: usize::try_from(self.subscriptions.load(Ordering::Relaxed))
                .unwrap_or(usize::MAX),
            disconnects: self.disconnects.load(Ordering::Relaxed),
            last_gap,
            relayed: self.relayed.load(Ordering::Relaxed),
            not_relayed: self.not_relayed.load(Ordering::Relaxed),
            unconfirmed: self.unconfirmed.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
            missed: self.missed.load(Ordering::Relaxed),
            malformed: self.malformed.load(Ordering::Relaxed),
            oversized: self.oversized.load(Ordering::Relaxed),
        }
    }
}

impl Relay for Shared {
    fn topic_opened(&self, topic: &str) {
        self.lock_desired().insert(topic.into());
        self.desired_changed.notify_one();
    }

    fn topic_closed(&self, topic: &str) {
        self.lock_desired().remove(topic);
        self.peers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(topic);
        self.desired_changed.notify_one();
    }

    fn publish(&self, topic: &str, message: &PreparedMessage) {
        // Numbered even when it cannot be sent, so that the other nodes count it as missed.
        let seq = self.next_sequence(topic);
        if self.stopped.load(Ordering::Relaxed) {
            return;
        }
        let size = envelope::HEADER_LEN + message.len();
        let queued = self.outgoing_bytes.fetch_add(size, Ordering::Relaxed);
        let accepted = self.connected.load(Ordering::Acquire)
            && queued + size <= self.max_outgoing_bytes.max(size)
            && self
                .outgoing
                .try_send(Outgoing {
                    channel: self.channel(topic),
                    envelope: envelope::encode(self.node, seq, message),
                })
                .is_ok();
        if !accepted {
            self.outgoing_bytes.fetch_sub(size, Ordering::Relaxed);
            self.not_relayed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A node id that differs between processes and between bridges of one process.
fn random_node_id() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos()),
    );
    hasher.finish()
}

fn redis_error(err: ::redis::RedisError) -> Error {
    Error::Redis(Box::new(err))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(topics: &Topics) -> Shared {
        let (outgoing, _) = mpsc::channel(1);
        Shared::new(
            topics.hub().clone(),
            1,
            "weft:".to_owned(),
            outgoing,
            1 << 20,
        )
    }

    fn push(channel: &str, payload: Vec<u8>) -> Vec<Value> {
        vec![
            Value::BulkString(channel.as_bytes().to_vec()),
            Value::BulkString(payload),
        ]
    }

    #[test]
    fn messages_of_other_nodes_are_delivered_and_gaps_counted() {
        let topics = Topics::new();
        let bridge = shared(&topics);
        let mut subscriber = topics.subscriber();
        subscriber.subscribe("room").unwrap();
        let message = PreparedMessage::text("hi");
        for seq in [1, 2, 5, 6] {
            bridge.receive(push(
                "weft:room",
                envelope::encode(7, seq, &message).to_vec(),
            ));
        }
        // Our own come back from Redis too: not delivered twice.
        bridge.receive(push("weft:room", envelope::encode(1, 1, &message).to_vec()));
        let stats = bridge.stats();
        assert_eq!((stats.received, stats.missed), (4, 2));
        assert_eq!(subscriber.queued().0, 4);
    }

    #[test]
    fn malformed_and_oversized_messages_from_redis_are_dropped_and_counted() {
        let topics = Topics::builder().max_message_size(10).build();
        let bridge = shared(&topics);
        let mut subscriber = topics.subscriber();
        subscriber.subscribe("room").unwrap();
        bridge.receive(push("weft:room", b"not an envelope at all".to_vec()));
        bridge.receive(push(
            "other:room",
            envelope::encode(7, 1, &PreparedMessage::text("x")).to_vec(),
        ));
        bridge.receive(vec![Value::Int(3)]);
        let big = PreparedMessage::binary(vec![0u8; 11]);
        bridge.receive(push("weft:room", envelope::encode(7, 1, &big).to_vec()));
        let stats = bridge.stats();
        assert_eq!(
            (stats.malformed, stats.oversized, stats.received),
            (3, 1, 0)
        );
        assert_eq!(subscriber.queued(), (0, 0));
    }

    /// Counts the warnings of the bridge's target.
    #[cfg(feature = "tracing")]
    #[derive(Default)]
    struct Warnings(AtomicUsize);

    #[cfg(feature = "tracing")]
    impl tracing::Subscriber for Warnings {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            let meta = event.metadata();
            if meta.target() == "weft_server::redis" && *meta.level() == tracing::Level::WARN {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    #[cfg(feature = "tracing")]
    #[test]
    fn dropped_messages_and_gaps_are_tracing_warnings() {
        let warnings = Arc::new(Warnings::default());
        tracing::subscriber::with_default(warnings.clone(), || {
            let topics = Topics::builder().max_message_size(4).build();
            let bridge = shared(&topics);
            let mut subscriber = topics.subscriber();
            subscriber.subscribe("room").unwrap();
            bridge.receive(push("weft:room", b"garbage".to_vec()));
            let big = PreparedMessage::binary(vec![0u8; 5]);
            bridge.receive(push("weft:room", envelope::encode(7, 1, &big).to_vec()));
            let small = PreparedMessage::binary(vec![0u8; 1]);
            bridge.receive(push("weft:room", envelope::encode(7, 2, &small).to_vec()));
            // A gap: 3 and 4 never came.
            bridge.receive(push("weft:room", envelope::encode(7, 5, &small).to_vec()));
        });
        assert_eq!(warnings.0.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn the_outgoing_queue_is_bounded_in_bytes() {
        let topics = Topics::new();
        let (outgoing, mut receiver) = mpsc::channel(1000);
        let bridge = Shared::new(topics.hub().clone(), 1, "weft:".to_owned(), outgoing, 1000);
        bridge.connected.store(true, Ordering::Release);
        let message = PreparedMessage::binary(vec![0u8; 300]);
        for _ in 0..5 {
            bridge.publish("room", &message);
        }
        // Three envelopes of 319 bytes fit in 1,000; two more do not.
        assert_eq!(bridge.stats().not_relayed, 2);
        assert_eq!(bridge.outgoing_bytes.load(Ordering::Relaxed), 3 * 319);
        // One larger than the whole bound still goes alone into an empty queue.
        while receiver.try_recv().is_ok() {}
        bridge.outgoing_bytes.store(0, Ordering::Relaxed);
        bridge.publish("room", &PreparedMessage::binary(vec![0u8; 5000]));
        assert_eq!(bridge.stats().not_relayed, 2);
    }

    #[test]
    fn publishes_while_disconnected_are_counted_and_still_numbered() {
        let topics = Topics::new();
        let bridge = shared(&topics);
        let message = PreparedMessage::text("hi");
        bridge.publish("room", &message);
        bridge.publish("room", &message);
        assert_eq!(bridge.stats().not_relayed, 2);
        assert_eq!(bridge.next_sequence("room"), 3);
        assert_eq!(bridge.next_sequence("other"), 1);
    }
}
