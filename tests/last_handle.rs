//! Dropping the last backend handle: once every `ChannelBackend` clone and
//! every `Broadcaster` of a backend is gone, nobody can make a `Writer` or
//! a `Reader` for its paths again, so each path behaves like a pipe whose
//! other end may be gone. Readers read what is queued, then see end of
//! stream once no writer is left (even if none ever came); in queue mode a
//! writer, blocked or not, gets `BrokenPipe` carrying `Error::NoReaders`
//! once no reader is left. Handles made before keep working end to end.
//!
//! Every wait is bounded: on code that breaks the rule, a thread stays
//! blocked forever, and the test fails within a few seconds instead.
mod common;

use std::io::{ErrorKind, Read, Write};
use std::time::Duration;

use chanio::{Backend, ChannelBackend, Error, Reader, Writer};

/// How long a call is given to show that it blocks.
const SHORT: Duration = Duration::from_millis(50);
/// How long a thread is given to wake once the last handle is gone: a
/// thread the rule does not wake stays blocked forever, so this only has to
/// be long enough for a slow machine.
const WAKE: Duration = Duration::from_secs(5);

/// One backend of each kind a path can be: a queue, a hand-off queue, a log.
fn every_mode() -> [(&'static str, ChannelBackend); 3] {
    [
        ("queue", ChannelBackend::new()),
        ("hand-off", ChannelBackend::builder().buffer_size(0).build()),
        (
            "persistent",
            ChannelBackend::builder().persistent(true).build(),
        ),
    ]
}

fn queue_modes() -> [(&'static str, ChannelBackend); 2] {
    [
        ("queue", ChannelBackend::builder().buffer_size(1).build()),
        ("hand-off", ChannelBackend::builder().buffer_size(0).build()),
    ]
}

fn no_readers(path: &str) -> Error {
    Error::NoReaders { path: path.into() }
}

/// A write blocked on `writer` (the queue full, or a hand-off with nobody
/// receiving), after checking that it really blocks.
fn blocked_write(
    mode: &str,
    mut writer: Writer,
) -> common::Bounded<(Writer, std::io::Result<usize>)> {
    let write = common::spawn_started(&format!("{mode}: blocked write"), move || {
        let result = writer.write(b"waits for room");
        (writer, result)
    });
    assert!(
        write.is_blocked_after(SHORT),
        "{mode}: the write did not block to begin with"
    );
    write
}

/// Fills `writer`'s queue so that its next write blocks (a hand-off queue
/// has no room to begin with).
fn fill(mode: &str, writer: &mut Writer) {
    if mode != "hand-off" {
        writer.write_all(b"fills the queue").unwrap();
    }
}

#[test]
fn a_reader_waiting_for_a_first_writer_sees_end_of_stream_once_the_last_handle_is_dropped() {
    common::within(Duration::from_secs(60), "reader with no writer", || {
        for (mode, backend) in every_mode() {
            let mut reading = backend.new_reader("never written").unwrap();
            let mut receiving = backend.new_reader("never written").unwrap();
            let mut later = backend.new_reader("never written").unwrap();
            let read = common::spawn_started(&format!("{mode}: read"), move || {
                reading.read(&mut [0u8; 16])
            });
            let recv = common::spawn_started(&format!("{mode}: recv"), move || receiving.recv());
            assert!(
                read.is_blocked_after(SHORT),
                "{mode}: a reader with no writer yet saw end of stream"
            );
            assert!(recv.is_blocked_after(Duration::ZERO), "{mode}");

            // A clone still alive keeps the backend alive: still waiting.
            let clone = backend.clone();
            drop(backend);
            assert!(
                read.is_blocked_after(SHORT),
                "{mode}: a reader saw end of stream while a backend clone was alive"
            );
            drop(clone);
            assert_eq!(read.join_within(WAKE).unwrap(), 0, "{mode}: read");
            assert_eq!(recv.join_within(WAKE).unwrap(), None, "{mode}: recv");
            // A reader that was not waiting finds the end at once.
            let at_once = common::spawn(&format!("{mode}: read after the drop"), move || {
                later.recv()
            });
            assert_eq!(at_once.join_within(WAKE).unwrap(), None, "{mode}: later");
        }
    });
}

#[test]
fn a_reader_from_a_boxed_backend_sees_end_of_stream_once_the_box_is_dropped() {
    common::within(Duration::from_secs(30), "boxed backend", || {
        let backend: Box<dyn Backend> = chanio::open("channel", chanio::Config::new()).unwrap();
        let mut reader = backend.new_reader("never written").unwrap();
        let read = common::spawn_started("read", move || reader.read(&mut [0u8; 16]));
        assert!(read.is_blocked_after(SHORT));
        drop(backend);
        assert_eq!(read.join_within(WAKE).unwrap(), 0);
    });
}

#[test]
fn a_reader_of_a_path_fed_only_by_broadcasts_reads_them_then_sees_end_of_stream() {
    common::within(Duration::from_secs(30), "broadcasts only", || {
        for (mode, backend) in [
            ("queue", ChannelBackend::new()),
            (
                "persistent",
                ChannelBackend::builder().persistent(true).build(),
            ),
        ] {
            let mut reader = backend.new_reader("news/a").unwrap();
            assert_eq!(backend.broadcast("news/", b"one").unwrap(), 1);
            assert_eq!(backend.broadcast("news/", b"two").unwrap(), 1);
            drop(backend);
            let rest = common::spawn(&format!("{mode}: read to the end"), move || {
                common::read_each(&mut reader).unwrap()
            });
            assert_eq!(
                rest.join_within(WAKE),
                common::owned(&["one", "two"]),
                "{mode}"
            );
        }
    });
}

#[test]
fn a_persistent_reader_reads_the_log_then_sees_end_of_stream_once_its_last_writer_goes() {
    common::within(Duration::from_secs(30), "persistent reader", || {
        let backend = ChannelBackend::builder().persistent(true).build();
        let mut writer = backend.new_writer("log").unwrap();
        let mut early = backend.new_reader("log").unwrap();
        let mut late = backend.new_reader("log").unwrap();
        writer.write_all(b"before the drop").unwrap();
        drop(backend);
        assert_eq!(early.recv().unwrap().unwrap(), b"before the drop");
        // A writer is left: not the end yet.
        let waiting = common::spawn_started("reader waiting for more", move || {
            common::read_each(&mut early).unwrap()
        });
        assert!(
            waiting.is_blocked_after(SHORT),
            "a reader saw end of stream while a writer was open"
        );
        writer.write_all(b"after the drop").unwrap();
        drop(writer);
        assert_eq!(
            waiting.join_within(WAKE),
            common::owned(&["after the drop"])
        );
        assert_eq!(
            common::read_each(&mut late).unwrap(),
            common::owned(&["before the drop", "after the drop"])
        );
    });
}

#[test]
fn a_writer_blocked_on_a_full_queue_whose_reader_was_dropped_wakes_with_no_readers() {
    common::within(
        Duration::from_secs(60),
        "blocked writer, reader gone",
        || {
            for (mode, backend) in queue_modes() {
                let reader = backend.new_reader("full").unwrap();
                let mut writer = backend.new_writer("full").unwrap();
                fill(mode, &mut writer);
                drop(reader);
                let write = blocked_write(mode, writer);
                // While the backend lives, a reader may still come.
                assert!(write.is_blocked_after(SHORT), "{mode}");
                drop(backend);
                let (_writer, result) = write.join_within(WAKE);
                let err = common::io_failure(result, ErrorKind::BrokenPipe);
                assert_eq!(err, no_readers("full"), "{mode}");
            }
        },
    );
}

#[test]
fn a_writer_blocked_with_a_reader_left_wakes_with_no_readers_once_that_reader_goes_too() {
    common::within(
        Duration::from_secs(60),
        "blocked writer, reader later",
        || {
            for (mode, backend) in queue_modes() {
                let reader = backend.new_reader("full").unwrap();
                let mut writer = backend.new_writer("full").unwrap();
                fill(mode, &mut writer);
                let write = blocked_write(mode, writer);
                drop(backend);
                assert!(
                    write.is_blocked_after(SHORT),
                    "{mode}: the write gave up while a reader was left"
                );
                drop(reader);
                let (_writer, result) = write.join_within(WAKE);
                let err = common::io_failure(result, ErrorKind::BrokenPipe);
                assert_eq!(err, no_readers("full"), "{mode}");
            }
        },
    );
}

#[test]
fn a_writer_blocked_on_a_path_that_never_had_a_reader_wakes_with_no_readers() {
    common::within(
        Duration::from_secs(60),
        "blocked writer, no reader ever",
        || {
            for (mode, backend) in queue_modes() {
                let mut writer = backend.new_writer("unread").unwrap();
                fill(mode, &mut writer);
                let write = blocked_write(mode, writer);
                drop(backend);
                let (_writer, result) = write.join_within(WAKE);
                let err = common::io_failure(result, ErrorKind::BrokenPipe);
                assert_eq!(err, no_readers("unread"), "{mode}");
            }
        },
    );
}

#[test]
fn a_writer_that_is_not_blocked_gets_no_readers_on_its_next_write_once_no_reader_is_left() {
    common::within(Duration::from_secs(30), "next write, no reader", || {
        let backend = ChannelBackend::new();
        let mut with_reader = backend.new_writer("read once").unwrap();
        let reader = backend.new_reader("read once").unwrap();
        let mut without = backend.new_writer("never read").unwrap();
        with_reader.write_all(b"queued").unwrap();
        drop(backend);
        drop(reader);
        // There is room in both queues: the write must fail, not queue a
        // message no one can ever read, and must not block.
        for (writer, path) in [
            (&mut with_reader, "read once"),
            (&mut without, "never read"),
        ] {
            for attempt in 0..3 {
                let err = common::io_failure(writer.write(b"for nobody"), ErrorKind::BrokenPipe);
                assert_eq!(err, no_readers(path), "{path}, write {attempt}");
            }
            let err = writer.send("for nobody".into()).unwrap_err();
            assert_eq!(err, no_readers(path), "{path}, send");
        }
    });
}

/// Writes `count` messages from its own thread and drops the writer.
fn produce(mut writer: Writer, count: usize) -> common::Bounded<()> {
    common::spawn("producer", move || {
        for i in 0..count {
            writer.write_all(format!("message {i}").as_bytes()).unwrap();
        }
    })
}

fn consume(mut reader: Reader) -> common::Bounded<Vec<Vec<u8>>> {
    common::spawn("consumer", move || common::read_each(&mut reader).unwrap())
}

#[test]
fn handles_made_before_the_last_backend_handle_was_dropped_keep_exchanging_messages() {
    common::within(
        Duration::from_secs(60),
        "handles outlive the backend",
        || {
            for (mode, backend) in every_mode() {
                let writer = backend.new_writer("pipe").unwrap();
                let reader = backend.new_reader("pipe").unwrap();
                drop(backend);
                // Far more messages than a queue holds: both ends must keep
                // waiting for each other as usual.
                let producer = produce(writer, 500);
                let consumer = consume(reader);
                producer.join_within(WAKE);
                let got = consumer.join_within(WAKE);
                let expected: Vec<Vec<u8>> = (0..500)
                    .map(|i| format!("message {i}").into_bytes())
                    .collect();
                assert_eq!(got, expected, "{mode}");
            }
        },
    );
}

#[test]
fn a_reader_dropped_after_the_backend_makes_the_writers_next_write_fail_with_no_readers() {
    common::within(Duration::from_secs(30), "reader dropped later", || {
        let backend = ChannelBackend::new();
        let mut writer = backend.new_writer("pipe").unwrap();
        let mut first = backend.new_reader("pipe").unwrap();
        let second = backend.new_reader("pipe").unwrap();
        drop(backend);
        writer.write_all(b"one").unwrap();
        assert_eq!(first.recv().unwrap().unwrap(), b"one");
        drop(first);
        // One reader is left: writes still go through.
        writer.write_all(b"two").unwrap();
        drop(second);
        let err = common::io_failure(writer.write(b"three"), ErrorKind::BrokenPipe);
        assert_eq!(err, no_readers("pipe"));
    });
}

#[test]
fn a_live_broadcaster_keeps_the_backend_alive_until_it_is_dropped_too() {
    common::within(
        Duration::from_secs(60),
        "broadcaster keeps it alive",
        || {
            for (mode, backend) in [
                ("queue", ChannelBackend::new()),
                (
                    "persistent",
                    ChannelBackend::builder().persistent(true).build(),
                ),
            ] {
                let mut reader = backend.new_reader("news/a").unwrap();
                let mut news = backend.broadcaster("news/");
                drop(backend);
                let waiting = common::spawn_started(&format!("{mode}: reader"), move || {
                    common::read_each(&mut reader).unwrap()
                });
                assert!(
                    waiting.is_blocked_after(SHORT),
                    "{mode}: a reader saw end of stream while a Broadcaster was alive"
                );
                assert_eq!(news.send(b"still sent").unwrap(), 1, "{mode}");
                assert!(
                    waiting.is_blocked_after(SHORT),
                    "{mode}: a reader saw end of stream while a Broadcaster was alive"
                );
                drop(news);
                assert_eq!(
                    waiting.join_within(WAKE),
                    common::owned(&["still sent"]),
                    "{mode}"
                );
            }
        },
    );
}
