//! Helpers shared by the test files: bounded waits, so that a bug fails a
//! test instead of hanging CI.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// The default bound for a test's blocking work.
pub const BOUND: Duration = Duration::from_secs(20);

/// Runs `f` on its own thread and returns its result, failing the test
/// (naming `what`) if it has not finished within `bound`, or if it panicked.
pub fn within<T: Send + 'static>(
    bound: Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = thread::Builder::new()
        .name(what.to_owned())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .expect("spawn a test thread");
    match rx.recv_timeout(bound) {
        Ok(value) => {
            let _ = handle.join();
            value
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("`{what}` was still blocked after {bound:?}")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The thread panicked before sending: surface its panic.
            match handle.join() {
                Err(panic) => std::panic::resume_unwind(panic),
                Ok(()) => panic!("`{what}` ended without a result"),
            }
        }
    }
}

/// A thread whose result can be awaited with a bound.
pub struct Bounded<T> {
    what: String,
    rx: mpsc::Receiver<thread::Result<T>>,
    done: Arc<AtomicBool>,
}

/// Spawns `f` on a named thread; `join_within` waits for it with a bound.
pub fn spawn<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> Bounded<T> {
    let (tx, rx) = mpsc::channel();
    let done = Arc::new(AtomicBool::new(false));
    let finished = Arc::clone(&done);
    thread::Builder::new()
        .name(what.to_owned())
        .spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            finished.store(true, Ordering::SeqCst);
            let _ = tx.send(result);
        })
        .expect("spawn a test thread");
    Bounded {
        what: what.to_owned(),
        rx,
        done,
    }
}

impl<T> Bounded<T> {
    /// The thread's result, failing the test if it is not done within
    /// `bound` or panicked.
    pub fn join_within(self, bound: Duration) -> T {
        match self.rx.recv_timeout(bound) {
            Ok(Ok(value)) => value,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => panic!("`{}` was still blocked after {bound:?}", self.what),
        }
    }

    /// `join_within(BOUND)`.
    pub fn join(self) -> T {
        self.join_within(BOUND)
    }

    /// Whether the thread is still running after `wait` (used to check
    /// that a call really blocks before waking it).
    pub fn is_blocked_after(&self, wait: Duration) -> bool {
        thread::sleep(wait);
        !self.done.load(Ordering::SeqCst)
    }
}
