//! [`Config`]: string settings for a backend, and how the channel backend
//! reads them.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::{Error, Result};

/// A parsed backend config: keys mapped to values, each key given once.
///
/// Backends read it in their factory (see [`register`](crate::register)).
/// Build one from any iterator of string-like pairs:
///
/// ```
/// use std::collections::HashMap;
/// let config = chanio::Config::from_pairs([("buffer_size", "10")])?;
/// assert_eq!(config.get("buffer_size"), Some("10"));
///
/// let map = HashMap::from([("persistent".to_string(), "true".to_string())]);
/// let config = chanio::Config::from_pairs(&map)?;
/// assert_eq!(config.get("persistent"), Some("true"));
///
/// // A key given twice is an error, not a silent choice of one value.
/// assert!(chanio::Config::from_pairs([("a", "1"), ("a", "2")]).is_err());
/// # Ok::<(), chanio::Error>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Config {
    entries: BTreeMap<String, String>,
}

impl Config {
    /// An empty config: every setting at its default.
    pub fn new() -> Config {
        Config::default()
    }

    /// A config of these pairs. A key given twice is
    /// [`Error::InvalidConfig`].
    pub fn from_pairs<I, K, V>(pairs: I) -> Result<Config>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut config = Config::new();
        for (key, value) in pairs {
            let (key, value) = (key.as_ref(), value.as_ref());
            if let Some(first) = config.entries.get(key) {
                return Err(Error::InvalidConfig {
                    key: key.to_owned(),
                    value: value.to_owned(),
                    expected: format!("each key once (it was also given as {first:?})"),
                });
            }
            config.entries.insert(key.to_owned(), value.to_owned());
        }
        Ok(config)
    }

    /// Sets `key` to `value`, replacing what it was.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Config {
        self.entries.insert(key.into(), value.into());
        self
    }

    /// The value of `key`, if given.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(String::as_str)
    }

    /// The pairs, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// How many keys are set.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key is set.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Fails with [`Error::InvalidConfig`] on the first key not in `known`,
    /// listing the known keys: the check a backend's factory makes so that
    /// a misspelt key is not silently ignored.
    pub fn check_keys(&self, known: &[&str]) -> Result<()> {
        match self.iter().find(|(key, _)| !known.contains(key)) {
            None => Ok(()),
            Some((key, value)) => Err(Error::InvalidConfig {
                key: key.to_owned(),
                value: value.to_owned(),
                expected: if known.is_empty() {
                    "no key: this backend takes no settings".to_owned()
                } else {
                    format!("a known key: {}", known.join(", "))
                },
            }),
        }
    }
}

/// The pairs by value, so that a `Config` can be handed to
/// [`open`](crate::open) or
/// [`ChannelBackend::from_config`](crate::ChannelBackend::from_config)
/// as it is:
///
/// ```
/// let backend = chanio::open("channel", chanio::Config::new())?;
/// let channels = chanio::ChannelBackend::from_config(chanio::Config::new())?;
/// assert_eq!(channels.buffer_size(), chanio::DEFAULT_BUFFER_SIZE);
/// let mut config = chanio::Config::new();
/// config.set("persistent", "true");
/// assert!(chanio::ChannelBackend::from_config(&config)?.is_persistent());
/// # drop(backend);
/// # Ok::<(), chanio::Error>(())
/// ```
impl IntoIterator for Config {
    type Item = (String, String);
    type IntoIter = std::collections::btree_map::IntoIter<String, String>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a> IntoIterator for &'a Config {
    type Item = (&'a String, &'a String);
    type IntoIter = std::collections::btree_map::Iter<'a, String, String>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.entries.iter()).finish()
    }
}

/// The largest buffer size a queue-mode path may have. A path's queue
/// allocates room for all its messages when its first message is sent, so
/// a size past this is refused rather than risking an out-of-memory abort.
pub const MAX_BUFFER_SIZE: usize = 1 << 20;

/// The channel backend's config keys.
pub(crate) const BUFFER_SIZE: &str = "buffer_size";
pub(crate) const PERSISTENT: &str = "persistent";
pub(crate) const RETAIN_MESSAGES: &str = "retain_messages";
pub(crate) const RETAIN_BYTES: &str = "retain_bytes";
pub(crate) const CHANNEL_KEYS: &[&str] = &[BUFFER_SIZE, PERSISTENT, RETAIN_MESSAGES, RETAIN_BYTES];

/// Reads a retention bound: decimal digits only, at least 1.
pub(crate) fn parse_retention(key: &str, value: &str) -> Result<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid_retention(key, value));
    }
    match value.parse::<u64>() {
        Ok(bound) if bound >= 1 => Ok(bound),
        _ => Err(invalid_retention(key, value)),
    }
}

pub(crate) fn invalid_retention(key: &str, value: &str) -> Error {
    Error::InvalidConfig {
        key: key.to_owned(),
        value: value.to_owned(),
        expected: format!("a whole number from 1 to {} in decimal digits", u64::MAX),
    }
}

pub(crate) fn retention_needs_persistent(key: &str, value: &str) -> Error {
    Error::InvalidConfig {
        key: key.to_owned(),
        value: value.to_owned(),
        expected: "retention only with persistent = true (a queue keeps nothing to retain)"
            .to_owned(),
    }
}

/// Reads a buffer size: decimal digits only (no sign, no spaces), at most
/// `max`.
pub(crate) fn parse_buffer_size(value: &str, max: usize) -> Result<usize> {
    let invalid = || Error::InvalidConfig {
        key: BUFFER_SIZE.to_owned(),
        value: value.to_owned(),
        expected: format!("a whole number from 0 to {max} in decimal digits"),
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    match value.parse::<usize>() {
        Ok(size) if size <= max => Ok(size),
        _ => Err(invalid()),
    }
}

/// Reads a flag: exactly `true`, `false`, `1` or `0`.
pub(crate) fn parse_flag(key: &str, value: &str) -> Result<bool> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(Error::InvalidConfig {
            key: key.to_owned(),
            value: value.to_owned(),
            expected: "one of true, false, 1, 0 (lower case)".to_owned(),
        }),
    }
}
