//! Switchboard's customer-service core: what happens to conversations, agents and
//! users, as logic only.
//!
//! - [`home`]: the conversations a shard is home to — each one's state machine
//!   (`switchboard_protocol::conversation`), next sequence number, bounded history,
//!   client-message-id dedupe and followers.
//! - [`router`]: agents, their status, capacity, weight and groups, the waiting queue,
//!   and transfers; one logical owner per node (or cluster).
//! - [`presence`]: the open connections of each user (relogin policy).
//! - [`commands`]: the commands shards send each owner, by value.
//! - [`records`]: what a conversation looks like in a store (Redis, the local log).
//!
//! Nothing here does I/O, spawns a thread or reads a clock: commands come in, outputs
//! (encoded frames for connections, notes for other owners, records to persist) go
//! out, and time is a parameter. The engine's shards move commands and outputs between
//! owners; the tests in `tests/` do the same with simulated shards, deterministically.
#![forbid(unsafe_code)]

pub mod commands;
pub mod dispatch;
pub mod error;
pub mod home;
pub mod ids;
pub mod presence;
pub mod records;
pub mod reply;
pub mod router;
pub mod views;

pub use error::ServiceError;
pub use reply::ReplyHandle;
