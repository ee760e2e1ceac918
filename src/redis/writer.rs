//! [`RedisWriter`]: the write end of one path's stream on Redis.

use std::fmt;
use std::io::{self, IoSlice, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::redis::conn::{Conn, reply};
use crate::redis::keys::PathKeys;
use crate::redis::lease::Role;
use crate::redis::scripts::scripts;
use crate::redis::shared::{Opened, Pushed, Shared, push_on, with_keys};

/// Writes messages to one path of a [`RedisBackend`](crate::RedisBackend):
/// each `write` appends one message, as with [`Writer`](crate::Writer).
///
/// # Writing
///
/// Each successful `write(buf)` with a non-empty `buf` appends exactly one
/// message holding `buf` and returns `Ok(buf.len())` once the server has
/// it. In queue mode a write blocks while the path's queue is full, until
/// room frees, its [timeout](RedisWriter::set_write_timeout) passes, or the
/// path is deleted (in any process) or this backend handle closed.
/// Persistent writes never block.
///
/// # Closing
///
/// The stream ends when its last writer, in any process, closes or is
/// dropped; a writer whose process died stops counting once its lease
/// (`lease_ms`) runs out. A writer dropped while its thread panics
/// poisons the stream.
///
/// | after                     | `write` returns                                    |
/// |---------------------------|----------------------------------------------------|
/// | this writer's `close`     | `BrokenPipe` carrying [`Error::WriterClosed`]      |
/// | `delete` of the path      | `BrokenPipe` carrying [`Error::PathDeleted`]       |
/// | `close` of the backend    | `BrokenPipe` carrying [`Error::BackendClosed`]     |
/// | its timeout passing       | `TimedOut` carrying [`Error::TimedOut`], nothing sent |
/// | the server unreachable    | its kind (`ConnectionReset`, ...) carrying [`Error::Connection`], every time |
pub struct RedisWriter {
    shared: Arc<Shared>,
    path: String,
    keys: PathKeys,
    /// Its entry in the lease book and the table of blocked connections.
    serial: u64,
    /// `None` once closed, or once it failed.
    conn: Option<Conn>,
    /// The connection failure that broke this writer, repeated by every
    /// later write: a handle does not reconnect behind its user's back.
    fault: Option<Error>,
    closed: bool,
    timeout: Option<Duration>,
}

impl RedisWriter {
    pub(crate) fn new(
        shared: Arc<Shared>,
        path: &str,
        opened: Opened,
        serial: u64,
        conn: Conn,
    ) -> RedisWriter {
        RedisWriter {
            shared,
            path: path.to_owned(),
            keys: opened.keys,
            serial,
            conn: Some(conn),
            fault: None,
            closed: false,
            timeout: None,
        }
    }

    /// The path this writer writes to.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Closes this writer; the stream ends when its last writer closes.
    /// Closing twice is `Ok`. Fails only if the server could not be told
    /// (then the writer's lease runs out instead).
    pub fn close(&mut self) -> Result<()> {
        self.close_poisoned(false)
    }

    /// Whether [`close`](RedisWriter::close) was called.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Another writer on the same stream, counted as a writer.
    pub fn try_clone(&self) -> Result<RedisWriter> {
        self.check_usable()?;
        let mut conn = self.shared.conn()?;
        let mut join = scripts().join.prepare_invoke();
        with_keys(&mut join, &self.keys)
            .key(format!("{}next", self.shared.settings.namespace.prefix()))
            .arg(self.shared.settings.lease.as_millis().to_string());
        let value = conn.invoke(&join).map_err(|err| {
            self.shared
                .connector
                .fault(&self.doing("cloning a writer of"), &err)
        })?;
        let mut items = reply::items(value).unwrap_or_default().into_iter();
        let status = items.next().as_ref().and_then(reply::text);
        let token = items.next().as_ref().and_then(reply::text);
        match (status.as_deref(), token) {
            (Some("ok"), Some(token)) => {
                let opened = Opened {
                    keys: self.keys.clone(),
                    token,
                };
                let serial = self.shared.register(&opened, Role::Writer)?;
                let mut writer =
                    RedisWriter::new(Arc::clone(&self.shared), &self.path, opened, serial, conn);
                writer.timeout = self.timeout;
                Ok(writer)
            }
            (Some("ended"), _) => Err(Error::StreamEnded {
                path: self.path.clone(),
            }),
            (Some("deleted"), _) => Err(Error::PathDeleted {
                path: self.path.clone(),
            }),
            _ => Err(self.shared.unexpected(&self.doing("cloning a writer of"))),
        }
    }

    /// How long a write may wait for room: `None` (the default) waits as
    /// long as it takes. A write that times out sends nothing.
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    /// The timeout set by [`set_write_timeout`](RedisWriter::set_write_timeout).
    pub fn write_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    fn doing(&self, what: &str) -> String {
        format!("{what} {:?}", self.path)
    }

    /// The error a write gets before it reaches the server, if any.
    fn check_usable(&self) -> Result<()> {
        if self.closed {
            return Err(Error::WriterClosed {
                path: self.path.clone(),
            });
        }
        if self.shared.is_closed() {
            return Err(Error::BackendClosed);
        }
        if let Some(fault) = &self.fault {
            return Err(fault.clone());
        }
        Ok(())
    }

    /// Sends one message, waiting for room in queue mode.
    fn send(&mut self, data: &[u8]) -> Result<()> {
        self.check_usable()?;
        let deadline = self.timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            let Some(conn) = self.conn.as_mut() else {
                return Err(Error::WriterClosed {
                    path: self.path.clone(),
                });
            };
            let pushed = match push_on(conn, &self.keys, data) {
                Ok(pushed) => pushed,
                Err(err) => return Err(self.fail("writing to", &err)),
            };
            match pushed {
                Pushed::Appended => return Ok(()),
                Pushed::Ended => {
                    return Err(Error::StreamEnded {
                        path: self.path.clone(),
                    });
                }
                Pushed::Deleted => {
                    return Err(Error::PathDeleted {
                        path: self.path.clone(),
                    });
                }
                Pushed::Full => {}
            }
            match self
                .shared
                .wait_for_room(conn, &self.keys, self.serial, deadline)
            {
                Ok(true) => {}
                Ok(false) => {
                    return Err(Error::TimedOut {
                        path: self.path.clone(),
                    });
                }
                Err(err) => return Err(self.fail("waiting for room in", &err)),
            }
            if self.shared.is_closed() {
                return Err(Error::BackendClosed);
            }
        }
    }

    /// Breaks the writer with a connection failure, which every later write
    /// repeats.
    fn fail(&mut self, what: &str, err: &::redis::RedisError) -> Error {
        let fault = self.shared.connector.fault(&self.doing(what), err);
        self.conn = None;
        self.fault = Some(fault.clone());
        fault
    }

    fn close_poisoned(&mut self, poisoned: bool) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        let conn = self.conn.take();
        self.shared
            .release_stream(self.serial, conn, poisoned, || self.doing("closing"))
    }
}

impl Write for RedisWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            self.check_usable()?;
            return Ok(0);
        }
        self.send(buf)?;
        Ok(buf.len())
    }

    /// Sends all the slices together as one message.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let joined: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
        self.write(&joined)
    }

    /// Formats the whole of `args` first and sends it as one message.
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

impl Drop for RedisWriter {
    fn drop(&mut self) {
        let _ = self.close_poisoned(std::thread::panicking());
    }
}

impl fmt::Debug for RedisWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisWriter")
            .field("path", &self.path)
            .field("closed", &self.closed)
            .field("timeout", &self.timeout)
            .finish()
    }
}
