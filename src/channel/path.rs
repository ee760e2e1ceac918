//! One path's state: its stream's flavor (queue or log), its writer count,
//! and the cancel signal that `delete` and backend `close` fire.
//!
//! `Writer`, `Reader` and broadcast hold an `Arc<Path>`; the registry holds
//! another until the path is deleted. When the last of them goes, the path's
//! queued messages are freed.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use crate::channel::cancel::Cancel;
pub(crate) use crate::channel::cancel::Cause;
use crate::channel::log::{self, Log};
use crate::channel::queue::{self, Received, SendFailure};
use crate::error::{Error, Result};
use crate::message::Message;
use crate::recycle::Recycler;

/// How a stream stores its messages.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Mode {
    /// A bounded queue of this many messages (0: hand-off).
    Queue(usize),
    /// An append-only log every reader replays.
    Log,
}

pub(crate) struct Path {
    name: Arc<str>,
    flavor: Flavor,
    /// Protects the writer count, whether the stream has ended, and the
    /// sender new queue writers clone.
    life: Mutex<Life>,
    /// Fired by `delete` and backend `close`.
    cancel: Cancel,
    /// Open readers; once the path is cancelled and the last one goes, the
    /// queued messages nobody can read any more are freed.
    readers: AtomicUsize,
    /// Whether writers may still reuse buffers: until the stream ends, after
    /// which spare buffers would only hold memory (see `recycler`).
    recycling: AtomicBool,
}

enum Flavor {
    /// Readers clone this receiver and compete for messages; the recycler
    /// passes the buffers of large messages back from readers to writers,
    /// and is made when the first large message passes.
    Queue(Receiver<Arc<[u8]>>, OnceLock<Arc<Recycler>>),
    Log(Log),
}

struct Life {
    writers: usize,
    had_writer: bool,
    ended: bool,
    /// Queue flavor: the sender writers and broadcasts clone. Dropped when
    /// the stream ends, so that the channel disconnects once the last
    /// writer's own clone is dropped too.
    seed: Option<Sender<Arc<[u8]>>>,
}

/// A writer's share of a stream.
pub(crate) enum WriteEnd {
    Queue(Sender<Arc<[u8]>>),
    Log,
}

/// A reader's position in a stream.
pub(crate) enum ReadEnd {
    Queue(Receiver<Arc<[u8]>>),
    Log { cursor: usize },
}

/// What delivering a broadcast message to one path did.
pub(crate) enum Delivery {
    Delivered,
    /// The stream had ended (or the path was deleted): skipped, not counted.
    Skipped,
    /// `try_broadcast` only: the queue was full.
    Full,
    /// The backend was closed meanwhile.
    BackendClosed,
}

/// What reading the next message found.
pub(crate) enum Next {
    /// The whole message's bytes.
    Message(Arc<[u8]>),
    End,
    TimedOut,
}

impl Path {
    pub(crate) fn new(name: &str, mode: Mode) -> Arc<Path> {
        let (flavor, seed) = match mode {
            Mode::Queue(capacity) => {
                let (tx, rx) = crossbeam_channel::bounded(capacity);
                (Flavor::Queue(rx, OnceLock::new()), Some(tx))
            }
            Mode::Log => (Flavor::Log(Log::new()), None),
        };
        Arc::new(Path {
            name: Arc::from(name),
            flavor,
            life: Mutex::new(Life {
                writers: 0,
                had_writer: false,
                ended: false,
                seed,
            }),
            cancel: Cancel::new(),
            readers: AtomicUsize::new(0),
            recycling: AtomicBool::new(true),
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Why the path was cancelled, if it was.
    pub(crate) fn cancel_cause(&self) -> Option<Cause> {
        self.cancel.cause()
    }

    /// The error a writer gets on a cancelled path.
    pub(crate) fn cancel_error(&self, cause: Cause) -> Error {
        match cause {
            Cause::Deleted => Error::PathDeleted {
                path: self.name.to_string(),
            },
            Cause::BackendClosed => Error::BackendClosed,
        }
    }

    fn check_live(&self) -> Result<()> {
        match self.cancel_cause() {
            None => Ok(()),
            Some(cause) => Err(self.cancel_error(cause)),
        }
    }

    /// Counts a new writer in; fails if the stream has ended.
    pub(crate) fn add_writer(&self) -> Result<WriteEnd> {
        self.check_live()?;
        let mut life = self.life.lock();
        if life.ended {
            return Err(Error::StreamEnded {
                path: self.name.to_string(),
            });
        }
        let end = match (&self.flavor, &life.seed) {
            (Flavor::Queue(..), Some(seed)) => WriteEnd::Queue(seed.clone()),
            (Flavor::Queue(..), None) => {
                return Err(Error::StreamEnded {
                    path: self.name.to_string(),
                });
            }
            (Flavor::Log(_), _) => WriteEnd::Log,
        };
        life.writers += 1;
        life.had_writer = true;
        Ok(end)
    }

    /// Counts a writer out; the last one out ends the stream.
    pub(crate) fn release_writer(&self) {
        let mut life = self.life.lock();
        life.writers = life.writers.saturating_sub(1);
        if life.writers == 0 && life.had_writer {
            self.end_stream(&mut life);
        }
    }

    fn end_stream(&self, life: &mut Life) {
        life.ended = true;
        life.seed = None;
        match &self.flavor {
            Flavor::Log(log) => log.end(),
            Flavor::Queue(_, recycler) => {
                // SeqCst pairs with `recycler`: a recycler made after this
                // store is closed there, one made before is closed here.
                self.recycling.store(false, Ordering::SeqCst);
                if let Some(recycler) = recycler.get() {
                    recycler.close();
                }
            }
        }
    }

    /// The recycler of a queue whose stream can still be written to, made
    /// on first use; `None` for a log or once the stream has ended.
    fn recycler(&self) -> Option<&Arc<Recycler>> {
        let Flavor::Queue(_, cell) = &self.flavor else {
            return None;
        };
        if !self.recycling.load(Ordering::SeqCst) {
            return None;
        }
        let recycler = cell.get_or_init(Default::default);
        if !self.recycling.load(Ordering::SeqCst) {
            recycler.close();
            return None;
        }
        Some(recycler)
    }

    /// Ends the stream and wakes every thread blocked on the path. Readers
    /// still read what was queued; writers get `cause`'s error.
    pub(crate) fn cancel(&self, cause: Cause) {
        if !self.cancel.fire(cause) {
            return;
        }
        self.end_stream(&mut self.life.lock());
        // SeqCst pairs with `release_reader`: one of the two sees the other.
        if self.readers.load(Ordering::SeqCst) == 0 {
            self.discard();
        }
    }

    /// Frees the messages of a cancelled path that no reader holds.
    fn discard(&self) {
        match &self.flavor {
            Flavor::Queue(rx, _) => while rx.try_recv().is_ok() {},
            Flavor::Log(log) => log.clear(),
        }
    }

    /// Counts a new reader in and gives it its position.
    pub(crate) fn add_reader(&self) -> ReadEnd {
        self.readers.fetch_add(1, Ordering::SeqCst);
        match &self.flavor {
            Flavor::Queue(rx, _) => ReadEnd::Queue(rx.clone()),
            Flavor::Log(_) => ReadEnd::Log { cursor: 0 },
        }
    }

    /// Counts a reader out; the last one out of a cancelled path frees what
    /// it left unread.
    pub(crate) fn release_reader(&self) {
        if self.readers.fetch_sub(1, Ordering::SeqCst) == 1 && self.cancel_cause().is_some() {
            self.discard();
        }
    }

    /// The bytes of a new message holding a copy of `data`, for a writer
    /// of this path.
    #[inline]
    pub(crate) fn new_message(&self, data: &[u8]) -> Arc<[u8]> {
        if Recycler::worth_keeping(data.len()) {
            if let Some(recycler) = self.recycler() {
                return recycler.message(data);
            }
        }
        Arc::from(data)
    }

    /// The message a reader of this path hands out for `bytes` it read.
    #[inline]
    pub(crate) fn received(&self, bytes: Arc<[u8]>) -> Message {
        if Recycler::worth_keeping(bytes.len()) {
            if let Some(recycler) = self.recycler() {
                return Message::received(bytes, recycler);
            }
        }
        Message::whole(bytes)
    }

    /// Writes one message through a writer's share.
    #[inline]
    pub(crate) fn write(
        &self,
        end: &WriteEnd,
        message: Arc<[u8]>,
        deadline: Option<Instant>,
    ) -> Result<()> {
        match end {
            // The send checks for a cancel itself, inside the cancel gate.
            WriteEnd::Queue(tx) => match queue::send(tx, message, &self.cancel, true, deadline) {
                Ok(()) => Ok(()),
                Err(failure) => Err(self.send_error(failure)),
            },
            WriteEnd::Log => {
                self.check_live()?;
                match &self.flavor {
                    Flavor::Log(log) if log.append(message) => Ok(()),
                    _ => Err(self.send_error(SendFailure::Cancelled)),
                }
            }
        }
    }

    /// The error for a write that did not happen.
    #[cold]
    fn send_error(&self, failure: SendFailure) -> Error {
        match failure {
            SendFailure::TimedOut => Error::TimedOut {
                path: self.name.to_string(),
            },
            SendFailure::Cancelled | SendFailure::Full => {
                self.check_live().err().unwrap_or(Error::StreamEnded {
                    path: self.name.to_string(),
                })
            }
        }
    }

    /// Reads the next message at a reader's position.
    #[inline]
    pub(crate) fn next(&self, end: &mut ReadEnd, deadline: Option<Instant>) -> Next {
        match (end, &self.flavor) {
            (ReadEnd::Queue(rx), _) => match queue::recv(rx, &self.cancel, deadline) {
                Received::Message(message) => Next::Message(message),
                Received::End => Next::End,
                Received::TimedOut => Next::TimedOut,
            },
            (ReadEnd::Log { cursor }, Flavor::Log(log)) => match log.next(cursor, deadline) {
                log::Next::Message(message) => Next::Message(message),
                log::Next::End => Next::End,
                log::Next::TimedOut => Next::TimedOut,
            },
            (ReadEnd::Log { .. }, Flavor::Queue(..)) => Next::End,
        }
    }

    /// Delivers one broadcast message: appended to a log, or sent on a
    /// queue (waiting for room if `wait`). A stream that has ended is
    /// skipped.
    pub(crate) fn deliver(&self, message: &Arc<[u8]>, wait: bool) -> Delivery {
        let life = self.life.lock();
        if life.ended {
            return self.skipped();
        }
        let tx = match (&self.flavor, &life.seed) {
            (Flavor::Log(log), _) => {
                // Appending under `life` keeps the stream from ending between
                // the check above and the append.
                return if log.append(Arc::clone(message)) {
                    Delivery::Delivered
                } else {
                    self.skipped()
                };
            }
            (Flavor::Queue(..), None) => return self.skipped(),
            (Flavor::Queue(..), Some(seed)) => {
                // Fast path: room in the queue, no clone of the sender.
                match queue::send(seed, Arc::clone(message), &self.cancel, false, None) {
                    Ok(()) => return Delivery::Delivered,
                    Err(SendFailure::Full) if wait => seed.clone(),
                    Err(SendFailure::Full) => return Delivery::Full,
                    Err(SendFailure::Cancelled | SendFailure::TimedOut) => return self.skipped(),
                }
            }
        };
        // Wait for room without holding `life`: our clone of the sender keeps
        // the stream from disconnecting until this message is in.
        drop(life);
        match queue::send(&tx, Arc::clone(message), &self.cancel, wait, None) {
            Ok(()) => Delivery::Delivered,
            Err(SendFailure::Full) => Delivery::Full,
            Err(SendFailure::Cancelled | SendFailure::TimedOut) => self.skipped(),
        }
    }

    fn skipped(&self) -> Delivery {
        match self.cancel_cause() {
            Some(Cause::BackendClosed) => Delivery::BackendClosed,
            _ => Delivery::Skipped,
        }
    }
}
