//! Config strings are read exactly: every row of the contract's table, every
//! input the Go library silently defaulted, and no panic on any string.
use std::collections::{BTreeMap, HashMap};

use chanio::{ChannelBackend, Error};
use proptest::prelude::*;

fn config_error(pairs: &[(&str, &str)]) -> Error {
    match ChannelBackend::from_config(pairs.iter().copied()) {
        Ok(backend) => panic!("{pairs:?} was accepted: {backend:?}"),
        Err(err) => err,
    }
}

#[test]
fn an_empty_config_gives_the_defaults() {
    let backend = ChannelBackend::from_config([] as [(&str, &str); 0]).unwrap();
    assert_eq!(backend.buffer_size(), 100);
    assert!(!backend.is_persistent());
}

#[test]
fn buffer_size_accepts_whole_numbers_in_decimal_digits() {
    for (value, expected) in [
        ("0", 0),
        ("1", 1),
        ("100", 100),
        ("007", 7),
        ("1048576", 1 << 20),
    ] {
        let backend = ChannelBackend::from_config([("buffer_size", value)]).unwrap();
        assert_eq!(backend.buffer_size(), expected, "buffer_size = {value:?}");
    }
}

#[test]
fn persistent_accepts_true_false_one_and_zero() {
    for (value, expected) in [("true", true), ("false", false), ("1", true), ("0", false)] {
        let backend = ChannelBackend::from_config([("persistent", value)]).unwrap();
        assert_eq!(backend.is_persistent(), expected, "persistent = {value:?}");
    }
}

#[test]
fn buffer_size_refuses_what_the_go_library_silently_defaulted() {
    for bad in [
        "abc",
        "-5",
        "10abc",
        "1.5",
        "",
        " 10",
        "10 ",
        "+5",
        "1e3",
        "0x10",
        "١٠",
        "99999999999999999999999",
        "1048577",
    ] {
        match config_error(&[("buffer_size", bad)]) {
            Error::InvalidConfig {
                key,
                value,
                expected,
            } => {
                assert_eq!(key, "buffer_size");
                assert_eq!(value, bad);
                assert!(expected.contains("decimal digits"), "{expected}");
            }
            other => panic!("buffer_size = {bad:?} gave {other:?}"),
        }
    }
}

#[test]
fn persistent_refuses_other_spellings_and_letter_cases() {
    for bad in [
        "yes", "no", "TRUE", "True", "FALSE", " true", "true ", "", "2", "on",
    ] {
        let err = config_error(&[("persistent", bad)]);
        let message = err.to_string();
        assert!(
            matches!(&err, Error::InvalidConfig { key, value, .. } if key == "persistent" && value == bad),
            "{err:?}"
        );
        assert!(message.contains("true, false, 1, 0"), "{message}");
    }
}

#[test]
fn an_unknown_key_is_refused_and_the_known_keys_are_listed() {
    for key in ["buffersize", "Buffer_Size", " buffer_size", "persist", ""] {
        let err = config_error(&[(key, "10")]);
        assert!(
            matches!(&err, Error::InvalidConfig { key: k, .. } if k == key),
            "{err:?}"
        );
        assert!(err.to_string().contains("buffer_size, persistent"), "{err}");
    }
}

#[test]
fn a_key_given_twice_is_refused_even_with_the_same_value() {
    let err = config_error(&[("buffer_size", "10"), ("buffer_size", "10")]);
    assert!(err.to_string().contains("each key once"), "{err}");
}

#[test]
fn config_errors_become_invalid_input_io_errors() {
    let err = config_error(&[("buffer_size", "x")]);
    assert_eq!(
        std::io::Error::from(err).kind(),
        std::io::ErrorKind::InvalidInput
    );
}

#[test]
fn from_config_takes_arrays_hash_maps_and_btree_maps() {
    let from_array = ChannelBackend::from_config([("buffer_size", "7")]).unwrap();
    let hash: HashMap<String, String> = [("buffer_size".into(), "8".into())].into();
    let from_hash = ChannelBackend::from_config(&hash).unwrap();
    let tree: BTreeMap<&str, String> = [("persistent", "1".to_string())].into();
    let from_tree = ChannelBackend::from_config(tree).unwrap();
    assert_eq!(from_array.buffer_size(), 7);
    assert_eq!(from_hash.buffer_size(), 8);
    assert!(from_tree.is_persistent());
}

#[test]
fn a_builder_buffer_size_past_the_maximum_is_an_error_not_a_panic() {
    let builder = ChannelBackend::builder().buffer_size(usize::MAX);
    assert!(matches!(
        builder.clone().try_build(),
        Err(Error::InvalidConfig { .. })
    ));
    let backend = builder.build();
    assert!(matches!(
        backend.new_writer("p"),
        Err(Error::InvalidConfig { .. })
    ));
    assert!(matches!(
        backend.new_reader("p"),
        Err(Error::InvalidConfig { .. })
    ));
    assert!(!backend.exists("p").unwrap());
}

proptest! {
    #[test]
    fn no_config_string_makes_from_config_panic(
        key in prop_oneof![Just("buffer_size".to_string()), Just("persistent".to_string()), ".*"],
        value in ".*",
    ) {
        match ChannelBackend::from_config([(&key, &value)]) {
            Ok(backend) => {
                // Accepted only what the table allows.
                match key.as_str() {
                    "buffer_size" => prop_assert_eq!(value.parse::<usize>().ok(), Some(backend.buffer_size())),
                    "persistent" => prop_assert!(["true", "false", "1", "0"].contains(&value.as_str())),
                    _ => prop_assert!(false, "unknown key {:?} accepted", key),
                }
            }
            Err(Error::InvalidConfig { key: k, value: v, .. }) => {
                prop_assert_eq!(k, key);
                prop_assert_eq!(v, value);
            }
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
    }

    #[test]
    fn digit_strings_are_read_exactly(size in 0usize..=(1 << 20)) {
        let backend = ChannelBackend::from_config([("buffer_size", size.to_string())]).unwrap();
        prop_assert_eq!(backend.buffer_size(), size);
    }
}
