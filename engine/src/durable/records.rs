//! A conversation's write as store records: one record per new item (`seq` = the
//! item's seq, payload = the item's versioned JSON, see `switchboard_service::records`)
//! and, when the state changed beyond a chat line, one state record (`seq` = the last
//! item's seq, so a stream's seqs never decrease and its reads stay binary searches).

use switchboard_service::records::PersistRecord;
use switchboard_store::NewRecord;

/// Record kind of an item.
pub const ITEM_KIND: u8 = 1;
/// Record kind of a conversation's state (the store's compaction keeps the newest).
pub const STATE_KIND: u8 = 2;

/// The records of one write, in the order they are appended: the state first (it
/// names the conversation's phase as of this write), then the items oldest first.
pub fn to_store_records(record: PersistRecord) -> Vec<NewRecord> {
    let mut out = Vec::with_capacity(record.items.len() + 1);
    let stream = record.conv;
    if !record.state.is_empty() {
        out.push(NewRecord {
            stream,
            seq: record.first_seq.saturating_sub(1),
            kind: STATE_KIND,
            payload: record.state.into_bytes(),
        });
    }
    for (seq, (_, json)) in (record.first_seq..).zip(record.items) {
        out.push(NewRecord {
            stream,
            seq,
            kind: ITEM_KIND,
            payload: json.into_bytes(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(state: &str, items: usize) -> PersistRecord {
        PersistRecord {
            conv: 9,
            fence: 1,
            create: false,
            state: state.into(),
            first_seq: 4,
            next_seq: 4 + items as u64,
            expire_ms: 0,
            items: (0..items)
                .map(|i| ("message", format!("{{\"i\":{i}}}")))
                .collect(),
        }
    }

    #[test]
    fn a_line_is_one_item_record_with_its_seq() {
        let records = to_store_records(record("", 1));
        assert_eq!(records.len(), 1);
        assert_eq!(
            (records[0].stream, records[0].seq, records[0].kind),
            (9, 4, ITEM_KIND)
        );
        assert_eq!(records[0].payload, b"{\"i\":0}");
    }

    #[test]
    fn a_state_change_comes_first_and_seqs_never_decrease() {
        let records = to_store_records(record("{\"v\":1}", 2));
        let kinds: Vec<u8> = records.iter().map(|r| r.kind).collect();
        assert_eq!(kinds, [STATE_KIND, ITEM_KIND, ITEM_KIND]);
        let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [3, 4, 5]);
    }
}
