//! Lines a child process writes to a pipe, shared by the CLI's test binaries.

use std::io::{BufRead, BufReader, Read};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// The longest any step may take; generous for a loaded CI machine.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(30);

/// Lines a child writes to a pipe, read on a thread so that no wait can block forever.
pub(crate) struct Lines(mpsc::Receiver<String>);

#[allow(dead_code, reason = "each test binary uses part of it")]
impl Lines {
    pub(crate) fn read_from(pipe: impl Read + Send + 'static) -> Self {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self(rx)
    }

    /// The next line; panics after [`TIMEOUT`] or at the end of the stream.
    pub(crate) fn next(&self, what: &str) -> String {
        self.0
            .recv_timeout(TIMEOUT)
            .unwrap_or_else(|err| panic!("waiting for {what}: {err}"))
    }

    /// The next line within `timeout`, or `None` at the end of the stream or after the timeout.
    pub(crate) fn next_within(&self, timeout: Duration) -> Option<String> {
        self.0.recv_timeout(timeout).ok()
    }

    /// Every line up to the end of the stream (the child has exited, so it comes soon).
    pub(crate) fn rest(&self) -> Vec<String> {
        let mut lines = Vec::new();
        while let Ok(line) = self.0.recv_timeout(TIMEOUT) {
            lines.push(line);
        }
        lines
    }

    /// The lines received so far.
    pub(crate) fn so_far(&self) -> Vec<String> {
        self.0.try_iter().collect()
    }
}
