//! What every bench target shares: flags, payloads and their checks, the
//! interleaved runner, statistics, ratios, targets and the CSV files.
//!
//! Each case is one file in `benches/` (`spsc_small.rs`, `fanout.rs`, ...)
//! with a `[[bench]]` entry (`harness = false`) in `Cargo.toml`, and this
//! module under it. Flags after `--` go to every target:
//!
//! ```text
//! cargo bench                                    # every case, full mode
//! cargo bench -- --quick                         # every case, quick mode: under two minutes on 2 cores
//! cargo bench --bench fanout -- --quick          # one case
//! cargo bench -- spsc_bulk fanout                # only the named cases (the other targets exit at once)
//! cargo bench --bench spsc_bulk -- --contender=chanio,bus   # only contenders whose name has "chanio" or "bus"
//! cargo bench --bench spsc_small -- --scale=0.01 --runs=1   # 1% of the messages, one run (for valgrind)
//! ```
//!
//! # Runs
//!
//! Each contender runs 5 times (3 with `--quick`, or `--runs=N`); cases
//! whose runs are short and scattered (`fanout`, `broadcast_scaling`) take
//! twice that plus one. The runs of all contenders of a case are
//! interleaved, round after round, so that background load spreads over
//! all of them, and each round starts with the next contender. In a fixed
//! order, the contender that always ran first in its round (right after
//! the reference job below and the previous round's last contender) came
//! out 5-10% below the same chanio code run third (`fanout`, backend.broadcast
//! against Broadcaster::send, both read through `io::Read`). For each contender the median, min and max are printed,
//! then chanio's ratio to each peer (median / median, same run) and whether
//! the targets are met.
//!
//! After each round, with the case's own threads idle, a fixed reference job
//! runs on every core ([`Case::sample_noise`]). Its spread, (max - min) /
//! median, is the case's *machine noise*: how much the machine itself moved
//! while the case ran. A contender whose spread is far above it is noisy by
//! itself (thread scheduling); a case whose noise is high ran beside other
//! work and its figures deserve less trust. Work that shares the cores all
//! along slows the reference job without spreading it: its median time
//! (about 5 ms on this machine when quiet) is recorded too.
//!
//! # Checks
//!
//! Every byte received is checked: a count and a sum of 64-bit words, each
//! message stamped with its index ([`Payload`]); cases with competing
//! readers check order and uniqueness as well. A wrong answer stops the
//! program with an error ([`fail`]): a fast wrong answer must not pass.
//!
//! # Results
//!
//! Each case writes `<case>.csv` (one row per contender) and
//! `<case>-targets.csv` into `$CHANIO_BENCH_OUT`, or else
//! `$CARGO_TARGET_DIR/bench-results/` (`target/bench-results/` when that is
//! unset), replacing what the same case wrote before. One file per case, and
//! no appending, means that the directory always holds the latest result of
//! every case and a full `cargo bench` leaves one combined set, whatever
//! order the targets ran in. `python3 scripts/bench_report.py` reads the
//! directory and makes the README table and `docs/bench.svg`.
//!
//! # Adding a case
//!
//! One file, `benches/NAME.rs`, and in `Cargo.toml`
//! `[[bench]] name = "NAME"` with `harness = false`:
//!
//! ```text
//! mod common;
//! use common::{Case, Measure, Runs, Work, contender};
//!
//! fn main() {
//!     let Some(mut case) = Case::start("NAME") else { return };
//!     let count = case.settings.count(1_000_000, 200_000); // full, --quick
//!     case.announce(format!("what is measured, {count} messages of 64 B"));
//!     let contenders = vec![
//!         contender(OURS, move || { /* one run: set up, time, verify, return the time */ }),
//!         contender(PEER, move || { /* ... */ }),
//!     ];
//!     case.run(contenders, Runs::Normal, Measure::rate(count, 1e6, "Mmsgs/s"), Work::messages(count, 64));
//!     case.ratios(&[OURS], &[PEER]);
//!     case.at_least(OURS, PEER, 1.0);
//!     case.finish();
//! }
//! ```
//!
//! `scripts/bench_report.py` lists cases in the order of its `CASE_ORDER`;
//! a case not named there comes after the others.

// Every target compiles this module, and its re-exports, and uses only part
// of them.
#![allow(dead_code, unused_imports)]

pub mod check;
pub mod files;
pub mod measure;
pub mod memory;
pub mod noise;
pub mod settings;
pub mod spsc;
pub mod threads;

use std::time::Instant;

pub use check::{Aligned, Checker, Payload, Tally, stamp_of, verify};
pub use files::results_dir;
pub use measure::{Contender, Measure, Row, Runs, Stat, Work, contender, fmt_num};
pub use noise::Noise;
pub use settings::Settings;
pub use threads::{Job, job, named_thread, timed_fanout, timed_pair, timed_threads};

/// Stops the program with `what` as its error.
pub fn fail(what: &str) -> ! {
    eprintln!("error: {what}");
    std::process::exit(1);
}

/// One case: its settings, its contenders' figures, its targets and the
/// machine's noise while it ran. [`Case::start`] makes it, [`Case::finish`]
/// prints the summary and writes its files.
pub struct Case {
    pub name: &'static str,
    pub settings: Settings,
    rows: Vec<Row>,
    targets: Vec<(String, bool)>,
    /// Seconds the reference job took, one entry per sample.
    noise: Vec<f64>,
    load_average: Option<f64>,
    started: Instant,
}

impl Case {
    /// The case `name`, or `None` when the command line names other cases.
    pub fn start(name: &'static str) -> Option<Case> {
        let settings = Settings::from_args();
        if !settings.wants(name) {
            return None;
        }
        Some(Case {
            name,
            settings,
            rows: Vec::new(),
            targets: Vec::new(),
            noise: Vec::new(),
            load_average: noise::load_average(),
            started: Instant::now(),
        })
    }

    /// Prints the case's heading: what it measures.
    pub fn announce(&self, what: impl AsRef<str>) {
        println!(
            "\n== {}: {} ({} mode) ==",
            self.name,
            what.as_ref(),
            if self.settings.quick { "quick" } else { "full" },
        );
    }

    pub fn runs(&self, runs: Runs) -> usize {
        match runs {
            Runs::Normal => self.settings.runs,
            Runs::Scattered => self.settings.runs * 2 + 1,
        }
    }

    /// Runs the contenders that `--contender=` keeps, round-robin, sampling
    /// the machine's noise after each round; records and prints the figures.
    pub fn run(&mut self, contenders: Vec<Contender>, runs: Runs, measure: Measure, work: Work) {
        let contenders = self.settings.keep(contenders);
        let runs = self.runs(runs);
        println!("  {runs} runs of each contender, interleaved");
        let mut times = vec![Vec::with_capacity(runs); contenders.len()];
        let n = contenders.len();
        for round in 0..runs {
            // Each round starts one contender further on, so that no
            // contender always runs first after the reference job (or
            // always after the same peer).
            for c in (0..n).map(|i| (round + i) % n) {
                times[c].push((contenders[c].run)());
            }
            self.sample_noise();
        }
        for (c, t) in contenders.iter().zip(times) {
            let values = t.iter().map(|&d| measure.value(d, c.share)).collect();
            self.push(Row {
                contender: c.name.clone(),
                unit: measure.unit(),
                higher_is_better: measure.higher_is_better(),
                stat: Stat::of(values),
                runs,
                work: Work {
                    per_run: (work.per_run as f64 * c.share).round() as u64,
                    ..work
                },
            });
        }
        self.print_figures();
    }

    /// Records figures that a case measured its own way.
    pub fn push(&mut self, row: Row) {
        self.rows.push(row);
    }

    pub fn print_figures(&self) {
        self.print_figures_since(0);
    }

    /// How many rows of figures the case has recorded so far.
    pub fn figures(&self) -> usize {
        self.rows.len()
    }

    /// Prints the rows recorded after the first `first` (those a case
    /// measured its own way after `run` printed its own).
    pub fn print_figures_since(&self, first: usize) {
        let width = self
            .rows
            .iter()
            .map(|r| r.contender.len())
            .max()
            .unwrap_or(10)
            .max(10);
        println!(
            "  {:<width$}  {:>10}  {:>10}  {:>10}  {:>7}  unit",
            "contender", "median", "min", "max", "spread"
        );
        for r in &self.rows[first.min(self.rows.len())..] {
            println!(
                "  {:<width$}  {:>10}  {:>10}  {:>10}  {:>6.1}%  {}",
                r.contender,
                fmt_num(r.stat.median),
                fmt_num(r.stat.min),
                fmt_num(r.stat.max),
                r.stat.spread() * 100.0,
                r.unit
            );
        }
    }

    /// The median of a contender; `None` if it did not run (see `--contender=`).
    pub fn median(&self, contender: &str) -> Option<f64> {
        self.row(contender).map(|r| r.stat.median)
    }

    fn row(&self, contender: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.contender == contender)
    }

    /// Prints `a / b` of medians and returns it; `None` if either did not run.
    pub fn ratio(&self, a: &str, b: &str) -> Option<f64> {
        let ratio = self.median(a)? / self.median(b)?;
        println!("  {ratio:>6.2}x  {a}  /  {b}");
        Some(ratio)
    }

    /// Prints the ratio of each of `ours` to each of `peers`.
    pub fn ratios(&self, ours: &[&str], peers: &[&str]) {
        println!("  ratios (median / median):");
        for a in ours {
            for b in peers {
                self.ratio(a, b);
            }
        }
    }

    /// Of `peers` that ran, the one with the best median.
    pub fn fastest<'a>(&self, peers: &[&'a str]) -> Option<&'a str> {
        let ran = peers.iter().filter_map(|&p| Some((p, self.row(p)?)));
        let best = ran.max_by(|(_, a), (_, b)| {
            let order = a.stat.median.total_cmp(&b.stat.median);
            if a.higher_is_better {
                order
            } else {
                order.reverse()
            }
        });
        best.map(|(p, _)| p)
    }

    /// Records a target and prints whether it was met.
    pub fn target(&mut self, label: String, met: bool) {
        println!("  target {}: {label}", if met { "met" } else { "MISSED" });
        self.targets.push((label, met));
    }

    fn skipped(&self, label: &str) {
        println!("  target skipped (a contender it needs did not run): {label}");
    }

    /// Target: `ours / peer >= at_least` (medians, higher is better).
    pub fn at_least(&mut self, ours: &str, peer: &str, at_least: f64) {
        // `:?` keeps the point: a target of 1.0 reads "1.0x", not "1x".
        let label = format!("{} {ours} >= {at_least:?}x {peer}", self.name);
        match self.median(ours).zip(self.median(peer)) {
            Some((a, b)) => {
                let ratio = a / b;
                self.target(format!("{label} (got {ratio:.2}x)"), ratio >= at_least);
            }
            None => self.skipped(&label),
        }
    }

    /// Target: `ours >= at_least` times the fastest of `peers` in this run.
    pub fn at_least_fastest(&mut self, ours: &str, peers: &[&str], at_least: f64) {
        let label = format!("{} {ours} >= {at_least:?}x the fastest peer", self.name);
        match self.fastest(peers).zip(self.median(ours)) {
            Some((fastest, median)) => {
                let ratio = median / self.median(fastest).expect("the fastest peer ran");
                self.target(
                    format!("{label} (got {ratio:.2}x {fastest})"),
                    ratio >= at_least,
                );
            }
            None => self.skipped(&label),
        }
    }

    /// Target: `a / b <= at_most` (medians; for lower-is-better figures).
    pub fn at_most(&mut self, a: &str, b: &str, at_most: f64) {
        let label = format!("{} {a} <= {at_most:?}x {b}", self.name);
        match self.median(a).zip(self.median(b)) {
            Some((x, y)) => {
                let ratio = x / y;
                self.target(format!("{label} (got {ratio:.2}x)"), ratio <= at_most);
            }
            None => self.skipped(&label),
        }
    }

    /// Times the reference job on every core, while the case's own threads
    /// are idle. [`Case::run`] calls it after each round; a case that times
    /// its own loop calls it after each of its runs.
    pub fn sample_noise(&mut self) {
        for _ in 0..noise::SAMPLES_PER_CALL {
            self.noise.push(noise::reference_job().as_secs_f64());
        }
    }

    /// The machine's noise so far.
    pub fn noise(&self) -> Noise {
        let reference = (!self.noise.is_empty()).then(|| Stat::of(self.noise.clone()));
        Noise {
            spread_pct: reference.map(|r| r.spread() * 100.0),
            reference_ms: reference.map(|r| r.median * 1e3),
            load_average: self.load_average,
        }
    }

    /// Prints the noise and the targets and writes the case's files.
    pub fn finish(self) {
        let noise = self.noise();
        match noise.spread_pct.zip(noise.reference_ms) {
            Some((spread, ms)) => println!(
                "  machine noise: the reference job took {ms:.1} ms (median), spread {spread:.1}% over {} samples{}",
                self.noise.len(),
                noise
                    .load_average
                    .map(|l| format!("; load average {l:.2} at the start"))
                    .unwrap_or_default()
            ),
            None => println!("  machine noise: not sampled"),
        }
        if !self.targets.is_empty() {
            let missed = self.targets.iter().filter(|(_, met)| !met).count();
            println!(
                "  targets: {} met, {missed} MISSED",
                self.targets.len() - missed
            );
        }
        let dir = files::write(self.name, &self.rows, &self.targets, noise);
        println!(
            "  results written to {}",
            dir.join(format!("{}.csv", self.name)).display()
        );
        println!(
            "  {} took {:.1} s",
            self.name,
            self.started.elapsed().as_secs_f64()
        );
    }
}
