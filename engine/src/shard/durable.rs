//! A shard on a single node with the local store: every change to a conversation is
//! appended through the shard's own [`Appender`] before anyone hears of it.
//!
//! The write barrier mirrors cluster mode's (`shard::cluster`): outputs of a command
//! that changed a conversation wait in `held`, in order, until the store's writer posts
//! the batch's completion (after its fdatasync with `--durability sync`); the writer
//! wakes the shard through its eventfd and the shard drains completions every turn.
//! Outputs that need no write wait behind earlier writes, so nothing overtakes.
//!
//! A write the store refuses or fails (disk full, I/O error, queue full) is never
//! acknowledged: its outputs are dropped, the items it carried are taken back
//! (`Homes::rewind`), and the sender gets an `unavailable` error, so it sends the line
//! again with the same `client_msg_id`. The node stays up; reads, resume and typing go
//! on; the writer retries by itself and writes succeed again once space returns.

use std::collections::VecDeque;
use std::time::Instant;

use switchboard_protocol::chat::ServerFrame;
use switchboard_service::commands::{HomeCmd, RouterCmd};
use switchboard_service::home::{encode, HomeOutput};
use switchboard_service::ids::Peer;
use switchboard_store::{Appender, NewRecord, SubmitError, WriteError};

use super::Shard;
use crate::durable::to_store_records;
use crate::metrics::ShardCounters;

/// Output batches held behind writes at most; over it, outputs that need no write
/// (typing, read receipts) are dropped instead of held.
const MAX_HELD: usize = 65_536;
/// A turn's records go to the store as one batch, split when it grows past these
/// (well inside the store's `max_batch_records` and `max_group_bytes`).
const BATCH_RECORDS: usize = 1024;
const BATCH_BYTES: usize = 4 << 20;

/// Outputs waiting for a write (`token`: the batch it went in) or for earlier writes
/// (`None`).
#[derive(Debug)]
struct Held {
    token: Option<u64>,
    write: Write,
    outputs: Vec<HomeOutput>,
}

/// What a write changed, to take it back if it fails.
#[derive(Debug, Clone, Copy)]
struct Write {
    conv: u64,
    /// The first item seq the write carried.
    first_seq: u64,
    /// Whether the write carried the state.
    with_state: bool,
    /// Who gets the error.
    reply: Option<Peer>,
}

/// A shard's side of the local store.
#[derive(Debug)]
pub(super) struct StoreSide {
    appender: Appender,
    /// The token of the batch being gathered this turn.
    next_token: u64,
    held: VecDeque<Held>,
    /// Records of this turn, submitted as one batch before the shard waits: one
    /// submit (and one completion) per turn rather than per command.
    pending: Vec<NewRecord>,
    pending_bytes: usize,
    /// The connection the command being run answers to.
    reply: Option<Peer>,
}

impl StoreSide {
    pub(super) fn new(appender: Appender) -> Self {
        StoreSide {
            appender,
            next_token: 0,
            held: VecDeque::new(),
            pending: Vec::new(),
            pending_bytes: 0,
            reply: None,
        }
    }
}

impl Shard {
    /// Notes who the command about to run answers to (told if its write fails).
    pub(super) fn store_note_reply(&mut self, cmd: &HomeCmd) {
        if let Some(side) = self.store.as_mut() {
            side.reply = super::cluster::reply_peer(cmd);
        }
    }

    /// Carries out a home's outputs for `conv` behind its write (when `durable` and the
    /// conversation changed) or behind earlier writes; at once without a store.
    pub(super) fn finish_home_stored(
        &mut self,
        conv: u64,
        out: &mut Vec<HomeOutput>,
        durable: bool,
    ) {
        let Some(side) = self.store.as_mut() else {
            return self.carry_out_home(conv, out);
        };
        let reply = side.reply.take();
        let record = if durable {
            self.homes.persist_record(conv)
        } else {
            None
        };
        let Some(side) = self.store.as_mut() else {
            return;
        };
        if record.is_none() && side.held.is_empty() {
            return self.carry_out_home(conv, out);
        }
        let write = Write {
            conv,
            first_seq: record.as_ref().map_or(0, |r| r.first_seq),
            with_state: record.as_ref().is_some_and(|r| !r.state.is_empty()),
            reply,
        };
        let token = match record {
            None if side.held.len() >= MAX_HELD => {
                out.clear();
                return;
            }
            None => None,
            Some(record) => Some(self.gather(to_store_records(record))),
        };
        let Some(side) = self.store.as_mut() else {
            return;
        };
        side.held.push_back(Held {
            token,
            write,
            outputs: std::mem::take(out),
        });
    }

    /// Adds a write's records to this turn's batch (submitting the batch first when
    /// it is full); returns the token of the batch they go in.
    fn gather(&mut self, records: Vec<NewRecord>) -> u64 {
        let bytes: usize = records.iter().map(|r| r.payload.len()).sum();
        let full = self.store.as_ref().is_some_and(|side| {
            side.pending.len() + records.len() > BATCH_RECORDS
                || side.pending_bytes + bytes > BATCH_BYTES
        });
        if full {
            self.flush_store();
        }
        let Some(side) = self.store.as_mut() else {
            return 0;
        };
        side.pending.extend(records);
        side.pending_bytes += bytes;
        side.next_token
    }

    /// Submits this turn's records as one batch (before the shard waits). Refused at
    /// once (queue full, halted after a failure): every change in it is taken back and
    /// its sender told.
    pub(super) fn flush_store(&mut self) {
        let Some(side) = self.store.as_mut() else {
            return;
        };
        if side.pending.is_empty() {
            return;
        }
        let token = side.next_token;
        side.next_token += 1;
        side.pending_bytes = 0;
        let records = std::mem::take(&mut side.pending);
        let Err(rejected) = side.appender.submit(records, token) else {
            return;
        };
        let why = match rejected.reason {
            SubmitError::QueueFull { .. } => "the store is busy",
            SubmitError::Halted => "the store could not write",
            _ => "the store refused the write",
        };
        // The buffer is kept for the next turn.
        let mut buffer = rejected.records;
        buffer.clear();
        side.pending = buffer;
        let mut failed = Vec::new();
        side.held.retain(|held| {
            let refused = held.token == Some(token);
            if refused {
                failed.push(held.write);
            }
            !refused
        });
        for write in &failed {
            self.store_failed(write, why);
        }
        self.release_unwritten();
    }

    /// Releases the outputs of every batch the store finished since the last turn.
    pub(super) fn drain_store(&mut self) {
        while let Some(done) = self
            .store
            .as_ref()
            .and_then(|s| s.appender.next_completion())
        {
            let why = match &done.result {
                Ok(_) => None,
                Err(WriteError::DiskFull { .. }) => Some("the disk is full"),
                Err(_) => Some("the store could not write"),
            };
            // The batch's changes, and what waited behind them only.
            while let Some(side) = self.store.as_mut() {
                match side.held.front().map(|h| h.token) {
                    Some(Some(token)) if token != done.token => break,
                    None => break,
                    _ => {}
                }
                let Some(held) = side.held.pop_front() else {
                    break;
                };
                match (held.token, why) {
                    (Some(_), Some(why)) => self.store_failed(&held.write, why),
                    _ => {
                        let mut outputs = held.outputs;
                        self.carry_out_home(held.write.conv, &mut outputs);
                    }
                }
            }
        }
        // After a failure the appender writes nothing more until told; once every
        // batch of before has come back, later ones may try again.
        if let Some(side) = self.store.as_ref() {
            if side.appender.is_halted() && side.appender.in_flight() == 0 {
                side.appender.resume();
            }
        }
    }

    /// Carries out the held outputs that wait for no write of their own.
    fn release_unwritten(&mut self) {
        while let Some(side) = self.store.as_mut() {
            if !matches!(side.held.front(), Some(Held { token: None, .. })) {
                return;
            }
            let Some(next) = side.held.pop_front() else {
                return;
            };
            let mut outputs = next.outputs;
            self.carry_out_home(next.write.conv, &mut outputs);
        }
    }

    /// A write was not made: its items are taken back and its sender told.
    fn store_failed(&mut self, failed: &Write, why: &str) {
        ShardCounters::bump(&self.counters().store_refused);
        let conv = failed.conv;
        self.homes.rewind(conv, failed.first_seq, failed.with_state);
        tracing::debug!(shard = self.index, conv, why, "a store write failed");
        if let Some(peer) = failed.reply {
            let message =
                format!("{why}: the change was not stored; send again with the same client_msg_id");
            let frame = ServerFrame::Error {
                code: "unavailable",
                message: &message,
            };
            self.deliver_frame(peer.conn, 0, encode(peer.encoding, &frame), Instant::now());
        }
    }

    /// Shard 0, before it serves: the router learns the recovered conversations
    /// (waiting ones in their queue order; served ones wait for their agent within the
    /// grace period) and never hands out a stored conversation id again.
    pub(super) fn restore_router(&mut self) {
        let Some((notes, next_conv)) = self.router_restore.take() else {
            return;
        };
        if let Some(router) = self.router.as_mut() {
            router.reserve_ids_below(next_conv);
        }
        for note in notes {
            self.send_router(RouterCmd::Note(note));
        }
        self.run_local();
        self.flush_mesh();
    }

    /// Holds the conversations recovered from the store (before the shard serves).
    pub(super) fn install_recovered(
        &mut self,
        convs: Vec<switchboard_service::records::LoadedConv>,
    ) {
        let mut out = Vec::new();
        for loaded in convs {
            self.homes.install(loaded, &mut out);
        }
        // No follower survived the restart, so installing told nobody anything.
        out.clear();
    }
}
