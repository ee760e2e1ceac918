//! A panicking writer poisons its stream: a `Writer` dropped while its
//! thread panics marks the stream, so a record cut short by the panic is not
//! mistaken for a clean end. Readers still read everything written; where
//! they would have seen end of stream they get, on every further read, an
//! `io::Error` of kind `UnexpectedEof` carrying `Error::WriterPanicked`
//! (`recv` returns `Err(Error::WriterPanicked { .. })`). An explicit
//! `Writer::close` never poisons, other writers of the path keep writing,
//! and the poison outlasts `delete` and backend `close`.
//!
//! The panics are real: each comes from a thread (or a `catch_unwind`
//! scope) that holds a `Writer` and panics, so the writer is dropped while
//! `std::thread::panicking()` is true. Their messages are kept off the
//! test output by a panic hook that passes every other panic on.
mod common;

use std::io::{BufRead, ErrorKind, Read, Write};
use std::sync::Once;
use std::time::Duration;

use chanio::{ChannelBackend, Error, Message, Reader, Writer};

/// The payload of every deliberate panic here.
const DELIBERATE: &str = "a deliberate panic while holding a chanio::Writer";

const SHORT: Duration = Duration::from_millis(50);

/// Keeps the deliberate panics' messages off the output; every other panic
/// (a failing assertion) goes to the hook that was there before.
fn quiet_deliberate_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&DELIBERATE) {
                previous(info);
            }
        }));
    });
}

/// Runs `work` on a thread of its own, which then panics while still holding
/// the writers `work` returned: they are dropped as the thread unwinds.
fn die_holding(work: impl FnOnce() -> Vec<Writer> + Send + 'static) {
    quiet_deliberate_panics();
    let thread = std::thread::spawn(move || {
        let _held = work();
        std::panic::panic_any(DELIBERATE);
    });
    assert!(thread.join().is_err(), "the thread was meant to panic");
}

/// A thread makes a writer for `path`, writes `messages` and panics.
fn panicking_writer(backend: &ChannelBackend, path: &str, messages: &[&str]) {
    let backend = backend.clone();
    let path = path.to_owned();
    let messages: Vec<String> = messages.iter().map(|m| m.to_string()).collect();
    die_holding(move || {
        let mut writer = backend.new_writer(&path).unwrap();
        for message in &messages {
            writer.write_all(message.as_bytes()).unwrap();
        }
        vec![writer]
    });
}

fn both_modes() -> [(&'static str, ChannelBackend); 2] {
    [
        ("queue", ChannelBackend::new()),
        (
            "persistent",
            ChannelBackend::builder().persistent(true).build(),
        ),
    ]
}

fn panicked(path: &str) -> Error {
    Error::WriterPanicked { path: path.into() }
}

/// Asserts that three more reads each fail with `UnexpectedEof` carrying
/// `WriterPanicked` for `path`.
fn assert_poisoned_reads(mode: &str, reader: &mut Reader, path: &str) {
    for attempt in 0..3 {
        let read = reader.read(&mut [0u8; 64]);
        let poisoned = matches!(&read, Err(err) if err.kind() == ErrorKind::UnexpectedEof
            && common::inner(err) == Some(&panicked(path)));
        assert!(
            poisoned,
            "{mode}: read {attempt} at the end of {path:?} gave {read:?}, not UnexpectedEof \
             carrying WriterPanicked"
        );
    }
}

fn assert_poisoned_recvs(mode: &str, reader: &mut Reader, path: &str) {
    for attempt in 0..3 {
        assert_eq!(
            reader.recv(),
            Err(panicked(path)),
            "{mode}: recv {attempt} at the end"
        );
    }
}

/// Reads `count` messages with `read` and a large buffer, one per read.
fn read_n(reader: &mut Reader, count: usize) -> Vec<Vec<u8>> {
    let mut buf = vec![0u8; 1024];
    (0..count)
        .map(|_| {
            let n = reader.read(&mut buf).unwrap();
            buf[..n].to_vec()
        })
        .collect()
}

#[test]
fn readers_read_everything_a_panicking_writer_wrote_then_get_writer_panicked_on_every_read() {
    common::within(common::BOUND, "read after a panic", || {
        for (mode, backend) in both_modes() {
            let mut reader = backend.new_reader("jobs").unwrap();
            panicking_writer(&backend, "jobs", &["record 1", "record 2"]);
            assert_eq!(
                read_n(&mut reader, 2),
                common::owned(&["record 1", "record 2"]),
                "{mode}"
            );
            assert_poisoned_reads(mode, &mut reader, "jobs");
        }
    });
}

#[test]
fn recv_returns_writer_panicked_after_the_messages_of_a_panicking_writer() {
    common::within(common::BOUND, "recv after a panic", || {
        for (mode, backend) in both_modes() {
            let mut reader = backend.new_reader("jobs").unwrap();
            panicking_writer(&backend, "jobs", &["record 1", "record 2"]);
            assert_eq!(reader.recv().unwrap().unwrap(), b"record 1", "{mode}");
            assert_eq!(reader.recv().unwrap().unwrap(), b"record 2", "{mode}");
            assert_poisoned_recvs(mode, &mut reader, "jobs");
            // Reading through io::Read after recv: still poisoned.
            assert_poisoned_reads(mode, &mut reader, "jobs");
        }
    });
}

#[test]
fn lines_yield_every_whole_line_then_an_error_for_a_record_cut_short_by_a_panic() {
    common::within(common::BOUND, "lines after a panic", || {
        for (mode, backend) in both_modes() {
            let reader = backend.new_reader("lines").unwrap();
            // The third record lost its end when the producer panicked.
            panicking_writer(&backend, "lines", &["one\n", "two\n", "thr"]);
            let mut lines = reader.lines();
            assert_eq!(lines.next().unwrap().unwrap(), "one", "{mode}");
            assert_eq!(lines.next().unwrap().unwrap(), "two", "{mode}");
            match lines.next() {
                Some(Err(err)) => {
                    assert_eq!(err.kind(), ErrorKind::UnexpectedEof, "{mode}");
                    assert_eq!(common::inner(&err), Some(&panicked("lines")), "{mode}");
                }
                other => panic!("{mode}: after the whole lines, lines() gave {other:?}"),
            }
        }
    });
}

#[test]
fn read_to_end_fails_on_a_stream_whose_writer_panicked() {
    common::within(common::BOUND, "read_to_end after a panic", || {
        for (mode, backend) in both_modes() {
            let mut reader = backend.new_reader("all").unwrap();
            panicking_writer(&backend, "all", &["part 1, ", "part 2"]);
            let mut everything = Vec::new();
            let err = common::io_failure(
                reader.read_to_end(&mut everything),
                ErrorKind::UnexpectedEof,
            );
            assert_eq!(err, panicked("all"), "{mode}");
            assert_eq!(
                everything, b"part 1, part 2",
                "{mode}: read before the error"
            );
            let mut text = String::new();
            assert!(reader.read_to_string(&mut text).is_err(), "{mode}");
        }
    });
}

#[test]
fn a_reader_blocked_when_its_writer_panics_wakes_with_writer_panicked() {
    common::within(common::BOUND, "blocked reader, writer panics", || {
        for (mode, backend) in both_modes() {
            let mut reader = backend.new_reader("waiting").unwrap();
            let writer = backend.new_writer("waiting").unwrap();
            let waiting = common::spawn_started("blocked reader", move || reader.recv());
            assert!(waiting.is_blocked_after(SHORT), "{mode}");
            die_holding(move || vec![writer]);
            assert_eq!(
                waiting.join_within(Duration::from_secs(5)),
                Err(panicked("waiting")),
                "{mode}"
            );
        }
    });
}

#[test]
fn a_late_persistent_reader_replays_the_log_then_gets_writer_panicked() {
    common::within(common::BOUND, "late reader of a poisoned log", || {
        let backend = ChannelBackend::builder().persistent(true).build();
        panicking_writer(&backend, "log", &["a", "b"]);
        for late in 0..2 {
            let mut reader = backend.new_reader("log").unwrap();
            assert_eq!(reader.recv().unwrap().unwrap(), b"a", "late reader {late}");
            assert_eq!(reader.recv().unwrap().unwrap(), b"b", "late reader {late}");
            assert_poisoned_reads("persistent", &mut reader, "log");
        }
    });
}

#[test]
fn a_writer_closed_or_dropped_before_its_thread_panics_leaves_a_clean_end_of_stream() {
    common::within(common::BOUND, "closed before the panic", || {
        for (mode, backend) in both_modes() {
            for how in ["close", "drop"] {
                let path = format!("clean/{how}");
                let mut reader = backend.new_reader(&path).unwrap();
                let producer = backend.clone();
                let name = path.clone();
                die_holding(move || {
                    let mut writer = producer.new_writer(&name).unwrap();
                    writer.write_all(b"complete").unwrap();
                    if how == "close" {
                        writer.close().unwrap();
                        vec![writer] // held, closed, while the thread unwinds
                    } else {
                        drop(writer);
                        Vec::new()
                    }
                });
                assert_eq!(
                    common::read_each(&mut reader).unwrap(),
                    common::owned(&["complete"]),
                    "{mode}, {how}"
                );
                assert_eq!(reader.recv(), Ok(None), "{mode}, {how}: still the end");
            }
        }
    });
}

#[test]
fn a_reader_dropped_while_its_thread_panics_poisons_nothing() {
    common::within(common::BOUND, "panicking reader", || {
        for (mode, backend) in both_modes() {
            let mut writer = backend.new_writer("p").unwrap();
            let mut survivor = backend.new_reader("p").unwrap();
            let dying = backend.new_reader("p").unwrap();
            quiet_deliberate_panics();
            let thread = std::thread::spawn(move || {
                let _held = dying;
                std::panic::panic_any(DELIBERATE);
            });
            assert!(thread.join().is_err());
            writer.write_all(b"fine").unwrap();
            writer.close().unwrap();
            assert_eq!(
                common::read_each(&mut survivor).unwrap(),
                common::owned(&["fine"]),
                "{mode}"
            );
        }
    });
}

#[test]
fn a_writer_dropped_while_unwinding_inside_catch_unwind_poisons_its_stream_too() {
    common::within(common::BOUND, "catch_unwind", || {
        for (mode, backend) in both_modes() {
            let mut reader = backend.new_reader("caught").unwrap();
            quiet_deliberate_panics();
            let mut writer = backend.new_writer("caught").unwrap();
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                writer.write_all(b"before the panic").unwrap();
                std::panic::panic_any(DELIBERATE);
            }));
            assert!(caught.is_err());
            assert_eq!(reader.recv().unwrap().unwrap(), b"before the panic");
            assert_poisoned_recvs(mode, &mut reader, "caught");
        }
    });
}

#[test]
fn other_writers_keep_writing_after_a_panicking_writer_and_the_poison_shows_only_after_they_close()
{
    common::within(common::BOUND, "other writers go on", || {
        for (mode, backend) in both_modes() {
            let mut reader = backend.new_reader("shared").unwrap();
            let mut survivor = backend.new_writer("shared").unwrap();
            let doomed = survivor.try_clone().unwrap();
            die_holding(move || {
                let mut doomed = doomed;
                doomed.write_all(b"from the one that panicked").unwrap();
                vec![doomed]
            });
            survivor.write_all(b"after the panic").unwrap();
            assert_eq!(
                read_n(&mut reader, 2),
                common::owned(&["from the one that panicked", "after the panic"]),
                "{mode}"
            );
            // A writer is still open: neither the end nor the poison yet.
            reader.set_read_timeout(Some(SHORT));
            let err = common::io_failure(reader.read(&mut [0u8; 64]), ErrorKind::TimedOut);
            assert!(matches!(err, Error::TimedOut { .. }), "{mode}: {err:?}");
            // Another writer may still join a stream that has not ended.
            let mut late = backend.new_writer("shared").unwrap();
            late.write_all(b"a late writer").unwrap();
            drop(late);
            assert_eq!(reader.recv().unwrap().unwrap(), b"a late writer", "{mode}");
            survivor.close().unwrap();
            reader.set_read_timeout(None);
            assert_poisoned_reads(mode, &mut reader, "shared");
        }
    });
}

#[test]
fn a_poisoned_stream_stays_poisoned_after_delete_and_after_backend_close() {
    common::within(common::BOUND, "poison outlasts delete", || {
        for (mode, _) in both_modes() {
            for end in ["delete", "close"] {
                let backend = ChannelBackend::builder()
                    .persistent(mode == "persistent")
                    .build();
                // One path poisoned and ended, one poisoned with a writer
                // still open when the path goes.
                let mut ended = backend.new_reader("ended").unwrap();
                let mut open = backend.new_reader("open").unwrap();
                let survivor = backend.new_writer("open").unwrap();
                panicking_writer(&backend, "ended", &["e"]);
                let doomed = survivor.try_clone().unwrap();
                die_holding(move || {
                    let mut doomed = doomed;
                    doomed.write_all(b"o").unwrap();
                    vec![doomed]
                });
                if end == "delete" {
                    backend.delete("ended").unwrap();
                    backend.delete("open").unwrap();
                } else {
                    backend.close().unwrap();
                }
                let what = format!("{mode}, after {end}");
                assert_eq!(ended.recv().unwrap().unwrap(), b"e", "{what}");
                assert_poisoned_reads(&what, &mut ended, "ended");
                assert_eq!(open.recv().unwrap().unwrap(), b"o", "{what}");
                assert_poisoned_recvs(&what, &mut open, "open");
                drop(survivor);
                assert_poisoned_reads(&what, &mut open, "open");
            }
        }
    });
}

#[test]
fn new_writer_on_a_poisoned_stream_is_stream_ended() {
    common::within(common::BOUND, "new_writer after a panic", || {
        for (mode, backend) in both_modes() {
            let _reader = backend.new_reader("over").unwrap();
            panicking_writer(&backend, "over", &["last words"]);
            assert_eq!(
                backend.new_writer("over").unwrap_err(),
                Error::StreamEnded {
                    path: "over".into()
                },
                "{mode}"
            );
            // After delete the name is fresh, and not poisoned.
            backend.delete("over").unwrap();
            let mut writer = backend.new_writer("over").unwrap();
            let mut reader = backend.new_reader("over").unwrap();
            writer.write_all(b"new stream").unwrap();
            drop(writer);
            assert_eq!(
                common::read_each(&mut reader).unwrap(),
                common::owned(&["new stream"]),
                "{mode}"
            );
        }
    });
}

#[test]
fn messages_yields_the_messages_one_writer_panicked_error_then_ends() {
    common::within(common::BOUND, "messages of a poisoned stream", || {
        for (mode, backend) in both_modes() {
            let mut reader = backend.new_reader("iter").unwrap();
            panicking_writer(&backend, "iter", &["x", "y"]);
            // `take` bounds the check: an iterator that repeats its error
            // forever must fail here, not spin.
            let items: Vec<chanio::Result<Message>> = reader.messages().take(10).collect();
            assert_eq!(
                items,
                vec![
                    Ok(Message::from("x")),
                    Ok(Message::from("y")),
                    Err(panicked("iter"))
                ],
                "{mode}"
            );
            // The usual idiom terminates.
            let mut idiom = backend.new_reader("idiom").unwrap();
            panicking_writer(&backend, "idiom", &["x", "y"]);
            let count = common::within(Duration::from_secs(5), "filter_map", move || {
                idiom.messages().filter_map(Result::ok).count()
            });
            assert_eq!(count, 2, "{mode}");
        }
    });
}

#[test]
fn a_panicking_writer_from_a_boxed_backend_poisons_its_stream_too() {
    common::within(common::BOUND, "boxed backend", || {
        let backend = chanio::open("channel", chanio::Config::new()).unwrap();
        let mut reader = backend.new_reader("boxed").unwrap();
        let writer = backend.new_writer("boxed").unwrap();
        quiet_deliberate_panics();
        let thread = std::thread::spawn(move || {
            let mut writer = writer;
            writer.write_all(b"boxed record").unwrap();
            std::panic::panic_any(DELIBERATE);
        });
        assert!(thread.join().is_err());
        let mut buf = [0u8; 64];
        let n = reader.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"boxed record");
        for attempt in 0..3 {
            let err = common::io_failure(reader.read(&mut buf), ErrorKind::UnexpectedEof);
            assert_eq!(err, panicked("boxed"), "read {attempt}");
        }
    });
}
