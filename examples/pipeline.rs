//! A three-stage thread pipeline over chanio paths.
//!
//! Stage 1 produces numbered records on `stage1/out`; stage 2 runs two
//! worker threads that compete for those records, transform them, and write
//! to `stage2/out`; stage 3 collects the results. Each stage ends its output
//! stream by dropping its writers, so the next stage sees end of stream
//! without any extra signalling. At the end it prints each path's stats:
//! what was written and read, and that nothing is left queued.
//!
//! Run with `cargo run --example pipeline`.

use std::collections::BTreeSet;
use std::io::{self, BufRead, Write};
use std::thread;
use std::time::Instant;

use chanio::ChannelBackend;

const RECORDS: u64 = 100_000;
const WORKERS: usize = 2;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let backend = ChannelBackend::builder().buffer_size(64).build();

    // Stage 1: one line of text per record.
    let mut source = backend.new_writer("stage1/out")?;
    let producer = thread::spawn(move || -> io::Result<u64> {
        for i in 0..RECORDS {
            // One message per record: chanio's `writeln!` formats the whole
            // line before it sends, so competing readers never split a line.
            writeln!(source, "record {i}")?;
        }
        Ok(RECORDS)
    });

    // Stage 2: workers compete for records; each message goes to one of them.
    // The writers are created here, before any worker starts, so the stream
    // cannot end while a worker is still getting ready.
    let mut workers = Vec::new();
    for worker in 0..WORKERS {
        let input = backend.new_reader("stage1/out")?;
        let mut output = backend.new_writer("stage2/out")?;
        workers.push(thread::spawn(move || -> io::Result<u64> {
            let mut handled = 0;
            for line in input.lines() {
                let line = line?;
                let n: u64 = line
                    .strip_prefix("record ")
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, line.clone()))?;
                writeln!(output, "{n} squared is {} (worker {worker})", n * n)?;
                handled += 1;
            }
            Ok(handled)
        }));
    }

    // Stage 3: collect and check.
    let results = backend.new_reader("stage2/out")?;
    let mut seen = BTreeSet::new();
    let mut sum_of_squares: u128 = 0;
    for line in results.lines() {
        let line = line?;
        let n: u64 = line
            .split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or("malformed result")?;
        sum_of_squares += u128::from(n) * u128::from(n);
        if !seen.insert(n) {
            return Err(format!("record {n} arrived twice").into());
        }
    }

    let produced = producer.join().map_err(|_| "producer panicked")??;
    println!("stage 1 produced {produced} records on stage1/out");
    for (i, worker) in workers.into_iter().enumerate() {
        let handled = worker.join().map_err(|_| "worker panicked")??;
        println!("stage 2 worker {i} transformed {handled} records");
    }
    let expected: u128 = (0..u128::from(RECORDS)).map(|n| n * n).sum();
    println!(
        "stage 3 collected {} results from stage2/out, each exactly once: {}",
        seen.len(),
        seen.len() as u64 == RECORDS && sum_of_squares == expected
    );
    println!(
        "took {:.1?}; what passed through each path:",
        started.elapsed()
    );
    for (path, stats) in backend.stats_all("")? {
        println!("  {path:<11} {stats}");
    }
    if seen.len() as u64 != RECORDS || sum_of_squares != expected {
        return Err("the pipeline lost records".into());
    }
    Ok(())
}
