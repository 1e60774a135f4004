//! [`Stats`]: the server's counters, which an application, a metrics exporter or a log line
//! reads as a [`StatsSnapshot`].

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use weft_codec::{CloseCode, Connection, Error as WsError, Observer, ProtocolError};

/// Codes 1000 to 1015 are counted one by one; others by range.
const FIRST_CODE: u16 = 1000;
const CODES: usize = 16;

/// The counters, shared by the acceptor, the server, every connection and every [`Stats`]
/// handle. All updates are relaxed atomic adds: the numbers are for reading, not for
/// synchronising.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    connections_open: AtomicU64,
    websockets_open: AtomicU64,
    connections_accepted: AtomicU64,
    websockets_upgraded: AtomicU64,
    http_requests: AtomicU64,
    refused_over_capacity: AtomicU64,
    dropped_over_capacity: AtomicU64,
    refused_out_of_fds: AtomicU64,
    accept_errors: AtomicU64,
    handshakes_rejected: AtomicU64,
    handshake_timeouts: AtomicU64,
    tls_failures: AtomicU64,
    closed_by_code: [AtomicU64; CODES],
    closed_with_application_code: AtomicU64,
    closed_with_other_code: AtomicU64,
    closed_abnormally: AtomicU64,
    frames_too_large: AtomicU64,
    messages_too_large: AtomicU64,
    too_many_fragments: AtomicU64,
    invalid_utf8: AtomicU64,
    protocol_errors: AtomicU64,
    extension_errors: AtomicU64,
    keepalive_timeouts: AtomicU64,
    close_timeouts: AtomicU64,
    bytes_received: AtomicU64,
    bytes_sent: AtomicU64,
}

/// Which counter to add to.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Count {
    HttpRequests,
    RefusedOverCapacity,
    DroppedOverCapacity,
    RefusedOutOfFds,
    AcceptErrors,
    HandshakesRejected,
    HandshakeTimeouts,
    #[cfg(feature = "rustls")]
    TlsFailures,
}

impl Counters {
    pub(crate) fn add(&self, count: Count) {
        let counter = match count {
            Count::HttpRequests => &self.http_requests,
            Count::RefusedOverCapacity => &self.refused_over_capacity,
            Count::DroppedOverCapacity => &self.dropped_over_capacity,
            Count::RefusedOutOfFds => &self.refused_out_of_fds,
            Count::AcceptErrors => &self.accept_errors,
            Count::HandshakesRejected => &self.handshakes_rejected,
            Count::HandshakeTimeouts => &self.handshake_timeouts,
            #[cfg(feature = "rustls")]
            Count::TlsFailures => &self.tls_failures,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds bytes moved on a connection's transport.
    pub(crate) fn add_bytes(&self, received: u64, sent: u64) {
        if received > 0 {
            self.bytes_received.fetch_add(received, Ordering::Relaxed);
        }
        if sent > 0 {
            self.bytes_sent.fetch_add(sent, Ordering::Relaxed);
        }
    }

    /// Counts the end of a WebSocket by the status code of its closing handshake.
    fn closed(&self, code: Option<CloseCode>) {
        let counter = match code.map(CloseCode::as_u16) {
            None => &self.closed_abnormally,
            Some(code @ FIRST_CODE..=1015) => &self.closed_by_code[usize::from(code - FIRST_CODE)],
            Some(3000..=4999) => &self.closed_with_application_code,
            Some(_) => &self.closed_with_other_code,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a connection error by its kind.
    fn error(&self, err: &WsError) {
        let counter = match err {
            WsError::Protocol(violation) => match violation {
                ProtocolError::FrameTooLarge { .. } => &self.frames_too_large,
                ProtocolError::MessageTooLarge { .. } | ProtocolError::InflatedTooLarge { .. } => {
                    &self.messages_too_large
                }
                ProtocolError::TooManyFragments { .. } => &self.too_many_fragments,
                ProtocolError::InvalidUtf8 | ProtocolError::InvalidCloseReason => {
                    &self.invalid_utf8
                }
                ProtocolError::Extension(_) => &self.extension_errors,
                _ => &self.protocol_errors,
            },
            WsError::KeepaliveTimeout => &self.keepalive_timeouts,
            WsError::CloseTimeout => &self.close_timeouts,
            // Counted by its end: a connection without a closing handshake.
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// An observer for one upgraded connection; counts it open until it is dropped.
    pub(crate) fn observe_websocket(self: &Arc<Self>) -> Box<dyn Observer> {
        self.websockets_upgraded.fetch_add(1, Ordering::Relaxed);
        self.websockets_open.fetch_add(1, Ordering::Relaxed);
        Box::new(WebSocketObserver(Arc::clone(self)))
    }

    /// A slot for one accepted connection, counted open until the slot is dropped (with the
    /// connection's descriptor, after any lingering close).
    pub(crate) fn open_connection<T: Send + 'static>(
        self: &Arc<Self>,
        permit: T,
    ) -> ConnectionSlot {
        self.connections_accepted.fetch_add(1, Ordering::Relaxed);
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        ConnectionSlot {
            counters: Arc::clone(self),
            _permit: Box::new(permit),
        }
    }

    fn snapshot(&self) -> StatsSnapshot {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let closed_by_code = (FIRST_CODE..)
            .zip(&self.closed_by_code)
            .filter_map(|(code, count)| {
                let count = get(count);
                (count > 0).then(|| (CloseCode::from(code), count))
            })
            .collect();
        StatsSnapshot {
            connections_open: get(&self.connections_open),
            websockets_open: get(&self.websockets_open),
            connections_accepted: get(&self.connections_accepted),
            websockets_upgraded: get(&self.websockets_upgraded),
            http_requests: get(&self.http_requests),
            refused_over_capacity: get(&self.refused_over_capacity),
            dropped_over_capacity: get(&self.dropped_over_capacity),
            refused_out_of_fds: get(&self.refused_out_of_fds),
            accept_errors: get(&self.accept_errors),
            handshakes_rejected: get(&self.handshakes_rejected),
            handshake_timeouts: get(&self.handshake_timeouts),
            tls_failures: get(&self.tls_failures),
            closed_by_code,
            closed_with_application_code: get(&self.closed_with_application_code),
            closed_with_other_code: get(&self.closed_with_other_code),
            closed_abnormally: get(&self.closed_abnormally),
            frames_too_large: get(&self.frames_too_large),
            messages_too_large: get(&self.messages_too_large),
            too_many_fragments: get(&self.too_many_fragments),
            invalid_utf8: get(&self.invalid_utf8),
            protocol_errors: get(&self.protocol_errors),
            extension_errors: get(&self.extension_errors),
            keepalive_timeouts: get(&self.keepalive_timeouts),
            close_timeouts: get(&self.close_timeouts),
            bytes_received: get(&self.bytes_received),
            bytes_sent: get(&self.bytes_sent),
        }
    }
}

/// Keeps one connection counted (and its place under the connection cap) while it lives.
pub(crate) struct ConnectionSlot {
    counters: Arc<Counters>,
    _permit: Box<dyn Send>,
}

impl fmt::Debug for ConnectionSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConnectionSlot")
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.counters
            .connections_open
            .fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Debug)]
struct WebSocketObserver(Arc<Counters>);

impl Observer for WebSocketObserver {
    fn error(&mut self, err: &WsError) {
        self.0.error(err);
    }

    fn ended(&mut self, conn: &Connection) {
        self.0.closed(conn.close_code());
        self.0.websockets_open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The counters of a [`Server`](crate::Server) (and its [`Acceptor`](crate::Acceptor)), to
/// read at any time: [`Server::stats`](crate::Server::stats) hands one out before serving,
/// and it stays valid after the server has stopped. Cloning is cheap; every clone reads the
/// same counters.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use std::time::Duration;
/// use weft_server::Server;
///
/// let server = Server::bind("127.0.0.1:9001").await?;
/// let stats = server.stats();
/// tokio::spawn(async move {
///     loop {
///         tokio::time::sleep(Duration::from_secs(10)).await;
///         let now = stats.snapshot();
///         println!("{} WebSockets open, {} refused", now.websockets_open, now.refused_over_capacity);
///     }
/// });
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct Stats(pub(crate) Arc<Counters>);

impl Stats {
    /// The counters as they are now.
    ///
    /// ```
    /// let snapshot = weft_server::Acceptor::default().stats().snapshot();
    /// assert_eq!(snapshot.websockets_closed(), 0);
    /// ```
    pub fn snapshot(&self) -> StatsSnapshot {
        self.0.snapshot()
    }
}

/// The server's counters at one moment: what is open, what was refused and why, how
/// WebSockets ended, which limits peers broke, and the bytes moved.
///
/// Counts are totals since the server was built, except the `*_open` gauges. Its
/// [`Display`](fmt::Display) is a short report (what `weft serve` prints on shutdown).
///
/// ```
/// let empty = weft_server::StatsSnapshot::default();
/// assert_eq!(empty.connections_open, 0);
/// assert!(empty.to_string().starts_with("connections: 0 open, 0 accepted"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatsSnapshot {
    /// TCP connections held now: handshaking, serving HTTP or a WebSocket, or still lingering
    /// after a close. Each holds one file descriptor and one place under the connection cap.
    pub connections_open: u64,
    /// WebSockets open now (from the `101` until the connection is dropped).
    pub websockets_open: u64,
    /// TCP connections accepted under the cap.
    pub connections_accepted: u64,
    /// Opening handshakes completed (`101` sent).
    pub websockets_upgraded: u64,
    /// Plain HTTP requests answered on the WebSocket port.
    pub http_requests: u64,
    /// Connections over the connection cap, answered `503` with `Retry-After`.
    pub refused_over_capacity: u64,
    /// Connections over the cap while the most refusals were already in progress: closed
    /// without an answer.
    pub dropped_over_capacity: u64,
    /// Connections closed at once because the process had no file descriptor left for them
    /// (`EMFILE`/`ENFILE`): the cap is set above what the descriptor limit allows, or
    /// descriptors are held elsewhere.
    pub refused_out_of_fds: u64,
    /// Other failures of `accept`.
    pub accept_errors: u64,
    /// Upgrade requests refused (400, 403, 405, 414, 426, 431, or the request hook's answer).
    pub handshakes_rejected: u64,
    /// Connections that did not complete TLS and their request within the handshake timeout.
    pub handshake_timeouts: u64,
    /// TLS handshakes that failed.
    pub tls_failures: u64,
    /// WebSockets ended, by the status code of their closing handshake (the first close
    /// frame's, whoever sent it; 1005 for one without a code), for codes 1000 to 1015 that
    /// occurred, in order.
    pub closed_by_code: Vec<(CloseCode, u64)>,
    /// WebSockets ended with an application's code (3000 to 4999).
    pub closed_with_application_code: u64,
    /// WebSockets ended with another code.
    pub closed_with_other_code: u64,
    /// WebSockets ended without any close frame (1006): the transport ended or failed, or the
    /// handler dropped the WebSocket before closing.
    pub closed_abnormally: u64,
    /// Frames over `max_frame_size` (closed with 1009).
    pub frames_too_large: u64,
    /// Messages over `max_message_size`, before or after decompression (1009).
    pub messages_too_large: u64,
    /// Messages over `max_fragments` (1009).
    pub too_many_fragments: u64,
    /// Text messages or close reasons that were not UTF-8 (1007).
    pub invalid_utf8: u64,
    /// Other protocol violations (1002): unmasked frames, reserved bits or opcodes, bad
    /// control frames, broken fragmentation, invalid close frames.
    pub protocol_errors: u64,
    /// Messages the negotiated extension could not decode (invalid DEFLATE data, 1007).
    pub extension_errors: u64,
    /// Keepalive pings not answered within `ping_timeout` (closed with 1011).
    pub keepalive_timeouts: u64,
    /// Closing handshakes the peer did not finish within `close_timeout`.
    pub close_timeouts: u64,
    /// Bytes read from connections: HTTP and WebSocket data, after TLS decryption. Each
    /// connection adds its count every 64 KiB and when it closes.
    pub bytes_received: u64,
    /// Bytes written to connections, counted the same way.
    pub bytes_sent: u64,
}

impl StatsSnapshot {
    /// WebSockets ended so far, however they ended.
    ///
    /// ```
    /// let snapshot = weft_server::Acceptor::default().stats().snapshot();
    /// assert_eq!(snapshot.websockets_closed(), 0);
    /// ```
    pub fn websockets_closed(&self) -> u64 {
        self.closed_by_code.iter().map(|(_, n)| n).sum::<u64>()
            + self.closed_with_application_code
            + self.closed_with_other_code
            + self.closed_abnormally
    }

    /// Limits and rules peers broke, all kinds together.
    ///
    /// ```
    /// let snapshot = weft_server::Acceptor::default().stats().snapshot();
    /// assert_eq!(snapshot.violations(), 0);
    /// ```
    pub fn violations(&self) -> u64 {
        self.frames_too_large
            + self.messages_too_large
            + self.too_many_fragments
            + self.invalid_utf8
            + self.protocol_errors
            + self.extension_errors
            + self.keepalive_timeouts
            + self.close_timeouts
    }
}

impl fmt::Display for StatsSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "connections: {} open, {} accepted; websockets: {} open, {} upgraded, {} closed; \
             {} http requests",
            self.connections_open,
            self.connections_accepted,
            self.websockets_open,
            self.websockets_upgraded,
            self.websockets_closed(),
            self.http_requests,
        )?;
        write!(f, "closed:")?;
        let mut any = false;
        for (code, count) in &self.closed_by_code {
            write!(f, " {count}×{}", code.as_u16())?;
            any = true;
        }
        for (count, what) in [
            (self.closed_with_application_code, "application code"),
            (self.closed_with_other_code, "other code"),
            (self.closed_abnormally, "no close frame"),
        ] {
            if count > 0 {
                write!(f, " {count}×{what}")?;
                any = true;
            }
        }
        if !any {
            write!(f, " none")?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "refused: {} over capacity (503), {} dropped over capacity, {} out of file \
             descriptors, {} accept errors; handshakes: {} rejected, {} timed out, {} TLS failures",
            self.refused_over_capacity,
            self.dropped_over_capacity,
            self.refused_out_of_fds,
            self.accept_errors,
            self.handshakes_rejected,
            self.handshake_timeouts,
            self.tls_failures,
        )?;
        writeln!(
            f,
            "violations: {} frames too large, {} messages too large, {} too many fragments, \
             {} invalid UTF-8, {} protocol errors, {} extension errors, {} keepalive timeouts, \
             {} close timeouts",
            self.frames_too_large,
            self.messages_too_large,
            self.too_many_fragments,
            self.invalid_utf8,
            self.protocol_errors,
            self.extension_errors,
            self.keepalive_timeouts,
            self.close_timeouts,
        )?;
        write!(
            f,
            "bytes: {} received, {} sent",
            self.bytes_received, self.bytes_sent
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closes_are_counted_by_code_and_range() {
        let counters = Counters::default();
        for code in [1000, 1000, 1009, 1015, 4000, 3000, 2000] {
            counters.closed(Some(CloseCode::from(code)));
        }
        counters.closed(None);
        let snapshot = counters.snapshot();
        assert_eq!(
            snapshot.closed_by_code,
            [
                (CloseCode::NORMAL, 2),
                (CloseCode::MESSAGE_TOO_BIG, 1),
                (CloseCode::TLS_HANDSHAKE, 1)
            ]
        );
        assert_eq!(snapshot.closed_with_application_code, 2);
        assert_eq!(snapshot.closed_with_other_code, 1);
        assert_eq!(snapshot.closed_abnormally, 1);
        assert_eq!(snapshot.websockets_closed(), 8);
        assert!(
            snapshot.to_string().contains(
                "closed: 2×1000 1×1009 1×1015 2×application code 1×other code 1×no close frame"
            ),
            "{snapshot}"
        );
    }

    #[test]
    fn errors_are_counted_by_kind() {
        let counters = Counters::default();
        for err in [
            WsError::Protocol(ProtocolError::FrameTooLarge { size: 2, limit: 1 }),
            WsError::Protocol(ProtocolError::InflatedTooLarge { limit: 1 }),
            WsError::Protocol(ProtocolError::MessageTooLarge { size: 2, limit: 1 }),
            WsError::Protocol(ProtocolError::TooManyFragments { limit: 1 }),
            WsError::Protocol(ProtocolError::InvalidUtf8),
            WsError::Protocol(ProtocolError::UnmaskedFrame),
            WsError::KeepaliveTimeout,
            WsError::CloseTimeout,
            WsError::AbnormalClosure,
        ] {
            counters.error(&err);
        }
        let snapshot = counters.snapshot();
        assert_eq!(
            (
                snapshot.frames_too_large,
                snapshot.messages_too_large,
                snapshot.too_many_fragments,
                snapshot.invalid_utf8,
                snapshot.protocol_errors,
                snapshot.keepalive_timeouts,
                snapshot.close_timeouts
            ),
            (1, 2, 1, 1, 1, 1, 1)
        );
        assert_eq!(snapshot.violations(), 8);
    }

    #[test]
    fn a_slot_counts_a_connection_open_until_dropped() {
        let counters = Arc::new(Counters::default());
        let slot = counters.open_connection(());
        assert_eq!(counters.snapshot().connections_open, 1);
        drop(slot);
        let snapshot = counters.snapshot();
        assert_eq!(
            (snapshot.connections_open, snapshot.connections_accepted),
            (0, 1)
        );
    }
}
