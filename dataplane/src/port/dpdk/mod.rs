//! The `dpdk` backend: DPDK 22.11 poll-mode drivers (PCI NICs and vdevs such as
//! `net_null`, `net_ring`, `net_pcap`, `net_tap`, `net_memif`) under safe RAII types.
//!
//! * [`Eal`] — the Environment Abstraction Layer, initialised once per process (DPDK cannot
//!   initialise it twice; a second [`Eal::init`] is refused). Lcores are launched with
//!   [`Eal::launch`]; `rte_eal_cleanup` runs when the last owner of DPDK memory is gone.
//! * [`Mempool`] — an mbuf pool on one NUMA socket.
//! * [`Mbuf`] — one single-segment packet, freed back to its pool on drop. It implements
//!   [`PacketBuf`] zero-copy: the pipeline reads and rewrites the mbuf's data in place and
//!   prepends into DPDK's headroom (`RTE_PKTMBUF_HEADROOM` = 128 bytes).
//! * [`EthPort`] — a configured, started ethdev (stopped and closed on drop), with link
//!   status and extended statistics; [`DpdkQueue`] — one worker's rx/tx queue pair on it,
//!   a [`PortQueue`].
//!
//! All `unsafe` of the data plane lives here and in [`ffi`]; each block says why it holds.
//! Not supported yet: multi-segment mbufs (received chains are dropped and counted as
//! `varouter_rx_multiseg_dropped`), hardware offloads, hot-plug.
#![allow(unsafe_code)]

pub mod ffi;

use crate::buffer::{BufPool, PacketBuf};
use crate::port::{PortQueue, BURST};
use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Headroom DPDK reserves in front of every received packet (`RTE_PKTMBUF_HEADROOM`).
pub const MBUF_HEADROOM: usize = 128;
/// Data room of the mbufs we create: headroom plus a 2048-byte frame.
pub const MBUF_DATA_ROOM: u16 = (MBUF_HEADROOM + 2048) as u16;

/// DPDK failures, as an operator reads them.
#[derive(Debug, thiserror::Error)]
pub enum DpdkError {
    /// `rte_eal_init` failed.
    #[error("DPDK EAL initialisation failed ({0}); check the `dpdk.eal_args`, `dpdk.vdevs` and `dpdk.allow` of the profile")]
    EalInit(String),
    /// A second initialisation in the same process.
    #[error("the DPDK EAL was already initialised in this process; DPDK allows one initialisation per process (run each appliance in its own process)")]
    EalAlreadyUsed,
    /// The shim and the Rust side disagree on `struct rte_mbuf`.
    #[error("this DPDK's struct rte_mbuf layout ({0:?}) is not the DPDK 22.11 layout varouter was written for")]
    MbufLayout([u32; 8]),
    /// An argument with an interior NUL.
    #[error("EAL argument `{0}` contains a NUL byte")]
    BadArg(String),
    /// Mempool creation failed.
    #[error("cannot create mbuf pool `{name}` of {n} mbufs on socket {socket}: {msg} (without hugepages, raise `-m`; with them, reserve more)")]
    Mempool {
        /// Pool name.
        name: String,
        /// Mbufs asked for.
        n: u32,
        /// NUMA socket.
        socket: i32,
        /// DPDK's reason.
        msg: String,
    },
    /// No ethdev by that name.
    #[error("no DPDK port `{name}`; known ports: {known} (is the vdev in `dpdk.vdevs` or the PCI device in `dpdk.allow` and bound to a DPDK driver?)")]
    NoSuchPort {
        /// Name asked for.
        name: String,
        /// Ports that exist.
        known: String,
    },
    /// The device has fewer queues than workers.
    #[error("DPDK port `{name}` ({driver}) has at most {max_rx} rx / {max_tx} tx queues; {want} workers need one of each")]
    TooFewQueues {
        /// Port.
        name: String,
        /// Driver.
        driver: String,
        /// Device rx limit.
        max_rx: u16,
        /// Device tx limit.
        max_tx: u16,
        /// Workers.
        want: u16,
    },
    /// An ethdev call failed.
    #[error("DPDK port `{name}`: {what} failed: {msg}")]
    Port {
        /// Port.
        name: String,
        /// Step.
        what: &'static str,
        /// DPDK's reason.
        msg: String,
    },
    /// An lcore could not be launched.
    #[error("cannot launch work on lcore {lcore}: {msg} (is it in the EAL core list and idle?)")]
    Launch {
        /// Lcore id.
        lcore: u32,
        /// Reason.
        msg: String,
    },
}

fn strerror(e: c_int) -> String {
    // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-terminated
    // string for any value; we copy it out immediately.
    let s = unsafe { CStr::from_ptr(ffi::vr_strerror(e.abs())) };
    s.to_string_lossy().into_owned()
}

fn last_error() -> String {
    // SAFETY: reads DPDK's per-thread rte_errno; no pointers involved.
    strerror(unsafe { ffi::vr_errno() })
}

/// Reads the CPU's time-stamp counter (`rte_rdtsc`).
#[inline]
pub fn tsc() -> u64 {
    // SAFETY: rdtsc has no memory effects and no preconditions.
    unsafe { ffi::vr_rdtsc() }
}

/// TSC ticks per second as the EAL measured them (0 before [`Eal::init`]).
pub fn tsc_hz() -> u64 {
    if !EAL_USED.load(Ordering::Acquire) {
        return 0;
    }
    // SAFETY: rte_get_tsc_hz reads a value the EAL set during init (checked above that an
    // init was attempted; it returns 0 otherwise).
    unsafe { ffi::vr_tsc_hz() }
}

static EAL_USED: AtomicBool = AtomicBool::new(false);

/// Keeps DPDK's memory alive; `rte_eal_cleanup` runs when the last clone is dropped.
struct EalGuard;

impl Drop for EalGuard {
    fn drop(&mut self) {
        // SAFETY: every object that uses DPDK memory (pools, ports, launched lcores) holds
        // an `Arc<EalGuard>`, so nothing can touch DPDK after this runs. Mempools that
        // still had mbufs outstanding leak their guard on purpose, so cleanup never runs
        // under a live `Mbuf`.
        unsafe {
            ffi::vr_eal_cleanup();
        }
    }
}

/// The initialised EAL of this process.
pub struct Eal {
    guard: Arc<EalGuard>,
}

impl std::fmt::Debug for Eal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Eal").finish_non_exhaustive()
    }
}

impl Eal {
    /// Initialises the EAL with `args` (without the program name). Only the first call in a
    /// process can succeed.
    pub fn init(args: &[String]) -> Result<Eal, DpdkError> {
        if EAL_USED.swap(true, Ordering::AcqRel) {
            return Err(DpdkError::EalAlreadyUsed);
        }
        let mut layout = [0u32; 8];
        // SAFETY: vr_mbuf_layout writes exactly 8 u32 into the array we pass.
        unsafe { ffi::vr_mbuf_layout(layout.as_mut_ptr()) };
        if layout[..6] != ffi::MBUF_OFFSETS
            || layout[6] as usize != 128
            || layout[7] as usize != MBUF_HEADROOM
            || std::mem::size_of::<ffi::RteMbuf>() > 64
        {
            return Err(DpdkError::MbufLayout(layout));
        }
        let mut owned = Vec::with_capacity(args.len() + 1);
        owned.push(CString::new("varouter").map_err(|_| DpdkError::BadArg("varouter".into()))?);
        for a in args {
            owned.push(CString::new(a.as_str()).map_err(|_| DpdkError::BadArg(a.clone()))?);
        }
        // The EAL may keep pointers into argv (and permutes it): give it strings that live
        // for the rest of the process. This happens once per process.
        let argv: &'static mut [*mut c_char] = Box::leak(
            owned
                .into_iter()
                .map(CString::into_raw)
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        );
        // SAFETY: argv holds argc valid, NUL-terminated, writable strings that are never
        // freed; this is the only rte_eal_init call of the process (EAL_USED).
        let rc = unsafe { ffi::vr_eal_init(argv.len() as c_int, argv.as_mut_ptr()) };
        if rc < 0 {
            return Err(DpdkError::EalInit(last_error()));
        }
        Ok(Eal {
            guard: Arc::new(EalGuard),
        })
    }

    /// Lcores the EAL runs (the main lcore included).
    pub fn lcore_count(&self) -> u32 {
        // SAFETY: the EAL is initialised (self exists).
        unsafe { ffi::vr_lcore_count() }
    }

    /// The CPU an lcore is pinned to (its first CPU), if the lcore exists.
    pub fn lcore_cpu(&self, lcore: u32) -> Option<u32> {
        // SAFETY: the EAL is initialised; the call range-checks `lcore`.
        let c = unsafe { ffi::vr_lcore_cpu(lcore) };
        u32::try_from(c).ok()
    }

    /// Runs `f` on worker lcore `lcore` (which must be idle). Wait with [`Launched::wait`].
    pub fn launch(
        &self,
        lcore: u32,
        f: Box<dyn FnOnce() + Send + 'static>,
    ) -> Result<Launched, DpdkError> {
        let arg = Box::into_raw(Box::new(f)) as *mut c_void;
        // SAFETY: `trampoline` takes ownership of `arg` (a Box<Box<dyn FnOnce>>) exactly once
        // when the launch succeeds; on failure the lcore never runs it and we take it back.
        let rc = unsafe { ffi::vr_remote_launch(trampoline, arg, lcore as c_uint) };
        if rc != 0 {
            // SAFETY: the launch failed, so `arg` was not handed to any lcore; it is still
            // the Box we leaked above.
            drop(unsafe { Box::from_raw(arg as *mut Box<dyn FnOnce() + Send>) });
            return Err(DpdkError::Launch {
                lcore,
                msg: strerror(rc),
            });
        }
        Ok(Launched {
            lcore,
            waited: false,
            _guard: self.guard.clone(),
        })
    }

    /// A new mbuf pool of `n` mbufs on `socket`.
    pub fn mempool(
        &self,
        name: &str,
        n: u32,
        cache: u32,
        socket: i32,
    ) -> Result<Arc<Mempool>, DpdkError> {
        let cname = CString::new(name).map_err(|_| DpdkError::BadArg(name.into()))?;
        // SAFETY: cname is a valid C string for the duration of the call; DPDK copies it.
        let mp = unsafe { ffi::vr_pool_create(cname.as_ptr(), n, cache, MBUF_DATA_ROOM, socket) };
        let mp = NonNull::new(mp).ok_or_else(|| DpdkError::Mempool {
            name: name.into(),
            n,
            socket,
            msg: last_error(),
        })?;
        Ok(Arc::new(Mempool {
            mp,
            guard: Some(self.guard.clone()),
        }))
    }

    /// Names of all available ethdev ports, in port-id order.
    pub fn port_names(&self) -> Vec<String> {
        let mut v = Vec::new();
        for p in 0..RTE_MAX_ETHPORTS {
            // SAFETY: the EAL is initialised; the call range-checks the id.
            if unsafe { ffi::vr_port_valid(p) } == 0 {
                continue;
            }
            let mut buf = [0 as c_char; 64];
            // SAFETY: `buf` is RTE_ETH_NAME_MAX_LEN (64) bytes, as the call requires.
            if unsafe { ffi::vr_port_name(p, buf.as_mut_ptr()) } == 0 {
                // SAFETY: the call wrote a NUL-terminated name into `buf`.
                v.push(
                    unsafe { CStr::from_ptr(buf.as_ptr()) }
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
        v
    }

    /// Opens, configures and starts the port `device` (an ethdev name such as `net_pcap0`
    /// or a PCI address, or a decimal port id) with one rx and one tx queue per worker.
    pub fn open_port(
        &self,
        device: &str,
        cfg: &PortSetup,
        pool: &Arc<Mempool>,
    ) -> Result<Arc<EthPort>, DpdkError> {
        let id = self.port_id(device)?;
        let perr = |what: &'static str, rc: c_int| DpdkError::Port {
            name: device.to_string(),
            what,
            msg: strerror(rc),
        };
        let (mut max_rx, mut max_tx, mut rss) = (0u16, 0u16, 0u64);
        let mut drv = [0 as c_char; 64];
        // SAFETY: all out-pointers are valid for writes; `drv` is 64 bytes as passed.
        let rc = unsafe {
            ffi::vr_port_info(
                id,
                &mut max_rx,
                &mut max_tx,
                &mut rss,
                drv.as_mut_ptr(),
                drv.len(),
            )
        };
        if rc != 0 {
            return Err(perr("rte_eth_dev_info_get", rc));
        }
        // SAFETY: vr_port_info NUL-terminated `drv`.
        let driver = unsafe { CStr::from_ptr(drv.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        if max_rx < cfg.queues || max_tx < cfg.queues {
            return Err(DpdkError::TooFewQueues {
                name: device.into(),
                driver,
                max_rx,
                max_tx,
                want: cfg.queues,
            });
        }
        let mut stage: c_int = 0;
        // SAFETY: `id` is a valid port, the pool outlives the port (the port holds an Arc).
        let rc = unsafe {
            ffi::vr_port_configure(
                id,
                cfg.queues,
                cfg.queues,
                cfg.rx_desc,
                cfg.tx_desc,
                pool.mp.as_ptr(),
                &mut stage,
            )
        };
        if rc != 0 {
            let what = match stage {
                1 => "rte_eth_dev_configure",
                2 => "rte_eth_rx_queue_setup",
                3 => "rte_eth_tx_queue_setup",
                _ => "rte_eth_dev_adjust_nb_rx_tx_desc",
            };
            return Err(perr(what, rc));
        }
        // SAFETY: the port is configured with its queues set up.
        let rc = unsafe { ffi::vr_port_start(id) };
        if rc != 0 {
            // SAFETY: closing a configured, not started port is allowed.
            unsafe { ffi::vr_port_close(id) };
            return Err(perr("rte_eth_dev_start", rc));
        }
        let mac_set = cfg.mac.map(|m| {
            // SAFETY: `m` is 6 readable bytes; the port is started.
            let rc = unsafe { ffi::vr_port_set_mac(id, m.as_ptr()) };
            if rc != 0 {
                tracing::warn!(
                    port = device,
                    "cannot set the MAC address ({}); the port keeps its own and stays promiscuous",
                    strerror(rc)
                );
            }
            rc == 0
        });
        let mut mac = [0u8; 6];
        // SAFETY: `mac` has the 6 bytes the call writes.
        unsafe { ffi::vr_port_mac(id, mac.as_mut_ptr()) };
        Ok(Arc::new(EthPort {
            mac_set,
            id,
            name: device.to_string(),
            driver,
            mac,
            queues: cfg.queues,
            rss: cfg.queues > 1 && rss != 0,
            multiseg_dropped: AtomicU64::new(0),
            _pool: pool.clone(),
            _guard: self.guard.clone(),
        }))
    }

    /// The NUMA socket of port `device` (`-1` when unknown, as for most vdevs).
    pub fn port_socket(&self, device: &str) -> Result<i32, DpdkError> {
        let id = self.port_id(device)?;
        // SAFETY: `id` is a valid port id (just resolved).
        Ok(unsafe { ffi::vr_port_socket(id) }.max(-1))
    }

    fn port_id(&self, device: &str) -> Result<u16, DpdkError> {
        let not_found = || DpdkError::NoSuchPort {
            name: device.into(),
            known: {
                let k = self.port_names();
                if k.is_empty() {
                    "none".into()
                } else {
                    k.join(", ")
                }
            },
        };
        if let Ok(n) = device.parse::<u16>() {
            // SAFETY: the EAL is initialised; the call range-checks the id.
            return if unsafe { ffi::vr_port_valid(n) } != 0 {
                Ok(n)
            } else {
                Err(not_found())
            };
        }
        let c = CString::new(device).map_err(|_| DpdkError::BadArg(device.into()))?;
        let mut id = 0u16;
        // SAFETY: `c` is a valid C string and `id` a valid out-pointer for the call.
        let rc = unsafe { ffi::vr_port_by_name(c.as_ptr(), &mut id) };
        if rc != 0 {
            return Err(not_found());
        }
        Ok(id)
    }
}

/// `RTE_MAX_ETHPORTS` of Debian's DPDK 22.11 build.
const RTE_MAX_ETHPORTS: u16 = 32;

extern "C" fn trampoline(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the Box<Box<dyn FnOnce>> leaked by `Eal::launch`, handed to exactly
    // one lcore exactly once.
    let f = unsafe { Box::from_raw(arg as *mut Box<dyn FnOnce() + Send>) };
    // A panic must not unwind into C.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(()) => 0,
        Err(_) => -1,
    }
}

/// Work running on an lcore.
pub struct Launched {
    lcore: u32,
    waited: bool,
    _guard: Arc<EalGuard>,
}

impl Launched {
    /// Waits for the work to return; false if it panicked.
    pub fn wait(mut self) -> bool {
        self.waited = true;
        // SAFETY: the lcore was launched by us and is waited for once.
        unsafe { ffi::vr_wait_lcore(self.lcore) == 0 }
    }
}

impl Drop for Launched {
    fn drop(&mut self) {
        if !self.waited {
            // SAFETY: as in `wait`; the EAL stays alive through `_guard` until it returns.
            unsafe { ffi::vr_wait_lcore(self.lcore) };
        }
    }
}

/// An mbuf pool.
pub struct Mempool {
    mp: NonNull<ffi::RteMempool>,
    guard: Option<Arc<EalGuard>>,
}

// SAFETY: DPDK mempools are multi-producer/multi-consumer safe (ring_mp_mc ops, per-lcore
// caches used only by their lcore); the pointer is only passed to DPDK calls.
unsafe impl Send for Mempool {}
// SAFETY: as above; no Rust-side state is mutated through `&Mempool`.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// Mbufs currently in the pool (not in flight).
    pub fn available(&self) -> u32 {
        // SAFETY: `mp` is a live pool.
        unsafe { ffi::vr_pool_avail(self.mp.as_ptr()) }
    }

    /// Total mbufs of the pool.
    pub fn size(&self) -> u32 {
        // SAFETY: `mp` is a live pool.
        unsafe { ffi::vr_pool_size(self.mp.as_ptr()) }
    }

    /// A fresh empty mbuf with full headroom.
    #[inline]
    pub fn alloc(&self) -> Option<Mbuf> {
        // SAFETY: `mp` is a live pool; a non-null result is a fresh mbuf we now own.
        let m = unsafe { ffi::vr_mbuf_alloc(self.mp.as_ptr()) };
        NonNull::new(m).map(Mbuf)
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        if self.available() == self.size() {
            // SAFETY: every mbuf is back in the pool and no port references it any more
            // (ports hold an Arc<Mempool>), so nothing can use the pool after this.
            unsafe { ffi::vr_pool_free(self.mp.as_ptr()) };
        } else {
            // Mbufs are still out (leaked by someone): keep the pool and DPDK's memory
            // alive for the rest of the process rather than free under them.
            std::mem::forget(self.guard.take());
        }
    }
}

/// One single-segment DPDK packet buffer, returned to its pool on drop.
pub struct Mbuf(NonNull<ffi::RteMbuf>);

// SAFETY: an Mbuf is the sole owner of its mbuf (refcount 1, not shared); DPDK allows an
// mbuf to be freed from any thread.
unsafe impl Send for Mbuf {}

impl std::fmt::Debug for Mbuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let h = self.head();
        f.debug_struct("Mbuf")
            .field("data_off", &h.data_off)
            .field("data_len", &h.data_len)
            .finish()
    }
}

impl Mbuf {
    #[inline]
    fn head(&self) -> &ffi::RteMbuf {
        // SAFETY: the pointer is a live mbuf we own (invariant of Mbuf); the layout of the
        // fields we read was checked against the C compiler at EAL init.
        unsafe { self.0.as_ref() }
    }

    #[inline]
    fn head_mut(&mut self) -> &mut ffi::RteMbuf {
        // SAFETY: as in `head`; `&mut self` makes this the only reference.
        unsafe { self.0.as_mut() }
    }

    /// Bytes free after the packet.
    pub fn tailroom(&self) -> usize {
        let h = self.head();
        usize::from(h.buf_len) - usize::from(h.data_off) - usize::from(h.data_len)
    }

    /// Replaces the contents with a copy of `bytes` after full headroom; false if it does
    /// not fit.
    pub fn set(&mut self, bytes: &[u8]) -> bool {
        let h = self.head_mut();
        let off = MBUF_HEADROOM.min(usize::from(h.buf_len));
        if bytes.len() > usize::from(h.buf_len) - off {
            return false;
        }
        h.data_off = off as u16;
        h.data_len = bytes.len() as u16;
        h.pkt_len = bytes.len() as u32;
        self.data_mut().copy_from_slice(bytes);
        true
    }

    fn into_raw(self) -> *mut ffi::RteMbuf {
        let p = self.0.as_ptr();
        std::mem::forget(self);
        p
    }

    /// Takes ownership of a raw mbuf.
    ///
    /// # Safety
    /// `p` must be a live mbuf (from rx or alloc) that nothing else owns.
    unsafe fn from_raw(p: *mut ffi::RteMbuf) -> Option<Mbuf> {
        NonNull::new(p).map(Mbuf)
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf; it is not used after this.
        unsafe { ffi::vr_mbuf_free(self.0.as_ptr()) }
    }
}

impl PacketBuf for Mbuf {
    #[inline]
    fn data(&self) -> &[u8] {
        let h = self.head();
        // SAFETY: for a single-segment mbuf DPDK and every method here keep
        // data_off + data_len <= buf_len, so the range lies inside the mbuf's buffer, which
        // lives as long as we own the mbuf.
        unsafe {
            std::slice::from_raw_parts(
                h.buf_addr.add(usize::from(h.data_off)),
                usize::from(h.data_len),
            )
        }
    }

    #[inline]
    fn data_mut(&mut self) -> &mut [u8] {
        let h = self.head();
        // SAFETY: as in `data`; `&mut self` gives exclusive access to the buffer.
        unsafe {
            std::slice::from_raw_parts_mut(
                h.buf_addr.add(usize::from(h.data_off)),
                usize::from(h.data_len),
            )
        }
    }

    #[inline]
    fn len(&self) -> usize {
        usize::from(self.head().data_len)
    }

    #[inline]
    fn headroom(&self) -> usize {
        usize::from(self.head().data_off)
    }

    #[inline]
    fn adj(&mut self, n: usize) -> bool {
        let h = self.head_mut();
        if n > usize::from(h.data_len) {
            return false;
        }
        h.data_off += n as u16;
        h.data_len -= n as u16;
        h.pkt_len -= n as u32;
        true
    }

    #[inline]
    fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
        let h = self.head_mut();
        if n > usize::from(h.data_off) {
            return None;
        }
        h.data_off -= n as u16;
        h.data_len += n as u16;
        h.pkt_len += n as u32;
        Some(&mut self.data_mut()[..n])
    }

    #[inline]
    fn trim(&mut self, len: usize) {
        let h = self.head_mut();
        if len < usize::from(h.data_len) {
            h.pkt_len -= u32::from(h.data_len) - len as u32;
            h.data_len = len as u16;
        }
    }

    #[inline]
    fn append(&mut self, n: usize) -> Option<&mut [u8]> {
        if n > self.tailroom() {
            return None;
        }
        let h = self.head_mut();
        h.data_len += n as u16;
        h.pkt_len += n as u32;
        let len = usize::from(h.data_len);
        Some(&mut self.data_mut()[len - n..])
    }
}

/// A worker's handle on a [`Mempool`]: the [`BufPool`] of the dpdk backend.
#[derive(Clone)]
pub struct MbufPool(pub Arc<Mempool>);

impl BufPool<Mbuf> for MbufPool {
    #[inline]
    fn alloc(&mut self) -> Option<Mbuf> {
        self.0.alloc()
    }

    #[inline]
    fn free(&mut self, buf: Mbuf) {
        drop(buf);
    }
}

impl crate::buffer::BufAlloc<Mbuf> for MbufPool {
    fn alloc_from(&mut self, bytes: &[u8]) -> Option<Mbuf> {
        let mut m = self.0.alloc()?;
        m.set(bytes).then_some(m)
    }
}

/// How to set a port up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortSetup {
    /// The MAC address the port should have (set as the device's default address; the
    /// port stays promiscuous either way, and the pipeline filters unicast on this MAC).
    pub mac: Option<[u8; 6]>,
    /// Rx queues and tx queues (one of each per worker).
    pub queues: u16,
    /// Rx descriptors per queue.
    pub rx_desc: u16,
    /// Tx descriptors per queue.
    pub tx_desc: u16,
}

/// Link state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    /// Carrier up.
    pub up: bool,
    /// Speed in Mbit/s (0 unknown).
    pub speed_mbps: u32,
    /// Full duplex.
    pub full_duplex: bool,
}

/// A started ethdev; stopped and closed when the last queue and owner drop it.
pub struct EthPort {
    id: u16,
    name: String,
    driver: String,
    mac: [u8; 6],
    mac_set: Option<bool>,
    queues: u16,
    rss: bool,
    multiseg_dropped: AtomicU64,
    _pool: Arc<Mempool>,
    _guard: Arc<EalGuard>,
}

impl std::fmt::Debug for EthPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EthPort")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("driver", &self.driver)
            .finish()
    }
}

impl EthPort {
    /// Port id.
    pub fn id(&self) -> u16 {
        self.id
    }
    /// Device name as configured.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Driver name (`net_pcap`, `net_ice`, ...).
    pub fn driver(&self) -> &str {
        &self.driver
    }
    /// Whether the MAC address asked for in [`PortSetup::mac`] was set (`None`: none asked).
    pub fn mac_set(&self) -> Option<bool> {
        self.mac_set
    }

    /// The device's MAC address (after setting it, when asked).
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }
    /// True when received traffic is spread over the queues by RSS.
    pub fn rss(&self) -> bool {
        self.rss
    }

    /// Link status without waiting.
    pub fn link(&self) -> Result<Link, DpdkError> {
        let (mut speed, mut up, mut fd) = (0u32, 0 as c_int, 0 as c_int);
        // SAFETY: the port is started; out-pointers are valid.
        let rc = unsafe { ffi::vr_port_link(self.id, &mut speed, &mut up, &mut fd) };
        if rc != 0 {
            return Err(DpdkError::Port {
                name: self.name.clone(),
                what: "rte_eth_link_get_nowait",
                msg: strerror(rc),
            });
        }
        Ok(Link {
            up: up != 0,
            speed_mbps: speed,
            full_duplex: fd != 0,
        })
    }

    /// The device's extended statistics (`rte_eth_xstats_get`) plus varouter's own
    /// counters of this port (`varouter_*`).
    pub fn xstats(&self) -> Result<Vec<(String, u64)>, DpdkError> {
        const NAME: usize = 64;
        let err = |rc: c_int| DpdkError::Port {
            name: self.name.clone(),
            what: "rte_eth_xstats_get",
            msg: strerror(rc),
        };
        // SAFETY: the port is valid.
        let n = unsafe { ffi::vr_xstats_count(self.id) };
        if n < 0 {
            return Err(err(n));
        }
        let n = n as usize;
        let mut names = vec![0 as c_char; n * NAME];
        let mut values = vec![0u64; n];
        // SAFETY: `names` holds n names of NAME bytes and `values` n values, as passed.
        let got = unsafe {
            ffi::vr_xstats_get(
                self.id,
                names.as_mut_ptr(),
                NAME,
                values.as_mut_ptr(),
                n as c_uint,
            )
        };
        if got < 0 {
            return Err(err(got));
        }
        let mut out: Vec<(String, u64)> = (0..got as usize)
            .map(|i| {
                let raw = &names[i * NAME..(i + 1) * NAME];
                let bytes: Vec<u8> = raw
                    .iter()
                    .take_while(|c| **c != 0)
                    .map(|c| *c as u8)
                    .collect();
                (String::from_utf8_lossy(&bytes).into_owned(), values[i])
            })
            .collect();
        out.push((
            "varouter_rx_multiseg_dropped".into(),
            self.multiseg_dropped.load(Ordering::Relaxed),
        ));
        Ok(out)
    }

    /// The queue pair `q` (one per worker) of this port.
    pub fn queue(self: &Arc<Self>, q: u16) -> Option<DpdkQueue> {
        (q < self.queues).then(|| DpdkQueue {
            port: self.clone(),
            q,
        })
    }
}

impl Drop for EthPort {
    fn drop(&mut self) {
        // SAFETY: the last queue is gone (queues hold an Arc), so no lcore polls the port;
        // stop then close is the documented teardown and frees the mbufs in its rings.
        unsafe {
            ffi::vr_port_stop(self.id);
            ffi::vr_port_close(self.id);
        }
    }
}

/// One worker's rx/tx queue pair on an [`EthPort`].
pub struct DpdkQueue {
    port: Arc<EthPort>,
    q: u16,
}

impl PortQueue<Mbuf, MbufPool> for DpdkQueue {
    #[inline]
    fn rx_burst(&mut self, _pool: &mut MbufPool, out: &mut Vec<Mbuf>, max: usize) -> usize {
        let mut raw = [std::ptr::null_mut::<ffi::RteMbuf>(); BURST];
        let want = max.min(BURST) as u16;
        // SAFETY: `raw` has room for `want` pointers; this worker is the only user of queue
        // `q` (one queue per worker).
        let n = unsafe { ffi::vr_rx_burst(self.port.id, self.q, raw.as_mut_ptr(), want) };
        let mut got = 0;
        for &p in &raw[..usize::from(n)] {
            // SAFETY: the PMD handed us ownership of `n` live mbufs.
            let Some(m) = (unsafe { Mbuf::from_raw(p) }) else {
                continue;
            };
            if m.head().nb_segs != 1 {
                self.port.multiseg_dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            out.push(m);
            got += 1;
        }
        got
    }

    #[inline]
    fn tx_burst(&mut self, _pool: &mut MbufPool, pkts: &mut Vec<Mbuf>) -> usize {
        let mut failed = 0;
        while !pkts.is_empty() {
            let take = pkts.len().min(BURST);
            let mut raw = [std::ptr::null_mut::<ffi::RteMbuf>(); BURST];
            for (slot, m) in raw.iter_mut().zip(pkts.drain(..take)) {
                *slot = m.into_raw();
            }
            // SAFETY: `raw[..take]` are live mbufs we own; the PMD takes ownership of the
            // first `sent`, and we take the rest back below. Queue `q` is this worker's.
            let sent = usize::from(unsafe {
                ffi::vr_tx_burst(self.port.id, self.q, raw.as_mut_ptr(), take as u16)
            });
            for &p in &raw[sent..take] {
                // SAFETY: the PMD did not take these; they are still ours.
                drop(unsafe { Mbuf::from_raw(p) });
                failed += 1;
            }
        }
        failed
    }

    fn rx_finished(&self) -> bool {
        false
    }
}
