//! The engine's side of the channel layer: the hub calls these from its own threads.

use crate::event::{DeliveryReport, VisitorEvent};

/// The engine's queue was full; the hub answers the platform so that it retries later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the engine is busy")]
pub struct SinkBusy;

/// What the engine implements so the hub can hand it visitor events and delivery
/// reports. Both are called on hub threads (the HTTP threads and the outbound
/// workers), never on a shard; an implementation pushes a typed command into a
/// shard's bounded queue and returns at once.
pub trait ConversationSink: Send + Sync {
    /// A visitor did something. `Err(SinkBusy)` makes the hub forget the message's
    /// dedupe key and answer the platform with a retryable error, so nothing is lost.
    fn visitor_event(&self, event: VisitorEvent) -> Result<(), SinkBusy>;

    /// A line given to [`crate::ChannelHub::send_outbound`] was delivered or failed.
    /// Reports of one conversation come in `seq` order.
    fn delivery_report(&self, report: DeliveryReport);
}
