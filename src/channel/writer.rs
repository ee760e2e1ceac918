//! [`Writer`]: the write end of one path's stream.

use std::fmt;
use std::io::{self, IoSlice, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::channel::path::Path;
use crate::channel::stats::WriterSlot;
use crate::error::{Error, Result};
use crate::message::{Body, Message};

/// Writes messages to one path: each `write` sends one message.
///
/// Get one from [`ChannelBackend::new_writer`](crate::ChannelBackend::new_writer)
/// or [`Writer::try_clone`].
///
/// # Writing
///
/// Each successful `write(buf)` with a non-empty `buf` sends exactly one
/// message holding a copy of `buf` and returns `Ok(buf.len())`; `write(&[])`
/// sends nothing. In queue mode a write blocks while the path's queue is
/// full, until room frees, its [timeout](Writer::set_write_timeout) passes,
/// or the path is deleted or the backend closed. In persistent mode writes
/// never block. `write!` and `writeln!` send one message each (the text is
/// formatted first). [`Writer::send`] sends a [`Message`] you already hold
/// without copying it.
///
/// # Closing
///
/// A stream ends when its last writer closes, either with [`Writer::close`]
/// or by being dropped: readers then read what is left and see end of
/// stream (`Ok(0)`). While any writer of the path is open, it has not ended.
/// A writer dropped while its thread is panicking poisons the stream
/// instead: readers get [`Error::WriterPanicked`] where they would have
/// seen the end, so a stream cut short is never taken for a finished one.
///
/// | after                     | `write` returns                                    |
/// |---------------------------|----------------------------------------------------|
/// | this writer's `close`     | `BrokenPipe` carrying [`Error::WriterClosed`]      |
/// | `delete` of the path      | `BrokenPipe` carrying [`Error::PathDeleted`]       |
/// | `close` of the backend    | `BrokenPipe` carrying [`Error::BackendClosed`]     |
/// | every backend handle dropped and no reader left | `BrokenPipe` carrying [`Error::NoReaders`] |
/// | its timeout passing       | `TimedOut` carrying [`Error::TimedOut`], nothing sent |
///
/// A write blocked on a full queue wakes with the same error when any of
/// these happens.
///
/// ```
/// use std::io::{Read, Write};
/// let backend = chanio::ChannelBackend::new();
/// let mut writer = backend.new_writer("events")?;
/// let mut second = writer.try_clone()?;
/// writer.write_all(b"from the first")?;
/// writer.close()?;
/// second.write_all(b"from the second")?;
/// drop(second); // the last writer: the stream ends here
///
/// let mut reader = backend.new_reader("events")?;
/// let mut text = String::new();
/// reader.read_to_string(&mut text)?;
/// assert_eq!(text, "from the firstfrom the second");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// With the backend's handles gone, a writer whose readers are gone learns
/// it at once, blocked or not:
///
/// ```
/// use std::io::Write;
/// let backend = chanio::ChannelBackend::builder().buffer_size(1).build();
/// let reader = backend.new_reader("jobs")?;
/// let mut writer = backend.new_writer("jobs")?;
/// writer.write_all(b"queued")?;
/// drop((backend, reader));
/// let err = writer.write(b"no one will read this").unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
/// assert!(matches!(
///     err.get_ref().and_then(|e| e.downcast_ref::<chanio::Error>()),
///     Some(chanio::Error::NoReaders { .. })
/// ));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Writer {
    path: Arc<Path>,
    /// The writer's in-flight flag and counts; `None` once closed.
    slot: Option<Arc<WriterSlot>>,
    timeout: Option<Duration>,
}

impl Writer {
    pub(crate) fn new(path: Arc<Path>, slot: Arc<WriterSlot>) -> Writer {
        Writer {
            path,
            slot: Some(slot),
            timeout: None,
        }
    }

    /// The path this writer writes to.
    pub fn path(&self) -> &str {
        self.path.name()
    }

    /// Closes this writer. The stream ends when its last writer closes.
    /// Closing twice is `Ok`. An explicit close never poisons the stream,
    /// even from a thread that is panicking.
    pub fn close(&mut self) -> Result<()> {
        self.release(false);
        Ok(())
    }

    fn release(&mut self, panicking: bool) {
        if let Some(slot) = self.slot.take() {
            self.path.release_writer(&slot, panicking);
        }
    }

    /// Whether [`close`](Writer::close) was called.
    pub fn is_closed(&self) -> bool {
        self.slot.is_none()
    }

    /// Another writer on the same stream, counted as a writer: the stream
    /// ends only when both have closed.
    pub fn try_clone(&self) -> Result<Writer> {
        if self.slot.is_none() {
            return Err(self.closed_error());
        }
        let slot = self.path.add_writer()?;
        let mut writer = Writer::new(Arc::clone(&self.path), slot);
        writer.timeout = self.timeout;
        Ok(writer)
    }

    /// How long a write may wait for room in the queue: `None` (the
    /// default) waits as long as it takes. A write that times out sends
    /// nothing and returns an error of kind `TimedOut`.
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    /// The timeout set by [`set_write_timeout`](Writer::set_write_timeout).
    pub fn write_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Sends `message` as one message without copying its bytes: the way
    /// to pass on a [`Message`] received from another path. (Only the rest
    /// of a message already partly read through `Read` is copied.) An empty
    /// message sends nothing.
    ///
    /// ```
    /// let backend = chanio::ChannelBackend::new();
    /// let mut input = backend.new_reader("in")?;
    /// let mut w = backend.new_writer("in")?;
    /// w.send("payload".into())?;
    /// let mut forward = backend.new_writer("out")?;
    /// let mut output = backend.new_reader("out")?;
    ///
    /// let message = input.recv()?.unwrap();
    /// forward.send(message)?; // no copy of the bytes
    /// assert_eq!(output.recv()?.unwrap(), b"payload");
    /// # Ok::<(), chanio::Error>(())
    /// ```
    pub fn send(&mut self, message: Message) -> Result<()> {
        let slot = self.slot.as_ref().ok_or_else(|| self.closed_error())?;
        if message.is_empty() {
            return Ok(());
        }
        let deadline = self.deadline();
        self.path.write(slot, message.shared(), deadline)
    }

    /// When a write started now must give up; a timeout too long to add
    /// to now is as good as none.
    fn deadline(&self) -> Option<Instant> {
        self.timeout.and_then(|t| Instant::now().checked_add(t))
    }

    fn closed_error(&self) -> Error {
        Error::WriterClosed {
            path: self.path.name().to_owned(),
        }
    }

    fn write_message(&mut self, len: usize, make: impl FnOnce(&Path) -> Body) -> io::Result<usize> {
        let slot = self.slot.as_ref().ok_or_else(|| self.closed_error())?;
        if len == 0 {
            return Ok(0);
        }
        let deadline = self.deadline();
        self.path.write(slot, make(&self.path), deadline)?;
        Ok(len)
    }
}

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_message(buf.len(), |path| path.new_message(buf))
    }

    /// Sends all the slices together as one message.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let len = bufs.iter().map(|b| b.len()).sum();
        self.write_message(len, |_| Message::concat(bufs))
    }

    /// Formats the whole of `args` first and sends it as one message, so
    /// that `write!` and `writeln!` with arguments make one message, not one
    /// per piece.
    fn write_fmt(&mut self, args: fmt::Arguments<'_>) -> io::Result<()> {
        match args.as_str() {
            Some(text) => self.write_all(text.as_bytes()),
            None => self.write_all(args.to_string().as_bytes()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Writer {
    /// Closes the writer; if its thread is panicking, the stream is
    /// poisoned first, so readers learn that it may be cut short.
    fn drop(&mut self) {
        self.release(std::thread::panicking());
    }
}

impl fmt::Debug for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer")
            .field("path", &self.path.name())
            .field("closed", &self.is_closed())
            .field("timeout", &self.timeout)
            .finish()
    }
}
