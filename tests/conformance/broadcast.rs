//! Broadcast through the trait: who gets it, waiting for room, the report,
//! delivery order, delete while waiting, persistent paths.

use std::io::{Read, Write};
use std::time::Duration;

use chanio::BroadcastReport;

use crate::common;
use crate::harness::{BLOCKED, Factory};

fn read_one(r: &mut Box<dyn chanio::ReadStream>) -> String {
    let mut buf = [0u8; 256];
    let n = r.read(&mut buf).unwrap();
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

pub fn broadcast_reaches_every_matching_open_path_once(f: &Factory) {
    let backend = f.open(&[]);
    let mut subscribers: Vec<_> = (0..3)
        .map(|i| backend.new_reader(&format!("subscriber/{i}")).unwrap())
        .collect();
    let mut outsider = backend.new_reader("other").unwrap();
    // An ended stream is not matched.
    let ended = backend.new_writer("subscriber/ended").unwrap();
    drop(ended);
    let mut ended_reader = backend.new_reader("subscriber/ended").unwrap();

    assert_eq!(backend.broadcast("subscriber/", b"event").unwrap(), 3);
    assert_eq!(backend.broadcast("subscriber/", b"").unwrap(), 0);
    for s in &mut subscribers {
        assert_eq!(read_one(s), "event");
    }
    assert!(common::read_each(&mut ended_reader).unwrap().is_empty());
    assert_eq!(backend.broadcast("", b"to all").unwrap(), 4);
    assert_eq!(read_one(&mut outsider), "to all");
    assert_eq!(backend.broadcast("nobody/", b"lost?").unwrap(), 0);
}

pub fn broadcast_waits_for_room_instead_of_dropping(f: &Factory) {
    let backend = f.open(&[("buffer_size", "1")]);
    let mut r = backend.new_reader("slow/one").unwrap();
    let mut w = backend.new_writer("slow/one").unwrap();
    w.write_all(b"fills it").unwrap();
    let sender = std::sync::Arc::clone(&backend);
    let broadcasting = common::spawn_started("broadcast", move || {
        sender.broadcast("slow/", b"waited").unwrap()
    });
    assert!(
        broadcasting.is_blocked_after(BLOCKED),
        "broadcast to a full queue did not wait"
    );
    assert_eq!(read_one(&mut r), "fills it");
    assert_eq!(broadcasting.join(), 1);
    assert_eq!(read_one(&mut r), "waited");
}

pub fn try_broadcast_never_blocks_and_names_the_full_paths(f: &Factory) {
    let backend = f.open(&[("buffer_size", "1")]);
    let mut a = backend.new_reader("s/a").unwrap();
    let _b = backend.new_reader("s/b").unwrap();
    let _c = backend.new_reader("s/c").unwrap();
    for path in ["s/c", "s/b"] {
        let mut w = backend.new_writer(path).unwrap();
        w.write_all(b"fills").unwrap();
        std::mem::forget(w); // keeps the stream open without a handle to close
    }
    let report = backend.try_broadcast("s/", b"hi").unwrap();
    assert_eq!(
        report,
        BroadcastReport {
            delivered: 1,
            full: vec!["s/b".to_owned(), "s/c".to_owned()],
        }
    );
    assert_eq!(read_one(&mut a), "hi");
    assert_eq!(
        backend.try_broadcast("s/", b"").unwrap(),
        BroadcastReport::default()
    );
}

pub fn broadcast_delivers_to_paths_with_room_before_waiting_on_full_ones(f: &Factory) {
    let backend = f.open(&[("buffer_size", "1")]);
    // "order/a" sorts first and is full; "order/b" has room.
    let mut full = backend.new_reader("order/a").unwrap();
    let mut w = backend.new_writer("order/a").unwrap();
    w.write_all(b"fills a").unwrap();
    let mut roomy = backend.new_reader("order/b").unwrap();

    let sender = std::sync::Arc::clone(&backend);
    let broadcasting = common::spawn_started("broadcast", move || {
        sender.broadcast("order/", b"news").unwrap()
    });
    // The subscriber with room gets the message while the broadcast still
    // waits on the full one.
    let got = common::within(
        Duration::from_secs(3),
        "read the path with room",
        move || {
            let message = read_one(&mut roomy);
            (message, roomy)
        },
    );
    assert_eq!(got.0, "news");
    assert!(
        broadcasting.is_blocked_after(Duration::ZERO),
        "the broadcast did not wait on the full path"
    );
    assert_eq!(read_one(&mut full), "fills a");
    assert_eq!(broadcasting.join(), 2);
    assert_eq!(read_one(&mut full), "news");
}

pub fn broadcast_wakes_when_its_full_path_is_deleted_and_skips_it(f: &Factory) {
    let backend = f.open(&[("buffer_size", "1")]);
    let _r = backend.new_reader("d/full").unwrap();
    let mut w = backend.new_writer("d/full").unwrap();
    w.write_all(b"fills").unwrap();
    let mut other = backend.new_reader("d/other").unwrap();
    let sender = std::sync::Arc::clone(&backend);
    let broadcasting =
        common::spawn_started("broadcast", move || sender.broadcast("d/", b"x").unwrap());
    assert!(broadcasting.is_blocked_after(BLOCKED));
    backend.delete("d/full").unwrap();
    assert_eq!(broadcasting.join_within(Duration::from_secs(2)), 1);
    assert_eq!(read_one(&mut other), "x");
}

pub fn broadcast_to_persistent_paths_appends(f: &Factory) {
    let backend = f.open(&[("persistent", "true"), ("buffer_size", "1")]);
    let w = backend.new_writer("p/a").unwrap();
    for i in 0..5 {
        assert_eq!(
            backend.broadcast("p/", format!("b{i}").as_bytes()).unwrap(),
            1
        );
    }
    drop(w);
    let mut r = backend.new_reader("p/a").unwrap();
    assert_eq!(
        common::read_each(&mut r).unwrap(),
        common::owned(&["b0", "b1", "b2", "b3", "b4"])
    );
}
