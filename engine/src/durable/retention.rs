//! `--retain`: compaction drops a conversation once its newest state says it ended
//! and its last activity is older than the retention. Anything it cannot read is kept.

use std::time::{Duration, SystemTime};

use switchboard_service::records::decode_state;
use switchboard_store::{RetentionPolicy, StreamVerdict};

/// The policy the store's compactor asks, on its own thread.
#[derive(Debug)]
pub(super) struct Retention {
    retain_ms: u64,
}

impl Retention {
    pub(super) fn new(retain: Duration) -> Self {
        Retention {
            retain_ms: retain.as_millis() as u64,
        }
    }

    fn decide(&self, state: Option<&[u8]>, now_ms: u64) -> StreamVerdict {
        let Some(state) = state
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
            .and_then(|text| decode_state(text).ok())
        else {
            return StreamVerdict::Keep;
        };
        let fsm = &state.fsm;
        if fsm.is_ended() && fsm.last_activity_ms.saturating_add(self.retain_ms) <= now_ms {
            StreamVerdict::Drop
        } else {
            StreamVerdict::Keep
        }
    }
}

impl RetentionPolicy for Retention {
    fn verdict(&self, _stream: u64, newest_state: Option<&[u8]>) -> StreamVerdict {
        let now_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.decide(newest_state, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_protocol::conversation::Conversation;
    use switchboard_service::records::{encode_state, ConvState};

    fn state(ended_at: Option<u64>) -> Vec<u8> {
        let (mut fsm, _) = Conversation::open(1, "v", false, 1_000);
        if let Some(at) = ended_at {
            fsm.phase = switchboard_protocol::conversation::Phase::Ended {
                reason: switchboard_protocol::conversation::EndReason::Visitor,
            };
            fsm.last_activity_ms = at;
        }
        let state = ConvState {
            fsm,
            next_seq: 1,
            created_ms: 1_000,
            queue_position: None,
            followers: Vec::new(),
        };
        encode_state(&state).into_bytes()
    }

    #[test]
    fn only_ended_conversations_past_retention_go() {
        let policy = Retention::new(Duration::from_secs(10));
        let live = state(None);
        let ended = state(Some(5_000));
        assert_eq!(policy.decide(Some(&live), 1 << 40), StreamVerdict::Keep);
        assert_eq!(policy.decide(Some(&ended), 14_999), StreamVerdict::Keep);
        assert_eq!(policy.decide(Some(&ended), 15_000), StreamVerdict::Drop);
        assert_eq!(policy.decide(None, 1 << 40), StreamVerdict::Keep);
        assert_eq!(
            policy.decide(Some(b"not json"), 1 << 40),
            StreamVerdict::Keep
        );
    }
}
