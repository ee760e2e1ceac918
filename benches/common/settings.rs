//! The flags every target takes.

use super::{Contender, fail};

/// The flags every target takes.
pub struct Settings {
    pub quick: bool,
    /// Runs per contender (`--runs=N`; 5, or 3 with `--quick`).
    pub runs: usize,
    /// Case names given on the command line; empty runs every case.
    only: Vec<String>,
    /// `--contender=A,B`: run only contenders whose name contains A or B.
    contender: Option<String>,
    /// `--scale=F`: multiply message counts by F (e.g. 0.01 under valgrind).
    scale: f64,
}

impl Settings {
    pub fn from_args() -> Settings {
        let mut settings = Settings {
            quick: false,
            runs: 5,
            only: Vec::new(),
            contender: None,
            scale: 1.0,
        };
        let mut runs = None;
        for arg in std::env::args().skip(1) {
            match arg.as_str() {
                "--quick" => settings.quick = true,
                flag if flag.starts_with("--scale=") => {
                    settings.scale = flag["--scale=".len()..]
                        .parse()
                        .unwrap_or_else(|_| fail("--scale= takes a number"));
                }
                flag if flag.starts_with("--runs=") => {
                    runs = Some(
                        flag["--runs=".len()..]
                            .parse()
                            .ok()
                            .filter(|&n| n > 0)
                            .unwrap_or_else(|| fail("--runs= takes a whole number above 0")),
                    );
                }
                flag if flag.starts_with("--contender=") => {
                    settings.contender = Some(flag["--contender=".len()..].to_owned());
                }
                // `cargo bench` passes `--bench`; other flags are not ours
                // (`--memory-child` belongs to late_readers_memory).
                flag if flag.starts_with('-') => {}
                name => settings.only.push(name.to_owned()),
            }
        }
        settings.runs = runs.unwrap_or(if settings.quick { 3 } else { 5 });
        settings
    }

    pub fn wants(&self, case: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o == case)
    }

    pub(super) fn keep(&self, contenders: Vec<Contender>) -> Vec<Contender> {
        match &self.contender {
            None => contenders,
            Some(texts) => contenders
                .into_iter()
                .filter(|c| texts.split(',').any(|t| c.name.contains(t)))
                .collect(),
        }
    }

    /// `full` messages in a full run, `quick` with `--quick`, times `--scale`.
    pub fn count(&self, full: u64, quick: u64) -> u64 {
        let count = if self.quick { quick } else { full };
        ((count as f64 * self.scale) as u64).max(1)
    }
}
