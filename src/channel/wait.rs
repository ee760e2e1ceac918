//! Blocking and waking: [`Backoff`] for the moment before a thread blocks,
//! and [`WaitList`] for the threads blocked on one side of a queue.
//!
//! chanio does its own blocking instead of using crossbeam's blocking
//! `send`/`recv` or a `Select`: a thread blocked on a path must be woken by
//! the other side's progress *and* by `delete`, `close` and the end of the
//! stream, and one wait list per side does both with a single registration.

use std::hint;
use std::sync::atomic::{AtomicUsize, Ordering, fence};
use std::thread;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

/// Waits a moment between tries before blocking: one spin hint, then a
/// bounded number of yields of the processor, then says to stop.
///
/// Crossbeam spins for up to 127 spin hints before it yields. On two cores
/// with eight reader threads that spinning halved the deliveries per
/// second, and one writer and one reader ran a quarter slower: time spent
/// spinning is time the thread it waits for cannot run. Yielding hands the
/// core over, and with a busy peer the room or the message is usually there
/// when the yield returns, so no futex round trip is paid.
pub(crate) struct Backoff {
    step: u32,
}

impl Backoff {
    /// How many times to yield before blocking.
    const YIELDS: u32 = 10;

    pub(crate) fn new() -> Backoff {
        Backoff { step: 0 }
    }

    /// Waits a little; `false` once the caller should stop trying and block.
    pub(crate) fn snooze(&mut self) -> bool {
        match self.step {
            0 => hint::spin_loop(),
            step if step <= Backoff::YIELDS => thread::yield_now(),
            _ => return false,
        }
        self.step += 1;
        true
    }
}

/// Threads blocked until the other side of a queue makes progress, or the
/// path changes (ends, is deleted, is closed).
///
/// A waiter registers, then retries its operation, then sleeps; a party
/// that made progress publishes it, then looks at the count of waiters and
/// wakes one only if there is one. The fences on both sides make sure that
/// either the waiter's retry sees the progress or the other side sees the
/// waiter, so no wake-up is lost, and a side with nobody waiting pays one
/// fence and one load.
pub(crate) struct WaitList {
    /// Threads inside [`WaitList::wait`]; what stats show as waiting.
    waiting: AtomicUsize,
    /// Held by a waiter while it retries and until it sleeps, and by a
    /// waker while it signals, so a signal cannot fall between a waiter's
    /// last retry and its sleep. Protects nothing else.
    lock: Mutex<()>,
    wake: Condvar,
}

impl WaitList {
    pub(crate) fn new() -> WaitList {
        WaitList {
            waiting: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        }
    }

    /// How many threads are blocked here now.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Wakes one waiter, if any: call after making the progress it waits for.
    #[inline]
    pub(crate) fn notify_one(&self) {
        // Pairs with the fence in `wait`: the progress just published is
        // ordered before this load of the count.
        fence(Ordering::SeqCst);
        if self.waiting.load(Ordering::Relaxed) != 0 {
            self.signal(false);
        }
    }

    /// Wakes every waiter: for changes of the path itself, which every
    /// waiter must see. Always takes the lock, so it cannot miss a waiter
    /// that registered before the change was published.
    pub(crate) fn notify_all(&self) {
        self.signal(true);
    }

    #[cold]
    fn signal(&self, all: bool) {
        let _held = self.lock.lock();
        if all {
            self.wake.notify_all();
        } else {
            self.wake.notify_one();
        }
    }

    /// Blocks until `attempt` returns `Some`, retrying it each time the
    /// thread is woken, or until `deadline` passes (then `attempt` gets one
    /// last try and its answer is returned). `attempt` must not block.
    pub(crate) fn wait<T>(
        &self,
        deadline: Option<Instant>,
        mut attempt: impl FnMut() -> Option<T>,
    ) -> Option<T> {
        let mut held = self.lock.lock();
        self.waiting.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let result = loop {
            if let Some(done) = attempt() {
                break Some(done);
            }
            match deadline {
                None => self.wake.wait(&mut held),
                Some(deadline) => {
                    if self.wake.wait_until(&mut held, deadline).timed_out() {
                        break attempt();
                    }
                }
            }
        };
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        result
    }
}
