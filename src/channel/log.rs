//! The persistent flavor of a path: an append-only log in memory, bounded
//! by its retention if one is set.
//!
//! Every reader is a cursor — the offset of the next message it will read —
//! into the same log, so the log holds each message once however many
//! readers there are, and a late reader replays it from the oldest message
//! kept without seeing any message twice. The log is a ring (`VecDeque`)
//! with the offset of its first message beside it: appending and dropping
//! the oldest are O(1), and finding a reader's next message is one
//! subtraction.

use std::collections::VecDeque;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use crate::channel::state::State;
use crate::message::Body;

/// How much of a log to keep: both bounds hold after every append, except
/// that the newest message is always kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Retention {
    pub(crate) messages: Option<u64>,
    pub(crate) bytes: Option<u64>,
}

impl Retention {
    fn exceeded(&self, messages: usize, bytes: usize) -> bool {
        self.messages.is_some_and(|max| messages as u64 > max)
            || self.bytes.is_some_and(|max| bytes as u64 > max)
    }
}

pub(crate) struct Log {
    /// Protects the messages, their offsets and counts, and the waiting
    /// readers' count. Appends and reads take it briefly; a waiting reader
    /// releases it while it sleeps.
    state: Mutex<LogState>,
    /// Signalled when a message is appended or the path becomes final.
    changed: Condvar,
    retention: Retention,
}

struct LogState {
    /// The messages kept, oldest first; each message's bytes are shared
    /// with the readers that have read it.
    messages: VecDeque<Body>,
    /// The offset of `messages[0]`.
    first: u64,
    /// The bytes of the messages kept.
    bytes: usize,
    /// Messages removed by retention.
    dropped: u64,
    /// Readers blocked in `next`.
    waiting: usize,
}

/// What a reader's cursor found.
pub(crate) enum Next {
    Message(Body),
    /// The reader's next message was dropped: this many were missed. The
    /// cursor now points at the oldest message kept.
    Lagged(u64),
    End,
    TimedOut,
}

/// Where a new reader starts.
#[derive(Clone, Copy, Debug)]
pub(crate) enum From {
    Oldest,
    Latest,
    Offset(u64),
}

impl Log {
    pub(crate) fn new(retention: Retention) -> Log {
        Log {
            state: Mutex::new(LogState {
                messages: VecDeque::new(),
                first: 0,
                bytes: 0,
                dropped: 0,
                waiting: 0,
            }),
            changed: Condvar::new(),
            retention,
        }
    }

    /// Appends `message` unless the path is closing; says whether it did.
    /// Never blocks beyond the short critical section.
    pub(crate) fn append(&self, state: &State, message: Body) -> bool {
        let mut log = self.state.lock();
        // Checked under the lock: closing takes it after setting the bit,
        // so no append lands after the path is final.
        if state.is_closing() {
            return false;
        }
        log.bytes += message.len();
        log.messages.push_back(message);
        while log.messages.len() > 1 && self.retention.exceeded(log.messages.len(), log.bytes) {
            if let Some(oldest) = log.messages.pop_front() {
                log.bytes -= oldest.len();
                log.first += 1;
                log.dropped += 1;
            }
        }
        if log.waiting > 0 {
            self.changed.notify_all();
        }
        true
    }

    /// The cursor of a new reader, or `Err((offset, next))` if `Offset`
    /// is past `next`, the offset the next message will have.
    pub(crate) fn cursor(&self, from: From) -> Result<u64, (u64, u64)> {
        let log = self.state.lock();
        let next = log.first + log.messages.len() as u64;
        match from {
            From::Oldest => Ok(log.first),
            From::Latest => Ok(next),
            From::Offset(offset) if offset <= next => Ok(offset),
            From::Offset(offset) => Err((offset, next)),
        }
    }

    /// The message at `*cursor`, advancing the cursor; waits for one to be
    /// appended (until `deadline`, if any) while the path is not final.
    pub(crate) fn next(&self, state: &State, cursor: &mut u64, deadline: Option<Instant>) -> Next {
        let mut log = self.state.lock();
        let mut timed_out = false;
        loop {
            if *cursor < log.first {
                let skipped = log.first - *cursor;
                *cursor = log.first;
                return Next::Lagged(skipped);
            }
            let index = (*cursor - log.first) as usize;
            if let Some(message) = log.messages.get(index) {
                *cursor += 1;
                return Next::Message(message.clone());
            }
            if state.is_final() {
                return Next::End;
            }
            if timed_out {
                return Next::TimedOut;
            }
            log.waiting += 1;
            timed_out = match deadline {
                None => {
                    self.changed.wait(&mut log);
                    false
                }
                Some(deadline) => self.changed.wait_until(&mut log, deadline).timed_out(),
            };
            log.waiting -= 1;
        }
    }

    /// Waits for any append in progress (the closing bit is already set).
    pub(crate) fn quiesce(&self) {
        drop(self.state.lock());
    }

    /// Wakes every waiting reader to look at the path again.
    pub(crate) fn wake_all(&self) {
        let _log = self.state.lock();
        self.changed.notify_all();
    }

    /// Frees every message: for a cancelled log no reader will read.
    pub(crate) fn discard(&self) {
        let mut log = self.state.lock();
        let count = log.messages.len() as u64;
        log.messages = VecDeque::new();
        log.first += count;
        log.bytes = 0;
    }

    /// (messages kept, their bytes, messages dropped by retention, readers
    /// waiting), read together.
    pub(crate) fn counts(&self) -> (usize, usize, u64, usize) {
        let log = self.state.lock();
        (log.messages.len(), log.bytes, log.dropped, log.waiting)
    }
}
