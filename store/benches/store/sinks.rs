//! The write strategies compared on the same load: this crate's store (one writer
//! for every submitting thread), one store per submitting thread (a writer and a
//! file per shard), and redb behind a channel with the same group commit.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam::channel::{unbounded, Receiver, RecvTimeoutError, Sender};
use redb::{Database, Durability, TableDefinition};
use switchboard_store::{Appender, NewRecord, Store, StoreConfig, SyncMode, Waker};

/// A submitting thread's view of a strategy.
pub trait Handle {
    /// Queues one record; false if refused.
    fn submit(&mut self, record: NewRecord, token: u64) -> bool;
    /// The next completed token and whether it was written.
    fn poll(&mut self) -> Option<(u64, bool)>;
}

/// A write strategy.
pub trait Sink: Send + Sync {
    /// A handle for one submitting thread.
    fn handle(&self, index: usize, waker: Waker) -> anyhow::Result<Box<dyn Handle>>;
}

/// The strategies by name.
pub fn open(name: &str, dir: &Path, mode: SyncMode) -> anyhow::Result<Box<dyn Sink>> {
    Ok(match name {
        "store" => Box::new(SharedStore::open(dir, mode)?),
        "store-per-shard" => Box::new(StorePerShard {
            dir: dir.to_path_buf(),
            mode,
        }),
        "redb" => Box::new(RedbSink::open(dir, mode)?),
        other => anyhow::bail!("unknown strategy {other}"),
    })
}

pub fn store_config(mode: SyncMode) -> StoreConfig {
    StoreConfig {
        sync_mode: mode,
        queue_depth: 2048,
        ..StoreConfig::default()
    }
}

struct SharedStore {
    store: Store,
}

impl SharedStore {
    fn open(dir: &Path, mode: SyncMode) -> anyhow::Result<Self> {
        let (store, _) = Store::open(dir, store_config(mode), |_| {})?;
        Ok(Self { store })
    }
}

struct StoreHandle {
    appender: Appender,
    _own_store: Option<Store>,
}

impl Handle for StoreHandle {
    fn submit(&mut self, record: NewRecord, token: u64) -> bool {
        self.appender.submit(vec![record], token).is_ok()
    }

    fn poll(&mut self) -> Option<(u64, bool)> {
        self.appender
            .next_completion()
            .map(|c| (c.token, c.result.is_ok()))
    }
}

impl Sink for SharedStore {
    fn handle(&self, _: usize, waker: Waker) -> anyhow::Result<Box<dyn Handle>> {
        Ok(Box::new(StoreHandle {
            appender: self.store.appender(waker),
            _own_store: None,
        }))
    }
}

struct StorePerShard {
    dir: PathBuf,
    mode: SyncMode,
}

impl Sink for StorePerShard {
    fn handle(&self, index: usize, waker: Waker) -> anyhow::Result<Box<dyn Handle>> {
        let (store, _) = Store::open(
            self.dir.join(format!("shard-{index}")),
            store_config(self.mode),
            |_| {},
        )?;
        Ok(Box::new(StoreHandle {
            appender: store.appender(waker),
            _own_store: Some(store),
        }))
    }
}

const TABLE: TableDefinition<u64, &[u8]> = TableDefinition::new("records");

/// A submitted record for the redb writer, with where to post its completion.
struct RedbJob {
    record: NewRecord,
    token: u64,
    reply: Arc<RedbReplies>,
}

struct RedbReplies {
    done: Mutex<VecDeque<(u64, bool)>>,
    waker: Waker,
}

struct RedbSink {
    tx: Option<Sender<RedbJob>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RedbSink {
    fn open(dir: &Path, mode: SyncMode) -> anyhow::Result<Self> {
        let db = Database::create(dir.join("bench.redb"))?;
        let (tx, rx) = unbounded();
        let thread = std::thread::spawn(move || redb_writer(db, rx, mode));
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
        })
    }
}

impl Drop for RedbSink {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Group commit on redb: every queued record in one transaction, one commit. In
/// async mode commits are `Durability::None` and an `Immediate` one follows within
/// 10 ms, like the store's async mode.
fn redb_writer(db: Database, rx: Receiver<RedbJob>, mode: SyncMode) {
    let mut key = 0u64;
    let mut unsynced_since: Option<Instant> = None;
    loop {
        let first = match unsynced_since {
            Some(since) => rx.recv_deadline(since + Duration::from_millis(10)),
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        let mut jobs = match first {
            Ok(job) => vec![job],
            Err(RecvTimeoutError::Timeout) => Vec::new(),
            Err(RecvTimeoutError::Disconnected) => return,
        };
        jobs.extend(rx.try_iter());
        let sync_now = mode == SyncMode::Sync
            || unsynced_since.is_some_and(|s| s.elapsed() >= Duration::from_millis(10));
        let ok = redb_commit(&db, &jobs, &mut key, sync_now).is_ok();
        if sync_now {
            unsynced_since = None;
        } else if !jobs.is_empty() {
            unsynced_since.get_or_insert_with(Instant::now);
        }
        post(jobs, ok);
    }
}

fn redb_commit(db: &Database, jobs: &[RedbJob], key: &mut u64, sync: bool) -> anyhow::Result<()> {
    let mut txn = db.begin_write()?;
    txn.set_durability(if sync {
        Durability::Immediate
    } else {
        Durability::None
    })?;
    {
        let mut table = txn.open_table(TABLE)?;
        for job in jobs {
            *key += 1;
            table.insert(*key, job.record.payload.as_slice())?;
        }
    }
    txn.commit()?;
    Ok(())
}

fn post(jobs: Vec<RedbJob>, ok: bool) {
    let mut woken: Vec<Arc<RedbReplies>> = Vec::new();
    for job in jobs {
        job.reply
            .done
            .lock()
            .expect("replies")
            .push_back((job.token, ok));
        if !woken.iter().any(|w| Arc::ptr_eq(w, &job.reply)) {
            woken.push(job.reply);
        }
    }
    for reply in woken {
        (reply.waker)();
    }
}

struct RedbHandle {
    tx: Sender<RedbJob>,
    replies: Arc<RedbReplies>,
}

impl Sink for RedbSink {
    fn handle(&self, _: usize, waker: Waker) -> anyhow::Result<Box<dyn Handle>> {
        let tx = self.tx.clone().ok_or_else(|| anyhow::anyhow!("closed"))?;
        let replies = Arc::new(RedbReplies {
            done: Mutex::new(VecDeque::new()),
            waker,
        });
        Ok(Box::new(RedbHandle { tx, replies }))
    }
}

impl Handle for RedbHandle {
    fn submit(&mut self, record: NewRecord, token: u64) -> bool {
        let job = RedbJob {
            record,
            token,
            reply: Arc::clone(&self.replies),
        };
        self.tx.send(job).is_ok()
    }

    fn poll(&mut self) -> Option<(u64, bool)> {
        self.replies.done.lock().expect("replies").pop_front()
    }
}
