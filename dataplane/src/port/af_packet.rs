//! Linux `AF_PACKET` ports: a real interface (a NIC, or a veth end in a network namespace)
//! through memory-mapped TPACKET_V2 rings.
//!
//! One [`AfPacketSocket`] per (port, worker): a raw packet socket bound to the interface, in
//! promiscuous mode, with an rx ring and a tx ring mapped into the process. When several
//! workers serve a port, their sockets join one `PACKET_FANOUT` group (flow hash, with
//! defragmentation) so the kernel spreads flows over them. Received frames are copied once
//! from the ring into a pool buffer (the ring slot goes straight back to the kernel); sent
//! frames are copied into tx ring slots and the kernel is kicked once per burst.
//!
//! Frames the kernel delivered with the 802.1Q tag stripped (`TP_STATUS_VLAN_VALID`) get
//! the tag put back, so the pipeline sees the frame as it was on the wire. Our own
//! transmissions are not looped back (`PACKET_IGNORE_OUTGOING`, and outgoing frames are
//! skipped should the kernel predate it). Kernel drops (ring full) are read with
//! `PACKET_STATISTICS` into [`AfPacketStats`].
//!
//! **Partial checksums.** A sender on the same host whose interface offloads transmit
//! checksums (a veth's default) leaves the TCP/UDP checksum of its frames partial; the
//! kernel marks them `TP_STATUS_CSUMNOTREADY`. Such frames get their checksum completed
//! in software ([`super::csum`]: IPv4/IPv6, TCP/UDP/ICMPv6, tagged or not) before the
//! pipeline sees them (`rx_csum_completed`); what it cannot complete goes on as it is
//! (`rx_csum_unhandled`).
//!
//! Not implemented: TPACKET_V3 block rings, GSO super-frames larger than a ring slot
//! (counted as `rx_oversize`).
//!
//! This is the only module of the crate with `unsafe` code: the system calls and the shared
//! ring memory. Both are wrapped in RAII types ([`Fd`], [`Mmap`]) so that every path closes
//! and unmaps.
#![allow(unsafe_code)]

use crate::buffer::{BufPool, HeapBuf, HeapPool, PacketBuf};
use crate::port::PortQueue;
use std::ffi::CString;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

/// Bytes of one ring slot (header + frame).
const FRAME_SIZE: usize = 2048;
/// Bytes of one ring block (the kernel allocates blocks contiguously).
const BLOCK_SIZE: usize = 1 << 16;
/// Receive ring slots per socket.
const RX_FRAMES: usize = 4096;
/// Transmit ring slots per socket.
const TX_FRAMES: usize = 512;
/// `TPACKET_V2` of `enum tpacket_versions`.
const TPACKET_V2: libc::c_int = 1;
/// Offset of the frame in a tx slot: the kernel reads it right after the aligned header
/// (`tp_hdrlen - sizeof(struct sockaddr_ll)`).
const TX_DATA_OFF: usize = libc::TPACKET2_HDRLEN - std::mem::size_of::<libc::sockaddr_ll>();
/// Offset of the `sockaddr_ll` that follows the header in an rx slot.
const RX_SLL_OFF: usize = TX_DATA_OFF;
/// Read the kernel's drop counters every this many rx polls.
const STATS_EVERY: u32 = 4096;

/// Failures opening an `af_packet` port. Messages say what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum AfPacketError {
    /// No such interface (in this network namespace).
    #[error("af_packet: interface `{0}` does not exist in this network namespace (see `ip link`)")]
    NoSuchInterface(String),
    /// The interface is administratively down.
    #[error("af_packet: interface `{0}` is down; bring it up with `ip link set {0} up`")]
    Down(String),
    /// The interface name is not a valid Linux name.
    #[error("af_packet: `{0}` is not a valid interface name (1 to 15 bytes, no NUL)")]
    BadName(String),
    /// Not allowed to open packet sockets.
    #[error("af_packet: opening a packet socket on `{0}` needs CAP_NET_RAW (run as root): {1}")]
    Permission(String, io::Error),
    /// Any other system call failure.
    #[error("af_packet: {what} on `{name}` failed: {source}")]
    Sys {
        /// Interface.
        name: String,
        /// The call.
        what: &'static str,
        /// The OS error.
        source: io::Error,
    },
}

/// Counters of one af_packet port, shared by its sockets and the stats reader.
#[derive(Debug, Default)]
pub struct AfPacketStats {
    /// Frames the kernel passed to our rings (`PACKET_STATISTICS` tp_packets).
    pub kernel_packets: AtomicU64,
    /// Frames the kernel dropped because a ring was full (`tp_drops`).
    pub kernel_drops: AtomicU64,
    /// Frames larger than a ring slot or a buffer (GSO/GRO super-frames), dropped.
    pub rx_oversize: AtomicU64,
    /// Frames dropped because the buffer pool was empty.
    pub rx_no_buffer: AtomicU64,
    /// Frames not sent because the tx ring was full.
    pub tx_ring_full: AtomicU64,
    /// Frames the kernel flagged `TP_STATUS_CSUMNOTREADY` (a local sender's checksum
    /// offload) whose transport checksum was completed in software.
    pub rx_csum_completed: AtomicU64,
    /// Frames flagged `TP_STATUS_CSUMNOTREADY` that [`super::csum::complete`] could not
    /// complete (fragments, other protocols, malformed): passed on as they are.
    pub rx_csum_unhandled: AtomicU64,
}

impl AfPacketStats {
    fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

/// An owned file descriptor, closed on drop.
#[derive(Debug)]
struct Fd(RawFd);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: `self.0` is a descriptor this value opened and owns; nothing else closes it.
        unsafe {
            libc::close(self.0);
        }
    }
}

/// A shared mapping of the socket's rings, unmapped on drop.
#[derive(Debug)]
struct Mmap {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value; the socket that owns it moves
// between threads as a whole and is used by one thread at a time (`&mut self` methods).
unsafe impl Send for Mmap {}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned; no reference into the mapping
        // outlives `self` (slots are only borrowed inside `&mut self` methods).
        unsafe {
            libc::munmap(self.ptr.cast(), self.len);
        }
    }
}

fn sys_err(name: &str, what: &'static str) -> AfPacketError {
    AfPacketError::Sys {
        name: name.to_string(),
        what,
        source: io::Error::last_os_error(),
    }
}

fn setsockopt<T>(fd: RawFd, level: libc::c_int, opt: libc::c_int, val: &T) -> io::Result<()> {
    // SAFETY: `val` points to a live `T` of the size we pass; the kernel only reads it.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            (val as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn ifreq_for(name: &CString) -> libc::ifreq {
    // SAFETY: `ifreq` is a plain C struct (bytes and a union of integers/pointers) for
    // which all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(name.as_bytes()) {
        *d = *s as libc::c_char;
    }
    req
}

/// Interface facts read when a port opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InterfaceInfo {
    /// Kernel interface index.
    pub ifindex: u32,
    /// The interface MTU (largest IP packet).
    pub mtu: u32,
}

/// Looks up `name`: it must exist and be up. Returns its index and MTU.
pub fn interface_info(name: &str) -> Result<InterfaceInfo, AfPacketError> {
    let (fd, info) = open_checked(name, false)?;
    drop(fd);
    Ok(info)
}

fn open_checked(name: &str, raw: bool) -> Result<(Fd, InterfaceInfo), AfPacketError> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(AfPacketError::BadName(name.to_string()));
    }
    let cname = CString::new(name).map_err(|_| AfPacketError::BadName(name.to_string()))?;
    // SAFETY: `cname` is a valid NUL-terminated string that lives across the call.
    let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
    if ifindex == 0 {
        return Err(AfPacketError::NoSuchInterface(name.to_string()));
    }
    // Protocol 0: the socket receives nothing until it is bound, so the rings never hold
    // frames of other interfaces.
    let (domain, ty) = if raw {
        (libc::AF_PACKET, libc::SOCK_RAW)
    } else {
        (libc::AF_INET, libc::SOCK_DGRAM)
    };
    // SAFETY: plain system call with constant arguments.
    let fd = unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => {
                AfPacketError::Permission(name.to_string(), e)
            }
            _ => AfPacketError::Sys {
                name: name.to_string(),
                what: "socket()",
                source: e,
            },
        });
    }
    let fd = Fd(fd);
    let mut req = ifreq_for(&cname);
    // SAFETY: SIOCGIFFLAGS reads the name and writes `ifru_flags` of the live `req`.
    if unsafe { libc::ioctl(fd.0, libc::SIOCGIFFLAGS, &mut req as *mut libc::ifreq) } < 0 {
        return Err(sys_err(name, "ioctl(SIOCGIFFLAGS)"));
    }
    // SAFETY: the kernel just filled the `ifru_flags` member of the union.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    if i32::from(flags) & libc::IFF_UP == 0 {
        return Err(AfPacketError::Down(name.to_string()));
    }
    let mut req = ifreq_for(&cname);
    // SAFETY: SIOCGIFMTU reads the name and writes `ifru_mtu` of the live `req`.
    if unsafe { libc::ioctl(fd.0, libc::SIOCGIFMTU, &mut req as *mut libc::ifreq) } < 0 {
        return Err(sys_err(name, "ioctl(SIOCGIFMTU)"));
    }
    // SAFETY: the kernel just filled the `ifru_mtu` member of the union.
    let mtu = unsafe { req.ifr_ifru.ifru_mtu };
    Ok((
        fd,
        InterfaceInfo {
            ifindex,
            mtu: u32::try_from(mtu).unwrap_or(0),
        },
    ))
}

/// One packet socket with its mapped rx and tx rings. Safe to use from one thread at a time;
/// closes and unmaps on drop.
#[derive(Debug)]
pub struct AfPacketSocket {
    // Field order matters: the mapping must go before the socket is closed.
    map: Mmap,
    fd: Fd,
    name: String,
    info: InterfaceInfo,
    rx_next: usize,
    tx_next: usize,
    stats: Arc<AfPacketStats>,
    polls: u32,
}

impl AfPacketSocket {
    /// Opens `name` (which must exist and be up): TPACKET_V2 rings, promiscuous mode, and
    /// the fanout group `fanout` when given (all sockets of one port pass the same id).
    pub fn open(
        name: &str,
        fanout: Option<u16>,
        stats: Arc<AfPacketStats>,
    ) -> Result<Self, AfPacketError> {
        let (fd, info) = open_checked(name, true)?;
        let e = |what| sys_err(name, what);
        setsockopt(fd.0, libc::SOL_PACKET, libc::PACKET_VERSION, &TPACKET_V2)
            .map_err(|_| e("setsockopt(PACKET_VERSION, TPACKET_V2)"))?;
        let ring = |frames: usize| libc::tpacket_req {
            tp_block_size: BLOCK_SIZE as libc::c_uint,
            tp_block_nr: (frames * FRAME_SIZE / BLOCK_SIZE) as libc::c_uint,
            tp_frame_size: FRAME_SIZE as libc::c_uint,
            tp_frame_nr: frames as libc::c_uint,
        };
        setsockopt(
            fd.0,
            libc::SOL_PACKET,
            libc::PACKET_RX_RING,
            &ring(RX_FRAMES),
        )
        .map_err(|_| e("setsockopt(PACKET_RX_RING)"))?;
        setsockopt(
            fd.0,
            libc::SOL_PACKET,
            libc::PACKET_TX_RING,
            &ring(TX_FRAMES),
        )
        .map_err(|_| e("setsockopt(PACKET_TX_RING)"))?;
        let len = (RX_FRAMES + TX_FRAMES) * FRAME_SIZE;
        // SAFETY: maps the rings the kernel just allocated for `fd`, `len` bytes as set up
        // above (rx ring then tx ring); the result is checked before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.0,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(e("mmap of the packet rings"));
        }
        let map = Mmap {
            ptr: ptr.cast(),
            len,
        };
        // Best effort: older kernels lack it; outgoing frames are then filtered in rx. (No
        // PACKET_QDISC_BYPASS: it would hide our transmissions from tcpdump on the host.)
        let _ = setsockopt(
            fd.0,
            libc::SOL_PACKET,
            libc::PACKET_IGNORE_OUTGOING,
            &1 as &libc::c_int,
        );
        // SAFETY: `sockaddr_ll` is a plain C struct; all-zero is valid.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        sll.sll_ifindex = info.ifindex as i32;
        // SAFETY: `sll` is a live sockaddr_ll and we pass its exact size.
        let r = unsafe {
            libc::bind(
                fd.0,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(e("bind()"));
        }
        let mreq = libc::packet_mreq {
            mr_ifindex: info.ifindex as i32,
            mr_type: libc::PACKET_MR_PROMISC as u16,
            mr_alen: 0,
            mr_address: [0; 8],
        };
        setsockopt(fd.0, libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &mreq)
            .map_err(|_| e("setsockopt(PACKET_ADD_MEMBERSHIP, promiscuous)"))?;
        if let Some(group) = fanout {
            let arg: libc::c_int = i32::from(group)
                | (((libc::PACKET_FANOUT_HASH | libc::PACKET_FANOUT_FLAG_DEFRAG) as i32) << 16);
            setsockopt(fd.0, libc::SOL_PACKET, libc::PACKET_FANOUT, &arg)
                .map_err(|_| e("setsockopt(PACKET_FANOUT)"))?;
        }
        Ok(AfPacketSocket {
            map,
            fd,
            name: name.to_string(),
            info,
            rx_next: 0,
            tx_next: 0,
            stats,
            polls: 0,
        })
    }

    /// The interface's index and MTU.
    pub fn info(&self) -> InterfaceInfo {
        self.info
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Start of ring slot `i` (rx slots first, then tx slots).
    fn slot(&self, i: usize) -> *mut u8 {
        debug_assert!(i < RX_FRAMES + TX_FRAMES);
        // SAFETY: `i * FRAME_SIZE` is inside the mapping (`i < RX_FRAMES + TX_FRAMES`).
        unsafe { self.map.ptr.add(i * FRAME_SIZE) }
    }

    /// The status word of a slot, shared with the kernel.
    fn status(&self, slot: *mut u8) -> &AtomicU32 {
        // SAFETY: every slot starts with a `tpacket2_hdr` whose first field is the u32
        // `tp_status`, aligned (slots are FRAME_SIZE-aligned in a page-aligned mapping) and
        // alive as long as `self`; the kernel and we access it atomically.
        unsafe { AtomicU32::from_ptr(slot.cast::<u32>()) }
    }

    /// Reads `PACKET_STATISTICS` (which the kernel resets on read) into the shared stats.
    pub fn read_kernel_stats(&mut self) {
        let mut st = libc::tpacket_stats {
            tp_packets: 0,
            tp_drops: 0,
        };
        let mut len = std::mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
        // SAFETY: `st`/`len` are live and sized for the kernel's write.
        let r = unsafe {
            libc::getsockopt(
                self.fd.0,
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut st as *mut libc::tpacket_stats).cast(),
                &mut len,
            )
        };
        if r == 0 {
            AfPacketStats::add(&self.stats.kernel_packets, u64::from(st.tp_packets));
            AfPacketStats::add(&self.stats.kernel_drops, u64::from(st.tp_drops));
        }
    }

    /// Receives up to `max` frames into buffers from `pool`.
    pub fn recv_burst(&mut self, pool: &mut HeapPool, out: &mut Vec<HeapBuf>, max: usize) -> usize {
        self.polls = self.polls.wrapping_add(1);
        if self.polls.is_multiple_of(STATS_EVERY) {
            self.read_kernel_stats();
        }
        let mut n = 0;
        while n < max {
            let slot = self.slot(self.rx_next);
            let status = self.status(slot).load(Ordering::Acquire);
            if status & libc::TP_STATUS_USER == 0 {
                break;
            }
            // SAFETY: the kernel handed this slot to us (TP_STATUS_USER, acquired above), so
            // its header is initialised and not written by the kernel until we give it back.
            let hdr = unsafe { std::ptr::read(slot.cast::<libc::tpacket2_hdr>()) };
            // SAFETY: the sockaddr_ll follows the header inside the same slot.
            let pkttype =
                unsafe { (*slot.add(RX_SLL_OFF).cast::<libc::sockaddr_ll>()).sll_pkttype };
            let off = usize::from(hdr.tp_mac);
            let snap = hdr.tp_snaplen as usize;
            if pkttype == libc::PACKET_OUTGOING {
                // Our own transmission (kernels without PACKET_IGNORE_OUTGOING).
            } else if off + snap > FRAME_SIZE || snap != hdr.tp_len as usize {
                AfPacketStats::add(&self.stats.rx_oversize, 1);
            } else {
                // SAFETY: `off + snap <= FRAME_SIZE` was checked, so the frame lies in this
                // slot, which we own until the status store below.
                let frame = unsafe { std::slice::from_raw_parts(slot.add(off), snap) };
                let vlan = (status & libc::TP_STATUS_VLAN_VALID != 0).then_some(hdr.tp_vlan_tci);
                match pool.alloc() {
                    None => AfPacketStats::add(&self.stats.rx_no_buffer, 1),
                    Some(mut b) => {
                        if fill(&mut b, frame, vlan) {
                            if status & libc::TP_STATUS_CSUMNOTREADY != 0 {
                                let c = match super::csum::complete(b.data_mut()) {
                                    super::csum::Completion::Completed => {
                                        &self.stats.rx_csum_completed
                                    }
                                    super::csum::Completion::Unhandled => {
                                        &self.stats.rx_csum_unhandled
                                    }
                                };
                                AfPacketStats::add(c, 1);
                            }
                            out.push(b);
                            n += 1;
                        } else {
                            AfPacketStats::add(&self.stats.rx_oversize, 1);
                            pool.free(b);
                        }
                    }
                }
            }
            self.status(slot)
                .store(libc::TP_STATUS_KERNEL, Ordering::Release);
            self.rx_next = (self.rx_next + 1) % RX_FRAMES;
        }
        n
    }

    /// Queues every frame of `pkts` on the tx ring (emptying it, buffers back to `pool`)
    /// and kicks the kernel. Returns how many did not fit.
    pub fn send_burst(&mut self, pool: &mut HeapPool, pkts: &mut Vec<HeapBuf>) -> usize {
        let mut failed = 0;
        let mut queued = 0;
        for b in pkts.drain(..) {
            let slot = self.slot(RX_FRAMES + self.tx_next);
            let status = self.status(slot).load(Ordering::Acquire);
            let data = b.data();
            if status != libc::TP_STATUS_AVAILABLE || TX_DATA_OFF + data.len() > FRAME_SIZE {
                if status != libc::TP_STATUS_AVAILABLE {
                    AfPacketStats::add(&self.stats.tx_ring_full, 1);
                }
                failed += 1;
                pool.free(b);
                continue;
            }
            // SAFETY: the slot is ours (TP_STATUS_AVAILABLE, acquired above) until we set
            // SEND_REQUEST; the frame fits after the header (checked above); source and
            // destination do not overlap (heap buffer vs. ring).
            unsafe {
                std::ptr::copy_nonoverlapping(data.as_ptr(), slot.add(TX_DATA_OFF), data.len());
                let h = slot.cast::<libc::tpacket2_hdr>();
                (*h).tp_len = data.len() as u32;
                (*h).tp_snaplen = data.len() as u32;
            }
            self.status(slot)
                .store(libc::TP_STATUS_SEND_REQUEST, Ordering::Release);
            self.tx_next = (self.tx_next + 1) % TX_FRAMES;
            queued += 1;
            pool.free(b);
        }
        if queued > 0 {
            // SAFETY: a zero-length send on our socket asks the kernel to transmit the slots
            // marked SEND_REQUEST; no user memory is passed.
            unsafe {
                libc::sendto(
                    self.fd.0,
                    std::ptr::null(),
                    0,
                    libc::MSG_DONTWAIT,
                    std::ptr::null(),
                    0,
                );
            }
        }
        failed
    }
}

/// Copies `frame` into `b` after full headroom, re-inserting an 802.1Q tag the kernel
/// stripped. False when it does not fit.
fn fill(b: &mut HeapBuf, frame: &[u8], vlan: Option<u16>) -> bool {
    match vlan {
        Some(tci) if frame.len() >= 12 => {
            let Some(d) = b.set_len(frame.len() + 4) else {
                return false;
            };
            d[..12].copy_from_slice(&frame[..12]);
            d[12..14].copy_from_slice(&0x8100u16.to_be_bytes());
            d[14..16].copy_from_slice(&tci.to_be_bytes());
            d[16..].copy_from_slice(&frame[12..]);
            true
        }
        _ => b.set(frame),
    }
}

/// One worker's queue of an af_packet port.
#[derive(Debug)]
pub struct AfPacketPort {
    sock: AfPacketSocket,
}

impl AfPacketPort {
    /// Opens the queue of one worker. `fanout` as in [`AfPacketSocket::open`].
    pub fn open(
        name: &str,
        fanout: Option<u16>,
        stats: Arc<AfPacketStats>,
    ) -> Result<Self, AfPacketError> {
        Ok(AfPacketPort {
            sock: AfPacketSocket::open(name, fanout, stats)?,
        })
    }

    /// The interface's index and MTU.
    pub fn info(&self) -> InterfaceInfo {
        self.sock.info()
    }
}

impl PortQueue<HeapBuf, HeapPool> for AfPacketPort {
    fn rx_burst(&mut self, pool: &mut HeapPool, out: &mut Vec<HeapBuf>, max: usize) -> usize {
        self.sock.recv_burst(pool, out, max)
    }

    fn tx_burst(&mut self, pool: &mut HeapPool, pkts: &mut Vec<HeapBuf>) -> usize {
        self.sock.send_burst(pool, pkts)
    }

    fn rx_finished(&self) -> bool {
        false
    }

    fn finish(&mut self) {
        self.sock.read_kernel_stats();
    }
}

/// A fanout group id for a port, unique per process and interface.
pub fn fanout_group(ifindex: u32) -> u16 {
    (std::process::id() as u16) ^ (ifindex as u16).rotate_left(8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_interface_is_a_clear_error() {
        let e = interface_info("varouter-nope0").unwrap_err();
        assert!(matches!(e, AfPacketError::NoSuchInterface(_)), "{e}");
        assert!(e.to_string().contains("does not exist"), "{e}");
        let e = interface_info("a-name-that-is-far-too-long").unwrap_err();
        assert!(matches!(e, AfPacketError::BadName(_)), "{e}");
    }

    #[test]
    fn loopback_reports_its_mtu() {
        let i = interface_info("lo").unwrap();
        assert!(i.ifindex > 0);
        assert!(i.mtu >= 1500, "lo mtu {}", i.mtu);
    }

    #[test]
    fn vlan_tag_is_reinserted() {
        let mut b = HeapBuf::new();
        let frame: Vec<u8> = (0..20).collect();
        assert!(fill(&mut b, &frame, Some(0x0064)));
        assert_eq!(&b.data()[..12], &frame[..12]);
        assert_eq!(&b.data()[12..16], &[0x81, 0x00, 0x00, 0x64]);
        assert_eq!(&b.data()[16..], &frame[12..]);
        assert!(fill(&mut b, &frame, None));
        assert_eq!(b.data(), &frame[..]);
    }
}
