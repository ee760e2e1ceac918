//! One message per write, partial reads, no joined messages.

use std::io::{IoSlice, Read, Write};

use crate::common;
use crate::harness::Factory;

pub fn each_write_is_one_message_and_an_empty_write_sends_nothing(f: &Factory) {
    let backend = f.open(&[]);
    let mut w = backend.new_writer("events").unwrap();
    assert_eq!(w.write(b"first").unwrap(), 5);
    assert_eq!(w.write(b"").unwrap(), 0);
    assert_eq!(w.write(b"second message").unwrap(), 14);
    w.flush().unwrap();
    w.close().unwrap();
    let mut r = backend.new_reader("events").unwrap();
    assert_eq!(
        common::read_each(&mut r).unwrap(),
        common::owned(&["first", "second message"])
    );
}

pub fn write_vectored_sends_one_message(f: &Factory) {
    let backend = f.open(&[]);
    let mut w = backend.new_writer("vectored").unwrap();
    let parts = [
        IoSlice::new(b"one "),
        IoSlice::new(b"two "),
        IoSlice::new(b"three"),
    ];
    assert_eq!(w.write_vectored(&parts).unwrap(), 13);
    w.close().unwrap();
    let mut r = backend.new_reader("vectored").unwrap();
    assert_eq!(
        common::read_each(&mut r).unwrap(),
        common::owned(&["one two three"])
    );
}

pub fn a_message_longer_than_the_buffer_comes_over_several_reads(f: &Factory) {
    let backend = f.open(&[]);
    let mut w = backend.new_writer("long").unwrap();
    w.write_all(b"abcdefghij").unwrap();
    w.write_all(b"next").unwrap();
    w.close().unwrap();
    let mut r = backend.new_reader("long").unwrap();
    let mut buf = [0u8; 4];
    let mut reads = Vec::new();
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        reads.push(String::from_utf8(buf[..n].to_vec()).unwrap());
    }
    assert_eq!(reads, ["abcd", "efgh", "ij", "next"]);
}

pub fn two_messages_are_never_joined_in_one_read(f: &Factory) {
    let backend = f.open(&[]);
    let mut w = backend.new_writer("separate").unwrap();
    for text in ["a", "bb", "ccc"] {
        w.write_all(text.as_bytes()).unwrap();
    }
    w.close().unwrap();
    let mut r = backend.new_reader("separate").unwrap();
    let mut buf = [0u8; 1024];
    assert_eq!(r.read(&mut buf).unwrap(), 1);
    assert_eq!(r.read(&mut buf).unwrap(), 2);
    assert_eq!(r.read(&mut buf).unwrap(), 3);
    assert_eq!(r.read(&mut buf).unwrap(), 0);
}

pub fn bytes_of_every_value_arrive_unchanged(f: &Factory) {
    let backend = f.open(&[]);
    let every_byte: Vec<u8> = (0..=255u8).collect();
    let large: Vec<u8> = (0..256 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    let sent = [every_byte, vec![0u8; 3], large];
    let mut w = backend.new_writer("binary").unwrap();
    let mut r = backend.new_reader("binary").unwrap();
    for message in &sent {
        w.write_all(message).unwrap();
    }
    w.close().unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match r.read(&mut buf).unwrap() {
            0 => break,
            n => got.push(buf[..n].to_vec()),
        }
    }
    assert_eq!(got.len(), sent.len());
    for (got, sent) in got.iter().zip(&sent) {
        assert!(got == sent, "a message of {} bytes changed", sent.len());
    }
}
