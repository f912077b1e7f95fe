//! Control connection state (RFC 2661 §7.2) and tunnel authentication (§5.1.1, §4.4.3).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use md5::{Digest, Md5};

use super::reliable::Reliable;
use super::session::Session;

/// Control connection states, named after RFC 2661 §7.2.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelState {
    Idle,
    /// SCCRQ sent, waiting for SCCRP.
    WaitCtlReply,
    /// SCCRP sent, waiting for SCCCN.
    WaitCtlConn,
    Established,
    /// StopCCN sent or received: state kept to (re)acknowledge until `until`.
    Closing,
}

/// Challenge Response (§4.4.3 Challenge Response AVP, CHAP-style): MD5 over the one-octet
/// message type of the message carrying the response (2 = SCCRP, 3 = SCCCN), the shared
/// secret and the challenge.
pub fn challenge_response(message_type: u8, secret: &[u8], challenge: &[u8]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update([message_type]);
    h.update(secret);
    h.update(challenge);
    h.finalize().into()
}

pub(crate) struct Tunnel {
    pub local_id: u16,
    pub peer_id: u16,
    pub peer: SocketAddr,
    pub state: TunnelState,
    pub rel: Reliable,
    /// The challenge we sent; the peer's response must match.
    pub challenge_sent: Option<Vec<u8>>,
    pub tie_breaker: Option<u64>,
    pub peer_host_name: Vec<u8>,
    pub sessions: HashMap<u16, Session>,
    pub hello_at: Option<Instant>,
    pub close_until: Option<Instant>,
    /// We sent the StopCCN (remove as soon as it is acknowledged).
    pub stop_sent: bool,
    /// Counted in the half-open limits (peer-initiated: `Some(source)`).
    pub half_open: bool,
    pub peer_initiated: bool,
    pub next_serial: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_response_matches_md5_of_concatenation() {
        // MD5(0x02 | "secret" | "abc") computed independently with Python hashlib:
        // hashlib.md5(b"\x02secretabc").hexdigest()
        let r = challenge_response(2, b"secret", b"abc");
        let hex: String = r.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, PY_MD5);
    }
    const PY_MD5: &str = "045ec3c7d960f67ef945671da789a3b4";
}
