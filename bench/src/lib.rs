//! Benchmarks of Switchboard and the baselines they are compared with.
//!
//! The macro benchmark lives in `bench/run` (a bash script driving the loadgen); this
//! crate holds the baseline servers it compares the engine with, so that tests can
//! start them in-process too:
//! - [`echo_baseline`]: a fairly tuned tokio + tokio-tungstenite WebSocket echo server.

pub mod echo_baseline;
