//! Compaction on real files: what the policy keeps, state records reduced to the
//! newest, LSNs kept, a crash at every step of the swap, and the compaction thread.

mod common;

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{open, record, segment_files, small_config, stored, Shard};
use switchboard_store::{
    CompactionConfig, CompactionOutcome, NewRecord, Record, RetentionPolicy, StoreConfig,
    StreamVerdict,
};

const STATE: u8 = 9;

/// Drops a stream whose newest state record says "ended".
struct DropEnded;

impl RetentionPolicy for DropEnded {
    fn verdict(&self, _stream: u64, newest_state: Option<&[u8]>) -> StreamVerdict {
        match newest_state {
            Some(b"ended") => StreamVerdict::Drop,
            _ => StreamVerdict::Keep,
        }
    }
}

struct KeepAll;

impl RetentionPolicy for KeepAll {
    fn verdict(&self, _: u64, _: Option<&[u8]>) -> StreamVerdict {
        StreamVerdict::Keep
    }
}

fn config() -> StoreConfig {
    StoreConfig {
        compaction: CompactionConfig {
            state_kind: Some(STATE),
            output_segment_bytes: 1024,
            ..CompactionConfig::default()
        },
        ..small_config(2048)
    }
}

fn state(stream: u64, payload: &[u8]) -> NewRecord {
    NewRecord {
        stream,
        seq: 0,
        kind: STATE,
        payload: payload.to_vec(),
    }
}

/// Six streams of chat lines with a state snapshot every tenth line; streams 2 and 5
/// end (their last state says so).
fn conversation_log() -> Vec<Vec<NewRecord>> {
    let mut out = Vec::new();
    for round in 1..=60u64 {
        let mut batch = Vec::new();
        for stream in 1..=6 {
            batch.push(record(stream, round, 40));
            if round % 10 == 0 {
                let ended = round == 50 && (stream == 2 || stream == 5);
                batch.push(state(stream, if ended { b"ended" } else { b"open" }));
            }
        }
        out.push(batch);
    }
    out
}

/// What a compaction of LSNs below `sealed_end` must keep.
fn expected_after(all: &[Record], sealed_end: u64) -> Vec<Record> {
    let compacted = |r: &Record| r.lsn < sealed_end;
    let dropped: HashSet<u64> = [2, 5].into();
    let newest_state = |stream: u64| {
        all.iter()
            .filter(|r| r.stream == stream && r.kind == STATE && compacted(r))
            .map(|r| r.lsn)
            .max()
    };
    all.iter()
        .filter(|r| {
            !compacted(r)
                || (!dropped.contains(&r.stream)
                    && (r.kind != STATE || newest_state(r.stream) == Some(r.lsn)))
        })
        .cloned()
        .collect()
}

/// The first LSN of the writer's segment (the highest plain log segment name).
fn active_first_lsn(dir: &Path) -> anyhow::Result<u64> {
    let last = segment_files(dir)?
        .into_iter()
        .filter_map(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_owned))
        .filter(|n| !n.contains('-'))
        .max()
        .ok_or_else(|| anyhow::anyhow!("no log segment"))?;
    Ok(u64::from_str_radix(last.trim_end_matches(".seg"), 16)?)
}

fn write_conversations(dir: &Path) -> anyhow::Result<Vec<Record>> {
    let (store, _, _) = open(dir, config())?;
    let shard = Shard::new(&store);
    let input = conversation_log();
    let ranges = shard.append_all(input.clone())?;
    Ok(stored(&input, &ranges))
}

#[test]
fn compaction_keeps_what_the_policy_keeps_with_lsns_unchanged() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let all = write_conversations(dir.path())?;
    let sealed_end = active_first_lsn(dir.path())?;
    let expected = expected_after(&all, sealed_end);
    assert!(
        expected.len() < all.len() * 3 / 4,
        "the policy drops a good share"
    );

    let (store, before, _) = open(dir.path(), config())?;
    let report = store.compactor().compact(&DropEnded)?;
    assert_eq!(
        report.records_kept + report.records_dropped,
        all.iter().filter(|r| r.lsn < sealed_end).count() as u64
    );
    assert_eq!(report.streams_dropped, 2);
    assert!(report.output_bytes < report.input_bytes);
    assert_eq!(store.reader().read_from(0, 10_000)?.records, expected);
    for stream in 1..=6 {
        let history = store.reader().read_stream(stream, 0, 10_000)?.records;
        let wanted: Vec<Record> = expected
            .iter()
            .filter(|r| r.stream == stream && r.seq > 0)
            .cloned()
            .collect();
        assert_eq!(history, wanted, "stream {stream} after the swap");
    }
    drop(store);
    let (_store, after, recovered) = open(dir.path(), config())?;
    assert_eq!(recovered, expected);
    assert!(
        after.record_bytes < before.record_bytes,
        "recovery reads less"
    );
    assert!(after.corruptions.is_empty() && after.removed_files.is_empty());
    Ok(())
}

#[test]
fn compacting_twice_with_nothing_new_keeps_the_output() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let all = write_conversations(dir.path())?;
    let expected = expected_after(&all, active_first_lsn(dir.path())?);
    let (store, _, _) = open(dir.path(), config())?;
    store.compactor().compact(&DropEnded)?;
    let again = store.compactor().compact(&DropEnded)?;
    assert_eq!(again.records_dropped, 0);
    drop(store);
    let (_store, _, recovered) = open(dir.path(), config())?;
    assert_eq!(
        recovered, expected,
        "an output that took its input's name is not deleted"
    );
    Ok(())
}

fn copy_files(files: &[PathBuf], to: &Path) -> anyhow::Result<()> {
    for file in files {
        let name = file.file_name().ok_or_else(|| anyhow::anyhow!("no name"))?;
        fs::copy(file, to.join(name))?;
    }
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned()
}

/// Directory A before compaction, B after; C is built from their files to look like
/// a crash at each step of the swap.
struct CrashScenes {
    _root: tempfile::TempDir,
    root: PathBuf,
    before: Vec<Record>,
    after: Vec<Record>,
    inputs: Vec<PathBuf>,
    outputs: Vec<PathBuf>,
    floor: PathBuf,
}

impl CrashScenes {
    fn new() -> anyhow::Result<Self> {
        let root = tempfile::tempdir()?;
        let (a, b) = (root.path().join("a"), root.path().join("b"));
        write_conversations(&a)?;
        fs::create_dir(&b)?;
        copy_files(&segment_files(&a)?, &b)?;
        let (_, _, before) = open(&a, config())?;
        let (store, _, _) = open(&b, config())?;
        store.compactor().compact(&DropEnded)?;
        drop(store);
        let (_, _, after) = open(&b, config())?;
        let outputs: Vec<PathBuf> = segment_files(&b)?
            .into_iter()
            .filter(|p| file_name(p).contains('-'))
            .collect();
        assert!(outputs.len() >= 2, "several outputs: {outputs:?}");
        let active = active_first_lsn(&a)?;
        let inputs = segment_files(&a)?
            .into_iter()
            .filter(|p| {
                u64::from_str_radix(file_name(p).trim_end_matches(".seg"), 16)
                    .is_ok_and(|f| f < active)
            })
            .collect();
        Ok(Self {
            root: root.path().to_path_buf(),
            _root: root,
            before,
            after,
            inputs,
            outputs,
            floor: b.join("LSN_FLOOR"),
        })
    }

    /// A fresh directory holding `files` and the floor.
    fn scene(&self, name: &str, files: &[PathBuf]) -> anyhow::Result<PathBuf> {
        let dir = self.root.join(name);
        fs::create_dir(&dir)?;
        copy_files(files, &dir)?;
        fs::copy(&self.floor, dir.join("LSN_FLOOR"))?;
        Ok(dir)
    }

    fn log_of_a(&self) -> anyhow::Result<Vec<PathBuf>> {
        segment_files(&self.root.join("a"))
    }
}

#[test]
fn a_crash_at_any_step_of_the_swap_leaves_a_recoverable_directory() -> anyhow::Result<()> {
    let scenes = CrashScenes::new()?;

    // 1. While an output was being written: a half-written .tmp is left behind.
    let dir = scenes.scene("half-written", &scenes.log_of_a()?)?;
    let partial = fs::read(&scenes.outputs[0])?;
    let temp = dir.join("0000000000000001.compaction.tmp");
    fs::write(&temp, &partial[..partial.len() / 2])?;
    let (_s, report, recovered) = open(&dir, config())?;
    assert_eq!(recovered, scenes.before);
    assert_eq!(report.removed_files, vec![temp]);
    drop(_s);

    // 2. After the first output's rename only: it replaces its own inputs, the
    //    second output is still a .tmp, the other inputs stay in force.
    let mut files = scenes.log_of_a()?;
    files.push(scenes.outputs[0].clone());
    let dir = scenes.scene("one-renamed", &files)?;
    fs::copy(
        &scenes.outputs[1],
        dir.join(format!("{}.tmp", file_name(&scenes.outputs[1]))),
    )?;
    let boundary = u64::from_str_radix(&file_name(&scenes.outputs[0])[17..33], 16)?;
    let expected: Vec<Record> = scenes
        .after
        .iter()
        .filter(|r| r.lsn < boundary)
        .chain(scenes.before.iter().filter(|r| r.lsn >= boundary))
        .cloned()
        .collect();
    let (_s, report, recovered) = open(&dir, config())?;
    assert_eq!(recovered, expected);
    assert!(report.corruptions.is_empty(), "{:?}", report.corruptions);
    drop(_s);

    // 3. After every rename, before any input was deleted.
    let mut files = scenes.log_of_a()?;
    files.extend(scenes.outputs.iter().cloned());
    let dir = scenes.scene("renamed", &files)?;
    let (_s, report, recovered) = open(&dir, config())?;
    assert_eq!(recovered, scenes.after);
    assert_eq!(
        report.removed_files.len(),
        scenes.inputs.len(),
        "the replaced inputs are deleted"
    );
    drop(_s);

    // 4. Half-way through deleting the inputs.
    let mut files = scenes.log_of_a()?;
    files.retain(|f| !scenes.inputs[..scenes.inputs.len() / 2].contains(f));
    files.extend(scenes.outputs.iter().cloned());
    let dir = scenes.scene("half-deleted", &files)?;
    let (_s, _, recovered) = open(&dir, config())?;
    assert_eq!(recovered, scenes.after);
    Ok(())
}

#[test]
fn compaction_runs_beside_the_writer_and_readers() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = StoreConfig {
        compaction: CompactionConfig {
            state_kind: None,
            ..config().compaction
        },
        ..config()
    };
    let (store, _, _) = open(dir.path(), config.clone())?;
    let store = Arc::new(store);
    let writer = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || -> anyhow::Result<Vec<Record>> {
            let shard = Shard::new(&store);
            let mut all = Vec::new();
            for round in 0..40u64 {
                let input: Vec<_> = (0..10)
                    .map(|i| vec![record(i % 3 + 1, round * 10 + i + 1, 60)])
                    .collect();
                let ranges = shard.append_all(input.clone())?;
                all.extend(stored(&input, &ranges));
            }
            Ok(all)
        })
    };
    let compactor = store.compactor();
    let mut runs = 0;
    while !writer.is_finished() {
        compactor.compact(&KeepAll)?;
        runs += 1;
        let page = store.reader().read_stream(1, 0, 10_000)?.records;
        assert!(page
            .windows(2)
            .all(|w| w[0].lsn < w[1].lsn && w[0].seq < w[1].seq));
    }
    let all = writer
        .join()
        .map_err(|_| anyhow::anyhow!("writer panicked"))??;
    assert!(runs > 1);
    compactor.compact(&KeepAll)?;
    assert_eq!(store.reader().read_from(0, 10_000)?.records, all);
    drop((
        compactor,
        Arc::try_unwrap(store).map_err(|_| anyhow::anyhow!("store still shared"))?,
    ));
    let (_store, _, recovered) = open(dir.path(), config)?;
    assert_eq!(recovered, all);
    Ok(())
}

#[test]
fn the_compaction_thread_runs_by_size_and_on_request() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let by_size = StoreConfig {
        compaction: CompactionConfig {
            trigger_sealed_bytes: 8 << 10,
            check_interval: Duration::from_millis(5),
            ..config().compaction
        },
        ..config()
    };
    let (store, _, _) = open(dir.path(), by_size)?;
    let auto = store.compactor().spawn(Arc::new(DropEnded))?;
    let shard = Shard::new(&store);
    shard.append_all(conversation_log())?;
    let deadline = Instant::now() + Duration::from_secs(10);
    // The thread swaps the segments first and records its outcome after: wait for both.
    while store.compactor().sealed_log_bytes() >= 8 << 10
        || !matches!(auto.last_outcome(), Some(CompactionOutcome::Done(_)))
    {
        assert!(Instant::now() < deadline, "never compacted");
        std::thread::sleep(Duration::from_millis(5));
    }
    drop((auto, shard, store));

    let dir = tempfile::tempdir()?;
    let (store, _, _) = open(dir.path(), config())?;
    let auto = store.compactor().spawn(Arc::new(DropEnded))?;
    Shard::new(&store).append_all(conversation_log())?;
    assert_eq!(auto.last_outcome(), None, "the default trigger is far away");
    auto.trigger();
    let deadline = Instant::now() + Duration::from_secs(10);
    while auto.last_outcome().is_none() {
        assert!(Instant::now() < deadline, "trigger ignored");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(store.compactor().sealed_log_bytes(), 0);
    Ok(())
}
