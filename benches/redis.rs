//! The Redis backend against the raw `redis` crate doing the same
//! commands, in the same run.
//!
//! ```text
//! CHANIO_REDIS_URL=redis://127.0.0.1:6379/ cargo bench --features redis --bench redis
//! cargo bench --features redis --bench redis -- --quick    # under a minute
//! ```
//!
//! Without `CHANIO_REDIS_URL` it starts a `redis-server` of its own on a
//! free loopback port (persistence off) if one is on `PATH`, and stops it
//! at the end; with neither it says so and exits.
//!
//! Cases: `spsc_small` (64-byte messages) and `spsc_bulk` (64 KiB), one
//! writer thread and one reader thread on one queue-mode path of buffer
//! size 100; and `spsc_small_persistent`, the same on a persistent path,
//! whose reader reads ahead (`XREAD COUNT 64`). Contenders:
//!
//! - **chanio**: `RedisBackend::new_writer` / `new_reader`, `io::Write::write_all`
//!   and `io::Read::read` into a buffer.
//! - **raw redis**: two `redis::Connection`s running the very same Lua
//!   scripts (this file compiles `src/redis/scripts.rs` itself): `push`
//!   per message, `BLPOP` on the room list when full; `take` per message,
//!   and `XREAD BLOCK` then `claim` when the queue is empty (persistent:
//!   `XREAD COUNT 64 BLOCK` from a cursor). It is what
//!   chanio does minus chanio: the ratio measures chanio's own cost.
//!
//! Runs of the contenders are interleaved (7 each, 3 with `--quick`), so
//! background load spreads over both; each prints median, min and max,
//! then the ratio of medians and whether it meets the 0.8× target. Every
//! message is stamped with its index and checked on arrival.

#[allow(dead_code)]
#[path = "../src/redis/scripts.rs"]
mod scripts;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use chanio::RedisBackend;
use redis::Value;

const TARGET: f64 = 0.8;
const CAPACITY: usize = 100;

/// Queue mode, or persistent mode (where a reader reads ahead).
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Queue,
    Log,
}

struct Settings {
    quick: bool,
    runs: usize,
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let settings = Settings {
        quick,
        runs: if quick { 3 } else { 7 },
    };
    let (url, _server) = match server() {
        Some(found) => found,
        None => {
            println!(
                "chanio redis bench: skipped (set CHANIO_REDIS_URL or put redis-server on PATH)"
            );
            return;
        }
    };
    println!(
        "chanio redis bench: {} mode, {} runs per contender, server {url}",
        if quick { "quick" } else { "full" },
        settings.runs
    );
    let mut all_met = true;
    let cases = [
        ("spsc_small", 64, 20_000, Mode::Queue),
        ("spsc_bulk", 64 * 1024, 2_000, Mode::Queue),
        ("spsc_small_persistent", 64, 40_000, Mode::Log),
    ];
    for (case, size, full_count, mode) in cases {
        let count = if settings.quick {
            full_count / 4
        } else {
            full_count
        };
        all_met &= run_case(&url, case, size, count, mode, &settings);
    }
    println!(
        "\n{}",
        if all_met {
            "every ratio meets the 0.8x target"
        } else {
            "some ratio misses the 0.8x target (repeat the run before trusting a figure near it)"
        }
    );
}

/// Runs one case: both contenders, interleaved; prints the figures.
/// Returns whether chanio's ratio meets the target.
fn run_case(
    url: &str,
    case: &str,
    size: usize,
    count: usize,
    mode: Mode,
    settings: &Settings,
) -> bool {
    let mut chanio_times = Vec::new();
    let mut raw_times = Vec::new();
    for run in 0..settings.runs {
        let namespace = format!("chanio-bench:{}:{case}:{run}", std::process::id());
        chanio_times.push(chanio_spsc(url, &namespace, size, count, mode));
        raw_times.push(raw_spsc(
            url,
            &format!("{namespace}:raw"),
            size,
            count,
            mode,
        ));
        wipe(url, &namespace);
    }
    let per_second = |t: &Duration| count as f64 / t.as_secs_f64();
    let stats = |times: &[Duration]| {
        let mut rates: Vec<f64> = times.iter().map(per_second).collect();
        rates.sort_by(|a, b| a.total_cmp(b));
        (rates[rates.len() / 2], rates[0], rates[rates.len() - 1])
    };
    let (chanio_median, chanio_min, chanio_max) = stats(&chanio_times);
    let (raw_median, raw_min, raw_max) = stats(&raw_times);
    let mb = |rate: f64| rate * size as f64 / 1e6;
    let what = match mode {
        Mode::Queue => format!("queue of {CAPACITY}"),
        Mode::Log => "persistent log".to_owned(),
    };
    println!("\n{case}: {count} messages of {size} bytes, {what}");
    for (name, median, min, max) in [
        ("chanio RedisBackend", chanio_median, chanio_min, chanio_max),
        ("raw redis, same commands", raw_median, raw_min, raw_max),
    ] {
        println!(
            "  {name:<26} median {:>9.0} msgs/s ({:>7.1} MB/s)   min {:>9.0}   max {:>9.0}",
            median,
            mb(median),
            min,
            max
        );
    }
    let ratio = chanio_median / raw_median;
    let met = ratio >= TARGET;
    println!(
        "  ratio chanio / raw: {ratio:.2}x (target >= {TARGET}x: {})",
        if met { "met" } else { "MISSED" }
    );
    met
}

/// A message of `size` bytes stamped with its index.
fn message(index: usize, size: usize) -> Vec<u8> {
    let mut bytes = vec![(index % 251) as u8; size];
    bytes[..8].copy_from_slice(&(index as u64).to_le_bytes());
    bytes
}

/// Checks that `bytes` is message `index` of `size` bytes.
fn check(bytes: &[u8], index: usize, size: usize) {
    let stamp = bytes
        .get(..8)
        .map(|s| u64::from_le_bytes(s.try_into().unwrap_or_default()));
    assert!(
        bytes.len() == size && stamp == Some(index as u64),
        "message {index}: wrong bytes ({} long, stamp {stamp:?})",
        bytes.len()
    );
}

fn chanio_spsc(url: &str, namespace: &str, size: usize, count: usize, mode: Mode) -> Duration {
    let persistent = if mode == Mode::Log { "true" } else { "false" };
    let config = [
        ("url", url),
        ("namespace", namespace),
        ("persistent", persistent),
    ];
    let backend = RedisBackend::from_config(config).expect("open the redis backend");
    let mut reader = backend.new_reader("spsc").expect("new_reader");
    let mut writer = backend.new_writer("spsc").expect("new_writer");
    let messages: Vec<Vec<u8>> = (0..count).map(|i| message(i, size)).collect();
    let started = Instant::now();
    let writing = thread::spawn(move || {
        for m in &messages {
            writer.write_all(m).expect("write");
        }
        writer.close().expect("close");
    });
    let mut buf = vec![0u8; size];
    for index in 0..count {
        let n = reader.read(&mut buf).expect("read");
        check(&buf[..n], index, size);
    }
    assert_eq!(reader.read(&mut buf).expect("read the end"), 0);
    let elapsed = started.elapsed();
    writing.join().expect("the writer thread");
    elapsed
}

fn raw_spsc(url: &str, base: &str, size: usize, count: usize, mode: Mode) -> Duration {
    let client = redis::Client::open(url).expect("client");
    let keys = RawKeys::new(base);
    let mut setup = client.get_connection().expect("connect");
    let _: () = redis::cmd("HSET")
        .arg(&keys.meta)
        .arg(&[
            "name",
            "spsc",
            "mode",
            if mode == Mode::Log { "log" } else { "queue" },
            "cap",
            &CAPACITY.to_string(),
        ])
        .query(&mut setup)
        .expect("make the path");
    let mut writer_con = client.get_connection().expect("connect");
    let mut reader_con = client.get_connection().expect("connect");
    let messages: Vec<Vec<u8>> = (0..count).map(|i| message(i, size)).collect();
    let writer_keys = keys.clone();
    let started = Instant::now();
    let writing = thread::spawn(move || {
        let s = scripts::scripts();
        for m in &messages {
            loop {
                let mut push = s.push.prepare_invoke();
                writer_keys.add(&mut push).arg(&m[..]);
                let pushed: i64 = push.invoke(&mut writer_con).expect("push");
                if pushed == 1 {
                    break;
                }
                let _: Value = redis::cmd("BLPOP")
                    .arg(&writer_keys.room)
                    .arg(0.5)
                    .query(&mut writer_con)
                    .expect("blpop");
            }
        }
    });
    if mode == Mode::Log {
        read_log(&mut reader_con, &keys, size, count);
    } else {
        take_queue(&mut reader_con, &keys, size, count);
    }
    let elapsed = started.elapsed();
    writing.join().expect("the writer thread");
    let _: redis::RedisResult<i64> = redis::cmd("DEL")
        .arg(&[
            &keys.meta,
            &keys.data,
            &keys.writers,
            &keys.readers,
            &keys.room,
        ])
        .query(&mut setup);
    elapsed
}

/// The raw persistent reader: `XREAD COUNT 64 BLOCK` from its cursor, as
/// chanio's persistent reader reads ahead.
fn read_log(con: &mut redis::Connection, keys: &RawKeys, size: usize, count: usize) {
    let mut cursor = "0-0".to_owned();
    let mut index = 0;
    while index < count {
        let read: Value = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(64)
            .arg("BLOCK")
            .arg(500)
            .arg("STREAMS")
            .arg(&keys.data)
            .arg(&cursor)
            .query(con)
            .expect("xread");
        for (id, data) in entries(read) {
            check(&data, index, size);
            index += 1;
            cursor = id;
        }
    }
}

/// The raw queue reader: `take`, and on an empty queue `XREAD BLOCK` then
/// `claim`, as chanio's queue reader does.
fn take_queue(reader_con: &mut redis::Connection, keys: &RawKeys, size: usize, count: usize) {
    let s = scripts::scripts();
    for index in 0..count {
        let bytes = loop {
            let mut take = s.take.prepare_invoke();
            keys.add(&mut take);
            let reply: Vec<Value> = take.invoke(reader_con).expect("take");
            let mut reply = reply.into_iter();
            let status = bulk(reply.next());
            if status == b"d" {
                break bulk(reply.next());
            }
            let last = String::from_utf8(bulk(reply.next())).unwrap_or_default();
            let read: Value = redis::cmd("XREAD")
                .arg("COUNT")
                .arg(1)
                .arg("BLOCK")
                .arg(500)
                .arg("STREAMS")
                .arg(&keys.data)
                .arg(&last)
                .query(reader_con)
                .expect("xread");
            if let Some((id, data)) = first_entry(read) {
                let mut claim = s.claim.prepare_invoke();
                keys.add(&mut claim).arg(&id);
                let claimed: i64 = claim.invoke(reader_con).expect("claim");
                if claimed == 1 {
                    break data;
                }
            }
        };
        check(&bytes, index, size);
    }
}

#[derive(Clone)]
struct RawKeys {
    meta: String,
    data: String,
    writers: String,
    readers: String,
    room: String,
}

impl RawKeys {
    fn new(base: &str) -> RawKeys {
        RawKeys {
            meta: format!("{base}:meta"),
            data: format!("{base}:data"),
            writers: format!("{base}:writers"),
            readers: format!("{base}:readers"),
            room: format!("{base}:room"),
        }
    }

    fn add<'a, 'b>(
        &self,
        invocation: &'b mut redis::ScriptInvocation<'a>,
    ) -> &'b mut redis::ScriptInvocation<'a> {
        invocation
            .key(&self.meta)
            .key(&self.data)
            .key(&self.writers)
            .key(&self.readers)
            .key(&self.room)
    }
}

fn bulk(value: Option<Value>) -> Vec<u8> {
    match value {
        Some(Value::BulkString(bytes)) => bytes,
        _ => Vec::new(),
    }
}

/// The data entries of an `XREAD` reply (RESP2) as `(id, bytes)`.
fn entries(reply: Value) -> Vec<(String, Vec<u8>)> {
    let Value::Array(mut streams) = reply else {
        return Vec::new();
    };
    let Some(Value::Array(mut stream)) = streams.pop() else {
        return Vec::new();
    };
    let Some(Value::Array(entries)) = stream.pop() else {
        return Vec::new();
    };
    entries
        .into_iter()
        .filter_map(|entry| {
            let Value::Array(mut entry) = entry else {
                return None;
            };
            let Value::Array(mut fields) = entry.pop()? else {
                return None;
            };
            let id = String::from_utf8(bulk(entry.pop())).ok()?;
            let data = bulk(fields.pop());
            (bulk(fields.pop()) == b"d").then_some((id, data))
        })
        .collect()
}

/// The first entry of an `XREAD` reply (RESP2) as `(id, value of its
/// first field)`.
fn first_entry(reply: Value) -> Option<(String, Vec<u8>)> {
    let Value::Array(mut streams) = reply else {
        return None;
    };
    let Value::Array(mut stream) = streams.pop()? else {
        return None;
    };
    let Value::Array(mut entries) = stream.pop()? else {
        return None;
    };
    if entries.is_empty() {
        return None;
    }
    let Value::Array(mut entry) = entries.swap_remove(0) else {
        return None;
    };
    let Value::Array(mut fields) = entry.pop()? else {
        return None;
    };
    let id = String::from_utf8(bulk(entry.pop())).ok()?;
    if bulk(Some(fields.swap_remove(0))) != b"d" {
        return None;
    }
    Some((id, bulk(fields.pop())))
}

fn wipe(url: &str, namespace: &str) {
    let Ok(client) = redis::Client::open(url) else {
        return;
    };
    let Ok(mut con) = client.get_connection() else {
        return;
    };
    let pattern = format!("{}:{}:*", namespace.len(), namespace);
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(pattern)
        .query(&mut con)
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(keys).query(&mut con);
    }
}

/// A server to measure against: `CHANIO_REDIS_URL`, or one started here.
fn server() -> Option<(String, Option<Server>)> {
    if let Ok(url) = std::env::var("CHANIO_REDIS_URL") {
        if !url.is_empty() {
            return Some((url, None));
        }
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let server = Server(child);
    let url = format!("redis://127.0.0.1:{port}/");
    let client = redis::Client::open(url.as_str()).ok()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(mut con) = client.get_connection_with_timeout(Duration::from_millis(200)) {
            if redis::cmd("PING").query::<String>(&mut con).is_ok() {
                return Some((url, Some(server)));
            }
        }
        thread::sleep(Duration::from_millis(20));
    }
    None
}

/// A server this program started; stopped when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
