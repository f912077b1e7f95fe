//! PPPoE (RFC 2516) on access interfaces: the discovery stage of the access concentrator.
//!
//! The workers punt discovery frames (EtherType 0x8863) to the control core with the frame,
//! the ingress port, the VLAN and the offset of the PPPoE header (read with
//! [`wire::pppoe::PppoeHeader`]). This module is built on that header:
//!
//! - [`wire`]: the discovery TAGs (RFC 2516 Appendix A, RFC 4638 PPP-Max-Payload): a
//!   zero-copy tag iterator, [`wire::Tag`], [`wire::DiscoveryRepr`] (parse from a header view,
//!   emit as a whole Ethernet frame with an optional 802.1Q tag) and the frame writer the
//!   engine uses for its replies.
//! - [`discovery`]: [`discovery::Discovery`], the sans-IO access concentrator — PADI → PADO
//!   (per-MAC rate limit in a bounded table), stateless HMAC AC-Cookies, PADR → PADS with
//!   session-id allocation per port and limits per interface / MAC / port, PADT both ways,
//!   interface removal. Its outputs are frames to send and session up/down events for the
//!   service that binds sessions and runs PPP on them.
//!
//! Not implemented yet: the control-core service (`service.rs`, punts in and frames out),
//! the PPPoE client side, PADM/PADN (RFC 4938), the TR-101 access-loop tags beyond keeping
//! them as Vendor-Specific bytes, 802.1ad double tags.

pub mod discovery;
pub mod wire;
