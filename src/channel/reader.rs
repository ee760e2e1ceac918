//! [`Reader`]: the read end of one path's stream.

use std::fmt;
use std::io::{self, BufRead, Read};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::channel::path::{Next, Path, ReadEnd};
use crate::error::{Error, Result};
use crate::message::Message;

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
/// backend closed and everything already queued has been read. A reader
/// opened before any writer simply waits for one.
///
/// A read waits for a message until its [timeout](Reader::set_read_timeout)
/// passes (an error of kind `TimedOut`, nothing consumed). After
/// [`Reader::close`], reads fail with kind `Other` carrying
/// [`Error::ReaderClosed`].
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
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Reader {
    path: Arc<Path>,
    /// `None` once closed.
    end: Option<ReadEnd>,
    /// What is left of the message being read.
    current: Option<Message>,
    timeout: Option<Duration>,
}

impl Reader {
    pub(crate) fn new(path: Arc<Path>) -> Reader {
        let end = path.add_reader();
        Reader {
            path,
            end: Some(end),
            current: None,
            timeout: None,
        }
    }

    /// The path this reader reads from.
    pub fn path(&self) -> &str {
        self.path.name()
    }

    /// Closes this reader; what it had not read stays for other readers
    /// (in queue mode) except the rest of a partly read message. Closing
    /// twice is `Ok`.
    pub fn close(&mut self) -> Result<()> {
        self.current = None;
        if self.end.take().is_some() {
            self.path.release_reader();
        }
        Ok(())
    }

    /// Whether [`close`](Reader::close) was called.
    pub fn is_closed(&self) -> bool {
        self.end.is_none()
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
        if self.end.is_none() {
            return Err(self.closed_error());
        }
        if let Some(rest) = self.current.take().filter(|rest| !rest.is_empty()) {
            return Ok(Some(rest));
        }
        match self.next_bytes() {
            Next::Message(bytes) => Ok(Some(self.path.received(bytes))),
            Next::End => Ok(None),
            Next::TimedOut => Err(self.timed_out_error()),
        }
    }

    /// An iterator over the messages until end of stream. Errors (a
    /// timeout, a closed reader) are yielded as they come.
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
    /// assert_eq!(all, ["a".into(), "b".into(), "c".into()] as [chanio::Message; 3]);
    /// # Ok::<(), chanio::Error>(())
    /// ```
    pub fn messages(&mut self) -> impl Iterator<Item = Result<Message>> + '_ {
        std::iter::from_fn(move || self.recv().transpose())
    }

    /// Waits for the bytes of the next message. Callers turn them into
    /// what they return only at the end: moving a message through layers of
    /// `Result<Option<Message>>` (72 bytes) cost more than the channel
    /// receive itself. The caller has checked that the reader is open.
    #[inline]
    fn next_bytes(&mut self) -> Next {
        let Some(end) = self.end.as_mut() else {
            return Next::End;
        };
        // A timeout too long to add to now is as good as none.
        let deadline = match self.timeout {
            None => None,
            Some(t) => Instant::now().checked_add(t),
        };
        self.path.next(end, deadline)
    }

    #[cold]
    fn timed_out_error(&self) -> Error {
        Error::TimedOut {
            path: self.path.name().to_owned(),
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
        if self.end.is_none() {
            return Err(self.closed_error().into());
        }
        let exhausted = self.current.as_ref().is_none_or(|m| m.is_empty());
        if exhausted {
            self.current = None;
            match self.next_bytes() {
                Next::Message(bytes) => self.current = Some(self.path.received(bytes)),
                Next::End => return Ok(&[]),
                Next::TimedOut => return Err(self.timed_out_error().into()),
            }
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
            return match self.end {
                Some(_) => Ok(0),
                None => Err(self.closed_error().into()),
            };
        }
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
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
