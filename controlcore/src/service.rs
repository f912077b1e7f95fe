//! The protocol-service interface: how a protocol engine plugs into the control core.
//!
//! A [`Service`] is a protocol's adapter (its "driver"): it receives what the core
//! dispatches to it and answers through a [`Ctx`]:
//!
//! | in | out (through [`Ctx`]) |
//! |---|---|
//! | [`Service::on_punt`]: a punted frame with its reason, port, VR and header offsets ([`PuntView`]) | [`Ctx::send_frame`]: a complete Ethernet frame on a port |
//! | [`Service::on_timer`]: one of its timers fired | [`Ctx::route`]: an IP packet to route in a VR (looked up in that VR's FIB only) |
//! | [`Service::on_event`]: an [`Event`] another service raised | [`Ctx::reforward`]: a frame to run through the pipeline as if received on a port |
//! | [`Service::on_datagram`]: a datagram on one of its host sockets | [`Ctx::tables`]: table changes ([`vr::StateWriter`]: routes, neighbours, sessions, ...) |
//! | [`Service::start`]: once, when the appliance starts | [`Ctx::timer_at`] / [`Ctx::timer_cancel`]: its timers in the core's one timer set |
//! | | [`Ctx::emit`]: an [`Event`] for other services |
//! | | [`Ctx::udp_open`] / [`Ctx::udp_send`]: datagrams to external servers (RADIUS, ...) on host sockets |
//!
//! A service declares what it wants with [`Service::interests`]: punt reasons, UDP ports
//! addressed to a VR's own address (a `local` punt of UDP to that port goes to the
//! service instead of the default `local` handler), and event kinds. Services never see
//! packet buffers of the data plane (frames are byte slices in, byte vectors out), never
//! block and never read the clock (`cx.now` is the time of the dispatch).

use std::any::Any;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use dataplane::counters::Punt;
use dataplane::punt::{Offsets, PuntTo};
use vr::{ForwardingState, PortId, StateWriter, VrId};

use crate::sockets::{SocketError, SocketId, Sockets};
use crate::timers::Timers;

/// Index of a service in the core (its registration order).
pub type ServiceId = usize;

/// What a service wants to receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Interest {
    /// Punts of this reason (one service per reason).
    Punt(Punt),
    /// `local` punts of UDP to this destination port (one service per port).
    LocalUdp(u16),
    /// `local` punts that are IPv6 Neighbor Discovery messages (ICMPv6 types 133–137,
    /// e.g. a solicitation to one of the router's unicast addresses; one service).
    LocalNd,
    /// `local` punts of ICMPv4 messages of this type (one service per type), e.g. Mobile IP
    /// Agent Solicitations (type 10) to a group the VR routes to `Local`. Other ICMP goes to
    /// the owner of the `local` punts.
    LocalIcmp4(u8),
    /// Events of this kind (any number of services).
    Event(EventKind),
}

/// A punted frame as a service sees it.
#[derive(Clone, Copy, Debug)]
pub struct PuntView<'a> {
    /// Reason, VR and header offsets.
    pub to: PuntTo,
    /// Port it arrived on (for a packet the core originated: the port it was to leave on).
    pub port: PortId,
    /// The frame, from its Ethernet header.
    pub frame: &'a [u8],
}

impl<'a> PuntView<'a> {
    /// The reason.
    pub fn reason(&self) -> Punt {
        self.to.reason
    }

    /// The VR it was classified into.
    pub fn vr(&self) -> Option<VrId> {
        self.to.vr
    }

    /// The 802.1Q VLAN id of the frame.
    pub fn vlan(&self) -> Option<u16> {
        self.to.at.vlan
    }

    fn from(&self, o: u16) -> Option<&'a [u8]> {
        self.frame.get(Offsets::get(o)?..)
    }

    /// From the network-layer header on (ARP, IP or the label stack).
    pub fn l3(&self) -> Option<&'a [u8]> {
        self.from(self.to.at.l3)
    }

    /// From the IP header on.
    pub fn ip(&self) -> Option<&'a [u8]> {
        self.from(self.to.at.ip)
    }

    /// From the transport header on.
    pub fn l4(&self) -> Option<&'a [u8]> {
        self.from(self.to.at.l4)
    }

    /// From the transport payload on (e.g. the L2TP header).
    pub fn app(&self) -> Option<&'a [u8]> {
        self.from(self.to.at.app)
    }

    /// From the tunnelled frame on (e.g. PPP inside L2TP).
    pub fn inner(&self) -> Option<&'a [u8]> {
        self.from(self.to.at.inner)
    }
}

/// ICMP errors a service can ask for (the ICMP service builds and rate-limits them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IcmpKind {
    /// Time exceeded in transit.
    TimeExceeded,
    /// Destination host unreachable (neighbour resolution failed).
    HostUnreachable,
    /// Destination port unreachable.
    PortUnreachable,
}

/// Something one service tells others.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Send an ICMP error about `packet` (an IP packet, from its header) in `vr`; `port`
    /// is where it arrived, for choosing the source address.
    IcmpError {
        /// The VR the packet belongs to.
        vr: VrId,
        /// Its ingress port, if known.
        port: Option<PortId>,
        /// The offending IP packet.
        packet: Vec<u8>,
        /// Which error.
        kind: IcmpKind,
    },
    /// A local VR's configuration map changed (VR discovery, `docs/protocols/vr-discovery.md`):
    /// a VR of the same VPN on another provider router joined it (`up`) or left it. This is
    /// where a control-channel layer (L2TP between the VRs of a VPN) learns whom to connect
    /// to; a map emptied because the local VR was removed raises a `down` per peer too.
    VrPeer {
        /// The local VR whose map changed.
        vr: VrId,
        /// The VPN (its 32-bit discovery id).
        vpn_id: u32,
        /// The other VR's provider router.
        router: Ipv4Addr,
        /// The other VR's address.
        addr: IpAddr,
        /// Joined (true) or left (false).
        up: bool,
    },
    /// The transport label path toward another provider router changed: learnt or lost by
    /// LDP (`docs/protocols/ldp.md`) or given statically by the profile. A VPN service
    /// pushes `[label, VPN label]` (or only the VPN label when `label` is `None`, implicit
    /// null / penultimate hop popping) out of `port` toward `via` for routes learnt from
    /// that router; `path: None` means the router is unreachable by label now.
    TransportPath {
        /// The remote provider router (its router id / LSR id, the FEC's /32).
        router: Ipv4Addr,
        /// The path, or `None` when withdrawn.
        path: Option<TransportPath>,
    },
    /// The control channel to `router`'s VR of VPN `vpn_id` stayed silent for its whole
    /// hold time and was released (seed 001 Fig. 10, `docs/protocols/vpn-peering.md` §5):
    /// the configuration map drops that VR (VR discovery raises `VrPeer { up: false }`), so
    /// that the router is learnt again, and peered again, when it announces itself anew
    /// (restart, re-announcement).
    PeerExpired {
        /// The VPN (its 32-bit discovery id).
        vpn_id: u32,
        /// The silent VR's provider router.
        router: Ipv4Addr,
    },
}

/// A labelled path toward a provider router (see [`Event::TransportPath`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TransportPath {
    /// The outer (transport) label to push, `None` for implicit null.
    pub label: Option<u32>,
    /// The trunk port it leaves by.
    pub port: PortId,
    /// The next hop on that port (resolved by ARP / ND like any route's `via`).
    pub via: IpAddr,
}

/// Kinds of [`Event`], for [`Interest::Event`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// [`Event::IcmpError`].
    IcmpError,
    /// [`Event::VrPeer`].
    VrPeer,
    /// [`Event::TransportPath`].
    TransportPath,
    /// [`Event::PeerExpired`].
    PeerExpired,
}

impl Event {
    /// Its kind.
    pub fn kind(&self) -> EventKind {
        match self {
            Event::IcmpError { .. } => EventKind::IcmpError,
            Event::VrPeer { .. } => EventKind::VrPeer,
            Event::TransportPath { .. } => EventKind::TransportPath,
            Event::PeerExpired { .. } => EventKind::PeerExpired,
        }
    }
}

/// A protocol service (see the module docs).
pub trait Service: Send + 'static {
    /// Short name, for counters and logs (`arp`, `l2tp`, ...).
    fn name(&self) -> &'static str;

    /// What the service receives.
    fn interests(&self) -> Vec<Interest>;

    /// Called once when the appliance starts (announcements, outgoing connections).
    fn start(&mut self, _cx: &mut Ctx<'_>) {}

    /// A punted frame for this service.
    fn on_punt(&mut self, _cx: &mut Ctx<'_>, _p: &PuntView<'_>) {}

    /// One of this service's timers fired.
    fn on_timer(&mut self, _cx: &mut Ctx<'_>, _token: u64) {}

    /// An event another service raised.
    fn on_event(&mut self, _cx: &mut Ctx<'_>, _ev: &Event) {}

    /// The appliance stops: last words (accounting Stop records, goodbyes) go out now.
    /// Host-socket datagrams sent here leave at once; frames are not sent any more.
    fn stop(&mut self, _cx: &mut Ctx<'_>) {}

    /// A datagram on one of this service's host sockets.
    fn on_datagram(&mut self, _cx: &mut Ctx<'_>, _sock: SocketId, _from: SocketAddr, _data: &[u8]) {
    }

    /// Counters, as (name, value), for the summary and metrics.
    fn counters(&self) -> Vec<(&'static str, u64)>;

    /// For reconfiguration by the appliance (downcast to the concrete service).
    fn as_any_mut(&mut self) -> &mut dyn Any;

    /// Read access for the appliance (status listings).
    fn as_any(&self) -> &dyn Any;
}

/// Work a service queued for the core to do after it returns.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    /// Complete frames to send: (port, frame).
    pub frames: Vec<(PortId, Vec<u8>)>,
    /// IP packets to route: (vr, packet).
    pub routes: Vec<(VrId, Vec<u8>)>,
    /// Frames to run through the pipeline: (ingress port, frame).
    pub reforward: Vec<(PortId, Vec<u8>)>,
    /// Events for other services.
    pub events: Vec<Event>,
}

impl Outbox {
    pub(crate) fn is_empty(&self) -> bool {
        self.frames.is_empty()
            && self.routes.is_empty()
            && self.reforward.is_empty()
            && self.events.is_empty()
    }
}

/// A service's handle on the core while it handles one dispatch.
pub struct Ctx<'a> {
    /// The time of this dispatch.
    pub now: Instant,
    pub(crate) svc: ServiceId,
    pub(crate) out: &'a mut Outbox,
    pub(crate) writer: &'a mut StateWriter,
    pub(crate) state: &'a ForwardingState,
    pub(crate) timers: &'a mut Timers<(ServiceId, u64)>,
    pub(crate) sockets: &'a mut Sockets,
}

impl Ctx<'_> {
    /// Sends a complete Ethernet frame on `port` (padded to the Ethernet minimum).
    pub fn send_frame(&mut self, port: PortId, frame: Vec<u8>) {
        self.out.frames.push((port, frame));
    }

    /// Routes an IP packet (from its header, checksums done) in `vr`: looked up in that
    /// VR's FIB of the current version, rewritten and labelled as the workers do. A next hop
    /// without a MAC hands it to the neighbour service.
    pub fn route(&mut self, vr: VrId, ip: Vec<u8>) {
        self.out.routes.push((vr, ip));
    }

    /// Runs `frame` through the pipeline as if it had been received on `port` (it gets
    /// exactly the label operation such a frame would get).
    pub fn reforward(&mut self, port: PortId, frame: Vec<u8>) {
        self.out.reforward.push((port, frame));
    }

    /// Raises an event for the services interested in it.
    pub fn emit(&mut self, ev: Event) {
        self.out.events.push(ev);
    }

    /// The forwarding state to change (published by the core after the dispatch).
    pub fn tables(&mut self) -> &mut StateWriter {
        self.writer
    }

    /// The forwarding state as changed so far (not yet published), read-only.
    pub fn writer(&self) -> &StateWriter {
        self.writer
    }

    /// The version the workers use now (what the data plane does with a packet now).
    pub fn state(&self) -> &ForwardingState {
        self.state
    }

    /// Arms (or moves) this service's timer `token` for `at`.
    pub fn timer_at(&mut self, token: u64, at: Instant) {
        self.timers.set((self.svc, token), at);
    }

    /// Disarms this service's timer `token`.
    pub fn timer_cancel(&mut self, token: u64) {
        self.timers.cancel((self.svc, token));
    }

    /// The deadline of this service's timer `token`.
    pub fn timer(&self, token: u64) -> Option<Instant> {
        self.timers.deadline((self.svc, token))
    }

    /// Opens a UDP socket on the host (management network) bound to `local`; datagrams
    /// arriving on it come to [`Service::on_datagram`].
    pub fn udp_open(&mut self, local: SocketAddr) -> Result<SocketId, SocketError> {
        self.sockets.open(self.svc, local)
    }

    /// Sends a datagram from one of this service's sockets.
    pub fn udp_send(
        &mut self,
        sock: SocketId,
        to: SocketAddr,
        data: &[u8],
    ) -> Result<(), SocketError> {
        self.sockets.send(self.svc, sock, to, data)
    }

    /// Closes one of this service's sockets.
    pub fn udp_close(&mut self, sock: SocketId) {
        self.sockets.close(self.svc, sock);
    }
}
