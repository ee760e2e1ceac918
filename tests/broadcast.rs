//! Broadcast by path prefix: who gets the message, waiting for room,
//! `try_broadcast`'s report, what `delete` and `close` do to a waiting
//! broadcast, persistent logs, and the `Broadcaster` handle.
mod common;

use std::io::{ErrorKind, Read, Write};
use std::thread;
use std::time::Duration;

use chanio::{BroadcastReport, ChannelBackend, Error, Reader};

const SHORT: Duration = Duration::from_millis(20);
const GLANCE: Duration = Duration::from_millis(1);

/// Asserts that nothing is waiting for `reader`: a short read times out.
fn assert_nothing_waiting(reader: &mut Reader) {
    let previous = reader.read_timeout();
    reader.set_read_timeout(Some(SHORT));
    let err = common::io_failure(reader.read(&mut [0u8; 64]), ErrorKind::TimedOut);
    assert!(matches!(err, Error::TimedOut { .. }), "{err:?}");
    reader.set_read_timeout(previous);
}

fn texts(reader: &mut Reader) -> Vec<String> {
    reader
        .messages()
        .map(|message| String::from_utf8(message.unwrap().to_vec()).unwrap())
        .collect()
}

#[test]
fn the_go_event_fan_out_example_every_subscriber_gets_each_event() {
    common::within(
        common::BOUND,
        "the_go_event_fan_out_example_every_subscriber_gets_each_event",
        || {
            let backend = ChannelBackend::new();
            let subscribers: Vec<_> = (0..3)
                .map(|i| {
                    // The paths exist before the broadcast, so none can miss it.
                    let mut r = backend.new_reader(&format!("subscriber/{i}")).unwrap();
                    common::spawn("subscriber", move || {
                        let events = texts(&mut r);
                        r.close().unwrap();
                        events
                    })
                })
                .collect();
            let mut outsider = backend.new_reader("other").unwrap();

            let publisher = backend.clone();
            common::within(common::BOUND, "broadcast events", move || {
                assert_eq!(
                    publisher.broadcast("subscriber/", b"event data").unwrap(),
                    3
                );
                assert_eq!(publisher.broadcast("subscriber/", b"more data").unwrap(), 3);
                // Ending every subscriber's stream: they read what was queued, then
                // see the end.
                for i in 0..3 {
                    publisher.delete(&format!("subscriber/{i}")).unwrap();
                }
            });
            for subscriber in subscribers {
                assert_eq!(subscriber.join(), ["event data", "more data"]);
            }
            common::within(common::BOUND, "outsider", move || {
                assert_nothing_waiting(&mut outsider)
            });
        },
    );
}

#[test]
fn an_empty_prefix_broadcasts_to_every_path() {
    common::within(common::BOUND, "broadcast to all", || {
        let backend = ChannelBackend::new();
        let mut readers: Vec<_> = ["a", "b/c", "zz"]
            .iter()
            .map(|name| backend.new_reader(name).unwrap())
            .collect();
        assert_eq!(backend.broadcast("", b"all").unwrap(), 3);
        for reader in &mut readers {
            assert_eq!(reader.recv().unwrap().unwrap(), b"all");
        }
    });
}

#[test]
fn broadcast_to_a_slow_reader_delivers_every_message_in_order_interleaved_with_writes() {
    common::within(
        common::BOUND,
        "broadcast_to_a_slow_reader_delivers_every_message_in_order_interleaved_with_writes",
        || {
            const ROUNDS: usize = 200;
            let backend = ChannelBackend::builder().buffer_size(2).build();
            let mut reader = backend.new_reader("slow/only").unwrap();
            let mut writer = backend.new_writer("slow/only").unwrap();
            let slow = common::spawn("slow reader", move || {
                let mut got = Vec::new();
                while let Some(message) = reader.recv().unwrap() {
                    thread::sleep(Duration::from_micros(100));
                    got.push(String::from_utf8(message.to_vec()).unwrap());
                }
                got
            });

            let broadcaster = backend.clone();
            common::within(common::BOUND, "broadcast and write", move || {
                for i in 0..ROUNDS {
                    assert_eq!(
                        broadcaster
                            .broadcast("slow/", format!("b{i}").as_bytes())
                            .unwrap(),
                        1
                    );
                    writer.write_all(format!("w{i}").as_bytes()).unwrap();
                }
            });

            let expected: Vec<String> = (0..ROUNDS)
                .flat_map(|i| [format!("b{i}"), format!("w{i}")])
                .collect();
            assert_eq!(slow.join(), expected);
        },
    );
}

#[test]
fn concurrent_broadcasts_and_writes_to_a_slow_reader_each_keep_their_order() {
    common::within(
        common::BOUND,
        "concurrent_broadcasts_and_writes_to_a_slow_reader_each_keep_their_order",
        || {
            const EACH: usize = 200;
            let backend = ChannelBackend::builder().buffer_size(2).build();
            let mut reader = backend.new_reader("slow/only").unwrap();
            let mut writer = backend.new_writer("slow/only").unwrap();
            // Keeps the stream open until the last broadcast is in.
            let keep_open = writer.try_clone().unwrap();

            let slow = common::spawn("slow reader", move || {
                let mut got = Vec::new();
                while let Some(message) = reader.recv().unwrap() {
                    thread::sleep(Duration::from_micros(100));
                    got.push(String::from_utf8(message.to_vec()).unwrap());
                }
                got
            });
            let broadcaster = backend.clone();
            let broadcasts = common::spawn("broadcasts", move || {
                for i in 0..EACH {
                    let delivered = broadcaster
                        .broadcast("slow/", format!("b{i}").as_bytes())
                        .unwrap();
                    assert_eq!(delivered, 1);
                }
                drop(keep_open);
            });
            let writes = common::spawn("writes", move || {
                for i in 0..EACH {
                    writer.write_all(format!("w{i}").as_bytes()).unwrap();
                }
            });
            broadcasts.join();
            writes.join();

            let got = slow.join();
            assert_eq!(got.len(), 2 * EACH);
            for source in ["b", "w"] {
                let from_source: Vec<&str> = got
                    .iter()
                    .filter(|text| text.starts_with(source))
                    .map(String::as_str)
                    .collect();
                let expected: Vec<String> = (0..EACH).map(|i| format!("{source}{i}")).collect();
                assert_eq!(from_source, expected, "the order of {source}*");
            }
        },
    );
}

#[test]
fn broadcast_waits_for_room_instead_of_dropping_the_message() {
    common::within(
        common::BOUND,
        "broadcast_waits_for_room_instead_of_dropping_the_message",
        || {
            let backend = ChannelBackend::builder().buffer_size(1).build();
            let mut writer = backend.new_writer("full").unwrap();
            let mut reader = backend.new_reader("full").unwrap();
            writer.write_all(b"filler").unwrap();
            let broadcaster = backend.clone();
            let waiting = common::spawn_started("broadcast", move || {
                broadcaster.broadcast("full", b"broadcast")
            });
            assert!(
                waiting.is_blocked_after(SHORT),
                "broadcast to a full queue returned at once"
            );
            common::within(common::BOUND, "make room", move || {
                assert_eq!(reader.recv().unwrap().unwrap(), b"filler");
                assert_eq!(waiting.join(), Ok(1));
                assert_eq!(reader.recv().unwrap().unwrap(), b"broadcast");
            });
        },
    );
}

#[test]
fn try_broadcast_reports_full_paths_by_name_and_delivers_to_the_rest() {
    common::within(common::BOUND, "try_broadcast", || {
        let backend = ChannelBackend::builder().buffer_size(1).build();
        let mut readers: Vec<_> = ["t/a", "t/b", "t/c", "t/d"]
            .iter()
            .map(|name| backend.new_reader(name).unwrap())
            .collect();
        let mut fillers = Vec::new();
        for name in ["t/d", "t/b"] {
            let mut writer = backend.new_writer(name).unwrap();
            writer.write_all(b"filler").unwrap();
            fillers.push(writer);
        }

        let report = backend.try_broadcast("t/", b"hi").unwrap();
        // `full` is in name order, as `BroadcastReport::full` documents.
        assert_eq!(
            report,
            BroadcastReport {
                delivered: 2,
                full: vec!["t/b".to_owned(), "t/d".to_owned()],
            }
        );
        for (reader, expected) in readers.iter_mut().zip(["hi", "filler", "hi", "filler"]) {
            assert_eq!(reader.recv().unwrap().unwrap(), expected.as_bytes());
            assert_nothing_waiting(reader);
        }
    });
}

#[test]
fn try_broadcast_on_a_hand_off_path_with_nobody_receiving_reports_it_full() {
    common::within(common::BOUND, "try_broadcast hand-off", || {
        let backend = ChannelBackend::builder().buffer_size(0).build();
        let _reader = backend.new_reader("h").unwrap();
        let report = backend.try_broadcast("h", b"x").unwrap();
        assert_eq!(report.delivered, 0);
        assert_eq!(report.full, ["h"]);
    });
}

#[test]
fn broadcast_to_a_prefix_matching_nothing_among_ten_thousand_paths_returns_zero() {
    common::within(
        common::BOUND,
        "broadcast_to_a_prefix_matching_nothing_among_ten_thousand_paths_returns_zero",
        || {
            let backend = ChannelBackend::builder().buffer_size(1).build();
            for i in 0..10_000 {
                backend.new_reader(&format!("p/{i:05}")).unwrap();
            }
            assert_eq!(backend.channel_count(), 10_000);
            common::within(common::BOUND, "broadcasts", move || {
                assert_eq!(backend.broadcast("q/", b"nobody").unwrap(), 0);
                assert_eq!(backend.broadcast("p/1x", b"nobody").unwrap(), 0);
                assert_eq!(
                    backend.try_broadcast("q/", b"nobody").unwrap(),
                    BroadcastReport::default()
                );
                assert_eq!(backend.broadcast("p/0004", b"ten").unwrap(), 10);
                assert_eq!(backend.broadcast("p/09999", b"one").unwrap(), 1);
                let mut last = backend.new_reader("p/09999").unwrap();
                assert_eq!(last.recv().unwrap().unwrap(), b"one");
            });
        },
    );
}

#[test]
fn a_broadcast_blocked_on_a_full_path_is_woken_by_delete_and_does_not_count_it() {
    common::within(
        common::BOUND,
        "a_broadcast_blocked_on_a_full_path_is_woken_by_delete_and_does_not_count_it",
        || {
            let backend = ChannelBackend::builder().buffer_size(1).build();
            for round in 0..50 {
                let mut before = backend.new_reader("b/1").unwrap();
                let mut full = backend.new_reader("b/2").unwrap();
                let mut after = backend.new_reader("b/3").unwrap();
                let mut filler = backend.new_writer("b/2").unwrap();
                filler.write_all(b"filler").unwrap();

                let broadcaster = backend.clone();
                let waiting = common::spawn_started("broadcast", move || {
                    broadcaster.broadcast("b/", b"news")
                });
                assert!(
                    waiting.is_blocked_after(GLANCE),
                    "round {round}: broadcast to a full path returned"
                );
                backend.delete("b/2").unwrap();
                assert_eq!(waiting.join(), Ok(2), "round {round}");

                common::within(common::BOUND, "check deliveries", move || {
                    assert_eq!(before.recv().unwrap().unwrap(), b"news");
                    assert_eq!(after.recv().unwrap().unwrap(), b"news");
                    assert_eq!(
                        texts(&mut full),
                        ["filler"],
                        "deleted: drained, then the end"
                    );
                });
                for name in ["b/1", "b/3"] {
                    backend.delete(name).unwrap();
                }
            }
        },
    );
}

#[test]
fn a_broadcast_blocked_on_a_full_path_is_woken_by_backend_close_with_backend_closed() {
    common::within(
        common::BOUND,
        "a_broadcast_blocked_on_a_full_path_is_woken_by_backend_close_with_backend_closed",
        || {
            for round in 0..50 {
                let backend = ChannelBackend::builder().buffer_size(1).build();
                let mut delivered = backend.new_reader("b/1").unwrap();
                let mut filler = backend.new_writer("b/2").unwrap();
                filler.write_all(b"filler").unwrap();

                let broadcaster = backend.clone();
                let waiting = common::spawn_started("broadcast", move || {
                    broadcaster.broadcast("b/", b"news")
                });
                assert!(
                    waiting.is_blocked_after(GLANCE),
                    "round {round}: broadcast to a full path returned"
                );
                backend.close().unwrap();
                assert_eq!(waiting.join(), Err(Error::BackendClosed), "round {round}");
                common::within(common::BOUND, "drain", move || {
                    assert_eq!(texts(&mut delivered), ["news"]);
                });
            }
        },
    );
}

#[test]
fn paths_whose_stream_ended_are_skipped_and_not_counted() {
    common::within(common::BOUND, "ended paths", || {
        for backend in [
            ChannelBackend::builder().buffer_size(1).build(),
            ChannelBackend::builder().persistent(true).build(),
        ] {
            let mut live = backend.new_reader("e/live").unwrap();
            let mut ended = backend.new_reader("e/ended").unwrap();
            let mut writer = backend.new_writer("e/ended").unwrap();
            // Fills the queue too: a broadcast must not wait on it.
            writer.write_all(b"last words").unwrap();
            writer.close().unwrap();

            assert_eq!(backend.broadcast("e/", b"news").unwrap(), 1);
            assert_eq!(live.recv().unwrap().unwrap(), b"news");
            assert_eq!(
                backend.try_broadcast("e/", b"more").unwrap(),
                BroadcastReport {
                    delivered: 1,
                    full: vec![],
                }
            );
            assert_eq!(texts(&mut ended), ["last words"]);
            assert_eq!(live.recv().unwrap().unwrap(), b"more");
        }
    });
}

#[test]
fn broadcasting_empty_data_sends_nothing_and_returns_zero() {
    common::within(common::BOUND, "empty broadcast", || {
        for backend in [
            ChannelBackend::new(),
            ChannelBackend::builder().persistent(true).build(),
        ] {
            let mut reader = backend.new_reader("s/a").unwrap();
            assert_eq!(backend.broadcast("s/", b"").unwrap(), 0);
            assert_eq!(
                backend.try_broadcast("s/", b"").unwrap(),
                BroadcastReport::default()
            );
            assert_eq!(backend.broadcaster("s/").send(b"").unwrap(), 0);
            assert_nothing_waiting(&mut reader);
        }
    });
}

#[test]
fn broadcast_appends_to_persistent_logs_and_late_readers_see_it() {
    common::within(common::BOUND, "persistent broadcast", || {
        // A buffer size of 1 does not apply to logs: broadcasts never wait.
        let backend = ChannelBackend::builder()
            .buffer_size(1)
            .persistent(true)
            .build();
        let mut writer = backend.new_writer("l/a").unwrap();
        backend.new_reader("l/b").unwrap();
        writer.write_all(b"w1").unwrap();
        assert_eq!(backend.broadcast("l/", b"all 1").unwrap(), 2);
        writer.write_all(b"w2").unwrap();
        assert_eq!(backend.broadcast("l/", b"all 2").unwrap(), 2);
        for _ in 0..100 {
            assert_eq!(backend.broadcast("l/b", b"x").unwrap(), 1);
        }
        writer.close().unwrap();

        let mut late_a = backend.new_reader("l/a").unwrap();
        assert_eq!(texts(&mut late_a), ["w1", "all 1", "w2", "all 2"]);
        let mut late_b = backend.new_reader("l/b").unwrap();
        let mut got = Vec::new();
        for _ in 0..102 {
            got.push(String::from_utf8(late_b.recv().unwrap().unwrap().to_vec()).unwrap());
        }
        assert_eq!(&got[..2], ["all 1", "all 2"]);
        assert!(got[2..].iter().all(|text| text == "x"));
        assert_nothing_waiting(&mut late_b);
    });
}

#[test]
fn broadcast_shares_one_copy_of_the_bytes_among_the_paths() {
    common::within(common::BOUND, "shared bytes", || {
        for backend in [
            ChannelBackend::new(),
            ChannelBackend::builder().persistent(true).build(),
        ] {
            let mut a = backend.new_reader("s/a").unwrap();
            let mut b = backend.new_reader("s/b").unwrap();
            assert_eq!(backend.broadcast("s/", &[9u8; 512]).unwrap(), 2);
            let from_a = a.recv().unwrap().unwrap();
            let from_b = b.recv().unwrap().unwrap();
            assert_eq!(from_a, from_b);
            assert_eq!(from_a.as_ptr(), from_b.as_ptr(), "one copy, shared");
        }
    });
}

#[test]
fn a_waiting_broadcast_does_not_hold_the_path_registry() {
    common::within(
        common::BOUND,
        "a_waiting_broadcast_does_not_hold_the_path_registry",
        || {
            let backend = ChannelBackend::builder().buffer_size(1).build();
            let mut filler = backend.new_writer("full").unwrap();
            filler.write_all(b"filler").unwrap();
            let broadcaster = backend.clone();
            let waiting =
                common::spawn_started("broadcast", move || broadcaster.broadcast("full", b"waits"));
            assert!(waiting.is_blocked_after(SHORT));

            let others = backend.clone();
            common::within(common::BOUND, "registry operations", move || {
                let mut writer = others.new_writer("other").unwrap();
                let mut reader = others.new_reader("other").unwrap();
                writer.write_all(b"still works").unwrap();
                assert_eq!(reader.recv().unwrap().unwrap(), b"still works");
                assert!(others.exists("full").unwrap());
                assert_eq!(others.list("").unwrap(), ["full", "other"]);
                assert_eq!(others.channel_count(), 2);
                assert_eq!(others.try_broadcast("other", b"x").unwrap().delivered, 1);
                others.delete("other").unwrap();
            });
            assert!(
                waiting.is_blocked_after(Duration::ZERO),
                "the broadcast is still waiting for room"
            );
            backend.delete("full").unwrap();
            assert_eq!(waiting.join(), Ok(0));
        },
    );
}

#[test]
fn a_broadcaster_handle_sees_paths_created_and_deleted_after_it_was_made() {
    common::within(common::BOUND, "broadcaster", || {
        let backend = ChannelBackend::new();
        let mut ticks = backend.broadcaster("h/");
        assert_eq!(ticks.prefix(), "h/");
        assert_eq!(ticks.send(b"to nobody").unwrap(), 0);

        let mut a = backend.new_reader("h/a").unwrap();
        assert_eq!(ticks.send(b"1").unwrap(), 1);
        let mut b = backend.new_reader("h/b").unwrap();
        let _outside = backend.new_reader("x/c").unwrap();
        assert_eq!(ticks.send(b"2").unwrap(), 2);
        backend.delete("h/a").unwrap();
        assert_eq!(ticks.send(b"3").unwrap(), 1);
        assert_eq!(
            ticks.try_send(b"4").unwrap(),
            BroadcastReport {
                delivered: 1,
                full: vec![],
            }
        );
        let mut again = backend.new_reader("h/a").unwrap();
        assert_eq!(ticks.send(b"5").unwrap(), 2);

        assert_eq!(texts(&mut a), ["1", "2"], "deleted: drained, then the end");
        for expected in ["2", "3", "4", "5"] {
            assert_eq!(b.recv().unwrap().unwrap(), expected.as_bytes());
        }
        assert_eq!(again.recv().unwrap().unwrap(), b"5");
        backend.close().unwrap();
        assert_eq!(ticks.send(b"6").unwrap_err(), Error::BackendClosed);
        assert_eq!(ticks.try_send(b"6").unwrap_err(), Error::BackendClosed);
    });
}

#[test]
fn a_broadcaster_handle_skips_paths_whose_stream_ended_since_it_was_made() {
    common::within(common::BOUND, "broadcaster and ended streams", || {
        let backend = ChannelBackend::new();
        let mut reader = backend.new_reader("h/a").unwrap();
        let mut writer = backend.new_writer("h/a").unwrap();
        let mut ticks = backend.broadcaster("h/");
        assert_eq!(ticks.send(b"before").unwrap(), 1);
        writer.close().unwrap();
        assert_eq!(ticks.send(b"after").unwrap(), 0);
        assert_eq!(texts(&mut reader), ["before"]);
    });
}

#[test]
fn a_broadcast_to_a_hand_off_path_completes_when_a_reader_takes_it() {
    common::within(common::BOUND, "hand-off broadcast", || {
        let backend = ChannelBackend::builder().buffer_size(0).build();
        let mut reader = backend.new_reader("h").unwrap();
        let broadcaster = backend.clone();
        let waiting =
            common::spawn_started("broadcast", move || broadcaster.broadcast("h", b"handed"));
        assert!(
            waiting.is_blocked_after(SHORT),
            "a hand-off broadcast completed with nobody receiving"
        );
        assert_eq!(reader.recv().unwrap().unwrap(), b"handed");
        assert_eq!(waiting.join(), Ok(1));
    });
}

#[test]
fn try_broadcast_to_persistent_logs_never_finds_one_full() {
    common::within(common::BOUND, "try_broadcast to logs", || {
        let backend = ChannelBackend::builder()
            .buffer_size(0)
            .persistent(true)
            .build();
        backend.new_reader("l/a").unwrap();
        backend.new_reader("l/b").unwrap();
        for _ in 0..10 {
            assert_eq!(
                backend.try_broadcast("l/", b"x").unwrap(),
                BroadcastReport {
                    delivered: 2,
                    full: vec![],
                }
            );
        }
        let mut late = backend.new_reader("l/b").unwrap();
        for _ in 0..10 {
            assert_eq!(late.recv().unwrap().unwrap(), b"x");
        }
        assert_nothing_waiting(&mut late);
    });
}

#[test]
fn large_broadcast_messages_stay_intact_for_every_reader() {
    common::within(common::BOUND, "large broadcasts", || {
        const COUNT: usize = 100;
        let message = |i: usize| -> Vec<u8> { (0..6_000).map(|j| (i * 7 + j) as u8).collect() };
        let backend = ChannelBackend::builder().buffer_size(2).build();
        let mut writers = Vec::new();
        let mut consumers = Vec::new();
        for name in ["big/a", "big/b"] {
            let mut reader = backend.new_reader(name).unwrap();
            writers.push(backend.new_writer(name).unwrap());
            consumers.push(common::spawn("reader", move || {
                // Read in pieces: each message comes over three reads.
                let mut buf = [0u8; 2_500];
                let mut got = Vec::new();
                for _ in 0..2 * COUNT {
                    let mut whole = Vec::new();
                    for _ in 0..3 {
                        let n = reader.read(&mut buf).unwrap();
                        whole.extend_from_slice(&buf[..n]);
                    }
                    got.push(whole);
                }
                got
            }));
        }
        for i in 0..COUNT {
            assert_eq!(backend.broadcast("big/", &message(i)).unwrap(), 2);
            for writer in &mut writers {
                writer.write_all(&message(COUNT + i)).unwrap();
            }
        }
        let expected: Vec<Vec<u8>> = (0..COUNT)
            .flat_map(|i| [message(i), message(COUNT + i)])
            .collect();
        for consumer in consumers {
            assert!(
                consumer.join() == expected,
                "a large message changed on its way"
            );
        }
    });
}

#[test]
fn a_broadcaster_keeps_delivering_to_every_path_while_paths_come_and_go() {
    let backend = ChannelBackend::builder().buffer_size(1000).build();
    let mut readers = std::collections::BTreeMap::new();
    let mut sent_to: std::collections::BTreeMap<String, u64> = Default::default();
    let mut broadcaster = backend.broadcaster("live/");
    let mut rng = common::Rng::new(11);
    for round in 0..200u64 {
        // Now and then a path comes (sorting anywhere among the others) or goes.
        let name = format!("live/{:03}", rng.below(40));
        if readers.contains_key(&name) && rng.chance(30) {
            backend.delete(&name).unwrap();
            readers.remove(&name);
            sent_to.remove(&name);
        } else if !readers.contains_key(&name) {
            readers.insert(name.clone(), backend.new_reader(&name).unwrap());
        }
        if rng.chance(10) {
            backend.new_reader("elsewhere").unwrap(); // a change outside the prefix
        }
        let delivered = broadcaster.send(&round.to_le_bytes()).unwrap();
        assert_eq!(delivered, readers.len(), "round {round}");
        for name in readers.keys() {
            *sent_to.entry(name.clone()).or_default() += 1;
        }
    }
    for (name, reader) in &mut readers {
        let stats = backend.stats(name).unwrap().unwrap();
        assert_eq!(stats.written, sent_to[name], "{name}");
        assert_eq!(stats.queued as u64, sent_to[name], "{name}");
        let mut last = None;
        reader.set_read_timeout(Some(std::time::Duration::ZERO));
        while let Ok(Some(message)) = reader.recv() {
            let round = u64::from_le_bytes(message[..].try_into().unwrap());
            assert!(last.is_none_or(|l| round > l), "{name}: out of order");
            last = Some(round);
        }
    }
}
