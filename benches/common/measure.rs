//! Contenders, and how their runs' times become figures.

use std::time::Duration;

/// One contender of a case: a name and one timed, self-checking run.
pub struct Contender {
    pub name: String,
    pub(super) run: Box<dyn Fn() -> Duration>,
    /// The part of the case's work one run does: less than 1 for a peer so
    /// slow that it runs on fewer messages (its rate is scaled to match).
    pub share: f64,
}

pub fn contender(name: impl Into<String>, run: impl Fn() -> Duration + 'static) -> Contender {
    Contender {
        name: name.into(),
        run: Box::new(run),
        share: 1.0,
    }
}

impl Contender {
    /// This contender doing only `share` of the case's work per run.
    pub fn with_share(self, share: f64) -> Contender {
        Contender { share, ..self }
    }
}

/// How many runs each contender gets.
#[derive(Clone, Copy)]
pub enum Runs {
    /// `--runs` (5, or 3 with `--quick`).
    Normal,
    /// Twice that plus one, for cases whose runs are short and scatter
    /// widely (many threads on two cores).
    Scattered,
}

/// How a case turns a run's time into the number it reports.
#[derive(Clone, Copy)]
pub enum Measure {
    /// `work / seconds / scale`, higher is better.
    Rate {
        work: f64,
        scale: f64,
        unit: &'static str,
    },
    /// `seconds * 1e9 / work`, lower is better.
    NanosPerOp { work: f64 },
}

impl Measure {
    /// `work` units per run, reported per second divided by `scale`.
    pub fn rate(work: u64, scale: f64, unit: &'static str) -> Measure {
        Measure::Rate {
            work: work as f64,
            scale,
            unit,
        }
    }

    /// Nanoseconds for each of `work` operations per run.
    pub fn nanos_per_op(work: u64) -> Measure {
        Measure::NanosPerOp { work: work as f64 }
    }

    pub(super) fn unit(self) -> &'static str {
        match self {
            Measure::Rate { unit, .. } => unit,
            Measure::NanosPerOp { .. } => "ns/op",
        }
    }

    pub(super) fn higher_is_better(self) -> bool {
        matches!(self, Measure::Rate { .. })
    }

    pub(super) fn value(self, elapsed: Duration, share: f64) -> f64 {
        let secs = elapsed.as_secs_f64().max(1e-9);
        match self {
            Measure::Rate { work, scale, .. } => work * share / secs / scale,
            Measure::NanosPerOp { work } => secs * 1e9 / (work * share),
        }
    }
}

/// What one run does, for the CSV's record: messages (or operations) and
/// bytes per message.
#[derive(Clone, Copy)]
pub struct Work {
    pub per_run: u64,
    pub message_bytes: usize,
}

impl Work {
    pub fn messages(per_run: u64, message_bytes: usize) -> Work {
        Work {
            per_run,
            message_bytes,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Stat {
    pub fn of(mut values: Vec<f64>) -> Stat {
        assert!(!values.is_empty(), "a statistic of no values");
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

    /// (max - min) / median.
    /// (max - min) / median; 0 when every run gave 0.
    pub fn spread(&self) -> f64 {
        if self.median == 0.0 {
            return if self.max == self.min {
                0.0
            } else {
                f64::INFINITY
            };
        }
        (self.max - self.min) / self.median
    }
}

/// One contender's figures.
pub struct Row {
    pub contender: String,
    pub unit: &'static str,
    pub higher_is_better: bool,
    pub stat: Stat,
    pub runs: usize,
    pub work: Work,
}

pub fn fmt_num(x: f64) -> String {
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
