//! The [`Broadcaster`] handle, and delivering one broadcast message to the
//! paths that match a prefix.
//!
//! # Targets
//!
//! A broadcaster keeps the paths that match its prefix, each with a slot
//! of its own registered on the path: the slot's in-flight flag is the
//! broadcaster's way through the path's send gate, and its counts are what
//! the path's stats show of broadcasts. The list is looked up again only
//! when paths were created or deleted; `delete` and `close` empty it at
//! once, so an idle broadcaster keeps no deleted path alive.
//! `ChannelBackend::broadcast` uses such a list too, kept by the registry
//! for the last prefix broadcast to.
//!
//! # Delivery order
//!
//! A broadcast first offers the message to every matching path without
//! waiting, and only then waits on the paths that were full, one after the
//! other. So a slow subscriber never delays the message to a subscriber
//! that has room. The offers are made as one batch: the in-flight flags of
//! all targets are raised together behind one fence, instead of one fence
//! per path; a position is claimed in every target's queue before the
//! message is written to any of them (see
//! [`Ring`](crate::channel::ring::Ring)); and one more fence follows the
//! writes, before the looks for waiting readers.

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{Ordering, fence};

use parking_lot::Mutex;

use crate::broadcast::BroadcastReport;
use crate::channel::path::{Claim, Delivery, Path};
use crate::channel::paths::Paths;
use crate::channel::stats::WriterSlot;
use crate::error::{Error, Result};
use crate::message::{Body, Message};

/// A broadcast handle for one prefix that remembers the matching paths.
///
/// [`ChannelBackend::broadcast`](crate::ChannelBackend::broadcast) looks the
/// matching paths up on every call unless it broadcast to the same prefix
/// last. A `Broadcaster` looks them up once and again only after a path has
/// been created or deleted anywhere in the backend, which makes a steady
/// stream of broadcasts to the same subscribers cost little more than one
/// send per subscriber. It behaves exactly like `broadcast` /
/// `try_broadcast` otherwise.
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
    cache: TargetCache,
}

impl Broadcaster {
    pub(crate) fn new(paths: Arc<Paths>, prefix: &str) -> Broadcaster {
        let cache = TargetCache::default();
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
        broadcast(&self.paths, &self.cache, &self.prefix, Body::copy(data))
    }

    /// Like [`send`](Broadcaster::send) for a message you already hold: its
    /// bytes are shared, not copied (unless it was partly read through
    /// `Read`: then the rest is copied once).
    pub fn send_message(&mut self, message: &Message) -> Result<usize> {
        broadcast(&self.paths, &self.cache, &self.prefix, message.shared())
    }

    /// Like [`send`](Broadcaster::send) but never blocks: full queues are
    /// skipped and named in the report.
    pub fn try_send(&mut self, data: &[u8]) -> Result<BroadcastReport> {
        try_broadcast(&self.paths, &self.cache, &self.prefix, data)
    }
}

impl fmt::Debug for Broadcaster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broadcaster")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// One path a broadcaster targets, with the slot it registered there.
pub(crate) struct Target {
    path: Arc<Path>,
    slot: Arc<WriterSlot>,
    /// What the first half of the current offer claimed: kept here, by the
    /// one broadcast that holds the list, so that a batch needs no list
    /// of its own.
    claim: Cell<Claim>,
}

impl Target {
    fn new(path: Arc<Path>) -> Target {
        let slot = path.add_broadcaster();
        Target {
            path,
            slot,
            claim: Cell::new(Claim::NotQueue),
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.path.release_broadcaster(&self.slot);
    }
}

/// The targets of one prefix as of one registry generation.
#[derive(Default)]
pub(crate) struct Targets {
    prefix: String,
    /// `None` while empty or while a broadcast has the list out.
    generation: Option<u64>,
    list: Vec<Target>,
}

impl Targets {
    /// Whether this is the list of `prefix`'s targets as of generation `now`.
    fn is_current(&self, now: u64, prefix: &str) -> bool {
        self.generation == Some(now) && self.prefix == prefix
    }

    pub(crate) fn clear(&mut self) {
        self.generation = None;
        self.list = Vec::new();
    }
}

/// A list of targets shared with the registry, so that `delete` and
/// `close` can empty it. Locked while a broadcast offers its message to
/// the list (offers never wait), to take the list out for a broadcast that
/// must wait for a full path, and to put it back; never while anything
/// waits, so emptying it waits at most for one round of offers. Locking it
/// once per broadcast instead of twice (to take the list out and put it
/// back) took a broadcast of 64 B to 8 paths, on one thread, from about
/// 205 to 190 ns.
#[derive(Clone, Default)]
pub(crate) struct TargetCache(pub(crate) Arc<Mutex<Targets>>);

impl TargetCache {
    /// The targets for `prefix`: taken out of the cache if it holds them
    /// for the current generation, else looked up (and their slots
    /// registered); with the generation they are current for.
    fn take(&self, paths: &Paths, prefix: &str) -> Result<(Vec<Target>, u64)> {
        let now = paths.generation();
        let stale = {
            let mut cache = self.0.lock();
            if cache.is_current(now, prefix) {
                cache.generation = None;
                return Ok((std::mem::take(&mut cache.list), now));
            }
            cache.generation = None;
            std::mem::take(&mut cache.list)
        };
        let found = paths.matching(prefix)?;
        if stale
            .first()
            .is_some_and(|old| !old.path.name().starts_with(prefix))
        {
            // Another prefix's list: none of it can be kept.
            return Ok((found.into_iter().map(Target::new).collect(), now));
        }
        Ok((keep_or_add(stale, found), now))
    }

    /// Puts the targets back for the next broadcast, unless paths were
    /// created or deleted meanwhile. Checked with the cache locked: a
    /// `delete` bumps the generation before it empties the cache, so it
    /// either sees what is put back here and empties it, or this sees its
    /// new generation and drops the list.
    fn put_back(&self, paths: &Paths, prefix: &str, list: Vec<Target>, generation: u64) {
        let mut cache = self.0.lock();
        if paths.generation() == generation {
            if cache.prefix != prefix {
                cache.prefix = prefix.to_owned();
            }
            cache.list = list;
            cache.generation = Some(generation);
        }
    }
}

/// The targets for `found` (the matching paths, in name order), keeping
/// the targets of `stale` (the previous list, in name order too) for paths
/// still among them, so that a path created elsewhere costs one new slot,
/// not one for every match. The others are dropped, releasing their slots.
fn keep_or_add(stale: Vec<Target>, found: Vec<Arc<Path>>) -> Vec<Target> {
    let mut stale = stale.into_iter().peekable();
    let mut list = Vec::with_capacity(found.len());
    for path in found {
        // A stale target whose path sorts before this one is not matched any
        // more (deleted and made again counts as another path).
        while stale
            .next_if(|old| !Arc::ptr_eq(&old.path, &path) && old.path.name() <= path.name())
            .is_some()
        {}
        match stale.next_if(|old| Arc::ptr_eq(&old.path, &path)) {
            Some(kept) => list.push(kept),
            None => list.push(Target::new(path)),
        }
    }
    list
}

/// `broadcast` of `message` to the paths under `prefix`, through `cache`.
pub(crate) fn broadcast(
    paths: &Paths,
    cache: &TargetCache,
    prefix: &str,
    message: Body,
) -> Result<usize> {
    if !message.is_empty() {
        // The common case, with one lock of the cache: it holds the
        // targets for the current generation, and the offers, which never
        // wait, are made while it stays locked.
        let mut held = cache.0.lock();
        let now = paths.generation();
        if held.is_current(now, prefix) {
            let mut delivered = 0;
            let mut full = Vec::new();
            offer_all(&held.list, &message, |at, delivery| {
                count(delivery, at, &mut delivered, &mut full);
            })?;
            if full.is_empty() {
                return Ok(delivered);
            }
            // Waiting is done with the list out of the cache, so that
            // emptying it never waits for a broadcast, and with the
            // targets' slots still registered on their paths.
            held.generation = None;
            let targets = std::mem::take(&mut held.list);
            drop(held);
            let delivered = wait_for_full(&targets, &full, &message, delivered);
            cache.put_back(paths, prefix, targets, now);
            return delivered;
        }
    }
    let (targets, generation) = cache.take(paths, prefix)?;
    if message.is_empty() {
        cache.put_back(paths, prefix, targets, generation);
        return Ok(0);
    }
    let delivered = deliver_all(&targets, &message);
    cache.put_back(paths, prefix, targets, generation);
    delivered
}

/// `try_broadcast` of `data` to the paths under `prefix`, through `cache`.
pub(crate) fn try_broadcast(
    paths: &Paths,
    cache: &TargetCache,
    prefix: &str,
    data: &[u8],
) -> Result<BroadcastReport> {
    let (targets, generation) = cache.take(paths, prefix)?;
    let report = if data.is_empty() {
        Ok(BroadcastReport::default())
    } else {
        let message: Body = Body::copy(data);
        let mut report = BroadcastReport::default();
        offer_all(&targets, &message, |at, delivery| match delivery {
            Delivery::Delivered => report.delivered += 1,
            Delivery::Full => report.full.push(targets[at].path.name().to_owned()),
            Delivery::Skipped | Delivery::BackendClosed => {}
        })
        .map(|()| report)
    };
    cache.put_back(paths, prefix, targets, generation);
    report
}

/// Delivers `message` to each target: first to every one with room, then,
/// waiting, to those that were full. Counts deliveries.
fn deliver_all(targets: &[Target], message: &Body) -> Result<usize> {
    let mut delivered = 0;
    let mut full = Vec::new();
    offer_all(targets, message, |at, delivery| {
        count(delivery, at, &mut delivered, &mut full);
    })?;
    wait_for_full(targets, &full, message, delivered)
}

/// Tallies what the offer to the target at `at` did.
#[inline]
fn count(delivery: Delivery, at: usize, delivered: &mut usize, full: &mut Vec<usize>) {
    match delivery {
        Delivery::Delivered => *delivered += 1,
        Delivery::Full => full.push(at),
        Delivery::Skipped | Delivery::BackendClosed => {}
    }
}

/// The second step of a broadcast: delivers `message`, waiting, to the
/// targets at `full` (which were full when it was offered); returns
/// `delivered` plus those that got it.
fn wait_for_full(
    targets: &[Target],
    full: &[usize],
    message: &Body,
    mut delivered: usize,
) -> Result<usize> {
    for target in full.iter().filter_map(|&at| targets.get(at)) {
        match target.path.deliver_waiting(&target.slot, message) {
            Delivery::Delivered => delivered += 1,
            Delivery::Full | Delivery::Skipped => {}
            Delivery::BackendClosed => return Err(Error::BackendClosed),
        }
    }
    Ok(delivered)
}

/// Offers `message` to every target without waiting, as one batch through
/// the send gates, and tells `each` what happened at each (by its index).
/// Positions in every target's queue are claimed first, and only then is
/// the message written to them (see [`Ring`](crate::channel::ring::Ring)).
fn offer_all(
    targets: &[Target],
    message: &Body,
    mut each: impl FnMut(usize, Delivery),
) -> Result<()> {
    for target in targets {
        target.slot.busy.store(true, Ordering::Relaxed);
    }
    // Pairs with the fence of a path closing: it either sees a flag raised
    // and waits, or its closing bit is seen here.
    fence(Ordering::SeqCst);
    for target in targets {
        target.claim.set(target.path.claim_in_gate());
    }
    // Every claimed position is filled in this loop, and nothing in it
    // blocks or can panic (copies of the body, hand-offs and log appends
    // that never wait, counting): a position claimed and never filled
    // would stop its queue there.
    let mut closed = false;
    for (at, target) in targets.iter().enumerate() {
        let delivery = target
            .path
            .offer_in_gate(&target.slot, target.claim.get(), message);
        closed |= matches!(delivery, Delivery::BackendClosed);
        each(at, delivery);
    }
    // The fills are ordered before the looks at waiting readers below
    // (see `Ring`): one fence for the batch.
    fence(Ordering::SeqCst);
    for target in targets {
        target.slot.busy.store(false, Ordering::Release);
    }
    for target in targets {
        target.path.wake_reader();
    }
    if closed {
        return Err(Error::BackendClosed);
    }
    Ok(())
}
