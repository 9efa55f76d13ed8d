//! CPU time of a process over the measured window: utime + stime from
//! `/proc/PID/stat` (every thread of the process), in seconds.

use anyhow::Context;

/// A process's CPU ticks at the start of the window.
#[derive(Debug, Clone, Copy)]
pub struct CpuProbe {
    pid: i32,
    ticks: u64,
}

impl CpuProbe {
    /// Reads `pid`'s CPU ticks now.
    pub fn start(pid: i32) -> anyhow::Result<Self> {
        Ok(Self {
            pid,
            ticks: ticks(pid)?,
        })
    }

    /// This process.
    pub fn own() -> anyhow::Result<Self> {
        Self::start(std::process::id() as i32)
    }

    /// CPU seconds used since [`CpuProbe::start`].
    pub fn seconds_since(&self) -> anyhow::Result<f64> {
        let used = ticks(self.pid)?.saturating_sub(self.ticks);
        Ok(used as f64 / procfs::ticks_per_second() as f64)
    }

    /// The process measured.
    pub fn pid(&self) -> i32 {
        self.pid
    }
}

fn ticks(pid: i32) -> anyhow::Result<u64> {
    let stat = procfs::process::Process::new(pid)
        .and_then(|p| p.stat())
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    Ok(stat.utime + stat.stime)
}
