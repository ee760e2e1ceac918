//! Queue mode: competing readers, the bound on the queue.

use std::collections::BTreeSet;
use std::io::{Read, Write};

use crate::common;
use crate::harness::{BLOCKED, Factory};

pub fn every_message_reaches_exactly_one_of_competing_readers_in_writer_order(f: &Factory) {
    const WRITERS: usize = 2;
    const READERS: usize = 3;
    const EACH: usize = 150;
    let backend = f.open(&[("buffer_size", "8")]);
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let mut r = backend.new_reader("work").unwrap();
            common::spawn("competing reader", move || {
                let mut got = Vec::new();
                let mut buf = [0u8; 64];
                loop {
                    match r.read(&mut buf).unwrap() {
                        0 => return got,
                        n => got.push(String::from_utf8(buf[..n].to_vec()).unwrap()),
                    }
                }
            })
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let mut writer = backend.new_writer("work").unwrap();
            common::spawn("writer", move || {
                for i in 0..EACH {
                    writer.write_all(format!("{w}:{i}").as_bytes()).unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join();
    }
    let mut all = BTreeSet::new();
    let mut total = 0;
    for reader in readers {
        let got = reader.join();
        total += got.len();
        // Each reader sees each writer's messages in the order written.
        for w in 0..WRITERS {
            let mine: Vec<usize> = got
                .iter()
                .filter_map(|m| m.strip_prefix(&format!("{w}:")))
                .map(|i| i.parse().unwrap())
                .collect();
            assert!(
                mine.windows(2).all(|p| p[0] < p[1]),
                "writer {w} out of order: {mine:?}"
            );
        }
        all.extend(got);
    }
    assert_eq!(total, WRITERS * EACH, "a message was lost or duplicated");
    assert_eq!(all.len(), WRITERS * EACH, "a message was duplicated");
}

pub fn a_full_queue_blocks_the_writer_until_a_reader_takes_a_message(f: &Factory) {
    let backend = f.open(&[("buffer_size", "2")]);
    let mut w = backend.new_writer("bounded").unwrap();
    let mut r = backend.new_reader("bounded").unwrap();
    w.write_all(b"1").unwrap();
    w.write_all(b"2").unwrap();
    let writing = common::spawn_started("third write", move || {
        w.write_all(b"3").unwrap();
        w
    });
    assert!(
        writing.is_blocked_after(BLOCKED),
        "a write to a full queue of 2 did not block"
    );
    let mut buf = [0u8; 8];
    assert_eq!(r.read(&mut buf).unwrap(), 1);
    assert_eq!(&buf[..1], b"1");
    let mut w = writing.join();
    w.close().unwrap();
    assert_eq!(
        common::read_each(&mut r).unwrap(),
        common::owned(&["2", "3"])
    );
}

pub fn messages_queued_before_any_reader_wait_for_one(f: &Factory) {
    let backend = f.open(&[("buffer_size", "5")]);
    let mut w = backend.new_writer("early").unwrap();
    for i in 0..5 {
        w.write_all(format!("m{i}").as_bytes()).unwrap();
    }
    w.close().unwrap();
    let mut r = backend.new_reader("early").unwrap();
    assert_eq!(
        common::read_each(&mut r).unwrap(),
        common::owned(&["m0", "m1", "m2", "m3", "m4"])
    );
    // Taken once: a second reader finds the stream ended and empty.
    let mut again = backend.new_reader("early").unwrap();
    assert!(common::read_each(&mut again).unwrap().is_empty());
}
