//! A first check that the common helpers and the crate work together.
mod common;

use std::io::Write;

#[test]
fn a_reader_sees_what_a_writer_wrote_then_the_end() {
    common::within(common::BOUND, "read to end", || {
        let backend = chanio::ChannelBackend::new();
        let mut writer = backend.new_writer("smoke").unwrap();
        let mut reader = backend.new_reader("smoke").unwrap();
        writer.write_all(b"hello").unwrap();
        drop(writer);
        assert_eq!(reader.recv().unwrap().unwrap(), b"hello");
        assert_eq!(reader.recv().unwrap(), None);
    });
}
