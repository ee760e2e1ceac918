//! How a conformance test gets its backend: [`Subject`]s from a
//! [`Factory`] per backend kind, each redis test in a namespace of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chanio::Backend;

/// Long enough for a call that should block to have returned if it did not.
pub const BLOCKED: Duration = Duration::from_millis(300);

/// Which backend a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Redis,
}

/// Makes the backends of one test. For redis, every backend it opens
/// shares one namespace (as processes would), and dropping the factory
/// removes that namespace's keys.
pub struct Factory {
    pub kind: Kind,
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    redis: Option<RedisTarget>,
}

#[cfg_attr(not(feature = "redis"), allow(dead_code))]
struct RedisTarget {
    url: String,
    namespace: String,
}

impl Factory {
    /// A backend with `config` (plus, for redis, the URL and namespace).
    pub fn open(&self, config: &[(&str, &str)]) -> Arc<dyn Backend> {
        let mut pairs: Vec<(String, String)> = config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let name = match (&self.kind, &self.redis) {
            (Kind::Channel, _) => "channel",
            (Kind::Redis, Some(target)) => {
                pairs.push(("url".into(), target.url.clone()));
                pairs.push(("namespace".into(), target.namespace.clone()));
                "redis"
            }
            (Kind::Redis, None) => unreachable!("a redis factory always has a target"),
        };
        match chanio::open(name, pairs) {
            Ok(backend) => Arc::from(backend),
            Err(err) => panic!("open {name} with {config:?}: {err}"),
        }
    }

    /// Whether this is the redis variant (for the few expectations that
    /// differ, such as `buffer_size = 0`).
    pub fn is_redis(&self) -> bool {
        self.kind == Kind::Redis
    }
}

impl Drop for Factory {
    fn drop(&mut self) {
        #[cfg(feature = "redis")]
        if let Some(target) = &self.redis {
            wipe_namespace(&target.url, &target.namespace);
        }
    }
}

/// Removes every key of `namespace` (the backend's keys start with
/// `<len>:<namespace>:`).
#[cfg(feature = "redis")]
pub fn wipe_namespace(url: &str, namespace: &str) {
    let Ok(client) = redis::Client::open(url) else {
        return;
    };
    let Ok(mut con) = client.get_connection_with_timeout(Duration::from_secs(2)) else {
        return;
    };
    let pattern = format!("{}:{}:*", namespace.len(), namespace);
    let keys: Vec<Vec<u8>> = match redis::cmd("KEYS").arg(&pattern).query(&mut con) {
        Ok(keys) => keys,
        Err(_) => return,
    };
    if !keys.is_empty() {
        let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(keys).query(&mut con);
    }
}

/// The server the redis variants use, if any.
pub fn redis_url() -> Option<String> {
    if !cfg!(feature = "redis") {
        return None;
    }
    std::env::var("CHANIO_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// A namespace no other test (in this process or another) uses.
pub fn fresh_namespace(test: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "chanio-test:{test}:{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `test` on the backend `kind`, within the suite's bound; a redis
/// test without a server (or without the feature) is skipped with a note.
pub fn run(kind: Kind, name: &str, test: fn(&Factory)) {
    let redis = match kind {
        Kind::Channel => None,
        Kind::Redis => match redis_url() {
            Some(url) => Some(RedisTarget {
                url,
                namespace: fresh_namespace(name),
            }),
            None => {
                eprintln!("skipped redis::{name}: needs --features redis and CHANIO_REDIS_URL");
                return;
            }
        },
    };
    let factory = Factory { kind, redis };
    crate::common::within(crate::common::BOUND, name, move || test(&factory));
}
