//! [`BroadcastReport`]: what a non-blocking broadcast did, for every
//! backend that broadcasts.

/// What [`ChannelBackend::try_broadcast`](crate::ChannelBackend::try_broadcast) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BroadcastReport {
    /// How many paths got the message.
    pub delivered: usize,
    /// The paths skipped because their queue was full, in name order.
    pub full: Vec<String>,
}
