//! The files each case leaves: `<case>.csv` and `<case>-targets.csv`.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::noise::Noise;
use super::{Row, fail};

/// The columns of every case's CSV; `scripts/bench_report.py` reads them.
pub const CSV_HEADER: &str = "case,contender,unit,better,median,min,max,runs,work_per_run,message_bytes,noise_pct,reference_ms,load_avg\n";

/// An empty field for a figure that was not taken.
fn optional(value: Option<f64>) -> String {
    value.map(|v| format!("{v:.2}")).unwrap_or_default()
}

fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "'"))
}

/// Where every case writes its files.
pub fn results_dir() -> PathBuf {
    match std::env::var_os("CHANIO_BENCH_OUT") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| "target".into())
            .join("bench-results"),
    }
}

/// Writes `<case>.csv` and `<case>-targets.csv` into [`results_dir`]
/// (replacing the case's earlier files) and returns the directory.
pub fn write(case: &str, rows: &[Row], targets: &[(String, bool)], noise: Noise) -> PathBuf {
    let dir = results_dir();
    if let Err(e) = std::fs::create_dir_all(&dir) {
        fail(&format!("cannot create {}: {e}", dir.display()));
    }
    let mut csv = String::from(CSV_HEADER);
    for r in rows {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{},{},{},{}",
            case,
            quoted(&r.contender),
            r.unit,
            if r.higher_is_better {
                "higher"
            } else {
                "lower"
            },
            r.stat.median,
            r.stat.min,
            r.stat.max,
            r.runs,
            r.work.per_run,
            r.work.message_bytes,
            optional(noise.spread_pct),
            optional(noise.reference_ms),
            optional(noise.load_average),
        );
    }
    let mut met_or_missed = String::from("case,met,target\n");
    for (label, met) in targets {
        let _ = writeln!(
            met_or_missed,
            "{},{},{}",
            case,
            if *met { "met" } else { "MISSED" },
            quoted(label)
        );
    }
    for (file, text) in [
        (format!("{}.csv", case), csv),
        (format!("{}-targets.csv", case), met_or_missed),
    ] {
        let path = dir.join(file);
        if let Err(e) = std::fs::write(&path, text) {
            fail(&format!("cannot write {}: {e}", path.display()));
        }
    }
    dir
}
