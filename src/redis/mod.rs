//! The Redis backend: [`RedisBackend`], [`RedisWriter`] and
//! [`RedisReader`] (cargo feature `redis`; also at the crate root).
//!
//! Paths live in a Redis server, so writers and readers in different
//! processes, or on different machines, share them. The contract is the
//! channel backend's; what follows is how it is kept on Redis, and what a
//! process that dies leaves behind.
//!
//! # Key layout
//!
//! Every key of a namespace starts with `<length>:<namespace>:` — for the
//! default namespace `6:chanio:`. The length makes the prefix unambiguous:
//! no key of namespace `a` starts with the prefix of `a:b` or the other
//! way round. Under it:
//!
//! | key | type | holds |
//! |---|---|---|
//! | `index` | sorted set | every path name, all scored 0 |
//! | `paths` | hash | path name → id of its current incarnation |
//! | `next` | string | counter for incarnation ids and lease tokens |
//! | `<id>:meta` | hash | `name`, `mode` (`queue` or `log`), `cap`, `ended`, `poisoned`, `deleted` |
//! | `<id>:data` | stream | one entry per message (field `d`), then one end marker (field `end`) |
//! | `<id>:writers` | sorted set | writer lease tokens, scored by expiry in server milliseconds |
//! | `<id>:readers` | sorted set | reader lease tokens, the same way |
//! | `<id>:room` | list | wake-up tokens for writers waiting for room |
//!
//! A path name points at an *incarnation* rather than owning keys of its
//! own, so that `delete` can take the name away at once (the name is
//! fresh again) while readers that still hold the old incarnation drain
//! it. Path names appear only as members and fields, never inside key
//! names, so any string is a path.
//!
//! # How the contract maps onto Redis
//!
//! Every change that reads and writes several keys is one Lua script, run
//! atomically by the server (see `scripts.rs`); the time in leases is the
//! server's (`TIME`), so clocks of different machines never meet.
//!
//! - **A path, made on first use.** `new_writer` and `new_reader` run the
//!   `open` script: it finds the name in `paths` or makes an incarnation,
//!   storing the mode and buffer size with it (they hold for every handle;
//!   a handle whose `persistent` differs is refused), and registers the
//!   handle's lease.
//! - **One message per write.** A write runs `push`, which appends one
//!   stream entry (`XADD`) if the stream is open and, in queue mode, has
//!   fewer than `cap` entries (`XLEN`) — the bound is checked and the entry
//!   added in one step, so concurrent writers in any number of processes
//!   never overfill it.
//! - **Queue mode: each message to exactly one reader.** A read runs
//!   `take`, which removes the oldest entry and returns it in one step
//!   (`XRANGE … COUNT 1`, `XDEL`): no other reader can get it, and nothing
//!   is left pending on the server. (A consumer group would leave a taken
//!   entry in its pending list until acknowledged, holding a slot of the
//!   bound; taking and removing in one script needs neither.) On an empty
//!   queue the reader blocks in `XREAD BLOCK` after the last id, and takes
//!   the entry that wakes it with `claim`, if no other reader was faster.
//! - **A full queue blocks the writer.** The writer blocks in `BLPOP` on
//!   the path's `room` list; a read that takes from a full queue pushes one
//!   token there, waking one waiting writer.
//! - **Persistent mode.** The stream is the log; each reader keeps its own
//!   cursor (the last id it read) and reads ahead with
//!   `XREAD COUNT 64 BLOCK … STREAMS data <cursor>`, starting from `0-0`.
//!   Reading ahead is safe here because no other reader competes for the
//!   entries. The log keeps each message once, however many readers.
//! - **The last writer ends the stream.** Writers are members of
//!   `<id>:writers`. `release` removes one; when none is left, it sets
//!   `ended` and appends the end marker. Readers see the marker after every
//!   message (it is the last entry), and it wakes blocked readers in every
//!   process. A stream that never had a writer cannot end: no release ran.
//! - **Writers of a dead process.** Each lease is renewed by one thread
//!   per backend handle every third of `lease_ms`. A lease whose expiry
//!   passed is counted out by the next script that looks (a reader that
//!   found nothing, a new writer, a broadcast), which ends the stream if
//!   that was the last writer. So a stream whose writers' process was
//!   killed ends at most `lease_ms` (plus a reader's wait of half a
//!   second) after the last renewal.
//! - **Poison.** A writer dropped while its thread panics sets `poisoned`;
//!   the end marker then says `panic` and readers get
//!   [`Error::WriterPanicked`] where they would have seen the end.
//! - **`delete`.** The `delete` script removes the name from `index` and
//!   `paths`, pushes wake-up tokens to `room` (blocked writers wake and
//!   find the path gone) and, if readers are registered, ends the stream
//!   with a `deleted` marker (blocked readers wake at once, drain what was
//!   queued, then see end of stream). The incarnation's keys are freed at
//!   once if no reader is registered, else given an expiry of twice
//!   `lease_ms` that each renewal of a reader's lease pushes back; the last
//!   reader to close frees them. Every blocking call waits at most half a
//!   second at a time on the server and then looks again, so even a wake-up
//!   that was missed comes within a second.
//! - **`close` of a handle** closes that handle only: its writers are
//!   released (as if closed) and fail with `BrokenPipe` carrying
//!   [`Error::BackendClosed`]; its readers see end of stream at once and
//!   take nothing more; calls blocked on the
//!   server are cut short with `CLIENT UNBLOCK`. Nothing on the server is
//!   deleted, and other handles and processes go on.
//! - **`list` and broadcast matching** read `index` with `ZRANGEBYLEX`
//!   between `[prefix` and `(prefix\xff`, which costs in proportion to the
//!   matches and takes the prefix literally (`*`, `?`, `[` are plain
//!   characters). A broadcast first runs one script that appends to every
//!   matching open path with room and returns the full ones; only then
//!   does it wait on each full path in turn, like a writer.
//! - **Reads** hand out at most one message; the rest of a long message
//!   stays in the reader for the next `read`, as in the channel backend.
//! - **Connections.** Each open writer and reader owns a connection (it
//!   blocks on it, and must hold up nobody else); a backend handle keeps up
//!   to eight idle ones for short calls and new streams, and its lease
//!   thread one more. A process with `n` open streams uses about `n + 2`.
//! - **Round trips.** A write is one script call, and so is a queue read
//!   that finds a message: the caller must know the outcome (room, end,
//!   delete; who got the message) before the call returns, so neither is
//!   pipelined. Where the contract allows batching it is used: a
//!   persistent reader reads up to 64 entries per round trip, and the
//!   renewals of all of a handle's leases go in one script call.
//!
//! # What a dying process leaves behind
//!
//! - Its **writers' leases** stay in `<id>:writers` until they expire
//!   (`lease_ms`, default 10 s) and are counted out; the stream then ends.
//!   Messages it wrote stay for the readers.
//! - Its **readers' leases** stay in `<id>:readers` until a `delete` or the
//!   last other reader of a deleted path counts them out. They pin nothing
//!   on a live path; on a deleted path they keep the data at most twice
//!   `lease_ms` after their last renewal.
//! - A **message a reader had taken** (the reply of `take` was on its way,
//!   or it was in the reader's hands) is lost: queue mode delivers at most
//!   once. A persistent reader's cursor lived in its process only, so
//!   nothing of it stays.
//! - A write whose reply never arrived may or may not have been appended.
//! - Nothing else: no path is deleted, and the paths, messages and counters
//!   of a namespace stay until deleted, like any Redis data.
//!
//! # Faults
//!
//! Every network wait is bounded: connecting by `connect_timeout_ms`, each
//! reply by `connect_timeout_ms` plus half a second (the longest the
//! server is ever asked to block). An unreachable or vanished server is an
//! `io::Error` of the underlying kind (`ConnectionRefused`,
//! `ConnectionReset`, `TimedOut`, ...) carrying [`Error::Connection`]. A
//! writer or reader whose connection failed keeps failing with that error
//! (it does not reconnect behind the caller's back); new writers and
//! readers connect afresh, so they work again once the server is back, and
//! so do the backend handle's own calls (`exists`, `list`, ...), which try
//! a new connection once when an idle one turns out to be dead.
//!
//! # Not in this version
//!
//! Retention and offsets, stats, handing back a peeked message, and the
//! last-handle-dropped rule: handles keep working, the server holds the
//! state. A `buffer_size` of 0 (a hand-off needs a reader in the same
//! process) is refused. Redis Cluster is not supported: the scripts that
//! look paths up by name reach keys they were not given.

mod conn;
mod keys;
mod lease;
mod reader;
mod scripts;
mod settings;
mod shared;
mod writer;

pub use reader::RedisReader;
pub use writer::RedisWriter;

use std::fmt;
use std::sync::Arc;

use ::redis::Client;

use crate::backend::Backend;
use crate::broadcast::BroadcastReport;
use crate::config::Config;
use crate::error::{Error, Result, check_path};
use conn::{Connector, reply};
use keys::Namespace;
use lease::Role;
use scripts::scripts;
use settings::Settings;
use shared::Shared;

/// The name the Redis backend is registered under.
pub const REDIS: &str = "redis";

/// Named byte streams in a Redis server, shared by every process that
/// opens the same URL and namespace (cargo feature `redis`).
///
/// Open one with [`chanio::open("redis", …)`](crate::open) or
/// [`RedisBackend::from_config`]. A cheap-to-clone handle: clones share
/// connections, leases and the closed state. The [module
/// documentation](self) describes how the contract is kept on Redis and
/// what a process that dies leaves behind.
///
/// | key | accepts | default |
/// |---|---|---|
/// | `url` | what the `redis` crate accepts: `redis://[user:password@]host:port/[db]`, `unix:///path` | required |
/// | `namespace` | a non-empty string; two namespaces never share a key | `chanio` |
/// | `buffer_size` | decimal digits, 1 to [`MAX_BUFFER_SIZE`](crate::MAX_BUFFER_SIZE) | `100` |
/// | `persistent` | `true`, `false`, `1`, `0` | `false` |
/// | `lease_ms` | decimal digits, at least 1 | `10000` |
/// | `connect_timeout_ms` | decimal digits, at least 1 | `2000` |
///
/// `open` connects at once, so an unreachable server fails there.
///
/// ```no_run
/// use std::io::{Read, Write};
/// let backend = chanio::open("redis", [("url", "redis://127.0.0.1:6379/"), ("namespace", "demo")])?;
/// let mut w = backend.new_writer("greeting")?;
/// w.write_all(b"hello")?;
/// w.close()?; // the last writer, in any process, ends the stream
/// let mut text = String::new();
/// backend.new_reader("greeting")?.read_to_string(&mut text)?;
/// assert_eq!(text, "hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct RedisBackend {
    shared: Arc<Shared>,
}

impl RedisBackend {
    /// A backend configured by string pairs, as
    /// [`open("redis", …)`](crate::open) does; see the table on
    /// [`RedisBackend`] for the keys. Connects at once.
    ///
    /// ```
    /// // Mistakes in the config are found before anything connects.
    /// let err = chanio::RedisBackend::from_config([("url", "redis://127.0.0.1/"), ("buffer_size", "0")])
    ///     .err()
    ///     .unwrap();
    /// assert!(matches!(err, chanio::Error::InvalidConfig { ref key, .. } if key == "buffer_size"));
    /// assert!(chanio::RedisBackend::from_config([("namespace", "x")]).is_err()); // url is required
    /// ```
    pub fn from_config<I, K, V>(pairs: I) -> Result<RedisBackend>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        RedisBackend::with_config(&Config::from_pairs(pairs)?)
    }

    /// A backend configured by a parsed [`Config`]; see
    /// [`from_config`](RedisBackend::from_config).
    pub fn with_config(config: &Config) -> Result<RedisBackend> {
        let settings = Settings::from_config(config)?;
        let client = Client::open(settings.url.as_str()).map_err(|err| Error::InvalidConfig {
            key: settings::URL.to_owned(),
            value: settings.url.clone(),
            expected: format!("a Redis URL such as redis://127.0.0.1:6379/ ({err})"),
        })?;
        let connector = Arc::new(Connector::new(
            client,
            &settings.url,
            settings.connect_timeout,
        ));
        let first = connector.connect()?;
        Ok(RedisBackend {
            shared: Arc::new(Shared::new(settings, connector, first)),
        })
    }

    /// The server's URL, as errors show it (any password hidden).
    pub fn url(&self) -> &str {
        self.shared.connector.shown_url()
    }

    /// The namespace this backend's paths live in.
    pub fn namespace(&self) -> &str {
        &self.shared.settings.namespace_name
    }

    /// The buffer size given to the paths this backend creates (a path
    /// made by another handle keeps its own).
    pub fn buffer_size(&self) -> usize {
        self.shared.settings.buffer_size
    }

    /// Whether this backend's paths are persistent logs.
    pub fn is_persistent(&self) -> bool {
        self.shared.settings.persistent
    }

    /// Whether [`close`](RedisBackend::close) was called on this handle or
    /// a clone of it.
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// A writer for `path`, creating the path if needed. Fails with
    /// [`Error::StreamEnded`] if the path's stream has ended (delete the
    /// path to start a new one there), and with [`Error::InvalidConfig`]
    /// naming `persistent` if the path was made in the other mode.
    pub fn new_writer(&self, path: &str) -> Result<RedisWriter> {
        let (opened, conn) = self.shared.open_stream(path, Role::Writer)?;
        let serial = self.shared.register(&opened, Role::Writer)?;
        Ok(RedisWriter::new(
            Arc::clone(&self.shared),
            path,
            opened,
            serial,
            conn,
        ))
    }

    /// A reader for `path`, creating the path if needed. A reader opened
    /// before any writer waits for one.
    pub fn new_reader(&self, path: &str) -> Result<RedisReader> {
        let (opened, conn) = self.shared.open_stream(path, Role::Reader)?;
        let serial = self.shared.register(&opened, Role::Reader)?;
        Ok(RedisReader::new(
            Arc::clone(&self.shared),
            path,
            opened,
            serial,
            conn,
        ))
    }

    /// Whether `path` exists (was created and not deleted), in any process.
    pub fn exists(&self, path: &str) -> Result<bool> {
        check_path(path)?;
        let paths = self.shared.settings.namespace.paths();
        let value = self.shared.with_conn("looking up a path", |conn| {
            conn.query(::redis::cmd("HEXISTS").arg(&paths).arg(path))
        })?;
        Ok(reply::int(&value) == Some(1))
    }

    /// Removes `path` for every process: blocked reads and writes anywhere
    /// wake within a second, writers get `BrokenPipe`, readers drain what
    /// was queued and then see end of stream. Deleting a path that does not
    /// exist is `Ok`.
    pub fn delete(&self, path: &str) -> Result<()> {
        check_path(path)?;
        let ns = &self.shared.settings.namespace;
        let retain_ms = self.shared.settings.lease.as_millis().saturating_mul(2);
        let mut delete = scripts().delete.prepare_invoke();
        delete
            .key(ns.paths())
            .key(ns.index())
            .arg(ns.prefix())
            .arg(path)
            .arg(retain_ms.to_string());
        self.shared
            .with_conn("deleting a path", |conn| conn.invoke(&delete))
            .map(drop)
    }

    /// The paths whose names start with `prefix` (taken literally),
    /// sorted; `""` lists all. Costs in proportion to the matches.
    pub fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let (low, high) = Namespace::lex_range(prefix);
        let index = self.shared.settings.namespace.index();
        let value = self.shared.with_conn("listing paths", |conn| {
            conn.query(::redis::cmd("ZRANGEBYLEX").arg(&index).arg(&low).arg(&high))
        })?;
        let names = reply::items(value).unwrap_or_default();
        Ok(names.iter().filter_map(reply::text).collect())
    }

    /// Closes this handle (and its clones) only: its writers are counted
    /// out and fail with `BrokenPipe` carrying [`Error::BackendClosed`],
    /// its readers see end of stream at once, and blocked calls wake.
    /// Nothing is deleted on the server; other handles and processes go
    /// on. Afterwards every operation returns [`Error::BackendClosed`].
    /// Closing twice is `Ok`.
    pub fn close(&self) -> Result<()> {
        self.shared.close()
    }

    /// Sends `data` as one message to every path whose name starts with
    /// `prefix` and whose stream has not ended (`""`: every path), and
    /// returns how many got it. Paths with room get it first, in one
    /// script; then it waits on each full queue like a write. A path
    /// deleted meanwhile is skipped; a handle closed meanwhile is
    /// [`Error::BackendClosed`]. Empty `data` sends nothing.
    pub fn broadcast(&self, prefix: &str, data: &[u8]) -> Result<usize> {
        let (delivered, full) = self.shared.broadcast_now(prefix, data)?;
        let mut delivered = delivered;
        for (_, id) in full {
            if self.shared.deliver_waiting(&id, data)? {
                delivered += 1;
            }
        }
        Ok(delivered)
    }

    /// Like [`broadcast`](RedisBackend::broadcast) but never blocks: paths
    /// whose queue is full are skipped and named in
    /// [`BroadcastReport::full`], in name order.
    pub fn try_broadcast(&self, prefix: &str, data: &[u8]) -> Result<BroadcastReport> {
        let (delivered, full) = self.shared.broadcast_now(prefix, data)?;
        Ok(BroadcastReport {
            delivered,
            full: full.into_iter().map(|(name, _)| name).collect(),
        })
    }
}

impl fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBackend")
            .field("url", &self.url())
            .field("namespace", &self.namespace())
            .field("buffer_size", &self.buffer_size())
            .field("persistent", &self.is_persistent())
            .field("closed", &self.is_closed())
            .finish()
    }
}

crate::backend::backend_by_inherent_methods!(RedisBackend, RedisWriter, RedisReader, name: REDIS);

/// The factory registered as `"redis"`.
pub(crate) fn factory(config: &Config) -> Result<Box<dyn Backend>> {
    Ok(Box::new(RedisBackend::with_config(config)?))
}
