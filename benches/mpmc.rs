//! mpmc: four writer threads and four competing reader threads on one
//! path, 64-byte messages, a queue of 100: writers wait for room and
//! readers wait for messages, all on the same queue.
//!
//! Writer `w` stamps its messages `w * n .. (w + 1) * n` in order, so that
//! each reader can check that every writer's messages reach it in that
//! writer's order, and the readers' tallies added up show that nothing was
//! lost or received twice. The streams end when the writers go: chanio's
//! when the last `Writer` drops, the channels' when the last `Sender` does.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use chanio::ChannelBackend;

use common::{Case, Checker, Job, Measure, Payload, Runs, Tally, Work, contender, fail, job};
use common::{stamp_of, timed_threads, verify};

const WRITERS: usize = 4;
const READERS: usize = 4;
const BUFFER: usize = 100;
const SIZE: usize = 64;

const CHANIO_READ: &str = "chanio io::Read";
const CHANIO_RECV: &str = "chanio Reader::recv";
const CROSSBEAM: &str = "crossbeam bounded(100) Vec<u8>";
const FLUME: &str = "flume bounded(100) Vec<u8>";

fn main() {
    let Some(mut case) = Case::start("mpmc") else {
        return;
    };
    let per_writer = case.settings.count(250_000, 50_000);
    let total = per_writer * WRITERS as u64;
    case.announce(format!(
        "{WRITERS} writers x {per_writer} messages of 64 B to {READERS} competing readers on one path"
    ));
    let timed = move |name: &'static str, run: fn(u64) -> (Duration, Vec<Seen>)| {
        contender(name, move || {
            let (elapsed, seen) = run(per_writer);
            check_all(name, seen, per_writer);
            elapsed
        })
    };
    let contenders = vec![
        timed(CHANIO_READ, |n| chanio(n, true)),
        timed(CHANIO_RECV, |n| chanio(n, false)),
        timed(CROSSBEAM, crossbeam),
        timed(FLUME, flume),
    ];
    let measure = Measure::rate(total, 1e6, "Mmsgs/s");
    case.run(
        contenders,
        Runs::Normal,
        measure,
        Work::messages(total, SIZE),
    );

    case.ratios(&[CHANIO_READ, CHANIO_RECV], &[CROSSBEAM, FLUME]);
    for ours in [CHANIO_READ, CHANIO_RECV] {
        case.at_least(ours, CROSSBEAM, 1.0);
    }
    case.finish();
}

/// What one reader received: a tally, and per writer how many messages and
/// the last stamp, checked as each message arrives.
struct Seen {
    per_writer: u64,
    counts: [u64; WRITERS],
    last: [Option<u64>; WRITERS],
    checker: Checker,
}

impl Seen {
    fn new(per_writer: u64) -> Seen {
        Seen {
            per_writer,
            counts: [0; WRITERS],
            last: [None; WRITERS],
            checker: Checker::default(),
        }
    }

    fn take(&mut self, message: &[u8]) {
        if message.len() != SIZE {
            fail(&format!(
                "mpmc: a reader got {} bytes where one message of {SIZE} was due",
                message.len()
            ));
        }
        let stamp = stamp_of(message);
        let writer = (stamp / self.per_writer) as usize;
        if writer >= WRITERS {
            fail(&format!("mpmc: message {stamp} comes from no writer"));
        }
        if let Some(last) = self.last[writer].filter(|&last| stamp <= last) {
            fail(&format!(
                "mpmc: a reader got writer {writer}'s message {} after its message {}",
                stamp % self.per_writer,
                last % self.per_writer
            ));
        }
        self.last[writer] = Some(stamp);
        self.counts[writer] += 1;
        self.checker.feed(message);
    }
}

/// Every writer's messages, each exactly once, over all the readers.
fn check_all(name: &str, seen: Vec<Seen>, per_writer: u64) {
    let mut counts = [0u64; WRITERS];
    let mut tally = Tally::default();
    for reader in seen {
        for (total, count) in counts.iter_mut().zip(reader.counts) {
            *total += count;
        }
        tally = tally.plus(reader.checker.finish());
    }
    for (writer, &count) in counts.iter().enumerate() {
        if count != per_writer {
            fail(&format!(
                "{name}: the readers got {count} of writer {writer}'s {per_writer} messages"
            ));
        }
    }
    let expected = Payload::new(SIZE).expected(per_writer * WRITERS as u64);
    verify(name, tally, expected);
}

/// Writer `w`'s messages, `w * per_writer ..`, through `send`.
fn write_share(w: usize, per_writer: u64, mut send: impl FnMut(&[u8])) {
    let mut payload = Payload::new(SIZE);
    let first = w as u64 * per_writer;
    for i in first..first + per_writer {
        send(payload.stamp(i));
    }
}

fn chanio(per_writer: u64, use_read: bool) -> (Duration, Vec<Seen>) {
    let backend = ChannelBackend::builder().buffer_size(BUFFER).build();
    let readers: Vec<_> = (0..READERS)
        .map(|_| backend.new_reader("mpmc").unwrap())
        .collect();
    let producers = (0..WRITERS)
        .map(|w| {
            let mut writer = backend.new_writer("mpmc").unwrap();
            job(move || {
                write_share(w, per_writer, |data| {
                    if let Err(e) = writer.write_all(data) {
                        fail(&format!("write failed: {e}"));
                    }
                })
            })
        })
        .collect();
    let consumers = readers
        .into_iter()
        .map(|mut reader| -> Job<Seen> {
            job(move || {
                let mut seen = Seen::new(per_writer);
                if use_read {
                    let mut buf = [0u8; 1024];
                    loop {
                        match reader.read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => seen.take(&buf[..n]),
                            Err(e) => fail(&format!("read failed: {e}")),
                        }
                    }
                } else {
                    for message in reader.messages() {
                        match message {
                            Ok(message) => seen.take(&message),
                            Err(e) => fail(&format!("recv failed: {e}")),
                        }
                    }
                }
                seen
            })
        })
        .collect();
    timed_threads(producers, consumers)
}

fn crossbeam(per_writer: u64) -> (Duration, Vec<Seen>) {
    let (tx, rx) = crossbeam_channel::bounded::<Vec<u8>>(BUFFER);
    let producers = (0..WRITERS)
        .map(|w| {
            let tx = tx.clone();
            job(move || write_share(w, per_writer, |data| tx.send(data.to_vec()).unwrap()))
        })
        .collect();
    drop(tx);
    let consumers = (0..READERS)
        .map(|_| {
            let rx = rx.clone();
            job(move || {
                let mut seen = Seen::new(per_writer);
                for message in rx.iter() {
                    seen.take(&message);
                }
                seen
            })
        })
        .collect();
    timed_threads(producers, consumers)
}

fn flume(per_writer: u64) -> (Duration, Vec<Seen>) {
    let (tx, rx) = flume::bounded::<Vec<u8>>(BUFFER);
    let producers = (0..WRITERS)
        .map(|w| {
            let tx = tx.clone();
            job(move || write_share(w, per_writer, |data| tx.send(data.to_vec()).unwrap()))
        })
        .collect();
    drop(tx);
    let consumers = (0..READERS)
        .map(|_| {
            let rx = rx.clone();
            job(move || {
                let mut seen = Seen::new(per_writer);
                for message in rx.iter() {
                    seen.take(&message);
                }
                seen
            })
        })
        .collect();
    timed_threads(producers, consumers)
}
