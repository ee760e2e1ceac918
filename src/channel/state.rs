//! [`State`]: the word every send and every receive of a path consults, and
//! the [`Cause`] of a path's cancellation.
//!
//! A path's stream stops taking messages in two steps. First `CLOSING` is
//! set: no send may start after that. Then, once every send that started
//! before has landed, `FINAL` is set: from then on a reader that finds
//! nothing queued knows nothing more will come, and sees end of stream.
//! The gap between the two is what makes `delete`, `close` and a stream's
//! end final: no message can land after a reader has seen the end.

use std::sync::atomic::{AtomicU32, Ordering};

/// No send may start.
const CLOSING: u32 = 1 << 0;
/// Every send that will ever land has landed.
const FINAL: u32 = 1 << 1;
/// The stream ended the ordinary way: its last writer went.
const ENDED: u32 = 1 << 2;
/// A writer was dropped while its thread was panicking.
const POISONED: u32 = 1 << 3;
const DELETED: u32 = 1 << 4;
const BACKEND_CLOSED: u32 = 1 << 5;
const NO_READERS: u32 = 1 << 6;
const CAUSES: u32 = DELETED | BACKEND_CLOSED | NO_READERS;

/// Why a path was cancelled: its stream stopped before its writers did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cause {
    /// `delete` of the path.
    Deleted,
    /// `close` of the backend.
    BackendClosed,
    /// No reader is left, and none can come: the backend's last handle is
    /// gone.
    NoReaders,
}

impl Cause {
    fn bit(self) -> u32 {
        match self {
            Cause::Deleted => DELETED,
            Cause::BackendClosed => BACKEND_CLOSED,
            Cause::NoReaders => NO_READERS,
        }
    }
}

/// The state word of a path. Changed only with the path's `life` lock
/// held; read by anyone at any time.
pub(crate) struct State(AtomicU32);

impl State {
    pub(crate) fn new() -> State {
        State(AtomicU32::new(0))
    }

    fn get(&self, order: Ordering) -> u32 {
        self.0.load(order)
    }

    /// Whether sends must not start. Sequentially consistent, for the send
    /// gate (see `queue.rs`); the log and the hand-off read it under their
    /// lock. A plain load on x86.
    #[inline]
    pub(crate) fn is_closing(&self) -> bool {
        self.get(Ordering::SeqCst) & CLOSING != 0
    }

    /// Whether every message that will ever be sent has landed.
    #[inline]
    pub(crate) fn is_final(&self) -> bool {
        self.get(Ordering::Acquire) & FINAL != 0
    }

    pub(crate) fn is_poisoned(&self) -> bool {
        self.get(Ordering::Acquire) & POISONED != 0
    }

    /// Why the path was cancelled, if it was (only the first cause is
    /// kept).
    pub(crate) fn cause(&self) -> Option<Cause> {
        let word = self.get(Ordering::Acquire);
        [Cause::Deleted, Cause::BackendClosed, Cause::NoReaders]
            .into_iter()
            .find(|cause| word & cause.bit() != 0)
    }

    /// Stops new sends because the last writer went.
    pub(crate) fn begin_end(&self) {
        self.0.fetch_or(CLOSING | ENDED, Ordering::SeqCst);
    }

    /// Stops new sends because of `cause`. Returns `false`, changing
    /// nothing, if the path was already cancelled.
    pub(crate) fn begin_cancel(&self, cause: Cause) -> bool {
        // Only one thread changes the word at a time (the `life` lock), so
        // the check and the change cannot be split by another cancel.
        if self.get(Ordering::Relaxed) & CAUSES != 0 {
            return false;
        }
        self.0.fetch_or(CLOSING | cause.bit(), Ordering::SeqCst);
        true
    }

    /// Every send that started before `CLOSING` has landed.
    pub(crate) fn set_final(&self) {
        self.0.fetch_or(FINAL, Ordering::Release);
    }

    pub(crate) fn poison(&self) {
        self.0.fetch_or(POISONED, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_cause_wins_and_a_second_cancel_is_refused() {
        let state = State::new();
        assert_eq!(state.cause(), None);
        assert!(state.begin_cancel(Cause::NoReaders));
        assert!(!state.begin_cancel(Cause::Deleted));
        assert_eq!(state.cause(), Some(Cause::NoReaders));
        assert!(state.is_closing() && !state.is_final());
        state.set_final();
        assert!(state.is_final());
    }

    #[test]
    fn an_ordinary_end_is_not_a_cancel() {
        let state = State::new();
        state.begin_end();
        assert!(state.get(Ordering::Relaxed) & ENDED != 0 && state.is_closing());
        assert_eq!(state.cause(), None);
        assert!(state.begin_cancel(Cause::Deleted));
        assert_eq!(state.cause(), Some(Cause::Deleted));
    }
}
