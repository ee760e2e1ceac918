//! Event fan-out: subscribers by path prefix, one broadcast reaches them all.
//!
//! Three subscriber threads each read their own path under `subscriber/`;
//! one slow subscriber shows that broadcast waits for room instead of
//! dropping events. A path outside the prefix gets nothing.
//!
//! Run with `cargo run --example fanout`.

use std::thread;
use std::time::Duration;

use chanio::ChannelBackend;

const EVENTS: usize = 1_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A small buffer, so that the slow subscriber really pushes back.
    let backend = ChannelBackend::builder().buffer_size(8).build();

    let mut subscribers = Vec::new();
    for i in 0..3 {
        let mut reader = backend.new_reader(&format!("subscriber/{i}"))?;
        subscribers.push(thread::spawn(move || -> chanio::Result<(usize, u64)> {
            let (mut count, mut sum) = (0, 0u64);
            for event in reader.messages() {
                let event = event?;
                let n: u64 = std::str::from_utf8(&event)
                    .ok()
                    .and_then(|text| text.strip_prefix("event "))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(u64::MAX);
                assert_eq!(n, count as u64, "events arrive in order, none lost");
                if i == 2 && count % 100 == 0 {
                    thread::sleep(Duration::from_millis(5)); // a slow subscriber
                }
                count += 1;
                sum += n;
            }
            Ok((count, sum))
        }));
    }
    let mut audit = backend.new_reader("audit")?;

    // The broadcaster handle looks the subscribers up once.
    let mut events = backend.broadcaster("subscriber/");
    let mut delivered = 0;
    for n in 0..EVENTS {
        delivered += events.send(format!("event {n}").as_bytes())?;
    }
    println!("broadcast {EVENTS} events to subscriber/*: {delivered} deliveries");

    // Deleting the paths ends each subscriber's stream once it has read
    // everything queued for it.
    for path in backend.list("subscriber/")? {
        backend.delete(&path)?;
    }
    let expected_sum = (EVENTS as u64 - 1) * EVENTS as u64 / 2;
    for (i, subscriber) in subscribers.into_iter().enumerate() {
        let (count, sum) = subscriber.join().map_err(|_| "subscriber panicked")??;
        println!("subscriber/{i} received {count} events in order (sum {sum})");
        if count != EVENTS || sum != expected_sum {
            return Err(format!("subscriber/{i} lost events").into());
        }
    }
    audit.set_read_timeout(Some(Duration::from_millis(10)));
    match audit.recv() {
        Err(err) if err.is_timeout() => println!("audit (outside the prefix) received nothing"),
        other => return Err(format!("audit should have received nothing: {other:?}").into()),
    }
    Ok(())
}
