//! The path registry: every live path by name, in a sorted index.
//!
//! A `BTreeMap` keeps names sorted, so `list(prefix)` and the matching of a
//! broadcast walk only the names that start with the prefix. The lock is
//! held for lookups and inserts only, never while anyone blocks on a path.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::channel::path::{Cause, Mode, Path};
use crate::config::{self, MAX_BUFFER_SIZE};
use crate::error::{Error, Result};

pub(crate) struct Paths {
    /// Protects the index and whether the backend is closed.
    index: Mutex<Index>,
    /// Bumped whenever a path is added or removed, so cached sets of
    /// matching paths (see `Broadcaster`) know when to look again.
    generation: AtomicU64,
    mode: Mode,
}

struct Index {
    closed: bool,
    paths: BTreeMap<String, Arc<Path>>,
}

impl Paths {
    pub(crate) fn new(mode: Mode) -> Paths {
        Paths {
            index: Mutex::new(Index {
                closed: false,
                paths: BTreeMap::new(),
            }),
            generation: AtomicU64::new(0),
            mode,
        }
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Runs `f` on the path named `name`, creating it if needed, with the
    /// registry locked (so that `delete` cannot come in between).
    pub(crate) fn with_path<T>(
        &self,
        name: &str,
        f: impl FnOnce(&Arc<Path>) -> Result<T>,
    ) -> Result<T> {
        let mut index = self.index.lock();
        if index.closed {
            return Err(Error::BackendClosed);
        }
        if let Some(path) = index.paths.get(name) {
            return f(path);
        }
        if let Mode::Queue(capacity) = self.mode {
            // Checked here because `Builder::build` cannot fail: a channel
            // allocates its whole capacity when it is made.
            if capacity > MAX_BUFFER_SIZE {
                return Err(Error::InvalidConfig {
                    key: config::BUFFER_SIZE.to_owned(),
                    value: capacity.to_string(),
                    expected: format!("a buffer size from 0 to {MAX_BUFFER_SIZE}"),
                });
            }
        }
        let path = Path::new(name, self.mode);
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
            if removed.is_some() {
                self.generation.fetch_add(1, Ordering::AcqRel);
            }
            removed
        };
        match removed {
            Some(path) => {
                path.cancel(Cause::Deleted);
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

    /// Closes the backend: every path is removed and cancelled. Idempotent.
    pub(crate) fn close(&self) {
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
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.index.lock().closed
    }

    pub(crate) fn count(&self) -> usize {
        self.index.lock().paths.len()
    }

    fn open_index(&self) -> Result<parking_lot::MutexGuard<'_, Index>> {
        let index = self.index.lock();
        if index.closed {
            return Err(Error::BackendClosed);
        }
        Ok(index)
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
