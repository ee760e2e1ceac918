//! handoff: one writer thread, one reader thread, 64-byte messages through
//! a queue of capacity 0, so that every write waits for the reader to take
//! it: the cost of a thread waiting and being woken, once per message.

mod common;

use common::spsc::{CHANIO_READ, CHANIO_RECV, Spsc, crossbeam_name, flume_name};
use common::{Case, Measure, Runs, Work};

fn main() {
    let Some(mut case) = Case::start("handoff") else {
        return;
    };
    let count = case.settings.count(100_000, 20_000);
    case.announce(format!(
        "1 writer, 1 reader, buffer_size(0): {count} hand-offs of 64 B, read with a 1 KiB buffer"
    ));
    let spsc = Spsc {
        count,
        size: 64,
        buf_len: 1024,
        capacity: 0,
    };
    let contenders = vec![
        spsc.chanio_read(),
        spsc.chanio_recv(),
        spsc.crossbeam(),
        spsc.flume(),
    ];
    let measure = Measure::rate(count, 1e6, "Mmsgs/s");
    case.run(contenders, Runs::Normal, measure, Work::messages(count, 64));

    let (crossbeam, flume) = (crossbeam_name(0), flume_name(0));
    case.ratios(&[CHANIO_READ, CHANIO_RECV], &[&crossbeam, &flume]);
    for ours in [CHANIO_READ, CHANIO_RECV] {
        case.at_least(ours, &crossbeam, 1.0);
    }
    case.finish();
}
