//! Arbitrary bytes as a segment file: the scan must not panic, its items must be
//! contiguous and cover the file after the header, and every record it yields must
//! lie inside the file with a payload within the limit.
//!
//! The first byte picks the payload limit, so small and large limits are explored.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_store::format::scan::{scan_segment, ScanItem};
use switchboard_store::format::segment::SEGMENT_HEADER_LEN;

fuzz_target!(|data: &[u8]| {
    let [knob, file @ ..] = data else {
        return;
    };
    let max_payload = u32::from(*knob) * 16;
    let (_header, scan) = scan_segment(file, max_payload);
    let mut at = SEGMENT_HEADER_LEN.min(file.len());
    for item in scan {
        let (offset, len) = match item {
            ScanItem::Record { offset, len, record } => {
                assert!(record.payload.len() <= max_payload as usize, "payload over the limit");
                (offset, len)
            }
            ScanItem::Damaged { offset, len } | ScanItem::Tail { offset, len } => (offset, len),
        };
        assert_eq!(offset, at, "items are contiguous");
        assert!(len > 0 && offset + len <= file.len(), "item inside the file");
        at += len;
    }
    assert_eq!(at, file.len(), "the scan covers the file");
});
