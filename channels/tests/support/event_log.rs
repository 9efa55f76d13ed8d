//! The engine's durable event log, in memory: what the dispatcher reads back.

use std::sync::Mutex;

use switchboard_channels::webhook::{ConversationEvent, EventKind, EventSource};

/// Events with ids 1, 2, 3, ... in append order.
#[derive(Default)]
pub struct EventLog {
    events: Mutex<Vec<ConversationEvent>>,
}

impl EventLog {
    /// Appends an event whose data is its position.
    pub fn append(&self, conv: u64, kind: EventKind) -> ConversationEvent {
        let n = self.events.lock().unwrap().len();
        self.append_with(conv, kind, serde_json::json!({ "n": n }))
    }

    /// Appends an event with this data.
    pub fn append_with(
        &self,
        conv: u64,
        kind: EventKind,
        data: serde_json::Value,
    ) -> ConversationEvent {
        let mut events = self.events.lock().unwrap();
        let event = ConversationEvent {
            id: events.len() as u64 + 1,
            conv,
            kind,
            at_ms: 1_700_000_000_000 + events.len() as u64,
            data,
        };
        events.push(event.clone());
        event
    }
}

impl EventSource for EventLog {
    fn events_after(&self, after: u64, limit: usize) -> Vec<ConversationEvent> {
        let events = self.events.lock().unwrap();
        events
            .iter()
            .filter(|e| e.id > after)
            .take(limit)
            .cloned()
            .collect()
    }

    fn last_event_id(&self) -> u64 {
        self.events.lock().unwrap().len() as u64
    }
}
