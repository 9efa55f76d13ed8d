//! An opaque handle to whoever waits for the answer to a control-plane command.
//!
//! Some administrative commands need two owners (the router decides, the conversation's
//! home carries it out), so the answer must travel with the command. The service only
//! carries the handle; the engine, which made it, takes its own type back out.

use std::any::Any;

/// Where an answer goes; made and opened by the engine.
pub struct ReplyHandle(Box<dyn Any + Send>);

impl ReplyHandle {
    /// Wraps the engine's own reply channel.
    pub fn new<T: Send + 'static>(inner: T) -> Self {
        ReplyHandle(Box::new(inner))
    }

    /// The reply channel, if it is a `T`.
    pub fn downcast<T: 'static>(self) -> Option<T> {
        self.0.downcast::<T>().ok().map(|b| *b)
    }

    /// A reference to the reply channel, if it is a `T`.
    pub fn get<T: 'static>(&self) -> Option<&T> {
        self.0.downcast_ref::<T>()
    }
}

impl std::fmt::Debug for ReplyHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReplyHandle")
    }
}
