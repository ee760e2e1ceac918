//! pipeline: a source thread, two competing worker threads that each take
//! a message, transform it and pass it on, and a sink thread; queues of
//! 100 on both hops. Every stage waits on a neighbour at some point.
//!
//! The transform flips bits of every byte after the stamp, so the sink can
//! tell a transformed message from one that skipped the workers (the word
//! sum differs), and the stamp tells it which message it holds: each must
//! arrive exactly once. The two workers reorder messages between them, so
//! the sink checks membership, not order. The streams end stage by stage:
//! the source's writer drops, the workers see the end and drop theirs, the
//! sink sees the end.
//!
//! chanio's contenders are the two ways a user would write a stage:
//! `Reader::recv`, transform in place with `Message::make_mut` (which
//! copies only if someone else holds the bytes), then `Writer::send`; or
//! `read` into a buffer, transform in place, `write`. The channels' workers
//! transform the `Vec<u8>` they own in place and send it on.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use chanio::{ChannelBackend, Message, Reader, Writer};

use common::{Case, Checker, Job, Measure, Payload, Runs, Work, contender, fail, job};
use common::{stamp_of, timed_threads, verify};

const WORKERS: usize = 2;
const BUFFER: usize = 100;
const SIZE: usize = 64;
const MASK: u8 = 0x5a;

const CHANIO_RECV_SEND: &str = "chanio Reader::recv + Writer::send";
const CHANIO_READ_WRITE: &str = "chanio io::Read + io::Write";
const CROSSBEAM: &str = "crossbeam bounded(100) Vec<u8>";
const FLUME: &str = "flume bounded(100) Vec<u8>";

fn main() {
    let Some(mut case) = Case::start("pipeline") else {
        return;
    };
    let count = case.settings.count(1_000_000, 200_000);
    case.announce(format!(
        "source -> {WORKERS} competing workers (transform) -> sink, {count} messages of 64 B"
    ));
    let timed = move |name: &'static str, run: fn(u64) -> (Duration, Vec<Arrivals>)| {
        contender(name, move || {
            let (elapsed, arrivals) = run(count);
            for sink in arrivals {
                sink.check(name);
            }
            elapsed
        })
    };
    let contenders = vec![
        timed(CHANIO_RECV_SEND, |n| chanio(n, false)),
        timed(CHANIO_READ_WRITE, |n| chanio(n, true)),
        timed(CROSSBEAM, crossbeam),
        timed(FLUME, flume),
    ];
    let measure = Measure::rate(count, 1e6, "Mmsgs/s");
    case.run(
        contenders,
        Runs::Normal,
        measure,
        Work::messages(count, SIZE),
    );

    case.ratios(&[CHANIO_RECV_SEND, CHANIO_READ_WRITE], &[CROSSBEAM, FLUME]);
    for ours in [CHANIO_RECV_SEND, CHANIO_READ_WRITE] {
        case.at_least(ours, CROSSBEAM, 1.0);
    }
    case.finish();
}

/// A worker's work on a message: every byte after the stamp.
fn transform(message: &mut [u8]) {
    if message.len() != SIZE {
        fail(&format!(
            "pipeline: a worker got {} bytes where one message of {SIZE} was due",
            message.len()
        ));
    }
    flip(&mut message[8..]);
}

/// What reached the sink: which stamps (each must come once) and the tally.
struct Arrivals {
    count: u64,
    seen: Vec<u64>,
    received: u64,
    checker: Checker,
}

impl Arrivals {
    fn new(count: u64) -> Arrivals {
        Arrivals {
            count,
            seen: vec![0; count.div_ceil(64) as usize],
            received: 0,
            checker: Checker::default(),
        }
    }

    fn take(&mut self, message: &[u8]) {
        if message.len() != SIZE {
            fail(&format!(
                "pipeline: the sink got {} bytes where one message of {SIZE} was due",
                message.len()
            ));
        }
        let stamp = stamp_of(message);
        if stamp >= self.count {
            fail(&format!(
                "pipeline: the sink got message {stamp}, never sent"
            ));
        }
        let (word, bit) = ((stamp / 64) as usize, 1u64 << (stamp % 64));
        if self.seen[word] & bit != 0 {
            fail(&format!("pipeline: the sink got message {stamp} twice"));
        }
        self.seen[word] |= bit;
        self.received += 1;
        self.checker.feed(message);
    }

    /// Every message once (no repeat was seen, so the count says none is
    /// missing), each transformed (the sum of the transformed payload).
    fn check(self, name: &str) {
        if self.received != self.count {
            fail(&format!(
                "{name}: the sink got {} of {} messages",
                self.received, self.count
            ));
        }
        let expected = Payload::new(SIZE).transformed(flip).expected(self.count);
        verify(name, self.checker.finish(), expected);
    }
}

/// The transform of the bytes after the stamp; the expected payload is made
/// with it too.
fn flip(rest: &mut [u8]) {
    for byte in rest {
        *byte ^= MASK;
    }
}

fn chanio(count: u64, use_read: bool) -> (Duration, Vec<Arrivals>) {
    let backend = ChannelBackend::builder().buffer_size(BUFFER).build();
    let mut source = backend.new_writer("pipe/in").unwrap();
    let mut sink = backend.new_reader("pipe/out").unwrap();
    let workers: Vec<(Reader, Writer)> = (0..WORKERS)
        .map(|_| {
            let input = backend.new_reader("pipe/in").unwrap();
            let output = backend.new_writer("pipe/out").unwrap();
            (input, output)
        })
        .collect();
    let mut producers: Vec<Job<()>> = vec![job(move || {
        let mut payload = Payload::new(SIZE);
        for i in 0..count {
            let sent = if use_read {
                source.write_all(payload.stamp(i))
            } else {
                source
                    .send(Message::copy_from_slice(payload.stamp(i)))
                    .map_err(Into::into)
            };
            if let Err(e) = sent {
                fail(&format!("the source's write failed: {e}"));
            }
        }
    })];
    for (mut input, mut output) in workers {
        producers.push(if use_read {
            job(move || {
                let mut buf = [0u8; 1024];
                loop {
                    let n = match input.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) => fail(&format!("a worker's read failed: {e}")),
                    };
                    transform(&mut buf[..n]);
                    if let Err(e) = output.write_all(&buf[..n]) {
                        fail(&format!("a worker's write failed: {e}"));
                    }
                }
            })
        } else {
            job(move || {
                for message in input.messages() {
                    let mut out = match message {
                        Ok(message) => message,
                        Err(e) => fail(&format!("a worker's recv failed: {e}")),
                    };
                    transform(out.make_mut());
                    if let Err(e) = output.send(out) {
                        fail(&format!("a worker's send failed: {e}"));
                    }
                }
            })
        });
    }
    let consumer = job(move || {
        let mut arrivals = Arrivals::new(count);
        if use_read {
            let mut buf = [0u8; 1024];
            loop {
                match sink.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => arrivals.take(&buf[..n]),
                    Err(e) => fail(&format!("the sink's read failed: {e}")),
                }
            }
        } else {
            for message in sink.messages() {
                match message {
                    Ok(message) => arrivals.take(&message),
                    Err(e) => fail(&format!("the sink's recv failed: {e}")),
                }
            }
        }
        arrivals
    });
    timed_threads(producers, vec![consumer])
}

fn crossbeam(count: u64) -> (Duration, Vec<Arrivals>) {
    let (source, input) = crossbeam_channel::bounded::<Vec<u8>>(BUFFER);
    let (output, sink) = crossbeam_channel::bounded::<Vec<u8>>(BUFFER);
    let mut producers: Vec<Job<()>> = vec![job(move || {
        let mut payload = Payload::new(SIZE);
        for i in 0..count {
            source.send(payload.stamp(i).to_vec()).unwrap();
        }
    })];
    for _ in 0..WORKERS {
        let (input, output) = (input.clone(), output.clone());
        producers.push(job(move || {
            for mut message in input.iter() {
                transform(&mut message);
                output.send(message).unwrap();
            }
        }));
    }
    // Only the workers' senders may keep the sink's stream open.
    drop((input, output));
    let consumer = job(move || {
        let mut arrivals = Arrivals::new(count);
        for message in sink.iter() {
            arrivals.take(&message);
        }
        arrivals
    });
    timed_threads(producers, vec![consumer])
}

fn flume(count: u64) -> (Duration, Vec<Arrivals>) {
    let (source, input) = flume::bounded::<Vec<u8>>(BUFFER);
    let (output, sink) = flume::bounded::<Vec<u8>>(BUFFER);
    let mut producers: Vec<Job<()>> = vec![job(move || {
        let mut payload = Payload::new(SIZE);
        for i in 0..count {
            source.send(payload.stamp(i).to_vec()).unwrap();
        }
    })];
    for _ in 0..WORKERS {
        let (input, output) = (input.clone(), output.clone());
        producers.push(job(move || {
            for mut message in input.iter() {
                transform(&mut message);
                output.send(message).unwrap();
            }
        }));
    }
    // Only the workers' senders may keep the sink's stream open.
    drop((input, output));
    let consumer = job(move || {
        let mut arrivals = Arrivals::new(count);
        for message in sink.iter() {
            arrivals.take(&message);
        }
        arrivals
    });
    timed_threads(producers, vec![consumer])
}
