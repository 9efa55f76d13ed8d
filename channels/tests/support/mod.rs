//! What the integration tests share: the engine's side as a recording sink, a
//! faithful local WeChat platform simulator with its followers, and an HTTP receiver
//! for webhooks and device callbacks. All servers are real, on loopback.
#![allow(
    dead_code,
    reason = "shared by several test binaries, each using a part"
)]

pub mod event_log;
pub mod receiver;
pub mod sink;
pub mod wechat_sim;

use std::time::{Duration, Instant};

/// Polls `check` until it is true or `timeout` passes; returns the last answer.
pub fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
