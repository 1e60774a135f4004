//! The bounded queue between the topics and one subscriber's connection.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::Waker;

use atomic_waker::AtomicWaker;
use weft_codec::{CloseCode, PreparedMessage};

use super::SlowSubscriber;

/// How many messages and bytes a subscriber's queue may hold before its topics' slow-subscriber
/// policy applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Capacity {
    pub(crate) messages: usize,
    pub(crate) bytes: usize,
}

/// What a publish did with one subscriber.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    Queued,
    /// The queue was full and the policy dropped the message.
    Dropped,
    /// The queue was full and the policy closes the subscriber (now, with this message).
    Closed,
    /// The subscriber is closing or gone: it takes nothing more.
    Gone,
}

/// What the subscriber's connection takes next.
#[derive(Debug)]
pub(crate) enum Next {
    Message(PreparedMessage),
    /// Close the connection with this code: it could not keep up.
    Close(CloseCode),
}

/// One subscriber's queue. Publishers push under a short lock; the subscriber's task pops.
#[derive(Debug)]
pub(crate) struct Queue {
    state: Mutex<State>,
    capacity: Capacity,
    waker: AtomicWaker,
    dropped: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    messages: VecDeque<PreparedMessage>,
    bytes: usize,
    /// The policy closed this subscriber; the code is handed out once.
    close: Option<CloseCode>,
    /// Takes nothing more: closed by a policy, or its subscriber is gone.
    finished: bool,
}

impl Queue {
    pub(crate) fn new(capacity: Capacity) -> Self {
        Self {
            state: Mutex::new(State::default()),
            capacity,
            waker: AtomicWaker::new(),
            dropped: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `message`, or applies `policy` when the queue is full. A message larger than the
    /// byte capacity is still queued into an empty queue, so that a size the topics accept
    /// reaches a subscriber that keeps up.
    pub(crate) fn push(&self, message: &PreparedMessage, policy: SlowSubscriber) -> Pushed {
        let mut state = self.lock();
        if state.finished {
            return Pushed::Gone;
        }
        let full = state.messages.len() >= self.capacity.messages
            || (!state.messages.is_empty() && state.bytes + message.len() > self.capacity.bytes);
        if full {
            return match policy {
                SlowSubscriber::Drop => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    Pushed::Dropped
                }
                SlowSubscriber::Close(code) => {
                    // What it had not taken yet is let go at once: memory does not wait for
                    // the closing handshake.
                    state.messages = VecDeque::new();
                    state.bytes = 0;
                    state.close = Some(code);
                    state.finished = true;
                    drop(state);
                    self.waker.wake();
                    Pushed::Closed
                }
            };
        }
        let was_empty = state.messages.is_empty();
        state.bytes += message.len();
        state.messages.push_back(message.clone());
        drop(state);
        if was_empty {
            // A task that has not emptied the queue yet will see this message anyway.
            self.waker.wake();
        }
        Pushed::Queued
    }

    /// The next message or close order; `None` registers `waker` for the next push.
    pub(crate) fn pop(&self, waker: &Waker) -> Option<Next> {
        let mut state = self.lock();
        if let Some(code) = state.close.take() {
            return Some(Next::Close(code));
        }
        if let Some(message) = state.messages.pop_front() {
            state.bytes -= message.len();
            return Some(Next::Message(message));
        }
        // Registered under the lock: a push after it wakes this waker.
        self.waker.register(waker);
        None
    }

    /// Whether a message is waiting.
    pub(crate) fn has_next(&self) -> bool {
        let state = self.lock();
        state.close.is_some() || !state.messages.is_empty()
    }

    /// Takes nothing more and lets go of what is queued.
    pub(crate) fn finish(&self) {
        let mut state = self.lock();
        state.finished = true;
        state.messages = VecDeque::new();
        state.bytes = 0;
    }

    /// Messages the drop policy discarded for this subscriber.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Messages and bytes queued now.
    pub(crate) fn queued(&self) -> (usize, usize) {
        let state = self.lock();
        (state.messages.len(), state.bytes)
    }
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use super::*;

    const SMALL: Capacity = Capacity {
        messages: 2,
        bytes: 10,
    };

    fn message(len: usize) -> PreparedMessage {
        PreparedMessage::binary(vec![0u8; len])
    }

    #[test]
    fn a_full_queue_drops_and_counts_under_the_drop_policy() {
        let queue = Queue::new(SMALL);
        assert_eq!(
            queue.push(&message(4), SlowSubscriber::Drop),
            Pushed::Queued
        );
        assert_eq!(
            queue.push(&message(4), SlowSubscriber::Drop),
            Pushed::Queued
        );
        assert_eq!(
            queue.push(&message(1), SlowSubscriber::Drop),
            Pushed::Dropped
        );
        assert_eq!(queue.dropped(), 1);
        assert!(matches!(queue.pop(Waker::noop()), Some(Next::Message(_))));
        // 4 queued bytes + 7 > 10: full by bytes.
        assert_eq!(
            queue.push(&message(7), SlowSubscriber::Drop),
            Pushed::Dropped
        );
        assert_eq!(
            queue.push(&message(6), SlowSubscriber::Drop),
            Pushed::Queued
        );
        assert_eq!(queue.queued(), (2, 10));
    }

    #[test]
    fn an_empty_queue_takes_a_message_larger_than_its_byte_capacity() {
        let queue = Queue::new(SMALL);
        assert_eq!(
            queue.push(&message(100), SlowSubscriber::Drop),
            Pushed::Queued
        );
        assert_eq!(
            queue.push(&message(1), SlowSubscriber::Drop),
            Pushed::Dropped
        );
    }

    #[test]
    fn the_close_policy_lets_go_of_the_queue_and_orders_a_close_once() {
        let queue = Queue::new(SMALL);
        let code = CloseCode::TRY_AGAIN_LATER;
        queue.push(&message(1), SlowSubscriber::Close(code));
        queue.push(&message(1), SlowSubscriber::Close(code));
        assert_eq!(
            queue.push(&message(1), SlowSubscriber::Close(code)),
            Pushed::Closed
        );
        assert_eq!(queue.queued(), (0, 0));
        assert!(matches!(queue.pop(Waker::noop()), Some(Next::Close(c)) if c == code));
        assert!(queue.pop(Waker::noop()).is_none());
        assert_eq!(queue.push(&message(1), SlowSubscriber::Drop), Pushed::Gone);
    }

    #[test]
    fn a_finished_queue_takes_nothing() {
        let queue = Queue::new(SMALL);
        queue.push(&message(1), SlowSubscriber::Drop);
        queue.finish();
        assert_eq!(queue.queued(), (0, 0));
        assert_eq!(queue.push(&message(1), SlowSubscriber::Drop), Pushed::Gone);
        assert!(!queue.has_next());
    }
}
