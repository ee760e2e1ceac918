//! Race rounds: random interleavings of every operation from several
//! threads on a few paths, each round ended by closing the backend or by
//! dropping every handle of it.
//!
//! Each round picks a mode (queue with a buffer of 0, 1, 2 or 8, or
//! persistent), 3 or 4 threads and a random list of operations for each:
//! writes (some with short timeouts, some without), reads in every style
//! (including a `fill_buf` that consumes nothing), closes and drops of
//! handles, `try_clone`, `delete` (also two threads deleting one path at
//! once), `broadcast`, `try_broadcast`, the queries, writers dropped while
//! their thread panics (inside `catch_unwind`), a thread dropping its own
//! backend handle, and now and then `close` of the backend (also two
//! threads closing at once). Each thread holds a backend handle of its own.
//!
//! Most rounds end by `close`. Threads block on each other freely (a reader
//! with no timeout on a path nobody writes to, a writer on a full queue):
//! the main thread watches what each thread is doing and closes the backend
//! once every thread has finished or looks stuck, or at a random moment.
//!
//! The other rounds end by dropping every backend handle, with the threads
//! still holding writers and readers: the main thread drops its handle and
//! each thread drops its own at its next operation. Nothing closes the
//! backend, so those rounds give every blocking call a timeout, and at the
//! end each thread hands every handle it still holds to a thread of its own
//! that reads to end of stream with no timeout, or writes once more with no
//! timeout and drops the writer: by the last-handle rules, every one of
//! them must still finish (no handle waits on another one its own thread
//! holds, so nothing but the rules can keep them blocked). Then:
//!
//! - no thread may still be blocked (the failure names the operation it is
//!   in), and none may have panicked (but for the deliberate panics);
//! - every result is one the contract allows (error kinds and variants):
//!   `NoReaders` only once the handles are being dropped, `WriterPanicked`
//!   only on a path a writer of which really panicked, and once a reader
//!   got it, on every further read;
//! - nothing written after a `close` or `delete` returned is reported `Ok`:
//!   a write that began after any `close()` had returned must fail, and so
//!   must one that began after a `delete` of its path had returned, if that
//!   delete began after the writer was made (each delete takes a ticket
//!   before it starts; a writer notes the tickets taken when it was made);
//! - every message a reader got was written by a write that returned `Ok`
//!   (or by a broadcast), arrived whole and intact, after earlier messages
//!   of the same writer; in queue mode no message arrives twice, in
//!   persistent mode no reader sees one twice and each reader sees a prefix
//!   of what each writer wrote;
//! - end of stream is final: a reader that saw it never gets data again.
//!
//! A message a reader only peeked at (`fill_buf`, nothing consumed) goes
//! back to its queue when the reader is closed or dropped, so it may reach
//! another reader after later messages of its writer, or after that reader
//! saw the end of the stream; for those messages alone the order and
//! finality checks are waived (see the contract's "Nothing a reader only
//! peeked at is lost").
//!
//! The seed is printed on failure; `CHANIO_SEED=<seed>` replays the same
//! operation lists (the thread timing, of course, differs), and
//! `CHANIO_RACE_ENDING=close` (or `drop`) runs only the rounds that end
//! that way.
mod common;

use std::collections::{HashMap, HashSet};
use std::io::{self, BufRead, IoSlice, Read, Write};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, Once};
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
/// After the backend is closed (or its last handle dropped), how long
/// threads may take to finish their remaining operations before it is a
/// hang.
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
    Peek,
    CloseWriter,
    DropWriter,
    PanicWriter,
    CloseReader,
    DropReader,
    TryClone,
    Delete,
    DoubleDelete,
    CloseBackend,
    DoubleClose,
    DropBackend,
    Broadcast,
    TryBroadcast,
    Exists,
    List,
    Count,
    // Not picked at random: what a thread does at the end.
    DropAll,
    FinishByRules,
}

/// Operations with their weights.
const OPS: [(Op, usize); 24] = [
    (Op::NewWriter, 8),
    (Op::NewReader, 8),
    (Op::Write, 30),
    (Op::WriteEmpty, 2),
    (Op::Read, 12),
    (Op::Recv, 12),
    (Op::FillBuf, 5),
    (Op::Peek, 4),
    (Op::CloseWriter, 3),
    (Op::DropWriter, 3),
    (Op::PanicWriter, 2),
    (Op::CloseReader, 2),
    (Op::DropReader, 2),
    (Op::TryClone, 3),
    (Op::Delete, 3),
    (Op::DoubleDelete, 2),
    (Op::CloseBackend, 1),
    (Op::DoubleClose, 1),
    (Op::DropBackend, 1),
    (Op::Broadcast, 4),
    (Op::TryBroadcast, 4),
    (Op::Exists, 2),
    (Op::List, 2),
    (Op::Count, 1),
];

/// What each `Op` is called in a failure, in the order of the enum.
const OP_NAMES: [&str; 26] = [
    "new_writer",
    "new_reader",
    "write",
    "write(&[])",
    "read",
    "recv",
    "fill_buf/consume",
    "fill_buf (peek)",
    "close writer",
    "drop writer",
    "drop writer while panicking",
    "close reader",
    "drop reader",
    "try_clone",
    "delete",
    "two deletes of one path at once",
    "backend close",
    "two backend closes at once",
    "drop its backend handle",
    "broadcast",
    "try_broadcast",
    "exists",
    "list",
    "channel_count",
    "dropping the handles at the end",
    "finishing its handles, no backend handle left",
];

const _: () = assert!(OP_NAMES.len() == Op::FinishByRules as usize + 1);

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

/// The payload of the deliberate panics of `Op::PanicWriter`.
const DELIBERATE: &str = "a deliberate panic while holding a chanio::Writer";

/// Keeps the deliberate panics' messages off the output; every other panic
/// (a failing check) goes to the hook that was there before.
fn quiet_deliberate_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&DELIBERATE) {
                previous(info);
            }
        }));
    });
}

/// What a thread is doing, for the watchdog.
struct Status {
    op: AtomicUsize,
    /// Microseconds since the round started when `op` began.
    since: AtomicU64,
    done: AtomicBool,
    /// What the thread's handles are doing while it finishes them.
    finishing: Mutex<Vec<String>>,
}

impl Status {
    fn new() -> Status {
        Status {
            op: AtomicUsize::new(usize::MAX),
            since: AtomicU64::new(0),
            done: AtomicBool::new(false),
            finishing: Mutex::new(Vec::new()),
        }
    }

    fn enter(&self, op: Op, start: Instant) {
        self.since
            .store(start.elapsed().as_micros() as u64, Ordering::SeqCst);
        self.op.store(op as usize, Ordering::SeqCst);
    }

    fn describe(&self) -> String {
        let op = OP_NAMES
            .get(self.op.load(Ordering::SeqCst))
            .copied()
            .unwrap_or("starting");
        let finishing = self.finishing.lock().unwrap();
        if finishing.is_empty() {
            op.to_owned()
        } else {
            format!("{op}: {}", finishing.join(", "))
        }
    }

    /// Runs `f`, listed as `what` while it runs.
    fn finishing<T>(&self, what: String, f: impl FnOnce() -> T) -> T {
        self.finishing.lock().unwrap().push(what.clone());
        let result = f();
        self.finishing.lock().unwrap().retain(|w| *w != what);
        result
    }
}

/// How a round ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    /// The main thread closes the backend.
    Close,
    /// Every backend handle is dropped; nothing closes the backend.
    DropHandles,
}

/// The tickets of one path's deletes.
#[derive(Default)]
struct Deletes {
    /// The last ticket taken; each `delete` takes one before it is called.
    started: AtomicU64,
    /// The largest ticket whose `delete` has returned `Ok`.
    finished_max: AtomicU64,
}

struct Round {
    persistent: bool,
    ending: Ending,
    /// Whether to check that a reader that saw end of stream never gets
    /// data again (see `queue_end_of_stream_is_final_under_races`).
    end_is_final: bool,
    start: Instant,
    status: Vec<Status>,
    next_writer_id: AtomicU32,
    /// Set once any `close()` has returned: a write begun after must fail.
    close_returned: AtomicBool,
    /// Per path of `PATHS`.
    deletes: [Deletes; 3],
    /// Per path of `PATHS`: set, before the panic, once a writer of the
    /// path was dropped while its thread panicked.
    panicked: [AtomicBool; 3],
    /// `DropHandles` rounds: set when the main thread drops its handle;
    /// every thread drops its own at its next operation.
    dropping: AtomicBool,
    /// Messages a reader had only peeked at when it was closed or dropped:
    /// they go back to the queue, and may arrive late and out of order.
    given_back: Mutex<HashSet<(u32, u32)>>,
}

fn path_index(path: &str) -> usize {
    PATHS
        .iter()
        .position(|p| *p == path)
        .unwrap_or_else(|| panic!("{path:?} is not one of the round's paths"))
}

struct LocalWriter {
    writer: Writer,
    id: u32,
    next_seq: u32,
    closed: bool,
    path: usize,
    /// The last delete ticket of the path taken when this writer (or the
    /// writer it was cloned from) was made: once a delete with a later
    /// ticket has returned, the writer's stream was cancelled.
    ticket: u64,
}

struct LocalReader {
    reader: Reader,
    decoder: Decoder,
    got: Vec<(u32, u32)>,
    closed: bool,
    saw_end: bool,
    /// Whether a read gave `WriterPanicked` (then every later read must).
    poisoned: bool,
    /// The message this reader peeked at and has consumed none of.
    peeked: Option<(u32, u32)>,
    /// Whether the message being read began after the end (or the poison).
    late: bool,
}

impl LocalReader {
    fn new(reader: Reader) -> LocalReader {
        LocalReader {
            reader,
            decoder: Decoder::default(),
            got: Vec::new(),
            closed: false,
            saw_end: false,
            poisoned: false,
            peeked: None,
            late: false,
        }
    }
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
    /// Operations begun before any close had returned.
    ops_before_close: u64,
}

fn random_timeout(rng: &mut Rng, ending: Ending) -> Option<Duration> {
    match rng.below(20) {
        // Nothing would wake a call with no timeout in a round that is not
        // closed but for the last-handle rules, and those need the other
        // handles of the same thread gone too.
        0..=7 if ending == Ending::DropHandles => Some(Duration::from_millis(3)),
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
/// deleted or closed, or (with a timeout) a timeout, or, once the
/// backend's handles are being dropped, no reader left. (The contract
/// says so of queue mode; what a log's writer gets with no reader left is
/// not settled, so `NoReaders` is accepted there too.)
fn check_write_error(round: &Round, err: &io::Error, local: &LocalWriter) {
    let (_, inner) = io_parts(err);
    let timed = local.writer.write_timeout().is_some();
    let path = local.writer.path();
    let dropping = round.dropping.load(Ordering::SeqCst);
    match inner {
        Error::WriterClosed { .. } if local.closed => {}
        Error::PathDeleted { path: p } if !local.closed && p == path => {}
        Error::BackendClosed if !local.closed => {}
        Error::TimedOut { .. } if timed && !local.closed => {}
        Error::NoReaders { path: p } if !local.closed && dropping => {
            assert_eq!(p, path, "NoReaders names the writer's path");
        }
        other => panic!(
            "write on {path} (closed: {}, timeout {:?}, handles being dropped: {dropping}) gave {other:?}",
            local.closed,
            local.writer.write_timeout()
        ),
    }
}

/// The errors a read may give: its reader closed, a timeout, or, on a path
/// a writer of which panicked, `WriterPanicked`.
fn check_read_error(round: &Round, inner: &Error, local: &LocalReader) {
    let path = local.reader.path();
    let timed = local.reader.read_timeout().is_some();
    match inner {
        Error::ReaderClosed { .. } if local.closed => {}
        Error::TimedOut { .. } if timed && !local.closed && !local.poisoned => {}
        Error::WriterPanicked { path: p } if !local.closed && p == path => assert!(
            round.panicked[path_index(path)].load(Ordering::SeqCst),
            "a read of {path} gave WriterPanicked, but no writer of the path panicked"
        ),
        other => panic!(
            "read on {path} (closed: {}, timeout {:?}, poisoned: {}) gave {other:?}",
            local.closed,
            local.reader.read_timeout(),
            local.poisoned
        ),
    }
}

fn check_backend_error(what: &str, err: &Error) {
    assert!(matches!(err, Error::BackendClosed), "{what} gave {err:?}");
}

/// One write of a `len`-byte message through `local` (`how` picks
/// `write_vectored`, `send` or `write`), with its result checked; returns
/// what the round's log records of it.
fn write_through(
    round: &Round,
    local: &mut LocalWriter,
    len: usize,
    how: usize,
) -> (u32, u32, bool) {
    let seq = local.next_seq;
    local.next_seq += 1;
    let bytes = encode(local.id, seq, len);
    // Read before the write begins: if either says so, the writer's stream
    // was cancelled by then and the write must fail.
    let after_close = round.close_returned.load(Ordering::SeqCst);
    let after_delete = round.deletes[local.path]
        .finished_max
        .load(Ordering::SeqCst)
        > local.ticket;
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
        Ok(n) => {
            assert_eq!(*n, len, "a write took part of a message");
            assert!(
                !after_close,
                "a write to {} began after close() had returned, and returned Ok",
                local.writer.path()
            );
            assert!(
                !after_delete,
                "a write to {} began after a delete of it, begun after the writer was made, \
                 had returned, and returned Ok",
                local.writer.path()
            );
        }
        Err(err) => check_write_error(round, err, local),
    }
    (local.id, seq, result.is_ok())
}

/// Deletes `PATHS[path]`, keeping its tickets.
fn delete_path(round: &Round, backend: &ChannelBackend, path: usize) {
    let ticket = round.deletes[path].started.fetch_add(1, Ordering::SeqCst) + 1;
    match backend.delete(PATHS[path]) {
        Ok(()) => {
            round.deletes[path]
                .finished_max
                .fetch_max(ticket, Ordering::SeqCst);
        }
        Err(err) => check_backend_error("delete", &err),
    }
}

fn close_backend(round: &Round, backend: &ChannelBackend) {
    backend.close().expect("close is always Ok");
    round.close_returned.store(true, Ordering::SeqCst);
    assert!(backend.is_closed(), "is_closed after close returned");
    assert_eq!(
        backend.channel_count(),
        0,
        "channel_count after close returned"
    );
}

/// What one read did.
enum Piece {
    Data(Vec<u8>, Ends),
    /// `fill_buf` showed this much and nothing was consumed.
    Peeked(Vec<u8>),
    End,
    Failed(Error),
}

/// How a read consumes what `fill_buf` shows.
#[derive(Clone, Copy)]
struct Style {
    op: Op,
    size: usize,
    consume_all: bool,
    consume_part: usize,
}

impl Style {
    fn random(rng: &mut Rng, op: Op) -> Style {
        Style {
            op,
            size: 1 + rng.below(MAX_LEN + 8),
            consume_all: rng.chance(60),
            consume_part: rng.next_u64() as usize,
        }
    }
}

fn read_piece(local: &mut LocalReader, style: Style) -> Piece {
    match style.op {
        Op::Recv => match local.reader.recv() {
            Ok(Some(m)) => Piece::Data(m.to_vec(), Ends::Yes),
            Ok(None) => Piece::End,
            Err(err) => Piece::Failed(err),
        },
        Op::Read => {
            let mut buf = vec![0u8; style.size];
            match local.reader.read(&mut buf) {
                Ok(0) => Piece::End,
                Ok(n) => {
                    let ends = if n < style.size {
                        Ends::Yes
                    } else {
                        Ends::Maybe
                    };
                    Piece::Data(buf[..n].to_vec(), ends)
                }
                Err(err) => Piece::Failed(io_parts(&err).1),
            }
        }
        _ => match local.reader.fill_buf() {
            Ok([]) => Piece::End,
            Ok(data) => {
                // fill_buf shows the whole rest of the current message.
                let data = data.to_vec();
                local.decoder.clone().feed(&data, Ends::Yes);
                if style.op == Op::Peek {
                    return Piece::Peeked(data);
                }
                let take = if style.consume_all {
                    data.len()
                } else {
                    1 + style.consume_part % data.len()
                };
                local.reader.consume(take);
                let ends = if take == data.len() {
                    Ends::Yes
                } else {
                    Ends::Maybe
                };
                Piece::Data(data[..take].to_vec(), ends)
            }
            Err(err) => Piece::Failed(io_parts(&err).1),
        },
    }
}

/// The (source, seq) in the header of a whole message.
fn header(bytes: &[u8]) -> (u32, u32) {
    let word = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
    (word(0), word(4))
}

/// What a read found, for a caller that reads on until the end.
#[derive(PartialEq)]
enum Found {
    More,
    End,
}

/// One read of `local` in `style`, with its result checked.
fn read_once(round: &Round, local: &mut LocalReader, style: Style) -> Found {
    let path = local.reader.path().to_owned();
    match read_piece(local, style) {
        Piece::Data(bytes, ends) => {
            assert!(!local.closed, "a closed reader returned data");
            if local.decoder.partial.is_empty() {
                local.late = local.saw_end || local.poisoned;
            }
            local.peeked = None;
            if let Some(message) = local.decoder.feed(&bytes, ends) {
                if local.late && round.end_is_final {
                    assert!(
                        round.given_back.lock().unwrap().contains(&message),
                        "{path} returned data after end of stream (poisoned: {})",
                        local.poisoned
                    );
                }
                local.got.push(message);
            }
            Found::More
        }
        Piece::Peeked(bytes) => {
            assert!(!local.closed, "a closed reader returned data");
            if local.decoder.partial.is_empty() {
                let message = header(&bytes);
                if (local.saw_end || local.poisoned) && round.end_is_final {
                    assert!(
                        round.given_back.lock().unwrap().contains(&message),
                        "{path} showed data after end of stream"
                    );
                }
                if !round.persistent {
                    local.peeked = Some(message);
                }
            }
            Found::More
        }
        Piece::End => {
            assert!(!local.closed, "a closed reader returned end of stream");
            assert!(
                local.decoder.partial.is_empty(),
                "end of stream in the middle of a message"
            );
            assert!(
                !local.poisoned,
                "{path} gave WriterPanicked, then a clean end of stream"
            );
            local.saw_end = true;
            Found::End
        }
        Piece::Failed(err) => {
            check_read_error(round, &err, local);
            if let Error::WriterPanicked { .. } = err {
                assert!(
                    local.decoder.partial.is_empty(),
                    "WriterPanicked in the middle of a message"
                );
                local.poisoned = true;
                return Found::End;
            }
            Found::More
        }
    }
}

/// A scoped thread's result, passing its panic on.
fn join_scoped<T>(thread: thread::ScopedJoinHandle<'_, T>) -> T {
    thread
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Closes or drops a reader: a message it only peeked at goes back.
fn release_reader(round: &Round, local: &mut LocalReader) {
    if let Some(message) = local.peeked.take() {
        round.given_back.lock().unwrap().insert(message);
    }
    local.reader.close().expect("close is always Ok");
    local.closed = true;
    // The rest of a partly read message goes with the close.
    local.decoder.partial.clear();
}

struct Worker<'a> {
    round: &'a Round,
    /// This thread's own handle of the backend, until it drops it.
    backend: Option<ChannelBackend>,
    index: usize,
    rng: Rng,
    writers: Vec<LocalWriter>,
    readers: Vec<LocalReader>,
    log: ThreadLog,
    broadcast_seq: u32,
}

impl Worker<'_> {
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
            Op::Read | Op::Recv | Op::FillBuf | Op::Peek => self.read(op),
            Op::CloseWriter | Op::DropWriter => self.close_writer(op == Op::DropWriter),
            Op::PanicWriter => self.panic_writer(),
            Op::CloseReader | Op::DropReader => self.close_reader(op == Op::DropReader),
            Op::TryClone => self.try_clone(),
            Op::Delete => {
                let path = self.rng.below(PATHS.len());
                if let Some(backend) = &self.backend {
                    delete_path(self.round, backend, path);
                }
            }
            Op::DoubleDelete => self.double_delete(),
            Op::CloseBackend => {
                if let Some(backend) = &self.backend {
                    close_backend(self.round, backend);
                }
            }
            Op::DoubleClose => self.double_close(),
            Op::DropBackend => self.backend = None,
            Op::Broadcast | Op::TryBroadcast => self.broadcast(op == Op::TryBroadcast),
            Op::Exists => {
                let path = self.path();
                if let Some(backend) = &self.backend {
                    if let Err(err) = backend.exists(path) {
                        check_backend_error("exists", &err);
                    }
                }
            }
            Op::List => self.list(),
            Op::Count => {
                if let Some(backend) = &self.backend {
                    let count = backend.channel_count();
                    assert!(count <= PATHS.len(), "channel_count {count}");
                }
            }
            Op::DropAll | Op::FinishByRules => unreachable!(),
        }
    }

    fn list(&mut self) {
        let prefix = self.prefix();
        let Some(backend) = &self.backend else { return };
        match backend.list(prefix) {
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

    fn add_writer(&mut self, writer: Writer, ticket: u64) {
        let id = self.round.next_writer_id.fetch_add(1, Ordering::Relaxed);
        let path = path_index(writer.path());
        self.writers.push(LocalWriter {
            writer,
            id,
            next_seq: 0,
            closed: false,
            path,
            ticket,
        });
    }

    fn new_writer(&mut self) {
        let path = self.path();
        let Some(backend) = &self.backend else { return };
        let after_close = self.round.close_returned.load(Ordering::SeqCst);
        match backend.new_writer(path) {
            Ok(mut writer) => {
                assert!(!after_close, "new_writer after close() had returned");
                let ticket = self.round.deletes[path_index(path)]
                    .started
                    .load(Ordering::SeqCst);
                writer.set_write_timeout(random_timeout(&mut self.rng, self.round.ending));
                self.add_writer(writer, ticket);
            }
            Err(Error::BackendClosed | Error::StreamEnded { .. }) => {}
            Err(other) => panic!("new_writer({path:?}) gave {other:?}"),
        }
    }

    fn new_reader(&mut self) {
        let path = self.path();
        let Some(backend) = &self.backend else { return };
        let after_close = self.round.close_returned.load(Ordering::SeqCst);
        match backend.new_reader(path) {
            Ok(mut reader) => {
                assert!(!after_close, "new_reader after close() had returned");
                reader.set_read_timeout(random_timeout(&mut self.rng, self.round.ending));
                self.readers.push(LocalReader::new(reader));
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
        let entry = write_through(self.round, &mut self.writers[i], len, how);
        self.log.writes.push(entry);
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
                check_write_error(self.round, &err, local);
            }
        }
    }

    fn read(&mut self, op: Op) {
        if self.readers.is_empty() {
            return self.new_reader();
        }
        let i = self.rng.below(self.readers.len());
        let style = Style::random(&mut self.rng, op);
        read_once(self.round, &mut self.readers[i], style);
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

    /// Drops a writer while this thread panics, inside `catch_unwind`: its
    /// stream is poisoned.
    fn panic_writer(&mut self) {
        if self.writers.is_empty() {
            return;
        }
        let i = self.rng.below(self.writers.len());
        let local = self.writers.swap_remove(i);
        self.round.panicked[local.path].store(true, Ordering::SeqCst);
        quiet_deliberate_panics();
        let unwound = std::panic::catch_unwind(AssertUnwindSafe(move || {
            let _dying = local;
            std::panic::panic_any(DELIBERATE);
        }));
        assert!(unwound.is_err(), "the scope was meant to panic");
    }

    fn close_reader(&mut self, drop_it: bool) {
        if self.readers.is_empty() {
            return;
        }
        let i = self.rng.below(self.readers.len());
        if drop_it {
            let mut local = self.readers.swap_remove(i);
            release_reader(self.round, &mut local);
            self.log.readers.push(local.got);
        } else {
            release_reader(self.round, &mut self.readers[i]);
        }
    }

    fn try_clone(&mut self) {
        if self.writers.is_empty() || self.round.dropping.load(Ordering::SeqCst) {
            // Whether a writer can still be cloned once no backend handle
            // is left is not settled by the contract: not tried.
            return;
        }
        let i = self.rng.below(self.writers.len());
        let local = &self.writers[i];
        match local.writer.try_clone() {
            Ok(writer) => {
                assert!(!local.closed, "try_clone of a closed writer succeeded");
                assert_eq!(writer.write_timeout(), local.writer.write_timeout());
                // The clone writes to the same stream as its original.
                let ticket = local.ticket;
                self.add_writer(writer, ticket);
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

    /// Two threads (this one and a helper) delete one path at once, then
    /// each writes through half of this thread's writers of that path: all
    /// those writes must fail.
    fn double_delete(&mut self) {
        let path = self.rng.below(PATHS.len());
        let Some(backend) = self.backend.clone() else {
            return;
        };
        let round = self.round;
        let mut of_path: Vec<&mut LocalWriter> =
            self.writers.iter_mut().filter(|w| w.path == path).collect();
        let half = of_path.len() / 2;
        let (mine, theirs) = of_path.split_at_mut(half);
        let start = Barrier::new(2);
        let delete_then_write = |writers: &mut [&mut LocalWriter]| {
            start.wait();
            delete_path(round, &backend, path);
            writers
                .iter_mut()
                .map(|w| write_through(round, w, HEADER + 8, 2))
                .collect::<Vec<_>>()
        };
        let (here, there) = thread::scope(|s| {
            let helper = thread::Builder::new()
                .name("second deleter".into())
                .spawn_scoped(s, || delete_then_write(theirs))
                .expect("spawn a test thread");
            let here = delete_then_write(mine);
            let there = join_scoped(helper);
            (here, there)
        });
        self.log.writes.extend(here);
        self.log.writes.extend(there);
    }

    /// Two threads (this one and a helper) close the backend at once, then
    /// each writes through half of this thread's writers: all must fail.
    fn double_close(&mut self) {
        let Some(backend) = self.backend.clone() else {
            return;
        };
        let round = self.round;
        let half = self.writers.len() / 2;
        let (mine, theirs) = self.writers.split_at_mut(half);
        let start = Barrier::new(2);
        let close_then_write = |writers: &mut [LocalWriter]| {
            start.wait();
            close_backend(round, &backend);
            writers
                .iter_mut()
                .map(|w| write_through(round, w, HEADER + 8, 2))
                .collect::<Vec<_>>()
        };
        let (here, there) = thread::scope(|s| {
            let helper = thread::Builder::new()
                .name("second closer".into())
                .spawn_scoped(s, || close_then_write(theirs))
                .expect("spawn a test thread");
            let here = close_then_write(mine);
            let there = join_scoped(helper);
            (here, there)
        });
        self.log.writes.extend(here);
        self.log.writes.extend(there);
    }

    fn broadcast(&mut self, try_only: bool) {
        let prefix = self.prefix();
        let Some(backend) = self.backend.clone() else {
            return;
        };
        // A broadcast waiting for room holds a backend handle: in a round
        // that is not closed, only the never-blocking kinds are used.
        let try_only =
            try_only || (self.round.ending == Ending::DropHandles && !self.round.persistent);
        let src = BROADCAST_BASE + self.index as u32;
        let seq = self.broadcast_seq;
        self.broadcast_seq += 1;
        let len = HEADER + self.rng.below(MAX_LEN - HEADER + 1);
        let bytes = encode(src, seq, len);
        let matching = PATHS.iter().filter(|p| p.starts_with(prefix)).count();
        let after_close = self.round.close_returned.load(Ordering::SeqCst);
        let allowed = if try_only {
            match backend.try_broadcast(prefix, &bytes) {
                Ok(report) => {
                    assert!(!after_close, "try_broadcast after close() had returned");
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
            match backend.broadcast(prefix, &bytes) {
                Ok(delivered) => {
                    assert!(!after_close, "broadcast after close() had returned");
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
        self.backend = None;
        match self.round.ending {
            Ending::Close => {
                self.round.status[self.index].enter(Op::DropAll, self.round.start);
                self.writers.clear();
                for mut local in std::mem::take(&mut self.readers) {
                    release_reader(self.round, &mut local);
                    self.log.readers.push(local.got);
                }
            }
            Ending::DropHandles => self.finish_by_last_handle_rules(),
        }
        self.log
    }

    /// Hands every handle still held to a thread of its own, with no
    /// timeout: a writer writes once more (or not) and is dropped, a reader
    /// reads to the end of its stream. Only the last-handle rules can end
    /// some of them (a reader of a path no writer ever came to, a writer
    /// whose readers are all gone).
    fn finish_by_last_handle_rules(&mut self) {
        self.round.status[self.index].enter(Op::FinishByRules, self.round.start);
        let round = self.round;
        let writers: Vec<(LocalWriter, Option<usize>)> = std::mem::take(&mut self.writers)
            .into_iter()
            .map(|w| {
                let last = self.rng.chance(50).then(|| HEADER + self.rng.below(8));
                (w, last)
            })
            .collect();
        let readers: Vec<(LocalReader, Style)> = std::mem::take(&mut self.readers)
            .into_iter()
            .map(|r| {
                let op = *self.rng.pick(&[Op::Recv, Op::Read, Op::FillBuf]);
                (r, Style::random(&mut self.rng, op))
            })
            .collect();
        let status = &round.status[self.index];
        let (writes, reads) = thread::scope(|s| {
            let writing: Vec<_> = writers
                .into_iter()
                .enumerate()
                .map(|(i, (mut local, last))| {
                    let what = format!("writer {i} of {}: last write", local.writer.path());
                    let finish = move || {
                        let entry = last.filter(|_| !local.closed).map(|len| {
                            local.writer.set_write_timeout(None);
                            write_through(round, &mut local, len, 2)
                        });
                        drop(local);
                        entry
                    };
                    thread::Builder::new()
                        .name(what.clone())
                        .spawn_scoped(s, move || status.finishing(what, finish))
                        .expect("spawn a test thread")
                })
                .collect();
            let reading: Vec<_> = readers
                .into_iter()
                .enumerate()
                .map(|(i, (mut local, style))| {
                    let what = format!("reader {i} of {}: reading to the end", local.reader.path());
                    let finish = move || {
                        if !local.closed {
                            local.reader.set_read_timeout(None);
                            while read_once(round, &mut local, style) == Found::More {}
                        }
                        release_reader(round, &mut local);
                        local.got
                    };
                    thread::Builder::new()
                        .name(what.clone())
                        .spawn_scoped(s, move || status.finishing(what, finish))
                        .expect("spawn a test thread")
                })
                .collect();
            let writes: Vec<Option<(u32, u32, bool)>> =
                writing.into_iter().map(join_scoped).collect();
            let reads: Vec<Vec<(u32, u32)>> = reading.into_iter().map(join_scoped).collect();
            (writes, reads)
        });
        self.log.writes.extend(writes.into_iter().flatten());
        self.log.readers.extend(reads);
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

fn run_thread(
    round: Arc<Round>,
    backend: ChannelBackend,
    index: usize,
    seed: u64,
    ops: usize,
) -> ThreadLog {
    let _done = DoneOnDrop(&round.status[index].done);
    let mut worker = Worker {
        round: &round,
        backend: Some(backend),
        index,
        rng: Rng::new(seed),
        writers: Vec::new(),
        readers: Vec::new(),
        log: ThreadLog::default(),
        broadcast_seq: 0,
    };
    for _ in 0..ops {
        if round.dropping.load(Ordering::SeqCst) {
            worker.backend = None;
        }
        let op = pick_op(&mut worker.rng);
        round.status[index].enter(op, round.start);
        if !round.close_returned.load(Ordering::SeqCst) {
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
/// messages were checked. `given_back` are the messages that went back to
/// a queue from a reader that had only peeked at them.
fn check_round(logs: &[ThreadLog], persistent: bool, given_back: &HashSet<(u32, u32)>) -> u64 {
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
            // A message given back may come after later ones of its writer.
            if !given_back.contains(&(src, seq)) {
                if let Some(previous) = last.insert(src, seq) {
                    assert!(
                        seq > previous,
                        "reader {reader} got ({src}, {seq}) after ({src}, {previous})"
                    );
                }
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
    dropped_rounds: u64,
    ops: u64,
    checked: u64,
    stalled: u64,
    writes_ok: u64,
    ops_before_close: u64,
}

/// `CHANIO_RACE_ENDING=close` or `=drop` runs only rounds that end that
/// way (to look at one kind of failure at a time); both by default.
fn race_endings() -> Option<Ending> {
    match std::env::var("CHANIO_RACE_ENDING").as_deref() {
        Ok("close") => Some(Ending::Close),
        Ok("drop") => Some(Ending::DropHandles),
        Ok(other) => panic!("CHANIO_RACE_ENDING={other:?}: use close or drop"),
        Err(_) => None,
    }
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
    let dropped = rng.chance(30);
    let ending = match race_endings() {
        Some(only) => only,
        None if dropped => Ending::DropHandles,
        None => Ending::Close,
    };
    let mode = if persistent {
        format!("persistent, ended by {ending:?}")
    } else {
        format!("queue, buffer {buffer_size}, ended by {ending:?}")
    };
    let _guard = SeedGuard {
        master,
        round: round_seed,
        number,
        mode,
    };
    let threads = 3 + rng.below(2);
    let backend = ChannelBackend::builder()
        .buffer_size(buffer_size)
        .persistent(persistent)
        .build();
    let round = Arc::new(Round {
        persistent,
        ending,
        end_is_final,
        start: Instant::now(),
        status: (0..threads).map(|_| Status::new()).collect(),
        next_writer_id: AtomicU32::new(1),
        close_returned: AtomicBool::new(false),
        deletes: Default::default(),
        panicked: Default::default(),
        dropping: AtomicBool::new(false),
        given_back: Mutex::new(HashSet::new()),
    });
    let handles: Vec<_> = (0..threads)
        .map(|index| {
            let round = Arc::clone(&round);
            let backend = backend.clone();
            let seed = rng.next_u64();
            let ops = 8 + rng.below(33);
            common::spawn(&format!("race thread {index}"), move || {
                run_thread(round, backend, index, seed, ops)
            })
        })
        .collect();

    let all_done = || round.status.iter().all(|s| s.done.load(Ordering::SeqCst));
    if rng.chance(35) {
        // End at a random moment, racing with whatever runs.
        thread::sleep(Duration::from_micros(rng.below(1500) as u64));
    } else {
        // End once all are done, or all unfinished ones look stuck.
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
    let kept = match ending {
        Ending::Close => {
            close_backend(&round, &backend);
            Some(backend)
        }
        Ending::DropHandles => {
            round.dropping.store(true, Ordering::SeqCst);
            drop(backend);
            None
        }
    };
    let ended_at = Instant::now();
    while !all_done() {
        if ended_at.elapsed() > HANG {
            let blocked: Vec<String> = round
                .status
                .iter()
                .enumerate()
                .filter(|(_, s)| !s.done.load(Ordering::SeqCst))
                .map(|(i, s)| format!("thread {i} in `{}`", s.describe()))
                .collect();
            panic!(
                "still blocked {HANG:?} after the backend was {}: {}",
                match ending {
                    Ending::Close => "closed",
                    Ending::DropHandles =>
                        "dropped by the main thread (and by each thread at its next operation)",
                },
                blocked.join(", ")
            );
        }
        thread::sleep(Duration::from_micros(500));
    }
    let logs: Vec<ThreadLog> = handles.into_iter().map(|h| h.join()).collect();

    if let Some(backend) = kept {
        // The closed backend refuses new work and holds no paths.
        assert_eq!(backend.channel_count(), 0);
        assert!(matches!(
            backend.new_writer("r/a"),
            Err(Error::BackendClosed)
        ));
        assert!(matches!(backend.list(""), Err(Error::BackendClosed)));
    } else {
        totals.dropped_rounds += 1;
    }

    let given_back = round.given_back.lock().unwrap().clone();
    totals.checked += check_round(&logs, persistent, &given_back);
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
        "race rounds ({}, seed {master}): {} rounds ({} ended by dropping the handles, {} ended early as stuck), {} operations ({} begun before a close returned), {} writes ok, {} messages checked, in {:?}",
        if persistent { "persistent" } else { "queue" },
        totals.rounds,
        totals.dropped_rounds,
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
