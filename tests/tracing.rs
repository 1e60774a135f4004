//! The `tracing` feature, seen by a subscriber: the `websocket` span of every connection with
//! its fields (peer address, role, HTTP version, subprotocol, extensions), and the events for
//! the handshake's outcome, the close code and reason, a limit exceeded and timeouts, each in
//! its connection's span.
//!
//! The subscriber is `tracing-subscriber`'s `Registry` with a small recording layer of this
//! file: the registry keeps the spans and works out each event's parent exactly as the
//! subscribers users install (`fmt`, OpenTelemetry) do, so what is asserted here is what a
//! user sees; the layer only writes down names and fields. It is installed for the test's
//! thread (`set_default`) and the tests run on tokio's current-thread runtime, so the server's
//! and the client's tasks report to it and tests running in parallel do not mix.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::DefaultGuard;
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use weft::{
    Acceptor, ClientBuilder, ClientStream, CloseCode, Config, DeflateConfig, Http2Mode, Limits,
    Message, Rejection, Server, WebSocket,
};
use weft_harness::{RawPeer, TIMEOUT};

/// The fields of a span or an event, as text.
type Fields = BTreeMap<String, String>;

/// A span as the registry knows it.
#[derive(Clone, Debug)]
struct SpanSeen {
    name: &'static str,
    fields: Fields,
}

/// One event: its target, fields (`message` included) and the spans it is in, innermost first.
#[derive(Clone, Debug)]
struct EventSeen {
    target: String,
    fields: Fields,
    scope: Vec<SpanSeen>,
}

impl EventSeen {
    fn message(&self) -> &str {
        self.fields.get("message").map_or("", String::as_str)
    }

    fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    /// The innermost `websocket` span the event is in.
    fn connection(&self) -> Option<&SpanSeen> {
        self.scope.iter().find(|span| span.name == "websocket")
    }
}

impl SpanSeen {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

struct FieldWriter<'a>(&'a mut Fields);

impl Visit for FieldWriter<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

/// Writes down every span's fields (in the registry's span extensions) and every event.
#[derive(Clone, Default)]
struct Recorder {
    events: Arc<Mutex<Vec<EventSeen>>>,
}

impl<S> Layer<S> for Recorder
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::new();
        attrs.record(&mut FieldWriter(&mut fields));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<Fields>()
        {
            values.record(&mut FieldWriter(fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::new();
        event.record(&mut FieldWriter(&mut fields));
        let scope = ctx
            .event_scope(event)
            .map(|scope| {
                scope
                    .map(|span| SpanSeen {
                        name: span.name(),
                        fields: span
                            .extensions()
                            .get::<Fields>()
                            .cloned()
                            .unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(EventSeen {
                target: event.metadata().target().to_owned(),
                fields,
                scope,
            });
    }
}

impl Recorder {
    /// Installs a registry with this recorder as the current thread's subscriber.
    fn install() -> (Self, DefaultGuard) {
        let recorder = Self::default();
        let subscriber = tracing_subscriber::registry().with(recorder.clone());
        (recorder, tracing::subscriber::set_default(subscriber))
    }

    /// weft's events so far.
    fn weft_events(&self) -> Vec<EventSeen> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|event| event.target.starts_with("weft"))
            .cloned()
            .collect()
    }

    /// The events with `message`, in a `websocket` span of `role`.
    fn find(&self, role: &str, message: &str) -> Vec<EventSeen> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|event| {
                event.message() == message
                    && event
                        .connection()
                        .is_some_and(|span| span.field("role") == Some(role))
            })
            .cloned()
            .collect()
    }

    /// Waits until `role` has reported `message` (a task of the other end may still be
    /// finishing); fails the test after the harness timeout.
    async fn wait_for(&self, role: &str, message: &str) -> EventSeen {
        let waited = tokio::time::timeout(TIMEOUT, async {
            loop {
                if let Some(event) = self.find(role, message).pop() {
                    return event;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        waited.unwrap_or_else(|_| {
            panic!(
                "no {message:?} from the {role}; weft reported: {:#?}",
                self.weft_events()
            )
        })
    }
}

/// Runs `f` under the harness timeout, so a hang fails the test instead of stalling CI.
async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(TIMEOUT, f)
        .await
        .expect("test step timed out")
}

/// A server on a free loopback port with `acceptor`, running `handler`; its `ws://` URL.
async fn serve<F, Fut>(acceptor: Acceptor, handler: F) -> String
where
    F: Fn(WebSocket<weft::ServerStream>, weft::Accepted) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let server = Server::builder()
        .acceptor(acceptor)
        .bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let url = format!("ws://{}", server.local_addr().expect("local address"));
    tokio::spawn(server.serve(handler));
    url
}

/// The client's own address: the server's `peer_addr`.
fn local_addr(ws: &WebSocket<ClientStream>) -> SocketAddr {
    ws.get_ref()
        .tcp()
        .expect("a TCP connection")
        .local_addr()
        .expect("local address")
}

/// Reads until the connection is over, errors included (an error is final for reading, but
/// the closing handshake goes on).
async fn drain(mut ws: WebSocket<weft::ServerStream>) {
    while ws.next().await.is_some() {}
}

/// Echoes data until the client closes.
async fn echo(mut ws: WebSocket<weft::ServerStream>) {
    while let Some(Ok(message)) = ws.next().await {
        if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
            break;
        }
    }
}

#[tokio::test]
async fn a_connection_span_carries_its_fields_and_the_close_code() {
    let (recorder, _guard) = Recorder::install();
    let acceptor = Acceptor::builder()
        .protocols(["chat"])
        .build()
        .expect("valid acceptor settings");
    let url = serve(acceptor, |mut ws, _accepted| async move {
        // The handler runs inside the connection's span: its own events carry the peer.
        tracing::info!("handler started");
        if let Some(Ok(message)) = ws.next().await {
            let _ = ws.send(message).await;
        }
        let _ = ws.close(CloseCode::from(4000), "bye").await;
    })
    .await;
    let server_addr = url.trim_start_matches("ws://").to_owned();

    let (mut ws, _response) = bounded(
        ClientBuilder::new(format!("{url}/chat"))
            .protocol("chat")
            .connect(),
    )
    .await
    .expect("connect");
    let client_addr = local_addr(&ws).to_string();
    bounded(ws.send(Message::text("hello")))
        .await
        .expect("send");
    assert_eq!(
        bounded(ws.next()).await.expect("echo").expect("echo"),
        Message::text("hello")
    );
    // The server closes with 4000; the client answers and its stream ends.
    assert!(matches!(
        bounded(ws.next()).await,
        Some(Ok(Message::Close(Some(frame)))) if frame.code() == CloseCode::from(4000)
    ));
    assert!(bounded(ws.next()).await.is_none());

    // The server: its span, with the client's address, and the close frame the client echoed
    // (the code and reason the peer sent, RFC 6455 §7.1.5: the code, without the reason).
    let accepted = recorder.wait_for("server", "handshake accepted").await;
    let span = accepted.connection().expect("in a span");
    assert_eq!(span.field("peer_addr"), Some(client_addr.as_str()));
    assert_eq!(span.field("http_version"), Some("HTTP/1.1"));
    assert_eq!(span.field("subprotocol"), Some("chat"));
    assert!(
        span.field("extensions")
            .is_some_and(|e| e.starts_with("permessage-deflate")),
        "{span:?}"
    );
    assert_eq!(accepted.field("path"), Some("/chat"));
    assert_eq!(accepted.field("status"), Some("101"));
    let handler = recorder.wait_for("server", "handler started").await;
    assert!(
        !handler.target.starts_with("weft"),
        "the handler's own event: {handler:?}"
    );
    let closed = recorder.wait_for("server", "connection closed").await;
    assert_eq!(closed.target, "weft_codec");
    assert_eq!(closed.field("code"), Some("4000"));
    assert_eq!(closed.field("reason"), Some(""));
    assert_eq!(
        closed.connection().and_then(|s| s.field("peer_addr")),
        Some(client_addr.as_str())
    );

    // The client: its span names the server, and sees the server's close frame.
    let accepted = recorder.wait_for("client", "handshake accepted").await;
    let span = accepted.connection().expect("in a span");
    assert_eq!(span.field("server"), Some(server_addr.as_str()));
    assert_eq!(span.field("peer_addr"), Some(server_addr.as_str()));
    assert_eq!(span.field("http_version"), Some("HTTP/1.1"));
    assert_eq!(span.field("subprotocol"), Some("chat"));
    assert!(
        span.field("extensions")
            .is_some_and(|e| e.starts_with("permessage-deflate"))
    );
    let closed = recorder.wait_for("client", "connection closed").await;
    assert_eq!(closed.field("code"), Some("4000"));
    assert_eq!(closed.field("reason"), Some("bye"));

    // One close event per end, nothing else that says something went wrong.
    assert_eq!(recorder.find("server", "connection closed").len(), 1);
    assert_eq!(recorder.find("client", "connection closed").len(), 1);
    let messages: Vec<String> = recorder
        .weft_events()
        .iter()
        .map(|event| event.message().to_owned())
        .collect();
    assert_eq!(
        messages.len(),
        4,
        "accepted and closed at each end: {messages:?}"
    );
}

#[tokio::test]
async fn a_refused_handshake_reports_its_status_and_reason_at_both_ends() {
    let (recorder, _guard) = Recorder::install();
    let acceptor = Acceptor::builder()
        .on_request(|request| match request.uri().path() {
            "/chat" => Ok(()),
            _ => Err(Rejection::new(
                http::StatusCode::NOT_FOUND,
                "no such endpoint",
            )),
        })
        .build()
        .expect("valid acceptor settings");
    let url = serve(acceptor, |ws, _| echo(ws)).await;

    let err = bounded(weft::connect(&format!("{url}/nowhere")))
        .await
        .expect_err("refused");
    assert_eq!(err.status(), Some(http::StatusCode::NOT_FOUND));

    let refused = recorder.wait_for("server", "handshake refused").await;
    assert_eq!(refused.field("status"), Some("404"));
    assert_eq!(refused.field("reason"), Some("no such endpoint"));
    assert!(
        refused
            .connection()
            .is_some_and(|s| s.field("peer_addr").is_some())
    );
    let refused = recorder.wait_for("client", "handshake refused").await;
    assert_eq!(refused.field("status"), Some("404"));
    assert_eq!(refused.field("reason"), Some("no such endpoint"));
    assert!(recorder.find("client", "handshake accepted").is_empty());
}

#[tokio::test]
async fn a_limit_exceeded_is_reported_with_the_limit_and_the_close_code() {
    let (recorder, _guard) = Recorder::install();
    let acceptor = Acceptor::builder()
        .limits(Limits::default().max_message_size(1024))
        .deflate(DeflateConfig::default().enabled(false))
        .build()
        .expect("valid acceptor settings");
    let url = serve(acceptor, |ws, _| echo(ws)).await;

    let (mut ws, _) = bounded(weft::connect(&url)).await.expect("connect");
    bounded(ws.send(Message::binary(vec![7; 4096])))
        .await
        .expect("send");
    assert!(matches!(
        bounded(ws.next()).await,
        Some(Ok(Message::Close(Some(frame)))) if frame.code() == CloseCode::MESSAGE_TOO_BIG
    ));
    assert!(bounded(ws.next()).await.is_none());

    let exceeded = recorder.wait_for("server", "peer exceeded a limit").await;
    assert_eq!(exceeded.field("limit"), Some("max_message_size"));
    assert_eq!(exceeded.field("code"), Some("1009"));
    assert_eq!(
        exceeded.field("error"),
        Some("message of 4 KiB exceeds max_message_size 1 KiB")
    );
    let closed = recorder.wait_for("client", "connection closed").await;
    assert_eq!(closed.field("code"), Some("1009"));
}

#[tokio::test]
async fn timeouts_are_reported_in_the_connection_span() {
    let (recorder, _guard) = Recorder::install();
    let config = Config::default()
        .ping_interval(Some(Duration::from_millis(50)))
        .ping_timeout(Duration::from_millis(50))
        .close_timeout(Duration::from_millis(100));
    let acceptor = Acceptor::builder()
        .config(config)
        .handshake_timeout(Duration::from_millis(200))
        .build()
        .expect("valid acceptor settings");
    let url = serve(acceptor, |ws, _| drain(ws)).await;
    let addr: SocketAddr = url.trim_start_matches("ws://").parse().expect("address");

    // A peer that completes the handshake and then never answers a ping.
    let mut silent = RawPeer::connect(addr).await.expect("connect");
    let silent_addr = silent.get_mut().local_addr().expect("local address");
    bounded(silent.handshake("/")).await.expect("handshake");
    let timed_out = recorder
        .wait_for("server", "keepalive ping not answered in time")
        .await;
    assert_eq!(timed_out.field("timeout"), Some("ping_timeout"));
    assert_eq!(timed_out.field("after"), Some("50ms"));
    assert_eq!(timed_out.field("code"), Some("1011"));
    assert_eq!(
        timed_out.connection().and_then(|s| s.field("peer_addr")),
        Some(silent_addr.to_string().as_str())
    );
    // It never answers the close frame either: the connection ends without one.
    let closed = recorder
        .wait_for(
            "server",
            "connection closed without a close frame from the peer",
        )
        .await;
    assert_eq!(closed.field("code"), Some("1006"));

    // A request that never ends.
    let mut slow = tokio::net::TcpStream::connect(addr).await.expect("connect");
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let timed_out = recorder
        .wait_for("server", "no complete request within the handshake timeout")
        .await;
    assert_eq!(timed_out.field("timeout"), Some("handshake_timeout"));
    assert_eq!(timed_out.field("after"), Some("200ms"));
    drop((silent, slow));
}

#[tokio::test]
async fn a_websocket_over_http2_has_a_span_of_its_own_with_its_version() {
    let (recorder, _guard) = Recorder::install();
    let url = serve(Acceptor::default(), |ws, _| echo(ws)).await;

    // h2c with prior knowledge: the WebSocket is an extended CONNECT stream.
    let (mut ws, response) = bounded(
        ClientBuilder::new(format!("{url}/feed"))
            .http2(Http2Mode::Required)
            .connect(),
    )
    .await
    .expect("connect over HTTP/2");
    assert_eq!(response.version(), http::Version::HTTP_2);
    bounded(ws.close(CloseCode::NORMAL, "done"))
        .await
        .expect("close");

    // The server reports the client's close frame; the client, the server's answer.
    for (role, reason) in [("server", "done"), ("client", "")] {
        let accepted = recorder.wait_for(role, "handshake accepted").await;
        let span = accepted.connection().expect("in a span");
        assert_eq!(span.field("http_version"), Some("HTTP/2.0"), "{role}");
        assert!(span.field("peer_addr").is_some(), "{role}: {span:?}");
        let closed = recorder.wait_for(role, "connection closed").await;
        assert_eq!(closed.field("code"), Some("1000"), "{role}");
        assert_eq!(closed.field("reason"), Some(reason), "{role}");
    }
    assert_eq!(
        recorder
            .wait_for("server", "handshake accepted")
            .await
            .field("status"),
        Some("200")
    );
}

#[tokio::test]
async fn an_axum_route_runs_its_websocket_in_the_connection_span() {
    use axum::routing::any;
    use weft::axum::WebSocketUpgrade;

    let (recorder, _guard) = Recorder::install();
    let app = axum::Router::new().route(
        "/ws",
        any(|ws: WebSocketUpgrade| async move {
            ws.protocols(["echo"]).on_upgrade(|mut socket| async move {
                tracing::info!("axum handler started");
                while let Some(Ok(message)) = socket.next().await {
                    if message.is_text() && socket.send(message).await.is_err() {
                        break;
                    }
                }
            })
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let (mut ws, _) = bounded(
        ClientBuilder::new(format!("ws://{addr}/ws"))
            .protocol("echo")
            .connect(),
    )
    .await
    .expect("connect");
    bounded(ws.send(Message::text("hi"))).await.expect("send");
    assert_eq!(
        bounded(ws.next()).await.expect("echo").expect("echo"),
        Message::text("hi")
    );
    bounded(ws.close(CloseCode::NORMAL, "done"))
        .await
        .expect("close");

    // hyper does not tell the peer's address: the span has every other field.
    let accepted = recorder.wait_for("server", "handshake accepted").await;
    let span = accepted.connection().expect("in a span");
    assert_eq!(span.field("http_version"), Some("HTTP/1.1"));
    assert_eq!(span.field("subprotocol"), Some("echo"));
    assert_eq!(span.field("peer_addr"), None);
    recorder.wait_for("server", "axum handler started").await;
    let closed = recorder.wait_for("server", "connection closed").await;
    assert_eq!(closed.field("code"), Some("1000"));
    assert_eq!(closed.field("reason"), Some("done"));
}

#[tokio::test]
async fn a_subscriber_closed_for_falling_behind_is_reported_in_its_connection_span() {
    use weft::PreparedMessage;
    use weft::server::topics::{Delivery, SlowSubscriber, Topics};

    let (recorder, _guard) = Recorder::install();
    let topics = Topics::builder()
        .queue_capacity(1, 1 << 20)
        .policy("ticks", SlowSubscriber::Close(CloseCode::TRY_AGAIN_LATER))
        .build();
    // The connection's span stands in for the server's, which runs its handler inside it.
    let span = tracing::debug_span!("websocket", role = "server");
    let mut subscriber = topics.subscriber();
    subscriber.subscribe("ticks").expect("subscribe");
    for n in 0..3 {
        topics
            .publish("ticks", &PreparedMessage::text(n.to_string()))
            .expect("publish");
    }
    // The overflow empties the queue: the close order is all that is left.
    let deliveries = async {
        assert!(matches!(
            subscriber.recv().await,
            Delivery::Close(code) if code == CloseCode::TRY_AGAIN_LATER
        ));
    };
    bounded(tracing::Instrument::instrument(deliveries, span)).await;

    let closed = recorder
        .wait_for(
            "server",
            "subscriber closed: it could not keep up with its topics",
        )
        .await;
    assert_eq!(closed.target, "weft_server");
    assert_eq!(closed.field("limit"), Some("queue_capacity"));
    assert_eq!(closed.field("code"), Some("1013"));
}
