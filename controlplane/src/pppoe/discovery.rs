//! The access concentrator's PPPoE discovery stage (RFC 2516 §5), sans-IO.
//!
//! One [`Discovery`] serves every PPPoE access interface of the appliance; an interface is a
//! (port, VLAN) pair bound to an access VR with its [`AccessConfig`]. The caller hands it
//! every discovery frame (EtherType 0x8863) with [`Discovery::handle_frame`] and carries out
//! what [`Discovery::poll_output`] returns: frames to send, sessions to bind and start PPP on
//! ([`Output::SessionUp`]), sessions to tear down ([`Output::SessionDown`]). It reads no clock
//! (every call takes `now`), owns no socket and keeps no timer: nothing in discovery expires
//! on its own (a session lives until PADT, [`Discovery::close`] or its interface goes).
//!
//! What it does, by packet:
//! - **PADI** (broadcast, session id 0, exactly one Service-Name): per client MAC a token
//!   bucket (`padi_per_mac_per_sec`, burst of the same size) in a table bounded by
//!   [`Limits::max_tracked_macs`] (the oldest entry is evicted first), so a flood from random
//!   MACs costs bounded memory. A Service-Name we do not offer gets no PADO; an interface or
//!   port already full gets none either (so that a client can pick another AC). The PADO
//!   carries AC-Name, the requested Service-Name then the other offered ones, an AC-Cookie,
//!   Host-Uniq and Relay-Session-Id echoed, and PPP-Max-Payload (RFC 4638) as
//!   min(client's, cap) when the client asked for more than 1492 and the cap allows it.
//! - **AC-Cookie**: HMAC-SHA1 keyed with the engine's key over (client MAC, port, VLAN,
//!   epoch of [`COOKIE_EPOCH`]), its first 16 bytes. A PADR is looked at only once its cookie
//!   verifies (constant-time, this epoch or the previous one: a cookie lives 60–120 s), so a
//!   flood of PADRs with forged cookies creates no state and sends nothing.
//! - **PADR** (unicast to our MAC, session id 0, exactly one Service-Name, valid cookie): a
//!   retransmission (same MAC and VLAN, same Host-Uniq and Service-Name, within
//!   [`PADR_RETRANSMIT_WINDOW`] of the session's creation) gets the same PADS again; a name
//!   we do not offer gets a PADS with session id 0 and Service-Name-Error; a full interface,
//!   MAC or port gets a PADS with session id 0 and AC-System-Error (§5.4). Otherwise a session
//!   id is allocated, the PADS sent and [`Output::SessionUp`] emitted.
//! - **PADT** from the client ends its session if it names a session of this port from the
//!   same MAC and VLAN, sent to the MAC we answered from; anything else is counted.
//!   [`Discovery::close`] ends one from our side (PADT to the client, with a Generic-Error
//!   text when there is one).
//! - Everything else (PADO/PADS/unknown codes from clients, bad version/type, bad tag
//!   lengths, a multicast source MAC, a frame for an unknown interface) is counted by name in
//!   [`Counters`] and dropped; nothing panics on any input.
//!
//! **Session ids** are unique per port across all its VLANs, in 1..=0xfffe. Each port has a
//! bitmap of used ids and a cursor that starts at a key-derived pseudo-random point and only
//! moves forward: an id is taken at the cursor or the next free one after it, so an id just
//! freed is not handed out again before the cursor has gone round the whole space.
//!
//! **Memory**: a [`Session`] is 120 bytes plus its byte strings (Service-Name, Host-Uniq,
//! Relay-Session-Id), boxed in a hash map keyed by (port, id) (16 bytes per bucket); per
//! (port, VLAN, MAC) with sessions a 20-byte entry; per port an 8 KiB id bitmap; per tracked
//! MAC a 36-byte rate-table entry plus 12 bytes in the eviction queue. Measured by
//! `varouter bench pppoe` at 64,000 sessions on one port: 210 heap bytes per session
//! requested (session, map slack, strings, per-MAC entry), 306 with every client's MAC in
//! the PADI rate table.
//!
//! Not here: PADO delay per load (accel-ppp's `pado-delay`), PADM/PADN (RFC 4938), per
//! interface PADI rate limits across MACs, the TR-101 access-loop tags (kept as
//! Vendor-Specific bytes), session frames (0x8864: the data path and the PPP engine).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha1::Sha1;
use vr::{PortId, VrId};
use wire::pppoe::{Code, PppoeHeader};

use super::wire::{self as tags, kind, EthHeader, FrameWriter, TagIter, MAX_DISCOVERY_PAYLOAD};

/// Lifetime step of AC-Cookies: a cookie is accepted in the epoch it was made and the next.
pub const COOKIE_EPOCH: Duration = Duration::from_secs(60);
/// Length of our AC-Cookie (HMAC-SHA1 truncated).
pub const COOKIE_LEN: usize = 16;
/// A PADR matching a session created less than this long ago (same MAC, VLAN, Host-Uniq and
/// Service-Name) is a retransmission: rp-pppoe and pppd wait 5 s for a PADS before resending.
pub const PADR_RETRANSMIT_WINDOW: Duration = Duration::from_secs(10);
/// The PPP payload of a PPPoE session without RFC 4638 (1500 − 8).
pub const DEFAULT_MAX_PAYLOAD: u16 = 1492;
/// Session ids are 1..=MAX_SESSION_ID (0 is discovery, 0xffff reserved by RFC 2516 §4).
pub const MAX_SESSION_ID: u16 = 0xfffe;

const BROADCAST: [u8; 6] = [0xff; 6];

/// Settings of one access interface (a port, or a VLAN on it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessConfig {
    /// The access VR the interface is bound to.
    pub vr: VrId,
    pub ac_name: String,
    /// Offered in PADO; empty = accept any requested name.
    pub service_names: Vec<String>,
    /// Sessions on this interface.
    pub max_sessions: u32,
    pub max_sessions_per_mac: u32,
    /// Token bucket per client MAC (burst = this value); 0 = no limit.
    pub padi_per_mac_per_sec: u32,
    /// RFC 4638 cap; 1492 (or less) = no RFC 4638.
    pub max_payload: u16,
}

/// Limits of the whole engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Sessions on one port across its VLANs (at most 65,534, the id space).
    pub max_sessions_per_port: u32,
    /// Entries of the per-MAC PADI rate table (0 = no PADI rate limiting).
    pub max_tracked_macs: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_sessions_per_port: u32::from(MAX_SESSION_ID),
            max_tracked_macs: 65_536,
        }
    }
}

/// An established PPPoE session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub port: PortId,
    pub vlan: Option<u16>,
    /// The client's MAC.
    pub mac: [u8; 6],
    pub session: u16,
    pub vr: VrId,
    /// The Service-Name granted (as the client asked it; may be empty).
    pub service_name: Vec<u8>,
    /// 1492, or the RFC 4638 value agreed.
    pub max_payload: u16,
    pub host_uniq: Option<Vec<u8>>,
    pub relay_session_id: Option<Vec<u8>>,
    pub since: Instant,
    /// The MAC we answered from (the port's MAC at PADR time).
    pub our_mac: [u8; 6],
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownReason {
    /// The client sent a PADT.
    PadtFromPeer,
    /// Ended from our side ([`Discovery::close`]): PPP went down, a RADIUS Disconnect, an
    /// operator. The text, if any, goes to the client in a Generic-Error tag.
    Local(Option<String>),
    /// Its access interface was removed from the configuration.
    InterfaceRemoved,
    /// Its access interface was bound to another VR.
    VrChanged,
}

impl DownReason {
    /// The Generic-Error text of the PADT we send for this reason.
    pub fn generic_error(&self) -> Option<&str> {
        match self {
            DownReason::PadtFromPeer => None,
            DownReason::Local(t) => t.as_deref(),
            DownReason::InterfaceRemoved => Some("access interface removed"),
            DownReason::VrChanged => Some("access interface moved to another virtual router"),
        }
    }
}

/// What the caller must carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A complete Ethernet frame (802.1Q tag included when the interface has a VLAN).
    Frame { port: PortId, frame: Vec<u8> },
    /// After the PADS: bind the session and start PPP on it.
    SessionUp(Session),
    /// The session is gone (a PADT was sent to the client unless it sent one).
    SessionDown {
        port: PortId,
        session: u16,
        vr: VrId,
        mac: [u8; 6],
        reason: DownReason,
    },
}

macro_rules! counters {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* $f:ident,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct $name { $($(#[$fm])* pub $f: u64,)* }

        impl $name {
            /// Every counter with its name, in declaration order.
            pub fn fields(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($f), self.$f)),*]
            }

            /// Adds `o` into `self` field by field.
            pub fn add(&mut self, o: &$name) {
                $(self.$f += o.$f;)*
            }
        }
    };
}

counters! {
    /// Named counters of the discovery engine (monotonic). Every drop or refusal has one.
    pub struct Counters {
        rx_frames,
        rx_padi,
        rx_padr,
        rx_padt,
        tx_pado,
        /// PADS that confirm a session (retransmissions included).
        tx_pads,
        /// PADS with session id 0 and Service-Name-Error or AC-System-Error.
        tx_pads_errors,
        tx_padt,
        sessions_up,
        sessions_down,
        /// PADRs answered with the PADS of the session they had already created.
        padr_retransmits,
        /// Frames that do not parse: offsets, version/type, LENGTH, tag lengths.
        malformed,
        /// PADO, PADS, session data or unknown codes from a client.
        unexpected_code,
        /// Discovery frames on a (port, VLAN) that is not an access interface.
        no_interface,
        /// PADI not broadcast, PADR not to our MAC.
        bad_destination,
        /// PADI or PADR with a session id other than 0.
        bad_session_id,
        /// Source MAC multicast, broadcast or zero.
        bad_source_mac,
        /// PADI or PADR without exactly one Service-Name.
        bad_service_name_tags,
        /// PADI (no PADO) or PADR (PADS with Service-Name-Error) asking for a name not offered.
        service_name_refused,
        /// PADR without an AC-Cookie or with a forged or expired one (no reply, no state).
        cookie_invalid,
        /// PADIs over the client MAC's rate (dropped silently).
        rate_limited,
        /// PADIs not answered because the interface or port is full.
        padi_full,
        /// PADRs refused with AC-System-Error: interface / MAC / port full.
        limit_interface,
        limit_mac,
        limit_port,
        /// PADTs naming no session of that client.
        padt_unknown,
        /// Entries of the PADI rate table evicted to stay within `max_tracked_macs`.
        mac_evictions,
        /// Replies not sent because they would not fit a 1500-byte MTU (long echoed tags).
        reply_too_long,
    }
}

/// One access interface.
#[derive(Debug)]
struct Iface {
    cfg: AccessConfig,
    sessions: u32,
}

type IfKey = (PortId, Option<u16>);
type MacKey = (PortId, Option<u16>, [u8; 6]);

/// Sessions of one client MAC on one interface.
#[derive(Debug, Clone, Copy)]
struct MacSessions {
    count: u32,
    /// The most recent session (0: it has ended), for PADR retransmissions.
    last: u16,
}

/// Token bucket of one client MAC.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Session ids of one port: a bitmap of 65,536 bits and a forward-moving cursor.
#[derive(Debug)]
struct PortIds {
    used: Box<[u64]>,
    next: u16,
    count: u32,
}

const ID_WORDS: usize = 65_536 / 64;

impl PortIds {
    fn new(start: u16) -> Self {
        let mut used = vec![0u64; ID_WORDS].into_boxed_slice();
        used[0] |= 1; // id 0: discovery
        used[ID_WORDS - 1] |= 1 << 63; // id 0xffff: reserved
        PortIds {
            used,
            next: start.clamp(1, MAX_SESSION_ID),
            count: 0,
        }
    }

    /// The free id at the cursor or the first after it (wrapping), marked used.
    fn alloc(&mut self) -> Option<u16> {
        if self.count >= u32::from(MAX_SESSION_ID) {
            return None;
        }
        let start = usize::from(self.next);
        let w0 = start / 64;
        let mut found = None;
        let first = !self.used[w0] & (!0u64 << (start % 64));
        if first != 0 {
            found = Some(w0 * 64 + first.trailing_zeros() as usize);
        } else {
            for i in 1..=ID_WORDS {
                let w = (w0 + i) % ID_WORDS;
                let free = !self.used[w];
                if free != 0 {
                    found = Some(w * 64 + free.trailing_zeros() as usize);
                    break;
                }
            }
        }
        let id = found?;
        self.used[id / 64] |= 1 << (id % 64);
        self.count += 1;
        self.next = if id >= usize::from(MAX_SESSION_ID) {
            1
        } else {
            id as u16 + 1
        };
        Some(id as u16)
    }

    fn free(&mut self, id: u16) {
        let (w, b) = (usize::from(id) / 64, usize::from(id) % 64);
        if id != 0 && id <= MAX_SESSION_ID && self.used[w] & (1 << b) != 0 {
            self.used[w] &= !(1 << b);
            self.count -= 1;
        }
    }
}

/// The tags of a PADI or PADR that discovery looks at (first of each; zero-copy).
#[derive(Debug, Default)]
struct Request<'a> {
    service_names: usize,
    service_name: &'a [u8],
    host_uniq: Option<&'a [u8]>,
    relay_session_id: Option<&'a [u8]>,
    cookie: Option<&'a [u8]>,
    max_payload: Option<u16>,
}

fn read_request(payload: &[u8]) -> tags::Result<Request<'_>> {
    let mut r = Request::default();
    for t in TagIter::new(payload) {
        let t = t?;
        match t.kind {
            kind::SERVICE_NAME => {
                if r.service_names == 0 {
                    r.service_name = t.value;
                }
                r.service_names += 1;
            }
            kind::HOST_UNIQ => {
                r.host_uniq.get_or_insert(t.value);
            }
            kind::RELAY_SESSION_ID => {
                r.relay_session_id.get_or_insert(t.value);
            }
            kind::AC_COOKIE => {
                r.cookie.get_or_insert(t.value);
            }
            kind::PPP_MAX_PAYLOAD => {
                let v = tags::max_payload(&t)?;
                r.max_payload.get_or_insert(v);
            }
            _ => {}
        }
    }
    Ok(r)
}

/// Whether `cfg` serves the requested Service-Name (empty request = any service).
fn offers(cfg: &AccessConfig, name: &[u8]) -> bool {
    name.is_empty()
        || cfg.service_names.is_empty()
        || cfg.service_names.iter().any(|s| s.as_bytes() == name)
}

/// RFC 4638: the PPP-Max-Payload to echo, if any.
fn negotiate_max_payload(client: Option<u16>, cap: u16) -> Option<u16> {
    match client {
        Some(c) if c > DEFAULT_MAX_PAYLOAD && cap > DEFAULT_MAX_PAYLOAD => Some(c.min(cap)),
        _ => None,
    }
}

fn is_unicast(mac: &[u8; 6]) -> bool {
    mac[0] & 1 == 0 && *mac != [0; 6]
}

/// Where the frame of the caller is: (dst, src, PPPoE header and rest).
fn split(frame: &[u8], l3: usize) -> Option<([u8; 6], [u8; 6], &[u8])> {
    if l3 < 14 || l3 > frame.len() {
        return None;
    }
    let et = u16::from_be_bytes([frame[l3 - 2], frame[l3 - 1]]);
    if et != tags::ETHERTYPE_DISCOVERY {
        return None;
    }
    let dst = frame[0..6].try_into().ok()?;
    let src = frame[6..12].try_into().ok()?;
    Some((dst, src, &frame[l3..]))
}

/// Where a frame came from.
#[derive(Debug, Clone, Copy)]
struct Peer {
    port: PortId,
    vlan: Option<u16>,
    port_mac: [u8; 6],
    mac: [u8; 6],
}

impl Peer {
    fn iface(&self) -> IfKey {
        (self.port, self.vlan)
    }
    fn mac_key(&self) -> MacKey {
        (self.port, self.vlan, self.mac)
    }
    fn reply(&self) -> EthHeader {
        EthHeader {
            dst: self.mac,
            src: self.port_mac,
            vlan: self.vlan,
        }
    }
}

/// The PPPoE discovery stage of the access concentrator (see the module docs).
#[derive(Debug)]
pub struct Discovery {
    /// HMAC-SHA1 keyed with the cookie key (cloned per use: the key schedule is done once).
    mac: Hmac<Sha1>,
    limits: Limits,
    /// The first `now` seen: cookie epochs count from it.
    epoch_base: Option<Instant>,
    ifaces: HashMap<IfKey, Iface>,
    ports: HashMap<PortId, PortIds>,
    /// Boxed: a map bucket is then 16 bytes, so the map's fill (44–87 %) costs 18–36 bytes
    /// per session instead of 147–293 with the 120-byte session inline.
    sessions: HashMap<(PortId, u16), Box<Session>>,
    per_mac: HashMap<MacKey, MacSessions>,
    buckets: HashMap<MacKey, Bucket>,
    /// Keys of `buckets` in insertion order (evicted from the front).
    bucket_order: VecDeque<MacKey>,
    out: VecDeque<Output>,
    counters: Counters,
}

impl Discovery {
    /// An engine with no interfaces. `cookie_key` keys the AC-Cookies and the start of each
    /// port's session ids (draw it from the OS at start; a restart invalidates cookies in
    /// flight, which only makes their clients send a new PADI).
    pub fn new(cookie_key: [u8; 32], limits: Limits) -> Self {
        let mac = <Hmac<Sha1> as Mac>::new_from_slice(&cookie_key)
            .expect("HMAC takes keys of any length");
        Discovery {
            mac,
            limits: Limits {
                max_sessions_per_port: limits.max_sessions_per_port.min(u32::from(MAX_SESSION_ID)),
                ..limits
            },
            epoch_base: None,
            ifaces: HashMap::new(),
            ports: HashMap::new(),
            sessions: HashMap::new(),
            per_mac: HashMap::new(),
            buckets: HashMap::new(),
            bucket_order: VecDeque::new(),
            out: VecDeque::new(),
            counters: Counters::default(),
        }
    }

    /// Adds, replaces (`Some`) or removes (`None`) the access interface (port, VLAN).
    /// Removing it, or binding it to another VR, ends its sessions (PADT + SessionDown each);
    /// other changes apply to new sessions only (a lower `max_sessions` refuses new ones
    /// until enough have gone).
    pub fn configure(
        &mut self,
        now: Instant,
        port: PortId,
        vlan: Option<u16>,
        cfg: Option<AccessConfig>,
    ) {
        self.epoch(now);
        let key = (port, vlan);
        let reason = match (&cfg, self.ifaces.get(&key)) {
            (None, Some(_)) => Some(DownReason::InterfaceRemoved),
            (Some(new), Some(old)) if new.vr != old.cfg.vr => Some(DownReason::VrChanged),
            _ => None,
        };
        if let Some(reason) = reason {
            let mut ids: Vec<u16> = self
                .sessions
                .values()
                .filter(|s| s.port == port && s.vlan == vlan)
                .map(|s| s.session)
                .collect();
            ids.sort_unstable();
            for id in ids {
                self.end(port, id, reason.clone(), true);
            }
        }
        match cfg {
            None => {
                self.ifaces.remove(&key);
            }
            Some(cfg) => {
                self.ifaces
                    .entry(key)
                    .and_modify(|i| i.cfg = cfg.clone())
                    .or_insert(Iface { cfg, sessions: 0 });
            }
        }
    }

    /// One discovery frame: `frame` is the whole Ethernet frame, `l3` the offset of the
    /// PPPoE header, `port_mac` our MAC on `port`.
    pub fn handle_frame(
        &mut self,
        now: Instant,
        port: PortId,
        port_mac: [u8; 6],
        vlan: Option<u16>,
        frame: &[u8],
        l3: usize,
    ) {
        self.counters.rx_frames += 1;
        let Some((dst, src, rest)) = split(frame, l3) else {
            self.counters.malformed += 1;
            return;
        };
        let from = Peer {
            port,
            vlan,
            port_mac,
            mac: src,
        };
        if !self.ifaces.contains_key(&from.iface()) {
            self.counters.no_interface += 1;
            return;
        }
        let header = PppoeHeader::new_unchecked(rest);
        let Ok(payload) = tags::payload(&header) else {
            self.counters.malformed += 1;
            return;
        };
        if !is_unicast(&src) {
            self.counters.bad_source_mac += 1;
            return;
        }
        let sid = header.session_id();
        match header.code() {
            Code::Padi => self.padi(now, &from, dst, sid, payload),
            Code::Padr => self.padr(now, &from, dst, sid, payload),
            Code::Padt => self.padt(&from, dst, sid),
            _ => self.counters.unexpected_code += 1,
        }
    }

    /// Ends a session from our side: PADT to the client (with `reason`'s Generic-Error text)
    /// and [`Output::SessionDown`]. False if there is no such session.
    pub fn close(&mut self, now: Instant, port: PortId, session: u16, reason: DownReason) -> bool {
        self.epoch(now);
        if !self.sessions.contains_key(&(port, session)) {
            return false;
        }
        self.end(port, session, reason, true);
        true
    }

    pub fn session(&self, port: PortId, session: u16) -> Option<&Session> {
        self.sessions.get(&(port, session)).map(|s| &**s)
    }

    /// Every session, in no particular order.
    pub fn sessions(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values().map(|s| &**s)
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Sessions on one access interface.
    pub fn interface_sessions(&self, port: PortId, vlan: Option<u16>) -> u32 {
        self.ifaces.get(&(port, vlan)).map_or(0, |i| i.sessions)
    }

    /// Entries in the per-MAC PADI rate table (≤ `max_tracked_macs`).
    pub fn tracked_macs(&self) -> usize {
        self.buckets.len()
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The next thing to carry out, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    // --- PADI -------------------------------------------------------------------------

    fn padi(&mut self, now: Instant, from: &Peer, dst: [u8; 6], sid: u16, payload: &[u8]) {
        self.counters.rx_padi += 1;
        if dst != BROADCAST {
            self.counters.bad_destination += 1;
            return;
        }
        if sid != 0 {
            self.counters.bad_session_id += 1;
            return;
        }
        let rate = self.ifaces[&from.iface()].cfg.padi_per_mac_per_sec;
        if !self.admit_padi(now, from.mac_key(), rate) {
            self.counters.rate_limited += 1;
            return;
        }
        let Ok(req) = read_request(payload) else {
            self.counters.malformed += 1;
            return;
        };
        if req.service_names != 1 {
            self.counters.bad_service_name_tags += 1;
            return;
        }
        let iface = &self.ifaces[&from.iface()];
        if !offers(&iface.cfg, req.service_name) {
            self.counters.service_name_refused += 1;
            return;
        }
        let port_sessions = self.ports.get(&from.port).map_or(0, |p| p.count);
        if iface.sessions >= iface.cfg.max_sessions
            || port_sessions >= self.limits.max_sessions_per_port
        {
            self.counters.padi_full += 1;
            return;
        }
        let epoch = self.epoch(now);
        let cookie = self.cookie(epoch, from);
        let cfg = &self.ifaces[&from.iface()].cfg;
        let pado = (|| -> tags::Result<FrameWriter> {
            let mut w = FrameWriter::new(&from.reply(), Code::Pado, 0, 96);
            w.tag(kind::AC_NAME, cfg.ac_name.as_bytes())?
                .tag(kind::SERVICE_NAME, req.service_name)?;
            for s in &cfg.service_names {
                if s.as_bytes() != req.service_name {
                    w.tag(kind::SERVICE_NAME, s.as_bytes())?;
                }
            }
            w.tag(kind::AC_COOKIE, &cookie)?;
            echo(&mut w, &req)?;
            if let Some(mp) = negotiate_max_payload(req.max_payload, cfg.max_payload) {
                w.tag(kind::PPP_MAX_PAYLOAD, &mp.to_be_bytes())?;
            }
            Ok(w)
        })()
        .ok()
        .and_then(fits);
        match pado {
            Some(frame) => {
                self.counters.tx_pado += 1;
                self.out.push_back(Output::Frame {
                    port: from.port,
                    frame,
                });
            }
            None => self.counters.reply_too_long += 1,
        }
    }

    /// The per-MAC token bucket: true if this PADI may be answered.
    fn admit_padi(&mut self, now: Instant, key: MacKey, rate: u32) -> bool {
        let max = self.limits.max_tracked_macs;
        if rate == 0 || max == 0 {
            return true;
        }
        let burst = f64::from(rate);
        if let Some(b) = self.buckets.get_mut(&key) {
            let dt = now.saturating_duration_since(b.last).as_secs_f64();
            b.tokens = (b.tokens + dt * burst).min(burst);
            b.last = now;
            if b.tokens >= 1.0 {
                b.tokens -= 1.0;
                return true;
            }
            return false;
        }
        while self.buckets.len() >= max {
            let Some(old) = self.bucket_order.pop_front() else {
                break;
            };
            self.buckets.remove(&old);
            self.counters.mac_evictions += 1;
        }
        self.buckets.insert(
            key,
            Bucket {
                tokens: burst - 1.0,
                last: now,
            },
        );
        self.bucket_order.push_back(key);
        true
    }

    // --- AC-Cookie --------------------------------------------------------------------

    /// The cookie epoch of `now` (epochs count from the first `now` the engine saw).
    fn epoch(&mut self, now: Instant) -> u64 {
        let base = *self.epoch_base.get_or_insert(now);
        now.saturating_duration_since(base).as_secs() / COOKIE_EPOCH.as_secs()
    }

    fn cookie_mac(&self, epoch: u64, from: &Peer) -> Hmac<Sha1> {
        let mut m = self.mac.clone();
        m.update(b"varouter pppoe ac-cookie");
        m.update(&epoch.to_be_bytes());
        m.update(&from.mac);
        m.update(&from.port.0.to_be_bytes());
        m.update(&from.vlan.map_or(0xffff, |v| v & 0x0fff).to_be_bytes());
        m
    }

    fn cookie(&self, epoch: u64, from: &Peer) -> [u8; COOKIE_LEN] {
        let full = self.cookie_mac(epoch, from).finalize().into_bytes();
        let mut c = [0u8; COOKIE_LEN];
        c.copy_from_slice(&full[..COOKIE_LEN]);
        c
    }

    /// Constant-time check of a returned cookie against this epoch and the previous one.
    fn cookie_ok(&mut self, now: Instant, from: &Peer, cookie: &[u8]) -> bool {
        if cookie.len() != COOKIE_LEN {
            return false;
        }
        let epoch = self.epoch(now);
        [Some(epoch), epoch.checked_sub(1)]
            .into_iter()
            .flatten()
            .any(|e| {
                self.cookie_mac(e, from)
                    .verify_truncated_left(cookie)
                    .is_ok()
            })
    }

    // --- PADR -------------------------------------------------------------------------

    fn padr(&mut self, now: Instant, from: &Peer, dst: [u8; 6], sid: u16, payload: &[u8]) {
        self.counters.rx_padr += 1;
        if dst != from.port_mac {
            self.counters.bad_destination += 1;
            return;
        }
        if sid != 0 {
            self.counters.bad_session_id += 1;
            return;
        }
        let Ok(req) = read_request(payload) else {
            self.counters.malformed += 1;
            return;
        };
        // Nothing below runs, and nothing is stored, for a PADR without a valid cookie.
        if !req.cookie.is_some_and(|c| self.cookie_ok(now, from, c)) {
            self.counters.cookie_invalid += 1;
            return;
        }
        if req.service_names != 1 {
            self.counters.bad_service_name_tags += 1;
            return;
        }
        let resend = self
            .retransmitted(now, from, &req)
            .map(|s| pads(from, s.session, &s.service_name, &req, Some(s.max_payload)));
        if let Some(frame) = resend {
            if let Some(frame) = frame {
                self.counters.padr_retransmits += 1;
                self.counters.tx_pads += 1;
                self.out.push_back(Output::Frame {
                    port: from.port,
                    frame,
                });
            }
            return;
        }
        let iface = &self.ifaces[&from.iface()];
        if !offers(&iface.cfg, req.service_name) {
            self.counters.service_name_refused += 1;
            self.pads_error(
                from,
                &req,
                kind::SERVICE_NAME_ERROR,
                "service name not offered",
            );
            return;
        }
        let mac_sessions = self.per_mac.get(&from.mac_key()).map_or(0, |m| m.count);
        let port_sessions = self.ports.get(&from.port).map_or(0, |p| p.count);
        let refusal = if iface.sessions >= iface.cfg.max_sessions {
            self.counters.limit_interface += 1;
            Some("session limit of the interface reached")
        } else if mac_sessions >= iface.cfg.max_sessions_per_mac {
            self.counters.limit_mac += 1;
            Some("session limit per MAC reached")
        } else if port_sessions >= self.limits.max_sessions_per_port {
            self.counters.limit_port += 1;
            Some("session limit of the port reached")
        } else {
            None
        };
        if let Some(text) = refusal {
            self.pads_error(from, &req, kind::AC_SYSTEM_ERROR, text);
            return;
        }
        let max_payload = negotiate_max_payload(req.max_payload, iface.cfg.max_payload);
        let vr = iface.cfg.vr;
        // Build the PADS before allocating anything: a reply too long refuses cleanly.
        let Some(mut frame) = pads(from, 0, req.service_name, &req, max_payload) else {
            self.counters.reply_too_long += 1;
            return;
        };
        let start = self.session_id_start(from.port);
        let Some(id) = self
            .ports
            .entry(from.port)
            .or_insert_with(|| PortIds::new(start))
            .alloc()
        else {
            self.counters.limit_port += 1;
            self.pads_error(from, &req, kind::AC_SYSTEM_ERROR, "no free session id");
            return;
        };
        let at = from.reply().len() + 2;
        frame[at..at + 2].copy_from_slice(&id.to_be_bytes());
        let session = Session {
            port: from.port,
            vlan: from.vlan,
            mac: from.mac,
            session: id,
            vr,
            service_name: req.service_name.to_vec(),
            max_payload: max_payload.unwrap_or(DEFAULT_MAX_PAYLOAD),
            host_uniq: req.host_uniq.map(<[u8]>::to_vec),
            relay_session_id: req.relay_session_id.map(<[u8]>::to_vec),
            since: now,
            our_mac: from.port_mac,
        };
        if let Some(i) = self.ifaces.get_mut(&from.iface()) {
            i.sessions += 1;
        }
        let m = self
            .per_mac
            .entry(from.mac_key())
            .or_insert(MacSessions { count: 0, last: 0 });
        m.count += 1;
        m.last = id;
        self.sessions
            .insert((from.port, id), Box::new(session.clone()));
        self.counters.tx_pads += 1;
        self.counters.sessions_up += 1;
        self.out.push_back(Output::Frame {
            port: from.port,
            frame,
        });
        self.out.push_back(Output::SessionUp(session));
    }

    /// The session this PADR already created, if it is a retransmission.
    fn retransmitted(&self, now: Instant, from: &Peer, req: &Request<'_>) -> Option<&Session> {
        let last = self.per_mac.get(&from.mac_key())?.last;
        let s = self.sessions.get(&(from.port, last))?;
        (s.host_uniq.as_deref() == req.host_uniq
            && s.service_name == req.service_name
            && now.saturating_duration_since(s.since) < PADR_RETRANSMIT_WINDOW)
            .then_some(s)
    }

    /// A PADS with session id 0 and an error tag (RFC 2516 §5.4).
    fn pads_error(&mut self, from: &Peer, req: &Request<'_>, error: u16, text: &str) {
        let frame = (|| -> tags::Result<FrameWriter> {
            let mut w = FrameWriter::new(&from.reply(), Code::Pads, 0, 64);
            w.tag(kind::SERVICE_NAME, req.service_name)?
                .tag(error, text.as_bytes())?;
            echo(&mut w, req)?;
            Ok(w)
        })()
        .ok()
        .and_then(fits);
        match frame {
            Some(frame) => {
                self.counters.tx_pads_errors += 1;
                self.out.push_back(Output::Frame {
                    port: from.port,
                    frame,
                });
            }
            None => self.counters.reply_too_long += 1,
        }
    }

    /// Where a port's session ids start: derived from the key, so not guessable.
    fn session_id_start(&self, port: PortId) -> u16 {
        let mut m = self.mac.clone();
        m.update(b"varouter pppoe session ids");
        m.update(&port.0.to_be_bytes());
        let h = m.finalize().into_bytes();
        (u16::from_be_bytes([h[0], h[1]]) % MAX_SESSION_ID) + 1
    }

    // --- PADT and the end of sessions ---------------------------------------------------

    fn padt(&mut self, from: &Peer, dst: [u8; 6], sid: u16) {
        self.counters.rx_padt += 1;
        let ok = self.sessions.get(&(from.port, sid)).is_some_and(|s| {
            s.mac == from.mac && s.vlan == from.vlan && s.our_mac == dst && sid != 0
        });
        if !ok {
            self.counters.padt_unknown += 1;
            return;
        }
        self.end(from.port, sid, DownReason::PadtFromPeer, false);
    }

    /// Removes a session, sends a PADT unless the peer sent one, emits SessionDown.
    fn end(&mut self, port: PortId, sid: u16, reason: DownReason, send_padt: bool) {
        let Some(s) = self.sessions.remove(&(port, sid)).map(|b| *b) else {
            return;
        };
        if let Some(p) = self.ports.get_mut(&port) {
            p.free(sid);
        }
        if let Some(i) = self.ifaces.get_mut(&(port, s.vlan)) {
            i.sessions = i.sessions.saturating_sub(1);
        }
        let mk = (port, s.vlan, s.mac);
        if let Some(m) = self.per_mac.get_mut(&mk) {
            m.count = m.count.saturating_sub(1);
            if m.last == sid {
                m.last = 0;
            }
            if m.count == 0 {
                self.per_mac.remove(&mk);
            }
        }
        if send_padt {
            let frame = (|| -> tags::Result<FrameWriter> {
                let eth = EthHeader {
                    dst: s.mac,
                    src: s.our_mac,
                    vlan: s.vlan,
                };
                let mut w = FrameWriter::new(&eth, Code::Padt, sid, 32);
                if let Some(t) = reason.generic_error() {
                    w.tag(kind::GENERIC_ERROR, t.as_bytes())?;
                }
                if let Some(h) = &s.host_uniq {
                    w.tag(kind::HOST_UNIQ, h)?;
                }
                if let Some(r) = &s.relay_session_id {
                    w.tag(kind::RELAY_SESSION_ID, r)?;
                }
                Ok(w)
            })()
            .ok()
            .and_then(fits);
            match frame {
                Some(frame) => {
                    self.counters.tx_padt += 1;
                    self.out.push_back(Output::Frame { port, frame });
                }
                None => self.counters.reply_too_long += 1,
            }
        }
        self.counters.sessions_down += 1;
        self.out.push_back(Output::SessionDown {
            port,
            session: sid,
            vr: s.vr,
            mac: s.mac,
            reason,
        });
    }
}

/// Host-Uniq and Relay-Session-Id echoed (RFC 2516 §A: unmodified).
fn echo(w: &mut FrameWriter, req: &Request<'_>) -> tags::Result<()> {
    if let Some(h) = req.host_uniq {
        w.tag(kind::HOST_UNIQ, h)?;
    }
    if let Some(r) = req.relay_session_id {
        w.tag(kind::RELAY_SESSION_ID, r)?;
    }
    Ok(())
}

/// A PADS confirming `sid`.
fn pads(
    from: &Peer,
    sid: u16,
    service_name: &[u8],
    req: &Request<'_>,
    max_payload: Option<u16>,
) -> Option<Vec<u8>> {
    let mut w = FrameWriter::new(&from.reply(), Code::Pads, sid, 64);
    w.tag(kind::SERVICE_NAME, service_name).ok()?;
    echo(&mut w, req).ok()?;
    if let Some(mp) = max_payload.filter(|&m| m > DEFAULT_MAX_PAYLOAD) {
        w.tag(kind::PPP_MAX_PAYLOAD, &mp.to_be_bytes()).ok()?;
    }
    fits(w)
}

/// The finished frame, unless its payload would not fit a 1500-byte MTU.
fn fits(w: FrameWriter) -> Option<Vec<u8>> {
    (w.payload_len() <= MAX_DISCOVERY_PAYLOAD).then(|| w.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_move_forward_wrap_and_run_out() {
        let mut p = PortIds::new(0xfffd);
        assert_eq!(
            (p.alloc(), p.alloc(), p.alloc()),
            (Some(0xfffd), Some(0xfffe), Some(1))
        );
        p.free(0xfffe);
        assert_eq!(
            p.alloc(),
            Some(2),
            "a freed id waits for the cursor to come round"
        );
        let mut n = 3;
        while p.alloc().is_some() {
            n += 1;
        }
        assert_eq!(n, 65534, "every id of 1..=0xfffe once, 0 and 0xffff never");
        assert_eq!(p.count, 65534);
        p.free(0);
        p.free(0xffff);
        p.free(40_000);
        p.free(40_000);
        assert_eq!(
            p.count, 65533,
            "freeing twice or a reserved id changes nothing"
        );
        assert_eq!(p.alloc(), Some(40_000));
        assert_eq!(p.alloc(), None);
    }

    #[test]
    fn session_id_start_depends_on_key_and_port() {
        let a = Discovery::new([1; 32], Limits::default());
        let b = Discovery::new([2; 32], Limits::default());
        let starts = [
            a.session_id_start(PortId(0)),
            a.session_id_start(PortId(1)),
            b.session_id_start(PortId(0)),
        ];
        assert!(starts.iter().all(|s| (1..=MAX_SESSION_ID).contains(s)));
        assert!(
            starts[0] != starts[1] && starts[0] != starts[2],
            "{starts:?}"
        );
    }

    #[test]
    fn cookie_epochs() {
        let mut d = Discovery::new([3; 32], Limits::default());
        let t0 = Instant::now();
        let p = Peer {
            port: PortId(1),
            vlan: None,
            port_mac: [2, 0, 0, 0, 0, 1],
            mac: [2, 0, 0, 0, 0, 2],
        };
        let e0 = d.epoch(t0);
        let c = d.cookie(e0, &p);
        assert!(d.cookie_ok(t0 + Duration::from_secs(59), &p, &c));
        assert!(d.cookie_ok(t0 + Duration::from_secs(119), &p, &c));
        assert!(!d.cookie_ok(t0 + Duration::from_secs(120), &p, &c));
        let mut bad = c;
        bad[15] ^= 1;
        assert!(!d.cookie_ok(t0, &p, &bad));
        assert!(!d.cookie_ok(t0, &p, &c[..15]));
        assert!(!d.cookie_ok(t0, &p, &[]));
        let untagged_vs_vlan0 = Peer { vlan: Some(0), ..p };
        assert!(!d.cookie_ok(t0, &untagged_vs_vlan0, &c));
    }

    #[test]
    fn rfc4638_negotiation() {
        assert_eq!(negotiate_max_payload(Some(1500), 1500), Some(1500));
        assert_eq!(negotiate_max_payload(Some(9000), 1500), Some(1500));
        assert_eq!(negotiate_max_payload(Some(1500), 9000), Some(1500));
        assert_eq!(negotiate_max_payload(Some(1500), 1492), None);
        assert_eq!(negotiate_max_payload(Some(1492), 1500), None);
        assert_eq!(negotiate_max_payload(None, 1500), None);
    }

    #[test]
    fn session_is_small() {
        // The figure quoted in the module docs (Vec/Option<Vec> headers included, their
        // heap bytes not).
        assert_eq!(std::mem::size_of::<Session>(), 120);
        assert_eq!(std::mem::size_of::<MacSessions>(), 8);
        assert_eq!(std::mem::size_of::<Bucket>(), 24);
    }

    #[test]
    fn counters_list_every_field() {
        let c = Counters {
            limit_port: 3,
            ..Counters::default()
        };
        let f = c.fields();
        assert_eq!(f.len(), std::mem::size_of::<Counters>() / 8);
        assert_eq!(
            f.iter().find(|(n, _)| *n == "limit_port"),
            Some(&("limit_port", 3))
        );
        let mut sum = c;
        sum.add(&c);
        assert_eq!(sum.limit_port, 6);
    }
}
