//! Topics end to end over real, handshaken connections (in-memory pipes, so a thousand
//! subscribers cost no file descriptors): order, slow subscribers under both policies, memory
//! with one subscriber that never reads, and subscribers that come and go while messages are
//! published. Memory is measured with a counting global allocator, never with timings.

use std::alloc::System;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cap::Cap;
use tokio::task::JoinHandle;
use weft::server::topics::{SlowSubscriber, Subscriber, Topics};
use weft::{
    Acceptor, ClientBuilder, CloseCode, Config, DeflateConfig, Message, PreparedMessage, WebSocket,
};
use weft_harness::{Faults, PairStream, TIMEOUT, pair_with};

#[global_allocator]
static ALLOC: Cap<System> = Cap::new(System, usize::MAX);

/// Memory measurements need the process to themselves.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Waits until `check` holds (polling), or fails after the harness timeout.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Message `seq` of a run: its number, then pseudo-random filler up to `size` bytes (which
/// permessage-deflate, negotiated by default, cannot shrink).
fn numbered(seq: usize, size: usize) -> PreparedMessage {
    let mut payload = format!("{seq:08}").into_bytes();
    let mut state = seq as u64 | 1;
    while payload.len() < size {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        payload.push(state.to_le_bytes()[0]);
    }
    PreparedMessage::binary(payload)
}

fn seq_of(message: &Message) -> usize {
    let payload = message.as_payload();
    std::str::from_utf8(&payload[..8])
        .ok()
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("not a numbered message: {message:?}"))
}

/// A server connection run by its subscriber until it closes; the subscriber comes back.
fn serve(mut ws: WebSocket<PairStream>, mut subscriber: Subscriber) -> JoinHandle<Subscriber> {
    tokio::spawn(async move {
        while let Some(message) = subscriber.next_message(&mut ws).await {
            if message.is_err() {
                break;
            }
        }
        subscriber
    })
}

/// A client that reads numbered messages, checking that each is the next, and counts them.
fn read_in_order(mut ws: WebSocket<PairStream>, received: Arc<AtomicUsize>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut expected = 0;
        while let Some(Ok(message)) = ws.next().await {
            if !(message.is_binary() || message.is_text()) {
                continue;
            }
            assert_eq!(seq_of(&message), expected, "out of order or missing");
            expected += 1;
            received.fetch_add(1, Ordering::Relaxed);
        }
    })
}

/// `count` handshaken pairs whose server side is subscribed to `topic`; the server sides run
/// their subscribers. The acceptor's settings apply to the server side.
async fn subscribers(
    topics: &Topics,
    topic: &str,
    count: usize,
    acceptor: &Acceptor,
) -> (Vec<WebSocket<PairStream>>, Vec<JoinHandle<Subscriber>>) {
    let mut clients = Vec::with_capacity(count);
    let mut servers = Vec::with_capacity(count);
    for _ in 0..count {
        let (client, server) = pair_with(
            Faults::default(),
            Faults::default(),
            ClientBuilder::new("ws://localhost/"),
            acceptor.clone(),
        )
        .await;
        let mut subscriber = topics.subscriber();
        assert!(subscriber.subscribe(topic).unwrap());
        servers.push(serve(server, subscriber));
        clients.push(client);
    }
    (clients, servers)
}

/// Publishes numbered messages `from..to` in batches of 32 KiB (half the small queues), waiting
/// after each batch until `received` reached what the readers that keep up must have: a
/// publisher at the pace of its readers.
async fn publish_paced(
    topics: &Topics,
    topic: &str,
    (from, to): (usize, usize),
    size: usize,
    readers: usize,
    received: &AtomicUsize,
) {
    let batch = ((32 << 10) / size).max(1);
    let mut sent = from;
    while sent < to {
        let end = (sent + batch).min(to);
        for seq in sent..end {
            topics.publish(topic, &numbered(seq, size)).unwrap();
        }
        sent = end;
        let want = sent * readers;
        eventually("the readers keep up", || {
            received.load(Ordering::Relaxed) >= want
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subscriber_gets_every_message_of_a_topic_in_order() {
    let _serial = SERIAL.lock().await;
    let topics = Topics::new();
    let (clients, servers) = subscribers(&topics, "ticks", 50, &Acceptor::default()).await;
    let received = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = clients
        .into_iter()
        .map(|client| read_in_order(client, received.clone()))
        .collect();
    // As fast as it can, in one go: the queues (4,096 messages) hold the burst.
    for seq in 0..2_000 {
        let published = topics.publish("ticks", &numbered(seq, 64)).unwrap();
        assert_eq!(published.queued, 50);
    }
    eventually("every subscriber got every message", || {
        received.load(Ordering::Relaxed) == 50 * 2_000
    })
    .await;
    assert_eq!(topics.stats().dropped, 0);
    for server in servers {
        server.abort();
    }
    for reader in readers {
        // The readers end when their server side goes; an assertion failure would show here.
        let result = tokio::time::timeout(TIMEOUT, reader)
            .await
            .expect("reader ends");
        assert!(result.is_ok() || result.unwrap_err().is_cancelled());
    }
    eventually("the topic is removed with its subscribers", || {
        topics.stats().topics == 0
    })
    .await;
}

/// The settings of the slow-subscriber tests: small queues; a short close timeout, so that a
/// subscriber closed for being slow does not keep the test waiting for a peer that never
/// reads; and permessage-deflate without server context takeover, so that each message is
/// compressed once for every subscriber (with context takeover, a thousand connections each
/// compress every message).
fn small_queues(policy: SlowSubscriber) -> (Topics, Acceptor) {
    let topics = Topics::builder()
        .queue_capacity(64, 64 << 10)
        .policy("feed", policy)
        .build();
    let acceptor = Acceptor::builder()
        .config(Config::default().close_timeout(Duration::from_millis(500)))
        .deflate(DeflateConfig::default().server_no_context_takeover(true))
        .build()
        .unwrap();
    (topics, acceptor)
}

/// `count` subscribers of the topic `feed` with small queues and `policy`: all but the last
/// read everything in order (counting into `received`); the last never reads.
struct SlowRoom {
    topics: Topics,
    received: Arc<AtomicUsize>,
    slow_client: WebSocket<PairStream>,
    slow_server: JoinHandle<Subscriber>,
    servers: Vec<JoinHandle<Subscriber>>,
    readers: Vec<JoinHandle<()>>,
}

impl SlowRoom {
    async fn open(policy: SlowSubscriber, count: usize) -> Self {
        let (topics, acceptor) = small_queues(policy);
        let (mut clients, mut servers) = subscribers(&topics, "feed", count, &acceptor).await;
        let slow_client = clients.pop().unwrap();
        let slow_server = servers.pop().unwrap();
        let received = Arc::new(AtomicUsize::new(0));
        let readers = clients
            .into_iter()
            .map(|client| read_in_order(client, received.clone()))
            .collect();
        Self {
            topics,
            received,
            slow_client,
            slow_server,
            servers,
            readers,
        }
    }

    /// Publishes messages `range` of `size` bytes at the pace of the readers.
    async fn publish(&self, range: (usize, usize), size: usize) {
        let readers = self.readers.len();
        publish_paced(&self.topics, "feed", range, size, readers, &self.received).await;
        assert_eq!(
            self.received.load(Ordering::Relaxed),
            range.1 * readers,
            "the readers got every message"
        );
    }
}

impl Drop for SlowRoom {
    fn drop(&mut self) {
        for task in &self.readers {
            task.abort();
        }
        self.slow_server.abort();
        for server in &self.servers {
            server.abort();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_never_reads_loses_messages_under_drop_while_the_others_get_all() {
    let _serial = SERIAL.lock().await;
    let mut room = SlowRoom::open(SlowSubscriber::Drop, 20).await;
    // 4 MiB in 1 KiB messages: far more than the slow one's pipe (256 KiB), write buffer
    // (128 KiB) and queue (64 KiB) hold.
    room.publish((0, 4_000), 1024).await;
    let stats = room.topics.stats();
    assert!(stats.dropped > 3_000, "{stats:?}");
    assert_eq!(stats.closed, 0);
    assert_eq!(
        room.topics.subscriber_count("feed"),
        20,
        "dropping keeps it subscribed"
    );

    // The slow one reads at last: what it gets is in order, with gaps where messages were
    // dropped, and it is still connected.
    let mut last = None;
    let mut got = 0;
    while let Ok(Some(Ok(message))) =
        tokio::time::timeout(Duration::from_millis(300), room.slow_client.next()).await
    {
        let seq = seq_of(&message);
        assert!(last.is_none_or(|last| seq > last), "{seq} after {last:?}");
        last = Some(seq);
        got += 1;
    }
    assert!(got > 0 && got < 4_000, "{got}");
    assert_eq!(got as u64 + stats.dropped, 4_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_never_reads_is_closed_with_1013_while_the_others_get_all() {
    let _serial = SERIAL.lock().await;
    let mut room = SlowRoom::open(SlowSubscriber::Close(CloseCode::TRY_AGAIN_LATER), 20).await;
    room.publish((0, 4_000), 1024).await;
    let stats = room.topics.stats();
    assert_eq!(stats.closed, 1, "{stats:?}");
    assert_eq!(stats.dropped, 0);
    assert_eq!(room.topics.subscriber_count("feed"), 19);

    // Reading now, the slow client gets an unbroken prefix and then the close frame, 1013.
    let mut expected = 0;
    let close = loop {
        let message = tokio::time::timeout(TIMEOUT, room.slow_client.next())
            .await
            .expect("the slow client hears the close")
            .expect("a close frame before the end")
            .expect("no error");
        if let Message::Close(frame) = message {
            break frame;
        }
        assert_eq!(seq_of(&message), expected);
        expected += 1;
    };
    assert_eq!(
        close.map(|frame| frame.code()),
        Some(CloseCode::TRY_AGAIN_LATER)
    );
    assert!(expected < 4_000);
    let subscriber = tokio::time::timeout(TIMEOUT, &mut room.slow_server)
        .await
        .expect("the slow subscriber's connection ends")
        .unwrap();
    assert_eq!(subscriber.closed_with(), Some(CloseCode::TRY_AGAIN_LATER));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_bounded_with_1000_subscribers_and_one_that_never_reads() {
    let _serial = SERIAL.lock().await;
    let room = SlowRoom::open(SlowSubscriber::Drop, 1_000).await;
    // Fill the slow subscriber up (its pipe, its write buffer, its queue), then publish two
    // more rounds of 800 messages of 2 KiB. The others keep up; the slow one drops. Were its
    // backlog unbounded, each round would add 1.6 MiB; the heap stays where it was instead.
    const SIZE: usize = 2048;
    room.publish((0, 400), SIZE).await;
    let full = ALLOC.allocated();
    room.publish((400, 1_200), SIZE).await;
    let round_1 = ALLOC.allocated();
    room.publish((1_200, 2_000), SIZE).await;
    let round_2 = ALLOC.allocated();
    let kib = |bytes: usize| bytes >> 10;
    println!(
        "live heap with 1,000 subscribers, one never reading: {} KiB once it is full, {} KiB \
         after 800 more messages of 2 KiB, {} KiB after 800 more; {} dropped",
        kib(full),
        kib(round_1),
        kib(round_2),
        room.topics.stats().dropped
    );
    let round_growth = round_2.saturating_sub(round_1);
    assert!(
        round_growth < 256 << 10,
        "the heap grew by {} KiB in a round of 800 messages",
        kib(round_growth)
    );
    let total_growth = round_2.saturating_sub(full);
    assert!(
        total_growth < 1 << 20,
        "the heap grew by {} KiB in 1,600 messages",
        kib(total_growth)
    );
    assert!(room.topics.stats().dropped >= 1_600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_that_close_while_messages_are_published_leave_nothing_behind() {
    let _serial = SERIAL.lock().await;
    let topics = Topics::new();
    let publishing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let publisher = {
        let topics = topics.clone();
        let publishing = publishing.clone();
        std::thread::spawn(move || {
            let mut seq = 0;
            while publishing.load(Ordering::Relaxed) {
                topics.publish("churn", &numbered(seq, 256)).unwrap();
                seq += 1;
            }
            seq
        })
    };
    let mut after_first_round = 0;
    for round in 0..20 {
        if round == 1 {
            after_first_round = ALLOC.allocated();
        }
        let (clients, servers) = subscribers(&topics, "churn", 10, &Acceptor::default()).await;
        // Half close cleanly from the client, half vanish (the pipe dropped).
        for (i, mut client) in clients.into_iter().enumerate() {
            if i % 2 == 0 {
                let _ = client.close(CloseCode::NORMAL, "bye").await;
            }
        }
        for server in servers {
            let subscriber = tokio::time::timeout(TIMEOUT, server)
                .await
                .unwrap_or_else(|_| panic!("round {round}: a server side did not end"))
                .unwrap();
            drop(subscriber);
        }
    }
    publishing.store(false, Ordering::Relaxed);
    let published = publisher.join().unwrap();
    assert!(published > 0);
    let stats = topics.stats();
    assert_eq!((stats.topics, stats.subscriptions), (0, 0), "{stats:?}");
    // Nineteen more rounds of ten subscribers, and the messages published meanwhile, left
    // nothing behind.
    let grown = ALLOC.allocated().saturating_sub(after_first_round);
    assert!(
        grown < 1 << 20,
        "the heap grew by {grown} bytes over 19 rounds"
    );
}
