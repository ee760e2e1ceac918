//! Race rounds: random interleavings of every operation from several
//! threads on a few paths, each round ended by closing the backend.
//!
//! Each round picks a mode (queue with a buffer of 0, 1, 2 or 8, or
//! persistent), 3 or 4 threads and a random list of operations for each:
//! writes (some with short timeouts, some without), reads in every style,
//! closes and drops of handles, `try_clone`, `delete`, `broadcast`,
//! `try_broadcast`, the queries, and now and then `close` of the backend.
//! Threads block on each other freely (a reader with no timeout on a path
//! nobody writes to, a writer on a full queue): the main thread watches
//! what each thread is doing and closes the backend once every thread has
//! finished or looks stuck, or at a random moment. Then:
//!
//! - no thread may still be blocked (the failure names the operation it is
//!   in), and none may have panicked;
//! - every result is one the contract allows (error kinds and variants);
//! - every message a reader got was written by a write that returned `Ok`
//!   (or by a broadcast), arrived whole and intact, after earlier messages
//!   of the same writer; in queue mode no message arrives twice, in
//!   persistent mode no reader sees one twice and each reader sees a prefix
//!   of what each writer wrote;
//! - end of stream is final: a reader that saw it never gets data again.
//!
//! The seed is printed on failure; `CHANIO_SEED=<seed>` replays the same
//! operation lists (the thread timing, of course, differs).
mod common;

use std::collections::HashMap;
use std::io::{self, BufRead, IoSlice, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use chanio::{ChannelBackend, Error, Message, Reader, Writer};
use common::{Rng, scale};

const PATHS: [&str; 3] = ["r/a", "r/a/x", "r/b"];
const PREFIXES: [&str; 5] = ["", "r/", "r/a", "r/b", "zz"];

/// Header of every message: source id, sequence number, total length.
const HEADER: usize = 12;
const MAX_LEN: usize = HEADER + 40;

/// Source ids at or above this are broadcasters (one per thread).
const BROADCAST_BASE: u32 = 0x8000_0000;

/// How long every unfinished thread must have been in its current
/// operation before the round is taken to be stuck and the backend closed.
const STALL: Duration = Duration::from_millis(2);
/// The longest a round runs before the backend is closed anyway.
const ROUND_CAP: Duration = Duration::from_millis(30);
/// After the backend is closed, how long threads may take to finish their
/// remaining operations (none of which may block) before it is a hang.
const HANG: Duration = Duration::from_secs(10);

fn filler(src: u32, seq: u32, i: usize) -> u8 {
    ((src ^ seq.rotate_left(7) ^ (i as u32).wrapping_mul(0x9E37_79B1)).wrapping_mul(0x85EB_CA6B)
        >> 24) as u8
}

fn encode(src: u32, seq: u32, len: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(len);
    bytes.extend_from_slice(&src.to_le_bytes());
    bytes.extend_from_slice(&seq.to_le_bytes());
    bytes.extend_from_slice(&(len as u32).to_le_bytes());
    bytes.extend((HEADER..len).map(|i| filler(src, seq, i)));
    bytes
}

/// Reassembles messages from the pieces reads return, checking that no
/// read joins two messages and that every message is intact.
#[derive(Clone, Default)]
struct Decoder {
    partial: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq)]
enum Ends {
    /// The call promises these bytes end the current message.
    Yes,
    /// They may or may not.
    Maybe,
}

impl Decoder {
    fn feed(&mut self, chunk: &[u8], ends: Ends) -> Option<(u32, u32)> {
        assert!(!chunk.is_empty(), "fed an empty chunk");
        self.partial.extend_from_slice(chunk);
        if self.partial.len() < HEADER {
            assert!(
                ends == Ends::Maybe,
                "a message of {:?} ended inside its header",
                self.partial
            );
            return None;
        }
        let word = |i: usize| u32::from_le_bytes(self.partial[i..i + 4].try_into().unwrap());
        let (src, seq, len) = (word(0), word(4), word(8) as usize);
        assert!(
            (HEADER..=MAX_LEN).contains(&len),
            "garbled header {:?}",
            &self.partial[..HEADER]
        );
        assert!(
            self.partial.len() <= len,
            "one read joined message ({src}, {seq}) of {len} bytes with what follows ({} bytes)",
            self.partial.len()
        );
        if self.partial.len() < len {
            assert!(
                ends == Ends::Maybe,
                "message ({src}, {seq}) ended after {} of its {len} bytes",
                self.partial.len()
            );
            return None;
        }
        assert_eq!(
            self.partial,
            encode(src, seq, len),
            "message ({src}, {seq}) corrupted"
        );
        self.partial.clear();
        Some((src, seq))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    NewWriter,
    NewReader,
    Write,
    WriteEmpty,
    Read,
    Recv,
    FillBuf,
    CloseWriter,
    DropWriter,
    CloseReader,
    DropReader,
    TryClone,
    Delete,
    CloseBackend,
    Broadcast,
    TryBroadcast,
    Exists,
    List,
    Count,
    DropAll,
}

/// Operations with their weights.
const OPS: [(Op, usize); 19] = [
    (Op::NewWriter, 8),
    (Op::NewReader, 8),
    (Op::Write, 30),
    (Op::WriteEmpty, 2),
    (Op::Read, 12),
    (Op::Recv, 12),
    (Op::FillBuf, 5),
    (Op::CloseWriter, 3),
    (Op::DropWriter, 3),
    (Op::CloseReader, 2),
    (Op::DropReader, 2),
    (Op::TryClone, 3),
    (Op::Delete, 3),
    (Op::CloseBackend, 1),
    (Op::Broadcast, 4),
    (Op::TryBroadcast, 4),
    (Op::Exists, 2),
    (Op::List, 2),
    (Op::Count, 1),
];

const OP_NAMES: [&str; 20] = [
    "new_writer",
    "new_reader",
    "write",
    "write(&[])",
    "read",
    "recv",
    "fill_buf/consume",
    "close writer",
    "drop writer",
    "close reader",
    "drop reader",
    "try_clone",
    "delete",
    "backend close",
    "broadcast",
    "try_broadcast",
    "exists",
    "list",
    "channel_count",
    "dropping the handles at the end",
];

fn pick_op(rng: &mut Rng) -> Op {
    let total: usize = OPS.iter().map(|(_, w)| w).sum();
    let mut roll = rng.below(total);
    for (op, weight) in OPS {
        if roll < weight {
            return op;
        }
        roll -= weight;
    }
    unreachable!()
}

/// What a thread is doing, for the watchdog.
struct Status {
    op: AtomicUsize,
    /// Microseconds since the round started when `op` began.
    since: AtomicU64,
    done: AtomicBool,
}

impl Status {
    fn new() -> Status {
        Status {
            op: AtomicUsize::new(usize::MAX),
            since: AtomicU64::new(0),
            done: AtomicBool::new(false),
        }
    }

    fn enter(&self, op: Op, start: Instant) {
        self.since
            .store(start.elapsed().as_micros() as u64, Ordering::SeqCst);
        self.op.store(op as usize, Ordering::SeqCst);
    }

    fn describe(&self) -> &'static str {
        OP_NAMES
            .get(self.op.load(Ordering::SeqCst))
            .copied()
            .unwrap_or("starting")
    }
}

struct Round {
    backend: ChannelBackend,
    persistent: bool,
    /// Whether to check that a reader that saw end of stream never gets
    /// data again (see `queue_end_of_stream_is_final_under_races`).
    end_is_final: bool,
    start: Instant,
    status: Vec<Status>,
    next_writer_id: AtomicU32,
}

struct LocalWriter {
    writer: Writer,
    id: u32,
    next_seq: u32,
    closed: bool,
}

struct LocalReader {
    reader: Reader,
    decoder: Decoder,
    got: Vec<(u32, u32)>,
    closed: bool,
    saw_end: bool,
}

/// What one thread did, for the checks at the end of the round.
#[derive(Default)]
struct ThreadLog {
    /// (source, seq, whether the write returned `Ok`).
    writes: Vec<(u32, u32, bool)>,
    /// (source, seq, most receptions allowed in queue mode).
    broadcasts: Vec<(u32, u32, usize)>,
    /// What each reader handle got, in order.
    readers: Vec<Vec<(u32, u32)>>,
    ops: u64,
    /// Operations begun while the backend was open.
    ops_before_close: u64,
}

fn random_timeout(rng: &mut Rng) -> Option<Duration> {
    match rng.below(20) {
        0..=7 => None,
        8..=11 => Some(Duration::ZERO),
        12..=16 => Some(Duration::from_millis(1)),
        _ => Some(Duration::from_millis(3)),
    }
}

fn io_parts(err: &io::Error) -> (io::ErrorKind, Error) {
    let inner = common::inner(err)
        .unwrap_or_else(|| panic!("io::Error without a chanio::Error inside: {err:?}"))
        .clone();
    assert_eq!(err.kind(), inner.io_kind(), "kind of {inner:?}");
    (err.kind(), inner)
}

/// The errors a write may give: its own writer closed, or the path
/// deleted or closed, or (with a timeout) a timeout.
fn check_write_error(err: &io::Error, local: &LocalWriter) {
    let (_, inner) = io_parts(err);
    let timed = local.writer.write_timeout().is_some();
    match inner {
        Error::WriterClosed { .. } if local.closed => {}
        Error::PathDeleted { .. } | Error::BackendClosed if !local.closed => {}
        Error::TimedOut { .. } if timed && !local.closed => {}
        other => panic!(
            "write on {} (closed: {}, timeout {:?}) gave {other:?}",
            local.writer.path(),
            local.closed,
            local.writer.write_timeout()
        ),
    }
}

/// The errors a read may give: its reader closed, or a timeout.
fn check_read_error(inner: &Error, local: &LocalReader) {
    match inner {
        Error::ReaderClosed { .. } if local.closed => {}
        Error::TimedOut { .. } if local.reader.read_timeout().is_some() && !local.closed => {}
        other => panic!(
            "read on {} (closed: {}, timeout {:?}) gave {other:?}",
            local.reader.path(),
            local.closed,
            local.reader.read_timeout()
        ),
    }
}

fn check_backend_error(what: &str, err: &Error) {
    assert!(matches!(err, Error::BackendClosed), "{what} gave {err:?}");
}

struct Worker<'a> {
    round: &'a Round,
    index: usize,
    rng: Rng,
    writers: Vec<LocalWriter>,
    readers: Vec<LocalReader>,
    log: ThreadLog,
    broadcast_seq: u32,
}

impl Worker<'_> {
    fn backend(&self) -> &ChannelBackend {
        &self.round.backend
    }

    fn path(&mut self) -> &'static str {
        PATHS[self.rng.below(PATHS.len())]
    }

    fn prefix(&mut self) -> &'static str {
        PREFIXES[self.rng.below(PREFIXES.len())]
    }

    fn run(&mut self, op: Op) {
        match op {
            Op::NewWriter => self.new_writer(),
            Op::NewReader => self.new_reader(),
            Op::Write => self.write(),
            Op::WriteEmpty => self.write_empty(),
            Op::Read | Op::Recv | Op::FillBuf => self.read(op),
            Op::CloseWriter | Op::DropWriter => self.close_writer(op == Op::DropWriter),
            Op::CloseReader | Op::DropReader => self.close_reader(op == Op::DropReader),
            Op::TryClone => self.try_clone(),
            Op::Delete => {
                let path = self.path();
                if let Err(err) = self.backend().delete(path) {
                    check_backend_error("delete", &err);
                }
            }
            Op::CloseBackend => self.backend().close().expect("close is always Ok"),
            Op::Broadcast | Op::TryBroadcast => self.broadcast(op == Op::TryBroadcast),
            Op::Exists => {
                let path = self.path();
                if let Err(err) = self.backend().exists(path) {
                    check_backend_error("exists", &err);
                }
            }
            Op::List => {
                let prefix = self.prefix();
                match self.backend().list(prefix) {
                    Ok(names) => {
                        assert!(names.windows(2).all(|w| w[0] < w[1]), "unsorted {names:?}");
                        for name in &names {
                            assert!(
                                PATHS.contains(&name.as_str()) && name.starts_with(prefix),
                                "list({prefix:?}) gave {name:?}"
                            );
                        }
                    }
                    Err(err) => check_backend_error("list", &err),
                }
            }
            Op::Count => {
                let count = self.backend().channel_count();
                assert!(count <= PATHS.len(), "channel_count {count}");
            }
            Op::DropAll => unreachable!(),
        }
    }

    fn add_writer(&mut self, writer: Writer) {
        let id = self.round.next_writer_id.fetch_add(1, Ordering::Relaxed);
        self.writers.push(LocalWriter {
            writer,
            id,
            next_seq: 0,
            closed: false,
        });
    }

    fn new_writer(&mut self) {
        let path = self.path();
        match self.backend().new_writer(path) {
            Ok(mut writer) => {
                writer.set_write_timeout(random_timeout(&mut self.rng));
                self.add_writer(writer);
            }
            Err(Error::BackendClosed | Error::StreamEnded { .. }) => {}
            Err(other) => panic!("new_writer({path:?}) gave {other:?}"),
        }
    }

    fn new_reader(&mut self) {
        let path = self.path();
        match self.backend().new_reader(path) {
            Ok(mut reader) => {
                reader.set_read_timeout(random_timeout(&mut self.rng));
                self.readers.push(LocalReader {
                    reader,
                    decoder: Decoder::default(),
                    got: Vec::new(),
                    closed: false,
                    saw_end: false,
                });
            }
            Err(err) => check_backend_error("new_reader", &err),
        }
    }

    fn write(&mut self) {
        if self.writers.is_empty() {
            return self.new_writer();
        }
        let i = self.rng.below(self.writers.len());
        let len = HEADER + self.rng.below(MAX_LEN - HEADER + 1);
        let how = self.rng.below(4);
        let local = &mut self.writers[i];
        let seq = local.next_seq;
        local.next_seq += 1;
        let bytes = encode(local.id, seq, len);
        let result = match how {
            0 => {
                let (a, b) = bytes.split_at(len / 2);
                local
                    .writer
                    .write_vectored(&[IoSlice::new(a), IoSlice::new(&[]), IoSlice::new(b)])
            }
            1 => local
                .writer
                .send(Message::from(bytes.clone()))
                .map(|()| len)
                .map_err(io::Error::from),
            _ => local.writer.write(&bytes),
        };
        match &result {
            Ok(n) => assert_eq!(*n, len, "a write took part of a message"),
            Err(err) => check_write_error(err, local),
        }
        self.log.writes.push((local.id, seq, result.is_ok()));
    }

    fn write_empty(&mut self) {
        if self.writers.is_empty() {
            return;
        }
        let i = self.rng.below(self.writers.len());
        let local = &mut self.writers[i];
        match local.writer.write(&[]) {
            Ok(n) => assert_eq!(n, 0),
            // Reading the contract's "write(&[]) returns Ok(0)" as applying
            // to a usable writer: on a closed writer or a deleted or
            // closed stream an error of kind BrokenPipe is also accepted.
            Err(err) => {
                let (kind, inner) = io_parts(&err);
                assert_eq!(kind, io::ErrorKind::BrokenPipe, "write(&[]) gave {inner:?}");
                check_write_error(&err, local);
            }
        }
    }

    fn read(&mut self, op: Op) {
        if self.readers.is_empty() {
            return self.new_reader();
        }
        let i = self.rng.below(self.readers.len());
        let size = 1 + self.rng.below(MAX_LEN + 8);
        let consume_all = self.rng.chance(60);
        let consume_part = self.rng.next_u64() as usize;
        let local = &mut self.readers[i];
        let piece: Result<Option<(Vec<u8>, Ends)>, Error> = match op {
            Op::Recv => local
                .reader
                .recv()
                .map(|m| m.map(|m| (m.to_vec(), Ends::Yes))),
            Op::Read => {
                let mut buf = vec![0u8; size];
                match local.reader.read(&mut buf) {
                    Ok(0) => Ok(None),
                    Ok(n) => {
                        let ends = if n < size { Ends::Yes } else { Ends::Maybe };
                        Ok(Some((buf[..n].to_vec(), ends)))
                    }
                    Err(err) => Err(io_parts(&err).1),
                }
            }
            _ => match local.reader.fill_buf() {
                Ok([]) => Ok(None),
                Ok(data) => {
                    // fill_buf shows the whole rest of the current message.
                    let data = data.to_vec();
                    local.decoder.clone().feed(&data, Ends::Yes);
                    let take = if consume_all {
                        data.len()
                    } else {
                        1 + consume_part % data.len()
                    };
                    local.reader.consume(take);
                    let ends = if take == data.len() {
                        Ends::Yes
                    } else {
                        Ends::Maybe
                    };
                    Ok(Some((data[..take].to_vec(), ends)))
                }
                Err(err) => Err(io_parts(&err).1),
            },
        };
        match piece {
            Ok(Some((bytes, ends))) => {
                assert!(
                    !(local.saw_end && self.round.end_is_final),
                    "{} returned data after end of stream",
                    local.reader.path()
                );
                assert!(!local.closed, "a closed reader returned data");
                if let Some(message) = local.decoder.feed(&bytes, ends) {
                    local.got.push(message);
                }
            }
            Ok(None) => {
                assert!(!local.closed, "a closed reader returned end of stream");
                assert!(
                    local.decoder.partial.is_empty(),
                    "end of stream in the middle of a message"
                );
                local.saw_end = true;
            }
            Err(err) => check_read_error(&err, local),
        }
    }

    fn close_writer(&mut self, drop_it: bool) {
        if self.writers.is_empty() {
            return;
        }
        let i = self.rng.below(self.writers.len());
        if drop_it {
            drop(self.writers.swap_remove(i));
        } else {
            let local = &mut self.writers[i];
            local.writer.close().expect("close is always Ok");
            local.closed = true;
        }
    }

    fn close_reader(&mut self, drop_it: bool) {
        if self.readers.is_empty() {
            return;
        }
        let i = self.rng.below(self.readers.len());
        if drop_it {
            let local = self.readers.swap_remove(i);
            self.log.readers.push(local.got);
        } else {
            let local = &mut self.readers[i];
            local.reader.close().expect("close is always Ok");
            local.closed = true;
            // The rest of a partly read message goes with the close.
            local.decoder.partial.clear();
        }
    }

    fn try_clone(&mut self) {
        if self.writers.is_empty() {
            return;
        }
        let i = self.rng.below(self.writers.len());
        let local = &self.writers[i];
        match local.writer.try_clone() {
            Ok(writer) => {
                assert!(!local.closed, "try_clone of a closed writer succeeded");
                assert_eq!(writer.write_timeout(), local.writer.write_timeout());
                self.add_writer(writer);
            }
            Err(Error::WriterClosed { .. }) if local.closed => {}
            // StreamEnded: a delete racing with the clone can end the stream
            // between the clone's "is it deleted" and "has it ended" checks;
            // both are true of the stream by then, so either error is fair.
            Err(Error::PathDeleted { .. } | Error::BackendClosed | Error::StreamEnded { .. })
                if !local.closed => {}
            Err(other) => panic!("try_clone (closed: {}) gave {other:?}", local.closed),
        }
    }

    fn broadcast(&mut self, try_only: bool) {
        let prefix = self.prefix();
        let src = BROADCAST_BASE + self.index as u32;
        let seq = self.broadcast_seq;
        self.broadcast_seq += 1;
        let len = HEADER + self.rng.below(MAX_LEN - HEADER + 1);
        let bytes = encode(src, seq, len);
        let matching = PATHS.iter().filter(|p| p.starts_with(prefix)).count();
        let allowed = if try_only {
            match self.backend().try_broadcast(prefix, &bytes) {
                Ok(report) => {
                    assert!(
                        report.delivered + report.full.len() <= matching,
                        "try_broadcast({prefix:?}): {report:?}"
                    );
                    assert!(report.full.windows(2).all(|w| w[0] < w[1]), "{report:?}");
                    for name in &report.full {
                        assert!(PATHS.contains(&name.as_str()) && name.starts_with(prefix));
                    }
                    if self.round.persistent {
                        assert!(report.full.is_empty(), "a log was full: {report:?}");
                    }
                    report.delivered
                }
                Err(err) => {
                    check_backend_error("try_broadcast", &err);
                    matching
                }
            }
        } else {
            match self.backend().broadcast(prefix, &bytes) {
                Ok(delivered) => {
                    assert!(
                        delivered <= matching,
                        "broadcast({prefix:?}) gave {delivered}"
                    );
                    delivered
                }
                // Paths reached before the close keep their copy.
                Err(err) => {
                    check_backend_error("broadcast", &err);
                    matching
                }
            }
        };
        self.log.broadcasts.push((src, seq, allowed));
    }

    fn finish(mut self) -> ThreadLog {
        self.round.status[self.index].enter(Op::DropAll, self.round.start);
        self.writers.clear();
        for local in self.readers.drain(..) {
            self.log.readers.push(local.got);
        }
        self.log
    }
}

/// Marks a thread done when it ends, also by panicking (so that the
/// watchdog reports the panic rather than a hang).
struct DoneOnDrop<'a>(&'a AtomicBool);

impl Drop for DoneOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn run_thread(round: Arc<Round>, index: usize, seed: u64, ops: usize) -> ThreadLog {
    let _done = DoneOnDrop(&round.status[index].done);
    let mut worker = Worker {
        round: &round,
        index,
        rng: Rng::new(seed),
        writers: Vec::new(),
        readers: Vec::new(),
        log: ThreadLog::default(),
        broadcast_seq: 0,
    };
    for _ in 0..ops {
        let op = pick_op(&mut worker.rng);
        round.status[index].enter(op, round.start);
        if !round.backend.is_closed() {
            worker.log.ops_before_close += 1;
        }
        worker.run(op);
        worker.log.ops += 1;
    }
    worker.finish()
}

/// Prints the seeds if the round panics.
struct SeedGuard {
    master: u64,
    round: u64,
    number: u64,
    mode: String,
}

impl Drop for SeedGuard {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!(
                "race round {} ({}) failed: round seed {}, run seed {} (replay with CHANIO_SEED={})",
                self.number, self.mode, self.round, self.master, self.master
            );
        }
    }
}

/// Checks what the threads of one round saw; returns how many received
/// messages were checked.
fn check_round(logs: &[ThreadLog], persistent: bool) -> u64 {
    let mut written: HashMap<(u32, u32), bool> = HashMap::new();
    let mut ok_seqs: HashMap<u32, Vec<u32>> = HashMap::new();
    for log in logs {
        for &(src, seq, ok) in &log.writes {
            written.insert((src, seq), ok);
            if ok {
                ok_seqs.entry(src).or_default().push(seq);
            }
        }
    }
    let broadcasts: HashMap<(u32, u32), usize> = logs
        .iter()
        .flat_map(|log| log.broadcasts.iter().map(|&(s, q, n)| ((s, q), n)))
        .collect();
    let mut received: HashMap<(u32, u32), usize> = HashMap::new();
    let mut checked = 0;
    for (reader, got) in logs.iter().flat_map(|log| &log.readers).enumerate() {
        let mut last: HashMap<u32, u32> = HashMap::new();
        let mut per_src: HashMap<u32, Vec<u32>> = HashMap::new();
        for &(src, seq) in got {
            checked += 1;
            if src >= BROADCAST_BASE {
                assert!(
                    broadcasts.contains_key(&(src, seq)),
                    "reader {reader} got broadcast ({src}, {seq}), never sent"
                );
            } else {
                match written.get(&(src, seq)) {
                    Some(true) => {}
                    Some(false) => {
                        panic!("reader {reader} got ({src}, {seq}), whose write failed")
                    }
                    None => panic!("reader {reader} got ({src}, {seq}), never written"),
                }
            }
            if let Some(previous) = last.insert(src, seq) {
                assert!(
                    seq > previous,
                    "reader {reader} got ({src}, {seq}) after ({src}, {previous})"
                );
            }
            per_src.entry(src).or_default().push(seq);
            *received.entry((src, seq)).or_default() += 1;
        }
        if persistent {
            // A reader replays a log from its first message: from each
            // writer it has what that writer wrote, from the first on.
            for (src, seqs) in per_src.iter().filter(|(s, _)| **s < BROADCAST_BASE) {
                let all = &ok_seqs[src];
                assert!(
                    all.starts_with(seqs),
                    "reader {reader} got {seqs:?} of writer {src}'s {all:?}: not a prefix"
                );
            }
        }
    }
    if !persistent {
        for (&(src, seq), &times) in &received {
            let allowed = if src >= BROADCAST_BASE {
                broadcasts[&(src, seq)]
            } else {
                1
            };
            assert!(
                times <= allowed,
                "({src}, {seq}) was received {times} times (at most {allowed} allowed)"
            );
        }
    }
    checked
}

#[derive(Default)]
struct Totals {
    rounds: u64,
    ops: u64,
    checked: u64,
    stalled: u64,
    writes_ok: u64,
    ops_before_close: u64,
}

fn run_round(
    master: u64,
    number: u64,
    round_seed: u64,
    persistent: bool,
    end_is_final: bool,
    totals: &mut Totals,
) {
    let mut rng = Rng::new(round_seed);
    let buffer_size = *rng.pick(&[0, 1, 2, 8]);
    let mode = if persistent {
        "persistent".to_owned()
    } else {
        format!("queue, buffer {buffer_size}")
    };
    let _guard = SeedGuard {
        master,
        round: round_seed,
        number,
        mode,
    };
    let threads = 3 + rng.below(2);
    let round = Arc::new(Round {
        backend: ChannelBackend::builder()
            .buffer_size(buffer_size)
            .persistent(persistent)
            .build(),
        persistent,
        end_is_final,
        start: Instant::now(),
        status: (0..threads).map(|_| Status::new()).collect(),
        next_writer_id: AtomicU32::new(1),
    });
    let handles: Vec<_> = (0..threads)
        .map(|index| {
            let round = Arc::clone(&round);
            let seed = rng.next_u64();
            let ops = 8 + rng.below(33);
            common::spawn(&format!("race thread {index}"), move || {
                run_thread(round, index, seed, ops)
            })
        })
        .collect();

    let all_done = || round.status.iter().all(|s| s.done.load(Ordering::SeqCst));
    if rng.chance(35) {
        // Close at a random moment, racing with whatever runs.
        thread::sleep(Duration::from_micros(rng.below(1500) as u64));
    } else {
        // Close once all are done, or all unfinished ones look stuck.
        loop {
            thread::sleep(Duration::from_micros(200));
            if all_done() || round.start.elapsed() >= ROUND_CAP {
                break;
            }
            let now = round.start.elapsed().as_micros() as u64;
            let stuck = round.status.iter().all(|s| {
                s.done.load(Ordering::SeqCst)
                    || now.saturating_sub(s.since.load(Ordering::SeqCst))
                        >= STALL.as_micros() as u64
            });
            if stuck {
                totals.stalled += 1;
                break;
            }
        }
    }
    round.backend.close().unwrap();
    let closed_at = Instant::now();
    while !all_done() {
        if closed_at.elapsed() > HANG {
            let blocked: Vec<String> = round
                .status
                .iter()
                .enumerate()
                .filter(|(_, s)| !s.done.load(Ordering::SeqCst))
                .map(|(i, s)| format!("thread {i} in `{}`", s.describe()))
                .collect();
            panic!(
                "still blocked {HANG:?} after the backend was closed: {}",
                blocked.join(", ")
            );
        }
        thread::sleep(Duration::from_micros(500));
    }
    let logs: Vec<ThreadLog> = handles.into_iter().map(|h| h.join()).collect();

    // The closed backend refuses new work and holds no paths.
    assert_eq!(round.backend.channel_count(), 0);
    assert!(matches!(
        round.backend.new_writer("r/a"),
        Err(Error::BackendClosed)
    ));
    assert!(matches!(round.backend.list(""), Err(Error::BackendClosed)));

    totals.checked += check_round(&logs, persistent);
    totals.ops += logs.iter().map(|l| l.ops).sum::<u64>();
    totals.ops_before_close += logs.iter().map(|l| l.ops_before_close).sum::<u64>();
    totals.writes_ok += logs.iter().flat_map(|l| &l.writes).filter(|w| w.2).count() as u64;
    totals.rounds += 1;
}

fn race_rounds(persistent: bool, end_is_final: bool, rounds: u64, budget: Duration) {
    let master = common::seed();
    let mut rng = Rng::new(master);
    let started = Instant::now();
    let mut totals = Totals::default();
    for number in 0..rounds {
        if started.elapsed() > budget {
            break;
        }
        let round_seed = rng.next_u64();
        run_round(
            master,
            number,
            round_seed,
            persistent,
            end_is_final,
            &mut totals,
        );
    }
    println!(
        "race rounds ({}, seed {master}): {} rounds ({} closed as stuck), {} operations ({} begun before the close), {} writes ok, {} messages checked, in {:?}",
        if persistent { "persistent" } else { "queue" },
        totals.rounds,
        totals.stalled,
        totals.ops,
        totals.ops_before_close,
        totals.writes_ok,
        totals.checked,
        started.elapsed()
    );
    assert!(totals.rounds > 0);
}

#[test]
fn queue_mode_random_interleavings_never_hang_panic_forge_duplicate_or_reopen() {
    // "Reopen": a reader that saw end of stream never gets data again. This
    // failed before sends were gated against `delete` (a write racing with
    // delete could land after the reader's end of stream).
    race_rounds(
        false,
        true,
        scale(2_000, 30_000),
        scale(Duration::from_secs(12), Duration::from_secs(900)),
    );
}

#[test]
fn persistent_mode_random_interleavings_never_hang_panic_or_reorder() {
    race_rounds(
        true,
        true,
        scale(1_200, 20_000),
        scale(Duration::from_secs(8), Duration::from_secs(900)),
    );
}

/// The race the rounds above found, on its own: a writer writing in a loop
/// while its path is deleted, and a reader reading to end of stream. Once
/// `recv` has said `None`, the contract's "read returns Ok(0) at end of
/// stream (... path deleted ... and everything already queued read)" and
/// "blocked writers wake with an error of kind BrokenPipe" leave no room
/// for a later message: a write that returned `Ok` after the reader saw the
/// end would be lost to any reader that stops there.
#[test]
fn a_write_racing_with_delete_never_lands_after_a_reader_saw_the_end() {
    let rounds = scale(400, 5_000);
    common::within(Duration::from_secs(60), "delete races", move || {
        for round in 0..rounds {
            let backend = ChannelBackend::builder()
                .buffer_size(if round % 2 == 0 { 1 } else { 100 })
                .build();
            let mut reader = backend.new_reader("p").unwrap();
            let mut writer = backend.new_writer("p").unwrap();
            let writing = common::spawn("writer", move || {
                let mut ok = 0u32;
                while writer.write(&ok.to_le_bytes()).is_ok() {
                    ok += 1;
                }
                ok
            });
            let deleter = backend.clone();
            let deleting = common::spawn("deleter", move || {
                thread::sleep(Duration::from_micros(300));
                deleter.delete("p").unwrap();
            });
            let mut before_end = 0u32;
            while reader.recv().unwrap().is_some() {
                before_end += 1;
            }
            deleting.join();
            let written = writing.join();
            let mut after_end = 0u32;
            while reader.recv().unwrap().is_some() {
                after_end += 1;
            }
            assert_eq!(
                after_end, 0,
                "round {round}: {after_end} message(s) after end of stream \
                 ({before_end} before it, {written} writes returned Ok)"
            );
        }
    });
}
