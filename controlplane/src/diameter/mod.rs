//! Diameter (RFC 6733) with the Mobile IPv4 application (RFC 4004).
//!
//! Implemented:
//! - [`wire`], the message format (header, AVPs, grouped AVPs, the basic data types), the
//!   base protocol's command and AVP codes, its result codes, and the codes of the Mobile
//!   IPv4 application (application id 2: AMR/AMA, HAR/HAA and its AVPs);
//! - [`peer`], the sans-IO engine of one peer connection: the RFC 6733 §5.6 state machine,
//!   capabilities exchange, the RFC 3539 watchdog, disconnect, error answers, Hop-by-Hop and
//!   End-to-End ids, answers matched to requests, and TCP stream reassembly;
//! - [`driver`], a TCP driver for it (std::net, nonblocking, polled);
//! - [`mip4`], typed AMR/AMA/HAR/HAA of the Mobile IPv4 application with the mobile VPN's
//!   vendor AVPs (the AAA roles that use them are in [`crate::aaa`]).
//!
//! Not yet: a service on the control core, SCTP/TLS. See `docs/protocols/diameter.md` and
//! `docs/protocols/diameter-mip4.md`.

pub mod driver;
pub mod mip4;
pub mod peer;
pub mod wire;
