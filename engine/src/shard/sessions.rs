//! The HTTP sessions a shard holds (long-poll and Server-Sent Events clients of the
//! chat protocol): their frames waiting for a poll, their cursors, and who is waiting
//! on them. State only; the shard's glue is in `http_session.rs`.
//!
//! A session is a chat client without a socket: the service layer knows it by a
//! [`ConnId`] like any `/v1/ws` connection, whose slot lies above the range the
//! connection slab uses ([`SESSION_SLOT_BASE`]), so a frame for it is told apart by its
//! id alone. Frames are kept as the `Arc` the home encoded once, so buffering one costs
//! a pointer, not a copy; an idle session with nothing queued holds no buffer.

use std::collections::VecDeque;
use std::sync::Arc;

use super::conn::ChatSession;
use switchboard_service::ids::{ConnId, GENERATION_MASK, SLOT_MASK};

/// First connection-id slot of a session; the connection slab stays below it.
pub const SESSION_SLOT_BASE: u32 = 0xC_0000;
/// Most sessions one shard can hold (the slots above [`SESSION_SLOT_BASE`]).
pub const MAX_SESSIONS: usize = (SLOT_MASK - SESSION_SLOT_BASE + 1) as usize;

/// Whether a connection-id slot names a session.
pub fn is_session_slot(slot: u32) -> bool {
    slot >= SESSION_SLOT_BASE
}

/// The limits of the HTTP sessions (`--poll-wait-ms` and the others).
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// Longest wait of a long-poll with nothing to return.
    pub poll_wait_ms: u64,
    /// Frames a session buffers for its client; one more ends the session.
    pub buffer_frames: usize,
    /// A session nobody polls (or streams) this long ends.
    pub idle_ms: u64,
    /// A comment is written on an idle SSE stream this often.
    pub keepalive_ms: u64,
    /// Largest request body.
    pub max_body: usize,
    /// Frames one upstream request may carry.
    pub post_frames: usize,
    /// Sessions one shard holds at most.
    pub max_sessions: usize,
}

/// Who waits for a session's frames.
#[derive(Debug, Clone, Copy)]
pub struct Waiter {
    /// The HTTP connection (on any shard of this node).
    pub conn: ConnId,
    /// An SSE stream (kept open) or a long-poll (answered once).
    pub stream: bool,
    /// Long-poll: the cursor it asked after.
    pub cursor: u64,
    /// Long-poll: when to answer with nothing; stream: when the next keep-alive is due
    /// (shard clock, ms).
    pub due_ms: u64,
}

/// One session.
#[derive(Debug)]
pub struct HttpSession {
    /// The secret half of its public id.
    pub secret: u128,
    /// Its authenticated user (taken when it ends).
    pub user: Box<str>,
    /// Role and encoding (always JSON), as a `/v1/ws` connection has them.
    pub chat: ChatSession,
    /// Frames not yet acknowledged (long-poll) or kept for `Last-Event-ID` (stream).
    pub frames: VecDeque<Arc<[u8]>>,
    /// The cursor of `frames[0]` (cursors count from 1).
    pub first: u64,
    /// Highest cursor already written to an SSE stream: such frames may be dropped to
    /// make room; unwritten ones may not (the session overflows instead).
    pub streamed: u64,
    /// The connection waiting for frames, if any.
    pub waiter: Option<Waiter>,
    /// Shard clock of the last request, or of the last waiter leaving.
    pub seen_ms: u64,
    /// Why it ended; an ended session is kept (without frames) for a while so that its
    /// client learns why.
    pub ended: Option<Box<str>>,
    /// On the shard's list of sessions to answer at the end of the turn.
    pub ready: bool,
    /// Under pressure: the second `lines_in_second` counts.
    pub lines_second: u16,
    /// Under pressure: lines received in `lines_second`.
    pub lines_in_second: u16,
    /// When the last typing indicator was let through (shard clock, wrapping; 0: never).
    pub typing_ms: u32,
}

/// Frames waited for beyond the buffer: the session must end.
#[derive(Debug)]
pub struct Overflow;

impl HttpSession {
    /// A new session of `user`.
    pub fn new(secret: u128, user: Box<str>, chat: ChatSession, now_ms: u64) -> Self {
        HttpSession {
            secret,
            user,
            chat,
            frames: VecDeque::new(),
            first: 1,
            streamed: 0,
            waiter: None,
            seen_ms: now_ms,
            ended: None,
            ready: false,
            lines_second: 0,
            lines_in_second: 0,
            typing_ms: 0,
        }
    }

    /// The cursor of the newest frame (0 before the first).
    pub fn last(&self) -> u64 {
        self.first + self.frames.len() as u64 - 1
    }

    /// Buffers a frame; over `cap` it drops the oldest frame already streamed, or fails.
    pub fn push(&mut self, frame: Arc<[u8]>, cap: usize) -> Result<(), Overflow> {
        self.frames.push_back(frame);
        while self.frames.len() > cap {
            if self.first > self.streamed {
                return Err(Overflow);
            }
            self.frames.pop_front();
            self.first += 1;
        }
        Ok(())
    }

    /// The client has every frame up to `cursor` (≤ [`Self::last`]): they are dropped.
    pub fn ack(&mut self, cursor: u64) {
        while self.first <= cursor && self.frames.pop_front().is_some() {
            self.first += 1;
        }
        if self.frames.is_empty() && self.frames.capacity() > 0 {
            // Nothing queued: no buffer either.
            self.frames = VecDeque::new();
        }
    }

    /// Whether the frames after `cursor` are still here (false: some were dropped).
    pub fn has_since(&self, cursor: u64) -> bool {
        cursor + 1 >= self.first
    }

    /// The frames after `cursor`, with their cursors.
    pub fn since(&self, cursor: u64) -> impl Iterator<Item = (u64, &[u8])> {
        let skip = (cursor + 1).saturating_sub(self.first) as usize;
        let first = self.first;
        self.frames
            .iter()
            .enumerate()
            .skip(skip)
            .map(move |(i, f)| (first + i as u64, &f[..]))
    }
}

/// A slot of the table.
#[derive(Debug, Default)]
struct Entry {
    generation: u32,
    session: Option<Box<HttpSession>>,
}

/// A shard's sessions, by index (slot − [`SESSION_SLOT_BASE`]); freed indices are
/// reused with a new generation, so a stale id never reaches the next session.
#[derive(Debug, Default)]
pub struct Sessions {
    entries: Vec<Entry>,
    free: Vec<u32>,
    len: usize,
    /// Sessions (slot, generation) with new frames and a waiter, answered at the end
    /// of the turn.
    pub ready: Vec<(u32, u32)>,
}

impl Sessions {
    /// Sessions held (ended ones included until they are dropped).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Indices to sweep.
    pub fn capacity(&self) -> u32 {
        self.entries.len() as u32
    }

    /// Stores a session; its (slot, generation), or `None` when `max` are held.
    pub fn insert(&mut self, session: HttpSession, max: usize) -> Option<(u32, u32)> {
        if self.len >= max.min(MAX_SESSIONS) {
            return None;
        }
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.entries.push(Entry::default());
                self.entries.len() as u32 - 1
            }
        };
        let entry = &mut self.entries[index as usize];
        entry.session = Some(Box::new(session));
        self.len += 1;
        Some((SESSION_SLOT_BASE + index, entry.generation))
    }

    /// The session of `slot` if it is still the one of `generation`.
    pub fn get_mut(&mut self, slot: u32, generation: u32) -> Option<&mut HttpSession> {
        let entry = self
            .entries
            .get_mut(slot.checked_sub(SESSION_SLOT_BASE)? as usize)?;
        if entry.generation != generation {
            return None;
        }
        entry.session.as_deref_mut()
    }

    /// The session at `index` of the sweep, with its slot and generation.
    pub fn at(&mut self, index: u32) -> Option<(u32, u32, &mut HttpSession)> {
        let entry = self.entries.get_mut(index as usize)?;
        let generation = entry.generation;
        let session = entry.session.as_deref_mut()?;
        Some((SESSION_SLOT_BASE + index, generation, session))
    }

    /// Frees the session of `slot`.
    pub fn remove(&mut self, slot: u32) {
        let Some(index) = slot.checked_sub(SESSION_SLOT_BASE) else {
            return;
        };
        if let Some(entry) = self.entries.get_mut(index as usize) {
            if entry.session.take().is_some() {
                entry.generation = (entry.generation + 1) & GENERATION_MASK;
                self.free.push(index);
                self.len -= 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_protocol::chat::{Encoding, Role};

    fn session() -> HttpSession {
        let chat = ChatSession {
            encoding: Encoding::Json,
            role: Role::Visitor,
            vip: false,
        };
        HttpSession::new(7, "v".into(), chat, 0)
    }

    fn frame(n: u8) -> Arc<[u8]> {
        Arc::from(vec![n])
    }

    #[test]
    fn polled_frames_stay_until_acknowledged() {
        let mut s = session();
        assert_eq!(s.last(), 0);
        for n in 1..=3 {
            s.push(frame(n), 3).unwrap();
        }
        let again: Vec<_> = s.since(0).map(|(c, f)| (c, f[0])).collect();
        assert_eq!(again, vec![(1, 1), (2, 2), (3, 3)]);
        assert!(
            s.push(frame(4), 3).is_err(),
            "a fourth unpolled frame overflows"
        );
        let mut s = session();
        s.push(frame(1), 3).unwrap();
        s.push(frame(2), 3).unwrap();
        s.ack(1);
        assert_eq!(s.since(1).map(|(c, _)| c).collect::<Vec<_>>(), vec![2]);
        assert!(!s.has_since(0) && s.has_since(1));
        s.ack(2);
        assert_eq!(s.frames.capacity(), 0, "nothing queued, no buffer");
        assert_eq!(s.last(), 2);
    }

    #[test]
    fn streamed_frames_make_room() {
        let mut s = session();
        for n in 1..=2 {
            s.push(frame(n), 2).unwrap();
        }
        s.streamed = 2;
        s.push(frame(3), 2).unwrap();
        assert_eq!((s.first, s.last()), (2, 3));
        s.push(frame(4), 2).unwrap();
        assert_eq!((s.first, s.last()), (3, 4));
        assert!(s.push(frame(5), 2).is_err(), "frame 3 was never streamed");
    }

    #[test]
    fn stale_ids_miss() {
        let mut table = Sessions::default();
        let (slot, generation) = table.insert(session(), 10).unwrap();
        assert!(is_session_slot(slot));
        table.remove(slot);
        let (again, next) = table.insert(session(), 10).unwrap();
        assert_eq!(again, slot);
        assert!(table.get_mut(slot, generation).is_none());
        assert!(table.get_mut(slot, next).is_some());
        assert!(table.insert(session(), 1).is_none(), "the limit holds");
    }
}
