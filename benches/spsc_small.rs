//! spsc_small: one writer thread, one reader thread, 64-byte messages
//! through a queue of 100: the per-message cost of each hand-off.

mod common;

use common::spsc::{
    CHANIO_READ, CHANIO_RECV, PIPE, PIPE_BUFFERED, STD_PIPE, Spsc, crossbeam_name, flume_name,
    std_sync_name,
};
use common::{Case, Measure, Runs, Work};

fn main() {
    let Some(mut case) = Case::start("spsc_small") else {
        return;
    };
    let count = case.settings.count(4_000_000, 2_000_000);
    case.announce(format!(
        "1 writer, 1 reader, {count} writes of 64 B, read with a 1 KiB buffer"
    ));
    let spsc = Spsc {
        count,
        size: 64,
        buf_len: 1024,
        capacity: 100,
    };
    let contenders = vec![
        spsc.chanio_read(),
        spsc.chanio_recv(),
        spsc.crossbeam(),
        spsc.flume(),
        spsc.std_sync(),
        spsc.std_pipe(),
        spsc.pipe(),
        spsc.pipe_buffered(),
    ];
    let measure = Measure::rate(count, 1e6, "Mmsgs/s");
    case.run(contenders, Runs::Normal, measure, Work::messages(count, 64));

    let (crossbeam, flume, std_sync) = (crossbeam_name(100), flume_name(100), std_sync_name(100));
    let peers = [
        &*crossbeam,
        &flume,
        &std_sync,
        STD_PIPE,
        PIPE,
        PIPE_BUFFERED,
    ];
    case.ratios(&[CHANIO_READ, CHANIO_RECV], &peers);
    for ours in [CHANIO_READ, CHANIO_RECV] {
        case.at_least(ours, &crossbeam, 1.0);
    }
    case.finish();
}
