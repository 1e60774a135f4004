//! `weft serve --broadcast`: every client is a member of one room, and every message a member
//! sends goes to every member, the sender included, in one order. With `--redis URL`, every
//! `weft serve --broadcast` on the same Redis shares the room.

use std::time::Duration;

use weft::server::redis::{RedisBridge, RedisStats};
use weft::server::topics::{SlowSubscriber, Topics};
use weft::server::{Accepted, ServerStream};
use weft::{CloseCode, Message, PreparedMessage, WebSocket};

use super::{Session, report};
use crate::error::Error;

/// The one topic of the room.
const ROOM: &str = "room";

/// How often the Redis bridge's state is looked at, to say when Redis goes and comes back.
const WATCH_INTERVAL: Duration = Duration::from_millis(500);

/// The room: its topic, and the bridge to the other nodes when there is one.
#[derive(Clone, Debug)]
pub(super) struct Room {
    topics: Topics,
}

impl Room {
    /// Opens the room; with `redis`, joins it to the room of every `weft serve --broadcast`
    /// on that Redis, failing if the URL is wrong or Redis cannot be reached now. The bridge
    /// runs until the process ends.
    pub(super) async fn open(
        redis: Option<&str>,
        max_message_size: usize,
        quiet: bool,
    ) -> Result<Self, Error> {
        // A member that falls 4 MiB behind is closed with 1013 (try again later): in a chat,
        // a reconnect is better than silently missing messages.
        let topics = Topics::builder()
            .max_message_size(max_message_size)
            .default_policy(SlowSubscriber::Close(CloseCode::TRY_AGAIN_LATER))
            .build();
        if let Some(url) = redis {
            let bridge =
                RedisBridge::connect(url, &topics)
                    .await
                    .map_err(|source| Error::Redis {
                        url: url.to_owned(),
                        source,
                    })?;
            tokio::spawn(watch(bridge, quiet));
        }
        Ok(Self { topics })
    }

    /// Runs one member: everything the room says goes out to it, everything it says goes to
    /// the room.
    pub(super) async fn member(
        self,
        mut ws: WebSocket<ServerStream>,
        accepted: Accepted,
        quiet: bool,
    ) {
        let mut subscriber = self.topics.subscriber();
        if let Err(err) = subscriber.subscribe(ROOM) {
            eprintln!("weft: cannot join the room: {err}");
            return;
        }
        // Said once the member is in the room: with several threads, another member's
        // message may be published the moment this line is out.
        let mut session = Session::start(&ws, &accepted, quiet);
        while let Some(message) = subscriber.next_message(&mut ws).await {
            match message {
                // Once a close frame went out (at shutdown), messages already on their way
                // are not passed on.
                Ok(message @ (Message::Text(_) | Message::Binary(_)))
                    if ws.connection().can_send() =>
                {
                    if let Ok(message) = PreparedMessage::try_from(message) {
                        // The connection's own limit is the room's: nothing it accepted is
                        // too large to publish.
                        let _ = self.topics.publish(ROOM, &message);
                    }
                }
                other => session.note(other),
            }
        }
        if let Some(code) = subscriber.closed_with() {
            session.note_slow(code);
        }
        report(session);
    }
}

/// Says on stderr when the connection to Redis is lost and when it is back, with what the
/// gap cost; the bridge reconnects by itself.
async fn watch(bridge: RedisBridge, quiet: bool) {
    let mut was: RedisStats = bridge.stats();
    let mut interval = tokio::time::interval(WATCH_INTERVAL);
    loop {
        interval.tick().await;
        let now = bridge.stats();
        // Counted, so that a loss and a reconnection between two looks are both told.
        let lost = now.disconnects > was.disconnects;
        if !quiet && lost && was.connected {
            eprintln!("weft: lost the connection to Redis; the room goes on here, reconnecting");
        }
        if !quiet && now.connected && (lost || !was.connected) {
            let gap = now
                .last_gap
                .map_or_else(String::new, |gap| format!(" after {gap:.1?}"));
            let unconfirmed = match now.unconfirmed {
                0 => String::new(),
                n => format!(" and {n} unconfirmed"),
            };
            eprintln!(
                "weft: Redis is back{gap}; the room spans every node again ({} messages from \
                 here were not relayed{unconfirmed}, {} from other nodes missed)",
                now.not_relayed, now.missed
            );
        }
        was = now;
    }
}
