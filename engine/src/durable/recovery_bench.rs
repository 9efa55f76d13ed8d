//! `bench/recovery/run.sh`: how long a node's start-up recovery takes for 1,000,000
//! stored items. The data is written with the store's API directly (not over the
//! network), then the directory is reopened the way `durable::open` does it: the
//! store's scan, the conversations' rebuild and the history index.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use switchboard_protocol::conversation::{Conversation, EndReason, Phase};
use switchboard_service::records::{encode_state, ConvState};
use switchboard_store::{CompactionConfig, NewRecord, Store, StoreConfig};

use super::listing::ConvIndex;
use super::records::{ITEM_KIND, STATE_KIND};
use super::recovery::Rebuild;

const CONVERSATIONS: u64 = 10_000;
const ITEMS_PER_CONVERSATION: u64 = 100;
const BATCH: usize = 2_000;

fn config() -> StoreConfig {
    StoreConfig {
        compaction: CompactionConfig {
            state_kind: Some(STATE_KIND),
            ..CompactionConfig::default()
        },
        ..StoreConfig::default()
    }
}

fn state(conv: u64, now_ms: u64) -> Vec<u8> {
    let (mut fsm, _) = Conversation::open(conv, &format!("visitor-{conv}"), false, now_ms);
    // One in ten still served, the rest ended recently (within every retention).
    fsm.phase = if conv.is_multiple_of(10) {
        Phase::Serving {
            agent: format!("agent-{}", conv % 50),
        }
    } else {
        Phase::Ended {
            reason: EndReason::Visitor,
        }
    };
    fsm.last_activity_ms = now_ms;
    encode_state(&ConvState {
        fsm,
        next_seq: ITEMS_PER_CONVERSATION + 1,
        created_ms: now_ms,
        queue_position: None,
        followers: Vec::new(),
    })
    .into_bytes()
}

fn item(seq: u64, now_ms: u64) -> Vec<u8> {
    format!(
        r#"{{"v":1,"seq":{seq},"ts":{now_ms},"kind":"message","from":"visitor","client_msg_id":"m-{seq}","body":"a chat line of a typical length, about sixty bytes long."}}"#
    )
    .into_bytes()
}

/// Writes the data set: conversations interleaved, as live traffic would be.
fn write(dir: &std::path::Path, now_ms: u64) -> (u64, u64) {
    let (store, _) = Store::open(dir, config(), |_| {}).expect("open the store");
    let appender = store.appender(Arc::new(|| {}));
    let mut batch = Vec::with_capacity(BATCH);
    let (mut records, mut bytes) = (0u64, 0u64);
    let mut flush = |batch: &mut Vec<NewRecord>| {
        records += batch.len() as u64;
        bytes += batch.iter().map(|r| r.payload.len() as u64).sum::<u64>();
        if let Err(rejected) = appender.submit(std::mem::take(batch), 0) {
            // Not `expect`: the error carries the whole batch.
            panic!("a batch was refused: {}", rejected.reason);
        }
        loop {
            if let Some(done) = appender.next_completion() {
                done.result.expect("the batch is written");
                break;
            }
            std::thread::sleep(Duration::from_micros(50));
        }
    };
    for conv in 0..CONVERSATIONS {
        batch.push(NewRecord {
            stream: conv,
            seq: 0,
            kind: STATE_KIND,
            payload: state(conv, now_ms),
        });
        if batch.len() >= BATCH {
            flush(&mut batch);
        }
    }
    for seq in 1..=ITEMS_PER_CONVERSATION {
        for conv in 0..CONVERSATIONS {
            batch.push(NewRecord {
                stream: conv,
                seq,
                kind: ITEM_KIND,
                payload: item(seq, now_ms),
            });
            if batch.len() >= BATCH {
                flush(&mut batch);
            }
        }
    }
    if !batch.is_empty() {
        flush(&mut batch);
    }
    (records, bytes)
}

#[test]
#[ignore]
fn recovery_of_a_million_items() {
    let dir = std::env::var_os("RECOVERY_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("sb-recovery-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let now_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let started = Instant::now();
    let (records, payload_bytes) = write(&dir, now_ms);
    let written = started.elapsed();

    let started = Instant::now();
    let (store, report) = Store::open(&dir, config(), |_| {}).expect("reopen, scan only");
    let scan_only = started.elapsed();
    drop(store);

    let started = Instant::now();
    let mut rebuild = Rebuild::new(200);
    let mut index = ConvIndex::default();
    let (store, _) = Store::open(&dir, config(), |record| {
        index.apply(record.lsn, record.stream, record.kind, record.payload);
        rebuild.add(record);
    })
    .expect("reopen");
    let recovered = rebuild.finish(2, now_ms, 5 * 60 * 1000);
    let full = started.elapsed();
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);

    println!(
        "{records} records ({} items, {CONVERSATIONS} conversations, {:.1} MB of payload, \
         {:.1} MB on disk in {} segments) written in {:.2} s",
        CONVERSATIONS * ITEMS_PER_CONVERSATION,
        payload_bytes as f64 / 1e6,
        report.record_bytes as f64 / 1e6,
        report.segments,
        written.as_secs_f64()
    );
    println!(
        "recovery: store scan {:.2} s; node recovery (scan + rebuild of every conversation \
         + history index) {:.2} s; {} conversations held, {} indexed",
        scan_only.as_secs_f64(),
        full.as_secs_f64(),
        recovered.conversations(),
        index.len()
    );
    assert_eq!(report.records, records);
    assert_eq!(index.len() as u64, CONVERSATIONS);
}
