//! What the store's integration tests share: a small configuration, a handle that
//! waits for its completions the way a shard would (woken by the waker), and
//! records whose payload says where they came from.
#![allow(
    dead_code,
    reason = "each test binary uses a different part of this module"
)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use switchboard_store::{
    Appender, Completion, LsnRange, NewRecord, Record, RecoveryReport, Rejected, Store,
    StoreConfig, SyncMode,
};

/// A configuration with small segments so a test spans several of them.
pub fn small_config(segment_bytes: u32) -> StoreConfig {
    StoreConfig {
        sync_mode: SyncMode::Sync,
        segment_bytes,
        max_payload_bytes: 1024,
        max_group_bytes: 2048,
        read_chunk_bytes: 4096,
        checkpoint_interval_bytes: 512,
        retry_backoff_min: Duration::from_millis(1),
        retry_backoff_max: Duration::from_millis(20),
        ..StoreConfig::default()
    }
}

/// A record of `stream` whose payload encodes (stream, seq) and has `len` bytes.
pub fn record(stream: u64, seq: u64, len: usize) -> NewRecord {
    let mut payload = format!("{stream}:{seq}:").into_bytes();
    payload.resize(len.max(payload.len()), b'x');
    NewRecord {
        stream,
        seq,
        kind: 1,
        payload,
    }
}

/// Opens a store and collects what recovery handed back.
pub fn open(
    dir: &Path,
    config: StoreConfig,
) -> anyhow::Result<(Store, RecoveryReport, Vec<Record>)> {
    let mut records = Vec::new();
    let (store, report) = Store::open(dir, config, |r| records.push(r.to_owned()))?;
    Ok((store, report, records))
}

/// An appender whose waker signals a condition variable.
pub struct Shard {
    pub appender: Appender,
    signal: Arc<(Mutex<u64>, Condvar)>,
}

impl Shard {
    pub fn new(store: &Store) -> Self {
        let signal = Arc::new((Mutex::new(0u64), Condvar::new()));
        let for_waker = Arc::clone(&signal);
        let appender = store.appender(Arc::new(move || {
            let (count, cvar) = &*for_waker;
            *count.lock().expect("waker lock") += 1;
            cvar.notify_all();
        }));
        Self { appender, signal }
    }

    pub fn submit(&self, records: Vec<NewRecord>, token: u64) -> Result<(), Box<Rejected>> {
        self.appender.submit(records, token).map_err(Box::new)
    }

    /// Waits (woken by the waker) until `n` completions were taken, or fails.
    pub fn wait(&self, n: usize) -> anyhow::Result<Vec<Completion>> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut out = Vec::with_capacity(n);
        let (count, cvar) = &*self.signal;
        loop {
            while let Some(c) = self.appender.next_completion() {
                out.push(c);
            }
            if out.len() >= n {
                return Ok(out);
            }
            let now = Instant::now();
            anyhow::ensure!(
                now < deadline,
                "only {} of {n} completions arrived",
                out.len()
            );
            let guard = count.lock().expect("waker lock");
            let _ = cvar
                .wait_timeout(guard, Duration::from_millis(50))
                .expect("waker lock");
        }
    }

    /// Submits each batch (token = its index) and waits for all; returns the ranges.
    pub fn append_all(&self, batches: Vec<Vec<NewRecord>>) -> anyhow::Result<Vec<LsnRange>> {
        let n = batches.len();
        for (token, batch) in batches.into_iter().enumerate() {
            self.submit(batch, token as u64)
                .map_err(|r| anyhow::anyhow!("{r}"))?;
        }
        let completions = self.wait(n)?;
        let mut ranges = Vec::with_capacity(n);
        for (i, completion) in completions.into_iter().enumerate() {
            anyhow::ensure!(
                completion.token == i as u64,
                "completion {i} has token {}",
                completion.token
            );
            ranges.push(completion.result?);
        }
        Ok(ranges)
    }
}

/// Records as the store would return them, given what was appended.
pub fn stored(batches: &[Vec<NewRecord>], ranges: &[LsnRange]) -> Vec<Record> {
    let mut out = Vec::new();
    for (batch, range) in batches.iter().zip(ranges) {
        for (i, r) in batch.iter().enumerate() {
            out.push(Record {
                lsn: range.first + i as u64,
                stream: r.stream,
                seq: r.seq,
                kind: r.kind,
                payload: r.payload.clone(),
            });
        }
    }
    out
}

/// The segment files of a directory, in name order (= LSN order for log segments).
pub fn segment_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    files.sort();
    Ok(files)
}

/// Batches of `per_batch` records over `streams` streams, seqs counting per stream.
pub fn batches(
    count: usize,
    per_batch: usize,
    streams: u64,
    payload: usize,
) -> Vec<Vec<NewRecord>> {
    let mut next_seq = vec![0u64; streams as usize];
    (0..count)
        .map(|b| {
            (0..per_batch)
                .map(|i| {
                    let stream = ((b * per_batch + i) as u64) % streams;
                    next_seq[stream as usize] += 1;
                    record(stream + 1, next_seq[stream as usize], payload)
                })
                .collect()
        })
        .collect()
}
