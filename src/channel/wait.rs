//! Blocking and waking: [`Backoff`] for the moment before a thread blocks,
//! and [`WaitList`] for the threads blocked on one side of a queue.
//!
//! chanio does its own blocking, as a blocking channel's `send`/`recv` and
//! a `Select` over two could not: a thread blocked on a path must be woken by
//! the other side's progress *and* by `delete`, `close` and the end of the
//! stream, and one wait list per side does both with a single registration.

use std::collections::VecDeque;
use std::hint;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Waits a moment between tries before blocking: one spin hint, then
/// yields of the processor — at least [`Backoff::YIELDS`] of them and for
/// at least [`Backoff::YIELD_FOR`] — then says to stop.
///
/// Crossbeam spins for up to 127 spin hints before it yields. On two cores
/// with eight reader threads that spinning halved the deliveries per
/// second (and more spinning cost `fanout` a fifth to a third, measured
/// again for 0.2): time spent spinning is time the thread it waits for
/// cannot run. Yielding hands the core over, and with a busy peer the room
/// or the message is usually there when the yield returns, so no futex
/// round trip is paid. The time bound is for the hand-off, where a waiter
/// that parks makes its partner pay a wake-up for every message: yielding
/// for 20 µs before parking made `handoff` seven times faster (0.18 to
/// 1.3 M messages/s) and `pipeline` and `mpmc` a little faster, and cost
/// nothing measurable elsewhere.
pub(crate) struct Backoff {
    step: u32,
    /// When the yielding began.
    yielding_since: Option<Instant>,
}

impl Backoff {
    /// How many times to yield, at least, before blocking.
    const YIELDS: u32 = 10;
    /// How long to keep yielding, at least, before blocking.
    const YIELD_FOR: Duration = Duration::from_micros(20);

    pub(crate) fn new() -> Backoff {
        Backoff {
            step: 0,
            yielding_since: None,
        }
    }

    /// A backoff that yields from the first snooze, with no spin hint.
    pub(crate) fn yielding() -> Backoff {
        Backoff {
            step: 1,
            yielding_since: None,
        }
    }

    /// Waits a little; `false` once the caller should stop trying and block.
    pub(crate) fn snooze(&mut self) -> bool {
        if self.step == 0 {
            hint::spin_loop();
        } else {
            let since = *self.yielding_since.get_or_insert_with(Instant::now);
            if self.step > Backoff::YIELDS && since.elapsed() >= Backoff::YIELD_FOR {
                return false;
            }
            thread::yield_now();
        }
        self.step += 1;
        true
    }
}

/// Threads blocked until the other side of a queue makes progress, or the
/// path changes (ends, is deleted, is closed).
///
/// A waiter joins the line, then retries its operation, then parks; a
/// party that made progress publishes it, then looks at the number of
/// waiters in line and, only if there is one, takes the first out of the
/// line and unparks it. The fences on both sides make sure that either the
/// waiter's retry sees the progress or the other side sees the waiter, so
/// no wake-up is lost, and a side with nobody waiting pays one fence and
/// one load. Taking the woken waiter out of the line at once means a burst
/// of sends wakes it once, not once per send, and the woken thread needs
/// no lock to get going.
pub(crate) struct WaitList {
    /// Waiters in line, not yet woken: what `notify_one` looks at.
    in_line: AtomicUsize,
    /// Threads in [`wait`](WaitList::wait) on this side: what stats show.
    /// Not counted while they spin and yield first: that is a moment, and
    /// a count written at every empty or full queue made the other side's
    /// look at `in_line`, in the same cache line, miss.
    blocked: AtomicUsize,
    /// Protects the line.
    line: Mutex<VecDeque<Arc<Waiter>>>,
}

struct Waiter {
    thread: Thread,
    /// Set by whoever takes it out of the line to wake it.
    woken: AtomicBool,
}

impl WaitList {
    pub(crate) fn new() -> WaitList {
        WaitList {
            in_line: AtomicUsize::new(0),
            blocked: AtomicUsize::new(0),
            line: Mutex::new(VecDeque::new()),
        }
    }

    /// How many threads are blocked here now.
    pub(crate) fn waiting(&self) -> usize {
        self.blocked.load(Ordering::Relaxed)
    }

    /// Counts the calling thread as blocked until the guard is dropped.
    fn blocked(&self) -> Blocked<'_> {
        self.blocked.fetch_add(1, Ordering::Relaxed);
        Blocked(&self.blocked)
    }

    /// Wakes one waiter, if any: call after making the progress it waits for.
    #[inline]
    pub(crate) fn notify_one(&self) {
        // Pairs with the fence in `wait`: the progress just published is
        // ordered before this load of the count.
        fence(Ordering::SeqCst);
        if self.in_line.load(Ordering::Relaxed) != 0 {
            self.wake(1);
        }
    }

    /// [`notify_one`](WaitList::notify_one) for the writers' list, right
    /// after a successful receive from the queue's
    /// [`Ring`](crate::channel::ring::Ring), which is the progress a writer
    /// waits for.
    ///
    /// The fence `notify_one` issues made a message cost a fifth more
    /// (measured on crossbeam's channel, which the ring follows here:
    /// `spsc_small` at 0.74-0.93x crossbeam with it, 0.97-1.08x without,
    /// same runs), so on x86-64 it is left out, for this reason: a receive
    /// claims its slot with a sequentially consistent compare-exchange (on
    /// x86 a locked instruction, which orders every later load after it,
    /// and keeps the compiler from moving this load before it), and a send
    /// does not report "full" while a slot has been claimed by a receive
    /// but not yet freed: it waits for it. So either this load sees the
    /// waiter's place in line, or the waiter's retry, which comes after its
    /// own locked increment of the count, sees the claimed slot and gets
    /// through. Elsewhere the fence stays. (A receive does report "empty"
    /// for a slot claimed by a send and not yet filled, so a send wakes
    /// readers with the fence.)
    #[inline]
    pub(crate) fn notify_one_after_channel_op(&self) {
        #[cfg(not(target_arch = "x86_64"))]
        fence(Ordering::SeqCst);
        if self.in_line.load(Ordering::Relaxed) != 0 {
            self.wake(1);
        }
    }

    /// [`notify_one`](WaitList::notify_one) for a caller that has just
    /// issued the sequentially consistent fence itself (once after a batch
    /// of sends to many paths).
    #[inline]
    pub(crate) fn notify_one_after_fence(&self) {
        if self.in_line.load(Ordering::Relaxed) != 0 {
            self.wake(1);
        }
    }

    /// Wakes every waiter: for changes of the path itself, which every
    /// waiter must see.
    pub(crate) fn notify_all(&self) {
        fence(Ordering::SeqCst);
        self.wake(usize::MAX);
    }

    #[cold]
    fn wake(&self, mut count: usize) {
        let mut line = self.line.lock();
        while count > 0 {
            let Some(waiter) = line.pop_front() else {
                break;
            };
            self.in_line.fetch_sub(1, Ordering::Relaxed);
            waiter.woken.store(true, Ordering::Release);
            waiter.thread.unpark();
            count -= 1;
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
        let _blocked = self.blocked();
        let me = Arc::new(Waiter {
            thread: thread::current(),
            woken: AtomicBool::new(false),
        });
        loop {
            self.join(&me);
            if let Some(done) = attempt() {
                self.leave(&me);
                break Some(done);
            }
            if !park_until_woken(&me, deadline) {
                // Timed out. If a waker took it out of the line meanwhile,
                // the progress it was woken for is there for this last try.
                self.leave(&me);
                break attempt();
            }
            if let Some(done) = attempt() {
                break Some(done);
            }
        }
    }

    fn join(&self, me: &Arc<Waiter>) {
        let mut line = self.line.lock();
        me.woken.store(false, Ordering::Relaxed);
        line.push_back(Arc::clone(me));
        self.in_line.fetch_add(1, Ordering::SeqCst);
        drop(line);
        // Pairs with the fence in `notify_one`.
        fence(Ordering::SeqCst);
    }

    /// Takes `me` out of the line if no waker did.
    fn leave(&self, me: &Arc<Waiter>) {
        if me.woken.load(Ordering::Acquire) {
            return;
        }
        let mut line = self.line.lock();
        if let Some(at) = line.iter().position(|waiter| Arc::ptr_eq(waiter, me)) {
            line.remove(at);
            self.in_line.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// A thread counted as blocked; see [`WaitList::blocked`].
pub(crate) struct Blocked<'a>(&'a AtomicUsize);

impl Drop for Blocked<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Parks until `me` is woken (`true`) or the deadline passes (`false`).
fn park_until_woken(me: &Waiter, deadline: Option<Instant>) -> bool {
    loop {
        if me.woken.load(Ordering::Acquire) {
            return true;
        }
        match deadline {
            None => thread::park(),
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    return me.woken.load(Ordering::Acquire);
                }
                thread::park_timeout(deadline - now);
            }
        }
    }
}
