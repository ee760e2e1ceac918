//! Persistent mode: every reader replays the log from the first message.

use std::io::Write;

use crate::common;
use crate::harness::{BLOCKED, Factory};

pub fn a_late_reader_replays_every_message_once_in_order(f: &Factory) {
    let backend = f.open(&[("persistent", "true")]);
    let mut w = backend.new_writer("log").unwrap();
    w.write_all(b"message 1").unwrap();
    w.write_all(b"message 2").unwrap();
    let mut late = backend.new_reader("log").unwrap();
    let reading = common::spawn_started("late reader", move || common::read_each(&mut late));
    assert!(
        reading.is_blocked_after(BLOCKED),
        "the log ended with a writer open"
    );
    w.write_all(b"message 3").unwrap();
    w.close().unwrap();
    assert_eq!(
        reading.join().unwrap(),
        common::owned(&["message 1", "message 2", "message 3"])
    );
}

pub fn every_reader_reads_everything_and_writes_never_block(f: &Factory) {
    let backend = f.open(&[("persistent", "true"), ("buffer_size", "1")]);
    let mut w = backend.new_writer("all").unwrap();
    let expected: Vec<Vec<u8>> = (0..300)
        .map(|i| format!("entry {i}").into_bytes())
        .collect();
    let writes = common::spawn("writes", move || {
        for message in (0..300).map(|i| format!("entry {i}")) {
            w.write_all(message.as_bytes()).unwrap();
        }
    });
    // 300 writes to a buffer size of 1 and no reader: persistent writes
    // never block.
    writes.join();
    for _ in 0..3 {
        let mut r = backend.new_reader("all").unwrap();
        assert_eq!(common::read_each(&mut r).unwrap(), expected);
    }
}

pub fn a_reader_opened_before_the_writes_sees_them_live_then_the_end(f: &Factory) {
    let backend = f.open(&[("persistent", "true")]);
    let mut early = backend.new_reader("live").unwrap();
    let reading = common::spawn_started("early reader", move || common::read_each(&mut early));
    let mut w = backend.new_writer("live").unwrap();
    w.write_all(b"a").unwrap();
    w.write_all(b"b").unwrap();
    drop(w);
    assert_eq!(reading.join().unwrap(), common::owned(&["a", "b"]));
    let mut late = backend.new_reader("live").unwrap();
    assert_eq!(
        common::read_each(&mut late).unwrap(),
        common::owned(&["a", "b"])
    );
}
