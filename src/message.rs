//! [`Message`]: one whole message, shared rather than copied.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

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
    /// How much of `bytes` a reader has already consumed; the message is
    /// `bytes[start..]`.
    start: usize,
}

impl Message {
    /// Copies `data` into a new message: one allocation, one copy.
    pub fn copy_from_slice(data: &[u8]) -> Message {
        Message {
            bytes: Arc::from(data),
            start: 0,
        }
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
        &self.bytes[self.start..]
    }

    /// Copies the bytes into a `Vec<u8>`.
    pub fn to_vec(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }

    /// Drops the first `n` bytes (at most all of them): a reader's `consume`.
    pub(crate) fn advance(&mut self, n: usize) {
        self.start = (self.start + n).min(self.bytes.len());
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
        Message {
            bytes: Arc::from(bytes),
            start: 0,
        }
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
        Message { bytes, start: 0 }
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
