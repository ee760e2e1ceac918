//! The [`Broadcaster`] handle, and delivering one broadcast message to the
//! paths that match a prefix.

use std::fmt;
use std::sync::Arc;

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
/// ```
/// let backend = chanio::ChannelBackend::new();
/// let mut a = backend.new_reader("ticks/a")?;
/// let mut b = backend.new_reader("ticks/b")?;
/// let mut ticks = backend.broadcaster("ticks/");
/// for i in 0..3u8 {
///     assert_eq!(ticks.send(&[i])?, 2);
/// }
/// assert_eq!(a.recv()?.unwrap(), [0u8].as_slice());
/// assert_eq!(b.recv()?.unwrap(), [0u8].as_slice());
/// # Ok::<(), chanio::Error>(())
/// ```
pub struct Broadcaster {
    paths: Arc<Paths>,
    prefix: String,
    /// The matching paths as of registry generation `generation`.
    targets: Vec<Arc<Path>>,
    generation: Option<u64>,
}

impl Broadcaster {
    pub(crate) fn new(paths: Arc<Paths>, prefix: &str) -> Broadcaster {
        Broadcaster {
            paths,
            prefix: prefix.to_owned(),
            targets: Vec::new(),
            generation: None,
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
        self.refresh()?;
        if message.is_empty() {
            return Ok(0);
        }
        deliver_all(&self.targets, message)
    }

    /// Like [`send`](Broadcaster::send) but never blocks: full queues are
    /// skipped and named in the report.
    pub fn try_send(&mut self, data: &[u8]) -> Result<BroadcastReport> {
        self.refresh()?;
        if data.is_empty() {
            return Ok(BroadcastReport::default());
        }
        try_deliver_all(&self.targets, &Message::copy_from_slice(data))
    }

    fn refresh(&mut self) -> Result<()> {
        let now = self.paths.generation();
        if self.generation != Some(now) {
            self.targets = self.paths.matching(&self.prefix)?;
            self.generation = Some(now);
        }
        Ok(())
    }
}

impl fmt::Debug for Broadcaster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broadcaster")
            .field("prefix", &self.prefix)
            .field("targets", &self.targets.len())
            .finish()
    }
}

/// Delivers `message` to each target, waiting for room; counts deliveries.
pub(crate) fn deliver_all(targets: &[Arc<Path>], message: &Message) -> Result<usize> {
    let message = message.shared();
    let mut delivered = 0;
    for path in targets {
        match path.deliver(&message, true) {
            Delivery::Delivered => delivered += 1,
            Delivery::Skipped | Delivery::Full => {}
            Delivery::BackendClosed => return Err(Error::BackendClosed),
        }
    }
    Ok(delivered)
}

/// Delivers `message` to each target that has room right now.
pub(crate) fn try_deliver_all(targets: &[Arc<Path>], message: &Message) -> Result<BroadcastReport> {
    let message = message.shared();
    let mut report = BroadcastReport::default();
    for path in targets {
        match path.deliver(&message, false) {
            Delivery::Delivered => report.delivered += 1,
            Delivery::Full => report.full.push(path.name().to_owned()),
            Delivery::Skipped => {}
            Delivery::BackendClosed => return Err(Error::BackendClosed),
        }
    }
    Ok(report)
}
