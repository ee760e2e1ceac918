//! fanout: one producer, eight reader threads, every 64-byte message to
//! every reader, buffers of 100: chanio's prefix broadcast against a
//! broadcast bus and against one channel per reader.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bus::Bus;
use chanio::{ChannelBackend, Reader};

use common::spsc::drain_read;
use common::{
    Case, Checker, Contender, Job, Measure, Payload, Runs, Tally, Work, contender, fail, job,
};
use common::{timed_fanout, verify};

const READERS: usize = 8;
const BUFFER: usize = 100;

const BROADCAST_READ: &str = "chanio backend.broadcast, io::Read";
const BROADCAST_RECV: &str = "chanio backend.broadcast, Reader::recv";
const BROADCASTER_READ: &str = "chanio Broadcaster::send, io::Read";
const BROADCASTER_RECV: &str = "chanio Broadcaster::send, Reader::recv";
const BUS: &str = "bus Bus::new(100)";
const CROSSBEAM: &str = "8 x crossbeam bounded(100) Arc<[u8]>";
const FLUME: &str = "8 x flume bounded(100) Arc<[u8]>";

const CHANIO: [(&str, Sending, Reading); 4] = [
    (BROADCAST_READ, Sending::Broadcast, Reading::Read),
    (BROADCAST_RECV, Sending::Broadcast, Reading::Recv),
    (BROADCASTER_READ, Sending::Broadcaster, Reading::Read),
    (BROADCASTER_RECV, Sending::Broadcaster, Reading::Recv),
];
const OURS: [&str; 4] = [CHANIO[0].0, CHANIO[1].0, CHANIO[2].0, CHANIO[3].0];
const PEERS: [&str; 3] = [BUS, CROSSBEAM, FLUME];

fn main() {
    let Some(mut case) = Case::start("fanout") else {
        return;
    };
    let count = case.settings.count(500_000, 200_000);
    case.announce(format!(
        "1 producer, {READERS} reader threads, {count} messages of 64 B each to every reader"
    ));
    let mut contenders: Vec<Contender> = CHANIO
        .into_iter()
        .map(|(name, sending, reading)| timed(name, count, 1, move |n| chanio(n, sending, reading)))
        .collect();
    contenders.push(timed(BUS, count, 1, bus));
    contenders.push(timed(CROSSBEAM, count, 1, crossbeam));
    // flume parks a reader (a voluntary context switch, as /usr/bin/time
    // counts them) for about every third delivery here, so that a full run
    // took ten seconds or more: it sends a fifth of the messages (its rate
    // is scaled to match; the CSV's work_per_run says so).
    contenders.push(timed(FLUME, count, 5, flume));
    // Nine threads on two cores: the spread is wide, so more runs.
    let measure = Measure::rate(count * READERS as u64, 1e6, "Mdeliveries/s");
    case.run(
        contenders,
        Runs::Scattered,
        measure,
        Work::messages(count, 64),
    );

    case.ratios(&OURS, &PEERS);
    for ours in OURS {
        case.at_least_fastest(ours, &PEERS, 1.0);
    }
    case.finish();
}

/// A contender whose runs send `count / part` messages to every reader and
/// check that each reader got them all.
fn timed(
    name: &'static str,
    count: u64,
    part: u64,
    run: impl Fn(u64) -> (Duration, Vec<Tally>) + 'static,
) -> Contender {
    let messages = (count / part).max(1);
    let expected = Payload::new(64).expected(messages);
    contender(name, move || {
        let (elapsed, tallies) = run(messages);
        for tally in tallies {
            verify(name, tally, expected);
        }
        elapsed
    })
    .with_share(messages as f64 / count as f64)
}

#[derive(Clone, Copy)]
enum Sending {
    /// `backend.broadcast(prefix, data)`: looks the paths up every call.
    Broadcast,
    /// One `Broadcaster` for the prefix, reused.
    Broadcaster,
}

#[derive(Clone, Copy)]
enum Reading {
    Read,
    Recv,
}

/// Eight chanio readers on `fan/0`..`fan/7`. The producer holds a writer
/// on each path and drops them at the end, which ends the streams: readers
/// drain, then see the end.
fn chanio(count: u64, send: Sending, reading: Reading) -> (Duration, Vec<Tally>) {
    let backend = ChannelBackend::builder().buffer_size(BUFFER).build();
    let readers: Vec<Reader> = (0..READERS)
        .map(|i| backend.new_reader(&format!("fan/{i}")).unwrap())
        .collect();
    let writers: Vec<_> = (0..READERS)
        .map(|i| backend.new_writer(&format!("fan/{i}")).unwrap())
        .collect();
    let mut payload = Payload::new(64);
    let produce = move || {
        let mut broadcaster = backend.broadcaster("fan/");
        for i in 0..count {
            let data = payload.stamp(i);
            let delivered = match send {
                Sending::Broadcaster => broadcaster.send(data),
                Sending::Broadcast => backend.broadcast("fan/", data),
            };
            match delivered {
                Ok(READERS) => {}
                Ok(n) => fail(&format!("a broadcast reached {n} of {READERS} readers")),
                Err(e) => fail(&format!("a broadcast failed: {e}")),
            }
        }
        drop(writers);
    };
    let consumers = readers
        .into_iter()
        .map(|mut reader| -> Job<Tally> {
            match reading {
                Reading::Read => job(move || drain_read(reader, 1024)),
                Reading::Recv => job(move || {
                    let mut checker = Checker::default();
                    for message in reader.messages() {
                        match message {
                            Ok(message) => checker.feed(&message),
                            Err(e) => fail(&format!("recv failed: {e}")),
                        }
                    }
                    checker.finish()
                }),
            }
        })
        .collect();
    timed_fanout(produce, consumers)
}

fn bus(count: u64) -> (Duration, Vec<Tally>) {
    let mut bus = Bus::<Arc<[u8]>>::new(BUFFER);
    let readers: Vec<_> = (0..READERS).map(|_| bus.add_rx()).collect();
    let mut payload = Payload::new(64);
    let produce = move || {
        for i in 0..count {
            bus.broadcast(Arc::from(payload.stamp(i)));
        }
    };
    let consumers = readers
        .into_iter()
        .map(|mut reader| {
            job(move || {
                let mut checker = Checker::default();
                while let Ok(message) = reader.recv() {
                    checker.feed(&message);
                }
                checker.finish()
            })
        })
        .collect();
    timed_fanout(produce, consumers)
}

fn crossbeam(count: u64) -> (Duration, Vec<Tally>) {
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..READERS)
        .map(|_| crossbeam_channel::bounded::<Arc<[u8]>>(BUFFER))
        .unzip();
    let mut payload = Payload::new(64);
    let produce = move || {
        for i in 0..count {
            let message: Arc<[u8]> = Arc::from(payload.stamp(i));
            for tx in &senders {
                tx.send(Arc::clone(&message)).unwrap();
            }
        }
    };
    let consumers = receivers
        .into_iter()
        .map(|rx| job(move || tally_all(rx.iter())))
        .collect();
    timed_fanout(produce, consumers)
}

fn flume(count: u64) -> (Duration, Vec<Tally>) {
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..READERS)
        .map(|_| flume::bounded::<Arc<[u8]>>(BUFFER))
        .unzip();
    let mut payload = Payload::new(64);
    let produce = move || {
        for i in 0..count {
            let message: Arc<[u8]> = Arc::from(payload.stamp(i));
            for tx in &senders {
                tx.send(Arc::clone(&message)).unwrap();
            }
        }
    };
    let consumers = receivers
        .into_iter()
        .map(|rx| job(move || tally_all(rx.iter())))
        .collect();
    timed_fanout(produce, consumers)
}

fn tally_all(messages: impl Iterator<Item = Arc<[u8]>>) -> Tally {
    let mut checker = Checker::default();
    for message in messages {
        checker.feed(&message);
    }
    checker.finish()
}
