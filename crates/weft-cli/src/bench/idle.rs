//! `weft bench --idle N`: N connections that send nothing, held open so that the server's
//! memory per connection can be read (`cargo xtask bench --compare` reads `VmRSS`).
//!
//! Once every connection is open, one line says so (a JSON object with `--json`); the
//! connections then stay open, answering pings, until `--duration` passes, standard input ends
//! or Ctrl-C, and are closed with 1000.

use std::io::Read;
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use weft::{ClientStream, CloseCode, WebSocket};

use super::{Opener, ctrl_c, progress_bar, write_stdout_line};
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
    pub(crate) json: bool,
    pub(crate) show_progress: bool,
}

/// Opens the connections, says so, holds them, closes them.
pub(crate) async fn run(idle: Idle, opener: &Opener) -> Result<(), Error> {
    let progress = progress_bar(idle.show_progress, idle.connections as u64, "connecting");
    let started = Instant::now();
    let sockets = opener.open(idle.connections, &progress).await;
    progress.finish_and_clear();
    let sockets = sockets?;
    let connect = started.elapsed();

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    for ws in sockets {
        tasks.spawn(hold(ws, stop_rx.clone()));
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

/// Reads (answering pings) until `stop`, then closes with 1000. `false` if the connection
/// ended first.
async fn hold(mut ws: WebSocket<ClientStream>, mut stop: watch::Receiver<bool>) -> bool {
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
