//! retention: a persistent log bounded by `retain_bytes = 8 MiB` taking
//! 1,000,000 messages of 1 KiB (200,000 with `--quick`), with four readers:
//! three reading as fast as they can, one stalled (made at the start, it
//! reads only once the writer is done).
//!
//! - **Append throughput**, bounded against unbounded persistent mode in
//!   the same run (same readers): the writer's time to append everything.
//! - **Memory**, in a child process: peak RSS growth (VmHWM) over the
//!   baseline, against the bound.
//! - **Lag**: how many times the reading readers were told they lagged.
//!   Unpaced, the writer appends faster than three readers on two cores
//!   can read, so they lag, and what is checked is that every reader
//!   accounts for every message (read + skipped = written), in order, none
//!   twice. In a paced run the writer waits, every 1,024 messages, until
//!   every reading reader is within 4 MiB of it: readers that keep up never
//!   lag (target: 0 `Lagged`).

mod common;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chanio::{ChannelBackend, Error, Reader};

use common::{Case, Payload, Row, Runs, Stat, Work, contender, fail, stamp_of};

const SIZE: usize = 1024;
const BOUND: u64 = 8 << 20;
const READING: usize = 3;

const BOUNDED: &str = "append, retain_bytes = 8 MiB";
const UNBOUNDED: &str = "append, unbounded";
const PEAK: &str = "peak RSS growth (VmHWM - baseline)";
const LAGS: &str = "Lagged errors seen by the 3 reading readers";
const PACED_LAGS: &str = "Lagged errors, readers kept within 4 MiB of the writer";
/// In a paced run, how far (in messages) a reading reader may fall behind.
const PACE: u64 = (4 << 20) / SIZE as u64;

fn main() {
    if let Some(count) = child_count() {
        memory_child(count);
        return;
    }
    let Some(mut case) = Case::start("retention") else {
        return;
    };
    let count = case.settings.count(1_000_000, 200_000);
    case.announce(format!(
        "persistent log, {count} messages of 1 KiB, retain_bytes = 8 MiB against unbounded; 3 reading readers and 1 stalled"
    ));

    let contenders = vec![
        contender(BOUNDED, move || run(count, Some(BOUND), false).0),
        contender(UNBOUNDED, move || run(count, None, false).0),
    ];
    case.run(
        contenders,
        Runs::Normal,
        common::Measure::rate(count, 1e6, "Mmsgs/s"),
        Work::messages(count, SIZE),
    );

    // Memory and lag, each run in a fresh child process.
    let exe = std::env::current_exe().expect("the path of this program");
    let flag = format!("--retention-child={count}");
    let (mut peaks, mut lags, mut paced_lags) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..case.settings.runs {
        let line = common::memory::run_child(&exe, &flag);
        let field = |name: &str| common::memory::field(&line, name);
        peaks.push((field("peak") - field("baseline")) / (1 << 20) as f64);
        lags.push(field("lags"));
        paced_lags.push(run(count, Some(BOUND), true).1 as f64);
        case.sample_noise();
    }
    let work = Work::messages(count, SIZE);
    let first = case.figures();
    case.push(Row {
        contender: PEAK.to_owned(),
        unit: "MiB",
        higher_is_better: false,
        runs: peaks.len(),
        stat: Stat::of(peaks),
        work,
    });
    for (label, values) in [(LAGS, lags), (PACED_LAGS, paced_lags)] {
        case.push(Row {
            contender: label.to_owned(),
            unit: "errors",
            higher_is_better: false,
            runs: values.len(),
            stat: Stat::of(values),
            work,
        });
    }
    case.print_figures_since(first);

    case.ratios(&[BOUNDED], &[UNBOUNDED]);
    case.at_least(BOUNDED, UNBOUNDED, 0.9);
    let peak = case.median(PEAK).unwrap_or_else(|| fail("no peak"));
    let bound_mib = (BOUND >> 20) as f64;
    case.target(
        format!(
            "retention peak memory <= 1.5x retain_bytes (got {peak:.1} MiB = {:.2}x)",
            peak / bound_mib
        ),
        peak <= 1.5 * bound_mib,
    );
    let paced = case
        .median(PACED_LAGS)
        .unwrap_or_else(|| fail("no paced run"));
    case.target(
        format!("retention readers that keep up never lag (got {paced} Lagged)"),
        paced == 0.0,
    );
    case.finish();
}

/// `--retention-child=N`: this process is a memory child for N messages.
fn child_count() -> Option<u64> {
    std::env::args().find_map(|a| a.strip_prefix("--retention-child=")?.parse().ok())
}

/// What one reader saw: messages read and skipped (reported by `Lagged`),
/// and how many `Lagged` errors.
#[derive(Default, Clone, Copy)]
struct Seen {
    read: u64,
    skipped: u64,
    lags: u64,
}

/// Reads `reader` to the end, checking that stamps only go up, by exactly
/// one or by the gap a `Lagged` reported; publishes how far it got in
/// `progress` if given.
fn account(mut reader: Reader, progress: Option<&AtomicU64>) -> Seen {
    let mut seen = Seen::default();
    let mut next = 0u64;
    loop {
        match reader.recv() {
            Ok(Some(message)) => {
                if message.len() != SIZE {
                    fail("retention: a message of the wrong size");
                }
                let stamp = stamp_of(&message);
                if stamp != next {
                    fail(&format!(
                        "retention: got message {stamp} where {next} was due"
                    ));
                }
                next += 1;
                seen.read += 1;
                if let Some(progress) = progress {
                    progress.store(next, Ordering::Release);
                }
            }
            Ok(None) => return seen,
            Err(Error::Lagged { skipped, .. }) => {
                seen.skipped += skipped;
                seen.lags += 1;
                next += skipped;
            }
            Err(e) => fail(&format!("retention: a reader failed: {e}")),
        }
    }
}

/// One run: the writer appends `count` messages while three readers read
/// and one waits; returns the writer's time and the reading readers' lags.
/// `paced`: the writer keeps the reading readers within [`PACE`] of it.
fn run(count: u64, retain_bytes: Option<u64>, paced: bool) -> (Duration, u64) {
    let mut builder = ChannelBackend::builder().persistent(true);
    if let Some(bound) = retain_bytes {
        builder = builder.retain_bytes(bound);
    }
    let backend = builder.try_build().unwrap_or_else(|e| fail(&e.to_string()));
    let mut writer = backend.new_writer("log").unwrap();
    let stalled = backend.new_reader("log").unwrap();
    let progress: Arc<Vec<AtomicU64>> = Arc::new((0..READING).map(|_| AtomicU64::new(0)).collect());
    let readers: Vec<_> = (0..READING)
        .map(|r| {
            let reader = backend.new_reader("log").unwrap();
            let progress = Arc::clone(&progress);
            std::thread::spawn(move || account(reader, Some(&progress[r])))
        })
        .collect();
    let mut payload = Payload::new(SIZE);
    let started = Instant::now();
    for i in 0..count {
        if let Err(e) = writer.write_all(payload.stamp(i)) {
            fail(&format!("retention: an append failed: {e}"));
        }
        if paced && i % 1024 == 1023 {
            let behind = |p: &AtomicU64| i + 1 - p.load(Ordering::Acquire).min(i + 1) > PACE;
            while progress.iter().any(behind) {
                std::thread::yield_now();
            }
        }
    }
    let elapsed = started.elapsed();
    writer.close().unwrap();
    let mut lags = 0;
    for reader in readers {
        let seen = reader.join().unwrap_or_else(|_| fail("a reader panicked"));
        if seen.read + seen.skipped != count {
            fail(&format!(
                "retention: a reader read {} and was told of {} skipped, of {count}",
                seen.read, seen.skipped
            ));
        }
        lags += seen.lags;
    }
    let late = account(stalled, None);
    if late.read + late.skipped != count {
        fail("retention: the stalled reader's account does not add up");
    }
    if retain_bytes.is_some() && late.read as u128 * SIZE as u128 > BOUND as u128 + SIZE as u128 {
        fail("retention: the log kept more than its bound");
    }
    (elapsed, lags)
}

/// The memory child: one bounded run, then its peak memory.
fn memory_child(count: u64) {
    let baseline = common::memory::proc_status_bytes("VmRSS");
    let (_, lags) = run(count, Some(BOUND), false);
    let peak = common::memory::proc_status_bytes("VmHWM");
    println!("chanio-memory baseline={baseline} peak={peak} lags={lags}");
}
