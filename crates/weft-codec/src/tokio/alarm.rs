//! The connection's timer: one deadline at a time (the earliest of the closing handshake,
//! keepalive and buffer release deadlines), kept by a shared timer thread, or by tokio's
//! timer when the runtime's clock is paused.
//!
//! Why not always tokio's timer: while any tokio timer is pending, the runtime waits for I/O
//! with `epoll_wait` and a timeout, and the kernel arms and cancels a high-resolution timer
//! for each such wait. A connection that echoes one message at a time waits once per message,
//! and its keepalive deadline is always pending: on a virtual machine that was about 2 µs of
//! system time per message, 8 % of a 20-byte echo. Deadlines kept by a thread of their own
//! leave the runtime waiting without a timeout; the thread itself wakes only when a deadline
//! is due (a keepalive deadline that traffic moved on costs one wake-up per interval).
//!
//! Why tokio's timer when the clock is paused: tests written with `start_paused` (ours and
//! our users') expect a connection's timeouts to follow tokio's clock, which only tokio's own
//! timers do.

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::task::{Poll, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use ::tokio::time::Sleep;
use atomic_waker::AtomicWaker;

use super::WakeGate;

/// Which clock a connection's deadlines follow, chosen when it first needs a timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Clock {
    /// The real clock; deadlines are kept by the shared timer thread.
    Real,
    /// tokio's clock, which a test has paused; deadlines are kept by tokio's timer.
    Paused,
}

impl Clock {
    /// Looks at the current runtime's clock: paused if it stands still while real time passes.
    /// (tokio has no call that says so; outside a runtime, tokio's clock is the real one.)
    pub(super) fn of_runtime() -> Self {
        let before = ::tokio::time::Instant::now();
        // A running clock has almost always moved on by the next reading (nanosecond
        // resolution); only when it has not is it worth watching a little longer.
        if ::tokio::time::Instant::now() != before {
            return Self::Real;
        }
        let real = Instant::now();
        while real.elapsed() < Duration::from_micros(2) {
            std::hint::spin_loop();
        }
        if ::tokio::time::Instant::now() == before {
            Self::Paused
        } else {
            Self::Real
        }
    }

    /// The time now on this clock.
    pub(super) fn now(self) -> Instant {
        match self {
            Self::Real => Instant::now(),
            Self::Paused => ::tokio::time::Instant::now().into_std(),
        }
    }
}

/// A deadline that wakes the task polling it once it has passed.
pub(super) enum Alarm {
    Shared(SharedAlarm),
    Tokio {
        sleep: Pin<Box<Sleep>>,
        gate: WakeGate,
    },
}

impl Alarm {
    pub(super) fn new(clock: Clock, deadline: Instant) -> Self {
        match (clock, TimerThread::get()) {
            (Clock::Real, Some(timers)) => Self::Shared(SharedAlarm::new(timers, deadline)),
            // tokio's timer also stands in when the thread could not be started.
            _ => Self::Tokio {
                sleep: Box::pin(::tokio::time::sleep_until(deadline.into())),
                gate: WakeGate::new(),
            },
        }
    }

    /// The deadline it is set for.
    pub(super) fn deadline(&self) -> Instant {
        match self {
            Self::Shared(alarm) => alarm.deadline,
            Self::Tokio { sleep, .. } => sleep.deadline().into_std(),
        }
    }

    /// Sets it for `deadline` instead, whether or not it fired.
    pub(super) fn reset(&mut self, deadline: Instant) {
        match self {
            Self::Shared(alarm) => alarm.reset(deadline),
            Self::Tokio { sleep, gate } => {
                sleep.as_mut().reset(deadline.into());
                gate.reopen();
            }
        }
    }

    /// Ready once the deadline has passed; until then `task` is woken when it does.
    pub(super) fn poll(&mut self, task: &Waker) -> Poll<()> {
        match self {
            Self::Shared(alarm) => alarm.poll(task),
            Self::Tokio { sleep, gate } => gate.poll(sleep.as_mut(), task),
        }
    }
}

/// A deadline kept by the shared timer thread.
pub(super) struct SharedAlarm {
    timers: &'static TimerThread,
    state: Arc<AlarmState>,
    deadline: Instant,
}

struct AlarmState {
    /// Which setting of the alarm is current: the thread fires an entry only if it matches.
    generation: AtomicU64,
    fired: AtomicBool,
    task: AtomicWaker,
}

impl SharedAlarm {
    fn new(timers: &'static TimerThread, deadline: Instant) -> Self {
        let state = Arc::new(AlarmState {
            generation: AtomicU64::new(0),
            fired: AtomicBool::new(false),
            task: AtomicWaker::new(),
        });
        let mut queue = timers.lock();
        queue.alarms += 1;
        queue.schedule(&timers.thread, deadline, 0, Arc::downgrade(&state));
        drop(queue);
        Self {
            timers,
            state,
            deadline,
        }
    }

    pub(super) fn reset(&mut self, deadline: Instant) {
        // The entry for the old deadline stays queued until it is due; its generation no
        // longer matches, so it fires nothing.
        let generation = self.state.generation.fetch_add(1, Ordering::AcqRel) + 1;
        self.state.fired.store(false, Ordering::Release);
        self.deadline = deadline;
        self.timers.lock().schedule(
            &self.timers.thread,
            deadline,
            generation,
            Arc::downgrade(&self.state),
        );
    }

    pub(super) fn poll(&self, task: &Waker) -> Poll<()> {
        if self.state.fired.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        self.state.task.register(task);
        // Fired between the first look and the registration: its wake-up may have missed us.
        if self.state.fired.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl Drop for SharedAlarm {
    fn drop(&mut self) {
        self.timers.lock().alarms -= 1;
    }
}

/// The thread that keeps every shared alarm's deadline, started by the first one.
struct TimerThread {
    queue: Mutex<Queue>,
    thread: Thread,
}

struct Queue {
    entries: BinaryHeap<Entry>,
    /// When the thread will next look at the queue (`None`: when it is woken).
    wake_at: Option<Instant>,
    /// Alarms alive: entries beyond twice this many are mostly stale, and are swept.
    alarms: usize,
}

/// Entries of alarms that were dropped or reset stay queued until they are due, or until a
/// sweep; a sweep is due when the queue holds more than this many beyond twice the alarms.
const SWEEP_SLACK: usize = 64;

impl TimerThread {
    /// The thread, started on first use; `None` if it could not be started (the process is
    /// out of threads or memory).
    fn get() -> Option<&'static Self> {
        static TIMERS: OnceLock<Option<TimerThread>> = OnceLock::new();
        TIMERS
            .get_or_init(|| {
                let thread = thread::Builder::new()
                    .name("weft-timer".to_owned())
                    .spawn(|| {
                        if let Some(timers) = TimerThread::get() {
                            timers.run();
                        }
                    })
                    .ok()?
                    .thread()
                    .clone();
                Some(Self {
                    queue: Mutex::new(Queue {
                        entries: BinaryHeap::new(),
                        wake_at: None,
                        alarms: 0,
                    }),
                    thread,
                })
            })
            .as_ref()
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn run(&self) -> ! {
        let mut due = Vec::new();
        loop {
            let mut queue = self.lock();
            let now = Instant::now();
            while queue
                .entries
                .peek()
                .is_some_and(|entry| entry.deadline <= now)
            {
                due.extend(queue.entries.pop());
            }
            queue.wake_at = queue.entries.peek().map(|entry| entry.deadline);
            let wake_at = queue.wake_at;
            drop(queue);
            // Wake outside the lock: a waker may take a while, and alarms are set meanwhile.
            for entry in due.drain(..) {
                entry.fire();
            }
            // An alarm set for an earlier time after the lock was released unparks the
            // thread, and `park` then returns at once.
            match wake_at {
                Some(at) => thread::park_timeout(at.saturating_duration_since(Instant::now())),
                None => thread::park(),
            }
        }
    }
}

impl Queue {
    /// Queues `alarm`'s entry for `deadline`; wakes `thread` if it is now the earliest.
    fn schedule(
        &mut self,
        thread: &Thread,
        deadline: Instant,
        generation: u64,
        alarm: Weak<AlarmState>,
    ) {
        if self.entries.len() > 2 * self.alarms + SWEEP_SLACK {
            self.entries.retain(Entry::is_current);
        }
        self.entries.push(Entry {
            deadline,
            generation,
            alarm,
        });
        if self.wake_at.is_none_or(|at| deadline < at) {
            self.wake_at = Some(deadline);
            thread.unpark();
        }
    }
}

struct Entry {
    deadline: Instant,
    generation: u64,
    alarm: Weak<AlarmState>,
}

impl Entry {
    /// The alarm is alive and still set for this entry's deadline.
    fn is_current(&self) -> bool {
        self.alarm.upgrade().is_some_and(|alarm| {
            alarm.generation.load(Ordering::Acquire) == self.generation
                && !alarm.fired.load(Ordering::Acquire)
        })
    }

    /// A reset that races this may be told "fired" for its new deadline; the connection
    /// then finds nothing due (`Connection::handle_timeout` acts only on expired timers) and
    /// sets the alarm again.
    fn fire(self) {
        let Some(alarm) = self.alarm.upgrade() else {
            return;
        };
        if alarm.generation.load(Ordering::Acquire) == self.generation {
            alarm.fired.store(true, Ordering::Release);
            alarm.task.wake();
        }
    }
}

// The heap's top is the earliest deadline.
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        other.deadline.cmp(&self.deadline)
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.deadline == other.deadline
    }
}

impl Eq for Entry {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    /// Counts its wake-ups.
    struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn timers() -> &'static TimerThread {
        TimerThread::get().expect("the timer thread starts")
    }

    fn counter() -> (Arc<Counter>, Waker) {
        let counter = Arc::new(Counter(AtomicUsize::new(0)));
        (counter.clone(), Waker::from(counter))
    }

    /// Waits (at most 10 s, a bound for a stuck test, not a timing claim) until `done`.
    fn wait_until(mut done: impl FnMut() -> bool) -> bool {
        let give_up = Instant::now() + Duration::from_secs(10);
        while Instant::now() < give_up {
            if done() {
                return true;
            }
            thread::sleep(Duration::from_millis(1));
        }
        false
    }

    #[test]
    fn a_shared_alarm_wakes_its_task_once_due() {
        let (wakes, waker) = counter();
        let deadline = Instant::now() + Duration::from_millis(20);
        let alarm = SharedAlarm::new(timers(), deadline);
        // A slow machine (Miri) may reach the first poll after the deadline: then it is ready.
        if alarm.poll(&waker).is_pending() {
            assert!(wait_until(|| wakes.0.load(Ordering::SeqCst) == 1));
        }
        assert!(alarm.poll(&waker).is_ready());
        assert!(Instant::now() >= deadline);
    }

    #[test]
    fn an_earlier_deadline_wakes_the_thread_from_a_later_one() {
        let (wakes, waker) = counter();
        // The thread sleeps towards an hour from now...
        let mut alarm = SharedAlarm::new(timers(), Instant::now() + Duration::from_secs(3600));
        assert!(alarm.poll(&waker).is_pending());
        // ...and must wake up for this.
        alarm.reset(Instant::now() + Duration::from_millis(10));
        assert!(wait_until(|| alarm.poll(&waker).is_ready()));
        // The thread marks the alarm fired, then wakes the task: a poll in between (Miri's
        // scheduling makes that window wide) is ready before the wake-up arrives.
        assert!(wait_until(|| wakes.0.load(Ordering::SeqCst) == 1));
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1, "woken once");
    }

    #[test]
    fn an_entry_for_a_deadline_since_moved_fires_nothing() {
        let (wakes, waker) = counter();
        let far = Instant::now() + Duration::from_secs(3600);
        let mut alarm = SharedAlarm::new(timers(), far);
        assert!(alarm.poll(&waker).is_pending());
        alarm.reset(far + Duration::from_secs(60));
        // The entry queued for the first deadline, coming due: it is stale.
        let stale = Entry {
            deadline: far,
            generation: 0,
            alarm: Arc::downgrade(&alarm.state),
        };
        assert!(!stale.is_current());
        stale.fire();
        assert!(alarm.poll(&waker).is_pending());
        assert_eq!(wakes.0.load(Ordering::SeqCst), 0);
        // The current one fires.
        let current = Entry {
            deadline: far + Duration::from_secs(60),
            generation: 1,
            alarm: Arc::downgrade(&alarm.state),
        };
        assert!(current.is_current());
        current.fire();
        assert!(alarm.poll(&waker).is_ready());
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn dropped_alarms_do_not_pile_up_in_the_queue() {
        let far = Instant::now() + Duration::from_secs(3600);
        for _ in 0..10 {
            let alarms: Vec<_> = (0..1000).map(|_| SharedAlarm::new(timers(), far)).collect();
            drop(alarms);
        }
        // Other tests' alarms share the queue; a sweep leaves at most a few hundred.
        let kept = SharedAlarm::new(timers(), far);
        let queued = timers().lock().entries.len();
        assert!(queued < 1000, "{queued} entries queued");
        drop(kept);
    }

    #[tokio::test(start_paused = true)]
    async fn a_paused_runtime_clock_is_seen() {
        assert_eq!(Clock::of_runtime(), Clock::Paused);
    }

    #[tokio::test]
    async fn a_running_runtime_clock_is_real() {
        assert_eq!(Clock::of_runtime(), Clock::Real);
    }

    #[test]
    fn outside_a_runtime_the_clock_is_real() {
        assert_eq!(Clock::of_runtime(), Clock::Real);
    }
}
