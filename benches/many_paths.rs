//! many_paths: open, list and exists with 100,000 paths.

mod common;

use std::time::Instant;

use chanio::ChannelBackend;

use common::{Case, Row, Stat, Work, fail};

const PATHS: usize = 100_000;
const LOOKUPS: usize = 100_000;

fn main() {
    let Some(mut case) = Case::start("many_paths") else {
        return;
    };
    let lists: usize = if case.settings.quick { 5_000 } else { 20_000 };
    case.announce(format!(
        "open {PATHS} paths (default buffer size), list a prefix matching 10, exists"
    ));
    // Paths `node/000000/in`..`node/099999/in`; the prefix `node/01234`
    // matches the ten `node/01234?/in`.
    let name = |i: usize| format!("node/{i:06}/in");
    let prefixes: Vec<String> = (0..lists)
        .map(|k| format!("node/{:05}", (k * 7919) % (PATHS / 10)))
        .collect();
    let present: Vec<String> = (0..LOOKUPS).map(|k| name((k * 104_729) % PATHS)).collect();
    let absent: Vec<String> = (0..LOOKUPS)
        .map(|k| format!("node/{:06}/out", (k * 104_729) % PATHS))
        .collect();
    // One sample per run of each operation, in ns per operation.
    let mut samples: [Vec<f64>; 4] = Default::default();
    for _ in 0..case.settings.runs {
        let backend = ChannelBackend::new();
        let start = Instant::now();
        for i in 0..PATHS {
            drop(backend.new_reader(&name(i)).unwrap());
        }
        samples[0].push(start.elapsed().as_secs_f64() * 1e9 / PATHS as f64);
        if backend.channel_count() != PATHS {
            fail("many_paths: wrong channel_count");
        }

        let start = Instant::now();
        let mut listed = 0;
        for prefix in &prefixes {
            let names = backend.list(prefix).unwrap();
            listed += names.len();
            if names.iter().any(|n| !n.starts_with(prefix.as_str())) {
                fail("many_paths: list returned a name outside its prefix");
            }
        }
        samples[1].push(start.elapsed().as_secs_f64() * 1e9 / lists as f64);
        if listed != lists * 10 {
            fail("many_paths: list did not return 10 paths per prefix");
        }

        for (slot, names, want) in [(2, &present, true), (3, &absent, false)] {
            let start = Instant::now();
            let found = names
                .iter()
                .filter(|n| backend.exists(n).unwrap() == want)
                .count();
            samples[slot].push(start.elapsed().as_secs_f64() * 1e9 / LOOKUPS as f64);
            if found != LOOKUPS {
                fail("many_paths: exists gave a wrong answer");
            }
        }
        backend.close().unwrap();
        case.sample_noise();
    }
    let labels = [
        ("open (new_reader, creates the path)", PATHS),
        ("list (prefix matching 10 of 100000)", lists),
        ("exists (present)", LOOKUPS),
        ("exists (absent)", LOOKUPS),
    ];
    for ((label, work), values) in labels.into_iter().zip(samples) {
        case.push(Row {
            contender: label.to_owned(),
            unit: "ns/op",
            higher_is_better: false,
            runs: values.len(),
            stat: Stat::of(values),
            work: Work::messages(work as u64, 0),
        });
    }
    case.print_figures();
    match case.median(labels[1].0) {
        Some(list_ns) => {
            let list_us = list_ns / 1000.0;
            case.target(
                format!("many_paths list < 50 us (got {list_us:.2} us)"),
                list_us < 50.0,
            );
        }
        None => fail("many_paths: list was not measured"),
    }
    case.finish();
}
