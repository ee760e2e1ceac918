//! [`RedisReader`]: the read end of one path's stream on Redis.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, BufRead, Read};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ::redis::{RedisError, Value};

use crate::error::{Error, Result};
use crate::message::Message;
use crate::redis::conn::{Conn, is_unblocked, reply};
use crate::redis::keys::PathKeys;
use crate::redis::scripts::scripts;
use crate::redis::shared::{Opened, Shared, slice_until, with_keys};

/// How many entries a persistent reader asks for at once. A persistent
/// reader has its own cursor, so reading ahead takes nothing from anyone.
const READ_AHEAD: usize = 64;

/// Reads messages from one path of a [`RedisBackend`](crate::RedisBackend),
/// as [`Reader`](crate::Reader) does.
///
/// # Reading
///
/// `read(buf)` returns bytes of at most one message: a message longer than
/// `buf` comes over several reads, and two messages are never joined.
/// [`BufRead::fill_buf`] returns what is left of the current message;
/// [`recv`](RedisReader::recv) and [`messages`](RedisReader::messages)
/// hand out whole [`Message`]s.
///
/// In queue mode the readers of a path, in every process, compete: each
/// message goes to exactly one of them. A message is removed from the
/// server as it is handed over, so one that a reader had taken when its
/// process died is lost (at most once). In persistent mode every reader
/// reads every message from the first, with its own cursor.
///
/// # End of stream
///
/// A read returns `Ok(0)` once the stream has ended (its last writer, in
/// any process, closed or its lease ran out) and everything was read, once
/// the path was deleted and what was queued was read, or at once after
/// `close` of this backend handle. A stream whose writer panicked gives
/// `UnexpectedEof` carrying [`Error::WriterPanicked`] instead of the end.
/// After [`close`](RedisReader::close), reads fail with kind `Other`
/// carrying [`Error::ReaderClosed`]; a timed-out read (kind `TimedOut`)
/// consumes nothing; a lost server gives [`Error::Connection`] every time.
pub struct RedisReader {
    shared: Arc<Shared>,
    path: String,
    keys: PathKeys,
    serial: u64,
    persistent: bool,
    /// `None` once closed, or once it failed.
    conn: Option<Conn>,
    /// The connection failure that broke this reader, repeated.
    fault: Option<Error>,
    /// Persistent mode: the id of the last entry read ahead.
    cursor: String,
    /// Persistent mode: messages read ahead, in order.
    ahead: VecDeque<Message>,
    /// Set once the end marker was read: the end comes after `ahead`.
    end: Option<End>,
    /// What is left of the message being read.
    current: Option<Message>,
    closed: bool,
    timeout: Option<Duration>,
}

/// How the stream ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Clean,
    Panicked,
}

impl End {
    fn from_marker(how: &[u8]) -> End {
        if how == b"panic" {
            End::Panicked
        } else {
            End::Clean
        }
    }
}

/// What one look at the server found.
enum Found {
    Message(Message),
    End(End),
    /// Nothing yet; look again (after the deadline check).
    Nothing,
}

impl RedisReader {
    pub(crate) fn new(
        shared: Arc<Shared>,
        path: &str,
        opened: Opened,
        serial: u64,
        conn: Conn,
    ) -> RedisReader {
        let persistent = shared.settings.persistent;
        RedisReader {
            shared,
            path: path.to_owned(),
            keys: opened.keys,
            serial,
            persistent,
            conn: Some(conn),
            fault: None,
            cursor: "0-0".to_owned(),
            ahead: VecDeque::new(),
            end: None,
            current: None,
            closed: false,
            timeout: None,
        }
    }

    /// The path this reader reads from.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Closes this reader. In queue mode what it had not taken stays for
    /// other readers; the rest of a partly read message is dropped.
    /// Closing twice is `Ok`.
    pub fn close(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        self.current = None;
        self.ahead.clear();
        let conn = self.conn.take();
        self.shared
            .release_stream(self.serial, conn, false, || self.doing("closing"))
    }

    /// Whether [`close`](RedisReader::close) was called.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// How long a read may wait for a message: `None` (the default) waits
    /// as long as it takes. A read that times out consumes nothing.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    /// The timeout set by [`set_read_timeout`](RedisReader::set_read_timeout).
    pub fn read_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The next whole message (or what is left of a partly read one);
    /// `None` at end of stream.
    pub fn recv(&mut self) -> Result<Option<Message>> {
        if self.closed {
            return Err(self.closed_error());
        }
        if let Some(rest) = self.current.take().filter(|rest| !rest.is_empty()) {
            return Ok(Some(rest));
        }
        self.next_message()
    }

    /// An iterator over the messages until end of stream. It ends after an
    /// error that would repeat for ever (a closed reader, a poisoned
    /// stream, a lost connection); after a timeout it goes on.
    pub fn messages(&mut self) -> impl Iterator<Item = Result<Message>> + '_ {
        let mut done = false;
        std::iter::from_fn(move || {
            if done {
                return None;
            }
            let next = self.recv().transpose();
            if let Some(Err(err)) = &next {
                done = !err.is_timeout();
            }
            next
        })
    }

    fn doing(&self, what: &str) -> String {
        format!("{what} {:?}", self.path)
    }

    fn closed_error(&self) -> Error {
        Error::ReaderClosed {
            path: self.path.clone(),
        }
    }

    /// Waits for the next message.
    fn next_message(&mut self) -> Result<Option<Message>> {
        let deadline = self.timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            // A closed handle's readers take nothing more from the server.
            if self.shared.is_closed() {
                self.ahead.clear();
                return Ok(None);
            }
            if let Some(message) = self.ahead.pop_front() {
                return Ok(Some(message));
            }
            match self.end {
                Some(End::Clean) => return Ok(None),
                Some(End::Panicked) => {
                    return Err(Error::WriterPanicked {
                        path: self.path.clone(),
                    });
                }
                None => {}
            }
            if let Some(fault) = &self.fault {
                return Err(fault.clone());
            }
            let Some(slice) = slice_until(deadline) else {
                return Err(Error::TimedOut {
                    path: self.path.clone(),
                });
            };
            let found = if self.persistent {
                self.read_ahead(slice)
            } else {
                self.take(slice)
            };
            match found {
                Ok(Found::Message(message)) => return Ok(Some(message)),
                Ok(Found::End(end)) => self.end = Some(end),
                Ok(Found::Nothing) => {}
                Err(err) => {
                    let fault = self.shared.connector.fault(&self.doing("reading"), &err);
                    self.conn = None;
                    self.fault = Some(fault.clone());
                    return Err(fault);
                }
            }
        }
    }

    fn conn(&mut self) -> std::result::Result<&mut Conn, RedisError> {
        self.conn.as_mut().ok_or_else(|| {
            RedisError::from((
                ::redis::ErrorKind::Client,
                "the reader's connection is closed",
            ))
        })
    }

    /// Queue mode: takes the oldest message, or waits up to `slice` for
    /// one to arrive.
    fn take(&mut self, slice: Duration) -> std::result::Result<Found, RedisError> {
        let keys = self.keys.clone();
        let mut take = scripts().take.prepare_invoke();
        with_keys(&mut take, &keys);
        let value = self.conn()?.invoke(&take)?;
        let mut items = reply::items(value).unwrap_or_default().into_iter();
        let status = items.next().as_ref().and_then(reply::text);
        let second = items.next();
        match (status.as_deref(), second) {
            (Some("d"), Some(data)) => Ok(Found::Message(message_of(data))),
            (Some("end"), how) => Ok(Found::End(End::from_marker(
                how.as_ref().and_then(reply::bytes).unwrap_or(b""),
            ))),
            (Some("gone"), _) => Ok(Found::End(End::Clean)),
            (Some("wait"), Some(last)) => {
                let last = reply::text(&last).unwrap_or_else(|| "0-0".to_owned());
                self.wait_and_claim(&last, slice)
            }
            _ => Err(RedisError::from((
                ::redis::ErrorKind::UnexpectedReturnType,
                "the take script gave a reply chanio does not know",
            ))),
        }
    }

    /// Queue mode, empty queue: blocks until an entry after `last`
    /// arrives, then tries to claim it.
    fn wait_and_claim(
        &mut self,
        last: &str,
        slice: Duration,
    ) -> std::result::Result<Found, RedisError> {
        let mut read = ::redis::cmd("XREAD");
        read.arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(slice.as_millis() as u64)
            .arg("STREAMS")
            .arg(&self.keys.data)
            .arg(last);
        let Some((id, fields)) = self.blocking_read(&read)?.into_iter().next() else {
            return Ok(Found::Nothing);
        };
        match entry_of(fields) {
            Entry::End(end) => Ok(Found::End(end)),
            Entry::Data(data) => {
                let mut claim = scripts().claim.prepare_invoke();
                with_keys(&mut claim, &self.keys).arg(&id);
                let value = self.conn()?.invoke(&claim)?;
                if reply::int(&value) == Some(1) {
                    Ok(Found::Message(data))
                } else {
                    // Another reader was faster: look again.
                    Ok(Found::Nothing)
                }
            }
        }
    }

    /// Persistent mode: reads ahead from the cursor, waiting up to `slice`.
    fn read_ahead(&mut self, slice: Duration) -> std::result::Result<Found, RedisError> {
        let mut read = ::redis::cmd("XREAD");
        read.arg("COUNT")
            .arg(READ_AHEAD)
            .arg("BLOCK")
            .arg(slice.as_millis() as u64)
            .arg("STREAMS")
            .arg(&self.keys.data)
            .arg(&self.cursor);
        let entries = self.blocking_read(&read)?;
        if entries.is_empty() {
            return self.check_writers();
        }
        for (id, fields) in entries {
            self.cursor = id;
            match entry_of(fields) {
                Entry::Data(message) => self.ahead.push_back(message),
                Entry::End(end) => {
                    self.end = Some(end);
                    break;
                }
            }
        }
        Ok(Found::Nothing)
    }

    /// Persistent mode, nothing new for a while: counts out writers whose
    /// lease ran out, which may end the stream (the next read sees the
    /// marker).
    fn check_writers(&mut self) -> std::result::Result<Found, RedisError> {
        let mut check = scripts().check.prepare_invoke();
        with_keys(&mut check, &self.keys);
        let keys_exist = reply::int(&self.conn()?.invoke(&check)?) == Some(1);
        Ok(if keys_exist {
            Found::Nothing
        } else {
            // Deleted and freed (this reader's lease had run out).
            Found::End(End::Clean)
        })
    }

    /// Runs a blocking `XREAD`, registered for `close` to cut short.
    fn blocking_read(
        &mut self,
        read: &::redis::Cmd,
    ) -> std::result::Result<Vec<(String, Vec<Value>)>, RedisError> {
        let shared = Arc::clone(&self.shared);
        let serial = self.serial;
        let conn = self.conn()?;
        shared.blocking(serial, conn);
        let result = if shared.is_closed() {
            Ok(Value::Nil)
        } else {
            conn.query(read)
        };
        shared.unblocked(serial);
        match result {
            Ok(value) => reply::stream_entries(value).ok_or_else(|| {
                RedisError::from((
                    ::redis::ErrorKind::UnexpectedReturnType,
                    "XREAD gave a reply chanio does not know",
                ))
            }),
            // The key changed under a blocked read: look again.
            Err(err) if is_unblocked(&err) => Ok(Vec::new()),
            Err(err) => Err(err),
        }
    }
}

/// One stream entry: a message or the end marker.
enum Entry {
    Data(Message),
    End(End),
}

fn entry_of(fields: Vec<Value>) -> Entry {
    let mut fields = fields.into_iter();
    let name = fields.next();
    let value = fields.next();
    match name.as_ref().and_then(reply::bytes) {
        Some(b"d") => Entry::Data(
            value
                .map(message_of)
                .unwrap_or_else(|| Message::from(&[][..])),
        ),
        _ => Entry::End(End::from_marker(
            value.as_ref().and_then(reply::bytes).unwrap_or(b""),
        )),
    }
}

fn message_of(value: Value) -> Message {
    Message::from(reply::into_bytes(value).unwrap_or_default())
}

impl BufRead for RedisReader {
    /// What is left of the current message, waiting for the next message if
    /// none is; empty at end of stream.
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.closed {
            return Err(self.closed_error().into());
        }
        let exhausted = self.current.as_ref().is_none_or(|m| m.is_empty());
        if exhausted {
            self.current = self.next_message()?;
        }
        Ok(self.current.as_deref().unwrap_or(&[]))
    }

    fn consume(&mut self, amount: usize) {
        if let Some(current) = &mut self.current {
            current.advance(amount);
            if current.is_empty() {
                self.current = None;
            }
        }
    }
}

impl Read for RedisReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return if self.closed {
                Err(self.closed_error().into())
            } else {
                Ok(0)
            };
        }
        crate::backend::read_from_buffer(self, buf)
    }
}

impl Drop for RedisReader {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

impl fmt::Debug for RedisReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisReader")
            .field("path", &self.path)
            .field("persistent", &self.persistent)
            .field("closed", &self.closed)
            .field("timeout", &self.timeout)
            .finish()
    }
}
