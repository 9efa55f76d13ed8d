//! The control API of Switchboard (HTTP JSON for the admin and routing services).
//!
//! Not built yet: this crate reserves the place in the workspace for the control API
//! (issue "Control API ..."). Today the engine serves only `GET /health` on its
//! public port.
#![forbid(unsafe_code)]

/// The default address of the control listener, loopback only.
pub const DEFAULT_CONTROL_LISTEN: &str = "127.0.0.1:9090";
