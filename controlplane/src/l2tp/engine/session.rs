//! Session (call) state (RFC 2661 §7.4.2 LAC/LNS incoming and outgoing call state machines).

/// Session states, named after RFC 2661 §7.4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Call requested locally; waiting for the tunnel to be established.
    WaitTunnel,
    /// ICRQ or OCRQ sent, waiting for ICRP or OCRP.
    WaitReply,
    /// ICRP sent (LNS, waiting for ICCN) or OCRP received (LNS, waiting for OCCN).
    WaitConnect,
    Established,
}

/// Incoming call (LAC → LNS: ICRQ/ICRP/ICCN) or outgoing call (LNS → LAC: OCRQ/OCRP/OCCN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    Incoming,
    Outgoing,
}

/// Call parameters carried in ICRQ/OCRQ.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallParams {
    pub called_number: Vec<u8>,
    pub calling_number: Vec<u8>,
    pub bearer_type: u32,
    pub framing_type: u32,
    pub connect_speed: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub local_id: u16,
    pub peer_id: u16,
    pub state: SessionState,
    pub call: CallKind,
    pub serial: u32,
    pub params: CallParams,
}
