//! [`Ring`]: the bounded queue of messages under a queue-mode path.
//!
//! It is crossbeam-channel's bounded ("array") queue rewritten in safe
//! Rust for what chanio needs of it, which the channel's API could not
//! give:
//!
//! - **A send in two steps.** [`claim`](Ring::claim) takes the next
//!   position with a compare-exchange and [`fill`](Ring::fill) writes the
//!   message there and publishes it, so a broadcast claims a position on
//!   every path first and then fills them all. Every locked instruction
//!   waits for the stores before it to land, and each fill stores into a
//!   slot that the path's reader wrote last, on another core: one
//!   `try_send` after another made a broadcast wait for those stores one
//!   path at a time. (A scratch floor, one producer and 8 reader threads
//!   on two cores, no chanio around it: 17-20 M deliveries/s one send at a
//!   time, 22-32 M claimed together.)
//! - **No look at the tail from a receive.** A receive that finds its
//!   position not filled says "empty", even if a send has claimed it.
//!   crossbeam reads the tail then, to wait for a claimed slot; that took
//!   the tail's cache line from the sending thread at every empty look, and
//!   the next claim waited for it. So a sender must fence between its fill
//!   and its look at the waiting readers ([`WaitList::notify_one`]); a
//!   broadcast does it once for all its paths.
//! - **Nothing else in the slot.** crossbeam's channel also wakes its own
//!   blocked threads on every send and receive (a look at a shared word
//!   each time); chanio blocks in its own wait lists, so the ring has none.
//!
//! A slot keeps a message of up to [`Message::INLINE`] bytes in atomic
//! words, 80 bytes in all with its stamp and length; a shared (larger)
//! message goes into a lock of its own, beside the slots, taken only by
//! the one send and the one receive of that position. No `unsafe`. Those
//! locks take a cache line each: packed three to a line, one-to-one
//! streams of 112-byte messages ran at 0.58-0.73x crossbeam and of 1 KiB
//! at 1.29-1.32x, against 0.74-0.76x and 1.42-1.49x with a line each
//! (`spsc_sizes --quick`, alternating runs). So a ring of capacity N takes
//! 144 N bytes (crossbeam's array queue of chanio's messages, 88 N).
//!
//! A position is a lap and an index, as in crossbeam: the index in the low
//! bits, below `capacity`, and the lap in multiples of `one_lap`, the
//! power of two above `capacity`, so that no division is needed. A slot's
//! stamp is the position it is free for, or that position plus one once
//! filled; a receive frees it for the same index one lap on. A send that
//! finds its slot taken by a receive that has not yet freed it waits for
//! that, as in crossbeam, which lets a receiver wake waiting writers
//! without a fence on x86-64 ([`WaitList::notify_one_after_channel_op`]).
//!
//! [`WaitList::notify_one`]: crate::channel::wait::WaitList::notify_one
//! [`WaitList::notify_one_after_channel_op`]: crate::channel::wait::WaitList::notify_one_after_channel_op

use std::hint;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread;

use parking_lot::Mutex;

use crate::channel::queue::Padded;
use crate::message::{Body, Inline, Message};

const _: () = assert!(Message::INLINE % 8 == 0);

/// Where a slot's shared message waits: a cache line each, so that the
/// send of one position and the receive of the one before do not fight
/// over a line.
#[repr(align(64))]
#[derive(Default)]
struct SharedSlot(Mutex<Option<Arc<[u8]>>>);

/// The `len` of a slot whose message is in `shared`.
const SHARED: usize = usize::MAX;

pub(crate) struct Ring {
    /// The next position to receive.
    head: Padded<AtomicU64>,
    /// The next position to claim for a send.
    tail: Padded<AtomicU64>,
    slots: Box<[Slot]>,
    /// The messages of the slots that hold a shared one, by index; apart
    /// from the slots so that those stay 80 bytes.
    shared: Box<[SharedSlot]>,
    capacity: u64,
    /// The power of two above `capacity`: one lap of positions.
    one_lap: u64,
}

struct Slot {
    stamp: AtomicU64,
    /// The length of an in-place message, or [`SHARED`].
    len: AtomicUsize,
    words: [AtomicU64; Inline::WORDS],
}

impl Ring {
    /// A ring of `capacity` (at least 1) slots.
    pub(crate) fn new(capacity: usize) -> Ring {
        let capacity = capacity.max(1);
        let slots = (0..capacity as u64)
            .map(|position| Slot {
                stamp: AtomicU64::new(position),
                len: AtomicUsize::new(0),
                words: Default::default(),
            })
            .collect();
        let shared = (0..capacity).map(|_| SharedSlot::default()).collect();
        Ring {
            head: Padded(AtomicU64::new(0)),
            tail: Padded(AtomicU64::new(0)),
            slots,
            shared,
            capacity: capacity as u64,
            one_lap: (capacity as u64 + 1).next_power_of_two(),
        }
    }

    #[inline(always)]
    fn index(&self, position: u64) -> u64 {
        position & (self.one_lap - 1)
    }

    #[inline(always)]
    fn slot(&self, position: u64) -> &Slot {
        // In bounds: an index is below `capacity`, the slots' number.
        &self.slots[self.index(position) as usize]
    }

    #[inline(always)]
    fn shared_of(&self, position: u64) -> &SharedSlot {
        &self.shared[self.index(position) as usize]
    }

    /// The position after `position`.
    #[inline(always)]
    fn next(&self, position: u64) -> u64 {
        if self.index(position) + 1 < self.capacity {
            position + 1
        } else {
            (position & !(self.one_lap - 1)).wrapping_add(self.one_lap)
        }
    }

    /// Claims the next position for a send, or `None` if the ring is full.
    /// The caller must [`fill`](Ring::fill) it, without blocking on
    /// anything first: receivers of that position wait for the fill.
    #[inline(always)]
    pub(crate) fn claim(&self) -> Option<u64> {
        let mut wait = Wait::default();
        let mut tail = self.tail.load(Ordering::Relaxed);
        loop {
            let stamp = self.slot(tail).stamp.load(Ordering::Acquire);
            if stamp == tail {
                match self.tail.compare_exchange_weak(
                    tail,
                    self.next(tail),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Some(tail),
                    Err(now) => {
                        wait.once();
                        tail = now;
                    }
                }
            } else if stamp.wrapping_add(self.one_lap) == tail + 1 {
                // The slot still holds the message of a lap ago: full,
                // unless a receive has taken it and is about to free the
                // slot.
                if self.head.load(Ordering::Relaxed).wrapping_add(self.one_lap) == tail {
                    return None;
                }
                wait.once();
                tail = self.tail.load(Ordering::Relaxed);
            } else {
                // Another send claimed `tail` first.
                wait.once();
                tail = self.tail.load(Ordering::Relaxed);
            }
        }
    }

    /// Writes `body` at `position`, claimed by [`claim`](Ring::claim), and
    /// publishes it to receivers.
    #[inline(always)]
    pub(crate) fn fill(&self, position: u64, body: Body) {
        let slot = self.slot(position);
        match body {
            Body::Inline(inline) => {
                let (words, len) = inline.into_words();
                for (word, value) in slot.words.iter().zip(words) {
                    word.store(value, Ordering::Relaxed);
                }
                slot.len.store(len, Ordering::Relaxed);
            }
            Body::Shared(bytes) => {
                *self.shared_of(position).0.lock() = Some(bytes);
                slot.len.store(SHARED, Ordering::Relaxed);
            }
        }
        slot.stamp.store(position + 1, Ordering::Release);
    }

    /// The next message, or `None` if the ring is empty.
    #[inline(always)]
    pub(crate) fn take(&self) -> Option<Body> {
        let mut wait = Wait::default();
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            let slot = self.slot(head);
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == head + 1 {
                match self.head.compare_exchange_weak(
                    head,
                    self.next(head),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        let body = slot.read(self.shared_of(head));
                        slot.stamp
                            .store(head.wrapping_add(self.one_lap), Ordering::Release);
                        return Some(body);
                    }
                    Err(now) => {
                        wait.once();
                        head = now;
                    }
                }
            } else if stamp == head {
                // Not filled (perhaps claimed): empty, see the module docs.
                return None;
            } else {
                // Another receive took `head` first.
                wait.once();
                head = self.head.load(Ordering::Relaxed);
            }
        }
    }

    /// How many messages are claimed and not yet received.
    pub(crate) fn len(&self) -> usize {
        loop {
            let tail = self.tail.load(Ordering::SeqCst);
            let head = self.head.load(Ordering::SeqCst);
            if self.tail.load(Ordering::SeqCst) != tail {
                continue;
            }
            let (from, to) = (self.index(head), self.index(tail));
            let len = if from < to {
                to - from
            } else if from > to {
                self.capacity - from + to
            } else if tail == head {
                0
            } else {
                self.capacity
            };
            return len as usize;
        }
    }
}

impl Slot {
    /// The message of a filled slot, taken out of it.
    #[inline(always)]
    fn read(&self, shared: &SharedSlot) -> Body {
        let len = self.len.load(Ordering::Relaxed);
        if len == SHARED {
            // Filled before its stamp was published: never `None` here.
            return Body::Shared(shared.0.lock().take().unwrap_or_default());
        }
        let words = std::array::from_fn(|at| self.words[at].load(Ordering::Relaxed));
        Body::Inline(Inline::from_words(words, len))
    }
}

/// Waiting a moment for another thread's step to land: a few spin hints,
/// then yields (it may have been preempted between its two steps).
#[derive(Default)]
struct Wait {
    step: u32,
}

impl Wait {
    #[inline]
    fn once(&mut self) {
        if self.step < 6 {
            for _ in 0..1u32 << self.step {
                hint::spin_loop();
            }
            self.step += 1;
        } else {
            thread::yield_now();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn send(ring: &Ring, data: &[u8]) -> bool {
        match ring.claim() {
            Some(position) => {
                ring.fill(position, Body::copy(data));
                true
            }
            None => false,
        }
    }

    #[test]
    fn a_ring_of_one_holds_one_message() {
        let ring = Ring::new(1);
        for i in 0..5u8 {
            assert!(send(&ring, &[i]));
            assert!(!send(&ring, b"no room"));
            assert_eq!(ring.len(), 1);
            assert_eq!(ring.take().unwrap().as_bytes(), &[i]);
            assert!(ring.take().is_none());
        }
    }

    #[test]
    fn holds_capacity_messages_in_order_then_is_full_then_empty() {
        let ring = Ring::new(3);
        for i in 0..3u8 {
            assert!(send(&ring, &[i; 10]));
        }
        assert!(!send(&ring, b"no room"));
        assert_eq!(ring.len(), 3);
        for i in 0..3u8 {
            assert_eq!(ring.take().unwrap().as_bytes(), &[i; 10]);
        }
        assert!(ring.take().is_none());
        assert_eq!(ring.len(), 0);
    }

    #[test]
    fn in_place_and_shared_messages_come_back_whole_over_many_laps() {
        let ring = Ring::new(2);
        for i in 0..1000usize {
            let data: Vec<u8> = (0..i % 200).map(|b| (b + i) as u8).collect();
            assert!(send(&ring, &data));
            assert_eq!(ring.take().unwrap().as_bytes(), &data[..]);
        }
        assert!(ring.take().is_none());
    }

    #[test]
    fn a_claimed_position_reads_as_empty_until_it_is_filled() {
        let ring = Ring::new(4);
        let position = ring.claim().unwrap();
        assert!(ring.take().is_none());
        assert_eq!(ring.len(), 1);
        ring.fill(position, Body::copy(b"late"));
        assert_eq!(ring.take().unwrap().as_bytes(), b"late");
    }

    #[test]
    fn claims_in_a_row_are_filled_out_of_order_and_read_in_order() {
        let ring = Ring::new(3);
        let first = ring.claim().unwrap();
        let second = ring.claim().unwrap();
        ring.fill(second, Body::copy(b"second"));
        // The first is not filled: nothing can be read yet.
        assert!(ring.take().is_none());
        ring.fill(first, Body::copy(b"first"));
        assert_eq!(ring.take().unwrap().as_bytes(), b"first");
        assert_eq!(ring.take().unwrap().as_bytes(), b"second");
    }

    #[test]
    fn competing_threads_get_every_message_once() {
        competing_threads(8);
        competing_threads(1);
    }

    fn competing_threads(capacity: usize) {
        let ring = Arc::new(Ring::new(capacity));
        let per_writer = 20_000u32;
        let writers: Vec<_> = (0..2u32)
            .map(|w| {
                let ring = Arc::clone(&ring);
                thread::spawn(move || {
                    let deadline = Instant::now() + Duration::from_secs(60);
                    for i in 0..per_writer {
                        let word = (w << 24 | i).to_le_bytes();
                        while !send(&ring, &word) {
                            assert!(Instant::now() < deadline, "the ring stayed full");
                            thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        let total = 2 * per_writer as usize;
        let taken = Arc::new(AtomicUsize::new(0));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (ring, taken) = (Arc::clone(&ring), Arc::clone(&taken));
                thread::spawn(move || {
                    let mut got = Vec::new();
                    let deadline = Instant::now() + Duration::from_secs(60);
                    while taken.load(Ordering::SeqCst) < total && Instant::now() < deadline {
                        match ring.take() {
                            Some(body) => {
                                taken.fetch_add(1, Ordering::SeqCst);
                                let mut word = [0; 4];
                                word.copy_from_slice(body.as_bytes());
                                got.push(u32::from_le_bytes(word));
                            }
                            None => thread::yield_now(),
                        }
                    }
                    got
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        let mut all: Vec<u32> = Vec::new();
        for reader in readers {
            let got = reader.join().unwrap();
            // Each writer's messages reach each reader in the order sent.
            for w in 0..2u32 {
                let mine: Vec<u32> = got.iter().copied().filter(|x| x >> 24 == w).collect();
                assert!(mine.windows(2).all(|pair| pair[0] < pair[1]));
            }
            all.extend(got);
        }
        all.sort_unstable();
        let expected: Vec<u32> = (0..2u32)
            .flat_map(|w| (0..per_writer).map(move |i| w << 24 | i))
            .collect();
        assert_eq!(all, expected);
    }
}
