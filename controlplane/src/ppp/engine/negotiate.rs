//! The RFC 1661 §4.1 automaton (events `ev_*`), LCP/IPCP/IPV6CP packet handling and
//! option negotiation, LCP keepalive.

use std::time::Instant;

use super::fsm::State::{self, *};
use super::{
    auth_method_of, auth_option, AuthState, DownReason, Engine, Phase, ProxyLcp, Role, Verdict,
    F_ADDR, F_AUTH, F_DNS1, F_DNS2, F_IFID, F_MAGIC, F_MRU, P,
};
use crate::ppp::wire::{
    CpData, CpOption, CpRepr, IpcpOption, Ipv6cpOption, LcpOption, OptionIter, Packet,
};

/// Collects a Configure-Nak and a Configure-Reject while a request is evaluated.
struct Reply {
    nak: Vec<u8>,
    rej: Vec<u8>,
    may_nak: bool,
    converted: bool,
}

impl Reply {
    fn nak<O: CpOption>(&mut self, raw: &[u8], suggestion: O) {
        if self.may_nak {
            let _ = suggestion.emit(&mut self.nak);
        } else {
            // Max-Failure reached (RFC 1661 §4.6): reject instead of Nak.
            self.converted = true;
            self.rej.extend_from_slice(raw);
        }
    }
    fn rej(&mut self, raw: &[u8]) {
        self.rej.extend_from_slice(raw);
    }
    fn verdict(self) -> Verdict {
        if !self.rej.is_empty() {
            Verdict::Reject(self.rej)
        } else if !self.nak.is_empty() {
            Verdict::Nak(self.nak)
        } else {
            Verdict::Ack
        }
    }
}

/// `(raw option bytes, option)` of a validated option list.
fn options<O: CpOption>(data: &[u8]) -> impl Iterator<Item = (&[u8], O)> {
    OptionIter::new(data)
        .filter_map(|r| r.ok())
        .map(move |(at, kind, d)| (&data[at..at + 2 + d.len()], O::decode(kind, d)))
}

impl Engine {
    pub(super) fn st(&self, p: P) -> State {
        self.fsm[p as usize].state
    }

    /// Runs a close that was decided inside a transition (every NCP failed, loopback).
    pub(super) fn settle(&mut self, now: Instant) {
        if self.pending_close && !self.is_finished() {
            self.pending_close = false;
            self.ev_close(now, P::Lcp);
        }
    }

    // ---- RFC 1661 §4.1 events ----

    pub(super) fn ev_up(&mut self, now: Instant, p: P) {
        match self.st(p) {
            Initial => self.set_state(p, Closed),
            Starting => {
                self.irc(p, false);
                self.scr(now, p);
                self.set_state(p, ReqSent);
            }
            _ => {}
        }
    }

    pub(super) fn ev_open(&mut self, now: Instant, p: P) {
        match self.st(p) {
            Initial => self.set_state(p, Starting),
            Closed => {
                self.irc(p, false);
                self.scr(now, p);
                self.set_state(p, ReqSent);
            }
            Closing => self.set_state(p, Stopping),
            _ => {}
        }
    }

    pub(super) fn ev_close(&mut self, now: Instant, p: P) {
        if p == P::Lcp && self.phase != Phase::Dead {
            self.phase = Phase::Terminate;
        }
        match self.st(p) {
            Initial | Starting | Closed | Stopped => {
                self.set_state(
                    p,
                    if self.st(p) == Stopped {
                        Closed
                    } else {
                        Initial
                    },
                );
                self.tlf(p);
            }
            Stopping => self.set_state(p, Closing),
            ReqSent | AckRcvd | AckSent => {
                self.irc(p, true);
                self.str_(now, p);
                self.set_state(p, Closing);
            }
            Opened => {
                self.set_state(p, Closing);
                self.tld(p);
                self.irc(p, true);
                self.str_(now, p);
            }
            Closing => {}
        }
    }

    pub(super) fn ev_timeout(&mut self, now: Instant, p: P) {
        let s = self.st(p);
        if self.fsm[p as usize].restart > 0 {
            // TO+
            match s {
                Closing | Stopping => {
                    self.counters.tx_retransmits += 1;
                    self.str_(now, p);
                }
                ReqSent | AckRcvd | AckSent => {
                    self.counters.tx_retransmits += 1;
                    self.scr(now, p);
                    if s == AckRcvd {
                        self.set_state(p, ReqSent);
                    }
                }
                _ => {}
            }
        } else {
            // TO-
            match s {
                Closing => {
                    self.set_state(p, Closed);
                    self.tlf(p);
                }
                Stopping | ReqSent | AckRcvd | AckSent => {
                    self.set_state(p, Stopped);
                    self.tlf(p);
                }
                _ => {}
            }
        }
        self.settle(now);
    }

    fn ev_rcr(&mut self, now: Instant, p: P, id: u8, req: &[u8], v: Verdict) {
        let good = matches!(v, Verdict::Ack);
        match self.st(p) {
            Closed => self.sta(p, id),
            Stopped => {
                self.irc(p, false);
                self.scr(now, p);
                self.send_verdict(p, id, req, v);
                self.set_state(p, if good { AckSent } else { ReqSent });
            }
            ReqSent => {
                self.send_verdict(p, id, req, v);
                if good {
                    self.set_state(p, AckSent);
                }
            }
            AckRcvd => {
                self.send_verdict(p, id, req, v);
                if good {
                    self.set_state(p, Opened);
                    self.tlu(now, p);
                }
            }
            AckSent => {
                self.send_verdict(p, id, req, v);
                if !good {
                    self.set_state(p, ReqSent);
                }
            }
            Opened => {
                self.set_state(p, ReqSent);
                self.tld(p);
                self.scr(now, p);
                self.send_verdict(p, id, req, v);
                if good {
                    self.set_state(p, AckSent);
                }
            }
            Initial | Starting | Closing | Stopping => {}
        }
    }

    fn send_verdict(&mut self, p: P, id: u8, req: &[u8], v: Verdict) {
        let f = &mut self.fsm[p as usize];
        match v {
            Verdict::Ack => {
                f.failures = 0;
                self.send_raw(p, 2, id, req);
            }
            Verdict::Nak(o) => {
                f.failures = f.failures.saturating_add(1);
                self.send_raw(p, 3, id, &o);
            }
            Verdict::Reject(o) => self.send_raw(p, 4, id, &o),
        }
    }

    fn ev_rca(&mut self, now: Instant, p: P, id: u8) {
        match self.st(p) {
            Closed | Stopped => self.sta(p, id),
            ReqSent => {
                self.irc(p, false);
                self.set_state(p, AckRcvd);
            }
            AckRcvd => {
                self.scr(now, p);
                self.set_state(p, ReqSent);
            }
            AckSent => {
                self.irc(p, false);
                self.set_state(p, Opened);
                self.tlu(now, p);
            }
            Opened => {
                self.set_state(p, ReqSent);
                self.tld(p);
                self.scr(now, p);
            }
            _ => {}
        }
    }

    fn ev_rcn(&mut self, now: Instant, p: P, id: u8) {
        match self.st(p) {
            Closed | Stopped => self.sta(p, id),
            ReqSent | AckSent => {
                self.irc(p, false);
                self.scr(now, p);
            }
            AckRcvd => {
                self.scr(now, p);
                self.set_state(p, ReqSent);
            }
            Opened => {
                self.set_state(p, ReqSent);
                self.tld(p);
                self.scr(now, p);
            }
            _ => {}
        }
    }

    fn ev_rtr(&mut self, now: Instant, p: P, id: u8) {
        if p == P::Lcp {
            self.down_reason.get_or_insert(DownReason::PeerTerminate);
        }
        match self.st(p) {
            Closed | Stopped | Closing | Stopping => self.sta(p, id),
            ReqSent | AckRcvd | AckSent => {
                self.sta(p, id);
                self.set_state(p, ReqSent);
            }
            Opened => {
                if p == P::Lcp {
                    self.phase = Phase::Terminate;
                }
                self.set_state(p, Stopping);
                self.tld(p);
                self.zrc(now, p);
                self.sta(p, id);
            }
            _ => {}
        }
    }

    fn ev_rta(&mut self, now: Instant, p: P) {
        match self.st(p) {
            Closing => {
                self.set_state(p, Closed);
                self.tlf(p);
            }
            Stopping => {
                self.set_state(p, Stopped);
                self.tlf(p);
            }
            AckRcvd => self.set_state(p, ReqSent),
            Opened => {
                self.set_state(p, ReqSent);
                self.tld(p);
                self.scr(now, p);
            }
            _ => {}
        }
    }

    /// RXJ+ (`ok`) / RXJ-.
    fn ev_rxj(&mut self, now: Instant, p: P, ok: bool) {
        let s = self.st(p);
        if ok {
            if s == AckRcvd {
                self.set_state(p, ReqSent);
            }
            return;
        }
        if p == P::Lcp {
            self.down_reason.get_or_insert(DownReason::Rejected);
        }
        match s {
            Closed | Stopped => self.tlf(p),
            Closing => {
                self.set_state(p, Closed);
                self.tlf(p);
            }
            Stopping | ReqSent | AckRcvd | AckSent => {
                self.set_state(p, Stopped);
                self.tlf(p);
            }
            Opened => {
                self.set_state(p, Stopping);
                self.tld(p);
                self.irc(p, true);
                self.str_(now, p);
            }
            _ => {}
        }
    }

    // ---- receive ----

    pub(super) fn rx_ncp<O: CpOption>(&mut self, now: Instant, p: P, body: &[u8]) {
        if self.phase != Phase::Network || matches!(self.st(p), Initial | Starting) {
            // RFC 1661 §3.4: NCP packets before the Network phase are discarded; also
            // while we wait for the driver's addresses (the peer retransmits).
            self.counters.rx_discarded += 1;
            return;
        }
        // The peer is in the Network phase: it has our auth reply.
        self.auth_frame = None;
        self.rx_cp::<O>(now, p, body);
    }

    pub(super) fn rx_cp<O: CpOption>(&mut self, now: Instant, p: P, body: &[u8]) {
        let Ok(pkt) = Packet::new_checked(body) else {
            self.counters.rx_malformed += 1;
            return;
        };
        let Ok(repr) = CpRepr::<O>::parse(&pkt) else {
            self.counters.rx_malformed += 1;
            return;
        };
        if matches!(self.st(p), Initial | Starting) {
            self.counters.rx_discarded += 1;
            return;
        }
        let id = repr.identifier;
        let data = pkt.data();
        match repr.data {
            CpData::ConfigureRequest(_) => {
                let v = self.evaluate(p, data);
                if p == P::Lcp && self.cfg.record_proxy_lcp {
                    let r = self.proxy_rec.get_or_insert_with(|| {
                        Box::new(ProxyLcp {
                            initial_received: data.to_vec(),
                            ..ProxyLcp::default()
                        })
                    });
                    if matches!(v, Verdict::Ack) {
                        r.last_received_confreq = data.to_vec();
                    }
                }
                self.ev_rcr(now, p, id, data, v);
            }
            CpData::ConfigureAck(_) => {
                if id == self.fsm[p as usize].id && data == self.our_request(p).as_slice() {
                    if p == P::Lcp && self.cfg.record_proxy_lcp {
                        let ours = self.our_request(p);
                        self.proxy_rec
                            .get_or_insert_with(Default::default)
                            .last_sent_confreq = ours;
                    }
                    self.ev_rca(now, p, id);
                } else {
                    self.counters.rx_discarded += 1;
                }
            }
            CpData::ConfigureNak(_) | CpData::ConfigureReject(_) => {
                if id == self.fsm[p as usize].id && !matches!(self.st(p), Closing | Stopping) {
                    let reject = matches!(repr.data, CpData::ConfigureReject(_));
                    self.apply_nak(p, reject, data);
                    self.ev_rcn(now, p, id);
                } else {
                    self.counters.rx_discarded += 1;
                }
            }
            CpData::TerminateRequest(_) => self.ev_rtr(now, p, id),
            CpData::TerminateAck(_) => self.ev_rta(now, p),
            CpData::CodeReject(d) => {
                self.counters.rx_code_rejects += 1;
                // Rejecting one of codes 1–7 makes the protocol unusable (RFC 1661 §5.6).
                let fatal = d.first().is_some_and(|c| (1..=7).contains(c));
                self.ev_rxj(now, p, !fatal);
            }
            CpData::ProtocolReject { protocol, .. } => {
                self.counters.rx_protocol_rejects += 1;
                use crate::ppp::wire::protocol as pr;
                match protocol {
                    pr::LCP => self.ev_rxj(now, P::Lcp, false),
                    pr::IPCP => self.ev_rxj(now, P::Ipcp, false),
                    pr::IPV6CP => self.ev_rxj(now, P::Ipv6cp, false),
                    pr::PAP | pr::CHAP if self.phase == Phase::Authenticate => {
                        self.down_reason.get_or_insert(DownReason::NoCommonAuth);
                        self.pending_close = true;
                    }
                    _ => self.ev_rxj(now, P::Lcp, true),
                }
            }
            CpData::EchoRequest { magic, data } => {
                if self.st(P::Lcp) != Opened {
                    self.counters.rx_discarded += 1;
                } else if magic != 0 && self.lcp_flags & F_MAGIC != 0 && magic == self.our_magic {
                    self.magic_collision();
                } else {
                    let max = usize::from(self.peer_mru).saturating_sub(8);
                    let out = CpRepr::<LcpOption> {
                        identifier: id,
                        data: CpData::EchoReply {
                            magic: self.magic_to_send(),
                            data: data[..data.len().min(max)].to_vec(),
                        },
                    };
                    self.send_cp(P::Lcp, out);
                }
            }
            CpData::EchoReply { magic, .. } => {
                if self.peer_magic == 0 || magic == self.peer_magic {
                    self.counters.rx_echo_replies += 1;
                    self.echo_outstanding = 0;
                } else {
                    self.counters.rx_echo_bad_magic += 1;
                }
            }
            CpData::DiscardRequest { .. } => {}
            CpData::Unknown { .. } => {
                self.counters.rx_unknown_code += 1;
                let max = usize::from(self.peer_mru).saturating_sub(4);
                let pk = pkt.packet();
                let rejected = pk[..pk.len().min(max)].to_vec();
                let rid = self.next_id(p);
                self.send_raw(p, 7, rid, &rejected);
            }
        }
        self.settle(now);
    }

    fn magic_to_send(&self) -> u32 {
        if self.lcp_flags & F_MAGIC != 0 {
            self.our_magic
        } else {
            0
        }
    }

    /// Our magic number came back (RFC 1661 §6.4): pick a new one; after Max-Failure
    /// collisions the line is considered looped back and the link is closed.
    fn magic_collision(&mut self) {
        self.counters.magic_collisions += 1;
        self.magic_collisions = self.magic_collisions.saturating_add(1);
        self.our_magic = self.random_magic();
        if self.magic_collisions >= self.cfg.max_failure {
            self.down_reason = Some(DownReason::Loopback);
            self.pending_close = true;
        }
    }

    // ---- evaluating the peer's Configure-Request ----

    fn evaluate(&mut self, p: P, data: &[u8]) -> Verdict {
        let mut r = Reply {
            nak: Vec::new(),
            rej: Vec::new(),
            may_nak: self.fsm[p as usize].failures < self.cfg.max_failure,
            converted: false,
        };
        match p {
            P::Lcp => self.eval_lcp(data, &mut r),
            P::Ipcp => self.eval_ipcp(data, &mut r),
            P::Ipv6cp => self.eval_ipv6cp(data, &mut r),
        }
        if r.converted {
            self.counters.configure_loops += 1;
        }
        r.verdict()
    }

    fn eval_lcp(&mut self, data: &[u8], r: &mut Reply) {
        let (mut mru, mut magic, mut method) = (None, None, None);
        for (raw, o) in options::<LcpOption>(data) {
            match o {
                LcpOption::Mru(v) if v >= 64 => mru = Some(v),
                LcpOption::Mru(_) => r.nak(raw, LcpOption::Mru(self.cfg.mru)),
                // ACCM means nothing on L2TP; PFC/ACFC only let the peer compress what it
                // sends, which `wire::ppp::parse` reads. We always send full headers.
                LcpOption::Accm(_) | LcpOption::Pfc | LcpOption::Acfc => {}
                LcpOption::AuthProtocol { protocol, data } => match self.role {
                    // We do not authenticate ourselves to the peer.
                    Role::Server => r.rej(raw),
                    Role::Client => match auth_method_of(protocol, &data) {
                        Some(m) if self.cfg.auth.contains(&m) => method = Some(m),
                        _ => match self.cfg.auth.first() {
                            Some(m) => r.nak(raw, auth_option(*m)),
                            None => r.rej(raw),
                        },
                    },
                },
                LcpOption::MagicNumber(0) => {
                    let m = self.random_magic();
                    r.nak(raw, LcpOption::MagicNumber(m));
                }
                LcpOption::MagicNumber(m)
                    if self.lcp_flags & F_MAGIC != 0 && m == self.our_magic =>
                {
                    self.magic_collision();
                    let m = self.random_magic();
                    r.nak(raw, LcpOption::MagicNumber(m));
                }
                LcpOption::MagicNumber(m) => magic = Some(m),
                LcpOption::Unknown { .. } => r.rej(raw),
            }
        }
        if r.rej.is_empty() && r.nak.is_empty() {
            self.peer_mru = mru.unwrap_or(1500);
            self.peer_magic = magic.unwrap_or(0);
            if self.role == Role::Client {
                self.auth_method = method;
            }
        }
    }

    fn eval_ipcp(&mut self, data: &[u8], r: &mut Reply) {
        let mut seen_addr = false;
        let mut peer = None;
        for (raw, o) in options::<IpcpOption>(data) {
            match (self.role, o) {
                (Role::Server, IpcpOption::IpAddress(a)) => {
                    seen_addr = true;
                    if a != self.v4.peer {
                        r.nak(raw, IpcpOption::IpAddress(self.v4.peer));
                    }
                }
                (Role::Server, IpcpOption::PrimaryDns(a)) => match self.v4.dns[0] {
                    Some(d) if d == a => {}
                    Some(d) => r.nak(raw, IpcpOption::PrimaryDns(d)),
                    None => r.rej(raw),
                },
                (Role::Server, IpcpOption::SecondaryDns(a)) => match self.v4.dns[1] {
                    Some(d) if d == a => {}
                    Some(d) => r.nak(raw, IpcpOption::SecondaryDns(d)),
                    None => r.rej(raw),
                },
                (Role::Client, IpcpOption::IpAddress(a)) => peer = Some(a),
                // IP-Compression-Protocol (VJ) is not implemented; neither is anything else.
                _ => r.rej(raw),
            }
        }
        if self.role == Role::Server && !seen_addr && r.may_nak && r.rej.is_empty() {
            // Prompt the peer to ask for its address (RFC 1661 §5.3: a Nak may carry
            // options the peer did not include).
            let _ = IpcpOption::IpAddress(self.v4.peer).emit(&mut r.nak);
        }
        if r.rej.is_empty() && r.nak.is_empty() {
            if let Some(a) = peer {
                self.v4.peer = a;
            }
        }
    }

    fn eval_ipv6cp(&mut self, data: &[u8], r: &mut Reply) {
        let mut peer = None;
        for (raw, o) in options::<Ipv6cpOption>(data) {
            match o {
                Ipv6cpOption::InterfaceId(x) if x == 0 || x == self.local_ifid => {
                    let s = self.random_ifid(self.local_ifid);
                    r.nak(raw, Ipv6cpOption::InterfaceId(s));
                }
                Ipv6cpOption::InterfaceId(x) => peer = Some(x),
                Ipv6cpOption::Unknown { .. } => r.rej(raw),
            }
        }
        if r.rej.is_empty() && r.nak.is_empty() {
            self.peer_ifid = peer.unwrap_or(0);
        }
    }

    // ---- the peer's Configure-Nak / Configure-Reject of our request ----

    fn apply_nak(&mut self, p: P, reject: bool, data: &[u8]) {
        match p {
            P::Lcp => {
                for (_, o) in options::<LcpOption>(data) {
                    match (reject, o) {
                        (true, LcpOption::Mru(_)) => self.lcp_flags &= !F_MRU,
                        (true, LcpOption::MagicNumber(_)) => self.lcp_flags &= !F_MAGIC,
                        (true, LcpOption::AuthProtocol { .. }) if self.lcp_flags & F_AUTH != 0 => {
                            self.down_reason.get_or_insert(DownReason::NoCommonAuth);
                            self.pending_close = true;
                        }
                        (false, LcpOption::Mru(v)) => self.our_mru = v.max(64),
                        (false, LcpOption::MagicNumber(_)) => self.our_magic = self.random_magic(),
                        (false, LcpOption::AuthProtocol { protocol, data })
                            if self.lcp_flags & F_AUTH != 0 =>
                        {
                            // Move only forward through our policy, so this terminates.
                            let cur = usize::from(self.auth_idx);
                            let next = auth_method_of(protocol, &data)
                                .and_then(|m| self.cfg.auth.iter().position(|x| *x == m))
                                .filter(|&i| i > cur)
                                .unwrap_or(cur + 1);
                            if next >= self.cfg.auth.len() {
                                self.down_reason.get_or_insert(DownReason::NoCommonAuth);
                                self.pending_close = true;
                            } else {
                                self.auth_idx = next as u8;
                            }
                        }
                        _ => {}
                    }
                }
            }
            P::Ipcp => {
                for (_, o) in options::<IpcpOption>(data) {
                    match (reject, self.role, o) {
                        (true, _, IpcpOption::IpAddress(_)) => self.ipcp_flags &= !F_ADDR,
                        (true, _, IpcpOption::PrimaryDns(_)) => {
                            self.ipcp_flags &= !F_DNS1;
                            self.v4.dns[0] = None;
                        }
                        (true, _, IpcpOption::SecondaryDns(_)) => {
                            self.ipcp_flags &= !F_DNS2;
                            self.v4.dns[1] = None;
                        }
                        (false, Role::Client, IpcpOption::IpAddress(a)) => self.v4.local = a,
                        (false, Role::Client, IpcpOption::PrimaryDns(a)) => {
                            self.v4.dns[0] = Some(a)
                        }
                        (false, Role::Client, IpcpOption::SecondaryDns(a)) => {
                            self.v4.dns[1] = Some(a)
                        }
                        _ => {}
                    }
                }
            }
            P::Ipv6cp => {
                for (_, o) in options::<Ipv6cpOption>(data) {
                    match (reject, o) {
                        (true, Ipv6cpOption::InterfaceId(_)) => self.ipv6cp_flags &= !F_IFID,
                        (false, Ipv6cpOption::InterfaceId(x))
                            if self.role == Role::Client && x != 0 =>
                        {
                            self.local_ifid = x
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    // ---- phases ----

    /// LCP is Opened: authenticate (if negotiated) or go to the Network phase.
    pub(super) fn tlu_lcp(&mut self, now: Instant) {
        self.magic_collisions = 0;
        match self.auth_method {
            None => self.enter_network(now),
            Some(m) => {
                self.phase = Phase::Authenticate;
                self.start_auth(now, m);
            }
        }
    }

    /// Server side: the method the peer acked, if we asked for one.
    pub(super) fn negotiated_server_auth(&mut self) {
        if self.role == Role::Server {
            self.auth_method = if self.lcp_flags & F_AUTH != 0 {
                self.cfg.auth.get(usize::from(self.auth_idx)).copied()
            } else {
                None
            };
        }
    }

    pub(super) fn enter_network(&mut self, now: Instant) {
        self.phase = Phase::Network;
        self.auth_deadline = None;
        self.auth_timer = None;
        if self.auth_state != AuthState::Idle {
            self.auth_state = AuthState::Done;
        }
        if self.cfg.enable_ipv4 {
            self.ev_open(now, P::Ipcp);
            if self.v4_set {
                self.ev_up(now, P::Ipcp);
            }
        }
        if self.cfg.enable_ipv6 {
            self.ev_open(now, P::Ipv6cp);
            if self.v6_set {
                self.ev_up(now, P::Ipv6cp);
            }
        }
    }

    pub(super) fn start_echo(&mut self, now: Instant) {
        self.echo_outstanding = 0;
        self.echo_timer = self.cfg.echo_interval.map(|i| now + i);
    }

    pub(super) fn echo_tick(&mut self, now: Instant) {
        if self.st(P::Lcp) != Opened {
            return;
        }
        let Some(interval) = self.cfg.echo_interval else {
            return;
        };
        if self.echo_outstanding >= self.cfg.echo_failures {
            self.counters.lcp_echo_timeouts += 1;
            self.tld_lcp();
            self.finish(DownReason::EchoTimeout);
            return;
        }
        self.echo_outstanding += 1;
        self.echo_id = self.echo_id.wrapping_add(1);
        self.counters.tx_echo_requests += 1;
        let req = CpRepr::<LcpOption> {
            identifier: self.echo_id,
            data: CpData::EchoRequest {
                magic: self.magic_to_send(),
                data: Vec::new(),
            },
        };
        self.send_cp(P::Lcp, req);
        self.echo_timer = Some(now + interval);
    }

    /// Our current option list as typed options (tests, debugging).
    #[cfg(test)]
    pub(super) fn our_lcp_options(&self) -> Vec<LcpOption> {
        LcpOption::parse_list(&self.our_request(P::Lcp)).unwrap_or_default()
    }
}
