//! Named, in-process byte streams for threads.
//!
//! A path such as `"events"` or `"stage2/in"` names a stream. Writers get
//! [`std::io::Write`], readers get [`std::io::Read`] and
//! [`std::io::BufRead`]. Under it are bounded lock-free queues keyed by
//! path (crossbeam-channel's design, in safe Rust), an in-memory log for
//! persistent mode, and broadcast by path prefix.
//! chanio is synchronous on purpose: it is for programs built on plain
//! threads, for connecting the stages of a thread pipeline, and for test
//! fixtures that need no async runtime.
//!
//! # When to use it
//!
//! - Over [`std::io::pipe`]: no file descriptors or syscalls, message
//!   boundaries are kept, streams are found by name rather than passed
//!   around, and readers can join late (persistent mode) or many at once.
//! - Over crossbeam-channel: when the code on either side speaks
//!   `io::Read` / `io::Write` (parsers, encoders, `BufRead::lines`), when
//!   stages find each other by name, or when you want a stream to end once
//!   every writer is gone and a reader to see that as end of file.
//! - Over `bus`: when subscribers come and go by name and a prefix picks
//!   who gets a broadcast; broadcast here waits for slow readers instead of
//!   failing.
//!
//! If all you need is typed values between two threads, a plain crossbeam
//! channel is simpler: nothing to encode into bytes.
//!
//! # Quick start
//!
//! ```
//! use std::io::{Read, Write};
//! use chanio::ChannelBackend;
//!
//! let backend = ChannelBackend::new();
//! let producer = backend.clone();
//! let thread = std::thread::spawn(move || -> std::io::Result<()> {
//!     let mut w = producer.new_writer("events")?;
//!     w.write_all(b"event1")?;
//!     w.write_all(b"event2")?;
//!     Ok(()) // dropping the last writer ends the stream
//! });
//!
//! let mut r = backend.new_reader("events")?;
//! let mut received = String::new();
//! r.read_to_string(&mut received)?;
//! assert_eq!(received, "event1event2");
//! thread.join().unwrap()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Queue mode
//!
//! By default each path is a bounded queue of
//! [`buffer_size`](Builder::buffer_size) messages (100). Each message goes to
//! exactly one of the path's readers (readers compete, as on a crossbeam
//! channel), and messages from one writer arrive in the order written.
//!
//! - **Blocks:** a write while the queue is full; a read while it is empty.
//!   A buffer size of 0 makes each write a hand-off to a waiting reader.
//! - **Memory:** at most `buffer_size` messages per path; the queue's slots
//!   are allocated when the path is created.
//!
//! # Persistent mode
//!
//! With [`persistent(true)`](Builder::persistent) each path is an
//! append-only log in memory. Every reader, whenever it is opened, reads
//! every message kept from the oldest, once each and in order, one message
//! per read, then waits for more, and sees end of stream once the stream
//! has ended and it has read everything.
//!
//! - **Blocks:** never a write (`buffer_size` does not apply); a read only
//!   while it has read everything and the stream has not ended.
//! - **Memory:** the log holds each message's bytes once, however many
//!   readers there are: a reader is only a cursor. By default nothing is
//!   dropped until the path is deleted or the backend closed; bound it with
//!   [retention](#retention-and-offsets).
//!
//! ```
//! use std::io::Write;
//! let backend = chanio::ChannelBackend::builder().persistent(true).build();
//! let mut w = backend.new_writer("data")?;
//! w.write_all(b"message 1")?;
//! w.write_all(b"message 2")?;
//!
//! // A late reader still gets everything, one message per read, once.
//! let mut late = backend.new_reader("data")?;
//! assert_eq!(late.recv()?.unwrap(), b"message 1");
//! assert_eq!(late.recv()?.unwrap(), b"message 2");
//! w.write_all(b"message 3")?; // live messages follow the replay
//! assert_eq!(late.recv()?.unwrap(), b"message 3");
//! w.close()?;
//! assert_eq!(late.recv()?, None);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Retention and offsets
//!
//! [`Builder::retain_messages`] and [`Builder::retain_bytes`] bound each
//! log (config keys `retain_messages` and `retain_bytes`): when an append
//! makes a log exceed either bound, its oldest messages are dropped until
//! it fits both (the newest is always kept). A dropped message's bytes are
//! freed once no reader still holds it as a [`Message`]; the log itself
//! never holds more than the bound plus one message, however far behind
//! its readers are.
//!
//! Every message of a log has an offset, 0, 1, 2, … in the order the log
//! took it; [`Reader::offset`] is the offset of the next message a reader
//! will take, and [`ChannelBackend::new_reader_at`] starts a reader at the
//! oldest message kept, at the next one to be appended
//! ([`Start::Latest`]), or at an offset saved earlier. Nothing is skipped
//! silently: a reader whose next message was dropped gets
//! [`Error::Lagged`] with the number it missed (that read consumes
//! nothing), then goes on from the oldest message kept.
//!
//! ```
//! use std::io::Write;
//! use chanio::{ChannelBackend, Error, Start};
//!
//! let backend = ChannelBackend::builder()
//!     .persistent(true)
//!     .retain_messages(3)
//!     .build();
//! let mut events = backend.new_writer("events")?;
//! let mut slow = backend.new_reader("events")?; // will fall behind
//! for i in 0..5 {
//!     writeln!(events, "event {i}")?;
//! }
//!
//! // A monitor that only wants what happens from now on.
//! let mut monitor = backend.new_reader_at("events", Start::Latest)?;
//! writeln!(events, "event 5")?;
//! assert_eq!(monitor.recv()?.unwrap(), "event 5\n");
//!
//! // The slow reader is told what it missed, then reads what is kept.
//! assert!(matches!(slow.recv(), Err(Error::Lagged { skipped: 3, .. })));
//! assert_eq!(slow.recv()?.unwrap(), "event 3\n");
//!
//! // A consumer that saved its place resumes from there.
//! let saved = slow.offset();
//! drop(slow);
//! let mut resumed = backend.new_reader_at("events", Start::Offset(saved))?;
//! assert_eq!(resumed.recv()?.unwrap(), "event 4\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Messages and reads
//!
//! Each `write` is one message. `read(buf)` returns bytes of at most one
//! message: a long message comes over several reads, and two messages are
//! never joined. [`Reader::recv`] returns whole [`Message`]s without
//! copying, and [`Writer::send`] passes one on without copying.
//!
//! # Closing
//!
//! - A stream **ends** when the last of its writers closes, with
//!   [`Writer::close`] or by being dropped, like the write end of a pipe. It
//!   never ends before its first writer has come and gone: a reader opened
//!   first waits.
//! - After the end, readers read what is left, then get `Ok(0)` from `read`
//!   and `None` from `recv`, and so on every later read (but see below for
//!   a message another reader only peeked at).
//!   [`ChannelBackend::new_writer`] on the ended path is
//!   [`Error::StreamEnded`]; after `delete(path)` the name is fresh again.
//! - [`ChannelBackend::delete`] removes a path and ends its stream at once:
//!   blocked and later writes fail with `BrokenPipe`; readers drain what was
//!   queued, then see end of stream.
//! - [`ChannelBackend::close`] does that to every path, and afterwards the
//!   backend refuses new work with [`Error::BackendClosed`].
//! - Both are **final when they return**, in every thread that calls them
//!   (a second caller racing a first waits for its work): every thread
//!   blocked on the paths has been woken, and no later write succeeds.
//! - **When every handle of the backend is gone** (every `ChannelBackend`
//!   clone and every [`Broadcaster`]), no new writer or reader can be made,
//!   so each path behaves like a pipe whose other end may be gone: readers
//!   read what is queued, then see end of stream once no writer is left
//!   (even if no writer ever came), and a writer gets `BrokenPipe` carrying
//!   [`Error::NoReaders`] once no reader is left. Handles made before keep
//!   working with each other.
//! - **A writer that panics poisons its stream.** A `Writer` dropped while
//!   its thread is panicking marks the stream: readers still read
//!   everything written, but where they would have seen end of stream they
//!   get, on every further read, an error of kind `UnexpectedEof` carrying
//!   [`Error::WriterPanicked`] — so a record cut short by a crash is never
//!   mistaken for a clean end. An explicit [`Writer::close`] never poisons.
//! - **Nothing only peeked at is lost.** A message a queue reader took with
//!   [`fill_buf`](std::io::BufRead::fill_buf) but did not consume at all
//!   goes back to the path when that reader closes, ahead of what is still
//!   queued, for the path's other readers. (It may then arrive after a
//!   later message of the same writer that another reader had already
//!   taken, and even after a reader saw the end of the stream while the
//!   message was still held: the next read of that reader gets it.)
//! - Closing anything twice is `Ok`. No thread stays blocked on a closed
//!   backend, a deleted path or a backend whose handles are all gone.
//!
//! ```
//! use std::io::Write;
//! use std::time::Duration;
//! let backend = chanio::ChannelBackend::builder().buffer_size(1).build();
//! let mut w = backend.new_writer("full")?;
//! w.write_all(b"fills the queue")?;
//!
//! let closer = backend.clone();
//! std::thread::spawn(move || {
//!     std::thread::sleep(Duration::from_millis(20));
//!     closer.close().unwrap();
//! });
//! // This write blocks (no room) until the backend is closed.
//! let err = w.write(b"waits").unwrap_err();
//! assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A producer that panics half way through its work:
//!
//! ```
//! use std::io::{BufRead, ErrorKind, Write};
//! let backend = chanio::ChannelBackend::new();
//! let reader = backend.new_reader("records")?;
//! let mut writer = backend.new_writer("records")?;
//! let producer = std::thread::spawn(move || {
//!     writeln!(writer, "record 1").unwrap();
//!     panic!("the producer fails here"); // `writer` is dropped while panicking
//! });
//! assert!(producer.join().is_err());
//!
//! let mut lines = reader.lines();
//! assert_eq!(lines.next().unwrap()?, "record 1");
//! let err = lines.next().unwrap().unwrap_err(); // not a clean end
//! assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Dropping the backend with only handles left:
//!
//! ```
//! use std::io::{ErrorKind, Write};
//! let backend = chanio::ChannelBackend::new();
//! let mut waiting = backend.new_reader("never written")?;
//! let mut writer = backend.new_writer("nobody reads")?;
//! drop(backend); // no writer can come to the first path, no reader to the second
//! assert_eq!(waiting.recv()?, None);
//! assert_eq!(writer.write(b"lost?").unwrap_err().kind(), ErrorKind::BrokenPipe);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Broadcast
//!
//! [`ChannelBackend::broadcast`] sends one message to every path whose name
//! starts with a prefix and whose stream has not ended. Finding the paths
//! walks a sorted index, so the cost follows the number of matches, not of
//! all paths, and the registry is never locked while a broadcast waits. For
//! a steady stream of broadcasts, [`ChannelBackend::broadcaster`] returns a
//! handle that remembers the matching paths.
//!
//! - **Blocks:** in queue mode `broadcast` waits for room on each full path
//!   like a write (nothing is dropped), until `delete` of that path (skipped)
//!   or `close` of the backend ([`Error::BackendClosed`]);
//!   [`ChannelBackend::try_broadcast`] never blocks and names the full paths
//!   it skipped. In persistent mode it appends and never blocks.
//! - **Order:** a broadcast first delivers to every matching path that has
//!   room, and only then waits on the full ones: a slow subscriber never
//!   delays the message to one that has room.
//! - **Memory:** the bytes are copied once and that copy is shared by every
//!   recipient, queue or log.
//!
//! ```
//! let backend = chanio::ChannelBackend::new();
//! let mut a = backend.new_reader("subscriber/a")?;
//! let mut b = backend.new_reader("subscriber/b")?;
//! let _other = backend.new_reader("audit")?;
//! assert_eq!(backend.broadcast("subscriber/", b"event data")?, 2);
//! assert_eq!(a.recv()?.unwrap(), b"event data");
//! assert_eq!(b.recv()?.unwrap(), b"event data");
//! # Ok::<(), chanio::Error>(())
//! ```
//!
//! # Watching a pipeline
//!
//! [`ChannelBackend::stats`] and [`ChannelBackend::stats_all`] show, for
//! each path, what it holds, who uses it, who is blocked on it right now,
//! and what has passed through it ([`PathStats`]). In a slow pipeline the
//! slow stage is the one whose input queue is full with its writers
//! waiting (`examples/bottleneck.rs` prints such a table while it runs).
//! Keeping the counts costs the hot path next to nothing: each writer and
//! reader counts in memory of its own, and `stats` adds them up.
//!
//! ```
//! use std::io::Write;
//! let backend = chanio::ChannelBackend::builder().buffer_size(2).build();
//! let mut input = backend.new_writer("stage2/in")?;
//! let _stage2 = backend.new_reader("stage2/in")?; // a stage that is not reading
//! input.write_all(b"job 1")?;
//! input.write_all(b"job 2")?;
//!
//! for (path, stats) in backend.stats_all("stage")? {
//!     if stats.capacity == Some(stats.queued) {
//!         println!("{path} is backed up: {stats}");
//!     }
//! }
//! let stats = backend.stats("stage2/in")?.unwrap();
//! assert_eq!((stats.queued, stats.written, stats.read), (2, 2, 0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Timeouts
//!
//! [`Writer::set_write_timeout`] and [`Reader::set_read_timeout`] bound how
//! long a call waits. A call that times out returns an `io::Error` of kind
//! `TimedOut` (carrying [`Error::TimedOut`]) and changes nothing: no message
//! is half sent or consumed, so the call can be retried.
//!
//! ```
//! use std::io::Read;
//! use std::time::Duration;
//! let backend = chanio::ChannelBackend::new();
//! let mut r = backend.new_reader("quiet")?;
//! r.set_read_timeout(Some(Duration::from_millis(10)));
//! let err = r.read(&mut [0u8; 8]).unwrap_err();
//! assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Choosing a backend
//!
//! [`ChannelBackend`] is one implementation of the object-safe [`Backend`]
//! trait. Code written against `&dyn Backend` can be handed the in-memory
//! channel backend in tests and another implementation in production, picked
//! by name and string config with [`open`]. `"channel"` is registered from
//! the start; [`register`] adds others (a [`Registry`] value keeps a set of
//! its own). Config is read strictly: unknown keys and unreadable values are
//! [`Error::InvalidConfig`], never a silent default.
//!
//! ```
//! use std::io::{Read, Write};
//! use chanio::{Backend, ChannelBackend, Config, Feature};
//!
//! // chanio::Error converts into io::Error, so `?` works on both.
//! fn roundtrip(backend: &dyn Backend) -> std::io::Result<Vec<u8>> {
//!     let mut w = backend.new_writer("in")?;
//!     w.write_all(b"payload")?;
//!     w.close()?;
//!     let mut out = Vec::new();
//!     backend.new_reader("in")?.read_to_end(&mut out)?;
//!     Ok(out)
//! }
//!
//! let backend = chanio::open("channel", [("buffer_size", "100"), ("persistent", "true")])?;
//! assert_eq!(roundtrip(backend.as_ref())?, b"payload");
//! assert!(backend.features().supports(Feature::Persistence));
//!
//! // What only the channel backend has is one downcast away.
//! let channels = backend.as_any().downcast_ref::<ChannelBackend>().unwrap();
//! let _subscriber = channels.new_reader("events/a")?;
//! assert_eq!(channels.broadcast("events/", b"to all")?, 1);
//!
//! // Mistakes are errors that say what is accepted.
//! let err = chanio::open("channel", [("persistent", "yes")]).err().unwrap();
//! assert_eq!(
//!     err.to_string(),
//!     "invalid config: persistent = \"yes\": one of true, false, 1, 0 (lower case)"
//! );
//! assert!(matches!(chanio::open("s3", Config::new().iter()), Err(chanio::Error::UnknownBackend { .. })));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Errors
//!
//! Operations of the backend return [`chanio::Result`](Result). Inside
//! `io::Read` and `io::Write` calls errors are `io::Error`s whose inner
//! error is the [`Error`], so
//! `err.get_ref().and_then(|e| e.downcast_ref::<chanio::Error>())` finds
//! it. Kinds: `TimedOut` for timeouts, `BrokenPipe` for writing to a
//! closed writer or an ended, deleted or closed stream, `InvalidInput` for
//! bad paths and config.
//!
//! # Differences from the Go library
//!
//! chanio is the Rust form of a Go channel backend, without its defects:
//!
//! - A stream ends when its **last** writer closes, not its first.
//! - Writes after `delete` or `close` return `BrokenPipe` instead of
//!   panicking with "send on closed channel".
//! - A late persistent reader reads each message exactly once, one message
//!   per read; it does not get the replay joined into one read and then
//!   the same messages again.
//! - Persistent writes never block, the log is shared by all readers
//!   instead of copied per reader, and a rejected write stores nothing.
//! - Broadcast waits for room instead of silently dropping messages for
//!   full paths, and does not scan every path under a lock.
//! - Config is read exactly: `buffer_size = "abc"` or `persistent = "yes"`
//!   is an error, not a silent default.
//! - Persistent mode can be bounded (retention) without losing anything
//!   silently, and a writer that panics is not taken for a clean end.
//!
//! ```
//! use std::io::{ErrorKind, Write};
//! use chanio::ChannelBackend;
//!
//! // The stream ends at the last writer's close, not the first.
//! let backend = ChannelBackend::new();
//! let mut reader = backend.new_reader("jobs")?;
//! let mut first = backend.new_writer("jobs")?;
//! let mut second = first.try_clone()?;
//! first.close()?;
//! second.write_all(b"still open")?;
//! drop(second);
//! assert_eq!(reader.recv()?.unwrap(), b"still open");
//! assert_eq!(reader.recv()?, None);
//!
//! // A write after delete is an error, not a panic.
//! let mut writer = backend.new_writer("gone")?;
//! backend.delete("gone")?;
//! assert_eq!(writer.write(b"x").unwrap_err().kind(), ErrorKind::BrokenPipe);
//!
//! // A late persistent reader gets each message once, one per read.
//! let logs = ChannelBackend::builder().persistent(true).build();
//! let mut w = logs.new_writer("log")?;
//! w.write_all(b"one")?;
//! w.write_all(b"two")?;
//! let mut late = logs.new_reader("log")?;
//! w.close()?;
//! let replay: Vec<_> = late.messages().collect::<Result<_, _>>()?;
//! assert_eq!(replay, [chanio::Message::from("one"), chanio::Message::from("two")]);
//!
//! // Bad config is refused.
//! assert!(ChannelBackend::from_config([("buffer_size", "abc")]).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod backend;
mod broadcast;
mod channel;
mod config;
mod error;
mod message;
mod recycle;
#[cfg(feature = "redis")]
pub mod redis;
mod registry;

pub use backend::{Backend, Feature, Features, ReadStream, WriteStream};
pub use broadcast::BroadcastReport;
pub use channel::{
    Broadcaster, Builder, ChannelBackend, DEFAULT_BUFFER_SIZE, PathStats, Reader, Start, Writer,
};
pub use config::{Config, MAX_BUFFER_SIZE};
pub use error::{Error, Result};
pub use message::Message;
#[cfg(feature = "redis")]
pub use redis::{REDIS, RedisBackend, RedisReader, RedisWriter};
pub use registry::{
    CHANNEL, Factory, Registry, backends, is_registered, open, register, unregister,
};
