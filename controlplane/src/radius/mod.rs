//! RADIUS (RFC 2865, RFC 2866) client, authentication server and Dynamic Authorization
//! (RFC 5176) server.
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
//! - [`server`]: a sans-IO RFC 2865 authentication server per VR (issue 15: the existing VR
//!   of a VPN authenticates a new one): clients by address prefix, Message-Authenticator
//!   required by default and first in every answer, PAP, CHAP-MD5 and MS-CHAPv2 against a
//!   [`server::UserTable`] ([`server::StaticUsers`], or [`server::VpnUsers`]:
//!   `<vpn-id>/<router-id>` with the VPN's secret), RFC 5080 duplicate cache, Proxy-State,
//!   Status-Server (RFC 5997), named counters per drop and reject reason
//!   (docs/protocols/radius-server.md).
//!
//! Not yet: RADIUS over TLS/TCP (RFC 6614, RFC 6613), EAP (RFC 3579 EAP-Message; the server
//! rejects it), Access-Challenge from the server, MS-CHAPv1, tunnel attributes in requests
//! and accounting (RFC 2868 hints, RFC 2867), MS-MPPE key decryption in the client (the keys
//! are kept raw), Status-Server probing by the client (RFC 5997), IPv6 NAS addressing
//! (NAS-IPv6-Address), Proxy-State handling in the client and the DAE server.

pub mod client;
pub mod dae;
mod dupcache;
pub mod server;
pub mod wire;
