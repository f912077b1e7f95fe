//! Named counters of one PPP link (sum links with [`Counters::add`]).

/// Monotonic counters of one [`Engine`](super::Engine). Drops are counters with names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub rx_frames: u64,
    /// Frames or packets that do not parse: short frame or packet, length field larger or
    /// smaller than allowed, option of length 0/1 or running past the packet, bad
    /// PAP/CHAP field lengths.
    pub rx_malformed: u64,
    /// Codes the protocol does not have (answered with Code-Reject).
    pub rx_unknown_code: u64,
    /// Protocols we do not run (answered with Protocol-Reject when LCP is Opened).
    pub rx_unknown_protocol: u64,
    /// Well-formed packets not expected now (wrong identifier, wrong phase, NCP not ready,
    /// data frames on the control path).
    pub rx_discarded: u64,
    pub rx_code_rejects: u64,
    pub rx_protocol_rejects: u64,
    pub tx_frames: u64,
    /// Configure-Request and Terminate-Request retransmissions (TO+).
    pub tx_retransmits: u64,
    pub tx_echo_requests: u64,
    pub rx_echo_replies: u64,
    /// Echo-Reply whose magic number is not the peer's.
    pub rx_echo_bad_magic: u64,
    /// Links declared dead after the configured number of unanswered Echo-Requests.
    pub lcp_echo_timeouts: u64,
    /// Our own magic number seen in a Configure-Request or Echo-Request.
    pub magic_collisions: u64,
    /// Authentication requests handed to the driver.
    pub auth_requests: u64,
    pub auth_accepts: u64,
    pub auth_rejects: u64,
    pub auth_timeouts: u64,
    /// CHAP Responses whose identifier is not the one of our Challenge (ignored).
    pub chap_bad_identifier: u64,
    /// Max-Failure reached: Configure-Nak turned into Configure-Reject (RFC 1661 §4.6).
    pub configure_loops: u64,
    pub proxy_lcp_accepted: u64,
    pub proxy_lcp_renegotiated: u64,
}

impl Counters {
    /// Adds `other` into `self` field by field.
    pub fn add(&mut self, other: &Counters) {
        let Counters {
            rx_frames,
            rx_malformed,
            rx_unknown_code,
            rx_unknown_protocol,
            rx_discarded,
            rx_code_rejects,
            rx_protocol_rejects,
            tx_frames,
            tx_retransmits,
            tx_echo_requests,
            rx_echo_replies,
            rx_echo_bad_magic,
            lcp_echo_timeouts,
            magic_collisions,
            auth_requests,
            auth_accepts,
            auth_rejects,
            auth_timeouts,
            chap_bad_identifier,
            configure_loops,
            proxy_lcp_accepted,
            proxy_lcp_renegotiated,
        } = *other;
        self.rx_frames += rx_frames;
        self.rx_malformed += rx_malformed;
        self.rx_unknown_code += rx_unknown_code;
        self.rx_unknown_protocol += rx_unknown_protocol;
        self.rx_discarded += rx_discarded;
        self.rx_code_rejects += rx_code_rejects;
        self.rx_protocol_rejects += rx_protocol_rejects;
        self.tx_frames += tx_frames;
        self.tx_retransmits += tx_retransmits;
        self.tx_echo_requests += tx_echo_requests;
        self.rx_echo_replies += rx_echo_replies;
        self.rx_echo_bad_magic += rx_echo_bad_magic;
        self.lcp_echo_timeouts += lcp_echo_timeouts;
        self.magic_collisions += magic_collisions;
        self.auth_requests += auth_requests;
        self.auth_accepts += auth_accepts;
        self.auth_rejects += auth_rejects;
        self.auth_timeouts += auth_timeouts;
        self.chap_bad_identifier += chap_bad_identifier;
        self.configure_loops += configure_loops;
        self.proxy_lcp_accepted += proxy_lcp_accepted;
        self.proxy_lcp_renegotiated += proxy_lcp_renegotiated;
    }
}
