//! The control API of Switchboard: HTTP/1.1 + JSON for the admin and routing services,
//! Prometheus metrics, and the `switchboard ctl` client.
//!
//! - [`model`]: the JSON bodies, shared by the server, the client and the engine.
//! - [`Engine`]: what the server asks of the node; the engine implements it.
//! - [`limits`]: every input limit.
#![forbid(unsafe_code)]

pub mod engine;
pub mod limits;
pub mod model;

pub use engine::{ApiError, Engine};

/// The default address of the control listener, loopback only.
pub const DEFAULT_CONTROL_LISTEN: &str = "127.0.0.1:9090";
