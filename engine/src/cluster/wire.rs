//! What one node sends another through Redis pub/sub (channel `sb:n:<number>`),
//! encoded with postcard. Only nodes of the same deployment publish there; a message
//! that does not decode is counted and dropped, never trusted.

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

impl NodeMsg {
    /// Encodes the message for a pub/sub payload.
    pub fn encode(&self) -> Result<Vec<u8>, postcard::Error> {
        postcard::to_stdvec(self)
    }

    /// Decodes a pub/sub payload.
    pub fn decode(bytes: &[u8]) -> Result<NodeMsg, postcard::Error> {
        postcard::from_bytes(bytes)
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
