//! Persistent mode: each path is an append-only log that every reader,
//! whenever it is opened, reads from the first message, once, in order.
mod common;

use std::io::{ErrorKind, Read, Write};
use std::time::Duration;

use chanio::{ChannelBackend, Error, Reader};

const SHORT: Duration = Duration::from_millis(20);

fn persistent() -> ChannelBackend {
    ChannelBackend::builder().persistent(true).build()
}

/// Asserts that `reader` has read everything there is for now: a read with
/// a short timeout times out (no duplicate, and no end of stream either).
fn assert_nothing_more_yet(reader: &mut Reader) {
    let previous = reader.read_timeout();
    reader.set_read_timeout(Some(SHORT));
    let err = common::io_failure(reader.read(&mut [0u8; 64]), ErrorKind::TimedOut);
    assert!(matches!(err, Error::TimedOut { .. }), "{err:?}");
    reader.set_read_timeout(previous);
}

fn recv_text(reader: &mut Reader) -> Option<String> {
    reader
        .recv()
        .unwrap()
        .map(|message| String::from_utf8(message.to_vec()).unwrap())
}

#[test]
fn the_go_test_fixture_example_a_reader_after_the_writer_closed_gets_the_data() {
    common::within(common::BOUND, "test fixture", || {
        let backend = persistent();

        // Set up test data.
        let mut w = backend.new_writer("input").unwrap();
        w.write_all(b"test data").unwrap();
        w.close().unwrap();

        // Readers can now get the data even after the writer closed.
        let mut r = backend.new_reader("input").unwrap();
        let mut buf = [0u8; 64];
        let n = r.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"test data");
        assert_eq!(r.read(&mut buf).unwrap(), 0);
    });
}

#[test]
fn the_go_persistent_example_a_reader_joining_before_close_gets_the_buffered_messages() {
    common::within(common::BOUND, "buffered for a late reader", || {
        let backend = persistent();
        let mut w = backend.new_writer("data").unwrap();
        w.write_all(b"message 1").unwrap();
        w.write_all(b"message 2").unwrap();
        // Don't close yet.

        let mut r = backend.new_reader("data").unwrap();
        let mut buf = [0u8; 64];
        let n = r.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"message 1");
        let n = r.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"message 2");
        assert_nothing_more_yet(&mut r);
        w.close().unwrap();
        assert_eq!(r.read(&mut buf).unwrap(), 0);
    });
}

#[test]
fn the_go_event_fan_out_example_with_subscribers_that_join_after_the_broadcasts() {
    common::within(
        common::BOUND,
        "the_go_event_fan_out_example_with_subscribers_that_join_after_the_broadcasts",
        || {
            let backend = persistent();
            for i in 0..3 {
                // Creates the subscriber path; its reader is not needed yet.
                backend.new_reader(&format!("subscriber/{i}")).unwrap();
            }
            backend.new_reader("elsewhere").unwrap();
            let publisher = backend.clone();
            common::within(common::BOUND, "broadcast to logs", move || {
                for event in ["event 1", "event 2", "done"] {
                    assert_eq!(
                        publisher
                            .broadcast("subscriber/", event.as_bytes())
                            .unwrap(),
                        3
                    );
                }
            });

            let subscribers: Vec<_> = (0..3)
                .map(|i| {
                    let backend = backend.clone();
                    common::spawn("late subscriber", move || {
                        let mut r = backend.new_reader(&format!("subscriber/{i}")).unwrap();
                        let mut events = Vec::new();
                        while let Some(event) = recv_text(&mut r) {
                            if event == "done" {
                                break;
                            }
                            events.push(event);
                        }
                        r.close().unwrap();
                        events
                    })
                })
                .collect();
            for subscriber in subscribers {
                assert_eq!(subscriber.join(), ["event 1", "event 2"]);
            }
            let mut elsewhere = backend.new_reader("elsewhere").unwrap();
            common::within(common::BOUND, "outside the prefix", move || {
                assert_nothing_more_yet(&mut elsewhere)
            });
        },
    );
}

#[test]
fn a_late_reader_sees_each_message_once_while_the_writer_is_still_open() {
    common::within(common::BOUND, "no duplicates, writer open", || {
        let backend = persistent();
        let mut writer = backend.new_writer("log").unwrap();
        writer.write_all(b"a").unwrap();
        writer.write_all(b"b").unwrap();

        let mut reader = backend.new_reader("log").unwrap();
        assert_eq!(recv_text(&mut reader).unwrap(), "a");
        assert_eq!(recv_text(&mut reader).unwrap(), "b");
        assert_nothing_more_yet(&mut reader);

        writer.write_all(b"c").unwrap();
        assert_eq!(recv_text(&mut reader).unwrap(), "c");
        assert_nothing_more_yet(&mut reader);
        writer.close().unwrap();
        assert_eq!(recv_text(&mut reader), None);
    });
}

#[test]
fn a_late_reader_sees_each_message_once_after_the_writer_closed() {
    common::within(common::BOUND, "no duplicates, writer closed", || {
        let backend = persistent();
        let mut writer = backend.new_writer("log").unwrap();
        for message in ["a", "b", "c"] {
            writer.write_all(message.as_bytes()).unwrap();
        }
        writer.close().unwrap();

        for _ in 0..3 {
            let mut reader = backend.new_reader("log").unwrap();
            assert_eq!(
                common::read_each(&mut reader).unwrap(),
                common::owned(&["a", "b", "c"])
            );
            assert_eq!(reader.read(&mut [0u8; 8]).unwrap(), 0, "the end is final");
        }
    });
}

#[test]
fn replay_keeps_message_boundaries_one_message_per_read() {
    common::within(common::BOUND, "boundaries on replay", || {
        let backend = persistent();
        let mut writer = backend.new_writer("log").unwrap();
        let written: Vec<Vec<u8>> = (1..=20).map(|n| vec![b'x'; n]).collect();
        for message in &written {
            writer.write_all(message).unwrap();
        }
        // Replay while the writer is open, then after it closed.
        let mut early = backend.new_reader("log").unwrap();
        let mut buf = vec![0u8; 4096];
        for message in &written {
            assert_eq!(early.read(&mut buf).unwrap(), message.len());
        }
        writer.close().unwrap();
        let mut late = backend.new_reader("log").unwrap();
        assert_eq!(common::read_each(&mut late).unwrap(), written);
        assert_eq!(early.read(&mut buf).unwrap(), 0);
    });
}

#[test]
fn a_thousand_writes_with_no_reader_do_not_block_whatever_the_buffer_size() {
    common::within(
        common::BOUND,
        "a_thousand_writes_with_no_reader_do_not_block_whatever_the_buffer_size",
        || {
            for buffer_size in [0, 1, 100] {
                let backend = ChannelBackend::builder()
                    .buffer_size(buffer_size)
                    .persistent(true)
                    .build();
                let writing = backend.clone();
                common::within(common::BOUND, "a thousand writes", move || {
                    let mut writer = writing.new_writer("log").unwrap();
                    for i in 0..1_000 {
                        writer.write_all(format!("{i}").as_bytes()).unwrap();
                    }
                });
                let mut reader = backend.new_reader("log").unwrap();
                let got = common::within(common::BOUND, "read them back", move || {
                    common::read_each(&mut reader).unwrap()
                });
                let expected: Vec<Vec<u8>> =
                    (0..1_000).map(|i| format!("{i}").into_bytes()).collect();
                assert_eq!(got, expected, "buffer_size {buffer_size}");
            }
        },
    );
}

#[test]
fn a_hundred_late_readers_each_read_the_whole_log() {
    common::within(
        common::BOUND,
        "a_hundred_late_readers_each_read_the_whole_log",
        || {
            const READERS: usize = 100;
            const HALF: usize = 100;
            let backend = persistent();
            let mut writer = backend.new_writer("log").unwrap();
            for i in 0..HALF {
                writer.write_all(format!("{i}").as_bytes()).unwrap();
            }

            // Every reader joins after the first half was written; four threads
            // read them while the second half is being written.
            let readers: Vec<Reader> = (0..READERS)
                .map(|_| backend.new_reader("log").unwrap())
                .collect();
            let mut groups: Vec<Vec<Reader>> = (0..4).map(|_| Vec::new()).collect();
            for (i, reader) in readers.into_iter().enumerate() {
                groups[i % 4].push(reader);
            }
            let threads: Vec<_> = groups
                .into_iter()
                .map(|group| {
                    common::spawn("late readers", move || {
                        group
                            .into_iter()
                            .map(|mut reader| common::read_each(&mut reader).unwrap())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for i in HALF..2 * HALF {
                writer.write_all(format!("{i}").as_bytes()).unwrap();
            }
            writer.close().unwrap();

            let expected: Vec<Vec<u8>> =
                (0..2 * HALF).map(|i| format!("{i}").into_bytes()).collect();
            let mut count = 0;
            for thread in threads {
                for got in thread.join() {
                    assert_eq!(got, expected);
                    count += 1;
                }
            }
            assert_eq!(count, READERS);
        },
    );
}

#[test]
fn the_log_holds_each_message_once_however_many_readers_there_are() {
    common::within(common::BOUND, "shared bytes", || {
        let backend = persistent();
        let mut writer = backend.new_writer("log").unwrap();
        writer.write_all(&[42u8; 1024]).unwrap();
        let mut first = backend.new_reader("log").unwrap();
        let mut second = backend.new_reader("log").unwrap();
        let a = first.recv().unwrap().unwrap();
        let b = second.recv().unwrap().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_ptr(), b.as_ptr(), "both readers see the same bytes");
    });
}

#[test]
fn a_write_after_delete_fails_and_stores_nothing() {
    common::within(common::BOUND, "write after delete", || {
        let backend = persistent();
        let mut writer = backend.new_writer("log").unwrap();
        let mut reader = backend.new_reader("log").unwrap();
        writer.write_all(b"kept").unwrap();
        backend.delete("log").unwrap();

        let err = common::io_failure(writer.write(b"refused"), ErrorKind::BrokenPipe);
        assert_eq!(err, Error::PathDeleted { path: "log".into() });
        assert_eq!(
            common::read_each(&mut reader).unwrap(),
            common::owned(&["kept"])
        );
        // The name is fresh, and holds nothing of either write.
        let mut fresh = backend.new_reader("log").unwrap();
        assert_nothing_more_yet(&mut fresh);
    });
}

#[test]
fn a_write_after_backend_close_fails_and_stores_nothing() {
    common::within(common::BOUND, "write after close", || {
        let backend = persistent();
        let mut writer = backend.new_writer("log").unwrap();
        let mut reader = backend.new_reader("log").unwrap();
        writer.write_all(b"kept").unwrap();
        backend.close().unwrap();

        let err = common::io_failure(writer.write(b"refused"), ErrorKind::BrokenPipe);
        assert_eq!(err, Error::BackendClosed);
        assert_eq!(
            common::read_each(&mut reader).unwrap(),
            common::owned(&["kept"])
        );
    });
}

#[test]
fn delete_ends_a_log_its_readers_read_the_rest_then_the_end() {
    common::within(common::BOUND, "delete a log", || {
        let backend = persistent();
        let _writer_still_open = {
            let mut writer = backend.new_writer("log").unwrap();
            writer.write_all(b"one").unwrap();
            writer.write_all(b"two").unwrap();
            writer
        };
        let mut partly_read = backend.new_reader("log").unwrap();
        assert_eq!(recv_text(&mut partly_read).unwrap(), "one");
        let mut unread = backend.new_reader("log").unwrap();
        backend.delete("log").unwrap();

        assert_eq!(
            common::read_each(&mut partly_read).unwrap(),
            common::owned(&["two"])
        );
        assert_eq!(
            common::read_each(&mut unread).unwrap(),
            common::owned(&["one", "two"])
        );
    });
}

#[test]
fn backend_close_ends_every_log_its_readers_read_the_rest_then_the_end() {
    common::within(common::BOUND, "close ends logs", || {
        let backend = persistent();
        let mut readers = Vec::new();
        let mut writers = Vec::new();
        for name in ["a", "b"] {
            let mut writer = backend.new_writer(name).unwrap();
            writer.write_all(name.as_bytes()).unwrap();
            writers.push(writer);
            readers.push(backend.new_reader(name).unwrap());
        }
        backend.close().unwrap();
        for (mut reader, name) in readers.into_iter().zip(["a", "b"]) {
            assert_eq!(
                common::read_each(&mut reader).unwrap(),
                common::owned(&[name])
            );
        }
    });
}

/// A reader that has read everything so far, blocked in a thread waiting
/// for more; returns what it reads until the end of stream.
fn blocked_reader(backend: &ChannelBackend) -> common::Bounded<Vec<Vec<u8>>> {
    let mut reader = backend.new_reader("log").unwrap();
    assert_eq!(recv_text(&mut reader).unwrap(), "first");
    let blocked = common::spawn_started("waiting reader", move || {
        common::read_each(&mut reader).unwrap()
    });
    assert!(
        blocked.is_blocked_after(SHORT),
        "a reader of an open log returned"
    );
    blocked
}

fn log_with_one_message(backend: &ChannelBackend) -> chanio::Writer {
    let mut writer = backend.new_writer("log").unwrap();
    writer.write_all(b"first").unwrap();
    writer
}

#[test]
fn a_reader_waiting_for_more_is_woken_by_a_new_write() {
    common::within(
        common::BOUND,
        "a_reader_waiting_for_more_is_woken_by_a_new_write",
        || {
            let backend = persistent();
            let mut writer = log_with_one_message(&backend);
            let mut waiting = backend.new_reader("log").unwrap();
            assert_eq!(recv_text(&mut waiting).unwrap(), "first");
            let blocked = common::spawn_started("waiting reader", move || recv_text(&mut waiting));
            assert!(blocked.is_blocked_after(SHORT));
            writer.write_all(b"second").unwrap();
            assert_eq!(blocked.join().unwrap(), "second");
        },
    );
}

#[test]
fn a_reader_waiting_for_more_is_woken_by_the_end_of_the_stream() {
    common::within(
        common::BOUND,
        "a_reader_waiting_for_more_is_woken_by_the_end_of_the_stream",
        || {
            let backend = persistent();
            let writer = log_with_one_message(&backend);
            let blocked = blocked_reader(&backend);
            drop(writer);
            assert!(blocked.join().is_empty());
        },
    );
}

#[test]
fn a_reader_waiting_for_more_is_woken_by_delete() {
    common::within(
        common::BOUND,
        "a_reader_waiting_for_more_is_woken_by_delete",
        || {
            let backend = persistent();
            let _writer = log_with_one_message(&backend);
            let blocked = blocked_reader(&backend);
            backend.delete("log").unwrap();
            assert!(blocked.join().is_empty());
        },
    );
}

#[test]
fn a_reader_waiting_for_more_is_woken_by_backend_close() {
    common::within(
        common::BOUND,
        "a_reader_waiting_for_more_is_woken_by_backend_close",
        || {
            let backend = persistent();
            let _writer = log_with_one_message(&backend);
            let blocked = blocked_reader(&backend);
            backend.close().unwrap();
            assert!(blocked.join().is_empty());
        },
    );
}

#[test]
fn a_read_timeout_on_a_log_returns_timed_out_and_consumes_nothing() {
    common::within(common::BOUND, "log read timeout", || {
        let backend = persistent();
        let mut writer = backend.new_writer("log").unwrap();
        let mut reader = backend.new_reader("log").unwrap();
        reader.set_read_timeout(Some(SHORT));
        let err = common::io_failure(reader.read(&mut [0u8; 8]), ErrorKind::TimedOut);
        assert_eq!(err, Error::TimedOut { path: "log".into() });
        writer.write_all(b"after").unwrap();
        assert_eq!(recv_text(&mut reader).unwrap(), "after");
        assert!(matches!(reader.recv(), Err(Error::TimedOut { .. })));
        writer.close().unwrap();
        assert_eq!(recv_text(&mut reader), None);
    });
}

#[test]
fn two_writers_append_to_one_log_that_ends_when_both_have_closed() {
    common::within(common::BOUND, "two writers on a log", || {
        let backend = persistent();
        let mut first = backend.new_writer("log").unwrap();
        let mut second = first.try_clone().unwrap();
        first.write_all(b"1").unwrap();
        second.write_all(b"2").unwrap();
        first.close().unwrap();
        second.write_all(b"3").unwrap();

        let mut reader = backend.new_reader("log").unwrap();
        for expected in ["1", "2", "3"] {
            assert_eq!(recv_text(&mut reader).unwrap(), expected);
        }
        assert_nothing_more_yet(&mut reader);
        drop(second);
        assert_eq!(recv_text(&mut reader), None);
        assert_eq!(
            backend.new_writer("log").unwrap_err(),
            Error::StreamEnded { path: "log".into() }
        );
    });
}

#[test]
fn a_reader_closed_after_peeking_changes_nothing_for_the_other_readers() {
    common::within(common::BOUND, "peek in a log", || {
        let backend = persistent();
        let mut writer = backend.new_writer("log").unwrap();
        let mut peeker = backend.new_reader("log").unwrap();
        let mut other = backend.new_reader("log").unwrap();
        writer.write_all(b"m1").unwrap();
        writer.write_all(b"m2").unwrap();
        assert_eq!(std::io::BufRead::fill_buf(&mut peeker).unwrap(), b"m1");
        peeker.close().unwrap();
        let dropped = {
            let mut reader = backend.new_reader("log").unwrap();
            assert_eq!(std::io::BufRead::fill_buf(&mut reader).unwrap(), b"m1");
            reader
        };
        drop(dropped);
        writer.close().unwrap();
        let expected = common::owned(&["m1", "m2"]);
        assert_eq!(common::read_each(&mut other).unwrap(), expected);
        let mut late = backend.new_reader("log").unwrap();
        assert_eq!(
            common::read_each(&mut late).unwrap(),
            expected,
            "no message twice"
        );
    });
}
