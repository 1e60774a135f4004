//! [`Subscriber`]: one connection's membership in topics, and the loop that writes what the
//! topics deliver.

use std::collections::BTreeSet;
use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_sink::Sink;
use tokio::io::{AsyncRead, AsyncWrite};
use weft_codec::tokio::WebSocket;
use weft_codec::{CloseCode, CloseFrame, Message, PreparedMessage};

use super::Hub;
#[cfg(doc)]
use super::SlowSubscriber;
use super::queue::{Capacity, Next, Queue};
use crate::error::Error;

/// One connection's subscriptions (made by [`Topics::subscriber`](super::Topics::subscriber)).
///
/// Messages published to its topics wait in its bounded queue until
/// [`next_message`](Self::next_message) writes them to the connection, or until
/// [`recv`](Self::recv) hands them to a caller that writes them itself. Dropping the
/// subscriber unsubscribes it from every topic, so a handler that ends (the connection closed)
/// leaves its topics without further ado.
pub struct Subscriber {
    hub: Arc<Hub>,
    queue: Arc<Queue>,
    topics: BTreeSet<Box<str>>,
    /// The close code a slow-subscriber policy closed this subscriber with.
    closed_with: Option<CloseCode>,
}

/// What [`Subscriber::recv`] hands out.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Delivery {
    /// A message published to one of the subscriber's topics.
    Message(PreparedMessage),
    /// The subscriber's queue overflowed in a topic whose policy is [`SlowSubscriber::Close`]:
    /// close the connection with this code. Nothing more will be delivered.
    Close(CloseCode),
}

impl Subscriber {
    pub(super) fn new(hub: Arc<Hub>, capacity: Capacity) -> Self {
        Self {
            hub,
            queue: Arc::new(Queue::new(capacity)),
            topics: BTreeSet::new(),
            closed_with: None,
        }
    }

    /// Subscribes to `topic`; returns false if already subscribed.
    ///
    /// ```
    /// use weft_server::topics::Topics;
    /// use weft_server::Error;
    ///
    /// let topics = Topics::builder().max_subscriptions(1).build();
    /// let mut subscriber = topics.subscriber();
    /// assert!(subscriber.subscribe("a")?);
    /// assert!(!subscriber.subscribe("a")?);
    /// assert!(matches!(subscriber.subscribe("b"), Err(Error::TooManySubscriptions { limit: 1 })));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn subscribe(&mut self, topic: &str) -> Result<bool, Error> {
        self.hub.check_name(topic)?;
        if self.topics.contains(topic) {
            return Ok(false);
        }
        let limit = self.hub.settings.max_subscriptions;
        if self.topics.len() >= limit {
            return Err(Error::TooManySubscriptions { limit });
        }
        if self.closed_with.is_some() {
            // Closed by a slow-subscriber policy: it takes nothing more.
            return Ok(false);
        }
        self.hub.subscribe(topic, &self.queue);
        self.topics.insert(topic.into());
        Ok(true)
    }

    /// Unsubscribes from `topic`; returns false if it was not subscribed (unsubscribing twice
    /// is harmless). Messages of the topic already queued are still delivered.
    ///
    /// ```
    /// let topics = weft_server::topics::Topics::new();
    /// let mut subscriber = topics.subscriber();
    /// subscriber.subscribe("a").unwrap();
    /// assert!(subscriber.unsubscribe("a"));
    /// assert!(!subscriber.unsubscribe("a"));
    /// assert_eq!(topics.subscriber_count("a"), 0);
    /// ```
    pub fn unsubscribe(&mut self, topic: &str) -> bool {
        if !self.topics.remove(topic) {
            return false;
        }
        self.hub.unsubscribe(topic, &self.queue);
        true
    }

    /// The topics subscribed to, in name order.
    ///
    /// ```
    /// let topics = weft_server::topics::Topics::new();
    /// let mut subscriber = topics.subscriber();
    /// subscriber.subscribe("news")?;
    /// subscriber.subscribe("prices")?;
    /// assert_eq!(subscriber.topics().collect::<Vec<_>>(), ["news", "prices"]);
    /// # Ok::<(), weft_server::Error>(())
    /// ```
    pub fn topics(&self) -> impl Iterator<Item = &str> {
        self.topics.iter().map(|topic| &**topic)
    }

    /// Messages dropped for this subscriber because its queue was full
    /// ([`SlowSubscriber::Drop`]).
    ///
    /// ```
    /// use weft_server::PreparedMessage;
    /// use weft_server::topics::Topics;
    /// let topics = Topics::builder().queue_capacity(1, 1 << 20).build(); // the Drop policy
    /// let mut subscriber = topics.subscriber();
    /// subscriber.subscribe("ticks")?;
    /// for n in 0..3 {
    ///     topics.publish("ticks", &PreparedMessage::text(n.to_string()))?;
    /// }
    /// assert_eq!(subscriber.dropped(), 2); // it never read: one queued, two dropped
    /// # Ok::<(), weft_server::Error>(())
    /// ```
    pub fn dropped(&self) -> u64 {
        self.queue.dropped()
    }

    /// Messages and payload bytes waiting in this subscriber's queue.
    ///
    /// ```
    /// use weft_server::PreparedMessage;
    /// use weft_server::topics::Topics;
    /// let topics = Topics::new();
    /// let mut subscriber = topics.subscriber();
    /// subscriber.subscribe("news")?;
    /// topics.publish("news", &PreparedMessage::text("hello"))?;
    /// assert_eq!(subscriber.queued(), (1, 5));
    /// # Ok::<(), weft_server::Error>(())
    /// ```
    pub fn queued(&self) -> (usize, usize) {
        self.queue.queued()
    }

    /// The close code, once a slow-subscriber policy has closed this subscriber (and
    /// [`next_message`](Self::next_message) or [`recv`](Self::recv) has handed out the order).
    ///
    /// ```no_run
    /// # async fn demo(mut ws: weft_server::WebSocket<weft_server::ServerStream>,
    /// #               mut subscriber: weft_server::topics::Subscriber) {
    /// while let Some(Ok(_message)) = subscriber.next_message(&mut ws).await {}
    /// if let Some(code) = subscriber.closed_with() {
    ///     println!("closed with {code}: it fell behind its topics");
    /// }
    /// # }
    /// ```
    pub fn closed_with(&self) -> Option<CloseCode> {
        self.closed_with
    }

    /// The next delivery, for a caller that writes to the connection itself (a split
    /// connection's writer task, say). Cancel safe.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), weft_server::Error> {
    /// use weft_server::topics::{Delivery, Topics};
    /// use weft_server::PreparedMessage;
    ///
    /// let topics = Topics::new();
    /// let mut subscriber = topics.subscriber();
    /// subscriber.subscribe("news")?;
    /// topics.publish("news", &PreparedMessage::text("hello"))?;
    /// let Delivery::Message(message) = subscriber.recv().await else { unreachable!() };
    /// assert_eq!(message.payload(), "hello".as_bytes());
    /// # Ok(()) }
    /// ```
    pub async fn recv(&mut self) -> Delivery {
        poll_fn(|cx| match self.queue.pop(cx.waker()) {
            Some(next) => Poll::Ready(self.delivery(next)),
            None => Poll::Pending,
        })
        .await
    }

    fn delivery(&mut self, next: Next) -> Delivery {
        match next {
            Next::Message(message) => Delivery::Message(message),
            Next::Close(code) => {
                crate::trace::slow_subscriber_closed(code);
                self.closed_with = Some(code);
                self.leave_all();
                Delivery::Close(code)
            }
        }
    }

    /// Runs `ws` as this subscriber's connection until the client sends a message: writes
    /// every message the topics deliver (as long as the connection's write buffer has room;
    /// beyond that they wait in the subscriber's queue), and returns the next message the
    /// client sent, or `None` once the connection has closed.
    ///
    /// When the subscriber's queue overflows in a topic whose policy is
    /// [`SlowSubscriber::Close`], this sends the close frame and keeps reading until the
    /// closing handshake ends (bounded by the connection's close timeout), then returns
    /// `None`; [`closed_with`](Self::closed_with) tells why.
    ///
    /// Cancel safe: a delivery taken from the queue is already queued on the connection.
    ///
    /// ```no_run
    /// # async fn demo(server: weft_server::Server, topics: weft_server::topics::Topics) -> std::io::Result<()> {
    /// use weft_server::PreparedMessage;
    /// // A chat room: what one client says, every client in the room gets.
    /// server
    ///     .serve(move |mut ws, _accepted| {
    ///         let topics = topics.clone();
    ///         async move {
    ///             let mut subscriber = topics.subscriber();
    ///             if subscriber.subscribe("room").is_err() {
    ///                 return;
    ///             }
    ///             while let Some(Ok(message)) = subscriber.next_message(&mut ws).await {
    ///                 if let Some(text) = message.as_text() {
    ///                     let _ = topics.publish("room", &PreparedMessage::text(text));
    ///                 }
    ///             }
    ///         }
    ///     })
    ///     .await
    /// # }
    /// ```
    pub async fn next_message<S>(
        &mut self,
        ws: &mut WebSocket<S>,
    ) -> Option<Result<Message, weft_codec::Error>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        poll_fn(|cx| self.poll_next_message(ws, cx)).await
    }

    fn poll_next_message<S>(
        &mut self,
        ws: &mut WebSocket<S>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Message, weft_codec::Error>>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        loop {
            if let Err(err) = self.queue_deliveries(ws, cx) {
                return Poll::Ready(Some(Err(err)));
            }
            // Reading also writes what was queued, without waiting for the client to read it.
            if let Poll::Ready(message) = Pin::new(&mut *ws).poll_next(cx) {
                return Poll::Ready(message);
            }
            // Writing may have made room: go on while deliveries wait and room is there.
            if !(self.has_room(ws) && self.closed_with.is_none() && self.queue.has_next()) {
                return Poll::Pending;
            }
        }
    }

    /// Moves deliveries onto the connection while its write buffer has room.
    fn queue_deliveries<S>(
        &mut self,
        ws: &mut WebSocket<S>,
        cx: &mut Context<'_>,
    ) -> Result<(), weft_codec::Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        while self.closed_with.is_none() && ws.connection().can_send() && self.has_room(ws) {
            let Some(next) = self.queue.pop(cx.waker()) else {
                break;
            };
            match self.delivery(next) {
                Delivery::Message(message) => ws.start_send_prepared(&message)?,
                Delivery::Close(code) => {
                    // Deliveries stop; the reader sees the closing handshake through to the end.
                    let frame = CloseFrame::new(code, "subscriber too slow");
                    Sink::<Message>::start_send(Pin::new(&mut *ws), Message::Close(Some(frame)))?;
                }
            }
        }
        Ok(())
    }

    /// Whether the connection's write buffer is below its backpressure threshold.
    fn has_room<S>(&self, ws: &WebSocket<S>) -> bool
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let conn = ws.connection();
        conn.buffered_amount() < conn.config().get_write_buffer_size()
    }

    fn leave_all(&mut self) {
        self.queue.finish();
        for topic in std::mem::take(&mut self.topics) {
            self.hub.unsubscribe(&topic, &self.queue);
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.leave_all();
    }
}

impl fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscriber")
            .field("topics", &self.topics)
            .field("queued", &self.queue.queued())
            .field("dropped", &self.queue.dropped())
            .field("closed_with", &self.closed_with)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use super::super::{SlowSubscriber, Topics};
    use super::*;

    #[test]
    fn dropping_a_subscriber_leaves_every_topic_and_removes_empty_ones() {
        let topics = Topics::new();
        let mut a = topics.subscriber();
        let mut b = topics.subscriber();
        a.subscribe("x").unwrap();
        a.subscribe("y").unwrap();
        b.subscribe("x").unwrap();
        assert_eq!(topics.stats().topics, 2);
        assert_eq!(topics.stats().subscriptions, 3);
        drop(a);
        assert_eq!(topics.subscriber_count("x"), 1);
        assert_eq!(topics.stats().topics, 1, "y had no one else");
        drop(b);
        assert_eq!(topics.stats().topics, 0);
    }

    #[test]
    fn a_closed_subscriber_leaves_its_other_topics_when_the_order_is_taken() {
        let topics = Topics::builder()
            .queue_capacity(1, 1 << 20)
            .policy("strict", SlowSubscriber::Close(CloseCode::POLICY_VIOLATION))
            .build();
        let mut slow = topics.subscriber();
        slow.subscribe("strict").unwrap();
        slow.subscribe("loose").unwrap();
        let message = PreparedMessage::text("m");
        topics.publish("strict", &message).unwrap();
        let published = topics.publish("strict", &message).unwrap();
        assert_eq!(published.closed, 1);
        assert_eq!(topics.subscriber_count("strict"), 0);
        // The loose topic finds it gone at its next publish.
        assert_eq!(topics.publish("loose", &message).unwrap().queued, 0);
        assert!(matches!(
            slow.recv_now(),
            Some(Delivery::Close(CloseCode::POLICY_VIOLATION))
        ));
        assert_eq!(slow.topics().count(), 0);
        assert_eq!(topics.stats().topics, 0, "the loose topic is gone with it");
        assert_eq!(slow.closed_with(), Some(CloseCode::POLICY_VIOLATION));
        assert!(!slow.subscribe("other").unwrap());
        assert_eq!(topics.stats().closed, 1);
    }

    impl Subscriber {
        fn recv_now(&mut self) -> Option<Delivery> {
            let next = self.queue.pop(Waker::noop())?;
            Some(self.delivery(next))
        }
    }
}
