//! [`Message`]: one whole message, shared rather than copied; and the
//! [`Recycler`] that lets writers reuse the buffers of large messages that
//! readers have finished with.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

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
    bytes: Arc<[u8]>,
    /// The message is `bytes[start..end]`. `start` is how much a reader has
    /// already consumed; `end` falls short of `bytes.len()` when the message
    /// reuses a recycled buffer larger than itself.
    start: usize,
    end: usize,
}

impl Message {
    /// Copies `data` into a new message: one allocation, one copy.
    pub fn copy_from_slice(data: &[u8]) -> Message {
        Message::whole(Arc::from(data))
    }

    fn whole(bytes: Arc<[u8]>) -> Message {
        let end = bytes.len();
        Message {
            bytes,
            start: 0,
            end,
        }
    }

    /// Copies `data` into `buffer` if it is long enough and nothing else
    /// holds it; `None` (dropping the buffer) otherwise.
    fn copy_into(mut buffer: Arc<[u8]>, data: &[u8]) -> Option<Message> {
        Arc::get_mut(&mut buffer)?
            .get_mut(..data.len())?
            .copy_from_slice(data);
        Some(Message {
            bytes: buffer,
            start: 0,
            end: data.len(),
        })
    }

    /// The whole buffer, if this message was its only holder.
    fn into_unique_buffer(self) -> Option<Arc<[u8]>> {
        let mut bytes = self.bytes;
        Arc::get_mut(&mut bytes)?;
        Some(bytes)
    }

    /// Copies the bytes of several slices into one new message.
    pub(crate) fn concat(parts: &[std::io::IoSlice<'_>]) -> Message {
        let total = parts.iter().map(|p| p.len()).sum();
        let mut joined = Vec::with_capacity(total);
        for part in parts {
            joined.extend_from_slice(part);
        }
        Message::from(joined)
    }

    /// The message's bytes (what is left of them, for a partly read message).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[self.start..self.end]
    }

    /// Copies the bytes into a `Vec<u8>`.
    pub fn to_vec(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }

    /// Drops the first `n` bytes (at most all of them): a reader's `consume`.
    pub(crate) fn advance(&mut self, n: usize) {
        self.start = self.start.saturating_add(n).min(self.end);
    }
}

impl Deref for Message {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for Message {
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
/// and taking it again, and every page taken again faults (measured: about
/// a quarter of all pages copied, for 64 KiB messages). Reusing the buffers
/// makes a large write one copy and one send, and a large read one receive
/// and one copy, with no allocation.
///
/// Only buffers nothing else holds are kept (a message handed out by
/// `Reader::recv`, still in a persistent log, or shared by a broadcast is
/// never reused), at most [`Recycler::CAPACITY`] of them; the rest are freed
/// as before. Small messages are not worth it: malloc's per-thread caches
/// serve them well.
pub(crate) struct Recycler {
    spare: Sender<Arc<[u8]>>,
    take: Receiver<Arc<[u8]>>,
}

impl Recycler {
    /// Messages shorter than this are allocated and freed as usual.
    pub(crate) const MIN_LEN: usize = 4096;
    /// At most this many spare buffers per path.
    pub(crate) const CAPACITY: usize = 8;

    pub(crate) fn new() -> Recycler {
        let (spare, take) = crossbeam_channel::bounded(Recycler::CAPACITY);
        Recycler { spare, take }
    }

    /// A message holding a copy of `data`, in a spare buffer if there is
    /// one that fits without wasting more than half of it.
    pub(crate) fn message(&self, data: &[u8]) -> Message {
        if data.len() >= Recycler::MIN_LEN {
            if let Ok(buffer) = self.take.try_recv() {
                if buffer.len() / 2 <= data.len() {
                    if let Some(message) = Message::copy_into(buffer, data) {
                        return message;
                    }
                }
            }
        }
        Message::copy_from_slice(data)
    }

    /// Keeps the buffer of a message a reader has finished with, if it is
    /// large, no one else holds it, and there is room.
    pub(crate) fn recycle(&self, message: Message) {
        if message.bytes.len() >= Recycler::MIN_LEN {
            if let Some(buffer) = message.into_unique_buffer() {
                let _ = self.spare.try_send(buffer);
            }
        }
    }
}
