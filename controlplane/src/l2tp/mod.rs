//! L2TPv2 (RFC 2661): wire format, a sans-IO control-connection engine, and a UDP driver.
//!
//! Implemented:
//! - [`wire`]: the L2TP header (control and data, optional Length / Ns-Nr / Offset fields; the
//!   codec of the `wire` crate, shared with the data path, re-exported), every RFC 2661 AVP
//!   as a typed value, unknown and vendor-specific AVPs kept as [`wire::AvpValue::Unknown`],
//!   hidden AVPs (§4.3), control message encode/decode.
//! - [`engine`]: control connections (SCCRQ/SCCRP/SCCCN, tunnel authentication in both
//!   directions, tie breaker, StopCCN, HELLO), the reliable delivery of §5.8 (Ns/Nr, receive
//!   window, ZLB acks, retransmission with exponential backoff capped at 8 s), incoming and
//!   outgoing calls (ICRQ/ICRP/ICCN, OCRQ/OCRP/OCCN), CDN, WEN, SLI, LAC and LNS roles, limits
//!   with named counters.
//! - [`driver::udp`]: a blocking-free std `UdpSocket` loop around the engine (tests, interop).
//!
//! Not yet: the data path (data messages are counted and dropped by the engine; the workers
//! will classify them by tunnel/session id), per-peer secrets, proxy LCP/authentication use
//! (the AVPs are parsed and emitted, the engine does not act on them), L2TP over IPv6
//! transport specifics, RFC 3931 (L2TPv3).

pub mod driver;
pub mod engine;
pub mod service;
pub mod wire;
