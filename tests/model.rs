//! Model-based tests: random single-threaded sequences of operations run
//! against the real backend and against a small model of the contract
//! (queues with a capacity, logs, writer counts, ended streams, deleted
//! paths, a closed backend), comparing every result, errors included.
//!
//! Nothing may block in one thread, so every reader and writer has a zero
//! timeout: a write to a full queue (every write, with a buffer of 0 and
//! no reader waiting) and a read of an empty stream time out, which the
//! model predicts. A broadcast the model says would wait for room is run
//! as `try_broadcast` instead.
//!
//! Where the contract leaves a choice, the model accepts each reading:
//! - an empty write (or `send` of an empty message) on a deleted or closed
//!   stream may return `Ok(0)` (the contract's "write(&[]) returns Ok(0)")
//!   or the stream's BrokenPipe error;
//! - an empty path on a closed backend may be `InvalidPath` or
//!   `BackendClosed`;
//! - a reader of an ended queue whose only message left is held, only
//!   peeked at, by another open reader may see end of stream or wait (a
//!   timeout here): that message goes back to the queue when the other
//!   reader closes (contract 0.2, "Nothing a reader only peeked at is
//!   lost"), but the contract does not say whether end of stream waits
//!   for it;
//! - nor does it say whether a message given back takes a slot of the
//!   queue: a write or broadcast whose outcome hangs on that is skipped.
//!
//! The error of a write to a deleted path is `Error::PathDeleted` (kind
//! BrokenPipe), as `Writer`'s docs say; the contract names only the kind.
mod common;

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, BufRead, IoSlice, Read, Write};
use std::time::Duration;

use chanio::{ChannelBackend, Error, Message, Reader, Writer};
use proptest::prelude::*;

const PATHS: [&str; 4] = ["a", "a/b", "b", ""];
const PREFIXES: [&str; 5] = ["", "a", "a/", "b", "c"];

#[derive(Clone, Copy, Debug)]
enum How {
    Write,
    Vectored,
    Send,
}

#[derive(Clone, Debug)]
enum Op {
    NewWriter(usize),
    NewReader(usize),
    Write(usize, Vec<u8>, How),
    Read(usize, usize),
    Recv(usize),
    FillBuf(usize, usize),
    CloseWriter(usize),
    DropWriter(usize),
    CloseReader(usize),
    DropReader(usize),
    TryClone(usize),
    Delete(usize),
    Exists(usize),
    List(usize),
    Count,
    CloseBackend,
    Broadcast(usize, Vec<u8>),
    TryBroadcast(usize, Vec<u8>),
}

fn data() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => Just(Vec::new()),
        9 => prop::collection::vec(any::<u8>(), 1..8),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let path = 0..PATHS.len();
    let handle = 0usize..8;
    let how = prop_oneof![Just(How::Write), Just(How::Vectored), Just(How::Send)];
    prop_oneof![
        6 => path.clone().prop_map(Op::NewWriter),
        6 => path.clone().prop_map(Op::NewReader),
        14 => (handle.clone(), data(), how).prop_map(|(w, d, h)| Op::Write(w, d, h)),
        6 => (handle.clone(), 0usize..12).prop_map(|(r, n)| Op::Read(r, n)),
        6 => handle.clone().prop_map(Op::Recv),
        // `consume(0)` after `fill_buf` (a peek) is made likelier than the
        // range alone would: a peeked message goes back when its reader closes.
        3 => (handle.clone(), prop_oneof![1 => Just(0usize), 3 => 0usize..12])
            .prop_map(|(r, n)| Op::FillBuf(r, n)),
        3 => handle.clone().prop_map(Op::CloseWriter),
        3 => handle.clone().prop_map(Op::DropWriter),
        2 => handle.clone().prop_map(Op::CloseReader),
        2 => handle.clone().prop_map(Op::DropReader),
        3 => handle.prop_map(Op::TryClone),
        3 => path.clone().prop_map(Op::Delete),
        2 => path.prop_map(Op::Exists),
        2 => (0..PREFIXES.len()).prop_map(Op::List),
        1 => Just(Op::Count),
        1 => Just(Op::CloseBackend),
        3 => (0..PREFIXES.len(), data()).prop_map(|(p, d)| Op::Broadcast(p, d)),
        3 => (0..PREFIXES.len(), data()).prop_map(|(p, d)| Op::TryBroadcast(p, d)),
    ]
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), 1..common::scale(40, 60))
}

/// The result of one operation, real or predicted.
#[derive(Clone, Debug, PartialEq)]
enum Out {
    Unit,
    Bool(bool),
    Count(usize),
    Bytes(Vec<u8>),
    End,
    Names(Vec<String>),
    Report(usize, Vec<String>),
    /// An `io::Error`: its kind and the `chanio::Error` inside.
    Io(io::ErrorKind, Error),
    /// A `chanio::Error` returned directly.
    Err(Error),
}

fn io_out(err: io::Error) -> Out {
    let inner = common::inner(&err)
        .unwrap_or_else(|| panic!("an io::Error without a chanio::Error inside: {err:?}"))
        .clone();
    Out::Io(err.kind(), inner)
}

fn from_result<T>(result: chanio::Result<T>, ok: impl FnOnce(T) -> Out) -> Out {
    result.map_or_else(Out::Err, ok)
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Cancel {
    Deleted,
    Closed,
}

#[derive(Debug)]
struct Stream {
    name: String,
    writers: usize,
    had_writer: bool,
    ended: bool,
    cancelled: Option<Cancel>,
    /// Queue mode: what is queued. Persistent mode: the log.
    messages: VecDeque<Vec<u8>>,
    /// Queue mode: how many of the first `messages` a closing reader gave
    /// back (it had only peeked at them).
    returned: usize,
}

#[derive(Debug)]
struct ModelWriter {
    stream: usize,
    closed: bool,
}

#[derive(Debug)]
struct ModelReader {
    stream: usize,
    closed: bool,
    /// Persistent mode: the index of the next message in the log.
    cursor: usize,
    /// What is left of the message being read.
    current: Option<Vec<u8>>,
    /// Whether `current` is a whole message none of which was consumed
    /// (`fill_buf` showed it, nothing more): a closing reader gives it back.
    peeked: bool,
}

/// The contract, as a plain single-threaded data structure.
#[derive(Debug)]
struct Model {
    persistent: bool,
    capacity: usize,
    closed: bool,
    names: BTreeMap<String, usize>,
    streams: Vec<Stream>,
    writers: Vec<ModelWriter>,
    readers: Vec<ModelReader>,
}

impl Model {
    fn new(persistent: bool, capacity: usize) -> Model {
        Model {
            persistent,
            capacity,
            closed: false,
            names: BTreeMap::new(),
            streams: Vec::new(),
            writers: Vec::new(),
            readers: Vec::new(),
        }
    }

    /// The error for an operation naming `path` on the backend, if any:
    /// both readings where an empty path meets a closed backend.
    fn path_errors(&self, path: &str) -> Vec<Out> {
        let mut errors = Vec::new();
        if path.is_empty() {
            errors.push(Out::Err(Error::InvalidPath {
                path: String::new(),
            }));
        }
        if self.closed {
            errors.push(Out::Err(Error::BackendClosed));
        }
        errors
    }

    fn stream_of(&mut self, path: &str) -> usize {
        if let Some(&id) = self.names.get(path) {
            return id;
        }
        self.streams.push(Stream {
            name: path.to_owned(),
            writers: 0,
            had_writer: false,
            ended: false,
            cancelled: None,
            messages: VecDeque::new(),
            returned: 0,
        });
        let id = self.streams.len() - 1;
        self.names.insert(path.to_owned(), id);
        id
    }

    fn cancel_error(&self, stream: usize) -> Option<Error> {
        let s = &self.streams[stream];
        s.cancelled.map(|cause| match cause {
            Cancel::Deleted => Error::PathDeleted {
                path: s.name.clone(),
            },
            Cancel::Closed => Error::BackendClosed,
        })
    }

    fn cancel(&mut self, stream: usize, cause: Cancel) {
        let s = &mut self.streams[stream];
        s.ended = true;
        s.cancelled.get_or_insert(cause);
    }

    fn release_writer(&mut self, writer: usize) {
        let w = &mut self.writers[writer];
        if w.closed {
            return;
        }
        w.closed = true;
        let s = &mut self.streams[w.stream];
        s.writers -= 1;
        if s.writers == 0 && s.had_writer {
            s.ended = true;
        }
    }

    fn is_full(&self, stream: usize) -> bool {
        !self.persistent && self.streams[stream].messages.len() >= self.capacity
    }

    /// Whether the queue is full only if the messages given back to it
    /// take slots: the contract does not say whether they do.
    fn fullness_unsettled(&self, stream: usize) -> bool {
        let s = &self.streams[stream];
        !self.persistent
            && s.messages.len() >= self.capacity
            && s.messages.len() - s.returned < self.capacity
    }

    fn new_writer(&mut self, path: &str) -> Vec<Out> {
        let errors = self.path_errors(path);
        if !errors.is_empty() {
            return errors;
        }
        let id = self.stream_of(path);
        let s = &mut self.streams[id];
        if s.ended {
            return vec![Out::Err(Error::StreamEnded { path: path.into() })];
        }
        s.writers += 1;
        s.had_writer = true;
        self.writers.push(ModelWriter {
            stream: id,
            closed: false,
        });
        vec![Out::Unit]
    }

    fn new_reader(&mut self, path: &str) -> Vec<Out> {
        let errors = self.path_errors(path);
        if !errors.is_empty() {
            return errors;
        }
        let stream = self.stream_of(path);
        self.readers.push(ModelReader {
            stream,
            closed: false,
            cursor: 0,
            current: None,
            peeked: false,
        });
        vec![Out::Unit]
    }

    fn write(&mut self, writer: usize, data: &[u8], how: How) -> Vec<Out> {
        let w = &self.writers[writer];
        let stream = w.stream;
        let path = self.streams[stream].name.clone();
        let as_io = |e: Error| match how {
            How::Send => Out::Err(e),
            _ => Out::Io(e.io_kind(), e),
        };
        let ok = |n: usize| match how {
            How::Send => Out::Unit,
            _ => Out::Count(n),
        };
        if w.closed {
            return vec![as_io(Error::WriterClosed { path })];
        }
        let cancelled = self.cancel_error(stream);
        if data.is_empty() {
            let mut accepted = vec![ok(0)];
            accepted.extend(cancelled.map(as_io));
            return accepted;
        }
        if let Some(err) = cancelled {
            return vec![as_io(err)];
        }
        if self.is_full(stream) {
            return vec![as_io(Error::TimedOut { path })];
        }
        self.streams[stream].messages.push_back(data.to_vec());
        vec![ok(data.len())]
    }

    /// The rest of the reader's current message or the next one, and
    /// whether that is a whole message none of which was consumed; `None`
    /// at end of stream; `Err` if it would wait.
    fn next_piece(&mut self, reader: usize) -> Result<Option<(Vec<u8>, bool)>, Error> {
        let persistent = self.persistent;
        let r = &mut self.readers[reader];
        if let Some(rest) = r.current.take() {
            return Ok(Some((rest, std::mem::take(&mut r.peeked))));
        }
        let s = &mut self.streams[r.stream];
        let next = if persistent {
            let message = s.messages.get(r.cursor).cloned();
            if message.is_some() {
                r.cursor += 1;
            }
            message
        } else {
            s.returned = s.returned.saturating_sub(1);
            s.messages.pop_front()
        };
        match next {
            Some(message) => Ok(Some((message, true))),
            None if s.ended => Ok(None),
            None => Err(Error::TimedOut {
                path: s.name.clone(),
            }),
        }
    }

    fn closed_reader_error(&self, reader: usize) -> Option<Error> {
        let r = &self.readers[reader];
        r.closed.then(|| Error::ReaderClosed {
            path: self.streams[r.stream].name.clone(),
        })
    }

    fn read(&mut self, reader: usize, len: usize) -> Vec<Out> {
        if let Some(err) = self.closed_reader_error(reader) {
            return vec![Out::Io(io::ErrorKind::Other, err)];
        }
        if len == 0 {
            return vec![Out::Count(0)];
        }
        match self.next_piece(reader) {
            Ok(Some((mut message, _))) => {
                let rest = message.split_off(len.min(message.len()));
                self.readers[reader].current = (!rest.is_empty()).then_some(rest);
                vec![Out::Bytes(message)]
            }
            Ok(None) => self.end_or_wait(reader, |e| Out::Io(e.io_kind(), e)),
            Err(err) => vec![Out::Io(err.io_kind(), err)],
        }
    }

    fn recv(&mut self, reader: usize) -> Vec<Out> {
        if let Some(err) = self.closed_reader_error(reader) {
            return vec![Out::Err(err)];
        }
        match self.next_piece(reader) {
            Ok(Some((message, _))) => vec![Out::Bytes(message)],
            Ok(None) => self.end_or_wait(reader, Out::Err),
            Err(err) => vec![Out::Err(err)],
        }
    }

    /// `fill_buf` then `consume(amount % (len + 1))`.
    fn fill_buf(&mut self, reader: usize, amount: usize) -> Vec<Out> {
        if let Some(err) = self.closed_reader_error(reader) {
            return vec![Out::Io(io::ErrorKind::Other, err)];
        }
        match self.next_piece(reader) {
            Ok(Some((message, whole))) => {
                let taken = amount % (message.len() + 1);
                let rest = message[taken..].to_vec();
                let r = &mut self.readers[reader];
                r.peeked = whole && taken == 0;
                r.current = (!rest.is_empty()).then_some(rest);
                vec![Out::Bytes(message)]
            }
            Ok(None) => self.end_or_wait(reader, |e| Out::Io(e.io_kind(), e)),
            Err(err) => vec![Out::Io(err.io_kind(), err)],
        }
    }

    /// End of stream for `reader`, or, while another open reader of its
    /// queue holds a message it only peeked at (which would come back if
    /// that reader closed), a wait: the contract does not say which.
    fn end_or_wait(&self, reader: usize, wait: impl FnOnce(Error) -> Out) -> Vec<Out> {
        let stream = self.readers[reader].stream;
        let peeked_elsewhere = !self.persistent
            && self.readers.iter().enumerate().any(|(i, r)| {
                i != reader && r.stream == stream && !r.closed && r.peeked && r.current.is_some()
            });
        let mut accepted = vec![Out::End];
        if peeked_elsewhere {
            accepted.push(wait(Error::TimedOut {
                path: self.streams[stream].name.clone(),
            }));
        }
        accepted
    }

    /// Closes a reader; in queue mode a message it only peeked at goes back
    /// to the front of its queue.
    fn close_reader(&mut self, reader: usize) {
        let r = &mut self.readers[reader];
        r.closed = true;
        let current = r.current.take();
        if std::mem::take(&mut r.peeked) && !self.persistent {
            if let Some(message) = current {
                let s = &mut self.streams[r.stream];
                s.messages.push_front(message);
                s.returned += 1;
            }
        }
    }

    fn try_clone(&mut self, writer: usize) -> Vec<Out> {
        let w = &self.writers[writer];
        let stream = w.stream;
        if w.closed {
            let path = self.streams[stream].name.clone();
            return vec![Out::Err(Error::WriterClosed { path })];
        }
        if let Some(err) = self.cancel_error(stream) {
            return vec![Out::Err(err)];
        }
        self.streams[stream].writers += 1;
        self.writers.push(ModelWriter {
            stream,
            closed: false,
        });
        vec![Out::Unit]
    }

    fn delete(&mut self, path: &str) -> Vec<Out> {
        let errors = self.path_errors(path);
        if !errors.is_empty() {
            return errors;
        }
        if let Some(id) = self.names.remove(path) {
            self.cancel(id, Cancel::Deleted);
        }
        vec![Out::Unit]
    }

    fn exists(&self, path: &str) -> Vec<Out> {
        let errors = self.path_errors(path);
        if !errors.is_empty() {
            return errors;
        }
        vec![Out::Bool(self.names.contains_key(path))]
    }

    fn list(&self, prefix: &str) -> Vec<Out> {
        if self.closed {
            return vec![Out::Err(Error::BackendClosed)];
        }
        vec![Out::Names(
            self.names
                .keys()
                .filter(|n| n.starts_with(prefix))
                .cloned()
                .collect(),
        )]
    }

    fn close_backend(&mut self) {
        self.closed = true;
        let ids: Vec<usize> = std::mem::take(&mut self.names).into_values().collect();
        for id in ids {
            self.cancel(id, Cancel::Closed);
        }
    }

    /// The live streams a broadcast to `prefix` goes to, in name order.
    fn targets(&self, prefix: &str) -> Vec<usize> {
        self.names
            .iter()
            .filter(|(name, id)| name.starts_with(prefix) && !self.streams[**id].ended)
            .map(|(_, id)| *id)
            .collect()
    }

    /// Whether `broadcast(prefix, ..)` would wait for room somewhere.
    fn broadcast_would_wait(&self, prefix: &str, data: &[u8]) -> bool {
        !self.closed && !data.is_empty() && self.targets(prefix).iter().any(|&id| self.is_full(id))
    }

    fn broadcast(&mut self, prefix: &str, data: &[u8], try_only: bool) -> Vec<Out> {
        if self.closed {
            return vec![Out::Err(Error::BackendClosed)];
        }
        let mut delivered = 0;
        let mut full = Vec::new();
        if !data.is_empty() {
            for id in self.targets(prefix) {
                if self.is_full(id) {
                    assert!(try_only, "the model ran a broadcast that would wait");
                    full.push(self.streams[id].name.clone());
                } else {
                    self.streams[id].messages.push_back(data.to_vec());
                    delivered += 1;
                }
            }
        }
        vec![if try_only {
            Out::Report(delivered, full)
        } else {
            Out::Count(delivered)
        }]
    }
}

/// The real backend and the handles the sequence opened, index for index
/// with the model's.
struct Real {
    backend: ChannelBackend,
    writers: Vec<Writer>,
    readers: Vec<Reader>,
}

impl Real {
    fn write(&mut self, writer: usize, data: &[u8], how: How) -> Out {
        let w = &mut self.writers[writer];
        match how {
            How::Write => w.write(data).map_or_else(io_out, Out::Count),
            How::Vectored => {
                let (a, b) = data.split_at(data.len() / 2);
                w.write_vectored(&[IoSlice::new(a), IoSlice::new(b)])
                    .map_or_else(io_out, Out::Count)
            }
            How::Send => from_result(w.send(Message::from(data)), |()| Out::Unit),
        }
    }

    fn read(&mut self, reader: usize, len: usize) -> Out {
        let mut buf = vec![0u8; len];
        match self.readers[reader].read(&mut buf) {
            Ok(0) if len > 0 => Out::End,
            Ok(n) if len == 0 => Out::Count(n),
            Ok(n) => Out::Bytes(buf[..n].to_vec()),
            Err(err) => io_out(err),
        }
    }

    fn recv(&mut self, reader: usize) -> Out {
        from_result(self.readers[reader].recv(), |m| match m {
            Some(m) => Out::Bytes(m.to_vec()),
            None => Out::End,
        })
    }

    fn fill_buf(&mut self, reader: usize, amount: usize) -> Out {
        let r = &mut self.readers[reader];
        match r.fill_buf() {
            Ok([]) => Out::End,
            Ok(data) => {
                let data = data.to_vec();
                r.consume(amount % (data.len() + 1));
                Out::Bytes(data)
            }
            Err(err) => io_out(err),
        }
    }
}

fn new_handle_timeouts(real: &mut Real) {
    // Nothing may block in one thread: every handle waits zero time.
    if let Some(w) = real.writers.last_mut() {
        w.set_write_timeout(Some(Duration::ZERO));
    }
    if let Some(r) = real.readers.last_mut() {
        r.set_read_timeout(Some(Duration::ZERO));
    }
}

/// Runs `ops` on both and compares each result.
fn run(persistent: bool, capacity: usize, ops: &[Op]) {
    let backend = ChannelBackend::builder()
        .buffer_size(capacity)
        .persistent(persistent)
        .build();
    let mut real = Real {
        backend,
        writers: Vec::new(),
        readers: Vec::new(),
    };
    let mut model = Model::new(persistent, capacity);
    for (step, op) in ops.iter().enumerate() {
        let (writers, readers) = (model.writers.len(), model.readers.len());
        let writer = |i: usize| (writers > 0).then(|| i % writers);
        let reader = |i: usize| (readers > 0).then(|| i % readers);
        let (expected, actual): (Vec<Out>, Out) = match op {
            Op::NewWriter(p) => {
                let path = PATHS[*p];
                let actual = match real.backend.new_writer(path) {
                    Ok(w) => {
                        real.writers.push(w);
                        new_handle_timeouts(&mut real);
                        Out::Unit
                    }
                    Err(e) => Out::Err(e),
                };
                (model.new_writer(path), actual)
            }
            Op::NewReader(p) => {
                let path = PATHS[*p];
                let actual = match real.backend.new_reader(path) {
                    Ok(r) => {
                        real.readers.push(r);
                        new_handle_timeouts(&mut real);
                        Out::Unit
                    }
                    Err(e) => Out::Err(e),
                };
                (model.new_reader(path), actual)
            }
            Op::Write(w, data, how) => match writer(*w) {
                Some(w) if model.fullness_unsettled(model.writers[w].stream) => continue,
                Some(w) => (model.write(w, data, *how), real.write(w, data, *how)),
                None => continue,
            },
            Op::Read(r, len) => match reader(*r) {
                Some(r) => (model.read(r, *len), real.read(r, *len)),
                None => continue,
            },
            Op::Recv(r) => match reader(*r) {
                Some(r) => (model.recv(r), real.recv(r)),
                None => continue,
            },
            Op::FillBuf(r, amount) => match reader(*r) {
                Some(r) => (model.fill_buf(r, *amount), real.fill_buf(r, *amount)),
                None => continue,
            },
            Op::CloseWriter(w) | Op::DropWriter(w) => match writer(*w) {
                Some(w) => {
                    model.release_writer(w);
                    let actual = if let Op::DropWriter(_) = op {
                        model.writers.remove(w);
                        drop(real.writers.remove(w));
                        Out::Unit
                    } else {
                        from_result(real.writers[w].close(), |()| Out::Unit)
                    };
                    (vec![Out::Unit], actual)
                }
                None => continue,
            },
            Op::CloseReader(r) | Op::DropReader(r) => match reader(*r) {
                Some(r) => {
                    model.close_reader(r);
                    let actual = if let Op::DropReader(_) = op {
                        model.readers.remove(r);
                        drop(real.readers.remove(r));
                        Out::Unit
                    } else {
                        from_result(real.readers[r].close(), |()| Out::Unit)
                    };
                    (vec![Out::Unit], actual)
                }
                None => continue,
            },
            Op::TryClone(w) => match writer(*w) {
                Some(w) => {
                    let actual = match real.writers[w].try_clone() {
                        Ok(clone) => {
                            assert_eq!(clone.write_timeout(), Some(Duration::ZERO));
                            assert_eq!(clone.path(), real.writers[w].path());
                            real.writers.push(clone);
                            Out::Unit
                        }
                        Err(e) => Out::Err(e),
                    };
                    (model.try_clone(w), actual)
                }
                None => continue,
            },
            Op::Delete(p) => (
                model.delete(PATHS[*p]),
                from_result(real.backend.delete(PATHS[*p]), |()| Out::Unit),
            ),
            Op::Exists(p) => (
                model.exists(PATHS[*p]),
                from_result(real.backend.exists(PATHS[*p]), Out::Bool),
            ),
            Op::List(p) => (
                model.list(PREFIXES[*p]),
                from_result(real.backend.list(PREFIXES[*p]), Out::Names),
            ),
            Op::Count => (
                vec![Out::Count(if model.closed { 0 } else { model.names.len() })],
                Out::Count(real.backend.channel_count()),
            ),
            Op::CloseBackend => {
                model.close_backend();
                (
                    vec![Out::Unit],
                    from_result(real.backend.close(), |()| Out::Unit),
                )
            }
            Op::Broadcast(p, data) | Op::TryBroadcast(p, data) => {
                let prefix = PREFIXES[*p];
                let targets = model.targets(prefix);
                if targets.iter().any(|&id| model.fullness_unsettled(id)) {
                    continue;
                }
                let try_only =
                    matches!(op, Op::TryBroadcast(..)) || model.broadcast_would_wait(prefix, data);
                let actual = if try_only {
                    from_result(real.backend.try_broadcast(prefix, data), |r| {
                        Out::Report(r.delivered, r.full)
                    })
                } else {
                    from_result(real.backend.broadcast(prefix, data), Out::Count)
                };
                (model.broadcast(prefix, data, try_only), actual)
            }
        };
        assert!(
            expected.contains(&actual),
            "step {step}: {op:?} gave {actual:?}, the model expected one of {expected:?}\n\
             (steps so far: {:?})",
            &ops[..=step]
        );
        assert_eq!(model.writers.len(), real.writers.len());
        assert_eq!(model.readers.len(), real.readers.len());
    }
}

fn check(persistent: bool, capacity: usize, ops: Vec<Op>) {
    common::within(Duration::from_secs(20), "a model case", move || {
        run(persistent, capacity, &ops)
    });
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: common::scale(128, 5_000),
        // No regression files in the tree: a failure prints its case.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn queue_mode_matches_the_model(capacity in 1usize..4, ops in ops()) {
        check(false, capacity, ops);
    }

    #[test]
    fn hand_off_mode_matches_the_model(ops in ops()) {
        check(false, 0, ops);
    }

    #[test]
    fn persistent_mode_matches_the_model(ops in ops()) {
        check(true, 100, ops);
    }
}
