//! Arbitrary bytes as the segment files of a data directory: opening it must not
//! panic, and whatever recovery hands back must be in strictly increasing LSN order.
//!
//! The input is cut into up to four segment files named after consecutive LSN
//! ranges: each piece is a little-endian u16 length, then that many bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_store::{Store, StoreConfig};

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let mut rest = data;
    let mut pieces = Vec::new();
    while let [lo, hi, tail @ ..] = rest {
        let len = usize::from(u16::from_le_bytes([*lo, *hi])).min(tail.len());
        pieces.push(&tail[..len]);
        rest = &tail[len..];
        if pieces.len() == 4 {
            break;
        }
    }
    for (i, piece) in pieces.into_iter().enumerate() {
        let name = format!("{:016x}.seg", 1 + (i as u64) * 1000);
        if std::fs::write(dir.path().join(name), piece).is_err() {
            return;
        }
    }
    let mut last = 0;
    let config = StoreConfig {
        max_payload_bytes: 4096,
        ..StoreConfig::default()
    };
    if let Ok((store, report)) = Store::open(dir.path(), config, |record| {
        assert!(record.lsn > last, "lsn order");
        last = record.lsn;
    }) {
        assert!(report.next_lsn > last);
        drop(store);
    }
});
