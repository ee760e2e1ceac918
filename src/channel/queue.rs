//! The queue flavor of a path: a bounded crossbeam channel of messages.
//!
//! Blocking operations select over the data channel and the path's cancel
//! channel, whose disconnection (on `delete` or backend `close`) wakes every
//! thread blocked on the path. Each operation first tries without blocking,
//! so when there is room or a message it costs a plain `try_send` /
//! `try_recv`. Before it blocks it keeps trying for a little while, as
//! crossbeam's own `send` and `recv` do: registering with a `Select` and
//! being woken costs a futex round trip on each side, and with a busy peer
//! the room or the message is usually there a moment later. Unlike
//! crossbeam it hardly spins and mostly yields the processor: with more
//! threads than cores, spinning only delays the thread it waits for.

use std::hint;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use crossbeam_channel::{Receiver, Select, Sender, TryRecvError, TrySendError};

use crate::channel::cancel::{Cancel, Never};

/// Why a send did not happen.
pub(crate) enum SendFailure {
    /// The queue stayed full until the deadline; the message was not sent.
    TimedOut,
    /// The path was cancelled (deleted, or its backend closed).
    Cancelled,
    /// The queue was full and the caller asked not to wait.
    Full,
}

/// What a receive found.
pub(crate) enum Received {
    Message(Arc<[u8]>),
    /// The stream ended, or the path was cancelled, and nothing is left.
    End,
    TimedOut,
}

/// Waits a moment between tries before blocking: one spin hint, then a
/// bounded number of yields of the processor, then says to stop.
///
/// Crossbeam spins for 127 spin hints before it yields. On two cores with
/// eight reader threads (the `fanout` bench) that spinning halved the
/// deliveries per second (8.5 against 17 million), and one writer and one
/// reader ran a quarter slower (`spsc_small`, 6 against 8 million messages
/// per second): time spent spinning is time the other thread cannot run.
struct Backoff {
    step: u32,
}

impl Backoff {
    /// How many times to yield before blocking.
    const YIELDS: u32 = 10;

    fn new() -> Backoff {
        Backoff { step: 0 }
    }

    /// Waits a little; `false` once the caller should stop trying and block.
    fn snooze(&mut self) -> bool {
        match self.step {
            0 => hint::spin_loop(),
            step if step <= Backoff::YIELDS => thread::yield_now(),
            _ => return false,
        }
        self.step += 1;
        true
    }
}

/// Sends `message` on `tx`, waiting for room until `deadline` (forever if
/// `None`) unless `wait` is false. Each attempt is made inside
/// [`Cancel::enter`], so no send lands once the path is cancelled.
#[inline]
pub(crate) fn send(
    tx: &Sender<Arc<[u8]>>,
    message: Arc<[u8]>,
    cancel: &Cancel,
    wait: bool,
    deadline: Option<Instant>,
) -> Result<(), SendFailure> {
    match try_send(tx, message, cancel)? {
        None => Ok(()),
        Some(_) if !wait => Err(SendFailure::Full),
        Some(message) => send_waiting(tx, message, cancel, deadline),
    }
}

/// One attempt inside the cancel gate: `None` if sent, the message back if
/// the queue was full.
#[inline]
fn try_send(
    tx: &Sender<Arc<[u8]>>,
    message: Arc<[u8]>,
    cancel: &Cancel,
) -> Result<Option<Arc<[u8]>>, SendFailure> {
    let _hold = cancel.enter().map_err(|_| SendFailure::Cancelled)?;
    match tx.try_send(message) {
        Ok(()) => Ok(None),
        // The path holds a receiver for as long as a sender exists, so this
        // arm only runs if the path is being torn down.
        Err(TrySendError::Disconnected(_)) => Err(SendFailure::Cancelled),
        Err(TrySendError::Full(back)) => Ok(Some(back)),
    }
}

/// [`send`] once the queue was found full: keeps trying, then blocks.
#[inline(never)]
fn send_waiting(
    tx: &Sender<Arc<[u8]>>,
    mut message: Arc<[u8]>,
    cancel: &Cancel,
    deadline: Option<Instant>,
) -> Result<(), SendFailure> {
    let mut backoff = Backoff::new();
    loop {
        if !backoff.snooze() {
            wait_for_room(tx, cancel.wake(), deadline)?;
        }
        match try_send(tx, message, cancel)? {
            None => return Ok(()),
            Some(back) => message = back,
        }
    }
}

/// Blocks until `tx` has room or is disconnected, or `cancel` fires, or the
/// deadline passes. It only waits: the send itself is retried by the caller
/// inside the cancel gate, because a `Select` that completed the send here
/// could pick it over an already fired cancel.
fn wait_for_room(
    tx: &Sender<Arc<[u8]>>,
    cancel: &Receiver<Never>,
    deadline: Option<Instant>,
) -> Result<(), SendFailure> {
    let mut select = Select::new();
    select.send(tx);
    select.recv(cancel);
    match deadline {
        None => {
            select.ready();
            Ok(())
        }
        Some(deadline) => select
            .ready_deadline(deadline)
            .map(drop)
            .map_err(|_| SendFailure::TimedOut),
    }
}

/// Receives the next message from `rx`, waiting until `deadline` (forever if
/// `None`). Once `cancel` has fired, returns what is still queued and then
/// [`Received::End`].
///
/// A message already queued is returned without looking at `cancel`: its
/// cause shares a cache line with the gate every send writes to, so reading
/// it on each receive would pull that line across cores once per message.
#[inline]
pub(crate) fn recv(
    rx: &Receiver<Arc<[u8]>>,
    cancel: &Cancel,
    deadline: Option<Instant>,
) -> Received {
    match rx.try_recv() {
        Ok(message) => Received::Message(message),
        Err(TryRecvError::Disconnected) => Received::End,
        Err(TryRecvError::Empty) => recv_waiting(rx, cancel, deadline),
    }
}

/// [`recv`] once the queue was found empty: keeps trying, then blocks.
#[inline(never)]
fn recv_waiting(rx: &Receiver<Arc<[u8]>>, cancel: &Cancel, deadline: Option<Instant>) -> Received {
    let mut backoff = Backoff::new();
    loop {
        // Read before trying: every send that got in before the cancel is
        // in the queue by the time its cause shows, so a queue found empty
        // after the cause showed stays empty.
        let cancelled = cancel.cause().is_some();
        match rx.try_recv() {
            Ok(message) => return Received::Message(message),
            Err(TryRecvError::Disconnected) => return Received::End,
            Err(TryRecvError::Empty) if cancelled => return Received::End,
            Err(TryRecvError::Empty) => {}
        }
        if !backoff.snooze() {
            break;
        }
    }
    let wake = cancel.wake();
    let mut select = Select::new();
    let recv_index = select.recv(rx);
    let cancel_index = select.recv(wake);
    let operation = match deadline {
        None => select.select(),
        Some(deadline) => match select.select_deadline(deadline) {
            Ok(operation) => operation,
            Err(_) => return Received::TimedOut,
        },
    };
    match operation.index() {
        index if index == recv_index => match operation.recv(rx) {
            Ok(message) => Received::Message(message),
            Err(_) => Received::End,
        },
        index => {
            debug_assert_eq!(index, cancel_index);
            let _ = operation.recv(wake);
            // Cancelled: hand out what was queued before, then the end.
            match rx.try_recv() {
                Ok(message) => Received::Message(message),
                Err(_) => Received::End,
            }
        }
    }
}
