//! `GET /v1/conversations/{id}/items`: a conversation's items paged from the store, on
//! the control API's thread (reads do file I/O, so never on a shard). Ended
//! conversations are there too until compaction drops them (`--retain`).

use switchboard_control_api::model::ItemPage;
use switchboard_control_api::ApiError;
use switchboard_service::records::decode_item;
use switchboard_store::Store;

use super::records::ITEM_KIND;

/// Up to `limit` stored items of `conv` with `seq > after_seq`, oldest first.
pub fn read_items(
    store: Option<&Store>,
    conv: u64,
    after_seq: u64,
    limit: usize,
) -> Result<ItemPage, ApiError> {
    let Some(store) = store else {
        return Err(ApiError::unavailable(
            "this node keeps no durable store (--durability off or cluster mode)",
        ));
    };
    let reader = store.reader();
    let mut page = ItemPage {
        items: Vec::with_capacity(limit.min(1024)),
        more: false,
    };
    let mut cursor = after_seq;
    let mut any = after_seq > 0;
    loop {
        // State records share the stream: ask for a few more than the page needs.
        let want = limit - page.items.len() + 8;
        let stored = reader
            .read_stream(conv, cursor, want)
            .map_err(|err| ApiError::internal(format!("reading the store: {err}")))?;
        any |= !stored.records.is_empty();
        for record in &stored.records {
            cursor = cursor.max(record.seq);
            if record.kind != ITEM_KIND {
                continue;
            }
            if page.items.len() == limit {
                page.more = true;
                return Ok(page);
            }
            let item = std::str::from_utf8(&record.payload)
                .ok()
                .and_then(|text| decode_item(text).ok());
            if let Some(item) = item {
                page.items.push(crate::control::views::item(item.view()));
            }
        }
        if !stored.more || stored.records.is_empty() {
            break;
        }
    }
    if !any {
        return Err(ApiError::not_found(format!("conversation {conv}")));
    }
    Ok(page)
}
