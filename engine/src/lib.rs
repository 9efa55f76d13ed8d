//! The Switchboard connection engine.
//!
//! A node runs one [`shard::Shard`] per CPU. Each shard is a thread pinned to its CPU
//! with its own io_uring, its own SO_REUSEPORT listener and every connection that
//! listener accepted; shards share nothing but the [`mesh::Mesh`] of lock-free queues
//! through which one shard hands a message to a connection of another.
//!
//! - [`config`]: the command line; every limit is a flag.
//! - [`node`]: binds the listeners, starts and joins the shards, handles signals.
//! - [`shard`]: the event loop, connections, HTTP upgrade, WebSocket frames, output.
//! - [`mesh`]: cross-shard queues and connection ids.
//! - [`auth`]: the pluggable authenticator of `/v1/ws`.
//! - [`tls`]: the rustls configuration and certificates of the public listener.
//! - the I/O driver (io_uring or epoll), buffers and OS calls are in the
//!   `switchboard-driver` crate, the only one with `unsafe`; this crate forbids it.
//!
//! docs/design.md follows one message through these files.
#![forbid(unsafe_code)]

pub mod auth;
pub mod cluster;
pub mod config;
pub mod control;
pub mod durable;
pub mod kernel;
pub mod listener;
pub mod mesh;
pub mod metrics;
pub mod node;
pub mod pressure;
pub mod shared;
pub mod tls;
pub mod web;

pub mod shard;
