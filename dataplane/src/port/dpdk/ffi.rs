//! Raw declarations of the C shim (`shim.c`) and the part of `struct rte_mbuf` the fast path
//! reads directly. Hand-written: the shim keeps every signature to pointers and integers.
//! Nothing here is safe to call; the safe layer is the parent module.

use std::ffi::{c_char, c_int, c_uint, c_void};

/// `struct rte_mempool` (opaque).
#[repr(C)]
pub struct RteMempool {
    _private: [u8; 0],
}

/// The first 56 bytes of DPDK 22.11's `struct rte_mbuf` (cache line 0), as far as the
/// single-segment fast path needs them. The offsets are checked against the C compiler's
/// `offsetof` at start-up (`vr_mbuf_layout`), so a DPDK with another layout is refused
/// instead of misread.
#[repr(C)]
pub struct RteMbuf {
    /// Virtual address of the segment buffer.
    pub buf_addr: *mut u8,
    /// IOVA of the buffer (unused here).
    pub buf_iova: u64,
    /// Start of the data relative to `buf_addr` (the headroom).
    pub data_off: u16,
    /// Reference count (maintained by DPDK).
    pub refcnt: u16,
    /// Segments in the chain.
    pub nb_segs: u16,
    /// Input port.
    pub port: u16,
    /// Offload flags.
    pub ol_flags: u64,
    /// Packet type.
    pub packet_type: u32,
    /// Length of the whole chain.
    pub pkt_len: u32,
    /// Length of this segment's data.
    pub data_len: u16,
    /// VLAN TCI.
    pub vlan_tci: u16,
    /// RSS hash and friends (a 4-byte-aligned union in C).
    pub hash: [u32; 2],
    /// Outer VLAN TCI.
    pub vlan_tci_outer: u16,
    /// Size of the segment buffer.
    pub buf_len: u16,
}

/// Offsets of [`RteMbuf`]'s fields as Rust lays them out, in `vr_mbuf_layout` order; they
/// must equal what the C compiler says for `struct rte_mbuf`.
pub const MBUF_OFFSETS: [u32; 6] = [
    std::mem::offset_of!(RteMbuf, buf_addr) as u32,
    std::mem::offset_of!(RteMbuf, data_off) as u32,
    std::mem::offset_of!(RteMbuf, nb_segs) as u32,
    std::mem::offset_of!(RteMbuf, pkt_len) as u32,
    std::mem::offset_of!(RteMbuf, data_len) as u32,
    std::mem::offset_of!(RteMbuf, buf_len) as u32,
];

extern "C" {
    pub fn vr_errno() -> c_int;
    pub fn vr_strerror(e: c_int) -> *const c_char;
    pub fn vr_eal_init(argc: c_int, argv: *mut *mut c_char) -> c_int;
    pub fn vr_eal_cleanup() -> c_int;
    pub fn vr_mbuf_layout(out: *mut u32);

    pub fn vr_pool_create(
        name: *const c_char,
        n: c_uint,
        cache: c_uint,
        data_room: u16,
        socket: c_int,
    ) -> *mut RteMempool;
    pub fn vr_pool_free(mp: *mut RteMempool);
    pub fn vr_pool_avail(mp: *const RteMempool) -> c_uint;
    pub fn vr_pool_size(mp: *const RteMempool) -> c_uint;
    pub fn vr_mbuf_alloc(mp: *mut RteMempool) -> *mut RteMbuf;
    pub fn vr_mbuf_free(m: *mut RteMbuf);

    pub fn vr_rx_burst(port: u16, q: u16, pkts: *mut *mut RteMbuf, n: u16) -> u16;
    pub fn vr_tx_burst(port: u16, q: u16, pkts: *mut *mut RteMbuf, n: u16) -> u16;

    pub fn vr_rdtsc() -> u64;
    pub fn vr_tsc_hz() -> u64;

    pub fn vr_remote_launch(
        f: extern "C" fn(*mut c_void) -> c_int,
        arg: *mut c_void,
        lcore: c_uint,
    ) -> c_int;
    pub fn vr_wait_lcore(lcore: c_uint) -> c_int;
    pub fn vr_lcore_cpu(lcore: c_uint) -> c_int;
    pub fn vr_lcore_count() -> c_uint;

    pub fn vr_port_count() -> u16;
    pub fn vr_port_by_name(name: *const c_char, port: *mut u16) -> c_int;
    pub fn vr_port_valid(port: u16) -> c_int;
    pub fn vr_port_name(port: u16, buf: *mut c_char) -> c_int;
    pub fn vr_port_socket(port: u16) -> c_int;
    pub fn vr_port_info(
        port: u16,
        max_rxq: *mut u16,
        max_txq: *mut u16,
        rss: *mut u64,
        driver: *mut c_char,
        driver_len: usize,
    ) -> c_int;
    pub fn vr_port_configure(
        port: u16,
        nrxq: u16,
        ntxq: u16,
        rxd: u16,
        txd: u16,
        mp: *mut RteMempool,
        stage: *mut c_int,
    ) -> c_int;
    pub fn vr_port_start(port: u16) -> c_int;
    pub fn vr_port_stop(port: u16) -> c_int;
    pub fn vr_port_close(port: u16) -> c_int;
    pub fn vr_port_mac(port: u16, out: *mut u8) -> c_int;
    pub fn vr_port_set_mac(port: u16, mac: *const u8) -> c_int;
    pub fn vr_port_link(
        port: u16,
        speed: *mut u32,
        up: *mut c_int,
        full_duplex: *mut c_int,
    ) -> c_int;
    pub fn vr_xstats_count(port: u16) -> c_int;
    pub fn vr_xstats_get(
        port: u16,
        names: *mut c_char,
        name_len: usize,
        values: *mut u64,
        n: c_uint,
    ) -> c_int;
}
