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
use switchboard_store::{Appender, SubmitError, WriteError};

use super::Shard;
use crate::durable::to_store_records;
use crate::metrics::ShardCounters;

/// Output batches held behind writes at most; over it, outputs that need no write
/// (typing, read receipts) are dropped instead of held.
const MAX_HELD: usize = 65_536;

/// Outputs waiting for a write (`token`) or for earlier writes (`None`).
#[derive(Debug)]
struct Held {
    token: Option<u64>,
    conv: u64,
    /// The first item seq the write carried (what a failure takes back).
    first_seq: u64,
    /// Whether the write carried the state.
    with_state: bool,
    /// Who gets the error if the write fails.
    reply: Option<Peer>,
    outputs: Vec<HomeOutput>,
}

/// A write that was not made.
#[derive(Debug)]
struct Failed {
    conv: u64,
    first_seq: u64,
    with_state: bool,
    reply: Option<Peer>,
}

/// A shard's side of the local store.
#[derive(Debug)]
pub(super) struct StoreSide {
    appender: Appender,
    next_token: u64,
    held: VecDeque<Held>,
    /// The connection the command being run answers to.
    reply: Option<Peer>,
}

impl StoreSide {
    pub(super) fn new(appender: Appender) -> Self {
        StoreSide {
            appender,
            next_token: 0,
            held: VecDeque::new(),
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
        let record = if durable {
            self.homes.persist_record(conv)
        } else {
            None
        };
        if record.is_none() && side.held.is_empty() {
            side.reply = None;
            return self.carry_out_home(conv, out);
        }
        let reply = side.reply.take();
        let Some(record) = record else {
            if side.held.len() >= MAX_HELD {
                out.clear();
                return;
            }
            let outputs = std::mem::take(out);
            side.held.push_back(Held {
                token: None,
                conv,
                first_seq: 0,
                with_state: false,
                reply,
                outputs,
            });
            return;
        };
        let first_seq = record.first_seq;
        let with_state = !record.state.is_empty();
        let token = side.next_token;
        side.next_token += 1;
        match side.appender.submit(to_store_records(record), token) {
            Ok(()) => {
                let outputs = std::mem::take(out);
                side.held.push_back(Held {
                    token: Some(token),
                    conv,
                    first_seq,
                    with_state,
                    reply,
                    outputs,
                });
            }
            Err(rejected) => {
                out.clear();
                let why = match rejected.reason {
                    SubmitError::QueueFull { .. } => "the store is busy",
                    SubmitError::Halted => "the store could not write",
                    _ => "the store refused the write",
                };
                let failed = Failed {
                    conv,
                    first_seq,
                    with_state,
                    reply,
                };
                self.store_failed(&failed, why);
            }
        }
    }

    /// Releases the outputs of every write the store finished since the last turn.
    pub(super) fn drain_store(&mut self) {
        loop {
            let Some(side) = self.store.as_mut() else {
                return;
            };
            let Some(done) = side.appender.next_completion() else {
                break;
            };
            let Some(front) = side.held.pop_front() else {
                break;
            };
            debug_assert_eq!(front.token, Some(done.token), "completions come in order");
            match done.result {
                Ok(_) => {
                    let mut outputs = front.outputs;
                    self.carry_out_home(front.conv, &mut outputs);
                }
                Err(err) => {
                    let why = match err {
                        WriteError::DiskFull { .. } => "the disk is full",
                        _ => "the store could not write",
                    };
                    let failed = Failed {
                        conv: front.conv,
                        first_seq: front.first_seq,
                        with_state: front.with_state,
                        reply: front.reply,
                    };
                    self.store_failed(&failed, why);
                }
            }
            self.release_unwritten();
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
            self.carry_out_home(next.conv, &mut outputs);
        }
    }

    /// A write was not made: its items are taken back and its sender told.
    fn store_failed(&mut self, failed: &Failed, why: &str) {
        ShardCounters::bump(&self.counters().store_refused);
        let conv = failed.conv;
        self.homes.rewind(conv, failed.first_seq, failed.with_state);
        tracing::debug!(shard = self.index, conv, why, "a store write failed");
        if let Some(peer) = failed.reply {
            let message = format!(
                "{why}: the change was not stored; send again with the same client_msg_id"
            );
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
    pub(super) fn install_recovered(&mut self, convs: Vec<switchboard_service::records::LoadedConv>) {
        let mut out = Vec::new();
        for loaded in convs {
            self.homes.install(loaded, &mut out);
        }
        // No follower survived the restart, so installing told nobody anything.
        out.clear();
    }
}

