//! The control API of Switchboard: HTTP/1.1 + JSON for the admin and routing services,
//! Prometheus metrics, and the `switchboard ctl` client.
//!
//! - [`model`]: the JSON bodies, shared by the server, the client and the engine.
//! - [`Engine`]: what the server asks of the node; the engine implements it.
//! - [`serve`]: the server (its own threads, blocking I/O, off the shards' hot path);
//!   [`check_bind`] refuses a non-loopback address without a token.
//! - [`routes::ROUTES`]: the route table, which `openapi.yaml` must match (a test checks).
//! - [`client`] and [`run_ctl`]: the blocking client and `switchboard ctl`.
//! - [`limits`]: every input limit.
//!
//! Authentication: `/livez` and `/readyz` are open (probes carry no secret); every
//! other route, `/metrics` included, needs `Authorization: Bearer <token>` when a
//! token is set.
#![forbid(unsafe_code)]

pub mod client;
mod ctl;
pub mod engine;
mod handlers;
mod http;
pub mod limits;
pub mod model;
pub mod routes;
mod server;

pub use ctl::{run_ctl, run_ctl_to, table, CtlArgs, CtlCommand};
pub use engine::{ApiError, Engine};
pub use http::percent_encode;
pub use server::{
    check_bind, read_token_file, serve, serve_with, ControlAuth, ControlServer, ServerOptions,
};

/// The default address of the control listener, loopback only.
pub const DEFAULT_CONTROL_LISTEN: &str = "127.0.0.1:9090";

/// The OpenAPI 3.0 document of the API (`control-api/openapi.yaml`).
pub const OPENAPI_YAML: &str = include_str!("../openapi.yaml");
