//! What one node sends another through Redis pub/sub (channel `sb:n:<number>`): a
//! version byte ([`WIRE_VERSION`]) and the message in postcard. Only nodes of the same
//! deployment publish there; a message that does not decode — also one of another
//! version, from a node not yet upgraded in a rolling upgrade — is counted and dropped,
//! never trusted (the channel is at most once anyway: clients `resume`, and retry with
//! the same `client_msg_id`).
//!
//! Postcard names enum variants by their index, so the encoding depends on the order of
//! the variants of `NodeMsg` and of the service commands it carries. The golden test
//! below pins the bytes of one message of every kind: a change that moves them must
//! come with a new [`WIRE_VERSION`].

use crate::shard::ShardMsg;
use switchboard_service::commands::{HomeCmd, RouterCmd};
use switchboard_service::ids::ConnId;

/// A message between nodes.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub enum NodeMsg {
    /// A command for the home of conversation `conv` (the receiving node owns it).
    Home {
        /// The conversation.
        conv: u64,
        /// The command.
        cmd: HomeCmd,
    },
    /// A command for the router (the receiving node runs it).
    Router(RouterCmd),
    /// An encoded chat frame for a connection of the receiving node.
    Frame {
        /// The sending node (the conversation's owner).
        from: u16,
        /// The connection.
        to: ConnId,
        /// Its conversation (0: none).
        conv: u64,
        /// The frame's payload in the connection's encoding.
        payload: Vec<u8>,
    },
    /// An application event for a connection of the receiving node.
    Push {
        /// The connection.
        conn: ConnId,
        /// Event name.
        name: Box<str>,
        /// Event data, JSON text.
        data: Box<str>,
    },
    /// Close a connection of the receiving node.
    Kick {
        /// The connection.
        conn: ConnId,
        /// WebSocket close code.
        code: u16,
        /// Close reason.
        reason: Box<str>,
    },
}

/// The first byte of every node message: the version of its encoding. Chosen outside
/// the range of the first byte of the unversioned messages of earlier releases (a
/// variant index, 0–4), so those are refused rather than misread.
pub const WIRE_VERSION: u8 = 0xB1;

impl NodeMsg {
    /// Encodes the message for a pub/sub payload.
    pub fn encode(&self) -> Result<Vec<u8>, postcard::Error> {
        let mut bytes = vec![WIRE_VERSION];
        postcard::to_io(self, &mut bytes)?;
        Ok(bytes)
    }

    /// Decodes a pub/sub payload.
    pub fn decode(bytes: &[u8]) -> Result<NodeMsg, postcard::Error> {
        match bytes.split_first() {
            Some((&WIRE_VERSION, body)) => postcard::from_bytes(body),
            _ => Err(postcard::Error::DeserializeBadEncoding),
        }
    }

    /// The shard of a node with `shards` shards that handles the message, and the
    /// message as that shard takes it.
    pub fn into_shard_msg(self, shards: usize) -> (usize, ShardMsg) {
        let shards = shards.max(1) as u64;
        match self {
            NodeMsg::Home { conv, cmd } => ((conv % shards) as usize, ShardMsg::Home { conv, cmd }),
            NodeMsg::Router(cmd) => (0, ShardMsg::Router(cmd)),
            NodeMsg::Frame {
                from,
                to,
                conv,
                payload,
            } => (
                to.shard(),
                ShardMsg::Frame {
                    to,
                    conv,
                    payload: payload.into(),
                    at: std::time::Instant::now(),
                    origin: from,
                },
            ),
            NodeMsg::Push { conn, name, data } => {
                (conn.shard(), ShardMsg::Push { conn, name, data })
            }
            NodeMsg::Kick { conn, code, reason } => {
                (conn.shard(), ShardMsg::Kick { conn, code, reason })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_protocol::chat::{Encoding, Role};
    use switchboard_service::ids::Peer;

    #[test]
    fn commands_round_trip_and_garbage_is_an_error() {
        let peer = Peer {
            conn: ConnId::new(1, 7, 3).on_node(5),
            encoding: Encoding::Json,
        };
        let msg = NodeMsg::Home {
            conv: 42,
            cmd: HomeCmd::Send {
                peer,
                user: "alice".into(),
                role: Role::Visitor,
                client_msg_id: "m1".into(),
                body: "hello".into(),
            },
        };
        let bytes = msg.encode().unwrap();
        let (shard, back) = NodeMsg::decode(&bytes).unwrap().into_shard_msg(4);
        assert_eq!(shard, 2);
        let ShardMsg::Home {
            conv: 42,
            cmd: HomeCmd::Send {
                peer: got, body, ..
            },
        } = back
        else {
            panic!("wrong message: {back:?}");
        };
        assert_eq!((got, &*body), (peer, "hello"));
        assert!(NodeMsg::decode(&[0xFF, 0xFF, 0xFF]).is_err());
        // An unversioned message of an earlier release is refused, not misread.
        assert!(NodeMsg::decode(&bytes[1..]).is_err());
    }

    /// The bytes of one message of every kind, pinned: if this fails, the wire format
    /// changed (a variant or field moved) and `WIRE_VERSION` must change with it.
    #[test]
    fn the_wire_bytes_are_pinned() {
        let peer = Peer {
            conn: ConnId(0x1_2345),
            encoding: Encoding::Binary,
        };
        let messages = [
            NodeMsg::Home {
                conv: 7,
                cmd: HomeCmd::Send {
                    peer,
                    user: "v".into(),
                    role: Role::Visitor,
                    client_msg_id: "m".into(),
                    body: "hi".into(),
                },
            },
            NodeMsg::Router(RouterCmd::VisitorStart {
                visitor: "v".into(),
                vip: true,
                peer,
            }),
            NodeMsg::Frame {
                from: 3,
                to: ConnId(9),
                conv: 7,
                payload: vec![1, 2],
            },
            NodeMsg::Push {
                conn: ConnId(9),
                name: "n".into(),
                data: "{}".into(),
            },
            NodeMsg::Kick {
                conn: ConnId(9),
                code: 4002,
                reason: "r".into(),
            },
        ];
        let hex: Vec<String> = messages
            .iter()
            .map(|m| {
                m.encode()
                    .unwrap()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect()
            })
            .collect();
        assert_eq!(
            hex,
            [
                "b1000704c5c60400017600016d026869",
                "b10100017601c5c60400",
                "b102030907020102",
                "b10309016e027b7d",
                "b10409a21f0172",
            ]
            .map(str::to_owned),
        );
    }

    proptest::proptest! {
        /// Whatever arrives on a node's channel, decoding answers (an error or a
        /// message) and never panics; a decoded message routes to a shard in range.
        #[test]
        fn any_bytes_decode_without_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            if let Ok(msg) = NodeMsg::decode(&bytes) {
                let (shard, _) = msg.into_shard_msg(4);
                proptest::prop_assert!(shard < 256);
            }
        }

        /// Frames and kicks survive the trip between nodes unchanged.
        #[test]
        fn frames_round_trip(
            raw in proptest::num::u64::ANY,
            node in 1u16..=switchboard_service::ids::MAX_NODE,
            conv in proptest::num::u64::ANY,
            payload in proptest::collection::vec(proptest::num::u8::ANY, 0..256),
            from in proptest::num::u16::ANY,
        ) {
            let to = ConnId(raw).on_node(node);
            let msg = NodeMsg::Frame { from, to, conv, payload: payload.clone() };
            let back = NodeMsg::decode(&msg.encode().unwrap()).unwrap();
            let NodeMsg::Frame { from: f, to: t, conv: c, payload: p } = back else {
                panic!("not a frame");
            };
            proptest::prop_assert_eq!((f, t, c, p), (from, to, conv, payload));
        }
    }
}
