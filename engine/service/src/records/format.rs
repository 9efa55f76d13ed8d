//! The stored forms of a conversation's state and items: `v1` (written now, every
//! name explicit) and `v0` (read only: what was written before versions existed).

use serde::{Deserialize, Serialize};
use switchboard_protocol::chat::{Encoding, SystemKind};
use switchboard_protocol::conversation::{Conversation, EndReason, Phase};

use super::{ConvState, StoredFollower};
use crate::home::{Item, ItemBody};
use crate::ids::{ConnId, Peer};

/// The record version written now.
pub const RECORD_VERSION: u32 = 1;

/// Why a stored record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Not JSON of either known form.
    #[error("not a conversation record: {0}")]
    Malformed(String),
    /// A version this code does not know (a newer node wrote it).
    #[error("record version {0} is newer than this node reads ({RECORD_VERSION})")]
    UnknownVersion(u32),
    /// A name inside it that this code does not know.
    #[error("unknown {field} {value:?} in a record")]
    UnknownName {
        /// Which field.
        field: &'static str,
        /// Its value.
        value: String,
    },
}

fn malformed(err: serde_json::Error) -> RecordError {
    RecordError::Malformed(err.to_string())
}

/// Version 1: every enum is tagged by an explicit name.
mod v1 {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize)]
    pub struct State {
        pub v: u32,
        pub id: u64,
        pub visitor: String,
        pub vip: bool,
        #[serde(flatten)]
        pub phase: Phase,
        pub last_activity_ms: u64,
        pub next_seq: u64,
        pub created_ms: u64,
        pub queue_position: Option<u32>,
        pub followers: Vec<Follower>,
    }

    #[derive(Debug, Serialize, Deserialize)]
    #[serde(tag = "state", rename_all = "snake_case")]
    pub enum Phase {
        Waiting,
        Serving {
            agent: String,
        },
        Transferring {
            from: String,
            to: String,
            origin_available: bool,
            since_ms: u64,
        },
        Ended {
            reason: String,
        },
    }

    #[derive(Debug, Serialize, Deserialize)]
    pub struct Follower {
        pub conn: u64,
        /// `json` or `bin`.
        pub encoding: String,
        pub user: String,
        pub acked: u64,
    }

    #[derive(Debug, Serialize, Deserialize)]
    pub struct Item {
        pub v: u32,
        pub seq: u64,
        pub ts: u64,
        #[serde(flatten)]
        pub body: Body,
    }

    #[derive(Debug, Serialize, Deserialize)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    pub enum Body {
        Message {
            from: String,
            client_msg_id: String,
            body: String,
        },
        System {
            event: String,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            agent: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            position: Option<u32>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            reason: Option<String>,
        },
    }
}

/// Version 0: the serde image of the in-memory types as they were in 2026-12, frozen
/// here (only ever read).
mod v0 {
    use serde::Deserialize;
    use switchboard_protocol::conversation::Conversation;

    #[derive(Debug, Deserialize)]
    pub struct State {
        pub fsm: Conversation,
        pub next_seq: u64,
        pub created_ms: u64,
        pub queue_position: Option<u32>,
        pub followers: Vec<Follower>,
    }

    #[derive(Debug, Deserialize)]
    pub struct Follower {
        pub peer: Peer,
        pub user: String,
        pub acked: u64,
    }

    #[derive(Debug, Deserialize)]
    pub struct Peer {
        pub conn: u64,
        /// `Json` or `Binary`.
        pub encoding: String,
    }

    #[derive(Debug, Deserialize)]
    pub struct Item {
        pub seq: u64,
        pub ts: u64,
        pub body: Body,
    }

    #[derive(Debug, Deserialize)]
    pub enum Body {
        Message {
            from: String,
            client_msg_id: String,
            body: String,
        },
        System {
            kind: String,
            agent: Option<String>,
            position: Option<u32>,
            reason: Option<String>,
        },
    }
}

/// Just the version field, read first.
#[derive(Deserialize)]
struct Version {
    v: Option<u32>,
}

fn version(json: &str) -> Result<Option<u32>, RecordError> {
    let Version { v } = serde_json::from_str(json).map_err(malformed)?;
    match v {
        Some(v) if v > RECORD_VERSION => Err(RecordError::UnknownVersion(v)),
        v => Ok(v),
    }
}

fn end_reason(name: &str) -> Result<EndReason, RecordError> {
    [
        EndReason::Visitor,
        EndReason::Agent,
        EndReason::Inactivity,
        EndReason::Admin,
    ]
    .into_iter()
    .find(|r| r.as_str() == name)
    .ok_or_else(|| RecordError::UnknownName {
        field: "end reason",
        value: name.to_owned(),
    })
}

fn encoding(name: &str) -> Result<Encoding, RecordError> {
    match name {
        "json" | "Json" => Ok(Encoding::Json),
        "bin" | "Binary" => Ok(Encoding::Binary),
        other => Err(RecordError::UnknownName {
            field: "encoding",
            value: other.to_owned(),
        }),
    }
}

fn system_kind(name: &str) -> Result<SystemKind, RecordError> {
    SystemKind::from_name(name).ok_or_else(|| RecordError::UnknownName {
        field: "system event",
        value: name.to_owned(),
    })
}

/// The conversation's state as a v1 record (JSON text).
pub fn encode_state(state: &ConvState) -> String {
    let fsm = &state.fsm;
    let phase = match &fsm.phase {
        Phase::Waiting => v1::Phase::Waiting,
        Phase::Serving { agent } => v1::Phase::Serving {
            agent: agent.clone(),
        },
        Phase::Transferring {
            from,
            to,
            origin_available,
            since_ms,
        } => v1::Phase::Transferring {
            from: from.clone(),
            to: to.clone(),
            origin_available: *origin_available,
            since_ms: *since_ms,
        },
        Phase::Ended { reason } => v1::Phase::Ended {
            reason: reason.as_str().to_owned(),
        },
    };
    let record = v1::State {
        v: RECORD_VERSION,
        id: fsm.id,
        visitor: fsm.visitor.clone(),
        vip: fsm.vip,
        phase,
        last_activity_ms: fsm.last_activity_ms,
        next_seq: state.next_seq,
        created_ms: state.created_ms,
        queue_position: state.queue_position,
        followers: state
            .followers
            .iter()
            .map(|f| v1::Follower {
                conn: f.peer.conn.0,
                encoding: match f.peer.encoding {
                    Encoding::Json => "json",
                    Encoding::Binary => "bin",
                }
                .to_owned(),
                user: f.user.to_string(),
                acked: f.acked,
            })
            .collect(),
    };
    to_json(&record)
}

/// Reads a stored state record, v1 or v0.
pub fn decode_state(json: &str) -> Result<ConvState, RecordError> {
    match version(json)? {
        Some(_) => state_from_v1(serde_json::from_str(json).map_err(malformed)?),
        None => state_from_v0(serde_json::from_str(json).map_err(malformed)?),
    }
}

fn state_from_v1(record: v1::State) -> Result<ConvState, RecordError> {
    let phase = match record.phase {
        v1::Phase::Waiting => Phase::Waiting,
        v1::Phase::Serving { agent } => Phase::Serving { agent },
        v1::Phase::Transferring {
            from,
            to,
            origin_available,
            since_ms,
        } => Phase::Transferring {
            from,
            to,
            origin_available,
            since_ms,
        },
        v1::Phase::Ended { reason } => Phase::Ended {
            reason: end_reason(&reason)?,
        },
    };
    let followers = record
        .followers
        .into_iter()
        .map(|f| {
            Ok(StoredFollower {
                peer: Peer {
                    conn: ConnId(f.conn),
                    encoding: encoding(&f.encoding)?,
                },
                user: f.user.into(),
                acked: f.acked,
            })
        })
        .collect::<Result<_, RecordError>>()?;
    Ok(ConvState {
        fsm: Conversation {
            id: record.id,
            visitor: record.visitor,
            vip: record.vip,
            phase,
            last_activity_ms: record.last_activity_ms,
        },
        next_seq: record.next_seq,
        created_ms: record.created_ms,
        queue_position: record.queue_position,
        followers,
    })
}

fn state_from_v0(record: v0::State) -> Result<ConvState, RecordError> {
    let followers = record
        .followers
        .into_iter()
        .map(|f| {
            Ok(StoredFollower {
                peer: Peer {
                    conn: ConnId(f.peer.conn),
                    encoding: encoding(&f.peer.encoding)?,
                },
                user: f.user.into(),
                acked: f.acked,
            })
        })
        .collect::<Result<_, RecordError>>()?;
    Ok(ConvState {
        fsm: record.fsm,
        next_seq: record.next_seq,
        created_ms: record.created_ms,
        queue_position: record.queue_position,
        followers,
    })
}

/// An item as a v1 record (JSON text).
pub fn encode_item(item: &Item) -> String {
    let body = match &item.body {
        ItemBody::Message {
            from,
            client_msg_id,
            body,
        } => v1::Body::Message {
            from: from.to_string(),
            client_msg_id: client_msg_id.to_string(),
            body: body.to_string(),
        },
        ItemBody::System {
            kind,
            agent,
            position,
            reason,
        } => v1::Body::System {
            event: kind.as_str().to_owned(),
            agent: agent.as_deref().map(str::to_owned),
            position: *position,
            reason: reason.as_deref().map(str::to_owned),
        },
    };
    to_json(&v1::Item {
        v: RECORD_VERSION,
        seq: item.seq,
        ts: item.ts,
        body,
    })
}

/// Reads a stored item record, v1 or v0.
pub fn decode_item(json: &str) -> Result<Item, RecordError> {
    match version(json)? {
        Some(_) => {
            let record: v1::Item = serde_json::from_str(json).map_err(malformed)?;
            let body = match record.body {
                v1::Body::Message {
                    from,
                    client_msg_id,
                    body,
                } => message(from, client_msg_id, body),
                v1::Body::System {
                    event,
                    agent,
                    position,
                    reason,
                } => system(&event, agent, position, reason)?,
            };
            Ok(Item {
                seq: record.seq,
                ts: record.ts,
                body,
            })
        }
        None => {
            let record: v0::Item = serde_json::from_str(json).map_err(malformed)?;
            let body = match record.body {
                v0::Body::Message {
                    from,
                    client_msg_id,
                    body,
                } => message(from, client_msg_id, body),
                v0::Body::System {
                    kind,
                    agent,
                    position,
                    reason,
                } => system(&kind, agent, position, reason)?,
            };
            Ok(Item {
                seq: record.seq,
                ts: record.ts,
                body,
            })
        }
    }
}

fn message(from: String, client_msg_id: String, body: String) -> ItemBody {
    ItemBody::Message {
        from: from.into(),
        client_msg_id: client_msg_id.into(),
        body: body.into(),
    }
}

fn system(
    event: &str,
    agent: Option<String>,
    position: Option<u32>,
    reason: Option<String>,
) -> Result<ItemBody, RecordError> {
    Ok(ItemBody::System {
        kind: system_kind(event)?,
        agent: agent.map(Into::into),
        position,
        reason: reason.map(Into::into),
    })
}

fn to_json(record: &impl Serialize) -> String {
    // Plain structs of integers, strings and options always serialize.
    serde_json::to_string(record).unwrap_or_default()
}
