//! The store's benchmark: prints figures, asserts nothing.
//!
//! ```sh
//! cargo bench -p switchboard-store --bench store -- all      # everything (~4 min)
//! cargo bench -p switchboard-store --bench store -- fsync    # one fdatasync, p50/p99
//! cargo bench -p switchboard-store --bench store -- append   # strategies x modes x load
//! cargo bench -p switchboard-store --bench store -- recovery # 1,000,000 records
//! ```
//!
//! Files go under `$STORE_BENCH_DIR` (default: a temporary directory on the disk
//! that holds /tmp), which must be on the disk being measured.

mod append;
mod fsync;
mod recovery;
mod sinks;

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let what = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_else(|| "all".into());
    let base = std::env::var_os("STORE_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let dir = tempfile::tempdir_in(base)?;
    println!("bench directory: {}", dir.path().display());
    if matches!(what.as_str(), "all" | "fsync") {
        fsync::run(dir.path())?;
    }
    if matches!(what.as_str(), "all" | "append") {
        append::run(dir.path())?;
    }
    if matches!(what.as_str(), "all" | "recovery") {
        recovery::run(dir.path())?;
    }
    Ok(())
}
