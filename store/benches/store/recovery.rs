//! Recovery time and bytes on disk for 1,000,000 records of ~150 bytes, before and
//! after a compaction that drops the ended streams.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use switchboard_store::{
    CompactionConfig, NewRecord, RetentionPolicy, Store, StoreConfig, StreamVerdict, SyncMode,
};

const RECORDS: u64 = 1_000_000;
const STREAMS: u64 = 10_000;
const STATE: u8 = 9;

/// Drops every stream whose newest state says it ended (90% of them here).
struct DropEnded;

impl RetentionPolicy for DropEnded {
    fn verdict(&self, _: u64, newest_state: Option<&[u8]>) -> StreamVerdict {
        if newest_state == Some(b"ended") {
            StreamVerdict::Drop
        } else {
            StreamVerdict::Keep
        }
    }
}

fn config() -> StoreConfig {
    StoreConfig {
        sync_mode: SyncMode::Async,
        compaction: CompactionConfig {
            state_kind: Some(STATE),
            ..CompactionConfig::default()
        },
        ..StoreConfig::default()
    }
}

pub fn run(dir: &Path) -> anyhow::Result<()> {
    let data = dir.join("recovery");
    write(&data)?;
    println!("\nrecovery of {RECORDS} records (~150-byte payloads, {STREAMS} streams, a state record per stream every 20 lines, 90% of streams ended)");
    let bytes = dir_bytes(&data)?;
    println!(
        "  bytes on disk: {bytes} ({:.1} per record)",
        bytes as f64 / RECORDS as f64
    );
    reopen(&data, "before compaction")?;
    let (store, _) = Store::open(&data, config(), |_| {})?;
    let started = Instant::now();
    let report = store.compactor().compact(&DropEnded)?;
    println!(
        "  compaction: {:.2} s, {} -> {} bytes, kept {} records, dropped {} ({} streams)",
        started.elapsed().as_secs_f64(),
        report.input_bytes,
        report.output_bytes,
        report.records_kept,
        report.records_dropped,
        report.streams_dropped
    );
    drop(store);
    reopen(&data, "after compaction")?;
    std::fs::remove_dir_all(&data)?;
    Ok(())
}

/// Writes the records through the store (async mode, so it takes seconds).
fn write(data: &Path) -> anyhow::Result<()> {
    let (store, _) = Store::open(data, config(), |_| {})?;
    let me = std::thread::current();
    let appender = store.appender(Arc::new(move || me.unpark()));
    let mut seq = vec![0u64; STREAMS as usize];
    let mut written = 0u64;
    let mut next = 0u64;
    while written < RECORDS {
        if next < RECORDS && appender.in_flight() < 1000 {
            let count = 64.min(RECORDS - next);
            let batch: Vec<NewRecord> = (next..next + count).map(|n| line(n, &mut seq)).collect();
            next += count;
            let records = batch.len() as u64;
            if appender.submit(batch, records).is_err() {
                anyhow::bail!("submit refused");
            }
            continue;
        }
        match appender.next_completion() {
            Some(done) => {
                done.result?;
                written += done.token;
            }
            None => std::thread::park_timeout(std::time::Duration::from_millis(5)),
        }
    }
    Ok(())
}

/// The n-th record: a chat line, or every 20th line of a stream its state; nine
/// streams in ten end after their 60th line (their state says "ended" from then on).
fn line(n: u64, seq: &mut [u64]) -> NewRecord {
    let stream = n % STREAMS;
    seq[stream as usize] += 1;
    let s = seq[stream as usize];
    if s.is_multiple_of(20) {
        let ended = !stream.is_multiple_of(10) && s >= 60;
        let payload = if ended {
            b"ended".to_vec()
        } else {
            b"open".to_vec()
        };
        return NewRecord {
            stream,
            seq: 0,
            kind: STATE,
            payload,
        };
    }
    NewRecord {
        stream,
        seq: s,
        kind: 1,
        payload: vec![b'x'; 150],
    }
}

fn reopen(data: &Path, when: &str) -> anyhow::Result<()> {
    for _ in 0..3 {
        let mut count = 0u64;
        let started = Instant::now();
        let (store, report) = Store::open(data, config(), |_| count += 1)?;
        let elapsed = started.elapsed();
        let index = store.reader().index_stats();
        println!(
            "  reopen {when}: {:.3} s for {count} records ({} bytes, {} segments; recovery itself {:.3} s), index {:.1} bytes/record",
            elapsed.as_secs_f64(),
            report.record_bytes,
            report.segments,
            report.elapsed.as_secs_f64(),
            index.heap_bytes as f64 / index.records.max(1) as f64
        );
    }
    println!("  bytes on disk {when}: {}", dir_bytes(data)?);
    Ok(())
}

fn dir_bytes(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        total += entry?.metadata()?.len();
    }
    Ok(total)
}
