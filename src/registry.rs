//! The registry of backends by name: [`Registry`], and the process-wide
//! one behind [`open`], [`register`], [`unregister`], [`is_registered`] and
//! [`backends`].

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use parking_lot::RwLock;

use crate::backend::Backend;
use crate::channel::ChannelBackend;
use crate::config::Config;
use crate::error::{Error, Result};

/// Makes a backend from its config. A factory should reject keys it does
/// not know and values it cannot read exactly, with
/// [`Error::InvalidConfig`] ([`Config::check_keys`] helps).
pub type Factory = fn(&Config) -> Result<Box<dyn Backend>>;

/// The name the channel backend is registered under.
pub const CHANNEL: &str = "channel";

/// Backend factories by name.
///
/// The free functions [`open`], [`register`] and friends use one
/// process-wide `Registry` that starts with `"channel"` registered. A
/// program or test that wants its own set, unaffected by others, makes its
/// own:
///
/// ```
/// let registry = chanio::Registry::new();
/// assert!(registry.backends().contains(&"channel".to_owned()));
/// let backend = registry.open("channel", [("persistent", "true")])?;
/// assert!(registry.open("nosuch", [] as [(&str, &str); 0]).is_err());
/// # Ok::<(), chanio::Error>(())
/// ```
pub struct Registry {
    /// Protects the factories. Held only to look up or change the map,
    /// never while a factory runs, so a factory may use the registry.
    factories: RwLock<BTreeMap<String, Factory>>,
}

impl Default for Registry {
    fn default() -> Registry {
        Registry::new()
    }
}

impl Registry {
    /// A registry with `"channel"` registered, and `"redis"` too when the
    /// cargo feature `redis` is on.
    pub fn new() -> Registry {
        let registry = Registry::empty();
        let mut factories = registry.factories.write();
        factories.insert(CHANNEL.to_owned(), channel_factory);
        #[cfg(feature = "redis")]
        factories.insert(crate::redis::REDIS.to_owned(), crate::redis::factory);
        drop(factories);
        registry
    }

    /// A registry with nothing registered.
    pub fn empty() -> Registry {
        Registry {
            factories: RwLock::new(BTreeMap::new()),
        }
    }

    /// Opens the backend registered as `name` with `config`: any iterator
    /// of string-like pairs.
    ///
    /// Fails with [`Error::UnknownBackend`] (listing the registered names)
    /// if no backend has that name, and with the factory's error, such as
    /// [`Error::InvalidConfig`], if it rejects the config.
    pub fn open<I, K, V>(&self, name: &str, config: I) -> Result<Box<dyn Backend>>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let factory = self.factories.read().get(name).copied();
        let factory = factory.ok_or_else(|| Error::UnknownBackend {
            name: name.to_owned(),
            registered: self.backends(),
        })?;
        factory(&Config::from_pairs(config)?)
    }

    /// Registers `factory` as `name`. A name already taken is
    /// [`Error::AlreadyRegistered`]; an empty name is
    /// [`Error::InvalidBackendName`].
    pub fn register(&self, name: &str, factory: Factory) -> Result<()> {
        if name.is_empty() {
            return Err(Error::InvalidBackendName {
                name: name.to_owned(),
            });
        }
        let mut factories = self.factories.write();
        if factories.contains_key(name) {
            return Err(Error::AlreadyRegistered {
                name: name.to_owned(),
            });
        }
        factories.insert(name.to_owned(), factory);
        Ok(())
    }

    /// Removes the backend registered as `name`; says whether there was one.
    pub fn unregister(&self, name: &str) -> bool {
        self.factories.write().remove(name).is_some()
    }

    /// Whether a backend is registered as `name`.
    pub fn is_registered(&self, name: &str) -> bool {
        self.factories.read().contains_key(name)
    }

    /// The registered names, sorted.
    pub fn backends(&self) -> Vec<String> {
        self.factories.read().keys().cloned().collect()
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("backends", &self.backends())
            .finish()
    }
}

fn channel_factory(config: &Config) -> Result<Box<dyn Backend>> {
    Ok(Box::new(ChannelBackend::with_config(config)?))
}

/// The process-wide registry.
fn global() -> &'static Registry {
    static GLOBAL: OnceLock<Registry> = OnceLock::new();
    GLOBAL.get_or_init(Registry::new)
}

/// Opens the backend registered as `name` in the process-wide registry.
///
/// ```
/// let backend = chanio::open("channel", [("buffer_size", "100"), ("persistent", "true")])?;
/// let mut w = backend.new_writer("input")?;
/// std::io::Write::write_all(&mut w, b"test data")?;
///
/// let err = chanio::open("channel", [("buffersize", "100")]).err().unwrap();
/// assert!(err.to_string().contains("buffer_size, persistent")); // lists the known keys
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn open<I, K, V>(name: &str, config: I) -> Result<Box<dyn Backend>>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    global().open(name, config)
}

/// Registers `factory` as `name` in the process-wide registry.
pub fn register(name: &str, factory: Factory) -> Result<()> {
    global().register(name, factory)
}

/// Removes `name` from the process-wide registry; says whether it was there.
pub fn unregister(name: &str) -> bool {
    global().unregister(name)
}

/// Whether `name` is registered in the process-wide registry.
pub fn is_registered(name: &str) -> bool {
    global().is_registered(name)
}

/// The names registered in the process-wide registry, sorted.
pub fn backends() -> Vec<String> {
    global().backends()
}
