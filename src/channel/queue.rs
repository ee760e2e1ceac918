//! The queue flavor of a path: a bounded [`Ring`] of messages (capacity at
//! least 1), with chanio's own blocking on both sides.
//!
//! Every send and receive is one lock-free attempt on the ring.
//! A side that finds the queue full or empty keeps trying for a moment
//! ([`Backoff`]) and then blocks on its [`WaitList`], which the other side
//! signals after each operation that could unblock it, and which a change
//! of the path (its end, `delete`, `close`) signals to all.
//!
//! # The send gate
//!
//! A send must not land once a reader may have seen the end of the stream.
//! So every send runs inside a gate: the sender raises its own flag (each
//! writer and each broadcaster has one per path, in a cache line of its
//! own, so senders never contend on it) with a sequentially consistent
//! swap (a broadcast raises all of its flags, then issues one fence),
//! checks that the path is not closing, sends, and lowers the flag.
//! Closing sets the closing bit with a sequentially consistent
//! read-modify-write, issues a fence and waits until no flag is raised:
//! after that every send that will land has landed, and the path can be
//! made final.

use std::collections::VecDeque;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
use std::thread;
use std::time::Instant;

use parking_lot::Mutex;

use crate::channel::ring::Ring;
use crate::channel::state::State;
use crate::channel::wait::{Backoff, WaitList};
use crate::message::Body;

/// Keeps a value in a cache line of its own, so that the threads writing
/// it do not slow down the threads reading its neighbours.
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Why a send did not happen.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SendFailure {
    /// The path is closing (its stream ended, or it was cancelled).
    Closing,
    /// The queue was full and the caller asked not to wait.
    Full,
    /// The queue stayed full until the deadline.
    TimedOut,
}

/// What a receive found.
pub(crate) enum Received {
    Message(Body),
    /// The path is final and nothing is left.
    End,
    TimedOut,
}

/// Who is sending, for the send gate: a writer or broadcaster, by its own
/// in-flight flag.
#[derive(Clone, Copy)]
pub(crate) enum Gate<'a> {
    Writer(&'a AtomicBool),
}

/// One attempt to send.
enum Attempt {
    Sent,
    Full(Body),
    Closing,
}

pub(crate) struct Queue {
    /// Made by the first send: a ring allocates its slots when it is made,
    /// a program may have many paths, and an idle one needs none (100,000
    /// paths that never got a message took 387 MiB with their queues made
    /// up front). Until then the queue is empty. A reader that finds it
    /// unmade is in the same place as one that finds it empty, which the
    /// send's fence before it wakes readers covers. Boxed: a ring's two
    /// padded counters would make every idle path 300 bytes bigger (100,000
    /// such paths took 156 MiB, against 107 MiB boxed).
    ring: OnceLock<Box<Ring>>,
    capacity: usize,
    /// Messages readers peeked at and handed back when they closed.
    returned: Returned,
    /// Readers blocked on an empty queue.
    readers: Padded<WaitList>,
    /// Writers and broadcasts blocked on a full queue.
    writers: Padded<WaitList>,
}

impl Queue {
    pub(crate) fn new(capacity: usize) -> Queue {
        debug_assert!(capacity > 0, "a hand-off is its own flavor");
        Queue {
            ring: OnceLock::new(),
            capacity,
            returned: Returned::default(),
            readers: Padded(WaitList::new()),
            writers: Padded(WaitList::new()),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The ring, made now if no send has made it yet.
    #[inline]
    fn ring(&self) -> &Ring {
        self.ring.get_or_init(|| Box::new(Ring::new(self.capacity)))
    }

    /// Takes the next queued message, if there is one.
    #[inline(always)]
    fn take(&self) -> Option<Body> {
        self.ring.get()?.take()
    }

    /// Sends `message`, waiting for room until `deadline` (forever if
    /// `None`) unless `wait` is false.
    #[inline]
    pub(crate) fn send(
        &self,
        gate: Gate<'_>,
        state: &State,
        message: Body,
        wait: bool,
        deadline: Option<Instant>,
    ) -> Result<(), SendFailure> {
        match self.try_send(gate, state, message) {
            Attempt::Sent => {
                self.readers.notify_one();
                Ok(())
            }
            Attempt::Full(message) if wait => self.send_waiting(gate, state, message, deadline),
            Attempt::Full(_) => Err(SendFailure::Full),
            Attempt::Closing => Err(SendFailure::Closing),
        }
    }

    /// One send through the gate.
    #[inline]
    fn try_send(&self, gate: Gate<'_>, state: &State, message: Body) -> Attempt {
        let Gate::Writer(flag) = gate;
        // A sequentially consistent swap, then a sequentially consistent
        // load of the closing bit (in `attempt`), pair with the closer's
        // read-modify-write, fence and loads in `quiesce`: either this send
        // sees the bit, or the closer sees the flag raised. (A swap costs a
        // little less than a store and a fence.)
        flag.swap(true, Ordering::SeqCst);
        let attempt = self.attempt(state, message);
        flag.store(false, Ordering::Release);
        attempt
    }

    /// One send, by a caller inside the gate.
    #[inline(always)]
    fn attempt(&self, state: &State, message: Body) -> Attempt {
        // Not written on top of `claim_in_gate`: going through its
        // `Result` made spsc_small 13% slower (alternating --quick runs).
        if state.is_closing() {
            return Attempt::Closing;
        }
        let ring = self.ring();
        match ring.claim() {
            Some(position) => {
                ring.fill(position, message);
                Attempt::Sent
            }
            None => Attempt::Full(message),
        }
    }

    /// The first step of a send without waiting, by a caller that has
    /// raised its flag and fenced (once for a batch of paths): a position
    /// claimed for the message, which the caller must
    /// [`fill`](Queue::fill) before it lowers its flag and calls
    /// [`wake_reader_after_send`](Queue::wake_reader_after_send), and
    /// without blocking on anything first.
    #[inline(always)]
    pub(crate) fn claim_in_gate(&self, state: &State) -> Result<u64, SendFailure> {
        if state.is_closing() {
            return Err(SendFailure::Closing);
        }
        self.ring().claim().ok_or(SendFailure::Full)
    }

    /// The second step: `message` at the `position` claimed for it.
    #[inline(always)]
    pub(crate) fn fill(&self, position: u64, message: Body) {
        self.ring().fill(position, message);
    }

    /// Wakes a waiting reader, if any, after a batch of
    /// [`fill`](Queue::fill)s, which the caller has followed with a
    /// sequentially consistent fence (once for the batch; see
    /// [`Ring`]).
    #[inline]
    pub(crate) fn wake_reader_after_send(&self) {
        self.readers.notify_one_after_fence();
    }

    /// [`send`](Queue::send) once the queue was found full.
    #[inline(never)]
    fn send_waiting(
        &self,
        gate: Gate<'_>,
        state: &State,
        mut message: Body,
        deadline: Option<Instant>,
    ) -> Result<(), SendFailure> {
        let mut backoff = Backoff::new();
        while backoff.snooze() {
            match self.try_send(gate, state, message) {
                Attempt::Sent => {
                    self.readers.notify_one();
                    return Ok(());
                }
                Attempt::Full(back) => message = back,
                Attempt::Closing => return Err(SendFailure::Closing),
            }
        }
        let mut pending = Some(message);
        let outcome = self.writers.wait(deadline, || {
            let message = pending.take()?;
            match self.try_send(gate, state, message) {
                Attempt::Sent => Some(Ok(())),
                Attempt::Full(back) => {
                    pending = Some(back);
                    None
                }
                Attempt::Closing => Some(Err(SendFailure::Closing)),
            }
        });
        match outcome {
            Some(Ok(())) => {
                // Signalled only now: doing it inside `wait` would take the
                // readers' lock under the writers' one.
                self.readers.notify_one();
                Ok(())
            }
            Some(Err(failure)) => Err(failure),
            None => Err(SendFailure::TimedOut),
        }
    }

    /// The next queued message if one is there now, without waiting: the
    /// fast path of every receive, tried before [`recv`](Queue::recv).
    /// `None` too while messages handed back by a closing reader wait,
    /// which `recv` takes first. That takes one relaxed load: handed-back
    /// messages are rare, and a reader that misses one that was just
    /// handed back takes the next queued message instead (the guide says
    /// so).
    #[inline(always)]
    pub(crate) fn take_now(&self) -> Option<Body> {
        if self.returned.count.load(Ordering::Relaxed) != 0 {
            return None;
        }
        let message = self.take()?;
        self.writers.notify_one_after_channel_op();
        Some(message)
    }

    /// The next message, for a reader that [`take_now`](Queue::take_now)
    /// gave none: waits until `deadline` (forever if `None`); once the path
    /// is final, what is left and then [`Received::End`].
    #[inline(never)]
    pub(crate) fn recv(&self, state: &State, deadline: Option<Instant>) -> Received {
        // The caller has just found the queue empty: yield first, and
        // look again only after that. Each look at an empty queue reads the
        // words the next send writes, making the sender wait for them, and
        // a spin hint is too short for the message to come.
        let mut backoff = Backoff::yielding();
        let found = loop {
            if !backoff.snooze() {
                break self.readers.wait(deadline, || self.try_recv(state));
            }
            if let Some(found) = self.try_recv(state) {
                break Some(found);
            }
        };
        match found {
            Some(Received::Message(message)) => {
                self.writers.notify_one_after_channel_op();
                Received::Message(message)
            }
            Some(other) => other,
            None => Received::TimedOut,
        }
    }

    /// One receive: a handed-back message first, then the queue, then the
    /// end if the path is final. `None` if there is nothing yet.
    fn try_recv(&self, state: &State) -> Option<Received> {
        // Read before trying: once `FINAL` shows, every send that will land
        // is in the queue, so a queue found empty after it stays empty.
        let is_final = state.is_final();
        if let Some(message) = self.returned.pop() {
            return Some(Received::Message(message));
        }
        match self.take() {
            Some(message) => Some(Received::Message(message)),
            None if is_final => Some(Received::End),
            None => None,
        }
    }

    /// Hands a message a closing reader only peeked at back to the path,
    /// ahead of what is queued, and wakes a reader for it.
    pub(crate) fn hand_back(&self, message: Body) {
        self.returned.push(message);
        self.readers.notify_one();
    }

    /// Waits until every send inside the gate has left it. Called with the
    /// closing bit already set, so no new send can get in.
    pub(crate) fn quiesce<'a>(&self, writer_flags: impl Iterator<Item = &'a AtomicBool> + Clone) {
        // Pairs with the swap in `try_send` and the fence of a broadcast
        // batch.
        fence(Ordering::SeqCst);
        loop {
            let busy = writer_flags.clone().any(|flag| flag.load(Ordering::SeqCst));
            if !busy {
                return;
            }
            // A send inside the gate never blocks: it is only waiting for
            // its thread to be scheduled again.
            thread::yield_now();
        }
    }

    /// Wakes every blocked reader and writer, to look at the path again.
    pub(crate) fn wake_all(&self) {
        self.readers.notify_all();
        self.writers.notify_all();
    }

    /// Frees every queued message: for a cancelled path nobody will read.
    pub(crate) fn discard(&self) {
        while self.take().is_some() {}
        self.returned.clear();
    }

    /// Messages waiting to be read.
    pub(crate) fn len(&self) -> usize {
        self.ring.get().map_or(0, |ring| ring.len()) + self.returned.count.load(Ordering::Relaxed)
    }

    pub(crate) fn waiting_readers(&self) -> usize {
        self.readers.waiting()
    }

    pub(crate) fn waiting_writers(&self) -> usize {
        self.writers.waiting()
    }
}

/// Messages handed back by closing readers, read before the queue.
#[derive(Default)]
pub(crate) struct Returned {
    /// How many are in `messages`; read without the lock on every receive.
    count: AtomicUsize,
    /// Protects the messages themselves.
    messages: Mutex<VecDeque<Body>>,
}

impl Returned {
    pub(crate) fn push(&self, message: Body) {
        let mut messages = self.messages.lock();
        messages.push_back(message);
        self.count.store(messages.len(), Ordering::SeqCst);
    }

    pub(crate) fn pop(&self) -> Option<Body> {
        if self.count.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut messages = self.messages.lock();
        let message = messages.pop_front();
        self.count.store(messages.len(), Ordering::Release);
        message
    }

    pub(crate) fn clear(&self) {
        let mut messages = self.messages.lock();
        messages.clear();
        self.count.store(0, Ordering::Release);
    }
}
