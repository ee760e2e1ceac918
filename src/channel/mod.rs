//! The in-process backend: [`ChannelBackend`] and its [`Builder`], and the
//! paths, queues, logs and handles behind it.

mod broadcaster;
mod handoff;
mod log;
mod path;
mod paths;
mod queue;
mod reader;
mod ring;
mod state;
mod stats;
mod wait;
mod writer;

pub use broadcaster::Broadcaster;
pub use reader::{Reader, Start};
pub use stats::PathStats;
pub use writer::Writer;

use std::fmt;
use std::sync::Arc;

use crate::broadcast::BroadcastReport;
use crate::channel::log::Retention;
use crate::channel::path::{self as path_, Mode};
use crate::channel::paths::Paths;
use crate::config::{self, Config, MAX_BUFFER_SIZE};
use crate::error::{Error, Result, check_path};
use crate::message::Body;

/// The default number of messages a queue-mode path holds.
pub const DEFAULT_BUFFER_SIZE: usize = 100;

/// Named in-process byte streams: the backend.
///
/// A cheap-to-clone handle (`Clone + Send + Sync`): clones share the same
/// paths. See the [crate documentation](crate) for a guide.
///
/// ```
/// use std::io::{BufRead, BufReader, Write};
/// let backend = chanio::ChannelBackend::new();
/// let producer = backend.clone();
/// let handle = std::thread::spawn(move || -> std::io::Result<()> {
///     let mut w = producer.new_writer("lines")?;
///     for i in 0..3 {
///         writeln!(w, "line {i}")?;
///     }
///     Ok(())
/// });
/// let reader = backend.new_reader("lines")?;
/// let lines: Vec<String> = reader.lines().collect::<Result<_, _>>()?;
/// assert_eq!(lines, ["line 0", "line 1", "line 2"]);
/// handle.join().unwrap()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ChannelBackend {
    paths: Arc<Paths>,
    buffer_size: usize,
    persistent: bool,
}

/// Configures a [`ChannelBackend`]: `ChannelBackend::builder()`.
///
/// ```
/// let backend = chanio::ChannelBackend::builder()
///     .buffer_size(10)
///     .persistent(false)
///     .build();
/// assert_eq!(backend.buffer_size(), 10);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Builder {
    buffer_size: usize,
    persistent: bool,
    retention: Retention,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder {
            buffer_size: DEFAULT_BUFFER_SIZE,
            persistent: false,
            retention: Retention::default(),
        }
    }
}

impl Builder {
    /// How many messages a queue-mode path holds before writes block
    /// (default 100). `0` makes every write a hand-off to a waiting reader.
    /// Persistent mode ignores it. At most [`MAX_BUFFER_SIZE`]: past that,
    /// [`try_build`](Builder::try_build) fails, and a backend from
    /// [`build`](Builder::build) refuses to create paths, both with
    /// [`Error::InvalidConfig`](crate::Error::InvalidConfig).
    pub fn buffer_size(mut self, messages: usize) -> Builder {
        self.buffer_size = messages;
        self
    }

    /// Whether paths are append-only logs that every reader replays from
    /// the first message (default `false`: bounded queues).
    pub fn persistent(mut self, persistent: bool) -> Builder {
        self.persistent = persistent;
        self
    }

    /// Persistent mode: keep at most this many messages per path. When an
    /// append makes a log longer, its oldest messages are dropped (readers
    /// that had not read them learn it from [`Error::Lagged`]). Unbounded
    /// by default; at least 1, and only with [`persistent(true)`](Builder::persistent).
    pub fn retain_messages(mut self, messages: u64) -> Builder {
        self.retention.messages = Some(messages);
        self
    }

    /// Persistent mode: keep at most this many bytes of messages per path,
    /// dropping the oldest messages to fit (the newest is always kept, even
    /// if it alone is larger). Unbounded by default; at least 1, and only
    /// with [`persistent(true)`](Builder::persistent).
    pub fn retain_bytes(mut self, bytes: u64) -> Builder {
        self.retention.bytes = Some(bytes);
        self
    }

    /// What is wrong with these settings, if anything.
    fn check(&self) -> Result<()> {
        if !self.persistent && self.buffer_size > MAX_BUFFER_SIZE {
            return Err(Error::InvalidConfig {
                key: config::BUFFER_SIZE.to_owned(),
                value: self.buffer_size.to_string(),
                expected: format!("a buffer size from 0 to {MAX_BUFFER_SIZE}"),
            });
        }
        let bounds = [
            (config::RETAIN_MESSAGES, self.retention.messages),
            (config::RETAIN_BYTES, self.retention.bytes),
        ];
        for (key, bound) in bounds {
            let Some(bound) = bound else { continue };
            if !self.persistent {
                return Err(config::retention_needs_persistent(key, &bound.to_string()));
            }
            if bound == 0 {
                return Err(config::invalid_retention(key, "0"));
            }
        }
        Ok(())
    }

    /// The backend, after checking the settings.
    pub fn try_build(self) -> Result<ChannelBackend> {
        self.check()?;
        Ok(self.build())
    }

    /// The backend. Never fails; settings it cannot use (a buffer size past
    /// [`MAX_BUFFER_SIZE`], retention without persistence or of 0) are
    /// reported as [`Error::InvalidConfig`] when a path is created (use
    /// [`try_build`](Builder::try_build) to find out at once).
    pub fn build(self) -> ChannelBackend {
        let mode = if self.persistent {
            Mode::Log(self.retention)
        } else {
            Mode::Queue(self.buffer_size)
        };
        let invalid = self.check().err();
        ChannelBackend {
            paths: Arc::new(Paths::new(mode, invalid)),
            buffer_size: self.buffer_size,
            persistent: self.persistent,
        }
    }
}

impl Default for ChannelBackend {
    fn default() -> ChannelBackend {
        ChannelBackend::new()
    }
}

impl ChannelBackend {
    /// A backend in queue mode with a buffer of 100 messages per path.
    pub fn new() -> ChannelBackend {
        Builder::default().build()
    }

    /// A [`Builder`] to set the buffer size and persistence.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// A backend configured by string pairs, as [`open`](crate::open)
    /// does for `"channel"`: any iterator of string-like pairs (an array of
    /// tuples, a `&HashMap<String, String>`, a `BTreeMap`).
    ///
    /// | key | accepts | default |
    /// |---|---|---|
    /// | `buffer_size` | decimal digits only, 0 to [`MAX_BUFFER_SIZE`] | `100` |
    /// | `persistent` | `true`, `false`, `1`, `0` | `false` |
    ///
    /// Values are read exactly: no surrounding whitespace, no sign, and
    /// `persistent` only in lower case. An unknown key (say, a misspelt
    /// `buffersize`), a key given twice, or a value it cannot read is
    /// [`Error::InvalidConfig`](crate::Error::InvalidConfig), naming the key,
    /// the value and what is accepted. Nothing is silently defaulted.
    ///
    /// ```
    /// use chanio::ChannelBackend;
    /// let backend = ChannelBackend::from_config([("buffer_size", "5"), ("persistent", "false")])?;
    /// assert_eq!(backend.buffer_size(), 5);
    ///
    /// for bad in ["abc", "-5", "10abc", "1.5", " 10", ""] {
    ///     assert!(ChannelBackend::from_config([("buffer_size", bad)]).is_err());
    /// }
    /// for bad in ["yes", "TRUE", "True", " true"] {
    ///     assert!(ChannelBackend::from_config([("persistent", bad)]).is_err());
    /// }
    /// # Ok::<(), chanio::Error>(())
    /// ```
    pub fn from_config<I, K, V>(pairs: I) -> Result<ChannelBackend>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        ChannelBackend::with_config(&Config::from_pairs(pairs)?)
    }

    /// A backend configured by a parsed [`Config`]; see
    /// [`from_config`](ChannelBackend::from_config) for the keys.
    pub fn with_config(config: &Config) -> Result<ChannelBackend> {
        config.check_keys(config::CHANNEL_KEYS)?;
        let mut builder = ChannelBackend::builder();
        if let Some(value) = config.get(config::BUFFER_SIZE) {
            builder = builder.buffer_size(config::parse_buffer_size(value, MAX_BUFFER_SIZE)?);
        }
        if let Some(value) = config.get(config::PERSISTENT) {
            builder = builder.persistent(config::parse_flag(config::PERSISTENT, value)?);
        }
        for key in [config::RETAIN_MESSAGES, config::RETAIN_BYTES] {
            if let Some(value) = config.get(key) {
                let bound = config::parse_retention(key, value)?;
                builder = match key {
                    config::RETAIN_MESSAGES => builder.retain_messages(bound),
                    _ => builder.retain_bytes(bound),
                };
            }
        }
        builder.try_build()
    }

    /// The buffer size this backend was built with.
    pub fn buffer_size(&self) -> usize {
        self.buffer_size
    }

    /// Whether this backend is in persistent mode.
    pub fn is_persistent(&self) -> bool {
        self.persistent
    }

    /// A writer for `path`, creating the path if needed. Fails with
    /// [`Error::StreamEnded`](crate::Error::StreamEnded) if the path's stream
    /// has already ended (its last writer closed): delete the path first to
    /// start a new stream.
    pub fn new_writer(&self, path: &str) -> Result<Writer> {
        check_path(path)?;
        self.paths.with_path(path, |state| {
            let slot = state.add_writer()?;
            Ok(Writer::new(Arc::clone(state), slot))
        })
    }

    /// A reader for `path`, creating the path if needed. A reader opened
    /// before any writer waits for one. In persistent mode it starts at the
    /// oldest message kept.
    pub fn new_reader(&self, path: &str) -> Result<Reader> {
        self.open_reader(path, path_::Start::Oldest)
    }

    /// A reader for `path` that starts where `start` says (persistent
    /// mode), creating the path if needed.
    ///
    /// - [`Start::Oldest`]: the oldest message kept, as `new_reader`.
    /// - [`Start::Latest`]: only messages appended after this call.
    /// - [`Start::Offset(n)`](Start::Offset): the message at offset `n`.
    ///   Below the oldest kept, the first read is
    ///   [`Error::Lagged`](crate::Error::Lagged) with the gap; exactly the
    ///   next offset waits for that message; past it, this call fails with
    ///   [`Error::OffsetOutOfRange`](crate::Error::OffsetOutOfRange).
    ///
    /// In queue mode `Start::Oldest` is `new_reader`, and the others are
    /// [`Error::NotSupported`](crate::Error::NotSupported): a queue has no
    /// positions to start from.
    ///
    /// ```
    /// use chanio::{ChannelBackend, Error, Start};
    /// let backend = ChannelBackend::builder().persistent(true).build();
    /// let mut writer = backend.new_writer("events")?;
    /// for event in ["a", "b", "c"] {
    ///     writer.send(event.into())?;
    /// }
    /// let mut from_b = backend.new_reader_at("events", Start::Offset(1))?;
    /// assert_eq!(from_b.recv()?.unwrap(), "b");
    ///
    /// let mut live = backend.new_reader_at("events", Start::Latest)?;
    /// writer.send("d".into())?;
    /// assert_eq!(live.recv()?.unwrap(), "d");
    ///
    /// assert!(matches!(
    ///     backend.new_reader_at("events", Start::Offset(9)),
    ///     Err(Error::OffsetOutOfRange { offset: 9, next: 4, .. })
    /// ));
    /// # Ok::<(), chanio::Error>(())
    /// ```
    pub fn new_reader_at(&self, path: &str, start: Start) -> Result<Reader> {
        let start = match start {
            Start::Oldest => path_::Start::Oldest,
            _ if !self.persistent => {
                check_path(path)?;
                return Err(Error::NotSupported {
                    backend: crate::registry::CHANNEL.to_owned(),
                    operation: format!("new_reader_at({start:?}) in queue mode"),
                });
            }
            Start::Latest => path_::Start::Latest,
            Start::Offset(offset) => path_::Start::Offset(offset),
        };
        self.open_reader(path, start)
    }

    fn open_reader(&self, path: &str, start: path_::Start) -> Result<Reader> {
        check_path(path)?;
        self.paths.with_path(path, |state| {
            let (slot, cursor) = state.add_reader(start)?;
            Ok(Reader::new(Arc::clone(state), slot, cursor))
        })
    }

    /// What `path` holds and who waits on it now, and what has passed
    /// through it; `None` if the path does not exist. See [`PathStats`].
    pub fn stats(&self, path: &str) -> Result<Option<PathStats>> {
        check_path(path)?;
        self.paths.stats(path)
    }

    /// [`stats`](ChannelBackend::stats) of every path whose name starts
    /// with `prefix` (`""`: every path), sorted by name. Costs in
    /// proportion to the matches, like [`list`](ChannelBackend::list).
    pub fn stats_all(&self, prefix: &str) -> Result<Vec<(String, PathStats)>> {
        self.paths.stats_all(prefix)
    }

    /// Whether `path` exists (was created and not deleted).
    pub fn exists(&self, path: &str) -> Result<bool> {
        check_path(path)?;
        self.paths.exists(path)
    }

    /// Removes `path` and ends its stream: blocked writers wake with an
    /// error of kind `BrokenPipe`; readers read what was queued, then see
    /// end of stream. Deleting a path that does not exist is `Ok`.
    ///
    /// ```
    /// use std::io::Write;
    /// let backend = chanio::ChannelBackend::new();
    /// let mut writer = backend.new_writer("tmp")?;
    /// let mut reader = backend.new_reader("tmp")?;
    /// writer.write_all(b"queued")?;
    /// backend.delete("tmp")?;
    ///
    /// assert!(!backend.exists("tmp")?);
    /// assert_eq!(reader.recv()?.unwrap(), b"queued"); // drained...
    /// assert_eq!(reader.recv()?, None);               // ...then the end
    /// assert_eq!(writer.write(b"late").unwrap_err().kind(), std::io::ErrorKind::BrokenPipe);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn delete(&self, path: &str) -> Result<()> {
        check_path(path)?;
        self.paths.delete(path).map(drop)
    }

    /// The paths whose names start with `prefix`, sorted; `""` lists all.
    /// Costs in proportion to the matches, not to all paths.
    ///
    /// ```
    /// let backend = chanio::ChannelBackend::new();
    /// for name in ["jobs/b", "jobs/a", "logs/x"] {
    ///     backend.new_reader(name)?;
    /// }
    /// assert_eq!(backend.list("jobs/")?, ["jobs/a", "jobs/b"]);
    /// assert_eq!(backend.list("")?.len(), 3);
    /// # Ok::<(), chanio::Error>(())
    /// ```
    pub fn list(&self, prefix: &str) -> Result<Vec<String>> {
        self.paths.list(prefix)
    }

    /// Closes the backend: every path is deleted as by [`delete`], and every
    /// thread blocked on one wakes. Afterwards every operation but `close`
    /// and `channel_count` returns [`Error::BackendClosed`]. Closing twice
    /// is `Ok`. Clones of this handle share the closed state.
    ///
    /// [`delete`]: ChannelBackend::delete
    /// [`Error::BackendClosed`]: crate::Error::BackendClosed
    pub fn close(&self) -> Result<()> {
        self.paths.close();
        Ok(())
    }

    /// Whether [`close`](ChannelBackend::close) was called.
    pub fn is_closed(&self) -> bool {
        self.paths.is_closed()
    }

    /// Sends `data` as one message to every path whose name starts with
    /// `prefix` and whose stream has not ended (`""`: every path). The bytes
    /// are copied once and shared by all recipients. In queue mode it waits
    /// for room like a write; in persistent mode it appends. Returns how
    /// many paths got the message; a path deleted while `broadcast` waits on
    /// it is skipped, and a backend closed meanwhile is
    /// [`Error::BackendClosed`](crate::Error::BackendClosed). Empty `data`
    /// sends nothing.
    ///
    /// For many broadcasts to the same prefix, a [`Broadcaster`] from
    /// [`broadcaster`](ChannelBackend::broadcaster) avoids looking the paths
    /// up each time.
    ///
    /// ```
    /// let backend = chanio::ChannelBackend::new();
    /// let mut subscribers: Vec<_> = (0..3)
    ///     .map(|i| backend.new_reader(&format!("subscriber/{i}")))
    ///     .collect::<Result<_, _>>()?;
    /// assert_eq!(backend.broadcast("subscriber/", b"event")?, 3);
    /// for s in &mut subscribers {
    ///     assert_eq!(s.recv()?.unwrap(), b"event");
    /// }
    /// # Ok::<(), chanio::Error>(())
    /// ```
    pub fn broadcast(&self, prefix: &str, data: &[u8]) -> Result<usize> {
        let paths = &self.paths;
        broadcaster::broadcast(paths, &paths.broadcast_cache, prefix, Body::copy(data))
    }

    /// Like [`broadcast`](ChannelBackend::broadcast) but never blocks: paths
    /// whose queue is full are skipped and named in
    /// [`BroadcastReport::full`].
    ///
    /// ```
    /// let backend = chanio::ChannelBackend::builder().buffer_size(1).build();
    /// let _a = backend.new_reader("s/a")?;
    /// let _b = backend.new_reader("s/b")?;
    /// let mut writer = backend.new_writer("s/b")?;
    /// writer.send("fills s/b".into())?;
    ///
    /// let report = backend.try_broadcast("s/", b"hi")?;
    /// assert_eq!(report.delivered, 1);
    /// assert_eq!(report.full, ["s/b"]);
    /// # Ok::<(), chanio::Error>(())
    /// ```
    pub fn try_broadcast(&self, prefix: &str, data: &[u8]) -> Result<BroadcastReport> {
        let paths = &self.paths;
        broadcaster::try_broadcast(paths, &paths.broadcast_cache, prefix, data)
    }

    /// A [`Broadcaster`] for `prefix`: repeated broadcasts that look the
    /// matching paths up again only when paths were created or deleted.
    pub fn broadcaster(&self, prefix: &str) -> Broadcaster {
        Broadcaster::new(Arc::clone(&self.paths), prefix)
    }

    /// The number of paths that exist (0 once closed).
    pub fn channel_count(&self) -> usize {
        self.paths.count()
    }
}

impl fmt::Debug for ChannelBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelBackend")
            .field("buffer_size", &self.buffer_size)
            .field("persistent", &self.persistent)
            .field("channel_count", &self.channel_count())
            .field("closed", &self.is_closed())
            .finish()
    }
}

crate::backend::backend_by_inherent_methods!(ChannelBackend, Writer, Reader, name: crate::registry::CHANNEL);
