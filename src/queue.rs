//! The queue flavor of a path: a bounded crossbeam channel of messages.
//!
//! Blocking operations select over the data channel and the path's cancel
//! channel, whose disconnection (on `delete` or backend `close`) wakes every
//! thread blocked on the path. Each operation first tries without blocking,
//! so when there is room or a message it costs a plain `try_send` /
//! `try_recv`.

use std::time::Instant;

use crossbeam_channel::{Receiver, Select, Sender, TryRecvError, TrySendError};

use crate::message::Message;

/// The uninhabited message type of cancel channels: they are only ever
/// disconnected, never sent on.
pub(crate) enum Never {}

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

/// Sends `message` on `tx`, waiting for room until `deadline` (forever if
/// `None`) unless `wait` is false, and giving up when `cancel` disconnects.
pub(crate) fn send(
    tx: &Sender<Message>,
    message: Message,
    cancel: &Receiver<Never>,
    wait: bool,
    deadline: Option<Instant>,
) -> Result<(), SendFailure> {
    match tx.try_send(message) {
        Ok(()) => Ok(()),
        // The path holds a receiver for as long as a sender exists, so this
        // arm only runs if the path itself is being torn down.
        Err(TrySendError::Disconnected(_)) => Err(SendFailure::Cancelled),
        Err(TrySendError::Full(_)) if !wait => Err(SendFailure::Full),
        Err(TrySendError::Full(message)) => send_blocking(tx, message, cancel, deadline),
    }
}

fn send_blocking(
    tx: &Sender<Message>,
    message: Message,
    cancel: &Receiver<Never>,
    deadline: Option<Instant>,
) -> Result<(), SendFailure> {
    let mut select = Select::new();
    let send_index = select.send(tx);
    let cancel_index = select.recv(cancel);
    let operation = match deadline {
        None => select.select(),
        Some(deadline) => match select.select_deadline(deadline) {
            Ok(operation) => operation,
            Err(_) => return Err(SendFailure::TimedOut),
        },
    };
    match operation.index() {
        index if index == send_index => operation
            .send(tx, message)
            .map_err(|_| SendFailure::Cancelled),
        index => {
            debug_assert_eq!(index, cancel_index);
            // Only a disconnection can complete a receive on a cancel channel.
            let _ = operation.recv(cancel);
            Err(SendFailure::Cancelled)
        }
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
    match rx.try_recv() {
        Ok(message) => return Received::Message(message),
        Err(TryRecvError::Disconnected) => return Received::End,
        Err(TryRecvError::Empty) if cancelled => return Received::End,
        Err(TryRecvError::Empty) => {}
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
