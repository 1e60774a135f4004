//! weft's fan-out server for `cargo xtask bench --fanout`: clients connected to `/sub` are
//! subscribers, and every message a client sends to `/pub` goes to every subscriber.
//!
//! ```sh
//! cargo run --release -p weft-benches --example fanout_server -- 127.0.0.1:9201 --mode topics
//! ```
//!
//! `--mode` says how the message reaches the subscribers:
//!
//! - `topics`: `Topics::publish`, a prepared message (frames encoded once, shared) queued for
//!   every subscriber, whose connection writes it (`Subscriber::next_message`);
//! - `one-by-one`: the publisher's task sends the message to each subscriber in turn through
//!   the normal API (`WebSocketWriter::send` of each connection's write half, which encodes
//!   the frame for that connection);
//! - `broadcast`: the usual tokio idiom, a `tokio::sync::broadcast` channel, each subscriber's
//!   task sending what it receives with `WebSocket::feed` and `flush`.
//!
//! With `--redis URL` (mode `topics`), the topics are bridged through Redis
//! (`weft::server::redis::RedisBridge`): run two, publish to one, subscribe to the other.
//!
//! Like the `echo_*` servers: the listen address is the first argument, `listening on ADDR` is
//! printed once bound, the runtime is tokio's `current_thread` (one core), no
//! permessage-deflate, and no connection cap.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{Mutex, broadcast};
use weft::server::redis::RedisBridge;
use weft::server::topics::Topics;
use weft::{
    Acceptor, DeflateConfig, Message, PreparedMessage, Server, ServerStream, WebSocket,
    WebSocketWriter,
};

/// The one topic.
const TOPIC: &str = "bench";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Topics,
    OneByOne,
    Broadcast,
}

/// The subscribers' write halves, with an id each (for removal), in `one-by-one` mode.
type Writers = Arc<Mutex<Vec<(u64, WebSocketWriter<ServerStream>)>>>;

/// What the handlers of one mode share.
#[derive(Clone)]
enum Fanout {
    Topics(Topics),
    OneByOne(Writers, Arc<AtomicU64>),
    Broadcast(broadcast::Sender<Message>),
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9201".to_owned());
    let (mut mode, mut redis) = (Mode::Topics, None);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--mode", Some(value)) => {
                mode = match value.as_str() {
                    "topics" => Mode::Topics,
                    "one-by-one" => Mode::OneByOne,
                    "broadcast" => Mode::Broadcast,
                    other => return Err(std::io::Error::other(format!("unknown mode {other}"))),
                };
            }
            ("--redis", Some(url)) => redis = Some(url),
            _ => {
                return Err(std::io::Error::other(format!(
                    "unknown argument `{arg}` (expected ADDR [--mode topics|one-by-one|broadcast] \
                     [--redis URL])"
                )));
            }
        }
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve(addr, mode, redis))
}

async fn serve(addr: String, mode: Mode, redis: Option<String>) -> std::io::Result<()> {
    let mut bridge = None;
    let fanout = match mode {
        Mode::Topics => {
            let topics = Topics::new();
            if let Some(url) = redis {
                bridge = Some(
                    RedisBridge::connect(&url, &topics)
                        .await
                        .map_err(std::io::Error::other)?,
                );
            }
            Fanout::Topics(topics)
        }
        Mode::OneByOne => Fanout::OneByOne(Arc::default(), Arc::default()),
        // As deep as a topic's subscriber queue: a subscriber lags only as far.
        Mode::Broadcast => Fanout::Broadcast(broadcast::channel(4096).0),
    };
    let acceptor = Acceptor::builder()
        .deflate(DeflateConfig::default().enabled(false))
        .build()
        .map_err(std::io::Error::other)?;
    let server = Server::builder()
        .acceptor(acceptor)
        .max_connections(1_000_000)
        .bind(addr.as_str())
        .await?;
    println!("listening on {}", server.local_addr()?);
    let result = server
        .serve(move |ws, accepted| {
            let fanout = fanout.clone();
            let publisher = accepted.request.uri().path() == "/pub";
            async move {
                if publisher {
                    publish(ws, fanout).await;
                } else {
                    subscribe(ws, fanout).await;
                }
            }
        })
        .await;
    drop(bridge);
    result
}

/// Every message the publisher sends goes to every subscriber.
async fn publish(mut ws: WebSocket<ServerStream>, fanout: Fanout) {
    while let Some(Ok(message)) = ws.next().await {
        if !(message.is_binary() || message.is_text()) {
            continue;
        }
        match &fanout {
            Fanout::Topics(topics) => {
                if let Ok(message) = PreparedMessage::try_from(message) {
                    let _ = topics.publish(TOPIC, &message);
                }
            }
            Fanout::OneByOne(subscribers, _) => {
                for (_, writer) in subscribers.lock().await.iter_mut() {
                    let _ = writer.send(message.clone()).await;
                }
            }
            Fanout::Broadcast(sender) => {
                let _ = sender.send(message);
            }
        }
    }
}

async fn subscribe(mut ws: WebSocket<ServerStream>, fanout: Fanout) {
    match fanout {
        Fanout::Topics(topics) => {
            let mut subscriber = topics.subscriber();
            if subscriber.subscribe(TOPIC).is_err() {
                return;
            }
            while let Some(Ok(_)) = subscriber.next_message(&mut ws).await {}
        }
        Fanout::OneByOne(subscribers, ids) => {
            let id = ids.fetch_add(1, Ordering::Relaxed);
            let (mut reader, writer) = ws.split();
            subscribers.lock().await.push((id, writer));
            // The read half answers pings and sees the close; the publisher writes.
            while let Some(Ok(_)) = reader.next().await {}
            subscribers.lock().await.retain(|(other, _)| *other != id);
        }
        Fanout::Broadcast(sender) => {
            let mut receiver = sender.subscribe();
            loop {
                tokio::select! {
                    message = ws.next() => if !matches!(message, Some(Ok(_))) { break },
                    received = receiver.recv() => match received {
                        Ok(message) => {
                            if ws.feed(message).await.is_err() {
                                break;
                            }
                            // What else is waiting goes out in the same write.
                            while let Ok(message) = receiver.try_recv() {
                                if ws.feed(message).await.is_err() {
                                    break;
                                }
                            }
                            if ws.flush().await.is_err() {
                                break;
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                }
            }
        }
    }
}
