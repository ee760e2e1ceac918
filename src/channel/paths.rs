//! The path registry: every live path by name, in a sorted index; and what
//! happens to the paths when `close` is called or every handle is dropped.
//!
//! A `BTreeMap` keeps names sorted, so `list(prefix)` and the matching of a
//! broadcast walk only the names that start with the prefix. The index lock
//! is held for lookups, inserts and removals, never while anyone blocks on
//! a path.
//!
//! Only `ChannelBackend` clones and `Broadcaster`s hold the registry
//! (through an `Arc<Paths>`); `Writer`s and `Reader`s hold only their path.
//! So when the registry is dropped no new handle can ever be opened, and
//! its paths are told so (see `Path::orphan`).

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::channel::broadcaster::{TargetCache, Targets};
use crate::channel::path::{Mode, Path};
use crate::channel::state::Cause;
use crate::channel::stats::PathStats;
use crate::error::{Error, Result};
use crate::recycle::SpareBudget;

pub(crate) struct Paths {
    /// Protects the index and whether the backend is closed.
    index: Mutex<Index>,
    /// Bumped whenever a path is added or removed, so cached sets of
    /// matching paths (see `Broadcaster`) know when to look again.
    generation: AtomicU64,
    /// Held by `close` through all its work, so that a second caller
    /// returns only once the first one's work is done.
    closing: Mutex<()>,
    mode: Mode,
    /// Settings `Builder::build` could not refuse: refused when a path is
    /// made.
    invalid: Option<Error>,
    budget: Arc<SpareBudget>,
    /// The target caches of live `Broadcaster`s and this registry's own,
    /// emptied when paths are deleted so that an idle broadcaster does not
    /// keep them alive.
    caches: Mutex<Vec<Weak<Mutex<Targets>>>>,
    /// The targets of the last prefix `ChannelBackend::broadcast` used.
    pub(crate) broadcast_cache: TargetCache,
}

struct Index {
    closed: bool,
    paths: BTreeMap<String, Arc<Path>>,
}

impl Paths {
    pub(crate) fn new(mode: Mode, invalid: Option<Error>) -> Paths {
        let paths = Paths {
            index: Mutex::new(Index {
                closed: false,
                paths: BTreeMap::new(),
            }),
            generation: AtomicU64::new(0),
            closing: Mutex::new(()),
            mode,
            invalid,
            budget: Arc::default(),
            caches: Mutex::new(Vec::new()),
            broadcast_cache: TargetCache::default(),
        };
        paths.register_cache(&paths.broadcast_cache);
        paths
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Runs `f` on the path named `name`, creating it if needed (and
    /// keeping it only if `f` succeeds), with the registry locked so that
    /// `delete` cannot come in between.
    pub(crate) fn with_path<T>(
        &self,
        name: &str,
        f: impl FnOnce(&Arc<Path>) -> Result<T>,
    ) -> Result<T> {
        let mut index = self.open_index()?;
        if let Some(path) = index.paths.get(name) {
            return f(path);
        }
        if let Some(invalid) = &self.invalid {
            return Err(invalid.clone());
        }
        let path = Path::new(name, self.mode, Arc::clone(&self.budget));
        let result = f(&path)?;
        index.paths.insert(name.to_owned(), path);
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(result)
    }

    pub(crate) fn exists(&self, name: &str) -> Result<bool> {
        let index = self.open_index()?;
        Ok(index.paths.contains_key(name))
    }

    /// Removes the path and cancels it; returns whether it existed.
    pub(crate) fn delete(&self, name: &str) -> Result<bool> {
        let removed = {
            let mut index = self.open_index()?;
            let removed = index.paths.remove(name);
            if let Some(path) = &removed {
                self.generation.fetch_add(1, Ordering::AcqRel);
                // Cancelled with the index still locked, so that a second
                // `delete` of the name waits for this one's work; cancelling
                // never blocks, it only waits for sends already under way.
                path.cancel(Cause::Deleted);
            }
            removed
        };
        match removed {
            Some(path) => {
                path.discard_if_unread();
                self.empty_caches();
                Ok(true)
            }
            None => Ok(false),
        }
    }

    pub(crate) fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let index = self.open_index()?;
        Ok(matching(&index.paths, prefix)
            .map(|(name, _)| name.clone())
            .collect())
    }

    /// The paths whose names start with `prefix`, in name order.
    pub(crate) fn matching(&self, prefix: &str) -> Result<Vec<Arc<Path>>> {
        let index = self.open_index()?;
        Ok(matching(&index.paths, prefix)
            .map(|(_, path)| Arc::clone(path))
            .collect())
    }

    pub(crate) fn stats(&self, name: &str) -> Result<Option<PathStats>> {
        let path = self.open_index()?.paths.get(name).cloned();
        Ok(path.map(|path| path.stats()))
    }

    pub(crate) fn stats_all(&self, prefix: &str) -> Result<Vec<(String, PathStats)>> {
        let found: Vec<(String, Arc<Path>)> = {
            let index = self.open_index()?;
            matching(&index.paths, prefix)
                .map(|(name, path)| (name.clone(), Arc::clone(path)))
                .collect()
        };
        // Each path's figures are read without the index locked.
        Ok(found
            .into_iter()
            .map(|(name, path)| (name, path.stats()))
            .collect())
    }

    /// Closes the backend: every path is removed and cancelled. Idempotent;
    /// a second caller returns once the first one's work is done.
    pub(crate) fn close(&self) {
        let _closing = self.closing.lock();
        let removed = {
            let mut index = self.index.lock();
            if index.closed {
                return;
            }
            index.closed = true;
            self.generation.fetch_add(1, Ordering::AcqRel);
            std::mem::take(&mut index.paths)
        };
        for path in removed.values() {
            path.cancel(Cause::BackendClosed);
        }
        for path in removed.values() {
            path.discard_if_unread();
        }
        self.empty_caches();
    }

    /// Whether the backend is closed; waits for a `close` under way.
    pub(crate) fn is_closed(&self) -> bool {
        let _closing = self.closing.lock();
        self.index.lock().closed
    }

    pub(crate) fn count(&self) -> usize {
        self.index.lock().paths.len()
    }

    /// Lets `delete` and `close` reach a new broadcaster's cache.
    pub(crate) fn register_cache(&self, cache: &TargetCache) {
        let mut caches = self.caches.lock();
        caches.retain(|cache| cache.strong_count() > 0);
        caches.push(Arc::downgrade(&cache.0));
    }

    /// Empties every broadcaster's cache of paths, after paths were
    /// removed: a broadcaster looks its paths up again when it next sends.
    fn empty_caches(&self) {
        self.caches.lock().retain(|cache| match cache.upgrade() {
            Some(cache) => {
                cache.lock().clear();
                true
            }
            None => false,
        });
    }

    fn open_index(&self) -> Result<parking_lot::MutexGuard<'_, Index>> {
        let index = self.index.lock();
        if index.closed {
            return Err(Error::BackendClosed);
        }
        Ok(index)
    }
}

impl Drop for Paths {
    /// The last `ChannelBackend` clone or `Broadcaster` is gone: no handle
    /// can be opened any more, so each path still held by a `Writer` or
    /// `Reader` behaves like a pipe whose other end may be gone.
    fn drop(&mut self) {
        let index = self.index.get_mut();
        for path in std::mem::take(&mut index.paths).into_values() {
            path.orphan();
        }
    }
}

fn matching<'a>(
    paths: &'a BTreeMap<String, Arc<Path>>,
    prefix: &'a str,
) -> impl Iterator<Item = (&'a String, &'a Arc<Path>)> + 'a {
    paths
        .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
        .take_while(move |(name, _)| name.starts_with(prefix))
}
