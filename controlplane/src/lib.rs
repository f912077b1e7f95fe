//! Control plane of varouter: protocol engines and their drivers.
//!
//! Every protocol here is written **sans-IO**: an engine takes bytes and the current time
//! (`handle_input(now, ..)`, `handle_timeout(now)`) and hands back what to send
//! (`poll_transmit()`) and when to wake it (`poll_timeout()`); it owns no socket, reads no clock
//! and starts no thread. Thin drivers connect engines to the data plane's punt/inject rings or,
//! for tests and interop, to ordinary sockets. Engines write the truth (sessions, routes,
//! labels) that the `vr` crate compiles into the read-only tables the workers follow.
//!
//! Implemented so far: [`l2tp`] (RFC 2661 wire format, control-connection and session engine,
//! UDP driver), [`neighbor`] (ARP and IPv6 neighbor discovery with a shared neighbor table),
//! [`icmp`] (echo, time exceeded, destination unreachable, rate limiting), [`ppp`] (LCP, PAP/CHAP/
//! MS-CHAPv2, IPCP, IPV6CP: wire format and a per-link engine for the LNS), [`radius`]
//! (client with accounting, RFC 5176 server), [`subscriber`] (PPP termination on the LNS:
//! pools, RADIUS use, accounting, subscriber routes); [`packet`] holds the header builders
//! they share. [`discovery`] (VR discovery of issue 15, sans-IO, not wired in yet);
//! [`diameter`] holds the Diameter (RFC 6733, RFC 4004) message codec and the peer engine with
//! its TCP driver; [`ldp`] (RFC 5036: wire format, sans-IO downstream-unsolicited speaker,
//! socket driver; not wired into the label matrix yet); [`vpnpeer`] (issue 15: the authenticated L2TP
//! control channel between VRs of a VPN carrying routes and VPN labels, with hold time;
//! sans-IO, not wired in yet).

pub mod aaa;
pub mod access;
pub mod diameter;
pub mod discovery;
pub mod esp;
pub mod icmp;
pub mod l2tp;
pub mod ldp;
pub mod mip;
pub mod neighbor;
pub mod packet;
pub mod ppp;
pub mod pppoe;
pub mod radius;
pub mod subscriber;
pub mod vpnpeer;
