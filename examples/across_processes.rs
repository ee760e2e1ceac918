//! A writer and a reader in two processes, through Redis.
//!
//! ```text
//! redis-server --port 6379 --save '' --appendonly no &
//! CHANIO_REDIS_URL=redis://127.0.0.1:6379/ cargo run --features redis --example across_processes
//! ```
//!
//! The program starts a copy of itself as the writer (`across_processes
//! writer NAMESPACE`), and reads what it writes. The stage code only knows
//! `&dyn Backend`: the same functions would run on the channel backend
//! between threads.

use std::io::{self, BufRead, BufReader, Write};
use std::process::Command;

use chanio::Backend;

/// The writer stage: a few lines of work, one message each.
fn produce(backend: &dyn Backend) -> io::Result<()> {
    let mut out = backend.new_writer("jobs")?;
    for job in 1..=5 {
        writeln!(out, "job {job} from process {}", std::process::id())?;
    }
    out.close()?; // the last writer, in any process, ends the stream
    Ok(())
}

/// The reader stage: every line until the writer's process closes.
fn consume(input: impl io::Read) -> io::Result<Vec<String>> {
    BufReader::new(input).lines().collect()
}

fn open(namespace: &str) -> chanio::Result<Box<dyn Backend>> {
    let url =
        std::env::var("CHANIO_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".to_owned());
    chanio::open("redis", [("url", url.as_str()), ("namespace", namespace)])
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, role, namespace] = &args[..] {
        if role == "writer" {
            return Ok(produce(open(namespace)?.as_ref())?);
        }
    }

    let namespace = "example-across-processes";
    let backend = match open(namespace) {
        Ok(backend) => backend,
        Err(err) => {
            eprintln!("{err}\n(start redis-server, or set CHANIO_REDIS_URL to a server's url)");
            std::process::exit(1);
        }
    };
    // A run that died half-way may have left the stream ended: start fresh.
    backend.delete("jobs")?;
    // The reader is there before the writer starts: it waits for the
    // stream, which cannot end before its first writer came and went.
    let input = backend.new_reader("jobs")?;
    let mut writer = Command::new(std::env::current_exe()?)
        .args(["writer", namespace])
        .spawn()?;
    let lines = consume(input)?;
    let status = writer.wait()?;
    for line in &lines {
        println!("process {} read: {line}", std::process::id());
    }
    backend.delete("jobs")?;
    assert!(status.success(), "the writer process failed: {status}");
    assert_eq!(lines.len(), 5);
    Ok(())
}
