//! Appends per second and submit→durable latency: 1, 2 and 8 submitting threads,
//! each keeping 100 or 1,000 one-record batches (~150-byte payloads) in flight, in
//! sync and async modes, for each write strategy.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use switchboard_store::{NewRecord, SyncMode};

use crate::sinks::{self, Handle, Sink};

const RUN: Duration = Duration::from_secs(2);
const PAYLOAD: usize = 150;

/// What one run measured.
struct Figures {
    per_second: f64,
    latency: Histogram<u64>,
    failed: u64,
}

pub fn run(dir: &Path) -> anyhow::Result<()> {
    println!(
        "\nappends: {PAYLOAD}-byte records, one record per batch, {} s per run",
        RUN.as_secs()
    );
    println!(
        "{:<16} {:<6} {:>7} {:>9} {:>12} {:>10} {:>10}",
        "strategy", "mode", "threads", "in flight", "appends/s", "p50 us", "p99 us"
    );
    let mut case = 0;
    for mode in [SyncMode::Sync, SyncMode::Async] {
        for strategy in ["store", "store-per-shard", "redb"] {
            for threads in [1usize, 2, 8] {
                for in_flight in [100usize, 1000] {
                    case += 1;
                    let case_dir = dir.join(format!("append-{case}"));
                    std::fs::create_dir_all(&case_dir)?;
                    let sink = sinks::open(strategy, &case_dir, mode)?;
                    let figures = measure(sink.as_ref(), threads, in_flight)?;
                    drop(sink);
                    std::fs::remove_dir_all(&case_dir)?;
                    println!(
                        "{:<16} {:<6} {:>7} {:>9} {:>12.0} {:>10} {:>10}{}",
                        strategy,
                        format!("{mode:?}").to_lowercase(),
                        threads,
                        in_flight,
                        figures.per_second,
                        figures.latency.value_at_quantile(0.5),
                        figures.latency.value_at_quantile(0.99),
                        if figures.failed > 0 {
                            format!("  ({} failed)", figures.failed)
                        } else {
                            String::new()
                        }
                    );
                }
            }
        }
    }
    Ok(())
}

fn measure(sink: &dyn Sink, threads: usize, in_flight: usize) -> anyhow::Result<Figures> {
    let started = Instant::now();
    let deadline = started + RUN;
    let results: Vec<anyhow::Result<(u64, u64, Histogram<u64>)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|index| scope.spawn(move || submitter(sink, index, in_flight, deadline)))
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("submitter panicked")))
            })
            .collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut latency = Histogram::<u64>::new(3)?;
    let (mut done, mut failed) = (0, 0);
    for result in results {
        let (ok, bad, histogram) = result?;
        done += ok;
        failed += bad;
        latency.add(histogram)?;
    }
    Ok(Figures {
        per_second: done as f64 / elapsed,
        latency,
        failed,
    })
}

/// One shard: keeps `in_flight` batches queued until the deadline, then drains.
fn submitter(
    sink: &dyn Sink,
    index: usize,
    in_flight: usize,
    deadline: Instant,
) -> anyhow::Result<(u64, u64, Histogram<u64>)> {
    let me = std::thread::current();
    let mut handle: Box<dyn Handle> = sink.handle(index, Arc::new(move || me.unpark()))?;
    let mut latency = Histogram::<u64>::new(3)?;
    let mut pending: VecDeque<Instant> = VecDeque::with_capacity(in_flight);
    let (mut next, mut ok, mut failed) = (0u64, 0u64, 0u64);
    let mut seq = vec![0u64; 100];
    loop {
        let open = Instant::now() < deadline;
        while open && pending.len() < in_flight {
            let stream = next % 100;
            seq[stream as usize] += 1;
            let record = NewRecord {
                stream: index as u64 * 1000 + stream,
                seq: seq[stream as usize],
                kind: 1,
                payload: vec![b'x'; PAYLOAD],
            };
            if !handle.submit(record, next) {
                break;
            }
            pending.push_back(Instant::now());
            next += 1;
        }
        let mut progressed = false;
        while let Some((_, written)) = handle.poll() {
            progressed = true;
            let submitted = pending
                .pop_front()
                .ok_or_else(|| anyhow::anyhow!("unexpected completion"))?;
            latency.record(submitted.elapsed().as_micros() as u64)?;
            if written {
                ok += 1
            } else {
                failed += 1
            }
        }
        if !open && pending.is_empty() {
            return Ok((ok, failed, latency));
        }
        if !progressed {
            std::thread::park_timeout(Duration::from_millis(5));
        }
    }
}
