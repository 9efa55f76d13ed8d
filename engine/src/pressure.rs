//! Pressure self-sensing: the shards' sensors (event-loop lag, unsent bytes,
//! connections against a budget, process memory against a budget) become one
//! degradation level 0–3 with hysteresis, so that a spike turns non-essential features
//! off before the core suffers, and a level does not flap at a threshold.
//!
//! - L1: ephemeral events (typing, read receipts) are dropped.
//! - L2: also new conversations wait (no new assignment) with a `busy` notice, slow
//!   consumers are cut at a quarter of the queue limit.
//! - L3: also new connections are shed (in the kernel when eBPF is on, else at accept).
//!
//! The level is computed on shard 0's tick and published in one atomic that every shard
//! reads; the control API can pin it.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// What the monitor looks at, for the whole node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sensors {
    /// Worst event-loop lag over the shards, µs.
    pub loop_lag_us: u64,
    /// Unsent bytes over all connections.
    pub queued_bytes: u64,
    /// Open connections.
    pub connections: u64,
    /// Resident memory of the process, bytes.
    pub memory_bytes: u64,
}

/// The budgets that define 100 % pressure on each sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budgets {
    /// Event-loop lag that counts as full pressure, µs.
    pub loop_lag_us: u64,
    /// Unsent bytes that count as full pressure.
    pub queued_bytes: u64,
    /// Connections that count as full pressure.
    pub connections: u64,
    /// Resident memory that counts as full pressure, bytes.
    pub memory_bytes: u64,
}

/// Pressure (percent of budget) at which each level is entered; leaving a level needs
/// pressure below its threshold minus [`HYSTERESIS_PERCENT`].
pub const LEVEL_THRESHOLDS_PERCENT: [u64; 3] = [60, 80, 95];
/// How far below a threshold pressure must fall before the level drops.
pub const HYSTERESIS_PERCENT: u64 = 15;
/// How long pressure must stay at or above a higher level's threshold before the
/// level rises (a single late tick on a busy machine is not a spike).
pub const RISE_AFTER_MS: u64 = 1_000;
/// How long pressure must stay clearly below the level's threshold before it drops.
pub const CALM_AFTER_MS: u64 = 5_000;

/// The sensor that drives the level, with its pressure in percent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cause {
    /// Which sensor.
    pub sensor: &'static str,
    /// Its pressure, percent of budget.
    pub percent: u64,
}

/// Computes the level from the sensors, with hysteresis.
#[derive(Debug)]
pub struct PressureMonitor {
    budgets: Budgets,
    level: u8,
    /// Since when the readings have asked for a higher level, and the lowest of them.
    rising_since_ms: Option<(u64, u8)>,
    /// Since when the readings have been calm enough to drop a level.
    calm_since_ms: Option<u64>,
}

impl PressureMonitor {
    /// A monitor at level 0.
    pub fn new(budgets: Budgets) -> Self {
        PressureMonitor {
            budgets,
            level: 0,
            rising_since_ms: None,
            calm_since_ms: None,
        }
    }

    /// The current level.
    pub fn level(&self) -> u8 {
        self.level
    }

    /// The worst sensor against its budget.
    pub fn cause(&self, sensors: &Sensors) -> Cause {
        let percent = |value: u64, budget: u64| value.saturating_mul(100) / budget.max(1);
        [
            Cause {
                sensor: "event_loop_lag",
                percent: percent(sensors.loop_lag_us, self.budgets.loop_lag_us),
            },
            Cause {
                sensor: "queued_bytes",
                percent: percent(sensors.queued_bytes, self.budgets.queued_bytes),
            },
            Cause {
                sensor: "connections",
                percent: percent(sensors.connections, self.budgets.connections),
            },
            Cause {
                sensor: "memory",
                percent: percent(sensors.memory_bytes, self.budgets.memory_bytes),
            },
        ]
        .into_iter()
        .max_by_key(|c| c.percent)
        .unwrap_or(Cause {
            sensor: "none",
            percent: 0,
        })
    }

    /// Feeds one reading taken at `now_ms`; returns the new level and its cause when
    /// the level changed.
    pub fn observe(&mut self, sensors: &Sensors, now_ms: u64) -> Option<(u8, Cause)> {
        let cause = self.cause(sensors);
        let raw = LEVEL_THRESHOLDS_PERCENT
            .iter()
            .filter(|&&t| cause.percent >= t)
            .count() as u8;
        if raw > self.level {
            self.calm_since_ms = None;
            let (since, lowest) = self.rising_since_ms.unwrap_or((now_ms, raw));
            let lowest = lowest.min(raw);
            self.rising_since_ms = Some((since, lowest));
            if now_ms.saturating_sub(since) >= RISE_AFTER_MS {
                self.level = lowest;
                self.rising_since_ms = None;
                return Some((self.level, cause));
            }
            return None;
        }
        self.rising_since_ms = None;
        // Drop one level only after pressure stayed clearly below its threshold.
        let threshold = match self.level {
            0 => return None,
            level => LEVEL_THRESHOLDS_PERCENT[usize::from(level) - 1],
        };
        if cause.percent + HYSTERESIS_PERCENT < threshold {
            let since = *self.calm_since_ms.get_or_insert(now_ms);
            if now_ms.saturating_sub(since) >= CALM_AFTER_MS {
                self.level -= 1;
                self.calm_since_ms = None;
                return Some((self.level, cause));
            }
        } else {
            self.calm_since_ms = None;
        }
        None
    }
}

/// The level every shard reads, and whether the control API pinned it.
#[derive(Debug, Default)]
pub struct LevelCell {
    level: AtomicU8,
    pinned: AtomicBool,
}

impl LevelCell {
    /// The level in force.
    pub fn get(&self) -> u8 {
        self.level.load(Ordering::Relaxed)
    }

    /// Whether the control API pinned it.
    pub fn pinned(&self) -> bool {
        self.pinned.load(Ordering::Relaxed)
    }

    /// Sets the automatic level (ignored while pinned); returns whether it changed.
    pub fn set_automatic(&self, level: u8) -> bool {
        if self.pinned() {
            return false;
        }
        self.level.swap(level, Ordering::Relaxed) != level
    }

    /// Pins `level`, or returns to automatic with `None`.
    pub fn pin(&self, level: Option<u8>) {
        match level {
            Some(level) => {
                self.level.store(level.min(3), Ordering::Relaxed);
                self.pinned.store(true, Ordering::Relaxed);
            }
            None => self.pinned.store(false, Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn monitor() -> PressureMonitor {
        PressureMonitor::new(Budgets {
            loop_lag_us: 1000,
            queued_bytes: 1000,
            connections: 1000,
            memory_bytes: 1000,
        })
    }

    fn lag(us: u64) -> Sensors {
        Sensors {
            loop_lag_us: us,
            ..Sensors::default()
        }
    }

    #[test]
    fn levels_rise_after_sustained_pressure_and_fall_only_after_a_calm_spell() {
        let mut m = monitor();
        assert_eq!(m.observe(&lag(100), 0), None);
        assert_eq!(
            m.observe(&lag(970), 100),
            None,
            "one late tick is not a spike"
        );
        assert_eq!(m.observe(&lag(100), 200), None);
        assert_eq!(m.observe(&lag(970), 300), None);
        assert_eq!(m.observe(&lag(850), 900), None);
        let risen = m.observe(&lag(970), 1_300).map(|(l, c)| (l, c.sensor));
        assert_eq!(
            risen,
            Some((2, "event_loop_lag")),
            "the lowest level asked for all along"
        );
        assert_eq!(m.observe(&lag(100), 2_000), None);
        assert_eq!(
            m.observe(&lag(100), 6_000),
            None,
            "no drop before the calm spell"
        );
        assert_eq!(m.observe(&lag(100), 7_000).map(|(l, _)| l), Some(1));
    }

    #[test]
    fn pressure_just_under_a_threshold_does_not_flap() {
        let mut m = monitor();
        m.observe(&lag(600), 0);
        m.observe(&lag(600), RISE_AFTER_MS);
        assert_eq!(m.level(), 1);
        for t in 0..100 {
            let now = RISE_AFTER_MS + t * 500;
            assert_eq!(
                m.observe(&lag(580), now),
                None,
                "within hysteresis: stays at 1"
            );
            assert_eq!(m.observe(&lag(610), now + 250), None);
        }
        assert_eq!(m.level(), 1);
    }

    #[test]
    fn the_worst_sensor_is_the_cause() {
        let m = monitor();
        let sensors = Sensors {
            loop_lag_us: 10,
            queued_bytes: 500,
            connections: 900,
            memory_bytes: 100,
        };
        assert_eq!(
            m.cause(&sensors),
            Cause {
                sensor: "connections",
                percent: 90
            }
        );
    }

    #[test]
    fn a_pinned_level_ignores_the_monitor() {
        let cell = LevelCell::default();
        assert!(cell.set_automatic(2));
        cell.pin(Some(0));
        assert!(!cell.set_automatic(3));
        assert_eq!(cell.get(), 0);
        cell.pin(None);
        assert!(cell.set_automatic(3));
        assert_eq!(cell.get(), 3);
    }
}
