//! One fdatasync on this disk: the unit every durable append latency is a multiple of.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

use hdrhistogram::Histogram;

const ROUNDS: u64 = 2000;

pub fn run(dir: &Path) -> anyhow::Result<()> {
    let path = dir.join("fsync-probe");
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)?;
    let record = [7u8; 191];
    let mut latency = Histogram::<u64>::new(3)?;
    for round in 0..ROUNDS {
        file.write_all_at(&record, round * record.len() as u64)?;
        let started = Instant::now();
        file.sync_data()?;
        latency.record(started.elapsed().as_micros() as u64)?;
    }
    std::fs::remove_file(&path)?;
    println!(
        "fdatasync after a 191-byte append, {ROUNDS} rounds: p50 {} us, p99 {} us, max {} us",
        latency.value_at_quantile(0.5),
        latency.value_at_quantile(0.99),
        latency.max()
    );
    Ok(())
}
