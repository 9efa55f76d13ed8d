//! The writer as a shard sees it: submits that never block, completions in order per
//! handle, group commit, async mode, refusals that hand the batch back.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{batches, open, record, small_config, stored, Shard};
use switchboard_store::{StoreConfig, SubmitError, SyncMode};

#[test]
fn completions_of_each_handle_arrive_in_submission_order() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, _, _) = open(dir.path(), small_config(8192))?;
    let store = Arc::new(store);
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || -> anyhow::Result<Vec<u64>> {
                let shard = Shard::new(&store);
                let input: Vec<_> = (0..300).map(|i| vec![record(t, i, 40)]).collect();
                let ranges = shard.append_all(input)?;
                Ok(ranges.iter().map(|r| r.first).collect())
            })
        })
        .collect();
    let mut all = Vec::new();
    for thread in threads {
        let lsns = thread
            .join()
            .map_err(|_| anyhow::anyhow!("thread panicked"))??;
        assert!(
            lsns.windows(2).all(|w| w[0] < w[1]),
            "a handle's LSNs increase"
        );
        all.extend(lsns);
    }
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 1200, "no LSN handed out twice");
    Ok(())
}

#[test]
fn one_fdatasync_covers_many_batches() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = StoreConfig {
        max_group_bytes: 1 << 20,
        ..small_config(1 << 20)
    };
    let (store, _, _) = open(dir.path(), config)?;
    let shard = Shard::new(&store);
    shard.append_all(batches(2000, 1, 10, 100))?;
    let stats = store.stats();
    assert_eq!(stats.batches_written, 2000);
    assert_eq!(stats.groups, stats.syncs);
    assert!(
        stats.syncs < 1000,
        "group commit: {} syncs for 2000 batches",
        stats.syncs
    );
    Ok(())
}

#[test]
fn a_full_queue_refuses_at_once_and_hands_the_batch_back() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = StoreConfig {
        queue_depth: 4,
        ..small_config(8192)
    };
    let (store, _, _) = open(dir.path(), config)?;
    let shard = Shard::new(&store);
    for token in 0..4 {
        shard
            .submit(vec![record(1, token, 10)], token)
            .map_err(|r| anyhow::anyhow!("{r}"))?;
    }
    let started = Instant::now();
    let refused = shard
        .submit(vec![record(1, 9, 10)], 9)
        .expect_err("fifth batch refused");
    assert!(
        started.elapsed() < Duration::from_millis(50),
        "a refusal does not wait"
    );
    assert_eq!(refused.reason, SubmitError::QueueFull { depth: 4 });
    assert_eq!(
        (refused.token, refused.records.clone()),
        (9, vec![record(1, 9, 10)])
    );
    // Completions not yet taken still count: taking them frees the slots.
    shard.wait(4)?;
    shard
        .submit(vec![record(1, 9, 10)], 9)
        .map_err(|r| anyhow::anyhow!("{r}"))?;
    assert_eq!(shard.wait(1)?[0].token, 9);
    Ok(())
}

#[test]
fn invalid_batches_are_refused_whole() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = StoreConfig {
        max_batch_records: 3,
        ..small_config(8192)
    };
    let (store, _, _) = open(dir.path(), config)?;
    let shard = Shard::new(&store);
    let reason = |records| shard.submit(records, 0).err().map(|r| r.reason);
    assert_eq!(reason(vec![]), Some(SubmitError::EmptyBatch));
    assert_eq!(
        reason(vec![record(1, 1, 1); 4]),
        Some(SubmitError::BatchTooLarge { records: 4, max: 3 })
    );
    assert_eq!(
        reason(vec![record(1, 1, 1), record(1, 2, 1025)]),
        Some(SubmitError::PayloadTooLarge {
            index: 1,
            bytes: 1025,
            max: 1024
        })
    );
    assert!(matches!(
        reason(vec![
            record(1, 1, 1000),
            record(1, 2, 1000),
            record(1, 3, 1000)
        ]),
        Some(SubmitError::BatchBytesTooLarge { .. })
    ));
    assert_eq!(shard.appender.in_flight(), 0, "nothing was queued");
    Ok(())
}

#[test]
fn async_mode_acks_when_written_and_readers_wait_for_the_sync() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = StoreConfig {
        sync_mode: SyncMode::Async,
        async_sync_interval: Duration::from_secs(3600),
        ..small_config(1 << 20)
    };
    let (store, _, _) = open(dir.path(), config.clone())?;
    let shard = Shard::new(&store);
    let input = batches(50, 2, 3, 30);
    let ranges = shard.append_all(input.clone())?;
    assert_eq!(store.durable_lsn(), 0, "nothing synced within the hour");
    assert!(store.reader().read_from(0, 1000)?.records.is_empty());
    assert!(store.reader().read_stream(1, 0, 1000)?.records.is_empty());
    drop((shard, store));
    let (_store, _, recovered) = open(dir.path(), config)?;
    assert_eq!(
        recovered,
        stored(&input, &ranges),
        "closing syncs what was written"
    );
    Ok(())
}

#[test]
fn close_syncs_what_async_mode_acked_while_the_store_is_still_shared() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = StoreConfig {
        sync_mode: SyncMode::Async,
        async_sync_interval: Duration::from_secs(3600),
        ..small_config(1 << 20)
    };
    let (store, _, _) = open(dir.path(), config)?;
    // Shared the way the engine shares it: other threads keep handles, so the store
    // is never dropped before the process exits; `close` is the shutdown path.
    let store = Arc::new(store);
    let shard = Shard::new(&store);
    let ranges = shard.append_all(batches(20, 1, 2, 30))?;
    let last = ranges.last().map_or(0, |r| r.last);
    assert_eq!(store.stats().syncs, 0, "acked as written, not synced yet");
    assert_eq!(store.durable_lsn(), 0);
    let durable = store.close();
    assert_eq!(durable, last, "close covers every acked record");
    assert_eq!(store.stats().syncs, 1, "one final fdatasync");
    assert_eq!(store.reader().read_from(0, 100)?.records.len(), 20);
    assert_eq!(store.close(), last, "a second close changes nothing");
    let refused = shard.submit(vec![record(1, 99, 10)], 99);
    assert!(
        matches!(refused, Err(ref r) if r.reason == SubmitError::Closed),
        "after close: {refused:?}"
    );
    Ok(())
}

#[test]
fn async_mode_syncs_within_the_interval() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = StoreConfig {
        sync_mode: SyncMode::Async,
        async_sync_interval: Duration::from_millis(20),
        ..small_config(1 << 20)
    };
    let (store, _, _) = open(dir.path(), config)?;
    let shard = Shard::new(&store);
    let ranges = shard.append_all(batches(10, 1, 1, 30))?;
    let acked = Instant::now();
    let last = ranges.last().map_or(0, |r| r.last);
    while store.durable_lsn() < last {
        assert!(acked.elapsed() < Duration::from_secs(2), "never synced");
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(store.reader().read_from(0, 100)?.records.len(), 10);
    Ok(())
}

#[test]
fn after_the_store_closes_submits_are_refused_and_nothing_hangs() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, _, _) = open(dir.path(), small_config(8192))?;
    let shard = Shard::new(&store);
    shard
        .submit(vec![record(1, 1, 10)], 1)
        .map_err(|r| anyhow::anyhow!("{r}"))?;
    drop(store);
    let done = shard.wait(1)?;
    assert!(
        done[0].result.is_ok(),
        "a batch queued before closing is written"
    );
    let refused = shard
        .submit(vec![record(1, 2, 10)], 2)
        .expect_err("refused");
    assert_eq!(refused.reason, SubmitError::Closed);
    assert_eq!(refused.records.len(), 1);
    Ok(())
}
