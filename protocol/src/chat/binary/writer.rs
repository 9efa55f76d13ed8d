//! Serializing an rkyv archive straight onto the end of a caller's buffer.

use rkyv::api::low::LowSerializer;
use rkyv::rancor;
use rkyv::ser::allocator::ArenaHandle;
use rkyv::ser::{Positional, Writer};
use rkyv::util::with_arena;

/// Appends to `out` but reports positions from `start`, so rkyv aligns the archive as
/// if it began at offset 0: the receiver copies it to offset 0 of an aligned buffer
/// and must find every field aligned there, whatever preceded it in `out`.
pub(crate) struct PayloadWriter<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
}

impl Positional for PayloadWriter<'_> {
    fn pos(&self) -> usize {
        self.out.len() - self.start
    }
}

impl<E> Writer<E> for PayloadWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), E> {
        self.out.extend_from_slice(bytes);
        Ok(())
    }
}

/// The serializer every wire struct is written with.
pub(crate) type WireSerializer<'w, 'h> =
    LowSerializer<PayloadWriter<'w>, ArenaHandle<'h>, rancor::Error>;

/// Appends `tag` and the archive of `value` to `out`.
///
/// Uses the thread's rkyv arena for scratch space, so after the first frame on a
/// thread nothing is allocated except by `out` growing.
///
/// # Panics
/// If `value` holds a string longer than rkyv's archived strings allow (2^30 - 1 bytes),
/// far beyond any frame limit.
pub(crate) fn write_archive<T>(tag: u8, value: &T, out: &mut Vec<u8>)
where
    T: for<'w, 'h> rkyv::Serialize<WireSerializer<'w, 'h>>,
{
    out.push(tag);
    let start = out.len();
    let written = with_arena(|arena| {
        rkyv::api::low::to_bytes_in_with_alloc::<_, _, rancor::Error>(
            value,
            PayloadWriter {
                out: &mut *out,
                start,
            },
            arena.acquire(),
        )
        .map(drop)
    });
    if let Err(error) = written {
        panic!("chat frame too large for the binary format: {error}");
    }
}
