//! Persistent paths as test input: a test-shaped example.
//!
//! The fixture writes its input once; the code under test, and any check
//! that runs after it, each read every message from the first, however late
//! they open their reader. No async runtime, no temporary files.
//!
//! Run with `cargo run --example fixture`; in a real crate the body of
//! `processor_upper_cases_every_record` would be a `#[test]`.

use std::io::{self, BufRead, Write};

use chanio::ChannelBackend;

/// The code under test: reads records from `input`, writes results to
/// `output`.
fn upper_case_records(backend: &ChannelBackend, input: &str, output: &str) -> io::Result<usize> {
    let reader = backend.new_reader(input)?;
    let mut writer = backend.new_writer(output)?;
    let mut count = 0;
    for line in reader.lines() {
        writeln!(writer, "{}", line?.to_uppercase())?;
        count += 1;
    }
    Ok(count)
}

fn processor_upper_cases_every_record() -> io::Result<()> {
    let backend = ChannelBackend::builder().persistent(true).build();

    // Set up the input: written and closed before anyone reads it.
    let mut input = backend.new_writer("input")?;
    for record in ["alpha", "beta", "gamma"] {
        writeln!(input, "{record}")?;
    }
    input.close()?;

    let processed = upper_case_records(&backend, "input", "output")?;
    assert_eq!(processed, 3);

    // A late reader of the input still sees all of it...
    let replay: Vec<String> = backend
        .new_reader("input")?
        .lines()
        .collect::<Result<_, _>>()?;
    assert_eq!(replay, ["alpha", "beta", "gamma"]);
    // ...and so does the check of the output, after the processor finished.
    let output: Vec<String> = backend
        .new_reader("output")?
        .lines()
        .collect::<Result<_, _>>()?;
    assert_eq!(output, ["ALPHA", "BETA", "GAMMA"]);

    println!(
        "processor_upper_cases_every_record: ok ({processed} records, input replayed, output {output:?})"
    );
    Ok(())
}

fn main() -> io::Result<()> {
    processor_upper_cases_every_record()
}
