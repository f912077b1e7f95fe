//! The mobility agents' side of the Mobile IPv4 application: the FA sends AMRs to its AAA
//! (Fig. 4 ③) and gets AMAs; the HA answers the AAAH's HARs (④/⑤).
//!
//! [`FaClient`] keeps its AMRs pending with a timeout and reports each outcome as a
//! [`FaEvent`]. [`HaClient`] parses each HAR and answers it with the HAA a caller-supplied
//! decision gives (the home agent proper — bindings, tunnels, the PCN's Binding Update —
//! comes with issue 17); a malformed HAR is answered with its Result-Code without asking.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::{error_answer, precheck, Dest, Output, ReqId, Token};
use crate::diameter::mip4::{Ama, Amr, Haa, Har};
use crate::diameter::wire::codes::{cmd, result};
use crate::diameter::wire::Message;

/// What became of an AMR the FA sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaEvent {
    /// The AMA (any Result-Code).
    Answer {
        /// The token [`FaClient::send_amr`] returned.
        token: Token,
        /// The answer.
        ama: Box<Ama>,
    },
    /// No answer: not delivered, timed out, or an answer that does not parse.
    Failed {
        /// The token.
        token: Token,
        /// Why.
        why: String,
    },
}

/// Counters of the mobility agents' clients.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientCounters {
    pub tx_amr: u64,
    pub rx_ama: u64,
    pub rx_har: u64,
    pub tx_haa: u64,
    pub malformed: u64,
    pub avp_unsupported: u64,
    pub command_unsupported: u64,
    pub timeouts: u64,
    pub send_failed: u64,
    pub unmatched: u64,
}

/// The FA's client (see the [module docs](self)).
pub struct FaClient {
    origin_host: String,
    aaa_realm: String,
    timeout: Duration,
    next_token: Token,
    pending: HashMap<Token, Instant>,
    deadlines: BTreeSet<(Instant, Token)>,
    out: VecDeque<Output>,
    events: VecDeque<FaEvent>,
    counters: ClientCounters,
}

impl FaClient {
    /// The FA `origin_host` of `realm`, sending to the AAA of its own realm (its AAAF, the
    /// local AAA of Fig. 4), waiting `timeout` for each answer.
    pub fn new(origin_host: &str, realm: &str, timeout: Duration) -> Self {
        FaClient {
            origin_host: origin_host.into(),
            aaa_realm: realm.into(),
            timeout,
            next_token: 1,
            pending: HashMap::new(),
            deadlines: BTreeSet::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            counters: ClientCounters::default(),
        }
    }
    /// The counters.
    pub fn counters(&self) -> &ClientCounters {
        &self.counters
    }
    /// Sends an AMR; its outcome comes as a [`FaEvent`] with the returned token.
    pub fn send_amr(&mut self, now: Instant, amr: &Amr) -> Token {
        let token = self.next_token;
        self.next_token += 1;
        let d = now + self.timeout;
        self.pending.insert(token, d);
        self.deadlines.insert((d, token));
        self.counters.tx_amr += 1;
        self.out.push_back(Output::Send {
            token,
            dest: Dest {
                realm: self.aaa_realm.clone(),
                host: None,
            },
            msg: amr.to_message(),
        });
        token
    }
    /// The next thing to send.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }
    /// The next outcome.
    pub fn poll_event(&mut self) -> Option<FaEvent> {
        self.events.pop_front()
    }
    /// When to call [`FaClient::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first().map(|d| d.0)
    }
    fn take(&mut self, token: Token) -> bool {
        match self.pending.remove(&token) {
            Some(d) => {
                self.deadlines.remove(&(d, token));
                true
            }
            None => {
                self.counters.unmatched += 1;
                false
            }
        }
    }
    /// An answer to one of our AMRs.
    pub fn handle_answer(&mut self, _now: Instant, token: Token, msg: Message) {
        if !self.take(token) {
            return;
        }
        self.counters.rx_ama += 1;
        self.events.push_back(match Ama::parse(&msg) {
            Ok(ama) => FaEvent::Answer {
                token,
                ama: Box::new(ama),
            },
            Err(e) => {
                self.counters.malformed += 1;
                FaEvent::Failed { token, why: e.why }
            }
        });
    }
    /// One of our AMRs could not be delivered.
    pub fn handle_send_failed(&mut self, _now: Instant, token: Token) {
        if self.take(token) {
            self.counters.send_failed += 1;
            self.events.push_back(FaEvent::Failed {
                token,
                why: "not delivered".into(),
            });
        }
    }
    /// Requests to an FA are not part of this application's FA role: 3001.
    pub fn handle_request(&mut self, _now: Instant, req: ReqId, msg: Message) {
        self.counters.command_unsupported += 1;
        let a = error_answer(
            &msg,
            &self.origin_host,
            &self.aaa_realm,
            result::COMMAND_UNSUPPORTED,
            None,
        );
        self.out.push_back(Output::Answer { req, msg: a });
    }
    /// Runs the timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(d, t)) = self.deadlines.first() {
            if d > now {
                break;
            }
            self.deadlines.pop_first();
            self.pending.remove(&t);
            self.counters.timeouts += 1;
            self.events.push_back(FaEvent::Failed {
                token: t,
                why: "timed out".into(),
            });
        }
    }
}

/// What the home agent answers to a HAR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaDecision {
    /// Result-Code (2001, or e.g. 4005 DIAMETER_ERROR_MIP_REPLY_FAILURE).
    pub result_code: u32,
    /// MIP-Reg-Reply: the Registration Reply for the mobile node.
    pub reg_reply: Option<Vec<u8>>,
    /// MIP-Mobile-Node-Address (an address the HA assigned).
    pub mn_address: Option<Ipv4Addr>,
    /// The FA the binding pointed at before (vendor Old-FA-Address).
    pub old_fa: Option<Ipv4Addr>,
}

/// The decision function of an [`HaClient`].
pub type Decide = Box<dyn FnMut(&Har) -> HaDecision + Send>;

/// The HA's side (see the [module docs](self)).
pub struct HaClient {
    origin_host: String,
    origin_realm: String,
    ha_address: Ipv4Addr,
    decide: Decide,
    out: VecDeque<Output>,
    counters: ClientCounters,
    /// The HARs answered, newest last (for the caller's inspection; at most 64 kept).
    pub recent: VecDeque<Har>,
}

impl HaClient {
    /// The home agent `origin_host` at `ha_address`, answering with `decide`.
    pub fn new(
        origin_host: &str,
        origin_realm: &str,
        ha_address: Ipv4Addr,
        decide: Decide,
    ) -> Self {
        HaClient {
            origin_host: origin_host.into(),
            origin_realm: origin_realm.into(),
            ha_address,
            decide,
            out: VecDeque::new(),
            counters: ClientCounters::default(),
            recent: VecDeque::new(),
        }
    }
    /// The counters.
    pub fn counters(&self) -> &ClientCounters {
        &self.counters
    }
    /// The next answer to send.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }
    fn error(
        &mut self,
        req: ReqId,
        msg: &Message,
        code: u32,
        e: Option<&crate::diameter::mip4::MsgError>,
    ) {
        self.counters.tx_haa += 1;
        let a = error_answer(msg, &self.origin_host, &self.origin_realm, code, e);
        self.out.push_back(Output::Answer { req, msg: a });
    }
    /// A request from the AAAH: a HAR is answered with the decision's HAA.
    pub fn handle_request(&mut self, _now: Instant, req: ReqId, msg: Message) {
        if let Err((code, err)) = precheck(&msg) {
            if code == result::AVP_UNSUPPORTED {
                self.counters.avp_unsupported += 1;
            }
            self.error(req, &msg, code, err.as_ref());
            return;
        }
        if msg.header.command != cmd::HOME_AGENT_MIP {
            self.counters.command_unsupported += 1;
            self.error(req, &msg, result::COMMAND_UNSUPPORTED, None);
            return;
        }
        self.counters.rx_har += 1;
        let har = match Har::parse(&msg) {
            Ok(h) => h,
            Err(e) => {
                self.counters.malformed += 1;
                self.error(req, &msg, e.result_code, Some(&e));
                return;
            }
        };
        let d = (self.decide)(&har);
        let haa = Haa {
            session_id: har.session_id.clone(),
            result_code: d.result_code,
            origin_host: self.origin_host.clone(),
            origin_realm: self.origin_realm.clone(),
            user_name: Some(har.user_name.clone()),
            reg_reply: d.reg_reply,
            ha_address: Some(self.ha_address),
            mn_address: d.mn_address.or(har.mn_address),
            fa_to_ha_spi: har.ha_to_fa_msa.as_ref().map(|m| m.spi),
            old_fa: d.old_fa.or(har.old_fa),
            error_message: None,
        };
        if self.recent.len() >= 64 {
            self.recent.pop_front();
        }
        self.recent.push_back(har);
        self.counters.tx_haa += 1;
        self.out.push_back(Output::Answer {
            req,
            msg: haa.to_message(&msg.header),
        });
    }
}
