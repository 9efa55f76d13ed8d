//! The provided-buffer ring: one pool of receive buffers shared by every connection of
//! a shard. The kernel picks a buffer only when data arrives, so an idle connection
//! holds none — this is what keeps a connection near zero bytes while it waits.

use std::io;
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;
use io_uring::IoUring;

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
                len,
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
        Ok(Mapping { ptr, len })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: ptr/len are exactly what mmap returned and nothing uses the mapping
        // after its owner (the ring, which outlives every RecvBuf via Rc) is dropped.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

/// Buffers of one buffer group and the ring through which they are handed to the kernel.
#[derive(Debug)]
pub struct BufRing {
    ring: Mapping,
    buffers: Rc<Mapping>,
    entries: u16,
    buffer_size: u32,
    tail: u16,
}

/// A received buffer, owned by the shard until it is given back with
/// [`super::Uring::recycle`]. The kernel cannot touch it meanwhile: it is not in the
/// ring.
#[derive(Debug)]
pub struct RecvBuf {
    region: Rc<Mapping>,
    id: u16,
    offset: usize,
    len: usize,
}

impl RecvBuf {
    /// The received bytes, writable (WebSocket payloads are unmasked in place).
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        debug_assert!(self.offset + self.len <= self.region.len);
        // SAFETY: offset+len lies inside the mapping (the kernel never reports more
        // than the buffer size); the buffer is out of the ring, so neither the kernel
        // nor any other RecvBuf (ids are unique while out of the ring) aliases it; the
        // Rc keeps the mapping alive for this borrow.
        unsafe {
            std::slice::from_raw_parts_mut(self.region.ptr.as_ptr().add(self.offset), self.len)
        }
    }
}

impl BufRing {
    /// Maps `entries` buffers of `buffer_size` bytes and registers them as group `group`.
    pub fn new(uring: &IoUring, group: u16, entries: u16, buffer_size: u32) -> io::Result<Self> {
        if !entries.is_power_of_two() || entries > 32768 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "receive buffer count must be a power of two up to 32768",
            ));
        }
        let ring = Mapping::new(usize::from(entries) * std::mem::size_of::<BufRingEntry>())?;
        let buffers = Rc::new(Mapping::new(usize::from(entries) * buffer_size as usize)?);
        // SAFETY: the ring mapping is page aligned, sized for `entries` entries, and
        // lives as long as this BufRing, which is dropped together with the IoUring.
        unsafe {
            uring.submitter().register_buf_ring_with_flags(
                ring.ptr.as_ptr() as u64,
                entries,
                group,
                0,
            )?;
        }
        let mut this = BufRing {
            ring,
            buffers,
            entries,
            buffer_size,
            tail: 0,
        };
        for id in 0..entries {
            this.push(id);
        }
        this.publish();
        Ok(this)
    }

    fn entry(&mut self, index: u16) -> &mut BufRingEntry {
        let index = usize::from(index & (self.entries - 1));
        // SAFETY: index < entries, inside the ring mapping; entries are plain data
        // the kernel only reads between head and tail, which this slot is not in.
        unsafe { &mut *self.ring.ptr.as_ptr().cast::<BufRingEntry>().add(index) }
    }

    fn push(&mut self, id: u16) {
        let addr = self.buffers.ptr.as_ptr() as u64 + u64::from(id) * u64::from(self.buffer_size);
        let size = self.buffer_size;
        let tail = self.tail;
        let entry = self.entry(tail);
        entry.set_addr(addr);
        entry.set_len(size);
        entry.set_bid(id);
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&mut self) {
        // SAFETY: the tail field lives in the first entry of our ring mapping; the
        // kernel reads it with acquire ordering, so a release store publishes the
        // entries written before it.
        unsafe {
            let tail = BufRingEntry::tail(self.ring.ptr.as_ptr().cast::<BufRingEntry>()).cast_mut();
            AtomicU16::from_ptr(tail).store(self.tail, Ordering::Release);
        }
    }

    /// Takes buffer `id` (just reported by a completion) holding `len` bytes.
    pub fn take(&mut self, id: u16, len: usize) -> RecvBuf {
        let len = len.min(self.buffer_size as usize);
        let offset = usize::from(id) * self.buffer_size as usize;
        RecvBuf {
            region: Rc::clone(&self.buffers),
            id,
            offset,
            len,
        }
    }

    /// Returns a buffer to the kernel.
    pub fn give_back(&mut self, buf: RecvBuf) {
        self.push(buf.id);
        self.publish();
    }
}
