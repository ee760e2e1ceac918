//! Memory figures of a child process: cases that measure peak memory run
//! each measurement in a fresh process (the bench program re-run with a
//! flag), so that what earlier runs allocated does not count.

use std::path::Path;
use std::process::Command;

use super::fail;

/// A field of `/proc/self/status`, in bytes.
pub fn proc_status_bytes(field: &str) -> u64 {
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

/// Runs this program again as `exe flag` and returns the line it printed
/// starting with `chanio-memory`; stops with an error if it failed.
pub fn run_child(exe: &Path, flag: &str) -> String {
    let output = Command::new(exe)
        .arg(flag)
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
    text.lines()
        .find(|l| l.starts_with("chanio-memory"))
        .unwrap_or_else(|| fail("the memory child printed no figures"))
        .to_owned()
}

/// The number after `name=` in a `chanio-memory` line.
pub fn field(line: &str, name: &str) -> f64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
        .unwrap_or_else(|| fail(&format!("no {name} in {line:?}")))
}
