//! [`Message`]: one whole message, shared rather than copied; and the
//! [`Recycler`] that lets writers reuse the buffers of large messages that
//! readers have finished with.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{Receiver, Sender};

/// One whole message of a stream.
///
/// A `Message` is what one `write` (or one `broadcast`) put into a path. Its
/// bytes live in one shared allocation: cloning a `Message` copies a pointer,
/// not the bytes, and a persistent log or a broadcast to many paths holds each
/// message's bytes once, however many readers see it.
///
/// ```
/// let backend = chanio::ChannelBackend::new();
/// let mut writer = backend.new_writer("greetings")?;
/// let mut reader = backend.new_reader("greetings")?;
/// std::io::Write::write_all(&mut writer, b"hello")?;
///
/// let message = reader.recv()?.expect("one message was written");
/// assert_eq!(&*message, b"hello");
/// assert_eq!(message.len(), 5);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Message {
    /// The bytes of the whole message, as queues and logs carry them.
    bytes: Arc<[u8]>,
    /// How much of `bytes` a reader has already consumed; the message is
    /// `bytes[start..]`.
    start: usize,
    /// For a large message read from a queue: the recycler its buffer goes
    /// back to when the last holder drops it.
    home: Option<Arc<Recycler>>,
}

// Queues carry a message as its bare `Arc<[u8]>`, two words, rather than as
// a `Message`: a value of two words comes back from crossbeam's `try_recv`
// and `try_send` in registers, while a larger one goes through memory in a
// way that stalls on store forwarding (measured, one thread: 15 ns against
// 36 ns per receive, 14 ns against 22 ns per send). A reader makes the
// `Message` once it has the bytes.

impl Message {
    /// Copies `data` into a new message: one allocation, one copy.
    pub fn copy_from_slice(data: &[u8]) -> Message {
        Message::whole(Arc::from(data))
    }

    /// A message of all of `bytes`.
    pub(crate) fn whole(bytes: Arc<[u8]>) -> Message {
        Message {
            bytes,
            start: 0,
            home: None,
        }
    }

    /// A large message of all of `bytes`, received from a queue whose
    /// writers reuse buffers through `home`.
    pub(crate) fn received(bytes: Arc<[u8]>, home: &Arc<Recycler>) -> Message {
        Message {
            bytes,
            start: 0,
            home: Some(Arc::clone(home)),
        }
    }

    /// The bytes to put in a queue or log: shared if nothing of the message
    /// has been read, else a copy of what is left.
    pub(crate) fn shared(&self) -> Arc<[u8]> {
        if self.start == 0 {
            Arc::clone(&self.bytes)
        } else {
            Arc::from(self.as_bytes())
        }
    }

    /// Copies the bytes of several slices into one new buffer.
    pub(crate) fn concat(parts: &[std::io::IoSlice<'_>]) -> Arc<[u8]> {
        let total = parts.iter().map(|p| p.len()).sum();
        let mut joined = Vec::with_capacity(total);
        for part in parts {
            joined.extend_from_slice(part);
        }
        Arc::from(joined)
    }

    /// The message's bytes (what is left of them, for a partly read message).
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[self.start..]
    }

    /// Copies the bytes into a `Vec<u8>`.
    pub fn to_vec(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }

    /// Drops the first `n` bytes (at most all of them): a reader's `consume`.
    pub(crate) fn advance(&mut self, n: usize) {
        self.start = self.start.saturating_add(n).min(self.bytes.len());
    }
}

impl Drop for Message {
    fn drop(&mut self) {
        if let Some(home) = self.home.take() {
            home.take_back(&mut self.bytes);
        }
    }
}

impl Deref for Message {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for Message {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl From<Vec<u8>> for Message {
    fn from(bytes: Vec<u8>) -> Message {
        Message::whole(Arc::from(bytes))
    }
}

impl From<&[u8]> for Message {
    fn from(bytes: &[u8]) -> Message {
        Message::copy_from_slice(bytes)
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Message {
        Message::copy_from_slice(text.as_bytes())
    }
}

impl From<Arc<[u8]>> for Message {
    fn from(bytes: Arc<[u8]>) -> Message {
        Message::whole(bytes)
    }
}

impl PartialEq for Message {
    fn eq(&self, other: &Message) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Message {}

impl PartialEq<[u8]> for Message {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_bytes() == other
    }
}

impl PartialEq<&[u8]> for Message {
    fn eq(&self, other: &&[u8]) -> bool {
        self.as_bytes() == *other
    }
}

impl<const N: usize> PartialEq<&[u8; N]> for Message {
    fn eq(&self, other: &&[u8; N]) -> bool {
        self.as_bytes() == other.as_slice()
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(self.as_bytes()) {
            Ok(text) => write!(f, "Message({text:?})"),
            Err(_) => write!(f, "Message({} bytes)", self.len()),
        }
    }
}

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
/// The spare buffers of one path hold at most [`Recycler::BUDGET`] bytes:
/// enough for a whole burst to come back (with 8 spare 64 KiB buffers a
/// stream ran at 9 GB/s, with 64 at 17-21 GB/s), and the most a live path
/// keeps while its traffic pauses. Once the stream ends (its last writer
/// closed, or the path deleted or the backend closed) the spare buffers are
/// freed and no more are kept. Paths make their recycler only when a large
/// message first passes, so a path that never carries one costs nothing.
/// Small messages are not worth it: malloc's per-thread caches serve them
/// well.
pub(crate) struct Recycler {
    spare: Sender<Arc<[u8]>>,
    take: Receiver<Arc<[u8]>>,
    /// Set when the stream ends: no writer will want a buffer again.
    closed: AtomicBool,
}

impl Default for Recycler {
    fn default() -> Recycler {
        let (spare, take) = crossbeam_channel::bounded(Recycler::CAPACITY);
        Recycler {
            spare,
            take,
            closed: AtomicBool::new(false),
        }
    }
}

impl Recycler {
    /// Messages shorter than this are allocated and freed as usual.
    pub(crate) const MIN_LEN: usize = 4096;
    /// At most this many bytes of spare buffers per path.
    pub(crate) const BUDGET: usize = 4 << 20;
    /// At most this many spare buffers per path, however small.
    const CAPACITY: usize = 64;

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
        let room = Arc::get_mut(&mut buffer)?;
        if room.len() != data.len() {
            return None;
        }
        room.copy_from_slice(data);
        Some(buffer)
    }

    /// Keeps `bytes` (leaving an empty slice in its place) if no one else
    /// holds them, the stream goes on, and the spare buffers stay within
    /// the budget.
    fn take_back(&self, bytes: &mut Arc<[u8]>) {
        let room = Recycler::BUDGET / bytes.len().max(1);
        if self.closed.load(Ordering::Relaxed)
            || self.take.len() >= room
            || Arc::get_mut(bytes).is_none()
        {
            return;
        }
        // `Arc::default` shares a static empty slice: no allocation.
        let _ = self.spare.try_send(std::mem::take(bytes));
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
        while self.take.try_recv().is_ok() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEN: usize = Recycler::MIN_LEN;

    /// A message as a reader of a queue with `recycler` hands it out.
    fn read_back(bytes: &Arc<[u8]>, recycler: &Arc<Recycler>) -> Message {
        Message::received(Arc::clone(bytes), recycler)
    }

    #[test]
    fn a_dropped_large_message_lends_its_buffer_to_the_next_write_of_its_length() {
        let recycler = Arc::new(Recycler::default());
        let bytes = recycler.message(&[1; LEN]);
        let message = read_back(&bytes, &recycler);
        drop(bytes);
        assert_eq!(recycler.take.len(), 0);
        drop(message); // the last holder: the buffer goes back
        assert_eq!(recycler.take.len(), 1);
        let reused = recycler.message(&[3; LEN]);
        assert_eq!(&reused[..], &[3; LEN][..]);
        assert_eq!(recycler.take.len(), 0);
    }

    #[test]
    fn a_buffer_is_reused_only_for_a_message_of_its_length() {
        let recycler = Arc::new(Recycler::default());
        drop(Message::received(Arc::from(&[0; LEN][..]), &recycler));
        let longer = recycler.message(&[7; LEN + 1]);
        assert_eq!(longer.len(), LEN + 1);
        assert_eq!(recycler.take.len(), 0, "the misfit was freed, not kept");
    }

    #[test]
    fn a_buffer_someone_else_still_holds_is_not_kept() {
        let recycler = Arc::new(Recycler::default());
        let bytes: Arc<[u8]> = Arc::from(&[0; LEN][..]);
        let kept_by_user = read_back(&bytes, &recycler);
        drop(read_back(&bytes, &recycler));
        drop(bytes);
        assert_eq!(recycler.take.len(), 0);
        assert_eq!(kept_by_user.len(), LEN);
    }

    #[test]
    fn a_reused_buffer_is_the_same_allocation() {
        let recycler = Arc::new(Recycler::default());
        let bytes: Arc<[u8]> = Arc::from(&[0; LEN][..]);
        let address = bytes.as_ptr();
        drop(Message::received(bytes, &recycler));
        assert_eq!(recycler.message(&[9; LEN]).as_ptr(), address);
    }

    #[test]
    fn spare_buffers_stay_within_the_budget() {
        let recycler = Arc::new(Recycler::default());
        let len = Recycler::BUDGET / 4;
        for _ in 0..10 {
            drop(Message::received(Arc::from(vec![0; len]), &recycler));
        }
        assert_eq!(recycler.take.len(), 4);
    }

    #[test]
    fn a_closed_recycler_frees_its_buffers_and_keeps_no_more() {
        let recycler = Arc::new(Recycler::default());
        drop(Message::received(Arc::from(&[0; LEN][..]), &recycler));
        assert_eq!(recycler.take.len(), 1);
        recycler.close();
        assert_eq!(recycler.take.len(), 0);
        drop(Message::received(Arc::from(&[0; LEN][..]), &recycler));
        assert_eq!(recycler.take.len(), 0);
    }

    #[test]
    fn the_rest_of_a_partly_read_message_is_what_gets_shared() {
        let mut message = Message::copy_from_slice(b"hello world");
        message.advance(6);
        assert_eq!(&message.shared()[..], b"world");
        let whole = Message::copy_from_slice(b"whole");
        assert!(Arc::ptr_eq(&whole.shared(), &whole.bytes));
    }
}
