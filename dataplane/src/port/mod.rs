//! Port backends. A worker holds one queue of every port it serves; each queue moves
//! bursts of packets between the backend and the pipeline.
//!
//! | backend | what it is |
//! |---|---|
//! | [`mem`] | in-process packet generator (rx) and counting sink (tx) |
//! | [`pcap`] | capture file read as rx, sent packets written to a capture |
//! | `dpdk` | DPDK poll-mode drivers (cargo feature `dpdk`) |
//! | [`af_packet`] | a Linux interface through TPACKET_V2 mmap rings (Linux only) |

#[cfg(target_os = "linux")]
pub mod af_packet;
pub mod csum;
#[cfg(feature = "dpdk")]
pub mod dpdk;
pub mod mem;
pub mod pcap;

use crate::buffer::{BufPool, PacketBuf};

/// Packets a burst holds (DPDK's customary 32).
pub const BURST: usize = 32;

/// One (port, worker) queue pair of a backend.
pub trait PortQueue<B: PacketBuf, P: BufPool<B>>: Send {
    /// Appends up to `max` received packets to `out`; returns how many.
    fn rx_burst(&mut self, pool: &mut P, out: &mut Vec<B>, max: usize) -> usize;
    /// Sends every packet in `pkts` (emptying it). Returns how many the backend refused;
    /// those are freed to `pool` and counted by the caller as `tx_failed`.
    fn tx_burst(&mut self, pool: &mut P, pkts: &mut Vec<B>) -> usize;
    /// True when this queue's receive side will never produce another packet (a capture
    /// file at its end, generators past their packet budget). Endless sources say false.
    fn rx_finished(&self) -> bool;
    /// Called once when the worker stops (flush files).
    fn finish(&mut self) {}
}
