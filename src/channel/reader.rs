//! [`Reader`]: the read end of one path's stream.

use std::fmt;
use std::io::{self, BufRead, Read};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::channel::path::{Next, Path};
use crate::channel::stats::ReaderSlot;
use crate::error::{Error, Result};
use crate::message::{Body, Message};

/// Reads messages from one path.
///
/// Get one from [`ChannelBackend::new_reader`](crate::ChannelBackend::new_reader).
///
/// # Reading
///
/// `read(buf)` returns bytes of at most one message: a message longer than
/// `buf` comes over several reads, and two messages are never joined into
/// one read. [`BufRead::fill_buf`] returns what is left of the current
/// message. [`Reader::recv`] and [`Reader::messages`] hand out whole
/// [`Message`]s without copying them.
///
/// In queue mode the readers of a path compete: each message goes to exactly
/// one of them. In persistent mode every reader, whenever it was opened,
/// reads every message of the path from the first.
///
/// # End of stream
///
/// A read returns `Ok(0)` (and `recv` returns `Ok(None)`) once the stream has
/// ended and everything has been read, or once the path was deleted or the
/// backend closed and everything already queued has been read, or once the
/// backend's handles are all gone and no writer is left. Every later read
/// returns the end again — unless another reader of the queue, which had
/// only peeked at a message, closes and hands it back: then the next read
/// gets that message (nothing peeked at is lost). A reader opened before
/// any writer simply waits for one.
///
/// Where a reader would see the end of a stream one of whose writers was
/// dropped while its thread panicked, it gets instead, on every read, an
/// error of kind `UnexpectedEof` carrying [`Error::WriterPanicked`]
/// (`recv` returns that error).
///
/// A read waits for a message until its [timeout](Reader::set_read_timeout)
/// passes (an error of kind `TimedOut`, nothing consumed). In persistent
/// mode with retention, a reader whose next message was dropped gets one
/// error of kind `Other` carrying [`Error::Lagged`] (nothing consumed),
/// then reads on from the oldest message kept. After [`Reader::close`],
/// reads fail with kind `Other` carrying [`Error::ReaderClosed`].
///
/// ```
/// use std::io::Read;
/// let backend = chanio::ChannelBackend::new();
/// let mut reader = backend.new_reader("numbers")?;
/// let mut writer = backend.new_writer("numbers")?;
/// std::thread::spawn(move || {
///     use std::io::Write;
///     writer.write_all(b"one").unwrap();
///     writer.write_all(b"two").unwrap();
/// }); // the writer is dropped: the stream ends
///
/// let mut buf = [0u8; 16];
/// assert_eq!(reader.read(&mut buf)?, 3); // one message per read
/// assert_eq!(&buf[..3], b"one");
/// assert_eq!(reader.read(&mut buf)?, 3);
/// assert_eq!(reader.read(&mut buf)?, 0); // end of stream
/// assert_eq!(reader.read(&mut buf)?, 0); // and it stays that way
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Closing
///
/// In queue mode, closing (or dropping) a reader leaves what it did not
/// take for the path's other readers, and gives back a message it only
/// peeked at:
///
/// ```
/// use std::io::{BufRead, Write};
/// let backend = chanio::ChannelBackend::new();
/// let mut peeker = backend.new_reader("work")?;
/// let mut worker = backend.new_reader("work")?;
/// let mut writer = backend.new_writer("work")?;
/// writer.write_all(b"job 1")?;
/// writer.write_all(b"job 2")?;
///
/// assert_eq!(peeker.fill_buf()?, b"job 1"); // taken, but nothing consumed
/// drop(peeker);                             // ... so it goes back, first
/// assert_eq!(worker.recv()?.unwrap(), "job 1");
/// assert_eq!(worker.recv()?.unwrap(), "job 2");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Reader {
    path: Arc<Path>,
    /// The reader's counts; `None` once closed.
    slot: Option<Arc<ReaderSlot>>,
    /// Persistent mode: the offset of the next message to take from the
    /// log. Queue mode: how many messages it has taken.
    cursor: u64,
    /// What is left of the message being read.
    current: Option<Message>,
    timeout: Option<Duration>,
}

/// Where a persistent reader starts: the argument of
/// [`ChannelBackend::new_reader_at`](crate::ChannelBackend::new_reader_at).
///
/// Every message of a persistent path has an offset: 0, 1, 2, … in the
/// order the log took them, never reused while the path exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Start {
    /// The oldest message kept (what `new_reader` does).
    Oldest,
    /// Only messages appended after the reader was made.
    Latest,
    /// The message at this offset. Below the oldest kept, the first read
    /// is [`Error::Lagged`] with the gap; past the next offset to be
    /// written, `new_reader_at` fails with [`Error::OffsetOutOfRange`];
    /// exactly the next offset waits for that message.
    Offset(u64),
}

impl Reader {
    pub(crate) fn new(path: Arc<Path>, slot: Arc<ReaderSlot>, cursor: u64) -> Reader {
        Reader {
            path,
            slot: Some(slot),
            cursor,
            current: None,
            timeout: None,
        }
    }

    /// The path this reader reads from.
    pub fn path(&self) -> &str {
        self.path.name()
    }

    /// Closes this reader. In queue mode, what it had not taken stays for
    /// the path's other readers, and so does a message it took with
    /// [`fill_buf`](BufRead::fill_buf) but did not consume at all: that
    /// one goes back ahead of the messages still queued (so it may reach
    /// another reader after a later message of the same writer that a third
    /// reader had already taken). The rest of a message partly consumed is
    /// dropped with the reader. Closing twice is `Ok`.
    pub fn close(&mut self) -> Result<()> {
        let current = self.current.take();
        if let Some(slot) = self.slot.take() {
            let peeked = current.filter(|m| !self.path.is_log() && m.is_untouched());
            self.path
                .release_reader(&slot, peeked.map(Message::into_bytes));
        }
        Ok(())
    }

    /// Whether [`close`](Reader::close) was called.
    pub fn is_closed(&self) -> bool {
        self.slot.is_none()
    }

    /// How long a read may wait for a message: `None` (the default) waits
    /// as long as it takes. A read that times out consumes nothing and
    /// returns an error of kind `TimedOut`.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    /// The timeout set by [`set_read_timeout`](Reader::set_read_timeout).
    pub fn read_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// In persistent mode, the offset of the next message this reader will
    /// take from the log (a message it has partly read counts as taken). In
    /// queue mode, how many messages it has taken.
    ///
    /// ```
    /// use chanio::{ChannelBackend, Start};
    /// let backend = ChannelBackend::builder().persistent(true).build();
    /// let mut writer = backend.new_writer("events")?;
    /// writer.send("a".into())?;
    /// writer.send("b".into())?;
    /// let mut reader = backend.new_reader("events")?;
    /// assert_eq!(reader.offset(), 0);
    /// reader.recv()?;
    /// assert_eq!(reader.offset(), 1);
    /// let latest = backend.new_reader_at("events", Start::Latest)?;
    /// assert_eq!(latest.offset(), 2);
    /// # Ok::<(), chanio::Error>(())
    /// ```
    pub fn offset(&self) -> u64 {
        self.cursor
    }

    /// The next whole message (or what is left of a partly read one),
    /// without copying it; `None` at end of stream.
    ///
    /// ```
    /// let backend = chanio::ChannelBackend::new();
    /// let mut writer = backend.new_writer("jobs")?;
    /// let mut reader = backend.new_reader("jobs")?;
    /// writer.send("job 1".into())?;
    /// writer.close()?;
    /// assert_eq!(reader.recv()?.unwrap(), b"job 1");
    /// assert_eq!(reader.recv()?, None);
    /// # Ok::<(), chanio::Error>(())
    /// ```
    pub fn recv(&mut self) -> Result<Option<Message>> {
        if self.slot.is_none() {
            return Err(self.closed_error());
        }
        if let Some(rest) = self.current.take().filter(|rest| !rest.is_empty()) {
            return Ok(Some(rest));
        }
        if let Some(bytes) = self.take_now() {
            return Ok(Some(self.path.received(bytes)));
        }
        self.recv_waiting()
    }

    /// The rest of every read once [`take_now`](Reader::take_now) found
    /// nothing (or for a flavor it does not serve): waits for the next
    /// message as the reader's timeout allows; `None` at end of stream.
    fn recv_waiting(&mut self) -> Result<Option<Message>> {
        match self.next_bytes() {
            Next::Message(bytes) => Ok(Some(self.path.received(bytes))),
            Next::End => Ok(None),
            other => Err(self.failure(other)),
        }
    }

    /// An iterator over the messages until end of stream. Errors are
    /// yielded as they come; after one that would only repeat (a closed
    /// reader, a poisoned stream) the iterator ends, while after a timeout
    /// or a [`Lagged`](Error::Lagged) it goes on.
    ///
    /// ```
    /// let backend = chanio::ChannelBackend::builder().persistent(true).build();
    /// let mut writer = backend.new_writer("log")?;
    /// for line in ["a", "b", "c"] {
    ///     writer.send(line.into())?;
    /// }
    /// writer.close()?;
    ///
    /// let mut reader = backend.new_reader("log")?;
    /// let all: Vec<_> = reader.messages().collect::<Result<_, _>>()?;
    /// assert_eq!(all, ["a", "b", "c"]);
    ///
    /// reader.close()?;
    /// assert_eq!(reader.messages().count(), 1); // one ReaderClosed, then the end
    /// # Ok::<(), chanio::Error>(())
    /// ```
    pub fn messages(&mut self) -> impl Iterator<Item = Result<Message>> + '_ {
        let mut over = false;
        std::iter::from_fn(move || {
            if over {
                return None;
            }
            // `recv`'s fast path, building the item in place: turning what
            // `recv` returns into an item copied the message once more.
            let next = if self.slot.is_some() && self.current.is_none() {
                match self.take_now() {
                    Some(bytes) => return Some(Ok(self.path.received(bytes))),
                    None => self.recv_waiting(),
                }
            } else {
                self.recv()
            };
            match next {
                Ok(message) => message.map(Ok),
                Err(err) => {
                    over = !matches!(err, Error::TimedOut { .. } | Error::Lagged { .. });
                    Some(Err(err))
                }
            }
        })
    }

    /// The bytes of a queue's next message if one is there now, counted:
    /// the fast path of every read. Callers turn them into what they
    /// return only at the end, and try the full [`next_bytes`] only if
    /// this gives nothing: moving a message through the layers of enums a
    /// read that may wait or end returns cost more than the channel receive
    /// itself (one thread taking 64 B messages: 54 ns a message through
    /// them, 39 ns this way). The caller has checked that the reader is
    /// open.
    ///
    /// [`next_bytes`]: Reader::next_bytes
    #[inline(always)]
    fn take_now(&mut self) -> Option<Body> {
        let bytes = self.path.take_now()?;
        self.cursor += 1;
        if let Some(slot) = &self.slot {
            slot.count(bytes.len());
        }
        Some(bytes)
    }

    /// Waits for the bytes of the next message and counts it, after
    /// [`take_now`](Reader::take_now) found none (or for a flavor it does
    /// not serve), as long as the reader's timeout allows.
    #[inline]
    fn next_bytes(&mut self) -> Next {
        // A timeout too long to add to now is as good as none.
        let deadline = match self.timeout {
            None => None,
            Some(t) => Instant::now().checked_add(t),
        };
        let next = self.path.next(&mut self.cursor, deadline);
        if let (Next::Message(bytes), Some(slot)) = (&next, &self.slot) {
            slot.count(bytes.len());
        }
        next
    }

    /// The error for what a read found other than a message or the end.
    #[cold]
    fn failure(&self, next: Next) -> Error {
        let path = self.path.name().to_owned();
        match next {
            Next::Lagged(skipped) => Error::Lagged { path, skipped },
            Next::Poisoned => Error::WriterPanicked { path },
            _ => Error::TimedOut { path },
        }
    }

    #[cold]
    fn closed_error(&self) -> Error {
        Error::ReaderClosed {
            path: self.path.name().to_owned(),
        }
    }
}

impl BufRead for Reader {
    /// What is left of the current message, waiting for the next message if
    /// none is; empty at end of stream.
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.slot.is_none() {
            return Err(self.closed_error().into());
        }
        let exhausted = self.current.as_ref().is_none_or(|m| m.is_empty());
        if exhausted {
            self.current = None;
            self.current = match self.take_now() {
                Some(bytes) => Some(self.path.received(bytes)),
                None => self.recv_waiting()?,
            };
        }
        Ok(self.current.as_deref().unwrap_or(&[]))
    }

    fn consume(&mut self, amount: usize) {
        if let Some(current) = &mut self.current {
            current.advance(amount);
            if current.is_empty() {
                // Dropping a large message gives its buffer back to the
                // writers (see `Recycler`).
                self.current = None;
            }
        }
    }
}

impl Read for Reader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return match self.slot {
                Some(_) => Ok(0),
                None => Err(self.closed_error().into()),
            };
        }
        // With no current message, the bytes are copied straight out: a
        // message read whole is never kept as the current one.
        if self.current.is_none() && self.slot.is_some() {
            let mut message = match self.take_now() {
                Some(bytes) => self.path.received(bytes),
                None => match self.recv_waiting()? {
                    Some(message) => message,
                    None => return Ok(0),
                },
            };
            let n = message.len().min(buf.len());
            buf[..n].copy_from_slice(&message[..n]);
            if n < message.len() {
                message.advance(n);
                self.current = Some(message);
            }
            return Ok(n);
        }
        crate::backend::read_from_buffer(self, buf)
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

impl fmt::Debug for Reader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("path", &self.path.name())
            .field("closed", &self.is_closed())
            .field("timeout", &self.timeout)
            .finish()
    }
}
