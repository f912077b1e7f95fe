//! Session (call) state (RFC 2661 §7.4.2 LAC/LNS incoming and outgoing call state machines).

use crate::l2tp::wire::{AvpValue, ControlMessage};

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
    /// LAC: the PPP it ran with the subscriber, sent in the ICCN (RFC 2661 §4.4.5).
    pub proxy: Option<Box<ProxyInfo>>,
}

/// What a LAC reports in its ICCN about the PPP it already ran with the subscriber (RFC 2661
/// §4.4.5): the LCP Configure-Requests (option bytes, as the AVPs carry them) and the
/// authentication it performed. An LNS may take them as negotiated (proxy LCP) and check
/// the credentials (proxy authentication) instead of starting PPP over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyInfo {
    /// Initial Received LCP CONFREQ (the subscriber's first request).
    pub initial_received_confreq: Option<Vec<u8>>,
    /// Last Sent LCP CONFREQ (the LAC's last request, acknowledged by the subscriber).
    pub last_sent_confreq: Option<Vec<u8>>,
    /// Last Received LCP CONFREQ (the subscriber's last request, acknowledged by the LAC).
    pub last_received_confreq: Option<Vec<u8>>,
    /// Proxy Authen Type (1 text, 2 CHAP, 3 PAP, 4 none, 5 MS-CHAPv1).
    pub authen_type: Option<u16>,
    /// Proxy Authen Name.
    pub authen_name: Vec<u8>,
    /// Proxy Authen Challenge.
    pub authen_challenge: Vec<u8>,
    /// Proxy Authen ID (the CHAP identifier).
    pub authen_id: Option<u8>,
    /// Proxy Authen Response (CHAP response, or the PAP password).
    pub authen_response: Vec<u8>,
}

impl ProxyInfo {
    /// The proxy AVPs of an ICCN; `None` when it has none.
    pub(crate) fn of(m: &ControlMessage) -> Option<Box<ProxyInfo>> {
        let mut p = ProxyInfo::default();
        let mut any = false;
        for a in &m.avps {
            any |= match &a.value {
                AvpValue::InitialReceivedLcpConfreq(v) => {
                    p.initial_received_confreq = Some(v.clone());
                    true
                }
                AvpValue::LastSentLcpConfreq(v) => {
                    p.last_sent_confreq = Some(v.clone());
                    true
                }
                AvpValue::LastReceivedLcpConfreq(v) => {
                    p.last_received_confreq = Some(v.clone());
                    true
                }
                AvpValue::ProxyAuthenType(t) => {
                    p.authen_type = Some(*t);
                    true
                }
                AvpValue::ProxyAuthenName(v) => {
                    p.authen_name = v.clone();
                    true
                }
                AvpValue::ProxyAuthenChallenge(v) => {
                    p.authen_challenge = v.clone();
                    true
                }
                AvpValue::ProxyAuthenId(i) => {
                    p.authen_id = Some(*i);
                    true
                }
                AvpValue::ProxyAuthenResponse(v) => {
                    p.authen_response = v.clone();
                    true
                }
                _ => false,
            };
        }
        any.then(|| Box::new(p))
    }

    /// The AVPs of an ICCN reporting this (all optional, RFC 2661 §4.4.5), in the RFC's order.
    pub(crate) fn avps(&self) -> Vec<AvpValue> {
        let mut v = Vec::new();
        if let Some(c) = &self.initial_received_confreq {
            v.push(AvpValue::InitialReceivedLcpConfreq(c.clone()));
        }
        if let Some(c) = &self.last_sent_confreq {
            v.push(AvpValue::LastSentLcpConfreq(c.clone()));
        }
        if let Some(c) = &self.last_received_confreq {
            v.push(AvpValue::LastReceivedLcpConfreq(c.clone()));
        }
        if let Some(t) = self.authen_type {
            v.push(AvpValue::ProxyAuthenType(t));
            if !self.authen_name.is_empty() {
                v.push(AvpValue::ProxyAuthenName(self.authen_name.clone()));
            }
            if !self.authen_challenge.is_empty() {
                v.push(AvpValue::ProxyAuthenChallenge(
                    self.authen_challenge.clone(),
                ));
            }
            if let Some(id) = self.authen_id {
                v.push(AvpValue::ProxyAuthenId(id));
            }
            if !self.authen_response.is_empty() {
                v.push(AvpValue::ProxyAuthenResponse(self.authen_response.clone()));
            }
        }
        v
    }
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
