//! Exactly-once under load: many writers and readers on one path, and
//! broadcasts to many paths, with every message accounted for.
//!
//! The default sizes keep the whole file to a few seconds in a debug build;
//! `CHANIO_STRESS=1` runs the heavy variant (8 writers x 8 readers with
//! 100,000 messages each, and so on).
mod common;

use std::io::{BufRead, Read, Write};
use std::time::{Duration, Instant};

use chanio::{ChannelBackend, Reader};
use common::scale;

/// Every message is 12 bytes: the writer's id, the sequence number, and a
/// check word, so a torn, joined or corrupted message is noticed.
const MESSAGE_LEN: usize = 12;

/// The writer id broadcasts carry.
const BROADCASTER: u32 = u32::MAX;

fn encode(writer: u32, seq: u32) -> [u8; MESSAGE_LEN] {
    let mut bytes = [0u8; MESSAGE_LEN];
    bytes[..4].copy_from_slice(&writer.to_le_bytes());
    bytes[4..8].copy_from_slice(&seq.to_le_bytes());
    bytes[8..].copy_from_slice(&check_word(writer, seq).to_le_bytes());
    bytes
}

fn check_word(writer: u32, seq: u32) -> u32 {
    (writer.wrapping_mul(0x9E37_79B1) ^ seq).wrapping_mul(0x85EB_CA6B) ^ 0xC2B2_AE35
}

fn decode(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(
        bytes.len(),
        MESSAGE_LEN,
        "a read returned {} bytes, not one whole message: {bytes:?}",
        bytes.len()
    );
    let word = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
    let (writer, seq) = (word(0), word(4));
    assert_eq!(
        word(8),
        check_word(writer, seq),
        "corrupted message {bytes:?}"
    );
    (writer, seq)
}

/// The ways a reader can take a message; each reader of a test uses one.
#[derive(Clone, Copy, Debug)]
enum Style {
    /// `recv`: whole messages, no copy.
    Recv,
    /// `read` with a buffer larger than a message: exactly one message.
    ReadWhole,
    /// `read` of 5 bytes, then `read` with a large buffer, which must
    /// return exactly the rest of that message (never the next one too).
    ReadSplit,
    /// `fill_buf` then `consume`.
    FillBuf,
}

const STYLES: [Style; 4] = [
    Style::Recv,
    Style::ReadWhole,
    Style::ReadSplit,
    Style::FillBuf,
];

/// The next message's (writer, seq), or `None` at end of stream.
fn next_message(reader: &mut Reader, style: Style) -> Option<(u32, u32)> {
    match style {
        Style::Recv => reader.recv().expect("recv").map(|m| decode(&m)),
        Style::ReadWhole => {
            let mut buf = [0u8; 64];
            let n = reader.read(&mut buf).expect("read");
            (n > 0).then(|| decode(&buf[..n]))
        }
        Style::ReadSplit => {
            let mut head = [0u8; 5];
            let n = reader.read(&mut head).expect("read");
            if n == 0 {
                return None;
            }
            assert_eq!(n, 5, "a read of 5 bytes of a 12-byte message");
            let mut rest = [0u8; 64];
            let m = reader.read(&mut rest).expect("read the rest");
            let mut whole = head.to_vec();
            whole.extend_from_slice(&rest[..m]);
            Some(decode(&whole))
        }
        Style::FillBuf => {
            let data = reader.fill_buf().expect("fill_buf");
            if data.is_empty() {
                return None;
            }
            let decoded = decode(data);
            reader.consume(MESSAGE_LEN);
            Some(decoded)
        }
    }
}

/// Reads to end of stream, returning every (writer, seq) in arrival order.
fn drain(mut reader: Reader, style: Style) -> Vec<(u32, u32)> {
    let mut got = Vec::new();
    while let Some(message) = next_message(&mut reader, style) {
        got.push(message);
    }
    got
}

/// Checks that within each reader every writer's messages arrive in the
/// order written (strictly increasing sequence numbers).
fn assert_in_order_per_writer(reader: usize, got: &[(u32, u32)]) {
    let mut last = std::collections::HashMap::new();
    for &(writer, seq) in got {
        if let Some(previous) = last.insert(writer, seq) {
            assert!(
                seq > previous,
                "reader {reader}: writer {writer}'s message {seq} came after its message {previous}"
            );
        }
    }
}

/// Checks that the readers together got each of `writers x per_writer`
/// messages exactly once.
fn assert_exactly_once(got: &[Vec<(u32, u32)>], writers: u32, per_writer: u32) {
    let mut seen = vec![0u8; (writers * per_writer) as usize];
    for (reader, messages) in got.iter().enumerate() {
        assert_in_order_per_writer(reader, messages);
        for &(writer, seq) in messages {
            assert!(
                writer < writers && seq < per_writer,
                "reader {reader} got ({writer}, {seq}), which nobody wrote"
            );
            let slot = &mut seen[(writer * per_writer + seq) as usize];
            *slot += 1;
            assert_eq!(*slot, 1, "message ({writer}, {seq}) was received twice");
        }
    }
    if let Some(missing) = seen.iter().position(|&n| n == 0) {
        let (writer, seq) = (missing as u32 / per_writer, missing as u32 % per_writer);
        panic!("message ({writer}, {seq}) was never received");
    }
}

/// Checks that one reader got exactly `0..count` from `writer`, in order,
/// among other messages.
fn assert_all_from(reader: &str, got: &[(u32, u32)], writer: u32, count: u32) {
    let seqs: Vec<u32> = got
        .iter()
        .filter(|(w, _)| *w == writer)
        .map(|(_, s)| *s)
        .collect();
    if seqs.len() != count as usize || seqs.iter().zip(0..).any(|(&s, i)| s != i) {
        let first_wrong = seqs.iter().zip(0..).position(|(&s, i)| s != i);
        panic!(
            "{reader}: from writer {writer} got {} of {count} messages; first out of place at {first_wrong:?}",
            seqs.len()
        );
    }
}

/// A bound for joining the threads of one test.
fn bound() -> Duration {
    scale(common::BOUND, Duration::from_secs(600))
}

fn report(what: &str, messages: u64, started: Instant) {
    println!(
        "{what}: {messages} messages checked in {:?}",
        started.elapsed()
    );
}

/// `writers` writers and `readers` readers on one queue path, each writer
/// sending `per_writer` messages; returns how many messages were checked.
fn queue_exactly_once(buffer_size: usize, writers: u32, readers: usize, per_writer: u32) -> u64 {
    let backend = ChannelBackend::builder().buffer_size(buffer_size).build();
    let path = "stress/queue";
    // Readers first, so that every reader takes part from the start.
    let reader_threads: Vec<_> = (0..readers)
        .map(|i| {
            let reader = backend.new_reader(path).unwrap();
            let style = STYLES[i % STYLES.len()];
            common::spawn(&format!("reader {i} ({style:?})"), move || {
                drain(reader, style)
            })
        })
        .collect();
    let writer_threads: Vec<_> = (0..writers)
        .map(|id| {
            let mut writer = backend.new_writer(path).unwrap();
            common::spawn(&format!("writer {id}"), move || {
                for seq in 0..per_writer {
                    assert_eq!(writer.write(&encode(id, seq)).unwrap(), MESSAGE_LEN);
                }
                // Dropping the writer counts it out; the last one ends the stream.
            })
        })
        .collect();
    for thread in writer_threads {
        thread.join_within(bound());
    }
    let got: Vec<_> = reader_threads
        .into_iter()
        .map(|t| t.join_within(bound()))
        .collect();
    assert_exactly_once(&got, writers, per_writer);
    u64::from(writers * per_writer)
}

#[test]
fn queue_every_message_reaches_exactly_one_reader_in_writer_order() {
    let started = Instant::now();
    let (n, per_writer) = scale((4, 5_000), (8, 100_000));
    let checked = queue_exactly_once(100, n, n as usize, per_writer);
    report("queue, buffer 100", checked, started);
}

#[test]
fn queue_with_a_tiny_buffer_delivers_exactly_once_under_backpressure() {
    let started = Instant::now();
    let (n, per_writer) = scale((4, 3_000), (8, 50_000));
    let checked = queue_exactly_once(1, n, n as usize, per_writer);
    report("queue, buffer 1", checked, started);
}

#[test]
fn hand_off_queue_delivers_every_message_exactly_once() {
    let started = Instant::now();
    let (n, per_writer) = scale((4, 1_500), (8, 25_000));
    let checked = queue_exactly_once(0, n, n as usize, per_writer);
    report("queue, buffer 0", checked, started);
}

#[test]
fn many_writers_one_reader_and_one_writer_many_readers_deliver_exactly_once() {
    let started = Instant::now();
    let per_writer = scale(2_000, 50_000);
    let mut checked = queue_exactly_once(8, 6, 1, per_writer);
    checked += queue_exactly_once(8, 1, 6, per_writer * 6);
    report("queue, 6x1 and 1x6", checked, started);
}

#[test]
fn persistent_every_reader_gets_every_message_once_in_order() {
    let started = Instant::now();
    let (n, per_writer) = scale((4u32, 5_000u32), (8, 100_000));
    let readers = n as usize;
    let backend = ChannelBackend::builder().persistent(true).build();
    let path = "stress/log";
    let writers: Vec<_> = (0..n).map(|_| backend.new_writer(path).unwrap()).collect();
    // Half the readers open before any write, half while (or after) the
    // writers write: a late reader still replays everything from the first.
    let reader_threads: Vec<_> = (0..readers)
        .map(|i| {
            let style = STYLES[i % STYLES.len()];
            let early = (i % 2 == 0).then(|| backend.new_reader(path).unwrap());
            let backend = backend.clone();
            common::spawn(&format!("reader {i} ({style:?})"), move || {
                let reader = early.unwrap_or_else(|| {
                    std::thread::sleep(Duration::from_millis(i as u64 * 3));
                    backend.new_reader(path).unwrap()
                });
                drain(reader, style)
            })
        })
        .collect();
    let writer_threads: Vec<_> = writers
        .into_iter()
        .zip(0..)
        .map(|(mut writer, id)| {
            common::spawn(&format!("writer {id}"), move || {
                for seq in 0..per_writer {
                    assert_eq!(writer.write(&encode(id, seq)).unwrap(), MESSAGE_LEN);
                }
            })
        })
        .collect();
    for thread in writer_threads {
        thread.join_within(bound());
    }
    // A reader opened after the stream ended still reads all of it.
    let after_end = backend.new_reader(path).unwrap();
    let mut got: Vec<_> = reader_threads
        .into_iter()
        .map(|t| t.join_within(bound()))
        .collect();
    got.push(common::within(bound(), "reader after the end", move || {
        drain(after_end, Style::Recv)
    }));
    for (i, messages) in got.iter().enumerate() {
        assert_eq!(
            messages.len(),
            (n * per_writer) as usize,
            "reader {i} got {} messages",
            messages.len()
        );
        for writer in 0..n {
            assert_all_from(&format!("reader {i}"), messages, writer, per_writer);
        }
    }
    report(
        "persistent",
        got.iter().map(|g| g.len() as u64).sum(),
        started,
    );
}

/// The 64 paths broadcasts go to. Zero-padded, so that no path's name is a
/// prefix of another's and each name alone picks exactly its path.
fn fan_paths() -> Vec<String> {
    (0..64).map(|i| format!("fan/{i:02}")).collect()
}

/// How a broadcast test ends the streams once all broadcasts are in.
#[derive(Clone, Copy, Debug)]
enum Ending {
    /// `delete` every path: readers drain what was queued, then see the end.
    Delete,
    /// `close` the backend: the same for every path at once.
    CloseBackend,
    /// A writer per path (which also writes its own messages) closes.
    Writers,
}

/// Broadcasts `count` messages to 64 paths, each with a reader thread, and
/// checks that every reader got every broadcast exactly once, in order.
/// Returns how many messages were checked.
fn broadcast_to_64(buffer_size: usize, persistent: bool, count: u32, ending: Ending) -> u64 {
    let backend = ChannelBackend::builder()
        .buffer_size(buffer_size)
        .persistent(persistent)
        .build();
    let paths = fan_paths();
    let per_writer = count / 2;
    let readers: Vec<_> = paths
        .iter()
        .zip(0..)
        .map(|(path, i)| {
            let reader = backend.new_reader(path).unwrap();
            let style = STYLES[i % STYLES.len()];
            common::spawn(&format!("reader of {path} ({style:?})"), move || {
                drain(reader, style)
            })
        })
        .collect();
    let writers: Vec<_> = match ending {
        Ending::Writers => paths
            .iter()
            .zip(0..)
            .map(|(path, id)| {
                let mut writer = backend.new_writer(path).unwrap();
                common::spawn(&format!("writer of {path}"), move || {
                    for seq in 0..per_writer {
                        writer.write_all(&encode(id, seq)).unwrap();
                    }
                    // Handed back, so that the stream stays open until
                    // every broadcast is in.
                    writer
                })
            })
            .collect(),
        _ => Vec::new(),
    };
    let broadcaster = {
        let backend = backend.clone();
        common::spawn("broadcaster", move || {
            for seq in 0..count {
                let delivered = backend
                    .broadcast("fan/", &encode(BROADCASTER, seq))
                    .unwrap();
                assert_eq!(delivered, 64, "broadcast {seq} reached {delivered} paths");
            }
        })
    };
    broadcaster.join_within(bound());
    let writers: Vec<_> = writers
        .into_iter()
        .map(|t| t.join_within(bound()))
        .collect();
    match ending {
        Ending::Delete => {
            for path in &paths {
                backend.delete(path).unwrap();
            }
        }
        Ending::CloseBackend => backend.close().unwrap(),
        Ending::Writers => drop(writers),
    }
    let mut checked = 0;
    for (reader, path) in readers.into_iter().zip(&paths) {
        let got = reader.join_within(bound());
        let what = format!("reader of {path}");
        assert_all_from(&what, &got, BROADCASTER, count);
        let mut expected = count as usize;
        if let Ending::Writers = ending {
            let id: u32 = path[4..].parse().unwrap();
            assert_all_from(&what, &got, id, per_writer);
            expected += per_writer as usize;
        }
        assert_eq!(got.len(), expected, "{what} got messages nobody sent");
        checked += got.len() as u64;
    }
    checked
}

#[test]
fn broadcast_reaches_64_readers_exactly_once_in_order() {
    let started = Instant::now();
    let count = scale(1_000, 100_000);
    let checked = broadcast_to_64(100, false, count, Ending::Delete);
    report("broadcast to 64, buffer 100", checked, started);
}

#[test]
fn broadcast_with_a_tiny_buffer_waits_for_each_slow_reader() {
    let started = Instant::now();
    let count = scale(500, 50_000);
    let checked = broadcast_to_64(1, false, count, Ending::CloseBackend);
    report("broadcast to 64, buffer 1", checked, started);
}

#[test]
fn broadcast_hands_off_to_64_readers_with_buffer_zero() {
    let started = Instant::now();
    let count = scale(150, 10_000);
    let checked = broadcast_to_64(0, false, count, Ending::Delete);
    report("broadcast to 64, buffer 0", checked, started);
}

#[test]
fn broadcast_mixed_with_a_writer_per_path_keeps_both_orders() {
    let started = Instant::now();
    let count = scale(600, 50_000);
    let checked = broadcast_to_64(4, false, count, Ending::Writers);
    report("broadcast to 64 with writers, buffer 4", checked, started);
}

#[test]
fn broadcast_mixed_with_writers_hand_off() {
    let started = Instant::now();
    let count = scale(100, 5_000);
    let checked = broadcast_to_64(0, false, count, Ending::Writers);
    report("broadcast to 64 with writers, buffer 0", checked, started);
}

#[test]
fn persistent_broadcast_reaches_64_readers_exactly_once_in_order() {
    let started = Instant::now();
    let count = scale(1_000, 50_000);
    let mut checked = broadcast_to_64(100, true, count, Ending::Writers);
    checked += broadcast_to_64(100, true, count, Ending::CloseBackend);
    report("persistent broadcast to 64", checked, started);
}

#[test]
fn try_broadcast_reports_every_full_path_and_retries_deliver_exactly_once() {
    let started = Instant::now();
    let count = scale(300, 20_000);
    let backend = ChannelBackend::builder().buffer_size(2).build();
    let paths = fan_paths();
    let readers: Vec<_> = paths
        .iter()
        .zip(0..)
        .map(|(path, i)| {
            let reader = backend.new_reader(path).unwrap();
            let style = STYLES[i % STYLES.len()];
            common::spawn(&format!("reader of {path}"), move || drain(reader, style))
        })
        .collect();
    let sender = {
        let backend = backend.clone();
        common::spawn("try_broadcaster", move || {
            let mut retries = 0u64;
            for seq in 0..count {
                let data = encode(BROADCASTER, seq);
                let report = backend.try_broadcast("fan/", &data).unwrap();
                assert_eq!(
                    report.delivered + report.full.len(),
                    64,
                    "broadcast {seq}: {report:?} does not account for every path"
                );
                assert!(report.full.windows(2).all(|w| w[0] < w[1]), "{report:?}");
                // Each name is a prefix of its path alone: retry each full
                // path until it takes the message, before the next message,
                // so that order is kept.
                for path in report.full {
                    loop {
                        let again = backend.try_broadcast(&path, &data).unwrap();
                        if again.delivered == 1 {
                            assert!(again.full.is_empty(), "{again:?}");
                            break;
                        }
                        assert_eq!(again.full, std::slice::from_ref(&path));
                        retries += 1;
                        std::thread::yield_now();
                    }
                }
            }
            retries
        })
    };
    let retries = sender.join_within(bound());
    backend.close().unwrap();
    let mut checked = 0;
    for (reader, path) in readers.into_iter().zip(&paths) {
        let got = reader.join_within(bound());
        assert_all_from(&format!("reader of {path}"), &got, BROADCASTER, count);
        assert_eq!(got.len(), count as usize);
        checked += got.len() as u64;
    }
    println!("try_broadcast: {retries} retries of full paths");
    report("try_broadcast to 64, buffer 2", checked, started);
}
