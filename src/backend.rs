//! The storage abstraction: [`Backend`], [`WriteStream`], [`ReadStream`],
//! [`Feature`] and [`Features`].

use std::any::Any;
use std::fmt;
use std::io;

use crate::broadcast::BroadcastReport;
use crate::error::{Error, Result};

/// A storage backend: named streams that can be written, read, listed and
/// deleted.
///
/// Code written against `&dyn Backend` runs unchanged on any implementation
/// — the in-memory [`ChannelBackend`](crate::ChannelBackend) in tests,
/// another backend in production. Pick one by name with
/// [`open`](crate::open). The trait is object-safe and `Send + Sync`.
///
/// Operations only some backends have (the channel backend's `broadcast`
/// and `channel_count`) are reached by downcasting through
/// [`as_any`](Backend::as_any):
///
/// ```
/// use std::io::{Read, Write};
/// use chanio::{Backend, ChannelBackend};
///
/// fn copy_through(backend: &dyn Backend) -> std::io::Result<String> {
///     let mut w = backend.new_writer("greeting")?;
///     let mut r = backend.new_reader("greeting")?;
///     w.write_all(b"hello")?;
///     w.close()?;
///     let mut text = String::new();
///     r.read_to_string(&mut text)?;
///     Ok(text)
/// }
///
/// let backend: Box<dyn Backend> = chanio::open("channel", [("buffer_size", "10")])?;
/// assert_eq!(copy_through(backend.as_ref())?, "hello");
///
/// let channels = backend.as_any().downcast_ref::<ChannelBackend>().unwrap();
/// assert_eq!(channels.channel_count(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Backend: Send + Sync {
    /// A writer for `path`.
    fn new_writer(&self, path: &str) -> Result<Box<dyn WriteStream>>;
    /// A reader for `path`.
    fn new_reader(&self, path: &str) -> Result<Box<dyn ReadStream>>;
    /// Whether `path` exists.
    fn exists(&self, path: &str) -> Result<bool>;
    /// Removes `path`; removing a path that does not exist is `Ok`.
    fn delete(&self, path: &str) -> Result<()>;
    /// The paths starting with `prefix`, sorted.
    fn list(&self, prefix: &str) -> Result<Vec<String>>;
    /// Closes the backend; closing twice is `Ok`.
    fn close(&self) -> Result<()>;
    /// What this backend can do.
    fn features(&self) -> Features;
    /// Sends `data` as one message to every path whose name starts with
    /// `prefix`, waiting for room; returns how many paths got it. Backends
    /// without [`Feature::Broadcast`] return [`Error::NotSupported`] (the
    /// default).
    fn broadcast(&self, prefix: &str, data: &[u8]) -> Result<usize> {
        let _ = (prefix, data);
        Err(self.not_supported("broadcast"))
    }
    /// Like [`broadcast`](Backend::broadcast) but never blocks: paths with
    /// no room are skipped and named in the report. The default is
    /// [`Error::NotSupported`].
    fn try_broadcast(&self, prefix: &str, data: &[u8]) -> Result<BroadcastReport> {
        let _ = (prefix, data);
        Err(self.not_supported("try_broadcast"))
    }
    /// The name this backend is known by (`"channel"`, say), for error
    /// messages.
    fn name(&self) -> &str {
        "custom"
    }
    /// The error an operation this backend lacks returns.
    fn not_supported(&self, operation: &str) -> Error {
        Error::NotSupported {
            backend: self.name().to_owned(),
            operation: operation.to_owned(),
        }
    }
    /// The backend as `Any`, to reach its own type with `downcast_ref`.
    fn as_any(&self) -> &dyn Any;
}

/// The write end of a stream of some [`Backend`].
pub trait WriteStream: io::Write + Send {
    /// Closes the stream; closing twice is `Ok`.
    fn close(&mut self) -> Result<()>;
}

/// The read end of a stream of some [`Backend`].
pub trait ReadStream: io::Read + Send {
    /// Closes the stream; closing twice is `Ok`.
    fn close(&mut self) -> Result<()>;
}

/// Something a [`Backend`] may be able to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Feature {
    /// Writing and reading streams.
    ReadWrite,
    /// Metadata about a path (size, times).
    Stat,
    /// Copying a path to another.
    Copy,
    /// Renaming a path.
    Move,
    /// Sending one message to many paths at once.
    Broadcast,
    /// Keeping what was written for readers that come later.
    Persistence,
    /// Listing paths by prefix.
    ListPrefix,
}

impl Feature {
    /// Every feature, in declaration order.
    pub const ALL: [Feature; 7] = [
        Feature::ReadWrite,
        Feature::Stat,
        Feature::Copy,
        Feature::Move,
        Feature::Broadcast,
        Feature::Persistence,
        Feature::ListPrefix,
    ];

    const fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// The set of [`Feature`]s a backend supports.
///
/// ```
/// use chanio::{Backend, Feature};
/// let features = chanio::ChannelBackend::new().features();
/// assert!(features.supports(Feature::Broadcast));
/// assert!(!features.supports(Feature::Stat));
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Features {
    bits: u32,
}

impl Features {
    /// No features.
    pub const fn none() -> Features {
        Features { bits: 0 }
    }

    /// These features and `feature`.
    #[must_use]
    pub const fn with(self, feature: Feature) -> Features {
        Features {
            bits: self.bits | feature.bit(),
        }
    }

    /// Whether `feature` is supported.
    pub const fn supports(&self, feature: Feature) -> bool {
        self.bits & feature.bit() != 0
    }

    /// The supported features, in declaration order.
    pub fn iter(&self) -> impl Iterator<Item = Feature> + '_ {
        Feature::ALL.into_iter().filter(|f| self.supports(*f))
    }
}

impl FromIterator<Feature> for Features {
    fn from_iter<I: IntoIterator<Item = Feature>>(features: I) -> Features {
        features.into_iter().fold(Features::none(), Features::with)
    }
}

impl fmt::Debug for Features {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// Implements [`Backend`] for a backend type, [`WriteStream`] for its
/// writer and [`ReadStream`] for its reader, by the inherent methods of the
/// same names, which every backend of this crate has with the trait's
/// signatures (so that code holding the concrete type needs no trait
/// import). The features are those of a backend with broadcast,
/// persistence and prefix listing.
macro_rules! backend_by_inherent_methods {
    ($backend:ty, $writer:ty, $reader:ty, name: $name:expr) => {
        impl $crate::backend::Backend for $backend {
            fn new_writer(
                &self,
                path: &str,
            ) -> $crate::error::Result<Box<dyn $crate::backend::WriteStream>> {
                Ok(Box::new(<$backend>::new_writer(self, path)?))
            }

            fn new_reader(
                &self,
                path: &str,
            ) -> $crate::error::Result<Box<dyn $crate::backend::ReadStream>> {
                Ok(Box::new(<$backend>::new_reader(self, path)?))
            }

            fn exists(&self, path: &str) -> $crate::error::Result<bool> {
                <$backend>::exists(self, path)
            }

            fn delete(&self, path: &str) -> $crate::error::Result<()> {
                <$backend>::delete(self, path)
            }

            fn list(&self, prefix: &str) -> $crate::error::Result<Vec<String>> {
                <$backend>::list(self, prefix)
            }

            fn close(&self) -> $crate::error::Result<()> {
                <$backend>::close(self)
            }

            /// `ReadWrite`, `Broadcast`, `Persistence` and `ListPrefix`.
            fn features(&self) -> $crate::backend::Features {
                use $crate::backend::Feature;
                [
                    Feature::ReadWrite,
                    Feature::Broadcast,
                    Feature::Persistence,
                    Feature::ListPrefix,
                ]
                .into_iter()
                .collect()
            }

            fn broadcast(&self, prefix: &str, data: &[u8]) -> $crate::error::Result<usize> {
                <$backend>::broadcast(self, prefix, data)
            }

            fn try_broadcast(
                &self,
                prefix: &str,
                data: &[u8],
            ) -> $crate::error::Result<$crate::broadcast::BroadcastReport> {
                <$backend>::try_broadcast(self, prefix, data)
            }

            fn name(&self) -> &str {
                $name
            }

            fn as_any(&self) -> &dyn std::any::Any {
                self
            }
        }

        impl $crate::backend::WriteStream for $writer {
            fn close(&mut self) -> $crate::error::Result<()> {
                <$writer>::close(self)
            }
        }

        impl $crate::backend::ReadStream for $reader {
            fn close(&mut self) -> $crate::error::Result<()> {
                <$reader>::close(self)
            }
        }
    };
}

pub(crate) use backend_by_inherent_methods;

/// `io::Read::read` for a reader whose `BufRead` hands out at most one
/// message: copies what fits of the current message and consumes it.
pub(crate) fn read_from_buffer(reader: &mut impl io::BufRead, buf: &mut [u8]) -> io::Result<usize> {
    let available = reader.fill_buf()?;
    let n = available.len().min(buf.len());
    buf[..n].copy_from_slice(&available[..n]);
    reader.consume(n);
    Ok(n)
}
