//! Leases: every open writer and reader is registered on the server with
//! an expiry that one background thread per backend renews, so that the
//! server can count out the handles of a process that died.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::error::Error;
use crate::redis::conn::{Connector, reply};
use crate::redis::keys::PathKeys;
use crate::redis::scripts::scripts;

/// Whose lease: a writer's (counted for the end of the stream) or a
/// reader's (keeps a deleted path's data while it drains).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Writer,
    Reader,
}

impl Role {
    /// The name of the lease set in the keys and scripts.
    pub(crate) fn set_name(self) -> &'static str {
        match self {
            Role::Writer => "writers",
            Role::Reader => "readers",
        }
    }
}

/// One registered lease.
#[derive(Clone, Debug)]
pub(crate) struct Lease {
    pub(crate) keys: PathKeys,
    pub(crate) role: Role,
    pub(crate) token: String,
}

/// The leases of one backend handle (and its clones), shared with the
/// thread that renews them.
pub(crate) struct LeaseBook {
    /// Protects the leases and the thread's state. Never held across a
    /// network call: the thread copies the leases out, then renews.
    state: Mutex<BookState>,
    /// Wakes the renewal thread early: to stop.
    wake: Condvar,
    connector: Arc<Connector>,
    lease: Duration,
}

#[derive(Default)]
struct BookState {
    leases: HashMap<u64, Lease>,
    /// Numbers handed to streams and waiting broadcasts, to key their
    /// entries here and in the backend's table of blocked connections.
    next_serial: u64,
    thread_started: bool,
    stopped: bool,
}

impl LeaseBook {
    pub(crate) fn new(connector: Arc<Connector>, lease: Duration) -> Arc<LeaseBook> {
        Arc::new(LeaseBook {
            state: Mutex::new(BookState::default()),
            wake: Condvar::new(),
            connector,
            lease,
        })
    }

    /// A number no other stream of this backend has.
    pub(crate) fn serial(&self) -> u64 {
        let mut state = self.state.lock();
        state.next_serial += 1;
        state.next_serial
    }

    /// Registers `lease` under `serial`, starting the renewal thread if it
    /// is not running yet.
    pub(crate) fn add(self: &Arc<Self>, serial: u64, lease: Lease) -> Result<(), Error> {
        let mut state = self.state.lock();
        if !state.thread_started {
            let book = Arc::clone(self);
            std::thread::Builder::new()
                .name("chanio-redis-leases".to_owned())
                .spawn(move || book.renew_until_stopped())
                .map_err(|err| Error::Connection {
                    url: self.connector.shown_url().to_owned(),
                    message: format!("could not start the lease renewal thread: {err}"),
                    kind: err.kind(),
                })?;
            state.thread_started = true;
        }
        state.leases.insert(serial, lease);
        Ok(())
    }

    /// Takes the lease registered under `serial` out of the book. Whoever
    /// gets it releases it on the server, once.
    pub(crate) fn take(&self, serial: u64) -> Option<Lease> {
        self.state.lock().leases.remove(&serial)
    }

    /// Takes every lease out of the book (the backend is closing).
    pub(crate) fn take_all(&self) -> Vec<Lease> {
        self.state.lock().leases.drain().map(|(_, l)| l).collect()
    }

    /// Stops the renewal thread.
    pub(crate) fn stop(&self) {
        self.state.lock().stopped = true;
        self.wake.notify_all();
    }

    /// The renewal thread: every third of a lease, all leases at once in
    /// one script call. A failure only drops the connection, to try a new
    /// one next round; leases that cannot be renewed run out on the server
    /// as a dead process's would.
    fn renew_until_stopped(&self) {
        let interval = (self.lease / 3).max(Duration::from_millis(1));
        let mut conn = None;
        loop {
            let batch: Vec<Lease> = {
                let mut state = self.state.lock();
                if !state.stopped {
                    self.wake.wait_for(&mut state, interval);
                }
                if state.stopped {
                    return;
                }
                state.leases.values().cloned().collect()
            };
            if batch.is_empty() {
                continue;
            }
            if conn.is_none() {
                conn = self.connector.connect().ok();
            }
            let Some(c) = conn.as_mut() else { continue };
            let mut renew = scripts().renew.prepare_invoke();
            renew.arg(self.lease.as_millis().to_string());
            for lease in &batch {
                renew
                    .arg(&lease.keys.base)
                    .arg(lease.role.set_name())
                    .arg(&lease.token);
            }
            match c.invoke(&renew) {
                Ok(value) if reply::int(&value) == Some(1) => {}
                _ => conn = None,
            }
        }
    }
}
