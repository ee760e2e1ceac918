//! What only the Redis backend has: several processes on one path, a
//! writer's process killed, the server killed and restarted, namespaces,
//! a path's stored mode, `close` of one handle and timeouts (poison is in the
//! conformance suite).
//!
//! The tests that need a shared server use `CHANIO_REDIS_URL`; the fault
//! tests start a private `redis-server` of their own on a free port. Each
//! is skipped, with a note, when what it needs is missing.
#![cfg(feature = "redis")]

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chanio::{Error, RedisBackend};

/// The environment variable that makes this test binary a child writer.
const CHILD: &str = "CHANIO_TEST_CHILD";

fn shared_url(test: &str) -> Option<String> {
    match std::env::var("CHANIO_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("skipped {test}: needs CHANIO_REDIS_URL");
            None
        }
    }
}

fn fresh_namespace(test: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "chanio-test:{test}:{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A namespace on the shared server, wiped when dropped.
struct Space {
    url: String,
    namespace: String,
}

impl Space {
    fn new(test: &str) -> Option<Space> {
        Some(Space {
            url: shared_url(test)?,
            namespace: fresh_namespace(test),
        })
    }

    fn open(&self, extra: &[(&str, &str)]) -> RedisBackend {
        let mut pairs = vec![
            ("url", self.url.as_str()),
            ("namespace", self.namespace.as_str()),
        ];
        pairs.extend_from_slice(extra);
        RedisBackend::from_config(pairs).unwrap()
    }

    /// The keys of this namespace now on the server.
    fn keys(&self) -> Vec<String> {
        let client = redis::Client::open(self.url.as_str()).unwrap();
        let mut con = client.get_connection().unwrap();
        let pattern = format!("{}:{}:*", self.namespace.len(), self.namespace);
        let mut keys: Vec<String> = redis::cmd("KEYS").arg(pattern).query(&mut con).unwrap();
        keys.sort();
        keys
    }
}

impl Drop for Space {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(self.url.as_str()) else {
            return;
        };
        let Ok(mut con) = client.get_connection_with_timeout(Duration::from_secs(2)) else {
            return;
        };
        let pattern = format!("{}:{}:*", self.namespace.len(), self.namespace);
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(pattern)
            .query(&mut con)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(keys).query(&mut con);
        }
    }
}

/// The message a child writer sends as number `i`: sizes from 1 byte to
/// 64 KiB, every byte depending on `i` and its position.
fn child_message(i: usize) -> Vec<u8> {
    let len = [1, 7, 64, 1000, 64 * 1024][i % 5];
    (0..len).map(|j| (i * 31 + j * 7) as u8).collect()
}

/// Not a test of its own: the child process of the cross-process tests.
/// It runs only when this binary is started with `CHANIO_TEST_CHILD` set
/// to `url|namespace|path|count|mode`; `mode` is `close` (write, then
/// close and exit) or `hang` (write, say so on stdout, then wait to be
/// killed).
#[test]
fn child_writer_entry() {
    let Ok(spec) = std::env::var(CHILD) else {
        return;
    };
    let parts: Vec<&str> = spec.split('|').collect();
    let [url, namespace, path, count, mode] = parts[..] else {
        panic!("bad {CHILD}: {spec:?}");
    };
    let backend = chanio::open(
        "redis",
        [("url", url), ("namespace", namespace), ("lease_ms", "600")],
    )
    .unwrap();
    let mut w = backend.new_writer(path).unwrap();
    for i in 0..count.parse().unwrap() {
        w.write_all(&child_message(i)).unwrap();
    }
    if mode == "hang" {
        println!("written");
        std::io::stdout().flush().unwrap();
        std::thread::sleep(Duration::from_secs(60));
    }
    w.close().unwrap();
}

fn spawn_child(space: &Space, path: &str, count: usize, mode: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_writer_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(
            CHILD,
            format!("{}|{}|{path}|{count}|{mode}", space.url, space.namespace),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Waits for `child` to exit, killing it if it has not within `bound`.
fn wait_child(child: &mut Child, bound: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + bound;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the child process was still running after {bound:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn read_all_messages(r: &mut chanio::RedisReader) -> Vec<Vec<u8>> {
    r.messages().map(|m| m.unwrap().to_vec()).collect()
}

#[test]
fn a_child_process_writes_and_the_parent_reads_every_byte() {
    let Some(space) = Space::new("cross_process") else {
        return;
    };
    common::within(common::BOUND, "cross process", move || {
        const COUNT: usize = 200;
        let backend = space.open(&[("buffer_size", "16")]);
        // The reader is there first, so the stream cannot end unread.
        let mut r = backend.new_reader("from-child").unwrap();
        let mut child = spawn_child(&space, "from-child", COUNT, "close");
        let got = read_all_messages(&mut r);
        assert!(wait_child(&mut child, Duration::from_secs(15)).success());
        assert_eq!(got.len(), COUNT);
        for (i, message) in got.iter().enumerate() {
            assert!(
                *message == child_message(i),
                "message {i} changed on the way"
            );
        }
    });
}

#[test]
fn a_stream_whose_writer_process_was_killed_ends_after_the_lease() {
    let Some(space) = Space::new("killed_writer") else {
        return;
    };
    common::within(common::BOUND, "killed writer", move || {
        let backend = space.open(&[]);
        let mut child = spawn_child(&space, "orphan", 10, "hang");
        // The test harness prints its own lines first, and the test's name
        // on the line the child's word ends. The pipe stays open until the
        // kill, so that the child never fails to print and exits early.
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while !line.trim_end().ends_with("written") {
            line.clear();
            assert!(
                stdout.read_line(&mut line).unwrap() > 0,
                "the child ended early"
            );
        }
        child.kill().unwrap(); // SIGKILL: no close, no drop, no renewal
        child.wait().unwrap();
        drop(stdout);
        let killed = Instant::now();

        let mut r = backend.new_reader("orphan").unwrap();
        let got = read_all_messages(&mut r);
        let waited = killed.elapsed();
        assert_eq!(got.len(), 10);
        assert!(got.iter().enumerate().all(|(i, m)| *m == child_message(i)));
        // The lease is 600 ms; a reader looks again at least every half second.
        assert!(
            waited < Duration::from_secs(3),
            "the end came after {waited:?}"
        );
        assert!(
            backend.new_writer("orphan").is_err(),
            "the stream has ended"
        );
    });
}

#[test]
fn the_last_writer_of_any_handle_ends_the_stream() {
    let Some(space) = Space::new("last_writer_anywhere") else {
        return;
    };
    common::within(common::BOUND, "last writer anywhere", move || {
        // Two handles share nothing but the server, as two processes would.
        let here = space.open(&[]);
        let there = space.open(&[]);
        let mut r = here.new_reader("shared").unwrap();
        let mut mine = here.new_writer("shared").unwrap();
        let mut theirs = there.new_writer("shared").unwrap();
        mine.write_all(b"mine").unwrap();
        mine.close().unwrap();
        r.set_read_timeout(Some(Duration::from_millis(300)));
        assert_eq!(r.recv().unwrap().unwrap(), b"mine");
        assert!(
            matches!(r.recv(), Err(Error::TimedOut { .. })),
            "ended at the first close"
        );
        theirs.write_all(b"theirs").unwrap();
        drop(theirs);
        assert_eq!(r.recv().unwrap().unwrap(), b"theirs");
        assert_eq!(r.recv().unwrap(), None);
    });
}

#[test]
fn delete_from_one_handle_wakes_blocked_calls_of_another_within_a_second() {
    let Some(space) = Space::new("delete_elsewhere") else {
        return;
    };
    common::within(common::BOUND, "delete elsewhere", move || {
        let deleter = space.open(&[]);
        let blocked = space.open(&[("buffer_size", "1")]);
        let mut full = blocked.new_writer("full").unwrap();
        let _keeps = blocked.new_reader("full").unwrap();
        full.write_all(b"fills it").unwrap();
        let _w = blocked.new_writer("empty").unwrap();
        let mut r = blocked.new_reader("empty").unwrap();
        let writing = common::spawn_started("blocked writer", move || full.write(b"waits"));
        let reading = common::spawn_started("blocked reader", move || r.recv());
        assert!(writing.is_blocked_after(Duration::from_millis(300)));
        assert!(reading.is_blocked_after(Duration::ZERO));
        deleter.delete("full").unwrap();
        deleter.delete("empty").unwrap();
        let deleted = Instant::now();
        let err = common::io_failure(
            writing.join_within(Duration::from_secs(2)),
            ErrorKind::BrokenPipe,
        );
        assert!(matches!(err, Error::PathDeleted { .. }), "{err:?}");
        assert_eq!(reading.join_within(Duration::from_secs(2)).unwrap(), None);
        assert!(
            deleted.elapsed() < Duration::from_secs(1),
            "woke after {:?}",
            deleted.elapsed()
        );
    });
}

#[test]
fn two_namespaces_share_no_path_even_a_and_a_colon_b() {
    let Some(base) = Space::new("namespaces") else {
        return;
    };
    let nested = Space {
        url: base.url.clone(),
        namespace: format!("{}:b", base.namespace),
    };
    let outer = base.open(&[]);
    let inner = nested.open(&[]);
    outer.new_reader("b:x").unwrap();
    inner.new_reader("x").unwrap();
    assert_eq!(outer.list("").unwrap(), ["b:x"]);
    assert_eq!(inner.list("").unwrap(), ["x"]);
    assert!(!outer.exists("x").unwrap());
    assert!(base.keys().iter().all(|k| !nested.keys().contains(k)));
}

#[test]
fn a_path_keeps_its_mode_and_buffer_size_for_every_handle() {
    let Some(space) = Space::new("stored_mode") else {
        return;
    };
    common::within(common::BOUND, "stored mode", move || {
        let small = space.open(&[("buffer_size", "1")]);
        let large = space.open(&[("buffer_size", "50")]);
        let logs = space.open(&[("persistent", "true")]);
        let _r = small.new_reader("q").unwrap();
        let err = logs.new_writer("q").err().unwrap();
        assert!(
            matches!(err, Error::InvalidConfig { ref key, .. } if key == "persistent"),
            "{err:?}"
        );
        assert!(err.to_string().contains("\"q\""), "{err}");
        // The path was made with buffer size 1: a handle of 50 gets 1 too.
        let mut w = large.new_writer("q").unwrap();
        w.write_all(b"one").unwrap();
        w.set_write_timeout(Some(Duration::from_millis(200)));
        let err = common::io_failure(w.write(b"two"), ErrorKind::TimedOut);
        assert!(matches!(err, Error::TimedOut { .. }));
    });
}

#[test]
fn close_closes_this_handle_only() {
    let Some(space) = Space::new("close_handle") else {
        return;
    };
    common::within(common::BOUND, "close one handle", move || {
        let mine = space.open(&[]);
        let theirs = space.open(&[]);
        let mut my_writer = mine.new_writer("p").unwrap();
        let mut my_reader = mine.new_reader("p").unwrap();
        let mut their_reader = theirs.new_reader("p").unwrap();
        my_writer.write_all(b"1").unwrap();
        my_writer.write_all(b"2").unwrap();
        mine.close().unwrap();
        // My reader takes nothing more: end of stream at once.
        assert_eq!(my_reader.recv().unwrap(), None);
        let err = common::io_failure(my_writer.write(b"3"), ErrorKind::BrokenPipe);
        assert!(matches!(err, Error::BackendClosed));
        // My writer was counted out, so the stream ended for the others,
        // who still read everything and go on working.
        assert_eq!(read_all_messages_plain(&mut their_reader), ["1", "2"]);
        assert!(theirs.exists("p").unwrap());
        assert_eq!(theirs.list("").unwrap(), ["p"]);
    });
}

fn read_all_messages_plain(r: &mut chanio::RedisReader) -> Vec<String> {
    read_all_messages(r)
        .into_iter()
        .map(|m| String::from_utf8(m).unwrap())
        .collect()
}

#[test]
fn a_timed_out_read_consumes_nothing_and_a_timed_out_write_sends_nothing() {
    let Some(space) = Space::new("timeouts") else {
        return;
    };
    common::within(common::BOUND, "timeouts", move || {
        let backend = space.open(&[("buffer_size", "1")]);
        let mut r = backend.new_reader("t").unwrap();
        let mut w = backend.new_writer("t").unwrap();
        r.set_read_timeout(Some(Duration::from_millis(100)));
        let started = Instant::now();
        let err = common::io_failure(r.read(&mut [0u8; 8]), ErrorKind::TimedOut);
        assert!(matches!(err, Error::TimedOut { .. }));
        assert!(started.elapsed() < Duration::from_secs(1));
        w.write_all(b"only").unwrap();
        w.set_write_timeout(Some(Duration::from_millis(100)));
        common::io_failure(w.write(b"refused"), ErrorKind::TimedOut);
        w.close().unwrap();
        assert_eq!(read_all_messages_plain(&mut r), ["only"]);
    });
}

#[test]
fn a_deleted_path_keeps_its_keys_only_while_a_reader_drains_it() {
    let Some(space) = Space::new("freed") else {
        return;
    };
    common::within(common::BOUND, "freed", move || {
        let backend = space.open(&[]);
        let keys_of_paths = |space: &Space| {
            space
                .keys()
                .into_iter()
                .filter(|k| {
                    !k.ends_with(":index") && !k.ends_with(":paths") && !k.ends_with(":next")
                })
                .filter(|k| !k.ends_with(":room")) // wake-up tokens expire in 2 s
                .collect::<Vec<_>>()
        };
        let mut w = backend.new_writer("gone").unwrap();
        w.write_all(b"x").unwrap();
        drop(w);
        backend.delete("gone").unwrap();
        assert!(keys_of_paths(&space).is_empty(), "{:?}", space.keys());

        let mut w = backend.new_writer("drained").unwrap();
        let mut r = backend.new_reader("drained").unwrap();
        w.write_all(b"queued").unwrap();
        backend.delete("drained").unwrap();
        assert!(
            !keys_of_paths(&space).is_empty(),
            "the data went before the reader read it"
        );
        assert_eq!(r.recv().unwrap().unwrap(), b"queued");
        assert_eq!(r.recv().unwrap(), None);
        r.close().unwrap();
        drop(w);
        assert!(keys_of_paths(&space).is_empty(), "{:?}", space.keys());
    });
}

#[test]
fn redis_is_registered_and_open_needs_a_url() {
    assert!(chanio::is_registered("redis"));
    assert!(chanio::backends().contains(&"redis".to_owned()));
    let err = chanio::open("redis", chanio::Config::new()).err().unwrap();
    assert!(
        matches!(err, Error::InvalidConfig { ref key, .. } if key == "url"),
        "{err:?}"
    );
    for (key, bad) in [
        ("namespace", ""),
        ("lease_ms", "0"),
        ("lease_ms", "1s"),
        ("connect_timeout_ms", "-1"),
        ("buffer_size", "0"),
        ("url", "not a url"),
    ] {
        let mut pairs = vec![(key, bad)];
        if key != "url" {
            pairs.push(("url", "redis://127.0.0.1:1/"));
        }
        let err = chanio::open("redis", pairs).err().unwrap();
        assert!(
            matches!(err, Error::InvalidConfig { key: ref k, .. } if k == key),
            "{key}={bad:?}: {err:?}"
        );
    }
}

// ---- faults, with a private server ----------------------------------------

/// A free port on the loopback address (free when asked; a race with
/// another program is possible but harmless here: the test then fails to
/// start its server and says so).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// A `redis-server` of the test's own, killed when dropped.
struct PrivateServer {
    child: Child,
}

impl PrivateServer {
    fn start(port: u16) -> Option<PrivateServer> {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let server = PrivateServer { child };
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).ok()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(mut con) = client.get_connection_with_timeout(Duration::from_millis(200)) {
                if redis::cmd("PING").query::<String>(&mut con).is_ok() {
                    return Some(server);
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The kinds a lost connection may have, depending on where the call was
/// when the server went.
const LOST: [ErrorKind; 6] = [
    ErrorKind::ConnectionReset,
    ErrorKind::ConnectionAborted,
    ErrorKind::BrokenPipe,
    ErrorKind::UnexpectedEof,
    ErrorKind::ConnectionRefused,
    ErrorKind::NotConnected,
];

fn assert_connection_error(err: &std::io::Error, port: u16) {
    assert!(LOST.contains(&err.kind()), "unexpected kind: {err:?}");
    match common::inner(err) {
        Some(Error::Connection { url, message, kind }) => {
            assert!(url.contains(&port.to_string()), "{url}");
            assert!(!message.is_empty());
            assert_eq!(*kind, err.kind());
        }
        other => panic!("expected Error::Connection, got {other:?}"),
    }
}

#[test]
fn killing_the_server_mid_stream_gives_connection_errors_and_new_handles_work_after_restart() {
    let port = free_port();
    let Some(server) = PrivateServer::start(port) else {
        eprintln!("skipped: redis-server is not on PATH or did not start");
        return;
    };
    common::within(Duration::from_secs(60), "server kill", move || {
        let url = format!("redis://127.0.0.1:{port}/");
        let config = [("url", url.as_str()), ("connect_timeout_ms", "1000")];
        let backend = RedisBackend::from_config(config).unwrap();
        let mut w = backend.new_writer("stream").unwrap();
        let mut r = backend.new_reader("stream").unwrap();
        for i in 0..20 {
            w.write_all(format!("before {i}").as_bytes()).unwrap();
            assert_eq!(r.recv().unwrap().unwrap(), format!("before {i}").as_str());
        }
        // A reader blocked on the server when it dies.
        let blocked = common::spawn_started("blocked reader", move || {
            let result = r.read(&mut [0u8; 64]);
            (result, r)
        });
        assert!(blocked.is_blocked_after(Duration::from_millis(200)));
        server.kill();
        let killed = Instant::now();
        let (result, mut r) = blocked.join_within(Duration::from_secs(3));
        assert_connection_error(&result.unwrap_err(), port);
        assert_connection_error(&r.read(&mut [0u8; 8]).unwrap_err(), port);
        assert_connection_error(&w.write(b"after").unwrap_err(), port);
        assert_connection_error(&w.write(b"again").unwrap_err(), port);
        assert!(killed.elapsed() < Duration::from_secs(3));

        // While it is down: opening fails at once with ConnectionRefused.
        let err = RedisBackend::from_config(config).err().unwrap();
        assert_connection_error(&std::io::Error::from(err.clone()), port);
        assert_eq!(err.io_kind(), ErrorKind::ConnectionRefused);
        assert!(backend.exists("stream").is_err());
        drop(w); // its release fails quietly: the lease would run out

        let Some(_restarted) = PrivateServer::start(port) else {
            panic!("could not restart redis-server on port {port}");
        };
        // Old handles stay failed; new ones work (the restarted server is
        // empty: no persistence).
        assert_connection_error(&r.read(&mut [0u8; 8]).unwrap_err(), port);
        let fresh = RedisBackend::from_config(config).unwrap();
        let mut w = fresh.new_writer("stream").unwrap();
        let mut r = fresh.new_reader("stream").unwrap();
        w.write_all(b"after restart").unwrap();
        w.close().unwrap();
        assert_eq!(read_all_messages_plain(&mut r), ["after restart"]);
        // The first handle's own operations connect afresh too, even the
        // first one after the restart.
        assert_eq!(backend.list("").unwrap(), ["stream"]);
        assert!(backend.exists("stream").unwrap());
        let mut again = backend.new_writer("again").unwrap();
        again.write_all(b"x").unwrap();
    });
}

#[test]
fn an_unreachable_server_fails_open_with_connection_refused() {
    let port = free_port(); // nothing listens there
    let started = Instant::now();
    let url = format!("redis://127.0.0.1:{port}/");
    let err = chanio::open(
        "redis",
        [("url", url.as_str()), ("connect_timeout_ms", "500")],
    )
    .err()
    .unwrap();
    assert!(started.elapsed() < Duration::from_millis(1500));
    let err = std::io::Error::from(err);
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    assert_connection_error(&err, port);
}

#[test]
fn a_server_that_never_answers_times_out_within_the_connect_timeout_plus_a_second() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accepts connections and holds them open without a word.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(8) {
            held.push(stream);
        }
        std::thread::sleep(Duration::from_secs(30));
    });
    let started = Instant::now();
    let url = format!("redis://127.0.0.1:{port}/");
    let err = common::within(Duration::from_secs(10), "silent server", move || {
        chanio::open(
            "redis",
            [("url", url.as_str()), ("connect_timeout_ms", "500")],
        )
        .err()
        .unwrap()
    });
    let waited = started.elapsed();
    assert!(waited < Duration::from_millis(1500), "waited {waited:?}");
    let err = std::io::Error::from(err);
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err:?}");
    assert!(matches!(
        common::inner(&err),
        Some(Error::Connection { .. })
    ));
}
