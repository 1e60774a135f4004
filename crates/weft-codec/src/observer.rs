//! [`Observer`]: how counters and logs learn what happened to a connection without the
//! connection knowing about them.

use std::fmt;

use crate::connection::Connection;
use crate::error::Error;

/// Sees the errors a [`Connection`] reports and its end, for counters, metrics and logs.
///
/// Install one with [`Connection::with_observer`]. It is called from inside the connection's
/// methods, so it must be quick and must not block: count, or hand the facts to a channel.
/// The server of `weft-server` keeps its statistics this way.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use weft_codec::{CloseCode, Connection, Error, Observer, Role};
///
/// #[derive(Debug, Default)]
/// struct Counts {
///     errors: AtomicU64,
///     normal_closes: AtomicU64,
/// }
///
/// #[derive(Debug)]
/// struct Counting(Arc<Counts>);
///
/// impl Observer for Counting {
///     fn error(&mut self, _err: &Error) {
///         self.0.errors.fetch_add(1, Ordering::Relaxed);
///     }
///     fn ended(&mut self, conn: &Connection) {
///         if conn.close_code() == Some(CloseCode::NORMAL) {
///             self.0.normal_closes.fetch_add(1, Ordering::Relaxed);
///         }
///     }
/// }
///
/// let counts = Arc::new(Counts::default());
/// let mut conn = Connection::new(Role::Server).with_observer(Box::new(Counting(counts.clone())));
/// conn.close(CloseCode::NORMAL, "bye").unwrap();
/// drop(conn);
/// assert_eq!(counts.normal_closes.load(Ordering::Relaxed), 1);
/// ```
pub trait Observer: fmt::Debug + Send {
    /// The connection is about to report `err` from [`poll_event`](Connection::poll_event):
    /// a peer's violation (its close frame already queued), a timeout, or the transport
    /// ending without a closing handshake. Called once per error reported.
    fn error(&mut self, err: &Error) {
        let _ = err;
    }

    /// The connection is being dropped; `conn` shows how it ended
    /// ([`close_code`](Connection::close_code), [`peer_close_frame`](Connection::peer_close_frame),
    /// [`is_aborted`](Connection::is_aborted), [`state`](Connection::state)).
    fn ended(&mut self, conn: &Connection) {
        let _ = conn;
    }
}
