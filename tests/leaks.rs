//! Memory is released: a path's messages once nothing can read them any
//! more, a deleted path's queue, a persistent log once its readers are gone.
//!
//! How this is measured, honestly: there is no public hook into chanio's
//! internals (and a `Message` clone kept by the test would itself keep the
//! bytes alive), so this test binary installs a counting global allocator
//! that tracks the bytes currently allocated in the whole process. The
//! allocator is process-global, so every test here takes one lock first and
//! the measurements never overlap; the test harness's own few allocations
//! (printing a finished test's name) are noise far below the margins used.
//! Each scenario runs once to warm up (thread-locals, lazily built statics)
//! before its baseline is taken, and payloads are counted in MiB so that a
//! retained message is unmistakable, while a leak of path bookkeeping is
//! caught by repeating a create/delete cycle thousands of times.
//!
//! `unsafe` is needed for `GlobalAlloc`; the crate's `#![forbid(unsafe_code)]`
//! covers `src/` only, and the allocator just forwards to `System`.
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chanio::{ChannelBackend, Message};

struct Counting;

/// Bytes currently allocated by the whole process.
static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call forwards to `System` with the caller's arguments, so
// `System`'s guarantees carry over; the counter has no effect on memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; `ptr` came from this allocator.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged; `ptr` came from this allocator.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE.fetch_add(new_size, Ordering::Relaxed);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Serialises the tests of this file: the counter is process-wide.
static MEASURING: Mutex<()> = Mutex::new(());

const MIB: usize = 1 << 20;
/// How many 1 MiB messages a scenario queues.
const MESSAGES: usize = 8;
/// What may remain above the baseline after everything is released.
const SLACK: usize = 64 << 10;

fn live() -> usize {
    LIVE.load(Ordering::SeqCst)
}

/// Runs `scenario` alone (no other measurement at the same time), on a
/// thread of its own with a bound, after one warm-up run.
fn measured(what: &'static str, scenario: fn(&[u8])) {
    let _alone = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    common::within(common::BOUND, what, move || {
        let payload = vec![0xA5u8; MIB];
        scenario(&payload);
        scenario(&payload);
    });
}

/// Asserts that at least `bytes` more than `base` are allocated.
fn assert_holds(base: usize, bytes: usize, what: &str) {
    let now = live();
    assert!(
        now >= base + bytes,
        "{what}: expected at least {bytes} bytes held, {} are",
        now.saturating_sub(base)
    );
}

/// Asserts that allocation is back to `base`, give or take `SLACK`.
fn assert_released(base: usize, what: &str) {
    assert_released_within(base, SLACK, what);
}

fn assert_released_within(base: usize, slack: usize, what: &str) {
    let now = live();
    assert!(
        now <= base + slack,
        "{what}: {} bytes are still held above the baseline",
        now.saturating_sub(base)
    );
}

fn queue_backend() -> ChannelBackend {
    ChannelBackend::builder().buffer_size(100).build()
}

fn persistent_backend() -> ChannelBackend {
    ChannelBackend::builder().persistent(true).build()
}

/// Writes `MESSAGES` copies of `payload` to `path` and drops the writer.
fn fill(backend: &ChannelBackend, path: &str, payload: &[u8]) {
    let mut writer = backend.new_writer(path).unwrap();
    for _ in 0..MESSAGES {
        writer.write_all(payload).unwrap();
    }
}

#[test]
fn a_deleted_path_with_no_handles_frees_its_queued_messages() {
    measured("delete frees a queue", |payload| {
        let backend = queue_backend();
        let base = live();
        let reader = backend.new_reader("q").unwrap();
        fill(&backend, "q", payload);
        drop(reader);
        // Nothing holds a handle, but the path exists: its messages stay
        // for a reader that may still come.
        assert_holds(base, MESSAGES * MIB, "queued with the path alive");
        backend.delete("q").unwrap();
        assert_released(base, "after delete");
    });
}

#[test]
fn dropping_the_backend_or_closing_it_frees_every_path() {
    measured("backend drop frees", |payload| {
        let base = live();
        let backend = queue_backend();
        fill(&backend, "a", payload);
        fill(&backend, "b", payload);
        assert_holds(base, 2 * MESSAGES * MIB, "queued");
        drop(backend);
        assert_released(base, "after the last backend handle was dropped");

        let backend = persistent_backend();
        fill(&backend, "log", payload);
        assert_holds(base, MESSAGES * MIB, "logged");
        backend.close().unwrap();
        assert_released(base, "after close (the handle still held)");
        drop(backend);
    });
}

#[test]
fn a_reader_holding_a_deleted_path_keeps_its_messages_until_read() {
    measured("reader drains a deleted path", |payload| {
        let backend = queue_backend();
        let base = live();
        let mut reader = backend.new_reader("q").unwrap();
        fill(&backend, "q", payload);
        backend.delete("q").unwrap();
        // The reader may still read what was queued.
        assert_holds(base, MESSAGES * MIB, "deleted, reader held");
        let mut read = 0;
        while let Some(message) = reader.recv().unwrap() {
            assert_eq!(message.len(), MIB);
            read += 1;
        }
        assert_eq!(read, MESSAGES);
        // Each message is gone once read, even with the reader still held.
        assert_released(base, "all read, reader held");
        drop(reader);
        assert_released(base, "reader dropped");
    });
}

#[test]
fn a_persistent_log_is_freed_after_delete_once_its_readers_are_gone() {
    measured("log freed after delete", |payload| {
        let backend = persistent_backend();
        let base = live();
        fill(&backend, "log", payload);
        let mut early = backend.new_reader("log").unwrap();
        let late = backend.new_reader("log").unwrap();
        let mut buf = vec![0u8; MIB];
        for _ in 0..MESSAGES {
            early.read_exact(&mut buf).unwrap();
        }
        drop(buf);
        backend.delete("log").unwrap();
        // `late` has read nothing yet and may replay it all.
        assert_holds(base, MESSAGES * MIB, "deleted, readers held");
        drop(early);
        assert_holds(base, MESSAGES * MIB, "deleted, one reader held");
        drop(late);
        assert_released(base, "deleted, readers gone");
    });
}

#[test]
fn a_persistent_log_holds_each_message_once_however_many_readers() {
    measured("log shared by readers", |payload| {
        let backend = persistent_backend();
        let base = live();
        fill(&backend, "log", payload);
        let mut readers: Vec<_> = (0..10)
            .map(|_| backend.new_reader("log").unwrap())
            .collect();
        let mut kept: Vec<Message> = Vec::new();
        for reader in &mut readers {
            while let Some(message) = reader.recv().unwrap() {
                kept.push(message);
            }
        }
        assert_eq!(kept.len(), 10 * MESSAGES);
        let held = live() - base;
        assert!(
            held < MESSAGES * MIB + SLACK,
            "10 readers of an {MESSAGES} MiB log hold {held} bytes: copied per reader"
        );
        drop(kept);
        drop(readers);
        backend.delete("log").unwrap();
        assert_released(base, "deleted, readers gone");
    });
}

#[test]
fn a_broadcast_holds_one_copy_for_all_its_paths() {
    measured("broadcast shares its bytes", |payload| {
        let backend = queue_backend();
        let base = live();
        let mut readers: Vec<_> = (0..16)
            .map(|i| backend.new_reader(&format!("fan/{i:02}")).unwrap())
            .collect();
        // Only the messages count: a first small broadcast makes the 16
        // paths' own queues.
        assert_eq!(backend.broadcast("fan/", b"make the queues").unwrap(), 16);
        for reader in &mut readers {
            assert_eq!(reader.recv().unwrap().unwrap(), "make the queues");
        }
        let with_paths = live();
        for _ in 0..MESSAGES {
            assert_eq!(backend.broadcast("fan/", payload).unwrap(), 16);
        }
        let held = live() - with_paths;
        assert!(
            (MESSAGES * MIB..MESSAGES * MIB + SLACK).contains(&held),
            "{MESSAGES} broadcasts of 1 MiB to 16 paths hold {held} bytes"
        );
        drop(readers);
        for i in 0..16 {
            backend.delete(&format!("fan/{i:02}")).unwrap();
        }
        assert_released(base, "deleted");
    });
}

#[test]
fn a_write_that_fails_or_times_out_keeps_nothing() {
    measured("failed writes keep nothing", |payload| {
        let backend = ChannelBackend::builder().buffer_size(1).build();
        let base = live();
        let mut writer = backend.new_writer("q").unwrap();
        writer.write_all(payload).unwrap();
        let queued = live();
        writer.set_write_timeout(Some(Duration::from_millis(1)));
        for _ in 0..4 {
            let err = writer.write(payload).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        }
        assert_released_within(queued, SLACK, "after timed-out writes");
        backend.delete("q").unwrap();
        for _ in 0..4 {
            assert!(writer.write(payload).is_err());
        }
        drop(writer);
        assert_released(base, "after writes to a deleted path");
    });
}

#[test]
fn creating_and_deleting_paths_leaks_nothing() {
    measured("path churn", |payload| {
        let small = &payload[..64];
        for persistent in [false, true] {
            let backend = ChannelBackend::builder()
                .buffer_size(100)
                .persistent(persistent)
                .build();
            let base = live();
            for i in 0..2_000 {
                let path = format!("churn/{}", i % 7);
                let mut writer = backend.new_writer(&path).unwrap();
                let mut reader = backend.new_reader(&path).unwrap();
                let mut clone = writer.try_clone().unwrap();
                writer.write_all(small).unwrap();
                clone.write_all(small).unwrap();
                assert_eq!(reader.recv().unwrap().unwrap().len(), 64);
                if i % 3 == 0 {
                    backend.broadcast("churn/", small).unwrap();
                }
                drop((writer, clone));
                if i % 2 == 0 {
                    drop(reader);
                }
                backend.delete(&path).unwrap();
            }
            // 2,000 paths of at least a few hundred bytes each: a leak of
            // one path's bookkeeping each time would be far above this.
            assert_released_within(base, 16 << 10, "after 2,000 paths came and went");
        }
    });
}

/// Contract: "Queued messages with no reader are dropped with the path."
/// A writer that outlives the delete can never have its messages read
/// (a new reader of the name gets a fresh stream), so they should go with
/// the path.
#[test]
fn a_writer_handle_does_not_keep_a_deleted_paths_messages() {
    measured("writer keeps a deleted queue", |payload| {
        let backend = queue_backend();
        let base = live();
        let mut writer = backend.new_writer("q").unwrap();
        for _ in 0..MESSAGES {
            writer.write_all(payload).unwrap();
        }
        backend.delete("q").unwrap();
        // What is queued is out of reach: a reader of the name reads a new,
        // empty stream.
        let mut fresh = backend.new_reader("q").unwrap();
        fresh.set_read_timeout(Some(Duration::ZERO));
        assert!(matches!(fresh.recv(), Err(chanio::Error::TimedOut { .. })));
        drop(fresh);
        backend.delete("q").unwrap();
        assert_released_within(base, SLACK, "deleted, no reader, a writer held");
        drop(writer);
    });
}

// ---------------------------------------------------------------------
// Memory follows the queues: the spare buffers kept for large messages are
// bounded by what a path's queue can hold and a small amount per backend.
// ---------------------------------------------------------------------

const KIB: usize = 1 << 10;
/// The large message of the spare-buffer scenarios.
const CHUNK: usize = 64 * KIB;

/// How a scenario's reader takes its messages.
#[derive(Clone, Copy, Debug)]
enum Take {
    /// `io::Read` into a buffer of its own: each message is dropped once
    /// it has been copied out.
    Read,
    /// `recv`, dropping each `Message` at once.
    Recv,
    /// `recv`, keeping every `Message` until all have been read, then
    /// dropping them together.
    RecvHeld,
}

/// Takes `count` messages of `CHUNK` bytes from `reader` in the style
/// `take`; `buf` is the caller's, allocated before its baseline.
fn take_messages(reader: &mut chanio::Reader, count: usize, take: Take, buf: &mut [u8]) {
    let mut held = Vec::new();
    for _ in 0..count {
        match take {
            Take::Read => reader.read_exact(buf).unwrap(),
            Take::Recv => assert_eq!(reader.recv().unwrap().unwrap().len(), CHUNK),
            Take::RecvHeld => held.push(reader.recv().unwrap().unwrap()),
        }
    }
    drop(held);
}

/// One `buffer_size(1)` path carries 64 messages of 64 KiB, written and
/// read one at a time with its handles kept open; afterwards at most
/// 256 KiB stay above the baseline taken with the path and handles made.
fn one_small_queue_carries_64_large_messages(payload: &[u8], take: Take) {
    let chunk = &payload[..CHUNK];
    let backend = ChannelBackend::builder().buffer_size(1).build();
    let mut writer = backend.new_writer("big").unwrap();
    let mut reader = backend.new_reader("big").unwrap();
    let mut buf = vec![0u8; CHUNK];
    let mut held = Vec::new();
    let base = live();
    for _ in 0..64 {
        writer.write_all(chunk).unwrap();
        match take {
            Take::RecvHeld => held.push(reader.recv().unwrap().unwrap()),
            other => take_messages(&mut reader, 1, other, &mut buf),
        }
    }
    held.clear();
    held.shrink_to_fit();
    assert_released_within(
        base,
        256 * KIB,
        &format!("a buffer_size(1) path after 64 messages of 64 KiB ({take:?})"),
    );
    drop((writer, reader, backend));
}

#[test]
fn a_buffer_size_1_path_keeps_at_most_256_kib_after_64_large_messages_read_one_by_one() {
    measured("small queue, read one by one", |payload| {
        one_small_queue_carries_64_large_messages(payload, Take::Read);
        one_small_queue_carries_64_large_messages(payload, Take::Recv);
    });
}

#[test]
fn a_buffer_size_1_path_keeps_at_most_256_kib_after_64_large_messages_held_then_dropped() {
    measured("small queue, messages held", |payload| {
        one_small_queue_carries_64_large_messages(payload, Take::RecvHeld);
    });
}

/// 100 live queue-mode paths (buffer size 100) each carry 100 messages of
/// 64 KiB: a writer writes all 100, a reader reads them all, and both stay
/// open. Afterwards at most 16 MiB stay above the baseline taken with the
/// paths and handles made.
fn a_hundred_queues_carry_100_large_messages_each(payload: &[u8], take: Take) {
    let chunk = &payload[..CHUNK];
    let backend = queue_backend();
    let mut ends: Vec<(chanio::Writer, chanio::Reader)> = (0..100)
        .map(|i| {
            let path = format!("big/{i:03}");
            (
                backend.new_writer(&path).unwrap(),
                backend.new_reader(&path).unwrap(),
            )
        })
        .collect();
    let mut buf = vec![0u8; CHUNK];
    let base = live();
    for (writer, reader) in &mut ends {
        for _ in 0..100 {
            writer.write_all(chunk).unwrap();
        }
        take_messages(reader, 100, take, &mut buf);
    }
    assert_released_within(
        base,
        16 * MIB,
        &format!("100 live paths after 100 messages of 64 KiB each ({take:?})"),
    );
    drop((ends, backend));
}

#[test]
fn a_hundred_live_paths_keep_at_most_16_mib_after_100_large_messages_each_read_with_io_read() {
    measured("100 paths, io::Read", |payload| {
        a_hundred_queues_carry_100_large_messages_each(payload, Take::Read);
    });
}

#[test]
fn a_hundred_live_paths_keep_at_most_16_mib_after_100_large_messages_each_received() {
    measured("100 paths, recv", |payload| {
        a_hundred_queues_carry_100_large_messages_each(payload, Take::Recv);
    });
}

// ---------------------------------------------------------------------
// A `Broadcaster` does not pin paths: deleted paths (or those of a closed
// backend) are freed while an idle `Broadcaster` that once matched them
// lives, but for a few hundred bytes of bookkeeping each.
// ---------------------------------------------------------------------

/// How many paths the `Broadcaster` scenarios make.
const SUBSCRIBERS: usize = 20_000;
/// What each of them may leave behind while the `Broadcaster` is idle.
const PER_PATH: usize = 512;

/// Makes `SUBSCRIBERS` paths (a reader made and dropped on each), sends
/// once through a `Broadcaster` of their prefix, ends the paths with
/// `end`, and checks, with the `Broadcaster` alive and untouched, that
/// allocation is back near the baseline taken before the paths were made.
fn idle_broadcaster_after(end: fn(&ChannelBackend), what: &str) {
    let backend = queue_backend();
    let base = live();
    for i in 0..SUBSCRIBERS {
        drop(backend.new_reader(&format!("sub/{i:05}")).unwrap());
    }
    let mut broadcaster = backend.broadcaster("sub/");
    assert_eq!(broadcaster.send(b"hello, everyone").unwrap(), SUBSCRIBERS);
    end(&backend);
    assert_released_within(
        base,
        SUBSCRIBERS * PER_PATH,
        &format!("{SUBSCRIBERS} paths {what}, a Broadcaster idle"),
    );
    drop(broadcaster);
    drop(backend);
}

#[test]
fn an_idle_broadcaster_does_not_pin_deleted_paths() {
    measured("idle broadcaster, deleted paths", |_| {
        idle_broadcaster_after(
            |backend| {
                for i in 0..SUBSCRIBERS {
                    backend.delete(&format!("sub/{i:05}")).unwrap();
                }
            },
            "deleted",
        );
    });
}

#[test]
fn an_idle_broadcaster_does_not_pin_the_paths_of_a_closed_backend() {
    measured("idle broadcaster, closed backend", |_| {
        idle_broadcaster_after(|backend| backend.close().unwrap(), "closed");
    });
}

/// Retention: a log bounded by `retain_bytes` holds at most the bound plus
/// one message, however many readers it has and however far behind they
/// are; a dropped message's bytes go once no reader holds it.
#[test]
fn a_log_bounded_by_retain_bytes_holds_at_most_the_bound_whatever_its_readers() {
    measured("retention bounds a log", |payload| {
        const BOUND: usize = 4 * MIB;
        let message = &payload[..64 << 10];
        let base = live();
        let backend = ChannelBackend::builder()
            .persistent(true)
            .retain_bytes(BOUND as u64)
            .build();
        let mut stalled: Vec<_> = (0..10)
            .map(|_| backend.new_reader("bounded").unwrap())
            .collect();
        let mut writer = backend.new_writer("bounded").unwrap();
        // 16 times the bound, with ten readers that read nothing.
        for _ in 0..(16 * BOUND / message.len()) {
            writer.write_all(message).unwrap();
        }
        let held = live().saturating_sub(base);
        assert!(
            held <= BOUND + message.len() + SLACK,
            "a log bounded at {BOUND} B holds {held} B"
        );
        // A reader holding a message keeps just that one past its drop.
        let kept = stalled[0].recv().unwrap_err();
        assert!(matches!(kept, chanio::Error::Lagged { .. }));
        let holding = stalled[0].recv().unwrap().unwrap();
        for _ in 0..(2 * BOUND / message.len()) {
            writer.write_all(message).unwrap();
        }
        let held = live().saturating_sub(base);
        assert!(
            held <= BOUND + 2 * message.len() + SLACK,
            "with one message held, {held} B"
        );
        drop((holding, writer, stalled, backend));
        assert_released(base, "a bounded log and its readers");
    });
}

#[test]
fn a_path_that_never_got_a_message_holds_no_room_for_its_queue() {
    measured("idle queues", |_| {
        // A full-size queue's slots take tens of MiB; a thousand idle
        // paths of the default size would take megabytes if each queue
        // were made with its path.
        let backend = ChannelBackend::builder()
            .buffer_size(chanio::MAX_BUFFER_SIZE)
            .build();
        let base = live();
        let readers: Vec<_> = (0..4)
            .map(|i| backend.new_reader(&format!("idle/{i}")).unwrap())
            .collect();
        assert_released_within(base, MIB, "four idle full-size queues");
        // The first message makes the queue, and everything still works.
        let mut writer = backend.new_writer("idle/0").unwrap();
        writer.write_all(b"first").unwrap();
        assert_holds(base, chanio::MAX_BUFFER_SIZE, "a queue that got a message");
        let mut first = readers.into_iter().next().unwrap();
        assert_eq!(first.recv().unwrap().unwrap(), "first");
    });
}
