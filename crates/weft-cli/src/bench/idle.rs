//! `weft bench --idle N`: N connections that send nothing, held open so that the server's
//! memory per connection can be read (`cargo xtask bench --compare` reads `VmRSS`).
//!
//! Once every connection is open (and with `--exchange N` has sent N messages and taken their
//! echoes, so that the server's memory is read after use), one line says so (a JSON object
//! with `--json`); the connections then stay open, answering pings, until `--duration` passes,
//! standard input ends or Ctrl-C, and are closed with 1000.

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use weft::{CloseCode, Message};

use super::payload::Payloads;
use super::{BenchSocket, Opener, ctrl_c, first_message, progress_bar, write_stdout_line};
use crate::error::Error;

/// How long closing every connection may take at the end.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// How an idle run is set up.
#[derive(Debug)]
pub(crate) struct Idle {
    pub(crate) url: String,
    pub(crate) connections: usize,
    /// How long to hold the connections; `None` until stdin ends or Ctrl-C.
    pub(crate) hold: Option<Duration>,
    /// Messages each connection sends (one at a time, each echo checked) before it falls
    /// silent, and what they are.
    pub(crate) exchange: Option<(u64, Arc<Payloads>)>,
    pub(crate) json: bool,
    pub(crate) show_progress: bool,
}

/// Opens the connections, says so, holds them, closes them.
pub(crate) async fn run(idle: Idle, opener: &Opener) -> Result<(), Error> {
    let progress = progress_bar(idle.show_progress, idle.connections as u64, "connecting");
    let started = Instant::now();
    let sockets = opener.open(idle.connections, &progress).await;
    progress.finish_and_clear();
    let mut sockets = sockets?;
    let connect = started.elapsed();
    if let Some((messages, payloads)) = &idle.exchange {
        sockets = exchange_all(sockets, *messages, payloads, opener).await?;
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    for (index, ws) in sockets.into_iter().enumerate() {
        tasks.spawn_on(hold(ws, stop_rx.clone()), opener.worker(index));
    }
    let line = if idle.json {
        serde_json::json!({
            "url": idle.url,
            "idle": idle.connections,
            "connect_s": (connect.as_secs_f64() * 1e4).round() / 1e4,
        })
        .to_string()
    } else {
        let until = match idle.hold {
            Some(hold) => format!("for {:.1} s", hold.as_secs_f64()),
            None => "until stdin ends (Ctrl-D) or Ctrl-C".to_owned(),
        };
        format!(
            "weft bench {}: {} idle connections open (in {:.2} s); holding them {until}",
            idle.url,
            idle.connections,
            connect.as_secs_f64()
        )
    };
    write_stdout_line(&line)?;

    match idle.hold {
        Some(hold) => {
            tokio::select! {
                () = tokio::time::sleep(hold) => {}
                () = ctrl_c() => {}
            }
        }
        None => {
            let stdin_ended = stdin_end();
            tokio::select! {
                _ = stdin_ended => {}
                () = ctrl_c() => {}
            }
        }
    }
    let _ = stop_tx.send(true);

    let mut ended_early = 0usize;
    let closed = tokio::time::timeout(CLOSE_TIMEOUT, async {
        while let Some(joined) = tasks.join_next().await {
            if !matches!(joined, Ok(true)) {
                ended_early += 1;
            }
        }
    })
    .await;
    tasks.abort_all();
    if ended_early > 0 {
        return Err(Error::BenchFailed(format!(
            "{ended_early} of {} idle connections ended before they were closed",
            idle.connections
        )));
    }
    if closed.is_err() {
        return Err(Error::BenchFailed(format!(
            "closing {} idle connections took longer than {} s",
            idle.connections,
            CLOSE_TIMEOUT.as_secs()
        )));
    }
    Ok(())
}

/// Every connection sends `messages` messages, one at a time, and takes their echoes; the
/// first failure ends the run.
async fn exchange_all(
    sockets: Vec<BenchSocket>,
    messages: u64,
    payloads: &Arc<Payloads>,
    opener: &Opener,
) -> Result<Vec<BenchSocket>, Error> {
    let mut tasks = JoinSet::new();
    let count = sockets.len();
    for (index, ws) in sockets.into_iter().enumerate() {
        let payloads = payloads.clone();
        tasks.spawn_on(
            async move {
                let result = exchange(ws, messages, first_message(index, true), &payloads).await;
                (index, result)
            },
            opener.worker(index),
        );
    }
    let mut done: Vec<Option<BenchSocket>> = (0..count).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, Ok(ws))) => done[index] = Some(ws),
            Ok((index, Err(why))) => {
                return Err(Error::BenchFailed(format!(
                    "connection {} of {count}, before falling silent: {why}",
                    index + 1
                )));
            }
            Err(_) => return Err(Error::BenchFailed("a connection task panicked".to_owned())),
        }
    }
    Ok(done.into_iter().flatten().collect())
}

/// Sends `messages` messages from `first` on, each after the echo of the one before.
async fn exchange(
    mut ws: BenchSocket,
    messages: u64,
    first: u64,
    payloads: &Payloads,
) -> Result<BenchSocket, String> {
    for sequence in first..first + messages {
        ws.send(payloads.message(sequence))
            .await
            .map_err(|err| format!("sending failed: {err}"))?;
        loop {
            match ws.next().await {
                Some(Ok(echo @ (Message::Text(_) | Message::Binary(_)))) => {
                    payloads
                        .check(sequence, &echo)
                        .map_err(|mismatch| mismatch.to_string())?;
                    break;
                }
                Some(Ok(Message::Close(_))) | None => {
                    return Err("the server ended the connection".to_owned());
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => return Err(format!("connection failed: {err}")),
            }
        }
    }
    Ok(ws)
}

/// Reads (answering pings) until `stop`, then closes with 1000. `false` if the connection
/// ended first.
async fn hold(mut ws: BenchSocket, mut stop: watch::Receiver<bool>) -> bool {
    loop {
        tokio::select! {
            biased;
            _ = stop.wait_for(|stop| *stop) => break,
            item = ws.next() => if item.is_none() {
                return false;
            },
        }
    }
    // How the closing handshake goes is not what this mode measures.
    let _ = ws.close(CloseCode::NORMAL, "").await;
    true
}

/// Completes when standard input reaches its end. Read on a thread of its own: a blocking
/// read of a terminal cannot be cancelled and must not keep the runtime from shutting down.
fn stdin_end() -> oneshot::Receiver<()> {
    let (tx, rx) = oneshot::channel();
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut sink = [0u8; 1024];
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        let _ = tx.send(());
    });
    rx
}
