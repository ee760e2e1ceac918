//! The hand-off flavor of a path (`buffer_size(0)`): no queue at all; a
//! write completes only when a reader takes its message.
//!
//! One lock protects two lines of waiting threads: readers waiting for a
//! message and writers waiting with one. A writer that finds a reader
//! waiting puts its message straight into that reader's slot, wakes it and
//! returns: the message is the reader's from that moment, so a write costs
//! one wake-up, not a round trip. Otherwise the writer joins its line with
//! the message on offer, and the first reader to come takes it. The lock is
//! held only to pair threads up, never while anyone sleeps; a sleeping
//! thread is parked and unparked by its partner.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::thread::{self, Thread};
use std::time::Instant;

use parking_lot::Mutex;

use crate::channel::queue::{Received, SendFailure};
use crate::channel::state::State;
use crate::channel::wait::Backoff;
use crate::message::Body;

pub(crate) struct Handoff {
    /// Protects who is waiting, and the messages handed back by readers.
    lines: Mutex<Lines>,
}

#[derive(Default)]
struct Lines {
    readers: VecDeque<Arc<Waiter>>,
    writers: VecDeque<Arc<Waiter>>,
    /// Messages readers peeked at and handed back when they closed.
    returned: VecDeque<Body>,
}

/// One waiting thread.
struct Waiter {
    thread: Thread,
    /// A waiting writer's message on offer, or the message handed to a
    /// waiting reader. Taken by whoever completes the pairing.
    message: Mutex<Option<Body>>,
    /// `WAITING` until a partner pairs with it (`PAIRED`).
    state: AtomicU8,
}

const WAITING: u8 = 0;
const PAIRED: u8 = 1;

impl Waiter {
    fn new(message: Option<Body>) -> Arc<Waiter> {
        Arc::new(Waiter {
            thread: thread::current(),
            message: Mutex::new(message),
            state: AtomicU8::new(WAITING),
        })
    }

    fn is_paired(&self) -> bool {
        self.state.load(Ordering::Acquire) == PAIRED
    }

    /// Marks it paired and wakes it. Called with `lines` held, so that the
    /// waiter, checking under the lock, sees either still waiting and in
    /// the line, or paired.
    fn pair(&self) {
        self.state.store(PAIRED, Ordering::Release);
        self.thread.unpark();
    }
}

/// Why a waiter stopped waiting without being paired.
enum GaveUp {
    TimedOut,
    Closing,
}

impl Handoff {
    pub(crate) fn new() -> Handoff {
        Handoff {
            lines: Mutex::new(Lines::default()),
        }
    }

    /// Hands `message` to a reader, waiting for one until `deadline` unless
    /// `wait` is false.
    pub(crate) fn send(
        &self,
        state: &State,
        message: Body,
        wait: bool,
        deadline: Option<Instant>,
    ) -> Result<(), SendFailure> {
        let me = {
            let mut lines = self.lines.lock();
            // Checked under the lock: closing takes it after setting the
            // bit, so no hand-off completes after the path is final.
            if state.is_closing() {
                return Err(SendFailure::Closing);
            }
            if let Some(reader) = lines.readers.pop_front() {
                *reader.message.lock() = Some(message);
                reader.pair();
                return Ok(());
            }
            if !wait {
                return Err(SendFailure::Full);
            }
            let me = Waiter::new(Some(message));
            lines.writers.push_back(Arc::clone(&me));
            me
        };
        match self.park_until_paired(&me, state, deadline, |lines| &mut lines.writers) {
            Ok(()) => Ok(()),
            Err(GaveUp::TimedOut) => Err(SendFailure::TimedOut),
            Err(GaveUp::Closing) => Err(SendFailure::Closing),
        }
    }

    /// Takes a message from a writer (or one handed back), waiting for one
    /// until `deadline`; [`Received::End`] once the path is final.
    pub(crate) fn recv(&self, state: &State, deadline: Option<Instant>) -> Received {
        let me = {
            let mut lines = self.lines.lock();
            if let Some(message) = lines.returned.pop_front() {
                return Received::Message(message);
            }
            // A closing path pairs no more: offers still in line are
            // withdrawn by their writers, who report the failure.
            if !state.is_closing() {
                if let Some(writer) = lines.writers.pop_front() {
                    let message = writer.message.lock().take();
                    writer.pair();
                    if let Some(message) = message {
                        return Received::Message(message);
                    }
                }
            }
            if state.is_final() {
                return Received::End;
            }
            let me = Waiter::new(None);
            lines.readers.push_back(Arc::clone(&me));
            me
        };
        match self.park_until_paired(&me, state, deadline, |lines| &mut lines.readers) {
            Ok(()) => match me.message.lock().take() {
                Some(message) => Received::Message(message),
                None => Received::End,
            },
            Err(GaveUp::TimedOut) => Received::TimedOut,
            Err(GaveUp::Closing) => Received::End,
        }
    }

    /// Waits for `me`, queued in the line `line` picks, to be paired; gives
    /// up at the deadline or once the path is final, leaving the line (for
    /// a writer, taking its message back).
    fn park_until_paired(
        &self,
        me: &Arc<Waiter>,
        state: &State,
        deadline: Option<Instant>,
        line: fn(&mut Lines) -> &mut VecDeque<Arc<Waiter>>,
    ) -> Result<(), GaveUp> {
        let mut backoff = Backoff::new();
        loop {
            if me.is_paired() {
                return Ok(());
            }
            let gave_up = if state.is_final() {
                Some(GaveUp::Closing)
            } else {
                match deadline {
                    Some(deadline) if Instant::now() >= deadline => Some(GaveUp::TimedOut),
                    _ => None,
                }
            };
            if let Some(reason) = gave_up {
                let mut lines = self.lines.lock();
                if me.is_paired() {
                    return Ok(());
                }
                line(&mut lines).retain(|other| !Arc::ptr_eq(other, me));
                me.message.lock().take();
                return Err(reason);
            }
            if !backoff.snooze() {
                match deadline {
                    None => thread::park(),
                    Some(deadline) => {
                        thread::park_timeout(deadline.saturating_duration_since(Instant::now()))
                    }
                }
            }
        }
    }

    /// Hands a message a closing reader only peeked at back to the path:
    /// to a waiting reader if there is one, else ahead of every offer.
    pub(crate) fn hand_back(&self, state: &State, message: Body) {
        let mut lines = self.lines.lock();
        if !state.is_closing() {
            if let Some(reader) = lines.readers.pop_front() {
                *reader.message.lock() = Some(message);
                reader.pair();
                return;
            }
        }
        lines.returned.push_back(message);
    }

    /// Waits for any pairing in progress, then wakes every waiting thread
    /// to look at the path again. Called once the closing bit is set.
    pub(crate) fn quiesce(&self) {
        drop(self.lines.lock());
    }

    /// Wakes every waiting thread; called once the path is final, so each
    /// leaves its line on waking.
    pub(crate) fn wake_all(&self) {
        let lines = self.lines.lock();
        for waiter in lines.readers.iter().chain(lines.writers.iter()) {
            waiter.thread.unpark();
        }
    }

    /// Frees messages handed back that nobody will read.
    pub(crate) fn discard(&self) {
        self.lines.lock().returned.clear();
    }

    /// Messages waiting to be read: only those handed back (a hand-off
    /// queues nothing; offers are counted as waiting writers).
    pub(crate) fn len(&self) -> usize {
        self.lines.lock().returned.len()
    }

    pub(crate) fn waiting_readers(&self) -> usize {
        self.lines.lock().readers.len()
    }

    pub(crate) fn waiting_writers(&self) -> usize {
        self.lines.lock().writers.len()
    }
}
