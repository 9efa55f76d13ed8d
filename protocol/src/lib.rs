//! Switchboard's wire protocol, with no I/O and no clock.
//!
//! - [`ws`]: WebSocket framing (RFC 6455) and a per-connection [`ws::Reader`] that
//!   enforces every rule a server must enforce, without buffering idle connections.
//! - [`http`]: the HTTP/1.1 request that opens a connection and the answers to it.
//! - [`session`]: the HTTP long-poll and Server-Sent Events sessions (ids, routes, bodies).
//! - [`chat`]: the chat frames of `/v1/ws`, rkyv binary or JSON per subprotocol.
//! - [`conversation`]: the life of a conversation (waiting, serving, transferring,
//!   ended) as a pure function of (state, event, now).
//!
//! Everything here is deterministic and is exercised by unit tests, property tests and
//! fuzz targets; the engine is thin glue between these functions and the sockets.
#![forbid(unsafe_code)]

pub mod chat;
pub mod conversation;
pub mod http;
pub mod session;
pub mod ws;
