//! Backends by name: the global registry, `Registry` values, `open`, and
//! use through `dyn Backend`.
mod common;

use std::io::{Read, Write};
use std::sync::Arc;

use chanio::{Backend, ChannelBackend, Config, Error, Feature, Registry};

/// What `Registry::new` starts with: "channel", and "redis" with the
/// cargo feature `redis`.
const BUILT_IN: &[&str] = if cfg!(feature = "redis") {
    &["channel", "redis"]
} else {
    &["channel"]
};

fn channel_again(config: &Config) -> chanio::Result<Box<dyn Backend>> {
    Ok(Box::new(ChannelBackend::with_config(config)?))
}

#[test]
fn channel_is_registered_from_the_start() {
    assert!(chanio::is_registered("channel"));
    assert!(chanio::backends().contains(&"channel".to_string()));
    assert_eq!(Registry::new().backends(), BUILT_IN);
    assert!(Registry::empty().backends().is_empty());
}

#[test]
fn open_then_use_through_dyn_backend_then_downcast_and_broadcast() {
    let backend: Box<dyn Backend> = chanio::open("channel", [("buffer_size", "4")]).unwrap();
    let mut reader = backend.new_reader("topic/a").unwrap();
    let mut writer = backend.new_writer("topic/a").unwrap();
    writer.write_all(b"through the trait").unwrap();
    assert!(backend.exists("topic/a").unwrap());
    assert_eq!(backend.list("topic/").unwrap(), ["topic/a"]);

    let channels = backend
        .as_any()
        .downcast_ref::<ChannelBackend>()
        .expect("the channel backend downcasts to ChannelBackend");
    assert_eq!(channels.buffer_size(), 4);
    assert_eq!(channels.channel_count(), 1);
    assert_eq!(channels.broadcast("topic/", b"broadcast").unwrap(), 1);
    writer.close().unwrap();

    let mut text = String::new();
    common::within(common::BOUND, "read to end", move || {
        reader.read_to_string(&mut text).unwrap();
        assert_eq!(text, "through the traitbroadcast");
    });
    backend.delete("topic/a").unwrap();
    assert!(!backend.exists("topic/a").unwrap());
    backend.close().unwrap();
    assert_eq!(backend.list(""), Err(Error::BackendClosed));
}

#[test]
fn an_arc_dyn_backend_is_shared_between_threads() {
    let backend: Arc<dyn Backend> =
        Arc::from(chanio::open("channel", Config::new().iter()).unwrap());
    let mut reader = backend.new_reader("shared").unwrap();
    let writer_side = Arc::clone(&backend);
    let producer = common::spawn("producer", move || {
        let mut w = writer_side.new_writer("shared").unwrap();
        for i in 0..100u8 {
            w.write_all(&[i]).unwrap();
        }
    });
    let mut received = Vec::new();
    common::within(common::BOUND, "read all", move || {
        reader.read_to_end(&mut received).unwrap();
        assert_eq!(received, (0..100u8).collect::<Vec<_>>());
    });
    producer.join();
}

#[test]
fn the_channel_backend_has_the_features_the_contract_lists() {
    let features = ChannelBackend::new().features();
    for yes in [
        Feature::ReadWrite,
        Feature::Broadcast,
        Feature::Persistence,
        Feature::ListPrefix,
    ] {
        assert!(features.supports(yes), "{yes:?}");
    }
    for no in [Feature::Stat, Feature::Copy, Feature::Move] {
        assert!(!features.supports(no), "{no:?}");
    }
    assert_eq!(features.iter().count(), 4);
}

#[test]
fn opening_an_unknown_name_lists_the_registered_backends() {
    let registry = Registry::new();
    match registry.open("nosuch", [] as [(&str, &str); 0]) {
        Err(Error::UnknownBackend { name, registered }) => {
            assert_eq!(name, "nosuch");
            assert_eq!(registered, BUILT_IN);
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    let message = registry
        .open("nosuch", [] as [(&str, &str); 0])
        .err()
        .unwrap()
        .to_string();
    assert!(
        message.contains("\"nosuch\"") && message.contains("channel"),
        "{message}"
    );
}

#[test]
fn open_passes_bad_config_on_as_invalid_config() {
    let err = chanio::open("channel", [("buffer_size", "abc")])
        .err()
        .unwrap();
    assert!(matches!(err, Error::InvalidConfig { ref key, .. } if key == "buffer_size"));
}

#[test]
fn registering_a_taken_name_is_an_error_not_a_panic() {
    let registry = Registry::new();
    assert_eq!(
        registry.register("channel", channel_again),
        Err(Error::AlreadyRegistered {
            name: "channel".into()
        })
    );
    registry.register("second", channel_again).unwrap();
    assert!(matches!(
        registry.register("second", channel_again),
        Err(Error::AlreadyRegistered { .. })
    ));
    assert!(matches!(
        registry.register("", channel_again),
        Err(Error::InvalidBackendName { .. })
    ));
    let mut expected = BUILT_IN.to_vec();
    expected.push("second");
    expected.sort();
    assert_eq!(registry.backends(), expected);
}

#[test]
fn unregister_then_register_again() {
    let registry = Registry::new();
    registry.register("x", channel_again).unwrap();
    assert!(registry.unregister("x"));
    assert!(!registry.unregister("x"));
    assert!(!registry.is_registered("x"));
    assert!(registry.open("x", [] as [(&str, &str); 0]).is_err());
    registry.register("x", channel_again).unwrap();
    assert!(registry.open("x", [("persistent", "true")]).is_ok());
}

#[test]
fn the_global_functions_share_one_registry() {
    chanio::register("global-test-backend", channel_again).unwrap();
    assert!(chanio::is_registered("global-test-backend"));
    assert!(chanio::backends().contains(&"global-test-backend".to_string()));
    assert!(chanio::open("global-test-backend", [("buffer_size", "1")]).is_ok());
    assert!(chanio::unregister("global-test-backend"));
    assert!(!chanio::is_registered("global-test-backend"));
}

#[test]
fn register_and_unregister_from_many_threads_at_once() {
    let registry = Arc::new(Registry::new());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let registry = Arc::clone(&registry);
            common::spawn(&format!("registrar {t}"), move || {
                let mut registered = 0;
                for round in 0..200 {
                    // Every thread fights over the same few names.
                    let name = format!("b{}", round % 5);
                    match registry.register(&name, channel_again) {
                        Ok(()) => registered += 1,
                        Err(Error::AlreadyRegistered { .. }) => {}
                        Err(other) => panic!("{other:?}"),
                    }
                    let _ = registry.is_registered(&name);
                    let _ = registry.backends();
                    if round % 3 == 0 {
                        registry.unregister(&name);
                    }
                    if let Ok(backend) = registry.open(&name, [("buffer_size", "1")]) {
                        backend.close().unwrap();
                    }
                }
                registered
            })
        })
        .collect();
    let registered: usize = threads.into_iter().map(|t| t.join()).sum();
    assert!(registered > 0);
    // Whatever the interleaving, the registry is consistent afterwards.
    let names = registry.backends();
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(names, sorted);
    assert!(names.contains(&"channel".to_string()));
    for name in names {
        assert!(registry.is_registered(&name));
    }
}

#[test]
fn a_factory_may_use_the_registry_itself() {
    fn nested(config: &Config) -> chanio::Result<Box<dyn Backend>> {
        // Opens "channel" from within a factory: no deadlock on the registry.
        chanio::open("channel", config.iter())
    }
    chanio::register("nested-test-backend", nested).unwrap();
    let backend = common::within(common::BOUND, "open nested", || {
        chanio::open("nested-test-backend", [("persistent", "true")]).map(|_| ())
    });
    assert!(backend.is_ok());
    chanio::unregister("nested-test-backend");
}

/// A backend with only the required methods, to see the trait's defaults.
struct Minimal;

impl Backend for Minimal {
    fn new_writer(&self, _: &str) -> chanio::Result<Box<dyn chanio::WriteStream>> {
        Err(Error::BackendClosed)
    }
    fn new_reader(&self, _: &str) -> chanio::Result<Box<dyn chanio::ReadStream>> {
        Err(Error::BackendClosed)
    }
    fn exists(&self, _: &str) -> chanio::Result<bool> {
        Ok(false)
    }
    fn delete(&self, _: &str) -> chanio::Result<()> {
        Ok(())
    }
    fn list(&self, _: &str) -> chanio::Result<Vec<String>> {
        Ok(Vec::new())
    }
    fn close(&self) -> chanio::Result<()> {
        Ok(())
    }
    fn features(&self) -> chanio::Features {
        chanio::Features::none().with(Feature::ReadWrite)
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[test]
fn broadcast_through_dyn_backend_works_on_channel_and_is_not_supported_by_default() {
    let channel: Box<dyn Backend> = chanio::open("channel", Config::new()).unwrap();
    let mut subscriber = channel.new_reader("news/a").unwrap();
    assert_eq!(channel.broadcast("news/", b"headline").unwrap(), 1);
    assert_eq!(
        channel.try_broadcast("news/", b"more").unwrap().delivered,
        1
    );
    let mut got = [0u8; 8];
    assert_eq!(subscriber.read(&mut got).unwrap(), 8);
    assert_eq!(&got, b"headline");

    let minimal: &dyn Backend = &Minimal;
    match minimal.broadcast("news/", b"x") {
        Err(Error::NotSupported { backend, operation }) => {
            assert_eq!(
                (backend.as_str(), operation.as_str()),
                ("custom", "broadcast")
            );
        }
        other => panic!("expected NotSupported, got {other:?}"),
    }
    assert!(matches!(
        minimal.try_broadcast("news/", b"x"),
        Err(Error::NotSupported { .. })
    ));
    assert_eq!(channel.name(), "channel");
}
