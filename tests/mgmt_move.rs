//! Moving an L2TP tunnel or a PPP session between VRs while it stays up (issue 11,
//! `move_session` / `move_tunnel`; docs/api.md "Moving sessions and tunnels").
//!
//! The rig is the appliance's control side and data path in one process, nothing mocked
//! on the router's side: the profile's services on a [`controlcore::Core`], the HTTP API
//! on its thread with its control side ([`MgmtLink`]: tokens, scope checks, transactions,
//! publish) ticked by the test's control loop, requests over HTTP and one through
//! `varouter ctl`, and the workers' pipeline ([`dataplane::pipeline::forward`]) on the
//! published tables. Around it, the real protocol engines of a subscriber's side:
//! an L2TP LAC engine and a PPP client engine (PAP), whose packets go through the
//! pipeline to the appliance and back; a small RADIUS server on 127.0.0.1 (ports 18260,
//! 18261; built with the `radius::wire` module, it accepts every user and records every
//! accounting request) stands for the ISP's.
//!
//! A PPPoE subscriber (discovery and PPP through the pipeline to the access VR, which
//! terminates it in VR A by its realm) moves the same way.
//!
//! Asserted: the subscriber's packets are routed in VR B after the move and not in A
//! (upstream: the VLAN they leave on; downstream: which VR's packets reach the session),
//! the session is not renegotiated (no new PPP or L2TP exchange, same address, traffic
//! counters go on), an accounting Interim-Update names the new VR, other VRs' flows
//! forwarded by a concurrent "worker" thread lose no packet while sessions move back and
//! forth (counted per flow), a tenant cannot move into a VR outside its delegation (404),
//! an address collision is 409 `address_conflict` with nothing changed, and a tunnel move
//! also routes the sessions the tunnel brings up afterwards in the new VR; the LAC ending
//! a moved session ends its subscriber (Stop naming the VR, route gone); a profile reload
//! that removes the VR sessions were moved into sends them home first.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use controlcore::Core;
use controlplane::l2tp::engine::{
    CallParams, Config as L2tpConfig, Engine as L2tpEngine, Event, Role,
};
use controlplane::ppp::auth::AuthMethod as PppAuth;
use controlplane::ppp::engine::{
    Config as PppConfig, Engine as PppEngine, Event as PppEvent, Role as PppRole,
};
use controlplane::pppoe::wire::{DiscoveryRepr, EthHeader, Tag};
use controlplane::radius::wire::crypto::{sign, Signing};
use controlplane::radius::wire::{code, Attribute, Repr, Vsa};
use dataplane::buffer::{HeapAlloc, HeapBuf, PacketBuf};
use dataplane::counters::WorkerCounters;
use dataplane::pipeline::{forward, PortInfo, Verdict};
use dataplane::punt::{Inject, InjectRing, Punted};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::{json, Value};
use varouter::config::Config;
use varouter::mgmt::exec::MgmtLink;
use varouter::mgmt::{ApiThread, Management};
use vr::{PortId, SessionKey};
use wire::pppoe::{Code, PppoeHeader};

mod common;
use common::{cheap_hash, TestDir};

const ROUTER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const LAN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
const LAC_MAC: [u8; 6] = [2, 0xaa, 0, 0, 0, 2];
const LAC_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 2);
const LNS_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);
const ACCESS: PortId = PortId(0);
const LAN: PortId = PortId(1);
const RADIUS_AUTH: u16 = 18260;
const RADIUS_ACCT: u16 = 18261;
const SECRET: &str = "movesecret";
const TOKEN_T1: &str = "tok-t1";
const API: &str = "http://127.0.0.1:18262";

/// VR A terminates the subscribers (LNS, PPP, pool 100.64.0.0/24, RADIUS); B and C are
/// the tenant t1's other VRs, D is tenant t2's. Each VR reaches 10.200.0.0/16 through its
/// own LAN VLAN (A 100, B 200, C 300, D 400), so the VLAN a packet leaves on says which
/// VR routed it. C has the subscribers' subnet on a LAN (VLAN 301): their addresses
/// collide there.
fn profile() -> String {
    format!(
        r#"router_id: 192.0.2.1
ports:
  - {{ name: access, backend: mem, mac: "02:00:00:00:00:01" }}
  - {{ name: lan, backend: mem, mac: "02:00:00:00:00:02" }}
virtual_routers:
  - id: 1
    name: A
    vpn_id: "00a0c9:00000001"
    tenant: t1
    interfaces:
      - {{ port: access, vlan: 10, addresses: [10.0.1.1/24] }}
      - {{ port: lan, vlan: 100, addresses: [10.100.0.1/24] }}
    routes: [{{ prefix: 10.200.0.0/16, via: 10.100.0.2 }}]
    l2tp: {{ role: lns, local: 10.0.1.1, hostname: lns-a, peers: [10.0.1.2] }}
    ppp:
      auth: [pap]
      address: 100.64.0.1
      pools: [{{ name: p, ranges: ["100.64.0.10-100.64.0.250"] }}]
      radius:
        source: 127.0.0.1
        nas_identifier: varouter-move-test
        servers: [{{ address: "127.0.0.1:{RADIUS_AUTH}", secret: {SECRET} }}]
        accounting: [{{ address: "127.0.0.1:{RADIUS_ACCT}", secret: {SECRET} }}]
        timeout: 1
        retries: 3
  - id: 2
    name: B
    vpn_id: "00a0c9:00000002"
    tenant: t1
    interfaces:
      - {{ port: lan, vlan: 200, addresses: [10.100.0.1/24] }}
    routes: [{{ prefix: 10.200.0.0/16, via: 10.100.0.2 }}]
  - id: 3
    name: C
    vpn_id: "00a0c9:00000003"
    tenant: t1
    interfaces:
      - {{ port: access, vlan: 30, addresses: [10.30.0.1/24] }}
      - {{ port: lan, vlan: 300, addresses: [10.100.0.1/24] }}
      - {{ port: lan, vlan: 301, addresses: [100.64.0.1/24] }}
    routes:
      - {{ prefix: 10.200.0.0/16, via: 10.100.0.2 }}
  - id: 4
    name: D
    vpn_id: "00a0c9:00000004"
    tenant: t2
    interfaces:
      - {{ port: access, vlan: 40, addresses: [10.40.0.1/24] }}
      - {{ port: lan, vlan: 400, addresses: [10.100.0.1/24] }}
    routes: [{{ prefix: 10.200.0.0/16, via: 10.100.0.2 }}]
  - id: 5
    name: acc
    vpn_id: "00a0c9:00000005"
    tenant: t1
    interfaces: [{{ port: access, vlan: 50 }}]
    pppoe: {{ ac_name: varouter-move-test }}
    relay:
      auth: [pap]
      realms: [{{ realm: isp.example, vr: A }}]
neighbors:
  - {{ port: access, vlan: 10, ip: 10.0.1.2, mac: "02:aa:00:00:00:02" }}
  - {{ port: lan, vlan: 100, ip: 10.100.0.2, mac: "02:bb:00:00:01:00" }}
  - {{ port: lan, vlan: 200, ip: 10.100.0.2, mac: "02:bb:00:00:02:00" }}
  - {{ port: lan, vlan: 300, ip: 10.100.0.2, mac: "02:bb:00:00:03:00" }}
  - {{ port: lan, vlan: 400, ip: 10.100.0.2, mac: "02:bb:00:00:04:00" }}
management:
  listen: 127.0.0.1:18262
  owner: carrier
  principals:
    - {{ name: admin, role: carrier-admin, token_hash: "{}" }}
    - {{ name: t1-admin, role: tenant-admin, tenant: t1, token_hash: "{}" }}
    - {{ name: t2-admin, role: tenant-admin, tenant: t2, token_hash: "{}" }}
    - {{ name: viewer, role: read-only, token_hash: "{}" }}
"#,
        cheap_hash("tok-admin"),
        cheap_hash(TOKEN_T1),
        cheap_hash("tok-t2"),
        cheap_hash("tok-ro"),
    )
}

// --- packets ---------------------------------------------------------------------------

fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload: &[u8]) -> Vec<u8> {
    let total = 20 + payload.len();
    let mut p = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0];
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let sum = !wire::checksum::data(&p);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn udp(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::with_capacity(8 + payload.len());
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    ipv4(src, dst, 17, &u)
}

fn eth_vlan(dst: [u8; 6], src: [u8; 6], vlan: u16, ip: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(18 + ip.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&0x8100u16.to_be_bytes());
    f.extend_from_slice(&vlan.to_be_bytes());
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    f.extend_from_slice(ip);
    f
}

/// VLAN id and IPv4 packet of a tagged IPv4 frame (`None`: another frame: ARP, ...).
fn untag(f: &[u8]) -> Option<(u16, &[u8])> {
    (f.len() > 18 && f[12..14] == [0x81, 0x00] && f[16..18] == [0x08, 0x00])
        .then(|| (u16::from_be_bytes([f[14], f[15]]) & 0x0fff, &f[18..]))
}

/// An IPv4 packet's UDP payload (and ports).
fn udp_payload(ip: &[u8]) -> Option<(u16, u16, &[u8])> {
    if ip.len() < 28 || ip[9] != 17 {
        return None;
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let u = &ip[ihl..];
    Some((
        u16::from_be_bytes([u[0], u[1]]),
        u16::from_be_bytes([u[2], u[3]]),
        &u[8..],
    ))
}

// --- the RADIUS server ------------------------------------------------------------------

/// An accounting request the RADIUS server received: status type, Acct-Session-Id and
/// the Cisco-AVPair values.
#[derive(Clone, Debug)]
struct Acct {
    status: u32,
    session_id: String,
    avpairs: Vec<String>,
    input_octets: u32,
}

struct Radius {
    stop: Arc<AtomicBool>,
    acct: Arc<Mutex<Vec<Acct>>>,
    joins: Vec<std::thread::JoinHandle<()>>,
}

impl Drop for Radius {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for j in self.joins.drain(..) {
            let _ = j.join();
        }
    }
}

fn radius() -> Radius {
    let stop = Arc::new(AtomicBool::new(false));
    let acct = Arc::new(Mutex::new(Vec::new()));
    let mut joins = Vec::new();
    for port in [RADIUS_AUTH, RADIUS_ACCT] {
        let sock = UdpSocket::bind(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("RADIUS test server on 127.0.0.1:{port}: {e}"));
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let (stop, acct) = (stop.clone(), acct.clone());
        joins.push(std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !stop.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let Ok(req) = Repr::from_bytes(&buf[..n]) else {
                    continue;
                };
                let answer = match req.code {
                    code::ACCESS_REQUEST => code::ACCESS_ACCEPT,
                    code::ACCOUNTING_REQUEST => {
                        let mut a = Acct {
                            status: 0,
                            session_id: String::new(),
                            avpairs: Vec::new(),
                            input_octets: 0,
                        };
                        for at in &req.attributes {
                            match at {
                                Attribute::AcctStatusType(s) => a.status = *s,
                                Attribute::AcctSessionId(s) => {
                                    a.session_id = String::from_utf8_lossy(s).into_owned()
                                }
                                Attribute::AcctInputOctets(o) => a.input_octets = *o,
                                Attribute::VendorSpecific(Vsa::Other { vendor: 9, data })
                                    if data.len() > 2 && data[0] == 1 =>
                                {
                                    a.avpairs
                                        .push(String::from_utf8_lossy(&data[2..]).into_owned())
                                }
                                _ => {}
                            }
                        }
                        acct.lock().unwrap().push(a);
                        code::ACCOUNTING_RESPONSE
                    }
                    _ => continue,
                };
                let mut attributes = vec![Attribute::MessageAuthenticator([0; 16])];
                if answer == code::ACCESS_ACCEPT {
                    attributes.extend([Attribute::ServiceType(2), Attribute::FramedProtocol(1)]);
                }
                let mut bytes = Repr {
                    code: answer,
                    identifier: req.identifier,
                    authenticator: [0; 16],
                    attributes,
                }
                .to_bytes()
                .unwrap();
                sign(
                    &mut bytes,
                    SECRET.as_bytes(),
                    Signing::Response {
                        request_authenticator: req.authenticator,
                    },
                )
                .unwrap();
                let _ = sock.send_to(&bytes, from);
            }
        }));
    }
    Radius { stop, acct, joins }
}

// --- the rig ----------------------------------------------------------------------------

/// A PPPoE subscriber on VLAN 50: its MAC, PPPoE session id and PPP client.
struct PppoeSub {
    mac: [u8; 6],
    sid: u16,
    ppp: PppEngine,
    addr: Option<Ipv4Addr>,
}

const PPPOE_VLAN: u16 = 50;

/// A PPPoE session frame (RFC 2516 §5.4) from `mac` carrying `ppp` (protocol on).
fn pppoe_frame(mac: [u8; 6], sid: u16, ppp: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(24 + ppp.len());
    f.extend_from_slice(&ROUTER_MAC);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0x81, 0x00]);
    f.extend_from_slice(&PPPOE_VLAN.to_be_bytes());
    f.extend_from_slice(&[0x88, 0x64, 0x11, 0x00]);
    f.extend_from_slice(&sid.to_be_bytes());
    f.extend_from_slice(&(ppp.len() as u16).to_be_bytes());
    f.extend_from_slice(ppp);
    f
}

/// A PPP subscriber behind the LAC: its L2TP session (LAC ids and the LNS's) and client.
struct Sub {
    lac: (u16, u16),
    lns: Option<(u16, u16)>,
    ppp: PppEngine,
    addr: Option<Ipv4Addr>,
    ppp_events: usize,
}

struct Rig {
    core: Core<HeapBuf>,
    running: Config,
    link: MgmtLink,
    agent: ureq::Agent,
    inject: Arc<InjectRing<HeapBuf>>,
    ports: Arc<[PortInfo]>,
    counters: Arc<WorkerCounters>,
    lac: L2tpEngine<StdRng>,
    subs: Vec<Sub>,
    /// Frames the appliance sent on the LAN: (VLAN, IPv4 packet).
    lan_out: Vec<(u16, Vec<u8>)>,
    /// L2TP control messages the LAC received.
    lac_control_in: usize,
    /// PPPoE subscribers on the access port's VLAN 50.
    pppoe: Vec<PppoeSub>,
    /// PPPoE discovery frames the appliance sent.
    discovery: Vec<Vec<u8>>,
    /// PPPoE session frames for a subscriber not registered yet.
    early: Vec<Vec<u8>>,
    /// The HTTP API (its commands reach `link`, which `step` ticks).
    _api: ApiThread,
    /// Dropped last: after the API thread and the core (fields drop in order).
    _dir: TestDir,
}

fn rig() -> Rig {
    let dir = TestDir::new("mgmt-move");
    let path = dir.join("profile.yaml");
    std::fs::write(&path, profile()).unwrap();
    let running = varouter::load_config(&path).expect("test profile checks");
    let writer = varouter::appliance::initial_state(&running, 1).unwrap();
    let ports: Arc<[PortInfo]> = running
        .ports
        .iter()
        .map(|p| PortInfo {
            mac: p.mac,
            mtu: p.mtu,
        })
        .collect();
    let inject = Arc::new(InjectRing::new(4096));
    let now = Instant::now();
    let mut core = Core::new(
        writer,
        ports.clone(),
        vec![true; running.ports.len()],
        vec![inject.clone()],
        Box::new(HeapAlloc),
    );
    for s in varouter::services::services(&running, now) {
        core.add_service(s).unwrap();
    }
    core.start(now);
    core.publish();
    // The HTTP API on its thread, as the appliance starts it; `step` ticks its control
    // side as the appliance's control loop does.
    let (api, link) = Management::start(&running, &path).unwrap();
    let mut lc = L2tpConfig::new(Role::Lac, "lac");
    lc.secret = None;
    Rig {
        core,
        link,
        agent: ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(20)))
            .build()
            .into(),
        inject,
        counters: Arc::new(WorkerCounters::new(0, running.ports.len())),
        running,
        ports,
        lac: L2tpEngine::new(lc, StdRng::seed_from_u64(7)),
        subs: Vec::new(),
        lan_out: Vec::new(),
        lac_control_in: 0,
        pppoe: Vec::new(),
        discovery: Vec::new(),
        early: Vec::new(),
        _api: api,
        _dir: dir,
    }
}

impl Rig {
    /// A frame arriving on `port`: through the pipeline on the published tables; punts
    /// go to the core, frames sent on the LAN are kept, frames to the LAC are delivered.
    fn arrive(&mut self, port: PortId, frame: &[u8]) -> Verdict {
        let mut buf = HeapBuf::from_slice(frame).unwrap();
        let st = self.core.state();
        let v = forward(&st, &self.ports, port, &mut buf, &self.counters);
        match v {
            Verdict::Punt(to) => self.core.handle_punt(
                Instant::now(),
                Punted {
                    to,
                    port,
                    worker: 0,
                    buf,
                },
            ),
            Verdict::Tx(p) => self.sent(p, buf.data().to_vec()),
            Verdict::Drop(_) => {}
        }
        v
    }

    /// A frame the appliance sends on `port`.
    fn sent(&mut self, port: PortId, f: Vec<u8>) {
        // PPPoE on VLAN 50: discovery kept, session frames to the subscriber's client (IPv4
        // kept for the test to look at).
        if port == ACCESS
            && f.len() > 24
            && f[12..14] == [0x81, 0x00]
            && u16::from_be_bytes([f[14], f[15]]) & 0x0fff == PPPOE_VLAN
        {
            match [f[16], f[17]] {
                [0x88, 0x63] => self.discovery.push(f),
                [0x88, 0x64] => {
                    let sid = u16::from_be_bytes([f[20], f[21]]);
                    let len = usize::from(u16::from_be_bytes([f[22], f[23]]));
                    let ppp = &f[24..(24 + len).min(f.len())];
                    let Some(sub) = self
                        .pppoe
                        .iter_mut()
                        .find(|p| p.sid == sid && f[0..6] == p.mac)
                    else {
                        // The access side may talk before the test has seen the PADS.
                        self.early.push(f);
                        return;
                    };
                    if ppp.len() > 2 && ppp[..2] == [0x00, 0x21] {
                        self.lan_out.push((0, ppp[2..].to_vec()));
                    } else {
                        let mut fr = vec![0xff, 0x03];
                        fr.extend_from_slice(ppp);
                        sub.ppp.handle_frame(Instant::now(), &fr);
                    }
                }
                _ => {}
            }
            return;
        }
        // ARP and the like (the appliance announcing its addresses) are not looked at.
        let Some((vlan, ip)) = untag(&f) else { return };
        if port == LAN {
            self.lan_out.push((vlan, ip.to_vec()));
            return;
        }
        assert_eq!(port, ACCESS);
        if vlan != 10 {
            return; // not the LAC's VLAN
        }
        let Some((1701, 1701, msg)) = udp_payload(ip) else {
            return;
        };
        let msg = msg.to_vec();
        let h = wire::l2tp::L2tpPacket::new_checked(&msg[..]).unwrap();
        if h.is_control() {
            self.lac_control_in += 1;
            let now = Instant::now();
            self.lac
                .handle_input(now, SocketAddr::new(IpAddr::V4(LNS_IP), 1701), &msg);
        } else {
            let (t, s) = (h.tunnel_id(), h.session_id());
            let ppp = msg[h.header_len()..].to_vec();
            let now = Instant::now();
            if let Some(sub) = self.subs.iter_mut().find(|x| x.lac == (t, s)) {
                let body = ppp.strip_prefix(&[0xff, 0x03]).unwrap_or(&ppp);
                if body.len() > 2 && body[..2] == [0x00, 0x21] {
                    // IPv4 to the subscriber: kept for the test to look at.
                    self.lan_out.push((0, body[2..].to_vec()));
                } else {
                    sub.ppp.handle_frame(now, &ppp);
                }
            }
        }
    }

    /// The LAC's and the PPP clients' packets to the appliance, the core's work and
    /// output, the management commands; until nothing moves.
    fn step(&mut self) {
        for _ in 0..50 {
            self.step_once();
        }
    }

    /// One round of [`Rig::step`]; sleeps a little when nothing moved.
    fn step_once(&mut self) {
        {
            let mut moved = false;
            let now = Instant::now();
            self.lac.handle_timeout(now);
            while let Some(t) = self.lac.poll_transmit() {
                moved = true;
                let f = eth_vlan(
                    ROUTER_MAC,
                    LAC_MAC,
                    10,
                    &udp(LAC_IP, LNS_IP, 1701, 1701, &t.bytes),
                );
                self.arrive(ACCESS, &f);
            }
            while let Some(e) = self.lac.poll_event() {
                if let Event::SessionUp {
                    tunnel,
                    session,
                    peer_tunnel,
                    peer_session,
                    ..
                } = e
                {
                    let sub = self
                        .subs
                        .iter_mut()
                        .find(|s| s.lac == (tunnel, session))
                        .expect("a session the test opened");
                    sub.lns = Some((peer_tunnel, peer_session));
                    sub.ppp.open(now);
                }
            }
            let mut frames = Vec::new();
            for (i, sub) in self.subs.iter_mut().enumerate() {
                sub.ppp.handle_timeout(now);
                while let Some(f) = sub.ppp.poll_transmit() {
                    frames.push((i, f));
                }
                while let Some(e) = sub.ppp.poll_event() {
                    sub.ppp_events += 1;
                    if let PppEvent::Ipv4Up { local, .. } = e {
                        sub.addr = Some(local);
                    }
                }
            }
            let mut pframes = Vec::new();
            for p in self.pppoe.iter_mut() {
                p.ppp.handle_timeout(now);
                while let Some(f) = p.ppp.poll_transmit() {
                    pframes.push(pppoe_frame(
                        p.mac,
                        p.sid,
                        f.strip_prefix(&[0xff, 0x03]).unwrap_or(&f),
                    ));
                }
                while let Some(e) = p.ppp.poll_event() {
                    if let PppEvent::Ipv4Up { local, .. } = e {
                        p.addr = Some(local);
                    }
                }
            }
            for f in pframes {
                moved = true;
                self.arrive(ACCESS, &f);
            }
            for (i, f) in frames {
                moved = true;
                let (t, s) = self.subs[i]
                    .lns
                    .expect("PPP runs on an established session");
                let mut l2tp = vec![0; wire::l2tp::MIN_HEADER_LEN];
                wire::l2tp::emit_data_header(&mut l2tp, t, s);
                l2tp.extend_from_slice(&f);
                let frame = eth_vlan(
                    ROUTER_MAC,
                    LAC_MAC,
                    10,
                    &udp(LAC_IP, LNS_IP, 1701, 1701, &l2tp),
                );
                self.arrive(ACCESS, &frame);
            }
            self.core.poll_sockets(now);
            self.core.run_timers(now);
            self.link.tick(
                &mut self.core,
                &mut self.running,
                std::slice::from_ref(&self.counters),
                now,
            );
            self.core.publish();
            while let Some(i) = self.inject.pop() {
                if let Inject::Tx { port, buf } = i {
                    moved = true;
                    self.sent(port, buf.data().to_vec());
                }
            }
            if !moved {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }

    /// Steps until `done` holds (at most `secs`).
    fn until(&mut self, what: &str, secs: u64, mut done: impl FnMut(&Rig) -> bool) {
        let t0 = Instant::now();
        while !done(self) {
            assert!(
                t0.elapsed() < Duration::from_secs(secs),
                "timed out waiting for {what}"
            );
            self.step();
        }
    }

    /// Opens a tunnel (the first call) and one more session with a PPP client on it;
    /// waits until the subscriber has its address.
    fn subscriber(&mut self, tunnel: Option<u16>) -> usize {
        let now = Instant::now();
        let t = match tunnel {
            Some(t) => t,
            None => self
                .lac
                .open_tunnel(now, SocketAddr::new(IpAddr::V4(LNS_IP), 1701))
                .unwrap(),
        };
        let s = self
            .lac
            .open_session(now, t, CallParams::default())
            .unwrap();
        let i = self.subs.len();
        let cfg = Arc::new(PppConfig {
            auth: vec![PppAuth::Pap],
            username: format!("user{i}@isp"),
            password: "pw".into(),
            enable_ipv6: false,
            echo_interval: None,
            ..PppConfig::default()
        });
        self.subs.push(Sub {
            lac: (t, s),
            lns: None,
            ppp: PppEngine::new(cfg, PppRole::Client, now, 11 + i as u64),
            addr: None,
            ppp_events: 0,
        });
        self.until("the subscriber's address", 20, |r| r.subs[i].addr.is_some());
        i
    }

    /// An HTTP request to the API as `token` (on a thread of its own, while this one runs
    /// the control loop that answers it): status and JSON body.
    fn http(&mut self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let agent = self.agent.clone();
        let (method, url, auth) = (
            method.to_string(),
            format!("{API}{path}"),
            format!("Bearer {token}"),
        );
        let h = std::thread::spawn(move || {
            let r = match (method.as_str(), body) {
                ("GET", _) => agent.get(&url).header("Authorization", &auth).call(),
                ("DELETE", _) => agent.delete(&url).header("Authorization", &auth).call(),
                ("POST", Some(b)) => agent
                    .post(&url)
                    .header("Authorization", &auth)
                    .header("content-type", "application/json")
                    .send(b.to_string()),
                _ => panic!("{method}"),
            };
            let mut r = r.unwrap();
            let status = r.status().as_u16();
            let text = r.body_mut().read_to_string().unwrap_or_default();
            (status, serde_json::from_str(&text).unwrap_or(Value::Null))
        });
        let t0 = Instant::now();
        while !h.is_finished() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "no answer to {path}"
            );
            self.step_once();
        }
        h.join().unwrap()
    }

    /// A PPPoE subscriber: discovery (PADI, PADO, PADR, PADS) through the pipeline, then
    /// PPP until it has its address. Returns its index in `pppoe`.
    fn pppoe_subscriber(&mut self, user: &str) -> usize {
        let mac = [2, 0xdd, 0, 0, 0, self.pppoe.len() as u8 + 1];
        let eth = |dst| EthHeader {
            dst,
            src: mac,
            vlan: Some(PPPOE_VLAN),
        };
        let reply = |r: &mut Rig, code: Code| -> DiscoveryRepr {
            r.until("a PPPoE discovery answer", 10, |r| {
                r.discovery.iter().any(|f| f[0..6] == mac)
            });
            let f = r
                .discovery
                .remove(r.discovery.iter().position(|f| f[0..6] == mac).unwrap());
            let d = DiscoveryRepr::parse(&PppoeHeader::new_checked(&f[18..]).unwrap()).unwrap();
            assert_eq!(d.code, code);
            d
        };
        let padi = DiscoveryRepr {
            code: Code::Padi,
            session_id: 0,
            tags: vec![Tag::ServiceName(vec![]), Tag::HostUniq(b"hu".to_vec())],
        }
        .to_frame(&eth([0xff; 6]))
        .unwrap();
        self.arrive(ACCESS, &padi);
        let pado = reply(self, Code::Pado);
        let cookie = pado
            .tags
            .iter()
            .find(|t| matches!(t, Tag::AcCookie(_)))
            .cloned()
            .expect("AC-Cookie");
        let padr = DiscoveryRepr {
            code: Code::Padr,
            session_id: 0,
            tags: vec![
                Tag::ServiceName(vec![]),
                Tag::HostUniq(b"hu".to_vec()),
                cookie,
            ],
        }
        .to_frame(&eth(ROUTER_MAC))
        .unwrap();
        self.arrive(ACCESS, &padr);
        let sid = reply(self, Code::Pads).session_id;
        let now = Instant::now();
        let cfg = Arc::new(PppConfig {
            auth: vec![PppAuth::Pap],
            username: user.into(),
            password: "pw".into(),
            enable_ipv6: false,
            echo_interval: None,
            ..PppConfig::default()
        });
        let mut ppp = PppEngine::new(cfg, PppRole::Client, now, 99 + sid as u64);
        ppp.open(now);
        let i = self.pppoe.len();
        self.pppoe.push(PppoeSub {
            mac,
            sid,
            ppp,
            addr: None,
        });
        for f in std::mem::take(&mut self.early) {
            self.sent(ACCESS, f);
        }
        self.until("the PPPoE subscriber's address", 20, |r| {
            r.pppoe[i].addr.is_some()
        });
        i
    }

    /// The PPPoE subscriber `i` sends to `dst`: the LAN VLAN it left on, if forwarded.
    fn pppoe_upstream(&mut self, i: usize, dst: Ipv4Addr) -> Option<u16> {
        let p = &self.pppoe[i];
        let mut ppp = vec![0x00, 0x21];
        ppp.extend_from_slice(&udp(p.addr.unwrap(), dst, 4000, 5000, b"upstream"));
        let f = pppoe_frame(p.mac, p.sid, &ppp);
        self.lan_out.clear();
        match self.arrive(ACCESS, &f) {
            Verdict::Tx(LAN) => self.lan_out.pop().map(|(v, _)| v),
            _ => None,
        }
    }

    /// A host on LAN VLAN `vlan` sends to PPPoE subscriber `i`: whether it reached it.
    fn pppoe_downstream(&mut self, vlan: u16, i: usize) -> bool {
        let addr = self.pppoe[i].addr.unwrap();
        let ip = udp(
            Ipv4Addr::new(10, 200, 0, 9),
            addr,
            5000,
            4000,
            b"downstream",
        );
        let f = eth_vlan(LAN_MAC, [2, 0xbb, 0, 0, (vlan / 100) as u8, 0], vlan, &ip);
        self.lan_out.clear();
        let v = self.arrive(LAN, &f);
        matches!(v, Verdict::Tx(ACCESS))
            && self
                .lan_out
                .last()
                .is_some_and(|(v, p)| *v == 0 && p[16..20] == addr.octets())
    }

    /// A transaction as `token`: its answer, or the error object.
    fn tx(&mut self, token: &str, changes: Value) -> Result<Value, Refused> {
        match self.http(
            "POST",
            "/api/v1/transaction",
            token,
            Some(json!({ "changes": changes })),
        ) {
            (200, v) => Ok(v),
            (status, v) => Err(Refused::of(status, &v)),
        }
    }

    /// A GET as `token` (200 expected).
    fn get(&mut self, token: &str, path: &str) -> Value {
        let (s, v) = self.http("GET", path, token, None);
        assert_eq!(s, 200, "GET {path}: {v}");
        v
    }

    /// The subscriber `i` sends an IPv4 packet to `dst`: where it left the LAN (VLAN), or
    /// `None` when the appliance did not forward it.
    fn upstream(&mut self, i: usize, dst: Ipv4Addr) -> Option<u16> {
        let (t, s) = self.subs[i].lns.unwrap();
        let inner = udp(self.subs[i].addr.unwrap(), dst, 4000, 5000, b"upstream");
        let mut l2tp = vec![0; wire::l2tp::MIN_HEADER_LEN + wire::ppp::ENCAP_LEN];
        wire::l2tp::emit_data_header(&mut l2tp, t, s);
        wire::ppp::emit(
            &mut l2tp[wire::l2tp::MIN_HEADER_LEN..],
            wire::ppp::protocol::IPV4,
        );
        l2tp.extend_from_slice(&inner);
        let f = eth_vlan(
            ROUTER_MAC,
            LAC_MAC,
            10,
            &udp(LAC_IP, LNS_IP, 1701, 1701, &l2tp),
        );
        self.lan_out.clear();
        match self.arrive(ACCESS, &f) {
            Verdict::Tx(LAN) => self.lan_out.pop().map(|(v, _)| v),
            _ => None,
        }
    }

    /// A host on LAN VLAN `vlan` sends to subscriber `i`: whether it reached the session.
    fn downstream(&mut self, vlan: u16, i: usize) -> bool {
        let addr = self.subs[i].addr.unwrap();
        let ip = udp(
            Ipv4Addr::new(10, 200, 0, 9),
            addr,
            5000,
            4000,
            b"downstream",
        );
        let f = eth_vlan(LAN_MAC, [2, 0xbb, 0, 0, (vlan / 100) as u8, 0], vlan, &ip);
        self.lan_out.clear();
        let v = self.arrive(LAN, &f);
        matches!(v, Verdict::Tx(ACCESS))
            && self
                .lan_out
                .last()
                .is_some_and(|(v, p)| *v == 0 && p[16..20] == addr.octets())
    }

    fn traffic(&self, i: usize) -> [u64; 4] {
        let (t, s) = self.subs[i].lns.unwrap();
        let w = self.core.writer();
        let slot = w
            .session(&SessionKey::L2tp {
                tunnel: t,
                session: s,
            })
            .unwrap()
            .counters;
        w.session_traffic(slot)
    }
}

/// An error answer of the API.
#[derive(Debug)]
struct Refused {
    status: u16,
    code: String,
    message: String,
    pointer: Option<String>,
}

impl Refused {
    fn of(status: u16, v: &Value) -> Self {
        let e = &v["error"];
        Refused {
            status,
            code: e["code"].as_str().unwrap_or("").into(),
            message: e["message"].as_str().unwrap_or("").into(),
            pointer: e["pointer"].as_str().map(str::to_string),
        }
    }
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn sessions_and_tunnels_move_between_vrs_live() {
    let radius = radius();
    let mut r = rig();
    let (admin, t1, t2) = ("tok-admin", TOKEN_T1, "tok-t2");

    let s0 = r.subscriber(None);
    let (t, s) = r.subs[s0].lns.unwrap();
    let id = format!("l2tp-{t}-{s}");
    let addr = r.subs[s0].addr.unwrap();
    assert!(addr.octets()[..3] == [100, 64, 0], "{addr}");
    r.until("accounting Start", 10, |_| {
        radius.acct.lock().unwrap().iter().any(|a| a.status == 1)
    });

    // Before: routed in A.
    let dst = Ipv4Addr::new(10, 200, 1, 1);
    assert_eq!(r.upstream(s0, dst), Some(100));
    assert!(r.downstream(100, s0));
    assert!(!r.downstream(200, s0));
    let before = r.traffic(s0);
    assert!(before[0] >= 1 && before[2] >= 1, "{before:?}");
    let control_before = (r.lac_control_in, r.subs[s0].ppp_events);

    // A tenant cannot move into a VR outside its delegation (D is t2's): 404, as for a VR
    // that does not exist; nor can another tenant see the session's VR.
    for to in ["D", "nope"] {
        let e = r
            .tx(
                t1,
                json!([{"op": "move_session", "vr": "A", "session": id, "to": to}]),
            )
            .unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (404, "not_found"), "{e:?}");
        assert_eq!(e.pointer.as_deref(), Some("/changes/0/to"));
    }
    let e = r
        .tx(
            t2,
            json!([{"op": "move_session", "vr": "A", "session": id, "to": "D"}]),
        )
        .unwrap_err();
    assert_eq!(
        (e.status, e.pointer.as_deref()),
        (404, Some("/changes/0/vr")),
        "{e:?}"
    );
    // A read-only principal changes nothing.
    let ro = "tok-ro";
    let e = r
        .tx(
            ro,
            json!([{"op": "move_session", "vr": "A", "session": id, "to": "B"}]),
        )
        .unwrap_err();
    assert_eq!(e.status, 403, "{e:?}");
    // No such session: 404 pointing at it.
    let e = r
        .tx(
            t1,
            json!([{"op": "move_session", "vr": "A", "session": "l2tp-1-1", "to": "B"}]),
        )
        .unwrap_err();
    assert_eq!(
        (e.status, e.pointer.as_deref()),
        (404, Some("/changes/0/session")),
        "{e:?}"
    );
    // C routes the subscriber's address already: 409 address_conflict, nothing changed,
    // also when the transaction's other change was fine.
    let e = r
        .tx(
            t1,
            json!([
                {"op": "add_route", "vr": "B", "route": {"prefix": "10.201.0.0/16", "via": "10.100.0.2"}},
                {"op": "move_session", "vr": "A", "session": id, "to": "C"}
            ]),
        )
        .unwrap_err();
    assert_eq!(
        (e.status, e.code.as_str()),
        (409, "address_conflict"),
        "{e:?}"
    );
    assert!(
        e.message.contains("connected subnet 100.64.0.0/24"),
        "{}",
        e.message
    );
    assert_eq!(e.pointer.as_deref(), Some("/changes/1/to"));
    r.step();
    assert_eq!(r.upstream(s0, dst), Some(100), "nothing moved");
    assert!(r.downstream(100, s0));
    let routes_b = r.get(admin, "/api/v1/vrs/B/routes");
    assert_eq!(
        routes_b.as_array().unwrap().len(),
        1,
        "the route change was taken back: {routes_b}"
    );

    // The move (as the tenant), with a route change in the same transaction.
    let v = r
        .tx(
            t1,
            json!([
                {"op": "add_route", "vr": "B", "route": {"prefix": "10.201.0.0/16", "via": "10.100.0.2"}},
                {"op": "move_session", "vr": "A", "session": id, "to": "B"}
            ]),
        )
        .unwrap();
    let lines = v["applied"].as_array().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.as_str().unwrap().starts_with("moved l2tp tunnel")),
        "{v}"
    );
    r.step();
    // After: routed in B, not in A.
    assert_eq!(r.upstream(s0, dst), Some(200));
    assert_eq!(r.upstream(s0, Ipv4Addr::new(10, 201, 0, 1)), Some(200));
    assert!(r.downstream(200, s0));
    assert!(!r.downstream(100, s0));
    // Still the same session: same address, no L2TP or PPP exchange for the move, and
    // its counters went on.
    assert_eq!(r.subs[s0].addr, Some(addr));
    assert_eq!(r.subs[s0].ppp_events, control_before.1);
    let after = r.traffic(s0);
    assert!(
        after[0] > before[0] && after[2] > before[2],
        "{before:?} -> {after:?}"
    );
    // Listed in B (moved), no longer in A.
    let in_b = r.get(t1, "/api/v1/vrs/B/sessions");
    assert_eq!(ids(&in_b), vec![id.clone()], "{in_b}");
    assert_eq!(in_b[0]["moved"], json!(true));
    assert_eq!(in_b[0]["address"], json!(addr.to_string()));
    let in_a = r.get(t1, "/api/v1/vrs/A/sessions");
    assert!(ids(&in_a).is_empty(), "{in_a}");
    // Counted where it is routed: the statistics (and /metrics, the dashboard) say so.
    let stats = r.get(t1, "/api/v1/stats");
    let count = |name: &str| {
        stats["vrs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == json!(name))
            .map(|v| v["sessions"].clone())
    };
    assert_eq!(count("B"), Some(json!(1)), "{stats}");
    assert_eq!(count("A"), Some(json!(0)), "{stats}");
    // Accounting: an Interim-Update with the same Acct-Session-Id names the new VR.
    r.until("the Interim-Update of the move", 10, |_| {
        radius
            .acct
            .lock()
            .unwrap()
            .iter()
            .any(|a| a.status == 3 && a.avpairs.iter().any(|p| p == "ip:vrf-id=B"))
    });
    {
        let acct = radius.acct.lock().unwrap();
        let start = acct.iter().find(|a| a.status == 1).unwrap();
        let interim = acct.iter().find(|a| a.status == 3).unwrap();
        assert_eq!(start.session_id, interim.session_id);
        assert!(interim.input_octets > 0, "{interim:?}");
        assert!(!acct.iter().any(|a| a.status == 2), "no Stop: {acct:?}");
    }
    // The per-VR counter of moves.
    let lines = r.core.stat_lines();
    assert!(
        lines
            .iter()
            .any(|(k, v)| k.ends_with("sessions_moved") && *v == 1),
        "{lines:?}"
    );

    // Zero loss of other VRs' flows while sessions move: a "worker" thread forwards C's
    // and D's flows and A's own network traffic on the published tables while the
    // session moves back and forth; every packet must leave on its VR's LAN VLAN.
    let handle = r.core.handle();
    let ports = r.ports.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]);
    let good = Arc::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]);
    let worker = {
        let (stop, sent, good) = (stop.clone(), sent.clone(), good.clone());
        std::thread::spawn(move || {
            let c = WorkerCounters::new(0, ports.len());
            // (ingress VLAN, source, expected egress VLAN) of VR A, C and D.
            let flows = [
                (10u16, Ipv4Addr::new(10, 0, 1, 50), 100u16),
                (30, Ipv4Addr::new(10, 30, 0, 50), 300),
                (40, Ipv4Addr::new(10, 40, 0, 50), 400),
            ];
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                for (k, (vlan, src, out)) in flows.iter().enumerate() {
                    n = n.wrapping_add(1);
                    let dst = Ipv4Addr::new(10, 200, (n >> 8) as u8, n as u8);
                    let f = eth_vlan(
                        ROUTER_MAC,
                        [2, 0xcc, 0, 0, 0, *vlan as u8],
                        *vlan,
                        &udp(*src, dst, 1, 2, b"flow"),
                    );
                    let mut buf = HeapBuf::from_slice(&f).unwrap();
                    let st = handle.load_full();
                    sent[k].fetch_add(1, Ordering::Relaxed);
                    if let Verdict::Tx(LAN) = forward(&st, &ports, ACCESS, &mut buf, &c) {
                        if untag(buf.data()).is_some_and(|(v, _)| v == *out) {
                            good[k].fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        })
    };
    let mut moves = 0;
    let mut here = "B";
    for round in 0..21 {
        let to = if here == "B" { "A" } else { "B" };
        r.tx(
            t1,
            json!([{"op": "move_session", "vr": here, "session": id, "to": to}]),
        )
        .unwrap_or_else(|e| panic!("move {round} to {to}: {e:?}"));
        here = to;
        moves += 1;
        r.step();
        let want = if here == "A" { 100 } else { 200 };
        assert_eq!(r.upstream(s0, dst), Some(want), "after move {round}");
    }
    stop.store(true, Ordering::Relaxed);
    worker.join().unwrap();
    for k in 0..3 {
        let (s, g) = (
            sent[k].load(Ordering::Relaxed),
            good[k].load(Ordering::Relaxed),
        );
        assert!(s > 100, "flow {k}: only {s} packets sent");
        assert_eq!(g, s, "flow {k}: {} of {s} packets lost or misrouted", s - g);
    }
    eprintln!(
        "zero loss: {moves} session moves while 3 flows of {:?} packets were forwarded",
        sent.iter()
            .map(|s| s.load(Ordering::Relaxed))
            .collect::<Vec<_>>()
    );
    assert_eq!(here, "A");

    // A tunnel move: its session moves, and a session it brings up later lands in B too.
    let v = r
        .tx(
            admin,
            json!([{"op": "move_tunnel", "vr": "A", "tunnel": t, "to": "B"}]),
        )
        .unwrap();
    assert!(
        v["applied"][0]
            .as_str()
            .unwrap()
            .contains(&format!("tunnel {t} (1 sessions)")),
        "{v}"
    );
    r.step();
    assert_eq!(r.upstream(s0, dst), Some(200));
    let s1 = r.subscriber(Some(r.subs[s0].lac.0));
    assert_eq!(
        r.upstream(s1, dst),
        Some(200),
        "the tunnel's new session is routed in B"
    );
    assert!(r.downstream(200, s1));
    assert!(!r.downstream(100, s1));
    let tunnels_b = r.get(t1, "/api/v1/vrs/B/tunnels");
    assert_eq!(tunnels_b[0]["moved"], json!(true), "{tunnels_b}");
    let in_b = r.get(t1, "/api/v1/vrs/B/sessions");
    assert_eq!(ids(&in_b).len(), 2, "{in_b}");
    // B cannot be deleted while it routes sessions of A's tunnel.
    let e = r
        .tx(admin, json!([{"op": "delete_vr", "vr": "B"}]))
        .unwrap_err();
    assert_eq!(e.status, 409, "{e:?}");
    // Back home with `varouter ctl` (no --from: it finds the VR that lists the tunnel as
    // moved into it): both sessions are routed in A again.
    let ctl = std::thread::spawn(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_varouter"))
            .args([
                "ctl",
                "--api",
                API,
                "tunnel",
                "move",
                &t.to_string(),
                "--to",
                "A",
            ])
            .env("VAROUTER_TOKEN", TOKEN_T1)
            .output()
            .unwrap()
    });
    while !ctl.is_finished() {
        r.step_once();
    }
    let out = ctl.join().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("moved tunnel {t} (2 sessions)")),
        "{text}"
    );
    r.step();
    assert_eq!(r.upstream(s0, dst), Some(100));
    assert_eq!(r.upstream(s1, dst), Some(100));
    assert!(r.downstream(100, s1));

    // The LAC ending a moved session (CDN) ends its subscriber: accounting Stop naming B,
    // its route leaves B.
    r.tx(
        t1,
        json!([{"op": "move_session", "vr": "A", "session": format!("l2tp-{}-{}", r.subs[s1].lns.unwrap().0, r.subs[s1].lns.unwrap().1), "to": "B"}]),
    )
    .unwrap();
    r.step();
    assert!(r.downstream(200, s1));
    let stops = |radius: &Radius| {
        radius
            .acct
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.status == 2 && a.avpairs.iter().any(|p| p == "ip:vrf-id=B"))
            .count()
    };
    let (lt, ls) = r.subs[s1].lac;
    r.lac.close_session(Instant::now(), lt, ls).unwrap();
    r.until(
        "the accounting Stop of the session the LAC ended",
        10,
        |_| stops(&radius) == 1,
    );
    assert!(!r.downstream(200, s1), "its route left B");
    assert!(!r.downstream(100, s1));
    let in_b = r.get(t1, "/api/v1/vrs/B/sessions");
    assert!(ids(&in_b).is_empty(), "{in_b}");

    // Disconnecting a moved session from the VR it is routed in ends it (accounting Stop).
    r.tx(
        t1,
        json!([{"op": "move_session", "vr": "A", "session": id, "to": "B"}]),
    )
    .unwrap();
    let (status, _) = r.http("DELETE", &format!("/api/v1/vrs/B/sessions/{id}"), t1, None);
    assert_eq!(status, 204);
    r.until(
        "the accounting Stop of the disconnected session",
        10,
        |_| stops(&radius) == 2,
    );
    assert_eq!(r.upstream(s0, dst), None, "the session is gone");

    // A PPPoE subscriber terminated in A (realm isp.example of the access VR) moves to B
    // and back the same way: its packets routed in B, not in A; still up.
    let p0 = r.pppoe_subscriber("pppoe-user@isp.example");
    let pid = format!("pppoe-0-{}", r.pppoe[p0].sid);
    let in_a = r.get(t1, "/api/v1/vrs/A/sessions");
    assert!(ids(&in_a).contains(&pid), "{in_a}");
    assert_eq!(r.pppoe_upstream(p0, dst), Some(100));
    assert!(r.pppoe_downstream(100, p0));
    r.tx(
        t1,
        json!([{"op": "move_session", "vr": "A", "session": pid, "to": "B"}]),
    )
    .unwrap();
    r.step();
    assert_eq!(r.pppoe_upstream(p0, dst), Some(200));
    assert!(r.pppoe_downstream(200, p0));
    assert!(!r.pppoe_downstream(100, p0));
    let in_b = r.get(t1, "/api/v1/vrs/B/sessions");
    assert!(ids(&in_b).contains(&pid), "{in_b}");
    let in_a = r.get(t1, "/api/v1/vrs/A/sessions");
    assert!(!ids(&in_a).contains(&pid), "{in_a}");
    // Into C its address collides (C's connected 100.64.0.0/24): 409, nothing changed.
    let e = r
        .tx(
            t1,
            json!([{"op": "move_session", "vr": "B", "session": pid, "to": "C"}]),
        )
        .unwrap_err();
    assert_eq!(
        (e.status, e.code.as_str()),
        (409, "address_conflict"),
        "{e:?}"
    );
    assert_eq!(r.pppoe_upstream(p0, dst), Some(200));
    r.tx(
        t1,
        json!([{"op": "move_session", "vr": "B", "session": pid, "to": "A"}]),
    )
    .unwrap();
    r.step();
    assert_eq!(r.pppoe_upstream(p0, dst), Some(100));
    assert!(r.pppoe_downstream(100, p0));

    // A profile reload that removes the VR a session was moved into sends the session
    // back to its own VR first (an Interim-Update names it): it stays up.
    let s2 = r.subscriber(Some(r.subs[s0].lac.0));
    let (t2s, s2s) = r.subs[s2].lns.unwrap();
    r.tx(
        t1,
        json!([{"op": "move_session", "vr": "A", "session": format!("l2tp-{t2s}-{s2s}"), "to": "B"}]),
    )
    .unwrap();
    r.step();
    assert_eq!(r.upstream(s2, dst), Some(200));
    let text = profile();
    let (head, rest) = text.split_once("  - id: 2\n").unwrap();
    let (_, tail) = rest.split_once("  - id: 3\n").unwrap();
    let without_b = format!("{head}  - id: 3\n{tail}").replace(
        "  - { port: lan, vlan: 200, ip: 10.100.0.2, mac: \"02:bb:00:00:02:00\" }\n",
        "",
    );
    let path = r._dir.join("profile.yaml");
    std::fs::write(&path, &without_b).unwrap();
    let outcome = varouter::reload::reload(&mut r.core, &mut r.running, &path, Instant::now());
    r.link.reloaded(&r.running);
    r.core.publish();
    let varouter::reload::Outcome::Applied(lines) = outcome else {
        panic!("reload: {outcome:?}")
    };
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("1 session(s) moved into removed VRs went back")),
        "{lines:?}"
    );
    r.step();
    assert_eq!(r.upstream(s2, dst), Some(100), "routed at home again");
    assert!(r.downstream(100, s2));
    r.until("the Interim-Update naming A", 10, |_| {
        radius
            .acct
            .lock()
            .unwrap()
            .iter()
            .any(|a| a.status == 3 && a.avpairs.iter().any(|p| p == "ip:vrf-id=A"))
    });
}
