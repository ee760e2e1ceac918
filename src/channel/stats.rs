//! [`PathStats`]: what a path holds and who waits on it; and the counters
//! behind it, kept where writers and readers already touch memory.
//!
//! Each writer and reader counts what it moves in a slot of its own (one
//! cache line each, written only by the handle's thread, so counting is a
//! plain load and store, no atomic read-modify-write and no line shared
//! between threads). `stats` sums the slots of the handles open now and
//! the totals folded in from handles already closed.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A writer's in-flight flag (see the send gate in `queue.rs`) and counts.
#[repr(align(128))]
#[derive(Default)]
pub(crate) struct WriterSlot {
    pub(crate) busy: AtomicBool,
    written: AtomicU64,
    written_bytes: AtomicU64,
}

impl WriterSlot {
    /// Counts one message of `len` bytes. Only the writer's own thread
    /// writes the slot.
    #[inline]
    pub(crate) fn count(&self, len: usize) {
        bump(&self.written, 1);
        bump(&self.written_bytes, len as u64);
    }

    pub(crate) fn add_to(&self, totals: &mut Totals) {
        totals.written += self.written.load(Ordering::Relaxed);
        totals.written_bytes += self.written_bytes.load(Ordering::Relaxed);
    }
}

/// A reader's counts.
#[repr(align(128))]
#[derive(Default)]
pub(crate) struct ReaderSlot {
    read: AtomicU64,
    read_bytes: AtomicU64,
}

impl ReaderSlot {
    /// Counts one message of `len` bytes handed to the reader. Only the
    /// reader's own thread writes the slot.
    #[inline]
    pub(crate) fn count(&self, len: usize) {
        bump(&self.read, 1);
        bump(&self.read_bytes, len as u64);
    }

    /// Takes back the count of a message the reader handed back unread.
    pub(crate) fn uncount(&self, len: usize) {
        let read = self.read.load(Ordering::Relaxed);
        self.read.store(read.saturating_sub(1), Ordering::Relaxed);
        let bytes = self.read_bytes.load(Ordering::Relaxed);
        self.read_bytes
            .store(bytes.saturating_sub(len as u64), Ordering::Relaxed);
    }

    pub(crate) fn add_to(&self, totals: &mut Totals) {
        totals.read += self.read.load(Ordering::Relaxed);
        totals.read_bytes += self.read_bytes.load(Ordering::Relaxed);
    }
}

/// An add by the only thread that writes `counter`: no read-modify-write.
#[inline]
fn bump(counter: &AtomicU64, by: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(by),
        Ordering::Relaxed,
    );
}

/// Counts of one path, summed.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Totals {
    pub(crate) written: u64,
    pub(crate) written_bytes: u64,
    pub(crate) read: u64,
    pub(crate) read_bytes: u64,
}

/// What one path holds, who uses it and who waits on it right now, and what
/// has passed through it since it was made. From
/// [`ChannelBackend::stats`](crate::ChannelBackend::stats) and
/// [`stats_all`](crate::ChannelBackend::stats_all).
///
/// The figures are read one after another while threads go on working, so
/// on a busy path they are a moment's view, not one instant's; once every
/// thread has finished they agree exactly: in queue mode
/// `written == read + queued` (plus what `delete` discarded), and
/// `written_bytes` is the sum of the lengths of the messages accepted.
///
/// ```
/// use std::io::Write;
/// let backend = chanio::ChannelBackend::builder().buffer_size(4).build();
/// let mut writer = backend.new_writer("jobs")?;
/// let mut reader = backend.new_reader("jobs")?;
/// writer.write_all(b"one")?;
/// writer.write_all(b"two")?;
/// reader.recv()?;
///
/// let stats = backend.stats("jobs")?.expect("the path exists");
/// assert_eq!((stats.written, stats.read, stats.queued), (2, 1, 1));
/// assert_eq!((stats.capacity, stats.readers, stats.writers), (Some(4), 1, 1));
/// assert_eq!(stats.written_bytes, 6);
/// println!("jobs: {stats}"); // one line for a log
/// assert_eq!(backend.stats("nothing here")?, None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PathStats {
    /// Whether the path is a persistent log (else a queue).
    pub persistent: bool,
    /// A queue's `buffer_size`; `None` for a log.
    pub capacity: Option<usize>,
    /// Queue: messages waiting to be read. Log: messages kept.
    pub queued: usize,
    /// The bytes of those messages.
    pub queued_bytes: usize,
    /// Open readers.
    pub readers: usize,
    /// Open writers.
    pub writers: usize,
    /// Whether the stream has ended (its last writer went) or the path was
    /// cancelled.
    pub ended: bool,
    /// Whether a writer was dropped while its thread was panicking.
    pub poisoned: bool,
    /// Messages accepted since the path was made, by writes and broadcasts.
    pub written: u64,
    /// The bytes of those messages.
    pub written_bytes: u64,
    /// Messages handed to readers (in persistent mode summed over the
    /// readers). A message a closing reader handed back unread is not
    /// counted; a `Lagged` read counts nothing.
    pub read: u64,
    /// Messages removed by retention (persistent mode).
    pub dropped: u64,
    /// Threads blocked writing right now (a broadcast waiting for room
    /// counts as one). In queue mode a thread counts once it has stopped
    /// yielding (at least 20 µs after it found the queue full) and waits to
    /// be woken.
    pub waiting_writers: usize,
    /// Threads blocked reading right now; in queue mode counted, like
    /// writers, once they wait to be woken.
    pub waiting_readers: usize,
}

impl fmt::Display for PathStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.capacity {
            Some(capacity) => write!(f, "queued {}/{capacity}", self.queued)?,
            None => write!(f, "kept {} (log)", self.queued)?,
        }
        write!(
            f,
            ", {} B; readers {} ({} waiting), writers {} ({} waiting); written {}, read {}",
            self.queued_bytes,
            self.readers,
            self.waiting_readers,
            self.writers,
            self.waiting_writers,
            self.written,
            self.read
        )?;
        if self.dropped > 0 {
            write!(f, ", dropped {}", self.dropped)?;
        }
        if self.poisoned {
            f.write_str(", poisoned")?;
        } else if self.ended {
            f.write_str(", ended")?;
        }
        Ok(())
    }
}
