//! Benchmarks of Switchboard and the baselines they are compared with.
//!
//! The macro benchmarks live in `bench/` as bash scripts driving the loadgen and the
//! independent echo client; this crate holds what they start, so that tests can start
//! the servers in-process too:
//! - [`echo_baseline`]: a fairly tuned tokio + tokio-tungstenite WebSocket echo server.
//! - [`fast_echo`]: the second baseline, the same on fastwebsockets.
//! - [`server`]: what both share (runtime, listener, accept loop, flags).
//! - [`echo_payload`] and [`reply_order`]: the message format and the reply accounting
//!   of `echo-client`, the tokio-tungstenite client that shares no code with the
//!   engine, its driver or the loadgen.

#![forbid(unsafe_code)]

pub mod echo_baseline;
pub mod echo_payload;
pub mod fast_echo;
pub mod reply_order;
pub mod server;
