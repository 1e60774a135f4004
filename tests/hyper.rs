//! weft in a bare hyper 1.x server (`weft::hyper::upgrade`): the connection hyper upgrades
//! becomes a WebSocket with the acceptor's settings (permessage-deflate, limits, keepalive),
//! and a connection hyper does not hand over (not served `with_upgrades()`) fails the
//! WebSocket's future with a clear error instead of leaving it waiting.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use weft::{Acceptor, ClientBuilder, CloseCode, Config, Limits, Message};
use weft_harness::TIMEOUT;

async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(TIMEOUT, f)
        .await
        .expect("test step timed out")
}

/// Answers plain requests with text and upgrades the others with `acceptor`, echoing; a
/// WebSocket that never comes is reported on `failures`.
async fn handle(
    acceptor: Acceptor,
    failures: mpsc::UnboundedSender<String>,
    request: http::Request<Incoming>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    if !weft::hyper::is_upgrade_request(&request) {
        return Ok(http::Response::new(Full::new(Bytes::from_static(b"plain"))));
    }
    Ok(match weft::hyper::upgrade(&acceptor, request) {
        Ok(upgrade) => {
            let (response, websocket) = upgrade.into_parts();
            tokio::spawn(async move {
                let (mut ws, _accepted) = match websocket.await {
                    Ok(connected) => connected,
                    Err(err) => {
                        let _ = failures.send(err.to_string());
                        return;
                    }
                };
                while let Some(Ok(message)) = ws.next().await {
                    if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err()
                    {
                        break;
                    }
                }
            });
            response
        }
        Err(refused) => refused.into_response(),
    })
}

/// A hyper HTTP/1.1 server on a loopback port; `upgrades` says whether connections are
/// served `with_upgrades()`. The receiver gets the WebSockets that failed to come.
async fn hyper_server(
    acceptor: Acceptor,
    upgrades: bool,
) -> (SocketAddr, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (failures, failed) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let failures = failures.clone();
            let service =
                service_fn(move |request| handle(acceptor.clone(), failures.clone(), request));
            tokio::spawn(async move {
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service);
                if upgrades {
                    let _ = connection.with_upgrades().await;
                } else {
                    let _ = connection.await;
                }
            });
        }
    });
    (addr, failed)
}

#[tokio::test]
async fn hyper_upgrades_with_the_acceptors_deflate_limits_and_keepalive() {
    let acceptor = Acceptor::builder()
        .limits(
            Limits::default()
                .max_message_size(1000)
                .max_frame_size(1000),
        )
        .config(Config::default().ping_interval(Some(Duration::from_millis(50))))
        .build()
        .unwrap();
    let (addr, _) = hyper_server(acceptor, true).await;
    let (mut ws, response) = bounded(ClientBuilder::new(format!("ws://{addr}/")).connect())
        .await
        .unwrap();
    assert!(
        response.headers()["sec-websocket-extensions"]
            .to_str()
            .unwrap()
            .starts_with("permessage-deflate")
    );
    let message = Message::text("through hyper");
    bounded(ws.send(message.clone())).await.unwrap();
    // The server's keepalive pings arrive among the echoes.
    let mut pinged = false;
    let mut echoed = false;
    while !(pinged && echoed) {
        match bounded(ws.next()).await.unwrap().unwrap() {
            Message::Ping(_) => pinged = true,
            echo => {
                assert_eq!(echo, message);
                echoed = true;
            }
        }
    }
    // Over the acceptor's limit: closed with 1009, as weft's server closes it.
    bounded(ws.send(Message::binary(vec![0u8; 1001])))
        .await
        .unwrap();
    let close = loop {
        match bounded(ws.next()).await {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        close.map(|frame| frame.code()),
        Some(CloseCode::MESSAGE_TOO_BIG)
    );
}

#[tokio::test]
async fn a_connection_hyper_does_not_hand_over_fails_the_websocket_future() {
    let (addr, mut failed) = hyper_server(Acceptor::default(), false).await;
    // hyper sends the 101, then ends the connection instead of handing it over.
    let (mut ws, _) = bounded(weft::connect(&format!("ws://{addr}/")))
        .await
        .unwrap();
    assert!(
        matches!(bounded(ws.next()).await, None | Some(Err(_))),
        "the connection ends"
    );
    let failure = bounded(failed.recv()).await.unwrap();
    assert!(
        failure.starts_with("hyper did not hand over the connection: "),
        "{failure}"
    );
}
