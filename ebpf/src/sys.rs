//! The crate's only `unsafe` code: marking the map value types as plain old data for
//! aya, and borrowing the engine's raw listener descriptors for one system call.

use std::os::fd::{BorrowedFd, RawFd};

use crate::abi::{Config, ShardState};

// SAFETY: `#[repr(C)]`, only `u32` fields (no padding), and every bit pattern is a
// valid value, which is what `Pod` asks: aya copies these to and from the kernel.
unsafe impl aya::Pod for Config {}

// SAFETY: as for `Config`: `#[repr(C)]`, two `u32` fields, any bit pattern valid.
unsafe impl aya::Pod for ShardState {}

/// Runs `f` with `fd` borrowed, or returns `None` for a negative descriptor.
///
/// The caller promises (see `Steering::attach`) that `fd` is an open listener for the
/// duration of the call; the borrow does not outlive `f`. Were the descriptor closed
/// meanwhile, the kernel would answer EBADF: no memory of this process depends on it.
pub(crate) fn with_borrowed_fd<T>(fd: RawFd, f: impl FnOnce(BorrowedFd<'_>) -> T) -> Option<T> {
    if fd < 0 {
        return None;
    }
    // SAFETY: `fd` is non-negative (so not the -1 niche `BorrowedFd` forbids) and, per
    // the caller's contract above, stays open while the borrow (scoped to `f`) lives.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    Some(f(borrowed))
}
