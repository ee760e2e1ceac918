//! [`Message`]: one whole message, shared rather than copied.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use crate::recycle::Recycler;

/// One whole message of a stream.
///
/// A `Message` is what one `write` (or one `broadcast`) put into a path.
/// Cloning one never copies more than [`Message::INLINE`] bytes: a message
/// of up to that many bytes is held in place, with no allocation (copying
/// it costs about what sharing a pointer does, and readers of a broadcast
/// do not contend on a shared count), and a bigger one lives in one shared
/// allocation, so that a persistent log or a broadcast to many paths holds
/// its bytes once, however many readers see it.
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
    body: Body,
    /// How much of `body` a reader has already consumed; the message is
    /// `body[start..]`.
    start: usize,
    /// For a large message read from a queue: the recycler its buffer goes
    /// back to when the last holder drops it.
    home: Option<Arc<Recycler>>,
}

/// The bytes of a message as queues, logs and hand-offs carry them: up to
/// [`Message::INLINE`] bytes in place, more in one shared allocation.
///
/// Small messages travel in place because that takes the allocator and the
/// shared reference count off the path of every message: measured on
/// crossbeam channels alone (one thread each side, 64 B), a queue of
/// in-place bytes moved 1.5 times the messages a queue of `Vec<u8>` did,
/// and eight queues fed the same message 1.2 times as fast in place as
/// with one `Arc<[u8]>` counted up by the producer and down by eight
/// readers on other cores.
#[derive(Clone)]
pub(crate) enum Body {
    /// At most [`Message::INLINE`] bytes.
    Inline(Inline),
    /// Any length; messages of more than [`Message::INLINE`] bytes, and
    /// those handed over as an `Arc<[u8]>`.
    Shared(Arc<[u8]>),
}

/// Bytes held in place.
///
/// Laid out with no padding and every part at a multiple of eight bytes:
/// with a length byte (first or last), the compiler moved a `Body` from
/// one wrapper to the next in pieces at odd offsets, and the next move
/// stalled reading across those pieces.
#[derive(Clone, Copy)]
#[repr(C)]
pub(crate) struct Inline {
    bytes: [u8; Message::INLINE],
    len: usize,
}

impl Inline {
    /// How many 8-byte words hold the bytes of an `Inline`.
    pub(crate) const WORDS: usize = Message::INLINE / 8;

    /// The bytes as words (in the machine's byte order), and the length:
    /// how a queue's slot keeps them in atomics.
    #[inline(always)]
    pub(crate) fn into_words(self) -> ([u64; Inline::WORDS], usize) {
        let mut words = [0; Inline::WORDS];
        for (word, chunk) in words.iter_mut().zip(self.bytes.chunks_exact(8)) {
            let mut bytes = [0; 8];
            bytes.copy_from_slice(chunk);
            *word = u64::from_ne_bytes(bytes);
        }
        (words, self.len)
    }

    /// The inverse of [`into_words`](Inline::into_words).
    #[inline(always)]
    pub(crate) fn from_words(words: [u64; Inline::WORDS], len: usize) -> Inline {
        let mut bytes = [0; Message::INLINE];
        for (chunk, word) in bytes.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&word.to_ne_bytes());
        }
        Inline {
            bytes,
            len: len.min(Message::INLINE),
        }
    }
}

impl Body {
    /// A copy of `data`: in place if it fits, else in a new allocation.
    #[inline]
    pub(crate) fn copy(data: &[u8]) -> Body {
        if data.len() <= Message::INLINE {
            let mut bytes = [0; Message::INLINE];
            bytes[..data.len()].copy_from_slice(data);
            Body::Inline(Inline {
                len: data.len(),
                bytes,
            })
        } else {
            Body::Shared(Arc::from(data))
        }
    }

    /// The bytes.
    #[inline]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Body::Inline(inline) => &inline.bytes[..inline.len],
            Body::Shared(bytes) => bytes,
        }
    }

    /// How many bytes.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        match self {
            Body::Inline(inline) => inline.len,
            Body::Shared(bytes) => bytes.len(),
        }
    }

    /// Whether there are no bytes.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for Body {
    /// No bytes, in place: no allocation.
    fn default() -> Body {
        Body::Inline(Inline {
            len: 0,
            bytes: [0; Message::INLINE],
        })
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Body {
        if bytes.len() <= Message::INLINE {
            Body::copy(&bytes)
        } else {
            Body::Shared(Arc::from(bytes))
        }
    }
}

impl Deref for Body {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Message {
    /// The most bytes a message holds in place, without an allocation of
    /// its own.
    pub const INLINE: usize = 64;

    /// Copies `data` into a new message: in place if it is at most
    /// [`INLINE`](Message::INLINE) bytes, else one allocation and one copy.
    pub fn copy_from_slice(data: &[u8]) -> Message {
        Message::whole(Body::copy(data))
    }

    /// A message of all of `body`.
    #[inline(always)]
    pub(crate) fn whole(body: Body) -> Message {
        Message {
            body,
            start: 0,
            home: None,
        }
    }

    /// A large message of all of `bytes`, received from a queue whose
    /// writers reuse buffers through `home`.
    pub(crate) fn received(bytes: Arc<[u8]>, home: &Arc<Recycler>) -> Message {
        Message {
            body: Body::Shared(bytes),
            start: 0,
            home: Some(Arc::clone(home)),
        }
    }

    /// The bytes to put in a queue or log: shared (or, in place, copied)
    /// if nothing of the message has been read, else a copy of what is left.
    #[inline]
    pub(crate) fn shared(&self) -> Body {
        if self.start == 0 {
            self.body.clone()
        } else {
            Body::copy(self.as_bytes())
        }
    }

    /// Whether no byte of the message has been consumed yet.
    pub(crate) fn is_untouched(&self) -> bool {
        self.start == 0
    }

    /// The whole message's bytes, to hand back to a queue: the buffer does
    /// not go to the recycler, since it is not free.
    pub(crate) fn into_bytes(mut self) -> Body {
        self.home = None;
        std::mem::take(&mut self.body)
    }

    /// Copies the bytes of several slices into one new body.
    pub(crate) fn concat(parts: &[std::io::IoSlice<'_>]) -> Body {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if total <= Message::INLINE {
            let mut inline = Inline {
                bytes: [0; Message::INLINE],
                len: total,
            };
            let mut at = 0;
            for part in parts {
                inline.bytes[at..at + part.len()].copy_from_slice(part);
                at += part.len();
            }
            return Body::Inline(inline);
        }
        let mut joined = Vec::with_capacity(total);
        for part in parts {
            joined.extend_from_slice(part);
        }
        Body::from(joined)
    }

    /// The message's bytes (what is left of them, for a partly read message).
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.body.as_bytes()[self.start..]
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
        let alone = match &mut self.body {
            Body::Inline(_) => true,
            Body::Shared(bytes) => Arc::get_mut(bytes).is_some(),
        };
        if self.start != 0 || !alone {
            let copy = Body::copy(self.as_bytes());
            // The old bytes are shared or partly read: not a spare buffer.
            self.home = None;
            self.body = copy;
            self.start = 0;
        }
        match &mut self.body {
            Body::Inline(inline) => &mut inline.bytes[..inline.len],
            Body::Shared(bytes) => match Arc::get_mut(bytes) {
                Some(bytes) => bytes,
                None => &mut [],
            },
        }
    }

    /// Copies the bytes into a `Vec<u8>`.
    pub fn to_vec(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }

    /// Drops the first `n` bytes (at most all of them): a reader's `consume`.
    #[inline]
    pub(crate) fn advance(&mut self, n: usize) {
        self.start = self.start.saturating_add(n).min(self.body.len());
    }
}

impl Drop for Message {
    /// Inline, since most messages have no buffer to give back: the check
    /// is one load, where a call was a tenth of a small message's receive.
    #[inline]
    fn drop(&mut self) {
        if self.home.is_some() {
            self.give_back();
        }
    }
}

impl Message {
    /// Gives a large message's buffer back to the recycler it came from.
    #[cold]
    fn give_back(&mut self) {
        if let (Some(home), Body::Shared(bytes)) = (self.home.take(), &mut self.body) {
            home.take_back(bytes);
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
        Message::whole(Body::from(bytes))
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
        Message::whole(Body::Shared(bytes))
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
        // In place and in an allocation of its own.
        for tail in [0, Message::INLINE] {
            let text = |head: &[u8]| [head, &vec![b'.'; tail][..]].concat();
            let mut alone = Message::copy_from_slice(&text(b"abc"));
            let address = alone.as_ptr();
            alone.make_mut()[0] = b'x';
            assert_eq!((alone.as_ptr(), &alone[..]), (address, &text(b"xbc")[..]));

            let mut shared = Message::copy_from_slice(&text(b"abc"));
            let other = shared.clone();
            shared.make_mut()[0] = b'y';
            assert_eq!(
                (&shared[..], &other[..]),
                (&text(b"ybc")[..], &text(b"abc")[..])
            );

            let mut partly = Message::copy_from_slice(&text(b"hello"));
            partly.advance(2);
            partly.make_mut()[0] = b'L';
            assert_eq!(&partly[..], &text(b"Llo")[..]);
            assert_eq!(partly.start, 0);
        }
    }

    #[test]
    fn the_rest_of_a_partly_read_message_is_what_gets_shared() {
        let mut message = Message::copy_from_slice(b"hello world");
        message.advance(6);
        assert_eq!(&message.shared()[..], b"world");
        let whole = Message::copy_from_slice(&[1; Message::INLINE + 1]);
        let (Body::Shared(shared), Body::Shared(own)) = (whole.shared(), &whole.body) else {
            panic!("a message over INLINE bytes is not in place");
        };
        assert!(Arc::ptr_eq(&shared, own));
    }

    #[test]
    fn messages_up_to_inline_bytes_are_held_in_place_and_bigger_ones_shared() {
        for len in [0, 1, Message::INLINE] {
            let message = Message::copy_from_slice(&vec![7; len]);
            assert!(matches!(message.body, Body::Inline(_)), "{len} bytes");
            assert_eq!(message.len(), len);
            let from_vec = Message::from(vec![7; len]);
            assert!(matches!(from_vec.body, Body::Inline(_)), "{len} bytes");
            assert_eq!(message, from_vec);
        }
        let joined = Message::concat(&[std::io::IoSlice::new(b"ab"), std::io::IoSlice::new(b"c")]);
        assert!(matches!(joined, Body::Inline(_)));
        assert_eq!(joined.as_bytes(), b"abc");
        let long = Message::concat(&[
            std::io::IoSlice::new(&[1; 40]),
            std::io::IoSlice::new(&[2; 40]),
        ]);
        assert!(matches!(long, Body::Shared(_)));
        assert_eq!(long.as_bytes(), &[[1; 40], [2; 40]].concat()[..]);
        let big = Message::copy_from_slice(&[7; Message::INLINE + 1]);
        assert!(matches!(big.body, Body::Shared(_)));
        // An `Arc` handed over is kept, whatever its length.
        let arc: Arc<[u8]> = Arc::from(&b"tiny"[..]);
        let kept = Message::from(Arc::clone(&arc));
        assert!(matches!(&kept.body, Body::Shared(own) if Arc::ptr_eq(own, &arc)));
    }
}
