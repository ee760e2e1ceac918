//! When a stream ends; what `delete` and `close` do to handles and to
//! blocked calls; `list` and `exists`.

use std::io::{ErrorKind, Read, Write};

use chanio::Error;

use crate::common;
use crate::harness::{BLOCKED, Factory};

pub fn a_reader_opened_before_any_writer_waits_for_one(f: &Factory) {
    let backend = f.open(&[]);
    let mut r = backend.new_reader("later").unwrap();
    let reading = common::spawn_started("reader", move || common::read_each(&mut r));
    assert!(
        reading.is_blocked_after(BLOCKED),
        "a reader with no writer yet saw the end"
    );
    let mut w = backend.new_writer("later").unwrap();
    w.write_all(b"finally").unwrap();
    w.close().unwrap();
    assert_eq!(reading.join().unwrap(), common::owned(&["finally"]));
}

pub fn the_stream_ends_when_its_last_writer_closes_not_its_first(f: &Factory) {
    let backend = f.open(&[]);
    let mut first = backend.new_writer("shared").unwrap();
    let mut second = backend.new_writer("shared").unwrap();
    let mut r = backend.new_reader("shared").unwrap();
    first.write_all(b"from first").unwrap();
    first.close().unwrap();
    let reading = common::spawn_started("reader", move || common::read_each(&mut r));
    assert!(
        reading.is_blocked_after(BLOCKED),
        "the stream ended at its first writer's close"
    );
    second.write_all(b"from second").unwrap();
    second.close().unwrap();
    assert_eq!(
        reading.join().unwrap(),
        common::owned(&["from first", "from second"])
    );
}

pub fn a_dropped_writer_counts_as_closed(f: &Factory) {
    let backend = f.open(&[]);
    let mut w = backend.new_writer("dropped").unwrap();
    w.write_all(b"before the drop").unwrap();
    drop(w);
    let mut r = backend.new_reader("dropped").unwrap();
    assert_eq!(
        common::read_each(&mut r).unwrap(),
        common::owned(&["before the drop"])
    );
}

pub fn new_writer_on_an_ended_stream_is_stream_ended_until_the_path_is_deleted(f: &Factory) {
    let backend = f.open(&[]);
    let mut w = backend.new_writer("once").unwrap();
    w.write_all(b"old").unwrap();
    w.close().unwrap();
    let err = backend.new_writer("once").err().expect("the stream ended");
    assert!(
        matches!(err, Error::StreamEnded { ref path } if path == "once"),
        "{err:?}"
    );
    assert_eq!(std::io::Error::from(err).kind(), ErrorKind::BrokenPipe);

    backend.delete("once").unwrap();
    let mut fresh = backend.new_writer("once").unwrap();
    let mut r = backend.new_reader("once").unwrap();
    fresh.write_all(b"new").unwrap();
    fresh.close().unwrap();
    assert_eq!(common::read_each(&mut r).unwrap(), common::owned(&["new"]));
}

pub fn delete_wakes_a_blocked_writer_with_broken_pipe(f: &Factory) {
    let backend = f.open(&[("buffer_size", "1")]);
    let mut w = backend.new_writer("full").unwrap();
    let _r = backend.new_reader("full").unwrap();
    w.write_all(b"fills the queue").unwrap();
    let writing = common::spawn_started("blocked writer", move || w.write(b"waits"));
    assert!(
        writing.is_blocked_after(BLOCKED),
        "a write to a full queue did not block"
    );
    backend.delete("full").unwrap();
    let err = common::io_failure(
        writing.join_within(std::time::Duration::from_secs(2)),
        ErrorKind::BrokenPipe,
    );
    assert!(matches!(err, Error::PathDeleted { .. }), "{err:?}");
}

pub fn delete_wakes_a_blocked_reader_with_end_of_stream(f: &Factory) {
    let backend = f.open(&[]);
    let _w = backend.new_writer("idle").unwrap();
    let mut r = backend.new_reader("idle").unwrap();
    let reading = common::spawn_started("blocked reader", move || common::read_each(&mut r));
    assert!(
        reading.is_blocked_after(BLOCKED),
        "an empty read did not block"
    );
    backend.delete("idle").unwrap();
    let reads = reading
        .join_within(std::time::Duration::from_secs(2))
        .unwrap();
    assert!(reads.is_empty(), "{reads:?}");
}

pub fn a_reader_drains_what_was_queued_after_delete_then_sees_the_end(f: &Factory) {
    let backend = f.open(&[]);
    let mut w = backend.new_writer("tmp").unwrap();
    let mut r = backend.new_reader("tmp").unwrap();
    w.write_all(b"queued 1").unwrap();
    w.write_all(b"queued 2").unwrap();
    backend.delete("tmp").unwrap();
    assert!(!backend.exists("tmp").unwrap());
    assert_eq!(
        common::read_each(&mut r).unwrap(),
        common::owned(&["queued 1", "queued 2"])
    );
}

pub fn writing_after_delete_is_broken_pipe(f: &Factory) {
    let backend = f.open(&[]);
    let mut w = backend.new_writer("gone").unwrap();
    backend.delete("gone").unwrap();
    let err = common::io_failure(w.write(b"late"), ErrorKind::BrokenPipe);
    assert!(matches!(err, Error::PathDeleted { .. }), "{err:?}");
    // The name is fresh again, and the old writer does not reach it.
    let mut r = backend.new_reader("gone").unwrap();
    assert!(w.write(b"still late").is_err());
    let mut w2 = backend.new_writer("gone").unwrap();
    w2.write_all(b"new stream").unwrap();
    w2.close().unwrap();
    drop(w);
    assert_eq!(
        common::read_each(&mut r).unwrap(),
        common::owned(&["new stream"])
    );
}

pub fn close_wakes_blocked_calls_and_refuses_new_work(f: &Factory) {
    let backend = f.open(&[("buffer_size", "1")]);
    let mut full = backend.new_writer("full").unwrap();
    let _keeps_full_open = backend.new_reader("full").unwrap();
    full.write_all(b"fills the queue").unwrap();
    let _w = backend.new_writer("empty").unwrap();
    let mut r = backend.new_reader("empty").unwrap();
    let mut idle_writer = backend.new_writer("other").unwrap();

    let writing = common::spawn_started("blocked writer", move || full.write(b"waits"));
    let reading = common::spawn_started("blocked reader", move || common::read_each(&mut r));
    assert!(writing.is_blocked_after(BLOCKED));
    assert!(reading.is_blocked_after(std::time::Duration::ZERO));

    backend.close().unwrap();
    let bound = std::time::Duration::from_secs(2);
    let err = common::io_failure(writing.join_within(bound), ErrorKind::BrokenPipe);
    assert!(matches!(err, Error::BackendClosed), "{err:?}");
    assert!(reading.join_within(bound).unwrap().is_empty());

    let err = common::io_failure(idle_writer.write(b"after close"), ErrorKind::BrokenPipe);
    assert!(matches!(err, Error::BackendClosed), "{err:?}");
    assert!(matches!(
        backend.new_writer("x").err(),
        Some(Error::BackendClosed)
    ));
    assert!(matches!(
        backend.new_reader("x").err(),
        Some(Error::BackendClosed)
    ));
    assert!(matches!(backend.exists("x"), Err(Error::BackendClosed)));
    assert!(matches!(backend.delete("x"), Err(Error::BackendClosed)));
    assert!(matches!(backend.list(""), Err(Error::BackendClosed)));
    assert!(matches!(
        backend.broadcast("", b"x"),
        Err(Error::BackendClosed)
    ));
    assert!(matches!(
        backend.try_broadcast("", b"x"),
        Err(Error::BackendClosed)
    ));
}

pub fn closing_twice_is_ok(f: &Factory) {
    let backend = f.open(&[]);
    let mut w = backend.new_writer("twice").unwrap();
    let mut r = backend.new_reader("twice").unwrap();
    w.close().unwrap();
    w.close().unwrap();
    r.close().unwrap();
    r.close().unwrap();
    let err = common::io_failure(r.read(&mut [0u8; 8]), ErrorKind::Other);
    assert!(matches!(err, Error::ReaderClosed { .. }), "{err:?}");
    let err = common::io_failure(w.write(b"x"), ErrorKind::BrokenPipe);
    assert!(matches!(err, Error::WriterClosed { .. }), "{err:?}");
    backend.close().unwrap();
    backend.close().unwrap();
}

pub fn list_is_sorted_filtered_by_a_literal_prefix_and_follows_deletes(f: &Factory) {
    let backend = f.open(&[]);
    for name in [
        "jobs/b", "jobs/a", "logs/x", "jobs*", "jobs/[1]", "j?bs", "jobs",
    ] {
        backend.new_reader(name).unwrap();
    }
    assert_eq!(
        backend.list("jobs/").unwrap(),
        ["jobs/[1]", "jobs/a", "jobs/b"]
    );
    assert_eq!(backend.list("jobs*").unwrap(), ["jobs*"]);
    assert_eq!(backend.list("j?").unwrap(), ["j?bs"]);
    assert_eq!(backend.list("jobs/[").unwrap(), ["jobs/[1]"]);
    assert_eq!(
        backend.list("").unwrap(),
        [
            "j?bs", "jobs", "jobs*", "jobs/[1]", "jobs/a", "jobs/b", "logs/x"
        ]
    );
    assert!(backend.list("nothing").unwrap().is_empty());
    backend.delete("jobs/a").unwrap();
    assert_eq!(backend.list("jobs/").unwrap(), ["jobs/[1]", "jobs/b"]);
}

pub fn exists_follows_creation_and_delete(f: &Factory) {
    let backend = f.open(&[]);
    assert!(!backend.exists("thing").unwrap());
    let w = backend.new_writer("thing").unwrap();
    assert!(backend.exists("thing").unwrap());
    drop(w);
    // An ended stream's path still exists until it is deleted.
    assert!(backend.exists("thing").unwrap());
    backend.delete("thing").unwrap();
    assert!(!backend.exists("thing").unwrap());
    backend.delete("thing").unwrap(); // deleting twice is Ok
    backend.new_reader("by-reader").unwrap();
    assert!(backend.exists("by-reader").unwrap());
}

pub fn an_empty_path_is_invalid_everywhere(f: &Factory) {
    let backend = f.open(&[]);
    assert!(matches!(
        backend.new_writer("").err(),
        Some(Error::InvalidPath { .. })
    ));
    assert!(matches!(
        backend.new_reader("").err(),
        Some(Error::InvalidPath { .. })
    ));
    assert!(matches!(backend.exists(""), Err(Error::InvalidPath { .. })));
    assert!(matches!(backend.delete(""), Err(Error::InvalidPath { .. })));
}

pub fn a_writer_dropped_while_panicking_poisons_the_stream_even_after_delete(f: &Factory) {
    let backend = f.open(&[]);
    let mut r = backend.new_reader("poisoned").unwrap();
    let mut w = backend.new_writer("poisoned").unwrap();
    let panicked = std::thread::spawn(move || {
        w.write_all(b"last words").unwrap();
        panic!("the writer's thread panics while it holds the writer");
    })
    .join();
    assert!(panicked.is_err());
    let mut buf = [0u8; 64];
    let n = r.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"last words");
    for _ in 0..2 {
        let err = common::io_failure(r.read(&mut buf), ErrorKind::UnexpectedEof);
        assert!(matches!(err, Error::WriterPanicked { ref path } if path == "poisoned"));
    }
    // A late persistent reader, and one whose path was deleted, see it too.
    let logs = f.open(&[("persistent", "true")]);
    let mut w = logs.new_writer("log").unwrap();
    let mut before_delete = logs.new_reader("log").unwrap();
    std::thread::spawn(move || {
        w.write_all(b"entry").unwrap();
        panic!("again");
    })
    .join()
    .unwrap_err();
    let mut late = logs.new_reader("log").unwrap();
    let n = late.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"entry");
    let err = common::io_failure(late.read(&mut buf), ErrorKind::UnexpectedEof);
    assert!(matches!(err, Error::WriterPanicked { .. }));
    logs.delete("log").unwrap();
    let n = before_delete.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"entry");
    let err = common::io_failure(before_delete.read(&mut buf), ErrorKind::UnexpectedEof);
    assert!(matches!(err, Error::WriterPanicked { .. }));
}
