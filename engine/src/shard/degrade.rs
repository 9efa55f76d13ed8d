//! A shard's side of pressure self-sensing: shard 0 turns every shard's sensors into
//! the node's level ([`PressureMonitor`]); every shard applies the level in force.

use std::sync::atomic::Ordering;

use switchboard_protocol::chat::ServerFrame;

use super::conn::{Endpoint, Phase};
use super::Shard;
use crate::pressure::Sensors;
use switchboard_driver::os as sys;

/// How often shard 0 reads the process's resident memory.
const MEMORY_READ_INTERVAL_MS: u64 = 1000;

impl Shard {
    /// On shard 0: measures and maybe changes the level. On every shard: applies it.
    pub(super) fn check_pressure(&mut self) {
        if self.pressure.is_some() {
            let sensors = self.read_sensors();
            let (level, cause) = match self.pressure.as_mut() {
                Some(monitor) => {
                    monitor.observe(&sensors, self.now_ms);
                    (monitor.level(), monitor.cause(&sensors))
                }
                None => (
                    0,
                    crate::pressure::Cause {
                        sensor: "none",
                        percent: 0,
                    },
                ),
            };
            // Every tick, so that a level the control API un-pins returns to the measured one.
            {
                if self.shared.level().set_automatic(level) {
                    let why = format!("{} at {}% of its budget", cause.sensor, cause.percent);
                    tracing::warn!(level, cause = %why, "degradation level changed");
                    self.shared.set_level_cause(why);
                    for shard in 0..self.shared.shards() {
                        self.shared.mesh().wake(shard);
                    }
                }
            }
        }
        self.apply_level();
    }

    fn read_sensors(&mut self) -> Sensors {
        let metrics = self.shared.metrics();
        if self.now_ms >= self.memory_read_ms + MEMORY_READ_INTERVAL_MS {
            self.memory_read_ms = self.now_ms;
            self.memory_bytes = sys::resident_bytes().unwrap_or(self.memory_bytes);
        }
        Sensors {
            loop_lag_us: (0..metrics.shard_count())
                .map(|i| metrics.shard(i).loop_lag_us.load(Ordering::Relaxed))
                .max()
                .unwrap_or(0),
            queued_bytes: metrics.total(|s| &s.outbound_queue_bytes),
            connections: metrics.total(|s| &s.connections),
            memory_bytes: self.memory_bytes,
        }
    }

    /// Applies a new level: tells this shard's chat clients, pauses or resumes routing.
    pub(super) fn apply_level(&mut self) {
        let level = self.shared.level().get();
        if level == self.level {
            return;
        }
        self.level = level;
        for slot in 0..self.conns.capacity_slots() {
            let Some(conn) = self.conns.slot_mut(slot) else {
                continue;
            };
            if conn.phase == Phase::Open && matches!(conn.endpoint, Endpoint::Chat(_)) {
                let generation = conn.generation;
                self.tell_level(slot, generation);
            }
        }
        self.sessions_tell_level();
        self.with_router(|router, out| router.set_paused(level >= 2, out));
    }

    /// Sends the level in force to one chat connection as a `pressure` event.
    pub(super) fn tell_level(&mut self, slot: u32, generation: u32) {
        let data = format!("{{\"level\":{}}}", self.level);
        self.enqueue_chat(
            slot,
            generation,
            &ServerFrame::Event {
                name: "pressure",
                data: &data,
            },
        );
    }

    /// Unsent bytes a connection may hold at the current level (a quarter at level 2+).
    pub(super) fn outbound_limit(&self) -> usize {
        if self.level >= 2 {
            self.settings.max_outbound_bytes / 4
        } else {
            self.settings.max_outbound_bytes
        }
    }
}
