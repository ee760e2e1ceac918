//! Queue mode: bounded queues, competing readers, per-writer order,
//! hand-off, blocking and timeouts.
mod common;

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::time::Duration;

use chanio::{ChannelBackend, Error};

const SHORT: Duration = Duration::from_millis(20);

#[test]
fn the_go_basic_example_a_producer_thread_writes_and_a_consumer_reads_until_eof() {
    common::within(
        common::BOUND,
        "the_go_basic_example_a_producer_thread_writes_and_a_consumer_reads_until_eof",
        || {
            let backend = ChannelBackend::new();
            let producer_backend = backend.clone();
            let producer = common::spawn("producer", move || -> std::io::Result<()> {
                let mut w = producer_backend.new_writer("events")?;
                w.write_all(b"event1")?;
                w.write_all(b"event2")?;
                w.close()?; // signals end of stream
                Ok(())
            });

            let processed = common::within(common::BOUND, "consumer", move || {
                let mut r = backend.new_reader("events").unwrap();
                let mut processed = Vec::new();
                loop {
                    let mut buf = [0u8; 1024];
                    let n = r.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    processed.push(buf[..n].to_vec());
                }
                r.close().unwrap();
                processed
            });
            producer.join().unwrap();
            assert_eq!(processed, common::owned(&["event1", "event2"]));
        },
    );
}

#[test]
fn the_go_pipeline_example_runs_three_stages_over_two_paths() {
    common::within(
        common::BOUND,
        "the_go_pipeline_example_runs_three_stages_over_two_paths",
        || {
            const ITEMS: usize = 200;
            let backend = ChannelBackend::new();

            let source = backend.clone();
            let stage1 = common::spawn("stage 1", move || -> std::io::Result<()> {
                let mut w = source.new_writer("stage1")?;
                for i in 0..ITEMS {
                    w.write_all(format!("item {i}").as_bytes())?;
                }
                w.close()?;
                Ok(())
            });

            let transform = backend.clone();
            let stage2 = common::spawn("stage 2", move || -> std::io::Result<()> {
                let mut r = transform.new_reader("stage1")?;
                let mut w = transform.new_writer("stage2")?;
                loop {
                    let mut buf = [0u8; 4096];
                    let n = r.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    w.write_all(&buf[..n].to_ascii_uppercase())?;
                }
                r.close()?;
                w.close()?;
                Ok(())
            });

            let consumed = common::within(common::BOUND, "stage 3", move || {
                let mut r = backend.new_reader("stage2").unwrap();
                common::read_each(&mut r).unwrap()
            });
            stage1.join().unwrap();
            stage2.join().unwrap();

            let expected: Vec<Vec<u8>> = (0..ITEMS)
                .map(|i| format!("ITEM {i}").into_bytes())
                .collect();
            assert_eq!(consumed, expected);
        },
    );
}

#[test]
fn many_writers_and_many_readers_get_every_message_exactly_once_in_per_writer_order() {
    common::within(
        common::BOUND,
        "many_writers_and_many_readers_get_every_message_exactly_once_in_per_writer_order",
        || {
            const WRITERS: u8 = 4;
            const READERS: usize = 4;
            const PER_WRITER: u32 = 2_000;

            // A small buffer, so that writers really wait for the readers.
            let backend = ChannelBackend::builder().buffer_size(16).build();
            let readers: Vec<_> = (0..READERS)
                .map(|i| {
                    let mut reader = backend.new_reader("shared").unwrap();
                    common::spawn("reader", move || -> chanio::Result<Vec<(u8, u32)>> {
                        let mut got = Vec::new();
                        if i % 2 == 0 {
                            // Through io::Read...
                            let mut buf = [0u8; 64];
                            loop {
                                let n = reader.read(&mut buf).expect("read");
                                if n == 0 {
                                    break;
                                }
                                assert_eq!(n, 5, "one whole message per read");
                                got.push(decode(&buf[..n]));
                            }
                        } else {
                            // ...and through recv.
                            while let Some(message) = reader.recv()? {
                                got.push(decode(&message));
                            }
                        }
                        Ok(got)
                    })
                })
                .collect();
            // All writers open before any starts: the first to finish must
            // not end the stream for the others.
            let writers: Vec<_> = (0..WRITERS)
                .map(|_| backend.new_writer("shared").unwrap())
                .collect();
            let writers: Vec<_> = writers
                .into_iter()
                .zip(0..WRITERS)
                .map(|(mut writer, id)| {
                    common::spawn("writer", move || -> std::io::Result<()> {
                        for seq in 0..PER_WRITER {
                            let mut message = vec![id];
                            message.extend_from_slice(&seq.to_le_bytes());
                            writer.write_all(&message)?;
                        }
                        Ok(()) // dropped: one writer fewer
                    })
                })
                .collect();
            for writer in writers {
                writer.join().unwrap();
            }

            let mut seen: HashMap<(u8, u32), usize> = HashMap::new();
            for reader in readers {
                let got = reader.join().unwrap();
                let mut last: HashMap<u8, u32> = HashMap::new();
                for (id, seq) in got {
                    if let Some(&previous) = last.get(&id) {
                        assert!(
                            seq > previous,
                            "writer {id}: message {seq} came after {previous} in one reader"
                        );
                    }
                    last.insert(id, seq);
                    *seen.entry((id, seq)).or_default() += 1;
                }
            }
            assert_eq!(seen.len(), usize::from(WRITERS) * PER_WRITER as usize);
            assert!(
                seen.values().all(|&count| count == 1),
                "a message was received more than once"
            );
        },
    );
}

fn decode(message: &[u8]) -> (u8, u32) {
    assert_eq!(message.len(), 5, "a whole message: {message:?}");
    (
        message[0],
        u32::from_le_bytes(message[1..].try_into().unwrap()),
    )
}

#[test]
fn messages_from_one_writer_arrive_in_the_order_written() {
    common::within(
        common::BOUND,
        "messages_from_one_writer_arrive_in_the_order_written",
        || {
            let backend = ChannelBackend::builder().buffer_size(4).build();
            let mut writer = backend.new_writer("ordered").unwrap();
            let mut reader = backend.new_reader("ordered").unwrap();
            let producer = common::spawn("writer", move || {
                for i in 0..500 {
                    writer.write_all(format!("{i}").as_bytes()).unwrap();
                }
            });
            let got = common::within(common::BOUND, "read", move || {
                common::read_each(&mut reader).unwrap()
            });
            producer.join();
            let expected: Vec<Vec<u8>> = (0..500).map(|i| format!("{i}").into_bytes()).collect();
            assert_eq!(got, expected);
        },
    );
}

#[test]
fn a_write_blocks_while_the_queue_is_full_until_a_reader_makes_room() {
    common::within(
        common::BOUND,
        "a_write_blocks_while_the_queue_is_full_until_a_reader_makes_room",
        || {
            let backend = ChannelBackend::builder().buffer_size(2).build();
            let mut writer = backend.new_writer("full").unwrap();
            let mut reader = backend.new_reader("full").unwrap();
            writer.write_all(b"one").unwrap();
            writer.write_all(b"two").unwrap();

            let third = common::spawn_started("third write", move || writer.write(b"three"));
            assert!(
                third.is_blocked_after(SHORT),
                "a write to a full queue returned"
            );
            assert_eq!(reader.recv().unwrap().unwrap(), b"one");
            assert_eq!(third.join().unwrap(), 5);
            // The writer thread has ended, so has the stream.
            let rest = common::within(common::BOUND, "drain", move || {
                common::read_each(&mut reader).unwrap()
            });
            assert_eq!(rest, common::owned(&["two", "three"]));
        },
    );
}

#[test]
fn a_buffer_size_of_zero_hands_each_write_to_a_waiting_reader() {
    common::within(
        common::BOUND,
        "a_buffer_size_of_zero_hands_each_write_to_a_waiting_reader",
        || {
            let backend = ChannelBackend::builder().buffer_size(0).build();
            let mut writer = backend.new_writer("handoff").unwrap();
            let mut reader = backend.new_reader("handoff").unwrap();

            // Nobody is waiting to receive: the write cannot complete.
            writer.set_write_timeout(Some(SHORT));
            let err = common::io_failure(writer.write(b"nobody waits"), ErrorKind::TimedOut);
            assert_eq!(
                err,
                Error::TimedOut {
                    path: "handoff".into()
                }
            );
            writer.set_write_timeout(None);

            let producer =
                common::spawn_started("hand-off writes", move || -> std::io::Result<()> {
                    for i in 0..100 {
                        writer.write_all(format!("handed {i}").as_bytes())?;
                    }
                    Ok(())
                });
            assert!(
                producer.is_blocked_after(SHORT),
                "a hand-off write completed with no reader receiving"
            );
            let got = common::within(common::BOUND, "receive the hand-offs", move || {
                common::read_each(&mut reader).unwrap()
            });
            producer.join().unwrap();
            let expected: Vec<Vec<u8>> = (0..100)
                .map(|i| format!("handed {i}").into_bytes())
                .collect();
            assert_eq!(got, expected, "the write that timed out sent nothing");
        },
    );
}

#[test]
fn readers_of_one_path_compete_so_each_message_goes_to_one_reader() {
    common::within(
        common::BOUND,
        "readers of one path compete so each message goes to one reader",
        || {
            let backend = ChannelBackend::new();
            let mut writer = backend.new_writer("jobs").unwrap();
            let mut first = backend.new_reader("jobs").unwrap();
            let mut second = backend.new_reader("jobs").unwrap();
            for job in ["a", "b", "c", "d"] {
                writer.write_all(job.as_bytes()).unwrap();
            }
            writer.close().unwrap();
            assert_eq!(first.recv().unwrap().unwrap(), b"a");
            assert_eq!(second.recv().unwrap().unwrap(), b"b");
            assert_eq!(first.recv().unwrap().unwrap(), b"c");
            assert_eq!(second.recv().unwrap().unwrap(), b"d");
            assert_eq!(first.recv().unwrap(), None);
            assert_eq!(second.recv().unwrap(), None);
        },
    );
}

#[test]
fn a_closed_reader_leaves_the_unread_messages_to_the_other_readers() {
    common::within(
        common::BOUND,
        "a closed reader leaves the unread messages to the other readers",
        || {
            let backend = ChannelBackend::new();
            let mut writer = backend.new_writer("jobs").unwrap();
            let mut quitter = backend.new_reader("jobs").unwrap();
            let mut stayer = backend.new_reader("jobs").unwrap();
            writer.write_all(b"one").unwrap();
            writer.write_all(b"two").unwrap();
            writer.close().unwrap();
            quitter.close().unwrap();
            assert_eq!(
                common::read_each(&mut stayer).unwrap(),
                common::owned(&["one", "two"])
            );
        },
    );
}

#[test]
fn a_read_timeout_returns_timed_out_and_consumes_nothing() {
    common::within(
        common::BOUND,
        "a read timeout returns timed out and consumes nothing",
        || {
            let backend = ChannelBackend::new();
            let mut writer = backend.new_writer("slow").unwrap();
            let mut reader = backend.new_reader("slow").unwrap();
            reader.set_read_timeout(Some(SHORT));
            assert_eq!(reader.read_timeout(), Some(SHORT));

            let err = common::io_failure(reader.read(&mut [0u8; 16]), ErrorKind::TimedOut);
            assert_eq!(
                err,
                Error::TimedOut {
                    path: "slow".into()
                }
            );
            assert!(err.is_timeout());
            assert!(matches!(reader.recv(), Err(Error::TimedOut { .. })));

            writer.write_all(b"late").unwrap();
            let mut buf = [0u8; 16];
            assert_eq!(reader.read(&mut buf).unwrap(), 4);
            assert_eq!(&buf[..4], b"late");

            // A timeout never eats into a partly read message either.
            writer.write_all(b"partly").unwrap();
            let mut small = [0u8; 2];
            assert_eq!(reader.read(&mut small).unwrap(), 2);
            assert_eq!(&small, b"pa");
            assert!(matches!(reader.recv(), Ok(Some(rest)) if rest == b"rtly"));
            assert!(matches!(reader.recv(), Err(Error::TimedOut { .. })));
            writer.close().unwrap();
            assert_eq!(reader.read(&mut buf).unwrap(), 0);
        },
    );
}

#[test]
fn a_write_timeout_on_a_full_queue_returns_timed_out_and_enqueues_nothing() {
    common::within(
        common::BOUND,
        "a write timeout on a full queue returns timed out and enqueues nothing",
        || {
            let backend = ChannelBackend::builder().buffer_size(1).build();
            let mut writer = backend.new_writer("full").unwrap();
            let mut reader = backend.new_reader("full").unwrap();
            writer.set_write_timeout(Some(SHORT));
            assert_eq!(writer.write_timeout(), Some(SHORT));

            writer.write_all(b"first").unwrap();
            let err = common::io_failure(writer.write(b"lost"), ErrorKind::TimedOut);
            assert_eq!(
                err,
                Error::TimedOut {
                    path: "full".into()
                }
            );

            assert_eq!(reader.recv().unwrap().unwrap(), b"first");
            // Room again: the same call, retried, goes through.
            assert_eq!(writer.write(b"retry").unwrap(), 5);
            writer.close().unwrap();
            assert_eq!(
                common::read_each(&mut reader).unwrap(),
                common::owned(&["retry"]),
                "the timed-out write was not enqueued"
            );
        },
    );
}

// ---------------------------------------------------------------------
// Nothing a reader only peeked at is lost: a message taken with `fill_buf`
// and not consumed at all goes back to the path, ahead of what is queued,
// when its reader is closed or dropped.
// ---------------------------------------------------------------------

/// Two readers of one path with three messages written; the first reader
/// has peeked at the first message and consumed none of it.
fn peeked_by_the_first_of_two_readers(
    backend: &ChannelBackend,
) -> (chanio::Writer, chanio::Reader, chanio::Reader) {
    let mut writer = backend.new_writer("jobs").unwrap();
    let mut peeker = backend.new_reader("jobs").unwrap();
    let other = backend.new_reader("jobs").unwrap();
    for job in ["m1", "m2", "m3"] {
        writer.write_all(job.as_bytes()).unwrap();
    }
    assert_eq!(std::io::BufRead::fill_buf(&mut peeker).unwrap(), b"m1");
    (writer, peeker, other)
}

fn texts(messages: Vec<Vec<u8>>) -> Vec<String> {
    messages
        .into_iter()
        .map(|m| String::from_utf8_lossy(&m).into_owned())
        .collect()
}

/// The next `count` messages of `reader`, each with a bounded wait.
fn next_messages(reader: &mut chanio::Reader, count: usize) -> Vec<Vec<u8>> {
    reader.set_read_timeout(Some(Duration::from_secs(5)));
    let mut got = Vec::new();
    while got.len() < count {
        match reader.recv() {
            Ok(Some(message)) => got.push(message.to_vec()),
            other => panic!(
                "after {:?}, expected another message, got {other:?}",
                got.iter()
                    .map(|m| String::from_utf8_lossy(m))
                    .collect::<Vec<_>>()
            ),
        }
    }
    got
}

#[test]
fn a_message_a_closed_reader_only_peeked_at_goes_to_another_reader_ahead_of_the_queue() {
    common::within(common::BOUND, "peeked then closed", || {
        for ended in [false, true] {
            let backend = ChannelBackend::new();
            let (mut writer, mut peeker, mut other) = peeked_by_the_first_of_two_readers(&backend);
            if ended {
                writer.close().unwrap();
            }
            peeker.close().unwrap();
            assert_eq!(
                next_messages(&mut other, 3),
                common::owned(&["m1", "m2", "m3"]),
                "stream ended: {ended}"
            );
        }
    });
}

#[test]
fn a_message_a_dropped_reader_only_peeked_at_goes_to_another_reader_ahead_of_the_queue() {
    common::within(common::BOUND, "peeked then dropped", || {
        let backend = ChannelBackend::new();
        let (writer, peeker, mut other) = peeked_by_the_first_of_two_readers(&backend);
        drop(peeker);
        drop(writer);
        assert_eq!(
            texts(common::read_each(&mut other).unwrap()),
            ["m1", "m2", "m3"]
        );
    });
}

#[test]
fn a_reader_blocked_on_an_empty_queue_wakes_with_the_message_a_closing_reader_peeked_at() {
    common::within(
        common::BOUND,
        "blocked reader gets the peeked message",
        || {
            for buffer_size in [100, 1, 0] {
                let backend = ChannelBackend::builder().buffer_size(buffer_size).build();
                let mut writer = backend.new_writer("jobs").unwrap();
                let mut peeker = backend.new_reader("jobs").unwrap();
                let mut other = backend.new_reader("jobs").unwrap();
                // With a hand-off queue the write completes only once the peeker
                // takes the message.
                let write = common::spawn("writer", move || {
                    writer.write_all(b"peeked").unwrap();
                    writer
                });
                assert_eq!(
                    std::io::BufRead::fill_buf(&mut peeker).unwrap(),
                    b"peeked",
                    "buffer {buffer_size}"
                );
                let _writer = write.join();
                let waiting = common::spawn_started(
                    &format!("reader blocked on a queue of {buffer_size}"),
                    move || other.recv(),
                );
                assert!(
                    waiting.is_blocked_after(SHORT),
                    "buffer {buffer_size}: the queue should be empty"
                );
                peeker.close().unwrap();
                match waiting.join_within(Duration::from_secs(5)) {
                    Ok(Some(message)) => assert_eq!(message, b"peeked", "buffer {buffer_size}"),
                    other => panic!("buffer {buffer_size}: the blocked reader got {other:?}"),
                }
            }
        },
    );
}

#[test]
fn a_peeked_message_goes_back_even_to_a_full_queue_and_the_close_does_not_block() {
    common::within(common::BOUND, "peeked, queue full", || {
        let backend = ChannelBackend::builder().buffer_size(1).build();
        let mut writer = backend.new_writer("full").unwrap();
        let mut peeker = backend.new_reader("full").unwrap();
        let mut other = backend.new_reader("full").unwrap();
        writer.write_all(b"m1").unwrap();
        assert_eq!(std::io::BufRead::fill_buf(&mut peeker).unwrap(), b"m1");
        writer.write_all(b"m2").unwrap(); // the queue is full again
        let closing = common::spawn("closing the peeker", move || peeker.close());
        closing.join_within(Duration::from_secs(5)).unwrap();
        assert_eq!(next_messages(&mut other, 2), common::owned(&["m1", "m2"]));
    });
}

#[test]
fn the_rest_of_a_partly_consumed_message_is_dropped_with_its_reader() {
    common::within(common::BOUND, "partly consumed", || {
        let backend = ChannelBackend::new();
        let mut writer = backend.new_writer("jobs").unwrap();
        let mut partial = backend.new_reader("jobs").unwrap();
        let mut other = backend.new_reader("jobs").unwrap();
        writer.write_all(b"message one").unwrap();
        writer.write_all(b"m2").unwrap();
        assert_eq!(
            std::io::BufRead::fill_buf(&mut partial).unwrap(),
            b"message one"
        );
        std::io::BufRead::consume(&mut partial, 3);
        partial.close().unwrap();
        drop(writer);
        assert_eq!(
            texts(common::read_each(&mut other).unwrap()),
            ["m2"],
            "neither the rest nor the whole of a partly read message comes back"
        );
    });
}

/// Found by the model (heavy variant): a reader that saw the end while
/// another reader of the queue held a message it had only peeked at gets
/// that message once it is handed back, rather than it being lost.
#[test]
fn a_message_handed_back_after_the_end_reaches_a_reader_that_saw_the_end() {
    let backend = ChannelBackend::builder().buffer_size(1).build();
    let mut first = backend.new_reader("p").unwrap();
    let mut writer = backend.new_writer("p").unwrap();
    writer.write_all(b"only").unwrap();
    writer.close().unwrap();
    let mut peeker = backend.new_reader("p").unwrap();
    assert_eq!(std::io::BufRead::fill_buf(&mut peeker).unwrap(), b"only");
    assert_eq!(first.recv().unwrap(), None, "the queue is empty and ended");
    drop(peeker);
    assert_eq!(first.recv().unwrap().unwrap(), "only");
    assert_eq!(first.recv().unwrap(), None);
}
