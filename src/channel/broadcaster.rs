//! The [`Broadcaster`] handle, and delivering one broadcast message to the
//! paths that match a prefix.
//!
//! # Delivery order
//!
//! A broadcast first offers the message to every matching path without
//! waiting, and only then waits on the paths that were full, one after the
//! other. So a slow subscriber never delays the message to a subscriber
//! that has room.

use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::broadcast::BroadcastReport;
use crate::channel::path::{Delivery, Path};
use crate::channel::paths::Paths;
use crate::error::{Error, Result};
use crate::message::Message;

/// A broadcast handle for one prefix that remembers the matching paths.
///
/// [`ChannelBackend::broadcast`](crate::ChannelBackend::broadcast) looks the
/// matching paths up on every call. A `Broadcaster` looks them up once and
/// again only after a path has been created or deleted anywhere in the
/// backend, which makes a steady stream of broadcasts to the same
/// subscribers cost little more than one send per subscriber. It behaves
/// exactly like `broadcast` / `try_broadcast` otherwise.
///
/// A `Broadcaster` counts as a handle of its backend: while one lives, the
/// backend's paths can still get new writers and readers (see "Closing" in
/// the [crate documentation](crate)). It does not keep deleted paths
/// alive: `delete` and `close` empty its list of paths, even while it is
/// idle.
///
/// ```
/// let backend = chanio::ChannelBackend::new();
/// let mut a = backend.new_reader("ticks/a")?;
/// let mut b = backend.new_reader("ticks/b")?;
/// let mut ticks = backend.broadcaster("ticks/");
/// for i in 0..3u8 {
///     assert_eq!(ticks.send(&[i])?, 2);
/// }
/// assert_eq!(a.recv()?.unwrap(), [0u8]);
/// assert_eq!(b.recv()?.unwrap(), [0u8]);
/// # Ok::<(), chanio::Error>(())
/// ```
pub struct Broadcaster {
    paths: Arc<Paths>,
    prefix: String,
    /// The matching paths, shared with the registry so that `delete` and
    /// `close` can empty it. Locked only to take the paths out or put them
    /// back, never while sending.
    cache: Arc<Mutex<Targets>>,
}

/// A broadcaster's matching paths as of one registry generation.
#[derive(Default)]
pub(crate) struct Targets {
    generation: Option<u64>,
    paths: Vec<Arc<Path>>,
}

impl Targets {
    pub(crate) fn clear(&mut self) {
        self.generation = None;
        self.paths = Vec::new();
    }
}

impl Broadcaster {
    pub(crate) fn new(paths: Arc<Paths>, prefix: &str) -> Broadcaster {
        let cache = Arc::new(Mutex::new(Targets::default()));
        paths.register_cache(&cache);
        Broadcaster {
            paths,
            prefix: prefix.to_owned(),
            cache,
        }
    }

    /// The prefix this handle broadcasts to.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Sends `data` as one message to every matching path whose stream has
    /// not ended, waiting for room like a write; returns how many got it.
    /// Same rules as [`ChannelBackend::broadcast`](crate::ChannelBackend::broadcast).
    pub fn send(&mut self, data: &[u8]) -> Result<usize> {
        self.send_message(&Message::copy_from_slice(data))
    }

    /// Like [`send`](Broadcaster::send) for a message you already hold: its
    /// bytes are shared, not copied (unless it was partly read through
    /// `Read`: then the rest is copied once).
    pub fn send_message(&mut self, message: &Message) -> Result<usize> {
        let (targets, generation) = self.targets()?;
        if message.is_empty() {
            self.put_back(targets, generation);
            return Ok(0);
        }
        let delivered = deliver_all(&targets, &message.shared())?;
        self.put_back(targets, generation);
        Ok(delivered)
    }

    /// Like [`send`](Broadcaster::send) but never blocks: full queues are
    /// skipped and named in the report.
    pub fn try_send(&mut self, data: &[u8]) -> Result<BroadcastReport> {
        let (targets, generation) = self.targets()?;
        let report = if data.is_empty() {
            BroadcastReport::default()
        } else {
            try_deliver_all(&targets, &Message::copy_from_slice(data).shared())?
        };
        self.put_back(targets, generation);
        Ok(report)
    }

    /// The matching paths, taken out of the cache if it is current, else
    /// looked up; with the generation they are current for.
    fn targets(&self) -> Result<(Vec<Arc<Path>>, u64)> {
        let now = self.paths.generation();
        {
            let mut cache = self.cache.lock();
            if cache.generation == Some(now) {
                return Ok((std::mem::take(&mut cache.paths), now));
            }
        }
        Ok((self.paths.matching(&self.prefix)?, now))
    }

    /// Puts the paths back for the next send, unless paths were created or
    /// deleted meanwhile. Checked with the cache locked: a `delete` bumps
    /// the generation before it empties the cache, so it either sees what
    /// is put back here and empties it, or this sees its new generation.
    fn put_back(&self, targets: Vec<Arc<Path>>, generation: u64) {
        let mut cache = self.cache.lock();
        if self.paths.generation() == generation {
            cache.paths = targets;
            cache.generation = Some(generation);
        }
    }
}

impl fmt::Debug for Broadcaster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broadcaster")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Delivers `message` to each target: first to every one with room, then,
/// waiting, to those that were full. Counts deliveries.
pub(crate) fn deliver_all(targets: &[Arc<Path>], message: &Arc<[u8]>) -> Result<usize> {
    let mut delivered = 0;
    let mut full = Vec::new();
    for path in targets {
        match path.offer(message) {
            Delivery::Delivered => delivered += 1,
            Delivery::Full => full.push(path),
            Delivery::Skipped => {}
            Delivery::BackendClosed => return Err(Error::BackendClosed),
        }
    }
    for path in full {
        match path.deliver_waiting(message) {
            Delivery::Delivered => delivered += 1,
            Delivery::Full | Delivery::Skipped => {}
            Delivery::BackendClosed => return Err(Error::BackendClosed),
        }
    }
    Ok(delivered)
}

/// Delivers `message` to each target that has room right now.
pub(crate) fn try_deliver_all(
    targets: &[Arc<Path>],
    message: &Arc<[u8]>,
) -> Result<BroadcastReport> {
    let mut report = BroadcastReport::default();
    for path in targets {
        match path.offer(message) {
            Delivery::Delivered => report.delivered += 1,
            Delivery::Full => report.full.push(path.name().to_owned()),
            Delivery::Skipped => {}
            Delivery::BackendClosed => return Err(Error::BackendClosed),
        }
    }
    Ok(report)
}
