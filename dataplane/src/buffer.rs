//! Packet buffers.
//!
//! The pipeline is generic over [`PacketBuf`], so each port backend can hand it its native
//! buffer (a heap buffer here, a DPDK mbuf behind the `dpdk` feature) and the pipeline is
//! monomorphised per backend. Every buffer keeps at least [`HEADROOM`] bytes in front of the
//! packet so encapsulations (labels, VLAN tags, L2TP, ESP) never copy the payload.

/// Bytes reserved in front of every received or generated packet.
pub const HEADROOM: usize = 128;
/// Largest packet a [`HeapBuf`] holds (a jumbo-free Ethernet frame plus encapsulations).
pub const DATA_ROOM: usize = 2048;

/// A packet in a buffer with headroom. All methods are O(1) and never allocate.
pub trait PacketBuf: Send + 'static {
    /// The packet bytes.
    fn data(&self) -> &[u8];
    /// The packet bytes, writable.
    fn data_mut(&mut self) -> &mut [u8];
    /// Packet length.
    fn len(&self) -> usize {
        self.data().len()
    }
    /// True when the packet is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Free bytes in front of the packet.
    fn headroom(&self) -> usize;
    /// Removes `n` bytes from the front. Returns false (and changes nothing) if `n > len`.
    fn adj(&mut self, n: usize) -> bool;
    /// Grows the packet by `n` bytes at the front and returns them; the caller must write
    /// every returned byte (they may hold an older packet's data). `None` when the headroom
    /// is too small.
    fn prepend(&mut self, n: usize) -> Option<&mut [u8]>;
    /// Shortens the packet to `len` bytes (no-op if it is already shorter).
    fn trim(&mut self, len: usize);
    /// Grows the packet by `n` bytes at the end and returns them (the ESP trailer); the
    /// caller must write every returned byte. `None` when the buffer has no room there —
    /// always, for a backend that does not implement it (the packet is then dropped with a
    /// counter by whoever needed the room).
    fn append(&mut self, n: usize) -> Option<&mut [u8]> {
        let _ = n;
        None
    }
}

/// Where buffers come from and go back to. A worker owns one, so it needs no lock.
pub trait BufPool<B> {
    /// A fresh empty buffer with full headroom, or `None` when the pool is exhausted.
    fn alloc(&mut self) -> Option<B>;
    /// Returns a buffer (a dropped packet, or one a sink has counted).
    fn free(&mut self, buf: B);
}

/// Buffers the control core creates to inject frames it built (ARP answers, ICMP, L2TP
/// control): one allocator per backend, used on the control core only.
pub trait BufAlloc<B>: Send {
    /// A buffer holding a copy of `bytes` (with the usual headroom), or `None` when the
    /// backend has no buffer to spare or the frame does not fit.
    fn alloc_from(&mut self, bytes: &[u8]) -> Option<B>;
}

/// The allocator of [`HeapBuf`]s for the control core (outside any worker's pool; a
/// worker frees them into its own pool after sending).
#[derive(Clone, Copy, Debug, Default)]
pub struct HeapAlloc;

impl BufAlloc<HeapBuf> for HeapAlloc {
    fn alloc_from(&mut self, bytes: &[u8]) -> Option<HeapBuf> {
        HeapBuf::from_slice(bytes)
    }
}

/// A heap-backed packet buffer: a fixed block with [`HEADROOM`] + [`DATA_ROOM`] bytes.
pub struct HeapBuf {
    mem: Box<[u8; HEADROOM + DATA_ROOM]>,
    off: u16,
    len: u16,
}

impl std::fmt::Debug for HeapBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeapBuf")
            .field("off", &self.off)
            .field("len", &self.len)
            .finish()
    }
}

impl Default for HeapBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl HeapBuf {
    /// A new empty buffer (allocates; use a [`HeapPool`] on fast paths).
    pub fn new() -> Self {
        HeapBuf {
            mem: Box::new([0; HEADROOM + DATA_ROOM]),
            off: HEADROOM as u16,
            len: 0,
        }
    }

    /// A buffer holding a copy of `bytes` after the headroom; `None` if too long.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let mut b = Self::new();
        b.set(bytes).then_some(b)
    }

    /// Empties the buffer and restores full headroom.
    pub fn reset(&mut self) {
        self.off = HEADROOM as u16;
        self.len = 0;
    }

    /// Replaces the contents with a copy of `bytes` after full headroom; false if too long.
    pub fn set(&mut self, bytes: &[u8]) -> bool {
        if bytes.len() > DATA_ROOM {
            return false;
        }
        self.off = HEADROOM as u16;
        self.len = bytes.len() as u16;
        self.mem[HEADROOM..HEADROOM + bytes.len()].copy_from_slice(bytes);
        true
    }

    /// Makes the packet `len` bytes long after full headroom and returns it for writing.
    /// `None` if `len > DATA_ROOM`.
    pub fn set_len(&mut self, len: usize) -> Option<&mut [u8]> {
        if len > DATA_ROOM {
            return None;
        }
        self.off = HEADROOM as u16;
        self.len = len as u16;
        Some(&mut self.mem[HEADROOM..HEADROOM + len])
    }
}

impl PacketBuf for HeapBuf {
    #[inline]
    fn data(&self) -> &[u8] {
        let o = usize::from(self.off);
        &self.mem[o..o + usize::from(self.len)]
    }

    #[inline]
    fn data_mut(&mut self) -> &mut [u8] {
        let o = usize::from(self.off);
        &mut self.mem[o..o + usize::from(self.len)]
    }

    #[inline]
    fn len(&self) -> usize {
        usize::from(self.len)
    }

    #[inline]
    fn headroom(&self) -> usize {
        usize::from(self.off)
    }

    #[inline]
    fn adj(&mut self, n: usize) -> bool {
        if n > usize::from(self.len) {
            return false;
        }
        self.off += n as u16;
        self.len -= n as u16;
        true
    }

    #[inline]
    fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
        if n > usize::from(self.off) {
            return None;
        }
        self.off -= n as u16;
        self.len += n as u16;
        let o = usize::from(self.off);
        Some(&mut self.mem[o..o + n])
    }

    #[inline]
    fn trim(&mut self, len: usize) {
        if len < usize::from(self.len) {
            self.len = len as u16;
        }
    }

    #[inline]
    fn append(&mut self, n: usize) -> Option<&mut [u8]> {
        let end = usize::from(self.off) + usize::from(self.len);
        if n > self.mem.len() - end {
            return None;
        }
        self.len += n as u16;
        Some(&mut self.mem[end..end + n])
    }
}

/// A per-worker free list of [`HeapBuf`]s. Allocation from the system happens only when
/// the list is empty and the pool is below its limit (so a steady state never allocates).
pub struct HeapPool {
    free: Vec<HeapBuf>,
    outstanding: usize,
    limit: usize,
    /// Buffers ever allocated from the system.
    pub allocated: u64,
    /// Allocations refused because the pool was at its limit.
    pub exhausted: u64,
}

impl HeapPool {
    /// A pool that keeps at most `limit` buffers in flight, pre-allocating `prealloc`.
    pub fn new(prealloc: usize, limit: usize) -> Self {
        let mut free = Vec::with_capacity(limit);
        free.extend((0..prealloc.min(limit)).map(|_| HeapBuf::new()));
        HeapPool {
            allocated: free.len() as u64,
            free,
            outstanding: 0,
            limit,
            exhausted: 0,
        }
    }

    /// Buffers currently handed out.
    pub fn outstanding(&self) -> usize {
        self.outstanding
    }
}

impl BufPool<HeapBuf> for HeapPool {
    #[inline]
    fn alloc(&mut self) -> Option<HeapBuf> {
        let b = match self.free.pop() {
            Some(mut b) => {
                b.reset();
                b
            }
            None if self.outstanding < self.limit => {
                self.allocated += 1;
                HeapBuf::new()
            }
            None => {
                self.exhausted += 1;
                return None;
            }
        };
        self.outstanding += 1;
        Some(b)
    }

    #[inline]
    fn free(&mut self, buf: HeapBuf) {
        self.outstanding = self.outstanding.saturating_sub(1);
        if self.free.len() < self.limit {
            self.free.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headroom_prepend_adj_trim() {
        let mut b = HeapBuf::from_slice(&[1, 2, 3, 4]).unwrap();
        assert_eq!(b.headroom(), HEADROOM);
        let h = b.prepend(2).unwrap();
        h.copy_from_slice(&[9, 9]);
        assert_eq!(b.data(), &[9, 9, 1, 2, 3, 4]);
        assert!(b.adj(3));
        assert_eq!(b.data(), &[2, 3, 4]);
        assert!(!b.adj(4));
        b.trim(1);
        assert_eq!(b.data(), &[2]);
        assert!(b.prepend(HEADROOM + 2).is_none(), "headroom is bounded");
        assert!(HeapBuf::from_slice(&vec![0; DATA_ROOM + 1]).is_none());
    }

    #[test]
    fn pool_recycles_and_respects_limit() {
        let mut p = HeapPool::new(1, 2);
        let a = p.alloc().unwrap();
        let b = p.alloc().unwrap();
        assert!(p.alloc().is_none());
        assert_eq!(p.exhausted, 1);
        p.free(a);
        let mut c = p.alloc().unwrap();
        assert_eq!(
            c.headroom(),
            HEADROOM,
            "recycled buffers get full headroom back"
        );
        assert!(c.set(&[1]));
        p.free(b);
        p.free(c);
        assert_eq!(p.allocated, 2);
        assert_eq!(p.outstanding(), 0);
    }
}
