//! [`Cancel`]: how `delete` and backend `close` stop a path.
//!
//! Cancelling must be final for writers: once a reader has seen that the
//! path is cancelled and drained its queue, no write may still land and
//! return `Ok`. So every send happens inside [`Cancel::enter`], a shared
//! hold on a gate that [`Cancel::fire`] takes exclusively while it records
//! the cause. Sends that got in before are in the queue when the cause
//! becomes visible; sends after it see the cause and fail.
//!
//! Firing also disconnects a channel that blocked threads select on, which
//! wakes them all.

use std::sync::atomic::{AtomicU8, Ordering};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Mutex, RwLock, RwLockReadGuard};

/// Why a path was cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cause {
    Deleted = 1,
    BackendClosed = 2,
}

/// The uninhabited message type of wake channels: they are only ever
/// disconnected, never sent on.
pub(crate) enum Never {}

pub(crate) struct Cancel {
    /// 0 while the path lives, then the `Cause`. Written only with `gate`
    /// held exclusively.
    cause: AtomicU8,
    /// Held shared by every send; exclusively while `cause` is set.
    gate: RwLock<()>,
    /// Dropped on fire, which disconnects `wake`.
    trigger: Mutex<Option<Sender<Never>>>,
    wake: Receiver<Never>,
}

impl Cancel {
    pub(crate) fn new() -> Cancel {
        let (trigger, wake) = crossbeam_channel::bounded(0);
        Cancel {
            cause: AtomicU8::new(0),
            gate: RwLock::new(()),
            trigger: Mutex::new(Some(trigger)),
            wake,
        }
    }

    /// Why the path was cancelled, if it was.
    pub(crate) fn cause(&self) -> Option<Cause> {
        match self.cause.load(Ordering::Acquire) {
            0 => None,
            1 => Some(Cause::Deleted),
            _ => Some(Cause::BackendClosed),
        }
    }

    /// A hold under which a send may happen, or the cause if the path is
    /// cancelled. Keep it only for a non-blocking send.
    pub(crate) fn enter(&self) -> Result<RwLockReadGuard<'_, ()>, Cause> {
        let hold = self.gate.read();
        match self.cause() {
            None => Ok(hold),
            Some(cause) => Err(cause),
        }
    }

    /// Cancels for `cause` and wakes every thread selecting on
    /// [`wake`](Cancel::wake). Returns `false` if already cancelled.
    pub(crate) fn fire(&self, cause: Cause) -> bool {
        {
            let _exclusive = self.gate.write();
            if self.cause().is_some() {
                return false;
            }
            self.cause.store(cause as u8, Ordering::Release);
        }
        drop(self.trigger.lock().take());
        true
    }

    /// Disconnects once the path is cancelled: select on it to be woken.
    pub(crate) fn wake(&self) -> &Receiver<Never> {
        &self.wake
    }
}
