//! The persistent flavor of a path: an append-only log in memory.
//!
//! Every reader is a cursor into the same log, so the log holds each message
//! once however many readers there are, and a late reader replays it from the
//! first message without seeing any message twice.

use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

/// An append-only, in-memory log of messages.
pub(crate) struct Log {
    /// Protects the messages and whether the log will grow any more.
    state: Mutex<LogState>,
    /// Signalled when a message is appended or the log ends.
    changed: Condvar,
}

struct LogState {
    /// Each message's bytes, shared with the readers that have read it.
    messages: Vec<Arc<[u8]>>,
    ended: bool,
}

/// What a reader's cursor found.
pub(crate) enum Next {
    Message(Arc<[u8]>),
    End,
    TimedOut,
}

impl Log {
    pub(crate) fn new() -> Log {
        Log {
            state: Mutex::new(LogState {
                messages: Vec::new(),
                ended: false,
            }),
            changed: Condvar::new(),
        }
    }

    /// Appends `message` unless the log has ended; says whether it did.
    /// Never blocks beyond the short critical section.
    pub(crate) fn append(&self, message: Arc<[u8]>) -> bool {
        let mut state = self.state.lock();
        if state.ended {
            return false;
        }
        state.messages.push(message);
        drop(state);
        self.changed.notify_all();
        true
    }

    /// Ends the log: readers read what it holds, then see the end.
    pub(crate) fn end(&self) {
        self.state.lock().ended = true;
        self.changed.notify_all();
    }

    /// Frees every message: for a deleted log no reader will read.
    pub(crate) fn clear(&self) {
        let mut state = self.state.lock();
        state.ended = true;
        state.messages = Vec::new();
    }

    /// The message at `*cursor`, advancing the cursor; waits for one to be
    /// appended (until `deadline`, if any) while the log has not ended.
    pub(crate) fn next(&self, cursor: &mut usize, deadline: Option<Instant>) -> Next {
        let mut state = self.state.lock();
        loop {
            if let Some(message) = state.messages.get(*cursor) {
                *cursor += 1;
                return Next::Message(Arc::clone(message));
            }
            if state.ended {
                return Next::End;
            }
            match deadline {
                None => self.changed.wait(&mut state),
                Some(deadline) => {
                    if self.changed.wait_until(&mut state, deadline).timed_out()
                        && state.messages.len() <= *cursor
                        && !state.ended
                    {
                        return Next::TimedOut;
                    }
                }
            }
        }
    }
}
