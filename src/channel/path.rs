//! One path: its stream's flavor (a queue, a hand-off or a log), its state
//! word, and its life — the writers and readers it has, the end of its
//! stream, and its cancellation by `delete`, `close` or the loss of every
//! backend handle.
//!
//! `Writer`, `Reader` and broadcasts hold an `Arc<Path>`; the registry
//! holds another until the path is deleted.
//!
//! # How a stream stops
//!
//! Every way a stream stops goes through the same two steps on the state
//! word (see `state.rs`): set the closing bit, wait until every send that
//! got in before has landed, then set the final bit and wake every blocked
//! thread. The ordinary end (the last writer going, once no broadcast holds
//! the stream open) and cancellation (`delete`, `close`, no reader left
//! once the backend is gone) differ only in what they record.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use parking_lot::Mutex;

use crate::channel::handoff::Handoff;
use crate::channel::log::{self, Log, Retention};
use crate::channel::queue::{Gate, Queue, Received, SendFailure};
use crate::channel::state::{Cause, State};
use crate::channel::stats::{PathStats, ReaderSlot, Totals, WriterSlot};
use crate::error::{Error, Result};
use crate::message::{Body, Message};
use crate::recycle::{Recycler, SpareBudget};

/// How a backend's paths store their messages.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Mode {
    /// A bounded queue of this many messages (0: hand-off).
    Queue(usize),
    /// An append-only log every reader replays.
    Log(Retention),
}

pub(crate) struct Path {
    name: Arc<str>,
    state: State,
    flavor: Flavor,
    /// Protects the handle counts and slots, and serialises every change of
    /// `state`. Never held while blocking; taken by opening and closing
    /// handles, by stopping the stream, and by broadcasts that must wait.
    life: Mutex<Life>,
    /// Queue flavors: the spare buffers of large messages, made when the
    /// first one passes.
    recycler: OnceLock<Arc<Recycler>>,
    budget: Arc<SpareBudget>,
}

// The queue flavor is the common one, and is large only because it keeps
// the words each side writes in cache lines of their own; boxing it would
// add a pointer chase to every send and receive.
#[allow(clippy::large_enum_variant)]
enum Flavor {
    Queue(Queue),
    Handoff(Handoff),
    Log(Log),
}

#[derive(Default)]
struct Life {
    writers: usize,
    /// Broadcasts that found the path full and wait for room: they hold the
    /// stream open as a writer would, so it does not end under them.
    holds: usize,
    had_writer: bool,
    readers: usize,
    /// Every handle of the backend is gone: no writer or reader can be
    /// opened any more.
    orphaned: bool,
    /// The in-flight flags and counts of every writer and of every
    /// broadcaster that has this path among its targets.
    send_slots: Vec<Arc<WriterSlot>>,
    reader_slots: Vec<Arc<ReaderSlot>>,
    /// Counts of handles already closed.
    retired: Totals,
}

impl Life {
    /// Takes a writer's or broadcaster's slot out, keeping its counts.
    fn retire_send_slot(&mut self, slot: &Arc<WriterSlot>) {
        if let Some(at) = self.send_slots.iter().position(|s| Arc::ptr_eq(s, slot)) {
            let slot = self.send_slots.swap_remove(at);
            slot.add_to(&mut self.retired);
        }
    }
}

/// What reading the next message found.
pub(crate) enum Next {
    Message(Body),
    /// Persistent mode: this many messages were dropped before the reader
    /// got to them.
    Lagged(u64),
    End,
    /// The end of a stream a writer of which panicked.
    Poisoned,
    TimedOut,
}

/// What delivering a broadcast message to one path did.
#[derive(Clone, Copy)]
pub(crate) enum Delivery {
    Delivered,
    /// The stream had ended or the path was cancelled: not counted.
    Skipped,
    /// The queue was full (or, for a hand-off, no reader was waiting).
    Full,
    /// The backend was closed meanwhile.
    BackendClosed,
}

/// What the first half of a broadcast's offer did at one path: see
/// [`Path::claim_in_gate`].
#[derive(Clone, Copy)]
pub(crate) enum Claim {
    /// A queue's position, claimed for the message.
    Position(u64),
    /// Nothing can be claimed: the queue is full, or the path is closing.
    Failed(Delivery),
    /// Not a queue: the offer is made whole in the second half.
    NotQueue,
}

/// Where a new reader of a log starts.
pub(crate) use crate::channel::log::From as Start;

impl Path {
    pub(crate) fn new(name: &str, mode: Mode, budget: Arc<SpareBudget>) -> Arc<Path> {
        let flavor = match mode {
            Mode::Queue(0) => Flavor::Handoff(Handoff::new()),
            Mode::Queue(capacity) => Flavor::Queue(Queue::new(capacity)),
            Mode::Log(retention) => Flavor::Log(Log::new(retention)),
        };
        Arc::new(Path {
            name: Arc::from(name),
            state: State::new(),
            flavor,
            life: Mutex::new(Life::default()),
            recycler: OnceLock::new(),
            budget,
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn is_log(&self) -> bool {
        matches!(self.flavor, Flavor::Log(_))
    }

    fn name_string(&self) -> String {
        self.name.to_string()
    }

    /// The error a send gets on a path that is closing.
    fn closing_error(&self) -> Error {
        match self.state.cause() {
            Some(Cause::Deleted) => Error::PathDeleted {
                path: self.name_string(),
            },
            Some(Cause::BackendClosed) => Error::BackendClosed,
            Some(Cause::NoReaders) => Error::NoReaders {
                path: self.name_string(),
            },
            None => Error::StreamEnded {
                path: self.name_string(),
            },
        }
    }

    // ---------------------------------------------------------------------
    // Handles

    /// Counts a new writer in; fails if the stream has stopped.
    pub(crate) fn add_writer(&self) -> Result<Arc<WriterSlot>> {
        let mut life = self.life.lock();
        if self.state.is_closing() {
            return Err(self.closing_error());
        }
        let slot = Arc::new(WriterSlot::default());
        life.writers += 1;
        life.had_writer = true;
        life.send_slots.push(Arc::clone(&slot));
        Ok(slot)
    }

    /// Counts a writer out; the last one out ends the stream. A writer
    /// dropped while its thread panics poisons the stream first.
    pub(crate) fn release_writer(&self, slot: &Arc<WriterSlot>, panicking: bool) {
        let mut life = self.life.lock();
        if panicking {
            self.state.poison();
        }
        life.retire_send_slot(slot);
        life.writers = life.writers.saturating_sub(1);
        self.end_if_unwritten(&mut life);
    }

    /// A slot for a broadcaster that has this path among its targets: its
    /// in-flight flag for the send gate, and its counts.
    pub(crate) fn add_broadcaster(&self) -> Arc<WriterSlot> {
        let slot = Arc::new(WriterSlot::default());
        self.life.lock().send_slots.push(Arc::clone(&slot));
        slot
    }

    /// The broadcaster no longer targets this path.
    pub(crate) fn release_broadcaster(&self, slot: &Arc<WriterSlot>) {
        self.life.lock().retire_send_slot(slot);
    }

    /// Counts a new reader in, with its cursor (logs; 0 for queues), or
    /// `OffsetOutOfRange` for a log offset past the next one.
    pub(crate) fn add_reader(&self, start: Start) -> Result<(Arc<ReaderSlot>, u64)> {
        let cursor = match &self.flavor {
            Flavor::Log(log) => {
                log.cursor(start)
                    .map_err(|(offset, next)| Error::OffsetOutOfRange {
                        path: self.name_string(),
                        offset,
                        next,
                    })?
            }
            Flavor::Queue(_) | Flavor::Handoff(_) => 0,
        };
        let slot = Arc::new(ReaderSlot::default());
        let mut life = self.life.lock();
        life.readers += 1;
        life.reader_slots.push(Arc::clone(&slot));
        Ok((slot, cursor))
    }

    /// Counts a reader out, first handing back `peeked`, a message it took
    /// but did not consume at all, to the path's other readers (queues
    /// only: every reader of a log reads every message anyway). The last
    /// reader out of a cancelled path frees what it left unread; the last
    /// out once the backend is gone cancels the path, so writers stop.
    pub(crate) fn release_reader(&self, slot: &Arc<ReaderSlot>, peeked: Option<Body>) {
        if let Some(message) = peeked {
            let len = message.len();
            match &self.flavor {
                Flavor::Queue(queue) => queue.hand_back(message),
                Flavor::Handoff(handoff) => handoff.hand_back(&self.state, message),
                Flavor::Log(_) => {}
            }
            if !self.is_log() {
                slot.uncount(len);
            }
        }
        let mut life = self.life.lock();
        if let Some(at) = life.reader_slots.iter().position(|s| Arc::ptr_eq(s, slot)) {
            let slot = life.reader_slots.swap_remove(at);
            slot.add_to(&mut life.retired);
        }
        life.readers = life.readers.saturating_sub(1);
        if life.readers > 0 {
            return;
        }
        if life.orphaned {
            self.cancel_locked(&mut life, Cause::NoReaders);
        }
        let unread = self.state.cause().is_some();
        drop(life);
        if unread {
            self.flavor_discard();
        }
    }

    // ---------------------------------------------------------------------
    // Stopping the stream

    /// Ends the stream if nothing can write to it any more: no writer, no
    /// waiting broadcast, and a writer came and went or none ever can.
    fn end_if_unwritten(&self, life: &mut Life) {
        let unwritable = life.writers == 0 && life.holds == 0 && (life.had_writer || life.orphaned);
        if unwritable && !self.state.is_closing() {
            self.state.begin_end();
            self.stop(life);
        }
    }

    /// Cancels the path: every blocked thread wakes; writers get `cause`'s
    /// error; readers read what was queued, then see end of stream. Returns
    /// `false` if it was already cancelled. Final when it returns: no send
    /// lands afterwards. Queued messages stay until `discard_if_unread`.
    pub(crate) fn cancel(&self, cause: Cause) -> bool {
        self.cancel_locked(&mut self.life.lock(), cause)
    }

    fn cancel_locked(&self, life: &mut Life, cause: Cause) -> bool {
        if !self.state.begin_cancel(cause) {
            return false;
        }
        self.stop(life);
        true
    }

    /// With the closing bit set: waits for the sends already in, makes the
    /// path final, wakes everyone, and frees the spare buffers.
    fn stop(&self, life: &mut Life) {
        match &self.flavor {
            Flavor::Queue(queue) => queue.quiesce(life.send_slots.iter().map(|s| &s.busy)),
            Flavor::Handoff(handoff) => handoff.quiesce(),
            Flavor::Log(log) => log.quiesce(),
        }
        self.state.set_final();
        match &self.flavor {
            Flavor::Queue(queue) => queue.wake_all(),
            Flavor::Handoff(handoff) => handoff.wake_all(),
            Flavor::Log(log) => log.wake_all(),
        }
        if let Some(recycler) = self.recycler.get() {
            recycler.close();
        }
    }

    /// Frees the messages of a cancelled path if no reader holds it.
    pub(crate) fn discard_if_unread(&self) {
        let unread = self.life.lock().readers == 0;
        if unread && self.state.cause().is_some() {
            self.flavor_discard();
        }
    }

    fn flavor_discard(&self) {
        match &self.flavor {
            Flavor::Queue(queue) => queue.discard(),
            Flavor::Handoff(handoff) => handoff.discard(),
            Flavor::Log(log) => log.discard(),
        }
    }

    /// Every handle of the backend is gone: nobody can open a writer or a
    /// reader any more, so the path behaves like a pipe whose other end may
    /// be gone. With no writer left the stream ends (readers drain it, then
    /// see the end); with no reader left it is cancelled (writers get
    /// `BrokenPipe`) and its messages freed.
    pub(crate) fn orphan(&self) {
        let mut life = self.life.lock();
        life.orphaned = true;
        self.end_if_unwritten(&mut life);
        if life.readers == 0 {
            self.cancel_locked(&mut life, Cause::NoReaders);
            drop(life);
            self.flavor_discard();
        }
    }

    // ---------------------------------------------------------------------
    // Messages

    /// The recycler of a queue whose stream can still be written to, made
    /// on first use; `None` for a log or once the stream has stopped.
    fn recycler(&self) -> Option<&Arc<Recycler>> {
        let capacity = match &self.flavor {
            Flavor::Queue(queue) => queue.capacity(),
            Flavor::Handoff(_) => 0,
            Flavor::Log(_) => return None,
        };
        if self.state.is_closing() {
            return None;
        }
        let recycler = self
            .recycler
            .get_or_init(|| Arc::new(Recycler::new(capacity, Arc::clone(&self.budget))));
        // Pairs with `stop`, which sets the closing bit and then closes the
        // recycler if it exists: one made after that is closed here.
        if self.state.is_closing() {
            recycler.close();
            return None;
        }
        Some(recycler)
    }

    /// The bytes of a new message holding a copy of `data`, for a writer
    /// of this path.
    #[inline]
    pub(crate) fn new_message(&self, data: &[u8]) -> Body {
        if Recycler::worth_keeping(data.len()) {
            if let Some(recycler) = self.recycler() {
                return Body::Shared(recycler.message(data));
            }
        }
        Body::copy(data)
    }

    /// The message a reader of this path hands out for `body` it read.
    #[inline(always)]
    pub(crate) fn received(&self, body: Body) -> Message {
        match body {
            Body::Shared(bytes) if Recycler::worth_keeping(bytes.len()) => match self.recycler() {
                Some(recycler) => Message::received(bytes, recycler),
                None => Message::whole(Body::Shared(bytes)),
            },
            body => Message::whole(body),
        }
    }

    /// Writes one message for the writer whose slot is `slot`.
    #[inline]
    pub(crate) fn write(
        &self,
        slot: &WriterSlot,
        message: Body,
        deadline: Option<Instant>,
    ) -> Result<()> {
        let len = message.len();
        let sent = match &self.flavor {
            Flavor::Queue(queue) => queue.send(
                Gate::Writer(&slot.busy),
                &self.state,
                message,
                true,
                deadline,
            ),
            Flavor::Handoff(handoff) => handoff.send(&self.state, message, true, deadline),
            Flavor::Log(log) => match log.append(&self.state, message) {
                true => Ok(()),
                false => Err(SendFailure::Closing),
            },
        };
        match sent {
            Ok(()) => {
                slot.count(len);
                Ok(())
            }
            Err(failure) => Err(self.send_error(failure)),
        }
    }

    /// The error for a write that did not happen.
    #[cold]
    fn send_error(&self, failure: SendFailure) -> Error {
        match failure {
            SendFailure::TimedOut => Error::TimedOut {
                path: self.name_string(),
            },
            SendFailure::Closing | SendFailure::Full => self.closing_error(),
        }
    }

    /// Reads the next message at a reader's `cursor`: a log's offset, or
    /// for a queue the count of messages taken. For a queue, the reader
    /// has tried [`take_now`](Path::take_now) first.
    #[inline]
    pub(crate) fn next(&self, cursor: &mut u64, deadline: Option<Instant>) -> Next {
        let received = match &self.flavor {
            Flavor::Queue(queue) => queue.recv(&self.state, deadline),
            Flavor::Handoff(handoff) => handoff.recv(&self.state, deadline),
            Flavor::Log(log) => {
                return match log.next(&self.state, cursor, deadline) {
                    log::Next::Message(message) => Next::Message(message),
                    log::Next::Lagged(skipped) => Next::Lagged(skipped),
                    log::Next::End => self.end_of_stream(),
                    log::Next::TimedOut => Next::TimedOut,
                };
            }
        };
        match received {
            Received::Message(message) => {
                // Queue mode: the cursor counts the messages taken.
                *cursor += 1;
                Next::Message(message)
            }
            Received::End => self.end_of_stream(),
            Received::TimedOut => Next::TimedOut,
        }
    }

    /// A queue's next message if one is there now: the fast path of a
    /// read, before [`next`](Path::next). The caller advances its cursor.
    /// `None` for the other flavors.
    #[inline(always)]
    pub(crate) fn take_now(&self) -> Option<Body> {
        match &self.flavor {
            Flavor::Queue(queue) => queue.take_now(),
            _ => None,
        }
    }

    #[cold]
    fn end_of_stream(&self) -> Next {
        if self.state.is_poisoned() {
            Next::Poisoned
        } else {
            Next::End
        }
    }

    // ---------------------------------------------------------------------
    // Broadcast

    /// Broadcast, first step, first half: claims a position for the
    /// message in a queue with room. The caller has raised its slot's
    /// in-flight flag and issued a fence (so the send gate is entered),
    /// then makes the second half, [`offer_in_gate`](Path::offer_in_gate),
    /// without blocking on anything first, and afterwards lowers the flag
    /// and calls [`wake_reader`](Path::wake_reader): one fence for a whole
    /// batch of paths instead of one for each, and the claims of a batch
    /// made before any of its messages is written (see
    /// [`Ring`](crate::channel::ring::Ring)).
    #[inline(always)]
    pub(crate) fn claim_in_gate(&self) -> Claim {
        match &self.flavor {
            Flavor::Queue(queue) => match queue.claim_in_gate(&self.state) {
                Ok(position) => Claim::Position(position),
                Err(SendFailure::Full) => Claim::Failed(Delivery::Full),
                Err(_) => Claim::Failed(self.skipped()),
            },
            _ => Claim::NotQueue,
        }
    }

    /// Broadcast, first step, second half: delivers `message` if it can be
    /// done now — written at the queue position `claim` holds, appended to
    /// a log, handed to a waiting reader — for the broadcaster whose slot
    /// is `slot`.
    #[inline(always)]
    pub(crate) fn offer_in_gate(
        &self,
        slot: &WriterSlot,
        claim: Claim,
        message: &Body,
    ) -> Delivery {
        let sent = match (&self.flavor, claim) {
            (_, Claim::Failed(delivery)) => return delivery,
            (Flavor::Queue(queue), Claim::Position(position)) => {
                queue.fill(position, message.clone());
                Ok(())
            }
            // A queue always has its claim; nothing else has one.
            (Flavor::Queue(_), Claim::NotQueue) | (_, Claim::Position(_)) => {
                Err(SendFailure::Closing)
            }
            (Flavor::Handoff(handoff), _) => {
                handoff.send(&self.state, message.clone(), false, None)
            }
            (Flavor::Log(log), _) => match log.append(&self.state, message.clone()) {
                true => Ok(()),
                false => Err(SendFailure::Closing),
            },
        };
        self.delivery(slot, sent, message.len())
    }

    /// After a batch of [`offer_in_gate`](Path::offer_in_gate): wakes a
    /// reader waiting on a queue, if one is.
    #[inline]
    pub(crate) fn wake_reader(&self) {
        if let Flavor::Queue(queue) = &self.flavor {
            queue.wake_reader_after_send();
        }
    }

    /// Broadcast, second step, for a path the first step found full: holds
    /// the stream open and waits for room (until the path is cancelled).
    pub(crate) fn deliver_waiting(&self, slot: &WriterSlot, message: &Body) -> Delivery {
        {
            let mut life = self.life.lock();
            if self.state.is_closing() {
                return self.skipped();
            }
            life.holds += 1;
        }
        let sent = match &self.flavor {
            Flavor::Queue(queue) => queue.send(
                Gate::Writer(&slot.busy),
                &self.state,
                message.clone(),
                true,
                None,
            ),
            Flavor::Handoff(handoff) => handoff.send(&self.state, message.clone(), true, None),
            Flavor::Log(log) => match log.append(&self.state, message.clone()) {
                true => Ok(()),
                false => Err(SendFailure::Closing),
            },
        };
        let delivery = self.delivery(slot, sent, message.len());
        let mut life = self.life.lock();
        life.holds -= 1;
        self.end_if_unwritten(&mut life);
        delivery
    }

    fn delivery(&self, slot: &WriterSlot, sent: Result<(), SendFailure>, len: usize) -> Delivery {
        match sent {
            Ok(()) => {
                slot.count(len);
                Delivery::Delivered
            }
            Err(SendFailure::Full) => Delivery::Full,
            Err(SendFailure::Closing | SendFailure::TimedOut) => self.skipped(),
        }
    }

    fn skipped(&self) -> Delivery {
        match self.state.cause() {
            Some(Cause::BackendClosed) => Delivery::BackendClosed,
            _ => Delivery::Skipped,
        }
    }

    // ---------------------------------------------------------------------
    // Stats

    pub(crate) fn stats(&self) -> PathStats {
        let life = self.life.lock();
        let mut totals = life.retired;
        for slot in &life.send_slots {
            slot.add_to(&mut totals);
        }
        for slot in &life.reader_slots {
            slot.add_to(&mut totals);
        }
        let unread_bytes = totals.written_bytes.saturating_sub(totals.read_bytes) as usize;
        let (capacity, queued, queued_bytes, dropped, waiting_readers, waiting_writers) =
            match &self.flavor {
                Flavor::Queue(queue) => (
                    Some(queue.capacity()),
                    queue.len(),
                    unread_bytes,
                    0,
                    queue.waiting_readers(),
                    queue.waiting_writers(),
                ),
                Flavor::Handoff(handoff) => (
                    Some(0),
                    handoff.len(),
                    unread_bytes,
                    0,
                    handoff.waiting_readers(),
                    handoff.waiting_writers(),
                ),
                Flavor::Log(log) => {
                    let (kept, bytes, dropped, waiting) = log.counts();
                    (None, kept, bytes, dropped, waiting, 0)
                }
            };
        PathStats {
            persistent: self.is_log(),
            capacity,
            queued,
            queued_bytes,
            readers: life.readers,
            writers: life.writers,
            ended: self.state.is_closing(),
            poisoned: self.state.is_poisoned(),
            written: totals.written,
            written_bytes: totals.written_bytes,
            read: totals.read,
            dropped,
            waiting_writers,
            waiting_readers,
        }
    }
}
