//! Per-worker counters. Each worker writes only its own block (relaxed stores, no atomic
//! read-modify-write on the fast path); readers sum the blocks of all workers.

use std::sync::atomic::{AtomicU64, Ordering};

pub use vr::counters::{CounterArray, CounterLine};

/// Single-writer increment of a lone counter: a plain load and store, no locked
/// instruction (the `mem` backend's per-flow statistics).
#[inline]
pub fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal,)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum $name { $($(#[$vm])* $v,)* }
        impl $name {
            /// Every value, in counter order.
            pub const ALL: &'static [$name] = &[$($name::$v,)*];
            /// Number of values.
            pub const COUNT: usize = Self::ALL.len();
            /// The counter's name as shown to operators.
            pub const fn name(self) -> &'static str {
                match self { $($name::$v => $s,)* }
            }
        }
    };
}

named_enum! {
    /// Why the pipeline dropped a packet. Every drop has one of these names.
    Drop {
        /// Frame shorter than an Ethernet header.
        EthTruncated = "eth_truncated",
        /// Unicast frame not addressed to the receiving port.
        L2NotForUs = "l2_not_for_us",
        /// 802.1Q tag truncated or VLAN id 0/4095.
        VlanMalformed = "vlan_malformed",
        /// Stacked VLAN tags (QinQ) are not supported yet.
        VlanUnsupported = "vlan_unsupported",
        /// No interface table entry for (port, vlan).
        NoInterface = "no_interface",
        /// An MPLS frame arrived on a customer-facing interface (isolation rule).
        LabelledOnCustomerPort = "labelled_on_customer_port",
        /// Plain IP on a trunk (trunks carry labelled VPN traffic only).
        UnlabelledOnTrunk = "unlabelled_on_trunk",
        /// EtherType the router does not handle.
        EtherTypeUnsupported = "ethertype_unsupported",
        /// IPv4 header invalid (version, IHL, total length).
        Ipv4Malformed = "ipv4_malformed",
        /// IPv4 header checksum wrong.
        Ipv4BadChecksum = "ipv4_bad_checksum",
        /// IPv6 header invalid.
        Ipv6Malformed = "ipv6_malformed",
        /// No route in the packet's VR.
        NoRoute = "no_route",
        /// Route says discard.
        Blackhole = "blackhole",
        /// Label stack truncated or without bottom-of-stack.
        MplsMalformed = "mpls_malformed",
        /// No label matrix entry for the top label.
        LabelUnknown = "label_unknown",
        /// Label TTL would reach zero.
        MplsTtlExpired = "mpls_ttl_expired",
        /// A pop-to-VR label was not at the bottom of the stack.
        MplsPopNotBottom = "mpls_pop_not_bottom",
        /// The payload under the last label is not IPv4/IPv6.
        MplsPayloadUnsupported = "mpls_payload_unsupported",
        /// Not enough headroom to add headers.
        NoHeadroom = "no_headroom",
        /// Packet larger than the egress port's MTU.
        MtuExceeded = "mtu_exceeded",
        /// The punt ring to the control core was full.
        PuntRingFull = "punt_ring_full",
        /// A table referenced a next hop or VR that does not exist (a compiler bug).
        TableInconsistent = "table_inconsistent",
        /// The port's transmit path refused the packet.
        TxFailed = "tx_failed",
        /// L2TP header or the PPP header inside it invalid.
        L2tpMalformed = "l2tp_malformed",
        /// L2TP data for a (tunnel, session) that is not up.
        L2tpNoSession = "l2tp_no_session",
        /// L2TP data for a session of another VR than the one it arrived in (isolation rule).
        L2tpWrongVr = "l2tp_wrong_vr",
        /// A packet for an L2TP session whose peer's neighbour (the LAC or the gateway to
        /// it) has no MAC address yet (routed into the session or relayed from another).
        L2tpNoNeighbor = "l2tp_no_neighbor",
        /// PPPoE session frame (EtherType 0x8864) with a VER/TYPE other than 1/1, a CODE
        /// other than 0 (session data), a LENGTH beyond the frame, or no valid PPP
        /// protocol field.
        PppoeMalformed = "pppoe_malformed",
        /// PPPoE session frame for a (port, session id) that is not bound.
        PppoeNoSession = "pppoe_no_session",
        /// PPPoE session frame from another MAC address or VLAN than the session's
        /// subscriber (isolation rule: a subscriber cannot use another's session id).
        PppoeWrongPeer = "pppoe_wrong_peer",
        /// ESP packet shorter than header, IV, trailer and ICV, or with a reserved SPI.
        EspTruncated = "esp_truncated",
        /// ESP packet whose SPI has no inbound SA in the VR it arrived in (another VR's SA
        /// of that SPI is not looked at: SAs are keyed by VR).
        EspUnknownSpi = "esp_unknown_spi",
        /// ESP packet whose ICV does not verify (altered, wrong key, forged).
        EspBadIcv = "esp_bad_icv",
        /// ESP sequence number seen before or left of the replay window.
        EspReplay = "esp_replay",
        /// Decrypted ESP trailer impossible (pad length, padding bytes).
        EspBadPadding = "esp_bad_padding",
        /// ESP packet for an SA past its hard lifetime.
        EspSaExpired = "esp_sa_expired",
        /// Outbound SA without ESN has used all 2^32 - 1 sequence numbers.
        EspSeqExhausted = "esp_seq_exhausted",
        /// NAT-keepalive (a single 0xff byte) on UDP 4500: ignored, counted (RFC 3948).
        EspNatKeepalive = "esp_nat_keepalive",
        /// Decrypted ESP payload that is not IPv4 or IPv6 (dummy packets, next header 59,
        /// included), or whose inner header is malformed.
        EspInnerUnsupported = "esp_inner_unsupported",
        /// Route into an outbound SA id that has no SA.
        EspNoSa = "esp_no_sa",
        /// A packet routed into an outbound SA whose source selector does not name its
        /// source address (a host the SA's owner did not authorise).
        EspSourceNotAllowed = "esp_source_not_allowed",
        /// No room after the packet for the ESP trailer.
        EspNoTailroom = "esp_no_tailroom",
        /// The outer packet of an ESP tunnel has no usable route in the outer VR (no
        /// route, or a route into a session or another tunnel).
        EspOuterUnroutable = "esp_outer_unroutable",
        /// ESP in UDP for an SA of plain ESP, or plain ESP for an SA in UDP (RFC 3948).
        EspWrongEncap = "esp_wrong_encap",
        /// ESP in UDP over IPv6 whose UDP checksum is zero or wrong (RFC 8200 §8.1).
        EspUdpChecksum = "esp_udp_checksum",
        /// IP-in-IP (protocol 4 or 41) to one of a VR's addresses from a source that is no
        /// tunnel's remote end in that VR, or to another local address than the tunnel's
        /// (tunnels are keyed by VR: another VR's tunnel is never looked at).
        IpIpUnknownTunnel = "ipip_unknown_tunnel",
        /// IP-in-IP whose inner packet is missing, truncated or of the other family than
        /// the protocol number says (4: IPv4, 41: IPv6), or whose inner header is invalid.
        IpIpInnerMalformed = "ipip_inner_malformed",
        /// Route into an IP-in-IP tunnel id that has no tunnel in the route's VR.
        IpIpNoTunnel = "ipip_no_tunnel",
        /// A packet routed into an IP-in-IP tunnel whose source selector does not name its
        /// source address.
        IpIpSourceNotAllowed = "ipip_source_not_allowed",
        /// The outer packet of an IP-in-IP tunnel has no usable route in the outer VR (no
        /// route, or a route into a session or another tunnel).
        IpIpOuterUnroutable = "ipip_outer_unroutable",
        /// IP-in-IP whose outer header is marked CE (congestion experienced) around an inner
        /// packet that is not ECN-capable: dropped, as RFC 6040 §4.2 says (the congestion
        /// signal cannot be passed on).
        IpIpEcnNotEct = "ipip_ecn_not_ect",
        /// Route into a source selection id ([`vr::NextHop::BySource`]) that the route's VR
        /// does not have.
        SourceRouteUnknown = "source_route_unknown",
        /// A packet routed into a source selection whose entries name no prefix containing
        /// its source address: it enters none of the tunnels (several users' tunnels share
        /// the destination, and this source is none of those users).
        SourceRouteNoMatch = "source_route_no_match",
        /// Route into a replay hop id ([`vr::NextHop::Replayable`]) that the route's VR does
        /// not have.
        ReplayHopUnknown = "replay_hop_unknown",
    }
}

named_enum! {
    /// Why the pipeline handed a packet to the control core.
    Punt {
        /// Addressed to one of the router's own addresses.
        Local = "local",
        /// ARP frame.
        Arp = "arp",
        /// IPv6 multicast (neighbor discovery and friends).
        Ipv6Multicast = "ipv6_multicast",
        /// Next hop MAC unknown.
        NeighborMiss = "neighbor_miss",
        /// IP TTL / hop limit expired in transit (ICMP time exceeded is generated there).
        TtlExpired = "ttl_expired",
        /// L2TP control message for the VR's L2TP engine.
        L2tpControl = "l2tp_control",
        /// Non-IP PPP frame (LCP, IPCP, authentication) inside an L2TP session.
        PppControl = "ppp_control",
        /// Label TTL expired at a label switch (also counted as the `mpls_ttl_expired`
        /// drop); the control core answers with ICMP sent along the LSP (RFC 3032 §2.3.2).
        LabelTtlExpired = "label_ttl_expired",
        /// PPPoE discovery frame (EtherType 0x8863: PADI, PADR, PADT, ...) on an access
        /// interface; `vr` is the interface's VR, `at.l3` the PPPoE header.
        PppoeDiscovery = "pppoe_discovery",
        /// Non-IP PPP frame (LCP, authentication, IPCP, ...) of a PPPoE session terminated
        /// here; `vr` is the session's VR, `at.l3` the PPPoE header, `at.inner` the PPP
        /// frame.
        PppoeControl = "pppoe_control",
        /// ESP under an SPI the VR has no SA for, in a VR that holds such packets
        /// ([`vr::VrEntry::esp_hold`]: a foreign agent's outer VR, while a registration may
        /// be about to install the SA); `at.app` is the ESP header. Elsewhere the
        /// `esp_unknown_spi` drop.
        EspUnknownSpi = "esp_unknown_spi",
    }
}

/// One worker's counters. Every array is its own run of whole cache lines
/// ([`CounterArray`]), so two workers never write the same line, however the allocator
/// places their blocks. Per-VR counters are not here: they live with each VR in the
/// forwarding state ([`vr::VrCounters`]), so VRs created at run time are counted too.
pub struct WorkerCounters {
    /// The worker these counters belong to (its line in each VR's counters).
    pub worker: usize,
    drops: CounterArray,
    punts: CounterArray,
    /// Per port: received packets.
    pub port_rx: CounterArray,
    /// Per port: sent packets.
    pub port_tx: CounterArray,
    /// Per port: packets received there and dropped.
    pub port_drop: CounterArray,
    /// Bursts processed (counter 0).
    pub bursts: CounterArray,
    /// The next outer IPv4 Identification of a tunnel packet that may be fragmented
    /// (IP-in-IP without DF): written by this worker only.
    ip_id: AtomicU64,
}

impl WorkerCounters {
    /// Counters of worker `worker` for `ports` ports.
    pub fn new(worker: usize, ports: usize) -> Self {
        WorkerCounters {
            worker,
            drops: CounterArray::new(Drop::COUNT),
            punts: CounterArray::new(Punt::COUNT),
            port_rx: CounterArray::new(ports),
            port_tx: CounterArray::new(ports),
            port_drop: CounterArray::new(ports),
            bursts: CounterArray::new(1),
            // Workers start far apart in the 16-bit space, so that two workers' packets of
            // one tunnel rarely carry one Identification at the same time.
            ip_id: AtomicU64::new((worker as u64).wrapping_mul(0x9e37)),
        }
    }

    /// An IPv4 Identification for an outer header without DF (RFC 791, RFC 6864 §4.2: the
    /// non-atomic datagrams of one source, destination and protocol need distinct IDs
    /// while they may meet); per worker, single writer.
    #[inline]
    pub fn next_ip_id(&self) -> u16 {
        let n = self.ip_id.load(Ordering::Relaxed);
        self.ip_id.store(n.wrapping_add(1), Ordering::Relaxed);
        n as u16
    }

    /// Counts a drop.
    #[inline]
    pub fn count_drop(&self, why: Drop) {
        self.drops.bump(why as usize, 1);
    }

    /// Counts a punt.
    #[inline]
    pub fn count_punt(&self, why: Punt) {
        self.punts.bump(why as usize, 1);
    }

    /// Reads a drop counter.
    pub fn drops(&self, why: Drop) -> u64 {
        self.drops.get(why as usize)
    }

    /// Reads a punt counter.
    pub fn punts(&self, why: Punt) -> u64 {
        self.punts.get(why as usize)
    }

    /// All drops.
    pub fn total_drops(&self) -> u64 {
        Drop::ALL.iter().map(|d| self.drops(*d)).sum()
    }
}

/// A summed snapshot of all workers' counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Drops by reason.
    pub drops: Vec<(Drop, u64)>,
    /// Punts by reason.
    pub punts: Vec<(Punt, u64)>,
    /// Per port (rx, tx, dropped).
    pub ports: Vec<(u64, u64, u64)>,
    /// Bursts processed.
    pub bursts: u64,
}

impl Totals {
    /// Sums the counters of `workers`.
    pub fn sum(workers: &[std::sync::Arc<WorkerCounters>]) -> Totals {
        let nports = workers.first().map_or(0, |w| w.port_rx.len());
        let s = |f: &dyn Fn(&WorkerCounters) -> u64| workers.iter().map(|w| f(w)).sum::<u64>();
        Totals {
            drops: Drop::ALL
                .iter()
                .map(|d| (*d, s(&|w| w.drops(*d))))
                .collect(),
            punts: Punt::ALL
                .iter()
                .map(|p| (*p, s(&|w| w.punts(*p))))
                .collect(),
            ports: (0..nports)
                .map(|i| {
                    (
                        s(&|w| w.port_rx.get(i)),
                        s(&|w| w.port_tx.get(i)),
                        s(&|w| w.port_drop.get(i)),
                    )
                })
                .collect(),
            bursts: s(&|w| w.bursts.get(0)),
        }
    }

    /// Sum of all drops.
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().map(|d| d.1).sum()
    }

    /// A drop counter by reason.
    pub fn drop_count(&self, why: Drop) -> u64 {
        self.drops.iter().find(|d| d.0 == why).map_or(0, |d| d.1)
    }

    /// A punt counter by reason.
    pub fn punt_count(&self, why: Punt) -> u64 {
        self.punts.iter().find(|d| d.0 == why).map_or(0, |d| d.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn names_are_unique_and_sums_add_up() {
        let mut names: Vec<_> = Drop::ALL.iter().map(|d| d.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Drop::COUNT);
        let a = Arc::new(WorkerCounters::new(0, 2));
        let b = Arc::new(WorkerCounters::new(1, 2));
        a.count_drop(Drop::NoRoute);
        b.count_drop(Drop::NoRoute);
        b.count_punt(Punt::Arp);
        a.port_rx.bump(1, 5);
        let t = Totals::sum(&[a, b]);
        assert_eq!(t.drop_count(Drop::NoRoute), 2);
        assert_eq!(t.punt_count(Punt::Arp), 1);
        assert_eq!(t.ports[1].0, 5);
        assert_eq!(t.total_drops(), 2);
    }
}
