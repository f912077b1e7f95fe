//! Limits and named counters of the L2TP engine.

/// Resource limits. Every refusal bumps a counter in [`Counters`] and, where the protocol
/// allows, answers with a result code saying why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Tunnels in any state but closing (closing ones, kept only to acknowledge a StopCCN,
    /// may be as many again).
    pub max_tunnels: usize,
    /// Tunnels not yet established (both directions). Bounds an SCCRQ flood.
    pub max_half_open: usize,
    /// Peer-initiated tunnels not yet established, per source IP address.
    pub max_half_open_per_source: usize,
    /// Sessions in one tunnel.
    pub max_sessions_per_tunnel: usize,
    /// Sessions in all tunnels of this engine.
    pub max_sessions: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_tunnels: 4096,
            max_half_open: 256,
            max_half_open_per_source: 16,
            max_sessions_per_tunnel: 4096,
            max_sessions: 65536,
        }
    }
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Limit {
    #[error("tunnel limit reached (max_tunnels)")]
    Tunnels,
    #[error("half-open tunnel limit reached (max_half_open)")]
    HalfOpen,
    #[error("half-open tunnel limit for this source reached (max_half_open_per_source)")]
    HalfOpenPerSource,
    #[error("session limit of the tunnel reached (max_sessions_per_tunnel)")]
    SessionsPerTunnel,
    #[error("session limit reached (max_sessions)")]
    Sessions,
    #[error("no free tunnel or session id")]
    Ids,
}

/// Named counters (monotonic).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub rx_datagrams: u64,
    pub rx_data_messages: u64,
    pub rx_control_messages: u64,
    pub rx_zlb: u64,
    pub rx_duplicates: u64,
    pub rx_out_of_order: u64,
    pub rx_out_of_window: u64,
    pub rx_unknown_tunnel: u64,
    pub rx_wrong_peer: u64,
    pub rx_unexpected_message: u64,
    pub rx_ignored_unknown_message: u64,
    /// Unknown non-mandatory messages handed to the caller (`deliver_unknown_messages`).
    pub rx_delivered_unknown_message: u64,
    /// Malformed input, by kind.
    pub malformed_header: u64,
    pub malformed_avp_too_short: u64,
    pub malformed_avp_overrun: u64,
    pub malformed_avp_length: u64,
    pub malformed_avp_value: u64,
    pub malformed_zero_tunnel_id: u64,
    pub malformed_hidden_without_random_vector: u64,
    pub malformed_hidden_other: u64,
    pub malformed_message_type: u64,
    pub missing_avp: u64,
    pub unknown_mandatory_avp: u64,
    pub tx_messages: u64,
    pub tx_retransmits: u64,
    pub tx_zlb: u64,
    pub tx_hello: u64,
    pub tunnels_opened: u64,
    pub tunnels_established: u64,
    pub tunnels_closed: u64,
    pub tunnels_timed_out: u64,
    pub tunnel_auth_failures: u64,
    pub tie_breaks_won: u64,
    pub tie_breaks_lost: u64,
    pub sessions_established: u64,
    pub sessions_closed: u64,
    pub id_collisions: u64,
    pub refused_max_tunnels: u64,
    pub refused_max_half_open: u64,
    pub refused_max_half_open_per_source: u64,
    pub refused_max_sessions_per_tunnel: u64,
    pub refused_max_sessions: u64,
    pub refused_wrong_role: u64,
    pub encode_errors: u64,
}

impl Counters {
    /// Adds `o` to these counters (an engine that is replaced keeps counting in its
    /// successor's totals). Destructured so that a new field cannot be forgotten.
    pub fn add(&mut self, o: &Counters) {
        let Counters {
            rx_datagrams,
            rx_data_messages,
            rx_control_messages,
            rx_zlb,
            rx_duplicates,
            rx_out_of_order,
            rx_out_of_window,
            rx_unknown_tunnel,
            rx_wrong_peer,
            rx_unexpected_message,
            rx_ignored_unknown_message,
            rx_delivered_unknown_message,
            malformed_header,
            malformed_avp_too_short,
            malformed_avp_overrun,
            malformed_avp_length,
            malformed_avp_value,
            malformed_zero_tunnel_id,
            malformed_hidden_without_random_vector,
            malformed_hidden_other,
            malformed_message_type,
            missing_avp,
            unknown_mandatory_avp,
            tx_messages,
            tx_retransmits,
            tx_zlb,
            tx_hello,
            tunnels_opened,
            tunnels_established,
            tunnels_closed,
            tunnels_timed_out,
            tunnel_auth_failures,
            tie_breaks_won,
            tie_breaks_lost,
            sessions_established,
            sessions_closed,
            id_collisions,
            refused_max_tunnels,
            refused_max_half_open,
            refused_max_half_open_per_source,
            refused_max_sessions_per_tunnel,
            refused_max_sessions,
            refused_wrong_role,
            encode_errors,
        } = *o;
        self.rx_datagrams += rx_datagrams;
        self.rx_data_messages += rx_data_messages;
        self.rx_control_messages += rx_control_messages;
        self.rx_zlb += rx_zlb;
        self.rx_duplicates += rx_duplicates;
        self.rx_out_of_order += rx_out_of_order;
        self.rx_out_of_window += rx_out_of_window;
        self.rx_unknown_tunnel += rx_unknown_tunnel;
        self.rx_wrong_peer += rx_wrong_peer;
        self.rx_unexpected_message += rx_unexpected_message;
        self.rx_ignored_unknown_message += rx_ignored_unknown_message;
        self.rx_delivered_unknown_message += rx_delivered_unknown_message;
        self.malformed_header += malformed_header;
        self.malformed_avp_too_short += malformed_avp_too_short;
        self.malformed_avp_overrun += malformed_avp_overrun;
        self.malformed_avp_length += malformed_avp_length;
        self.malformed_avp_value += malformed_avp_value;
        self.malformed_zero_tunnel_id += malformed_zero_tunnel_id;
        self.malformed_hidden_without_random_vector += malformed_hidden_without_random_vector;
        self.malformed_hidden_other += malformed_hidden_other;
        self.malformed_message_type += malformed_message_type;
        self.missing_avp += missing_avp;
        self.unknown_mandatory_avp += unknown_mandatory_avp;
        self.tx_messages += tx_messages;
        self.tx_retransmits += tx_retransmits;
        self.tx_zlb += tx_zlb;
        self.tx_hello += tx_hello;
        self.tunnels_opened += tunnels_opened;
        self.tunnels_established += tunnels_established;
        self.tunnels_closed += tunnels_closed;
        self.tunnels_timed_out += tunnels_timed_out;
        self.tunnel_auth_failures += tunnel_auth_failures;
        self.tie_breaks_won += tie_breaks_won;
        self.tie_breaks_lost += tie_breaks_lost;
        self.sessions_established += sessions_established;
        self.sessions_closed += sessions_closed;
        self.id_collisions += id_collisions;
        self.refused_max_tunnels += refused_max_tunnels;
        self.refused_max_half_open += refused_max_half_open;
        self.refused_max_half_open_per_source += refused_max_half_open_per_source;
        self.refused_max_sessions_per_tunnel += refused_max_sessions_per_tunnel;
        self.refused_max_sessions += refused_max_sessions;
        self.refused_wrong_role += refused_wrong_role;
        self.encode_errors += encode_errors;
    }
    pub(crate) fn refused(&mut self, l: Limit) {
        match l {
            Limit::Tunnels | Limit::Ids => self.refused_max_tunnels += 1,
            Limit::HalfOpen => self.refused_max_half_open += 1,
            Limit::HalfOpenPerSource => self.refused_max_half_open_per_source += 1,
            Limit::SessionsPerTunnel => self.refused_max_sessions_per_tunnel += 1,
            Limit::Sessions => self.refused_max_sessions += 1,
        }
    }

    pub(crate) fn malformed(&mut self, e: &crate::l2tp::wire::Error) {
        use crate::l2tp::wire::Error as E;
        let c = match e {
            E::Header(_) | E::NotControl { .. } => &mut self.malformed_header,
            E::AvpTruncated { .. } | E::AvpTooShort { .. } => &mut self.malformed_avp_too_short,
            E::AvpOverrun { .. } => &mut self.malformed_avp_overrun,
            E::AvpBadLength { .. } => &mut self.malformed_avp_length,
            E::AvpBadValue { .. } => &mut self.malformed_avp_value,
            E::ZeroTunnelId => &mut self.malformed_zero_tunnel_id,
            E::HiddenWithoutRandomVector { .. } => &mut self.malformed_hidden_without_random_vector,
            E::HiddenWithoutSecret { .. }
            | E::HiddenBadLength { .. }
            | E::MustNotBeHidden { .. } => &mut self.malformed_hidden_other,
            E::MissingMessageType | E::MisplacedMessageType => &mut self.malformed_message_type,
            E::AvpTooLong { .. } | E::MessageTooLong { .. } | E::BufferTooSmall { .. } => {
                &mut self.encode_errors
            }
        };
        *c += 1;
    }
}
