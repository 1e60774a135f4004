//! One connection under load: a write side that keeps up to `window` messages in flight and a
//! read side that takes the echoes, times them and checks them, joined in one task over the
//! two halves of the socket.
//!
//! The halves share three things: a semaphore with one permit per free slot of the window (the
//! writer takes one for each message, the reader gives one back for each echo), the queue of
//! send times (echoes come back in order, so the oldest time belongs to the next echo), and a
//! flag saying that the writer started the closing handshake (so that a stream that ends
//! before it is a failure).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::{Semaphore, TryAcquireError, watch};
use weft::{ClientStream, CloseCode, Message, WebSocketReader, WebSocketWriter};

use super::BenchSocket;
use super::payload::Payloads;
use super::stats::{Counts, latency_histogram};
use super::wire::Wire;
use crate::error::{close_text, describe};

/// How long the writer waits for the last echoes once it has stopped sending.
pub(crate) const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// What one connection is asked to do.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    /// How many messages to send; `None` sends until told to stop.
    pub(crate) messages: Option<u64>,
    /// Messages in flight at most.
    pub(crate) window: usize,
    /// What to send.
    pub(crate) payloads: Arc<Payloads>,
    /// The number of the first message in the payloads (messages follow it in turn).
    pub(crate) first: u64,
}

/// What one connection did.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) counts: Counts,
    /// Round-trip times, nanoseconds.
    pub(crate) latency: Histogram<u64>,
    /// When the last echo arrived.
    pub(crate) last_echo: Option<Instant>,
    /// The first thing that went wrong.
    pub(crate) error: Option<String>,
}

/// State the two halves share.
struct Shared {
    /// One permit per free slot of the window.
    in_flight: Semaphore,
    /// Send times of the messages in flight, oldest first.
    sent_at: Mutex<VecDeque<Instant>>,
    /// The writer has started the closing handshake.
    closing: AtomicBool,
}

impl Shared {
    fn sent_at(&self) -> std::sync::MutexGuard<'_, VecDeque<Instant>> {
        self.sent_at.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs `job` over `ws` until it is done or `stop` turns true, then closes the connection
/// (after the echoes still in flight, within [`DRAIN_TIMEOUT`]). `echoed` counts every echo
/// of every connection, for the progress bar.
pub(crate) async fn drive(
    ws: BenchSocket,
    job: Job,
    stop: watch::Receiver<bool>,
    echoed: Arc<AtomicU64>,
) -> Outcome {
    let (reader, writer) = ws.split();
    let shared = Shared {
        in_flight: Semaphore::new(job.window),
        sent_at: Mutex::new(VecDeque::with_capacity(job.window)),
        closing: AtomicBool::new(false),
    };
    let (write, read) = tokio::join!(
        write_side(writer, &job, &shared, stop),
        read_side(reader, &job, &shared, &echoed),
    );
    let mut counts = read.counts;
    counts.sent = write.sent;
    counts.failed_connections = u64::from(write.failed || read.connection_failed);
    // The writer's error, if any, came first: the reader's follows from it.
    let error = write.error.or(read.error);
    Outcome {
        counts,
        latency: read.latency,
        last_echo: read.last_echo,
        error,
    }
}

/// What the write side did.
struct Write {
    sent: u64,
    error: Option<String>,
    /// Sending failed (the connection is broken); missing echoes alone are not a failure.
    failed: bool,
}

/// Sends until the job is done or `stop`, waits for the echoes in flight, then sends a close
/// frame.
async fn write_side(
    mut writer: WebSocketWriter<Wire<ClientStream>>,
    job: &Job,
    shared: &Shared,
    mut stop: watch::Receiver<bool>,
) -> Write {
    let limit = job.messages.unwrap_or(u64::MAX);
    let mut sent = 0u64;
    let mut error = None;
    'sending: while sent < limit && !*stop.borrow() {
        // A free slot of the window, or the end.
        let permit = match shared.in_flight.try_acquire() {
            Ok(permit) => permit,
            Err(TryAcquireError::Closed) => break,
            Err(TryAcquireError::NoPermits) => tokio::select! {
                biased;
                _ = stop.wait_for(|stop| *stop) => break,
                permit = shared.in_flight.acquire() => match permit {
                    Ok(permit) => permit,
                    // The reader has ended: the connection is over.
                    Err(_) => break,
                },
            },
        };
        permit.forget();
        // Every other free slot too, so that they leave in one write.
        let mut batch = 1;
        while sent + batch < limit {
            let Ok(permit) = shared.in_flight.try_acquire() else {
                break;
            };
            permit.forget();
            batch += 1;
        }
        for _ in 0..batch {
            // The time goes in first: the echo cannot arrive before the message is queued.
            shared.sent_at().push_back(Instant::now());
            if let Err(err) = writer.feed(job.payloads.message(job.first + sent)).await {
                shared.sent_at().pop_back();
                error = Some(format!("sending failed: {err}"));
                break 'sending;
            }
            sent += 1;
        }
        if let Err(err) = writer.flush().await {
            error = Some(format!("sending failed: {err}"));
            break;
        }
    }
    let failed = error.is_some();
    if !failed {
        // Every permit back means every message came back.
        let all = u32::try_from(job.window).unwrap_or(u32::MAX);
        let drained = tokio::time::timeout(DRAIN_TIMEOUT, shared.in_flight.acquire_many(all)).await;
        if drained.is_err() {
            error = Some(format!(
                "echoes still missing {} s after the last message was sent",
                DRAIN_TIMEOUT.as_secs()
            ));
        }
    }
    shared.closing.store(true, Ordering::Release);
    // If the close cannot be sent, the connection is over already; the reader saw why.
    let _ = writer.close(CloseCode::NORMAL, "").await;
    Write {
        sent,
        error,
        failed,
    }
}

/// What the read side saw.
struct Read {
    counts: Counts,
    latency: Histogram<u64>,
    last_echo: Option<Instant>,
    error: Option<String>,
    connection_failed: bool,
}

/// Takes echoes until the stream ends: times each against the oldest send time, checks it,
/// and frees its slot of the window.
async fn read_side(
    mut reader: WebSocketReader<Wire<ClientStream>>,
    job: &Job,
    shared: &Shared,
    echoed: &AtomicU64,
) -> Read {
    let mut read = Read {
        counts: Counts::default(),
        latency: latency_histogram(),
        last_echo: None,
        error: None,
        connection_failed: false,
    };
    while let Some(item) = reader.next().await {
        match item {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                let now = Instant::now();
                let Some(sent_at) = shared.sent_at().pop_front() else {
                    read.counts.unexpected += 1;
                    read.error.get_or_insert_with(|| {
                        "a data message arrived while nothing was in flight".to_owned()
                    });
                    continue;
                };
                let nanos = u64::try_from(now.duration_since(sent_at).as_nanos()).unwrap_or(0);
                read.latency.saturating_record(nanos.max(1));
                if let Err(mismatch) = job.payloads.check(job.first + read.counts.echoed, &message)
                {
                    read.counts.mismatched += 1;
                    read.error.get_or_insert_with(|| mismatch.to_string());
                }
                read.counts.echoed += 1;
                read.last_echo = Some(now);
                shared.in_flight.add_permits(1);
                echoed.fetch_add(1, Ordering::Relaxed);
            }
            // The server closing before the writer did is why the run failed: its code and
            // reason say why (1009 for messages over its limit, say).
            Ok(Message::Close(frame)) if !shared.closing.load(Ordering::Acquire) => {
                read.connection_failed = true;
                read.error.get_or_insert_with(|| {
                    format!(
                        "the server closed the connection with {}",
                        close_text(frame.as_ref())
                    )
                });
            }
            Ok(_) => {}
            Err(err) => {
                read.connection_failed = true;
                read.error
                    .get_or_insert_with(|| format!("connection failed: {}", describe(&err)));
            }
        }
    }
    if !shared.closing.load(Ordering::Acquire) {
        read.connection_failed = true;
        read.error
            .get_or_insert_with(|| "the server ended the connection".to_owned());
    }
    // Wakes a writer waiting for a slot: nothing more will come back.
    shared.in_flight.close();
    read
}
