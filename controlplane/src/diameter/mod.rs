//! Diameter (RFC 6733) with the Mobile IPv4 application (RFC 4004): so far only the message
//! codec.
//!
//! Implemented: [`wire`], the message format (header, AVPs, grouped AVPs, the basic data
//! types), the base protocol's command and AVP codes, its result codes, and the codes of the
//! Mobile IPv4 application (application id 2: AMR/AMA, HAR/HAA and its AVPs).
//!
//! Not yet (later work of issue 16): the sans-IO peer engine (capabilities exchange,
//! watchdog, disconnect, the peer state machine), the AAAH/AAAF and HA/FA client roles, the
//! vendor AVPs of the mobile VPN, a TCP/SCTP driver, and the profile/database side.

pub mod wire;
