//! Port backends as the appliance brings them up from a profile: each only opens its ports,
//! hands every worker a buffer pool and one queue per port, and launches the workers on
//! their cores. The run loop, the control core and everything above are the same for all
//! ([`controlcore::run`]).
//!
//! | backend | module | buffers | workers run on |
//! |---|---|---|---|
//! | `mem`, `pcap`, `af_packet` | [`soft`] | heap buffers | threads pinned with `core_affinity` |
//! | `dpdk` | `dpdk` (feature `dpdk`) | mbufs | DPDK lcores |

#[cfg(feature = "dpdk")]
pub mod dpdk;
pub mod soft;

/// Why a backend could not start.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// A capture file.
    #[error(transparent)]
    Pcap(#[from] dataplane::port::pcap::PcapError),
    /// A core that does not exist.
    #[error("core {0} does not exist on this machine (cores 0..{1} are available)")]
    NoSuchCore(usize, usize),
    /// A profile with `dpdk` ports run by a binary built without DPDK.
    #[error("backend `dpdk` needs a build with `--features dpdk` (cargo build --release --features dpdk; needs libdpdk-dev)")]
    DpdkNotBuilt,
    /// An af_packet port could not be opened.
    #[error(transparent)]
    AfPacket(#[from] dataplane::port::af_packet::AfPacketError),
    /// DPDK refused something (EAL, ports, pools, lcores).
    #[error("{0}")]
    Dpdk(String),
}
