//! What `open` gives: features, and strict config.

use chanio::{Error, Feature};

use crate::harness::Factory;

pub fn features_are_the_same_for_both_backends(f: &Factory) {
    let backend = f.open(&[]);
    let features = backend.features();
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
}

/// The config a factory refuses, checked through the factory's own `open`
/// (which adds what the backend needs, like redis's url).
fn refused(f: &Factory, config: &[(&str, &str)]) -> Error {
    let mut pairs: Vec<(String, String)> = config
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let name = if f.is_redis() {
        pairs.push((
            "url".into(),
            crate::harness::redis_url().unwrap_or_default(),
        ));
        "redis"
    } else {
        "channel"
    };
    chanio::open(name, pairs).err().expect("refused")
}

pub fn config_errors_name_the_key_and_what_is_accepted(f: &Factory) {
    for (config, key) in [
        (&[("buffersize", "10")][..], "buffersize"),
        (&[("buffer_size", "abc")][..], "buffer_size"),
        (&[("buffer_size", "-5")][..], "buffer_size"),
        (&[("buffer_size", " 10")][..], "buffer_size"),
        (&[("persistent", "yes")][..], "persistent"),
        (&[("persistent", "TRUE")][..], "persistent"),
    ] {
        let err = refused(f, config);
        match &err {
            Error::InvalidConfig {
                key: got,
                value,
                expected,
            } => {
                assert_eq!(got, key, "{err}");
                assert_eq!(value, config[0].1);
                assert!(!expected.is_empty());
            }
            other => panic!("{config:?}: expected InvalidConfig, got {other:?}"),
        }
        let text = err.to_string();
        assert!(
            text.starts_with("invalid config: ") && text.contains(key),
            "{text}"
        );
    }
    if f.is_redis() {
        let err = refused(f, &[("buffer_size", "0")]);
        assert!(
            matches!(err, Error::InvalidConfig { ref key, .. } if key == "buffer_size"),
            "{err:?}"
        );
    } else {
        f.open(&[("buffer_size", "0")]);
    }
}
