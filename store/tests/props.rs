//! Property tests: random appends, then crashes simulated by cutting files at random
//! offsets and flipping random bytes; on reopen every durable, undamaged record comes
//! back exactly once and in order, nothing else comes back, and no LSN is reused.

mod common;

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::path::PathBuf;

use common::{open, record, segment_files, small_config, stored, Shard};
use proptest::prelude::*;
use switchboard_store::format::scan::{scan_records, scan_segment, ScanItem};
use switchboard_store::{NewRecord, Record};

#[derive(Debug, Clone)]
enum Crash {
    /// Cut file `file % files` at `fraction` of its length.
    Cut { file: usize, fraction: f64 },
    /// Flip bit `bit` of the byte at `fraction` of file `file % files`.
    Flip { file: usize, fraction: f64, bit: u8 },
}

fn crash() -> impl Strategy<Value = Crash> {
    prop_oneof![
        (any::<usize>(), 0.0..1.0f64).prop_map(|(file, fraction)| Crash::Cut { file, fraction }),
        (any::<usize>(), 0.0..1.0f64, 0..8u8).prop_map(|(file, fraction, bit)| Crash::Flip {
            file,
            fraction,
            bit
        }),
    ]
}

fn appends() -> impl Strategy<Value = Vec<Vec<NewRecord>>> {
    let one = (1..5u64, 0..300usize, any::<u64>())
        .prop_map(|(stream, len, seq)| record(stream, seq % 1000, len));
    prop::collection::vec(prop::collection::vec(one, 1..5), 1..30)
}

/// Where each record's frame lies: lsn → (file index, offset, len).
fn layout(files: &[PathBuf]) -> anyhow::Result<BTreeMap<u64, (usize, u64, u64)>> {
    let mut out = BTreeMap::new();
    for (i, file) in files.iter().enumerate() {
        let bytes = fs::read(file)?;
        for item in scan_segment(&bytes, 1 << 20).1 {
            if let ScanItem::Record {
                offset,
                len,
                record,
            } = item
            {
                out.insert(record.lsn, (i, offset as u64, len as u64));
            }
        }
    }
    Ok(out)
}

/// Applies the crashes; returns the LSNs whose frames they touched.
fn apply(
    crashes: &[Crash],
    files: &[PathBuf],
    layout: &BTreeMap<u64, (usize, u64, u64)>,
) -> anyhow::Result<Vec<u64>> {
    let mut damaged = Vec::new();
    for crash in crashes {
        let (file, fraction) = match *crash {
            Crash::Cut { file, fraction } | Crash::Flip { file, fraction, .. } => {
                (file % files.len(), fraction)
            }
        };
        let path = &files[file];
        let len = fs::metadata(path)?.len();
        let at = (len as f64 * fraction) as u64;
        let touches = |lsn_frame: &(usize, u64, u64)| -> bool {
            let (f, offset, frame_len) = *lsn_frame;
            f == file
                && match crash {
                    Crash::Cut { .. } => offset + frame_len > at,
                    Crash::Flip { .. } => (offset..offset + frame_len).contains(&at),
                }
        };
        damaged.extend(
            layout
                .iter()
                .filter(|(_, f)| touches(f))
                .map(|(lsn, _)| *lsn),
        );
        match *crash {
            Crash::Cut { .. } => OpenOptions::new().write(true).open(path)?.set_len(at)?,
            Crash::Flip { bit, .. } if at < len => {
                let mut bytes = fs::read(path)?;
                bytes[at as usize] ^= 1 << bit;
                fs::write(path, bytes)?;
            }
            Crash::Flip { .. } => {}
        }
    }
    Ok(damaged)
}

fn check(
    input: Vec<Vec<NewRecord>>,
    segment_bytes: u32,
    crashes: Vec<Crash>,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, _, _) = open(dir.path(), small_config(segment_bytes))?;
    let shard = Shard::new(&store);
    let ranges = shard.append_all(input.clone())?;
    let durable = stored(&input, &ranges);
    drop((shard, store));

    let files = segment_files(dir.path())?;
    let frames = layout(&files)?;
    let damaged = apply(&crashes, &files, &frames)?;

    let (store, _, recovered) = open(dir.path(), small_config(segment_bytes))?;
    anyhow::ensure!(
        recovered.windows(2).all(|w| w[0].lsn < w[1].lsn),
        "not in strict LSN order"
    );
    let by_lsn: BTreeMap<u64, &Record> = durable.iter().map(|r| (r.lsn, r)).collect();
    for record in &recovered {
        anyhow::ensure!(
            by_lsn.get(&record.lsn) == Some(&record),
            "recovered a record never written: {}",
            record.lsn
        );
    }
    let recovered_lsns: Vec<u64> = recovered.iter().map(|r| r.lsn).collect();
    for record in &durable {
        if !damaged.contains(&record.lsn) {
            anyhow::ensure!(
                recovered_lsns.binary_search(&record.lsn).is_ok(),
                "lost undamaged record {}",
                record.lsn
            );
        }
    }
    let highest = durable.last().map_or(0, |r| r.lsn);
    let shard = Shard::new(&store);
    let next = shard.append_all(vec![vec![record(1, 1, 10)]])?;
    anyhow::ensure!(
        next[0].first > highest,
        "lsn {} reused (highest was {highest})",
        next[0].first
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn durable_undamaged_records_survive_any_crash(
        input in appends(),
        segment_bytes in prop_oneof![Just(256u32), Just(1024), Just(8192)],
        crashes in prop::collection::vec(crash(), 0..4),
    ) {
        check(input, segment_bytes, crashes).map_err(|e| TestCaseError::fail(format!("{e:#}")))?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_scan_into_contiguous_items_without_panicking(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        start in 0..64usize,
    ) {
        let mut at = start.min(bytes.len());
        for item in scan_records(&bytes, start, 256) {
            let (offset, len) = match item {
                ScanItem::Record { offset, len, .. } | ScanItem::Damaged { offset, len } | ScanItem::Tail { offset, len } => (offset, len),
            };
            prop_assert_eq!(offset, at);
            prop_assert!(len > 0);
            at += len;
        }
        prop_assert_eq!(at, bytes.len().max(start.min(bytes.len())));
    }
}
