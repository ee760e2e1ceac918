//! [`Error`], [`Result`], and how they become `std::io::Error`s.

use std::io;

/// `Result<T, chanio::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in chanio.
///
/// Inside `io::Read` / `io::Write` calls these arrive wrapped in an
/// [`io::Error`] of a kind a caller can act on, with the `chanio::Error` as
/// the inner error:
///
/// ```
/// use std::io::Write;
/// let backend = chanio::ChannelBackend::new();
/// let mut writer = backend.new_writer("logs")?;
/// writer.close()?;
///
/// let err = writer.write(b"late").unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
/// let inner = err.get_ref().and_then(|e| e.downcast_ref::<chanio::Error>());
/// assert!(matches!(inner, Some(chanio::Error::WriterClosed { .. })));
/// # Ok::<(), chanio::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A path was empty. Every path must be a non-empty string.
    #[error("invalid path {path:?}: a path must be a non-empty string")]
    InvalidPath {
        /// The path given.
        path: String,
    },

    /// A config key was unknown or its value could not be read exactly.
    #[error("invalid config: {key} = {value:?}: {expected}")]
    InvalidConfig {
        /// The key given.
        key: String,
        /// The value given.
        value: String,
        /// What is accepted (for an unknown key: the known keys).
        expected: String,
    },

    /// `open` was asked for a backend name nobody registered.
    #[error("unknown backend {name:?}: registered backends are {}", list_names(.registered))]
    UnknownBackend {
        /// The name asked for.
        name: String,
        /// The names that are registered, sorted.
        registered: Vec<String>,
    },

    /// `register` was given an empty backend name.
    #[error("invalid backend name {name:?}: a backend name must be a non-empty string")]
    InvalidBackendName {
        /// The name given.
        name: String,
    },

    /// `register` was given a name that is already taken.
    #[error(
        "a backend named {name:?} is already registered: unregister it first or pick another name"
    )]
    AlreadyRegistered {
        /// The name that is taken.
        name: String,
    },

    /// The backend was closed; it accepts no more work.
    #[error("the backend is closed: open a new one")]
    BackendClosed,

    /// A write on a writer that was closed.
    #[error("the writer for {path:?} is closed")]
    WriterClosed {
        /// The writer's path.
        path: String,
    },

    /// A read on a reader that was closed.
    #[error("the reader for {path:?} is closed")]
    ReaderClosed {
        /// The reader's path.
        path: String,
    },

    /// A new writer for a stream whose last writer has already closed.
    #[error(
        "the stream {path:?} has ended (its last writer closed): delete the path to start a new stream there"
    )]
    StreamEnded {
        /// The stream's path.
        path: String,
    },

    /// A write to a path that was deleted while the writer held it.
    #[error("the path {path:?} was deleted")]
    PathDeleted {
        /// The deleted path.
        path: String,
    },

    /// A read or write waited longer than its timeout. Nothing was sent or
    /// consumed.
    #[error("timed out waiting on {path:?}")]
    TimedOut {
        /// The path waited on.
        path: String,
    },

    /// A writer of the stream was dropped while its thread was panicking, so
    /// what was written may stop short. Readers get everything written,
    /// then this error where they would have seen end of stream.
    #[error("a writer of {path:?} panicked: the stream may be cut short, so it has no clean end")]
    WriterPanicked {
        /// The stream's path.
        path: String,
    },

    /// A write found no reader left and none can come any more: every
    /// handle of the backend is gone, so nobody can open a reader.
    #[error(
        "no reader is left on {path:?} and none can come: the backend's last handle was dropped"
    )]
    NoReaders {
        /// The stream's path.
        path: String,
    },

    /// A persistent reader fell behind: retention dropped `skipped`
    /// messages it had not read. Nothing was consumed; the next read goes
    /// on from the oldest message still kept.
    #[error(
        "the reader of {path:?} lagged: {skipped} messages were dropped by retention before it read them"
    )]
    Lagged {
        /// The stream's path.
        path: String,
        /// How many messages the reader missed.
        skipped: u64,
    },

    /// `new_reader_at` was asked for an offset past the next one to be
    /// written.
    #[error(
        "offset {offset} of {path:?} is out of range: the next message to be written has offset {next}"
    )]
    OffsetOutOfRange {
        /// The stream's path.
        path: String,
        /// The offset asked for.
        offset: u64,
        /// The offset the next message will have.
        next: u64,
    },

    /// A backend could not reach its server, or lost its connection.
    #[error("connection to {url} failed: {message}")]
    Connection {
        /// The server's address, as configured.
        url: String,
        /// What went wrong.
        message: String,
        /// The kind of the underlying I/O failure, which the `io::Error`
        /// made from this error has too.
        kind: io::ErrorKind,
    },

    /// The backend does not offer this operation.
    #[error("the {backend} backend does not support {operation}")]
    NotSupported {
        /// The backend's name.
        backend: String,
        /// What was asked.
        operation: String,
    },
}

fn list_names(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

impl Error {
    /// The [`io::ErrorKind`] this error has when it travels as an
    /// `io::Error`.
    pub fn io_kind(&self) -> io::ErrorKind {
        match self {
            Error::TimedOut { .. } => io::ErrorKind::TimedOut,
            Error::WriterClosed { .. }
            | Error::StreamEnded { .. }
            | Error::PathDeleted { .. }
            | Error::NoReaders { .. }
            | Error::BackendClosed => io::ErrorKind::BrokenPipe,
            Error::WriterPanicked { .. } => io::ErrorKind::UnexpectedEof,
            Error::Lagged { .. } => io::ErrorKind::Other,
            Error::OffsetOutOfRange { .. } => io::ErrorKind::InvalidInput,
            Error::Connection { kind, .. } => *kind,
            Error::InvalidPath { .. }
            | Error::InvalidConfig { .. }
            | Error::InvalidBackendName { .. } => io::ErrorKind::InvalidInput,
            Error::UnknownBackend { .. } => io::ErrorKind::NotFound,
            Error::AlreadyRegistered { .. } => io::ErrorKind::AlreadyExists,
            Error::NotSupported { .. } => io::ErrorKind::Unsupported,
            Error::ReaderClosed { .. } => io::ErrorKind::Other,
        }
    }

    /// Whether this is a timeout, after which the same call may be retried.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::TimedOut { .. })
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> io::Error {
        io::Error::new(err.io_kind(), err)
    }
}

/// Checks that `path` is a usable path name.
pub(crate) fn check_path(path: &str) -> Result<()> {
    if path.is_empty() {
        return Err(Error::InvalidPath {
            path: path.to_owned(),
        });
    }
    Ok(())
}
