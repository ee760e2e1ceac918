//! [`Message`]: one whole message, shared rather than copied.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use crate::recycle::Recycler;

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
///
/// Equality, order and hash are those of the bytes, so a `Message`
/// compares with the byte and text types directly and can key a map:
///
/// ```
/// use std::collections::HashSet;
/// use chanio::Message;
/// let message = Message::from("hello");
/// assert!(message == "hello" && message == *"hello" && message == b"hello");
/// assert!(message == b"hello".to_vec() && message == *b"hello" && message == b"hello"[..]);
/// assert!("hello" == message && b"hello".as_slice() == message);
/// assert!(Message::from("a") < Message::from("b"));
/// let seen: HashSet<Message> = ["x", "y", "x"].into_iter().map(Message::from).collect();
/// assert_eq!(seen.len(), 2);
/// assert!(seen.contains(b"x".as_slice()));
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

    /// Whether no byte of the message has been consumed yet.
    pub(crate) fn is_untouched(&self) -> bool {
        self.start == 0
    }

    /// The whole message's bytes, to hand back to a queue: the buffer does
    /// not go to the recycler, since it is not free.
    pub(crate) fn into_bytes(mut self) -> Arc<[u8]> {
        self.home = None;
        std::mem::take(&mut self.bytes)
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

    /// The message's bytes to change in place, copy-on-write: the bytes
    /// themselves if this `Message` is their only holder and nothing of it
    /// has been read, else a copy of them that this `Message` then holds.
    /// A stage that transforms what it receives and passes it on allocates
    /// nothing:
    ///
    /// ```
    /// let backend = chanio::ChannelBackend::new();
    /// let mut input = backend.new_reader("in")?;
    /// let mut output = backend.new_writer("out")?;
    /// let mut result = backend.new_reader("out")?;
    /// backend.new_writer("in")?.send("shout".into())?;
    ///
    /// let mut message = input.recv()?.unwrap();
    /// message.make_mut().make_ascii_uppercase(); // in place: nobody else holds it
    /// output.send(message)?;
    /// assert_eq!(result.recv()?.unwrap(), "SHOUT");
    /// # Ok::<(), chanio::Error>(())
    /// ```
    pub fn make_mut(&mut self) -> &mut [u8] {
        if self.start != 0 || Arc::get_mut(&mut self.bytes).is_none() {
            let copy = Arc::from(self.as_bytes());
            // The old bytes are shared or partly read: not a spare buffer.
            self.home = None;
            self.bytes = copy;
            self.start = 0;
        }
        match Arc::get_mut(&mut self.bytes) {
            Some(bytes) => bytes,
            None => &mut [],
        }
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

// Equality, order and hash are all over the bytes the message holds now
// (what is left of a partly read one), as `Deref` shows them.

impl PartialEq for Message {
    fn eq(&self, other: &Message) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Message {}

impl PartialOrd for Message {
    fn partial_cmp(&self, other: &Message) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Message {
    fn cmp(&self, other: &Message) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl std::hash::Hash for Message {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl std::borrow::Borrow<[u8]> for Message {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

/// `Message == other` and `other == Message` for a byte-like type.
macro_rules! bytes_eq {
    ($($(#[$meta:meta])* [$($generics:tt)*] $other:ty => |$o:ident| $bytes:expr;)*) => {$(
        impl<$($generics)*> PartialEq<$other> for Message {
            fn eq(&self, $o: &$other) -> bool {
                self.as_bytes() == $bytes
            }
        }

        impl<$($generics)*> PartialEq<Message> for $other {
            fn eq(&self, message: &Message) -> bool {
                let $o = self;
                message.as_bytes() == $bytes
            }
        }
    )*};
}

bytes_eq! {
    [] [u8] => |other| other;
    ['a] &'a [u8] => |other| *other;
    [] Vec<u8> => |other| other.as_slice();
    [const N: usize] [u8; N] => |other| other.as_slice();
    [const N: usize] &[u8; N] => |other| other.as_slice();
    [] str => |other| other.as_bytes();
    ['a] &'a str => |other| other.as_bytes();
    [] String => |other| other.as_bytes();
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(self.as_bytes()) {
            Ok(text) => write!(f, "Message({text:?})"),
            Err(_) => write!(f, "Message({} bytes)", self.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn make_mut_changes_in_place_when_alone_and_copies_when_shared_or_partly_read() {
        let mut alone = Message::copy_from_slice(b"abc");
        let address = alone.as_ptr();
        alone.make_mut()[0] = b'x';
        assert_eq!((alone.as_ptr(), &alone[..]), (address, &b"xbc"[..]));

        let mut shared = Message::copy_from_slice(b"abc");
        let other = shared.clone();
        shared.make_mut()[0] = b'y';
        assert_eq!((&shared[..], &other[..]), (&b"ybc"[..], &b"abc"[..]));

        let mut partly = Message::copy_from_slice(b"hello");
        partly.advance(2);
        partly.make_mut()[0] = b'L';
        assert_eq!(&partly[..], b"Llo");
        assert_eq!(partly.start, 0);
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
