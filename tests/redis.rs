//! Topics across nodes through a real `redis-server` (Debian's, installed by `cargo xtask
//! peers`), started by each test on a free loopback port with no persistence: two weft servers
//! in one process form one chat room; Redis is killed and restarted under them; malformed and
//! oversized messages arrive through it; a wrong URL fails at start.
//!
//! Listed as ignored, with the reason, when the peers are not installed (`cfg(weft_peers)`,
//! see `tests/peers/peers.rs`). Every wait is bounded; the Redis server is killed when the test
//! ends, however it ends.

#[path = "peers/peers.rs"]
mod peers;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use weft::server::redis::{RedisBridge, RedisStats};
use weft::server::topics::Topics;
use weft::{Message, PreparedMessage, Server, ServerStream, ShutdownHandle, WebSocket};
use weft_harness::{RedisServer, TIMEOUT};

/// One node: a weft server whose connections are members of one chat room, bridged through
/// Redis.
struct Node {
    addr: SocketAddr,
    topics: Topics,
    bridge: RedisBridge,
    shutdown: ShutdownHandle,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.shutdown.shutdown();
    }
}

/// Every message a member sends goes to every member of the room, on every node.
async fn room(mut ws: WebSocket<ServerStream>, topics: Topics) {
    let mut subscriber = topics.subscriber();
    if subscriber.subscribe("room").is_err() {
        return;
    }
    while let Some(Ok(message)) = subscriber.next_message(&mut ws).await {
        if let Ok(message) = PreparedMessage::try_from(message) {
            let _ = topics.publish("room", &message);
        }
    }
}

async fn node(redis_url: &str, topics: Topics) -> Node {
    let bridge = RedisBridge::builder(redis_url)
        .backoff(Duration::from_millis(20), Duration::from_millis(200))
        .health_check(Duration::from_millis(200))
        .connect(&topics)
        .await
        .expect("the bridge connects");
    let server = Server::bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap();
    let shutdown = server.shutdown_handle();
    let serving = topics.clone();
    tokio::spawn(server.serve(move |ws, _| room(ws, serving.clone())));
    Node {
        addr,
        topics,
        bridge,
        shutdown,
    }
}

/// Waits until `check` holds (polling), or fails after the harness timeout.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn member(node: &Node) -> WebSocket<weft::ClientStream> {
    let before = node.topics.subscriber_count("room");
    let (ws, _) = weft::connect(format!("ws://{}/", node.addr).as_str())
        .await
        .unwrap();
    eventually("the member joined the room", || {
        node.topics.subscriber_count("room") > before
    })
    .await;
    ws
}

/// Waits until the node's bridge is connected and subscribed to the room.
async fn bridged(node: &Node) {
    eventually("the bridge is connected and subscribed", || {
        let stats = node.bridge.stats();
        stats.connected && stats.subscriptions == 1
    })
    .await;
}

async fn say(ws: &mut WebSocket<weft::ClientStream>, lines: &[String]) {
    for line in lines {
        ws.feed(Message::text(line.as_str())).await.unwrap();
    }
    ws.flush().await.unwrap();
}

/// The next `count` text messages.
async fn hear(ws: &mut WebSocket<weft::ClientStream>, count: usize) -> Vec<String> {
    let mut heard = Vec::new();
    while heard.len() < count {
        let message = tokio::time::timeout(TIMEOUT, ws.next())
            .await
            .unwrap_or_else(|_| panic!("heard only {heard:?}"))
            .expect("open")
            .expect("no error");
        if let Some(text) = message.as_text() {
            heard.push(text.to_owned());
        }
    }
    heard
}

/// Nothing arrives within a moment (a bounded wait, not a timing measurement: anything that
/// arrives fails the test).
async fn silent(ws: &mut WebSocket<weft::ClientStream>) {
    if let Ok(Some(message)) = tokio::time::timeout(Duration::from_millis(300), ws.next()).await {
        panic!("expected nothing, got {message:?}");
    }
}

fn lines(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}-{i}")).collect()
}

/// The lines of `heard` that start with `prefix`.
fn from(heard: &[String], prefix: &str) -> Vec<String> {
    heard
        .iter()
        .filter(|line| line.starts_with(prefix))
        .cloned()
        .collect()
}

fn start_redis() -> RedisServer {
    RedisServer::start(&peers::Peers::get().redis_server).expect("redis-server starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(weft_peers),
    ignore = "needs redis-server: run `cargo xtask peers`"
)]
async fn two_servers_form_one_room_and_each_side_hears_the_other_in_order() {
    let redis = start_redis();
    let a = node(&redis.url(), Topics::new()).await;
    let b = node(&redis.url(), Topics::new()).await;
    let mut alice = member(&a).await;
    let mut bob = member(&b).await;
    bridged(&a).await;
    bridged(&b).await;
    assert!(a.bridge.stats().sharded, "Redis 7 has sharded pub/sub");

    let (from_alice, from_bob) = (lines("alice", 100), lines("bob", 100));
    say(&mut alice, &from_alice).await;
    say(&mut bob, &from_bob).await;
    for ws in [&mut alice, &mut bob] {
        let heard = hear(ws, 200).await;
        assert_eq!(from(&heard, "alice"), from_alice);
        assert_eq!(from(&heard, "bob"), from_bob);
    }
    // Redis confirms a publish after it passed it on: the other side may have it first.
    eventually("Redis confirmed every publish", || {
        a.bridge.stats().relayed == 100 && b.bridge.stats().relayed == 100
    })
    .await;
    let (sa, sb) = (a.bridge.stats(), b.bridge.stats());
    assert_eq!(
        (sa.relayed, sa.received, sa.missed),
        (100, 100, 0),
        "{sa:?}"
    );
    assert_eq!(
        (sb.relayed, sb.received, sb.missed),
        (100, 100, 0),
        "{sb:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(weft_peers),
    ignore = "needs redis-server: run `cargo xtask peers`"
)]
async fn without_redis_local_delivery_goes_on_and_after_a_restart_cross_node_resumes() {
    let mut redis = start_redis();
    let a = node(&redis.url(), Topics::new()).await;
    let b = node(&redis.url(), Topics::new()).await;
    let mut alice = member(&a).await;
    let mut anna = member(&a).await;
    let mut bob = member(&b).await;
    bridged(&a).await;
    bridged(&b).await;

    let before = lines("before", 10);
    say(&mut alice, &before).await;
    assert_eq!(hear(&mut anna, 10).await, before);
    assert_eq!(hear(&mut bob, 10).await, before);

    redis.kill();
    eventually("both bridges notice that Redis is gone", || {
        !a.bridge.stats().connected && !b.bridge.stats().connected
    })
    .await;
    let during = lines("during", 10);
    say(&mut alice, &during).await;
    assert_eq!(hear(&mut anna, 10).await, during, "local delivery goes on");
    silent(&mut bob).await;

    redis.restart().expect("redis-server restarts on its port");
    bridged(&a).await;
    bridged(&b).await;
    let after = lines("after", 10);
    say(&mut alice, &after).await;
    assert_eq!(hear(&mut anna, 10).await, after);
    assert_eq!(
        hear(&mut bob, 10).await,
        after,
        "cross-node delivery resumed"
    );
    // And the other way. Alice heard all of it, her own lines included.
    say(&mut bob, &lines("bob", 1)).await;
    let everything = [before, during, after, lines("bob", 1)].concat();
    assert_eq!(hear(&mut alice, 31).await, everything);

    // The gap is reported on both sides: what was not relayed, and what was missed.
    eventually("Redis confirmed the publishes after the gap", || {
        let sa = a.bridge.stats();
        sa.relayed + sa.unconfirmed == 20
    })
    .await;
    let (sa, sb) = (a.bridge.stats(), b.bridge.stats());
    println!("after the gap: {sa:?}\n{sb:?}");
    assert!(sa.disconnects >= 1 && sb.disconnects >= 1);
    assert!(sa.last_gap.is_some() && sb.last_gap.is_some());
    // The ten said while Redis was away; a batch sent just before the kill whose reply was
    // lost is unconfirmed, not counted as relayed.
    assert_eq!(sa.not_relayed, 10, "{sa:?}");
    assert_eq!(sa.relayed + sa.unconfirmed, 20, "{sa:?}");
    assert_eq!(sb.missed, 10, "{sb:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(weft_peers),
    ignore = "needs redis-server: run `cargo xtask peers`"
)]
async fn malformed_and_oversized_messages_from_redis_are_dropped_and_counted() {
    let redis = start_redis();
    let a = node(&redis.url(), Topics::new()).await;
    // This node takes messages of at most 1 KiB; the other publishes larger ones.
    let b = node(
        &redis.url(),
        Topics::builder().max_message_size(1024).build(),
    )
    .await;
    let mut alice = member(&a).await;
    let mut bob = member(&b).await;
    bridged(&a).await;
    bridged(&b).await;

    // Something else publishes garbage on the room's channel.
    let client = redis::Client::open(redis.url().as_str()).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    let publish = if a.bridge.stats().sharded {
        "SPUBLISH"
    } else {
        "PUBLISH"
    };
    for garbage in [
        &b"hello"[..],
        b"w\x01\x09 not quite an envelope",
        &[0xff; 64],
    ] {
        redis::cmd(publish)
            .arg("weft:room")
            .arg(garbage)
            .query_async::<i64>(&mut raw)
            .await
            .unwrap();
    }
    // Alice says something too long for Bob's node, then something short.
    let long = "x".repeat(2000);
    say(&mut alice, &[long.clone(), "short".to_owned()]).await;
    assert_eq!(hear(&mut alice, 2).await, [long, "short".to_owned()]);
    assert_eq!(hear(&mut bob, 1).await, ["short"]);
    silent(&mut bob).await;

    let check = |stats: RedisStats| (stats.malformed, stats.oversized);
    assert_eq!(check(b.bridge.stats()), (3, 1));
    // Node A heard nothing through Redis that it waited for: its count may come a little later.
    eventually("node A counted the garbage", || {
        check(a.bridge.stats()) == (3, 0)
    })
    .await;
}

#[tokio::test]
async fn a_wrong_or_unreachable_redis_url_fails_at_start() {
    let topics = Topics::new();
    for url in ["redis://127.0.0.1:1", "not a url", "http://127.0.0.1:6379"] {
        let err = RedisBridge::builder(url)
            .connect_timeout(Duration::from_secs(2))
            .connect(&topics)
            .await
            .expect_err(url);
        assert!(matches!(err, weft::server::Error::Redis(_)), "{url}: {err}");
        println!("{url}: {err}");
    }
    // The topics keep working locally.
    let mut subscriber = topics.subscriber();
    subscriber.subscribe("room").unwrap();
    let published = topics
        .publish("room", &PreparedMessage::text("still here"))
        .unwrap();
    assert_eq!(published.queued, 1);
}
