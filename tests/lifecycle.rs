//! Lifecycle: when a stream ends, what `delete` and backend `close` do to
//! handles and blocked threads, closing twice, and the path registry
//! (`list`, `exists`, `channel_count`).
mod common;

use std::io::{BufRead, ErrorKind, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use chanio::{ChannelBackend, Error};

const SHORT: Duration = Duration::from_millis(20);
/// How long a thread is given to reach its blocking call in the many-round
/// wake-up tests; the call must still be blocked afterwards.
const GLANCE: Duration = Duration::from_millis(1);

/// Asserts that the stream of `reader` has not ended: a read with a short
/// timeout times out instead of returning end of stream.
fn assert_still_open(reader: &mut chanio::Reader) {
    let previous = reader.read_timeout();
    reader.set_read_timeout(Some(SHORT));
    let err = common::io_failure(reader.read(&mut [0u8; 64]), ErrorKind::TimedOut);
    assert!(matches!(err, Error::TimedOut { .. }), "{err:?}");
    reader.set_read_timeout(previous);
}

#[test]
fn two_writers_end_the_stream_only_after_both_close() {
    common::within(common::BOUND, "two writers", || {
        let backend = ChannelBackend::new();
        let mut first = backend.new_writer("shared").unwrap();
        let mut second = backend.new_writer("shared").unwrap();
        let mut reader = backend.new_reader("shared").unwrap();

        first.write_all(b"from first").unwrap();
        first.close().unwrap();
        assert_eq!(reader.recv().unwrap().unwrap(), b"from first");
        assert_still_open(&mut reader);
        // Not ended: a third writer may still join, and broadcasts count it.
        let third = backend.new_writer("shared").unwrap();
        drop(third);
        assert_eq!(backend.broadcast("shared", b"broadcast").unwrap(), 1);
        assert_eq!(reader.recv().unwrap().unwrap(), b"broadcast");

        second.write_all(b"from second").unwrap();
        second.close().unwrap();
        assert_eq!(reader.recv().unwrap().unwrap(), b"from second");
        assert_eq!(reader.recv().unwrap(), None);
    });
}

#[test]
fn a_writer_from_try_clone_keeps_the_stream_open_until_it_closes_too() {
    common::within(common::BOUND, "try_clone", || {
        let backend = ChannelBackend::new();
        let mut original = backend.new_writer("cloned").unwrap();
        let mut clone = original.try_clone().unwrap();
        assert_eq!(clone.path(), "cloned");
        let mut reader = backend.new_reader("cloned").unwrap();

        original.close().unwrap();
        assert_still_open(&mut reader);
        assert_eq!(backend.broadcast("cloned", b"broadcast").unwrap(), 1);
        assert_eq!(reader.recv().unwrap().unwrap(), b"broadcast");
        clone.write_all(b"from the clone").unwrap();
        clone.close().unwrap();
        assert_eq!(
            common::read_each(&mut reader).unwrap(),
            common::owned(&["from the clone"])
        );
    });
}

#[test]
fn a_writer_dropped_without_close_counts_as_closed() {
    common::within(common::BOUND, "drop", || {
        let backend = ChannelBackend::new();
        let kept = backend.new_writer("dropped").unwrap();
        let mut dropped = kept.try_clone().unwrap();
        let mut reader = backend.new_reader("dropped").unwrap();
        dropped.write_all(b"before the drop").unwrap();
        drop(dropped);
        assert_eq!(reader.recv().unwrap().unwrap(), b"before the drop");
        assert_still_open(&mut reader);
        assert_eq!(backend.broadcast("dropped", b"still open").unwrap(), 1);
        assert_eq!(reader.recv().unwrap().unwrap(), b"still open");
        drop(kept);
        assert_eq!(reader.recv().unwrap(), None);
        // Ended for good: no new writer either.
        assert_eq!(
            backend.new_writer("dropped").unwrap_err(),
            Error::StreamEnded {
                path: "dropped".into()
            }
        );
    });
}

#[test]
fn a_reader_opened_before_any_writer_waits_instead_of_seeing_the_end() {
    common::within(
        common::BOUND,
        "a_reader_opened_before_any_writer_waits_instead_of_seeing_the_end",
        || {
            for backend in [
                ChannelBackend::new(),
                ChannelBackend::builder().persistent(true).build(),
            ] {
                let mut reader = backend.new_reader("early").unwrap();
                let waiting = common::spawn_started("early reader", move || {
                    common::read_each(&mut reader).unwrap()
                });
                assert!(
                    waiting.is_blocked_after(SHORT),
                    "a reader with no writer yet saw end of stream"
                );
                let mut writer = backend.new_writer("early").unwrap();
                writer.write_all(b"finally").unwrap();
                drop(writer);
                assert_eq!(waiting.join(), common::owned(&["finally"]));
            }
        },
    );
}

#[test]
fn a_reader_opened_after_the_stream_ended_reads_what_is_left_then_the_end() {
    common::within(common::BOUND, "late reader", || {
        let backend = ChannelBackend::new();
        let mut writer = backend.new_writer("ended").unwrap();
        writer.write_all(b"left over").unwrap();
        writer.close().unwrap();
        let mut reader = backend.new_reader("ended").unwrap();
        assert_eq!(
            common::read_each(&mut reader).unwrap(),
            common::owned(&["left over"])
        );
    });
}

#[test]
fn new_writer_on_an_ended_stream_is_stream_ended_and_after_delete_the_name_is_fresh() {
    common::within(common::BOUND, "fresh name", || {
        for backend in [
            ChannelBackend::new(),
            ChannelBackend::builder().persistent(true).build(),
        ] {
            let mut writer = backend.new_writer("job").unwrap();
            let mut old_reader = backend.new_reader("job").unwrap();
            writer.write_all(b"old stream").unwrap();
            writer.close().unwrap();
            assert_eq!(
                backend.new_writer("job").unwrap_err(),
                Error::StreamEnded { path: "job".into() }
            );

            backend.delete("job").unwrap();
            let mut writer = backend.new_writer("job").unwrap();
            let mut new_reader = backend.new_reader("job").unwrap();
            writer.write_all(b"new stream").unwrap();
            writer.close().unwrap();

            assert_eq!(
                common::read_each(&mut new_reader).unwrap(),
                common::owned(&["new stream"]),
                "the fresh stream holds nothing of the old one"
            );
            assert_eq!(
                common::read_each(&mut old_reader).unwrap(),
                common::owned(&["old stream"]),
                "an old reader stays with the old stream"
            );
        }
    });
}

#[test]
fn delete_ends_the_stream_readers_drain_what_was_queued_then_see_the_end() {
    common::within(common::BOUND, "delete", || {
        let backend = ChannelBackend::new();
        let mut writer = backend.new_writer("doomed").unwrap();
        let mut reader = backend.new_reader("doomed").unwrap();
        writer.write_all(b"one").unwrap();
        writer.write_all(b"two").unwrap();
        backend.delete("doomed").unwrap();

        assert!(!backend.exists("doomed").unwrap());
        let err = common::io_failure(writer.write(b"three"), ErrorKind::BrokenPipe);
        assert_eq!(
            err,
            Error::PathDeleted {
                path: "doomed".into()
            }
        );
        assert_eq!(
            common::read_each(&mut reader).unwrap(),
            common::owned(&["one", "two"])
        );
        assert!(matches!(writer.try_clone(), Err(Error::PathDeleted { .. })));
    });
}

#[test]
fn queued_messages_with_no_reader_are_dropped_with_the_path() {
    common::within(common::BOUND, "dropped with the path", || {
        let backend = ChannelBackend::new();
        let mut writer = backend.new_writer("orphan").unwrap();
        writer.write_all(b"nobody reads this").unwrap();
        backend.delete("orphan").unwrap();
        let mut reader = backend.new_reader("orphan").unwrap();
        assert_still_open(&mut reader);
    });
}

#[test]
fn deleting_a_missing_path_or_deleting_twice_is_ok() {
    common::within(
        common::BOUND,
        "deleting_a_missing_path_or_deleting_twice_is_ok",
        || {
            let backend = ChannelBackend::new();
            backend.delete("never created").unwrap();
            backend.new_reader("once").unwrap();
            backend.delete("once").unwrap();
            backend.delete("once").unwrap();
            assert_eq!(backend.channel_count(), 0);
        },
    );
}

#[test]
fn list_is_sorted_and_filtered_by_prefix_after_creates_and_deletes() {
    common::within(
        common::BOUND,
        "list_is_sorted_and_filtered_by_prefix_after_creates_and_deletes",
        || {
            let backend = ChannelBackend::new();
            for name in ["jobs/b", "logs/x", "jobs/a", "jobs", "jobsX", "a"] {
                backend.new_reader(name).unwrap();
            }
            let _writer = backend.new_writer("jobs/c").unwrap();
            assert_eq!(
                backend.list("").unwrap(),
                ["a", "jobs", "jobs/a", "jobs/b", "jobs/c", "jobsX", "logs/x"]
            );
            assert_eq!(
                backend.list("jobs/").unwrap(),
                ["jobs/a", "jobs/b", "jobs/c"]
            );
            assert_eq!(
                backend.list("jobs").unwrap(),
                ["jobs", "jobs/a", "jobs/b", "jobs/c", "jobsX"]
            );
            assert_eq!(backend.list("jobs/a").unwrap(), ["jobs/a"]);
            assert!(backend.list("zzz").unwrap().is_empty());

            backend.delete("jobs/b").unwrap();
            backend.delete("a").unwrap();
            assert_eq!(
                backend.list("").unwrap(),
                ["jobs", "jobs/a", "jobs/c", "jobsX", "logs/x"]
            );
            assert_eq!(backend.list("jobs/").unwrap(), ["jobs/a", "jobs/c"]);
        },
    );
}

#[test]
fn exists_follows_creates_and_deletes() {
    common::within(common::BOUND, "exists_follows_creates_and_deletes", || {
        let backend = ChannelBackend::new();
        assert!(!backend.exists("p").unwrap());
        let reader = backend.new_reader("p").unwrap();
        assert!(backend.exists("p").unwrap());
        drop(reader);
        assert!(backend.exists("p").unwrap(), "a path outlives its handles");
        assert!(
            !backend.exists("p/child").unwrap(),
            "exists is not by prefix"
        );
        backend.delete("p").unwrap();
        assert!(!backend.exists("p").unwrap());
        let mut writer = backend.new_writer("p").unwrap();
        assert!(backend.exists("p").unwrap());
        writer.close().unwrap();
        assert!(
            backend.exists("p").unwrap(),
            "a path whose stream ended exists until deleted"
        );
        assert_eq!(backend.channel_count(), 1);
    });
}

#[test]
fn channel_count_is_the_number_of_paths_that_exist() {
    common::within(
        common::BOUND,
        "channel_count_is_the_number_of_paths_that_exist",
        || {
            let backend = ChannelBackend::new();
            assert_eq!(backend.channel_count(), 0);
            let _r = backend.new_reader("a").unwrap();
            let _w = backend.new_writer("b").unwrap();
            let _second = backend.new_writer("b").unwrap();
            let _r2 = backend.new_reader("b").unwrap();
            assert_eq!(
                backend.channel_count(),
                2,
                "two handles on one path count once"
            );
            backend.new_reader("c").unwrap();
            assert_eq!(backend.channel_count(), 3);
            backend.delete("a").unwrap();
            assert_eq!(backend.channel_count(), 2);
            assert_eq!(backend.clone().channel_count(), 2, "clones share the paths");
        },
    );
}

#[test]
fn an_empty_path_is_invalid_for_every_operation_that_takes_a_path() {
    common::within(
        common::BOUND,
        "an_empty_path_is_invalid_for_every_operation_that_takes_a_path",
        || {
            for backend in [
                ChannelBackend::new(),
                ChannelBackend::builder().persistent(true).build(),
            ] {
                let invalid = Error::InvalidPath {
                    path: String::new(),
                };
                assert_eq!(backend.new_writer("").unwrap_err(), invalid);
                assert_eq!(backend.new_reader("").unwrap_err(), invalid);
                assert_eq!(backend.exists("").unwrap_err(), invalid);
                assert_eq!(backend.delete("").unwrap_err(), invalid);
                assert_eq!(backend.channel_count(), 0, "nothing was created");
            }
        },
    );
}

#[test]
fn writing_to_a_closed_writer_is_broken_pipe_carrying_writer_closed() {
    common::within(
        common::BOUND,
        "writing_to_a_closed_writer_is_broken_pipe_carrying_writer_closed",
        || {
            let backend = ChannelBackend::new();
            let mut writer = backend.new_writer("w").unwrap();
            let _keeps_the_stream_open = writer.try_clone().unwrap();
            writer.close().unwrap();
            assert!(writer.is_closed());
            let closed = Error::WriterClosed { path: "w".into() };
            assert_eq!(
                common::io_failure(writer.write(b"late"), ErrorKind::BrokenPipe),
                closed
            );
            assert_eq!(
                common::io_failure(writer.write_all(b"late"), ErrorKind::BrokenPipe),
                closed
            );
            assert_eq!(
                common::io_failure(writeln!(writer, "late {}", 1), ErrorKind::BrokenPipe),
                closed
            );
        },
    );
}

#[test]
fn reading_from_a_closed_reader_is_kind_other_carrying_reader_closed() {
    common::within(
        common::BOUND,
        "reading_from_a_closed_reader_is_kind_other_carrying_reader_closed",
        || {
            let backend = ChannelBackend::new();
            let mut writer = backend.new_writer("r").unwrap();
            let mut reader = backend.new_reader("r").unwrap();
            writer.write_all(b"unread").unwrap();
            reader.close().unwrap();
            assert!(reader.is_closed());
            let closed = Error::ReaderClosed { path: "r".into() };
            assert_eq!(
                common::io_failure(reader.read(&mut [0u8; 8]), ErrorKind::Other),
                closed
            );
            assert_eq!(
                common::io_failure(reader.fill_buf().map(<[u8]>::to_vec), ErrorKind::Other),
                closed
            );
            assert_eq!(reader.recv().unwrap_err(), closed);
        },
    );
}

#[test]
fn closing_a_writer_a_reader_or_the_backend_twice_is_ok() {
    common::within(
        common::BOUND,
        "closing_a_writer_a_reader_or_the_backend_twice_is_ok",
        || {
            let backend = ChannelBackend::new();
            let mut writer = backend.new_writer("twice").unwrap();
            let mut reader = backend.new_reader("twice").unwrap();
            writer.close().unwrap();
            writer.close().unwrap();
            reader.close().unwrap();
            reader.close().unwrap();
            backend.close().unwrap();
            backend.close().unwrap();
            backend.clone().close().unwrap();
            // Handles closed after their backend close fine too.
            let other = ChannelBackend::new();
            let mut writer = other.new_writer("late").unwrap();
            let mut reader = other.new_reader("late").unwrap();
            other.close().unwrap();
            writer.close().unwrap();
            writer.close().unwrap();
            reader.close().unwrap();
            reader.close().unwrap();
        },
    );
}

#[test]
fn after_backend_close_every_operation_is_backend_closed_and_no_path_is_counted() {
    common::within(common::BOUND, "closed backend", || {
        for backend in [
            ChannelBackend::new(),
            ChannelBackend::builder().persistent(true).build(),
        ] {
            let mut writer = backend.new_writer("open/w").unwrap();
            let mut reader = backend.new_reader("open/w").unwrap();
            backend.new_reader("open/r").unwrap();
            writer.write_all(b"queued").unwrap();
            assert_eq!(backend.channel_count(), 2);

            let clone = backend.clone();
            clone.close().unwrap();
            assert!(backend.is_closed(), "clones share the closed state");

            let closed = Error::BackendClosed;
            assert_eq!(backend.new_writer("open/w").unwrap_err(), closed);
            assert_eq!(backend.new_writer("new").unwrap_err(), closed);
            assert_eq!(backend.new_reader("open/r").unwrap_err(), closed);
            assert_eq!(backend.new_reader("new").unwrap_err(), closed);
            assert_eq!(backend.exists("open/w").unwrap_err(), closed);
            assert_eq!(backend.delete("open/w").unwrap_err(), closed);
            assert_eq!(backend.list("").unwrap_err(), closed);
            assert_eq!(backend.list("open/").unwrap_err(), closed);
            assert_eq!(backend.broadcast("", b"x").unwrap_err(), closed);
            assert_eq!(backend.try_broadcast("", b"x").unwrap_err(), closed);
            assert_eq!(backend.broadcaster("open/").send(b"x").unwrap_err(), closed);
            assert_eq!(backend.channel_count(), 0);

            // Handles from before: writes fail, reads drain then end.
            assert_eq!(
                common::io_failure(writer.write(b"late"), ErrorKind::BrokenPipe),
                closed
            );
            assert!(matches!(writer.try_clone(), Err(Error::BackendClosed)));
            assert_eq!(
                common::read_each(&mut reader).unwrap(),
                common::owned(&["queued"])
            );
        }
    });
}

#[test]
fn a_writer_blocked_on_a_full_queue_is_woken_by_delete_with_broken_pipe() {
    common::within(
        common::BOUND,
        "a_writer_blocked_on_a_full_queue_is_woken_by_delete_with_broken_pipe",
        || {
            let backend = ChannelBackend::builder().buffer_size(1).build();
            for round in 0..300 {
                let mut writer = backend.new_writer("full").unwrap();
                writer.write_all(b"fills the queue").unwrap();
                let blocked =
                    common::spawn_started("blocked write", move || writer.write(b"waits"));
                assert!(
                    blocked.is_blocked_after(GLANCE),
                    "round {round}: a write to a full queue returned"
                );
                backend.delete("full").unwrap();
                let err = common::io_failure(blocked.join(), ErrorKind::BrokenPipe);
                assert_eq!(
                    err,
                    Error::PathDeleted {
                        path: "full".into()
                    },
                    "round {round}"
                );
            }
        },
    );
}

#[test]
fn a_writer_blocked_on_a_full_queue_is_woken_by_backend_close_with_broken_pipe() {
    common::within(
        common::BOUND,
        "a_writer_blocked_on_a_full_queue_is_woken_by_backend_close_with_broken_pipe",
        || {
            for round in 0..300 {
                let backend = ChannelBackend::builder().buffer_size(1).build();
                let mut writer = backend.new_writer("full").unwrap();
                writer.write_all(b"fills the queue").unwrap();
                let blocked =
                    common::spawn_started("blocked write", move || writer.write(b"waits"));
                assert!(
                    blocked.is_blocked_after(GLANCE),
                    "round {round}: a write to a full queue returned"
                );
                backend.close().unwrap();
                let err = common::io_failure(blocked.join(), ErrorKind::BrokenPipe);
                assert_eq!(err, Error::BackendClosed, "round {round}");
            }
        },
    );
}

#[test]
fn a_hand_off_writer_with_no_reader_is_woken_by_delete_and_by_close() {
    common::within(
        common::BOUND,
        "a_hand_off_writer_with_no_reader_is_woken_by_delete_and_by_close",
        || {
            for round in 0..100 {
                let backend = ChannelBackend::builder().buffer_size(0).build();
                let mut writer = backend.new_writer("handoff").unwrap();
                let deleted =
                    common::spawn_started("blocked hand-off", move || writer.write(b"waits"));
                assert!(deleted.is_blocked_after(GLANCE), "round {round}");
                backend.delete("handoff").unwrap();
                assert_eq!(
                    common::io_failure(deleted.join(), ErrorKind::BrokenPipe),
                    Error::PathDeleted {
                        path: "handoff".into()
                    }
                );

                let mut writer = backend.new_writer("handoff").unwrap();
                let closed =
                    common::spawn_started("blocked hand-off", move || writer.write(b"waits"));
                assert!(closed.is_blocked_after(GLANCE), "round {round}");
                backend.close().unwrap();
                assert_eq!(
                    common::io_failure(closed.join(), ErrorKind::BrokenPipe),
                    Error::BackendClosed
                );
            }
        },
    );
}

#[test]
fn a_blocked_reader_is_woken_by_delete_after_draining_the_queue() {
    common::within(
        common::BOUND,
        "a_blocked_reader_is_woken_by_delete_after_draining_the_queue",
        || {
            let backend = ChannelBackend::new();
            for round in 0..200 {
                let mut writer = backend.new_writer("quiet").unwrap();
                let mut reader = backend.new_reader("quiet").unwrap();
                writer.write_all(b"one").unwrap();
                writer.write_all(b"two").unwrap();
                let blocked = common::spawn_started("blocked read", move || {
                    common::read_each(&mut reader).unwrap()
                });
                assert!(
                    blocked.is_blocked_after(GLANCE),
                    "round {round}: a reader saw the end of a stream whose writer is open"
                );
                backend.delete("quiet").unwrap();
                assert_eq!(
                    blocked.join(),
                    common::owned(&["one", "two"]),
                    "round {round}"
                );
                drop(writer);
            }
        },
    );
}

#[test]
fn a_blocked_reader_is_woken_by_backend_close_after_draining_the_queue() {
    common::within(
        common::BOUND,
        "a_blocked_reader_is_woken_by_backend_close_after_draining_the_queue",
        || {
            for round in 0..200 {
                let backend = ChannelBackend::new();
                let _writer = backend.new_writer("quiet").unwrap();
                let mut reader = backend.new_reader("quiet").unwrap();
                let mut other = backend.new_writer("quiet").unwrap();
                other.write_all(b"queued").unwrap();
                let blocked = common::spawn_started("blocked read", move || {
                    common::read_each(&mut reader).unwrap()
                });
                assert!(
                    blocked.is_blocked_after(GLANCE),
                    "round {round}: a reader saw the end of a stream whose writers are open"
                );
                backend.close().unwrap();
                assert_eq!(blocked.join(), common::owned(&["queued"]), "round {round}");
            }
        },
    );
}

#[test]
fn backend_close_wakes_every_blocked_writer_reader_and_broadcast_at_once() {
    common::within(
        common::BOUND,
        "backend_close_wakes_every_blocked_writer_reader_and_broadcast_at_once",
        || {
            let backend = ChannelBackend::builder().buffer_size(1).build();
            let mut writer = backend.new_writer("full/w").unwrap();
            writer.write_all(b"fills").unwrap();
            let mut filler = backend.new_writer("full/b").unwrap();
            filler.write_all(b"fills").unwrap();
            let mut reader = backend.new_reader("empty").unwrap();
            let _keeps_empty_open = backend.new_writer("empty").unwrap();

            let blocked_write = common::spawn_started("write", move || writer.write(b"waits"));
            let blocked_read = common::spawn_started("read", move || reader.read(&mut [0u8; 8]));
            let broadcaster = backend.clone();
            let blocked_broadcast = common::spawn_started("broadcast", move || {
                broadcaster.broadcast("full/b", b"waits")
            });
            assert!(blocked_write.is_blocked_after(SHORT));
            assert!(blocked_read.is_blocked_after(Duration::ZERO));
            assert!(blocked_broadcast.is_blocked_after(Duration::ZERO));

            backend.close().unwrap();
            assert_eq!(
                common::io_failure(blocked_write.join(), ErrorKind::BrokenPipe),
                Error::BackendClosed
            );
            assert_eq!(blocked_read.join().unwrap(), 0);
            assert_eq!(blocked_broadcast.join(), Err(Error::BackendClosed));
        },
    );
}

// ---------------------------------------------------------------------
// `close()` and `delete(path)` are final when they return, in every caller.
// ---------------------------------------------------------------------

/// How many paths a double-close round makes: cancelling them all takes a
/// while, so a second `close` that returns without waiting for the first
/// is caught in the act.
const MANY_PATHS: usize = 20_000;

/// What one racing `close` or `delete` caller found right after its call
/// returned, probing in order of speed: a `try_clone` of each of its
/// writers, a write through each, then a zero-timeout read of the path.
struct AfterReturn {
    writes: Vec<(String, std::io::Result<usize>)>,
    clones: Vec<(String, chanio::Result<chanio::Writer>)>,
    read: chanio::Result<Option<chanio::Message>>,
}

impl AfterReturn {
    fn probe(writers: &mut [chanio::Writer], reader: &mut chanio::Reader) -> AfterReturn {
        let clones = writers
            .iter()
            .map(|w| (w.path().to_owned(), w.try_clone()))
            .collect();
        let writes = writers
            .iter_mut()
            .map(|w| (w.path().to_owned(), w.write(b"late")))
            .collect();
        AfterReturn {
            writes,
            clones,
            read: drain_at_once(reader),
        }
    }
}

/// Reads `reader` with a zero timeout until it ends: messages queued before
/// are drained (at most a queue's worth, then it must end), a timeout means
/// the path is not cancelled.
fn drain_at_once(reader: &mut chanio::Reader) -> chanio::Result<Option<chanio::Message>> {
    for _ in 0..=chanio::DEFAULT_BUFFER_SIZE {
        match reader.recv() {
            Ok(Some(_)) => {}
            other => return other,
        }
    }
    reader.recv()
}

/// Checks what a racing caller found: every write failed with `BrokenPipe`
/// carrying `expected`, no writer could be cloned, and the path's reader
/// ended at once (the path was already cancelled).
fn assert_final(round: usize, who: &str, seen: AfterReturn, expected: &Error) {
    let mut problems = Vec::new();
    for (path, wrote) in seen.writes {
        let failed = matches!(&wrote, Err(err) if err.kind() == ErrorKind::BrokenPipe
            && common::inner(err) == Some(expected));
        if !failed {
            problems.push(format!(
                "a write to {path:?} gave {wrote:?} instead of BrokenPipe carrying {expected:?}"
            ));
        }
    }
    for (path, cloned) in seen.clones {
        if cloned.as_ref().err() != Some(expected) {
            problems.push(format!(
                "try_clone of a writer of {path:?} gave {cloned:?} instead of {expected:?}"
            ));
        }
    }
    if !matches!(seen.read, Ok(None)) {
        problems.push(format!(
            "a zero-timeout read of the path gave {:?} instead of end of stream \
             (the path was not cancelled yet)",
            seen.read
        ));
    }
    assert!(
        problems.is_empty(),
        "round {round}: after {who} returned Ok: {}",
        problems.join("; ")
    );
}

#[test]
fn a_second_close_racing_the_first_returns_only_once_every_path_is_cancelled() {
    let rounds = common::scale(20, 50);
    common::within(Duration::from_secs(120), "double close", move || {
        for round in 0..rounds {
            let backend = ChannelBackend::builder().buffer_size(1).build();
            let names: Vec<String> = (0..MANY_PATHS).map(|i| format!("p/{i:05}")).collect();
            let writers: Vec<chanio::Writer> = names
                .iter()
                .map(|name| backend.new_writer(name).unwrap())
                .collect();
            // Paths are cancelled in name order, so the last one goes last.
            let last = names[MANY_PATHS - 1].clone();
            let mut waiting = backend.new_reader(&last).unwrap();
            let blocked = common::spawn("reader blocked on the last path", move || waiting.recv());

            let start = Arc::new(Barrier::new(2));
            let closers: Vec<_> = (0..2)
                .map(|c| {
                    let backend = backend.clone();
                    let start = Arc::clone(&start);
                    let mut own: Vec<chanio::Writer> = [0, MANY_PATHS / 2, MANY_PATHS - 1]
                        .iter()
                        .map(|&i| writers[i].try_clone().unwrap())
                        .collect();
                    let mut reader = backend.new_reader(&last).unwrap();
                    reader.set_read_timeout(Some(Duration::ZERO));
                    common::spawn(&format!("closer {c}"), move || -> AfterReturn {
                        start.wait();
                        backend.close().unwrap();
                        assert!(backend.is_closed());
                        assert_eq!(backend.channel_count(), 0);
                        AfterReturn::probe(&mut own, &mut reader)
                    })
                })
                .collect();
            for (c, closer) in closers.into_iter().enumerate() {
                let seen = closer.join();
                assert_final(
                    round,
                    &format!("close() in closer {c}"),
                    seen,
                    &Error::BackendClosed,
                );
            }
            match blocked.join_within(Duration::from_secs(2)) {
                Ok(None) => {}
                other => panic!("round {round}: the blocked reader got {other:?}"),
            }
            drop(writers);
        }
    });
}

/// How many threads delete the same path at once in a double-delete round.
const DELETERS: usize = 2;

#[test]
fn a_second_delete_racing_the_first_returns_only_once_the_path_is_cancelled() {
    let rounds = common::scale(1_000, 10_000);
    common::within(Duration::from_secs(120), "double delete", move || {
        let backend = ChannelBackend::new();
        // Registry contention: other threads create and delete other paths
        // all along, so the deletes wait for the registry lock and are
        // preempted around it.
        let stop = Arc::new(AtomicBool::new(false));
        let churn: Vec<_> = (0..2)
            .map(|t| {
                let backend = backend.clone();
                let stop = Arc::clone(&stop);
                common::spawn(&format!("churn {t}"), move || {
                    let mut i = 0usize;
                    while !stop.load(Ordering::Relaxed) {
                        let name = format!("other/{t}/{}", i % 16);
                        drop(backend.new_reader(&name).unwrap());
                        backend.delete(&name).unwrap();
                        i += 1;
                    }
                })
            })
            .collect();
        let deleted = Error::PathDeleted { path: "d".into() };
        for round in 0..rounds {
            let writer = backend.new_writer("d").unwrap();
            // A writer writing all along and a reader draining: a delete
            // has to wait for a send in progress, which widens the race.
            let mut busy = writer.try_clone().unwrap();
            let writing = common::spawn("writer of d", move || {
                loop {
                    if let Err(err) = busy.write(b"busy") {
                        return err;
                    }
                }
            });
            let mut drainer = backend.new_reader("d").unwrap();
            let draining = common::spawn("reader of d", move || -> chanio::Result<()> {
                while drainer.recv()?.is_some() {}
                Ok(())
            });
            let start = Arc::new(Barrier::new(DELETERS));
            let deleters: Vec<_> = (0..DELETERS)
                .map(|c| {
                    let backend = backend.clone();
                    let start = Arc::clone(&start);
                    let mut own = [writer.try_clone().unwrap()];
                    let mut reader = backend.new_reader("d").unwrap();
                    reader.set_read_timeout(Some(Duration::ZERO));
                    common::spawn(&format!("deleter {c}"), move || -> AfterReturn {
                        start.wait();
                        backend.delete("d").unwrap();
                        AfterReturn::probe(&mut own, &mut reader)
                    })
                })
                .collect();
            for (c, deleter) in deleters.into_iter().enumerate() {
                let seen = deleter.join();
                assert_final(round, &format!("delete() in deleter {c}"), seen, &deleted);
            }
            let err = writing.join_within(Duration::from_secs(2));
            assert_eq!(err.kind(), ErrorKind::BrokenPipe, "round {round}: {err:?}");
            assert_eq!(common::inner(&err), Some(&deleted), "round {round}");
            let read = draining.join_within(Duration::from_secs(2));
            assert_eq!(read, Ok(()), "round {round}: the reader of d");
            drop(writer);
        }
        stop.store(true, Ordering::Relaxed);
        for thread in churn {
            thread.join();
        }
    });
}

/// A reader blocked since before a delete may have been woken for a
/// message another reader took first; it must still see the end, even if
/// that other reader then sits idle holding its reader. (A design that
/// blocked readers inside crossbeam's own `recv` hung here: the other
/// reader drained the queue and nobody was left to wake the blocked one.)
#[test]
fn a_blocked_reader_whose_wake_up_another_reader_used_still_sees_the_end_of_a_deleted_path() {
    let rounds = common::scale(200, 2_000);
    common::within(Duration::from_secs(120), "stolen wake-ups", move || {
        let backend = ChannelBackend::builder().buffer_size(1).build();
        let mut stolen = 0;
        for round in 0..rounds {
            let mut writer = backend.new_writer("d").unwrap();
            let mut blocked = backend.new_reader("d").unwrap();
            let mut idle = backend.new_reader("d").unwrap();
            idle.set_read_timeout(Some(Duration::ZERO));
            let waiting = common::spawn_started("blocked reader", move || {
                let mut got = 0;
                while blocked.recv()?.is_some() {
                    got += 1;
                }
                Ok::<_, Error>(got)
            });
            assert!(waiting.is_blocked_after(GLANCE));
            // The write wakes the blocked reader; the idle one takes the
            // message first if it can, then reads no more.
            writer.write_all(b"wake").unwrap();
            backend.delete("d").unwrap();
            let took = matches!(idle.recv(), Ok(Some(_)));
            match waiting.rx_within(Duration::from_secs(5)) {
                Ok(Ok(got)) => assert_eq!(got + usize::from(took), 1, "round {round}"),
                Ok(Err(err)) => panic!("round {round}: {err:?}"),
                Err(()) => panic!("round {round}: the blocked reader never saw the end"),
            }
            stolen += usize::from(took);
            drop(idle);
        }
        // The case this is about must have happened, or the test proves nothing.
        assert!(stolen > 0, "the idle reader never took the message first");
    });
}
