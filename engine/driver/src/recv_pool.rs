//! The receive-buffer pool: one region of fixed-size buffers shared by every
//! connection of a shard. A buffer is taken only when data arrives — by the kernel from
//! io_uring's provided-buffer ring, or by the epoll driver just before it reads — so
//! an idle connection holds none. That is what keeps a connection near zero bytes
//! while it waits.
//!
//! A lent buffer is a [`RecvBuf`], an owned handle: the only way to reach its bytes,
//! and dropping it gives the buffer back. The pool records which buffers are out, so a
//! buffer id the kernel reports twice, or one out of range, is refused instead of
//! handing out two `&mut` views of the same bytes.

use std::cell::{Cell, RefCell};
use std::io;
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;
use io_uring::IoUring;

/// Most buffers one pool holds (io_uring's limit for a provided-buffer ring).
pub const MAX_BUFFERS: u16 = 32768;

/// One anonymous mapping, populated at creation so its pages are a fixed cost paid at
/// start rather than a cost that grows with the first connections.
#[derive(Debug)]
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    fn new(len: usize) -> io::Result<Self> {
        // SAFETY: an anonymous private mapping with no address hint has no
        // preconditions; the result is checked against MAP_FAILED.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len.max(1),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr =
            NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Mapping {
            ptr,
            len: len.max(1),
        })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: ptr/len are exactly what mmap returned; the mapping's owner (the
        // pool, kept alive by every RecvBuf through its Rc) is being dropped, so no
        // slice into it is left.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

/// Where a returned buffer goes so the next receive can use it.
#[derive(Debug)]
enum Refill {
    /// io_uring's provided-buffer ring: the kernel picks a buffer when data arrives.
    Kernel { ring: Mapping, tail: Cell<u16> },
    /// A free list the epoll driver takes from just before it reads.
    Free(RefCell<Vec<u16>>),
}

/// The buffers and their bookkeeping.
#[derive(Debug)]
pub(crate) struct Pool {
    buffers: Mapping,
    entries: u16,
    buffer_size: u32,
    /// One bit per buffer: lent out as a [`RecvBuf`] right now.
    lent: RefCell<Vec<u64>>,
    refill: Refill,
}

/// A received buffer, lent by the pool until it is dropped. Neither the kernel nor any
/// other `RecvBuf` can touch its bytes meanwhile.
#[derive(Debug)]
pub struct RecvBuf {
    pool: Rc<Pool>,
    id: u16,
    len: u32,
}

impl RecvBuf {
    /// The received bytes, writable (WebSocket payloads are unmasked in place).
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        let offset = usize::from(self.id) * self.pool.buffer_size as usize;
        // SAFETY: `id < entries` and `len <= buffer_size` were checked when the buffer
        // was lent, so the range lies inside the mapping; the buffer is marked lent, so
        // the pool hands it to nobody else and the kernel does not have it (it is in no
        // ring) until this handle is dropped; `&mut self` makes the borrow exclusive;
        // the Rc keeps the mapping alive for the borrow.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.pool.buffers.ptr.as_ptr().add(offset),
                self.len as usize,
            )
        }
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether it holds no byte.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Shortens the buffer to the `len` bytes a read put in it (epoll).
    pub(crate) fn truncate(&mut self, len: usize) {
        self.len = self.len.min(u32::try_from(len).unwrap_or(u32::MAX));
    }
}

impl Drop for RecvBuf {
    fn drop(&mut self) {
        self.pool.give_back(self.id);
    }
}

impl Pool {
    fn new(entries: u16, buffer_size: u32, refill: Refill) -> io::Result<Pool> {
        if !entries.is_power_of_two() || entries > MAX_BUFFERS || buffer_size == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "receive buffer count must be a power of two up to 32768, and buffers non-empty",
            ));
        }
        Ok(Pool {
            buffers: Mapping::new(usize::from(entries) * buffer_size as usize)?,
            entries,
            buffer_size,
            lent: RefCell::new(vec![0; usize::from(entries).div_ceil(64)]),
            refill,
        })
    }

    /// `entries` buffers of `buffer_size` bytes registered with `uring` as buffer group
    /// `group`, all handed to the kernel.
    pub(crate) fn for_kernel(
        uring: &IoUring,
        group: u16,
        entries: u16,
        buffer_size: u32,
    ) -> io::Result<Rc<Pool>> {
        let pool = Self::kernel_ring(entries, buffer_size)?;
        let Refill::Kernel { ring, .. } = &pool.refill else {
            unreachable!("kernel_ring builds a kernel refill");
        };
        // SAFETY: the ring mapping is page aligned and sized for `entries` entries; it
        // lives in the pool, which the driver drops only after the IoUring (field
        // order), and every RecvBuf keeps it alive beyond that.
        unsafe {
            uring.submitter().register_buf_ring_with_flags(
                ring.ptr.as_ptr() as u64,
                entries,
                group,
                0,
            )?;
        }
        Ok(pool)
    }

    /// A kernel-refilled pool whose ring is filled but not registered anywhere.
    fn kernel_ring(entries: u16, buffer_size: u32) -> io::Result<Rc<Pool>> {
        if entries > MAX_BUFFERS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "too many buffers",
            ));
        }
        let ring = Mapping::new(usize::from(entries) * std::mem::size_of::<BufRingEntry>())?;
        let pool = Pool::new(
            entries,
            buffer_size,
            Refill::Kernel {
                ring,
                tail: Cell::new(0),
            },
        )?;
        for id in 0..entries {
            pool.push_to_ring(id);
        }
        pool.publish();
        Ok(Rc::new(pool))
    }

    /// `entries` buffers of `buffer_size` bytes for a driver that reads itself.
    pub(crate) fn for_reads(entries: u16, buffer_size: u32) -> io::Result<Rc<Pool>> {
        let free = (0..entries).rev().collect();
        Ok(Rc::new(Pool::new(
            entries,
            buffer_size,
            Refill::Free(RefCell::new(free)),
        )?))
    }

    /// Bytes of each buffer.
    pub(crate) fn buffer_size(&self) -> usize {
        self.buffer_size as usize
    }

    /// Lends buffer `id`, which a completion reports holding `len` bytes. `None` when
    /// the id is out of range, the buffer is lent already, or `len` is more than a
    /// buffer holds: the kernel broke its side, and the bytes are not handed out.
    pub(crate) fn lend(self: &Rc<Self>, id: u16, len: usize) -> Option<RecvBuf> {
        if id >= self.entries || len > self.buffer_size as usize || !self.mark_lent(id) {
            return None;
        }
        Some(RecvBuf {
            pool: Rc::clone(self),
            id,
            len: len as u32,
        })
    }

    /// A free buffer, whole, to read into (free-list pools only); `None` when every
    /// buffer is out.
    pub(crate) fn lend_free(self: &Rc<Self>) -> Option<RecvBuf> {
        let Refill::Free(free) = &self.refill else {
            return None;
        };
        let id = free.borrow_mut().pop()?;
        self.lend(id, self.buffer_size as usize)
    }

    /// Buffers lent out now.
    #[cfg(test)]
    pub(crate) fn lent_count(&self) -> usize {
        self.lent
            .borrow()
            .iter()
            .map(|w| w.count_ones() as usize)
            .sum()
    }

    fn mark_lent(&self, id: u16) -> bool {
        let mut lent = self.lent.borrow_mut();
        let (word, bit) = (usize::from(id) / 64, 1u64 << (id % 64));
        if lent[word] & bit != 0 {
            return false;
        }
        lent[word] |= bit;
        true
    }

    fn give_back(&self, id: u16) {
        {
            let mut lent = self.lent.borrow_mut();
            let (word, bit) = (usize::from(id) / 64, 1u64 << (id % 64));
            if lent[word] & bit == 0 {
                return;
            }
            lent[word] &= !bit;
        }
        match &self.refill {
            Refill::Kernel { .. } => {
                self.push_to_ring(id);
                self.publish();
            }
            Refill::Free(free) => free.borrow_mut().push(id),
        }
    }

    fn push_to_ring(&self, id: u16) {
        let Refill::Kernel { ring, tail } = &self.refill else {
            return;
        };
        let index = usize::from(tail.get() & (self.entries - 1));
        let addr = self.buffers.ptr.as_ptr() as u64 + u64::from(id) * u64::from(self.buffer_size);
        // SAFETY: index < entries, inside the ring mapping; the slot at the tail is
        // outside the head..tail window the kernel reads, so no one else accesses it;
        // the entry is plain data written through a raw pointer (no reference kept).
        unsafe {
            let entry = ring.ptr.as_ptr().cast::<BufRingEntry>().add(index);
            (*entry).set_addr(addr);
            (*entry).set_len(self.buffer_size);
            (*entry).set_bid(id);
        }
        tail.set(tail.get().wrapping_add(1));
    }

    fn publish(&self) {
        let Refill::Kernel { ring, tail } = &self.refill else {
            return;
        };
        // SAFETY: the tail field lives in the first entry of our ring mapping, suitably
        // aligned for a u16; the kernel reads it with acquire ordering, so a release
        // store publishes the entries written before it.
        unsafe {
            let at = BufRingEntry::tail(ring.ptr.as_ptr().cast::<BufRingEntry>()).cast_mut();
            AtomicU16::from_ptr(at).store(tail.get(), Ordering::Release);
        }
    }

    #[cfg(test)]
    fn ring_tail(&self) -> Option<u16> {
        match &self.refill {
            Refill::Kernel { tail, .. } => Some(tail.get()),
            Refill::Free(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn ids_out_of_range_twice_lent_or_overlong_are_refused() {
        let pool = Pool::kernel_ring(8, 64).unwrap();
        assert!(pool.lend(8, 1).is_none(), "out of range");
        assert!(pool.lend(3, 65).is_none(), "longer than a buffer");
        let mut first = pool.lend(3, 10).expect("lent");
        assert!(pool.lend(3, 10).is_none(), "lent twice");
        first.bytes_mut().fill(7);
        drop(first);
        let mut again = pool.lend(3, 10).expect("back after drop");
        assert_eq!(again.bytes_mut(), &[7u8; 10][..]);
    }

    #[test]
    fn a_free_list_pool_lends_whole_buffers_until_none_is_left() {
        let pool = Pool::for_reads(4, 32).unwrap();
        let bufs: Vec<RecvBuf> = (0..4).map(|_| pool.lend_free().expect("free")).collect();
        assert!(pool.lend_free().is_none());
        assert!(bufs.iter().all(|b| b.len() == 32));
        drop(bufs);
        assert_eq!(pool.lent_count(), 0);
        assert!(pool.lend_free().is_some());
    }

    /// One step of a random use of a pool.
    #[derive(Debug, Clone)]
    enum Step {
        /// A completion reports buffer `id` with `len` bytes.
        Report { id: u16, len: usize },
        /// The free-list driver takes a buffer to read into, and reads `len` bytes.
        Read { len: usize },
        /// Drop the `nth` buffer held.
        Drop { nth: usize },
        /// Write into the `nth` buffer held.
        Write { nth: usize, byte: u8 },
    }

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        proptest::collection::vec(
            prop_oneof![
                (0u16..20, 0usize..80).prop_map(|(id, len)| Step::Report { id, len }),
                (0usize..80).prop_map(|len| Step::Read { len }),
                any::<usize>().prop_map(|nth| Step::Drop { nth }),
                (any::<usize>(), any::<u8>()).prop_map(|(nth, byte)| Step::Write { nth, byte }),
            ],
            0..200,
        )
    }

    proptest! {
        /// Whatever the kernel reports and whatever order buffers come back in: no two
        /// held buffers share an id, each holds exactly its own bytes, the pool counts
        /// exactly the buffers held, and a kernel ring gets one entry back per return.
        #[test]
        fn the_bookkeeping_never_lends_a_buffer_twice(kernel in any::<bool>(), steps in steps()) {
            const ENTRIES: u16 = 16;
            const SIZE: u32 = 64;
            let pool = if kernel {
                Pool::kernel_ring(ENTRIES, SIZE).unwrap()
            } else {
                Pool::for_reads(ENTRIES, SIZE).unwrap()
            };
            let mut held: Vec<(RecvBuf, u8)> = Vec::new();
            let mut returned = 0u16;
            let start_tail = pool.ring_tail();
            for step in steps {
                match step {
                    Step::Report { id, len } => {
                        let busy = held.iter().any(|(b, _)| b.id == id);
                        let got = pool.lend(id, len);
                        let valid = id < ENTRIES && len <= SIZE as usize && !busy;
                        prop_assert_eq!(got.is_some(), valid);
                        if let Some(mut buf) = got {
                            buf.bytes_mut().fill(id as u8);
                            held.push((buf, id as u8));
                        }
                    }
                    Step::Read { len } => {
                        if let Some(mut buf) = pool.lend_free() {
                            prop_assert!(!kernel);
                            buf.truncate(len);
                            prop_assert_eq!(buf.len(), len.min(SIZE as usize));
                            let mark = buf.id as u8;
                            buf.bytes_mut().fill(mark);
                            held.push((buf, mark));
                        }
                    }
                    Step::Drop { nth } if !held.is_empty() => {
                        held.swap_remove(nth % held.len());
                        returned += 1;
                    }
                    Step::Write { nth, byte } if !held.is_empty() => {
                        let n = nth % held.len();
                        held[n].0.bytes_mut().fill(byte);
                        held[n].1 = byte;
                    }
                    _ => {}
                }
                let mut ids: Vec<u16> = held.iter().map(|(b, _)| b.id).collect();
                ids.sort_unstable();
                ids.dedup();
                prop_assert_eq!(ids.len(), held.len(), "an id is held twice");
                prop_assert_eq!(pool.lent_count(), held.len());
                for (buf, mark) in &mut held {
                    prop_assert!(buf.bytes_mut().iter().all(|b| b == mark), "bytes overwritten");
                }
            }
            if let Some(start) = start_tail {
                prop_assert_eq!(pool.ring_tail(), Some(start.wrapping_add(returned)));
            }
        }
    }
}
