//! The "look up all" stage of a burst (as DPDK's l3fwd and VPP's nodes do it): before the
//! pipeline handles a burst packet by packet, the FIB lookups of the whole burst are run
//! back to back and their answers discarded.
//!
//! A lookup in a full Internet table misses the caches two or three times in a row; done
//! inside the per-packet pipeline, each packet waits for its own chain of misses. Done here,
//! the lookups of the burst are independent of each other, so the CPU overlaps their misses
//! and the pipeline's own lookup then finds every node in cache. Nothing is written; a
//! packet this stage does not understand (not IPv4/IPv6 on a VR interface) is skipped and
//! left entirely to the pipeline.

use crate::buffer::PacketBuf;
use crate::port::BURST;
use vr::{ForwardingState, IfBinding, Lpm, NextHopId, PortId, VrId};

const ET_IPV4: u16 = 0x0800;
const ET_IPV6: u16 = 0x86dd;
const ET_VLAN: u16 = 0x8100;

/// Runs the FIB lookups of `bufs` (received on `in_port`) to bring the tables into cache.
/// IPv4 destinations of consecutive packets of the same VR go through the FIB's bulk
/// lookup (`Lpm::lookup_bulk`), so a FIB with an interleaved bulk path is used as such.
#[inline]
pub fn warm_burst<B: PacketBuf>(st: &ForwardingState, in_port: PortId, bufs: &[B]) {
    let mut acc = 0u32;
    let mut addrs = [0u32; BURST];
    let mut out = [None; BURST];
    let mut n = 0;
    let mut cur: Option<VrId> = None;
    let flush = |vr: Option<VrId>, addrs: &[u32], out: &mut [Option<NextHopId>], acc: &mut u32| {
        if let Some(fib) = vr.and_then(|v| st.vr(v)) {
            Lpm::lookup_bulk(&*fib.fib4, addrs, out);
            *acc ^= out.iter().flatten().fold(0, |a, n| a ^ n.0);
        }
    };
    for b in bufs {
        let d = b.data();
        if d.len() < 18 {
            continue;
        }
        let (mut et, mut l3, mut vlan) = (u16::from_be_bytes([d[12], d[13]]), 14, None);
        if et == ET_VLAN {
            vlan = Some(u16::from_be_bytes([d[14], d[15]]) & 0x0fff);
            et = u16::from_be_bytes([d[16], d[17]]);
            l3 = 18;
        }
        let Some(IfBinding::Vr(vr)) = st.interfaces.lookup_l2(in_port, vlan) else {
            continue;
        };
        match et {
            ET_IPV4 if d.len() >= l3 + 20 => {
                if cur != Some(vr) || n == BURST {
                    flush(cur, &addrs[..n], &mut out[..n], &mut acc);
                    n = 0;
                    cur = Some(vr);
                }
                addrs[n] = u32::from_be_bytes([d[l3 + 16], d[l3 + 17], d[l3 + 18], d[l3 + 19]]);
                n += 1;
            }
            ET_IPV6 if d.len() >= l3 + 40 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(&d[l3 + 24..l3 + 40]);
                if let Some(nh) = st.vr(vr).and_then(|f| f.lookup6(u128::from_be_bytes(a))) {
                    acc ^= nh.0;
                }
            }
            _ => {}
        }
    }
    flush(cur, &addrs[..n], &mut out[..n], &mut acc);
    std::hint::black_box(acc);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer::HeapBuf;

    #[test]
    fn odd_frames_are_skipped_without_panicking() {
        let st = vr::ForwardingState::default();
        let frames: Vec<HeapBuf> = [&[][..], &[0u8; 17], &[0xffu8; 60], &{
            let mut f = [0u8; 20];
            f[12] = 0x81;
            f
        }]
        .iter()
        .map(|f| HeapBuf::from_slice(f).unwrap())
        .collect();
        warm_burst(&st, PortId(0), &frames);
        warm_burst(&st, PortId(7), &frames);
    }
}
