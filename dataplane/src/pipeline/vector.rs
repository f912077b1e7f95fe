//! The burst path: the pipeline run on a whole burst at a time, in the manner of VPP's
//! vector processing (and DPDK's l3fwd), in safe Rust.
//!
//! ```text
//! stage 1  classify   every packet: Ethernet (+ one 802.1Q tag), interface table, VR,
//!                     IPv4/IPv6 header check          → the IPv4 lane, the IPv6 lane,
//!                                                       the label lane (MPLS on a
//!                                                       trunk), or the per-packet vector
//! stage 2  look up    the IPv4 lane with the VR's bulk FIB lookup (`Lpm::lookup_bulk`, the
//!                     interleaved poptrie walk), run by run of packets of the same VR;
//!                     the IPv6 lane likewise
//! stage 3  rewrite    in arrival order: a lane packet whose answer is an Ethernet next
//!                     hop (`Forward`) gets TTL, checksum, MAC and labels here; every other
//!                     lane packet continues in the per-packet code *with the answer of
//!                     stage 2* (`ipv4_routed`/`ipv6_routed`: local addresses, L2TP, ESP,
//!                     sessions, unresolved neighbours, discard routes); a label lane
//!                     packet whose top label is swapped (live TTL) is swapped and sent
//!                     here, other label operations run through [`forward`]; packets of
//!                     the per-packet vector (ARP, PPPoE, VLAN oddities, bad headers, …)
//!                     run through [`forward`] whole
//! ```
//!
//! Verdicts are built where they are kept (the lanes' rewrite code is inlined): a verdict
//! returned by an out-of-line call is written with narrow stores, and copying it whole
//! right after waits on a failed store forwarding, about a dozen cycles per packet.
//!
//! Each FIB lookup of the burst is made once, in stage 2, and its answer is used: there is
//! no separate warm-up pass and no second lookup. Misses of one packet's lookup overlap
//! with the others' (the bulk walk interleaves them), so the burst pays for its misses
//! roughly once instead of once per packet.
//!
//! **Same behaviour as [`forward`].** A packet takes a lane only when `forward` would take
//! the same steps for it (the same checks, in the same order, with the same results), so the
//! verdict, the rewritten bytes and every counter are the same; only *when* two counters are
//! written changes: a VR's RX (packets, bytes) and TX (packets, bytes) of lane packets are
//! summed over the burst and written once per burst and VR. Stage 3 runs in arrival order,
//! so side effects that depend on order (ESP sequence numbers, session counters) happen in
//! the order the packets arrived, as with `forward`. The unit tests at the end of this file
//! check the verdicts, bytes and counters against `forward` on mixed bursts.
//!
//! **Bounds.** Stage 1 checks the frame length once per packet against the longest header it
//! reads, and the lanes index arrays of exactly [`BURST`] entries with indices below the
//! burst length, so the compiler drops the per-access checks in the loops.

use super::{
    eth_out, forward, ipv4_routed, ipv6_routed, punt, swap_top, EthHop, PortInfo, Verdict,
    ETH_HLEN, ET_IPV4, ET_IPV6, ET_MPLS, ET_VLAN,
};
use crate::buffer::PacketBuf;
use crate::counters::{Drop, Punt, WorkerCounters};
use crate::port::BURST;
use crate::punt::Offsets;
use vr::{vr_counter, ForwardingState, IfBinding, Lpm, NextHop, NextHopId, PortId, VrEntry, VrId};
use wire::{Ipv4Packet, Ipv6Packet};

/// Which vector a packet of the burst is in (stage 1's answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lane {
    /// Handled by [`forward`], whole.
    PerPacket,
    /// IPv4 lane, entry `n` of the IPv4 arrays.
    V4(u8),
    /// IPv6 lane, entry `n` of the IPv6 arrays.
    V6(u8),
    /// A labelled frame on a trunk: its top label is swapped in stage 3 when the label
    /// matrix says swap ([`super::swap_top`]); any other operation runs in [`forward`].
    Label,
}

/// What the interface table says of a frame's port and VLAN, as stage 1 needs it.
#[derive(Clone, Copy)]
enum Bound<'a> {
    Vr(&'a VrEntry),
    Trunk,
    /// No interface, or a VR missing from the state.
    Other,
}

/// What stage 1 found about a lane packet.
#[derive(Clone, Copy)]
struct Found<'a> {
    vr: Option<&'a VrEntry>,
    vlan: Option<u16>,
    /// Where the IP header starts (14 or 18).
    l3: u8,
    /// The IP packet's length (IPv4 total length, IPv6 40 + payload length).
    total: u16,
}

impl Found<'_> {
    const NONE: Found<'static> = Found {
        vr: None,
        vlan: None,
        l3: 0,
        total: 0,
    };
}

/// A VR's RX or TX packets and bytes of one burst, written once.
#[derive(Clone, Copy)]
struct Tally<'a> {
    vr: Option<&'a VrEntry>,
    packets: u64,
    bytes: u64,
}

impl<'a> Tally<'a> {
    const EMPTY: Tally<'static> = Tally {
        vr: None,
        packets: 0,
        bytes: 0,
    };

    /// Adds a packet of `bytes` to `vr`'s sum, writing the previous VR's sum out first
    /// when the VR changes (a burst is usually one VR's).
    #[inline]
    fn add(&mut self, vr: &'a VrEntry, bytes: usize, c: &WorkerCounters, which: [usize; 2]) {
        if !self.vr.is_some_and(|v| std::ptr::eq(v, vr)) {
            self.flush(c, which);
            self.vr = Some(vr);
        }
        self.packets += 1;
        self.bytes += bytes as u64;
    }

    /// Writes the sum to the VR's counter line of this worker.
    #[inline]
    fn flush(&mut self, c: &WorkerCounters, which: [usize; 2]) {
        if let Some(vr) = self.vr.take() {
            if let Some(line) = vr.counters.worker(c.worker) {
                line.bump(which[0], self.packets);
                line.bump(which[1], self.bytes);
            }
        }
        self.packets = 0;
        self.bytes = 0;
    }
}

const RX: [usize; 2] = [vr_counter::RX, vr_counter::RX_BYTES];
const TX: [usize; 2] = [vr_counter::TX, vr_counter::TX_BYTES];

/// A worker's reusable state for the burst path: the verdicts of the last burst and the
/// lanes' address and answer arrays (kept here so a burst does not initialise them).
pub struct BurstPath {
    verdicts: [Verdict; BURST],
    lanes: [Lane; BURST],
    a4: [u32; BURST],
    nh4: [Option<NextHopId>; BURST],
    a6: [u128; BURST],
    nh6: [Option<NextHopId>; BURST],
}

impl Default for BurstPath {
    fn default() -> Self {
        Self::new()
    }
}

impl BurstPath {
    /// Empty state.
    pub fn new() -> Self {
        BurstPath {
            verdicts: [Verdict::Drop(Drop::TableInconsistent); BURST],
            lanes: [Lane::PerPacket; BURST],
            a4: [0; BURST],
            nh4: [None; BURST],
            a6: [0; BURST],
            nh6: [None; BURST],
        }
    }

    /// Runs the first [`BURST`] packets of `bufs` (received on `in_port`) through the
    /// pipeline and returns their verdicts, `verdicts[i]` for `bufs[i]`: what [`forward`]
    /// returns for each, with each packet rewritten as `forward` rewrites it. A longer
    /// `bufs` is the caller's to split; only its first `BURST` packets are touched.
    pub fn run<B: PacketBuf>(
        &mut self,
        st: &ForwardingState,
        ports: &[PortInfo],
        in_port: PortId,
        bufs: &mut [B],
        c: &WorkerCounters,
    ) -> &[Verdict] {
        let n = bufs.len().min(BURST);
        let bufs = &mut bufs[..n];
        let Some(me) = ports.get(usize::from(in_port.0)) else {
            // `forward` finds the same and drops every packet.
            for (v, b) in self.verdicts.iter_mut().zip(bufs.iter_mut()) {
                *v = forward(st, ports, in_port, b, c);
            }
            return &self.verdicts[..n];
        };
        let mut found = [Found::NONE; BURST];
        // The VR of each IPv4 / IPv6 lane entry, for the runs of stage 2.
        let mut vr4: [Option<&VrEntry>; BURST] = [None; BURST];
        let mut vr6: [Option<&VrEntry>; BURST] = [None; BURST];
        let (mut n4, mut n6) = (0usize, 0usize);
        let mut rx = Tally::EMPTY;

        // Stage 1: classify. The binding of the previous packet is kept: consecutive
        // packets of one interface need no second interface or VR table walk.
        let mut last: Option<(Option<u16>, Bound)> = None;
        for (i, b) in bufs.iter().enumerate() {
            self.lanes[i] = Lane::PerPacket;
            let d = b.data();
            // One length check for every header read below: Ethernet, one tag, the IPv6
            // fixed header (IPv4 needs less). A shorter frame (an unpadded one) takes the
            // per-packet path, which checks every read.
            let Some(h) = d.get(..ETH_HLEN + 4 + 40) else {
                continue;
            };
            if h[0] & 1 == 0 && h[0..6] != me.mac {
                continue;
            }
            let (vlan, l3, et) = match u16::from_be_bytes([h[12], h[13]]) {
                ET_VLAN => {
                    let vid = u16::from_be_bytes([h[14], h[15]]) & 0x0fff;
                    if vid == 0 || vid == 0x0fff {
                        continue;
                    }
                    (Some(vid), ETH_HLEN + 4, u16::from_be_bytes([h[16], h[17]]))
                }
                et => (None, ETH_HLEN, et),
            };
            if et != ET_IPV4 && et != ET_IPV6 && et != ET_MPLS {
                continue;
            }
            let bound = match last {
                Some((v, b)) if v == vlan => b,
                _ => {
                    let b = match st.interfaces.lookup_l2(in_port, vlan) {
                        Some(IfBinding::Vr(id)) => st.vr(id).map_or(Bound::Other, Bound::Vr),
                        Some(IfBinding::Trunk) => Bound::Trunk,
                        None => Bound::Other,
                    };
                    last = Some((vlan, b));
                    b
                }
            };
            // Labels on a trunk: the label lane. Anything else that is not IP in a VR (IP
            // on a trunk, labels on a VR's port, no interface, a VR missing from the
            // state): per packet.
            let vr = match (bound, et) {
                (Bound::Trunk, ET_MPLS) => {
                    self.lanes[i] = Lane::Label;
                    found[i] = Found {
                        vr: None,
                        vlan,
                        l3: l3 as u8,
                        total: 0,
                    };
                    continue;
                }
                (Bound::Vr(vr), ET_IPV4 | ET_IPV6) => vr,
                _ => continue,
            };
            let ip = &d[l3..];
            let (lane, total) = if et == ET_IPV4 {
                let Ok(h) = wire::ipv4::check_header(ip) else {
                    continue;
                };
                let j = n4 % BURST;
                self.a4[j] = h.dst;
                vr4[j] = Some(vr);
                n4 += 1;
                (Lane::V4(j as u8), h.total_len)
            } else {
                let Ok(p) = Ipv6Packet::new_checked(ip) else {
                    continue;
                };
                let dst = u128::from(p.dst_addr());
                if dst >> 120 == 0xff {
                    continue;
                }
                let j = n6 % BURST;
                self.a6[j] = dst;
                vr6[j] = Some(vr);
                n6 += 1;
                (Lane::V6(j as u8), 40 + p.payload_len())
            };
            self.lanes[i] = lane;
            found[i] = Found {
                vr: Some(vr),
                vlan,
                l3: l3 as u8,
                total,
            };
            rx.add(vr, d.len(), c, RX);
        }
        rx.flush(c, RX);

        // Stage 2: look up, run by run of packets of one VR.
        for_runs(&vr4[..n4], |vr, r| {
            Lpm::lookup_bulk(&*vr.fib4, &self.a4[r.clone()], &mut self.nh4[r])
        });
        for_runs(&vr6[..n6], |vr, r| {
            Lpm::lookup_bulk(&*vr.fib6, &self.a6[r.clone()], &mut self.nh6[r])
        });

        // Stage 3: rewrite, in arrival order.
        let mut tx = Tally::EMPTY;
        // The next hop of the previous lane packet: a burst usually goes to few.
        let mut last_hop: Option<(NextHopId, Option<&NextHop>)> = None;
        let lanes = &self.lanes[..n];
        let verdicts = &mut self.verdicts[..n];
        for ((b, lane), (v, f)) in bufs
            .iter_mut()
            .zip(lanes)
            .zip(verdicts.iter_mut().zip(found.iter()))
        {
            let (nh, et) = match *lane {
                Lane::PerPacket => {
                    *v = forward(st, ports, in_port, b, c);
                    continue;
                }
                Lane::Label => {
                    // Each arm writes `v` itself: a verdict merged from both and copied out
                    // would go through memory again.
                    match swap_top(st, ports, b, usize::from(f.l3)) {
                        Some(swapped) => *v = swapped,
                        None => *v = forward(st, ports, in_port, b, c),
                    }
                    continue;
                }
                Lane::V4(j) => (self.nh4[usize::from(j) % BURST], ET_IPV4),
                Lane::V6(j) => (self.nh6[usize::from(j) % BURST], ET_IPV6),
            };
            let Some(vr) = f.vr else {
                *v = Verdict::Drop(Drop::TableInconsistent);
                continue;
            };
            let l3 = usize::from(f.l3);
            let at = Offsets::ip(f.vlan, l3, l3);
            let total = usize::from(f.total);
            let hop = match (nh, last_hop) {
                (None, _) => None,
                (Some(id), Some((l, h))) if l == id => h,
                (Some(id), _) => {
                    let h = st.next_hops.get(id);
                    last_hop = Some((id, h));
                    h
                }
            };
            *v = match (nh, hop) {
                (
                    _,
                    Some(NextHop::Forward {
                        port,
                        vlan,
                        src_mac,
                        dst_mac,
                        push,
                    }),
                ) => {
                    let hop = EthHop {
                        port: *port,
                        vlan: *vlan,
                        src: *src_mac,
                        dst: *dst_mac,
                        push,
                        resolved: true,
                    };
                    let v = rewrite(ports, vr.id(), b, at, total, et, hop);
                    if let Verdict::Tx(_) = v {
                        tx.add(vr, b.len(), c, TX);
                    }
                    v
                }
                (nh, _) if et == ET_IPV4 => ipv4_routed(st, ports, vr, b, at, total, nh, c, true),
                (nh, _) => ipv6_routed(st, ports, vr, b, at, total, nh, c, true),
            };
            if let Verdict::Drop(_) = v {
                if let Some(line) = vr.counters.worker(c.worker) {
                    line.bump(vr_counter::DROP, 1);
                }
            }
        }
        tx.flush(c, TX);
        &self.verdicts[..n]
    }
}

/// Calls `f` with each run of equal VRs in `vrs` (by identity) and its index range.
#[inline]
fn for_runs<'a>(
    vrs: &[Option<&'a VrEntry>],
    mut f: impl FnMut(&'a VrEntry, std::ops::Range<usize>),
) {
    let mut start = 0;
    while start < vrs.len() {
        let first = vrs[start];
        let mut end = start + 1;
        while end < vrs.len() && same(vrs[end], first) {
            end += 1;
        }
        if let Some(vr) = first {
            f(vr, start..end);
        }
        start = end;
    }
}

#[inline]
fn same(a: Option<&VrEntry>, b: Option<&VrEntry>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => std::ptr::eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

/// The Ethernet fast path of a lane packet whose next hop is `Forward`: what
/// `ipv4_routed`/`ipv6_routed` and `send_ip` do for it, without the per-packet counter
/// write (the burst sums the VR's TX). The IP header passed stage 1's checks.
#[inline]
fn rewrite<B: PacketBuf>(
    ports: &[PortInfo],
    vr: VrId,
    buf: &mut B,
    at: Offsets,
    total: usize,
    et: u16,
    hop: EthHop<'_>,
) -> Verdict {
    let l3 = usize::from(at.ip);
    buf.trim(l3 + total);
    let new_ttl = {
        let ip = &mut buf.data_mut()[l3..];
        let r = if et == ET_IPV4 {
            Ipv4Packet::new_unchecked(ip).decrement_ttl_update_checksum()
        } else {
            Ipv6Packet::new_unchecked(ip).decrement_hop_limit()
        };
        match r {
            Ok(t) => t,
            Err(_) => return punt(Punt::TtlExpired, Some(vr), at),
        }
    };
    eth_out(ports, vr, buf, l3, total, new_ttl, et, hop)
}
