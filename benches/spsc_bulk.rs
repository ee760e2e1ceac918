//! spsc_bulk: one writer thread, one reader thread, 64 KiB messages
//! through a queue of 100: the cost of moving bytes, beside a bare memcpy.

mod common;

use common::spsc::{
    CHANIO_READ, CHANIO_RECV, MEMCPY, PIPE, PIPE_BUFFERED, STD_PIPE, Spsc, crossbeam_name,
    flume_name, std_sync_name,
};
use common::{Case, Measure, Runs, Work};

const SIZE: usize = 64 * 1024;

fn main() {
    let Some(mut case) = Case::start("spsc_bulk") else {
        return;
    };
    let count = case.settings.count(32_768, 16_384);
    case.announce(format!(
        "1 writer, 1 reader, {count} writes of 64 KiB, read with a 64 KiB buffer"
    ));
    let spsc = Spsc {
        count,
        size: SIZE,
        buf_len: SIZE,
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
        spsc.memcpy(),
    ];
    let measure = Measure::rate(count * SIZE as u64, 1e9, "GB/s");
    case.run(
        contenders,
        Runs::Normal,
        measure,
        Work::messages(count, SIZE),
    );

    let (crossbeam, flume, std_sync) = (crossbeam_name(100), flume_name(100), std_sync_name(100));
    let peers = [
        &*crossbeam,
        &flume,
        &std_sync,
        STD_PIPE,
        PIPE,
        PIPE_BUFFERED,
        MEMCPY,
    ];
    case.ratios(&[CHANIO_READ, CHANIO_RECV], &peers);
    for ours in [CHANIO_READ, CHANIO_RECV] {
        case.at_least(ours, &crossbeam, 1.0);
    }
    case.at_least(CHANIO_READ, STD_PIPE, 5.0);
    case.finish();
}
