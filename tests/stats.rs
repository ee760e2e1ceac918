//! Stats per path: what a path holds, who uses it, who waits on it now,
//! and what has passed through it.
mod common;

use std::io::{BufRead, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chanio::{ChannelBackend, Error, PathStats};

fn stats(backend: &ChannelBackend, path: &str) -> PathStats {
    backend
        .stats(path)
        .unwrap()
        .unwrap_or_else(|| panic!("{path} exists"))
}

/// Polls `path`'s stats until `ready` holds, failing after a bound.
fn until(backend: &ChannelBackend, path: &str, ready: impl Fn(&PathStats) -> bool) -> PathStats {
    let deadline = Instant::now() + common::BOUND;
    loop {
        let now = stats(backend, path);
        if ready(&now) {
            return now;
        }
        assert!(Instant::now() < deadline, "stats never got there: {now}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_new_queue_path_shows_its_capacity_and_nothing_else() {
    let backend = ChannelBackend::builder().buffer_size(7).build();
    let _reader = backend.new_reader("fresh").unwrap();
    let s = stats(&backend, "fresh");
    assert!(!s.persistent);
    assert_eq!(s.capacity, Some(7));
    assert_eq!(
        (s.queued, s.queued_bytes, s.readers, s.writers),
        (0, 0, 1, 0)
    );
    assert_eq!(
        (s.written, s.written_bytes, s.read, s.dropped),
        (0, 0, 0, 0)
    );
    assert_eq!((s.waiting_readers, s.waiting_writers), (0, 0));
    assert!(!s.ended && !s.poisoned);
}

#[test]
fn a_path_that_does_not_exist_has_no_stats_and_an_empty_path_name_is_an_error() {
    let backend = ChannelBackend::new();
    assert_eq!(backend.stats("nothing").unwrap(), None);
    assert!(matches!(backend.stats(""), Err(Error::InvalidPath { .. })));
    assert!(backend.stats_all("").unwrap().is_empty());
}

#[test]
fn counts_follow_writes_reads_and_broadcasts() {
    let backend = ChannelBackend::builder().buffer_size(10).build();
    let mut writer = backend.new_writer("jobs").unwrap();
    let mut reader = backend.new_reader("jobs").unwrap();
    writer.write_all(b"12345").unwrap();
    writer.write_all(b"678").unwrap();
    assert_eq!(backend.broadcast("jobs", b"ab").unwrap(), 1);
    assert_eq!(backend.try_broadcast("jobs", b"c").unwrap().delivered, 1);
    backend.broadcaster("jobs").send(b"de").unwrap();
    let s = stats(&backend, "jobs");
    assert_eq!((s.written, s.written_bytes), (5, 13));
    assert_eq!((s.queued, s.queued_bytes, s.read), (5, 13, 0));

    assert_eq!(reader.recv().unwrap().unwrap(), "12345");
    let mut buf = [0u8; 2];
    assert_eq!(reader.read(&mut buf).unwrap(), 2); // part of "678": the message counts as read
    let s = stats(&backend, "jobs");
    assert_eq!((s.read, s.queued, s.queued_bytes), (2, 3, 5));
    assert_eq!(s.written, s.read + s.queued as u64);
}

#[test]
fn after_a_four_by_four_exchange_written_equals_read_plus_queued() {
    let backend = ChannelBackend::builder().buffer_size(16).build();
    let per_writer: u64 = common::scale(2_000, 50_000);
    // The readers take all but a queue's worth, so the writers can finish.
    let to_read = 4 * per_writer - 16;
    let tickets = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..4)
        .map(|i| {
            let mut reader = backend.new_reader("mpmc").unwrap();
            let tickets = Arc::clone(&tickets);
            common::spawn(&format!("reader {i}"), move || {
                let mut count = 0u64;
                while tickets.fetch_add(1, Ordering::Relaxed) < to_read {
                    reader.recv().unwrap().expect("a message");
                    count += 1;
                }
                (count, reader)
            })
        })
        .collect();
    let writers: Vec<_> = (0..4)
        .map(|i| {
            let mut writer = backend.new_writer("mpmc").unwrap();
            common::spawn(&format!("writer {i}"), move || {
                for n in 0..per_writer as u32 {
                    writer.write_all(&n.to_le_bytes()).unwrap();
                }
                writer
            })
        })
        .collect();
    let writers: Vec<_> = writers.into_iter().map(|w| w.join()).collect();
    let readers: Vec<_> = readers.into_iter().map(|r| r.join()).collect();
    let taken: u64 = readers.iter().map(|(count, _)| count).sum();
    assert_eq!(taken, to_read);
    let s = stats(&backend, "mpmc");
    assert_eq!(s.written, 4 * per_writer);
    assert_eq!(s.written_bytes, 16 * per_writer);
    assert_eq!((s.read, s.queued, s.queued_bytes), (to_read, 16, 64));
    assert_eq!(s.written, s.read + s.queued as u64, "{s}");
    assert_eq!((s.readers, s.writers), (4, 4));
    assert_eq!((s.waiting_readers, s.waiting_writers), (0, 0));
    drop(writers);
    let s = stats(&backend, "mpmc");
    assert!(s.ended);
    assert_eq!(s.writers, 0);
    assert_eq!(s.written, s.read + s.queued as u64, "{s}");
}

#[test]
fn a_blocked_writer_and_a_blocked_reader_show_as_waiting() {
    let backend = ChannelBackend::builder().buffer_size(1).build();
    let mut reader = backend.new_reader("full").unwrap();
    let mut writer = backend.new_writer("full").unwrap();
    writer.write_all(b"fills it").unwrap();
    let blocked = common::spawn_started("blocked writer", move || {
        writer.write_all(b"waits").unwrap();
        writer
    });
    let s = until(&backend, "full", |s| s.waiting_writers == 1);
    assert_eq!((s.queued, s.capacity, s.waiting_readers), (1, Some(1), 0));
    assert_eq!(reader.recv().unwrap().unwrap(), "fills it");
    let writer = blocked.join();
    until(&backend, "full", |s| s.waiting_writers == 0);
    assert_eq!(reader.recv().unwrap().unwrap(), "waits");

    let waiting =
        common::spawn_started("blocked reader", move || reader.recv().map(|m| m.is_some()));
    let s = until(&backend, "full", |s| s.waiting_readers == 1);
    assert_eq!(s.queued, 0);
    drop(writer);
    assert!(!waiting.join().unwrap(), "end of stream");
    let s = stats(&backend, "full");
    assert_eq!((s.waiting_readers, s.waiting_writers), (0, 0));
    assert!(s.ended && !s.poisoned);
}

#[test]
fn a_hand_off_shows_its_waiting_threads() {
    let backend = ChannelBackend::builder().buffer_size(0).build();
    let mut reader = backend.new_reader("handoff").unwrap();
    let mut writer = backend.new_writer("handoff").unwrap();
    let blocked = common::spawn_started("offering writer", move || {
        writer.write_all(b"take me").unwrap();
        writer
    });
    let s = until(&backend, "handoff", |s| s.waiting_writers == 1);
    assert_eq!((s.capacity, s.queued), (Some(0), 0));
    assert_eq!(reader.recv().unwrap().unwrap(), "take me");
    let _writer = blocked.join();
    let waiting =
        common::spawn_started("waiting reader", move || reader.recv().map(|m| m.is_some()));
    until(&backend, "handoff", |s| s.waiting_readers == 1);
    backend.delete("handoff").unwrap();
    assert!(!waiting.join().unwrap(), "end of stream");
}

#[test]
fn a_broadcast_waiting_for_room_counts_as_a_waiting_writer() {
    let backend = ChannelBackend::builder().buffer_size(1).build();
    let mut reader = backend.new_reader("subs/slow").unwrap();
    backend.broadcast("subs/", b"first").unwrap();
    let broadcaster = backend.clone();
    let waiting = common::spawn_started("broadcast", move || {
        broadcaster.broadcast("subs/", b"second")
    });
    let s = until(&backend, "subs/slow", |s| s.waiting_writers == 1);
    assert_eq!(s.writers, 0, "a broadcast is not a writer");
    assert_eq!(reader.recv().unwrap().unwrap(), "first");
    assert_eq!(waiting.join().unwrap(), 1);
    let s = stats(&backend, "subs/slow");
    assert_eq!(
        (s.written, s.read, s.queued, s.waiting_writers),
        (2, 1, 1, 0)
    );
}

#[test]
fn in_persistent_mode_read_is_summed_over_the_readers_and_queued_is_what_the_log_keeps() {
    let backend = ChannelBackend::builder().persistent(true).build();
    let mut writer = backend.new_writer("log").unwrap();
    for line in ["a", "bb", "ccc"] {
        writer.write_all(line.as_bytes()).unwrap();
    }
    let mut first = backend.new_reader("log").unwrap();
    let mut second = backend.new_reader("log").unwrap();
    for _ in 0..3 {
        first.recv().unwrap().unwrap();
    }
    second.recv().unwrap().unwrap();
    let s = stats(&backend, "log");
    assert!(s.persistent);
    assert_eq!(s.capacity, None);
    assert_eq!(
        (s.queued, s.queued_bytes, s.written, s.written_bytes),
        (3, 6, 3, 6)
    );
    assert_eq!((s.read, s.readers, s.writers, s.dropped), (4, 2, 1, 0));

    let waiting = common::spawn_started("log reader", move || {
        let next = first.recv().unwrap().unwrap().to_vec();
        (next, first)
    });
    until(&backend, "log", |s| s.waiting_readers == 1);
    writer.write_all(b"dddd").unwrap();
    let (next, first) = waiting.join();
    assert_eq!(next, b"dddd");
    assert_eq!(stats(&backend, "log").waiting_readers, 0);
    drop(first);
    drop(second);
    let s = stats(&backend, "log");
    assert_eq!(
        (s.read, s.readers),
        (5, 0),
        "a closed reader's counts are kept"
    );
}

#[test]
fn dropped_counts_what_retention_removed() {
    let backend = ChannelBackend::builder()
        .persistent(true)
        .retain_messages(10)
        .build();
    let mut writer = backend.new_writer("log").unwrap();
    for i in 0..25u8 {
        writer.write_all(&[i]).unwrap();
    }
    let s = stats(&backend, "log");
    assert_eq!((s.written, s.queued, s.dropped), (25, 10, 15));
    assert_eq!(s.written, s.dropped + s.queued as u64);
}

#[test]
fn a_message_handed_back_by_a_closing_reader_is_not_counted_as_read() {
    let backend = ChannelBackend::new();
    let mut peeker = backend.new_reader("work").unwrap();
    let mut taker = backend.new_reader("work").unwrap();
    let mut writer = backend.new_writer("work").unwrap();
    writer.write_all(b"only peeked").unwrap();
    assert_eq!(peeker.fill_buf().unwrap(), b"only peeked");
    assert_eq!(stats(&backend, "work").read, 1);
    peeker.close().unwrap();
    let s = stats(&backend, "work");
    assert_eq!((s.read, s.queued, s.queued_bytes), (0, 1, 11));
    assert_eq!(taker.recv().unwrap().unwrap(), "only peeked");
    assert_eq!(stats(&backend, "work").read, 1);
}

#[test]
fn a_poisoned_stream_shows_poisoned() {
    let backend = ChannelBackend::new();
    let _reader = backend.new_reader("job").unwrap();
    let writer = backend.new_writer("job").unwrap();
    let panicked = std::thread::spawn(move || {
        let _writer = writer;
        panic!("the producer fails on purpose");
    })
    .join();
    assert!(panicked.is_err());
    let s = stats(&backend, "job");
    assert!(s.ended && s.poisoned);
    assert!(s.to_string().contains("poisoned"), "{s}");
}

#[test]
fn stats_all_lists_the_matching_paths_in_name_order() {
    let backend = ChannelBackend::new();
    for name in ["stage2/in", "stage1/in", "stage10/in", "other"] {
        backend.new_reader(name).unwrap();
    }
    let names: Vec<String> = backend
        .stats_all("stage")
        .unwrap()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(names, ["stage1/in", "stage10/in", "stage2/in"]);
    assert_eq!(backend.stats_all("").unwrap().len(), 4);
}

#[test]
fn after_delete_stats_are_none_and_after_close_they_are_backend_closed() {
    let backend = ChannelBackend::new();
    let mut writer = backend.new_writer("gone").unwrap();
    writer.write_all(b"x").unwrap();
    backend.delete("gone").unwrap();
    assert_eq!(backend.stats("gone").unwrap(), None);
    backend.new_reader("other").unwrap();
    backend.close().unwrap();
    assert_eq!(backend.stats("other"), Err(Error::BackendClosed));
    assert_eq!(backend.stats_all(""), Err(Error::BackendClosed));
}

#[test]
fn display_is_one_line_with_the_figures_a_user_logs() {
    let backend = ChannelBackend::builder().buffer_size(4).build();
    let mut writer = backend.new_writer("p").unwrap();
    let _reader = backend.new_reader("p").unwrap();
    writer.write_all(b"abc").unwrap();
    let line = stats(&backend, "p").to_string();
    assert!(!line.contains('\n'), "{line}");
    for part in [
        "queued 1/4",
        "readers 1",
        "writers 1",
        "written 1",
        "read 0",
        "waiting",
    ] {
        assert!(line.contains(part), "{line:?} lacks {part:?}");
    }
    let debug = format!("{:?}", stats(&backend, "p"));
    assert!(debug.contains("waiting_writers"), "{debug}");
}
