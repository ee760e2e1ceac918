//! Starting a case's threads together and timing them until all are done.

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

/// A job for a thread of its own, boxed so that a case can mix closures.
pub type Job<T> = Box<dyn FnOnce() -> T + Send>;

/// Boxes `f` as a [`Job`].
pub fn job<T>(f: impl FnOnce() -> T + Send + 'static) -> Job<T> {
    Box::new(f)
}

/// A thread with a name, so that profiles tell producers from consumers.
pub fn named_thread<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> thread::JoinHandle<T> {
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .expect("spawn a bench thread")
}

/// Runs `produce` on a new thread and `consume` on this one, timing from the
/// moment both are ready until both have finished.
pub fn timed_pair<T>(
    produce: impl FnOnce() + Send + 'static,
    consume: impl FnOnce() -> T,
) -> (Duration, T) {
    let ready = Arc::new(Barrier::new(2));
    let producer_ready = Arc::clone(&ready);
    let producer = named_thread("producer", move || {
        producer_ready.wait();
        produce();
    });
    ready.wait();
    let start = Instant::now();
    let result = consume();
    producer.join().expect("the producer thread panicked");
    (start.elapsed(), result)
}

/// Runs every producer and every consumer on threads of their own, timing
/// from the moment all are ready until all have finished; returns what the
/// consumers returned, in order. "Producers" are the threads whose result
/// is not needed: writers, and the middle stages of a pipeline.
pub fn timed_threads<T: Send + 'static>(
    producers: Vec<Job<()>>,
    consumers: Vec<Job<T>>,
) -> (Duration, Vec<T>) {
    let ready = Arc::new(Barrier::new(producers.len() + consumers.len() + 1));
    let producers: Vec<_> = producers
        .into_iter()
        .map(|produce| {
            let ready = Arc::clone(&ready);
            named_thread("producer", move || {
                ready.wait();
                produce();
            })
        })
        .collect();
    let consumers: Vec<_> = consumers
        .into_iter()
        .map(|consume| {
            let ready = Arc::clone(&ready);
            named_thread("consumer", move || {
                ready.wait();
                consume()
            })
        })
        .collect();
    ready.wait();
    let start = Instant::now();
    let results = consumers
        .into_iter()
        .map(|h| h.join().expect("a consumer thread panicked"))
        .collect();
    for producer in producers {
        producer.join().expect("a producer thread panicked");
    }
    (start.elapsed(), results)
}

/// [`timed_threads`] with one producer: a fan-out.
pub fn timed_fanout<T: Send + 'static>(
    produce: impl FnOnce() + Send + 'static,
    consumers: Vec<Job<T>>,
) -> (Duration, Vec<T>) {
    timed_threads(vec![job(produce)], consumers)
}
