//! broadcast_scaling: does a prefix broadcast cost more when the backend
//! holds many other paths?

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use chanio::{ChannelBackend, Reader};

use common::{Case, Checker, Measure, Payload, Runs, Work, contender, fail, verify};

/// How many messages each hot queue holds: one batch of broadcasts.
const BATCH: usize = 64;
const HOT_PATHS: usize = 10;
const OTHERS: usize = 100_000;

fn main() {
    let Some(mut case) = Case::start("broadcast_scaling") else {
        return;
    };
    let batches = case.settings.count(4_000, 1_500);
    let count = batches * BATCH as u64;
    case.announce(format!(
        "{count} broadcasts of 64 B to {HOT_PATHS} paths under \"hot/\", beside 0 and {OTHERS} other paths"
    ));
    println!(
        "  (only the broadcast calls are timed, on one thread, in batches of {BATCH} that fit the queues; drained untimed)"
    );
    let mut contenders = Vec::new();
    for others in [0, OTHERS] {
        let setup = Rc::new(RefCell::new(Setup::new(others)));
        for op in [Op::Broadcast, Op::TryBroadcast] {
            let setup = Rc::clone(&setup);
            contenders.push(contender(name(op, others), move || {
                run(&setup, batches, op)
            }));
        }
    }
    // Cheap runs once the paths exist: more of them.
    case.run(
        contenders,
        Runs::Scattered,
        Measure::nanos_per_op(count),
        Work::messages(count, 64),
    );
    println!("  ratios (median / median, lower is better):");
    for op in [Op::Broadcast, Op::TryBroadcast] {
        let (crowded, alone) = (name(op, OTHERS), name(op, 0));
        case.ratio(&crowded, &alone);
        case.at_most(&crowded, &alone, 2.0);
    }
    case.finish();
}

#[derive(Clone, Copy)]
enum Op {
    Broadcast,
    TryBroadcast,
}

fn name(op: Op, others: usize) -> String {
    let op = match op {
        Op::Broadcast => "broadcast",
        Op::TryBroadcast => "try_broadcast",
    };
    format!("{op}, {others} other paths")
}

/// A backend with the 10 paths under `hot/` and `others` paths sitting
/// right beside them in name order (`hot-…` sorts just before `hot/`,
/// `hot_…` just after), so that a lookup which is not a range walk over the
/// matches would show. Built once per case and reused by every run.
struct Setup {
    backend: ChannelBackend,
    hot: Vec<Reader>,
}

impl Setup {
    fn new(others: usize) -> Setup {
        let backend = ChannelBackend::builder().buffer_size(BATCH).build();
        for i in 0..others {
            let side = if i % 2 == 0 { '-' } else { '_' };
            backend.new_reader(&format!("hot{side}{i:06}")).unwrap();
        }
        let hot = (0..HOT_PATHS)
            .map(|i| backend.new_reader(&format!("hot/{i}")).unwrap())
            .collect();
        Setup { backend, hot }
    }
}

/// One run: `batches` batches of broadcasts to `hot/`.
///
/// What is timed is the broadcast calls alone, on one thread: each batch of
/// `BATCH` broadcasts fills the hot queues without blocking (the buffer
/// size is the batch), then, untimed, this thread drains and checks them.
/// Thread hand-offs and reader scheduling, which would otherwise swamp a
/// sub-microsecond difference on a noisy machine, stay out of the number.
fn run(setup: &RefCell<Setup>, batches: u64, op: Op) -> Duration {
    let setup = &mut *setup.borrow_mut();
    let mut checkers: Vec<Checker> = (0..HOT_PATHS).map(|_| Checker::default()).collect();
    let mut payload = Payload::new(64);
    let mut elapsed = Duration::ZERO;
    let mut delivered = 0usize;
    for batch in 0..batches {
        let first = batch * BATCH as u64;
        let start = Instant::now();
        for i in first..first + BATCH as u64 {
            delivered += match op {
                Op::TryBroadcast => {
                    let report = setup
                        .backend
                        .try_broadcast("hot/", payload.stamp(i))
                        .unwrap();
                    if !report.full.is_empty() {
                        fail("try_broadcast found a hot queue full");
                    }
                    report.delivered
                }
                Op::Broadcast => setup.backend.broadcast("hot/", payload.stamp(i)).unwrap(),
            };
        }
        elapsed += start.elapsed();
        for (reader, checker) in setup.hot.iter_mut().zip(&mut checkers) {
            for _ in 0..BATCH {
                match reader.recv() {
                    Ok(Some(message)) => checker.feed(&message),
                    _ => fail("a hot path is missing a broadcast"),
                }
            }
        }
    }
    let count = batches * BATCH as u64;
    if delivered as u64 != count * HOT_PATHS as u64 {
        fail("broadcast_scaling: wrong number of deliveries");
    }
    let expected = payload.expected(count);
    for checker in checkers {
        verify("broadcast_scaling", checker.finish(), expected);
    }
    elapsed
}
