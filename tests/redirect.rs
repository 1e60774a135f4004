//! Redirects in answer to the handshake, against weft servers whose request hook answers
//! `3xx`: off by default, a `307` to another path followed when enabled, a loop that stops at
//! the limit, `wss://` never left for `ws://`, credentials kept from other origins.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http::{HeaderValue, StatusCode};
use weft::client::Error;
use weft::{Acceptor, ClientBuilder, CloseCode, Message, Rejection, Server, ShutdownHandle};
use weft_harness::{TIMEOUT, TestCa};

async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(TIMEOUT, f)
        .await
        .expect("test step timed out")
}

/// What a server saw of each upgrade request: the path and the `Authorization` header.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A server whose hook redirects each path in `redirects` to its location; other paths are
/// accepted, and the connection sends its path as its first message, then echoes.
struct Redirecting {
    addr: SocketAddr,
    seen: Seen,
    handle: ShutdownHandle,
}

impl Redirecting {
    async fn start(redirects: Vec<(&'static str, String)>, tls: Option<&TestCa>) -> Self {
        let seen = Seen::default();
        let log = seen.clone();
        let mut acceptor = Acceptor::builder().on_request(move |request| {
            let path = request.uri().path().to_owned();
            let authorization = request
                .headers()
                .get("authorization")
                .map(|value| value.to_str().unwrap().to_owned());
            log.lock().unwrap().push((path.clone(), authorization));
            match redirects.iter().find(|(from, _)| *from == path) {
                Some((_, to)) => Err(Rejection::new(StatusCode::TEMPORARY_REDIRECT, "moved")
                    .with_header(http::header::LOCATION, HeaderValue::from_str(to).unwrap())),
                None => Ok(()),
            }
        });
        if let Some(ca) = tls {
            acceptor = acceptor.tls(ca.server_tls(&["localhost"]));
        }
        let server = Server::builder()
            .acceptor(acceptor.build().unwrap())
            .bind("127.0.0.1:0")
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        let handle = server.shutdown_handle();
        tokio::spawn(server.serve(|mut ws, accepted| async move {
            let path = accepted.request.uri().path().to_owned();
            if ws.send(Message::text(path)).await.is_err() {
                return;
            }
            while let Some(Ok(message)) = ws.next().await {
                if message.is_text() && ws.send(message).await.is_err() {
                    break;
                }
            }
        }));
        Self { addr, seen, handle }
    }

    fn seen(&self) -> Vec<(String, Option<String>)> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Redirecting {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

/// Connects and returns the path the server says it accepted.
async fn landed_on(builder: ClientBuilder) -> String {
    let (mut ws, _) = bounded(builder.connect()).await.unwrap();
    let path = match bounded(ws.next()).await.unwrap().unwrap() {
        Message::Text(path) => path.as_str().to_owned(),
        other => panic!("{other:?}"),
    };
    bounded(ws.close(CloseCode::NORMAL, "")).await.unwrap();
    path
}

#[tokio::test]
async fn a_307_to_another_path_is_followed_only_when_enabled() {
    let server = Redirecting::start(vec![("/old", "/new".to_owned())], None).await;
    let url = format!("ws://{}/old", server.addr);

    // Off by default: the redirect is the error, with its status.
    let err = bounded(ClientBuilder::new(&url).connect())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::TEMPORARY_REDIRECT), "{err}");

    let path = landed_on(ClientBuilder::new(&url).max_redirects(1)).await;
    assert_eq!(path, "/new");
    let paths: Vec<String> = server.seen().into_iter().map(|(path, _)| path).collect();
    assert_eq!(paths, ["/old", "/old", "/new"]);
}

#[tokio::test]
async fn a_redirect_loop_stops_at_the_limit() {
    let server = Redirecting::start(vec![("/loop", "/loop".to_owned())], None).await;
    let url = format!("ws://{}/loop", server.addr);
    let err = bounded(ClientBuilder::new(&url).max_redirects(4).connect())
        .await
        .unwrap_err();
    match &err {
        Error::TooManyRedirects { limit, location } => {
            assert_eq!(*limit, 4);
            assert_eq!(location, &url);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!("too many redirects: more than 4 (the last one to {url})")
    );
    // The first request and four redirects followed, no more.
    assert_eq!(server.seen().len(), 5);
}

#[tokio::test]
async fn wss_is_never_left_for_ws() {
    let plain = Redirecting::start(Vec::new(), None).await;
    let ca = TestCa::new();
    let down = format!("ws://{}/", plain.addr);
    let secure = Redirecting::start(vec![("/", down.clone())], Some(&ca)).await;
    let from = format!("wss://localhost:{}/", secure.addr.port());
    let err = bounded(
        ClientBuilder::new(&from)
            .tls(ca.client_tls())
            .max_redirects(5)
            .connect(),
    )
    .await
    .unwrap_err();
    match &err {
        Error::InsecureRedirect { from: f, to } => {
            assert_eq!((f.as_str(), to.as_str()), (from.as_str(), down.as_str()));
        }
        other => panic!("{other:?}"),
    }
    assert!(plain.seen().is_empty(), "the ws:// server was contacted");
}

#[tokio::test]
async fn credentials_are_not_sent_to_another_origin() {
    let other = Redirecting::start(Vec::new(), None).await;
    let away = format!("ws://{}/elsewhere", other.addr);
    let server = Redirecting::start(
        vec![("/old", "/new".to_owned()), ("/away", away.clone())],
        None,
    )
    .await;
    let client = |path: &str| {
        ClientBuilder::new(format!("ws://{}{path}", server.addr))
            .header("authorization", "Bearer secret")
            .unwrap()
            .max_redirects(2)
    };
    assert_eq!(landed_on(client("/old")).await, "/new");
    let bearer = Some("Bearer secret".to_owned());
    assert_eq!(
        server.seen(),
        [
            ("/old".to_owned(), bearer.clone()),
            ("/new".to_owned(), bearer.clone())
        ]
    );
    assert_eq!(landed_on(client("/away")).await, "/elsewhere");
    assert_eq!(other.seen(), [("/elsewhere".to_owned(), None)]);
}
