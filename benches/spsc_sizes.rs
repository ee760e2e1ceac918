//! spsc_sizes: one writer thread, one reader thread, messages of sizes
//! around the bounds where chanio changes how it holds a message: up to
//! 64 B in place, then one allocation each, then from 105 B recycled
//! buffers. Informational, no target: it shows what the 64 B case of
//! spsc_small does not.

mod common;

use common::spsc::{Spsc, crossbeam_name};
use common::{Case, Contender, Measure, Runs, Work};

const SIZES: [usize; 6] = [64, 72, 104, 112, 128, 1024];

fn main() {
    let Some(mut case) = Case::start("spsc_sizes") else {
        return;
    };
    let count = case.settings.count(1_000_000, 500_000);
    case.announce(format!(
        "1 writer, 1 reader, {count} writes of each of {SIZES:?} bytes, received whole"
    ));
    let peer = crossbeam_name(100);
    for size in SIZES {
        let spsc = Spsc {
            count,
            size,
            buf_len: 1024,
            capacity: 100,
        };
        let ours = format!("chanio Reader::recv, {size} B");
        let theirs = format!("{peer}, {size} B");
        let contenders = vec![
            named(spsc.chanio_recv(), &ours),
            named(spsc.crossbeam(), &theirs),
        ];
        let measure = Measure::rate(count, 1e6, "Mmsgs/s");
        case.run(
            contenders,
            Runs::Normal,
            measure,
            Work::messages(count, size),
        );
        case.ratios(&[&ours], &[&theirs]);
    }
    case.finish();
}

fn named(mut contender: Contender, name: &str) -> Contender {
    contender.name = name.to_owned();
    contender
}
