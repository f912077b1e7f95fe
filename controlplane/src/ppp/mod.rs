//! PPP (RFC 1661) for the L2TP LNS: wire format, authentication crypto and a sans-IO engine,
//! one per PPP link (one per L2TP session).
//!
//! Implemented:
//! - [`wire`]: the control-packet header view ([`wire::Packet`]), LCP/IPCP/IPV6CP packets
//!   ([`wire::CpRepr`]) with typed options and unknown ones kept as `Unknown { kind, data }`,
//!   PAP ([`wire::PapRepr`]), CHAP ([`wire::ChapRepr`]) and the MS-CHAPv2 Response value.
//!   Option lists with a length of 0/1 or an overrun are refused with named errors.
//! - [`auth`]: CHAP-MD5 (RFC 1994) and MS-CHAPv2 (RFC 2759: ChallengeHash, NtPasswordHash,
//!   ChallengeResponse, GenerateNTResponse, GenerateAuthenticatorResponse and its check),
//!   and [`auth::verify_local`], a local verifier equivalent to what RADIUS answers.
//! - [`engine`]: the RFC 1661 automaton (all ten states, every event) shared by LCP, IPCP
//!   and IPV6CP; LCP MRU, Authentication-Protocol (server requests in policy order and
//!   follows the peer's Nak forward through its policy), Magic-Number with loopback
//!   detection, ACCM/PFC/ACFC accepted (we always send full `ff 03` + 2-byte protocol; the
//!   data path reads compressed frames), Configure-Reject of unknown options, Code-Reject,
//!   Protocol-Reject (e.g. CCP), restart timer, Max-Configure/Max-Failure/Max-Terminate,
//!   Echo keepalive with dead-peer detection; PAP/CHAP-MD5/MS-CHAPv2 as authenticator
//!   (decision by the driver through [`engine::Event::Authenticate`] /
//!   [`engine::Engine::auth_result`]) and as peer; auth timeout; proxy LCP/authentication
//!   from the LAC (RFC 2661 §4.4.5); IPCP (address, RFC 1877 DNS) and IPV6CP (interface
//!   identifier) for both roles; named counters.
//!
//! API in short (see [`engine`]):
//! `Engine::new(Arc<Config>, Role, now, seed)`, `Engine::server_with_proxy(..)`, `open`,
//! `handle_frame(now, &[u8])`, `handle_timeout(now)`, `deadline()`, `poll_transmit()` (frames
//! start with `ff 03` + protocol, ready to follow an L2TP data header), `poll_event()`,
//! `auth_result`, `set_ipv4`, `set_ipv6`, `close(now, reason)`, `lower_down()`.
//! Per-link memory: `size_of::<Engine>()` is 496 bytes on x86-64, plus heap only while
//! frames or events wait to be polled and, during authentication, the last auth reply.
//!
//! Not yet: CHAP rechallenge, MS-CHAPv1 and EAP (proxied MS-CHAPv1 makes the LNS
//! renegotiate), CCP/ECP and VJ compression (rejected), LCP Quality-Protocol, multilink,
//! callback, renegotiation of addresses after IPCP is up (later `set_ipv4` calls are
//! ignored), MS-CHAPv2 password change and retry (`R=0`), Identification/Time-Remaining
//! codes (Code-Rejected).

pub mod auth;
pub mod engine;
pub mod wire;
