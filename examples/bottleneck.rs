//! Finding the slow stage of a thread pipeline from chanio's stats.
//!
//! Four stages: `source` writes records to `parse/in`; `parse` turns them
//! into numbers for `enrich/in`; `enrich` is deliberately slow (it sleeps
//! for each record) and writes to `store/in`; `store` adds them up. While
//! it runs, the main thread prints a small table of every path once a
//! second: the slow stage is the one whose input queue is full with its
//! writers waiting, while the queue after it is empty with its reader
//! waiting.
//!
//! Run with `cargo run --example bottleneck` (about three seconds).

use std::io::{self, BufRead, Write};
use std::thread;
use std::time::{Duration, Instant};

use chanio::{ChannelBackend, PathStats};

const RECORDS: u64 = 6_000;
const SLOW_STAGE_COST: Duration = Duration::from_micros(400);
const PATHS: [&str; 3] = ["parse/in", "enrich/in", "store/in"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let backend = ChannelBackend::builder().buffer_size(32).build();

    // Every writer and reader is made before the stages start, so that no
    // stream can end before its stage is running.
    let mut source = backend.new_writer("parse/in")?;
    let parse_in = backend.new_reader("parse/in")?;
    let mut parse_out = backend.new_writer("enrich/in")?;
    let enrich_in = backend.new_reader("enrich/in")?;
    let mut enrich_out = backend.new_writer("store/in")?;
    let store_in = backend.new_reader("store/in")?;

    let stages = vec![
        thread::spawn(move || -> io::Result<u64> {
            for i in 0..RECORDS {
                writeln!(source, "record {i}")?;
            }
            Ok(RECORDS)
        }),
        thread::spawn(move || -> io::Result<u64> {
            let mut count = 0;
            for line in parse_in.lines() {
                let line = line?;
                let n = line.trim_start_matches("record ");
                parse_out.write_all(n.as_bytes())?;
                count += 1;
            }
            Ok(count)
        }),
        thread::spawn(move || -> io::Result<u64> {
            let mut count = 0;
            let mut input = enrich_in;
            while let Some(message) = input.recv()? {
                thread::sleep(SLOW_STAGE_COST); // the deliberately slow stage
                enrich_out.send(message)?;
                count += 1;
            }
            Ok(count)
        }),
    ];
    let store = thread::spawn(move || -> Result<(u64, u64), String> {
        let mut input = store_in;
        let (mut count, mut sum) = (0, 0);
        while let Some(message) = input.recv().map_err(|e| e.to_string())? {
            let text = std::str::from_utf8(&message).map_err(|e| e.to_string())?;
            sum += text.parse::<u64>().map_err(|e| e.to_string())?;
            count += 1;
        }
        Ok((count, sum))
    });

    let started = Instant::now();
    let mut next_table = started + Duration::from_secs(1);
    let mut slow_stage_seen = false;
    while !store.is_finished() {
        thread::sleep(Duration::from_millis(20));
        if Instant::now() >= next_table {
            slow_stage_seen |= print_table(&backend, started)?;
            next_table += Duration::from_secs(1);
        }
    }

    for stage in stages {
        stage.join().map_err(|_| "a stage panicked")??;
    }
    let (count, sum) = store.join().map_err(|_| "the store stage panicked")??;
    let expected: u64 = (0..RECORDS).sum();
    println!("store got {count} records, sum {sum} (expected {expected})");
    if count != RECORDS || sum != expected {
        return Err("records were lost".into());
    }
    if !slow_stage_seen {
        // On a machine too busy to show it this run, say so rather than fail.
        println!("(the slow stage never showed as the bottleneck on this run)");
    }
    Ok(())
}

/// Prints one table of the pipeline's paths; says whether it showed
/// `enrich/in` as the bottleneck. The queues before a slow stage back up
/// one after the other, so the slow stage is the one reading the last
/// queue that is full with its writers waiting.
fn print_table(backend: &ChannelBackend, started: Instant) -> chanio::Result<bool> {
    println!("at {:>4} ms", started.elapsed().as_millis());
    println!(
        "  {:<10} {:>9} {:>16} {:>16} {:>8} {:>8}",
        "path", "queued", "writers(waiting)", "readers(waiting)", "written", "read"
    );
    let mut bottleneck = None;
    for path in PATHS {
        let Some(stats) = backend.stats(path)? else {
            continue;
        };
        println!(
            "  {:<10} {:>9} {:>16} {:>16} {:>8} {:>8}",
            path,
            format!("{}/{}", stats.queued, stats.capacity.unwrap_or(0)),
            format!("{} ({})", stats.writers, stats.waiting_writers),
            format!("{} ({})", stats.readers, stats.waiting_readers),
            stats.written,
            stats.read
        );
        if is_backed_up(&stats) {
            bottleneck = Some(path);
        }
    }
    match bottleneck {
        Some(path) => println!(
            "  -> the stage reading {path} is the bottleneck: its input is full and its writers wait"
        ),
        None => println!("  -> no queue is backed up right now"),
    }
    Ok(bottleneck == Some("enrich/in"))
}

/// A queue that is full with writers waiting for room: its reader is slower
/// than its writers.
fn is_backed_up(stats: &PathStats) -> bool {
    stats.capacity == Some(stats.queued) && stats.waiting_writers > 0
}
