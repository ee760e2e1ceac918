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

    /// Like `join_within`, but `Err(())` instead of a panic on timeout.
    pub fn rx_within(self, bound: Duration) -> Result<T, ()> {
        match self.rx.recv_timeout(bound) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => Err(()),
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

/// Whether the heavy variant of the reliability tests was asked for
/// (`CHANIO_STRESS=1`).
pub fn stress() -> bool {
    std::env::var("CHANIO_STRESS").is_ok_and(|v| v == "1")
}

/// `light` normally, `heavy` when `CHANIO_STRESS=1`.
pub fn scale<T>(light: T, heavy: T) -> T {
    if stress() { heavy } else { light }
}

/// The `chanio::Error` an `io::Error` made by chanio carries.
pub fn inner(err: &std::io::Error) -> Option<&chanio::Error> {
    err.get_ref()
        .and_then(|e| e.downcast_ref::<chanio::Error>())
}

/// A tiny xorshift64* generator: deterministic from its seed, so a failing
/// random test can be replayed with the seed it prints.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value; zero is remapped).
    pub fn new(seed: u64) -> Rng {
        // Spread the seed so that neighbouring seeds start far apart.
        let mut rng = Rng((seed ^ 0x9E37_79B9_7F4A_7C15) | 1);
        rng.next_u64();
        rng
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u32) -> bool {
        self.below(100) < percent as usize
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The seed for a random test: `CHANIO_SEED` if set (to replay a failure),
/// otherwise taken from the clock.
pub fn seed() -> u64 {
    match std::env::var("CHANIO_SEED") {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("CHANIO_SEED={text:?} is not a u64")),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x5EED),
    }
}

/// Like [`spawn`], but returns only once the thread is about to run `f`, so
/// that a following `is_blocked_after` measures `f` itself and not the
/// thread's start-up.
pub fn spawn_started<T: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Bounded<T> {
    let started = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&started);
    let thread = spawn(what, move || {
        flag.store(true, Ordering::SeqCst);
        f()
    });
    let deadline = std::time::Instant::now() + BOUND;
    while !started.load(Ordering::SeqCst) {
        assert!(
            std::time::Instant::now() < deadline,
            "`{what}` did not start within {BOUND:?}"
        );
        thread::yield_now();
    }
    thread
}

/// The `chanio::Error` carried by a failed io call, after checking that the
/// call failed with `kind`.
pub fn io_failure<T: std::fmt::Debug>(
    result: std::io::Result<T>,
    kind: std::io::ErrorKind,
) -> chanio::Error {
    let err = match result {
        Ok(value) => panic!("expected an error of kind {kind:?}, got Ok({value:?})"),
        Err(err) => err,
    };
    assert_eq!(err.kind(), kind, "the kind of {err:?}");
    inner(&err)
        .unwrap_or_else(|| panic!("{err:?} carries no chanio::Error"))
        .clone()
}

/// Reads `reader` with `read` and a large buffer until `Ok(0)`, one entry
/// per read.
pub fn read_each(reader: &mut impl std::io::Read) -> std::io::Result<Vec<Vec<u8>>> {
    let mut reads = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf)? {
            0 => return Ok(reads),
            n => reads.push(buf[..n].to_vec()),
        }
    }
}

/// The byte strings `items` as owned vectors, to compare with `read_each`.
pub fn owned(items: &[&str]) -> Vec<Vec<u8>> {
    items.iter().map(|item| item.as_bytes().to_vec()).collect()
}
