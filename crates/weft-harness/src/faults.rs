//! [`FaultyStream`]: a stream that reads and writes in awkward pieces, stalls, and fails.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How a stream cuts the bytes of each read or write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Chunking {
    /// As much as the inner stream gives or takes.
    #[default]
    Whole,
    /// At most this many bytes per call (1: one byte at a time).
    AtMost(usize),
    /// A random amount between 1 and this many bytes per call.
    Random(usize),
}

/// The faults a [`FaultyStream`] injects. Random choices come from `seed`, so a failing test
/// can be replayed.
///
/// ```
/// use weft_harness::{Chunking, Faults};
/// let faults = Faults::default().reads(Chunking::AtMost(1)).pending_reads().seed(7);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Faults {
    reads: Chunking,
    writes: Chunking,
    pending_reads: bool,
    pending_writes: bool,
    fail_writes_after: Option<u64>,
    eof_after: Option<u64>,
    seed: u64,
}

impl Faults {
    /// How reads are cut.
    pub fn reads(mut self, chunking: Chunking) -> Self {
        self.reads = chunking;
        self
    }

    /// How writes are cut.
    pub fn writes(mut self, chunking: Chunking) -> Self {
        self.writes = chunking;
        self
    }

    /// Every other read first returns `Pending` (and wakes the task at once).
    pub fn pending_reads(mut self) -> Self {
        self.pending_reads = true;
        self
    }

    /// Every other write first returns `Pending` (and wakes the task at once).
    pub fn pending_writes(mut self) -> Self {
        self.pending_writes = true;
        self
    }

    /// Writes fail with `BrokenPipe` once this many bytes were written.
    pub fn fail_writes_after(mut self, bytes: u64) -> Self {
        self.fail_writes_after = Some(bytes);
        self
    }

    /// Reads end (end of stream) once this many bytes were read, wherever that falls.
    pub fn eof_after(mut self, bytes: u64) -> Self {
        self.eof_after = Some(bytes);
        self
    }

    /// The seed for random chunking.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
}

/// A stream that injects the [`Faults`] it was given into every read and write of `S`.
#[derive(Debug)]
pub struct FaultyStream<S> {
    inner: S,
    faults: Faults,
    rng: StdRng,
    read: u64,
    written: u64,
    stall_read: bool,
    stall_write: bool,
    scratch: Vec<u8>,
}

impl<S> FaultyStream<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, faults: Faults) -> Self {
        let rng = StdRng::seed_from_u64(faults.seed);
        Self {
            inner,
            faults,
            rng,
            read: 0,
            written: 0,
            stall_read: false,
            stall_write: false,
            scratch: Vec::new(),
        }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    fn cut(&mut self, chunking: Chunking, len: usize) -> usize {
        match chunking {
            Chunking::Whole => len,
            Chunking::AtMost(n) => len.min(n.max(1)),
            Chunking::Random(n) => len.min(self.rng.random_range(1..=n.max(1))),
        }
    }
}

/// Returns `Pending` every other call when `enabled`, waking the task so it polls again.
fn stall(enabled: bool, flag: &mut bool, cx: &Context<'_>) -> bool {
    if !enabled {
        return false;
    }
    *flag = !*flag;
    if *flag {
        cx.waker().wake_by_ref();
    }
    *flag
}

impl<S: AsyncRead + Unpin> AsyncRead for FaultyStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if stall(this.faults.pending_reads, &mut this.stall_read, cx) {
            return Poll::Pending;
        }
        let mut room = buf.remaining();
        if let Some(limit) = this.faults.eof_after {
            let left = limit.saturating_sub(this.read);
            room = room.min(usize::try_from(left).unwrap_or(usize::MAX));
            if room == 0 {
                return Poll::Ready(Ok(()));
            }
        }
        let want = this.cut(this.faults.reads, room);
        this.scratch.resize(want, 0);
        let mut limited = ReadBuf::new(&mut this.scratch);
        match Pin::new(&mut this.inner).poll_read(cx, &mut limited) {
            Poll::Ready(Ok(())) => {
                let got = limited.filled().len();
                buf.put_slice(&this.scratch[..got]);
                this.read += got as u64;
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FaultyStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if stall(this.faults.pending_writes, &mut this.stall_write, cx) {
            return Poll::Pending;
        }
        let mut len = data.len();
        if let Some(limit) = this.faults.fail_writes_after {
            let left = limit.saturating_sub(this.written);
            if left == 0 {
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
            len = len.min(usize::try_from(left).unwrap_or(usize::MAX));
        }
        let len = this.cut(this.faults.writes, len);
        match Pin::new(&mut this.inner).poll_write(cx, &data[..len]) {
            Poll::Ready(Ok(n)) => {
                this.written += n as u64;
                Poll::Ready(Ok(n))
            }
            other => other,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn one_byte_reads_and_eof_after() {
        let (mut a, b) = tokio::io::duplex(64);
        let faults = Faults::default()
            .reads(Chunking::AtMost(1))
            .pending_reads()
            .eof_after(5);
        let mut b = FaultyStream::new(b, faults);
        a.write_all(b"hello world").await.unwrap();
        let mut got = Vec::new();
        let mut byte = [0u8; 8];
        loop {
            let n = b.read(&mut byte).await.unwrap();
            if n == 0 {
                break;
            }
            assert_eq!(n, 1);
            got.extend_from_slice(&byte[..n]);
        }
        assert_eq!(got, b"hello");
    }

    #[tokio::test]
    async fn writes_fail_after_a_budget() {
        let (a, _b) = tokio::io::duplex(64);
        let mut a = FaultyStream::new(
            a,
            Faults::default()
                .fail_writes_after(3)
                .writes(Chunking::Random(2)),
        );
        let err = a.write_all(b"abcdef").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(a.bytes_written(), 3);
    }
}
