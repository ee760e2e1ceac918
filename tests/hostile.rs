//! Hostile input: odd path strings, odd call sequences, empty and huge
//! messages, extreme settings. Nothing may panic or hang, and data must come
//! back intact.
mod common;

use std::io::{self, BufRead, IoSlice, Read, Write};
use std::time::Duration;

use chanio::{ChannelBackend, Error, MAX_BUFFER_SIZE, Message, Reader, Writer};
use proptest::prelude::*;

/// The three kinds of backend every test here runs on.
fn backends() -> [(&'static str, ChannelBackend); 3] {
    [
        ("queue", ChannelBackend::new()),
        ("hand-off", ChannelBackend::builder().buffer_size(0).build()),
        (
            "persistent",
            ChannelBackend::builder().persistent(true).build(),
        ),
    ]
}

fn backend(mode: usize) -> ChannelBackend {
    match mode {
        0 => ChannelBackend::new(),
        1 => ChannelBackend::builder().buffer_size(0).build(),
        2 => ChannelBackend::builder().buffer_size(1).build(),
        _ => ChannelBackend::builder().persistent(true).build(),
    }
}

fn is_timeout(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::TimedOut
        && matches!(common::inner(err), Some(Error::TimedOut { .. }))
}

/// Path strings people do not expect: empty, NUL, control characters,
/// non-ASCII, very long, prefixes of each other.
fn hostile_path() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<String>(),
        1 => Just(String::new()),
        1 => Just("\0".to_owned()),
        1 => Just("a\0b".to_owned()),
        1 => Just("/".to_owned()),
        1 => Just("\u{10FFFF}".to_owned()),
        1 => Just("é/ü/日本/🦀".to_owned()),
        1 => Just(" ".to_owned()),
        1 => (1usize..200_000).prop_map(|n| "x".repeat(n)),
        1 => "[\\x00-\\x1f\\x7f]{1,8}",
        2 => "[a/é\\x00]{1,4}",
    ]
}

#[derive(Clone, Debug)]
enum Call {
    NewWriter(usize),
    NewReader(usize),
    Write(usize, Vec<u8>),
    WriteVectored(usize, Vec<Vec<u8>>),
    Read(usize, usize),
    Recv(usize),
    FillBufConsume(usize, usize),
    Messages(usize),
    CloseWriter(usize),
    CloseReader(usize),
    DropWriter(usize),
    DropReader(usize),
    TryClone(usize),
    Exists(usize),
    Delete(usize),
    List(usize),
    Broadcast(usize, Vec<u8>),
    TryBroadcast(usize, Vec<u8>),
    Count,
    Close,
}

fn call() -> impl Strategy<Value = Call> {
    let path = 0usize..4;
    let handle = 0usize..6;
    let bytes = prop::collection::vec(any::<u8>(), 0..6);
    prop_oneof![
        4 => path.clone().prop_map(Call::NewWriter),
        4 => path.clone().prop_map(Call::NewReader),
        5 => (handle.clone(), bytes.clone()).prop_map(|(w, b)| Call::Write(w, b)),
        2 => (handle.clone(), prop::collection::vec(bytes.clone(), 0..4))
            .prop_map(|(w, b)| Call::WriteVectored(w, b)),
        3 => (handle.clone(), 0usize..10).prop_map(|(r, n)| Call::Read(r, n)),
        3 => handle.clone().prop_map(Call::Recv),
        2 => (handle.clone(), 0usize..64).prop_map(|(r, n)| Call::FillBufConsume(r, n)),
        1 => handle.clone().prop_map(Call::Messages),
        2 => handle.clone().prop_map(Call::CloseWriter),
        2 => handle.clone().prop_map(Call::CloseReader),
        2 => handle.clone().prop_map(Call::DropWriter),
        2 => handle.clone().prop_map(Call::DropReader),
        2 => handle.prop_map(Call::TryClone),
        2 => path.clone().prop_map(Call::Exists),
        2 => path.clone().prop_map(Call::Delete),
        2 => path.clone().prop_map(Call::List),
        2 => (path.clone(), bytes.clone()).prop_map(|(p, b)| Call::Broadcast(p, b)),
        2 => (path, bytes).prop_map(|(p, b)| Call::TryBroadcast(p, b)),
        1 => Just(Call::Count),
        1 => Just(Call::Close),
    ]
}

/// Checks what holds for every path string: `""` is `InvalidPath`, any
/// other string is a usable name.
fn check_path_result<T: std::fmt::Debug>(
    what: &str,
    path: &str,
    closed: bool,
    result: &chanio::Result<T>,
) {
    match result {
        Err(Error::InvalidPath { path: p }) => {
            assert!(path.is_empty(), "{what}: {path:?} refused as invalid");
            assert_eq!(p, path);
        }
        Err(Error::BackendClosed) => assert!(closed, "{what}({path:?}): closed, but it is not"),
        Err(Error::StreamEnded { .. }) if what == "new_writer" => {}
        Err(other) => panic!("{what}({path:?}) gave {other:?}"),
        Ok(_) => assert!(!path.is_empty(), "{what}(\"\") succeeded"),
    }
}

/// Runs `calls` with zero timeouts (nothing may block in one thread),
/// checking only what holds whatever the sequence: no panic, `""` refused,
/// other strings usable, handles named by their path, lists sorted and
/// matching.
fn run_calls(mode: usize, paths: &[String], calls: &[Call]) {
    let backend = backend(mode);
    let mut writers: Vec<Writer> = Vec::new();
    let mut readers: Vec<Reader> = Vec::new();
    let mut closed = false;
    for call in calls {
        let pick = |i: usize, n: usize| (n > 0).then(|| i % n);
        match call {
            Call::NewWriter(p) => {
                let result = backend.new_writer(&paths[*p]);
                check_path_result("new_writer", &paths[*p], closed, &result);
                if let Ok(mut writer) = result {
                    assert_eq!(writer.path(), paths[*p]);
                    writer.set_write_timeout(Some(Duration::ZERO));
                    writers.push(writer);
                }
            }
            Call::NewReader(p) => {
                let result = backend.new_reader(&paths[*p]);
                check_path_result("new_reader", &paths[*p], closed, &result);
                if let Ok(mut reader) = result {
                    assert_eq!(reader.path(), paths[*p]);
                    assert!(backend.exists(&paths[*p]).unwrap());
                    assert!(backend.list(&paths[*p]).unwrap().contains(&paths[*p]));
                    reader.set_read_timeout(Some(Duration::ZERO));
                    readers.push(reader);
                }
            }
            Call::Write(i, data) => {
                if let Some(i) = pick(*i, writers.len()) {
                    match writers[i].write(data) {
                        Ok(n) => assert_eq!(n, data.len()),
                        Err(err) => assert!(common::inner(&err).is_some(), "{err:?}"),
                    }
                }
            }
            Call::WriteVectored(i, parts) => {
                if let Some(i) = pick(*i, writers.len()) {
                    let slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
                    let total: usize = parts.iter().map(Vec::len).sum();
                    match writers[i].write_vectored(&slices) {
                        Ok(n) => assert_eq!(n, total),
                        Err(err) => assert!(common::inner(&err).is_some(), "{err:?}"),
                    }
                }
            }
            Call::Read(i, len) => {
                if let Some(i) = pick(*i, readers.len()) {
                    let mut buf = vec![0u8; *len];
                    match readers[i].read(&mut buf) {
                        Ok(n) => assert!(n <= *len),
                        Err(err) => assert!(common::inner(&err).is_some(), "{err:?}"),
                    }
                }
            }
            Call::Recv(i) => {
                if let Some(i) = pick(*i, readers.len()) {
                    if let Ok(Some(message)) = readers[i].recv() {
                        assert!(!message.is_empty(), "an empty message was delivered");
                    }
                }
            }
            Call::FillBufConsume(i, amount) => {
                if let Some(i) = pick(*i, readers.len()) {
                    // Consuming more than `fill_buf` showed is clamped.
                    if readers[i].fill_buf().is_ok() {
                        readers[i].consume(*amount);
                    }
                }
            }
            Call::Messages(i) => {
                if let Some(i) = pick(*i, readers.len()) {
                    // With a zero timeout the iterator yields a timeout
                    // error rather than waiting; take a few items.
                    let items: Vec<_> = readers[i].messages().take(3).collect();
                    assert!(items.len() <= 3);
                }
            }
            Call::CloseWriter(i) => {
                if let Some(i) = pick(*i, writers.len()) {
                    writers[i].close().unwrap();
                    writers[i].close().unwrap();
                }
            }
            Call::CloseReader(i) => {
                if let Some(i) = pick(*i, readers.len()) {
                    readers[i].close().unwrap();
                    readers[i].close().unwrap();
                }
            }
            Call::DropWriter(i) => {
                if let Some(i) = pick(*i, writers.len()) {
                    writers.swap_remove(i);
                }
            }
            Call::DropReader(i) => {
                if let Some(i) = pick(*i, readers.len()) {
                    readers.swap_remove(i);
                }
            }
            Call::TryClone(i) => {
                if let Some(i) = pick(*i, writers.len()) {
                    if let Ok(clone) = writers[i].try_clone() {
                        assert_eq!(clone.path(), writers[i].path());
                        writers.push(clone);
                    }
                }
            }
            Call::Exists(p) => {
                let result = backend.exists(&paths[*p]);
                check_path_result("exists", &paths[*p], closed, &result);
            }
            Call::Delete(p) => {
                let result = backend.delete(&paths[*p]);
                check_path_result("delete", &paths[*p], closed, &result);
                if result.is_ok() {
                    assert!(!backend.exists(&paths[*p]).unwrap());
                }
            }
            Call::List(p) => match backend.list(&paths[*p]) {
                Ok(names) => {
                    assert!(!closed);
                    assert!(names.windows(2).all(|w| w[0] < w[1]));
                    assert!(names.iter().all(|n| n.starts_with(&paths[*p])));
                    assert!(names.len() <= backend.list("").unwrap().len());
                }
                Err(err) => assert!(closed && err == Error::BackendClosed, "{err:?}"),
            },
            Call::Broadcast(p, data) => {
                let prefix = &paths[*p];
                // A broadcast could wait for room: only where nothing can be full.
                if mode == 3 || data.is_empty() {
                    match backend.broadcast(prefix, data) {
                        Ok(n) => assert!(n <= backend.channel_count()),
                        Err(err) => assert!(closed && err == Error::BackendClosed, "{err:?}"),
                    }
                }
            }
            Call::TryBroadcast(p, data) => match backend.try_broadcast(&paths[*p], data) {
                Ok(report) => {
                    assert!(report.delivered + report.full.len() <= backend.channel_count());
                    assert!(report.full.iter().all(|n| n.starts_with(&paths[*p])));
                }
                Err(err) => assert!(closed && err == Error::BackendClosed, "{err:?}"),
            },
            Call::Count => {
                let count = backend.channel_count();
                assert!(count <= paths.len());
                if closed {
                    assert_eq!(count, 0);
                }
            }
            Call::Close => {
                backend.close().unwrap();
                closed = true;
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: common::scale(64, 1_000),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn no_path_string_and_no_call_sequence_panics(
        mode in 0usize..4,
        paths in prop::collection::vec(hostile_path(), 4),
        calls in prop::collection::vec(call(), 1..40),
    ) {
        common::within(Duration::from_secs(20), "hostile calls", move || {
            run_calls(mode, &paths, &calls)
        });
    }

    #[test]
    fn any_non_empty_path_carries_messages_intact(
        mode in 0usize..4,
        path in hostile_path(),
        message in prop::collection::vec(any::<u8>(), 1..64),
    ) {
        common::within(Duration::from_secs(20), "round trip", move || {
            let backend = backend(mode);
            if path.is_empty() {
                assert_eq!(
                    backend.new_writer(&path).unwrap_err(),
                    Error::InvalidPath { path: String::new() }
                );
                return;
            }
            let mut reader = backend.new_reader(&path).unwrap();
            let mut writer = backend.new_writer(&path).unwrap();
            assert_eq!(backend.list("").unwrap(), std::slice::from_ref(&path));
            let sending = {
                let message = message.clone();
                common::spawn("writer", move || writer.write_all(&message).unwrap())
            };
            assert_eq!(reader.recv().unwrap().unwrap(), message.as_slice());
            sending.join();
            assert_eq!(reader.recv().unwrap(), None);
            backend.delete(&path).unwrap();
            assert_eq!(backend.channel_count(), 0);
        });
    }
}

/// Checks that `reader` has nothing now: a zero-timeout read times out (the
/// stream is open) or sees end of stream.
fn assert_nothing_queued(reader: &mut Reader, what: &str) {
    reader.set_read_timeout(Some(Duration::ZERO));
    match reader.read(&mut [0u8; 16]) {
        Err(err) => assert!(is_timeout(&err), "{what}: {err:?}"),
        Ok(n) => assert_eq!(n, 0, "{what}: a message of {n} bytes arrived"),
    }
}

#[test]
fn zero_sized_writes_send_nothing_in_every_mode() {
    for (mode, backend) in backends() {
        common::within(common::BOUND, mode, move || {
            let mut reader = backend.new_reader("zero").unwrap();
            let mut writer = backend.new_writer("zero").unwrap();
            // No waiting reader is needed, even with a buffer of 0.
            assert_eq!(writer.write(&[]).unwrap(), 0, "{mode}");
            writer.write_all(&[]).unwrap();
            assert_eq!(writer.write_vectored(&[]).unwrap(), 0, "{mode}");
            let empties = [IoSlice::new(&[]), IoSlice::new(&[])];
            assert_eq!(writer.write_vectored(&empties).unwrap(), 0, "{mode}");
            writer.send(Message::from(Vec::new())).unwrap();
            writer.flush().unwrap();
            write!(writer, "").unwrap();
            assert_eq!(backend.broadcast("", &[]).unwrap(), 0, "{mode}");
            assert_eq!(
                backend.try_broadcast("", &[]).unwrap(),
                chanio::BroadcastReport::default(),
                "{mode}"
            );
            assert_nothing_queued(&mut reader, mode);

            // Empty slices among full ones: one message of the non-empty bytes.
            let sending = {
                let mut writer = writer.try_clone().unwrap();
                common::spawn("vectored", move || {
                    let parts = [
                        IoSlice::new(&[]),
                        IoSlice::new(b"ab"),
                        IoSlice::new(&[]),
                        IoSlice::new(b"c"),
                    ];
                    assert_eq!(writer.write_vectored(&parts).unwrap(), 3);
                })
            };
            reader.set_read_timeout(None);
            // A zero-length read is Ok(0) and takes nothing.
            assert_eq!(reader.read(&mut []).unwrap(), 0, "{mode}");
            assert_eq!(reader.recv().unwrap().unwrap(), b"abc", "{mode}");
            sending.join();
            drop(writer);
            assert_eq!(reader.recv().unwrap(), None, "{mode}: no empty message");
        });
    }
}

#[test]
fn a_zero_length_read_takes_nothing_from_a_waiting_message() {
    for (mode, backend) in backends() {
        common::within(common::BOUND, mode, move || {
            let mut reader = backend.new_reader("p").unwrap();
            let mut writer = backend.new_writer("p").unwrap();
            let sending = common::spawn("writer", move || writer.write_all(b"whole").unwrap());
            assert_eq!(reader.fill_buf().unwrap(), b"whole");
            assert_eq!(reader.read(&mut []).unwrap(), 0);
            // Consuming past the end clamps to the end of the message.
            reader.consume(2);
            reader.consume(1_000);
            sending.join();
            assert_eq!(reader.recv().unwrap(), None, "{mode}");
        });
    }
}

#[test]
fn operations_on_closed_handles_fail_cleanly() {
    for (mode, backend) in backends() {
        let mut writer = backend.new_writer("p").unwrap();
        let mut reader = backend.new_reader("p").unwrap();
        writer.close().unwrap();
        writer.close().unwrap();
        reader.close().unwrap();
        reader.close().unwrap();
        let err = writer.write(b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{mode}");
        assert!(matches!(
            common::inner(&err),
            Some(Error::WriterClosed { .. })
        ));
        assert!(matches!(
            writer.try_clone(),
            Err(Error::WriterClosed { .. })
        ));
        assert!(matches!(
            writer.send("x".into()),
            Err(Error::WriterClosed { .. })
        ));
        let err = reader.read(&mut [0u8; 4]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Other, "{mode}");
        assert!(matches!(
            common::inner(&err),
            Some(Error::ReaderClosed { .. })
        ));
        assert!(reader.fill_buf().is_err());
        reader.consume(10);
        assert!(matches!(reader.recv(), Err(Error::ReaderClosed { .. })));
        let items: Vec<_> = reader.messages().take(2).collect();
        assert!(matches!(items[..], [Err(Error::ReaderClosed { .. }), ..]));
    }
}

#[test]
fn handles_outliving_their_backend_never_panic_or_hang() {
    for (mode, backend) in backends() {
        common::within(common::BOUND, mode, move || {
            let mut writer = backend.new_writer("p").unwrap();
            let mut reader = backend.new_reader("p").unwrap();
            drop(backend);
            writer.set_write_timeout(Some(Duration::ZERO));
            reader.set_read_timeout(Some(Duration::ZERO));
            let wrote = writer.write(b"after").map_err(|e| e.kind());
            let _ = reader.recv();
            drop(writer);
            let _ = reader.recv();
            assert!(matches!(
                wrote,
                Ok(5) | Err(io::ErrorKind::TimedOut | io::ErrorKind::BrokenPipe)
            ));
        });
    }
}

#[test]
fn buffer_sizes_past_the_maximum_are_errors_not_panics() {
    for size in [MAX_BUFFER_SIZE + 1, usize::MAX / 2, usize::MAX] {
        assert!(matches!(
            ChannelBackend::builder().buffer_size(size).try_build(),
            Err(Error::InvalidConfig { .. })
        ));
        let backend = ChannelBackend::builder().buffer_size(size).build();
        assert!(matches!(
            backend.new_writer("p"),
            Err(Error::InvalidConfig { .. })
        ));
        assert!(matches!(
            backend.new_reader("p"),
            Err(Error::InvalidConfig { .. })
        ));
        assert_eq!(backend.broadcast("", b"x").unwrap(), 0);
        let text = size.to_string();
        assert!(ChannelBackend::from_config([("buffer_size", text.as_str())]).is_err());
    }
    // Persistent mode ignores the buffer size.
    let backend = ChannelBackend::builder()
        .buffer_size(usize::MAX)
        .persistent(true)
        .build();
    backend.new_writer("p").unwrap().write_all(b"x").unwrap();
}

/// Whatever timeout is set, a call either finishes or fails with a chanio
/// error; a huge timeout means "wait a very long time", not a panic. Here
/// a message is waiting and the queue has room, so nothing needs to wait.
#[test]
fn huge_timeouts_never_panic() {
    for (mode, backend) in backends() {
        common::within(common::BOUND, mode, move || {
            let mut reader = backend.new_reader("p").unwrap();
            let mut writer = backend.new_writer("p").unwrap();
            writer.set_write_timeout(Some(Duration::MAX));
            reader.set_read_timeout(Some(Duration::MAX));
            let sending = common::spawn("writer", move || {
                writer.write_all(b"one").unwrap();
                writer.send("two".into()).unwrap();
            });
            assert_eq!(reader.recv().unwrap().unwrap(), b"one", "{mode}");
            let mut buf = [0u8; 8];
            assert_eq!(reader.read(&mut buf).unwrap(), 3, "{mode}");
            sending.join();
            assert_eq!(reader.recv().unwrap(), None, "{mode}");
        });
    }
}

/// 64 MiB of a pattern that differs at every offset that matters.
fn big_payload() -> Vec<u8> {
    const LEN: usize = 64 << 20;
    let mut bytes = vec![0u8; LEN];
    for (i, chunk) in bytes.chunks_exact_mut(8).enumerate() {
        let word = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i as u64);
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    bytes
}

/// Reads one message with `read` calls of 1 MiB (never joining it with
/// what follows).
fn read_one_message_in_pieces(reader: &mut Reader, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut buf = vec![0u8; 1 << 20];
    while out.len() < len {
        let n = reader.read(&mut buf).unwrap();
        assert!(n > 0, "end of stream after {} of {len} bytes", out.len());
        out.extend_from_slice(&buf[..n]);
    }
    assert_eq!(out.len(), len);
    out
}

#[test]
fn a_64_mib_message_goes_through_intact_in_every_mode() {
    let payload = std::sync::Arc::new(big_payload());
    for (mode, backend) in backends() {
        let payload = std::sync::Arc::clone(&payload);
        common::within(Duration::from_secs(60), mode, move || {
            let mut first = backend.new_reader("big").unwrap();
            let mut writer = backend.new_writer("big").unwrap();
            let sending = {
                let payload = std::sync::Arc::clone(&payload);
                common::spawn("writer", move || {
                    assert_eq!(writer.write(&payload).unwrap(), payload.len());
                    assert_eq!(writer.write(&payload).unwrap(), payload.len());
                })
            };
            // One message per write, whatever its size.
            let message = first.recv().unwrap().unwrap();
            assert!(
                message.len() == payload.len() && *message == payload[..],
                "{mode}"
            );
            drop(message);
            let again = read_one_message_in_pieces(&mut first, payload.len());
            assert!(again == *payload, "{mode}: the second copy differs");
            sending.join();
            assert_eq!(first.recv().unwrap(), None, "{mode}");
            if mode == "persistent" {
                // A late reader replays both, and recv shares the log's
                // bytes rather than copying them.
                let mut late = backend.new_reader("big").unwrap();
                let mut later = backend.new_reader("big").unwrap();
                let a = late.recv().unwrap().unwrap();
                let b = later.recv().unwrap().unwrap();
                assert!(*a == payload[..]);
                assert_eq!(
                    a.as_ptr(),
                    b.as_ptr(),
                    "the log's message was copied per reader"
                );
                let rest = read_one_message_in_pieces(&mut late, payload.len());
                assert!(rest == *payload);
            }
        });
    }
}

#[test]
fn recv_hands_over_a_64_mib_message_without_copying() {
    let payload = Message::from(big_payload());
    for (mode, backend) in backends() {
        let payload = payload.clone();
        common::within(Duration::from_secs(60), mode, move || {
            let mut reader = backend.new_reader("big").unwrap();
            let mut writer = backend.new_writer("big").unwrap();
            let sent = payload.clone();
            let sending = common::spawn("writer", move || writer.send(sent).unwrap());
            let got = reader.recv().unwrap().unwrap();
            assert_eq!(
                got.as_ptr(),
                payload.as_ptr(),
                "{mode}: the message was copied"
            );
            assert_eq!(got.len(), payload.len());
            sending.join();
            assert_eq!(reader.recv().unwrap(), None, "{mode}");
        });
    }
}

#[test]
fn a_64_mib_broadcast_shares_one_copy_among_its_paths() {
    let payload = std::sync::Arc::new(big_payload());
    for (mode, backend) in backends() {
        let payload = std::sync::Arc::clone(&payload);
        common::within(Duration::from_secs(60), mode, move || {
            let readers: Vec<_> = (0..4)
                .map(|i| {
                    let mut reader = backend.new_reader(&format!("big/{i}")).unwrap();
                    common::spawn(&format!("reader {i}"), move || {
                        reader.recv().unwrap().unwrap()
                    })
                })
                .collect();
            assert_eq!(backend.broadcast("big/", &payload).unwrap(), 4, "{mode}");
            let got: Vec<Message> = readers.into_iter().map(|r| r.join()).collect();
            assert!(*got[0] == payload[..], "{mode}");
            for message in &got[1..] {
                assert_eq!(message.as_ptr(), got[0].as_ptr(), "{mode}: copied per path");
            }
        });
    }
}
