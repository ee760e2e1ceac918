//! chanio beside its peers, every contender measured in the same run.
//!
//! ```text
//! cargo bench --bench compare              # full run: a few minutes on 2 cores
//! cargo bench --bench compare -- --quick   # --quick: fewer messages and 3 runs, 1–2 minutes
//! cargo bench --bench compare -- spsc_bulk fanout   # only the named cases (combine with --quick)
//! cargo bench --bench compare -- spsc_bulk --contender=chanio,bus   # only contenders whose name has "chanio" or "bus"
//! cargo bench --bench compare -- --scale=0.01 --runs=1   # 1% of the messages, one run (for valgrind)
//! ```
//!
//! Cases: `spsc_small`, `spsc_bulk`, `fanout`, `broadcast_scaling`,
//! `many_paths`, `late_readers_memory`. Each contender runs several times
//! (5, or 3 with `--quick`; `fanout` and `broadcast_scaling`, whose runs
//! are short and scattered, twice that plus one), the runs of all
//! contenders of a case interleaved so that background load spreads over
//! all of them. For each
//! contender the median, min and max are printed, then chanio's ratio to
//! each peer (median / median, same run) and whether the targets are met.
//!
//! Every byte received is checked (count and a sum of 64-bit words, each
//! message stamped with its index), and a wrong answer stops the program
//! with an error. Results also go, one CSV row per case × contender, to
//! `$CHANIO_BENCH_OUT`, or else `$CARGO_TARGET_DIR/bench-results.csv`
//! (`target/bench-results.csv` when that is unset).
//!
//! `late_readers_memory` runs in a child process (this program re-run with
//! `--memory-child`), so that its peak-memory reading starts clean.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::process::Command;
use std::rc::Rc;
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use bus::Bus;
use chanio::{ChannelBackend, Reader};

fn main() {
    let settings = Settings::from_args();
    if settings.memory_child {
        memory_child();
        return;
    }
    let mut results = Results::default();
    println!(
        "chanio compare: {} mode, {} runs per contender",
        if settings.quick { "quick" } else { "full" },
        settings.runs
    );
    let cases: [(&str, Case); 6] = [
        ("spsc_small", spsc_small),
        ("spsc_bulk", spsc_bulk),
        ("fanout", fanout),
        ("broadcast_scaling", broadcast_scaling),
        ("many_paths", many_paths),
        ("late_readers_memory", late_readers_memory),
    ];
    let started = Instant::now();
    for (name, case) in cases {
        if settings.wants(name) {
            case(&settings, &mut results);
        }
    }
    results.print_targets();
    results.write_csv();
    println!("total time {:.1} s", started.elapsed().as_secs_f64());
}

/// A case: runs its contenders and records their results.
type Case = fn(&Settings, &mut Results);

// ---------------------------------------------------------------------------
// Settings

struct Settings {
    quick: bool,
    runs: usize,
    /// Case names given on the command line; empty runs every case.
    only: Vec<String>,
    memory_child: bool,
    /// `--contender=A,B`: run only contenders whose name contains A or B.
    contender: Option<String>,
    /// `--scale=F`: multiply message counts by F (e.g. 0.01 under valgrind).
    scale: f64,
}

impl Settings {
    fn from_args() -> Settings {
        let mut settings = Settings {
            quick: false,
            runs: 5,
            only: Vec::new(),
            memory_child: false,
            contender: None,
            scale: 1.0,
        };
        let mut runs = None;
        for arg in std::env::args().skip(1) {
            match arg.as_str() {
                "--quick" => settings.quick = true,
                "--memory-child" => settings.memory_child = true,
                flag if flag.starts_with("--scale=") => {
                    settings.scale = flag["--scale=".len()..]
                        .parse()
                        .unwrap_or_else(|_| fail("--scale= takes a number"));
                }
                flag if flag.starts_with("--runs=") => {
                    runs = Some(
                        flag["--runs=".len()..]
                            .parse()
                            .unwrap_or_else(|_| fail("--runs= takes a whole number")),
                    );
                }
                flag if flag.starts_with("--contender=") => {
                    settings.contender = Some(flag["--contender=".len()..].to_owned());
                }
                // `cargo bench` passes `--bench`; other flags are not ours.
                flag if flag.starts_with('-') => {}
                name => settings.only.push(name.to_owned()),
            }
        }
        settings.runs = runs.unwrap_or(if settings.quick { 3 } else { 5 });
        settings
    }

    fn wants(&self, case: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o == case)
    }

    fn keep(&self, contenders: Vec<Contender>) -> Vec<Contender> {
        match &self.contender {
            None => contenders,
            Some(texts) => contenders
                .into_iter()
                .filter(|c| texts.split(',').any(|t| c.name.contains(t)))
                .collect(),
        }
    }

    /// `full` messages in a full run, `quick` with `--quick`.
    fn count(&self, full: u64, quick: u64) -> u64 {
        let count = if self.quick { quick } else { full };
        ((count as f64 * self.scale) as u64).max(1)
    }
}

// ---------------------------------------------------------------------------
// Buffers, payloads and the check of what arrives

const PAGE: usize = 4096;

/// A zeroed heap buffer whose first byte sits on a 4096-byte boundary.
///
/// A copy between two buffers whose addresses differ by a little modulo
/// 4 KiB can run many times slower (4K aliasing: loads look as if they
/// depend on earlier stores). Aligning every buffer the bench owns keeps
/// that effect out of the bench's own side of each copy.
struct Aligned {
    storage: Vec<u8>,
    offset: usize,
    len: usize,
}

impl Aligned {
    fn new(len: usize) -> Aligned {
        let storage = vec![0u8; len + PAGE];
        let offset = (PAGE - storage.as_ptr() as usize % PAGE) % PAGE;
        Aligned {
            storage,
            offset,
            len,
        }
    }

    fn as_slice(&self) -> &[u8] {
        &self.storage[self.offset..self.offset + self.len]
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.storage[self.offset..self.offset + self.len]
    }
}

/// What writers send: message `i` is a fixed pattern whose first 8 bytes are
/// replaced by `i`, so a lost, repeated or foreign message changes the sum.
struct Payload {
    buf: Aligned,
    /// The word sum of the pattern after the stamp.
    rest_sum: u64,
}

impl Payload {
    fn new(size: usize) -> Payload {
        assert!(size >= 8 && size % 8 == 0, "payload sizes are whole words");
        let mut buf = Aligned::new(size);
        for (j, byte) in buf.as_mut_slice().iter_mut().enumerate() {
            *byte = (j as u8).wrapping_mul(31).wrapping_add(7);
        }
        let mut rest = Checker::default();
        rest.feed(&buf.as_slice()[8..]);
        Payload {
            buf,
            rest_sum: rest.finish().sum,
        }
    }

    fn size(&self) -> usize {
        self.buf.len
    }

    /// Message number `i`.
    fn stamp(&mut self, i: u64) -> &[u8] {
        let bytes = self.buf.as_mut_slice();
        bytes[..8].copy_from_slice(&i.to_le_bytes());
        bytes
    }

    /// The tally of messages `0..count` received in full.
    fn expected(&self, count: u64) -> Tally {
        let stamps = if count == 0 {
            0
        } else {
            // Σ i for i < count, computed without overflow for the counts used.
            count.wrapping_mul(count - 1) / 2
        };
        Tally {
            bytes: count * self.size() as u64,
            sum: stamps.wrapping_add(count.wrapping_mul(self.rest_sum)),
        }
    }
}

/// How many bytes arrived and their sum as little-endian 64-bit words taken
/// at stream offsets that are multiples of 8 (zero-padded at the end).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Tally {
    bytes: u64,
    sum: u64,
}

/// Builds a [`Tally`] from reads of any length: a word split over two reads
/// is carried over. Word sums vectorise well, so checking costs much less
/// than the copy it checks.
#[derive(Default)]
struct Checker {
    tally: Tally,
    carry: [u8; 8],
    carried: usize,
}

impl Checker {
    fn feed(&mut self, mut data: &[u8]) {
        self.tally.bytes += data.len() as u64;
        if self.carried > 0 {
            let take = (8 - self.carried).min(data.len());
            self.carry[self.carried..self.carried + take].copy_from_slice(&data[..take]);
            self.carried += take;
            data = &data[take..];
            if self.carried < 8 {
                return;
            }
            self.tally.sum = self.tally.sum.wrapping_add(u64::from_le_bytes(self.carry));
            self.carried = 0;
        }
        // Eight sums side by side over 64-byte blocks vectorise best.
        let blocks = data.chunks_exact(64);
        let tail = blocks.remainder();
        let mut lanes = [0u64; 8];
        for block in blocks {
            for (lane, word) in lanes.iter_mut().zip(block.chunks_exact(8)) {
                *lane = lane.wrapping_add(word_at(word));
            }
        }
        let words = tail.chunks_exact(8);
        let rest = words.remainder();
        self.tally.sum = lanes
            .into_iter()
            .chain(words.map(word_at))
            .fold(self.tally.sum, u64::wrapping_add);
        self.carry[..rest.len()].copy_from_slice(rest);
        self.carried = rest.len();
    }

    fn finish(mut self) -> Tally {
        if self.carried > 0 {
            self.carry[self.carried..].fill(0);
            self.tally.sum = self.tally.sum.wrapping_add(u64::from_le_bytes(self.carry));
        }
        self.tally
    }
}

fn word_at(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().expect("8 bytes"))
}

/// Stops the program if `got` is not `want`: a fast wrong answer must not pass.
fn verify(what: &str, got: Tally, want: Tally) {
    if got != want {
        eprintln!(
            "error: {what}: received {} bytes with word sum {:#018x}, expected {} bytes with sum {:#018x}",
            got.bytes, got.sum, want.bytes, want.sum
        );
        std::process::exit(1);
    }
}

fn fail(what: &str) -> ! {
    eprintln!("error: {what}");
    std::process::exit(1);
}

// ---------------------------------------------------------------------------
// Timing and results

/// A thread with a name, so that profiles tell producers from consumers.
fn named_thread<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> thread::JoinHandle<T> {
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .expect("spawn a bench thread")
}

/// Runs `produce` on a new thread and `consume` on this one, timing from the
/// moment both are ready until both have finished.
fn timed_pair<T>(
    produce: impl FnOnce() + Send + 'static,
    consume: impl FnOnce() -> T,
) -> (Duration, T) {
    let ready = Arc::new(Barrier::new(2));
    let producer_ready = Arc::clone(&ready);
    let producer = named_thread("producer", move || {
        producer_ready.wait();
        produce();
    });
    ready.wait();
    let start = Instant::now();
    let result = consume();
    producer.join().expect("the producer thread panicked");
    (start.elapsed(), result)
}

/// Runs `produce` and every consumer on threads of their own, timing from the
/// moment all are ready until all have finished.
fn timed_fanout<T: Send + 'static>(
    produce: impl FnOnce() + Send + 'static,
    consumers: Vec<Box<dyn FnOnce() -> T + Send>>,
) -> (Duration, Vec<T>) {
    let ready = Arc::new(Barrier::new(consumers.len() + 2));
    let spawn_ready = |ready: &Arc<Barrier>| Arc::clone(ready);
    let producer_ready = spawn_ready(&ready);
    let producer = named_thread("producer", move || {
        producer_ready.wait();
        produce();
    });
    let handles: Vec<_> = consumers
        .into_iter()
        .map(|consume| {
            let consumer_ready = spawn_ready(&ready);
            named_thread("consumer", move || {
                consumer_ready.wait();
                consume()
            })
        })
        .collect();
    ready.wait();
    let start = Instant::now();
    let results = handles
        .into_iter()
        .map(|h| h.join().expect("a consumer thread panicked"))
        .collect();
    producer.join().expect("the producer thread panicked");
    (start.elapsed(), results)
}

/// One contender of a case: a name and one timed, self-checking run.
struct Contender {
    name: String,
    run: Box<dyn Fn() -> Duration>,
    /// The part of the case's work one run does: less than 1 for a peer so
    /// slow that it runs on fewer messages (its rate is scaled to match).
    share: f64,
}

fn contender(name: impl Into<String>, run: impl Fn() -> Duration + 'static) -> Contender {
    Contender {
        name: name.into(),
        run: Box::new(run),
        share: 1.0,
    }
}

/// Runs every contender `runs` times, round-robin, and returns each one's times.
fn run_interleaved(runs: usize, contenders: &[Contender]) -> Vec<Vec<Duration>> {
    let mut times = vec![Vec::with_capacity(runs); contenders.len()];
    for _ in 0..runs {
        for (c, t) in contenders.iter().zip(&mut times) {
            t.push((c.run)());
        }
    }
    times
}

#[derive(Clone, Copy, Debug)]
struct Stat {
    median: f64,
    min: f64,
    max: f64,
}

impl Stat {
    fn of(mut values: Vec<f64>) -> Stat {
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let median = if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        };
        Stat {
            median,
            min: values[0],
            max: values[n - 1],
        }
    }
}

struct Row {
    case: &'static str,
    contender: String,
    unit: &'static str,
    higher_is_better: bool,
    stat: Stat,
    runs: usize,
    /// Messages (or operations) per run, and bytes per message, for the record.
    work: u64,
    message_bytes: usize,
}

#[derive(Default)]
struct Results {
    rows: Vec<Row>,
    targets: Vec<(String, bool)>,
}

/// How a case turns a run's time into the number it reports.
#[derive(Clone, Copy)]
enum Measure {
    /// `work / seconds / scale`, higher is better.
    Rate {
        work: f64,
        scale: f64,
        unit: &'static str,
    },
    /// `seconds * 1e9 / work`, lower is better.
    NanosPerOp { work: f64 },
}

impl Results {
    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        case: &'static str,
        contenders: &[Contender],
        times: Vec<Vec<Duration>>,
        measure: Measure,
        work: u64,
        message_bytes: usize,
    ) {
        for (c, t) in contenders.iter().zip(times) {
            let runs = t.len();
            let values = t.iter().map(|d| {
                let secs = d.as_secs_f64().max(1e-9);
                match measure {
                    Measure::Rate { work, scale, .. } => work * c.share / secs / scale,
                    Measure::NanosPerOp { work } => secs * 1e9 / (work * c.share),
                }
            });
            let (unit, higher_is_better) = match measure {
                Measure::Rate { unit, .. } => (unit, true),
                Measure::NanosPerOp { .. } => ("ns/op", false),
            };
            self.rows.push(Row {
                case,
                contender: c.name.clone(),
                unit,
                higher_is_better,
                stat: Stat::of(values.collect()),
                runs,
                work: (work as f64 * c.share).round() as u64,
                message_bytes,
            });
        }
    }

    fn push(&mut self, row: Row) {
        self.rows.push(row);
    }

    /// The median of a contender; NaN if it did not run (see `--contender=`).
    fn median(&self, case: &str, contender: &str) -> f64 {
        self.rows
            .iter()
            .find(|r| r.case == case && r.contender == contender)
            .map_or(f64::NAN, |r| r.stat.median)
    }

    fn print_case(&self, case: &str) {
        let rows: Vec<&Row> = self.rows.iter().filter(|r| r.case == case).collect();
        let width = rows
            .iter()
            .map(|r| r.contender.len())
            .max()
            .unwrap_or(10)
            .max(10);
        println!(
            "  {:<width$}  {:>10}  {:>10}  {:>10}  unit",
            "contender", "median", "min", "max"
        );
        for r in rows {
            println!(
                "  {:<width$}  {:>10}  {:>10}  {:>10}  {}",
                r.contender,
                fmt_num(r.stat.median),
                fmt_num(r.stat.min),
                fmt_num(r.stat.max),
                r.unit
            );
        }
    }

    /// Prints `a / b` of medians and returns it.
    fn ratio(&self, case: &str, a: &str, b: &str) -> f64 {
        let ratio = self.median(case, a) / self.median(case, b);
        if ratio.is_finite() {
            println!("  {ratio:>6.2}x  {a}  /  {b}");
        }
        ratio
    }

    /// Records a target; skipped when a contender it needs did not run.
    fn target(&mut self, label: String, met: bool) {
        if label.contains("NaN") {
            return;
        }
        println!("  target {}: {label}", if met { "met" } else { "MISSED" });
        self.targets.push((label, met));
    }

    fn print_targets(&self) {
        if self.targets.is_empty() {
            return;
        }
        println!("\n== targets ==");
        for (label, met) in &self.targets {
            println!("  {:<6}  {label}", if *met { "met" } else { "MISSED" });
        }
    }

    fn write_csv(&self) {
        let path = match std::env::var_os("CHANIO_BENCH_OUT") {
            Some(path) => std::path::PathBuf::from(path),
            None => std::env::var_os("CARGO_TARGET_DIR")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| "target".into())
                .join("bench-results.csv"),
        };
        let mut csv = String::from(
            "case,contender,unit,better,median,min,max,runs,work_per_run,message_bytes\n",
        );
        for r in &self.rows {
            let _ = writeln!(
                csv,
                "{},\"{}\",{},{},{},{},{},{},{},{}",
                r.case,
                r.contender.replace('"', "'"),
                r.unit,
                if r.higher_is_better {
                    "higher"
                } else {
                    "lower"
                },
                r.stat.median,
                r.stat.min,
                r.stat.max,
                r.runs,
                r.work,
                r.message_bytes
            );
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        match std::fs::write(&path, csv) {
            Ok(()) => println!("\nresults written to {}", path.display()),
            Err(e) => fail(&format!("cannot write {}: {e}", path.display())),
        }
    }
}

fn fmt_num(x: f64) -> String {
    if x >= 1000.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else if x >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

// ---------------------------------------------------------------------------
// spsc_small and spsc_bulk: one writer thread, one reader thread

const CHANIO_READ: &str = "chanio io::Read";
const CHANIO_RECV: &str = "chanio Reader::recv";
const CROSSBEAM: &str = "crossbeam bounded(100) Vec<u8>";
const STD_PIPE: &str = "std::io::pipe";
const PIPE: &str = "pipe::pipe";
const PIPE_BUFFERED: &str = "pipe::pipe_buffered";
const STD_SYNC: &str = "std sync_channel(100) Vec<u8>";
const MEMCPY: &str = "memcpy in+out, one thread";

/// A reader that takes everything a [`Read`] gives into an aligned buffer
/// of `buf_len` bytes, until end of stream.
fn drain_read(mut source: impl Read, buf_len: usize) -> Tally {
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
fn drain_vecs(messages: impl Iterator<Item = Vec<u8>>, buf_len: usize) -> Tally {
    let mut buf = Aligned::new(buf_len);
    let mut checker = Checker::default();
    for message in messages {
        let out = &mut buf.as_mut_slice()[..message.len()];
        out.copy_from_slice(&message);
        checker.feed(out);
    }
    checker.finish()
}

fn write_all_messages(mut sink: impl Write, mut payload: Payload, count: u64) {
    for i in 0..count {
        if let Err(e) = sink.write_all(payload.stamp(i)) {
            fail(&format!("write failed: {e}"));
        }
    }
    if let Err(e) = sink.flush() {
        fail(&format!("flush failed: {e}"));
    }
}

/// The contenders of a one-writer, one-reader case: `count` messages of
/// `size` bytes, read with a buffer of `buf_len` bytes.
fn spsc_contenders(count: u64, size: usize, buf_len: usize, with_memcpy: bool) -> Vec<Contender> {
    let expected = Payload::new(size).expected(count);
    let check = move |what: &str, got: Tally| verify(what, got, expected);
    // `pipe::pipe` hands each write over in a rendezvous (a channel of
    // capacity 0): with small writes it is so slow that it gets a 20th of
    // the messages.
    let pipe_count = if size < 4096 {
        (count / 20).max(1)
    } else {
        count
    };
    let mut list = vec![
        contender(CHANIO_READ, move || {
            let backend = ChannelBackend::new();
            let reader = backend.new_reader("bench").unwrap();
            let writer = backend.new_writer("bench").unwrap();
            let payload = Payload::new(size);
            let (elapsed, got) = timed_pair(
                move || write_all_messages(writer, payload, count),
                || drain_read(reader, buf_len),
            );
            check(CHANIO_READ, got);
            elapsed
        }),
        contender(CHANIO_RECV, move || {
            let backend = ChannelBackend::new();
            let mut reader = backend.new_reader("bench").unwrap();
            let writer = backend.new_writer("bench").unwrap();
            let payload = Payload::new(size);
            let (elapsed, got) = timed_pair(
                move || write_all_messages(writer, payload, count),
                || {
                    let mut checker = Checker::default();
                    for message in reader.messages() {
                        checker.feed(&message.unwrap());
                    }
                    checker.finish()
                },
            );
            check(CHANIO_RECV, got);
            elapsed
        }),
        contender(CROSSBEAM, move || {
            let (tx, rx) = crossbeam_channel::bounded::<Vec<u8>>(100);
            let mut payload = Payload::new(size);
            let (elapsed, got) = timed_pair(
                move || {
                    for i in 0..count {
                        tx.send(payload.stamp(i).to_vec()).unwrap();
                    }
                },
                || drain_vecs(rx.iter(), buf_len),
            );
            check(CROSSBEAM, got);
            elapsed
        }),
        contender(STD_SYNC, move || {
            let (tx, rx) = sync_channel::<Vec<u8>>(100);
            let mut payload = Payload::new(size);
            let (elapsed, got) = timed_pair(
                move || {
                    for i in 0..count {
                        tx.send(payload.stamp(i).to_vec()).unwrap();
                    }
                },
                || drain_vecs(rx.iter(), buf_len),
            );
            check(STD_SYNC, got);
            elapsed
        }),
        // `std::io::pipe` is from Rust 1.87; the library itself needs only
        // 1.85, and only this bench uses it.
        #[allow(clippy::incompatible_msrv)]
        contender(STD_PIPE, move || {
            let (reader, writer) = std::io::pipe().expect("an OS pipe");
            let payload = Payload::new(size);
            let (elapsed, got) = timed_pair(
                move || write_all_messages(writer, payload, count),
                || drain_read(reader, buf_len),
            );
            check(STD_PIPE, got);
            elapsed
        }),
        Contender {
            share: pipe_count as f64 / count as f64,
            ..contender(PIPE, move || {
                let (reader, writer) = pipe::pipe();
                let payload = Payload::new(size);
                let (elapsed, got) = timed_pair(
                    move || write_all_messages(writer, payload, pipe_count),
                    || drain_read(reader, buf_len),
                );
                verify(PIPE, got, Payload::new(size).expected(pipe_count));
                elapsed
            })
        },
        contender(PIPE_BUFFERED, move || {
            let (reader, writer) = pipe::pipe_buffered();
            let payload = Payload::new(size);
            let (elapsed, got) = timed_pair(
                move || write_all_messages(writer, payload, count),
                || drain_read(reader, buf_len),
            );
            check(PIPE_BUFFERED, got);
            elapsed
        }),
    ];
    if with_memcpy {
        list.push(contender(MEMCPY, move || {
            let mut payload = Payload::new(size);
            let mut staging = Aligned::new(size);
            let mut out = Aligned::new(buf_len);
            let mut checker = Checker::default();
            let start = Instant::now();
            for i in 0..count {
                staging.as_mut_slice().copy_from_slice(payload.stamp(i));
                std::hint::black_box(staging.as_mut_slice());
                let received = &mut out.as_mut_slice()[..size];
                received.copy_from_slice(staging.as_slice());
                checker.feed(received);
            }
            let elapsed = start.elapsed();
            check(MEMCPY, checker.finish());
            elapsed
        }));
    }
    list
}

fn spsc_small(settings: &Settings, results: &mut Results) {
    const CASE: &str = "spsc_small";
    let count = settings.count(4_000_000, 2_000_000);
    println!(
        "\n== {CASE}: 1 writer, 1 reader, {count} writes of 64 B, read with a 1 KiB buffer =="
    );
    let contenders = spsc_contenders(count, 64, 1024, false);
    let contenders = settings.keep(contenders);
    let times = run_interleaved(settings.runs, &contenders);
    let measure = Measure::Rate {
        work: count as f64,
        scale: 1e6,
        unit: "Mmsgs/s",
    };
    results.record(CASE, &contenders, times, measure, count, 64);
    results.print_case(CASE);
    println!("  ratios (median / median):");
    let peers = [CROSSBEAM, STD_SYNC, STD_PIPE, PIPE, PIPE_BUFFERED];
    for ours in [CHANIO_READ, CHANIO_RECV] {
        for peer in peers {
            results.ratio(CASE, ours, peer);
        }
    }
    let read = results.median(CASE, CHANIO_READ) / results.median(CASE, CROSSBEAM);
    let recv = results.median(CASE, CHANIO_RECV) / results.median(CASE, CROSSBEAM);
    results.target(
        format!("spsc_small io::Read >= 0.85x crossbeam (got {read:.2}x)"),
        read >= 0.85,
    );
    results.target(
        format!("spsc_small recv >= 1.0x crossbeam (got {recv:.2}x)"),
        recv >= 1.0,
    );
}

fn spsc_bulk(settings: &Settings, results: &mut Results) {
    const CASE: &str = "spsc_bulk";
    const SIZE: usize = 64 * 1024;
    let count = settings.count(32_768, 16_384);
    println!(
        "\n== {CASE}: 1 writer, 1 reader, {count} writes of 64 KiB, read with a 64 KiB buffer =="
    );
    let contenders = spsc_contenders(count, SIZE, SIZE, true);
    let contenders = settings.keep(contenders);
    let times = run_interleaved(settings.runs, &contenders);
    let measure = Measure::Rate {
        work: (count * SIZE as u64) as f64,
        scale: 1e9,
        unit: "GB/s",
    };
    results.record(CASE, &contenders, times, measure, count, SIZE);
    results.print_case(CASE);
    println!("  ratios (median / median):");
    for ours in [CHANIO_READ, CHANIO_RECV] {
        for peer in [CROSSBEAM, STD_SYNC, STD_PIPE, PIPE, PIPE_BUFFERED, MEMCPY] {
            results.ratio(CASE, ours, peer);
        }
    }
    let crossbeam = results.median(CASE, CHANIO_READ) / results.median(CASE, CROSSBEAM);
    let pipe = results.median(CASE, CHANIO_READ) / results.median(CASE, STD_PIPE);
    results.target(
        format!("spsc_bulk io::Read >= 0.9x crossbeam (got {crossbeam:.2}x)"),
        crossbeam >= 0.9,
    );
    results.target(
        format!("spsc_bulk io::Read >= 5x std::io::pipe (got {pipe:.2}x)"),
        pipe >= 5.0,
    );
}

// ---------------------------------------------------------------------------
// fanout: one producer, eight readers, every message to every reader

const FAN_READERS: usize = 8;
const FAN_BROADCAST: &str = "chanio backend.broadcast";
const FAN_BROADCASTER: &str = "chanio Broadcaster::send";
const FAN_BUS: &str = "bus Bus::new(100)";
const FAN_CROSSBEAM: &str = "8 x crossbeam bounded(100) Arc<[u8]>";

/// Eight chanio readers on `fan/0`..`fan/7`, fed by `broadcast` or by a
/// `Broadcaster`. The producer holds a writer on each path and drops them
/// at the end, which ends the streams: readers drain, then see the end.
fn fan_chanio(count: u64, use_broadcaster: bool) -> (Duration, Vec<Tally>) {
    let backend = ChannelBackend::new();
    let readers: Vec<Reader> = (0..FAN_READERS)
        .map(|i| backend.new_reader(&format!("fan/{i}")).unwrap())
        .collect();
    let writers: Vec<_> = (0..FAN_READERS)
        .map(|i| backend.new_writer(&format!("fan/{i}")).unwrap())
        .collect();
    let mut payload = Payload::new(64);
    let produce = move || {
        let mut broadcaster = backend.broadcaster("fan/");
        for i in 0..count {
            let data = payload.stamp(i);
            let delivered = if use_broadcaster {
                broadcaster.send(data)
            } else {
                backend.broadcast("fan/", data)
            };
            if delivered.unwrap() != FAN_READERS {
                fail("a broadcast missed a reader");
            }
        }
        drop(writers);
    };
    let consumers = readers
        .into_iter()
        .map(|mut reader| -> Box<dyn FnOnce() -> Tally + Send> {
            Box::new(move || {
                let mut checker = Checker::default();
                for message in reader.messages() {
                    checker.feed(&message.unwrap());
                }
                checker.finish()
            })
        })
        .collect();
    timed_fanout(produce, consumers)
}

fn fan_bus(count: u64) -> (Duration, Vec<Tally>) {
    let mut bus = Bus::<Arc<[u8]>>::new(100);
    let readers: Vec<_> = (0..FAN_READERS).map(|_| bus.add_rx()).collect();
    let mut payload = Payload::new(64);
    let produce = move || {
        for i in 0..count {
            bus.broadcast(Arc::from(payload.stamp(i)));
        }
    };
    let consumers = readers
        .into_iter()
        .map(|mut reader| -> Box<dyn FnOnce() -> Tally + Send> {
            Box::new(move || {
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

fn fan_crossbeam(count: u64) -> (Duration, Vec<Tally>) {
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..FAN_READERS)
        .map(|_| crossbeam_channel::bounded::<Arc<[u8]>>(100))
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
        .map(|rx| -> Box<dyn FnOnce() -> Tally + Send> {
            Box::new(move || {
                let mut checker = Checker::default();
                for message in rx.iter() {
                    checker.feed(&message);
                }
                checker.finish()
            })
        })
        .collect();
    timed_fanout(produce, consumers)
}

fn fanout(settings: &Settings, results: &mut Results) {
    const CASE: &str = "fanout";
    let count = settings.count(500_000, 200_000);
    println!(
        "\n== {CASE}: 1 producer, {FAN_READERS} reader threads, {count} messages of 64 B each to every reader =="
    );
    let expected = Payload::new(64).expected(count);
    let timed = move |what: &'static str, run: fn(u64) -> (Duration, Vec<Tally>)| {
        contender(what, move || {
            let (elapsed, tallies) = run(count);
            for tally in tallies {
                verify(what, tally, expected);
            }
            elapsed
        })
    };
    let contenders = vec![
        timed(FAN_BROADCAST, |n| fan_chanio(n, false)),
        timed(FAN_BROADCASTER, |n| fan_chanio(n, true)),
        timed(FAN_BUS, fan_bus),
        timed(FAN_CROSSBEAM, fan_crossbeam),
    ];
    let contenders = settings.keep(contenders);
    // Nine threads on two cores: the spread is wide, so twice the runs.
    let times = run_interleaved(settings.runs * 2 + 1, &contenders);
    let measure = Measure::Rate {
        work: (count * FAN_READERS as u64) as f64,
        scale: 1e6,
        unit: "Mdeliveries/s",
    };
    results.record(CASE, &contenders, times, measure, count, 64);
    results.print_case(CASE);
    println!("  ratios (median / median):");
    for ours in [FAN_BROADCAST, FAN_BROADCASTER] {
        for peer in [FAN_BUS, FAN_CROSSBEAM] {
            results.ratio(CASE, ours, peer);
        }
    }
    let faster_peer = results
        .median(CASE, FAN_BUS)
        .max(results.median(CASE, FAN_CROSSBEAM));
    for ours in [FAN_BROADCAST, FAN_BROADCASTER] {
        let ratio = results.median(CASE, ours) / faster_peer;
        results.target(
            format!("fanout {ours} >= 0.8x the faster peer (got {ratio:.2}x)"),
            ratio >= 0.8,
        );
    }
}

// ---------------------------------------------------------------------------
// broadcast_scaling: does a prefix broadcast cost more when the backend
// holds many other paths?

/// How many messages each hot queue holds: one batch of broadcasts.
const SCALING_BATCH: usize = 64;
const HOT_PATHS: usize = 10;

/// A backend with the 10 paths under `hot/` and `others` paths sitting
/// right beside them in name order (`hot-…` sorts just before `hot/`,
/// `hot_…` just after), so that a lookup which is not a range walk over the
/// matches would show. Built once per case and reused by every run.
struct ScalingSetup {
    backend: ChannelBackend,
    hot: Vec<Reader>,
}

impl ScalingSetup {
    fn new(others: usize) -> ScalingSetup {
        let backend = ChannelBackend::builder().buffer_size(SCALING_BATCH).build();
        for i in 0..others {
            let side = if i % 2 == 0 { '-' } else { '_' };
            backend.new_reader(&format!("hot{side}{i:06}")).unwrap();
        }
        let hot = (0..HOT_PATHS)
            .map(|i| backend.new_reader(&format!("hot/{i}")).unwrap())
            .collect();
        ScalingSetup { backend, hot }
    }
}

/// One run: `batches` batches of broadcasts to `hot/`.
///
/// What is timed is the broadcast calls alone, on one thread: each batch of
/// `SCALING_BATCH` broadcasts fills the hot queues without blocking (the
/// buffer size is the batch), then, untimed, this thread drains and checks
/// them. Thread hand-offs and reader scheduling, which would otherwise
/// swamp a sub-microsecond difference on a noisy machine, stay out of the
/// number.
fn broadcast_scaling_run(setup: &RefCell<ScalingSetup>, batches: u64, use_try: bool) -> Duration {
    let setup = &mut *setup.borrow_mut();
    let mut checkers: Vec<Checker> = (0..HOT_PATHS).map(|_| Checker::default()).collect();
    let mut payload = Payload::new(64);
    let mut elapsed = Duration::ZERO;
    let mut delivered = 0usize;
    for batch in 0..batches {
        let first = batch * SCALING_BATCH as u64;
        let start = Instant::now();
        for i in first..first + SCALING_BATCH as u64 {
            delivered += if use_try {
                let report = setup
                    .backend
                    .try_broadcast("hot/", payload.stamp(i))
                    .unwrap();
                if !report.full.is_empty() {
                    fail("try_broadcast found a hot queue full");
                }
                report.delivered
            } else {
                setup.backend.broadcast("hot/", payload.stamp(i)).unwrap()
            };
        }
        elapsed += start.elapsed();
        for (reader, checker) in setup.hot.iter_mut().zip(&mut checkers) {
            for _ in 0..SCALING_BATCH {
                match reader.recv() {
                    Ok(Some(message)) => checker.feed(&message),
                    _ => fail("a hot path is missing a broadcast"),
                }
            }
        }
    }
    let count = batches * SCALING_BATCH as u64;
    if delivered as u64 != count * HOT_PATHS as u64 {
        fail("broadcast_scaling: wrong number of deliveries");
    }
    let expected = payload.expected(count);
    for checker in checkers {
        verify("broadcast_scaling", checker.finish(), expected);
    }
    elapsed
}

fn broadcast_scaling(settings: &Settings, results: &mut Results) {
    const CASE: &str = "broadcast_scaling";
    const OTHERS: usize = 100_000;
    let batches = settings.count(4_000, 1_500);
    let count = batches * SCALING_BATCH as u64;
    println!(
        "\n== {CASE}: {count} broadcasts of 64 B to {HOT_PATHS} paths under \"hot/\", beside 0 and {OTHERS} other paths =="
    );
    println!(
        "  (only the broadcast calls are timed, on one thread, in batches of {SCALING_BATCH} that fit the queues; drained untimed)"
    );
    let mut contenders = Vec::new();
    for others in [0, OTHERS] {
        let setup = Rc::new(RefCell::new(ScalingSetup::new(others)));
        for use_try in [false, true] {
            let op = if use_try {
                "try_broadcast"
            } else {
                "broadcast"
            };
            let setup = Rc::clone(&setup);
            contenders.push(contender(
                format!("{op}, {others} other paths"),
                move || broadcast_scaling_run(&setup, batches, use_try),
            ));
        }
    }
    let contenders = settings.keep(contenders);
    // Cheap runs once the paths exist: twice as many as elsewhere.
    let times = run_interleaved(settings.runs * 2 + 1, &contenders);
    results.record(
        CASE,
        &contenders,
        times,
        Measure::NanosPerOp { work: count as f64 },
        count,
        64,
    );
    results.print_case(CASE);
    println!("  ratios (median / median, lower is better):");
    for op in ["broadcast", "try_broadcast"] {
        let ratio = results.ratio(
            CASE,
            &format!("{op}, {OTHERS} other paths"),
            &format!("{op}, 0 other paths"),
        );
        results.target(
            format!("{op} with {OTHERS} other paths <= 2x with 0 (got {ratio:.2}x)"),
            ratio <= 2.0,
        );
    }
}

// ---------------------------------------------------------------------------
// many_paths: open, list and exists with 100,000 paths

fn many_paths(settings: &Settings, results: &mut Results) {
    const CASE: &str = "many_paths";
    const PATHS: usize = 100_000;
    let lists: usize = if settings.quick { 5_000 } else { 20_000 };
    let lookups: usize = 100_000;
    println!(
        "\n== {CASE}: open {PATHS} paths (default buffer size), list a prefix matching 10, exists =="
    );
    // Paths `node/000000/in`..`node/099999/in`; the prefix `node/01234`
    // matches the ten `node/01234?/in`.
    let name = |i: usize| format!("node/{i:06}/in");
    let prefixes: Vec<String> = (0..lists)
        .map(|k| format!("node/{:05}", (k * 7919) % (PATHS / 10)))
        .collect();
    let present: Vec<String> = (0..lookups).map(|k| name((k * 104_729) % PATHS)).collect();
    let absent: Vec<String> = (0..lookups)
        .map(|k| format!("node/{:06}/out", (k * 104_729) % PATHS))
        .collect();
    let mut samples: [Vec<f64>; 4] = Default::default();
    for _ in 0..settings.runs {
        let backend = ChannelBackend::new();
        let start = Instant::now();
        for i in 0..PATHS {
            drop(backend.new_reader(&name(i)).unwrap());
        }
        samples[0].push(start.elapsed().as_secs_f64() * 1e9 / PATHS as f64);
        if backend.channel_count() != PATHS {
            fail("many_paths: wrong channel_count");
        }

        let start = Instant::now();
        let mut listed = 0;
        for prefix in &prefixes {
            let names = backend.list(prefix).unwrap();
            listed += names.len();
            if names.iter().any(|n| !n.starts_with(prefix.as_str())) {
                fail("many_paths: list returned a name outside its prefix");
            }
        }
        samples[1].push(start.elapsed().as_secs_f64() * 1e9 / lists as f64);
        if listed != lists * 10 {
            fail("many_paths: list did not return 10 paths per prefix");
        }

        for (slot, names, want) in [(2, &present, true), (3, &absent, false)] {
            let start = Instant::now();
            let found = names
                .iter()
                .filter(|n| backend.exists(n).unwrap() == want)
                .count();
            samples[slot].push(start.elapsed().as_secs_f64() * 1e9 / lookups as f64);
            if found != lookups {
                fail("many_paths: exists gave a wrong answer");
            }
        }
        backend.close().unwrap();
    }
    let labels = [
        ("open (new_reader, creates the path)", PATHS),
        ("list (prefix matching 10 of 100000)", lists),
        ("exists (present)", lookups),
        ("exists (absent)", lookups),
    ];
    for ((label, work), values) in labels.into_iter().zip(samples) {
        results.push(Row {
            case: CASE,
            contender: label.to_owned(),
            unit: "ns/op",
            higher_is_better: false,
            runs: values.len(),
            stat: Stat::of(values),
            work: work as u64,
            message_bytes: 0,
        });
    }
    results.print_case(CASE);
    let list_us = results.median(CASE, labels[1].0) / 1000.0;
    results.target(
        format!("many_paths list < 50 us (got {list_us:.2} us)"),
        list_us < 50.0,
    );
}

// ---------------------------------------------------------------------------
// late_readers_memory: 100 late readers over a 10 MB persistent log

const LOG_MESSAGE: usize = 1024;
const LOG_MESSAGES: u64 = 10 * 1024;
const LATE_READERS: usize = 100;
const READER_THREADS: usize = 4;

/// A field of `/proc/self/status`, in bytes.
fn proc_status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix(field)?.strip_prefix(':')?;
            let kib: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
            Some(kib * 1024)
        })
        .unwrap_or_else(|| fail(&format!("no {field} in /proc/self/status")))
}

/// The child process: writes the log, then 100 readers opened after it was
/// written read it all, interleaved (each of 4 threads takes one read from
/// each of its 25 readers in turn), so that all 100 are part-way through at
/// once. Prints the memory figures for the parent.
fn memory_child() {
    let baseline = proc_status_bytes("VmRSS");
    let backend = ChannelBackend::builder().persistent(true).build();
    let mut writer = backend.new_writer("log").unwrap();
    let mut payload = Payload::new(LOG_MESSAGE);
    for i in 0..LOG_MESSAGES {
        writer.write_all(payload.stamp(i)).unwrap();
    }
    writer.close().unwrap();
    let after_log = proc_status_bytes("VmRSS");

    let readers: Vec<Reader> = (0..LATE_READERS)
        .map(|_| backend.new_reader("log").unwrap())
        .collect();
    let expected = payload.expected(LOG_MESSAGES);
    let mut groups: Vec<Vec<Reader>> = (0..READER_THREADS).map(|_| Vec::new()).collect();
    for (i, reader) in readers.into_iter().enumerate() {
        groups[i % READER_THREADS].push(reader);
    }
    thread::scope(|scope| {
        for mut group in groups {
            scope.spawn(move || {
                let mut buf = [0u8; 4096];
                let mut checkers: Vec<Checker> = group.iter().map(|_| Checker::default()).collect();
                let mut open = vec![true; group.len()];
                while open.iter().any(|o| *o) {
                    for ((reader, checker), open) in
                        group.iter_mut().zip(&mut checkers).zip(&mut open)
                    {
                        if !*open {
                            continue;
                        }
                        match reader.read(&mut buf) {
                            Ok(0) => *open = false,
                            Ok(n) => checker.feed(&buf[..n]),
                            Err(e) => fail(&format!("late reader: {e}")),
                        }
                    }
                }
                for checker in checkers {
                    verify("late_readers_memory", checker.finish(), expected);
                }
                // Keep the readers open until every thread is done.
                group
            });
        }
    });
    let peak = proc_status_bytes("VmHWM");
    drop(backend);
    println!("chanio-memory baseline={baseline} after_log={after_log} peak={peak}");
}

fn late_readers_memory(settings: &Settings, results: &mut Results) {
    const CASE: &str = "late_readers_memory";
    let log_bytes = LOG_MESSAGE as u64 * LOG_MESSAGES;
    println!(
        "\n== {CASE}: {LATE_READERS} late readers over a {} MiB persistent log ({LOG_MESSAGES} messages of {LOG_MESSAGE} B), child process ==",
        log_bytes >> 20
    );
    let exe = std::env::current_exe().expect("the path of this program");
    let mut peaks = Vec::new();
    let mut logs = Vec::new();
    for _ in 0..settings.runs {
        let output = Command::new(&exe)
            .arg("--memory-child")
            .output()
            .expect("run the memory child");
        let text = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            fail(&format!(
                "the memory child failed: {}{}",
                text,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let line = text
            .lines()
            .find(|l| l.starts_with("chanio-memory"))
            .unwrap_or_else(|| fail("the memory child printed no figures"));
        let field = |name: &str| -> f64 {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
                .unwrap_or_else(|| fail(&format!("no {name} in {line:?}")))
        };
        peaks.push((field("peak") - field("baseline")) / (1 << 20) as f64);
        logs.push((field("after_log") - field("baseline")) / (1 << 20) as f64);
    }
    for (label, values) in [
        ("log written, no readers (RSS growth)", logs),
        ("peak with 100 late readers (VmHWM - baseline)", peaks),
    ] {
        results.push(Row {
            case: CASE,
            contender: label.to_owned(),
            unit: "MiB",
            higher_is_better: false,
            runs: values.len(),
            stat: Stat::of(values),
            work: LATE_READERS as u64,
            message_bytes: LOG_MESSAGE,
        });
    }
    results.print_case(CASE);
    let ratio = results.median(CASE, "peak with 100 late readers (VmHWM - baseline)")
        / (log_bytes as f64 / (1 << 20) as f64);
    results.target(
        format!("late readers' peak memory <= 1.5x the log (got {ratio:.2}x)"),
        ratio <= 1.5,
    );
}
