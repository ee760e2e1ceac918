//! Contenders for one writer thread and one reader thread: `spsc_small`,
//! `spsc_bulk` and `handoff` take them from here with their own sizes.

use std::io::{Read, Write};
use std::sync::mpsc::sync_channel;
use std::time::Instant;

use chanio::ChannelBackend;

use super::{Aligned, Checker, Contender, Payload, Tally, contender, fail, timed_pair, verify};

pub const CHANIO_READ: &str = "chanio io::Read";
pub const CHANIO_RECV: &str = "chanio Reader::recv";
pub const STD_PIPE: &str = "std::io::pipe";
pub const PIPE: &str = "pipe::pipe";
pub const PIPE_BUFFERED: &str = "pipe::pipe_buffered";
pub const MEMCPY: &str = "memcpy in+out, one thread";

/// The peers' names carry their capacity, as the README table shows them.
pub fn crossbeam_name(capacity: usize) -> String {
    format!("crossbeam bounded({capacity}) Vec<u8>")
}

pub fn flume_name(capacity: usize) -> String {
    format!("flume bounded({capacity}) Vec<u8>")
}

pub fn std_sync_name(capacity: usize) -> String {
    format!("std sync_channel({capacity}) Vec<u8>")
}

/// One writer sending `count` messages of `size` bytes through a queue of
/// `capacity` messages to one reader reading with a buffer of `buf_len`.
#[derive(Clone, Copy)]
pub struct Spsc {
    pub count: u64,
    pub size: usize,
    pub buf_len: usize,
    pub capacity: usize,
}

impl Spsc {
    fn expected(self) -> Tally {
        Payload::new(self.size).expected(self.count)
    }

    fn backend(self) -> ChannelBackend {
        ChannelBackend::builder().buffer_size(self.capacity).build()
    }

    pub fn chanio_read(self) -> Contender {
        contender(CHANIO_READ, move || {
            let backend = self.backend();
            let reader = backend.new_reader("bench").unwrap();
            let writer = backend.new_writer("bench").unwrap();
            let payload = Payload::new(self.size);
            let (elapsed, got) = timed_pair(
                move || write_all_messages(writer, payload, self.count),
                || drain_read(reader, self.buf_len),
            );
            verify(CHANIO_READ, got, self.expected());
            elapsed
        })
    }

    pub fn chanio_recv(self) -> Contender {
        contender(CHANIO_RECV, move || {
            let backend = self.backend();
            let mut reader = backend.new_reader("bench").unwrap();
            let writer = backend.new_writer("bench").unwrap();
            let payload = Payload::new(self.size);
            let (elapsed, got) = timed_pair(
                move || write_all_messages(writer, payload, self.count),
                || {
                    let mut checker = Checker::default();
                    for message in reader.messages() {
                        match message {
                            Ok(message) => checker.feed(&message),
                            Err(e) => fail(&format!("recv failed: {e}")),
                        }
                    }
                    checker.finish()
                },
            );
            verify(CHANIO_RECV, got, self.expected());
            elapsed
        })
    }

    pub fn crossbeam(self) -> Contender {
        let name = crossbeam_name(self.capacity);
        contender(name.clone(), move || {
            let (tx, rx) = crossbeam_channel::bounded::<Vec<u8>>(self.capacity);
            let mut payload = Payload::new(self.size);
            let (elapsed, got) = timed_pair(
                move || {
                    for i in 0..self.count {
                        tx.send(payload.stamp(i).to_vec()).unwrap();
                    }
                },
                || drain_vecs(rx.iter(), self.buf_len),
            );
            verify(&name, got, self.expected());
            elapsed
        })
    }

    pub fn flume(self) -> Contender {
        let name = flume_name(self.capacity);
        contender(name.clone(), move || {
            let (tx, rx) = flume::bounded::<Vec<u8>>(self.capacity);
            let mut payload = Payload::new(self.size);
            let (elapsed, got) = timed_pair(
                move || {
                    for i in 0..self.count {
                        tx.send(payload.stamp(i).to_vec()).unwrap();
                    }
                },
                || drain_vecs(rx.iter(), self.buf_len),
            );
            verify(&name, got, self.expected());
            elapsed
        })
    }

    pub fn std_sync(self) -> Contender {
        let name = std_sync_name(self.capacity);
        contender(name.clone(), move || {
            let (tx, rx) = sync_channel::<Vec<u8>>(self.capacity);
            let mut payload = Payload::new(self.size);
            let (elapsed, got) = timed_pair(
                move || {
                    for i in 0..self.count {
                        tx.send(payload.stamp(i).to_vec()).unwrap();
                    }
                },
                || drain_vecs(rx.iter(), self.buf_len),
            );
            verify(&name, got, self.expected());
            elapsed
        })
    }

    // `std::io::pipe` is from Rust 1.87; the library itself needs only
    // 1.85, and only the benches use it.
    #[allow(clippy::incompatible_msrv)]
    pub fn std_pipe(self) -> Contender {
        contender(STD_PIPE, move || {
            let (reader, writer) = std::io::pipe().expect("an OS pipe");
            let payload = Payload::new(self.size);
            let (elapsed, got) = timed_pair(
                move || write_all_messages(writer, payload, self.count),
                || drain_read(reader, self.buf_len),
            );
            verify(STD_PIPE, got, self.expected());
            elapsed
        })
    }

    /// `pipe::pipe` hands each write over in a rendezvous (a channel of
    /// capacity 0): with small writes it is so slow that it gets a 20th of
    /// the messages.
    pub fn pipe(self) -> Contender {
        let count = if self.size < 4096 {
            (self.count / 20).max(1)
        } else {
            self.count
        };
        contender(PIPE, move || {
            let (reader, writer) = pipe::pipe();
            let payload = Payload::new(self.size);
            let (elapsed, got) = timed_pair(
                move || write_all_messages(writer, payload, count),
                || drain_read(reader, self.buf_len),
            );
            verify(PIPE, got, Payload::new(self.size).expected(count));
            elapsed
        })
        .with_share(count as f64 / self.count as f64)
    }

    pub fn pipe_buffered(self) -> Contender {
        contender(PIPE_BUFFERED, move || {
            let (reader, writer) = pipe::pipe_buffered();
            let payload = Payload::new(self.size);
            let (elapsed, got) = timed_pair(
                move || write_all_messages(writer, payload, self.count),
                || drain_read(reader, self.buf_len),
            );
            verify(PIPE_BUFFERED, got, self.expected());
            elapsed
        })
    }

    /// The floor: the two copies a byte stream makes (into the message, out
    /// to the reader's buffer) on one thread, with no hand-off at all.
    pub fn memcpy(self) -> Contender {
        contender(MEMCPY, move || {
            let mut payload = Payload::new(self.size);
            let mut staging = Aligned::new(self.size);
            let mut out = Aligned::new(self.buf_len);
            let mut checker = Checker::default();
            let start = Instant::now();
            for i in 0..self.count {
                staging.as_mut_slice().copy_from_slice(payload.stamp(i));
                std::hint::black_box(staging.as_mut_slice());
                let received = &mut out.as_mut_slice()[..self.size];
                received.copy_from_slice(staging.as_slice());
                checker.feed(received);
            }
            let elapsed = start.elapsed();
            verify(MEMCPY, checker.finish(), self.expected());
            elapsed
        })
    }
}

/// A reader that takes everything a [`Read`] gives into an aligned buffer
/// of `buf_len` bytes, until end of stream.
pub fn drain_read(mut source: impl Read, buf_len: usize) -> Tally {
    let mut buf = Aligned::new(buf_len);
    let mut checker = Checker::default();
    loop {
        match source.read(buf.as_mut_slice()) {
            Ok(0) => return checker.finish(),
            Ok(n) => checker.feed(&buf.as_slice()[..n]),
            Err(e) => fail(&format!("read failed: {e}")),
        }
    }
}

/// Copies each received `Vec` out into an aligned buffer, as a reader of a
/// byte stream built on a channel of `Vec<u8>` must.
pub fn drain_vecs(messages: impl Iterator<Item = Vec<u8>>, buf_len: usize) -> Tally {
    let mut buf = Aligned::new(buf_len);
    let mut checker = Checker::default();
    for message in messages {
        let out = &mut buf.as_mut_slice()[..message.len()];
        out.copy_from_slice(&message);
        checker.feed(out);
    }
    checker.finish()
}

pub fn write_all_messages(mut sink: impl Write, mut payload: Payload, count: u64) {
    for i in 0..count {
        if let Err(e) = sink.write_all(payload.stamp(i)) {
            fail(&format!("write failed: {e}"));
        }
    }
    if let Err(e) = sink.flush() {
        fail(&format!("flush failed: {e}"));
    }
}
