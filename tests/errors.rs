//! Errors: the `io::ErrorKind` each `chanio::Error` travels as, the inner
//! error every `io::Error` carries, and messages that name what they are
//! about.
mod common;

use std::io::{self, ErrorKind, Read, Write};
use std::time::Duration;

use chanio::{ChannelBackend, Error};

fn path(name: &str) -> String {
    name.to_owned()
}

#[test]
fn io_errors_made_from_chanio_errors_have_the_contract_kinds() {
    common::within(
        common::BOUND,
        "io_errors_made_from_chanio_errors_have_the_contract_kinds",
        || {
            let cases = [
                (
                    Error::InvalidPath { path: path("") },
                    ErrorKind::InvalidInput,
                ),
                (
                    Error::InvalidConfig {
                        key: "buffer_size".into(),
                        value: "lots".into(),
                        expected: "a whole number".into(),
                    },
                    ErrorKind::InvalidInput,
                ),
                (Error::TimedOut { path: path("p") }, ErrorKind::TimedOut),
                (
                    Error::WriterClosed { path: path("p") },
                    ErrorKind::BrokenPipe,
                ),
                (
                    Error::StreamEnded { path: path("p") },
                    ErrorKind::BrokenPipe,
                ),
                (
                    Error::PathDeleted { path: path("p") },
                    ErrorKind::BrokenPipe,
                ),
                (Error::BackendClosed, ErrorKind::BrokenPipe),
                (Error::ReaderClosed { path: path("p") }, ErrorKind::Other),
            ];
            for (error, kind) in cases {
                let io_error = io::Error::from(error.clone());
                assert_eq!(io_error.kind(), kind, "{error:?}");
                assert_eq!(error.io_kind(), kind, "{error:?}");
                assert_eq!(
                    common::inner(&io_error),
                    Some(&error),
                    "the io::Error carries the chanio::Error"
                );
            }
        },
    );
}

#[test]
fn only_timeouts_say_they_may_be_retried() {
    common::within(
        common::BOUND,
        "only_timeouts_say_they_may_be_retried",
        || {
            assert!(Error::TimedOut { path: path("p") }.is_timeout());
            assert!(!Error::BackendClosed.is_timeout());
            assert!(!Error::PathDeleted { path: path("p") }.is_timeout());
        },
    );
}

#[test]
fn every_io_error_from_a_read_or_write_carries_its_chanio_error() {
    common::within(common::BOUND, "io errors", || {
        let backend = ChannelBackend::builder().buffer_size(1).build();
        let mut writer = backend.new_writer("p").unwrap();
        let mut reader = backend.new_reader("p").unwrap();

        reader.set_read_timeout(Some(Duration::from_millis(10)));
        let timed_out = reader.read(&mut [0u8; 4]).unwrap_err();
        assert!(matches!(
            common::inner(&timed_out),
            Some(Error::TimedOut { .. })
        ));

        writer.write_all(b"fills").unwrap();
        writer.set_write_timeout(Some(Duration::from_millis(10)));
        let timed_out = writer.write(b"waits").unwrap_err();
        assert!(matches!(
            common::inner(&timed_out),
            Some(Error::TimedOut { .. })
        ));

        backend.delete("p").unwrap();
        let deleted = writer.write(b"gone").unwrap_err();
        assert!(matches!(
            common::inner(&deleted),
            Some(Error::PathDeleted { .. })
        ));

        reader.close().unwrap();
        let closed = reader.read(&mut [0u8; 4]).unwrap_err();
        assert!(matches!(
            common::inner(&closed),
            Some(Error::ReaderClosed { .. })
        ));
        writer.close().unwrap();
        let closed = writer.write(b"x").unwrap_err();
        assert!(matches!(
            common::inner(&closed),
            Some(Error::WriterClosed { .. })
        ));
    });
}

#[test]
fn chanio_results_convert_with_the_question_mark_in_io_code() {
    common::within(
        common::BOUND,
        "chanio_results_convert_with_the_question_mark_in_io_code",
        || {
            fn open_empty(backend: &ChannelBackend) -> io::Result<()> {
                backend.new_writer("")?;
                Ok(())
            }
            let err = open_empty(&ChannelBackend::new()).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            assert_eq!(
                common::inner(&err),
                Some(&Error::InvalidPath { path: path("") })
            );
        },
    );
}

#[test]
fn error_messages_are_lower_case_and_name_the_path_concerned() {
    common::within(common::BOUND, "error messages", || {
        let backend = ChannelBackend::new();
        let mut writer = backend.new_writer("orders/42").unwrap();
        let mut reader = backend.new_reader("orders/42").unwrap();
        reader.set_read_timeout(Some(Duration::from_millis(10)));
        let timed_out = reader.recv().unwrap_err();
        writer.close().unwrap();
        let ended = backend.new_writer("orders/42").unwrap_err();
        let writer_closed = common::io_failure(writer.write(b"x"), ErrorKind::BrokenPipe);
        reader.close().unwrap();
        let reader_closed = reader.recv().unwrap_err();
        let mut doomed = backend.new_writer("orders/43").unwrap();
        backend.delete("orders/43").unwrap();
        let deleted = common::io_failure(doomed.write(b"x"), ErrorKind::BrokenPipe);

        for error in [timed_out, ended, writer_closed, reader_closed, deleted] {
            let message = error.to_string();
            assert!(
                message.starts_with(|c: char| c.is_lowercase()),
                "{message:?} starts in lower case"
            );
            assert!(message.contains("orders/4"), "{message:?} names the path");
        }

        let invalid = backend.new_reader("").unwrap_err().to_string();
        assert!(
            invalid.starts_with(|c: char| c.is_lowercase()),
            "{invalid:?}"
        );
        assert!(invalid.contains("\"\""), "{invalid:?} shows the empty path");
        let ended = Error::StreamEnded { path: path("p") }.to_string();
        assert!(ended.contains("delete"), "{ended:?} says what to do");
    });
}
