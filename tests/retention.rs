//! Persistent mode with a bounded memory: retention drops the oldest
//! messages, every message has an offset, a reader that fell behind is
//! told how many it missed, and readers start where they choose.
mod common;

use std::io::{ErrorKind, Read, Write};
use std::thread;
use std::time::Duration;

use chanio::{ChannelBackend, Error, Reader, Start, Writer};

fn retaining(messages: Option<u64>, bytes: Option<u64>) -> ChannelBackend {
    let mut builder = ChannelBackend::builder().persistent(true);
    if let Some(messages) = messages {
        builder = builder.retain_messages(messages);
    }
    if let Some(bytes) = bytes {
        builder = builder.retain_bytes(bytes);
    }
    builder.try_build().unwrap()
}

fn write_numbers(writer: &mut Writer, numbers: std::ops::Range<u32>) {
    for n in numbers {
        writer.write_all(&n.to_le_bytes()).unwrap();
    }
}

fn number(message: &[u8]) -> u32 {
    u32::from_le_bytes(message.try_into().expect("a 4-byte message"))
}

fn next_number(reader: &mut Reader) -> Option<u32> {
    reader.recv().unwrap().map(|m| number(&m))
}

fn lagged(result: chanio::Result<Option<chanio::Message>>) -> u64 {
    match result {
        Err(Error::Lagged { skipped, path }) => {
            assert!(!path.is_empty());
            skipped
        }
        other => panic!("expected Lagged, got {other:?}"),
    }
}

#[test]
fn by_default_a_log_keeps_every_message() {
    let backend = ChannelBackend::builder().persistent(true).build();
    let mut writer = backend.new_writer("all").unwrap();
    write_numbers(&mut writer, 0..5000);
    writer.close().unwrap();
    let mut reader = backend.new_reader("all").unwrap();
    for n in 0..5000 {
        assert_eq!(next_number(&mut reader), Some(n));
    }
    assert_eq!(next_number(&mut reader), None);
    assert_eq!(backend.stats("all").unwrap().unwrap().dropped, 0);
}

#[test]
fn retain_messages_keeps_the_newest_and_offsets_go_on_counting() {
    let backend = retaining(Some(3), None);
    let mut writer = backend.new_writer("log").unwrap();
    write_numbers(&mut writer, 0..10);
    let mut reader = backend.new_reader("log").unwrap();
    assert_eq!(reader.offset(), 7, "a new reader starts at the oldest kept");
    for (n, offset_after) in [(7, 8), (8, 9), (9, 10)] {
        assert_eq!(next_number(&mut reader), Some(n));
        assert_eq!(reader.offset(), offset_after);
    }
    let stats = backend.stats("log").unwrap().unwrap();
    assert_eq!((stats.queued, stats.dropped, stats.written), (3, 7, 10));
}

#[test]
fn retain_bytes_drops_the_oldest_until_the_log_fits() {
    let backend = retaining(None, Some(25));
    let mut writer = backend.new_writer("log").unwrap();
    for i in 0..6u8 {
        writer.write_all(&[i; 10]).unwrap();
        let stats = backend.stats("log").unwrap().unwrap();
        assert!(stats.queued_bytes <= 25, "{stats}");
    }
    let stats = backend.stats("log").unwrap().unwrap();
    assert_eq!(
        (stats.queued, stats.queued_bytes, stats.dropped),
        (2, 20, 4)
    );
    let mut reader = backend.new_reader("log").unwrap();
    assert_eq!(reader.recv().unwrap().unwrap(), [4u8; 10]);
    assert_eq!(reader.recv().unwrap().unwrap(), [5u8; 10]);
}

#[test]
fn the_newest_message_is_kept_even_if_it_alone_exceeds_retain_bytes() {
    let backend = retaining(None, Some(8));
    let mut writer = backend.new_writer("log").unwrap();
    writer.write_all(b"small").unwrap();
    writer.write_all(&[1; 100]).unwrap();
    let stats = backend.stats("log").unwrap().unwrap();
    assert_eq!(
        (stats.queued, stats.queued_bytes, stats.dropped),
        (1, 100, 1)
    );
    let mut reader = backend.new_reader("log").unwrap();
    assert_eq!(reader.recv().unwrap().unwrap().len(), 100);
    writer.write_all(b"tiny").unwrap();
    assert_eq!(reader.recv().unwrap().unwrap(), "tiny");
    assert_eq!(backend.stats("log").unwrap().unwrap().queued, 1);
}

#[test]
fn both_bounds_hold_after_every_append() {
    let backend = retaining(Some(4), Some(30));
    let mut writer = backend.new_writer("log").unwrap();
    let mut rng = common::Rng::new(7);
    for _ in 0..500 {
        let len = 1 + rng.below(12);
        writer.write_all(&vec![0u8; len]).unwrap();
        let stats = backend.stats("log").unwrap().unwrap();
        assert!(stats.queued <= 4 && stats.queued >= 1, "{stats}");
        assert!(stats.queued_bytes <= 30, "{stats}");
        assert_eq!(stats.written, stats.dropped + stats.queued as u64);
    }
}

#[test]
fn a_reader_that_fell_behind_is_told_once_how_many_it_missed_then_goes_on_from_the_oldest_kept() {
    let backend = retaining(Some(3), None);
    let mut reader = backend.new_reader("log").unwrap();
    let mut writer = backend.new_writer("log").unwrap();
    write_numbers(&mut writer, 0..10);
    assert_eq!(lagged(reader.recv()), 7);
    assert_eq!(reader.offset(), 7);
    assert_eq!(next_number(&mut reader), Some(7));
    // A second gap is a second report.
    write_numbers(&mut writer, 10..20);
    assert_eq!(lagged(reader.recv()), 9, "8 to 16 were dropped");
    assert_eq!(next_number(&mut reader), Some(17));
    assert_eq!(next_number(&mut reader), Some(18));
    assert_eq!(next_number(&mut reader), Some(19));
    writer.close().unwrap();
    assert_eq!(next_number(&mut reader), None);
}

#[test]
fn through_io_read_lagged_is_kind_other_and_consumes_nothing() {
    let backend = retaining(Some(2), None);
    let mut reader = backend.new_reader("log").unwrap();
    let mut writer = backend.new_writer("log").unwrap();
    write_numbers(&mut writer, 0..5);
    let err = common::io_failure(reader.read(&mut [0u8; 16]), ErrorKind::Other);
    assert!(matches!(err, Error::Lagged { skipped: 3, .. }), "{err:?}");
    let mut buf = [0u8; 16];
    assert_eq!(reader.read(&mut buf).unwrap(), 4);
    assert_eq!(number(&buf[..4]), 3);
}

#[test]
fn messages_goes_on_after_lagged() {
    let backend = retaining(Some(2), None);
    let mut reader = backend.new_reader("log").unwrap();
    let mut writer = backend.new_writer("log").unwrap();
    write_numbers(&mut writer, 0..5);
    writer.close().unwrap();
    let seen: Vec<String> = reader
        .messages()
        .map(|item| match item {
            Ok(message) => number(&message).to_string(),
            Err(Error::Lagged { skipped, .. }) => format!("lagged {skipped}"),
            Err(other) => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(seen, ["lagged 3", "3", "4"]);
}

#[test]
fn a_reader_made_after_drops_starts_at_the_oldest_kept_and_is_not_told_of_them() {
    let backend = retaining(Some(5), None);
    let mut writer = backend.new_writer("log").unwrap();
    write_numbers(&mut writer, 0..100);
    writer.close().unwrap();
    let mut reader = backend.new_reader("log").unwrap();
    let rest: Vec<u32> = reader.messages().map(|m| number(&m.unwrap())).collect();
    assert_eq!(rest, [95, 96, 97, 98, 99]);
}

#[test]
fn start_latest_reads_only_what_is_appended_after_the_reader_was_made() {
    let backend = ChannelBackend::builder().persistent(true).build();
    let mut writer = backend.new_writer("log").unwrap();
    write_numbers(&mut writer, 0..3);
    let mut reader = backend.new_reader_at("log", Start::Latest).unwrap();
    assert_eq!(reader.offset(), 3);
    reader.set_read_timeout(Some(Duration::from_millis(20)));
    assert!(matches!(reader.recv(), Err(Error::TimedOut { .. })));
    write_numbers(&mut writer, 3..5);
    writer.close().unwrap();
    assert_eq!(next_number(&mut reader), Some(3));
    assert_eq!(next_number(&mut reader), Some(4));
    assert_eq!(next_number(&mut reader), None);
}

#[test]
fn start_latest_on_a_new_path_reads_from_the_first_message() {
    let backend = ChannelBackend::builder().persistent(true).build();
    let mut reader = backend.new_reader_at("fresh", Start::Latest).unwrap();
    let mut writer = backend.new_writer("fresh").unwrap();
    write_numbers(&mut writer, 0..2);
    assert_eq!(next_number(&mut reader), Some(0));
}

#[test]
fn start_offset_reads_from_there_below_the_oldest_it_reports_the_gap_past_the_next_it_fails() {
    let backend = retaining(Some(4), None);
    let mut writer = backend.new_writer("log").unwrap();
    write_numbers(&mut writer, 0..10); // keeps 6..=9
    let mut at_eight = backend.new_reader_at("log", Start::Offset(8)).unwrap();
    assert_eq!(next_number(&mut at_eight), Some(8));

    let mut at_two = backend.new_reader_at("log", Start::Offset(2)).unwrap();
    assert_eq!(lagged(at_two.recv()), 4);
    assert_eq!(next_number(&mut at_two), Some(6));

    match backend.new_reader_at("log", Start::Offset(11)) {
        Err(Error::OffsetOutOfRange { path, offset, next }) => {
            assert_eq!((path.as_str(), offset, next), ("log", 11, 10));
        }
        other => panic!("expected OffsetOutOfRange, got {other:?}"),
    }
    let err = backend.new_reader_at("log", Start::Offset(11)).unwrap_err();
    assert!(err.to_string().contains("11") && err.to_string().contains("\"log\""));
}

#[test]
fn start_offset_at_the_next_offset_waits_for_that_message() {
    let backend = ChannelBackend::builder().persistent(true).build();
    let mut writer = backend.new_writer("log").unwrap();
    write_numbers(&mut writer, 0..3);
    let mut reader = backend.new_reader_at("log", Start::Offset(3)).unwrap();
    let waiting = common::spawn_started("waits for offset 3", move || next_number(&mut reader));
    assert!(waiting.is_blocked_after(Duration::from_millis(30)));
    write_numbers(&mut writer, 3..4);
    assert_eq!(waiting.join(), Some(3));
}

#[test]
fn an_offset_out_of_range_on_a_new_path_creates_nothing() {
    let backend = ChannelBackend::builder().persistent(true).build();
    assert!(matches!(
        backend.new_reader_at("nothing", Start::Offset(1)),
        Err(Error::OffsetOutOfRange {
            offset: 1,
            next: 0,
            ..
        })
    ));
    assert!(!backend.exists("nothing").unwrap());
    let mut reader = backend.new_reader_at("nothing", Start::Offset(0)).unwrap();
    let mut writer = backend.new_writer("nothing").unwrap();
    write_numbers(&mut writer, 0..1);
    assert_eq!(next_number(&mut reader), Some(0));
}

#[test]
fn in_queue_mode_oldest_is_new_reader_and_the_others_are_not_supported() {
    let backend = ChannelBackend::new();
    let mut writer = backend.new_writer("queue").unwrap();
    write_numbers(&mut writer, 0..2);
    let mut reader = backend.new_reader_at("queue", Start::Oldest).unwrap();
    assert_eq!(reader.offset(), 0);
    assert_eq!(next_number(&mut reader), Some(0));
    assert_eq!(reader.offset(), 1, "in queue mode: messages taken");
    for start in [Start::Latest, Start::Offset(0)] {
        match backend.new_reader_at("queue", start) {
            Err(Error::NotSupported { backend, operation }) => {
                assert_eq!(backend, "channel");
                assert!(operation.contains("queue mode"), "{operation}");
            }
            other => panic!("expected NotSupported, got {other:?}"),
        }
    }
    assert!(matches!(
        backend.new_reader_at("", Start::Latest),
        Err(Error::InvalidPath { .. })
    ));
}

#[test]
fn broadcasts_to_persistent_paths_obey_retention() {
    let backend = retaining(Some(2), None);
    let mut reader = backend.new_reader("news/a").unwrap();
    for i in 0..5u32 {
        assert_eq!(backend.broadcast("news/", &i.to_le_bytes()).unwrap(), 1);
    }
    let mut broadcaster = backend.broadcaster("news/");
    broadcaster.send(&5u32.to_le_bytes()).unwrap();
    let stats = backend.stats("news/a").unwrap().unwrap();
    assert_eq!((stats.queued, stats.dropped, stats.written), (2, 4, 6));
    assert_eq!(lagged(reader.recv()), 4);
    assert_eq!(next_number(&mut reader), Some(4));
    assert_eq!(next_number(&mut reader), Some(5));
}

#[test]
fn retention_config_is_strict_and_names_the_key_and_value() {
    let ok = ChannelBackend::from_config([
        ("persistent", "true"),
        ("retain_messages", "10"),
        ("retain_bytes", "1048576"),
    ]);
    assert!(ok.is_ok());
    let cases: &[&[(&str, &str)]] = &[
        &[("persistent", "true"), ("retain_messages", "0")],
        &[("persistent", "true"), ("retain_bytes", "0")],
        &[("persistent", "true"), ("retain_messages", "-1")],
        &[("persistent", "true"), ("retain_messages", " 5")],
        &[("persistent", "true"), ("retain_bytes", "8MiB")],
        &[("persistent", "true"), ("retain_bytes", "")],
        &[
            ("persistent", "true"),
            ("retain_bytes", "99999999999999999999999"),
        ],
        &[("retain_messages", "10")],
        &[("persistent", "false"), ("retain_bytes", "10")],
    ];
    for case in cases {
        let (key, value) = case[case.len() - 1];
        match ChannelBackend::from_config(case.iter().copied()) {
            Err(Error::InvalidConfig {
                key: bad_key,
                value: bad_value,
                expected,
            }) => {
                assert_eq!(
                    (bad_key.as_str(), bad_value.as_str()),
                    (key, value),
                    "{case:?}"
                );
                assert!(!expected.is_empty());
            }
            other => panic!("{case:?}: expected InvalidConfig, got {other:?}"),
        }
    }
    let err = ChannelBackend::from_config([("retain_messages", "10")])
        .err()
        .unwrap();
    assert!(err.to_string().contains("persistent"), "{err}");
}

#[test]
fn a_builder_with_retention_and_no_persistence_is_refused_at_once_or_when_a_path_is_made() {
    let refused = ChannelBackend::builder().retain_messages(5).try_build();
    assert!(
        matches!(refused, Err(Error::InvalidConfig { ref key, .. }) if key == "retain_messages")
    );
    let zero = ChannelBackend::builder()
        .persistent(true)
        .retain_bytes(0)
        .try_build();
    assert!(matches!(zero, Err(Error::InvalidConfig { ref key, .. }) if key == "retain_bytes"));

    let deferred = ChannelBackend::builder().retain_bytes(5).build();
    assert!(matches!(
        deferred.new_writer("x"),
        Err(Error::InvalidConfig { .. })
    ));
    assert!(matches!(
        deferred.new_reader("x"),
        Err(Error::InvalidConfig { .. })
    ));
    assert!(!deferred.exists("x").unwrap());
}

/// A reader's account of a run: the numbers it read in order, and every
/// gap it was told of.
#[derive(Debug, Default)]
struct Account {
    start: u64,
    read: u64,
    skipped: u64,
    lags: u64,
}

/// Reads `reader` to the end, checking order and that every `Lagged`
/// matches the gap in the numbers exactly.
fn account(mut reader: Reader, pause_every: Option<(u64, Duration)>) -> Account {
    let mut account = Account {
        start: reader.offset(),
        ..Account::default()
    };
    let mut expected = account.start as u32;
    loop {
        match reader.recv() {
            Ok(Some(message)) => {
                assert_eq!(number(&message), expected, "out of order or duplicated");
                expected += 1;
                account.read += 1;
                if let Some((every, pause)) = pause_every {
                    if account.read % every == 0 {
                        thread::sleep(pause);
                    }
                }
            }
            Ok(None) => return account,
            Err(Error::Lagged { skipped, .. }) => {
                account.skipped += skipped;
                account.lags += 1;
                expected += skipped as u32;
                assert_eq!(reader.offset(), expected as u64);
            }
            Err(other) => panic!("{other:?}"),
        }
    }
}

#[test]
fn with_a_live_writer_fast_slow_and_late_readers_each_account_for_every_message() {
    let total: u32 = common::scale(20_000, 200_000);
    let backend = retaining(Some(64), None);
    let mut writer = backend.new_writer("live").unwrap();
    let fast = backend.new_reader("live").unwrap();
    let slow = backend.new_reader("live").unwrap();
    let fast = common::spawn("fast reader", move || account(fast, None));
    let slow = common::spawn("slow reader", move || {
        account(slow, Some((50, Duration::from_millis(1))))
    });
    let late_backend = backend.clone();
    let producer = common::spawn("writer", move || {
        for n in 0..total {
            writer.write_all(&n.to_le_bytes()).unwrap();
            if n == total / 2 {
                let late = late_backend.new_reader("live").unwrap();
                return (writer, Some(late));
            }
        }
        (writer, None)
    });
    let (mut writer, late) = producer.join();
    let late = late.expect("the late reader was made half way");
    let late = common::spawn("late reader", move || account(late, None));
    for n in total / 2 + 1..total {
        writer.write_all(&n.to_le_bytes()).unwrap();
    }
    writer.close().unwrap();
    for (name, reader) in [("fast", fast), ("slow", slow), ("late", late)] {
        let account = reader.join();
        assert_eq!(
            account.read + account.skipped,
            total as u64 - account.start,
            "{name}: {account:?}"
        );
        if name == "slow" {
            assert!(account.lags > 0, "the slow reader should have lagged");
        }
        if name == "late" {
            assert!(account.start > 0, "{account:?}");
        }
    }
    let stats = backend.stats("live").unwrap().unwrap();
    assert_eq!(stats.written, total as u64);
    assert_eq!(stats.dropped, total as u64 - 64);
}

#[test]
fn a_reader_that_stays_within_the_bound_never_lags() {
    let backend = retaining(Some(8), Some(8 * 4));
    let mut writer = backend.new_writer("paced").unwrap();
    let mut reader = backend.new_reader("paced").unwrap();
    let mut n = 0u32;
    for burst in 1..=8u32 {
        // Up to the bound, then read it all: the reader is never more than
        // the log keeps behind.
        write_numbers(&mut writer, n..n + burst);
        for expected in n..n + burst {
            assert_eq!(next_number(&mut reader), Some(expected));
        }
        n += burst;
    }
    writer.close().unwrap();
    assert_eq!(next_number(&mut reader), None);
    assert_eq!(
        backend.stats("paced").unwrap().unwrap().dropped,
        u64::from(n) - 8
    );
}
