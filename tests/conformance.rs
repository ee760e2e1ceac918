//! The conformance suite: one set of behaviour tests written against
//! `&dyn Backend`, run for every backend.
//!
//! Each test runs as `channel::NAME` always, and as `redis::NAME` when the
//! cargo feature `redis` is on and `CHANIO_REDIS_URL` names a server (for
//! example `redis://127.0.0.1:6379/`); otherwise the redis variants print
//! that they were skipped and pass. Every redis test works in a namespace
//! of its own and removes its keys afterwards.
//!
//! ```text
//! cargo test --test conformance                                   # channel only
//! CHANIO_REDIS_URL=redis://127.0.0.1:6379/ cargo test --features redis --test conformance
//! ```
mod common;

#[path = "conformance/broadcast.rs"]
mod broadcast;
#[path = "conformance/harness.rs"]
mod harness;
#[path = "conformance/lifecycle.rs"]
mod lifecycle;
#[path = "conformance/persistent.rs"]
mod persistent;
#[path = "conformance/queue.rs"]
mod queue;
#[path = "conformance/reading.rs"]
mod reading;
#[path = "conformance/registry.rs"]
mod registry;

/// Declares each test once per backend: `channel::NAME` and `redis::NAME`.
macro_rules! conformance {
    ($($module:ident :: $name:ident),* $(,)?) => {
        mod channel {
            $(
                #[test]
                fn $name() {
                    $crate::harness::run($crate::harness::Kind::Channel, stringify!($name), $crate::$module::$name);
                }
            )*
        }
        mod redis {
            $(
                #[test]
                fn $name() {
                    $crate::harness::run($crate::harness::Kind::Redis, stringify!($name), $crate::$module::$name);
                }
            )*
        }
    };
}

conformance! {
    reading::each_write_is_one_message_and_an_empty_write_sends_nothing,
    reading::write_vectored_sends_one_message,
    reading::a_message_longer_than_the_buffer_comes_over_several_reads,
    reading::two_messages_are_never_joined_in_one_read,
    reading::bytes_of_every_value_arrive_unchanged,
    lifecycle::a_reader_opened_before_any_writer_waits_for_one,
    lifecycle::the_stream_ends_when_its_last_writer_closes_not_its_first,
    lifecycle::a_dropped_writer_counts_as_closed,
    lifecycle::new_writer_on_an_ended_stream_is_stream_ended_until_the_path_is_deleted,
    lifecycle::delete_wakes_a_blocked_writer_with_broken_pipe,
    lifecycle::delete_wakes_a_blocked_reader_with_end_of_stream,
    lifecycle::a_reader_drains_what_was_queued_after_delete_then_sees_the_end,
    lifecycle::writing_after_delete_is_broken_pipe,
    lifecycle::close_wakes_blocked_calls_and_refuses_new_work,
    lifecycle::closing_twice_is_ok,
    lifecycle::list_is_sorted_filtered_by_a_literal_prefix_and_follows_deletes,
    lifecycle::exists_follows_creation_and_delete,
    lifecycle::an_empty_path_is_invalid_everywhere,
    lifecycle::a_writer_dropped_while_panicking_poisons_the_stream_even_after_delete,
    queue::every_message_reaches_exactly_one_of_competing_readers_in_writer_order,
    queue::a_full_queue_blocks_the_writer_until_a_reader_takes_a_message,
    queue::messages_queued_before_any_reader_wait_for_one,
    persistent::a_late_reader_replays_every_message_once_in_order,
    persistent::every_reader_reads_everything_and_writes_never_block,
    persistent::a_reader_opened_before_the_writes_sees_them_live_then_the_end,
    broadcast::broadcast_reaches_every_matching_open_path_once,
    broadcast::broadcast_waits_for_room_instead_of_dropping,
    broadcast::try_broadcast_never_blocks_and_names_the_full_paths,
    broadcast::broadcast_delivers_to_paths_with_room_before_waiting_on_full_ones,
    broadcast::broadcast_wakes_when_its_full_path_is_deleted_and_skips_it,
    broadcast::broadcast_to_persistent_paths_appends,
    registry::features_are_the_same_for_both_backends,
    registry::config_errors_name_the_key_and_what_is_accepted,
}
