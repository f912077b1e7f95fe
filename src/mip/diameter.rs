//! The agents' Diameter peers on a thread of their own.
//!
//! An FA sends AMRs to its AAAF and takes AMAs; an HA takes HARs from the AAAH and answers
//! HAAs. The engines stay on the control core (they own the bindings, the tunnels and the
//! UDP side); their Diameter transport runs here, one [`Node`] per agent of the
//! `controlplane::aaa` driver (listener, connections, CER/CEA, watchdogs, reconnection,
//! routing by Destination-Host/Realm), with a [`Bridge`] as its engine: what the peers send
//! goes to the control core over a channel, what the agents send comes back over another.
//! Why a thread: TCP connects, partial reads and writes and the peers' timers must never
//! stall the control core, and the AAA nodes (`src/aaa.rs`) already work this way — this is
//! the same driver, polled the same way. The control core takes the messages each loop
//! iteration (the appliance's supervisor calls [`super::service::MipService::poll_aaa`]),
//! and at the latest on the service's 100 ms timer.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use controlplane::aaa::driver::{Engine, Node};
use controlplane::aaa::home::Subscriber;
use controlplane::aaa::{Output, ReqId, Token};
use controlplane::diameter::mip4;
use controlplane::diameter::peer::Config as PeerConfig;
use controlplane::diameter::wire::Message;

use super::DiameterCfg;

/// Reconnection delay (RFC 6733 Tc).
pub const RECONNECT: Duration = Duration::from_secs(5);
/// Sleep of an idle thread between polls.
pub const IDLE_SLEEP: Duration = Duration::from_micros(500);

/// What the thread hands the control core.
#[derive(Debug)]
pub enum ToAgent {
    /// A request from a peer (a HAR for an HA).
    Request {
        /// The agent.
        agent: usize,
        /// For the answer.
        req: ReqId,
        /// The message.
        msg: Message,
    },
    /// The answer to one of the agent's requests (an AMA for an FA).
    Answer {
        /// The agent.
        agent: usize,
        /// The engine's token.
        token: Token,
        /// The message.
        msg: Message,
    },
    /// One of the agent's requests could not be delivered (no open peer, timeout, peer
    /// down).
    Failed {
        /// The agent.
        agent: usize,
        /// The engine's token.
        token: Token,
    },
}

/// An [`Engine`] that hands everything over to the control core.
pub struct Bridge {
    agent: usize,
    to_core: Sender<ToAgent>,
    from_core: Receiver<Output>,
    pending: Arc<AtomicBool>,
}

impl Bridge {
    fn hand(&self, m: ToAgent) {
        if self.to_core.send(m).is_ok() {
            self.pending.store(true, Ordering::Release);
        }
    }
}

impl Engine for Bridge {
    fn handle_request(&mut self, _now: Instant, req: ReqId, msg: Message) {
        self.hand(ToAgent::Request {
            agent: self.agent,
            req,
            msg,
        });
    }
    fn handle_answer(&mut self, _now: Instant, token: Token, msg: Message) {
        self.hand(ToAgent::Answer {
            agent: self.agent,
            token,
            msg,
        });
    }
    fn handle_send_failed(&mut self, _now: Instant, token: Token) {
        self.hand(ToAgent::Failed {
            agent: self.agent,
            token,
        });
    }
    fn handle_lookup(&mut self, _now: Instant, _token: Token, _sub: Option<Subscriber>) {}
    fn poll_output(&mut self) -> Option<Output> {
        self.from_core.try_recv().ok()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn handle_timeout(&mut self, _now: Instant) {}
}

/// Per agent: its Diameter peers as last seen by the thread.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// Origin-Hosts of the open connections.
    pub open: Vec<String>,
    /// Messages routed nowhere (no open peer of the realm/host).
    pub no_route: u64,
    /// Requests in, answers out, requests out, answers in.
    pub requests_in: u64,
    /// Answers sent.
    pub answers_out: u64,
    /// Requests sent.
    pub requests_out: u64,
    /// Answers received.
    pub answers_in: u64,
}

/// The control core's end: send to agent `i`'s peers, take what they sent.
pub struct DiameterLink {
    /// Agent index → its sender (None: the agent has no Diameter side).
    pub to_thread: Vec<Option<Sender<Output>>>,
    /// Everything the peers sent.
    pub from_thread: Receiver<ToAgent>,
    /// Raised by the thread when it handed something over.
    pub pending: Arc<AtomicBool>,
    /// Per agent peer statistics.
    pub stats: Arc<Mutex<Vec<PeerStats>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DiameterLink {
    /// Hands agent `agent`'s Diameter output to its peers; false when it has none.
    pub fn send(&self, agent: usize, o: Output) -> bool {
        match self.to_thread.get(agent).and_then(Option::as_ref) {
            Some(tx) => tx.send(o).is_ok(),
            None => false,
        }
    }
}

impl Drop for DiameterLink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("mip: the Diameter thread panicked");
            }
        }
    }
}

fn peer_config(d: &DiameterCfg) -> PeerConfig {
    let mut c = PeerConfig::new(&d.origin_host, &d.origin_realm);
    c.known_avp = mip4::known_avp;
    c.supported_vendor_ids = vec![mip4::VENDOR_ID];
    c.product_name = "varouter-mip".into();
    c
}

/// Starts the thread for `agents` (index, Diameter side); listeners are bound here, so a
/// taken port is an error before anything runs. `None` when no agent has a Diameter side.
pub fn start(
    n_agents: usize,
    agents: &[(usize, DiameterCfg)],
) -> Result<Option<DiameterLink>, String> {
    if agents.is_empty() {
        return Ok(None);
    }
    let (to_core, from_thread) = channel();
    let pending = Arc::new(AtomicBool::new(false));
    let mut to_thread: Vec<Option<Sender<Output>>> = (0..n_agents).map(|_| None).collect();
    let mut nodes = Vec::new();
    let now = Instant::now();
    for (i, d) in agents {
        let (tx, rx) = channel();
        to_thread[*i] = Some(tx);
        let bridge = Bridge {
            agent: *i,
            to_core: to_core.clone(),
            from_core: rx,
            pending: pending.clone(),
        };
        let lookup: controlplane::aaa::driver::Lookup = Box::new(|_| Ok(None));
        let mut node = Node::new(bridge, peer_config(d), d.listen, lookup).map_err(|e| {
            format!(
                "{}: cannot listen on {}: {e}",
                d.origin_host,
                d.listen.map_or("-".into(), |l: SocketAddr| l.to_string())
            )
        })?;
        for p in &d.peers {
            node.connect(*p, RECONNECT, now);
        }
        nodes.push((*i, node));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(Mutex::new(vec![PeerStats::default(); n_agents]));
    let (stop2, stats2) = (stop.clone(), stats.clone());
    let thread = std::thread::Builder::new()
        .name("mip-diameter".into())
        .spawn(move || run(nodes, &stop2, &stats2))
        .map_err(|e| format!("cannot start the Mobile IP Diameter thread: {e}"))?;
    Ok(Some(DiameterLink {
        to_thread,
        from_thread,
        pending,
        stats,
        stop,
        thread: Some(thread),
    }))
}

fn run(mut nodes: Vec<(usize, Node<Bridge>)>, stop: &AtomicBool, stats: &Mutex<Vec<PeerStats>>) {
    let mut published = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let mut worked = false;
        for (_, n) in &mut nodes {
            let before = n.counters().activity();
            n.poll(now);
            worked |= n.counters().activity() != before;
        }
        if now.duration_since(published) >= Duration::from_millis(100) {
            published = now;
            if let Ok(mut s) = stats.lock() {
                for (i, n) in &mut nodes {
                    let c = n.counters().clone();
                    if let Some(e) = s.get_mut(*i) {
                        *e = PeerStats {
                            open: n.open_peers(),
                            no_route: c.no_route,
                            requests_in: c.requests_in,
                            answers_out: c.answers_out,
                            requests_out: c.requests_out,
                            answers_in: c.answers_in,
                        };
                    }
                }
            }
        }
        if !worked {
            std::thread::sleep(IDLE_SLEEP);
        }
    }
}
