//! `GET /v1/events`: the event feed of a single node, read from the local store.
//!
//! An event is an item record (kind 1) with the fields cluster mode writes to
//! `sb:events`: `conv`, `kind` and `item` (the same v1 item JSON). Its cursor is the
//! record's LSN + 1: LSNs are global, strictly increasing, never reused (not even
//! after a crash lost a tail) and kept by compaction, so a cursor stays valid across
//! restarts, and an archiver that resumes from its last cursor neither misses nor
//! repeats an event. Only durable records are read. When nothing is new the call
//! waits (on the control API's connection thread, never a shard) until the store's
//! durable watermark moves or the wait ends.

use std::time::{Duration, Instant};

use switchboard_control_api::model::{EventPage, EventQuery, FeedEvent};
use switchboard_control_api::ApiError;
use switchboard_service::records::decode_item;
use switchboard_store::{Record, StoreReader};

use super::records::ITEM_KIND;

/// How often a waiting call looks at the durable watermark (an atomic load).
const POLL: Duration = Duration::from_millis(5);

/// The bounds of a feed request (flags).
#[derive(Debug, Clone, Copy)]
pub struct FeedLimits {
    /// Largest `limit`.
    pub max_limit: usize,
    /// Longest `wait_ms`.
    pub max_wait_ms: u64,
}

/// Answers one feed request; `stop` ends a wait early (the node shuts down).
pub fn read_events(
    reader: &StoreReader,
    query: &EventQuery,
    limits: FeedLimits,
    stop: &dyn Fn() -> bool,
) -> Result<EventPage, ApiError> {
    if query.limit == 0 || query.limit > limits.max_limit {
        return Err(ApiError::invalid(format!(
            "limit must be an integer in 1..={} (--events-max-limit)",
            limits.max_limit
        )));
    }
    if query.wait_ms > limits.max_wait_ms {
        return Err(ApiError::invalid(format!(
            "wait_ms must be at most {} (--events-max-wait-ms)",
            limits.max_wait_ms
        )));
    }
    let deadline = Instant::now() + Duration::from_millis(query.wait_ms);
    let mut from = query.after;
    loop {
        let events = fill(reader, &mut from, query.limit)?;
        if !events.is_empty() || Instant::now() >= deadline || stop() {
            return Ok(EventPage {
                events,
                next_cursor: from.to_string(),
            });
        }
        while reader.durable_lsn() < from && Instant::now() < deadline && !stop() {
            std::thread::sleep(POLL.min(deadline.saturating_duration_since(Instant::now())));
        }
    }
}

/// Up to `limit` events from `*from` on, moving `*from` past what was read. State
/// records share the log, so it reads on until the page is full or nothing is left.
fn fill(reader: &StoreReader, from: &mut u64, limit: usize) -> Result<Vec<FeedEvent>, ApiError> {
    let mut events = Vec::new();
    while events.len() < limit {
        let page = reader
            .read_from(*from, limit - events.len())
            .map_err(|err| ApiError::internal(format!("reading the store: {err}")))?;
        for damage in &page.damaged {
            tracing::warn!(
                ?damage,
                "event feed: a damaged span was skipped (never served)"
            );
        }
        events.extend(page.records.iter().filter_map(event));
        let moved = page.next_lsn > *from;
        *from = (*from).max(page.next_lsn);
        if page.records.is_empty() || !moved {
            break;
        }
    }
    Ok(events)
}

/// The event of an item record; `None` for a state record or one that is unreadable.
fn event(record: &Record) -> Option<FeedEvent> {
    if record.kind != ITEM_KIND {
        return None;
    }
    let text = std::str::from_utf8(&record.payload).ok()?;
    let kind = decode_item(text).ok()?.kind();
    let item = serde_json::from_str(text).ok()?;
    Some(FeedEvent {
        cursor: (record.lsn + 1).to_string(),
        conv: record.stream,
        kind: kind.to_owned(),
        item,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use switchboard_store::{NewRecord, Store, StoreConfig};

    fn item(seq: u64) -> Vec<u8> {
        format!(
            r#"{{"v":1,"seq":{seq},"ts":{seq},"kind":"message","from":"v","client_msg_id":"m{seq}","body":"b"}}"#
        )
        .into_bytes()
    }

    #[test]
    fn pages_resume_from_their_cursor_and_skip_state_records() {
        let dir = std::env::temp_dir().join(format!("sb-feed-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (store, _) = Store::open(&dir, StoreConfig::default(), |_| {}).expect("open");
        let appender = store.appender(Arc::new(|| {}));
        let mut records = vec![NewRecord {
            stream: 7,
            seq: 0,
            kind: super::super::records::STATE_KIND,
            payload: b"{}".to_vec(),
        }];
        records.extend((1..=3).map(|seq| NewRecord {
            stream: 7,
            seq,
            kind: ITEM_KIND,
            payload: item(seq),
        }));
        appender.submit(records, 1).expect("submit");
        while appender.next_completion().is_none() {
            std::thread::yield_now();
        }
        let reader = store.reader();
        let limits = FeedLimits {
            max_limit: 10,
            max_wait_ms: 1_000,
        };
        let never = || false;
        let mut query = EventQuery {
            after: 0,
            limit: 3,
            wait_ms: 0,
        };
        let first = read_events(&reader, &query, limits, &never).expect("first");
        let seqs = |page: &EventPage| -> Vec<u64> {
            page.events
                .iter()
                .map(|e| e.item["seq"].as_u64().expect("seq"))
                .collect()
        };
        assert_eq!(seqs(&first), [1, 2, 3], "the state record is no event");
        assert_eq!(first.events[0].kind, "message");
        query.after = first.events[0].cursor.parse().expect("cursor");
        query.limit = 1;
        let again = read_events(&reader, &query, limits, &never).expect("again");
        assert_eq!(seqs(&again), [2], "resumes right after the event");
        query.after = again.next_cursor.parse().expect("cursor");
        query.wait_ms = 50;
        let rest = read_events(&reader, &query, limits, &never).expect("rest");
        assert_eq!(seqs(&rest), [3]);
        assert_eq!(rest.next_cursor, first.next_cursor);
        query.after = rest.next_cursor.parse().expect("cursor");
        let started = Instant::now();
        let empty = read_events(&reader, &query, limits, &never).expect("empty");
        assert!(empty.events.is_empty());
        assert!(started.elapsed() >= Duration::from_millis(50), "it waited");
        assert_eq!(empty.next_cursor, rest.next_cursor);
        query.limit = 11;
        assert!(read_events(&reader, &query, limits, &never).is_err());
        drop((appender, reader, store));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
