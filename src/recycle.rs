//! [`Recycler`]: spare buffers of large messages that readers have finished
//! with, lent back to the writers of the same stream; and the
//! [`SpareBudget`] that bounds them across a whole backend.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crossbeam_channel::{Receiver, Sender};

/// Buffers of large messages that a path's readers have finished with,
/// kept for the path's writers to copy their next messages into.
///
/// With a malloc such as glibc's, a stream of large messages allocated on
/// one thread and freed on another keeps handing memory back to the system
/// and taking it again, and every page taken again faults (measured with
/// 64 KiB messages: about one page fault per 5 KiB sent, and four times
/// fewer bytes per second). Reusing the buffers makes a large write one copy
/// and one send, and a large read one receive and one copy, with no
/// allocation.
///
/// A large message read from a queue carries its queue's recycler, and
/// when its last holder drops it (the reader, once `read` has copied it
/// out; or the user, for a message from `Reader::recv`), the buffer goes
/// back, unless something else still shares it (a broadcast to other paths,
/// a clone the user kept). Persistent logs keep their messages and never
/// recycle. A buffer is reused only for a message of exactly its length (a
/// stream of large messages is usually a stream of equal chunks).
///
/// Memory follows the queues: a path keeps at most as many spare buffers
/// as its queue holds messages plus two (one being written, one being
/// read), and at most [`Recycler::MAX_SLOTS`]; and all the paths of a
/// backend together keep at most [`SpareBudget::LIMIT`] bytes of spares.
/// (With 8 spare 64 KiB buffers one stream ran at 9 GB/s, with 64 at
/// 17-21 GB/s.) Once the stream ends (its last writer closed, or the path
/// deleted or the backend closed) the spare buffers are freed and no more
/// are kept. Paths make their recycler only when a large message first
/// passes, so a path that never carries one costs nothing. Small messages
/// are not worth it: malloc's per-thread caches serve them well.
pub(crate) struct Recycler {
    spare: Sender<Arc<[u8]>>,
    take: Receiver<Arc<[u8]>>,
    /// Set when the stream ends: no writer will want a buffer again.
    closed: AtomicBool,
    budget: Arc<SpareBudget>,
}

/// The bytes of spare buffers all the paths of one backend keep.
#[derive(Debug, Default)]
pub(crate) struct SpareBudget {
    held: AtomicUsize,
}

impl SpareBudget {
    /// At most this many bytes of spare buffers per backend.
    pub(crate) const LIMIT: usize = 8 << 20;

    /// Counts `bytes` in if they fit within the limit.
    fn reserve(&self, bytes: usize) -> bool {
        let before = self.held.fetch_add(bytes, Ordering::Relaxed);
        if before + bytes > SpareBudget::LIMIT {
            self.held.fetch_sub(bytes, Ordering::Relaxed);
            return false;
        }
        true
    }

    fn release(&self, bytes: usize) {
        self.held.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Bytes held as spares now.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }
}

impl Recycler {
    /// Messages shorter than this are allocated and freed as usual.
    ///
    /// glibc's allocator takes a lock when a thread frees a block another
    /// thread allocated, unless the block is small: an `Arc<[u8]>` of up
    /// to 104 bytes (120 with its two counts) is freed without one, and
    /// recycling it only added work (65-104 B: 0.6-0.7x crossbeam's
    /// `Vec<u8>` recycled, 0.8-0.87x not). From 105 bytes on the reader's
    /// free and the writer's next allocation fought over that lock, and
    /// every size up to the old bound of 4 KiB ran at 0.2-0.45x crossbeam
    /// (one writer, one reader, 1M messages); recycled, 105 B to 2 KiB run
    /// at 0.57-2.3x, the low end where crossbeam's own `Vec` of the same
    /// length is still freed without the lock.
    pub(crate) const MIN_LEN: usize = 105;
    /// At most this many spare buffers per path, however large its queue.
    pub(crate) const MAX_SLOTS: usize = 64;

    /// A recycler for a path whose queue holds `capacity` messages, drawing
    /// on the backend's `budget`.
    pub(crate) fn new(capacity: usize, budget: Arc<SpareBudget>) -> Recycler {
        let slots = capacity.saturating_add(2).min(Recycler::MAX_SLOTS);
        let (spare, take) = crossbeam_channel::bounded(slots);
        Recycler {
            spare,
            take,
            closed: AtomicBool::new(false),
            budget,
        }
    }

    /// Whether a message of `len` bytes is large enough to recycle.
    #[inline]
    pub(crate) fn worth_keeping(len: usize) -> bool {
        len >= Recycler::MIN_LEN
    }

    /// The bytes of a new message holding a copy of `data`, in a spare
    /// buffer if there is one of its length.
    pub(crate) fn message(&self, data: &[u8]) -> Arc<[u8]> {
        match self.reuse(data) {
            Some(bytes) => bytes,
            None => Arc::from(data),
        }
    }

    fn reuse(&self, data: &[u8]) -> Option<Arc<[u8]>> {
        let mut buffer = self.take.try_recv().ok()?;
        self.budget.release(buffer.len());
        let room = Arc::get_mut(&mut buffer)?;
        if room.len() != data.len() {
            return None;
        }
        room.copy_from_slice(data);
        Some(buffer)
    }

    /// Keeps `bytes` (leaving an empty slice in its place) if no one else
    /// holds them, the stream goes on, and there is room for them.
    pub(crate) fn take_back(&self, bytes: &mut Arc<[u8]>) {
        let len = bytes.len();
        if self.closed.load(Ordering::Relaxed)
            || self.spare.is_full()
            || Arc::get_mut(bytes).is_none()
            || !self.budget.reserve(len)
        {
            return;
        }
        // `Arc::default` shares a static empty slice: no allocation.
        if self.spare.try_send(std::mem::take(bytes)).is_err() {
            self.budget.release(len);
        }
        // SeqCst pairs with `close`: if it ran meanwhile, free what it missed.
        if self.closed.load(Ordering::SeqCst) {
            self.drain();
        }
    }

    /// Frees the spare buffers and keeps no more: the stream has ended.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.drain();
    }

    fn drain(&self) {
        while let Ok(buffer) = self.take.try_recv() {
            self.budget.release(buffer.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;

    const LEN: usize = Recycler::MIN_LEN;

    fn recycler(capacity: usize) -> Arc<Recycler> {
        Arc::new(Recycler::new(capacity, Arc::default()))
    }

    /// A message as a reader of a queue with `recycler` hands it out.
    fn read_back(bytes: &Arc<[u8]>, recycler: &Arc<Recycler>) -> Message {
        Message::received(Arc::clone(bytes), recycler)
    }

    #[test]
    fn a_dropped_large_message_lends_its_buffer_to_the_next_write_of_its_length() {
        let recycler = recycler(100);
        let bytes = recycler.message(&[1; LEN]);
        let message = read_back(&bytes, &recycler);
        drop(bytes);
        assert_eq!(recycler.take.len(), 0);
        drop(message); // the last holder: the buffer goes back
        assert_eq!(recycler.take.len(), 1);
        assert_eq!(recycler.budget.held(), LEN);
        let reused = recycler.message(&[3; LEN]);
        assert_eq!(&reused[..], &[3; LEN][..]);
        assert_eq!(recycler.take.len(), 0);
        assert_eq!(recycler.budget.held(), 0);
    }

    #[test]
    fn a_buffer_is_reused_only_for_a_message_of_its_length() {
        let recycler = recycler(100);
        drop(Message::received(Arc::from(&[0; LEN][..]), &recycler));
        let longer = recycler.message(&[7; LEN + 1]);
        assert_eq!(longer.len(), LEN + 1);
        assert_eq!(recycler.take.len(), 0, "the misfit was freed, not kept");
        assert_eq!(recycler.budget.held(), 0);
    }

    #[test]
    fn a_buffer_someone_else_still_holds_is_not_kept() {
        let recycler = recycler(100);
        let bytes: Arc<[u8]> = Arc::from(&[0; LEN][..]);
        let kept_by_user = read_back(&bytes, &recycler);
        drop(read_back(&bytes, &recycler));
        drop(bytes);
        assert_eq!(recycler.take.len(), 0);
        assert_eq!(kept_by_user.len(), LEN);
    }

    #[test]
    fn a_reused_buffer_is_the_same_allocation() {
        let recycler = recycler(100);
        let bytes: Arc<[u8]> = Arc::from(&[0; LEN][..]);
        let address = bytes.as_ptr();
        drop(Message::received(bytes, &recycler));
        assert_eq!(recycler.message(&[9; LEN]).as_ptr(), address);
    }

    #[test]
    fn a_path_keeps_no_more_spares_than_its_queue_holds_plus_two() {
        let recycler = recycler(1);
        for _ in 0..10 {
            drop(Message::received(Arc::from(vec![0; LEN]), &recycler));
        }
        assert_eq!(recycler.take.len(), 3);
    }

    #[test]
    fn all_paths_of_a_backend_keep_at_most_the_budget() {
        let budget = Arc::new(SpareBudget::default());
        let len = SpareBudget::LIMIT / 8;
        let paths: Vec<_> = (0..4)
            .map(|_| Arc::new(Recycler::new(100, Arc::clone(&budget))))
            .collect();
        for path in &paths {
            for _ in 0..4 {
                drop(Message::received(Arc::from(vec![0; len]), path));
            }
        }
        let kept: usize = paths.iter().map(|p| p.take.len()).sum();
        assert_eq!(kept, 8);
        assert_eq!(budget.held(), SpareBudget::LIMIT);
        paths[0].close();
        assert_eq!(budget.held(), SpareBudget::LIMIT - 4 * len);
    }

    #[test]
    fn a_closed_recycler_frees_its_buffers_and_keeps_no_more() {
        let recycler = recycler(100);
        drop(Message::received(Arc::from(&[0; LEN][..]), &recycler));
        assert_eq!(recycler.take.len(), 1);
        recycler.close();
        assert_eq!(recycler.take.len(), 0);
        drop(Message::received(Arc::from(&[0; LEN][..]), &recycler));
        assert_eq!(recycler.take.len(), 0);
        assert_eq!(recycler.budget.held(), 0);
    }
}
