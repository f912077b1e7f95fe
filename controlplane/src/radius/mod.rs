//! RADIUS (RFC 2865, RFC 2866) client and Dynamic Authorization (RFC 5176) server.
//!
//! Implemented:
//! - [`wire`]: packet header, the attributes varouter uses as typed values (dictionary in
//!   [`wire::attr`]), Microsoft VSAs (RFC 2548), unknown attributes and other vendors' VSAs
//!   kept raw; User-Password hiding (RFC 2865 §5.2), Request/Response Authenticators,
//!   Message-Authenticator (RFC 3579 §3.2) signing and checking; tunnel attributes
//!   (RFC 2868) with their tags, Tunnel-Password encryption, grouping into tunnels by
//!   preference ([`wire::tunnel`]).
//! - [`client`]: a sans-IO authentication and accounting client per VR: PAP, CHAP-MD5 and
//!   MS-CHAPv2 requests, identifiers over several source ports with a bounded queue,
//!   retransmission (RFC 5080), failover with a dead-server hold-down, Message-Authenticator
//!   first in every request and required on every Access-* answer, named drop counters.
//! - [`dae`]: a sans-IO RFC 5176 server: Disconnect- and CoA-Request checking (client by
//!   address, Request Authenticator, Message-Authenticator), session selectors and CoA
//!   changes for the caller, signed ACK/NAK with Error-Cause, duplicate answers from a cache.
//!
//! Not yet: RADIUS over TLS/TCP (RFC 6614, RFC 6613), EAP (RFC 3579 EAP-Message), tunnel
//! attributes in requests and accounting (RFC 2868 hints, RFC 2867), MS-MPPE key decryption
//! (the keys are kept raw), Status-Server probing (RFC 5997), IPv6 NAS addressing
//! (NAS-IPv6-Address), Proxy-State handling.

pub mod client;
pub mod dae;
pub mod server;
pub mod wire;
