//! [`Shared`]: what a backend handle, its clones and its streams share —
//! connections, leases, the closed state — and the calls several of them
//! make (a write that waits for room, a release, a broadcast).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ::redis::{ScriptInvocation, Value};
use parking_lot::Mutex;

use crate::config;
use crate::error::{Error, Result, check_path};
use crate::redis::conn::{self, Conn, Connector, is_unblocked, reply};
use crate::redis::keys::{Namespace, PathKeys};
use crate::redis::lease::{Lease, LeaseBook, Role};
use crate::redis::scripts::scripts;
use crate::redis::settings::Settings;

/// The longest the server is asked to block at a time. After it the
/// waiter looks again (for a delete, a closed handle, a writer's lease
/// that ran out, its own deadline), so every wake-up comes within a second
/// even if its signal was missed.
const WAIT_SLICE: Duration = conn::MAX_BLOCK;

/// How many idle connections a backend keeps for later streams and calls.
const IDLE_CONNECTIONS: usize = 8;

/// What a backend handle and its streams share.
pub(crate) struct Shared {
    pub(crate) settings: Settings,
    pub(crate) connector: Arc<Connector>,
    pub(crate) book: Arc<LeaseBook>,
    /// Protects the idle connections; held only to push or pop one.
    idle: Mutex<Vec<Conn>>,
    closed: AtomicBool,
    /// Held for the whole of `close`, so that a second caller returns only
    /// once the first one's work is done.
    closing: Mutex<()>,
    /// Protects the table of connections blocked on the server now
    /// (serial → client id), which `close` wakes with CLIENT UNBLOCK.
    blocked: Mutex<HashMap<u64, i64>>,
}

/// What the `open` script gave a new stream.
pub(crate) struct Opened {
    pub(crate) keys: PathKeys,
    pub(crate) token: String,
}

impl Shared {
    /// The state of a new backend handle, with its first connection.
    pub(crate) fn new(settings: Settings, connector: Arc<Connector>, first: Conn) -> Shared {
        Shared {
            book: LeaseBook::new(Arc::clone(&connector), settings.lease),
            settings,
            connector,
            idle: Mutex::new(vec![first]),
            closed: AtomicBool::new(false),
            closing: Mutex::new(()),
            blocked: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub(crate) fn check_open(&self) -> Result<()> {
        if self.is_closed() {
            return Err(Error::BackendClosed);
        }
        Ok(())
    }

    /// An idle connection, or a new one.
    pub(crate) fn conn(&self) -> Result<Conn> {
        let idle = self.idle.lock().pop();
        match idle {
            Some(conn) => Ok(conn),
            None => self.connector.connect(),
        }
    }

    /// Keeps `conn` for later, if it is healthy and there is room.
    pub(crate) fn give_back(&self, conn: Conn) {
        if conn.is_open() {
            let mut idle = self.idle.lock();
            if idle.len() < IDLE_CONNECTIONS {
                idle.push(conn);
            }
        }
    }

    /// Runs `f` on a connection (after checking that the handle is open);
    /// a connection that failed is dropped, not kept.
    ///
    /// An idle connection may have died while it waited (the server
    /// restarted, say): if one fails with a dropped connection, `f` is run
    /// once more on a new one. A dead socket carried nothing to a live
    /// server, so `f` — an idempotent call — ran at most once before.
    pub(crate) fn with_conn(
        &self,
        doing: &str,
        f: impl FnMut(&mut Conn) -> std::result::Result<Value, ::redis::RedisError>,
    ) -> Result<Value> {
        let (value, conn) = self.call(doing, f)?;
        self.give_back(conn);
        Ok(value)
    }

    /// [`with_conn`](Shared::with_conn), handing the connection to the
    /// caller instead of keeping it.
    pub(crate) fn call(
        &self,
        doing: &str,
        mut f: impl FnMut(&mut Conn) -> std::result::Result<Value, ::redis::RedisError>,
    ) -> Result<(Value, Conn)> {
        self.check_open()?;
        let idle = self.idle.lock().pop();
        if let Some(mut conn) = idle {
            match f(&mut conn) {
                Ok(value) => return Ok((value, conn)),
                Err(err) if !err.is_connection_dropped() => {
                    return Err(self.connector.fault(doing, &err));
                }
                Err(_) => {}
            }
        }
        let mut conn = self.connector.connect()?;
        match f(&mut conn) {
            Ok(value) => Ok((value, conn)),
            Err(err) => Err(self.connector.fault(doing, &err)),
        }
    }

    /// Runs the `open` script for `path` and returns its result with the
    /// connection the new stream will own.
    pub(crate) fn open_stream(&self, path: &str, role: Role) -> Result<(Opened, Conn)> {
        check_path(path)?;
        self.check_open()?;
        let settings = &self.settings;
        let ns = &settings.namespace;
        let mut open = scripts().open.prepare_invoke();
        open.key(ns.paths())
            .key(ns.index())
            .key(format!("{}next", ns.prefix()))
            .arg(ns.prefix())
            .arg(path)
            .arg(settings.mode())
            .arg(settings.buffer_size.to_string())
            .arg(role.set_name())
            .arg(settings.lease.as_millis().to_string());
        // Retrying after a dead idle connection is safe: the dead socket
        // carried nothing to the server.
        let (value, conn) = self.call(&format!("opening {path:?}"), |conn| conn.invoke(&open))?;
        let mut items = reply::items(value).unwrap_or_default().into_iter();
        let status = items.next().as_ref().and_then(reply::text);
        let mut field = || {
            items
                .next()
                .as_ref()
                .and_then(reply::text)
                .unwrap_or_default()
        };
        match status.as_deref() {
            Some("ok") => {
                let id = field();
                let _cap = field();
                let token = field();
                let opened = Opened {
                    keys: ns.incarnation(&id),
                    token,
                };
                Ok((opened, conn))
            }
            Some("ended") => {
                self.give_back(conn);
                Err(Error::StreamEnded {
                    path: path.to_owned(),
                })
            }
            Some("mode") => {
                self.give_back(conn);
                let stored = field();
                let other = if stored == "log" { "true" } else { "false" };
                Err(Error::InvalidConfig {
                    key: config::PERSISTENT.to_owned(),
                    value: settings.persistent.to_string(),
                    expected: format!(
                        "persistent = {other}: the path {path:?} was created with it, and a path keeps its mode"
                    ),
                })
            }
            _ => Err(self.unexpected(&format!("opening {path:?}"))),
        }
    }

    /// Puts the lease of a new stream in the book. If the handle was
    /// closed meanwhile, the lease is released again and the stream not
    /// made: `close` sets its flag before taking the leases, so either it
    /// took this one or this call sees the flag.
    pub(crate) fn register(&self, opened: &Opened, role: Role) -> Result<u64> {
        let serial = self.book.serial();
        let lease = Lease {
            keys: opened.keys.clone(),
            role,
            token: opened.token.clone(),
        };
        if let Err(err) = self.book.add(serial, lease.clone()) {
            let _ = self.release(&lease, false);
            return Err(err);
        }
        if self.is_closed() {
            if let Some(lease) = self.book.take(serial) {
                let _ = self.release(&lease, false);
            }
            return Err(Error::BackendClosed);
        }
        Ok(serial)
    }

    /// Releases a lease on the server: a writer's (which may end the
    /// stream) or a reader's (which may free a deleted path).
    pub(crate) fn release(&self, lease: &Lease, poisoned: bool) -> Result<()> {
        let mut conn = self.conn()?;
        let result = release_on(&mut conn, lease, poisoned);
        match result {
            Ok(()) => {
                self.give_back(conn);
                Ok(())
            }
            Err(err) => Err(self.connector.fault("releasing a lease", &err)),
        }
    }

    /// Closes the stream whose lease is `serial`: whoever takes the lease
    /// out of the book releases it (the stream, or the backend's `close` if
    /// it came first), on the stream's own connection `conn` if it has
    /// one. `doing` names the stream for an error message.
    pub(crate) fn release_stream(
        &self,
        serial: u64,
        conn: Option<Conn>,
        poisoned: bool,
        doing: impl FnOnce() -> String,
    ) -> Result<()> {
        let Some(lease) = self.book.take(serial) else {
            if let Some(conn) = conn {
                self.give_back(conn);
            }
            return Ok(());
        };
        match conn {
            Some(mut conn) => match release_on(&mut conn, &lease, poisoned) {
                Ok(()) => {
                    self.give_back(conn);
                    Ok(())
                }
                Err(err) => Err(self.connector.fault(&doing(), &err)),
            },
            None => self.release(&lease, poisoned),
        }
    }

    pub(crate) fn close(&self) -> Result<()> {
        let _closing = self.closing.lock();
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let mut first_error = None;
        for lease in self.book.take_all() {
            // Once the server cannot be reached, the other leases are left
            // to run out rather than each waiting for a connect timeout.
            if first_error.is_some() {
                break;
            }
            if let Err(err) = self.release(&lease, false) {
                first_error = Some(err);
            }
        }
        self.unblock_all();
        self.book.stop();
        match first_error {
            None => Ok(()),
            Some(err) => Err(err),
        }
    }

    /// Cuts short every call of this handle that is blocked on the server.
    fn unblock_all(&self) {
        let ids: Vec<i64> = self.blocked.lock().values().copied().collect();
        if ids.is_empty() {
            return;
        }
        if let Ok(mut conn) = self.conn() {
            for id in ids {
                if conn
                    .query(::redis::cmd("CLIENT").arg("UNBLOCK").arg(id))
                    .is_err()
                {
                    return;
                }
            }
            self.give_back(conn);
        }
    }

    /// Marks `conn` as blocked on the server for `serial`, for `close` to
    /// wake. The caller checks [`is_closed`](Shared::is_closed) after this,
    /// so a close that came just before is not missed.
    pub(crate) fn blocking(&self, serial: u64, conn: &Conn) {
        self.blocked.lock().insert(serial, conn.id);
    }

    pub(crate) fn unblocked(&self, serial: u64) {
        self.blocked.lock().remove(&serial);
    }

    /// Waits until a token on `keys.room` says a slot may have freed, or a
    /// slice of the wait passes. `Ok(false)` if `deadline` has passed.
    pub(crate) fn wait_for_room(
        &self,
        conn: &mut Conn,
        keys: &PathKeys,
        serial: u64,
        deadline: Option<Instant>,
    ) -> std::result::Result<bool, ::redis::RedisError> {
        let Some(slice) = slice_until(deadline) else {
            return Ok(false);
        };
        self.blocking(serial, conn);
        let result = if self.is_closed() {
            Ok(Value::Nil)
        } else {
            conn.query(
                ::redis::cmd("BLPOP")
                    .arg(&keys.room)
                    .arg(slice.as_secs_f64()),
            )
        };
        self.unblocked(serial);
        match result {
            Err(err) if !is_unblocked(&err) => Err(err),
            _ => Ok(true),
        }
    }

    /// The non-blocking part of a broadcast: delivers to every matching
    /// open path with room; returns the count and the full paths as
    /// `(name, incarnation id)`, in name order.
    pub(crate) fn broadcast_now(
        &self,
        prefix: &str,
        data: &[u8],
    ) -> Result<(usize, Vec<(String, String)>)> {
        self.check_open()?;
        if data.is_empty() {
            return Ok((0, Vec::new()));
        }
        let ns = &self.settings.namespace;
        let (low, high) = Namespace::lex_range(prefix);
        let mut broadcast = scripts().broadcast.prepare_invoke();
        broadcast
            .key(ns.paths())
            .key(ns.index())
            .arg(ns.prefix())
            .arg(low)
            .arg(high)
            .arg(data);
        // Not `with_conn`: a broadcast run twice would deliver twice.
        let mut conn = self.conn()?;
        let value = conn
            .invoke(&broadcast)
            .map_err(|err| self.connector.fault("broadcasting", &err))?;
        self.give_back(conn);
        let mut items = reply::items(value).unwrap_or_default().into_iter();
        let delivered = items.next().as_ref().and_then(reply::int);
        let full = items.next().and_then(reply::items);
        let (Some(delivered), Some(full)) = (delivered, full) else {
            return Err(self.unexpected("broadcasting"));
        };
        let mut full = full.iter().filter_map(reply::text);
        let mut pairs = Vec::new();
        while let (Some(name), Some(id)) = (full.next(), full.next()) {
            pairs.push((name, id));
        }
        Ok((usize::try_from(delivered).unwrap_or(0), pairs))
    }

    /// Delivers `data` to the incarnation `id`, waiting for room. `false`
    /// if the path ended or was deleted meanwhile (skipped).
    pub(crate) fn deliver_waiting(&self, id: &str, data: &[u8]) -> Result<bool> {
        let keys = self.settings.namespace.incarnation(id);
        let serial = self.book.serial();
        let mut conn = self.conn()?;
        let fault = |err: ::redis::RedisError| self.connector.fault("broadcasting", &err);
        loop {
            self.check_open()?;
            let pushed = push_on(&mut conn, &keys, data).map_err(fault)?;
            match pushed {
                Pushed::Appended => break,
                Pushed::Ended | Pushed::Deleted => {
                    self.give_back(conn);
                    return Ok(false);
                }
                Pushed::Full => {
                    self.wait_for_room(&mut conn, &keys, serial, None)
                        .map_err(fault)?;
                }
            }
        }
        self.give_back(conn);
        Ok(true)
    }

    /// A reply that does not fit the script: a server that is not Redis,
    /// or keys of the namespace changed by hand.
    pub(crate) fn unexpected(&self, doing: &str) -> Error {
        Error::Connection {
            url: self.connector.shown_url().to_owned(),
            message: format!(
                "{doing}: the server's reply does not fit chanio's scripts (were keys of namespace {:?} changed by hand?)",
                self.settings.namespace_name
            ),
            kind: std::io::ErrorKind::InvalidData,
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.book.stop();
    }
}

/// What the `push` script did.
pub(crate) enum Pushed {
    Appended,
    Full,
    Ended,
    Deleted,
}

/// Adds the five keys of a path, in the order the per-path scripts take.
pub(crate) fn with_keys<'a, 'b>(
    invocation: &'b mut ScriptInvocation<'a>,
    keys: &PathKeys,
) -> &'b mut ScriptInvocation<'a> {
    invocation
        .key(&keys.meta)
        .key(&keys.data)
        .key(&keys.writers)
        .key(&keys.readers)
        .key(&keys.room)
}

/// Runs the `push` script: one message, if there is room.
pub(crate) fn push_on(
    conn: &mut Conn,
    keys: &PathKeys,
    data: &[u8],
) -> std::result::Result<Pushed, ::redis::RedisError> {
    let mut push = scripts().push.prepare_invoke();
    with_keys(&mut push, keys).arg(data);
    Ok(match reply::int(&conn.invoke(&push)?) {
        Some(1) => Pushed::Appended,
        Some(0) => Pushed::Full,
        Some(-1) => Pushed::Ended,
        _ => Pushed::Deleted,
    })
}

/// Runs the `release` (writer) or `leave` (reader) script for `lease`.
fn release_on(
    conn: &mut Conn,
    lease: &Lease,
    poisoned: bool,
) -> std::result::Result<(), ::redis::RedisError> {
    let mut invocation = match lease.role {
        Role::Writer => scripts().release.prepare_invoke(),
        Role::Reader => scripts().leave.prepare_invoke(),
    };
    with_keys(&mut invocation, &lease.keys).arg(&lease.token);
    if lease.role == Role::Writer {
        invocation.arg(if poisoned { "1" } else { "0" });
    }
    conn.invoke(&invocation).map(drop)
}

/// How long the next server-side wait may be: a slice, cut to what is
/// left before `deadline`; `None` if the deadline has passed. Never zero,
/// which would tell Redis to block for ever.
pub(crate) fn slice_until(deadline: Option<Instant>) -> Option<Duration> {
    let Some(deadline) = deadline else {
        return Some(WAIT_SLICE);
    };
    let left = deadline.checked_duration_since(Instant::now())?;
    if left < Duration::from_millis(1) {
        return None;
    }
    Some(left.min(WAIT_SLICE))
}
