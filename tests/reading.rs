//! Messages and reads: one write is one message, reads never join two
//! messages, long messages come in pieces, and `recv` / `messages` hand
//! out whole messages without copying.
mod common;

use std::io::{BufRead, IoSlice, Read, Write};
use std::time::Duration;

use chanio::{ChannelBackend, Message};

/// A backend in each mode, to run a reading rule against both.
fn both_modes() -> [ChannelBackend; 2] {
    [
        ChannelBackend::new(),
        ChannelBackend::builder().persistent(true).build(),
    ]
}

#[test]
fn a_message_longer_than_the_buffer_comes_over_several_reads() {
    common::within(common::BOUND, "partial reads", || {
        for backend in both_modes() {
            let mut writer = backend.new_writer("long").unwrap();
            let mut reader = backend.new_reader("long").unwrap();
            writer.write_all(b"0123456789").unwrap();
            writer.write_all(b"next").unwrap();
            writer.close().unwrap();

            let mut buf = [0u8; 3];
            let mut reads = Vec::new();
            loop {
                let n = reader.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                reads.push(buf[..n].to_vec());
            }
            assert_eq!(
                reads,
                common::owned(&["012", "345", "678", "9", "nex", "t"]),
                "persistent: {}",
                backend.is_persistent()
            );
        }
    });
}

#[test]
fn a_large_message_is_reassembled_by_read_exact() {
    common::within(common::BOUND, "read_exact", || {
        let backend = ChannelBackend::new();
        let mut writer = backend.new_writer("big").unwrap();
        let mut reader = backend.new_reader("big").unwrap();
        let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        writer.write_all(&big).unwrap();
        let mut back = vec![0u8; big.len()];
        reader.read_exact(&mut back).unwrap();
        assert_eq!(back, big);
    });
}

#[test]
fn two_messages_are_never_joined_in_one_read() {
    common::within(common::BOUND, "one message per read", || {
        for backend in both_modes() {
            let mut writer = backend.new_writer("small").unwrap();
            let mut reader = backend.new_reader("small").unwrap();
            for message in ["ab", "cd", "ef"] {
                writer.write_all(message.as_bytes()).unwrap();
            }
            writer.close().unwrap();
            assert_eq!(
                common::read_each(&mut reader).unwrap(),
                common::owned(&["ab", "cd", "ef"]),
                "persistent: {}",
                backend.is_persistent()
            );
        }
    });
}

#[test]
fn fill_buf_returns_what_is_left_of_the_current_message_only() {
    common::within(common::BOUND, "fill_buf", || {
        for backend in both_modes() {
            let mut writer = backend.new_writer("buffered").unwrap();
            let mut reader = backend.new_reader("buffered").unwrap();
            writer.write_all(b"hello").unwrap();
            writer.write_all(b"world").unwrap();
            writer.close().unwrap();

            assert_eq!(reader.fill_buf().unwrap(), b"hello");
            assert_eq!(
                reader.fill_buf().unwrap(),
                b"hello",
                "fill_buf consumes nothing"
            );
            reader.consume(2);
            assert_eq!(reader.fill_buf().unwrap(), b"llo");
            reader.consume(3);
            assert_eq!(reader.fill_buf().unwrap(), b"world");
            reader.consume(5);
            assert_eq!(reader.fill_buf().unwrap(), b"", "end of stream");
            assert_eq!(reader.fill_buf().unwrap(), b"", "and it stays ended");
        }
    });
}

#[test]
fn lines_read_through_bufread_follow_the_messages() {
    common::within(common::BOUND, "lines", || {
        let backend = ChannelBackend::new();
        let mut writer = backend.new_writer("lines").unwrap();
        let reader = backend.new_reader("lines").unwrap();
        writeln!(writer, "line {}", 1).unwrap();
        writer.write_all(b"line 2\nline ").unwrap();
        writer.write_all(b"3\n").unwrap();
        writer.close().unwrap();
        let lines: Vec<String> = reader.lines().map(Result::unwrap).collect();
        assert_eq!(lines, ["line 1", "line 2", "line 3"]);
    });
}

#[test]
fn recv_after_a_partial_read_returns_the_rest_of_that_message() {
    common::within(common::BOUND, "recv the rest", || {
        for backend in both_modes() {
            let mut writer = backend.new_writer("rest").unwrap();
            let mut reader = backend.new_reader("rest").unwrap();
            writer.write_all(b"abcdef").unwrap();
            writer.write_all(b"ghi").unwrap();
            writer.close().unwrap();

            let mut buf = [0u8; 2];
            assert_eq!(reader.read(&mut buf).unwrap(), 2);
            assert_eq!(reader.recv().unwrap().unwrap(), b"cdef");
            assert_eq!(reader.recv().unwrap().unwrap(), b"ghi");
            assert_eq!(reader.recv().unwrap(), None);
        }
    });
}

#[test]
fn recv_and_messages_yield_whole_messages_equal_to_what_was_written() {
    common::within(common::BOUND, "messages", || {
        for backend in both_modes() {
            let mut writer = backend.new_writer("iter").unwrap();
            let mut reader = backend.new_reader("iter").unwrap();
            for word in ["alpha", "beta", "gamma", "delta"] {
                writer.write_all(word.as_bytes()).unwrap();
            }
            writer.close().unwrap();

            let first: Message = reader.recv().unwrap().unwrap();
            assert_eq!(first, Message::from("alpha"));
            assert_eq!(first.as_ref(), b"alpha");
            assert_eq!(&*first, b"alpha");
            let rest: Vec<Message> = reader.messages().collect::<Result<_, _>>().unwrap();
            assert_eq!(
                rest,
                vec![
                    Message::from("beta"),
                    Message::from("gamma"),
                    Message::from("delta")
                ]
            );
            assert_eq!(reader.messages().count(), 0, "nothing after end of stream");
        }
    });
}

#[test]
fn a_message_passed_on_with_send_reaches_the_reader_without_a_copy() {
    common::within(common::BOUND, "send without copying", || {
        for backend in both_modes() {
            let mut writer = backend.new_writer("zero-copy").unwrap();
            let mut reader = backend.new_reader("zero-copy").unwrap();
            let message = Message::from(vec![7u8; 4096]);
            writer.send(message.clone()).unwrap();
            let received = reader.recv().unwrap().unwrap();
            assert_eq!(received, message);
            assert_eq!(
                received.as_ptr(),
                message.as_ptr(),
                "the reader got the same bytes, not a copy (persistent: {})",
                backend.is_persistent()
            );
        }
    });
}

#[test]
fn write_of_an_empty_buffer_returns_zero_and_sends_nothing() {
    common::within(common::BOUND, "empty writes", || {
        for backend in both_modes() {
            let mut writer = backend.new_writer("empty").unwrap();
            let mut reader = backend.new_reader("empty").unwrap();
            assert_eq!(writer.write(&[]).unwrap(), 0);
            writer.write_all(&[]).unwrap();
            assert_eq!(
                writer
                    .write_vectored(&[IoSlice::new(&[]), IoSlice::new(&[])])
                    .unwrap(),
                0
            );
            writer.write_all(b"x").unwrap();
            assert_eq!(writer.write(&[]).unwrap(), 0);
            writer.flush().unwrap();
            writer.close().unwrap();
            assert_eq!(
                common::read_each(&mut reader).unwrap(),
                common::owned(&["x"])
            );
        }
    });
}

#[test]
fn write_vectored_sends_all_slices_as_one_message() {
    common::within(common::BOUND, "write_vectored", || {
        for backend in both_modes() {
            let mut writer = backend.new_writer("vectored").unwrap();
            let mut reader = backend.new_reader("vectored").unwrap();
            let slices = [
                IoSlice::new(b"head:"),
                IoSlice::new(b""),
                IoSlice::new(b"body:"),
                IoSlice::new(b"tail"),
            ];
            assert_eq!(writer.write_vectored(&slices).unwrap(), 14);
            writer.write_all(b"after").unwrap();
            writer.close().unwrap();
            assert_eq!(
                common::read_each(&mut reader).unwrap(),
                common::owned(&["head:body:tail", "after"])
            );
        }
    });
}

#[test]
fn write_and_writeln_with_arguments_send_one_message_each() {
    common::within(common::BOUND, "formatted writes", || {
        for backend in both_modes() {
            let mut writer = backend.new_writer("formatted").unwrap();
            let mut reader = backend.new_reader("formatted").unwrap();
            let (n, total, name, letter) = (1, 2, "sensor", 'c');
            writeln!(writer, "event {n} of {total} from {name}").unwrap();
            write!(writer, "{name}-{total}-{letter}").unwrap();
            writeln!(writer, "plain").unwrap();
            writer.close().unwrap();
            assert_eq!(
                common::read_each(&mut reader).unwrap(),
                common::owned(&["event 1 of 2 from sensor\n", "sensor-2-c", "plain\n"])
            );
        }
    });
}

#[test]
fn read_to_end_joins_the_whole_stream_as_io_read_users_expect() {
    common::within(common::BOUND, "read_to_end", || {
        let backend = ChannelBackend::new();
        let mut writer = backend.new_writer("all").unwrap();
        let mut reader = backend.new_reader("all").unwrap();
        for part in ["one ", "two ", "three"] {
            writer.write_all(part.as_bytes()).unwrap();
        }
        drop(writer);
        let mut text = String::new();
        reader.read_to_string(&mut text).unwrap();
        assert_eq!(text, "one two three");
    });
}

/// Message `i` of the large-message tests: 5,000 bytes or more (large
/// enough for any buffer reuse), every byte derived from `i`.
fn large_message(i: usize) -> Vec<u8> {
    (0..5_000 + i % 7 * 1_000)
        .map(|j| (i * 31 + j) as u8)
        .collect()
}

#[test]
fn large_messages_stay_intact_whether_read_in_pieces_or_held_as_messages() {
    common::within(common::BOUND, "large messages", || {
        const COUNT: usize = 300;
        let backend = ChannelBackend::builder().buffer_size(4).build();
        let mut reader = backend.new_reader("large").unwrap();
        let mut writer = backend.new_writer("large").unwrap();
        let producer = common::spawn("writer", move || {
            for i in 0..COUNT {
                writer.write_all(&large_message(i)).unwrap();
            }
        });

        let mut held = Vec::new();
        let mut buf = [0u8; 3_000];
        for i in 0..COUNT {
            let expected = large_message(i);
            match i % 3 {
                // Whole, kept until the end.
                0 => held.push((i, reader.recv().unwrap().unwrap())),
                // In pieces through read.
                1 => {
                    let mut got = Vec::new();
                    while got.len() < expected.len() {
                        let n = reader.read(&mut buf).unwrap();
                        assert!(n > 0, "message {i} cut short");
                        got.extend_from_slice(&buf[..n]);
                    }
                    assert_eq!(got, expected, "message {i}");
                }
                // A piece, then the rest as a message, kept.
                _ => {
                    let n = reader.read(&mut buf[..100]).unwrap();
                    assert_eq!(&buf[..n], &expected[..100], "message {i}");
                    let rest = reader.recv().unwrap().unwrap();
                    assert_eq!(rest, &expected[100..], "message {i}");
                    held.push((i, rest));
                }
            }
        }
        producer.join();
        assert_eq!(reader.recv().unwrap(), None);
        for (i, message) in held {
            let expected = large_message(i);
            let expected = if i % 3 == 0 {
                &expected[..]
            } else {
                &expected[100..]
            };
            assert_eq!(message, expected, "held message {i} changed");
        }
    });
}

#[test]
fn messages_on_a_closed_reader_yields_one_reader_closed_error_then_ends() {
    common::within(common::BOUND, "messages of a closed reader", || {
        for backend in both_modes() {
            let mut writer = backend.new_writer("closed").unwrap();
            writer.write_all(b"never read").unwrap();
            let mut reader = backend.new_reader("closed").unwrap();
            reader.close().unwrap();
            // `take` bounds the check: an iterator that repeats its error
            // forever fails here instead of spinning.
            let items: Vec<_> = reader.messages().take(10).collect();
            assert_eq!(
                items,
                [Err(chanio::Error::ReaderClosed {
                    path: "closed".into()
                })],
                "persistent: {}",
                backend.is_persistent()
            );
            // The usual idiom terminates.
            let mut closed = backend.new_reader("closed").unwrap();
            closed.close().unwrap();
            let count = common::within(Duration::from_secs(5), "filter_map", move || {
                closed.messages().filter_map(Result::ok).count()
            });
            assert_eq!(count, 0);
        }
    });
}

#[test]
fn messages_goes_on_after_a_timed_out_read() {
    common::within(common::BOUND, "messages after a timeout", || {
        for backend in both_modes() {
            let mut writer = backend.new_writer("slow").unwrap();
            let mut reader = backend.new_reader("slow").unwrap();
            reader.set_read_timeout(Some(Duration::from_millis(10)));
            let mut messages = reader.messages();
            assert!(
                matches!(messages.next(), Some(Err(chanio::Error::TimedOut { .. }))),
                "nothing written yet"
            );
            writer.write_all(b"late but here").unwrap();
            assert_eq!(messages.next(), Some(Ok(Message::from("late but here"))));
            assert!(matches!(
                messages.next(),
                Some(Err(chanio::Error::TimedOut { .. }))
            ));
            drop(writer);
            assert_eq!(messages.next(), None, "the end");
        }
    });
}
