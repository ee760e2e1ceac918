//! late_readers_memory: 100 late readers over a 10 MiB persistent log.
//!
//! Each run is a child process (this program re-run with `--memory-child`),
//! so that its peak-memory reading starts clean.

mod common;

use std::io::{Read, Write};
use std::thread;

use chanio::{ChannelBackend, Reader};

use common::{Case, Checker, Payload, Row, Stat, Work, fail, verify};

const LOG_MESSAGE: usize = 1024;
const LOG_MESSAGES: u64 = 10 * 1024;
const LATE_READERS: usize = 100;
const READER_THREADS: usize = 4;

const LOG_ONLY: &str = "log written, no readers (RSS growth)";
const PEAK: &str = "peak with 100 late readers (VmHWM - baseline)";

fn main() {
    if std::env::args().any(|a| a == "--memory-child") {
        memory_child();
        return;
    }
    let Some(mut case) = Case::start("late_readers_memory") else {
        return;
    };
    let log_bytes = LOG_MESSAGE as u64 * LOG_MESSAGES;
    case.announce(format!(
        "{LATE_READERS} late readers over a {} MiB persistent log ({LOG_MESSAGES} messages of {LOG_MESSAGE} B), child process",
        log_bytes >> 20
    ));
    let exe = std::env::current_exe().expect("the path of this program");
    let mut peaks = Vec::new();
    let mut logs = Vec::new();
    for _ in 0..case.settings.runs {
        let line = common::memory::run_child(&exe, "--memory-child");
        let field = |name: &str| common::memory::field(&line, name);
        peaks.push((field("peak") - field("baseline")) / (1 << 20) as f64);
        logs.push((field("after_log") - field("baseline")) / (1 << 20) as f64);
        case.sample_noise();
    }
    for (label, values) in [(LOG_ONLY, logs), (PEAK, peaks)] {
        case.push(Row {
            contender: label.to_owned(),
            unit: "MiB",
            higher_is_better: false,
            runs: values.len(),
            stat: Stat::of(values),
            work: Work::messages(LATE_READERS as u64, LOG_MESSAGE),
        });
    }
    case.print_figures();
    let peak = case
        .median(PEAK)
        .unwrap_or_else(|| fail("the peak was not measured"));
    let ratio = peak / (log_bytes as f64 / (1 << 20) as f64);
    case.target(
        format!("late readers' peak memory <= 1.5x the log (got {ratio:.2}x)"),
        ratio <= 1.5,
    );
    case.finish();
}

/// The child process: writes the log, then 100 readers opened after it was
/// written read it all, interleaved (each of 4 threads takes one read from
/// each of its 25 readers in turn), so that all 100 are part-way through at
/// once. Prints the memory figures for the parent.
fn memory_child() {
    let baseline = common::memory::proc_status_bytes("VmRSS");
    let backend = ChannelBackend::builder().persistent(true).build();
    let mut writer = backend.new_writer("log").unwrap();
    let mut payload = Payload::new(LOG_MESSAGE);
    for i in 0..LOG_MESSAGES {
        writer.write_all(payload.stamp(i)).unwrap();
    }
    writer.close().unwrap();
    let after_log = common::memory::proc_status_bytes("VmRSS");

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
    let peak = common::memory::proc_status_bytes("VmHWM");
    drop(backend);
    println!("chanio-memory baseline={baseline} after_log={after_log} peak={peak}");
}
