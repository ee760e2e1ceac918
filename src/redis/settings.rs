//! [`Settings`]: a Redis backend's config, read strictly.

use std::time::Duration;

use crate::config::{self, Config, MAX_BUFFER_SIZE};
use crate::error::{Error, Result};
use crate::redis::keys::Namespace;

pub(crate) const URL: &str = "url";
const NAMESPACE: &str = "namespace";
const LEASE_MS: &str = "lease_ms";
const CONNECT_TIMEOUT_MS: &str = "connect_timeout_ms";
const KEYS: &[&str] = &[
    URL,
    NAMESPACE,
    config::BUFFER_SIZE,
    config::PERSISTENT,
    LEASE_MS,
    CONNECT_TIMEOUT_MS,
];

/// A backend's settings, read from its config.
pub(crate) struct Settings {
    pub(crate) url: String,
    pub(crate) namespace_name: String,
    pub(crate) namespace: Namespace,
    pub(crate) buffer_size: usize,
    pub(crate) persistent: bool,
    pub(crate) lease: Duration,
    pub(crate) connect_timeout: Duration,
}

impl Settings {
    /// Reads `config`: unknown keys, a missing `url` and values that cannot
    /// be read exactly are [`Error::InvalidConfig`].
    pub(crate) fn from_config(config: &Config) -> Result<Settings> {
        config.check_keys(KEYS)?;
        let url = config.get(URL).ok_or_else(|| Error::InvalidConfig {
            key: URL.to_owned(),
            value: String::new(),
            expected: "a Redis URL such as redis://127.0.0.1:6379/ (the key is required)"
                .to_owned(),
        })?;
        let namespace_name = config.get(NAMESPACE).unwrap_or("chanio");
        if namespace_name.is_empty() {
            return Err(Error::InvalidConfig {
                key: NAMESPACE.to_owned(),
                value: String::new(),
                expected: "a non-empty string".to_owned(),
            });
        }
        let buffer_size = match config.get(config::BUFFER_SIZE) {
            None => crate::DEFAULT_BUFFER_SIZE,
            Some(value) => {
                parse_positive(config::BUFFER_SIZE, value, MAX_BUFFER_SIZE as u64)? as usize
            }
        };
        let persistent = match config.get(config::PERSISTENT) {
            None => false,
            Some(value) => config::parse_flag(config::PERSISTENT, value)?,
        };
        let millis = |key: &str, default: u64| -> Result<Duration> {
            let ms = match config.get(key) {
                None => default,
                Some(value) => parse_positive(key, value, u64::MAX)?,
            };
            Ok(Duration::from_millis(ms))
        };
        Ok(Settings {
            url: url.to_owned(),
            namespace_name: namespace_name.to_owned(),
            namespace: Namespace::new(namespace_name),
            buffer_size,
            persistent,
            lease: millis(LEASE_MS, 10_000)?,
            connect_timeout: millis(CONNECT_TIMEOUT_MS, 2_000)?,
        })
    }

    /// How the scripts name this backend's mode.
    pub(crate) fn mode(&self) -> &'static str {
        if self.persistent { "log" } else { "queue" }
    }
}

/// Reads a number of decimal digits from 1 to `max`.
fn parse_positive(key: &str, value: &str, max: u64) -> Result<u64> {
    let invalid = || Error::InvalidConfig {
        key: key.to_owned(),
        value: value.to_owned(),
        expected: if max == u64::MAX {
            "a whole number of at least 1 in decimal digits".to_owned()
        } else {
            format!("a whole number from 1 to {max} in decimal digits")
        },
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    match value.parse::<u64>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(invalid()),
    }
}
