//! A real full disk: a 4 MiB tmpfs mounted for the test (root is needed; the test
//! fails loudly without it). Writes fail with ENOSPC, the batches complete with
//! `DiskFull` and are never visible, health says so, and once a file is deleted to
//! make room the writer carries on by itself.

mod common;

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{open, record, small_config, Shard};
use switchboard_store::{Health, NewRecord, Record, StoreConfig, SubmitError, WriteError};

/// The tests of this file run one at a time: a `mount` child forked while another
/// test closes its store briefly holds a copy of that store's LOCK descriptor (until
/// its exec), and the reopen that follows would see the lock still taken.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A tmpfs mounted on a temporary directory, unmounted on drop.
struct Tmpfs {
    mount_point: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mount_point = dir.path().join("mnt");
        fs::create_dir(&mount_point)?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&mount_point)
            .status()?;
        anyhow::ensure!(
            status.success(),
            "mount -t tmpfs failed (this test needs root)"
        );
        Ok(Self {
            mount_point,
            _dir: dir,
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mount_point).status();
    }
}

/// Writes zeros until the file system is full.
fn fill(path: &Path) -> anyhow::Result<u64> {
    let mut file = File::create(path)?;
    let chunk = vec![0u8; 64 << 10];
    let mut written = 0u64;
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(written)
}

/// Submits one batch and waits for its outcome.
fn append_one(
    shard: &Shard,
    batch: Vec<NewRecord>,
    token: u64,
) -> anyhow::Result<Result<u64, WriteError>> {
    shard
        .submit(batch, token)
        .map_err(|r| anyhow::anyhow!("{r}"))?;
    let done = shard.wait(1)?.remove(0);
    anyhow::ensure!(done.token == token, "token {} for {token}", done.token);
    Ok(done.result.map(|range| range.first))
}

fn config() -> StoreConfig {
    StoreConfig {
        retry_backoff_min: Duration::from_millis(2),
        retry_backoff_max: Duration::from_millis(20),
        ..small_config(64 << 10)
    }
}

#[test]
fn a_full_disk_fails_batches_cleanly_and_the_writer_recovers_when_space_returns(
) -> anyhow::Result<()> {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let tmpfs = Tmpfs::mount("4m")?;
    let data = tmpfs.mount_point.join("data");
    let ballast = tmpfs.mount_point.join("ballast");
    let (store, _, _) = open(&data, config())?;
    let shard = Shard::new(&store);
    let mut durable: Vec<Record> = Vec::new();
    let mut failed_payloads = Vec::new();
    let mut seq = 0;
    let next = |seq: &mut u64| {
        *seq += 1;
        vec![record(1, *seq, 300), record(2, *seq, 300)]
    };
    let keep = |batch: &[NewRecord], first: u64, durable: &mut Vec<Record>| {
        for (i, r) in batch.iter().enumerate() {
            durable.push(Record {
                lsn: first + i as u64,
                stream: r.stream,
                seq: r.seq,
                kind: r.kind,
                payload: r.payload.clone(),
            });
        }
    };
    for token in 0..20 {
        let batch = next(&mut seq);
        let first =
            append_one(&shard, batch.clone(), token)?.map_err(|e| anyhow::anyhow!("{e}"))?;
        keep(&batch, first, &mut durable);
    }

    fill(&ballast)?;
    let mut full = None;
    for token in 20..2000 {
        let batch = next(&mut seq);
        match append_one(&shard, batch.clone(), token)? {
            Ok(first) => keep(&batch, first, &mut durable),
            Err(error) => {
                failed_payloads.extend(batch.into_iter().map(|r| r.payload));
                full = Some(error);
                break;
            }
        }
    }
    let error = full.expect("the disk filled up");
    assert!(matches!(error, WriteError::DiskFull { .. }), "{error:?}");
    let since = match store.health() {
        Health::DiskFull { since, .. } => since,
        other => anyhow::bail!("health is {other:?}"),
    };

    // This handle is halted until it resumes; another handle's batch fails too,
    // after the backoff, while the disk stays full.
    let refused = shard.submit(next(&mut seq), 5000).expect_err("halted");
    assert_eq!(refused.reason, SubmitError::Halted);
    let other = Shard::new(&store);
    let batch = next(&mut seq);
    let outcome = append_one(&other, batch.clone(), 1)?;
    assert!(
        matches!(outcome, Err(WriteError::DiskFull { .. })),
        "{outcome:?}"
    );
    failed_payloads.extend(batch.into_iter().map(|r| r.payload));
    assert!(matches!(store.health(), Health::DiskFull { since: s, .. } if s == since));
    assert!(
        store.reader().read_from(0, 10_000)?.records == durable,
        "readers see exactly the batches reported written"
    );

    // Make room: the writer succeeds again by itself.
    fs::remove_file(&ballast)?;
    shard.appender.resume();
    let started = Instant::now();
    for token in 6000..6010 {
        let batch = next(&mut seq);
        let first =
            append_one(&shard, batch.clone(), token)?.map_err(|e| anyhow::anyhow!("{e}"))?;
        keep(&batch, first, &mut durable);
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(store.health(), Health::Ok);
    let stats = store.stats();
    assert!(stats.batches_failed >= 2, "{stats:?}");

    drop((shard, other, store));
    let (_store, report, recovered) = open(&data, config())?;
    assert_eq!(recovered, durable, "every written batch, and no failed one");
    assert!(
        recovered
            .iter()
            .all(|r| !failed_payloads.contains(&r.payload)),
        "a failed batch is never half visible"
    );
    assert!(report.corruptions.is_empty(), "{:?}", report.corruptions);
    assert_eq!(
        report.torn_tail, None,
        "failed bytes were cut off before the close"
    );
    Ok(())
}

#[test]
fn a_segment_that_cannot_be_created_fails_the_group_and_is_retried() -> anyhow::Result<()> {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let tmpfs = Tmpfs::mount("4m")?;
    let data = tmpfs.mount_point.join("data");
    let ballast = tmpfs.mount_point.join("ballast");
    // Tiny segments: nearly every group starts a new file.
    let small = StoreConfig {
        segment_bytes: 1,
        ..config()
    };
    let (store, _, _) = open(&data, small.clone())?;
    let shard = Shard::new(&store);
    assert!(append_one(&shard, vec![record(1, 1, 100)], 0)?.is_ok());
    fill(&ballast)?;
    let mut saw_full = false;
    for token in 1..200 {
        if let Err(error) = append_one(&shard, vec![record(1, token + 1, 100)], token)? {
            assert!(matches!(error, WriteError::DiskFull { .. }), "{error:?}");
            saw_full = true;
            break;
        }
    }
    assert!(saw_full);
    fs::remove_file(&ballast)?;
    shard.appender.resume();
    assert!(append_one(&shard, vec![record(1, 1000, 100)], 1000)?.is_ok());
    drop((shard, store));
    let (_store, report, recovered) = open(&data, small)?;
    assert!(report.corruptions.is_empty(), "{:?}", report.corruptions);
    assert_eq!(recovered.last().map(|r| r.seq), Some(1000));
    Ok(())
}
