//! The queue flavor of a path: a bounded crossbeam channel of messages.
//!
//! Blocking operations select over the data channel and the path's cancel
//! channel, whose disconnection (on `delete` or backend `close`) wakes every
//! thread blocked on the path. Each operation first tries without blocking,
//! so when there is room or a message it costs a plain `try_send` /
//! `try_recv`. Before it blocks it keeps trying for a little while, spinning
//! and then yielding, as crossbeam's own `send` and `recv` do: registering
//! with a `Select` and being woken costs a futex round trip on each side,
//! and with a busy peer the room or the message is usually there a moment
//! later.

use std::hint;
use std::thread;
use std::time::Instant;

use crossbeam_channel::{Receiver, Select, Sender, TryRecvError, TrySendError};

use crate::cancel::{Cancel, Never};
use crate::message::Message;

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
    Message(Message),
    /// The stream ended, or the path was cancelled, and nothing is left.
    End,
    TimedOut,
}

/// Spins a growing number of times, then yields, and after a bounded number
/// of rounds says to stop: the schedule of crossbeam's own blocking
/// operations before they park.
struct Backoff {
    step: u32,
}

impl Backoff {
    /// Rounds that spin (1, 2, 4, .. 64 spin hints) before rounds that yield.
    const SPIN_LIMIT: u32 = 6;
    /// The last round; then the caller should block.
    const YIELD_LIMIT: u32 = 10;

    fn new() -> Backoff {
        Backoff { step: 0 }
    }

    /// Waits a little; `false` once the caller should stop trying and block.
    fn snooze(&mut self) -> bool {
        if self.step > Self::YIELD_LIMIT {
            return false;
        }
        if self.step <= Self::SPIN_LIMIT {
            for _ in 0..1u32 << self.step {
                hint::spin_loop();
            }
        } else {
            thread::yield_now();
        }
        self.step += 1;
        true
    }
}

/// Sends `message` on `tx`, waiting for room until `deadline` (forever if
/// `None`) unless `wait` is false. Each attempt is made inside
/// [`Cancel::enter`], so no send lands once the path is cancelled.
pub(crate) fn send(
    tx: &Sender<Message>,
    message: Message,
    cancel: &Cancel,
    wait: bool,
    deadline: Option<Instant>,
) -> Result<(), SendFailure> {
    let mut message = message;
    let mut backoff = Backoff::new();
    loop {
        {
            let _hold = cancel.enter().map_err(|_| SendFailure::Cancelled)?;
            match tx.try_send(message) {
                Ok(()) => return Ok(()),
                // The path holds a receiver for as long as a sender exists,
                // so this arm only runs if the path is being torn down.
                Err(TrySendError::Disconnected(_)) => return Err(SendFailure::Cancelled),
                Err(TrySendError::Full(back)) => message = back,
            }
        }
        if !wait {
            return Err(SendFailure::Full);
        }
        if !backoff.snooze() {
            wait_for_room(tx, cancel.wake(), deadline)?;
        }
    }
}

/// Blocks until `tx` has room or is disconnected, or `cancel` fires, or the
/// deadline passes. It only waits: the send itself is retried by the caller
/// inside the cancel gate, because a `Select` that completed the send here
/// could pick it over an already fired cancel.
fn wait_for_room(
    tx: &Sender<Message>,
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
/// `None`). Once `cancel` has disconnected, returns what is still queued and
/// then [`Received::End`].
pub(crate) fn recv(
    rx: &Receiver<Message>,
    cancel: &Receiver<Never>,
    cancelled: bool,
    deadline: Option<Instant>,
) -> Received {
    let mut backoff = Backoff::new();
    loop {
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
    let mut select = Select::new();
    let recv_index = select.recv(rx);
    let cancel_index = select.recv(cancel);
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
            let _ = operation.recv(cancel);
            // Cancelled: hand out what was queued before, then the end.
            match rx.try_recv() {
                Ok(message) => Received::Message(message),
                Err(_) => Received::End,
            }
        }
    }
}
