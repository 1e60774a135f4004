//! Topics: publish a message once, deliver it to every connection subscribed.
//!
//! [`Topics`] is the registry (clone it into every connection handler); each connection makes
//! a [`Subscriber`], subscribes it to named topics, and lets it run the connection
//! ([`Subscriber::next_message`]): it writes what the topics deliver and hands back what the
//! client sends. [`Topics::publish`] encodes a message once ([`PreparedMessage`]) and queues
//! it for every subscriber of the topic, without waiting for any of them.
//!
//! # Slow subscribers
//!
//! Each subscriber has a bounded queue (by default 4,096 messages or 4 MiB, see
//! [`TopicsBuilder::queue_capacity`]); what its connection cannot write yet waits there, after
//! the connection's own write buffer ([`Config::write_buffer_size`](weft_codec::Config)). When
//! the queue is full, the topic's [`SlowSubscriber`] policy decides: drop the message for that
//! subscriber and count it, or close the subscriber's connection (1008 or 1013). A publish
//! never waits, so one slow reader never stalls a topic, and what a slow reader can hold is
//! bounded by its queue.
//!
//! # Order
//!
//! Messages of one topic reach every subscriber in the order they were published (publishes to
//! one topic are serialised; a subscriber's queue is first in, first out). Messages of
//! different topics keep their order within each topic.
//!
//! # Limits
//!
//! | limit | default | refused with |
//! | --- | --- | --- |
//! | [`max_topic_name`](TopicsBuilder::max_topic_name) | 256 bytes | [`Error::TopicNameTooLong`] |
//! | [`max_message_size`](TopicsBuilder::max_message_size) | 64 MiB | [`Error::MessageTooLarge`] |
//! | [`max_subscriptions`](TopicsBuilder::max_subscriptions) per subscriber | 1,024 | [`Error::TooManySubscriptions`] |
//! | [`queue_capacity`](TopicsBuilder::queue_capacity) per subscriber | 4,096 messages, 4 MiB | the topic's [`SlowSubscriber`] policy |
//!
//! A topic exists while it has subscribers: the last one to leave removes it, so topic names
//! chosen by clients cannot pile up.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use weft_server::topics::Topics;
//! use weft_server::{Message, PreparedMessage, Server};
//!
//! // A chat room: everything a client sends goes to every client.
//! let topics = Topics::new();
//! Server::bind("127.0.0.1:9001").await?.serve(move |mut ws, _accepted| {
//!     let topics = topics.clone();
//!     async move {
//!         let mut subscriber = topics.subscriber();
//!         if subscriber.subscribe("room").is_err() {
//!             return;
//!         }
//!         while let Some(Ok(message)) = subscriber.next_message(&mut ws).await {
//!             if let Ok(message) = PreparedMessage::try_from(message) {
//!                 let _ = topics.publish("room", &message);
//!             }
//!         }
//!         // Dropping the subscriber unsubscribes it from every topic.
//!     }
//! }).await
//! # }
//! ```

mod queue;
mod subscriber;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use weft_codec::{CloseCode, PreparedMessage};

use crate::error::Error;
use queue::{Capacity, Pushed, Queue};
pub use subscriber::{Delivery, Subscriber};

/// What happens to a subscriber whose queue is full when a message for it is published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlowSubscriber {
    /// Drop the message for this subscriber (counted in [`Subscriber::dropped`] and
    /// [`TopicsStats::dropped`]); it keeps its connection and gets later messages once it
    /// catches up. For data where the latest value matters (prices, positions, dashboards).
    Drop,
    /// Close the subscriber's connection with this code, dropping what it had not taken yet;
    /// it leaves every topic at once. For streams where a gap is worse than a reconnect (a
    /// chat, a log): [`CloseCode::POLICY_VIOLATION`] (1008) or
    /// [`CloseCode::TRY_AGAIN_LATER`] (1013), which asks the client to come back.
    Close(CloseCode),
}

/// The outcome of one [`Topics::publish`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Published {
    /// Subscribers the message was queued for.
    pub queued: usize,
    /// Subscribers whose queue was full, for which the message was dropped.
    pub dropped: usize,
    /// Subscribers whose queue was full and which are being closed.
    pub closed: usize,
}

/// Counters since the [`Topics`] were made (see [`Topics::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicsStats {
    /// Topics with at least one subscriber now.
    pub topics: usize,
    /// Subscriptions now (a subscriber in two topics counts twice).
    pub subscriptions: usize,
    /// Messages published (locally, and received from other nodes through a bridge).
    pub published: u64,
    /// Messages queued for a subscriber.
    pub queued: u64,
    /// Messages dropped for a slow subscriber ([`SlowSubscriber::Drop`]).
    pub dropped: u64,
    /// Subscribers closed for being slow ([`SlowSubscriber::Close`]).
    pub closed: u64,
}

/// Topics that connections subscribe to and messages are published to. Cheap to clone; clones
/// share the topics.
///
/// See the [module documentation](self) for a chat room, the slow-subscriber policies, the
/// order guarantees and the limits.
///
/// ```
/// use weft_server::topics::{SlowSubscriber, Topics};
/// use weft_server::{CloseCode, PreparedMessage};
///
/// let topics = Topics::builder()
///     .policy("chat", SlowSubscriber::Close(CloseCode::TRY_AGAIN_LATER))
///     .build();
/// let mut subscriber = topics.subscriber();
/// assert!(subscriber.subscribe("prices")?);
/// let published = topics.publish("prices", &PreparedMessage::text("EURUSD 1.0842"))?;
/// assert_eq!(published.queued, 1);
/// // No subscribers: nothing to do, and nothing kept.
/// assert_eq!(topics.publish("nobody", &PreparedMessage::text("?"))?.queued, 0);
/// # Ok::<(), weft_server::Error>(())
/// ```
#[derive(Clone)]
pub struct Topics {
    hub: Arc<Hub>,
}

/// The shared state behind [`Topics`] and every [`Subscriber`].
pub(crate) struct Hub {
    settings: Settings,
    topics: Mutex<HashMap<Arc<str>, Arc<Topic>>>,
    /// A bridge to other nodes (the Redis bridge), told about topics and publishes.
    relay: OnceLock<Arc<dyn Relay>>,
    published: AtomicU64,
    queued: AtomicU64,
    dropped: AtomicU64,
    closed: AtomicU64,
}

#[derive(Clone, Debug)]
struct Settings {
    max_topic_name: usize,
    max_message_size: usize,
    max_subscriptions: usize,
    capacity: Capacity,
    default_policy: SlowSubscriber,
    policies: HashMap<String, SlowSubscriber>,
}

/// One topic: its subscribers' queues, in the order they subscribed.
struct Topic {
    policy: SlowSubscriber,
    subscribers: Mutex<Vec<Arc<Queue>>>,
}

/// Carries topics to other nodes: told when a topic gains its first subscriber and loses its
/// last, and of every local publish. Implemented by the Redis bridge.
pub(crate) trait Relay: Send + Sync {
    /// `topic` has subscribers on this node now.
    fn topic_opened(&self, topic: &str);
    /// `topic` has no subscribers on this node any more.
    fn topic_closed(&self, topic: &str);
    /// `message` was published to `topic` on this node.
    fn publish(&self, topic: &str, message: &PreparedMessage);
}

impl Topics {
    /// Topics with the default settings (see [`Topics::builder`]).
    ///
    /// ```
    /// let topics = weft_server::topics::Topics::new();
    /// assert_eq!(topics.max_message_size(), 64 << 20);
    /// ```
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder for topics with other limits or policies.
    ///
    /// ```
    /// use weft_server::CloseCode;
    /// use weft_server::topics::{SlowSubscriber, Topics};
    /// let topics = Topics::builder()
    ///     .queue_capacity(1_000, 1 << 20)
    ///     .policy("trades", SlowSubscriber::Close(CloseCode::TRY_AGAIN_LATER))
    ///     .build();
    /// # let _ = topics;
    /// ```
    pub fn builder() -> TopicsBuilder {
        TopicsBuilder {
            settings: Settings {
                max_topic_name: 256,
                max_message_size: 64 << 20,
                max_subscriptions: 1024,
                capacity: Capacity {
                    messages: 4096,
                    bytes: 4 << 20,
                },
                default_policy: SlowSubscriber::Drop,
                policies: HashMap::new(),
            },
        }
    }

    /// A subscriber for one connection, subscribed to nothing yet. Dropping it unsubscribes
    /// it from every topic.
    ///
    /// ```
    /// let topics = weft_server::topics::Topics::new();
    /// let mut subscriber = topics.subscriber(); // one per connection
    /// assert!(subscriber.subscribe("news")?);
    /// assert_eq!(topics.subscriber_count("news"), 1);
    /// drop(subscriber); // leaves every topic
    /// assert_eq!(topics.subscriber_count("news"), 0);
    /// # Ok::<(), weft_server::Error>(())
    /// ```
    pub fn subscriber(&self) -> Subscriber {
        Subscriber::new(self.hub.clone(), self.hub.settings.capacity)
    }

    /// Queues `message` for every subscriber of `topic`, and hands it to the bridge to other
    /// nodes if there is one. Never waits: a subscriber whose queue is full gets its topic's
    /// [`SlowSubscriber`] policy.
    ///
    /// Publishing to a topic nobody subscribes to is not an error: it queues nothing.
    ///
    /// ```
    /// use weft_server::topics::Topics;
    /// use weft_server::{Error, PreparedMessage};
    ///
    /// let topics = Topics::builder().max_message_size(16).max_topic_name(8).build();
    /// let too_long = topics.publish("a-very-long-topic", &PreparedMessage::text("hi"));
    /// assert!(matches!(too_long, Err(Error::TopicNameTooLong { len: 17, limit: 8 })));
    /// let too_big = topics.publish("t", &PreparedMessage::binary(vec![0; 17]));
    /// assert!(matches!(too_big, Err(Error::MessageTooLarge { size: 17, limit: 16 })));
    /// ```
    pub fn publish(&self, topic: &str, message: &PreparedMessage) -> Result<Published, Error> {
        self.hub.check_name(topic)?;
        self.hub.check_size(message.len())?;
        if let Some(relay) = self.hub.relay.get() {
            relay.publish(topic, message);
        }
        Ok(self.hub.deliver(topic, message))
    }

    /// How many subscribers `topic` has now.
    ///
    /// ```
    /// let topics = weft_server::topics::Topics::new();
    /// let mut first = topics.subscriber();
    /// let mut second = topics.subscriber();
    /// first.subscribe("lobby")?;
    /// second.subscribe("lobby")?;
    /// assert_eq!(topics.subscriber_count("lobby"), 2);
    /// # Ok::<(), weft_server::Error>(())
    /// ```
    pub fn subscriber_count(&self, topic: &str) -> usize {
        self.hub
            .topic(topic)
            .map_or(0, |topic| topic.lock_subscribers().len())
    }

    /// The counters: topics and subscriptions now, messages published, queued, dropped, and
    /// subscribers closed since the topics were made.
    ///
    /// ```
    /// use weft_server::PreparedMessage;
    /// use weft_server::topics::Topics;
    /// let topics = Topics::new();
    /// let mut subscriber = topics.subscriber();
    /// subscriber.subscribe("news")?;
    /// topics.publish("news", &PreparedMessage::text("hello"))?;
    /// let stats = topics.stats();
    /// assert_eq!((stats.topics, stats.subscriptions), (1, 1));
    /// assert_eq!((stats.published, stats.queued), (1, 1));
    /// # Ok::<(), weft_server::Error>(())
    /// ```
    pub fn stats(&self) -> TopicsStats {
        let hub = &self.hub;
        let topics = hub.lock_topics();
        let subscriptions = topics
            .values()
            .map(|topic| topic.lock_subscribers().len())
            .sum();
        TopicsStats {
            topics: topics.len(),
            subscriptions,
            published: hub.published.load(Ordering::Relaxed),
            queued: hub.queued.load(Ordering::Relaxed),
            dropped: hub.dropped.load(Ordering::Relaxed),
            closed: hub.closed.load(Ordering::Relaxed),
        }
    }

    /// The largest message [`publish`](Self::publish) accepts.
    ///
    /// ```
    /// let topics = weft_server::topics::Topics::builder().max_message_size(1 << 20).build();
    /// assert_eq!(topics.max_message_size(), 1 << 20);
    /// ```
    pub fn max_message_size(&self) -> usize {
        self.hub.settings.max_message_size
    }

    #[cfg(feature = "redis")]
    pub(crate) fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }
}

impl Default for Topics {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Topics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Topics")
            .field("settings", &self.hub.settings)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Hub {
    fn lock_topics(&self) -> MutexGuard<'_, HashMap<Arc<str>, Arc<Topic>>> {
        self.topics.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.lock_topics().get(name).cloned()
    }

    pub(crate) fn check_name(&self, topic: &str) -> Result<(), Error> {
        let limit = self.settings.max_topic_name;
        if topic.len() > limit {
            return Err(Error::TopicNameTooLong {
                len: topic.len(),
                limit,
            });
        }
        Ok(())
    }

    pub(crate) fn check_size(&self, size: usize) -> Result<(), Error> {
        let limit = self.settings.max_message_size;
        if size > limit {
            return Err(Error::MessageTooLarge { size, limit });
        }
        Ok(())
    }

    #[cfg(feature = "redis")]
    pub(crate) fn max_message_size(&self) -> usize {
        self.settings.max_message_size
    }

    /// Queues `message` for this node's subscribers of `topic` (not relayed).
    pub(crate) fn deliver(&self, topic: &str, message: &PreparedMessage) -> Published {
        self.published.fetch_add(1, Ordering::Relaxed);
        let mut published = Published::default();
        let Some(topic) = self.topic(topic) else {
            return published;
        };
        let policy = topic.policy;
        // Held for the whole publish: every subscriber gets this topic's messages in one order.
        let mut subscribers = topic.lock_subscribers();
        subscribers.retain(|queue| match queue.push(message, policy) {
            Pushed::Queued => {
                published.queued += 1;
                true
            }
            Pushed::Dropped => {
                published.dropped += 1;
                true
            }
            Pushed::Closed => {
                published.closed += 1;
                false
            }
            // Closed by another topic's policy; its subscriber removes itself from the rest
            // of its topics when it is dropped.
            Pushed::Gone => false,
        });
        drop(subscribers);
        self.queued
            .fetch_add(published.queued as u64, Ordering::Relaxed);
        self.dropped
            .fetch_add(published.dropped as u64, Ordering::Relaxed);
        self.closed
            .fetch_add(published.closed as u64, Ordering::Relaxed);
        published
    }

    /// Adds `queue` to `topic`, creating the topic (and telling the relay) if it is new.
    fn subscribe(&self, topic: &str, queue: &Arc<Queue>) {
        let mut topics = self.lock_topics();
        if let Some(existing) = topics.get(topic) {
            existing.lock_subscribers().push(queue.clone());
            return;
        }
        let name: Arc<str> = topic.into();
        let policy = self
            .settings
            .policies
            .get(topic)
            .copied()
            .unwrap_or(self.settings.default_policy);
        topics.insert(
            name,
            Arc::new(Topic {
                policy,
                subscribers: Mutex::new(vec![queue.clone()]),
            }),
        );
        // Under the topics lock, so a relay sees a topic's openings and closings in order.
        if let Some(relay) = self.relay.get() {
            relay.topic_opened(topic);
        }
    }

    /// Removes `queue` from `topic`, removing the topic (and telling the relay) if it was the
    /// last subscriber.
    fn unsubscribe(&self, topic: &str, queue: &Arc<Queue>) {
        let mut topics = self.lock_topics();
        let Some(existing) = topics.get(topic) else {
            return;
        };
        let empty = {
            let mut subscribers = existing.lock_subscribers();
            if let Some(at) = subscribers.iter().position(|q| Arc::ptr_eq(q, queue)) {
                subscribers.swap_remove(at);
            }
            subscribers.is_empty()
        };
        if empty {
            topics.remove(topic);
            if let Some(relay) = self.relay.get() {
                relay.topic_closed(topic);
            }
        }
    }

    /// Installs the relay; returns false if one is installed already. Topics that exist now
    /// are opened on it.
    #[cfg(feature = "redis")]
    pub(crate) fn set_relay(&self, relay: Arc<dyn Relay>) -> bool {
        let topics = self.lock_topics();
        if self.relay.set(relay.clone()).is_err() {
            return false;
        }
        for name in topics.keys() {
            relay.topic_opened(name);
        }
        true
    }
}

impl Topic {
    fn lock_subscribers(&self) -> MutexGuard<'_, Vec<Arc<Queue>>> {
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Configures [`Topics`].
#[derive(Debug)]
pub struct TopicsBuilder {
    settings: Settings,
}

impl TopicsBuilder {
    /// The longest topic name, in bytes (default 256).
    ///
    /// ```
    /// use weft_server::PreparedMessage;
    /// let topics = weft_server::topics::Topics::builder().max_topic_name(16).build();
    /// assert!(topics.publish("a-name-too-long-for-16", &PreparedMessage::text("x")).is_err());
    /// ```
    pub fn max_topic_name(mut self, bytes: usize) -> Self {
        self.settings.max_topic_name = bytes;
        self
    }

    /// The largest message that may be published, in bytes (default 64 MiB, the codec's
    /// default `max_message_size`).
    ///
    /// ```
    /// let topics = weft_server::topics::Topics::builder().max_message_size(64 << 10).build();
    /// # let _ = topics;
    /// ```
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.settings.max_message_size = bytes;
        self
    }

    /// The most topics one subscriber may be in (default 1,024).
    ///
    /// ```
    /// let topics = weft_server::topics::Topics::builder().max_subscriptions(2).build();
    /// let mut subscriber = topics.subscriber();
    /// subscriber.subscribe("a")?;
    /// subscriber.subscribe("b")?;
    /// assert!(subscriber.subscribe("c").is_err());
    /// # Ok::<(), weft_server::Error>(())
    /// ```
    pub fn max_subscriptions(mut self, count: usize) -> Self {
        self.settings.max_subscriptions = count;
        self
    }

    /// How much each subscriber's queue holds before the slow-subscriber policy applies:
    /// `messages` messages or `bytes` bytes of payload, whichever comes first (default 4,096
    /// and 4 MiB). Messages are shared between subscribers, so a full queue holds references;
    /// the bytes bound what a slow subscriber can keep alive.
    ///
    /// ```
    /// // Up to 256 messages or 1 MiB waiting per subscriber, whichever comes first.
    /// let topics = weft_server::topics::Topics::builder().queue_capacity(256, 1 << 20).build();
    /// # let _ = topics;
    /// ```
    pub fn queue_capacity(mut self, messages: usize, bytes: usize) -> Self {
        self.settings.capacity = Capacity {
            messages: messages.max(1),
            bytes,
        };
        self
    }

    /// The slow-subscriber policy of topics not named with [`policy`](Self::policy)
    /// (default [`SlowSubscriber::Drop`]).
    ///
    /// ```
    /// use weft_server::CloseCode;
    /// use weft_server::topics::{SlowSubscriber, Topics};
    /// // Every topic closes slow subscribers, unless named otherwise.
    /// let topics = Topics::builder()
    ///     .default_policy(SlowSubscriber::Close(CloseCode::TRY_AGAIN_LATER))
    ///     .policy("presence", SlowSubscriber::Drop)
    ///     .build();
    /// # let _ = topics;
    /// ```
    pub fn default_policy(mut self, policy: SlowSubscriber) -> Self {
        self.settings.default_policy = policy;
        self
    }

    /// The slow-subscriber policy of `topic`.
    ///
    /// ```
    /// use weft_server::CloseCode;
    /// use weft_server::topics::{SlowSubscriber, Topics};
    /// // Order book updates must not have holes: close a subscriber that falls behind.
    /// let topics = Topics::builder()
    ///     .policy("book", SlowSubscriber::Close(CloseCode::TRY_AGAIN_LATER))
    ///     .build();
    /// # let _ = topics;
    /// ```
    pub fn policy(mut self, topic: impl Into<String>, policy: SlowSubscriber) -> Self {
        self.settings.policies.insert(topic.into(), policy);
        self
    }

    /// The topics.
    ///
    /// ```
    /// let topics = weft_server::topics::Topics::builder().max_topic_name(64).build();
    /// let clone = topics.clone(); // shares the topics
    /// # let _ = clone;
    /// ```
    pub fn build(self) -> Topics {
        Topics {
            hub: Arc::new(Hub {
                settings: self.settings,
                topics: Mutex::new(HashMap::new()),
                relay: OnceLock::new(),
                published: AtomicU64::new(0),
                queued: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
                closed: AtomicU64::new(0),
            }),
        }
    }
}
