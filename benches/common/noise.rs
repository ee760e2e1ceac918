//! The machine's noise: a fixed reference job, timed.

use std::time::{Duration, Instant};

/// What a case records of the machine while it ran.
#[derive(Clone, Copy, Default)]
pub struct Noise {
    /// (max - min) / median of the reference job's times, in percent: how
    /// much the machine moved during the case.
    pub spread_pct: Option<f64>,
    /// The reference job's median time in milliseconds. Other work that
    /// shares the cores all along raises it without any spread, so it says
    /// what the spread cannot: compare it with a quiet run of the same case.
    pub reference_ms: Option<f64>,
    /// The one-minute load average when the case started.
    pub load_average: Option<f64>,
}

/// Samples per call of [`Case::sample_noise`](super::Case::sample_noise).
pub const SAMPLES_PER_CALL: usize = 3;

/// About 5 ms per core on this machine when it is quiet: long enough that
/// starting the threads and reading the clock do not count, short enough
/// that sampling after every round costs little.
const REFERENCE_STEPS: u32 = 2_500_000;

/// A fixed amount of arithmetic on every core at once, timed until the last
/// core is done: any other work on the machine slows one of them.
pub fn reference_job() -> Duration {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let start = Instant::now();
    std::thread::scope(|scope| {
        for core in 0..cores {
            scope.spawn(move || {
                let mut x = core as u64 + 0x9e37_79b9_7f4a_7c15;
                for _ in 0..REFERENCE_STEPS {
                    // xorshift: a dependent chain the compiler cannot fold.
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                }
                std::hint::black_box(x)
            });
        }
    });
    start.elapsed()
}

/// The one-minute load average, where `/proc` has it.
pub fn load_average() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}
