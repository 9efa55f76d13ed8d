//! Reads off the hot path: a stream's history page by page, the log from a cursor
//! across restarts, and readers running beside the writer.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{batches, open, record, small_config, stored, Shard};
use switchboard_store::{Record, StoreReader};

fn page_through_stream(
    reader: &StoreReader,
    stream: u64,
    limit: usize,
) -> anyhow::Result<Vec<Record>> {
    let mut out: Vec<Record> = Vec::new();
    loop {
        let after = out.last().map_or(0, |r| r.seq);
        let page = reader.read_stream(stream, after, limit)?;
        anyhow::ensure!(page.damaged.is_empty(), "{:?}", page.damaged);
        out.extend(page.records);
        if !page.more {
            return Ok(out);
        }
    }
}

#[test]
fn a_stream_pages_through_its_history_in_order() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, _, _) = open(dir.path(), small_config(4096))?;
    let shard = Shard::new(&store);
    let input = batches(150, 2, 5, 50);
    let all = stored(&input, &shard.append_all(input.clone())?);
    let reader = store.reader();
    for stream in 1..=5 {
        let expected: Vec<Record> = all.iter().filter(|r| r.stream == stream).cloned().collect();
        assert_eq!(
            page_through_stream(&reader, stream, 7)?,
            expected,
            "stream {stream}"
        );
    }
    let page = reader.read_stream(3, 10, 5)?;
    assert_eq!(
        page.records.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![11, 12, 13, 14, 15]
    );
    assert!(page.more);
    assert!(
        reader.read_stream(99, 0, 10)?.records.is_empty(),
        "unknown stream"
    );

    // Streams that are no longer in the engine's memory are read after a restart
    // (the directory stays locked while any reader of the old store lives).
    drop((shard, store, reader));
    let (store, _, _) = open(dir.path(), small_config(4096))?;
    let expected: Vec<Record> = all.iter().filter(|r| r.stream == 2).cloned().collect();
    assert_eq!(page_through_stream(&store.reader(), 2, 9)?, expected);
    Ok(())
}

#[test]
fn a_stream_whose_seqs_go_back_is_still_filtered_by_seq() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, _, _) = open(dir.path(), small_config(4096))?;
    let shard = Shard::new(&store);
    let seqs = [5, 0, 6, 2, 7];
    let input: Vec<_> = seqs.iter().map(|&s| vec![record(1, s, 10)]).collect();
    shard.append_all(input)?;
    let page = store.reader().read_stream(1, 4, 10)?;
    assert_eq!(
        page.records.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![5, 6, 7]
    );
    Ok(())
}

#[test]
fn the_log_reads_from_a_cursor_without_missing_or_repeating_across_restarts() -> anyhow::Result<()>
{
    let dir = tempfile::tempdir()?;
    let (store, _, _) = open(dir.path(), small_config(4096))?;
    let shard = Shard::new(&store);
    let first = batches(100, 3, 4, 40);
    let mut all = stored(&first, &shard.append_all(first.clone())?);
    let mut seen = Vec::new();
    let mut cursor = 0;
    loop {
        let page = store.reader().read_from(cursor, 13)?;
        assert!(page.next_lsn > cursor || page.records.is_empty());
        let done = page.records.is_empty();
        seen.extend(page.records);
        cursor = page.next_lsn;
        if done {
            break;
        }
    }
    assert_eq!(seen, all);
    assert_eq!(cursor, store.durable_lsn() + 1);

    // The archiver persists `cursor`; the engine restarts and writes more.
    drop((shard, store));
    let (store, _, _) = open(dir.path(), small_config(4096))?;
    let shard = Shard::new(&store);
    let second = batches(20, 2, 4, 40);
    let more = stored(&second, &shard.append_all(second.clone())?);
    all.extend(more.iter().cloned());
    let page = store.reader().read_from(cursor, 10_000)?;
    assert_eq!(page.records, more, "exactly the records after the cursor");
    let page = store.reader().read_from(page.next_lsn, 10)?;
    assert!(page.records.is_empty());
    assert_eq!(store.reader().read_from(0, 10_000)?.records, all);
    Ok(())
}

#[test]
fn readers_beside_the_writer_only_see_durable_records() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, _, _) = open(dir.path(), small_config(8192))?;
    let store = Arc::new(store);
    let stop = Arc::new(AtomicBool::new(false));
    let reader = store.reader();
    let watcher = {
        let stop = Arc::clone(&stop);
        let store = Arc::clone(&store);
        std::thread::spawn(move || -> anyhow::Result<Vec<Record>> {
            let mut seen = Vec::new();
            let mut cursor = 0;
            loop {
                let finishing = stop.load(Ordering::Acquire);
                let page = reader.read_from(cursor, 50)?;
                let durable = store.durable_lsn();
                for record in &page.records {
                    anyhow::ensure!(
                        record.lsn <= durable,
                        "read {} above durable {durable}",
                        record.lsn
                    );
                }
                let empty = page.records.is_empty();
                seen.extend(page.records);
                cursor = page.next_lsn;
                if finishing && empty {
                    return Ok(seen);
                }
            }
        })
    };
    let shard = Shard::new(&store);
    let input = batches(400, 2, 8, 80);
    let all = stored(&input, &shard.append_all(input.clone())?);
    stop.store(true, Ordering::Release);
    let seen = watcher
        .join()
        .map_err(|_| anyhow::anyhow!("reader panicked"))??;
    assert_eq!(seen, all, "every record exactly once, in order");
    Ok(())
}

#[test]
fn the_index_costs_a_few_bytes_per_record() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, _, _) = open(dir.path(), small_config(1 << 20))?;
    let shard = Shard::new(&store);
    shard.append_all(batches(500, 20, 100, 20))?;
    let stats = store.reader().index_stats();
    assert_eq!((stats.records, stats.streams), (10_000, 100));
    let per_record = stats.heap_bytes as f64 / stats.records as f64;
    assert!(
        (16.0..40.0).contains(&per_record),
        "{per_record} bytes per record"
    );
    Ok(())
}
