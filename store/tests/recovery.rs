//! Recovery on real files: clean reopen, torn tails, corrupted records and headers,
//! the directory lock, and LSNs that are never handed out twice.

mod common;

use std::fs::{self, OpenOptions};
use std::path::Path;

use common::{batches, open, segment_files, small_config, stored, Shard};
use switchboard_store::format::scan::{scan_segment, ScanItem};
use switchboard_store::{DamageCause, OpenError, Record};

/// (offset, len, lsn) of every record frame in a segment file.
fn frames(path: &Path) -> anyhow::Result<Vec<(u64, u64, u64)>> {
    let bytes = fs::read(path)?;
    Ok(scan_segment(&bytes, 1 << 20)
        .1
        .filter_map(|item| match item {
            ScanItem::Record {
                offset,
                len,
                record,
            } => Some((offset as u64, len as u64, record.lsn)),
            _ => None,
        })
        .collect())
}

fn flip_byte(path: &Path, offset: u64) -> anyhow::Result<()> {
    let mut bytes = fs::read(path)?;
    bytes[offset as usize] ^= 0x5a;
    fs::write(path, bytes)?;
    Ok(())
}

/// Writes `count` batches of 3 records over 5 streams and closes the store.
fn write_log(dir: &Path, segment_bytes: u32, count: usize) -> anyhow::Result<Vec<Record>> {
    let (store, report, _) = open(dir, small_config(segment_bytes))?;
    assert_eq!(report.records, 0);
    let shard = Shard::new(&store);
    let input = batches(count, 3, 5, 60);
    let ranges = shard.append_all(input.clone())?;
    Ok(stored(&input, &ranges))
}

#[test]
fn a_clean_reopen_returns_every_record_in_order() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("a/b/data");
    let written = write_log(&data, 4096, 200)?;
    assert!(segment_files(&data)?.len() > 5, "small segments roll");
    let (_store, report, recovered) = open(&data, small_config(4096))?;
    assert_eq!(recovered, written);
    assert_eq!(report.records, written.len() as u64);
    assert_eq!(report.torn_tail, None);
    assert!(report.corruptions.is_empty(), "{:?}", report.corruptions);
    assert!(report.next_lsn > written.last().map_or(0, |r| r.lsn));
    Ok(())
}

#[test]
fn a_torn_tail_is_cut_and_reported_and_appends_go_on_without_reusing_lsns() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let written = write_log(dir.path(), 1 << 20, 20)?;
    let last = segment_files(dir.path())?.pop().expect("a segment");
    let (offset, len, lsn) = *frames(&last)?.last().expect("a record");
    let cut = offset + len / 2;
    OpenOptions::new().write(true).open(&last)?.set_len(cut)?;

    let (store, report, recovered) = open(dir.path(), small_config(1 << 20))?;
    assert_eq!(recovered, written[..written.len() - 1]);
    let torn = report.torn_tail.expect("torn tail reported");
    assert_eq!(
        (torn.file.as_path(), torn.offset, torn.discarded_bytes),
        (last.as_path(), offset, cut - offset)
    );
    assert_eq!(
        fs::metadata(&last)?.len(),
        offset,
        "the partial record is cut off"
    );

    let shard = Shard::new(&store);
    let more = batches(2, 2, 5, 60);
    let ranges = shard.append_all(more)?;
    assert!(
        ranges[0].first > lsn,
        "lsn {lsn} of the lost record is not reused"
    );
    drop((shard, store));
    let (_store, report, again) = open(dir.path(), small_config(1 << 20))?;
    assert_eq!(report.torn_tail, None);
    assert_eq!(again.len(), written.len() - 1 + 4);
    Ok(())
}

#[test]
fn a_corrupted_record_is_located_skipped_and_the_rest_recovered() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let written = write_log(dir.path(), 4096, 100)?;
    let files = segment_files(dir.path())?;
    let victim = &files[1];
    let frames = frames(victim)?;
    let (offset, len, lsn) = frames[2];
    flip_byte(victim, offset + len - 3)?;

    let (store, report, recovered) = open(dir.path(), small_config(4096))?;
    let expected: Vec<Record> = written.iter().filter(|r| r.lsn != lsn).cloned().collect();
    assert_eq!(
        recovered, expected,
        "every record but the damaged one, in order"
    );
    assert_eq!(report.corruptions.len(), 1, "{:?}", report.corruptions);
    let damage = &report.corruptions[0];
    assert_eq!(
        (damage.file.as_path(), damage.offset, damage.len),
        (victim.as_path(), offset, len)
    );
    assert_eq!(damage.cause, DamageCause::Record);
    assert_eq!(report.torn_tail, None);

    // Never served by the reads either.
    let page = store.reader().read_from(0, 10_000)?;
    assert_eq!(page.records, expected);
    assert_eq!(page.damaged.len(), 1);
    let stream = written
        .iter()
        .find(|r| r.lsn == lsn)
        .map(|r| r.stream)
        .unwrap_or_default();
    let history = store.reader().read_stream(stream, 0, 10_000)?;
    assert!(history.records.iter().all(|r| r.lsn != lsn));
    Ok(())
}

#[test]
fn a_damaged_segment_header_loses_no_record() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let written = write_log(dir.path(), 4096, 60)?;
    let files = segment_files(dir.path())?;
    flip_byte(&files[0], 3)?;
    let (_store, report, recovered) = open(dir.path(), small_config(4096))?;
    assert_eq!(recovered, written);
    assert_eq!(report.corruptions.len(), 1);
    assert_eq!(report.corruptions[0].cause, DamageCause::Header);
    assert_eq!(report.corruptions[0].offset, 0);
    Ok(())
}

#[test]
fn a_sealed_segment_cut_short_loses_only_its_tail() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let written = write_log(dir.path(), 4096, 100)?;
    let files = segment_files(dir.path())?;
    let frames = frames(&files[0])?;
    let (offset, _, lsn) = frames[frames.len() - 2];
    OpenOptions::new()
        .write(true)
        .open(&files[0])?
        .set_len(offset + 5)?;
    let (_store, report, recovered) = open(dir.path(), small_config(4096))?;
    let lost_last = frames.last().map_or(0, |f| f.2);
    let expected: Vec<Record> = written
        .iter()
        .filter(|r| r.lsn != lsn && r.lsn != lost_last)
        .cloned()
        .collect();
    assert_eq!(recovered, expected);
    assert_eq!(
        report.torn_tail, None,
        "only the last segment has a torn tail"
    );
    assert_eq!(report.corruptions[0].cause, DamageCause::Truncated);
    Ok(())
}

#[test]
fn a_second_open_of_the_directory_is_refused_clearly() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (_store, _, _) = open(dir.path(), small_config(4096))?;
    let error = open(dir.path(), small_config(4096)).expect_err("second open fails");
    let error = error.downcast::<OpenError>()?;
    assert!(matches!(error, OpenError::Locked { .. }));
    assert!(error.to_string().contains("in use"), "{error}");
    Ok(())
}

#[test]
fn a_lost_tail_of_durable_records_does_not_let_their_lsns_be_reused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let written = write_log(dir.path(), 1 << 20, 30)?;
    let highest = written.last().map_or(0, |r| r.lsn);
    let last = segment_files(dir.path())?.pop().expect("a segment");
    let keep = frames(&last)?[10].0;
    OpenOptions::new().write(true).open(&last)?.set_len(keep)?;
    let (store, report, recovered) = open(dir.path(), small_config(1 << 20))?;
    assert_eq!(recovered.len(), 10);
    assert!(
        report.next_lsn > highest,
        "next {} must pass {highest}",
        report.next_lsn
    );
    let shard = Shard::new(&store);
    let ranges = shard.append_all(batches(1, 1, 1, 10))?;
    assert!(ranges[0].first > highest);
    Ok(())
}

#[test]
fn a_segment_from_a_future_format_is_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    write_log(dir.path(), 4096, 5)?;
    let first = segment_files(dir.path())?.remove(0);
    let mut bytes = fs::read(&first)?;
    bytes[8] = 2;
    let crc = crc32c_of(&bytes[..28]);
    bytes[28..32].copy_from_slice(&crc.to_le_bytes());
    fs::write(&first, bytes)?;
    let error = open(dir.path(), small_config(4096)).expect_err("refused");
    let error = error.downcast::<OpenError>()?;
    assert!(
        matches!(error, OpenError::UnsupportedVersion { version: 2, .. }),
        "{error}"
    );
    Ok(())
}

/// CRC32C (Castagnoli), bit by bit: the test's own, independent of the crate's.
fn crc32c_of(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
